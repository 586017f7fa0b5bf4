//! The Malachite context over Tandem types: votes sign exactly the protocol's bytes, proposer
//! selection is a deterministic weighted round robin, certificates convert both ways.

use malachitebft_core_types::{Context, NilOrVal, Round, Validator, ValidatorSet as _, Vote as _};
use tandem_consensus::{
    from_protocol_certificate, to_protocol_certificate, BlockHeight, BlockId, BlockProposal,
    BlockValue, ConsensusValidatorSet, ConsensusVote, TandemContext, ValidatorAddress,
};
use tandem_types::{
    sha256, Address, Block, BlockHeader, CommitSignature, GenesisValidator, Hash, L1Address,
    SecretKey, ValidatorSet, Vote, VoteKind,
};

const CHAIN_ID: u64 = 5;

fn key(index: u8) -> SecretKey {
    SecretKey::from_seed(&sha256(&[index]).0)
}

fn validator_set(powers: &[u64]) -> (Vec<SecretKey>, ValidatorSet) {
    let keys: Vec<SecretKey> = (0..powers.len() as u8).map(key).collect();
    let validators = keys
        .iter()
        .zip(powers)
        .zip(0u8..)
        .map(|((k, &power), i)| GenesisValidator {
            address: k.address(),
            l1_address: L1Address([i; 20]),
            power,
        })
        .collect();
    (keys, ValidatorSet::new(validators).expect("valid set"))
}

fn block(height: u64) -> Block {
    let header = BlockHeader {
        chain_id: CHAIN_ID,
        height,
        timestamp_ms: 1,
        parent_hash: Hash::ZERO,
        proposer: Address([1; 32]),
        tx_root: Hash::ZERO,
        state_root: Hash([2; 32]),
        tx_count: 0,
    };
    Block { header, txs: vec![] }
}

#[test]
fn votes_sign_the_protocol_vote_bytes() {
    let ctx = TandemContext { chain_id: CHAIN_ID };
    let id = BlockId(Hash([7; 32]));
    let me = ValidatorAddress(key(0).address());
    let precommit = ctx.new_precommit(BlockHeight(9), Round::new(2), NilOrVal::Val(id), me);
    let expected = Vote {
        chain_id: CHAIN_ID,
        height: 9,
        round: 2,
        kind: VoteKind::Precommit,
        block_hash: Some(Hash([7; 32])),
        validator: key(0).address(),
    };
    assert_eq!(precommit.to_protocol(), Some(expected.clone()));
    assert_eq!(ConsensusVote::from_protocol(&expected), precommit);
    let nil = ctx.new_prevote(BlockHeight(9), Round::new(0), NilOrVal::Nil, me);
    let protocol = nil.to_protocol().expect("defined round");
    assert_eq!((protocol.kind, protocol.block_hash), (VoteKind::Prevote, None));
    assert_eq!(nil.value(), &NilOrVal::Nil);
}

#[test]
fn equal_powers_rotate_the_proposer_by_height_and_round() {
    let (keys, set) = validator_set(&[1, 1, 1, 1]);
    let ctx = TandemContext { chain_id: CHAIN_ID };
    let set = ConsensusValidatorSet::new(&set);
    let pick = |height: u64, round: u32| {
        let chosen = ctx.select_proposer(&set, BlockHeight(height), Round::new(round));
        keys.iter()
            .position(|k| ValidatorAddress(k.address()) == *chosen.address())
            .expect("member")
    };
    assert_eq!((1..=8).map(|h| pick(h, 0)).collect::<Vec<_>>(), vec![1, 2, 3, 0, 1, 2, 3, 0]);
    assert_eq!(
        (0..4).map(|r| pick(5, r)).collect::<Vec<_>>(),
        vec![1, 2, 3, 0],
        "a new round moves on"
    );
}

#[test]
fn proposer_turns_follow_voting_power() {
    let (keys, set) = validator_set(&[3, 1, 2]);
    let ctx = TandemContext { chain_id: CHAIN_ID };
    let set = ConsensusValidatorSet::new(&set);
    let mut turns = [0u32; 3];
    for height in 100..106 {
        let chosen = ctx.select_proposer(&set, BlockHeight(height), Round::new(0));
        let index = keys
            .iter()
            .position(|k| ValidatorAddress(k.address()) == *chosen.address())
            .expect("member");
        turns[index] += 1;
    }
    assert_eq!(
        turns,
        [3, 1, 2],
        "over total_power consecutive heights each validator proposes its power"
    );
    assert_eq!(set.total_voting_power(), 6);
    assert_eq!(set.get_by_index(1).map(|v| v.voting_power()), Some(1));
}

#[test]
fn a_certificate_of_context_precommits_verifies_as_a_protocol_certificate() {
    let (keys, set) = validator_set(&[1, 1, 1, 1]);
    let ctx = TandemContext { chain_id: CHAIN_ID };
    let value = BlockValue::new(block(3));
    let signatures = keys[..3]
        .iter()
        .map(|k| {
            let precommit = ctx.new_precommit(
                BlockHeight(3),
                Round::new(1),
                NilOrVal::Val(value.id()),
                ValidatorAddress(k.address()),
            );
            let vote = precommit.to_protocol().expect("defined round");
            CommitSignature { validator: k.address(), signature: vote.sign(k) }
        })
        .collect();
    let certificate = tandem_types::CommitCertificate {
        height: 3,
        round: 1,
        block_hash: value.id().0,
        signatures,
    };
    assert_eq!(certificate.verify(CHAIN_ID, 3, &value.block().hash(), &set), Ok(3));
    let malachite = from_protocol_certificate(&certificate);
    assert_eq!(to_protocol_certificate(&malachite), Some(certificate));
}

#[test]
fn values_compare_by_block_hash_and_proposals_sign_their_rounds() {
    let a = BlockValue::new(block(1));
    let b = BlockValue::new(block(1));
    let c = BlockValue::new(block(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.id(), BlockId(block(1).hash()));
    let ctx = TandemContext { chain_id: CHAIN_ID };
    let proposer = ValidatorAddress(key(1).address());
    let fresh: BlockProposal =
        ctx.new_proposal(BlockHeight(1), Round::new(0), a.clone(), Round::Nil, proposer);
    let relocked = ctx.new_proposal(BlockHeight(1), Round::new(0), a, Round::new(0), proposer);
    assert_ne!(fresh.signing_bytes(), relocked.signing_bytes());
    assert!(fresh.signing_bytes().starts_with(b"tandem.proposal.v1"));
}
