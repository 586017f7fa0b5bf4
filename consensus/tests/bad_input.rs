//! Bad input from peers: garbage, wrong chain, far heights, bad signatures, the wrong proposer,
//! invalid blocks and certificates are rejected with a reason, never a panic.

use tandem_consensus::{
    CertificateKind, ConsensusConfig, ConsensusCore, Rejection, SyncMessage, WireMessage,
};
use tandem_executor::{Executor, SignatureCheck};
use tandem_types::{
    CommitCertificate, CommitSignature, Hash, SecretKey, Signature, Vote, VoteKind,
};

mod common;

use common::{key, Empty};

const CHAIN_ID: u64 = 9;

fn setup() -> (tempfile::TempDir, Vec<SecretKey>, ConsensusCore<Empty>, Executor) {
    let keys: Vec<SecretKey> = (0..4).map(|i| key("validator", i)).collect();
    let genesis = common::genesis(CHAIN_ID, &keys, 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let executor = Executor::open(&dir.path().join("a.redb"), genesis.clone()).expect("open");
    let helper = Executor::open(&dir.path().join("b.redb"), genesis).expect("open");
    let mut core =
        ConsensusCore::new(executor, keys[0].clone(), Empty, &ConsensusConfig::default());
    core.start(1).expect("start");
    (dir, keys, core, helper)
}

/// A sender never charged before, so that each check sees its own rejection, not a ban.
fn fresh_peer() -> tandem_types::Address {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    key("peer", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).address()
}

/// A vote for nothing by `key` at height 1, round 0.
fn nil_vote(key: &SecretKey, kind: VoteKind) -> Vote {
    Vote {
        chain_id: CHAIN_ID,
        height: 1,
        round: 0,
        kind,
        block_hash: None,
        validator: key.address(),
    }
}

fn rejection(result: Result<Vec<tandem_consensus::Output>, Rejection>) -> Rejection {
    result.expect_err("rejected")
}

#[test]
fn garbage_and_wrong_messages_are_rejected_with_a_reason() {
    let (_dir, keys, mut core, helper) = setup();
    for garbage in [&b""[..], &[7u8; 3], &[0u8; 200], &[9u8; 1000]] {
        assert!(matches!(
            rejection(core.on_message(2, fresh_peer(), garbage).expect("no fatal")),
            Rejection::Malformed(_)
        ));
        assert!(matches!(
            rejection(core.on_sync_message(2, fresh_peer(), garbage).expect("no fatal")),
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
        rejection(core.on_message(2, fresh_peer(), &wrong_chain.to_bytes()).expect("no fatal")),
        Rejection::WrongChain(CHAIN_ID + 1)
    );
    let far = WireMessage::Vote {
        vote: vote(CHAIN_ID, 1_000),
        signature: vote(CHAIN_ID, 1_000).sign(&keys[1]),
    };
    assert_eq!(
        rejection(core.on_message(2, fresh_peer(), &far.to_bytes()).expect("no fatal")),
        Rejection::WrongHeight { found: 1_000, current: 1 }
    );
    let forged = WireMessage::Vote { vote: vote(CHAIN_ID, 1), signature: Signature([3; 64]) };
    assert_eq!(
        rejection(core.on_message(2, fresh_peer(), &forged.to_bytes()).expect("no fatal")),
        Rejection::BadSignature
    );
    let mut stranger_vote = vote(CHAIN_ID, 1);
    stranger_vote.validator = key("stranger", 0).address();
    let stranger = WireMessage::Vote {
        signature: stranger_vote.sign(&key("stranger", 0)),
        vote: stranger_vote,
    };
    assert_eq!(
        rejection(core.on_message(2, fresh_peer(), &stranger.to_bytes()).expect("no fatal")),
        Rejection::UnknownValidator
    );

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
        rejection(core.on_message(2, fresh_peer(), &wrong_proposer.to_bytes()).expect("no fatal")),
        Rejection::WrongProposer
    );
    let badly_signed = proposal(&keys[1], built.block.clone(), &keys[3]);
    assert_eq!(
        rejection(core.on_message(2, fresh_peer(), &badly_signed.to_bytes()).expect("no fatal")),
        Rejection::BadSignature
    );
    let mut invalid_block = built.block.clone();
    invalid_block.header.state_root = Hash([5; 32]);
    let invalid = proposal(&keys[1], invalid_block, &keys[1]);
    assert!(matches!(
        rejection(core.on_message(2, fresh_peer(), &invalid.to_bytes()).expect("no fatal")),
        Rejection::InvalidBlock(_)
    ));
    let good = proposal(&keys[1], built.block.clone(), &keys[1]);
    assert!(core.on_message(2, fresh_peer(), &good.to_bytes()).expect("no fatal").is_ok());

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
        rejection(core.on_sync_message(3, fresh_peer(), &response.to_bytes()).expect("no fatal")),
        Rejection::InvalidBlock(_)
    ));
    assert_eq!(core.executor().head().height, 0);
}

