//! `tandem run`: a validator node. Loads the configuration, keys and genesis, opens the store
//! and the write-ahead log, starts the QUIC transport, the mempool and its gossip, the client
//! JSON-RPC and the metrics server, and drives consensus until SIGINT or SIGTERM.
//!
//! Four kinds of threads, so that client load never slows consensus down:
//! - the consensus thread runs the validator's driver;
//! - one network thread runs the QUIC transport (its runtime also gives the consensus
//!   thread its timers);
//! - one gossip thread admits peers' transactions: they are about to be in blocks, and a
//!   block whose transactions this node has not verified yet costs that check on the
//!   consensus thread, on the path to its vote;
//! - the service threads run the RPC server (clients' transactions), the L1 task and
//!   metrics, at a lower scheduling priority (`node.service_niceness`): under overload they
//!   yield the CPU to consensus, the network and the gossip, so blocks keep coming while
//!   clients are told to retry.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tandem_consensus::{
    run_validator, ConsensusCore, ConsensusStatus, Decision, FileWal, ValidatorIo,
};
use tandem_executor::{Executor, Store};
use tandem_mempool::Mempool;
use tandem_network::{NetworkConfig, PeerAddress, PeerSet, QuicNetwork};
use tandem_types::Genesis;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tracing::{debug, info, warn};

use crate::api::HeadNotification;
use crate::clock::now_ms;
use crate::config::{Config, GOSSIP_BATCH_TXS_LIMIT};
use crate::keys;
use crate::metrics::{MetricsSources, NodeCounters};
use crate::pool::{run_gossip, PoolSource, SharedPool};
use crate::rpc::{RpcContext, RpcLimits};

/// How often the node logs a summary of what it decided.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
/// Gossip messages from peers waiting for the pool; more are dropped.
const GOSSIP_QUEUE: usize = 1_024;
/// Decided headers buffered for each `newHeads` subscriber.
const HEADS_BUFFER: usize = 1_024;
/// L1-channel messages from peers waiting for the L1 task; more are dropped (proposals are
/// sent again).
const L1_QUEUE: usize = 256;

/// Runs the node in `home` until a termination signal: builds the runtimes and runs [`run`]
/// on the service runtime.
pub fn run_node(home: &Path, config: Config) -> anyhow::Result<()> {
    let network = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("network")
        .enable_all()
        .build()
        .context("starting the network runtime")?;
    let gossip = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gossip")
        .enable_all()
        .build()
        .context("starting the gossip runtime")?;
    let niceness = config.node.service_niceness;
    let service = tokio::runtime::Builder::new_multi_thread()
        .thread_name("service")
        .on_thread_start(move || lower_priority(niceness))
        .enable_all()
        .build()
        .context("starting the service runtime")?;
    let runtimes = Runtimes { network: network.handle().clone(), gossip: gossip.handle().clone() };
    service.block_on(run(home, config, runtimes))
}

/// Lowers the calling thread's scheduling priority by `niceness` (Linux: per thread).
fn lower_priority(niceness: i32) {
    if niceness == 0 {
        return;
    }
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), niceness) {
        warn!(%error, niceness, "node.priority could not lower a service thread's priority");
    }
}

/// The runtimes besides the service one that [`run`] runs on.
pub struct Runtimes {
    /// The QUIC transport and the consensus thread's timers.
    pub network: tokio::runtime::Handle,
    /// The admission of peers' transactions.
    pub gossip: tokio::runtime::Handle,
}

