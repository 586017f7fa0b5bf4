//! The node's configuration: `config.toml` in the node's home directory.
//!
//! Every field has a documented default, so a file only needs what differs (`tandem testnet`
//! writes complete files). Unknown fields are errors, so a misspelt setting is never silently
//! ignored. Relative paths are relative to the home directory. [`Config::validate`] runs once at
//! start and names the setting that is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tandem_consensus::{ConsensusConfig, EmptyBlocks};
use tandem_mempool::MempoolConfig;
use tandem_types::{Address, L1Address};

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Files and directories.
    pub node: NodeSection,
    /// Peer-to-peer transport.
    pub network: NetworkSection,
    /// Client JSON-RPC.
    pub rpc: RpcSection,
    /// Prometheus metrics and health.
    pub metrics: MetricsSection,
    /// Consensus timing and empty blocks.
    pub consensus: ConsensusSection,
    /// The transaction pool.
    pub mempool: MempoolSection,
    /// Logging.
    pub log: LogSection,
    /// The L1 rollup contract this node posts to and watches; without it the node runs
    /// without L1 (transactions stop at `finalized`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1: Option<L1Section>,
}

/// `[l1]`: the rollup contract on the L1. `rpc_url`, `chain_id` and `contract` are required;
/// the rest have defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L1Section {
    /// Ethereum JSON-RPC endpoint, `http://` or `https://`.
    pub rpc_url: String,
    /// The chain id the endpoint must report (signatures are valid on that chain only).
    pub chain_id: u64,
    /// The rollup contract's address.
    pub contract: L1Address,
    /// How long each validator in turn has to get a batch on L1 before the next one posts
    /// it. Default 10000.
    #[serde(default = "defaults::post_turn_ms")]
    pub post_turn_ms: u64,
    /// How often the contract and its events are read. Default 1000.
    #[serde(default = "defaults::poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// L1 blocks on top of a batch's block before its transactions count as `settled`.
    /// Default 12.
    #[serde(default = "defaults::settle_blocks")]
    pub settle_blocks: u64,
    /// How long a batch transaction may wait unmined before it is sent again with higher
    /// fees. Default 12000.
    #[serde(default = "defaults::resubmit_after_ms")]
    pub resubmit_after_ms: u64,
    /// Fee raises (25% each) before an attempt is given up and retried later. Default 3.
    #[serde(default = "defaults::fee_bumps")]
    pub fee_bumps: u32,
}

mod defaults {
    pub fn post_turn_ms() -> u64 {
        10_000
    }
    pub fn poll_interval_ms() -> u64 {
        1_000
    }
    pub fn settle_blocks() -> u64 {
        12
    }
    pub fn resubmit_after_ms() -> u64 {
        12_000
    }
    pub fn fee_bumps() -> u32 {
        3
    }
}

/// `[node]`: where things are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// The genesis document. Default `genesis.json`.
    pub genesis: PathBuf,
    /// The ed25519 consensus key file. Default `node_key.json`.
    pub node_key: PathBuf,
    /// The secp256k1 L1 key file. Default `l1_key.json`.
    pub l1_key: PathBuf,
    /// Store and write-ahead log. Default `data`.
    pub data_dir: PathBuf,
    /// How much lower the scheduling priority of the threads serving clients, gossip and
    /// metrics is than that of consensus and the network (a nice increment, 0 to 19; 0 keeps
    /// them equal). Under overload they then yield the CPU to consensus. Default 10.
    pub service_niceness: i32,
}

impl Default for NodeSection {
    fn default() -> NodeSection {
        NodeSection {
            genesis: "genesis.json".into(),
            node_key: "node_key.json".into(),
            l1_key: "l1_key.json".into(),
            data_dir: "data".into(),
            service_niceness: 10,
        }
    }
}

/// A peer to keep a connection with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Its ed25519 key (0x-prefixed hex).
    pub key: Address,
    /// Its UDP address.
    pub address: SocketAddr,
}

