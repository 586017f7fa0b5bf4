//! Tandem's transport between nodes: QUIC (quinn) with TLS 1.3 certificates made from each
//! node's ed25519 key.
//!
//! Owns the endpoint, one connection per peer, and per-channel streams. In: messages to send
//! to a peer or to all peers, on a [`Channel`]. Out: [`NetworkEvent`]s (peer connected or gone,
//! message received with the sender's authenticated key). A peer is admitted only if its key
//! is in the [`PeerSet`] (validators plus allowed full nodes); any other key fails the TLS
//! handshake. Each channel has its own QUIC stream with its own priority, so consensus votes
//! never wait behind block bodies, sync traffic or mempool gossip, and its own frame size
//! limit; a peer that breaks the framing is disconnected. Send queues are bounded per peer and
//! channel: when one is full the message is dropped and counted, never buffered without bound.
//!
//! [`Transport`] is the boundary the rest of the node uses; the deterministic simulation
//! implements it in memory.

mod endpoint;
mod frame;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tandem_types::Address;

pub use endpoint::QuicNetwork;
pub use frame::FrameError;
pub use tls::{Identity, PeerSet};

/// A logical channel. Each has its own stream per connection, sent in priority order (see
/// `priority`): consensus first, mempool gossip last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Votes and other small consensus messages.
    Consensus = 0,
    /// Proposals and block bodies.
    Proposal = 1,
    /// Catch-up: status and decided blocks with certificates.
    Sync = 2,
    /// Mempool gossip.
    Mempool = 3,
    /// L1 coordination: batch attestations. Small and rare, so ahead of mempool gossip, which
    /// could otherwise starve it under load.
    L1 = 4,
}

impl Channel {
    /// Every channel, by wire id.
    pub const ALL: [Channel; 5] =
        [Channel::Consensus, Channel::Proposal, Channel::Sync, Channel::Mempool, Channel::L1];

    /// The channel with wire id `id`.
    pub fn from_id(id: u8) -> Option<Channel> {
        Channel::ALL.get(id as usize).copied()
    }

    /// The wire id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// QUIC stream priority: higher is sent first.
    fn priority(self) -> i32 {
        match self {
            Channel::Consensus => 5,
            Channel::Proposal => 4,
            Channel::Sync => 3,
            Channel::L1 => 2,
            Channel::Mempool => 1,
        }
    }
}

/// A configured peer to keep a connection with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddress {
    /// Its ed25519 key.
    pub key: Address,
    /// Where it listens.
    pub socket: SocketAddr,
}

/// Transport settings. Defaults suit a LAN or loopback cluster.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Peers to stay connected to. Of each pair, the node with the smaller key dials; the other
    /// accepts, so that two nodes never hold two connections.
    pub peers: Vec<PeerAddress>,
    /// Largest frame per channel, bytes, in [`Channel::ALL`] order.
    pub frame_bytes_max: [u32; 5],
    /// Messages queued per peer and channel before new ones are dropped, in
    /// [`Channel::ALL`] order. Channels with large messages queue fewer, so that a slow peer
    /// costs bounded memory: proposals and sync responses are megabytes, gossip batches tens
    /// of kilobytes.
    pub queue_capacity: [usize; 5],
    /// Events buffered for the application before the receiving side waits.
    pub event_capacity: usize,
    /// First delay before re-dialing a lost peer; doubles up to `dial_backoff_max`.
    pub dial_backoff_min: Duration,
    /// Longest delay between dial attempts.
    pub dial_backoff_max: Duration,
    /// A connection silent for this long is closed (keep-alives are sent at a third of it).
    pub idle_timeout: Duration,
}

impl NetworkConfig {
    /// Defaults for a node listening on `listen`.
    pub fn new(listen: SocketAddr) -> NetworkConfig {
        NetworkConfig {
            listen,
            peers: Vec::new(),
            frame_bytes_max: [64 << 10, 32 << 20, 64 << 20, 4 << 20, 4 << 20],
            queue_capacity: [1024, 16, 16, 64, 256],
            event_capacity: 4096,
            dial_backoff_min: Duration::from_millis(50),
            dial_backoff_max: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(3),
        }
    }

    /// The frame limit of `channel`.
    pub fn frame_limit(&self, channel: Channel) -> u32 {
        self.frame_bytes_max[channel as usize]
    }
}

/// What the transport tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkEvent {
    /// An authenticated connection with this peer is up.
    Connected(Address),
    /// The connection with this peer is gone.
    Disconnected(Address),
    /// A message from an authenticated peer.
    Message {
        /// The sender's key, as proven in the TLS handshake.
        peer: Address,
        /// The channel it came on.
        channel: Channel,
        /// The message bytes (one frame).
        payload: Bytes,
    },
}

/// Why a message was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No connection with that peer.
    #[error("peer {0} is not connected")]
    NotConnected(Address),
    /// The peer's queue for that channel is full; the message was dropped.
    #[error("send queue to {0} is full")]
    QueueFull(Address),
    /// The message exceeds the channel's frame limit.
    #[error("message of {bytes} bytes exceeds the {limit}-byte limit of its channel")]
    TooLarge {
        /// Message size.
        bytes: usize,
        /// Channel limit.
        limit: u32,
    },
}

/// Failures to start or run the transport.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The transport must be started inside a tokio runtime.
    #[error("no tokio runtime is running")]
    NoRuntime,
    /// The UDP socket could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The node's view of the network; the simulation implements it in memory.
pub trait Transport: Send + Sync {
    /// Queues `payload` for `peer` on `channel`. Never blocks.
    fn send(&self, peer: &Address, channel: Channel, payload: Bytes) -> Result<(), SendError>;

    /// Queues `payload` for every connected peer; returns how many took it.
    fn broadcast(&self, channel: Channel, payload: Bytes) -> usize;

    /// The peers connected now.
    fn connected_peers(&self) -> Vec<Address>;
}

/// Transport counters, in base units.
#[derive(Debug, Default)]
pub struct NetworkMetrics {
    /// Connections established (both directions).
    pub connections_opened: AtomicU64,
    /// Connections lost or replaced.
    pub connections_closed: AtomicU64,
    /// Handshakes that failed, unknown keys included.
    pub handshakes_failed: AtomicU64,
    /// Peers disconnected for breaking the framing (unknown channel, oversized frame).
    pub protocol_violations: AtomicU64,
    /// Messages queued for sending.
    pub messages_sent: AtomicU64,
    /// Messages dropped: queue full or peer not connected.
    pub messages_dropped: AtomicU64,
    /// Messages received.
    pub messages_received: AtomicU64,
    /// Payload bytes written to streams.
    pub bytes_sent: AtomicU64,
    /// Payload bytes read from streams.
    pub bytes_received: AtomicU64,
}

impl NetworkMetrics {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    /// The current value of a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
