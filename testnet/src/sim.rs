//! One simulated run: a cluster of consensus cores, a seeded network, faults, invariants.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;

use sha2::{Digest, Sha256};
use tandem_consensus::{ConsensusConfig, ConsensusCore, EmptyBlocks, Output, TimerId, WireMessage};
use tandem_executor::{Executor, SignatureCheck};
use tandem_types::{
    sha256, Action, ChainParams, Genesis, GenesisAccount, GenesisValidator, Hash, L1Address,
    SecretKey, Transaction,
};

use crate::byzantine::{tamper, Behaviour, Sent};
use crate::pool::Pool;
use crate::rng::Rng;

const CHAIN_ID: u64 = 77;
const STATUS_INTERVAL_MS: u64 = 500;

/// What a run simulates.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Decides every fault.
    pub seed: u64,
    /// Number of validators (equal power).
    pub validators: usize,
    /// Virtual duration of the safety phase, with faults on.
    pub safety_ms: u64,
    /// Heights every node must decide after the network heals.
    pub liveness_heights: u64,
    /// Virtual time allowed for that progress.
    pub liveness_ms: u64,
    /// Smallest one-way message delay.
    pub latency_ms: u64,
    /// Extra random delay, up to this much (reorders messages).
    pub jitter_ms: u64,
    /// Chance a message is lost, per thousand (safety phase only).
    pub loss_per_mille: u64,
    /// Chance a message is delivered twice, per thousand.
    pub duplicate_per_mille: u64,
    /// Number of partitions (symmetric or one-way) in the safety phase.
    pub partitions: u64,
    /// Chance, per thousand, that a validator crashes while carrying out a batch of outputs.
    pub crash_per_mille: u64,
    /// Restarted validators forget their write-ahead log: a faulty validator, used to show that
    /// the equivocation check bites.
    pub amnesia: bool,
    /// A validator that never runs (a dead node for the whole run).
    pub silent: Option<usize>,
    /// Byzantine validators and how each misbehaves (at most f of them).
    pub byzantine: Vec<(usize, Behaviour)>,
    /// When heights start if no transaction waits.
    pub empty_blocks: EmptyBlocks,
    /// Longest gap between two client transactions arriving (the shortest is a tenth of it).
    pub tx_gap_ms: u64,
}

impl SimConfig {
    /// The default fault profile for `seed` and `validators`.
    pub fn new(seed: u64, validators: usize) -> SimConfig {
        SimConfig {
            seed,
            validators,
            safety_ms: 4_000,
            liveness_heights: 5,
            liveness_ms: 60_000,
            latency_ms: 5,
            jitter_ms: 20,
            loss_per_mille: 50,
            duplicate_per_mille: 30,
            partitions: 2,
            crash_per_mille: 8,
            amnesia: false,
            silent: None,
            byzantine: Vec::new(),
            empty_blocks: EmptyBlocks::Continuous,
            tx_gap_ms: 200,
        }
        .with_seeded_choices()
    }

    /// The parts of the profile the seed picks: half the seeds run f Byzantine validators
    /// with random behaviours; a fifth hold empty blocks for an interval, a fifth never make
    /// them.
    fn with_seeded_choices(mut self) -> SimConfig {
        let mut rng = Rng::new(self.seed ^ 0x5eed_c0f1_9000_0000);
        let f = (self.validators.saturating_sub(1)) / 3;
        if rng.chance(500) {
            let mut indices: Vec<usize> = (0..self.validators).collect();
            for _ in 0..f {
                let index = indices.remove(rng.below(indices.len() as u64) as usize);
                let behaviour = Behaviour::ALL[rng.below(Behaviour::ALL.len() as u64) as usize];
                self.byzantine.push((index, behaviour));
            }
        }
        self.empty_blocks = match rng.below(10) {
            0 | 1 => EmptyBlocks::Interval(std::time::Duration::from_millis(150)),
            2 | 3 => EmptyBlocks::Never,
            _ => EmptyBlocks::Continuous,
        };
        self
    }

