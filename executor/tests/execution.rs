//! Block validation and execution: every typed rejection, fees, withdrawals, limits.

mod common;

use common::*;
use tandem_executor::{BlockError, Executor, ExecutorError, SignatureCheck, TxError};
use tandem_types::{tx_root, Address, Block, Hash, SignatureError};

fn open(chain: &TestChain) -> (tempfile::TempDir, Executor) {
    let dir = tempfile::tempdir().expect("tempdir");
    let executor =
        Executor::open(&dir.path().join("node.redb"), chain.genesis.clone()).expect("open");
    (dir, executor)
}

fn block_error(result: Result<impl std::fmt::Debug, ExecutorError>) -> BlockError {
    match result {
        Err(ExecutorError::Block(error)) => error,
        other => panic!("expected a block error, got {other:?}"),
    }
}

/// A valid next block carrying `txs`, built by the executor itself.
fn valid_block(
    executor: &Executor,
    chain: &TestChain,
    txs: Vec<tandem_types::SignedTransaction>,
) -> Block {
    let built = executor
        .build(
            chain.validators[0].address(),
            executor.head().timestamp_ms + 5,
            txs,
            SignatureCheck::Verify,
        )
        .expect("build");
    assert!(built.rejected.is_empty(), "unexpected rejections: {:?}", built.rejected);
    built.block
}

#[test]
fn transfer_moves_amount_and_pays_fee_to_proposer() {
    let chain = chain(3, 1_000, 4);
    let (_dir, mut executor) = open(&chain);
    let [alice, bob] = [&chain.accounts[0], &chain.accounts[1]];
    let block =
        build_and_commit(&mut executor, &chain, vec![transfer(alice, 0, bob.address(), 300, 15)]);
    assert_eq!(block.header.tx_count, 1);
    let alice_account = executor.account(&alice.address()).expect("alice");
    assert_eq!((alice_account.balance, alice_account.nonce), (685, 1));
    assert_eq!(executor.account(&bob.address()).expect("bob").balance, 1_300);
    let proposer = executor.account(&chain.validators[0].address()).expect("proposer credited");
    assert_eq!(proposer.balance, 15);
    assert_eq!(executor.head().height, 1);
}

#[test]
fn withdraw_removes_funds_and_records_the_withdrawal() {
    let chain = chain(1, 1_000, 1);
    let (_dir, mut executor) = open(&chain);
    build_and_commit(&mut executor, &chain, vec![withdraw(&chain.accounts[0], 0, 400, 10)]);
    assert_eq!(executor.account(&chain.accounts[0].address()).expect("sender").balance, 590);
    let receipts = executor.store().receipts(1).expect("read").expect("receipts");
    let withdrawal = receipts[0].withdrawal.as_ref().expect("withdrawal recorded");
    assert_eq!(withdrawal.amount, 400);
}

#[test]
fn every_invalid_transaction_is_named_with_its_reason() {
    let chain = chain(2, 1_000, 1);
    let (_dir, executor) = open(&chain);
    let alice = &chain.accounts[0];
    let bob = chain.accounts[1].address();
    let mut wrong_chain = transfer(alice, 0, bob, 1, 10);
    wrong_chain.tx.chain_id = CHAIN_ID + 1;
    let mut bad_signature = transfer(alice, 0, bob, 1, 10);
    bad_signature.signature.0[0] ^= 1;
    let cases = vec![
        (wrong_chain, TxError::WrongChain { expected: CHAIN_ID, found: CHAIN_ID + 1 }),
        (bad_signature, TxError::BadSignature(SignatureError::Invalid)),
        (transfer(alice, 0, bob, 1, 9), TxError::FeeTooLow { min_fee: 10, fee: 9 }),
        (transfer(alice, 1, bob, 1, 10), TxError::NonceTooHigh { expected: 0, found: 1 }),
        (
            transfer(alice, 0, bob, 991, 10),
            TxError::InsufficientBalance { balance: 1_000, needed: 1_001 },
        ),
        (transfer(alice, 0, bob, u128::MAX, 10), TxError::Overflow("amount + fee")),
    ];
    for (tx, expected) in cases {
        let mut block = valid_block(&executor, &chain, vec![]);
        block.txs = vec![tx.clone()];
        block.header.tx_count = 1;
        block.header.tx_root = tx_root(&[tx.hash()]);
        let error = block_error(executor.execute(&block, SignatureCheck::Verify));
        assert_eq!(error, BlockError::InvalidTx { index: 0, hash: tx.hash(), reason: expected });
    }
}

