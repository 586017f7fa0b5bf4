//! Four validators' cores in one thread, messages delivered through an in-memory queue with
//! virtual time: they decide the same blocks, with valid certificates, and keep deciding when
//! one validator is silent.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use tandem_consensus::{BlockSource, ConsensusConfig, ConsensusCore, Output, TimerId};
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

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Deliver { to: usize, bytes: Vec<u8> },
    Timer { node: usize, timer: TimerId },
}

struct Cluster {
    _dir: tempfile::TempDir,
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
            .map(|(i, k)| {
                let executor =
                    Executor::open(&dir.path().join(format!("node{i}.redb")), genesis.clone())
                        .expect("open");
                ConsensusCore::new(
                    executor,
                    k.clone(),
                    Script { sender: key("account", 0) },
                    &ConsensusConfig::default(),
                )
            })
            .collect();
        let n = validators as usize;
        Cluster {
            _dir: dir,
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
        for output in outputs {
            match output {
                Output::Broadcast { bytes, .. } => {
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
                Output::SendSync { .. } | Output::WalAppend { .. } | Output::WalReset { .. } => {}
                Output::Decided { height, round, .. } => self.decided[node].push((height, round)),
            }
        }
    }

    fn start(&mut self) {
        for node in 0..self.nodes.len() {
            let outputs = self.nodes[node].start(0).expect("start");
            self.apply(node, outputs);
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
