//! A client of one deployed rollup contract over Ethereum JSON-RPC (alloy), sending from one
//! L1 key.

use alloy::network::EthereumWallet;
use alloy::primitives::{Address as EthAddress, Bytes, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use tandem_types::{Hash, L1Address};

use crate::attestation::{Domain, L1Signer};
use crate::batch::{Batch, BatchHeader};
use crate::contract::TandemRollup;
use crate::error::L1Error;

/// How long a sent transaction may take to be mined before the client gives up waiting.
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How often a sent batch transaction's receipt is asked for.
const RECEIPT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// A sequencer as the contract knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequencer {
    /// Its L1 address (the validator's secp256k1 key).
    pub address: L1Address,
    /// Its weight (the validator's voting power).
    pub weight: u64,
}

/// A batch as it was posted on L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedBatch {
    /// The header from the calldata.
    pub header: BatchHeader,
    /// The batch data from the calldata.
    pub data: Vec<u8>,
    /// The signatures from the calldata.
    pub signatures: Vec<Vec<u8>>,
    /// The L1 transaction that posted it.
    pub l1_tx_hash: [u8; 32],
    /// The L1 block that holds it.
    pub l1_block: u64,
}

/// A `BatchCommitted` event: what the contract recorded of a batch, and where on L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedEvent {
    /// The batch index.
    pub index: u64,
    /// Its first L2 height.
    pub first_height: u64,
    /// Its last L2 height.
    pub last_height: u64,
    /// The state root after its last height.
    pub state_root: Hash,
    /// The L1 transaction that posted it.
    pub l1_tx_hash: [u8; 32],
    /// The L1 block that holds it.
    pub l1_block: u64,
    /// The account that sent it.
    pub poster: L1Address,
}

/// How a batch transaction is sent and, while it is not mined, sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendPolicy {
    /// How long one fee level may wait to be mined before the same transaction (same nonce)
    /// is sent again with higher fees.
    pub resubmit_after: std::time::Duration,
    /// How many times the fees are raised before the attempt is given up.
    pub fee_bumps: u32,
    /// By how much each raise multiplies the fees, in percent (at least the 10% nodes require
    /// of a replacement).
    pub bump_percent: u32,
}

impl Default for SendPolicy {
    fn default() -> SendPolicy {
        SendPolicy {
            resubmit_after: std::time::Duration::from_secs(12),
            fee_bumps: 3,
            bump_percent: 25,
        }
    }
}

/// A mined batch transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentBatch {
    /// Its hash (of the fee level that was mined).
    pub l1_tx_hash: [u8; 32],
    /// Its block.
    pub l1_block: u64,
    /// Gas it used.
    pub gas_used: u64,
}

/// A connection to the rollup contract.
#[derive(Clone, Debug)]
pub struct RollupClient {
    provider: DynProvider,
    contract: EthAddress,
    /// The account that pays, when connected with a key.
    sender: Option<EthAddress>,
}

fn rpc(error: impl std::fmt::Display) -> L1Error {
    L1Error::Rpc(error.to_string())
}

/// The contract's custom error if it refused, else the transport's error.
fn refusal(error: alloy::contract::Error) -> L1Error {
    match error.as_decoded_interface_error::<TandemRollup::TandemRollupErrors>() {
        Some(reason) => L1Error::Refused(Box::new(reason)),
        None => rpc(error),
    }
}

fn provider(url: &str, key: &L1Signer) -> Result<DynProvider, L1Error> {
    let url =
        url.parse().map_err(|error| L1Error::Invalid(format!("L1 RPC URL {url}: {error}")))?;
    let wallet = EthereumWallet::from(key.0.clone());
    // Nonces are read from the node for every transaction: a cached nonce would be consumed
    // by a call the contract refuses at estimation, leaving a gap no later transaction fills.
    Ok(ProviderBuilder::default()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(wallet)
        .connect_http(url)
        .erased())
}

/// Sets the balance of `address` on a development chain (anvil's `anvil_setBalance`), so that
/// validators' L1 keys can pay for gas. Refused by any real chain.
pub async fn set_balance_dev(url: &str, address: L1Address, wei: u128) -> Result<(), L1Error> {
    let url =
        url.parse().map_err(|error| L1Error::Invalid(format!("L1 RPC URL {url}: {error}")))?;
    let provider: alloy::providers::RootProvider = ProviderBuilder::default().connect_http(url);
    let params = (EthAddress::from(address.0), alloy::primitives::U256::from(wei));
    provider
        .raw_request::<_, serde_json::Value>("anvil_setBalance".into(), params)
        .await
        .map(|_| ())
        .map_err(rpc)
}

