//! The QUIC transport over real loopback sockets: a full mesh, authentication at the
//! handshake, framing violations, reconnection after a restart, and send-side limits.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::QuicClientConfig;
use tandem_network::{
    Channel, Identity, NetworkConfig, NetworkEvent, NetworkMetrics, PeerAddress, PeerSet,
    QuicNetwork, SendError, Transport,
};
use tandem_types::{sha256, Address, SecretKey};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn key(index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[b"net".as_slice(), &index.to_le_bytes()].concat()).0)
}

fn socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind loopback")
}

struct Node {
    network: QuicNetwork,
    events: Receiver<NetworkEvent>,
}

/// Starts `keys.len()` nodes that all know each other.
fn mesh(keys: &[SecretKey], tweak: impl Fn(&mut NetworkConfig)) -> Vec<Node> {
    let sockets: Vec<UdpSocket> = keys.iter().map(|_| socket()).collect();
    let peers: Vec<PeerAddress> = keys
        .iter()
        .zip(&sockets)
        .map(|(k, s)| PeerAddress { key: k.address(), socket: s.local_addr().expect("addr") })
        .collect();
    let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
    keys.iter()
        .zip(sockets)
        .map(|(k, socket)| {
            let mut config = NetworkConfig::new(socket.local_addr().expect("addr"));
            config.peers = peers.iter().filter(|p| p.key != k.address()).cloned().collect();
            tweak(&mut config);
            let (network, events) =
                QuicNetwork::start_on(socket, k, allowed.clone(), config).expect("start");
            Node { network, events }
        })
        .collect()
}

async fn next_event(events: &mut Receiver<NetworkEvent>) -> NetworkEvent {
    timeout(WAIT, events.recv()).await.expect("event in time").expect("network running")
}

async fn wait_connected(node: &mut Node, count: usize) {
    while node.network.connected_peers().len() < count {
        next_event(&mut node.events).await;
    }
}

