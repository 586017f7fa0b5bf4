#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tandem_executor::{Executor, SignatureCheck};
use tandem_types::*;
fn main() {
    let keys: Vec<SecretKey> =
        (0..100_000u32).map(|i| SecretKey::from_seed(&sha256(&i.to_le_bytes()).0)).collect();
    let proposer = SecretKey::from_seed(&[1; 32]);
    let mut accounts: Vec<GenesisAccount> =
        keys.iter().map(|k| GenesisAccount { address: k.address(), balance: 1 << 60 }).collect();
    accounts.sort_by_key(|a| a.address);
    let genesis = Genesis {
        chain_id: 1,
        genesis_time_ms: 0,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 10_000,
            block_bytes_max: 4 << 20,
            batch_blocks: 100,
        },
        validators: vec![GenesisValidator {
            address: proposer.address(),
            l1_address: L1Address([1; 20]),
            power: 1,
        }],
        accounts,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut executor = Executor::open(&dir.path().join("p.redb"), genesis).unwrap();
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(10_000);
    let rounds: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(20);
    let mut total = std::time::Duration::ZERO;
    let mut commit_total = std::time::Duration::ZERO;
    for r in 0..rounds {
        let txs: Vec<SignedTransaction> = (0..n)
            .map(|j| {
                let i = (r * n + j) % keys.len();
                let nonce = executor.account(&keys[i].address()).unwrap().nonce;
                Transaction {
                    chain_id: 1,
                    sender: keys[i].address(),
                    nonce,
                    fee: 1,
                    action: Action::Transfer {
                        to: keys[(i * 7919 + 1) % keys.len()].address(),
                        amount: 3,
                    },
                }
                .sign(&keys[i])
            })
            .collect();
        let built = executor
            .build(proposer.address(), 1 + r as u64, txs, SignatureCheck::AlreadyVerified)
            .unwrap();
        let cert = CommitCertificate {
            height: built.block.header.height,
            round: 0,
            block_hash: built.block.hash(),
            signatures: vec![],
        };
        let start = std::time::Instant::now();
        let o = executor.execute(&built.block, SignatureCheck::AlreadyVerified).unwrap();
        total += start.elapsed();
        let start = std::time::Instant::now();
        executor.commit(&built.block, &cert, o).unwrap();
        commit_total += start.elapsed();
    }
    eprintln!(
        "execute {:?} commit {:?} per block of {n}",
        total / rounds as u32,
        commit_total / rounds as u32
    );
}