/// The chain id the endpoint at `url` reports.
pub async fn l1_chain_id(url: &str) -> Result<u64, L1Error> {
    let url =
        url.parse().map_err(|error| L1Error::Invalid(format!("L1 RPC URL {url}: {error}")))?;
    let provider: alloy::providers::RootProvider = ProviderBuilder::default().connect_http(url);
    provider.get_chain_id().await.map_err(rpc)
}

/// Whether the L1's pool refused a transaction because another one of the key waits at its
/// nonce with fees it does not beat by enough.
fn is_replacement_refusal(error: &alloy::contract::Error) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("underpriced") || text.contains("already known")
}

/// Mines one block on a development chain (anvil's `evm_mine`). Refused by any real chain.
pub async fn mine_block_dev(url: &str) -> Result<(), L1Error> {
    let url =
        url.parse().map_err(|error| L1Error::Invalid(format!("L1 RPC URL {url}: {error}")))?;
    let provider: alloy::providers::RootProvider = ProviderBuilder::default().connect_http(url);
    provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await
        .map(|_| ())
        .map_err(rpc)
}

impl RollupClient {
    /// Deploys a new contract for `sequencers` (in rotation order) and the genesis state root,
    /// paid by `key`.
    pub async fn deploy(
        url: &str,
        key: &L1Signer,
        sequencers: &[Sequencer],
        genesis_state_root: Hash,
    ) -> Result<RollupClient, L1Error> {
        let provider = provider(url, key)?;
        let addresses: Vec<EthAddress> =
            sequencers.iter().map(|s| EthAddress::from(s.address.0)).collect();
        let weights: Vec<u64> = sequencers.iter().map(|s| s.weight).collect();
        let root = B256::from(genesis_state_root.0);
        let contract = TandemRollup::deploy(provider.clone(), addresses, weights, root)
            .await
            .map_err(refusal)?;
        let sender = Some(EthAddress::from(key.address().0));
        Ok(RollupClient { contract: *contract.address(), provider, sender })
    }

    /// Connects to the contract at `contract`; fails if no code is there.
    pub async fn connect(
        url: &str,
        key: &L1Signer,
        contract: L1Address,
    ) -> Result<RollupClient, L1Error> {
        let provider = provider(url, key)?;
        let address = EthAddress::from(contract.0);
        let code = provider.get_code_at(address).await.map_err(rpc)?;
        if code.is_empty() {
            return Err(L1Error::NoContract(address.to_string()));
        }
        Ok(RollupClient {
            provider,
            contract: address,
            sender: Some(EthAddress::from(key.address().0)),
        })
    }

    /// Connects without a key, for reading only (auditing); fails if no code is there.
    pub async fn connect_read_only(
        url: &str,
        contract: L1Address,
    ) -> Result<RollupClient, L1Error> {
        let parsed =
            url.parse().map_err(|error| L1Error::Invalid(format!("L1 RPC URL {url}: {error}")))?;
        let provider = ProviderBuilder::default().connect_http(parsed).erased();
        let address = EthAddress::from(contract.0);
        let code = provider.get_code_at(address).await.map_err(rpc)?;
        if code.is_empty() {
            return Err(L1Error::NoContract(address.to_string()));
        }
        Ok(RollupClient { provider, contract: address, sender: None })
    }

    fn instance(&self) -> TandemRollup::TandemRollupInstance<DynProvider> {
        TandemRollup::new(self.contract, self.provider.clone())
    }

    /// The contract's address.
    pub fn address(&self) -> L1Address {
        L1Address(self.contract.0 .0)
    }

    /// The signing domain of this contract on this chain.
    pub async fn domain(&self) -> Result<Domain, L1Error> {
        let chain_id = self.provider.get_chain_id().await.map_err(rpc)?;
        Ok(Domain { chain_id, contract: self.address() })
    }

    /// The index the next batch must have.
    pub async fn next_batch_index(&self) -> Result<u64, L1Error> {
        self.instance().nextBatchIndex().call().await.map_err(refusal)
    }

    /// The state root of the last committed batch (the genesis root before any).
    pub async fn last_state_root(&self) -> Result<Hash, L1Error> {
        let root = self.instance().lastStateRoot().call().await.map_err(refusal)?;
        Ok(Hash(root.0))
    }

