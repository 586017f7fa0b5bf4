//! The transaction index: every committed transaction is found at its (height, position),
//! whether its entry is still in memory or already in a sorted run, and after a reopen.

mod common;

use common::*;
use tandem_executor::{Executor, StoreConfig};
use tandem_types::Hash;

const RUN_TXS: usize = 100;

fn open(path: &std::path::Path, chain: &TestChain) -> Executor {
    Executor::open_with(
        path,
        chain.genesis.clone(),
        &StoreConfig { tx_index_run_txs: RUN_TXS, ..StoreConfig::default() },
    )
    .expect("open")
}

fn assert_all_found(executor: &Executor, blocks: &[tandem_types::Block]) {
    for block in blocks {
        for (position, tx) in block.txs.iter().enumerate() {
            let location = executor.store().tx_location(&tx.hash()).expect("read");
            assert_eq!(location, Some((block.header.height, position as u32)), "tx {}", tx.hash());
        }
    }
    assert_eq!(executor.store().tx_location(&Hash([0xee; 32])).expect("read"), None);
}

#[test]
fn transactions_are_found_in_memory_in_runs_and_after_reopen() {
    let chain = chain(40, 1_000_000, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.redb");
    let mut executor = open(&path, &chain);
    let mut blocks = Vec::new();
    for height in 1..=46u64 {
        let count = if height % 9 == 0 { 0 } else { 23 };
        blocks.push(commit_scripted(&mut executor, &chain, count));
    }
    let (buffered, runs) = executor.store().tx_index_shape();
    assert!(runs >= 8, "entries were written as runs: {runs}");
    assert!(buffered > 0 && buffered < RUN_TXS, "recent entries stay in memory: {buffered}");
    assert_all_found(&executor, &blocks);
    drop(executor);

    let mut executor = open(&path, &chain);
    assert_eq!(executor.store().tx_index_shape(), (buffered, runs), "rebuilt from the blocks");
    assert_all_found(&executor, &blocks);
    blocks.push(commit_scripted(&mut executor, &chain, 23));
    assert_all_found(&executor, &blocks);
}
