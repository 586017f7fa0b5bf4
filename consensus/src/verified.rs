//! The precommits this validator has already checked, so that the certificate it builds from
//! them at a decision is not checked signature by signature again.
//!
//! Malachite asks the application to verify the commit certificate it assembles when it
//! decides, out of the very precommits whose signatures `admit` checked as they arrived (and
//! this validator's own). That was one ed25519 verification per signer per height, on the path
//! from the decision to the next height. In: each precommit verified or signed here. Out:
//! whether a (vote, signature) pair is one of them.

use tandem_types::{Signature, Vote, VoteKind};

/// Precommits per validator kept at most: a few heights (Malachite takes votes up to two
/// heights ahead) and rounds. Beyond it nothing more is noted, which only costs the checks
/// this saves; a peer flooding precommits cannot make it grow.
const PER_VALIDATOR_MAX: usize = 4;

/// Precommits (with a block) whose signatures were checked or made here.
#[derive(Debug, Default)]
pub(crate) struct VerifiedPrecommits {
    entries: Vec<(Vote, Signature)>,
}

impl VerifiedPrecommits {
    /// Notes `vote` signed with `signature`, known good; prevotes and nil precommits never
    /// appear in a commit certificate and are not noted. `validators` is the set's size.
    pub(crate) fn note(&mut self, vote: &Vote, signature: &Signature, validators: usize) {
        if vote.kind != VoteKind::Precommit || vote.block_hash.is_none() {
            return;
        }
        if self.entries.len() >= validators.saturating_mul(PER_VALIDATOR_MAX) {
            return;
        }
        if !self.contains(vote, signature) {
            self.entries.push((vote.clone(), *signature));
        }
    }

    /// Whether exactly this vote with exactly this signature was noted.
    pub(crate) fn contains(&self, vote: &Vote, signature: &Signature) -> bool {
        self.entries
            .iter()
            .any(|(noted, noted_signature)| noted == vote && noted_signature == signature)
    }

    /// Forgets the precommits of heights below `height` (committed).
    pub(crate) fn forget_below(&mut self, height: u64) {
        self.entries.retain(|(vote, _)| vote.height >= height);
    }
}

#[cfg(test)]
mod tests {
    use tandem_types::{Hash, SecretKey};

    use super::*;

    fn precommit(key: &SecretKey, height: u64, block: u8) -> (Vote, Signature) {
        let vote = Vote {
            chain_id: 7,
            height,
            round: 0,
            kind: VoteKind::Precommit,
            block_hash: Some(Hash([block; 32])),
            validator: key.address(),
        };
        let signature = vote.sign(key);
        (vote, signature)
    }

    #[test]
    fn only_the_noted_vote_with_its_own_signature_is_known() {
        let key = SecretKey::from_seed(&[1; 32]);
        let (vote, signature) = precommit(&key, 5, 1);
        let mut verified = VerifiedPrecommits::default();
        verified.note(&vote, &signature, 4);
        assert!(verified.contains(&vote, &signature));

        let (other_block, other_signature) = precommit(&key, 5, 2);
        assert!(!verified.contains(&other_block, &signature));
        assert!(!verified.contains(&vote, &other_signature));
        let mut other_round = vote.clone();
        other_round.round = 1;
        assert!(!verified.contains(&other_round, &signature));
    }

    #[test]
    fn prevotes_and_nil_precommits_are_not_noted() {
        let key = SecretKey::from_seed(&[2; 32]);
        let (mut vote, _) = precommit(&key, 5, 1);
        vote.kind = VoteKind::Prevote;
        let signature = vote.sign(&key);
        let mut verified = VerifiedPrecommits::default();
        verified.note(&vote, &signature, 4);
        assert!(!verified.contains(&vote, &signature));

        vote.kind = VoteKind::Precommit;
        vote.block_hash = None;
        let signature = vote.sign(&key);
        verified.note(&vote, &signature, 4);
        assert!(!verified.contains(&vote, &signature));
    }

    #[test]
    fn it_is_bounded_and_forgets_committed_heights() {
        let key = SecretKey::from_seed(&[3; 32]);
        let mut verified = VerifiedPrecommits::default();
        let votes: Vec<_> = (0..10).map(|block| precommit(&key, 5, block)).collect();
        for (vote, signature) in &votes {
            verified.note(vote, signature, 1);
        }
        let known = votes.iter().filter(|(vote, sig)| verified.contains(vote, sig)).count();
        assert_eq!(known, PER_VALIDATOR_MAX);

        verified.forget_below(6);
        assert!(!votes.iter().any(|(vote, sig)| verified.contains(vote, sig)));
        let (next, signature) = precommit(&key, 6, 0);
        verified.note(&next, &signature, 1);
        assert!(verified.contains(&next, &signature));
    }
}
