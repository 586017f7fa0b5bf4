//! Finality: follows `newHeads` over WebSocket, reads each new block's transaction hashes,
//! and times every submitted transaction from its sending to the arrival of its block's head.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use jsonrpsee_core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::HttpClient;
use jsonrpsee_ws_client::WsClientBuilder;
use tokio::sync::watch;

use super::load::{lock, SharedOutcomes};
use crate::api::{methods, BlockSummary, HeadNotification};

/// A decided block as the bench saw it.
#[derive(Clone, Copy, Debug)]
pub struct SeenBlock {
    /// Its timestamp (when its proposer built it), ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Its transactions (all of them, not only the bench's).
    pub txs: u32,
}

/// What the tracker measured. Throughput and block intervals go by the blocks' own
/// timestamps, so a tracker that falls behind under overload still counts them in the right
/// window; latency is measured when the head arrives here.
pub struct Finality {
    /// Submit → head latency of each finalized bench transaction, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Bench transactions finalized: their block's timestamp.
    pub finalized_ms: Vec<u64>,
    /// Every block seen.
    pub blocks: Vec<SeenBlock>,
}

impl Default for Finality {
    fn default() -> Finality {
        Finality {
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("static histogram bounds are valid"),
            finalized_ms: Vec::new(),
            blocks: Vec::new(),
        }
    }
}

/// The tracker's shared measurements.
pub type SharedFinality = Arc<Mutex<Finality>>;

/// Locks the measurements.
pub fn lock_finality(finality: &SharedFinality) -> std::sync::MutexGuard<'_, Finality> {
    finality.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Subscribes to `newHeads` at `ws_url`; the tracker runs until `stop` turns true.
pub async fn start(
    ws_url: &str,
    client: HttpClient,
    outcomes: SharedOutcomes,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<SharedFinality> {
    let ws = WsClientBuilder::default()
        .max_buffer_capacity_per_subscription(16_384)
        .build(ws_url)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {ws_url}: {e}"))?;
    let heads: Subscription<HeadNotification> = ws
        .subscribe(methods::SUBSCRIBE, rpc_params!["newHeads"], methods::UNSUBSCRIBE)
        .await
        .map_err(|e| anyhow::anyhow!("subscribing to newHeads at {ws_url}: {e}"))?;
    let finality = Arc::new(Mutex::new(Finality::default()));
    tokio::spawn(track(ws, heads, client, outcomes, finality.clone(), stop));
    Ok(finality)
}

async fn track(
    _ws: jsonrpsee_ws_client::WsClient,
    mut heads: Subscription<HeadNotification>,
    client: HttpClient,
    outcomes: SharedOutcomes,
    finality: SharedFinality,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let head = tokio::select! {
            _ = stop.changed() => return,
            head = heads.next() => match head {
                Some(Ok(head)) => head,
                _ => return,
            },
        };
        let at = Instant::now();
        let timestamp_ms = head.header.timestamp_ms;
        let seen = SeenBlock { timestamp_ms, txs: head.header.tx_count };
        if head.header.tx_count > 0 {
            let height = head.header.height;
            let block = read_block(&client, height).await;
            let hashes = block.map(|block| block.tx_hashes).unwrap_or_default();
            let sent: Vec<Instant> = {
                let mut shared = lock(&outcomes);
                hashes.iter().filter_map(|hash| shared.pending.remove(hash)).collect()
            };
            let mut measured = lock_finality(&finality);
            for sent_at in sent {
                let latency = at.saturating_duration_since(sent_at);
                let _ = measured.latency_us.record(latency.as_micros().max(1) as u64);
                measured.finalized_ms.push(timestamp_ms);
            }
        }
        lock_finality(&finality).blocks.push(seen);
    }
}

/// Reads a block, retrying briefly (the head can arrive before the node serves the block
/// only if it restarted; a short retry covers that).
async fn read_block(client: &HttpClient, height: u64) -> Option<BlockSummary> {
    for _ in 0..3 {
        match client.request(methods::GET_BLOCK, rpc_params![height]).await {
            Ok(block) => return Some(block),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    None
}