/// `[network]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSection {
    /// UDP address for QUIC. Default `0.0.0.0:26600`.
    pub listen: SocketAddr,
    /// Validators (and full nodes) to connect to. Default none.
    pub peers: Vec<PeerEntry>,
    /// Keys of full nodes allowed to connect besides the validators. Default none.
    pub full_nodes: Vec<Address>,
}

impl Default for NetworkSection {
    fn default() -> NetworkSection {
        NetworkSection {
            listen: "0.0.0.0:26600".parse().expect("a valid literal address"),
            peers: Vec::new(),
            full_nodes: Vec::new(),
        }
    }
}

/// `[rpc]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcSection {
    /// HTTP and WebSocket JSON-RPC. Default `127.0.0.1:8545`.
    pub listen: SocketAddr,
    /// Largest request body. Default 1 MiB.
    pub max_request_bytes: u32,
    /// Most client connections at once. Default 1024.
    pub max_connections: u32,
}

impl Default for RpcSection {
    fn default() -> RpcSection {
        RpcSection {
            listen: "127.0.0.1:8545".parse().expect("a valid literal address"),
            max_request_bytes: 1 << 20,
            max_connections: 1_024,
        }
    }
}

/// `[mempool]`: limits of the transaction pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transactions held. Default 50000.
    pub txs_max: usize,
    /// Most encoded bytes held. Default 67108864 (64 MiB).
    pub bytes_max: usize,
    /// Most transactions held per sender. Default 256.
    pub sender_txs_max: usize,
    /// How far a nonce may run ahead of the sender's next one (held until the gap fills).
    /// Default 64.
    pub nonce_gap_max: u64,
    /// Fee increase, in percent, a replacement (same sender and nonce) must offer. Default 10.
    pub replace_bump_percent: u32,
    /// How long a transaction may wait. Default 600000 (10 minutes).
    pub ttl_ms: u64,
    /// Most transactions per gossip message. Default 256 (at most 4096).
    pub gossip_batch_txs_max: usize,
    /// The smallest `retry_after_ms` hint sent with `mempool_full`, and the one a refused
    /// transaction that could execute at once is told; a held one is told the time the chain
    /// needs to include what the pool holds (at most 60000). Either gets up to half as much
    /// again, drawn from its signature. Default 1000.
    pub full_retry_after_ms: u64,
    /// Share of `txs_max` and `bytes_max`, in percent, that clients' transactions may fill;
    /// above it they enter only by outbidding one, while peers' fill the rest. It also bounds
    /// how deep a sudden overload fills the pool. Default 10.
    pub client_share_percent: u8,
}

impl Default for MempoolSection {
    fn default() -> MempoolSection {
        let defaults = MempoolConfig::default();
        MempoolSection {
            txs_max: defaults.txs_max,
            bytes_max: defaults.bytes_max,
            sender_txs_max: defaults.sender_txs_max,
            nonce_gap_max: defaults.nonce_gap_max,
            replace_bump_percent: defaults.replace_bump_percent,
            ttl_ms: defaults.ttl_ms,
            gossip_batch_txs_max: defaults.gossip_batch_txs_max,
            full_retry_after_ms: defaults.full_retry_after_ms,
            client_share_percent: defaults.client_share_percent,
        }
    }
}

/// The most transactions a received gossip message may carry, whatever a peer's settings.
pub const GOSSIP_BATCH_TXS_LIMIT: usize = 4_096;

/// `[metrics]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Prometheus `/metrics` and `/health`. Default `127.0.0.1:9615`.
    pub listen: SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> MetricsSection {
        MetricsSection { listen: "127.0.0.1:9615".parse().expect("a valid literal address") }
    }
}

/// How heights start when no transaction waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyBlocksMode {
    /// At once, empty or not.
    Continuous,
    /// After `empty_block_interval_ms`, or at once when transactions wait.
    Interval,
    /// Only when transactions wait.
    Never,
}

