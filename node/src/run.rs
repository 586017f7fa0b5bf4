//! `tandem run`: a validator node. Loads the configuration, keys and genesis, opens the store
//! and the write-ahead log, starts the QUIC transport and drives consensus until SIGINT or
//! SIGTERM.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tandem_consensus::{run_validator, BlockSource, ConsensusCore, Decision, FileWal};
use tandem_executor::Executor;
use tandem_network::{NetworkConfig, PeerAddress, PeerSet, QuicNetwork};
use tandem_types::{Block, Genesis, SignedTransaction};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use crate::config::Config;
use crate::keys;

/// How often the node logs a summary of what it decided.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// The block source until transactions can be submitted: every block is empty.
struct NoTransactions;

impl BlockSource for NoTransactions {
    fn candidates(&mut self, _height: u64, _limit: usize) -> Vec<SignedTransaction> {
        Vec::new()
    }

    fn has_candidates(&self) -> bool {
        false
    }

    fn on_committed(&mut self, _block: &Block) {}
}

/// Runs the node in `home` until a termination signal.
pub async fn run(home: &Path, config: Config) -> anyhow::Result<()> {
    let resolve = |path: &Path| Config::resolve(home, path);
    let genesis_path = resolve(&config.node.genesis);
    let genesis_text = std::fs::read_to_string(&genesis_path)
        .with_context(|| format!("reading the genesis {}", genesis_path.display()))?;
    let genesis = Genesis::from_json(&genesis_text)
        .with_context(|| format!("genesis {}", genesis_path.display()))?;
    let key = keys::read_node_key(&resolve(&config.node.node_key))?;
    let l1_key = keys::read_l1_key(&resolve(&config.node.l1_key))?;
    check_membership(&genesis, &key.address(), &l1_key.address())?;

    let data_dir = resolve(&config.node.data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let executor = Executor::open(&data_dir.join("store.redb"), genesis.clone())
        .context("opening the store")?;
    let wal =
        FileWal::open(&data_dir.join("consensus.wal")).context("opening the write-ahead log")?;
    info!(
        address = %key.address(),
        chain_id = genesis.chain_id,
        genesis = %genesis.hash(),
        height = executor.head().height,
        "node.start"
    );

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
    let (network, events) = QuicNetwork::start(&key, allowed, network_config)
        .with_context(|| format!("starting the transport on {}", config.network.listen))?;
    let network = Arc::new(network);

    let core = ConsensusCore::new(executor, key, NoTransactions, &config.consensus_config());
    let (stop, stopped) = watch::channel(false);
    let (decisions, decided) = mpsc::unbounded_channel();
    let reporter = tokio::spawn(report_decisions(decided));
    let validator =
        tokio::spawn(run_validator(core, network.clone(), events, stopped, decisions, wal));
    tokio::select! {
        result = wait_for_signal() => {
            result?;
            info!("node.stopping");
            let _ = stop.send(true);
        }
        _ = stop.closed() => {}
    }
    let outcome = validator.await.context("the consensus task panicked")?;
    reporter.abort();
    if let Ok(network) = Arc::try_unwrap(network) {
        network.close().await;
    }
    match outcome {
        Ok(_) => {
            info!("node.stopped");
            Ok(())
        }
        Err(fatal) => Err(anyhow::anyhow!(fatal)),
    }
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

/// Logs every decided height at debug level and a summary at info level.
async fn report_decisions(mut decided: mpsc::UnboundedReceiver<Decision>) {
    let mut since = Instant::now();
    let (mut blocks, mut txs, mut last) = (0u64, 0u64, 0u64);
    while let Some(decision) = decided.recv().await {
        debug!(
            height = decision.height,
            round = decision.round,
            txs = decision.tx_count,
            hash = %decision.block_hash,
            "node.decided"
        );
        blocks += 1;
        txs += u64::from(decision.tx_count);
        last = decision.height;
        if since.elapsed() >= SUMMARY_INTERVAL {
            let seconds = since.elapsed().as_secs_f64();
            info!(
                height = last,
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
    let _ = last;
}