/// The bytes a proposal's signature covers, rebuilt the way validators rebuild them.
#[test]
fn a_liveness_certificate_with_one_bad_vote_is_rejected_whole() {
    let (_dir, keys, mut core, _helper) = setup();
    let precommit = |key: &SecretKey| {
        let vote = nil_vote(key, VoteKind::Precommit);
        let signature = vote.sign(key);
        (vote, signature)
    };
    let good: Vec<_> = keys[1..].iter().map(precommit).collect();
    let mut bad = precommit(&keys[0]);
    bad.1 .0[3] ^= 1;
    let certificate = |votes: Vec<(Vote, Signature)>| {
        WireMessage::Certificate {
            kind: CertificateKind::PrecommitRound,
            height: 1,
            round: 0,
            votes,
        }
        .to_bytes()
    };
    // Three of four valid precommits are a quorum; the fourth does not verify. Counting only
    // the valid ones would accept it, and the bad vote would reach consensus.
    let with_bad = certificate([good.clone(), vec![bad]].concat());
    let result = core.on_message(2, fresh_peer(), &with_bad).expect("no fatal");
    assert!(matches!(rejection(result), Rejection::InvalidCertificate(_)));
    let clean = certificate(good);
    assert!(core.on_message(2, fresh_peer(), &clean).expect("no fatal").is_ok());
}

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
        let _ = core.on_message(2, fresh_peer(), &bytes).expect("no fatal");
        let _ = core.on_sync_message(2, fresh_peer(), &bytes).expect("no fatal");
    }
    // Mutations of a valid message: every single-byte change is handled.
    let vote = nil_vote(&keys[1], VoteKind::Prevote);
    let valid = WireMessage::Vote { signature: vote.sign(&keys[1]), vote }.to_bytes();
    for index in 0..valid.len() {
        let mut mutated = valid.clone();
        mutated[index] ^= 0x5a;
        let _ = core.on_message(2, fresh_peer(), &mutated).expect("no fatal");
    }
}

#[test]
fn a_peer_sending_bad_input_is_banned_then_forgiven() {
    let (_dir, keys, mut core, _helper) = setup();
    let (bad, good) = (fresh_peer(), fresh_peer());
    let vote = nil_vote(&keys[1], VoteKind::Prevote);
    let valid = WireMessage::Vote { signature: vote.sign(&keys[1]), vote: vote.clone() }.to_bytes();
    // A vote for a far height costs nothing: a node behind its peers receives many of them.
    let mut far_vote = vote.clone();
    far_vote.height = 50;
    let far = WireMessage::Vote { signature: far_vote.sign(&keys[1]), vote: far_vote }.to_bytes();
    for _ in 0..100 {
        assert!(matches!(
            rejection(core.on_message(2, bad, &far).expect("no fatal")),
            Rejection::WrongHeight { .. }
        ));
    }
    assert!(core.on_message(2, bad, &valid).expect("no fatal").is_ok());
    assert_eq!(core.penalties().records().count(), 0);

    // Two provable faults ban the sender on every channel; other peers are unaffected.
    for _ in 0..2 {
        assert!(matches!(
            rejection(core.on_message(3, bad, b"garbage").expect("no fatal")),
            Rejection::Malformed(_)
        ));
    }
    assert_eq!(rejection(core.on_message(4, bad, &valid).expect("no fatal")), Rejection::Banned);
    let status = SyncMessage::Status { height: 0 }.to_bytes();
    assert_eq!(
        rejection(core.on_sync_message(4, bad, &status).expect("no fatal")),
        Rejection::Banned
    );
    assert!(core.on_message(4, good, &valid).expect("no fatal").is_ok());
    let (_, record) = core.penalties().records().find(|(peer, _)| **peer == bad).expect("charged");
    assert_eq!(record.total_points, 100);

    // The ban ends after its time.
    let after = 3 + tandem_consensus::BAN_MS;
    assert!(core.on_message(after, bad, &valid).expect("no fatal").is_ok());
}

/// The sync requests in `outputs`: (peer asked, from, to).
fn requests(outputs: &[tandem_consensus::Output]) -> Vec<(tandem_types::Address, u64, u64)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            tandem_consensus::Output::SendSync { to: Some(peer), bytes } => {
                match SyncMessage::from_bytes(bytes) {
                    Ok(SyncMessage::Request { from, to }) => Some((*peer, from, to)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_peer_announcing_heights_it_does_not_serve_cannot_capture_sync() {
    let (_dir, _keys, mut core, _helper) = setup();
    let (liar, honest) = (fresh_peer(), fresh_peer());
    let status = |height| SyncMessage::Status { height }.to_bytes();
    let asked = requests(&core.on_sync_message(10, liar, &status(1_000_000)).expect("ok").unwrap());
    assert_eq!(asked.first(), Some(&(liar, 1, 256)), "the most advanced peer is asked first");
    let asked = requests(&core.on_sync_message(20, honest, &status(5)).expect("ok").unwrap());
    assert!(asked.is_empty(), "two ranges are already in flight");

    // The liar never answers: after the timeout the honest peer is asked.
    assert_eq!(requests(&core.on_status_tick(2_010)), vec![(honest, 1, 5)]);
    // The liar announcing again does not take the next requests back.
    let asked =
        requests(&core.on_sync_message(2_100, liar, &status(2_000_000)).expect("ok").unwrap());
    assert!(asked.is_empty(), "{asked:?}");
    // When every peer has left a request unanswered, sync goes on with the one whose pause
    // ends first, rather than stopping.
    let asked = requests(&core.on_status_tick(4_020));
    assert_eq!(asked, vec![(liar, 1, 256), (liar, 257, 512)]);
}
