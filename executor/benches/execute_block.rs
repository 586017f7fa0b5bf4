//! Validating and committing blocks of signed transfers over 100,000 existing accounts:
//! execution, the state root, and the durable redb commit, with and without signature checks.
#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

use std::time::{Duration, Instant};

// The node runs on mimalloc: the tree update allocates and frees tens of thousands of nodes per
// block, and glibc's allocator costs about a fifth of the execution time there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tandem_executor::{Executor, SignatureCheck};
use tandem_types::{
    sha256, Action, ChainParams, CommitCertificate, Genesis, GenesisAccount, GenesisValidator,
    L1Address, SecretKey, SignedTransaction, Transaction,
};

const ACCOUNTS: u32 = 100_000;
const CHAIN_ID: u64 = 1;

fn account_key(index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[b"bench".as_slice(), &index.to_le_bytes()].concat()).0)
}

struct Setup {
    _dir: tempfile::TempDir,
    executor: Executor,
    keys: Vec<SecretKey>,
    proposer: SecretKey,
    next_sender: usize,
}

fn setup() -> Setup {
    let keys: Vec<SecretKey> = (0..ACCOUNTS).map(account_key).collect();
    let proposer = SecretKey::from_seed(&[1; 32]);
    let mut accounts: Vec<GenesisAccount> =
        keys.iter().map(|k| GenesisAccount { address: k.address(), balance: 1 << 60 }).collect();
    accounts.sort_by_key(|a| a.address);
    let genesis = Genesis {
        chain_id: CHAIN_ID,
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
    let dir = tempfile::tempdir().expect("tempdir");
    let executor = Executor::open(&dir.path().join("bench.redb"), genesis).expect("open");
    Setup { _dir: dir, executor, keys, proposer, next_sender: 0 }
}

/// `count` transfers from distinct senders (in rotation) to other existing accounts.
fn transfers(setup: &mut Setup, count: usize) -> Vec<SignedTransaction> {
    (0..count)
        .map(|_| {
            let index = setup.next_sender;
            setup.next_sender = (setup.next_sender + 1) % setup.keys.len();
            let from = &setup.keys[index];
            let to = setup.keys[(index * 7919 + 1) % setup.keys.len()].address();
            let nonce = setup.executor.account(&from.address()).map_or(0, |a| a.nonce);
            Transaction {
                chain_id: CHAIN_ID,
                sender: from.address(),
                nonce,
                fee: 1,
                action: Action::Transfer { to, amount: 3 },
            }
            .sign(from)
        })
        .collect()
}

/// Builds the next block (untimed), then times validating it and committing it durably.
fn execute_and_commit(setup: &mut Setup, count: usize, signatures: SignatureCheck) -> Duration {
    let txs = transfers(setup, count);
    let timestamp_ms = setup.executor.head().timestamp_ms + 1;
    let built = setup
        .executor
        .build(setup.proposer.address(), timestamp_ms, txs, SignatureCheck::AlreadyVerified)
        .expect("build");
    assert_eq!(built.block.txs.len(), count, "every bench transfer is valid");
    let certificate = CommitCertificate {
        height: built.block.header.height,
        round: 0,
        block_hash: built.block.hash(),
        signatures: vec![],
    };
    let start = Instant::now();
    let outcome = setup.executor.execute(&built.block, signatures).expect("valid block");
    setup.executor.commit(&built.block, &certificate, outcome).expect("commit");
    start.elapsed()
}

fn bench_blocks(c: &mut Criterion) {
    let mut setup = setup();
    let mut group = c.benchmark_group("execute_and_commit_block");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(2));
    for count in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(count as u64));
        for (name, check) in [
            ("no_signature_checks", SignatureCheck::AlreadyVerified),
            ("signature_checks", SignatureCheck::Verify),
        ] {
            group.bench_with_input(BenchmarkId::new(name, count), &count, |b, &count| {
                b.iter_custom(|iters| {
                    (0..iters).map(|_| execute_and_commit(&mut setup, count, check)).sum()
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_blocks);
criterion_main!(benches);
