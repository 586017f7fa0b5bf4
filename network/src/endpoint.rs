//! The QUIC endpoint: accepting and dialing peers, one connection per peer, a writer task per
//! channel and a reader task per incoming stream.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tandem_types::{Address, SecretKey};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::frame::{header, read_frame, FrameError};
use crate::tls::{certificate_key, Identity, PeerSet};
use crate::{
    Channel, NetworkConfig, NetworkError, NetworkEvent, NetworkMetrics, PeerAddress, SendError,
    Transport,
};

/// Application close codes.
const CLOSE_SHUTDOWN: u32 = 0;
const CLOSE_REPLACED: u32 = 1;
const CLOSE_PROTOCOL_VIOLATION: u32 = 2;

/// A live connection and the send queues feeding its channel streams.
struct Peer {
    generation: u64,
    connection: quinn::Connection,
    queues: Vec<mpsc::Sender<Bytes>>,
}

struct Shared {
    identity: Identity,
    allowed: PeerSet,
    config: NetworkConfig,
    peers: Mutex<BTreeMap<Address, Peer>>,
    next_generation: Mutex<u64>,
    events: mpsc::Sender<NetworkEvent>,
    metrics: NetworkMetrics,
}

impl Shared {
    fn peers(&self) -> std::sync::MutexGuard<'_, BTreeMap<Address, Peer>> {
        self.peers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn generation(&self) -> u64 {
        let mut next = self.next_generation.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *next += 1;
        *next
    }
}

/// A running QUIC transport. Dropping it (or [`QuicNetwork::shutdown`]) closes every
/// connection and stops its tasks.
pub struct QuicNetwork {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    tasks: Mutex<JoinSet<()>>,
    local_address: SocketAddr,
}

impl QuicNetwork {
    /// Binds the endpoint, starts accepting peers in `allowed` and dialing the configured peers
    /// with larger keys. Events arrive on the returned receiver.
    pub fn start(
        key: &SecretKey,
        allowed: PeerSet,
        config: NetworkConfig,
    ) -> Result<(QuicNetwork, mpsc::Receiver<NetworkEvent>), NetworkError> {
        let socket = std::net::UdpSocket::bind(config.listen)
            .map_err(|source| NetworkError::Bind { address: config.listen, source })?;
        QuicNetwork::start_on(socket, key, allowed, config)
    }