    /// The weight a batch's signers must hold together.
    pub async fn quorum_weight(&self) -> Result<u128, L1Error> {
        let weight = self.instance().quorumWeight().call().await.map_err(refusal)?;
        u128::try_from(weight).map_err(|_| L1Error::Invalid("quorum weight above u128".into()))
    }

    /// The contract's own EIP-712 digest of `header` (to check a client's encoding).
    pub async fn batch_digest(&self, batch: &Batch) -> Result<[u8; 32], L1Error> {
        let header = TandemRollup::BatchHeader::from(&batch.header);
        let digest = self.instance().batchDigest(header).call().await.map_err(refusal)?;
        Ok(digest.0)
    }

    /// The L1's latest block number.
    pub async fn block_number(&self) -> Result<u64, L1Error> {
        self.provider.get_block_number().await.map_err(rpc)
    }

    /// The `BatchCommitted` events of L1 blocks `from_block..=to_block`, in index order.
    pub async fn committed_events(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> Result<Vec<CommittedEvent>, L1Error> {
        let events = self
            .instance()
            .BatchCommitted_filter()
            .from_block(from_block)
            .to_block(to_block)
            .query()
            .await
            .map_err(refusal)?;
        let mut committed = Vec::with_capacity(events.len());
        for (event, log) in events {
            let (Some(tx_hash), Some(l1_block)) = (log.transaction_hash, log.block_number) else {
                return Err(L1Error::Rpc("a BatchCommitted log without its transaction".into()));
            };
            committed.push(CommittedEvent {
                index: event.index,
                first_height: event.firstHeight,
                last_height: event.lastHeight,
                state_root: Hash(event.stateRoot.0),
                l1_tx_hash: tx_hash.0,
                l1_block,
                poster: L1Address(event.poster.0 .0),
            });
        }
        committed.sort_by_key(|event| event.index);
        Ok(committed)
    }

    /// Whether the paying account has transactions sent but not mined: its pending nonce is
    /// above its mined one.
    pub async fn has_unmined_transactions(&self) -> Result<bool, L1Error> {
        let sender = self.sender()?;
        let mined = self.provider.get_transaction_count(sender).latest().await.map_err(rpc)?;
        let pending = self.provider.get_transaction_count(sender).pending().await.map_err(rpc)?;
        Ok(pending > mined)
    }

    fn sender(&self) -> Result<EthAddress, L1Error> {
        self.sender.ok_or_else(|| L1Error::Invalid("a read-only client cannot send".into()))
    }

    /// Sends `batch` with `signatures` (ascending signers) and waits until it is mined. While
    /// it is not, the same transaction (same nonce, so at most one of them can be mined) is
    /// sent again with fees raised by `policy`; a transaction of this key already waiting at
    /// that nonce (sent before a restart, say) is replaced the same way. A refusal by the
    /// contract at estimation comes back as [`L1Error::Refused`]; a batch another poster got
    /// on L1 while this one waited as [`L1Error::Superseded`].
    pub async fn send_batch(
        &self,
        batch: &Batch,
        signatures: &[[u8; 65]],
        policy: &SendPolicy,
    ) -> Result<SentBatch, L1Error> {
        let sender = self.sender()?;
        let index = batch.header.index;
        let contract = self.instance();
        let (header, data, signatures) = submit_arguments(batch, signatures);
        let call = contract.submitBatch(header, data, signatures);
        let gas = call.estimate_gas().await.map_err(refusal)?;
        let nonce = self.provider.get_transaction_count(sender).latest().await.map_err(rpc)?;
        let fees = self.provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let (mut max_fee, mut tip) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas);
        let mut sent: Vec<B256> = Vec::new();
        for attempt in 0..=policy.fee_bumps {
            if attempt > 0 {
                if self.next_batch_index().await? > index {
                    if let Some(mined) = self.first_receipt(&sent).await? {
                        return Ok(mined);
                    }
                    return Err(L1Error::Superseded { index });
                }
                let raise =
                    |fee: u128| fee.saturating_mul(100 + u128::from(policy.bump_percent)) / 100 + 1;
                (max_fee, tip) = (raise(max_fee), raise(tip));
            }
            let sending = call
                .clone()
                .from(sender)
                .nonce(nonce)
                .gas(gas.saturating_mul(6) / 5)
                .max_fee_per_gas(max_fee)
                .max_priority_fee_per_gas(tip)
                .send()
                .await;
            match sending {
                Ok(pending) => sent.push(*pending.tx_hash()),
                // Refused by the L1's pool: an earlier fee level may have been mined meanwhile
                // (the nonce is then used; its receipt is looked for below), or another
                // transaction of this key waits at this nonce with fees this level does not
                // beat (the next level will).
                Err(error) if !sent.is_empty() || is_replacement_refusal(&error) => {
                    tracing::debug!(%error, attempt, "l1.send refused by the L1's pool");
                    if sent.is_empty() {
                        continue;
                    }
                }
                Err(error) => return Err(refusal(error)),
            }
            let deadline = tokio::time::Instant::now() + policy.resubmit_after;
            while tokio::time::Instant::now() < deadline {
                if let Some(mined) = self.first_receipt(&sent).await? {
                    return Ok(mined);
                }
                tokio::time::sleep(RECEIPT_POLL).await;
            }
        }
        Err(L1Error::Rpc(format!("batch {index} not mined after {} fee raises", policy.fee_bumps)))
    }

