//! The JSON shapes of the client API (PROTOCOL.md, "JSON-RPC 2.0"), shared by the server and
//! the CLI's client so that both read and write exactly the same fields.

use serde::{Deserialize, Serialize};
use tandem_types::{
    Account, AccountProof, Address, BlockHeader, CommitCertificate, Hash, L1Address,
};

/// Method names.
pub mod methods {
    /// `[]` → chain id.
    pub const CHAIN_ID: &str = "tandem_chainId";
    /// `[hex borsh SignedTransaction]` → tx hash.
    pub const SEND_TRANSACTION: &str = "tandem_sendTransaction";
    /// `[tx hash]` → [`super::TransactionStatus`].
    pub const GET_TRANSACTION: &str = "tandem_getTransaction";
    /// `[address, height?]` → [`super::AccountAt`].
    pub const GET_ACCOUNT: &str = "tandem_getAccount";
    /// `[address, height?]` → [`super::ProofAt`].
    pub const GET_PROOF: &str = "tandem_getProof";
    /// `[height | "latest"]` → [`super::BlockSummary`].
    pub const GET_BLOCK: &str = "tandem_getBlock";
    /// `[]` → [`super::NodeStatus`].
    pub const STATUS: &str = "tandem_status";
    /// `["newHeads"]` (WebSocket) → a [`super::HeadNotification`] per decided block.
    pub const SUBSCRIBE: &str = "tandem_subscribe";
    /// The notification method of subscriptions.
    pub const SUBSCRIPTION: &str = "tandem_subscription";
    /// `[subscription id]` → bool.
    pub const UNSUBSCRIBE: &str = "tandem_unsubscribe";
}

/// JSON-RPC error codes of the API; the stable `data.reason` says more.
pub mod codes {
    /// The parameters are missing, of the wrong type or malformed (`invalid_params`).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Storage failure inside the node (`internal`).
    pub const INTERNAL: i32 = -32603;
    /// `tandem_sendTransaction` refused the transaction (one of the protocol's reasons).
    pub const TX_REJECTED: i32 = -32000;
    /// The height asked for is not committed here (`unknown_height`).
    pub const UNKNOWN_HEIGHT: i32 = -32001;
}

/// A transaction's lifecycle: `pending` → `finalized` → `posted` → `settled`, or `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// In a mempool.
    Pending,
    /// In a decided block.
    Finalized,
    /// Its batch is committed on L1.
    Posted,
    /// That L1 block is final.
    Settled,
    /// Not known here (never seen, or it left the pool: see `reason`).
    Unknown,
}

/// `tandem_getTransaction`'s result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStatus {
    /// The transaction hash.
    pub hash: Hash,
    /// Where it stands.
    pub status: TxStatus,
    /// Height of its block, once finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Position in its block, once finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Its batch index, once posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// The L1 transaction that posted its batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_tx_hash: Option<String>,
    /// Why an `unknown` transaction left the pool: `replaced`, `evicted`, `expired` or
    /// `dropped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `tandem_getAccount`'s result: an absent account reads as balance 0, nonce 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAt {
    /// The account's address.
    pub address: Address,
    /// Balance after `height`.
    #[serde(with = "tandem_types::json::u128_string")]
    pub balance: u128,
    /// Nonce after `height`.
    pub nonce: u64,
    /// The height read.
    pub height: u64,
}

/// `tandem_getProof`'s result. At height 0 (genesis) there is no header or certificate: the
/// root is the genesis state root, which a client computes from the genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofAt {
    /// The height proven.
    pub height: u64,
    /// The state root after that height.
    pub state_root: Hash,
    /// The account, or `null` if absent.
    pub account: Option<Account>,
    /// Inclusion or exclusion proof of `account` under `state_root`.
    pub proof: AccountProof,
    /// The header of `height` (its `state_root` is the one above).
    pub header: Option<BlockHeader>,
    /// The header's commit certificate.
    pub certificate: Option<CommitCertificate>,
}

/// `tandem_getBlock`'s result: the header's fields, its hash, the transaction hashes and the
/// certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSummary {
    /// The header, flattened.
    #[serde(flatten)]
    pub header: BlockHeader,
    /// The block hash.
    pub hash: Hash,
    /// The transactions' hashes in block order.
    pub tx_hashes: Vec<Hash>,
    /// The commit certificate.
    pub certificate: CommitCertificate,
}

/// A `newHeads` notification: the header's fields and its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadNotification {
    /// The header, flattened.
    #[serde(flatten)]
    pub header: BlockHeader,
    /// The block hash.
    pub hash: Hash,
}

/// A validator in `tandem_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorStatus {
    /// Its ed25519 key.
    pub address: Address,
    /// Its voting power.
    pub power: u64,
}

/// The sync part of `tandem_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Whether the node is fetching decided blocks (a peer is more than one height ahead).
    pub syncing: bool,
    /// The highest committed height a peer announced.
    pub best_peer_height: u64,
}

/// The mempool part of `tandem_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolStatus {
    /// Transactions held.
    pub txs: usize,
    /// Encoded bytes held.
    pub bytes: usize,
}

/// `tandem_status`'s result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The chain id.
    pub chain_id: u64,
    /// This node's ed25519 key.
    pub address: Address,
    /// The last committed height (0: genesis only).
    pub latest_height: u64,
    /// Its block hash (the genesis hash at height 0).
    pub latest_hash: Hash,
    /// The state root after it.
    pub latest_state_root: Hash,
    /// Timestamp of that block, ms since the Unix epoch.
    pub latest_timestamp_ms: u64,
    /// The round being played at the next height.
    pub round: u32,
    /// The validator set, in genesis order.
    pub validators: Vec<ValidatorStatus>,
    /// The peers connected now.
    pub peers: Vec<Address>,
    /// Catching up.
    pub sync: SyncStatus,
    /// The pool.
    pub mempool: MempoolStatus,
    /// The L1 state: `null` when the node has no `[l1]` configuration.
    pub l1: Option<L1Status>,
}

/// `tandem_status`'s `l1` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Status {
    /// The rollup contract.
    pub contract: L1Address,
    /// Whether the last request to the L1 succeeded.
    pub connected: bool,
    /// The last L1 failure, while requests fail.
    pub error: Option<String>,
    /// The L1's latest block, as last read.
    pub l1_block: Option<u64>,
    /// The batch index the contract expects next.
    pub next_batch_index: Option<u64>,
    /// The last batch on L1.
    pub last_posted: Option<PostedBatchStatus>,
    /// Heights decided here and not yet on L1.
    pub lag_blocks: u64,
    /// L2 time between this node's head and the last height on L1, seconds.
    pub lag_seconds: u64,
}

/// A batch as `tandem_status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedBatchStatus {
    /// The batch index.
    pub batch: u64,
    /// Its first height.
    pub first_height: u64,
    /// Its last height.
    pub last_height: u64,
    /// The L1 block holding it.
    pub l1_block: u64,
    /// The L1 transaction that posted it.
    pub l1_tx_hash: String,
    /// Whether that L1 block has `settle_blocks` blocks on top.
    pub settled: bool,
}
