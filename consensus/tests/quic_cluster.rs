//! Four validators over real loopback QUIC, each in its own tokio task with its own store:
//! they decide 200 heights with identical blocks.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use tandem_consensus::{run_validator, BlockSource, ConsensusConfig, ConsensusCore, Decision};
use tandem_executor::Executor;
use tandem_network::{NetworkConfig, PeerAddress, PeerSet, QuicNetwork};
use tandem_types::{
    sha256, ChainParams, Genesis, GenesisAccount, GenesisValidator, L1Address, SecretKey,
    SignedTransaction,
};
use tokio::sync::{mpsc, watch};

const HEIGHTS: u64 = 200;

fn key(role: &str, index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[role.as_bytes(), &index.to_le_bytes()].concat()).0)
}

struct Empty;

impl BlockSource for Empty {
    fn candidates(&mut self, _height: u64, _limit: usize) -> Vec<SignedTransaction> {
        Vec::new()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_over_quic_decide_identical_blocks() {
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    let genesis = Genesis {
        chain_id: 11,
        genesis_time_ms: 0,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 100,
            block_bytes_max: 1 << 20,
            batch_blocks: 10,
        },
        validators: keys
            .iter()
            .map(|k| GenesisValidator {
                address: k.address(),
                l1_address: L1Address([1; 20]),
                power: 1,
            })
            .collect(),
        accounts: vec![GenesisAccount { address: key("account", 0).address(), balance: 10 }],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sockets: Vec<UdpSocket> =
        keys.iter().map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
    let peers: Vec<PeerAddress> = keys
        .iter()
        .zip(&sockets)
        .map(|(k, s)| PeerAddress { key: k.address(), socket: s.local_addr().expect("addr") })
        .collect();
    let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
    let (stop, stopped) = watch::channel(false);
    let (decided_tx, mut decided) = mpsc::unbounded_channel::<(usize, Decision)>();
    let mut tasks = Vec::new();
    for (index, (k, socket)) in keys.iter().zip(sockets).enumerate() {
        let mut config = NetworkConfig::new(socket.local_addr().expect("addr"));
        config.peers = peers.iter().filter(|p| p.key != k.address()).cloned().collect();
        let (network, events) =
            QuicNetwork::start_on(socket, k, allowed.clone(), config).expect("network");
        let executor =
            Executor::open(&dir.path().join(format!("node{index}.redb")), genesis.clone())
                .expect("store");
        let core = ConsensusCore::new(executor, k.clone(), Empty, &ConsensusConfig::default());
        let (decisions, mut node_decisions) = mpsc::unbounded_channel();
        let forward = decided_tx.clone();
        tokio::spawn(async move {
            while let Some(decision) = node_decisions.recv().await {
                if forward.send((index, decision)).is_err() {
                    break;
                }
            }
        });
        let stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let network = Arc::new(network);
            let result = run_validator(core, network.clone(), events, stopped, decisions).await;
            (network, result)
        }));
    }
    let mut heights = [0u64; 4];
    let mut hashes = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while heights.iter().any(|&h| h < HEIGHTS) {
        let (index, decision) = tokio::time::timeout_at(deadline, decided.recv())
            .await
            .unwrap_or_else(|_| panic!("200 heights within 120 s; reached {heights:?}"))
            .expect("decisions");
        assert_eq!(decision.height, heights[index] + 1, "node {index} decides heights in order");
        heights[index] = decision.height;
        let first = *hashes.entry(decision.height).or_insert(decision.block_hash);
        assert_eq!(first, decision.block_hash, "node {index} agrees at height {}", decision.height);
    }
    stop.send(true).expect("stop");
    for task in tasks {
        let (network, result) = task.await.expect("task");
        let core = result.expect("no fatal error");
        assert!(core.executor().head().height >= HEIGHTS);
        drop(network);
    }
}
