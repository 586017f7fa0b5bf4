//! The committee on a real anvil with four real `tandem` processes, batches of twenty
//! heights, transfers sent all along.
//!
//! Checked, in one run (the setup is the expensive part):
//! - batches land in order, exactly one per index, each root equal to the nodes' root at its
//!   last height, and `tandem audit` passes on them;
//! - a transaction goes `finalized` → `posted` (with its batch and L1 transaction) → `settled`;
//! - the designated poster of the next batch killed: another validator posts that batch;
//! - the designated poster killed the moment it starts posting: no duplicate, no gap;
//! - the L1 stopped for 30 s and restarted on its saved state: the nodes keep deciding
//!   meanwhile, and posting resumes where it was;
//! - an unreachable L1, another chain id and an address without code: the node keeps deciding
//!   and `tandem_status` names the failure.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{send, transfer, tx_status, wait_finalized, Testnet};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use tandem_l1::{Anvil, CommittedEvent, RollupClient};
use tandem_node::api::{methods, BlockSummary, NodeStatus, TxStatus};
use tandem_node::config::{Config, L1Section};
use tandem_node::testnet::account_key;
use tandem_types::{Address, Genesis, Hash, L1Address};

/// With a transfer every 100 ms a batch fills in about 2 s, and the L1 (a block a second, one
/// batch a block at most) keeps up.
const BATCH_BLOCKS: u64 = 20;
/// Long enough that a loaded machine's next poster does not run out of time too.
const TURN_MS: u64 = 5_000;
const SETTLE_BLOCKS: u64 = 3;
const SENDERS: u32 = 40;

