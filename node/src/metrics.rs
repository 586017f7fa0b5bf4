//! Prometheus `/metrics` and `/health` over HTTP/1.1, on their own port (default
//! `127.0.0.1:9615`), apart from the client RPC so that scraping and load never mix.
//!
//! `/metrics` renders the node's counters in the Prometheus text format (base units, `_total`
//! for counters). `/health` answers 200 with `{"status":"ok"}` (or `"syncing"`) while
//! consensus makes progress, and 503 with `{"status":"stalled"}` when the node has decided
//! nothing for longer than the stall bound although it is not idle by configuration.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tandem_consensus::ConsensusStatus;
use tandem_network::{NetworkMetrics, QuicNetwork, Transport};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use crate::clock::now_ms;
use crate::pool::SharedPool;

/// Without a decision for this long, a node that is not idle reports itself stalled.
const STALL_MS: u64 = 30_000;

/// The node's own counters, updated as blocks are decided.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Blocks committed (decided here or synced).
    pub blocks: AtomicU64,
    /// Transactions in those blocks.
    pub txs: AtomicU64,
    /// The last committed height.
    pub height: AtomicU64,
    /// When the last block was committed, ms since the Unix epoch.
    pub last_commit_ms: AtomicU64,
}

impl NodeCounters {
    /// Counts a committed block of `txs` transactions at `height`.
    pub fn on_block(&self, height: u64, txs: u32) {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.txs.fetch_add(u64::from(txs), Ordering::Relaxed);
        self.height.store(height, Ordering::Relaxed);
        self.last_commit_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// Everything `/metrics` and `/health` read.
pub struct MetricsSources {
    /// Blocks and transactions.
    pub node: Arc<NodeCounters>,
    /// The transport (its counters and connected peers).
    pub network: Arc<QuicNetwork>,
    /// The mempool.
    pub pool: Arc<SharedPool>,
    /// Consensus progress.
    pub consensus: watch::Receiver<ConsensusStatus>,
    /// When the node started, ms since the Unix epoch.
    pub started_ms: u64,
    /// What the L1 task knows, when the node has an `[l1]` configuration.
    pub l1: Option<crate::l1::SharedL1View>,
}

/// The transport's counters as (name, help, value).
fn network_counters(metrics: &NetworkMetrics) -> [(&'static str, &'static str, u64); 9] {
    let get = NetworkMetrics::get;
    [
        ("connections_opened", "Connections established.", get(&metrics.connections_opened)),
        ("connections_closed", "Connections lost or replaced.", get(&metrics.connections_closed)),
        ("handshakes_failed", "Handshakes that failed.", get(&metrics.handshakes_failed)),
        (
            "protocol_violations",
            "Peers disconnected for breaking the framing.",
            get(&metrics.protocol_violations),
        ),
        ("messages_sent", "Messages queued for sending.", get(&metrics.messages_sent)),
        ("messages_dropped", "Messages dropped (queue full).", get(&metrics.messages_dropped)),
        ("messages_received", "Messages received.", get(&metrics.messages_received)),
        ("bytes_sent", "Payload bytes sent.", get(&metrics.bytes_sent)),
        ("bytes_received", "Payload bytes received.", get(&metrics.bytes_received)),
    ]
}

/// Serves `/metrics` and `/health` on `listen` until `shutdown`; returns the bound address
/// once listening.
pub async fn start(
    listen: SocketAddr,
    sources: MetricsSources,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let sources = Arc::new(sources);
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = shutdown.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        debug!(%error, "metrics.accept");
                        continue;
                    }
                },
            };
            let sources = sources.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let sources = sources.clone();
                    async move { Ok::<_, Infallible>(respond(&request, &sources)) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    debug!(%error, "metrics.connection");
                }
            });
        }
    });
    Ok(address)
}

fn respond(request: &Request<Incoming>, sources: &MetricsSources) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    };
    if request.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n".into());
    }
    match request.uri().path() {
        "/metrics" => reply(StatusCode::OK, "text/plain; version=0.0.4", render(sources)),
        "/health" => {
            let (status, body) = health(sources);
            reply(status, "application/json", body)
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "try /metrics or /health\n".into()),
    }
}

