//! Consensus over loopback QUIC on this machine: four validators deciding empty blocks
//! (heights per second, propose-to-decide latency), three of four (what a dead proposer
//! costs), and a fresh node catching up 10,000 blocks through sync (blocks per second). Prints the numbers `docs/performance.md` records.
#![allow(missing_docs)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tandem_consensus::{
    run_validator, BlockSource, ConsensusConfig, ConsensusCore, Decision, FileWal, ValidatorIo,
};
use tandem_executor::{Durability, Executor, SignatureCheck};
use tandem_network::{NetworkConfig, PeerAddress, PeerSet, QuicNetwork};
use tandem_types::{
    sha256, ChainParams, CommitCertificate, CommitSignature, Genesis, GenesisAccount,
    GenesisValidator, L1Address, SecretKey, SignedTransaction, Vote, VoteKind,
};
use tokio::sync::{mpsc, watch};

const MEASURED_HEIGHTS: u64 = 1_000;
const CATCH_UP_BLOCKS: u64 = 10_000;

fn key(role: &str, index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[role.as_bytes(), &index.to_le_bytes()].concat()).0)
}

struct Empty;

impl BlockSource for Empty {
    fn candidates(&mut self, _height: u64, _limit: usize) -> Vec<SignedTransaction> {
        Vec::new()
    }

    fn has_candidates(&self) -> bool {
        false
    }

    fn on_committed(&mut self, _now_ms: u64, _block: &tandem_types::Block) {}
}

fn genesis(keys: &[SecretKey]) -> Genesis {
    Genesis {
        chain_id: 21,
        genesis_time_ms: 0,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 100,
            block_bytes_max: 1 << 20,
            batch_blocks: 10,
        },
        validators: keys
            .iter()
            .zip(1u8..)
            .map(|(k, i)| GenesisValidator {
                address: k.address(),
                l1_address: L1Address([i; 20]),
                power: 1,
            })
            .collect(),
        accounts: vec![GenesisAccount { address: key("account", 0).address(), balance: 10 }],
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

struct Running {
    stop: watch::Sender<bool>,
    decisions: mpsc::UnboundedReceiver<(usize, Decision, u64)>,
}

/// Starts `which` of the validators (each with its store under `dir`) over loopback QUIC.
fn start(dir: &std::path::Path, keys: &[SecretKey], which: &[usize]) -> Running {
    let genesis = genesis(keys);
    let sockets: Vec<UdpSocket> =
        keys.iter().map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
    let peers: Vec<PeerAddress> = keys
        .iter()
        .zip(&sockets)
        .map(|(k, s)| PeerAddress { key: k.address(), socket: s.local_addr().expect("addr") })
        .collect();
    let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
    let (stop, stopped) = watch::channel(false);
    let (all_tx, decisions) = mpsc::unbounded_channel();
    for (index, socket) in sockets.into_iter().enumerate() {
        if !which.contains(&index) {
            continue;
        }
        let k = keys[index].clone();
        let mut config = NetworkConfig::new(socket.local_addr().expect("addr"));
        config.peers = peers.iter().filter(|p| p.key != k.address()).cloned().collect();
        let (network, events) =
            QuicNetwork::start_on(socket, &k, allowed.clone(), config).expect("network");
        let executor =
            Executor::open(&dir.join(format!("node{index}.redb")), genesis.clone()).expect("store");
        let wal = FileWal::open(&dir.join(format!("node{index}.wal"))).expect("wal");
        let core = ConsensusCore::new(executor, k, Empty, &ConsensusConfig::default());
        let (decided, mut node_decisions) = mpsc::unbounded_channel();
        let forward = all_tx.clone();
        tokio::spawn(async move {
            while let Some(decision) = node_decisions.recv().await {
                let _ = forward.send((index, decision, now_ms()));
            }
        });
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let network = Arc::new(network);
            let _ =
                run_validator(core, ValidatorIo::new(network, events, stopped, decided, wal)).await;
        });
    }
    Running { stop, decisions }
}

