//! `tandem audit`: checks every batch committed on L1 against nothing but the L1 and the
//! genesis file.
//!
//! For each `BatchCommitted` event, in index order, the batch is read back from the calldata of
//! the transaction that posted it. The audit checks that the batches chain (index, heights,
//! previous root), that the data hash is the data's, that the signers are distinct sequencers
//! holding the quorum, that every block's commit certificate verifies against the genesis
//! validator set, and re-executes every block from genesis (signatures included): each block
//! must reach the root in its header, and each batch's posted root must be the re-executed
//! root after its last height. It stops at the first batch that fails and names the reason.

use std::collections::BTreeSet;

use anyhow::Context;
use tandem_executor::{Durability, Executor, SignatureCheck};
use tandem_l1::{
    batch_digest, decode_batch_data, keccak256, recover_signer, Domain, PostedBatch, RollupClient,
};
use tandem_types::{Genesis, L1Address};

/// One audited batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchVerdict {
    /// The batch index.
    pub index: u64,
    /// What the audit says: `ok` with the heights and root, or why it failed.
    pub result: Result<String, String>,
}

/// Audits every committed batch of the contract at `contract`; stops after the first failure.
pub async fn audit(
    l1_rpc: &str,
    contract: L1Address,
    genesis: &Genesis,
) -> anyhow::Result<Vec<BatchVerdict>> {
    let client = RollupClient::connect_read_only(l1_rpc, contract)
        .await
        .with_context(|| format!("reading the rollup contract through {l1_rpc}"))?;
    let domain = client.domain().await?;
    let batches = client.committed_batches().await?;
    let dir = tempfile::tempdir().context("a temporary directory for re-execution")?;
    let mut executor = Executor::open(&dir.path().join("audit.redb"), genesis.clone())
        .context("the genesis state")?;
    let mut verdicts = Vec::with_capacity(batches.len());
    for (expected_index, batch) in batches.iter().enumerate() {
        let result = check_batch(&mut executor, genesis, &domain, expected_index as u64, batch);
        let failed = result.is_err();
        verdicts.push(BatchVerdict { index: batch.header.index, result });
        if failed {
            break;
        }
    }
    Ok(verdicts)
}

fn check_batch(
    executor: &mut Executor,
    genesis: &Genesis,
    domain: &Domain,
    expected_index: u64,
    batch: &PostedBatch,
) -> Result<String, String> {
    let header = &batch.header;
    if header.index != expected_index {
        return Err(format!("index {} where {expected_index} was expected", header.index));
    }
    if keccak256(&batch.data) != header.data_hash {
        return Err("the data does not hash to the posted data hash".into());
    }
    check_signers(genesis, domain, batch)?;
    let head = *executor.head();
    if header.prev_state_root != head.state.state_root {
        return Err(format!(
            "previous root {} but the chain's root after height {} is {}",
            header.prev_state_root, head.height, head.state.state_root
        ));
    }
    if header.first_height != head.height + 1 || header.last_height < header.first_height {
        return Err(format!(
            "heights {}..={} do not continue height {}",
            header.first_height, header.last_height, head.height
        ));
    }
    let blocks = decode_batch_data(&batch.data).map_err(|error| format!("batch data: {error}"))?;
    let validators = executor.validators().clone();
    for (position, (block, certificate)) in blocks.iter().enumerate() {
        let height = block.header.height;
        if height != header.first_height + position as u64 {
            return Err(format!("block {position} of the data is height {height}"));
        }
        certificate
            .verify(genesis.chain_id, height, &block.hash(), &validators)
            .map_err(|error| format!("height {height}: certificate: {error}"))?;
        let outcome = executor
            .execute(block, SignatureCheck::Verify)
            .map_err(|error| format!("height {height}: does not re-execute: {error}"))?;
        executor
            .commit_with(block, certificate, outcome, Durability::Deferred)
            .map_err(|error| format!("height {height}: local store: {error}"))?;
    }
    let head = executor.head();
    if head.height != header.last_height {
        return Err(format!(
            "the data ends at height {} but the header says {}",
            head.height, header.last_height
        ));
    }
    if head.state.state_root != header.state_root {
        return Err(format!(
            "posted root {} but re-execution gives {}",
            header.state_root, head.state.state_root
        ));
    }
    if head.block_hash != header.last_block_hash {
        return Err(format!(
            "posted last block hash {} is not {}",
            header.last_block_hash, head.block_hash
        ));
    }
    Ok(format!(
        "heights {}..={} root {} ok",
        header.first_height, header.last_height, header.state_root
    ))
}

/// The signers must be distinct genesis validators holding more than 2/3 of the power.
fn check_signers(genesis: &Genesis, domain: &Domain, batch: &PostedBatch) -> Result<(), String> {
    let digest = batch_digest(domain, &batch.header);
    let mut signers = BTreeSet::new();
    let mut signed: u128 = 0;
    for (position, signature) in batch.signatures.iter().enumerate() {
        let bytes: [u8; 65] = signature
            .as_slice()
            .try_into()
            .map_err(|_| format!("signature {position} is not 65 bytes"))?;
        let signer = recover_signer(&digest, &bytes)
            .ok_or_else(|| format!("signature {position} does not recover"))?;
        let validator = genesis
            .validators
            .iter()
            .find(|v| v.l1_address == signer)
            .ok_or_else(|| format!("signer {signer:?} is not a genesis validator"))?;
        if signers.insert(signer) {
            signed += u128::from(validator.power);
        }
    }
    let total: u128 = genesis.validators.iter().map(|v| u128::from(v.power)).sum();
    if signed * 3 <= total * 2 {
        return Err(format!("signers hold {signed} of {total} power, not more than 2/3"));
    }
    Ok(())
}