    /// [`QuicNetwork::start`] on an already bound socket (`config.listen` is then ignored).
    pub fn start_on(
        socket: std::net::UdpSocket,
        key: &SecretKey,
        allowed: PeerSet,
        config: NetworkConfig,
    ) -> Result<(QuicNetwork, mpsc::Receiver<NetworkEvent>), NetworkError> {
        let identity = Identity::new(key)?;
        let server_tls = QuicServerConfig::try_from(identity.server_config(allowed.clone())?)
            .map_err(|error| NetworkError::Tls(error.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(Arc::new(transport_config(&config)));
        let runtime = quinn::default_runtime().ok_or(NetworkError::NoRuntime)?;
        let endpoint =
            quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(server), socket, runtime)
                .map_err(|source| NetworkError::Bind { address: config.listen, source })?;
        let local_address = endpoint
            .local_addr()
            .map_err(|source| NetworkError::Bind { address: config.listen, source })?;
        let (events, receiver) = mpsc::channel(config.event_capacity);
        let dial_targets: Vec<PeerAddress> =
            config.peers.iter().filter(|peer| peer.key > identity.address).cloned().collect();
        let shared = Arc::new(Shared {
            identity,
            allowed,
            config,
            peers: Mutex::new(BTreeMap::new()),
            next_generation: Mutex::new(0),
            events,
            metrics: NetworkMetrics::default(),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(shared.clone(), endpoint.clone()));
        for target in dial_targets {
            tasks.spawn(dial_loop(shared.clone(), endpoint.clone(), target));
        }
        info!(address = %shared.identity.address, listen = %local_address, "network.start");
        Ok((QuicNetwork { shared, endpoint, tasks: Mutex::new(tasks), local_address }, receiver))
    }

    /// The bound UDP address (useful with port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// This node's key.
    pub fn address(&self) -> Address {
        self.shared.identity.address
    }

    /// The transport's counters.
    pub fn metrics(&self) -> &NetworkMetrics {
        &self.shared.metrics
    }

    /// Closes every connection, stops all tasks and waits until the endpoint is idle, so that
    /// its UDP port can be bound again once the runtime has dropped the socket.
    pub async fn close(self) {
        let mut tasks = std::mem::take(
            &mut *self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        self.endpoint.close(CLOSE_SHUTDOWN.into(), b"shutdown");
        self.shared.peers().clear();
        self.endpoint.wait_idle().await;
    }

    /// Closes every connection and stops all tasks, without waiting.
    pub fn shutdown(&self) {
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).abort_all();
        self.endpoint.close(CLOSE_SHUTDOWN.into(), b"shutdown");
        self.shared.peers().clear();
    }
}

impl Drop for QuicNetwork {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Transport for QuicNetwork {
    fn send(&self, peer: &Address, channel: Channel, payload: Bytes) -> Result<(), SendError> {
        let limit = self.shared.config.frame_limit(channel);
        if payload.len() > limit as usize {
            return Err(SendError::TooLarge { bytes: payload.len(), limit });
        }
        let metrics = &self.shared.metrics;
        let peers = self.shared.peers();
        let Some(connected) = peers.get(peer) else {
            NetworkMetrics::add(&metrics.messages_dropped, 1);
            return Err(SendError::NotConnected(*peer));
        };
        match connected.queues[channel as usize].try_send(payload) {
            Ok(()) => {
                NetworkMetrics::add(&metrics.messages_sent, 1);
                Ok(())
            }
            Err(_) => {
                NetworkMetrics::add(&metrics.messages_dropped, 1);
                Err(SendError::QueueFull(*peer))
            }
        }
    }

    fn broadcast(&self, channel: Channel, payload: Bytes) -> usize {
        self.connected_peers()
            .iter()
            .filter(|peer| self.send(peer, channel, payload.clone()).is_ok())
            .count()
    }

    fn connected_peers(&self) -> Vec<Address> {
        self.shared.peers().keys().copied().collect()
    }
}

fn transport_config(config: &NetworkConfig) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(config.idle_timeout / 3));
    if let Ok(idle) = quinn::IdleTimeout::try_from(config.idle_timeout) {
        transport.max_idle_timeout(Some(idle));
    }
    // One stream per channel per direction, plus headroom for a replaced stream.
    transport.max_concurrent_uni_streams(16u32.into());
    transport.max_concurrent_bidi_streams(0u32.into());
    transport.stream_receive_window((16u32 << 20).into());
    transport.receive_window((64u32 << 20).into());
    transport.send_window(64 << 20);
    transport
}

async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let mut handshakes = JoinSet::new();
    while let Some(incoming) = endpoint.accept().await {
        let shared = shared.clone();
        handshakes.spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(connection) => run_connection(shared, connection).await,
                Err(error) => {
                    NetworkMetrics::add(&shared.metrics.handshakes_failed, 1);
                    warn!(%remote, %error, "network.accept rejected");
                }
            }
        });
        // Reap finished handshakes so the set does not grow without bound.
        while handshakes.try_join_next().is_some() {}
    }
}

