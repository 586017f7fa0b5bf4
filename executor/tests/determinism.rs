//! Determinism: the same blocks give the same roots on fresh stores, and stopping, reopening
//! and continuing gives the same roots and state as an uninterrupted run.

mod common;

use common::*;
use tandem_executor::{Durability, Executor, ExecutorError, SignatureCheck, StoreError};
use tandem_types::Hash;

const HEIGHTS: u64 = 30;

fn uninterrupted(chain: &TestChain) -> (tempfile::TempDir, Executor, Vec<Hash>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut executor =
        Executor::open(&dir.path().join("a.redb"), chain.genesis.clone()).expect("open");
    let mut roots = vec![executor.head().state.state_root];
    for height in 1..=HEIGHTS {
        // Every fifth block is empty: those share the previous tree version.
        let count = if height % 5 == 0 { 0 } else { 40 };
        let block = commit_scripted(&mut executor, chain, count);
        roots.push(block.header.state_root);
    }
    (dir, executor, roots)
}

#[test]
fn the_same_blocks_give_the_same_roots_on_a_fresh_store() {
    let chain = chain(50, 1_000_000, 4);
    let (_dir, reference, roots) = uninterrupted(&chain);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut replica =
        Executor::open(&dir.path().join("b.redb"), chain.genesis.clone()).expect("open");
    assert_eq!(replica.head().state.state_root, roots[0]);
    for height in 1..=HEIGHTS {
        let block = reference.store().block(height).expect("read").expect("block");
        let certificate =
            reference.store().certificate(height).expect("read").expect("certificate");
        let outcome = replica.execute(&block, SignatureCheck::Verify).expect("valid block");
        assert_eq!(outcome.state_root, roots[height as usize], "root at height {height}");
        replica.commit(&block, &certificate, outcome).expect("commit");
    }
    assert_eq!(replica.head(), reference.head());
}

#[test]
fn stop_reopen_continue_matches_an_uninterrupted_run() {
    let chain = chain(50, 1_000_000, 4);
    let (_dir, reference, roots) = uninterrupted(&chain);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.redb");
    let mut height = 0;
    for stop_at in [3, 4, 5, 11, 20, HEIGHTS] {
        let mut executor = Executor::open(&path, chain.genesis.clone()).expect("reopen");
        assert_eq!(executor.head().height, height, "reopened at the last committed height");
        assert_eq!(executor.head().state.state_root, roots[height as usize]);
        for account in &chain.accounts {
            let expected = reference.account_at(&account.address(), height).expect("history");
            assert_eq!(
                executor.account(&account.address()),
                expected,
                "state reloaded at height {height}"
            );
        }
        while height < stop_at {
            let count = if (height + 1) % 5 == 0 { 0 } else { 40 };
            let block = commit_scripted(&mut executor, &chain, count);
            height += 1;
            assert_eq!(block.header.state_root, roots[height as usize], "root at height {height}");
        }
    }
    let executor = Executor::open(&path, chain.genesis.clone()).expect("reopen");
    assert_eq!(executor.head(), reference.head());
    for h in 0..=HEIGHTS {
        assert_eq!(
            executor.store().block(h).expect("read"),
            reference.store().block(h).expect("read")
        );
    }
}

#[test]
fn deferred_commits_become_durable_with_the_next_immediate_one() {
    let chain = chain(50, 1_000_000, 4);
    let (_dir, reference, roots) = uninterrupted(&chain);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.redb");
    {
        let mut executor = Executor::open(&path, chain.genesis.clone()).expect("open");
        for height in 1..=6u64 {
            let block = reference.store().block(height).expect("read").expect("block");
            let certificate =
                reference.store().certificate(height).expect("read").expect("certificate");
            let outcome = executor.execute(&block, SignatureCheck::Verify).expect("valid block");
            let durability = if height == 6 { Durability::Immediate } else { Durability::Deferred };
            executor.commit_with(&block, &certificate, outcome, durability).expect("commit");
        }
    }
    let executor = Executor::open(&path, chain.genesis.clone()).expect("reopen");
    assert_eq!(executor.head().height, 6);
    assert_eq!(executor.head().state.state_root, roots[6]);
}

#[test]
fn a_store_in_another_format_is_refused_with_its_format() {
    let chain = chain(10, 1_000_000, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.redb");
    drop(Executor::open(&path, chain.genesis.clone()).expect("open"));
    // Files from before formats were recorded have no format entry at all.
    {
        let db = redb::Database::open(&path).expect("redb");
        let tx = db.begin_write().expect("write");
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        tx.open_table(meta).expect("meta").remove("store_format").expect("remove");
        tx.commit().expect("commit");
    }
    match Executor::open(&path, chain.genesis.clone()) {
        Err(ExecutorError::Store(StoreError::Format { found: 1, expected: 2 })) => {}
        other => panic!("expected a format error, got {:?}", other.map(|_| ())),
    }
}