/// The next message event, skipping connection events.
async fn next_message(events: &mut Receiver<NetworkEvent>) -> (Address, Channel, Bytes) {
    loop {
        if let NetworkEvent::Message { peer, channel, payload } = next_event(events).await {
            return (peer, channel, payload);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_of_four_exchanges_authenticated_messages() {
    let keys: Vec<SecretKey> = (0..4).map(key).collect();
    let mut nodes = mesh(&keys, |_| {});
    for node in nodes.iter_mut() {
        wait_connected(node, 3).await;
    }
    for (index, node) in nodes.iter().enumerate() {
        let sent = node.network.broadcast(Channel::Consensus, Bytes::from(vec![index as u8; 10]));
        assert_eq!(sent, 3);
    }
    for (index, node) in nodes.iter_mut().enumerate() {
        let mut senders = Vec::new();
        for _ in 0..3 {
            let (peer, channel, payload) = next_message(&mut node.events).await;
            assert_eq!(channel, Channel::Consensus);
            let sender = keys.iter().position(|k| k.address() == peer).expect("a known peer");
            assert_ne!(sender, index);
            assert_eq!(
                payload,
                Bytes::from(vec![sender as u8; 10]),
                "payload matches its authenticated sender"
            );
            senders.push(sender);
        }
        senders.sort();
        senders.dedup();
        assert_eq!(senders.len(), 3);
    }
}

/// A bare QUIC client holding `identity`, dialing `target` at `socket`.
async fn raw_connect(
    identity: &Identity,
    allowed: PeerSet,
    target: Address,
    socket: SocketAddr,
) -> Result<quinn::Connection, String> {
    let tls = identity.client_config(allowed, target).map_err(|e| e.to_string())?;
    let tls = QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    let endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).map_err(|e| e.to_string())?;
    let connecting = endpoint
        .connect_with(quinn::ClientConfig::new(Arc::new(tls)), socket, "tandem")
        .map_err(|e| e.to_string())?;
    connecting.await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_rejected_at_the_handshake() {
    let keys: Vec<SecretKey> = (0..2).map(key).collect();
    let mut nodes = mesh(&keys, |_| {});
    wait_connected(&mut nodes[0], 1).await;
    let target = nodes[0].network.local_address();
    let outsider = Identity::new(&key(99)).expect("identity");
    let trusting = PeerSet::new([keys[0].address()]);
    let result = raw_connect(&outsider, trusting.clone(), keys[0].address(), target).await;
    let error = match result {
        Ok(connection) => connection.closed().await.to_string(),
        Err(error) => error,
    };
    assert!(!error.is_empty(), "the outsider got no usable connection");
    // A client that expects another key than the one it reaches refuses the server too.
    let member = Identity::new(&keys[1]).expect("identity");
    let wrong_expectation =
        raw_connect(&member, PeerSet::new([key(7).address()]), key(7).address(), target).await;
    assert!(wrong_expectation.is_err(), "a server with an unexpected key is refused");
    assert!(NetworkMetrics::get(&nodes[0].network.metrics().handshakes_failed) >= 1);
    assert_eq!(nodes[0].network.connected_peers(), vec![keys[1].address()]);
}

async fn assert_violation_disconnects(write: &[u8]) {
    let keys: Vec<SecretKey> = (0..2).map(key).collect();
    // Node 1 is started with no peers, so the raw client below is its only connection.
    let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
    let mut config = NetworkConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.frame_bytes_max = [1024; 5];
    let (network, mut events) =
        QuicNetwork::start(&keys[0], allowed.clone(), config).expect("start");
    let client = Identity::new(&keys[1]).expect("identity");
    let connection = raw_connect(&client, allowed, keys[0].address(), network.local_address())
        .await
        .expect("connect");
    assert_eq!(next_event(&mut events).await, NetworkEvent::Connected(keys[1].address()));
    let mut stream = connection.open_uni().await.expect("stream");
    stream.write_all(write).await.expect("write");
    assert_eq!(next_event(&mut events).await, NetworkEvent::Disconnected(keys[1].address()));
    assert_eq!(NetworkMetrics::get(&network.metrics().protocol_violations), 1);
    let reason = timeout(WAIT, connection.closed()).await.expect("closed in time");
    assert!(
        reason.to_string().contains("exceeds") || reason.to_string().contains("unknown channel"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_disconnects_the_peer() {
    let mut bytes = vec![Channel::Consensus.id()];
    bytes.extend_from_slice(&5_000u32.to_le_bytes());
    assert_violation_disconnects(&bytes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_channel_disconnects_the_peer() {
    assert_violation_disconnects(&[9, 0, 0, 0, 0]).await;
}

/// Binds `address` again once the closed endpoint's socket is released.
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
async fn a_restarted_peer_is_reconnected() {
    let keys: Vec<SecretKey> = (0..2).map(key).collect();
    let mut nodes = mesh(&keys, |config| config.idle_timeout = Duration::from_secs(1));
    for node in nodes.iter_mut() {
        wait_connected(node, 1).await;
    }
    // Restart whichever node does not dial, so that the dialer must notice and re-dial.
    let (dialer, acceptor) = if keys[0].address() < keys[1].address() { (0, 1) } else { (1, 0) };
    let acceptor_socket = nodes[acceptor].network.local_address();
    let dialer_socket = nodes[dialer].network.local_address();
    let acceptor_node = nodes.remove(acceptor);
    acceptor_node.network.close().await;
    let dialer_node = &mut nodes[0];
    loop {
        if next_event(&mut dialer_node.events).await
            == NetworkEvent::Disconnected(keys[acceptor].address())
        {
            break;
        }
    }
    let mut config = NetworkConfig::new(acceptor_socket);
    config.peers = vec![PeerAddress { key: keys[dialer].address(), socket: dialer_socket }];
    let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
    let socket = rebind(acceptor_socket).await;
    let (restarted, mut restarted_events) =
        QuicNetwork::start_on(socket, &keys[acceptor], allowed, config).expect("restart");
    assert_eq!(
        next_event(&mut restarted_events).await,
        NetworkEvent::Connected(keys[dialer].address())
    );
    restarted
        .send(&keys[dialer].address(), Channel::Sync, Bytes::from_static(b"again"))
        .expect("send");
    let (peer, channel, payload) = next_message(&mut dialer_node.events).await;
    assert_eq!(
        (peer, channel, payload),
        (keys[acceptor].address(), Channel::Sync, Bytes::from_static(b"again"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_refused_when_they_cannot_be_queued() {
    let keys: Vec<SecretKey> = (0..2).map(key).collect();
    let nodes = mesh(&keys, |config| config.frame_bytes_max = [100; 5]);
    let network = &nodes[0].network;
    let stranger = key(50).address();
    assert_eq!(
        network.send(&stranger, Channel::Consensus, Bytes::new()),
        Err(SendError::NotConnected(stranger))
    );
    let oversized = Bytes::from(vec![0u8; 101]);
    assert_eq!(
        network.send(&keys[1].address(), Channel::Mempool, oversized),
        Err(SendError::TooLarge { bytes: 101, limit: 100 })
    );
    assert_eq!(NetworkMetrics::get(&network.metrics().messages_dropped), 1);
}