    /// The behaviour of validator `node`, if it is Byzantine.
    pub fn behaviour(&self, node: usize) -> Option<Behaviour> {
        self.byzantine.iter().find(|(index, _)| *index == node).map(|(_, b)| *b)
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        format!(
            "scripts/simulate.sh --seeds 1 --seed-start {} --validators {}",
            self.seed, self.validators
        )
    }
}

/// What a clean run saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// Hash of every event processed and every decision, in order.
    pub trace_hash: Hash,
    /// Each node's final height.
    pub heights: Vec<u64>,
    /// Crashes injected.
    pub crashes: usize,
    /// Messages delivered.
    pub messages: u64,
    /// Messages Byzantine validators sent in place of, or besides, their honest ones.
    pub tampered_messages: u64,
    /// Penalty points honest validators charged (to Byzantine ones) that were still on record
    /// at the end (a crash forgets a node's records).
    pub charged_points: u64,
    /// Decided blocks without transactions.
    pub empty_blocks: u64,
}

/// An invariant that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two nodes decided different blocks at one height.
    Agreement {
        /// Height.
        height: u64,
        /// Node that disagreed.
        node: usize,
    },
    /// A validator signed two different votes for one step.
    Equivocation {
        /// Validator index.
        validator: usize,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// 0 prevote, 1 precommit.
        kind: u8,
    },
    /// A decided block does not re-execute to its root.
    Validity {
        /// Height.
        height: u64,
        /// What failed.
        reason: String,
    },
    /// The cluster did not make progress after healing.
    NoProgress {
        /// Heights reached.
        heights: Vec<u64>,
        /// Each node's round at the end.
        rounds: Vec<Option<u32>>,
        /// Height every node had to reach.
        required: u64,
    },
    /// An honest validator charged another honest validator for bad input.
    FalsePenalty {
        /// The validator that charged.
        node: usize,
        /// The honest peer it charged.
        peer: usize,
    },
    /// A node stopped on a fatal error.
    Fatal {
        /// Node.
        node: usize,
        /// The error.
        error: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Agreement { height, node } => {
                write!(f, "agreement: node {node} decided another block at height {height}")
            }
            Violation::Equivocation { validator, height, round, kind } => {
                write!(f, "equivocation: validator {validator} signed two votes (kind {kind}) at height {height} round {round}")
            }
            Violation::Validity { height, reason } => {
                write!(f, "validity: height {height}: {reason}")
            }
            Violation::NoProgress { heights, rounds, required } => {
                write!(f, "liveness: heights {heights:?} (rounds {rounds:?}), required {required}")
            }
            Violation::FalsePenalty { node, peer } => {
                write!(f, "penalty: honest node {node} charged honest node {peer}")
            }
            Violation::Fatal { node, error } => write!(f, "node {node} stopped: {error}"),
        }
    }
}

fn key(role: &str, index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[role.as_bytes(), &index.to_le_bytes()].concat()).0)
}

/// The `nonce`-th client transfer (from funded account 0 to account 1).
fn client_transfer(nonce: u64) -> tandem_types::SignedTransaction {
    let sender = key("account", 0);
    let tx = Transaction {
        chain_id: CHAIN_ID,
        sender: sender.address(),
        nonce,
        fee: 1,
        action: Action::Transfer { to: key("account", 1).address(), amount: 3 },
    };
    tx.sign(&sender)
}

fn genesis(validators: &[SecretKey]) -> Genesis {
    let mut accounts: Vec<GenesisAccount> = (0..2)
        .map(|i| GenesisAccount { address: key("account", i).address(), balance: 1 << 40 })
        .collect();
    accounts.sort_by_key(|a| a.address);
    Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 0,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 100,
            block_bytes_max: 1 << 20,
            batch_blocks: 10,
        },
        validators: validators
            .iter()
            .zip(1u8..)
            .map(|(k, i)| GenesisValidator {
                address: k.address(),
                l1_address: L1Address([i; 20]),
                power: 1,
            })
            .collect(),
        accounts,
    }
}

