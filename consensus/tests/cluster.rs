//! Four validators' cores in one thread, messages delivered through an in-memory queue with
//! virtual time: they decide the same blocks, with valid certificates, keep deciding when one
//! validator is silent, and never sign two different votes for one step when validators crash
//! at any point of their output stream (losing their unsynced log entries) and restart.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use std::collections::BTreeMap;

use tandem_consensus::{BlockSource, ConsensusConfig, ConsensusCore, Output, TimerId, WireMessage};
use tandem_executor::Executor;
use tandem_types::{
    sha256, Action, ChainParams, Genesis, GenesisAccount, GenesisValidator, L1Address, SecretKey,
    SignedTransaction, Transaction,
};

const CHAIN_ID: u64 = 3;
const LATENCY_MS: u64 = 2;

fn key(role: &str, index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[role.as_bytes(), &index.to_le_bytes()].concat()).0)
}

/// One transfer per height from account 0, nonce = height - 1.
struct Script {
    sender: SecretKey,
}

impl BlockSource for Script {
    fn candidates(&mut self, height: u64, _limit: usize) -> Vec<SignedTransaction> {
        let to = key("account", 1).address();
        vec![Transaction {
            chain_id: CHAIN_ID,
            sender: self.sender.address(),
            nonce: height - 1,
            fee: 1,
            action: Action::Transfer { to, amount: 5 },
        }
        .sign(&self.sender)]
    }
}

fn open_core(
    dir: &tempfile::TempDir,
    genesis: &Genesis,
    index: usize,
    key_: &SecretKey,
) -> ConsensusCore<Script> {
    let executor = Executor::open(&dir.path().join(format!("node{index}.redb")), genesis.clone())
        .expect("open");
    ConsensusCore::new(
        executor,
        key_.clone(),
        Script { sender: key("account", 0) },
        &ConsensusConfig::default(),
    )
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Deliver { to: usize, bytes: Vec<u8> },
    Sync { to: usize, from: usize, bytes: Vec<u8> },
    Timer { node: usize, timer: TimerId },
    StatusTick { node: usize },
}

const STATUS_INTERVAL_MS: u64 = 500;

/// A write-ahead log in memory: appends stay pending until a sync; a crash loses them.
#[derive(Default)]
struct MemoryWal {
    synced: Vec<(u64, Vec<u8>)>,
    pending: Vec<(u64, Vec<u8>)>,
}

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    genesis: Genesis,
    keys: Vec<SecretKey>,
    wals: Vec<MemoryWal>,
    /// Every vote each validator sent: (validator, height, round, kind) → block voted for.
    votes: BTreeMap<(usize, u64, u32, u8), Option<tandem_types::Hash>>,
    /// Crash injection: the generator and the chance per output batch, in thousandths.
    crashes: Option<(Rng, u64)>,
    crash_count: usize,
    nodes: Vec<ConsensusCore<Script>>,
    armed: Vec<BTreeSet<TimerId>>,
    queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    sequence: u64,
    now_ms: u64,
    silent: BTreeSet<usize>,
    decided: Vec<Vec<(u64, u32)>>,
}

