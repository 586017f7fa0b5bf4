//! Sending batches on a real anvil: a transaction that is not mined is sent again with higher
//! fees under the same nonce, and exactly one of them lands; the watcher's events name the
//! batch, its transaction and its block; a batch already on L1 is refused before anything is
//! spent.

mod common;

use std::time::Duration;

use common::funded_key;
use tandem_l1::TandemRollup::TandemRollupErrors;
use tandem_l1::{
    attest, keccak256, mine_block_dev, Anvil, Batch, BatchHeader, L1Error, L1Signer, RollupClient,
    SendPolicy, Sequencer,
};
use tandem_types::Hash;

const GENESIS_ROOT: Hash = Hash([0x11; 32]);

async fn mine(url: &str) {
    mine_block_dev(url).await.expect("evm_mine");
}

#[tokio::test]
async fn an_unmined_batch_is_resent_with_higher_fees_and_lands_once() {
    let anvil = Anvil::start_with(&["--no-mining"]).expect("anvil");
    let keys: Vec<L1Signer> =
        (1..=4u8).map(|i| L1Signer::from_secret(&[i; 32]).expect("key")).collect();
    let sequencers: Vec<Sequencer> =
        keys.iter().map(|key| Sequencer { address: key.address(), weight: 1 }).collect();
    // Without mining, deployment waits for a block: mine one while it waits.
    let url = anvil.url.clone();
    let deploying = tokio::spawn(async move {
        RollupClient::deploy(&url, &funded_key(), &sequencers, GENESIS_ROOT).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    mine(&anvil.url).await;
    let client = deploying.await.expect("task").expect("deploy");

    let data = vec![5u8; 4_000];
    let header = BatchHeader {
        index: 0,
        first_height: 1,
        last_height: 100,
        prev_state_root: GENESIS_ROOT,
        state_root: Hash([0x22; 32]),
        last_block_hash: Hash([0x33; 32]),
        data_hash: keccak256(&data),
    };
    let batch = Batch { header, data: data.into() };
    let domain = client.domain().await.expect("domain");
    let mut attestations: Vec<_> =
        keys[..3].iter().map(|key| attest(key, &domain, &batch.header).expect("sign")).collect();
    attestations.sort_by_key(|attestation| attestation.signer);
    let signatures: Vec<[u8; 65]> = attestations.iter().map(|a| a.signature).collect();

    let policy =
        SendPolicy { resubmit_after: Duration::from_millis(400), fee_bumps: 5, bump_percent: 25 };
    let sender = client.clone();
    let (sent_batch, sent_signatures) = (batch.clone(), signatures.clone());
    let sending =
        tokio::spawn(
            async move { sender.send_batch(&sent_batch, &sent_signatures, &policy).await },
        );
    // Let it send twice or three times at rising fees, then mine one block.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(client.has_unmined_transactions().await.expect("nonces"), "a transaction waits");
    mine(&anvil.url).await;
    let sent = sending.await.expect("task").expect("mined");
    assert!(!client.has_unmined_transactions().await.expect("nonces"));
    assert_eq!(client.next_batch_index().await.expect("index"), 1);

    let latest = client.block_number().await.expect("block");
    let events = client.committed_events(0, latest).await.expect("events");
    assert_eq!(events.len(), 1, "exactly one of the fee levels landed");
    assert_eq!(events[0].index, 0);
    assert_eq!(events[0].last_height, 100);
    assert_eq!(events[0].state_root, Hash([0x22; 32]));
    assert_eq!(events[0].l1_tx_hash, sent.l1_tx_hash);
    assert_eq!(events[0].l1_block, sent.l1_block);
    assert_eq!(events[0].poster, funded_key().address());

    // The same batch again: the contract refuses it at estimation; nothing is sent.
    let again = client.send_batch(&batch, &signatures, &SendPolicy::default()).await;
    match again {
        Err(L1Error::Refused(reason)) => {
            assert!(matches!(*reason, TandemRollupErrors::WrongBatchIndex(_)), "{reason:?}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!client.has_unmined_transactions().await.expect("nonces"));
}
