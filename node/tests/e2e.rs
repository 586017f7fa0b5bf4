//! End to end with real processes: four `tandem` nodes on loopback, 1,000 transfers submitted
//! round-robin to all of them, one node killed with SIGKILL under load and restarted.
//!
//! Checked: every transfer is finalized; the three live nodes keep finalizing while the fourth
//! is down; the restarted node catches up; all four report the same block hash and state root
//! at every height and the same place for every transaction (nothing finalized is lost); every
//! sender's nonce and every recipient's balance are what the transfers make them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{send, transfer, tx_status, Testnet};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use tandem_node::api::{methods, AccountAt, BlockSummary, TxStatus};
use tandem_node::testnet::account_key;
use tandem_types::{Address, Hash, SignedTransaction};

const SENDERS: u32 = 100;
const TXS_PER_SENDER: u64 = 10;
const KILLED: usize = 3;
const KILL_AFTER: usize = 300;
const WAIT: Duration = Duration::from_secs(120);

fn recipient(index: u64) -> Address {
    let mut bytes = [0xee; 32];
    bytes[..8].copy_from_slice(&index.to_le_bytes());
    Address(bytes)
}

/// The transfers, nonce by nonce across the senders (so consecutive nonces of one sender go
/// to different nodes and often arrive out of order).
fn transfers() -> Vec<SignedTransaction> {
    let keys: Vec<_> = (0..SENDERS).map(account_key).collect();
    let mut txs = Vec::new();
    for nonce in 0..TXS_PER_SENDER {
        for (index, key) in keys.iter().enumerate() {
            let amount = 1 + nonce as u128;
            txs.push(transfer(key, nonce, recipient(index as u64 % 10), amount, 1));
        }
    }
    txs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_finalize_transfers_through_a_crash() {
    let mut net = Testnet::generate(4, SENDERS + 10, |_| {});
    net.start_all();
    for node in 0..4 {
        net.wait_for_height(node, 1, WAIT).await;
    }
    let clients: Vec<_> = (0..4).map(|node| net.client(node)).collect();
    let txs = transfers();
    let mut live = vec![0usize, 1, 2, 3];
    let mut height_at_kill = 0;
    for (position, tx) in txs.iter().enumerate() {
        if position == KILL_AFTER {
            net.kill(KILLED);
            live.retain(|node| *node != KILLED);
            height_at_kill = net.wait_for_height(0, 0, WAIT).await.latest_height;
        }
        let node = live[position % live.len()];
        send(&clients[node], tx).await.unwrap_or_else(|e| panic!("tx {position} to {node}: {e}"));
    }

    // A client resubmits what a crashed node took but had not passed on yet.
    let resubmitted = wait_all_finalized(&net, &clients[..3], &txs).await;
    let status = net.wait_for_height(0, 0, WAIT).await;
    assert!(status.latest_height > height_at_kill, "the live nodes kept finalizing");

    net.start(KILLED);
    let target = net.wait_for_height(0, 0, WAIT).await.latest_height;
    net.wait_for_height(KILLED, target, WAIT).await;

    let heights = check_same_chain(&clients, target).await;
    check_same_locations(&clients, &txs).await;
    check_balances(&clients, target).await;
    eprintln!(
        "e2e: {} transfers finalized in {heights} heights; {resubmitted} resubmitted after the \
         crash; node {KILLED} caught up to height {target}",
        txs.len()
    );
}

/// Waits until every transfer is finalized on the live nodes, resubmitting (once) those that
/// no live node knows. Returns how many were resubmitted.
async fn wait_all_finalized(
    net: &Testnet,
    clients: &[jsonrpsee_http_client::HttpClient],
    txs: &[SignedTransaction],
) -> usize {
    let deadline = Instant::now() + WAIT;
    let mut waiting: BTreeMap<Hash, &SignedTransaction> =
        txs.iter().map(|tx| (tx.hash(), tx)).collect();
    let mut resubmitted = BTreeSet::new();
    while !waiting.is_empty() {
        let mut still = BTreeMap::new();
        for (hash, tx) in waiting {
            let status = tx_status(&clients[0], &hash).await;
            match status.status {
                TxStatus::Finalized => continue,
                TxStatus::Unknown if !resubmitted.contains(&hash) => {
                    let known_elsewhere = [&clients[1], &clients[2]].into_iter();
                    let mut known = false;
                    for client in known_elsewhere {
                        known |= tx_status(client, &hash).await.status != TxStatus::Unknown;
                    }
                    if !known {
                        let _ = send(&clients[1], tx).await;
                        resubmitted.insert(hash);
                    }
                }
                _ => {}
            }
            still.insert(hash, tx);
        }
        waiting = still;
        if !waiting.is_empty() {
            assert!(
                Instant::now() < deadline,
                "{} transfers not finalized; node 0 log:\n{}",
                waiting.len(),
                net.log_tail(0)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    resubmitted.len()
}

/// Every node has the same block hash and state root at every height up to `target`.
async fn check_same_chain(clients: &[jsonrpsee_http_client::HttpClient], target: u64) -> u64 {
    for height in 1..=target {
        let mut seen = Vec::new();
        for client in clients {
            let block: BlockSummary =
                client.request(methods::GET_BLOCK, rpc_params![height]).await.expect("block");
            seen.push((block.hash, block.header.state_root));
        }
        assert!(seen.windows(2).all(|pair| pair[0] == pair[1]), "height {height}: {seen:?}");
    }
    target
}

/// Every node has every transfer at the same height and index.
async fn check_same_locations(
    clients: &[jsonrpsee_http_client::HttpClient],
    txs: &[SignedTransaction],
) {
    for tx in txs {
        let hash = tx.hash();
        let mut places = Vec::new();
        for client in clients {
            let status = tx_status(client, &hash).await;
            assert_eq!(status.status, TxStatus::Finalized, "{hash} on every node");
            places.push((status.height, status.index));
        }
        assert!(places.windows(2).all(|pair| pair[0] == pair[1]), "{hash}: {places:?}");
    }
}

/// Senders' nonces and recipients' balances at `height` on every node.
async fn check_balances(clients: &[jsonrpsee_http_client::HttpClient], height: u64) {
    let per_recipient: u128 = (1..=TXS_PER_SENDER as u128).sum::<u128>() * u128::from(SENDERS / 10);
    for client in clients {
        for index in [0u32, SENDERS - 1] {
            let sender = account_key(index).address();
            let account: AccountAt = client
                .request(methods::GET_ACCOUNT, rpc_params![sender, height])
                .await
                .expect("sender");
            assert_eq!(account.nonce, TXS_PER_SENDER);
        }
        for index in 0..10 {
            let account: AccountAt = client
                .request(methods::GET_ACCOUNT, rpc_params![recipient(index), height])
                .await
                .expect("recipient");
            assert_eq!(account.balance, per_recipient, "recipient {index}");
        }
    }
}
