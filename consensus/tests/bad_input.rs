//! Bad input from peers: garbage, wrong chain, far heights, bad signatures, the wrong proposer,
//! invalid blocks and certificates are rejected with a reason, never a panic.

use tandem_consensus::{
    BlockSource, ConsensusConfig, ConsensusCore, Rejection, SyncMessage, WireMessage,
};
use tandem_executor::{Executor, SignatureCheck};
use tandem_types::{
    sha256, ChainParams, CommitCertificate, CommitSignature, Genesis, GenesisAccount,
    GenesisValidator, Hash, L1Address, SecretKey, Signature, SignedTransaction, Vote, VoteKind,
};

const CHAIN_ID: u64 = 9;

fn key(role: &str, index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[role.as_bytes(), &index.to_le_bytes()].concat()).0)
}

struct Empty;

impl BlockSource for Empty {
    fn candidates(&mut self, _height: u64, _limit: usize) -> Vec<SignedTransaction> {
        Vec::new()
    }
}

fn setup() -> (tempfile::TempDir, Vec<SecretKey>, ConsensusCore<Empty>, Executor) {
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    let genesis = Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 0,
        params: ChainParams {
            min_fee: 1,
            block_txs_max: 10,
            block_bytes_max: 1 << 20,
            batch_blocks: 10,
        },
        validators: keys
            .iter()
            .map(|k| GenesisValidator {
                address: k.address(),
                l1_address: L1Address([1; 20]),
                power: 1,
            })
            .collect(),
        accounts: vec![GenesisAccount { address: key("account", 0).address(), balance: 10 }],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let executor = Executor::open(&dir.path().join("a.redb"), genesis.clone()).expect("open");
    let helper = Executor::open(&dir.path().join("b.redb"), genesis).expect("open");
    let mut core =
        ConsensusCore::new(executor, keys[0].clone(), Empty, &ConsensusConfig::default());
    core.start(1).expect("start");
    (dir, keys, core, helper)
}

fn rejection(result: Result<Vec<tandem_consensus::Output>, Rejection>) -> Rejection {
    result.expect_err("rejected")
}

