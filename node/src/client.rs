//! The client commands of the CLI: `tandem tx transfer`, `tandem account` and
//! `tandem status`, over a node's JSON-RPC.
//!
//! `tandem account --prove` trusts only the genesis file: it checks the header's commit
//! certificate against the genesis validator set, the header against the proven root, and
//! the account proof against that root, all locally.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use tandem_types::json::to_hex;
use tandem_types::{Action, Address, Genesis, Hash, SecretKey, Transaction};

use crate::api::{methods, AccountAt, NodeStatus, ProofAt, TransactionStatus, TxStatus};

/// How long `tx transfer` waits for finality.
const FINALITY_WAIT: Duration = Duration::from_secs(30);
/// How often it asks.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A JSON-RPC client of one node.
pub fn connect(url: &str) -> anyhow::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(10))
        .build(url)
        .with_context(|| format!("connecting to {url}"))
}

/// What `tandem tx transfer` sends.
pub struct Transfer {
    /// The recipient.
    pub to: Address,
    /// Amount.
    pub amount: u128,
    /// Fee.
    pub fee: u128,
    /// Nonce; the sender's committed nonce if absent.
    pub nonce: Option<u64>,
    /// Wait until the transaction is finalized.
    pub wait: bool,
}

/// Signs and submits a transfer from `key`, then (if asked) follows it to finality.
pub async fn transfer(rpc: &str, key: &SecretKey, transfer: Transfer) -> anyhow::Result<()> {
    let client = connect(rpc)?;
    let chain_id: u64 = client.request(methods::CHAIN_ID, rpc_params![]).await?;
    let nonce = match transfer.nonce {
        Some(nonce) => nonce,
        None => {
            let account: AccountAt =
                client.request(methods::GET_ACCOUNT, rpc_params![key.address()]).await?;
            account.nonce
        }
    };
    let tx = Transaction {
        chain_id,
        sender: key.address(),
        nonce,
        fee: transfer.fee,
        action: Action::Transfer { to: transfer.to, amount: transfer.amount },
    }
    .sign(key);
    let encoded = to_hex(&tx.to_bytes());
    let hash: Hash = client
        .request(methods::SEND_TRANSACTION, rpc_params![encoded])
        .await
        .context("the node refused the transaction")?;
    println!("sent {hash} (from {} nonce {nonce})", key.address());
    if !transfer.wait {
        return Ok(());
    }
    let deadline = Instant::now() + FINALITY_WAIT;
    loop {
        let status: TransactionStatus =
            client.request(methods::GET_TRANSACTION, rpc_params![hash]).await?;
        match status.status {
            TxStatus::Finalized | TxStatus::Posted | TxStatus::Settled => {
                let height = status.height.unwrap_or_default();
                let index = status.index.unwrap_or_default();
                println!("finalized at height {height}, index {index}");
                return Ok(());
            }
            TxStatus::Unknown if status.reason.is_some() => {
                bail!("the transaction left the pool: {}", status.reason.unwrap_or_default())
            }
            _ if Instant::now() > deadline => {
                bail!(
                    "not finalized after {} s (status {:?})",
                    FINALITY_WAIT.as_secs(),
                    status.status
                )
            }
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// Prints an account; with `genesis`, fetches a proof and verifies it locally first.
pub async fn account(
    rpc: &str,
    address: Address,
    height: Option<u64>,
    genesis: Option<&Genesis>,
) -> anyhow::Result<()> {
    let client = connect(rpc)?;
    let Some(genesis) = genesis else {
        let account: AccountAt = match height {
            Some(height) => client.request(methods::GET_ACCOUNT, rpc_params![address, height]),
            None => client.request(methods::GET_ACCOUNT, rpc_params![address]),
        }
        .await?;
        println!(
            "{} balance {} nonce {} at height {}",
            account.address, account.balance, account.nonce, account.height
        );
        return Ok(());
    };
    let proven: ProofAt = match height {
        Some(height) => client.request(methods::GET_PROOF, rpc_params![address, height]),
        None => client.request(methods::GET_PROOF, rpc_params![address]),
    }
    .await?;
    let (signed, total) = verify_proof(&proven, &address, genesis)?;
    let account = proven.account.unwrap_or_default();
    let presence = if proven.account.is_some() { "present" } else { "absent" };
    println!(
        "{address} balance {} nonce {} at height {} ({presence}; proof verified against state \
         root {}, certificate signed by {signed} of {total} power)",
        account.balance, account.nonce, proven.height, proven.state_root
    );
    Ok(())
}

/// Checks a proof answer against the genesis alone; returns the certificate's signed power
/// and the total power.
pub fn verify_proof(
    proven: &ProofAt,
    address: &Address,
    genesis: &Genesis,
) -> anyhow::Result<(u64, u64)> {
    let (Some(header), Some(certificate)) = (&proven.header, &proven.certificate) else {
        bail!(
            "no certificate at height {} (nothing is decided yet; ask again later)",
            proven.height
        );
    };
    let validators = genesis.validator_set().context("the genesis validator set")?;
    ensure!(header.chain_id == genesis.chain_id, "the header is for chain {}", header.chain_id);
    ensure!(header.height == proven.height, "the header is for height {}", header.height);
    ensure!(
        header.state_root == proven.state_root,
        "the header's state root {} differs from the proven root {}",
        header.state_root,
        proven.state_root
    );
    let signed = certificate
        .verify(genesis.chain_id, header.height, &header.hash(), &validators)
        .context("the header's certificate does not verify")?;
    proven
        .proof
        .verify(&proven.state_root, address, proven.account.as_ref())
        .context("the account proof does not verify")?;
    Ok((signed, validators.total_power()))
}

/// Prints a node's status (as JSON with `json`).
pub async fn status(rpc: &str, json: bool) -> anyhow::Result<()> {
    let client = connect(rpc)?;
    let status: NodeStatus = client.request(methods::STATUS, rpc_params![]).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "chain {} node {}\nheight {} hash {} state root {}\nround {} peers {}/{} syncing {} \
         (best peer height {})\nmempool {} txs, {} bytes",
        status.chain_id,
        status.address,
        status.latest_height,
        status.latest_hash,
        status.latest_state_root,
        status.round,
        status.peers.len(),
        status.validators.len().saturating_sub(1),
        status.sync.syncing,
        status.sync.best_peer_height,
        status.mempool.txs,
        status.mempool.bytes,
    );
    println!("{}", l1_line(status.l1.as_ref()));
    Ok(())
}

/// The L1 part of `tandem status`.
fn l1_line(l1: Option<&crate::api::L1Status>) -> String {
    let Some(l1) = l1 else { return "l1 not configured".into() };
    let connection = match (&l1.error, l1.connected) {
        (Some(error), false) => format!("unreachable ({error})"),
        _ => format!("block {}", l1.l1_block.map_or("?".into(), |block| block.to_string())),
    };
    let posted = match &l1.last_posted {
        Some(posted) => format!(
            "last batch {} (heights {}..={}) in L1 block {}{}",
            posted.batch,
            posted.first_height,
            posted.last_height,
            posted.l1_block,
            if posted.settled { ", settled" } else { "" }
        ),
        None => "no batch posted yet".into(),
    };
    format!(
        "l1 contract {:?} {connection}\n{posted}; lag {} blocks, {} s",
        l1.contract, l1.lag_blocks, l1.lag_seconds
    )
}