/// `[consensus]`. Defaults suit a LAN or a loopback testnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusSection {
    /// Wait for a proposal in round 0. Default 300.
    pub timeout_propose_ms: u64,
    /// Wait for more prevotes after 2/3 of any. Default 100.
    pub timeout_prevote_ms: u64,
    /// Wait for more precommits after 2/3 of any. Default 100.
    pub timeout_precommit_ms: u64,
    /// Added to each timeout per round. Default 100.
    pub timeout_delta_ms: u64,
    /// `continuous`, `interval` or `never`. Default `interval`.
    pub empty_blocks: EmptyBlocksMode,
    /// Longest time without a block when idle (with `interval`). Default 1000.
    pub empty_block_interval_ms: u64,
    /// Under overload (the pool holds its clients' share and refuses them `mempool_full`), a
    /// block this node proposes holds only as many transactions as keep a height near this
    /// many milliseconds, learnt from the heights it commits; otherwise blocks fill to the
    /// genesis `block_txs_max` and a height takes as long as they do. It trades throughput
    /// under overload for a block interval that stays near its normal value (see
    /// docs/performance.md, Overload). Outside overload a block then holds at most half
    /// again as many transactions as the largest of the last 8. 0 turns both off. Default 15.
    pub proposal_budget_ms: u64,
}

