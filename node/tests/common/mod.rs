//! A local testnet of real `tandem` processes for the node's integration tests: generated
//! with `tandem testnet`, each node a child process on loopback ports, killed (SIGKILL) when
//! the test ends.

#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use tandem_node::api::{methods, NodeStatus, TransactionStatus, TxStatus};
use tandem_node::config::Config;
use tandem_types::{Action, Address, Hash, SecretKey, SignedTransaction, Transaction};

pub const CHAIN_ID: u64 = 4_242;

/// A running (or partly running) local testnet.
pub struct Testnet {
    pub dir: tempfile::TempDir,
    pub base_port: u16,
    pub nodes: Vec<Option<Child>>,
}

/// Ports `base + i`, `base + 100 + i` and `base + 200 + i` free for `count` nodes. Tests of
/// one binary run at once, so each call starts from another candidate (the ports are only
/// bound once the nodes start).
fn free_base_port(count: u16) -> u16 {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) + call * 3_001;
    for attempt in 0..500u64 {
        let base = 20_000 + (seed.wrapping_add(attempt * 7_919) % 40_000) as u16;
        let all_free = (0..count).all(|i| {
            UdpSocket::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + 100 + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + 200 + i)).is_ok()
        });
        if all_free {
            return base;
        }
    }
    panic!("no free port range found");
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

impl Testnet {
    /// Generates a testnet of `validators` nodes with `accounts` funded accounts; `tune`
    /// edits every node's configuration. Nothing runs yet.
    pub fn generate(validators: u16, accounts: u32, tune: impl Fn(&mut Config)) -> Testnet {
        Testnet::generate_with(validators, accounts, &[], tune)
    }

    /// [`Testnet::generate`] with more arguments for `tandem testnet` (`--batch-blocks 5`).
    pub fn generate_with(
        validators: u16,
        accounts: u32,
        extra: &[&str],
        tune: impl Fn(&mut Config),
    ) -> Testnet {
        let dir = tempfile::tempdir().expect("tempdir");
        let base_port = free_base_port(validators);
        let status = Command::new(binary())
            .args(["testnet", "--validators", &validators.to_string()])
            .args(["--accounts", &accounts.to_string(), "--base-port", &base_port.to_string()])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join("net"))
            .stdout(Stdio::null())
            .status()
            .expect("tandem testnet runs");
        assert!(status.success(), "tandem testnet failed");
        for i in 0..validators {
            let home = dir.path().join("net").join(format!("node{i}"));
            let path = home.join("config.toml");
            let mut config = Config::parse(&std::fs::read_to_string(&path).expect("config"))
                .expect("generated config parses");
            tune(&mut config);
            std::fs::write(&path, config.to_toml()).expect("write config");
        }
        let nodes = (0..validators).map(|_| None).collect();
        Testnet { dir, base_port, nodes }
    }

    pub fn home(&self, node: usize) -> PathBuf {
        self.dir.path().join("net").join(format!("node{node}"))
    }

    pub fn genesis_path(&self) -> PathBuf {
        self.dir.path().join("net").join("genesis.json")
    }

    pub fn rpc_url(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.base_port + 100 + node as u16)
    }

    pub fn ws_url(&self, node: usize) -> String {
        format!("ws://127.0.0.1:{}", self.base_port + 100 + node as u16)
    }

    pub fn metrics_url(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.base_port + 200 + node as u16)
    }

    pub fn log_path(&self, node: usize) -> PathBuf {
        self.home(node).join("node.log")
    }

    /// Starts node `node` (on whatever data it has).
    pub fn start(&mut self, node: usize) {
        assert!(self.nodes[node].is_none(), "node {node} already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(node))
            .expect("log file");
        let child = Command::new(binary())
            .arg("run")
            .arg("--home")
            .arg(self.home(node))
            .env("RUST_LOG", "info,arc_malachitebft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tandem run starts");
        self.nodes[node] = Some(child);
    }

    pub fn start_all(&mut self) {
        for node in 0..self.nodes.len() {
            self.start(node);
        }
    }

    /// Kills node `node` with SIGKILL: a crash.
    pub fn kill(&mut self, node: usize) {
        let mut child = self.nodes[node].take().expect("node runs");
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }

    pub fn client(&self, node: usize) -> HttpClient {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(self.rpc_url(node))
            .expect("client")
    }

    /// The tail of node `node`'s log, for failure messages.
    pub fn log_tail(&self, node: usize) -> String {
        let log = std::fs::read_to_string(self.log_path(node)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until node `node` answers and has committed `height`.
    pub async fn wait_for_height(&self, node: usize, height: u64, within: Duration) -> NodeStatus {
        let deadline = Instant::now() + within;
        let client = self.client(node);
        loop {
            if let Ok(status) =
                client.request::<NodeStatus, _>(methods::STATUS, rpc_params![]).await
            {
                if status.latest_height >= height {
                    return status;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {node} did not reach height {height} within {within:?}; log:\n{}",
                self.log_tail(node)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // TANDEM_KEEP_LOGS=DIR keeps the nodes' logs (the testnet's directory is deleted).
        if let Ok(keep) = std::env::var("TANDEM_KEEP_LOGS") {
            let _ = std::fs::create_dir_all(&keep);
            for node in 0..self.nodes.len() {
                let _ = std::fs::copy(
                    self.log_path(node),
                    PathBuf::from(&keep).join(format!("node{node}.log")),
                );
            }
        }
    }
}

/// A signed transfer.
pub fn transfer(
    key: &SecretKey,
    nonce: u64,
    to: Address,
    amount: u128,
    fee: u128,
) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID,
        sender: key.address(),
        nonce,
        fee,
        action: Action::Transfer { to, amount },
    }
    .sign(key)
}

pub fn to_hex(tx: &SignedTransaction) -> String {
    tandem_types::json::to_hex(&tx.to_bytes())
}

/// Submits `tx` to `client`; the node's hash or its error.
pub async fn send(
    client: &HttpClient,
    tx: &SignedTransaction,
) -> Result<Hash, jsonrpsee_core::ClientError> {
    client.request(methods::SEND_TRANSACTION, rpc_params![to_hex(tx)]).await
}

pub async fn tx_status(client: &HttpClient, hash: &Hash) -> TransactionStatus {
    client.request(methods::GET_TRANSACTION, rpc_params![hash]).await.expect("getTransaction")
}

/// Waits until `hash` is finalized according to `client`.
pub async fn wait_finalized(
    client: &HttpClient,
    hash: &Hash,
    within: Duration,
) -> TransactionStatus {
    let deadline = Instant::now() + within;
    loop {
        let status = tx_status(client, hash).await;
        if status.status == TxStatus::Finalized {
            return status;
        }
        assert!(Instant::now() < deadline, "{hash} not finalized within {within:?}: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stable `data.reason` of a JSON-RPC error.
pub fn reason(error: &jsonrpsee_core::ClientError) -> String {
    match error {
        jsonrpsee_core::ClientError::Call(object) => object
            .data()
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
            .and_then(|data| data["reason"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("no reason in {object:?}")),
        other => format!("not a call error: {other}"),
    }
}

/// GETs `path` from `address` (`127.0.0.1:port`); the status code and the response body.
pub fn raw_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).to_string();
    let code = response.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_string());
    (code, body)
}

/// Posts `body` over a fresh HTTP/1.1 connection; the status code and the response body.
pub fn raw_post(address: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413) and close before reading an oversized body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (code, body)
}
