//! Four validators over real loopback QUIC, each in its own tokio task with its own store:
//! they decide 200 heights with identical blocks; one is stopped, the others go on, and when it
//! starts again on its store it catches up through sync and decides with them again.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tandem_consensus::{
    run_validator, ConsensusConfig, ConsensusCore, Decision, FileWal, ValidatorIo,
};
use tandem_executor::Executor;
use tandem_network::{NetworkConfig, PeerAddress, PeerSet, QuicNetwork};
use tandem_types::{Genesis, Hash, SecretKey};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod common;

use common::{key, Empty};

type NodeTask = JoinHandle<(QuicNetwork, Option<String>)>;

struct Cluster {
    dir: tempfile::TempDir,
    genesis: Genesis,
    keys: Vec<SecretKey>,
    peers: Vec<PeerAddress>,
    allowed: PeerSet,
    decided_tx: mpsc::UnboundedSender<(usize, Decision)>,
    decided: mpsc::UnboundedReceiver<(usize, Decision)>,
    heights: Vec<u64>,
    hashes: std::collections::BTreeMap<u64, Hash>,
    stops: Vec<Option<watch::Sender<bool>>>,
    tasks: Vec<Option<NodeTask>>,
}

impl Cluster {
    fn new(validators: u32) -> (Cluster, Vec<UdpSocket>) {
        let keys: Vec<SecretKey> = (0..validators).map(|i| key("validator", i)).collect();
        let genesis = common::genesis(11, &keys, 100);
        let sockets: Vec<UdpSocket> =
            keys.iter().map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
        let peers = keys
            .iter()
            .zip(&sockets)
            .map(|(k, s)| PeerAddress { key: k.address(), socket: s.local_addr().expect("addr") })
            .collect();
        let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
        let (decided_tx, decided) = mpsc::unbounded_channel();
        let n = keys.len();
        let cluster = Cluster {
            dir: tempfile::tempdir().expect("tempdir"),
            genesis,
            keys,
            peers,
            allowed,
            decided_tx,
            decided,
            heights: vec![0; n],
            hashes: Default::default(),
            stops: (0..n).map(|_| None).collect(),
            tasks: (0..n).map(|_| None).collect(),
        };
        (cluster, sockets)
    }

    fn store(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("node{index}.redb"))
    }

    fn start(&mut self, index: usize, socket: UdpSocket) {
        let k = self.keys[index].clone();
        let mut config = NetworkConfig::new(socket.local_addr().expect("addr"));
        config.peers = self.peers.iter().filter(|p| p.key != k.address()).cloned().collect();
        let (network, events) =
            QuicNetwork::start_on(socket, &k, self.allowed.clone(), config).expect("network");
        let executor = Executor::open(&self.store(index), self.genesis.clone()).expect("store");
        self.heights[index] = executor.head().height;
        let core = ConsensusCore::new(executor, k, Empty, &ConsensusConfig::default());
        let wal = FileWal::open(&self.dir.path().join(format!("node{index}.wal"))).expect("wal");
        let (decisions, mut node_decisions) = mpsc::unbounded_channel();
        let forward = self.decided_tx.clone();
        tokio::spawn(async move {
            while let Some(decision) = node_decisions.recv().await {
                if forward.send((index, decision)).is_err() {
                    break;
                }
            }
        });
        let (stop, stopped) = watch::channel(false);
        self.stops[index] = Some(stop);
        self.tasks[index] = Some(tokio::spawn(async move {
            let network = Arc::new(network);
            let io = ValidatorIo::new(network.clone(), events, stopped, decisions, wal);
            let result = run_validator(core, io).await;
            let network = Arc::try_unwrap(network)
                .unwrap_or_else(|_| panic!("the driver holds no other handle"));
            (network, result.err().map(|fatal| fatal.to_string()))
        }));
    }

    async fn stop(&mut self, index: usize) -> SocketAddr {
        let stop = self.stops[index].take().expect("running");
        stop.send(true).expect("stop");
        let task = self.tasks[index].take().expect("running");
        let (network, fatal) = task.await.expect("task");
        assert_eq!(fatal, None);
        let socket = network.local_address();
        network.close().await;
        socket
    }

    /// Waits until every node in `nodes` decided `height`, checking agreement on the way.
    async fn wait_for(&mut self, nodes: &[usize], height: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while nodes.iter().any(|&n| self.heights[n] < height) {
            let (index, decision) = tokio::time::timeout_at(deadline, self.decided.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("height {height} within 120 s; reached {:?}", self.heights)
                })
                .expect("decisions");
            assert_eq!(
                decision.height,
                self.heights[index] + 1,
                "node {index} decides heights in order"
            );
            self.heights[index] = decision.height;
            let first = *self.hashes.entry(decision.height).or_insert(decision.block_hash);
            assert_eq!(
                first, decision.block_hash,
                "node {index} agrees at height {}",
                decision.height
            );
        }
    }
}

async fn rebind(address: SocketAddr) -> UdpSocket {
    for _ in 0..200 {
        if let Ok(socket) = UdpSocket::bind(address) {
            return socket;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{address} was not released within 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_over_quic_agree_and_a_restarted_one_catches_up() {
    let (mut cluster, sockets) = Cluster::new(4);
    for (index, socket) in sockets.into_iter().enumerate() {
        cluster.start(index, socket);
    }
    cluster.wait_for(&[0, 1, 2, 3], 200).await;

    let socket = cluster.stop(3).await;
    let stopped_at = cluster.heights[3];
    cluster.wait_for(&[0, 1, 2], stopped_at + 100).await;

    cluster.start(3, rebind(socket).await);
    let target = cluster.heights[0] + 50;
    cluster.wait_for(&[0, 1, 2, 3], target).await;
    for index in 0..4 {
        cluster.stop(index).await;
    }
    for index in 0..4 {
        let executor =
            Executor::open(&cluster.store(index), cluster.genesis.clone()).expect("reopen");
        for height in 1..=target {
            let block =
                executor.store().block(height).expect("read").expect("every height is stored");
            assert_eq!(
                Some(&block.hash()),
                cluster.hashes.get(&height),
                "node {index} height {height}"
            );
        }
    }
}