/// Runs the node in `home` until a termination signal; the transport and the gossip run on
/// their own runtimes.
pub async fn run(home: &Path, config: Config, runtimes: Runtimes) -> anyhow::Result<()> {
    let network_runtime = runtimes.network;
    let resolve = |path: &Path| Config::resolve(home, path);
    let genesis_path = resolve(&config.node.genesis);
    let genesis_text = std::fs::read_to_string(&genesis_path)
        .with_context(|| format!("reading the genesis {}", genesis_path.display()))?;
    let genesis = Genesis::from_json(&genesis_text)
        .with_context(|| format!("genesis {}", genesis_path.display()))?;
    let key = keys::read_node_key(&resolve(&config.node.node_key))?;
    let l1_key = keys::read_l1_key(&resolve(&config.node.l1_key))?;
    check_membership(&genesis, &key.address(), &l1_key.address())?;
    let address = key.address();

    let data_dir = resolve(&config.node.data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let executor = Executor::open(&data_dir.join("store.redb"), genesis.clone())
        .context("opening the store")?;
    let wal =
        FileWal::open(&data_dir.join("consensus.wal")).context("opening the write-ahead log")?;
    info!(
        %address,
        chain_id = genesis.chain_id,
        genesis = %genesis.hash(),
        height = executor.head().height,
        "node.start"
    );
    let (network, events) = {
        let _inside = network_runtime.enter();
        start_network(&config, &genesis, &key)?
    };

    let ready = Arc::new(Notify::new());
    let mempool = Mempool::new(config.mempool_config(), genesis.chain_id, &genesis.params)
        .context("configuring the mempool")?;
    let pool = Arc::new(SharedPool::new(mempool, executor.committed_accounts(), ready.clone()));
    let store = executor.store().clone();
    let source = PoolSource::new(
        pool.clone(),
        (genesis.params.block_txs_max as usize, genesis.params.block_bytes_max as usize),
        config.consensus.proposal_budget_ms,
    );
    let core = ConsensusCore::new(executor, key, source, &config.consensus_config());

    let (stop, stopped) = watch::channel(false);
    let (decisions, decided) = mpsc::unbounded_channel();
    let (status_sender, status) = watch::channel(ConsensusStatus::default());
    let (gossip_sender, gossip_incoming) = mpsc::channel(GOSSIP_QUEUE);
    let mut io = ValidatorIo::new(network.clone(), events, stopped.clone(), decisions, wal);
    io.new_transactions = ready;
    io.mempool_messages = Some(gossip_sender);
    io.status = Some(status_sender);
    let l1_view = match &config.l1 {
        Some(settings) => {
            let (sender, messages) = mpsc::channel(L1_QUEUE);
            io.l1_messages = Some(sender);
            let view = crate::l1::SharedL1View::default();
            let key =
                tandem_l1::L1Signer::from_secret(&l1_key.secret_bytes()).context("the L1 key")?;
            tokio::spawn(crate::l1::run_l1(crate::l1::L1Task {
                settings: settings.clone(),
                genesis: genesis.clone(),
                key,
                store: store.clone(),
                transport: network.clone(),
                messages,
                view: view.clone(),
                stop: stopped.clone(),
            }));
            Some(view)
        }
        None => {
            info!("node.l1 not configured: batches are not posted");
            None
        }
    };

    runtimes.gossip.spawn(run_gossip(
        pool.clone(),
        network.clone(),
        gossip_incoming,
        GOSSIP_BATCH_TXS_LIMIT,
        stopped.clone(),
    ));
    let (heads, _) = broadcast::channel(HEADS_BUFFER);
    let counters = Arc::new(NodeCounters::default());
    tokio::spawn(report_decisions(decided, store.clone(), heads.clone(), counters.clone()));

    let rpc_context = RpcContext {
        genesis: genesis.clone(),
        address,
        store,
        pool: pool.clone(),
        consensus: status.clone(),
        heads,
        transport: network.clone(),
        tx_bytes_max: config.mempool_config().tx_bytes_max,
        l1: l1_view.clone(),
    };
    let limits = RpcLimits {
        max_request_bytes: config.rpc.max_request_bytes,
        max_connections: config.rpc.max_connections,
    };
    let (rpc_address, rpc) = crate::rpc::start(config.rpc.listen, limits, rpc_context)
        .await
        .with_context(|| format!("starting the JSON-RPC server on {}", config.rpc.listen))?;
    let sources = MetricsSources {
        node: counters,
        network: network.clone(),
        pool,
        consensus: status,
        started_ms: now_ms(),
        l1: l1_view,
    };
    let metrics_address = crate::metrics::start(config.metrics.listen, sources, stopped)
        .await
        .with_context(|| format!("starting the metrics server on {}", config.metrics.listen))?;
    info!(rpc = %rpc_address, metrics = %metrics_address, "node.serving");
    // Consensus starts once every port is bound, so a taken port fails the start cleanly.
    let mut consensus = spawn_consensus(core, io, network_runtime)?;

    let outcome = tokio::select! {
        result = wait_for_signal() => {
            result?;
            info!("node.stopping");
            let _ = stop.send(true);
            (&mut consensus).await
        }
        outcome = &mut consensus => outcome,
    };
    let _ = stop.send(true);
    let _ = rpc.stop();
    if let Ok(network) = Arc::try_unwrap(network) {
        network.close().await;
    }
    match outcome {
        Ok(Ok(())) => {
            info!("node.stopped");
            Ok(())
        }
        Ok(Err(fatal)) => Err(anyhow::anyhow!("consensus stopped: {fatal}")),
        Err(_) => Err(anyhow::anyhow!("the consensus thread ended without a result")),
    }
}

/// Runs consensus on its own thread (its timers from `runtime`); the receiver gets its
/// result.
fn spawn_consensus(
    core: ConsensusCore<PoolSource>,
    io: ValidatorIo<QuicNetwork>,
    runtime: tokio::runtime::Handle,
) -> anyhow::Result<oneshot::Receiver<Result<(), tandem_consensus::Fatal>>> {
    let (done, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name("consensus".into())
        .spawn(move || {
            let result = runtime.block_on(run_validator(core, io)).map(|_| ());
            let _ = done.send(result);
        })
        .context("starting the consensus thread")?;
    Ok(outcome)
}

/// The QUIC transport to the genesis validators (and allowed full nodes).
fn start_network(
    config: &Config,
    genesis: &Genesis,
    key: &tandem_types::SecretKey,
) -> anyhow::Result<(Arc<QuicNetwork>, mpsc::Receiver<tandem_network::NetworkEvent>)> {
    let mut network_config = NetworkConfig::new(config.network.listen);
    network_config.peers = config
        .network
        .peers
        .iter()
        .map(|peer| PeerAddress { key: peer.key, socket: peer.address })
        .collect();
    let allowed = PeerSet::new(
        genesis
            .validators
            .iter()
            .map(|v| v.address)
            .chain(config.network.full_nodes.iter().copied()),
    );
    let (network, events) = QuicNetwork::start(key, allowed, network_config)
        .with_context(|| format!("starting the transport on {}", config.network.listen))?;
    Ok((Arc::new(network), events))
}

/// This node must be a validator of the genesis, with the L1 key the genesis lists for it.
fn check_membership(
    genesis: &Genesis,
    address: &tandem_types::Address,
    l1_address: &tandem_types::L1Address,
) -> anyhow::Result<()> {
    let Some(validator) = genesis.validators.iter().find(|v| v.address == *address) else {
        anyhow::bail!(
            "the node key {address} is not a validator of this genesis (full nodes are not \
             supported yet)"
        );
    };
    anyhow::ensure!(
        validator.l1_address == *l1_address,
        "the L1 key's address {l1_address:?} differs from the genesis entry {:?}",
        validator.l1_address
    );
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// For every decided height: logs it at debug level (a summary at info level every
/// [`SUMMARY_INTERVAL`]), counts it, and sends its header to `newHeads` subscribers.
async fn report_decisions(
    mut decided: mpsc::UnboundedReceiver<Decision>,
    store: Arc<Store>,
    heads: broadcast::Sender<HeadNotification>,
    counters: Arc<NodeCounters>,
) {
    let mut since = Instant::now();
    let (mut blocks, mut txs) = (0u64, 0u64);
    while let Some(decision) = decided.recv().await {
        debug!(
            height = decision.height,
            round = decision.round,
            txs = decision.tx_count,
            hash = %decision.block_hash,
            "node.decided"
        );
        counters.on_block(decision.height, decision.tx_count);
        if heads.receiver_count() > 0 {
            match store.block(decision.height) {
                Ok(Some(block)) => {
                    let hash = block.hash();
                    let _ = heads.send(HeadNotification { header: block.header, hash });
                }
                Ok(None) => warn!(height = decision.height, "node.decided block not in store"),
                Err(error) => warn!(%error, "node.decided block unreadable"),
            }
        }
        blocks += 1;
        txs += u64::from(decision.tx_count);
        if since.elapsed() >= SUMMARY_INTERVAL {
            let seconds = since.elapsed().as_secs_f64();
            info!(
                height = decision.height,
                blocks,
                txs,
                blocks_per_s = format!("{:.1}", blocks as f64 / seconds),
                txs_per_s = format!("{:.1}", txs as f64 / seconds),
                "node.progress"
            );
            since = Instant::now();
            blocks = 0;
            txs = 0;
        }
    }
}