async fn heights_per_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    let mut running = start(dir.path(), &keys, &[0, 1, 2, 3]);
    // Warm up: connections, caches.
    let mut seen = [0u64; 4];
    while seen[0] < 50 {
        let (index, decision, _) = running.decisions.recv().await.expect("decisions");
        seen[index] = decision.height;
    }
    let start_height = seen[0];
    let started = Instant::now();
    let mut decided_at = Vec::new();
    while seen[0] < start_height + MEASURED_HEIGHTS {
        let (index, decision, at_ms) = running.decisions.recv().await.expect("decisions");
        seen[index] = decision.height;
        if index == 0 {
            decided_at.push((decision.height, at_ms));
        }
    }
    let elapsed = started.elapsed();
    running.stop.send(true).expect("stop");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = Executor::open(&dir.path().join("node0.redb"), genesis(&keys)).expect("reopen");
    let mut latencies: Vec<u64> = decided_at
        .iter()
        .filter_map(|(height, at)| {
            store
                .store()
                .block(*height)
                .ok()
                .flatten()
                .map(|b| at.saturating_sub(b.header.timestamp_ms))
        })
        .collect();
    latencies.sort_unstable();
    println!(
        "4 validators, empty blocks: {:.0} heights/s over {} heights; propose-to-decide p50 {} ms, p99 {} ms",
        MEASURED_HEIGHTS as f64 / elapsed.as_secs_f64(),
        MEASURED_HEIGHTS,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
    );
}

/// Writes `blocks` decided empty blocks, with real certificates, into node 0's store.
fn prepare_chain(dir: &std::path::Path, keys: &[SecretKey], blocks: u64) {
    let mut executor = Executor::open(&dir.join("node0.redb"), genesis(keys)).expect("store");
    for _ in 0..blocks {
        let height = executor.head().height + 1;
        let proposer = keys[(height % keys.len() as u64) as usize].address();
        let built =
            executor.build(proposer, height, Vec::new(), SignatureCheck::Verify).expect("build");
        let block_hash = built.block.hash();
        let signatures = keys[..3]
            .iter()
            .map(|k| {
                let vote = Vote {
                    chain_id: 21,
                    height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block_hash: Some(block_hash),
                    validator: k.address(),
                };
                CommitSignature { validator: k.address(), signature: vote.sign(k) }
            })
            .collect();
        let certificate = CommitCertificate { height, round: 0, block_hash, signatures };
        let durability =
            if height == blocks { Durability::Immediate } else { Durability::Deferred };
        executor
            .commit_with(&built.block, &certificate, built.outcome, durability)
            .expect("commit");
    }
}

async fn catch_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    prepare_chain(dir.path(), &keys, CATCH_UP_BLOCKS);
    // Node 0 serves the chain; node 1 starts empty. Two of four cannot decide new heights, so
    // everything node 1 gets comes through sync.
    let started = Instant::now();
    let mut running = start(dir.path(), &keys, &[0, 1]);
    let mut first: Option<Instant> = None;
    loop {
        let (index, decision, _) = running.decisions.recv().await.expect("decisions");
        if index == 1 {
            first.get_or_insert_with(Instant::now);
            if decision.height >= CATCH_UP_BLOCKS {
                break;
            }
        }
    }
    let from_first = first.map_or(Duration::ZERO, |f| f.elapsed());
    println!(
        "catch-up: {} blocks in {:.2} s from start ({:.0} blocks/s), {:.0} blocks/s from the first synced block",
        CATCH_UP_BLOCKS,
        started.elapsed().as_secs_f64(),
        CATCH_UP_BLOCKS as f64 / started.elapsed().as_secs_f64(),
        CATCH_UP_BLOCKS as f64 / from_first.as_secs_f64(),
    );
    running.stop.send(true).expect("stop");
}

/// Three of four validators: how much a dead proposer costs per turn.
async fn one_validator_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    let mut running = start(dir.path(), &keys, &[0, 1, 2]);
    let mut last = 0;
    while last < 10 {
        let (index, decision, _) = running.decisions.recv().await.expect("decisions");
        if index == 0 {
            last = decision.height;
        }
    }
    let heights = 200;
    let started = Instant::now();
    let (mut later_rounds, mut rounds_lost) = (0u64, 0u64);
    let target = last + heights;
    while last < target {
        let (index, decision, _) = running.decisions.recv().await.expect("decisions");
        if index == 0 {
            last = decision.height;
            if decision.round > 0 {
                later_rounds += 1;
                rounds_lost += u64::from(decision.round);
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "1 of 4 validators down: {:.0} heights/s over {heights} heights; {later_rounds} heights needed a later round \
         ({rounds_lost} rounds lost in all; the dead validator's turns: {})",
        heights as f64 / elapsed.as_secs_f64(),
        heights / 4,
    );
    running.stop.send(true).expect("stop");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        heights_per_second().await;
        one_validator_down().await;
        catch_up().await;
    });
}