async fn dial_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint, target: PeerAddress) {
    let mut backoff = shared.config.dial_backoff_min;
    loop {
        match dial(&shared, &endpoint, &target).await {
            Ok(connection) => {
                backoff = shared.config.dial_backoff_min;
                run_connection(shared.clone(), connection).await;
            }
            Err(reason) => {
                NetworkMetrics::add(&shared.metrics.handshakes_failed, 1);
                debug!(peer = %target.key, socket = %target.socket, %reason, "network.dial failed");
                backoff = (backoff * 2).min(shared.config.dial_backoff_max);
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn dial(
    shared: &Shared,
    endpoint: &quinn::Endpoint,
    target: &PeerAddress,
) -> Result<quinn::Connection, String> {
    let tls = shared
        .identity
        .client_config(shared.allowed.clone(), target.key)
        .map_err(|e| e.to_string())?;
    let tls = QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut client = quinn::ClientConfig::new(Arc::new(tls));
    client.transport_config(Arc::new(transport_config(&shared.config)));
    let connecting =
        endpoint.connect_with(client, target.socket, "tandem").map_err(|e| e.to_string())?;
    connecting.await.map_err(|e| e.to_string())
}

/// The authenticated key of a connection's peer.
fn peer_key(connection: &quinn::Connection) -> Option<Address> {
    let identity = connection.peer_identity()?;
    let certificates =
        identity.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok()?;
    certificate_key(certificates.first()?)
}

/// Serves one connection until it closes: registers the peer, runs the channel writers and
/// the stream readers, then deregisters it.
async fn run_connection(shared: Arc<Shared>, connection: quinn::Connection) {
    let Some(key) = peer_key(&connection) else {
        connection.close(CLOSE_PROTOCOL_VIOLATION.into(), b"no ed25519 certificate");
        return;
    };
    let generation = shared.generation();
    let mut tasks = JoinSet::new();
    let mut queues = Vec::new();
    for channel in Channel::ALL {
        let (sender, receiver) = mpsc::channel(shared.config.queue_capacity[channel as usize]);
        queues.push(sender);
        tasks.spawn(write_channel(shared.clone(), connection.clone(), channel, receiver));
    }
    let replaced =
        shared.peers().insert(key, Peer { generation, connection: connection.clone(), queues });
    if let Some(old) = replaced {
        old.connection.close(CLOSE_REPLACED.into(), b"replaced by a newer connection");
        NetworkMetrics::add(&shared.metrics.connections_closed, 1);
    }
    NetworkMetrics::add(&shared.metrics.connections_opened, 1);
    info!(peer = %key, remote = %connection.remote_address(), "network.connected");
    let _ = shared.events.send(NetworkEvent::Connected(key)).await;
    tasks.spawn(accept_streams(shared.clone(), connection.clone(), key));
    let reason = connection.closed().await;
    tasks.abort_all();
    let removed = {
        let mut peers = shared.peers();
        let current = peers.get(&key).is_some_and(|peer| peer.generation == generation);
        current && peers.remove(&key).is_some()
    };
    if removed {
        NetworkMetrics::add(&shared.metrics.connections_closed, 1);
        info!(peer = %key, %reason, "network.disconnected");
        let _ = shared.events.send(NetworkEvent::Disconnected(key)).await;
    }
}

/// Drains one channel's queue into its own stream, opened with the channel's priority.
async fn write_channel(
    shared: Arc<Shared>,
    connection: quinn::Connection,
    channel: Channel,
    mut queue: mpsc::Receiver<Bytes>,
) {
    let Ok(mut stream) = connection.open_uni().await else { return };
    if stream.set_priority(channel.priority()).is_err()
        || stream.write_all(&[channel.id()]).await.is_err()
    {
        return;
    }
    while let Some(payload) = queue.recv().await {
        let mut chunks = [Bytes::copy_from_slice(&header(payload.len())), payload];
        let bytes = chunks[1].len() as u64;
        if stream.write_all_chunks(&mut chunks).await.is_err() {
            return;
        }
        NetworkMetrics::add(&shared.metrics.bytes_sent, bytes);
    }
}

async fn accept_streams(shared: Arc<Shared>, connection: quinn::Connection, key: Address) {
    let mut readers = JoinSet::new();
    while let Ok(mut stream) = connection.accept_uni().await {
        let shared = shared.clone();
        let connection = connection.clone();
        readers.spawn(async move {
            if let Err(error) = read_stream(&shared, &mut stream, key).await {
                NetworkMetrics::add(&shared.metrics.protocol_violations, 1);
                warn!(peer = %key, %error, "network.read protocol violation; disconnecting");
                connection.close(CLOSE_PROTOCOL_VIOLATION.into(), error.to_string().as_bytes());
            }
        });
        while readers.try_join_next().is_some() {}
    }
}

/// Reads one stream's channel id, then its frames, emitting a message event per frame.
async fn read_stream(
    shared: &Shared,
    stream: &mut quinn::RecvStream,
    peer: Address,
) -> Result<(), FrameError> {
    let mut id = [0u8; 1];
    if stream.read_exact(&mut id).await.is_err() {
        return Ok(());
    }
    let channel = Channel::from_id(id[0]).ok_or(FrameError::UnknownChannel(id[0]))?;
    let limit = shared.config.frame_limit(channel);
    while let Some(payload) = read_frame(stream, channel, limit).await? {
        NetworkMetrics::add(&shared.metrics.messages_received, 1);
        NetworkMetrics::add(&shared.metrics.bytes_received, payload.len() as u64);
        if shared.events.send(NetworkEvent::Message { peer, channel, payload }).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