#[test]
fn only_signatures_not_known_as_verified_are_checked() {
    let chain = chain(2, 1_000, 1);
    let (_dir, executor) = open(&chain);
    let (alice, bob) = (&chain.accounts[0], chain.accounts[1].address());
    let good = transfer(alice, 0, bob, 1, 10);
    let mut forged = transfer(alice, 1, bob, 1, 10);
    forged.signature.0[0] ^= 1;
    let hashes = [good.hash(), forged.hash()];
    let proposer = chain.validators[0].address();
    let candidates = vec![good, forged];

    // A forged signature known by hash as verified is not checked again: the executor trusts
    // the caller, who must only vouch for hashes it verified itself.
    let knows_both = |hash: &Hash| hashes.contains(hash);
    let built = executor
        .build(proposer, 0, candidates.clone(), SignatureCheck::SkipVerified(&knows_both))
        .expect("build");
    assert_eq!(built.block.txs.len(), 2);
    assert!(executor.execute(&built.block, SignatureCheck::SkipVerified(&knows_both)).is_ok());
    let knows_good = |hash: &Hash| *hash == hashes[0];
    let error =
        block_error(executor.execute(&built.block, SignatureCheck::SkipVerified(&knows_good)));
    let reason = TxError::BadSignature(SignatureError::Invalid);
    assert_eq!(error, BlockError::InvalidTx { index: 1, hash: hashes[1], reason });
    let strict = executor.build(proposer, 0, candidates, SignatureCheck::Verify).expect("build");
    assert_eq!(strict.block.txs.len(), 1, "the strict rule drops the forged transaction");
}

#[test]
fn a_replayed_nonce_is_too_low() {
    let chain = chain(2, 1_000, 1);
    let (_dir, mut executor) = open(&chain);
    let tx = transfer(&chain.accounts[0], 0, chain.accounts[1].address(), 5, 10);
    build_and_commit(&mut executor, &chain, vec![tx.clone()]);
    let built = executor
        .build(chain.validators[0].address(), 0, vec![tx.clone()], SignatureCheck::Verify)
        .expect("build");
    assert_eq!(built.rejected, vec![(tx.hash(), TxError::NonceTooLow { expected: 1, found: 0 })]);
    assert!(built.block.txs.is_empty());
}

type Mutation = Box<dyn Fn(&mut Block)>;

#[test]
fn header_rules_are_enforced() {
    let chain = chain(2, 1_000, 2);
    let (_dir, executor) = open(&chain);
    let tx = transfer(&chain.accounts[0], 0, chain.accounts[1].address(), 5, 10);
    let good = valid_block(&executor, &chain, vec![tx]);
    assert!(executor.execute(&good, SignatureCheck::Verify).is_ok());
    let mutations: Vec<(Mutation, BlockError)> = vec![
        (
            Box::new(|b| b.header.chain_id = 99),
            BlockError::WrongChain { expected: CHAIN_ID, found: 99 },
        ),
        (Box::new(|b| b.header.height = 2), BlockError::WrongHeight { expected: 1, found: 2 }),
        (
            Box::new(|b| b.header.parent_hash = Hash([1; 32])),
            BlockError::WrongParent { expected: executor.genesis_hash(), found: Hash([1; 32]) },
        ),
        (
            Box::new(|b| b.header.timestamp_ms = 0),
            BlockError::TimestampBeforeParent {
                parent_ms: chain.genesis.genesis_time_ms,
                found_ms: 0,
            },
        ),
        (
            Box::new(|b| b.header.proposer = Address([3; 32])),
            BlockError::UnknownProposer(Address([3; 32])),
        ),
        (Box::new(|b| b.header.tx_count = 2), BlockError::TxCountMismatch { header: 2, body: 1 }),
        (
            Box::new(|b| b.header.tx_root = Hash([2; 32])),
            BlockError::TxRootMismatch { header: Hash([2; 32]), computed: good.header.tx_root },
        ),
        (
            Box::new(|b| b.header.state_root = Hash([4; 32])),
            BlockError::StateRootMismatch {
                header: Hash([4; 32]),
                computed: good.header.state_root,
            },
        ),
    ];
    for (mutate, expected) in mutations {
        let mut block = good.clone();
        mutate(&mut block);
        assert_eq!(block_error(executor.execute(&block, SignatureCheck::Verify)), expected);
    }
}

