//! The tokio shell around [`ConsensusCore`]: receive, feed the core, execute its outputs,
//! re-arm the timer. It reads the wall clock (for block timestamps) and owns the timers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tandem_network::{Channel, NetworkEvent, Transport};
use tandem_types::{Address, Hash};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use crate::core::{BlockSource, ConsensusCore, Fatal, Output, TimerId};
use crate::wal::FileWal;

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

/// What the validator is doing now, published for status queries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsensusStatus {
    /// The height being decided (or held): the committed head plus one.
    pub height: u64,
    /// The round being played at that height.
    pub round: u32,
    /// Whether the height is held until transactions wait (see [`crate::EmptyBlocks`]).
    pub idle: bool,
    /// The highest committed height a peer announced.
    pub best_peer_height: u64,
}

/// Everything the validator task talks to besides its core.
pub struct ValidatorIo<T> {
    /// The transport to the other validators.
    pub transport: Arc<T>,
    /// Messages from peers.
    pub events: mpsc::Receiver<NetworkEvent>,
    /// Turns true when the node stops.
    pub shutdown: watch::Receiver<bool>,
    /// Every decided height.
    pub decisions: mpsc::UnboundedSender<Decision>,
    /// The write-ahead log.
    pub wal: FileWal,
    /// Notified when transactions arrive in the block source (a held height may start).
    pub new_transactions: Arc<Notify>,
    /// Where messages of the mempool channel go; they are dropped if this is `None` or full.
    pub mempool_messages: Option<mpsc::Sender<(Address, Bytes)>>,
    /// Where messages of the L1 channel (attestations) go; dropped if `None` or full.
    pub l1_messages: Option<mpsc::Sender<(Address, Bytes)>>,
    /// Receives the validator's status whenever it changes.
    pub status: Option<watch::Sender<ConsensusStatus>>,
}

impl<T> ValidatorIo<T> {
    /// The I/O of a validator with no mempool and no status watcher.
    pub fn new(
        transport: Arc<T>,
        events: mpsc::Receiver<NetworkEvent>,
        shutdown: watch::Receiver<bool>,
        decisions: mpsc::UnboundedSender<Decision>,
        wal: FileWal,
    ) -> ValidatorIo<T> {
        ValidatorIo {
            transport,
            events,
            shutdown,
            decisions,
            wal,
            new_transactions: Arc::new(Notify::new()),
            mempool_messages: None,
            l1_messages: None,
            status: None,
        }
    }
}

/// How often this node announces its height to its peers.
const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// The shell's side effects: where outputs go.
struct Effects<'a, T> {
    transport: &'a T,
    wal: &'a mut FileWal,
    timers: BTreeMap<TimerId, Instant>,
    decisions: &'a mpsc::UnboundedSender<Decision>,
}

/// Runs a validator until `shutdown` turns true or the core hits a fatal error. The core
/// first replays the write-ahead log (entries of the height it is at), so a restart re-uses
/// its votes.
pub async fn run_validator<S: BlockSource, T: Transport>(
    mut core: ConsensusCore<S>,
    io: ValidatorIo<T>,
) -> Result<ConsensusCore<S>, Fatal> {
    let ValidatorIo {
        transport,
        mut events,
        mut shutdown,
        decisions,
        mut wal,
        new_transactions,
        mempool_messages,
        l1_messages,
        status,
    } = io;
    let entries = wal.entries().map_err(|error| Fatal(format!("write-ahead log: {error}")))?;
    let mut effects = Effects {
        transport: transport.as_ref(),
        wal: &mut wal,
        timers: BTreeMap::new(),
        decisions: &decisions,
    };
    let outputs = core.start_with_wal(now_ms(), entries)?;
    effects.execute(outputs)?;
    let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(status) = &status {
            publish_status(&core, status);
        }
        let next_timer =
            effects.timers.iter().min_by_key(|(_, at)| **at).map(|(timer, at)| (*timer, *at));
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
                    Channel::Consensus | Channel::Proposal => {
                        core.on_message(now_ms(), peer, &payload)?
                    }
                    Channel::Sync => core.on_sync_message(now_ms(), peer, &payload)?,
                    Channel::Mempool => {
                        if let Some(mempool) = &mempool_messages {
                            // A full mempool queue drops gossip rather than stall consensus.
                            let _ = mempool.try_send((peer, payload));
                        }
                        continue;
                    }
                    Channel::L1 => {
                        if let Some(l1) = &l1_messages {
                            // Attestations are gossiped again until their batch lands, so a
                            // full queue may drop one.
                            let _ = l1.try_send((peer, payload));
                        }
                        continue;
                    }
                };
                // A rejection was logged and charged to the peer by the core.
                if let Ok(outputs) = result {
                    effects.execute(outputs)?;
                }
            }
            // Only an idle height waits for transactions: listening at other times would
            // wake this thread for every admitted one.
            () = new_transactions.notified(), if core.is_idle() => {
                let outputs = core.on_transactions(now_ms())?;
                effects.execute(outputs)?;
            }
            _ = status_tick.tick() => {
                let outputs = core.on_status_tick(now_ms());
                effects.execute(outputs)?;
            }
            () = tokio::time::sleep_until(sleep_until), if next_timer.is_some() => {
                if let Some((timer, _)) = next_timer {
                    effects.timers.remove(&timer);
                    let outputs = core.on_timeout(now_ms(), timer)?;
                    effects.execute(outputs)?;
                }
            }
        }
    }
}

/// Publishes the core's status if it changed.
fn publish_status<S: BlockSource>(
    core: &ConsensusCore<S>,
    status: &watch::Sender<ConsensusStatus>,
) {
    let now = ConsensusStatus {
        height: core.height(),
        round: core.round().unwrap_or(0),
        idle: core.is_idle(),
        best_peer_height: core.best_peer_height(),
    };
    status.send_if_modified(|current| {
        let changed = *current != now;
        *current = now;
        changed
    });
}

impl<T: Transport> Effects<'_, T> {
    /// Carries out the core's outputs in order. Log appends are made durable before anything
    /// that follows them leaves the node.
    fn execute(&mut self, outputs: Vec<Output>) -> Result<(), Fatal> {
        let wal_error = |error: std::io::Error| Fatal(format!("write-ahead log: {error}"));
        for output in outputs {
            if matches!(output, Output::Broadcast { .. } | Output::SendSync { .. })
                && self.wal.is_dirty()
            {
                self.wal.sync().map_err(wal_error)?;
            }
            match output {
                Output::Broadcast { bytes, is_proposal } => {
                    let channel = if is_proposal { Channel::Proposal } else { Channel::Consensus };
                    self.transport.broadcast(channel, Bytes::from(bytes));
                }
                Output::SendSync { to: Some(peer), bytes } => {
                    let _ = self.transport.send(&peer, Channel::Sync, Bytes::from(bytes));
                }
                Output::SendSync { to: None, bytes } => {
                    self.transport.broadcast(Channel::Sync, Bytes::from(bytes));
                }
                Output::WalAppend { height, bytes } => {
                    self.wal.append(height, &bytes).map_err(wal_error)?
                }
                Output::WalReset { .. } => self.wal.reset().map_err(wal_error)?,
                Output::ScheduleTimer { timer, after } => {
                    self.timers.insert(timer, Instant::now() + after);
                }
                Output::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
                Output::CancelAllTimers => self.timers.clear(),
                Output::Decided { height, round, block_hash, tx_count } => {
                    let _ = self.decisions.send(Decision { height, round, block_hash, tx_count });
                }
            }
        }
        Ok(())
    }
}
