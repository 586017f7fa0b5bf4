//! `tandem audit` against a real anvil: batches of a real chain (executed blocks with commit
//! certificates) posted with the committee's signatures pass; a batch whose posted root was
//! forged, and one whose data carries a block with a certificate below the quorum, are each
//! named with the reason, although the contract accepted them (it cannot re-execute).

use std::process::Command;

use tandem_executor::{Executor, SignatureCheck};
use tandem_l1::{anvil_funded_key, attest, Anvil, Batch, L1Signer, RollupClient, Sequencer};
use tandem_types::{
    sha256, Action, Block, ChainParams, CommitCertificate, CommitSignature, Genesis,
    GenesisAccount, GenesisValidator, Hash, SecretKey, Transaction,
};

const CHAIN_ID: u64 = 77;
const BATCH_BLOCKS: u64 = 3;

struct Committee {
    keys: Vec<SecretKey>,
    l1_keys: Vec<L1Signer>,
    accounts: Vec<SecretKey>,
    genesis: Genesis,
}

fn committee() -> Committee {
    let seed = |role: &str, i: u8| sha256(&[role.as_bytes(), &[i]].concat()).0;
    let keys: Vec<SecretKey> = (0..4).map(|i| SecretKey::from_seed(&seed("v", i))).collect();
    let l1_keys: Vec<L1Signer> =
        (0..4).map(|i| L1Signer::from_secret(&seed("l1", i)).expect("key")).collect();
    let accounts: Vec<SecretKey> = (0..3).map(|i| SecretKey::from_seed(&seed("a", i))).collect();
    let mut funded: Vec<GenesisAccount> = accounts
        .iter()
        .map(|k| GenesisAccount { address: k.address(), balance: 1_000_000 })
        .collect();
    funded.sort_by_key(|account| account.address);
    let genesis = Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 1_700_000_000_000,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 100,
            block_bytes_max: 1 << 20,
            batch_blocks: BATCH_BLOCKS,
        },
        validators: keys
            .iter()
            .zip(&l1_keys)
            .map(|(k, l1)| GenesisValidator {
                address: k.address(),
                l1_address: l1.address(),
                power: 1,
            })
            .collect(),
        accounts: funded,
    };
    Committee { keys, l1_keys, accounts, genesis }
}

fn certify(block: &Block, signers: &[SecretKey]) -> CommitCertificate {
    let mut certificate = CommitCertificate {
        height: block.header.height,
        round: 0,
        block_hash: block.hash(),
        signatures: vec![],
    };
    certificate.signatures = signers
        .iter()
        .map(|key| CommitSignature {
            validator: key.address(),
            signature: certificate.precommit(CHAIN_ID, key.address()).sign(key),
        })
        .collect();
    certificate
}

/// Six decided blocks (two batches), each with a transfer, certified by all four validators.
fn chain(committee: &Committee) -> Vec<(Block, CommitCertificate)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut executor =
        Executor::open(&dir.path().join("chain.redb"), committee.genesis.clone()).expect("open");
    let mut blocks = Vec::new();
    for height in 1..=6u64 {
        let sender = &committee.accounts[(height % 3) as usize];
        let nonce = executor.account(&sender.address()).map_or(0, |a| a.nonce);
        let tx = Transaction {
            chain_id: CHAIN_ID,
            sender: sender.address(),
            nonce,
            fee: 1,
            action: Action::Transfer {
                to: committee.accounts[0].address(),
                amount: height as u128,
            },
        }
        .sign(sender);
        let proposer = committee.keys[(height % 4) as usize].address();
        let built = executor
            .build(proposer, 1_700_000_000_000 + height, vec![tx], SignatureCheck::Verify)
            .expect("build");
        let certificate = certify(&built.block, &committee.keys);
        executor.commit(&built.block, &certificate, built.outcome).expect("commit");
        blocks.push((built.block, certificate));
    }
    blocks
}