/// A write-ahead log in memory, as `FileWal` behaves on disk: appends stay pending until a
/// sync, and a crash loses them; a reset (a truncation, not synced on its own) becomes durable
/// with the next sync of appends, and until then a crash brings back the entries it dropped.
#[derive(Default)]
struct MemoryWal {
    synced: Vec<(u64, Vec<u8>)>,
    pending: Vec<(u64, Vec<u8>)>,
    reset_pending: bool,
}

impl MemoryWal {
    fn append(&mut self, height: u64, bytes: Vec<u8>) {
        self.pending.push((height, bytes));
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.reset_pending = true;
    }

    /// Syncs if there are appends to sync, as `FileWal::sync` does.
    fn sync(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if std::mem::take(&mut self.reset_pending) {
            self.synced.clear();
        }
        self.synced.append(&mut self.pending);
    }

    /// A crash: what was not synced is lost, the reset included.
    fn crash(&mut self) {
        self.pending.clear();
        self.reset_pending = false;
    }
}

struct Node {
    core: Option<ConsensusCore<Pool>>,
    /// The node's pending client transactions (lost in a crash).
    pool: Pool,
    wal: MemoryWal,
    armed: BTreeSet<TimerId>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Consensus {
        to: usize,
        from: usize,
        bytes: Vec<u8>,
    },
    /// A client transaction reaches a node.
    Transaction {
        to: usize,
        nonce: u64,
    },
    /// The next client transaction is sent.
    ClientTick,
    Sync {
        to: usize,
        from: usize,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        timer: TimerId,
    },
    StatusTick {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Heal,
}

/// A cut of links during an interval: symmetric between two groups, or one way.
struct Partition {
    from_ms: u64,
    until_ms: u64,
    /// `blocked[a][b]`: messages from a to b are dropped.
    blocked: Vec<Vec<bool>>,
}

struct Sim {
    config: SimConfig,
    rng: Rng,
    dir: tempfile::TempDir,
    genesis: Genesis,
    keys: Vec<SecretKey>,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    sequence: u64,
    now_ms: u64,
    healed: bool,
    partitions: Vec<Partition>,
    decided: BTreeMap<u64, Hash>,
    votes: BTreeMap<(usize, u64, u32, u8), Option<Hash>>,
    trace: Sha256,
    crashes: usize,
    messages: u64,
    /// Client transactions sent so far (the next one's nonce).
    sent_txs: u64,
    tampered_messages: u64,
    empty_blocks: u64,
}

/// Runs one simulation.
pub fn run(config: SimConfig) -> Result<SimReport, Violation> {
    let mut sim = Sim::new(config);
    sim.start()?;
    sim.run()?;
    sim.check_validity()?;
    Ok(SimReport {
        trace_hash: Hash(sim.trace.clone().finalize().into()),
        heights: sim.heights(),
        crashes: sim.crashes,
        messages: sim.messages,
        tampered_messages: sim.tampered_messages,
        charged_points: sim.charged_points(),
        empty_blocks: sim.empty_blocks,
    })
}

/// Stores on a memory file system when there is one: fsync there costs nothing.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("a temporary directory")
}

impl Sim {
    fn new(config: SimConfig) -> Sim {
        let mut rng = Rng::new(config.seed);
        let keys: Vec<SecretKey> =
            (0..config.validators as u32).map(|i| key("validator", i)).collect();
        let genesis = genesis(&keys);
        let dir = scratch_dir();
        let partitions =
            (0..config.partitions).map(|_| random_partition(&mut rng, &config)).collect();
        let mut sim = Sim {
            rng,
            dir,
            genesis,
            keys,
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            sequence: 0,
            now_ms: 0,
            healed: false,
            partitions,
            decided: BTreeMap::new(),
            votes: BTreeMap::new(),
            trace: Sha256::new(),
            crashes: 0,
            messages: 0,
            sent_txs: 0,
            tampered_messages: 0,
            empty_blocks: 0,
            config,
        };
        sim.nodes = (0..sim.config.validators)
            .map(|i| {
                let pool = Pool::default();
                Node {
                    core: Some(sim.open_core(i, pool.clone())),
                    pool,
                    wal: MemoryWal::default(),
                    armed: BTreeSet::new(),
                }
            })
            .collect();
        sim
    }