    /// The receipt of whichever of `hashes` was mined, if one was; a reverted one is an error.
    async fn first_receipt(&self, hashes: &[B256]) -> Result<Option<SentBatch>, L1Error> {
        for hash in hashes {
            let Some(receipt) = self.provider.get_transaction_receipt(*hash).await.map_err(rpc)?
            else {
                continue;
            };
            if !receipt.status() {
                return Err(L1Error::Rpc(format!("the batch transaction {hash} reverted")));
            }
            return Ok(Some(SentBatch {
                l1_tx_hash: hash.0,
                l1_block: receipt.block_number.unwrap_or_default(),
                gas_used: receipt.gas_used,
            }));
        }
        Ok(None)
    }

    /// Every committed batch, in index order, as posted: header, data and signatures, read from
    /// the `BatchCommitted` events and the calldata of the transactions that emitted them.
    pub async fn committed_batches(&self) -> Result<Vec<PostedBatch>, L1Error> {
        use alloy::consensus::Transaction as _;
        use alloy::sol_types::SolCall;
        let latest = self.block_number().await?;
        let mut batches = Vec::new();
        for event in self.committed_events(0, latest).await? {
            let tx_hash = B256::from(event.l1_tx_hash);
            let tx = self
                .provider
                .get_transaction_by_hash(tx_hash)
                .await
                .map_err(rpc)?
                .ok_or_else(|| L1Error::Rpc(format!("transaction {tx_hash} not found")))?;
            let call = TandemRollup::submitBatchCall::abi_decode(tx.input()).map_err(|error| {
                L1Error::Invalid(format!(
                    "batch {}: calldata is not submitBatch: {error}",
                    event.index
                ))
            })?;
            batches.push(PostedBatch {
                header: BatchHeader::from(&call.header),
                data: call.data.to_vec(),
                signatures: call.signatures.iter().map(|s| s.to_vec()).collect(),
                l1_tx_hash: event.l1_tx_hash,
                l1_block: event.l1_block,
            });
        }
        Ok(batches)
    }

    /// Submits `batch` with `signatures` (ascending signers) and waits for its receipt;
    /// returns the L1 transaction hash and gas used.
    pub async fn submit_batch(
        &self,
        batch: &Batch,
        signatures: &[[u8; 65]],
    ) -> Result<([u8; 32], u64), L1Error> {
        let contract = self.instance();
        let (header, data, signatures) = submit_arguments(batch, signatures);
        let pending =
            contract.submitBatch(header, data, signatures).send().await.map_err(refusal)?;
        let receipt =
            pending.with_timeout(Some(RECEIPT_TIMEOUT)).get_receipt().await.map_err(rpc)?;
        if !receipt.status() {
            let hash = receipt.transaction_hash;
            return Err(L1Error::Rpc(format!("the batch transaction {hash} reverted")));
        }
        Ok((receipt.transaction_hash.0, receipt.gas_used))
    }
}

/// `submitBatch`'s arguments for `batch` with `signatures` (ascending signers).
fn submit_arguments(
    batch: &Batch,
    signatures: &[[u8; 65]],
) -> (TandemRollup::BatchHeader, Bytes, Vec<Bytes>) {
    let signatures = signatures.iter().map(|s| Bytes::copy_from_slice(s)).collect();
    (TandemRollup::BatchHeader::from(&batch.header), batch.data.clone(), signatures)
}
