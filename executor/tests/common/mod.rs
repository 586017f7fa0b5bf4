//! Helpers shared by the executor's integration tests: keys, genesis documents, signed
//! transactions and real commit certificates.
#![allow(dead_code)]

use std::collections::BTreeMap;

use tandem_executor::Executor;
use tandem_types::proof::{account_value_hash, internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::{
    sha256, state_key, Account, Action, Address, Block, ChainParams, CommitCertificate,
    CommitSignature, Genesis, GenesisAccount, GenesisValidator, Hash, L1Address, SecretKey,
    SignedTransaction, Transaction,
};

pub const CHAIN_ID: u64 = 7;
pub const MIN_FEE: u128 = 10;

/// A deterministic key for test account `index` (`role` keeps validators and accounts apart).
pub fn key(role: &str, index: u32) -> SecretKey {
    let mut seed_input = role.as_bytes().to_vec();
    seed_input.extend_from_slice(&index.to_le_bytes());
    SecretKey::from_seed(&sha256(&seed_input).0)
}

pub struct TestChain {
    pub genesis: Genesis,
    pub accounts: Vec<SecretKey>,
    pub validators: Vec<SecretKey>,
}

/// A genesis with `accounts` funded accounts of `balance` each and `validators` validators.
pub fn chain(accounts: u32, balance: u128, validators: u32) -> TestChain {
    let account_keys: Vec<SecretKey> = (0..accounts).map(|i| key("account", i)).collect();
    let validator_keys: Vec<SecretKey> = (0..validators).map(|i| key("validator", i)).collect();
    let mut funded: Vec<GenesisAccount> =
        account_keys.iter().map(|k| GenesisAccount { address: k.address(), balance }).collect();
    funded.sort_by_key(|account| account.address);
    let genesis = Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 1_700_000_000_000,
        params: ChainParams {
            min_fee: MIN_FEE,
            block_txs_max: 20_000,
            block_bytes_max: 8 << 20,
            batch_blocks: 10,
        },
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                address: k.address(),
                l1_address: L1Address([i as u8 + 1; 20]),
                power: 1,
            })
            .collect(),
        accounts: funded,
    };
    TestChain { genesis, accounts: account_keys, validators: validator_keys }
}

pub fn transfer(
    from: &SecretKey,
    nonce: u64,
    to: Address,
    amount: u128,
    fee: u128,
) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID,
        sender: from.address(),
        nonce,
        fee,
        action: Action::Transfer { to, amount },
    }
    .sign(from)
}

pub fn withdraw(from: &SecretKey, nonce: u64, amount: u128, fee: u128) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID,
        sender: from.address(),
        nonce,
        fee,
        action: Action::Withdraw { l1_recipient: L1Address([0xaa; 20]), amount },
    }
    .sign(from)
}

/// A certificate for `block` signed by every validator.
pub fn certificate(block: &Block, validators: &[SecretKey]) -> CommitCertificate {
    let mut certificate = CommitCertificate {
        height: block.header.height,
        round: 0,
        block_hash: block.hash(),
        signatures: Vec::new(),
    };
    certificate.signatures = validators
        .iter()
        .map(|key| CommitSignature {
            validator: key.address(),
            signature: certificate.precommit(CHAIN_ID, key.address()).sign(key),
        })
        .collect();
    certificate
}

/// Builds a block from `txs` with validator 0 as proposer, commits it, and returns it.
pub fn build_and_commit(
    executor: &mut Executor,
    chain: &TestChain,
    txs: Vec<SignedTransaction>,
) -> Block {
    let proposer =
        chain.validators[(executor.head().height as usize) % chain.validators.len()].address();
    let timestamp_ms = executor.head().timestamp_ms + 1;
    let built = executor
        .build(proposer, timestamp_ms, txs, tandem_executor::SignatureCheck::Verify)
        .expect("build");
    let certificate = certificate(&built.block, &chain.validators);
    executor.commit(&built.block, &certificate, built.outcome).expect("commit");
    built.block
}

/// The state root by the protocol's definition, computed independently of the jmt crate:
/// a binary sparse Merkle tree over key hashes where single-leaf subtrees collapse to the leaf.
pub fn reference_root(accounts: &BTreeMap<Address, Account>) -> Hash {
    let mut leaves: Vec<(Hash, Hash)> = accounts
        .iter()
        .map(|(address, account)| {
            let key = state_key(address);
            (key, leaf_hash(&key, &account_value_hash(account)))
        })
        .collect();
    leaves.sort();
    subtree_root(&leaves, 0)
}

fn subtree_root(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => PLACEHOLDER_HASH,
        [(_, leaf)] => *leaf,
        _ => {
            let split =
                leaves.partition_point(|(key, _)| key.0[depth / 8] & (0x80 >> (depth % 8)) == 0);
            let left = subtree_root(&leaves[..split], depth + 1);
            let right = subtree_root(&leaves[split..], depth + 1);
            internal_hash(&left, &right)
        }
    }
}

/// The transactions of scripted block `height`: a pure function of the height and the state,
/// so that separate runs (and separate processes) build identical chains.
pub fn scripted_txs(
    executor: &Executor,
    chain: &TestChain,
    height: u64,
    count: usize,
) -> Vec<SignedTransaction> {
    let n = chain.accounts.len() as u64;
    let mut pending_nonces: BTreeMap<Address, u64> = BTreeMap::new();
    (0..count as u64)
        .map(|i| {
            let from = &chain.accounts[((height * 7 + i * 3) % n) as usize];
            let to = chain.accounts[((height * 13 + i * 5 + 1) % n) as usize].address();
            let nonce = pending_nonces
                .entry(from.address())
                .or_insert_with(|| executor.account(&from.address()).map_or(0, |a| a.nonce));
            let tx = transfer(from, *nonce, to, 1 + (height + i) as u128 % 17, MIN_FEE);
            *nonce += 1;
            tx
        })
        .collect()
}

/// Builds and commits scripted block `head + 1` with fixed timestamps and proposer rotation.
pub fn commit_scripted(executor: &mut Executor, chain: &TestChain, count: usize) -> Block {
    let height = executor.head().height + 1;
    let txs = scripted_txs(executor, chain, height, count);
    let proposer = chain.validators[height as usize % chain.validators.len()].address();
    let built = executor
        .build(
            proposer,
            chain.genesis.genesis_time_ms + height,
            txs,
            tandem_executor::SignatureCheck::AlreadyVerified,
        )
        .expect("build scripted block");
    assert!(built.rejected.is_empty(), "scripted transactions are valid: {:?}", built.rejected);
    let certificate = certificate(&built.block, &chain.validators);
    executor.commit(&built.block, &certificate, built.outcome).expect("commit scripted block");
    built.block
}