impl Cluster {
    fn new(validators: u32) -> Cluster {
        let validator_keys: Vec<SecretKey> = (0..validators).map(|i| key("validator", i)).collect();
        let mut accounts: Vec<GenesisAccount> = (0..2)
            .map(|i| GenesisAccount { address: key("account", i).address(), balance: 1_000_000 })
            .collect();
        accounts.sort_by_key(|a| a.address);
        let genesis = Genesis {
            chain_id: CHAIN_ID,
            genesis_time_ms: 0,
            params: ChainParams {
                min_fee: 1,
                block_txs_max: 100,
                block_bytes_max: 1 << 20,
                batch_blocks: 10,
            },
            validators: validator_keys
                .iter()
                .map(|k| GenesisValidator {
                    address: k.address(),
                    l1_address: L1Address([1; 20]),
                    power: 1,
                })
                .collect(),
            accounts,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes = validator_keys
            .iter()
            .enumerate()
            .map(|(i, k)| open_core(&dir, &genesis, i, k))
            .collect();
        let n = validators as usize;
        Cluster {
            dir,
            genesis,
            keys: validator_keys,
            wals: (0..n).map(|_| MemoryWal::default()).collect(),
            votes: BTreeMap::new(),
            crashes: None,
            crash_count: 0,
            nodes,
            armed: vec![BTreeSet::new(); n],
            queue: BinaryHeap::new(),
            sequence: 0,
            now_ms: 0,
            silent: BTreeSet::new(),
            decided: vec![Vec::new(); n],
        }
    }

    fn push(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, event)));
    }

    fn apply(&mut self, node: usize, outputs: Vec<Output>) {
        let crash_at = match &mut self.crashes {
            Some((rng, per_mille)) => {
                let crash = rng.below(1000) < *per_mille;
                let position = rng.below(outputs.len() as u64 + 1) as usize;
                crash.then_some(position)
            }
            None => None,
        };
        for (index, output) in outputs.into_iter().enumerate() {
            if crash_at == Some(index) {
                self.crash_and_restart(node);
                return;
            }
            if matches!(output, Output::Broadcast { .. } | Output::SendSync { .. }) {
                let pending = std::mem::take(&mut self.wals[node].pending);
                self.wals[node].synced.extend(pending);
            }
            match output {
                Output::Broadcast { bytes, .. } => {
                    self.record_vote(node, &bytes);
                    for to in 0..self.nodes.len() {
                        if to != node && !self.silent.contains(&node) {
                            self.push(
                                self.now_ms + LATENCY_MS,
                                Event::Deliver { to, bytes: bytes.clone() },
                            );
                        }
                    }
                }
                Output::ScheduleTimer { timer, after } => {
                    self.armed[node].insert(timer);
                    self.push(self.now_ms + after.as_millis() as u64, Event::Timer { node, timer });
                }
                Output::CancelTimer(timer) => {
                    self.armed[node].remove(&timer);
                }
                Output::CancelAllTimers => self.armed[node].clear(),
                Output::SendSync { to, bytes } => {
                    let targets: Vec<usize> = match to {
                        Some(peer) => {
                            self.keys.iter().position(|k| k.address() == peer).into_iter().collect()
                        }
                        None => (0..self.nodes.len()).filter(|&n| n != node).collect(),
                    };
                    for to in targets {
                        if !self.silent.contains(&node) {
                            self.push(
                                self.now_ms + LATENCY_MS,
                                Event::Sync { to, from: node, bytes: bytes.clone() },
                            );
                        }
                    }
                }
                Output::WalAppend { height, bytes } => {
                    self.wals[node].pending.push((height, bytes))
                }
                Output::WalReset { .. } => self.wals[node] = MemoryWal::default(),
                Output::Decided { height, round, .. } => self.decided[node].push((height, round)),
            }
        }
    }

    /// Checks that `node` never sends two different votes for one step, then records it.
    fn record_vote(&mut self, node: usize, bytes: &[u8]) {
        let Ok(WireMessage::Vote { vote, .. }) = WireMessage::from_bytes(bytes) else { return };
        let step = (node, vote.height, vote.round, vote.kind as u8);
        match self.votes.get(&step) {
            Some(earlier) => {
                assert_eq!(*earlier, vote.block_hash, "validator {node} equivocated at {step:?}")
            }
            None => {
                self.votes.insert(step, vote.block_hash);
            }
        }
    }

    /// The node crashes (its unsynced log entries and its timers are lost) and starts again
    /// from its store and its log.
    fn crash_and_restart(&mut self, node: usize) {
        self.crash_count += 1;
        self.wals[node].pending.clear();
        self.armed[node].clear();
        // Close the store before opening it again, as a restarted process would.
        let placeholder_dir = tempfile::tempdir().expect("tempdir");
        let placeholder = open_core(&placeholder_dir, &self.genesis, node, &self.keys[node]);
        drop(std::mem::replace(&mut self.nodes[node], placeholder));
        self.nodes[node] = open_core(&self.dir, &self.genesis, node, &self.keys[node]);
        let entries = self.wals[node].synced.clone();
        let outputs = self.nodes[node].start_with_wal(self.now_ms, entries).expect("restart");
        let crashes = self.crashes.take();
        self.apply(node, outputs);
        self.crashes = crashes;
    }

    fn start(&mut self) {
        for node in 0..self.nodes.len() {
            let outputs = self.nodes[node].start(0).expect("start");
            self.apply(node, outputs);
            self.push(STATUS_INTERVAL_MS, Event::StatusTick { node });
        }
    }

    /// Runs until every live node decided `height`, or `deadline_ms` of virtual time passed.
    fn run_until(&mut self, height: u64, deadline_ms: u64) {
        while let Some(Reverse((at, _, event))) = self.queue.pop() {
            if at > deadline_ms {
                break;
            }
            self.now_ms = at;
            match event {
                Event::Deliver { to, bytes } => {
                    if self.silent.contains(&to) {
                        continue;
                    }
                    let outputs = self.nodes[to].on_message(at, &bytes).expect("no fatal error");
                    if let Ok(outputs) = outputs {
                        self.apply(to, outputs);
                    }
                }
                Event::Sync { to, from, bytes } => {
                    if self.silent.contains(&to) {
                        continue;
                    }
                    let peer = self.keys[from].address();
                    let outputs =
                        self.nodes[to].on_sync_message(at, peer, &bytes).expect("no fatal error");
                    if let Ok(outputs) = outputs {
                        self.apply(to, outputs);
                    }
                }
                Event::StatusTick { node } => {
                    self.push(at + STATUS_INTERVAL_MS, Event::StatusTick { node });
                    if !self.silent.contains(&node) {
                        let outputs = self.nodes[node].on_status_tick(at);
                        self.apply(node, outputs);
                    }
                }
                Event::Timer { node, timer } => {
                    if self.silent.contains(&node) || !self.armed[node].remove(&timer) {
                        continue;
                    }
                    let outputs = self.nodes[node].on_timeout(at, timer).expect("no fatal error");
                    self.apply(node, outputs);
                }
            }
            let live = (0..self.nodes.len()).filter(|n| !self.silent.contains(n));
            if live.into_iter().all(|n| self.nodes[n].executor().head().height >= height) {
                return;
            }
        }
    }

    fn assert_agreement(&self, up_to: u64) {
        let reference = self
            .nodes
            .iter()
            .enumerate()
            .find(|(n, _)| !self.silent.contains(n))
            .expect("a live node")
            .1;
        let validators = reference.executor().validators().clone();
        for height in 1..=up_to {
            let block =
                reference.executor().store().block(height).expect("read").expect("decided block");
            let certificate = reference
                .executor()
                .store()
                .certificate(height)
                .expect("read")
                .expect("certificate");
            assert_eq!(
                certificate.verify(CHAIN_ID, height, &block.hash(), &validators).map(|_| ()),
                Ok(())
            );
            for (n, node) in self.nodes.iter().enumerate() {
                if self.silent.contains(&n) {
                    continue;
                }
                let other =
                    node.executor().store().block(height).expect("read").expect("decided block");
                assert_eq!(other.hash(), block.hash(), "node {n} agrees at height {height}");
            }
        }
    }
}