fn health(sources: &MetricsSources) -> (StatusCode, String) {
    let consensus = *sources.consensus.borrow();
    let height =
        sources.node.height.load(Ordering::Relaxed).max(consensus.height.saturating_sub(1));
    let last = sources.node.last_commit_ms.load(Ordering::Relaxed).max(sources.started_ms);
    let since_ms = now_ms().saturating_sub(last);
    let (status, state) = if since_ms > STALL_MS && !consensus.idle {
        (StatusCode::SERVICE_UNAVAILABLE, "stalled")
    } else if consensus.best_peer_height > height + 1 {
        (StatusCode::OK, "syncing")
    } else {
        (StatusCode::OK, "ok")
    };
    let body = serde_json::json!({
        "status": state,
        "height": height,
        "ms_since_last_block": since_ms,
    });
    (status, format!("{body}\n"))
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

/// The Prometheus text exposition of every counter.
pub fn render(sources: &MetricsSources) -> String {
    let mut out = String::new();
    let node = &sources.node;
    let consensus = *sources.consensus.borrow();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    metric(&mut out, "tandem_height", "gauge", "Last committed height.", load(&node.height));
    metric(&mut out, "tandem_round", "gauge", "Round at the next height.", consensus.round);
    metric(
        &mut out,
        "tandem_idle",
        "gauge",
        "1 while the next height waits.",
        consensus.idle as u8,
    );
    metric(
        &mut out,
        "tandem_best_peer_height",
        "gauge",
        "Highest committed height a peer announced.",
        consensus.best_peer_height,
    );
    metric(&mut out, "tandem_blocks_total", "counter", "Blocks committed.", load(&node.blocks));
    metric(
        &mut out,
        "tandem_txs_finalized_total",
        "counter",
        "Transactions committed.",
        load(&node.txs),
    );
    let last_commit_s = load(&node.last_commit_ms) as f64 / 1000.0;
    metric(
        &mut out,
        "tandem_last_block_time_seconds",
        "gauge",
        "When the last block was committed, Unix time.",
        last_commit_s,
    );
    let peers = sources.network.connected_peers().len();
    metric(&mut out, "tandem_peers", "gauge", "Peers connected.", peers);
    for (name, help, value) in network_counters(sources.network.metrics()) {
        metric(&mut out, &format!("tandem_network_{name}_total"), "counter", help, value);
    }
    render_pool(&mut out, &sources.pool);
    if let Some(view) = &sources.l1 {
        let view = view.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        render_l1(&mut out, &view, load(&node.height));
    }
    out
}

fn render_l1(out: &mut String, view: &crate::l1::L1View, height: u64) {
    metric(
        out,
        "tandem_l1_connected",
        "gauge",
        "1 while L1 requests succeed.",
        view.connected as u8,
    );
    let next = view.next_batch_index.unwrap_or(0);
    metric(
        out,
        "tandem_l1_next_batch_index",
        "gauge",
        "Batch index the contract expects next.",
        next,
    );
    let posted_height = view.last_posted().map_or(0, |posted| posted.last_height);
    metric(out, "tandem_l1_posted_height", "gauge", "Last height committed on L1.", posted_height);
    let lag = height.saturating_sub(posted_height);
    metric(out, "tandem_l1_lag_blocks", "gauge", "Heights committed here, not yet on L1.", lag);
    metric(
        out,
        "tandem_l1_root_mismatches_total",
        "counter",
        "Posted roots that differ from this node's (never expected).",
        view.root_mismatches,
    );
}

fn render_pool(out: &mut String, pool: &SharedPool) {
    let m = pool.metrics();
    metric(out, "tandem_mempool_txs", "gauge", "Transactions held.", m.txs);
    let help = "Transactions held that are executable now (the rest wait behind a nonce gap).";
    metric(out, "tandem_mempool_ready_txs", "gauge", help, m.ready_txs);
    metric(out, "tandem_mempool_bytes", "gauge", "Encoded bytes held.", m.bytes);
    for (name, help, value) in [
        ("admitted", "Transactions admitted.", m.admitted),
        ("included", "Transactions removed by a committed block.", m.included),
        ("evicted", "Transactions evicted for a higher fee.", m.evicted),
        ("replaced", "Transactions replaced by fee.", m.replaced),
        ("expired", "Transactions that outlived the TTL.", m.expired),
        ("dropped", "Transactions that became invalid.", m.dropped),
    ] {
        metric(out, &format!("tandem_mempool_{name}_total"), "counter", help, value);
    }
    metric(
        out,
        "tandem_consensus_unpooled_signature_checks_total",
        "counter",
        "Block transactions whose signature consensus verified because the pool did not hold them.",
        pool.unpooled_checks(),
    );
    let name = "tandem_mempool_rejected_total";
    let _ = writeln!(out, "# HELP {name} Transactions refused, by reason.\n# TYPE {name} counter");
    for (reason, count) in m.rejected_by_reason() {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {count}");
    }
}
