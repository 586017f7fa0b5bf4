//! Generates Tandem's protocol v1 test vectors (`docs/vectors/protocol-v1.json`): encodings,
//! hashes, signatures, transaction roots, state roots and account proofs, computed by the
//! implementation itself so that clients in other languages can check theirs against it.
//!
//! In: nothing (every key comes from a fixed seed). Out: a JSON document. The `tandem-vectors`
//! binary writes it; this crate's test fails when the committed file no longer matches.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use tandem_executor::{Executor, SignatureCheck};
use tandem_types::json::to_hex;
use tandem_types::{
    encode, sha256, tx_root, Account, AccountProof, Action, Address, BlockHeader, ChainParams,
    CommitCertificate, Genesis, GenesisAccount, GenesisValidator, Hash, L1Address, SecretKey,
    Transaction, Vote, VoteKind,
};

/// Where the committed vectors live, relative to the workspace root.
pub const VECTORS_PATH: &str = "docs/vectors/protocol-v1.json";

/// Absolute path of the committed vectors file.
pub fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(VECTORS_PATH)
}

/// The whole document.
#[derive(Serialize)]
pub struct Vectors {
    transactions: Vec<TxVector>,
    tx_roots: Vec<TxRootVector>,
    headers: Vec<HeaderVector>,
    states: Vec<StateVector>,
    votes: Vec<VoteVector>,
}

#[derive(Serialize)]
struct TxVector {
    seed: String,
    tx: Transaction,
    tx_borsh: String,
    signed_borsh: String,
    hash: Hash,
}

#[derive(Serialize)]
struct TxRootVector {
    tx_hashes: Vec<Hash>,
    root: Hash,
}

#[derive(Serialize)]
struct HeaderVector {
    header: BlockHeader,
    borsh: String,
    hash: Hash,
}

#[derive(Serialize)]
struct AccountEntry {
    address: Address,
    #[serde(with = "tandem_types::json::u128_string")]
    balance: u128,
    nonce: u64,
}

#[derive(Serialize)]
struct ProofVector {
    address: Address,
    account: Option<Account>,
    proof: AccountProof,
}

#[derive(Serialize)]
struct StateVector {
    accounts: Vec<AccountEntry>,
    root: Hash,
    proofs: Vec<ProofVector>,
}

#[derive(Serialize)]
struct VoteVector {
    seed: String,
    vote: Vote,
    signing_bytes: String,
    signature: tandem_types::Signature,
}

/// The secret seed of test key `index`: `SHA-256("tandem.vectors" ++ u32_le(index))`.
fn seed(index: u32) -> [u8; 32] {
    sha256(&[b"tandem.vectors".as_slice(), &index.to_le_bytes()].concat()).0
}

fn transactions() -> Vec<TxVector> {
    let specs: Vec<(u32, u64, u64, u128, Action)> = vec![
        (0, 1, 0, 10, Action::Transfer { to: Address([0x11; 32]), amount: 1_000 }),
        (1, 1, 7, 25, Action::Transfer { to: SecretKey::from_seed(&seed(0)).address(), amount: 0 }),
        (
            2,
            1,
            u64::MAX,
            u128::MAX,
            Action::Transfer { to: Address([0xff; 32]), amount: u128::MAX },
        ),
        (3, 42, 3, 1, Action::Withdraw { l1_recipient: L1Address([0xab; 20]), amount: 5_000_000 }),
        (4, 1, 0, 0, Action::Withdraw { l1_recipient: L1Address([0; 20]), amount: 1 }),
        (
            5,
            u64::MAX,
            123_456_789,
            18_446_744_073_709_551_616,
            Action::Transfer { to: Address([0; 32]), amount: 340_282_366_920_938_463_463 },
        ),
    ];
    specs
        .into_iter()
        .map(|(index, chain_id, nonce, fee, action)| {
            let key = SecretKey::from_seed(&seed(index));
            let tx = Transaction { chain_id, sender: key.address(), nonce, fee, action };
            let signed = tx.clone().sign(&key);
            TxVector {
                seed: to_hex(&seed(index)),
                tx_borsh: to_hex(&encode(&tx)),
                signed_borsh: to_hex(&signed.to_bytes()),
                hash: signed.hash(),
                tx,
            }
        })
        .collect()
}

fn tx_roots() -> Vec<TxRootVector> {
    let hashes: Vec<Hash> = (0..5u8).map(|i| sha256(&[i])).collect();
    [0, 1, 2, 3, 5]
        .into_iter()
        .map(|count| TxRootVector {
            tx_hashes: hashes[..count].to_vec(),
            root: tx_root(&hashes[..count]),
        })
        .collect()
}