    fn open_core(&self, index: usize, pool: Pool) -> ConsensusCore<Pool> {
        let path = self.dir.path().join(format!("node{index}.redb"));
        let executor =
            Executor::open(&path, self.genesis.clone()).expect("a simulated store opens");
        let config =
            ConsensusConfig { empty_blocks: self.config.empty_blocks, ..Default::default() };
        ConsensusCore::new(executor, self.keys[index].clone(), pool, &config)
    }

    fn is_honest(&self, node: usize) -> bool {
        self.config.behaviour(node).is_none()
    }

    fn heights(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| n.core.as_ref().map_or(0, |c| c.executor().head().height))
            .collect()
    }

    fn push(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, event)));
    }

    fn start(&mut self) -> Result<(), Violation> {
        for node in 0..self.nodes.len() {
            if self.config.silent == Some(node) {
                self.nodes[node].core = None;
                continue;
            }
            let outputs = self
                .core(node)
                .start(0)
                .map_err(|e| Violation::Fatal { node, error: e.to_string() })?;
            self.apply(node, outputs)?;
            self.push(STATUS_INTERVAL_MS, Event::StatusTick { node });
        }
        self.push(0, Event::ClientTick);
        self.push(self.config.safety_ms, Event::Heal);
        Ok(())
    }

    fn core(&mut self, node: usize) -> &mut ConsensusCore<Pool> {
        self.nodes[node].core.as_mut().expect("only live nodes are driven")
    }

    fn run(&mut self) -> Result<(), Violation> {
        let deadline = self.config.safety_ms + self.config.liveness_ms;
        let mut required = u64::MAX;
        while let Some(Reverse((at, sequence, event))) = self.queue.pop() {
            if at > deadline {
                break;
            }
            self.now_ms = at;
            self.trace.update(at.to_le_bytes());
            self.trace.update(sequence.to_le_bytes());
            if matches!(event, Event::Heal) {
                required = self.heal();
                continue;
            }
            self.step(event)?;
            let live: Vec<(usize, u64)> = self
                .heights()
                .into_iter()
                .enumerate()
                .filter(|(n, _)| self.config.silent != Some(*n) && self.is_honest(*n))
                .collect();
            if self.healed && live.into_iter().all(|(_, h)| h >= required) {
                return Ok(());
            }
        }
        let rounds = self.nodes.iter().map(|n| n.core.as_ref().and_then(|c| c.round())).collect();
        Err(Violation::NoProgress { heights: self.heights(), rounds, required })
    }

    /// Ends the safety phase: no more loss, partitions or crashes; down nodes restart.
    /// Returns the height every node must then reach.
    fn heal(&mut self) -> u64 {
        self.healed = true;
        self.partitions.clear();
        for node in 0..self.nodes.len() {
            if self.nodes[node].core.is_none() && self.config.silent != Some(node) {
                self.push(self.now_ms, Event::Restart { node });
            }
        }
        self.heights().into_iter().max().unwrap_or(0) + self.config.liveness_heights
    }

    fn step(&mut self, event: Event) -> Result<(), Violation> {
        let (node, result) = match event {
            Event::Consensus { to, from, bytes } => {
                if self.nodes[to].core.is_none() {
                    return Ok(());
                }
                self.messages += 1;
                let (now, peer) = (self.now_ms, self.keys[from].address());
                (to, self.core(to).on_message(now, peer, &bytes).map(|r| r.unwrap_or_default()))
            }
            Event::ClientTick => {
                self.send_client_transaction();
                return Ok(());
            }
            Event::Transaction { to, nonce } => {
                if self.nodes[to].core.is_none() || !self.nodes[to].pool.add(client_transfer(nonce))
                {
                    return Ok(());
                }
                let now = self.now_ms;
                (to, self.core(to).on_transactions(now))
            }
            Event::Sync { to, from, bytes } => {
                if self.nodes[to].core.is_none() {
                    return Ok(());
                }
                self.messages += 1;
                let (now, peer) = (self.now_ms, self.keys[from].address());
                (
                    to,
                    self.core(to).on_sync_message(now, peer, &bytes).map(|r| r.unwrap_or_default()),
                )
            }
            Event::Timer { node, timer } => {
                if self.nodes[node].core.is_none() || !self.nodes[node].armed.remove(&timer) {
                    return Ok(());
                }
                let now = self.now_ms;
                (node, self.core(node).on_timeout(now, timer))
            }
            Event::StatusTick { node } => {
                self.push(self.now_ms + STATUS_INTERVAL_MS, Event::StatusTick { node });
                if self.nodes[node].core.is_none() {
                    return Ok(());
                }
                let now = self.now_ms;
                (node, Ok(self.core(node).on_status_tick(now)))
            }
            Event::Restart { node } => {
                if self.nodes[node].core.is_some() {
                    return Ok(());
                }
                let pool = Pool::default();
                self.nodes[node].pool = pool.clone();
                self.nodes[node].core = Some(self.open_core(node, pool));
                let entries = if self.config.amnesia {
                    Vec::new()
                } else {
                    self.nodes[node].wal.synced.clone()
                };
                let now = self.now_ms;
                (node, self.core(node).start_with_wal(now, entries))
            }
            Event::Heal => return Ok(()),
        };
        let outputs =
            result.map_err(|error| Violation::Fatal { node, error: error.to_string() })?;
        self.apply(node, outputs)?;
        self.check_penalties(node)
    }

    /// A client sends the next transfer; it reaches every node after a network delay.
    fn send_client_transaction(&mut self) {
        let nonce = self.sent_txs;
        self.sent_txs += 1;
        for to in 0..self.nodes.len() {
            let delay = self.config.latency_ms + self.rng.below(self.config.jitter_ms + 1);
            self.push(self.now_ms + delay, Event::Transaction { to, nonce });
        }
        let gap = self.config.tx_gap_ms / 10 + self.rng.below(self.config.tx_gap_ms + 1);
        self.push(self.now_ms + gap, Event::ClientTick);
    }

    fn charged_points(&self) -> u64 {
        let honest = self.nodes.iter().enumerate().filter(|(n, _)| self.is_honest(*n));
        honest
            .filter_map(|(_, node)| node.core.as_ref())
            .flat_map(|core| core.penalties().records().map(|(_, r)| r.total_points))
            .sum()
    }

    /// Honest validators only ever charge Byzantine ones.
    fn check_penalties(&mut self, node: usize) -> Result<(), Violation> {
        if !self.is_honest(node) {
            return Ok(());
        }
        let Some(core) = self.nodes[node].core.as_ref() else { return Ok(()) };
        for (address, record) in core.penalties().records() {
            let peer = self.keys.iter().position(|k| k.address() == *address);
            if let Some(peer) = peer.filter(|&p| self.is_honest(p) && record.total_points > 0) {
                return Err(Violation::FalsePenalty { node, peer });
            }
        }
        Ok(())
    }

    /// Carries out a node's outputs in order, perhaps crashing it part way.
    fn apply(&mut self, node: usize, outputs: Vec<Output>) -> Result<(), Violation> {
        let crash_at = if !self.healed && self.rng.chance(self.config.crash_per_mille) {
            Some(self.rng.below(outputs.len() as u64 + 1) as usize)
        } else {
            None
        };
        for (index, output) in outputs.into_iter().enumerate() {
            if crash_at == Some(index) {
                self.crash(node);
                return Ok(());
            }
            self.execute(node, output)?;
        }
        Ok(())
    }

    fn execute(&mut self, node: usize, output: Output) -> Result<(), Violation> {
        if matches!(output, Output::Broadcast { .. } | Output::SendSync { .. }) {
            self.nodes[node].wal.sync();
        }
        match output {
            Output::Broadcast { bytes, .. } => {
                if self.is_honest(node) {
                    self.check_vote(node, &bytes)?;
                }
                for to in (0..self.nodes.len()).filter(|&to| to != node) {
                    self.send_consensus(node, to, &bytes);
                }
            }
            Output::SendSync { to, bytes } => {
                let targets: Vec<usize> = match to {
                    Some(peer) => {
                        self.keys.iter().position(|k| k.address() == peer).into_iter().collect()
                    }
                    None => (0..self.nodes.len()).filter(|&n| n != node).collect(),
                };
                for to in targets {
                    self.send(node, to, |b| Event::Sync { to, from: node, bytes: b }, &bytes);
                    if self.config.behaviour(node) == Some(Behaviour::GarbageSender) {
                        let mut tampered = bytes.clone();
                        let at = self.rng.below(tampered.len().max(1) as u64) as usize;
                        if let Some(byte) = tampered.get_mut(at) {
                            *byte ^= 0x10;
                        }
                        self.send(
                            node,
                            to,
                            |b| Event::Sync { to, from: node, bytes: b },
                            &tampered,
                        );
                    }
                }
            }
            Output::WalAppend { height, bytes } => self.nodes[node].wal.append(height, bytes),
            Output::WalReset { .. } => self.nodes[node].wal.reset(),
            Output::ScheduleTimer { timer, after } => {
                self.nodes[node].armed.insert(timer);
                self.push(self.now_ms + after.as_millis() as u64, Event::Timer { node, timer });
            }
            Output::CancelTimer(timer) => {
                self.nodes[node].armed.remove(&timer);
            }
            Output::CancelAllTimers => self.nodes[node].armed.clear(),
            Output::Decided { height, block_hash, tx_count, .. } => {
                self.trace.update(height.to_le_bytes());
                self.trace.update(block_hash.0);
                if !self.is_honest(node) {
                    return Ok(());
                }
                if !self.decided.contains_key(&height) && tx_count == 0 {
                    self.empty_blocks += 1;
                }
                if *self.decided.entry(height).or_insert(block_hash) != block_hash {
                    return Err(Violation::Agreement { height, node });
                }
            }
        }
        Ok(())
    }

    /// Sends a consensus message, tampered with if `from` is Byzantine.
    fn send_consensus(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let Some(behaviour) = self.config.behaviour(from) else {
            self.send(from, to, |b| Event::Consensus { to, from, bytes: b }, bytes);
            return;
        };
        let key = self.keys[from].clone();
        for sent in tamper(behaviour, &key, CHAIN_ID, bytes, to, &mut self.rng) {
            let same = matches!(&sent, Sent::Consensus(b) if b.as_slice() == bytes);
            self.tampered_messages += u64::from(!same);
            match sent {
                Sent::Consensus(b) => {
                    self.send(from, to, |b| Event::Consensus { to, from, bytes: b }, &b)
                }
                Sent::Sync(b) => self.send(from, to, |b| Event::Sync { to, from, bytes: b }, &b),
            }
        }
    }

    /// Queues `bytes` from `from` to `to` through the faulty network.
    fn send(&mut self, from: usize, to: usize, event: impl Fn(Vec<u8>) -> Event, bytes: &[u8]) {
        let now = self.now_ms;
        if self
            .partitions
            .iter()
            .any(|p| p.from_ms <= now && now < p.until_ms && p.blocked[from][to])
        {
            return;
        }
        if !self.healed && self.rng.chance(self.config.loss_per_mille) {
            return;
        }
        let copies = if self.rng.chance(self.config.duplicate_per_mille) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.config.latency_ms + self.rng.below(self.config.jitter_ms + 1);
            self.push(now + delay, event(bytes.to_vec()));
        }
    }

    /// Checks that `node` never sends two different votes for one step.
    fn check_vote(&mut self, node: usize, bytes: &[u8]) -> Result<(), Violation> {
        let Ok(WireMessage::Vote { vote, .. }) = WireMessage::from_bytes(bytes) else {
            return Ok(());
        };
        let step = (node, vote.height, vote.round, vote.kind as u8);
        match self.votes.get(&step) {
            Some(earlier) if *earlier != vote.block_hash => Err(Violation::Equivocation {
                validator: node,
                height: vote.height,
                round: vote.round,
                kind: step.3,
            }),
            Some(_) => Ok(()),
            None => {
                self.votes.insert(step, vote.block_hash);
                Ok(())
            }
        }
    }

    /// The node crashes: its unsynced log entries, timers and in-memory state are lost; it
    /// restarts after a while on its store and its log.
    fn crash(&mut self, node: usize) {
        self.crashes += 1;
        let down = &mut self.nodes[node];
        down.core = None;
        down.wal.crash();
        down.armed.clear();
        let restart_at = self.now_ms + 50 + self.rng.below(1_000);
        self.push(restart_at, Event::Restart { node });
    }

    /// Re-executes the decided chain from genesis on a fresh store: every block must be the
    /// one decided and reach the state root in its header.
    fn check_validity(&mut self) -> Result<(), Violation> {
        let source = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(index, _)| self.is_honest(*index))
            .filter_map(|(_, n)| n.core.as_ref())
            .max_by_key(|c| c.executor().head().height);
        let Some(source) = source else { return Ok(()) };
        let dir = scratch_dir();
        let mut auditor = Executor::open(&dir.path().join("audit.redb"), self.genesis.clone())
            .map_err(|e| Violation::Validity { height: 0, reason: e.to_string() })?;
        for height in 1..=source.executor().head().height {
            let invalid = |reason: String| Violation::Validity { height, reason };
            let store = source.executor().store();
            let block = store
                .block(height)
                .ok()
                .flatten()
                .ok_or_else(|| invalid("block missing".into()))?;
            let certificate = store
                .certificate(height)
                .ok()
                .flatten()
                .ok_or_else(|| invalid("certificate missing".into()))?;
            if self.decided.get(&height) != Some(&block.hash()) {
                return Err(invalid("stored block differs from the decided one".into()));
            }
            certificate
                .verify(CHAIN_ID, height, &block.hash(), auditor.validators())
                .map_err(|e| invalid(e.to_string()))?;
            let outcome = auditor
                .execute(&block, SignatureCheck::Verify)
                .map_err(|e| invalid(e.to_string()))?;
            auditor.commit(&block, &certificate, outcome).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(())
    }
}

fn random_partition(rng: &mut Rng, config: &SimConfig) -> Partition {
    let n = config.validators;
    let from_ms = rng.below(config.safety_ms);
    let until_ms = (from_ms + 200 + rng.below(1_500)).min(config.safety_ms);
    let mut blocked = vec![vec![false; n]; n];
    if rng.chance(500) {
        // Symmetric: a random side against the rest.
        let side: Vec<bool> = (0..n).map(|_| rng.chance(500)).collect();
        for a in 0..n {
            for b in 0..n {
                blocked[a][b] = side[a] != side[b];
            }
        }
    } else {
        // One way: one node stops hearing another.
        let a = rng.below(n as u64) as usize;
        let b = (a + 1 + rng.below(n as u64 - 1) as usize) % n;
        blocked[a][b] = true;
    }
    Partition { from_ms, until_ms, blocked }
}