#[test]
fn garbage_and_wrong_messages_are_rejected_with_a_reason() {
    let (_dir, keys, mut core, helper) = setup();
    for garbage in [&b""[..], &[7u8; 3], &[0u8; 200], &[9u8; 1000]] {
        assert!(matches!(
            rejection(core.on_message(2, garbage).expect("no fatal")),
            Rejection::Malformed(_)
        ));
        assert!(matches!(
            rejection(core.on_sync_message(2, keys[1].address(), garbage).expect("no fatal")),
            Rejection::Malformed(_)
        ));
    }
    let vote = |chain_id, height| Vote {
        chain_id,
        height,
        round: 0,
        kind: VoteKind::Prevote,
        block_hash: None,
        validator: keys[1].address(),
    };
    let wrong_chain =
        WireMessage::Vote { vote: vote(CHAIN_ID + 1, 1), signature: Signature([0; 64]) };
    assert_eq!(
        rejection(core.on_message(2, &wrong_chain.to_bytes()).expect("no fatal")),
        Rejection::WrongChain(CHAIN_ID + 1)
    );
    let far = WireMessage::Vote {
        vote: vote(CHAIN_ID, 1_000),
        signature: vote(CHAIN_ID, 1_000).sign(&keys[1]),
    };
    assert_eq!(
        rejection(core.on_message(2, &far.to_bytes()).expect("no fatal")),
        Rejection::WrongHeight { found: 1_000, current: 1 }
    );
    // A vote with a bad signature or from a stranger is dropped inside consensus: no output, no panic.
    let forged = WireMessage::Vote { vote: vote(CHAIN_ID, 1), signature: Signature([3; 64]) };
    assert_eq!(core.on_message(2, &forged.to_bytes()).expect("no fatal"), Ok(Vec::new()));
    let mut stranger_vote = vote(CHAIN_ID, 1);
    stranger_vote.validator = key("stranger", 0).address();
    let stranger = WireMessage::Vote {
        signature: stranger_vote.sign(&key("stranger", 0)),
        vote: stranger_vote,
    };
    assert_eq!(core.on_message(2, &stranger.to_bytes()).expect("no fatal"), Ok(Vec::new()));

    // Height 1, round 0 belongs to validator 1 under the rotation.
    let built =
        helper.build(keys[1].address(), 5, Vec::new(), SignatureCheck::Verify).expect("build");
    let proposal = |proposer: &SecretKey, block: tandem_types::Block, signer: &SecretKey| {
        let unsigned = WireMessage::Proposal {
            height: 1,
            round: 0,
            pol_round: None,
            proposer: proposer.address(),
            block: block.clone(),
            signature: Signature([0; 64]),
        };
        let bytes = proposal_signing_bytes(&unsigned);
        WireMessage::Proposal {
            height: 1,
            round: 0,
            pol_round: None,
            proposer: proposer.address(),
            block,
            signature: signer.sign(&bytes),
        }
    };
    let wrong_proposer = proposal(&keys[2], built.block.clone(), &keys[2]);
    assert_eq!(
        rejection(core.on_message(2, &wrong_proposer.to_bytes()).expect("no fatal")),
        Rejection::WrongProposer
    );
    let badly_signed = proposal(&keys[1], built.block.clone(), &keys[3]);
    assert_eq!(
        rejection(core.on_message(2, &badly_signed.to_bytes()).expect("no fatal")),
        Rejection::BadSignature
    );
    let mut invalid_block = built.block.clone();
    invalid_block.header.state_root = Hash([5; 32]);
    let invalid = proposal(&keys[1], invalid_block, &keys[1]);
    assert!(matches!(
        rejection(core.on_message(2, &invalid.to_bytes()).expect("no fatal")),
        Rejection::InvalidBlock(_)
    ));
    let good = proposal(&keys[1], built.block.clone(), &keys[1]);
    assert!(core.on_message(2, &good.to_bytes()).expect("no fatal").is_ok());

    // Sync: a block whose certificate lacks a quorum is refused and nothing is committed.
    let block_hash = built.block.hash();
    let signatures = keys[..2]
        .iter()
        .map(|k| {
            let precommit = Vote {
                chain_id: CHAIN_ID,
                height: 1,
                round: 0,
                kind: VoteKind::Precommit,
                block_hash: Some(block_hash),
                validator: k.address(),
            };
            CommitSignature { validator: k.address(), signature: precommit.sign(k) }
        })
        .collect();
    let weak = CommitCertificate { height: 1, round: 0, block_hash, signatures };
    let response = SyncMessage::Blocks { blocks: vec![(built.block.clone(), weak)] };
    assert!(matches!(
        rejection(
            core.on_sync_message(3, keys[1].address(), &response.to_bytes()).expect("no fatal")
        ),
        Rejection::InvalidBlock(_)
    ));
    assert_eq!(core.executor().head().height, 0);
}

/// The bytes a proposal's signature covers, rebuilt the way validators rebuild them.
fn proposal_signing_bytes(message: &WireMessage) -> Vec<u8> {
    let WireMessage::Proposal { height, round, pol_round, proposer, block, .. } = message else {
        unreachable!()
    };
    let mut bytes = tandem_consensus::PROPOSAL_SIGNING_DOMAIN.to_vec();
    bytes.extend_from_slice(&CHAIN_ID.to_le_bytes());
    bytes.extend_from_slice(&height.to_le_bytes());
    bytes.push(1);
    bytes.extend_from_slice(&round.to_le_bytes());
    bytes.extend_from_slice(&block.hash().0);
    match pol_round {
        None => bytes.push(0),
        Some(r) => {
            bytes.push(1);
            bytes.extend_from_slice(&r.to_le_bytes());
        }
    }
    bytes.extend_from_slice(&proposer.0);
    bytes
}

#[test]
fn arbitrary_bytes_never_panic() {
    let (_dir, keys, mut core, _helper) = setup();
    let mut state = 0x1234_5678_9abc_def0u64;
    for length in 0..400usize {
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let _ = core.on_message(2, &bytes).expect("no fatal");
        let _ = core.on_sync_message(2, keys[1].address(), &bytes).expect("no fatal");
    }
    // Mutations of a valid message: every single-byte change is handled.
    let vote = Vote {
        chain_id: CHAIN_ID,
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block_hash: None,
        validator: keys[1].address(),
    };
    let valid = WireMessage::Vote { signature: vote.sign(&keys[1]), vote }.to_bytes();
    for index in 0..valid.len() {
        let mut mutated = valid.clone();
        mutated[index] ^= 0x5a;
        let _ = core.on_message(2, &mutated).expect("no fatal");
    }
}
