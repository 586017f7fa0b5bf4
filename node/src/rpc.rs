//! The client JSON-RPC 2.0 server (jsonrpsee), over HTTP POST and WebSocket on one port.
//!
//! Reads come from the store, which the executor shares (every height is retained);
//! transactions go to the shared mempool; `newHeads` notifications come from the decisions
//! consensus reports. Parameters are positional arrays, checked strictly: a wrong count or
//! type is `invalid_params`; nothing a client sends can panic the node.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tandem_consensus::ConsensusStatus;
use tandem_executor::{ExecutorError, Head, Store, StoreError};
use tandem_mempool::Rejection;
use tandem_network::Transport;
use tandem_types::json::to_hex;
use tandem_types::{Address, Block, CommitCertificate, Genesis, Hash};
use tokio::sync::{broadcast, watch};

use crate::api::{
    codes, methods, AccountAt, BlockSummary, HeadNotification, MempoolStatus, NodeStatus, ProofAt,
    SyncStatus, TransactionStatus, TxStatus, ValidatorStatus,
};
use crate::pool::{PoolStatus, SharedPool};

/// What the RPC handlers read from and write to.
pub struct RpcContext {
    /// The genesis (chain id, validators).
    pub genesis: Genesis,
    /// This node's key.
    pub address: Address,
    /// The store shared with the executor.
    pub store: Arc<Store>,
    /// The mempool.
    pub pool: Arc<SharedPool>,
    /// Consensus progress.
    pub consensus: watch::Receiver<ConsensusStatus>,
    /// Decided headers, for `newHeads`.
    pub heads: broadcast::Sender<HeadNotification>,
    /// The peer-to-peer transport (for the connected peers).
    pub transport: Arc<dyn Transport>,
    /// Largest accepted transaction, encoded bytes.
    pub tx_bytes_max: usize,
    /// What the L1 task knows, when the node has an `[l1]` configuration.
    pub l1: Option<crate::l1::SharedL1View>,
}

/// Server limits.
#[derive(Clone, Copy, Debug)]
pub struct RpcLimits {
    /// Largest request body.
    pub max_request_bytes: u32,
    /// Most connections at once.
    pub max_connections: u32,
}

/// Starts the server on `listen`; it runs until the handle is stopped.
pub async fn start(
    listen: SocketAddr,
    limits: RpcLimits,
    context: RpcContext,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_connections(limits.max_connections)
        .build();
    let server = Server::builder().set_config(config).build(listen).await?;
    let address = server.local_addr()?;
    Ok((address, server.start(module(context)?)))
}

/// The API's methods over `context`.
pub fn module(context: RpcContext) -> anyhow::Result<RpcModule<RpcContext>> {
    let mut module = RpcModule::new(context);
    module.register_method(methods::CHAIN_ID, |params, ctx, _| {
        positional(&params, 0, 0)?;
        Ok::<_, ErrorObjectOwned>(ctx.genesis.chain_id)
    })?;
    module.register_method(methods::SEND_TRANSACTION, |params, ctx, _| send(&params, ctx))?;
    module.register_method(methods::GET_TRANSACTION, |params, ctx, _| transaction(&params, ctx))?;
    module.register_method(methods::GET_ACCOUNT, |params, ctx, _| account(&params, ctx))?;
    module.register_method(methods::GET_PROOF, |params, ctx, _| proof(&params, ctx))?;
    module.register_method(methods::GET_BLOCK, |params, ctx, _| block(&params, ctx))?;
    module.register_method(methods::STATUS, |params, ctx, _| status(&params, ctx))?;
    module.register_subscription(
        methods::SUBSCRIBE,
        methods::SUBSCRIPTION,
        methods::UNSUBSCRIBE,
        |params, pending, ctx, _| subscribe(params, pending, ctx),
    )?;
    Ok(module)
}

fn error(code: i32, reason: &str, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message, Some(json!({ "reason": reason })))
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(codes::INVALID_PARAMS, "invalid_params", message)
}

fn internal(failure: impl std::fmt::Display) -> ErrorObjectOwned {
    tracing::error!(%failure, "rpc.storage");
    error(codes::INTERNAL, "internal", "storage failure")
}

fn rejected(rejection: &Rejection) -> ErrorObjectOwned {
    let data =
        RejectionData { reason: rejection.reason(), retry_after_ms: rejection.retry_after_ms() };
    ErrorObjectOwned::owned(codes::TX_REJECTED, rejection.to_string(), Some(data))
}

