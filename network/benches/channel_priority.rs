//! How long a small consensus message takes from one node to another over loopback QUIC,
//! idle and while 1 MiB sync frames flood the same connection: on its own prioritized
//! stream (`Channel::Consensus`), and, for comparison, queued behind the flood on the same
//! stream (`Channel::Sync`). Prints percentiles; `docs/performance.md` records them.
#![allow(missing_docs)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tandem_network::{
    Channel, NetworkConfig, NetworkEvent, PeerAddress, PeerSet, QuicNetwork, Transport,
};
use tandem_types::{sha256, SecretKey};

const PINGS: usize = 300;
const PING_INTERVAL: Duration = Duration::from_millis(2);
const FLOOD_FRAME_BYTES: usize = 1 << 20;

fn key(index: u8) -> SecretKey {
    SecretKey::from_seed(&sha256(&[b"bench".as_slice(), &[index]].concat()).0)
}

struct Pair {
    sender: QuicNetwork,
    receiver: QuicNetwork,
    events: tokio::sync::mpsc::Receiver<NetworkEvent>,
    sender_events: tokio::sync::mpsc::Receiver<NetworkEvent>,
}

async fn pair() -> Pair {
    let keys = [key(1), key(2)];
    let sockets = [
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
    ];
    let addresses: Vec<_> = sockets.iter().map(|s| s.local_addr().expect("addr")).collect();
    let allowed = PeerSet::new(keys.iter().map(SecretKey::address));
    let mut started = Vec::new();
    for (index, socket) in sockets.into_iter().enumerate() {
        let mut config = NetworkConfig::new(addresses[index]);
        config.peers =
            vec![PeerAddress { key: keys[1 - index].address(), socket: addresses[1 - index] }];
        config.queue_capacity = [64; 5];
        started.push(
            QuicNetwork::start_on(socket, &keys[index], allowed.clone(), config).expect("start"),
        );
    }
    let (receiver, mut events) = started.pop().expect("two");
    let (sender, sender_events) = started.pop().expect("two");
    while receiver.connected_peers().is_empty() || sender.connected_peers().is_empty() {
        events.recv().await;
    }
    Pair { sender, receiver, events, sender_events }
}

/// Sends timestamped pings on `ping_channel`, optionally while flooding `Channel::Sync`;
/// returns each ping's one-way latency.
async fn run(ping_channel: Channel, flood: bool) -> Vec<Duration> {
    let Pair { sender, receiver, mut events, sender_events } = pair().await;
    let peer = receiver.address();
    let start = Instant::now();
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while latencies.len() < PINGS {
            let Some(NetworkEvent::Message { payload, .. }) = events.recv().await else { continue };
            if payload.len() == 8 {
                let sent_us = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
                latencies.push(start.elapsed() - Duration::from_micros(sent_us));
            }
        }
        latencies
    });
    let flood_frame = Bytes::from(vec![0u8; FLOOD_FRAME_BYTES]);
    for _ in 0..PINGS {
        if flood {
            // Keep the sync queue full: whatever fits is queued, the rest is dropped.
            while sender.send(&peer, Channel::Sync, flood_frame.clone()).is_ok() {}
        }
        let sent_us = start.elapsed().as_micros() as u64;
        while sender
            .send(&peer, ping_channel, Bytes::copy_from_slice(&sent_us.to_le_bytes()))
            .is_err()
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(PING_INTERVAL).await;
    }
    let latencies = tokio::time::timeout(Duration::from_secs(120), collector)
        .await
        .expect("pings arrive")
        .expect("collector");
    drop(sender_events);
    latencies
}

fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<44} p50 {:>9.3} ms   p99 {:>9.3} ms   max {:>9.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        report("consensus, idle connection", run(Channel::Consensus, false).await);
        report(
            "consensus stream, sync flood on its own stream",
            run(Channel::Consensus, true).await,
        );
        report("same stream as the sync flood (no priority)", run(Channel::Sync, true).await);
    });
}