#[test]
fn four_validators_decide_the_same_blocks() {
    let mut cluster = Cluster::new(4);
    cluster.start();
    cluster.run_until(30, 60_000);
    for node in &cluster.nodes {
        assert!(node.executor().head().height >= 30, "height {}", node.executor().head().height);
    }
    cluster.assert_agreement(30);
    let block = cluster.nodes[0].executor().store().block(12).expect("read").expect("block");
    assert_eq!(block.header.tx_count, 1, "the proposer included its candidate");
    assert!(
        cluster.decided.iter().all(|d| d.iter().all(|(_, round)| *round == 0)),
        "no round was lost"
    );
}

#[test]
fn a_silent_validator_costs_rounds_not_safety() {
    let mut cluster = Cluster::new(4);
    cluster.silent.insert(2);
    cluster.start();
    cluster.run_until(20, 120_000);
    for (n, node) in cluster.nodes.iter().enumerate() {
        if n != 2 {
            assert!(
                node.executor().head().height >= 20,
                "node {n} at height {}",
                node.executor().head().height
            );
        }
    }
    cluster.assert_agreement(20);
    let later_rounds = cluster.decided[0].iter().filter(|(_, round)| *round > 0).count();
    assert!(later_rounds > 0, "heights whose proposer was silent needed another round");
}

#[test]
fn crashes_at_any_output_never_make_a_validator_equivocate() {
    for seed in 1..=8u64 {
        let mut cluster = Cluster::new(4);
        cluster.crashes = Some((Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)), 10));
        cluster.start();
        cluster.run_until(25, 300_000);
        for (n, node) in cluster.nodes.iter().enumerate() {
            assert!(
                node.executor().head().height >= 25,
                "seed {seed}: node {n} at {}",
                node.executor().head().height
            );
        }
        cluster.assert_agreement(25);
        assert!(cluster.crash_count > 0, "seed {seed} crashed no validator");
    }
}
