//! The tokio shell around [`ConsensusCore`]: receive, feed the core, execute its outputs,
//! re-arm the timer. It reads the wall clock (for block timestamps) and owns the timers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tandem_network::{Channel, NetworkEvent, Transport};
use tandem_types::Hash;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::debug;

use crate::core::{BlockSource, ConsensusCore, Fatal, Output, TimerId};

/// A decided height, reported to whoever watches the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Height.
    pub height: u64,
    /// Round it was decided in.
    pub round: u32,
    /// Block hash.
    pub block_hash: Hash,
    /// Transactions in it.
    pub tx_count: u32,
}

/// How often this node announces its height to its peers.
const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Runs a validator until `shutdown` turns true or the core hits a fatal error.
pub async fn run_validator<S: BlockSource, T: Transport>(
    mut core: ConsensusCore<S>,
    transport: Arc<T>,
    mut events: mpsc::Receiver<NetworkEvent>,
    mut shutdown: watch::Receiver<bool>,
    decisions: mpsc::UnboundedSender<Decision>,
) -> Result<ConsensusCore<S>, Fatal> {
    let mut timers: BTreeMap<TimerId, Instant> = BTreeMap::new();
    let outputs = core.start(now_ms())?;
    execute(outputs, transport.as_ref(), &mut timers, &decisions);
    let mut status = tokio::time::interval(STATUS_INTERVAL);
    status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next_timer = timers.iter().min_by_key(|(_, at)| **at).map(|(timer, at)| (*timer, *at));
        let sleep_until = next_timer
            .map_or_else(|| Instant::now() + std::time::Duration::from_secs(3600), |(_, at)| at);
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ok(core);
                }
            }
            event = events.recv() => {
                let Some(event) = event else { return Ok(core) };
                let NetworkEvent::Message { peer, channel, payload } = event else { continue };
                let result = match channel {
                    Channel::Consensus | Channel::Proposal => core.on_message(now_ms(), &payload)?,
                    Channel::Sync => core.on_sync_message(now_ms(), peer, &payload)?,
                    Channel::Mempool => continue,
                };
                match result {
                    Ok(outputs) => execute(outputs, transport.as_ref(), &mut timers, &decisions),
                    Err(rejection) => debug!(%peer, %rejection, "consensus.message rejected"),
                }
            }
            _ = status.tick() => {
                let outputs = core.on_status_tick(now_ms());
                execute(outputs, transport.as_ref(), &mut timers, &decisions);
            }
            () = tokio::time::sleep_until(sleep_until), if next_timer.is_some() => {
                if let Some((timer, _)) = next_timer {
                    timers.remove(&timer);
                    let outputs = core.on_timeout(now_ms(), timer)?;
                    execute(outputs, transport.as_ref(), &mut timers, &decisions);
                }
            }
        }
    }
}

fn execute<T: Transport>(
    outputs: Vec<Output>,
    transport: &T,
    timers: &mut BTreeMap<TimerId, Instant>,
    decisions: &mpsc::UnboundedSender<Decision>,
) {
    for output in outputs {
        match output {
            Output::Broadcast { bytes, is_proposal } => {
                let channel = if is_proposal { Channel::Proposal } else { Channel::Consensus };
                transport.broadcast(channel, Bytes::from(bytes));
            }
            Output::ScheduleTimer { timer, after } => {
                timers.insert(timer, Instant::now() + after);
            }
            Output::CancelTimer(timer) => {
                timers.remove(&timer);
            }
            Output::CancelAllTimers => timers.clear(),
            Output::SendSync { to: Some(peer), bytes } => {
                let _ = transport.send(&peer, Channel::Sync, Bytes::from(bytes));
            }
            Output::SendSync { to: None, bytes } => {
                transport.broadcast(Channel::Sync, Bytes::from(bytes));
            }
            Output::Decided { height, round, block_hash, tx_count } => {
                let _ = decisions.send(Decision { height, round, block_hash, tx_count });
            }
        }
    }
}
