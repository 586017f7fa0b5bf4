//! Crash consistency: a child process commits scripted blocks in a loop and is killed with
//! SIGKILL at random points; every reopen finds the store at the last committed height, intact,
//! with the same roots as an uninterrupted run.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tandem_executor::{Executor, StoreConfig};
use tandem_types::Hash;

const CHILD_ENV: &str = "TANDEM_CRASH_WRITER_STORE";
const TEST_NAME: &str = "store_survives_sigkill_at_random_points";
const TXS_PER_BLOCK: usize = 150;
const KILLS: usize = 10;

fn test_chain() -> TestChain {
    chain(200, 1_000_000_000, 4)
}

/// Small index runs, so that kills also land around run writes.
fn open(store: &Path, chain: &TestChain) -> Executor {
    let config = StoreConfig { tx_index_run_txs: 400, ..StoreConfig::default() };
    Executor::open_with(store, chain.genesis.clone(), &config).expect("open store")
}

/// The writer run by the child: commit forever, announcing each committed height.
fn writer(store: &Path) -> ! {
    let chain = test_chain();
    let mut executor = open(store, &chain);
    loop {
        let block = commit_scripted(&mut executor, &chain, TXS_PER_BLOCK);
        println!("committed {}", block.header.height);
    }
}

/// A small deterministic generator for kill points (xorshift64).
struct KillPoints(u64);

impl KillPoints {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Starts the writer, lets it commit some blocks, kills it; returns the last height it announced.
fn run_and_kill(store: &Path, points: &mut KillPoints) -> u64 {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let wanted = 1 + points.next(8);
    let (mut announced, mut seen) = (0, 0);
    let mut lines = BufReader::new(stdout).lines();
    while seen < wanted {
        let line = lines.next().expect("writer output").expect("line");
        if let Some(height) = line.strip_prefix("committed ") {
            announced = height.parse().expect("height");
            seen += 1;
        }
    }
    // Land the kill somewhere inside a later commit.
    std::thread::sleep(Duration::from_micros(points.next(60_000)));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    for line in lines.map_while(Result::ok) {
        if let Some(height) = line.strip_prefix("committed ") {
            announced = height.parse().expect("height");
        }
    }
    announced
}

fn expected_roots(up_to: u64) -> Vec<Hash> {
    let chain = test_chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut executor =
        Executor::open(&dir.path().join("reference.redb"), chain.genesis.clone()).expect("open");
    let mut roots = vec![executor.head().state.state_root];
    while executor.head().height < up_to {
        roots.push(commit_scripted(&mut executor, &chain, TXS_PER_BLOCK).header.state_root);
    }
    roots
}

#[test]
fn store_survives_sigkill_at_random_points() {
    if let Some(store) = std::env::var_os(CHILD_ENV) {
        writer(Path::new(&store));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("node.redb");
    let chain = test_chain();
    let mut points = KillPoints(0x9e37_79b9_7f4a_7c15);
    let mut heights = Vec::new();
    for _ in 0..KILLS {
        let announced = run_and_kill(&store, &mut points);
        let executor = open(&store, &chain);
        let height = executor.head().height;
        // A commit can finish after the last announcement was written but before the kill.
        assert!(
            height == announced || height == announced + 1,
            "reopened at {height}, last announced {announced}"
        );
        eprintln!("killed after announcing {announced}; reopened at {height}");
        heights.push(height);
    }
    let executor = open(&store, &chain);
    assert!(executor.store().tx_index_shape().1 > 10, "index runs were written");
    let top = executor.head().height;
    assert!(top >= KILLS as u64, "the writers made progress: {heights:?}");
    let roots = expected_roots(top);
    for height in 0..=top {
        let state =
            executor.store().state_at(height).expect("read").expect("every height is present");
        assert_eq!(state.state_root, roots[height as usize], "root at height {height}");
        if height > 0 {
            let block = executor.store().block(height).expect("read").expect("block");
            assert_eq!(block.header.state_root, roots[height as usize]);
            let certificate =
                executor.store().certificate(height).expect("read").expect("certificate");
            assert_eq!(certificate.block_hash, block.hash());
            for (index, tx) in block.txs.iter().enumerate() {
                assert_eq!(
                    executor.store().tx_location(&tx.hash()).expect("read"),
                    Some((height, index as u32))
                );
            }
        }
    }
    assert!(executor.store().state_at(top + 1).expect("read").is_none(), "nothing beyond the head");
    for account in &chain.accounts {
        let committed = executor.account_at(&account.address(), top).expect("read");
        assert_eq!(executor.account(&account.address()), committed, "memory state reloaded intact");
    }
}