/// Deploys the contract for the testnet's genesis with `tandem deploy-contract`.
fn deploy(net: &Testnet, url: &str) -> L1Address {
    let output = Command::new(common::binary())
        .args(["deploy-contract", "--l1-rpc", url, "--dev-key", "--fund-validators", "100"])
        .arg("--genesis")
        .arg(net.genesis_path())
        .output()
        .expect("tandem deploy-contract runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "deploy failed: {}", String::from_utf8_lossy(&output.stderr));
    let address = stdout.trim().strip_prefix("contract=").expect("contract=0x… on stdout");
    serde_json::from_value(serde_json::Value::String(address.into())).expect("an address")
}

/// The tests' `[l1]` settings: short turns and polls, settled three blocks on.
fn l1_section(url: &str, chain_id: u64, contract: L1Address) -> L1Section {
    L1Section {
        rpc_url: url.into(),
        chain_id,
        contract,
        post_turn_ms: TURN_MS,
        poll_interval_ms: 500,
        settle_blocks: SETTLE_BLOCKS,
        resubmit_after_ms: 3_000,
        fee_bumps: 3,
    }
}

/// Adds the `[l1]` section to every node's configuration.
fn configure_l1(net: &Testnet, url: &str, contract: L1Address) {
    for node in 0..net.nodes.len() {
        let path = net.home(node).join("config.toml");
        let mut config =
            Config::parse(&std::fs::read_to_string(&path).expect("config")).expect("parses");
        config.l1 = Some(l1_section(url, 31_337, contract));
        config.validate().expect("valid");
        std::fs::write(&path, config.to_toml()).expect("write config");
    }
}

fn genesis(net: &Testnet) -> Genesis {
    Genesis::from_json(&std::fs::read_to_string(net.genesis_path()).expect("genesis"))
        .expect("genesis parses")
}

/// Sends transfers round-robin to the live nodes until `stop`, about 10 a second.
fn start_load(net: &Testnet, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Hash>> {
    let clients: Vec<_> = (0..4).map(|node| net.client(node)).collect();
    tokio::spawn(async move {
        let keys: Vec<_> = (0..SENDERS).map(account_key).collect();
        let mut nonces = vec![0u64; keys.len()];
        let mut accepted = Vec::new();
        let mut turn = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let sender = turn % keys.len();
            let tx = transfer(&keys[sender], nonces[sender], Address([0xee; 32]), 1, 1);
            // A killed node refuses the connection; the transfer goes to the next one.
            for attempt in 0..4 {
                if let Ok(hash) = send(&clients[(turn + attempt) % 4], &tx).await {
                    accepted.push(hash);
                    nonces[sender] += 1;
                    break;
                }
            }
            turn += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        accepted
    })
}

async fn contract(url: &str, address: L1Address) -> RollupClient {
    RollupClient::connect_read_only(url, address).await.expect("the contract is there")
}

/// Waits until the contract's next index is at least `index`; panics with the nodes' logs
/// after `within`.
async fn wait_for_index(net: &Testnet, l1: &RollupClient, index: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if l1.next_batch_index().await.is_ok_and(|next| next >= index) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "batch index {} not reached within {within:?}; node 0:\n{}",
            index,
            net.log_tail(0)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn events(l1: &RollupClient) -> Vec<CommittedEvent> {
    let latest = l1.block_number().await.expect("block number");
    l1.committed_events(0, latest).await.expect("events")
}

/// Waits until `node`'s log has a line with all of `parts`.
async fn wait_for_log(net: &Testnet, node: usize, parts: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let log = std::fs::read_to_string(net.log_path(node)).unwrap_or_default();
        if log.lines().any(|line| parts.iter().all(|part| line.contains(part))) {
            return;
        }
        assert!(Instant::now() < deadline, "node {node} never logged {parts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn height(net: &Testnet, node: usize) -> u64 {
    let status: NodeStatus =
        net.client(node).request(methods::STATUS, rpc_params![]).await.expect("status");
    status.latest_height
}

/// Follows `hash` through `finalized`, `posted` and `settled`, and returns its batch.
async fn follow_to_settled(net: &Testnet, hash: &Hash) -> u64 {
    let client = net.client(0);
    let finalized = wait_finalized(&client, hash, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = vec![finalized.status];
    loop {
        let status = tx_status(&client, hash).await;
        if seen.last() != Some(&status.status) {
            seen.push(status.status);
        }
        if status.status == TxStatus::Settled {
            assert_eq!(seen, [TxStatus::Finalized, TxStatus::Posted, TxStatus::Settled]);
            assert!(status.l1_tx_hash.is_some());
            return status.batch.expect("a settled transaction names its batch");
        }
        if status.status == TxStatus::Posted {
            assert!(status.batch.is_some() && status.l1_tx_hash.is_some(), "{status:?}");
        }
        assert!(Instant::now() < deadline, "{hash} not settled; seen {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_land_in_order_through_poster_crashes_and_an_l1_outage() {
    let mut net = Testnet::generate_with(
        4,
        SENDERS + 10,
        &["--batch-blocks", &BATCH_BLOCKS.to_string()],
        |config| config.consensus.empty_block_interval_ms = 500,
    );
    let state = net.dir.path().join("anvil-state.json");
    let state_arg = state.to_str().expect("utf-8 path").to_string();
    let anvil_args = ["--block-time", "1", "--state", state_arg.as_str()];
    let anvil = Anvil::start_with(&anvil_args).expect("anvil");
    let (url, port) = (anvil.url.clone(), anvil.port);
    let address = deploy(&net, &url);
    configure_l1(&net, &url, address);
    let genesis = genesis(&net);
    let l1 = contract(&url, address).await;
    net.start_all();
    for node in 0..4 {
        net.wait_for_height(node, 1, Duration::from_secs(60)).await;
    }
    let stop_load = Arc::new(AtomicBool::new(false));
    let load = start_load(&net, stop_load.clone());

    // Steady load: batches land; a transfer of the first batches goes all the way.
    wait_for_index(&net, &l1, 3, Duration::from_secs(120)).await;
    let first = {
        let client = net.client(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status: NodeStatus =
                client.request(methods::STATUS, rpc_params![]).await.expect("status");
            let l1_status = status.l1.expect("the node reports its L1 state");
            assert_eq!(l1_status.contract, address);
            if l1_status.last_posted.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "no posted batch in tandem_status: {l1_status:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let tx = transfer(&account_key(SENDERS + 1), 0, Address([0xdd; 32]), 5, 1);
        send(&client, &tx).await.expect("accepted")
    };
    let batch = follow_to_settled(&net, &first).await;
    assert!(batch >= 3, "a new transfer lands in a later batch, not {batch}");
    let metrics_address = net.metrics_url(2).trim_start_matches("http://").to_string();
    let (code, metrics) = common::raw_get(&metrics_address, "/metrics");
    assert_eq!(code, 200);
    let gauge = |name: &str| -> u64 {
        let line = metrics.lines().find(|line| line.starts_with(&format!("{name} "))).expect(name);
        line.split_whitespace().nth(1).and_then(|value| value.parse().ok()).expect("a number")
    };
    assert_eq!(gauge("tandem_l1_connected"), 1);
    assert!(gauge("tandem_l1_next_batch_index") >= 3);
    assert!(gauge("tandem_l1_posted_height") >= 3 * BATCH_BLOCKS);
    assert_eq!(gauge("tandem_l1_root_mismatches_total"), 0);

    // The designated poster of a batch dies before it could post it: another validator posts
    // it. (Batches post in order, so nobody posts `next + 2` before `next + 1` is on L1; the
    // batch the contract expects now may already be on its way.)
    let target = l1.next_batch_index().await.expect("index") + 2;
    let designated = (target % 4) as usize;
    net.kill(designated);
    wait_for_index(&net, &l1, target + 1, Duration::from_secs(90)).await;
    let taken_over =
        events(&l1).await.into_iter().find(|event| event.index == target).expect("posted");
    // The next validator in order takes over within its turn (a later one only after more).
    let next_in_order = ((target + 1) % 4) as usize;
    assert_eq!(
        taken_over.poster, genesis.validators[next_in_order].l1_address,
        "batch {target}: validator {next_in_order} takes over from the killed {designated}"
    );
    net.start(designated);

    // The designated poster dies the moment it starts posting: its transaction may or may not
    // land; either way the batch lands once.
    wait_for_index(&net, &l1, target + 2, Duration::from_secs(90)).await;
    let next = l1.next_batch_index().await.expect("index");
    let designated = (next % 4) as usize;
    let marker = format!("batch={next}");
    wait_for_log(&net, designated, &["l1.posting", &marker], Duration::from_secs(90)).await;
    net.kill(designated);
    wait_for_index(&net, &l1, next + 1, Duration::from_secs(90)).await;
    net.start(designated);

    // The L1 goes away for 30 s and comes back on its saved state.
    let index_before = l1.next_batch_index().await.expect("index");
    let height_before = height(&net, 0).await;
    anvil.terminate().expect("anvil stops and saves its state");
    tokio::time::sleep(Duration::from_secs(30)).await;
    let height_during = height(&net, 0).await;
    assert!(
        height_during >= height_before + 20,
        "consensus kept deciding without the L1: {height_before} → {height_during}"
    );
    let status: NodeStatus =
        net.client(1).request(methods::STATUS, rpc_params![]).await.expect("status");
    assert!(!status.l1.expect("l1 state").connected, "the outage shows in tandem_status");
    let _anvil = Anvil::start_on(port, &anvil_args).expect("anvil restarts on its state");
    let l1 = contract(&url, address).await;
    assert!(l1.next_batch_index().await.expect("index") >= index_before, "nothing was lost");
    wait_for_index(&net, &l1, index_before + 3, Duration::from_secs(120)).await;

    stop_load.store(true, Ordering::Relaxed);
    let accepted = load.await.expect("load task");
    assert!(accepted.len() > 100, "the load ran: {} transfers", accepted.len());

    // Exactly one batch per index, in order, each root the nodes' root at its last height.
    let events = events(&l1).await;
    let indices: Vec<u64> = events.iter().map(|event| event.index).collect();
    assert_eq!(indices, (0..indices.len() as u64).collect::<Vec<_>>(), "no gap, no duplicate");
    let posters: BTreeSet<L1Address> = events.iter().map(|event| event.poster).collect();
    assert!(posters.len() >= 3, "the poster rotates: {posters:?}");
    for event in &events {
        for node in 0..4 {
            let block: BlockSummary = net
                .client(node)
                .request(methods::GET_BLOCK, rpc_params![event.last_height])
                .await
                .expect("block");
            assert_eq!(
                block.header.state_root, event.state_root,
                "batch {} on node {node}",
                event.index
            );
        }
    }
    audit(&url, address, &net.genesis_path());
}

/// `tandem audit` passes on everything posted.
fn audit(url: &str, contract: L1Address, genesis: &Path) {
    let output = Command::new(common::binary())
        .args(["audit", "--l1-rpc", url, "--contract", &format!("{contract:?}")])
        .arg("--genesis")
        .arg(genesis)
        .output()
        .expect("tandem audit runs");
    assert!(
        output.status.success(),
        "audit failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A one-validator chain whose `[l1]` points at `url` with `chain_id` and `contract`: it keeps
/// deciding, and `tandem_status` names the L1 failure.
async fn runs_despite_a_bad_l1(url: &str, chain_id: u64, contract: L1Address, expected: &str) {
    let mut net = Testnet::generate_with(1, 5, &[], |config| {
        config.consensus.empty_block_interval_ms = 100;
        config.l1 = Some(l1_section(url, chain_id, contract));
    });
    net.start(0);
    net.wait_for_height(0, 20, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: NodeStatus =
            net.client(0).request(methods::STATUS, rpc_params![]).await.expect("status");
        let l1 = status.l1.expect("the L1 state");
        assert!(!l1.connected, "{l1:?}");
        assert_eq!(l1.contract, contract);
        if l1.error.as_deref().is_some_and(|error| error.contains(expected)) {
            break;
        }
        assert!(Instant::now() < deadline, "expected an L1 error with {expected:?}: {l1:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    net.wait_for_height(0, 40, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_l1_is_named_and_never_stops_consensus() {
    let somewhere = L1Address([0x42; 20]);
    runs_despite_a_bad_l1("http://127.0.0.1:9", 31_337, somewhere, "L1 RPC").await;
    let anvil = Anvil::start().expect("anvil");
    runs_despite_a_bad_l1(&anvil.url, 1, somewhere, "is chain 31337, the configuration says 1")
        .await;
    runs_despite_a_bad_l1(&anvil.url, 31_337, somewhere, "no contract code").await;
}