impl Default for ConsensusSection {
    fn default() -> ConsensusSection {
        ConsensusSection {
            timeout_propose_ms: 300,
            timeout_prevote_ms: 100,
            timeout_precommit_ms: 100,
            timeout_delta_ms: 100,
            empty_blocks: EmptyBlocksMode::Interval,
            empty_block_interval_ms: 1_000,
            proposal_budget_ms: 15,
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing` filter such as `info` or `info,tandem_consensus=debug`; `RUST_LOG` wins
    /// when set. Default `info,arc_malachitebft=warn` (the consensus library logs every vote
    /// at info level).
    pub level: String,
    /// `text` or `json`. Default `text`.
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection { level: "info,arc_malachitebft=warn".into(), format: LogFormat::Text }
    }
}

impl L1Section {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &str, reason: &str| {
            Err(ConfigError::Invalid { setting: format!("l1.{setting}"), reason: reason.into() })
        };
        let scheme_ok = self.rpc_url.starts_with("http://") || self.rpc_url.starts_with("https://");
        let has_host = self.rpc_url.parse::<hyper::Uri>().is_ok_and(|uri| uri.host().is_some());
        if !scheme_ok || !has_host {
            return invalid("rpc_url", "must be an http:// or https:// URL");
        }
        if self.chain_id == 0 {
            return invalid("chain_id", "must be the L1's chain id (31337 for anvil)");
        }
        if self.contract == L1Address::default() {
            return invalid("contract", "must be the rollup contract's address");
        }
        for (setting, value, min, max) in [
            ("post_turn_ms", self.post_turn_ms, 1_000, 600_000),
            ("poll_interval_ms", self.poll_interval_ms, 100, 60_000),
            ("resubmit_after_ms", self.resubmit_after_ms, 1_000, 600_000),
        ] {
            if !(min..=max).contains(&value) {
                return invalid(setting, &format!("must be between {min} and {max} milliseconds"));
            }
        }
        if self.settle_blocks > 10_000 {
            return invalid("settle_blocks", "must be at most 10000");
        }
        if self.fee_bumps > 20 {
            return invalid("fee_bumps", "must be at most 20");
        }
        Ok(())
    }
}

/// A configuration that cannot be used, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A setting has a value the node cannot run with.
    #[error("setting {setting}: {reason}")]
    Invalid {
        /// The setting, as `section.field`.
        setting: String,
        /// What is wrong.
        reason: String,
    },
}

const TIMEOUT_MAX_MS: u64 = 60_000;

impl Config {
    /// Reads `config.toml` from `home` and validates it.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join("config.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let config = Config::parse(&text)
            .map_err(|message| ConfigError::Parse { path: path.display().to_string(), message })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (no validation).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a configuration always serializes")
    }

    /// Checks every setting; the first wrong one is named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &str, reason: &str| {
            Err(ConfigError::Invalid { setting: setting.to_string(), reason: reason.to_string() })
        };
        if !(0..=19).contains(&self.node.service_niceness) {
            return invalid("node.service_niceness", "must be between 0 and 19");
        }
        let c = &self.consensus;
        for (setting, value) in [
            ("consensus.timeout_propose_ms", c.timeout_propose_ms),
            ("consensus.timeout_prevote_ms", c.timeout_prevote_ms),
            ("consensus.timeout_precommit_ms", c.timeout_precommit_ms),
        ] {
            if value == 0 || value > TIMEOUT_MAX_MS {
                return invalid(setting, "must be between 1 and 60000 milliseconds");
            }
        }
        if c.timeout_delta_ms > TIMEOUT_MAX_MS {
            return invalid("consensus.timeout_delta_ms", "must be at most 60000 milliseconds");
        }
        if c.empty_blocks == EmptyBlocksMode::Interval
            && (c.empty_block_interval_ms == 0 || c.empty_block_interval_ms > 3_600_000)
        {
            return invalid(
                "consensus.empty_block_interval_ms",
                "must be between 1 and 3600000 milliseconds with empty_blocks = \"interval\"",
            );
        }
        if c.proposal_budget_ms > TIMEOUT_MAX_MS {
            return invalid("consensus.proposal_budget_ms", "must be at most 60000 milliseconds");
        }
        if self.rpc.max_request_bytes < 1_024 {
            return invalid("rpc.max_request_bytes", "must be at least 1024");
        }
        if self.rpc.max_connections == 0 {
            return invalid("rpc.max_connections", "must be at least 1");
        }
        if let Err(error) = self.mempool_config().validate() {
            return invalid(&format!("mempool.{}", error.name), &error.reason);
        }
        if self.mempool.gossip_batch_txs_max > GOSSIP_BATCH_TXS_LIMIT {
            return invalid("mempool.gossip_batch_txs_max", "must be at most 4096");
        }
        let ports = [
            ("network.listen", self.network.listen),
            ("rpc.listen", self.rpc.listen),
            ("metrics.listen", self.metrics.listen),
        ];
        if self.rpc.listen == self.metrics.listen {
            return invalid("metrics.listen", "must differ from rpc.listen");
        }
        if ports.iter().any(|(_, address)| address.port() == 0) {
            let (setting, _) = ports.iter().find(|(_, a)| a.port() == 0).expect("found above");
            return invalid(setting, "needs a port other than 0");
        }
        let mut keys: Vec<Address> = self.network.peers.iter().map(|p| p.key).collect();
        keys.sort();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return invalid("network.peers", "lists a key twice");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid("log.level", "is not a tracing filter (try \"info\" or \"debug\")");
        }
        if let Some(l1) = &self.l1 {
            l1.validate()?;
        }
        Ok(())
    }

    /// The consensus settings in the consensus crate's terms.
    pub fn consensus_config(&self) -> ConsensusConfig {
        let c = &self.consensus;
        ConsensusConfig {
            timeout_propose: Duration::from_millis(c.timeout_propose_ms),
            timeout_prevote: Duration::from_millis(c.timeout_prevote_ms),
            timeout_precommit: Duration::from_millis(c.timeout_precommit_ms),
            timeout_delta: Duration::from_millis(c.timeout_delta_ms),
            empty_blocks: match c.empty_blocks {
                EmptyBlocksMode::Continuous => EmptyBlocks::Continuous,
                EmptyBlocksMode::Never => EmptyBlocks::Never,
                EmptyBlocksMode::Interval => {
                    EmptyBlocks::Interval(Duration::from_millis(c.empty_block_interval_ms))
                }
            },
        }
    }

    /// The pool's settings in the mempool crate's terms.
    pub fn mempool_config(&self) -> MempoolConfig {
        let m = &self.mempool;
        MempoolConfig {
            txs_max: m.txs_max,
            bytes_max: m.bytes_max,
            sender_txs_max: m.sender_txs_max,
            nonce_gap_max: m.nonce_gap_max,
            replace_bump_percent: m.replace_bump_percent,
            ttl_ms: m.ttl_ms,
            gossip_batch_txs_max: m.gossip_batch_txs_max,
            full_retry_after_ms: m.full_retry_after_ms,
            client_share_percent: m.client_share_percent,
            ..MempoolConfig::default()
        }
    }

    /// `path` resolved against the home directory.
    pub fn resolve(home: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            home.join(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_documented_defaults() {
        let config = Config::parse("").expect("parses");
        assert_eq!(config, Config::default());
        config.validate().expect("defaults are valid");
        assert_eq!(config.rpc.listen.to_string(), "127.0.0.1:8545");
        assert_eq!(
            config.consensus_config().empty_blocks,
            EmptyBlocks::Interval(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_written_config_reads_back_the_same() {
        let mut config = Config::default();
        config.network.peers.push(PeerEntry {
            key: Address([3; 32]),
            address: "127.0.0.1:7000".parse().expect("addr"),
        });
        config.consensus.empty_blocks = EmptyBlocksMode::Never;
        config.log.format = LogFormat::Json;
        assert_eq!(Config::parse(&config.to_toml()).expect("parses"), config);
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = Config::parse("[consensus]\ntimeout_propse_ms = 5\n").expect_err("unknown");
        assert!(unknown.contains("timeout_propse_ms"), "{unknown}");
        let wrong_type = Config::parse("[rpc]\nlisten = 8545\n").expect_err("type");
        assert!(wrong_type.contains("listen"), "{wrong_type}");

        let check = |text: &str, setting: &str| {
            let error = Config::parse(text).expect("parses").validate().expect_err("invalid");
            assert!(error.to_string().contains(setting), "{error} should name {setting}");
        };
        check("[consensus]\ntimeout_propose_ms = 0\n", "consensus.timeout_propose_ms");
        check("[consensus]\nempty_block_interval_ms = 0\n", "consensus.empty_block_interval_ms");
        check("[metrics]\nlisten = \"127.0.0.1:8545\"\n", "metrics.listen");
        check("[rpc]\nlisten = \"127.0.0.1:0\"\n", "rpc.listen");
        check("[rpc]\nmax_request_bytes = 10\n", "rpc.max_request_bytes");
        check("[rpc]\nmax_connections = 0\n", "rpc.max_connections");
        check("[node]\nservice_niceness = -5\n", "node.service_niceness");
        check("[mempool]\ntxs_max = 0\n", "mempool.txs_max");
        check("[mempool]\ngossip_batch_txs_max = 5000\n", "mempool.gossip_batch_txs_max");
        check("[log]\nlevel = \"info,=[\"\n", "log.level");
        let l1 = |extra: &str| {
            format!(
                "[l1]\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 31337\n\
                 contract = \"0x{}\"\n{extra}",
                "12".repeat(20)
            )
        };
        let with_l1 = Config::parse(&l1("")).expect("parses");
        with_l1.validate().expect("valid");
        assert_eq!(with_l1.l1.as_ref().map(|l1| l1.post_turn_ms), Some(10_000));
        assert_eq!(Config::parse(&with_l1.to_toml()).expect("reads back"), with_l1);
        check(&l1("post_turn_ms = 10\n"), "l1.post_turn_ms");
        check(&l1("poll_interval_ms = 0\n"), "l1.poll_interval_ms");
        check(&l1("fee_bumps = 100\n"), "l1.fee_bumps");
        check(&l1("").replace("http://127.0.0.1:8545", "ftp://x"), "l1.rpc_url");
        check(&l1("").replace("31337", "0"), "l1.chain_id");
        check(&l1("").replace(&"12".repeat(20), &"00".repeat(20)), "l1.contract");
        let missing =
            Config::parse("[l1]\nrpc_url = \"http://127.0.0.1:8545\"\n").expect_err("no chain id");
        assert!(missing.contains("chain_id"), "{missing}");
        let key = format!("0x{}", "ab".repeat(32));
        check(
            &format!(
                "[[network.peers]]\nkey = \"{key}\"\naddress = \"127.0.0.1:1\"\n\
                 [[network.peers]]\nkey = \"{key}\"\naddress = \"127.0.0.1:2\"\n"
            ),
            "network.peers",
        );
    }
}