async fn deploy(committee: &Committee, anvil: &Anvil) -> RollupClient {
    let root = tandem_node::deploy::genesis_state_root(&committee.genesis).expect("root");
    let sequencers: Vec<Sequencer> =
        committee.l1_keys.iter().map(|k| Sequencer { address: k.address(), weight: 1 }).collect();
    RollupClient::deploy(&anvil.url, &anvil_funded_key(), &sequencers, root).await.expect("deploy")
}

/// Posts `batch` signed by the whole committee (the contract checks only the signatures).
async fn post(committee: &Committee, client: &RollupClient, batch: &Batch) {
    let domain = client.domain().await.expect("domain");
    let mut attestations: Vec<_> = committee
        .l1_keys
        .iter()
        .map(|k| attest(k, &domain, &batch.header).expect("sign"))
        .collect();
    attestations.sort_by_key(|a| a.signer);
    let signatures: Vec<[u8; 65]> = attestations.iter().map(|a| a.signature).collect();
    client.submit_batch(batch, &signatures).await.expect("the contract accepts it");
}

async fn audit(
    committee: &Committee,
    anvil: &Anvil,
    client: &RollupClient,
) -> Vec<tandem_node::audit::BatchVerdict> {
    tandem_node::audit::audit(&anvil.url, client.address(), &committee.genesis)
        .await
        .expect("audit runs")
}

#[tokio::test]
async fn honest_batches_pass_and_forged_ones_are_named() {
    let committee = committee();
    let blocks = chain(&committee);
    let genesis_root = tandem_node::deploy::genesis_state_root(&committee.genesis).expect("root");

    // Honest: both batches verify.
    let anvil = Anvil::start().expect("anvil");
    let client = deploy(&committee, &anvil).await;
    let first = Batch::build(0, BATCH_BLOCKS, genesis_root, &blocks[..3]).expect("batch 0");
    let second =
        Batch::build(1, BATCH_BLOCKS, first.header.state_root, &blocks[3..]).expect("batch 1");
    post(&committee, &client, &first).await;
    post(&committee, &client, &second).await;
    let verdicts = audit(&committee, &anvil, &client).await;
    assert_eq!(verdicts.len(), 2);
    assert!(verdicts.iter().all(|v| v.result.is_ok()), "{verdicts:?}");

    // A forged root in batch 1: batch 0 passes, batch 1 is named.
    let anvil = Anvil::start().expect("anvil");
    let client = deploy(&committee, &anvil).await;
    post(&committee, &client, &first).await;
    let mut forged = second.clone();
    forged.header.state_root = Hash([0xee; 32]);
    post(&committee, &client, &forged).await;
    let verdicts = audit(&committee, &anvil, &client).await;
    assert!(verdicts[0].result.is_ok());
    let reason = verdicts[1].result.as_ref().expect_err("forged root");
    assert!(reason.contains("re-execution gives"), "{reason}");

    // A block certified by only two of four validators, in batch 0.
    let anvil = Anvil::start().expect("anvil");
    let client = deploy(&committee, &anvil).await;
    let mut weak = blocks[..3].to_vec();
    weak[1].1 = certify(&weak[1].0, &committee.keys[..2]);
    let weak_batch = Batch::build(0, BATCH_BLOCKS, genesis_root, &weak).expect("batch 0");
    post(&committee, &client, &weak_batch).await;
    let verdicts = audit(&committee, &anvil, &client).await;
    assert_eq!(verdicts.len(), 1);
    let reason = verdicts[0].result.as_ref().expect_err("weak certificate");
    assert!(reason.contains("height 2: certificate"), "{reason}");

    // The CLI exits non-zero and names the batch.
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["audit", "--l1-rpc", &anvil.url])
        .arg("--contract")
        .arg(format!("{:?}", client.address()))
        .arg("--genesis")
        .arg(write_genesis(&committee.genesis).path().join("genesis.json"))
        .output()
        .expect("tandem audit runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("batch 0 FAILED: height 2: certificate"), "{stdout}");
}

fn write_genesis(genesis: &Genesis) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("genesis.json"), genesis.to_json()).expect("write");
    dir
}