#[test]
fn block_limits_are_enforced_and_respected_by_the_builder() {
    let mut chain = chain(3, 1_000_000, 1);
    chain.genesis.params.block_txs_max = 2;
    chain.genesis.params.block_bytes_max = 1024;
    let (_dir, executor) = open(&chain);
    let txs: Vec<_> = (0..3)
        .map(|n| transfer(&chain.accounts[0], n, chain.accounts[1].address(), 1, 10))
        .collect();
    let built = executor
        .build(chain.validators[0].address(), 0, txs.clone(), SignatureCheck::Verify)
        .expect("build");
    assert_eq!(built.block.txs.len(), 2, "builder stops at block_txs_max");
    let mut block = built.block.clone();
    block.txs = txs.clone();
    block.header.tx_count = 3;
    assert_eq!(
        block_error(executor.execute(&block, SignatureCheck::Verify)),
        BlockError::TooManyTxs { count: 3, max: 2 }
    );

    let mut chain_small = chain;
    chain_small.genesis.params.block_txs_max = 100;
    let (_dir2, executor) = open(&chain_small);
    let txs: Vec<_> = (0..8)
        .map(|n| transfer(&chain_small.accounts[0], n, chain_small.accounts[1].address(), 1, 10))
        .collect();
    let built = executor
        .build(chain_small.validators[0].address(), 0, txs.clone(), SignatureCheck::Verify)
        .expect("build");
    assert_eq!(built.block.to_bytes().len(), 160 + 177 * built.block.txs.len());
    assert!(built.block.to_bytes().len() <= 1024, "builder respects block_bytes_max");
    let mut block = built.block;
    block.txs = txs;
    block.header.tx_count = 8;
    assert_eq!(
        block_error(executor.execute(&block, SignatureCheck::Verify)),
        BlockError::TooLarge { bytes: 160 + 177 * 8, max: 1024 }
    );
}

#[test]
fn commit_refuses_foreign_outcomes_and_certificates() {
    let chain = chain(2, 1_000, 1);
    let (_dir, mut executor) = open(&chain);
    let a = executor
        .build(chain.validators[0].address(), 10, vec![], SignatureCheck::Verify)
        .expect("a");
    let tx = transfer(&chain.accounts[0], 0, chain.accounts[1].address(), 5, 10);
    let b = executor
        .build(chain.validators[0].address(), 10, vec![tx], SignatureCheck::Verify)
        .expect("b");
    let cert_a = certificate(&a.block, &chain.validators);
    let error = block_error(executor.commit(&a.block, &cert_a, b.outcome));
    assert_eq!(error, BlockError::StaleOutcome);
    let cert_b = certificate(&b.block, &chain.validators);
    let error = block_error(executor.commit(&a.block, &cert_b, a.outcome));
    assert!(matches!(error, BlockError::CertificateMismatch { .. }));
    assert_eq!(executor.head().height, 0, "nothing was committed");
}

#[test]
fn an_empty_block_keeps_the_state_root() {
    let chain = chain(2, 1_000, 1);
    let (_dir, mut executor) = open(&chain);
    let root = executor.head().state.state_root;
    let block = build_and_commit(&mut executor, &chain, vec![]);
    assert_eq!(block.header.state_root, root);
    assert_eq!(block.header.tx_root, Hash::ZERO);
    assert_eq!(executor.store().state_at(1).expect("read").expect("state").state_root, root);
}

#[test]
fn a_store_of_another_genesis_is_refused() {
    let chain_a = chain(2, 1_000, 1);
    let chain_b = chain(3, 1_000, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.redb");
    drop(Executor::open(&path, chain_a.genesis.clone()).expect("open"));
    match Executor::open(&path, chain_b.genesis.clone()) {
        Err(ExecutorError::Store(tandem_executor::StoreError::GenesisMismatch { .. })) => {}
        other => panic!("expected a genesis mismatch, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_genesis_root_matches_the_reference_definition() {
    let chain = chain(60, 5_000, 1);
    let (_dir, executor) = open(&chain);
    let accounts = chain
        .genesis
        .accounts
        .iter()
        .map(|a| (a.address, tandem_types::Account { balance: a.balance, nonce: 0 }))
        .collect();
    assert_eq!(executor.head().state.state_root, reference_root(&accounts));
}