fn headers() -> Vec<HeaderVector> {
    let first = BlockHeader {
        chain_id: 1,
        height: 1,
        timestamp_ms: 1_700_000_000_123,
        parent_hash: sha256(b"genesis"),
        proposer: SecretKey::from_seed(&seed(10)).address(),
        tx_root: Hash::ZERO,
        state_root: sha256(b"state"),
        tx_count: 0,
    };
    let second = BlockHeader {
        height: 2,
        timestamp_ms: 1_700_000_000_456,
        parent_hash: first.hash(),
        tx_root: tx_root(&[sha256(b"a"), sha256(b"b")]),
        tx_count: 2,
        ..first.clone()
    };
    [first, second]
        .into_iter()
        .map(|header| HeaderVector { borsh: to_hex(&encode(&header)), hash: header.hash(), header })
        .collect()
}

fn votes() -> Vec<VoteVector> {
    let key = SecretKey::from_seed(&seed(20));
    let nil_prevote = Vote {
        chain_id: 1,
        height: 5,
        round: 0,
        kind: VoteKind::Prevote,
        block_hash: None,
        validator: key.address(),
    };
    let precommit = Vote {
        round: 2,
        kind: VoteKind::Precommit,
        block_hash: Some(sha256(b"block")),
        ..nil_prevote.clone()
    };
    [nil_prevote, precommit]
        .into_iter()
        .map(|vote| VoteVector {
            seed: to_hex(&seed(20)),
            signing_bytes: to_hex(&vote.signing_bytes()),
            signature: vote.sign(&key),
            vote,
        })
        .collect()
}

/// A state built by the executor: `funded` genesis accounts, then (if `transfers`) one block of
/// transfers so that nonces and a fee-earning proposer appear.
fn state(funded: u32, transfers: bool, first_seed: u32) -> anyhow::Result<StateVector> {
    let keys: Vec<SecretKey> =
        (0..funded).map(|i| SecretKey::from_seed(&seed(first_seed + i))).collect();
    let proposer = SecretKey::from_seed(&seed(999));
    let mut accounts: Vec<GenesisAccount> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| GenesisAccount {
            address: k.address(),
            balance: 1_000_000 + i as u128 * 1_000,
        })
        .collect();
    accounts.sort_by_key(|a| a.address);
    let genesis = Genesis {
        chain_id: 1,
        genesis_time_ms: 1_700_000_000_000,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 1_000,
            block_bytes_max: 1 << 20,
            batch_blocks: 10,
        },
        validators: vec![GenesisValidator {
            address: proposer.address(),
            l1_address: L1Address([1; 20]),
            power: 1,
        }],
        accounts,
    };
    let dir = tempfile::tempdir().context("temporary directory")?;
    let mut executor = Executor::open(&dir.path().join("vectors.redb"), genesis)?;
    let mut present: Vec<Address> = keys.iter().map(SecretKey::address).collect();
    if transfers {
        let txs = keys.iter().take(8).enumerate().map(|(i, from)| {
            let to = keys[(i * 5 + 3) % keys.len()].address();
            Transaction {
                chain_id: 1,
                sender: from.address(),
                nonce: 0,
                fee: 2,
                action: Action::Transfer { to, amount: 777 },
            }
            .sign(from)
        });
        let built =
            executor.build(proposer.address(), 1_700_000_000_001, txs, SignatureCheck::Verify)?;
        anyhow::ensure!(built.rejected.is_empty(), "vector transfers are valid");
        let certificate = CommitCertificate {
            height: 1,
            round: 0,
            block_hash: built.block.hash(),
            signatures: vec![],
        };
        executor.commit(&built.block, &certificate, built.outcome)?;
        present.push(proposer.address());
    }
    present.sort();
    let height = executor.head().height;
    let mut entries = Vec::new();
    for address in &present {
        let account = executor.account(address).context("present account")?;
        entries.push(AccountEntry {
            address: *address,
            balance: account.balance,
            nonce: account.nonce,
        });
    }
    let absent = (0..3).map(|i| SecretKey::from_seed(&seed(5_000 + first_seed + i)).address());
    let probes: Vec<Address> = present.iter().copied().take(3).chain(absent).collect();
    let mut proofs = Vec::new();
    for address in probes {
        let proven = executor.prove(&address, height)?;
        proofs.push(ProofVector { address, account: proven.account, proof: proven.proof });
    }
    Ok(StateVector { accounts: entries, root: executor.head().state.state_root, proofs })
}

/// Computes every vector.
pub fn generate() -> anyhow::Result<Vectors> {
    Ok(Vectors {
        transactions: transactions(),
        tx_roots: tx_roots(),
        headers: headers(),
        states: vec![state(1, false, 100)?, state(3, false, 200)?, state(55, true, 300)?],
        votes: votes(),
    })
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn render() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&generate()?)? + "\n")
}