/// The `data` of a refused transaction's error: written straight from a struct, not through
/// a JSON map, as a node under overload writes tens of thousands a second.
#[derive(serde::Serialize)]
struct RejectionData {
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

/// The positional parameters, between `min` and `max` of them.
fn positional(params: &Params, min: usize, max: usize) -> Result<Vec<Value>, ErrorObjectOwned> {
    if params.is_object() {
        return Err(invalid_params("parameters must be a positional array"));
    }
    let values: Vec<Value> = match params.as_str() {
        None => Vec::new(),
        Some(_) => {
            params.parse().map_err(|_| invalid_params("parameters must be a positional array"))?
        }
    };
    if values.len() < min || values.len() > max {
        let expected = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(invalid_params(format!(
            "expected {expected} parameters, got {}",
            values.len()
        )));
    }
    Ok(values)
}

fn parse<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, ErrorObjectOwned> {
    serde_json::from_value(value.clone()).map_err(|e| invalid_params(format!("{what}: {e}")))
}

fn head(store: &Store) -> Result<Head, ErrorObjectOwned> {
    store.head().map_err(internal)?.ok_or_else(|| internal("the store has no head"))
}

/// A height parameter (absent: the latest), which must be committed here.
fn height_param(value: Option<&Value>, store: &Store) -> Result<u64, ErrorObjectOwned> {
    let latest = head(store)?.height;
    let height = match value {
        None | Some(Value::Null) => return Ok(latest),
        Some(Value::String(text)) if text == "latest" => return Ok(latest),
        Some(value) => parse::<u64>(value, "height (a number or \"latest\")")?,
    };
    if height > latest {
        return Err(error(
            codes::UNKNOWN_HEIGHT,
            "unknown_height",
            format!("height {height} is not committed (latest is {latest})"),
        ));
    }
    Ok(height)
}

fn send(params: &Params, ctx: &RpcContext) -> Result<Hash, ErrorObjectOwned> {
    // Most calls are one hex string: borrowed straight from the request, without building a
    // JSON value first (under overload a node refuses tens of thousands a second). Anything
    // else, or a string with escapes, goes the general way, which also words the errors.
    let single = params.as_str().and_then(|raw| serde_json::from_str::<(&str,)>(raw).ok());
    let values;
    let text = match single {
        Some((text,)) => text,
        None => {
            values = positional(params, 1, 1)?;
            let Value::String(text) = &values[0] else {
                return Err(invalid_params("the transaction must be a hex string"));
            };
            text.as_str()
        }
    };
    // Refuse an oversized transaction before decoding it.
    let hex_digits = text.strip_prefix("0x").unwrap_or(text).len();
    if hex_digits / 2 > ctx.tx_bytes_max {
        let too_large = Rejection::TooLarge { bytes: hex_digits / 2, max: ctx.tx_bytes_max };
        return Err(rejected(&too_large));
    }
    let bytes = tandem_types::json::parse_hex(text).map_err(|_| {
        error(codes::TX_REJECTED, "bad_encoding", "the transaction is not 0x-prefixed hex")
    })?;
    ctx.pool.admit_client(&bytes).map(|admitted| admitted.hash).map_err(|r| rejected(&r))
}

fn transaction(params: &Params, ctx: &RpcContext) -> Result<TransactionStatus, ErrorObjectOwned> {
    let values = positional(params, 1, 1)?;
    let hash: Hash = parse(&values[0], "transaction hash")?;
    let mut status = TransactionStatus {
        hash,
        status: TxStatus::Unknown,
        height: None,
        index: None,
        batch: None,
        l1_tx_hash: None,
        reason: None,
    };
    // The pool first: a transaction leaves it only after its block is committed, so a miss
    // there followed by a miss in the store cannot skip a finalized transaction.
    let in_pool = ctx.pool.status(&hash);
    if in_pool == PoolStatus::Pending {
        status.status = TxStatus::Pending;
        return Ok(status);
    }
    if let Some((height, index)) = ctx.store.tx_location(&hash).map_err(internal)? {
        status.status = TxStatus::Finalized;
        status.height = Some(height);
        status.index = Some(index);
        if let Some(view) = &ctx.l1 {
            let view = view.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((posted, settled)) =
                view.batch_holding(height, ctx.genesis.params.batch_blocks)
            {
                status.status = if settled { TxStatus::Settled } else { TxStatus::Posted };
                status.batch = Some(posted.index);
                status.l1_tx_hash = Some(to_hex(&posted.l1_tx_hash));
            }
        }
    } else if let PoolStatus::Removed(removal) = in_pool {
        status.reason = Some(removal.reason().to_string());
    }
    Ok(status)
}

fn account(params: &Params, ctx: &RpcContext) -> Result<AccountAt, ErrorObjectOwned> {
    let values = positional(params, 1, 2)?;
    let address: Address = parse(&values[0], "address")?;
    let height = height_param(values.get(1), &ctx.store)?;
    let proven = ctx.store.prove(&address, height).map_err(internal)?;
    let account = proven.account.unwrap_or_default();
    Ok(AccountAt { address, balance: account.balance, nonce: account.nonce, height })
}

fn proof(params: &Params, ctx: &RpcContext) -> Result<ProofAt, ErrorObjectOwned> {
    let values = positional(params, 1, 2)?;
    let address: Address = parse(&values[0], "address")?;
    let height = height_param(values.get(1), &ctx.store)?;
    let proven = ctx.store.prove(&address, height).map_err(internal)?;
    let (header, certificate) = if height == 0 {
        (None, None)
    } else {
        let (block, certificate) = stored_block(&ctx.store, height)?;
        (Some(block.header), Some(certificate))
    };
    Ok(ProofAt {
        height,
        state_root: proven.state_root,
        account: proven.account,
        proof: proven.proof,
        header,
        certificate,
    })
}

/// A committed block with its certificate; both must be there for a committed height.
fn stored_block(
    store: &Store,
    height: u64,
) -> Result<(Block, CommitCertificate), ErrorObjectOwned> {
    let missing = || internal(ExecutorError::Store(StoreError::MissingHeight(height)));
    let block = store.block(height).map_err(internal)?.ok_or_else(missing)?;
    let certificate = store.certificate(height).map_err(internal)?.ok_or_else(missing)?;
    Ok((block, certificate))
}

fn block(params: &Params, ctx: &RpcContext) -> Result<BlockSummary, ErrorObjectOwned> {
    let values = positional(params, 1, 1)?;
    let height = height_param(values.first(), &ctx.store)?;
    if height == 0 {
        return Err(error(
            codes::UNKNOWN_HEIGHT,
            "unknown_height",
            "height 0 is the genesis, not a block (blocks start at 1)",
        ));
    }
    let (block, certificate) = stored_block(&ctx.store, height)?;
    Ok(BlockSummary {
        hash: block.hash(),
        tx_hashes: block.txs.iter().map(|tx| tx.hash()).collect(),
        header: block.header,
        certificate,
    })
}

fn status(params: &Params, ctx: &RpcContext) -> Result<NodeStatus, ErrorObjectOwned> {
    positional(params, 0, 0)?;
    let head = head(&ctx.store)?;
    let consensus = *ctx.consensus.borrow();
    let mempool = ctx.pool.metrics();
    Ok(NodeStatus {
        chain_id: ctx.genesis.chain_id,
        address: ctx.address,
        latest_height: head.height,
        latest_hash: head.block_hash,
        latest_state_root: head.state.state_root,
        latest_timestamp_ms: head.timestamp_ms,
        round: consensus.round,
        validators: ctx
            .genesis
            .validators
            .iter()
            .map(|v| ValidatorStatus { address: v.address, power: v.power })
            .collect(),
        peers: ctx.transport.connected_peers(),
        sync: SyncStatus {
            syncing: consensus.best_peer_height > head.height + 1,
            best_peer_height: consensus.best_peer_height,
        },
        mempool: MempoolStatus { txs: mempool.txs, bytes: mempool.bytes },
        l1: ctx.l1.as_ref().map(|view| {
            let view = view.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let timestamp_of = |height: u64| match height {
                0 => Some(ctx.genesis.genesis_time_ms),
                _ => ctx.store.block(height).ok().flatten().map(|block| block.header.timestamp_ms),
            };
            crate::l1::l1_status(&view, head.height, head.timestamp_ms, timestamp_of)
        }),
    })
}

/// `tandem_subscribe ["newHeads"]`: a header per decided block until the client leaves. A
/// subscriber more than the channel's capacity behind skips the heads it missed.
async fn subscribe(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
) {
    let kind = positional(&params, 1, 1).and_then(|values| parse::<String>(&values[0], "kind"));
    match kind {
        Ok(kind) if kind == "newHeads" => {}
        Ok(kind) => {
            pending.reject(invalid_params(format!("unknown subscription {kind:?}"))).await;
            return;
        }
        Err(error) => {
            pending.reject(error).await;
            return;
        }
    }
    let mut heads = ctx.heads.subscribe();
    let Ok(sink) = pending.accept().await else { return };
    loop {
        tokio::select! {
            () = sink.closed() => return,
            head = heads.recv() => {
                let head = match head {
                    Ok(head) => head,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Ok(raw) = serde_json::value::to_raw_value(&head) else { return };
                if sink.send(SubscriptionMessage::from(raw)).await.is_err() {
                    return;
                }
            }
        }
    }
}
