//! The rotating poster's decisions, without I/O. The node's L1 task feeds it the time, the
//! batches this node has built from its store, the attestations peers send back and the
//! contract's next index, and does what it answers.
//!
//! Why proposals: a batch's data holds a commit certificate per block, and each node keeps the
//! certificate it gathered itself, so two honest nodes build different data (and headers) for
//! the same batch. Validators therefore do not sign their own headers blindly: the validator
//! whose turn it is proposes its header with its certificates, the others check it against
//! their own blocks and sign it, and it posts once it holds a quorum of signatures.
//!
//! Turns: batch `i` belongs first to validator `i mod n` (genesis order). The batch becomes
//! postable once this node has built it and the contract expects it next; from that moment
//! validator `i mod n` proposes (and posts) at once, validator `i + 1 mod n` after one turn,
//! `i + 2 mod n` after two, and so on around the set, until the contract's next index moves
//! past `i`. The contract accepts each index once, so a late second poster is refused: never a
//! duplicate, never a gap.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use tandem_types::{CommitCertificate, L1Address};

use crate::attestation::{batch_digest, recover_signer, Domain};
use crate::batch::BatchHeader;
use crate::client::Sequencer;
use crate::error::L1Error;

/// How often a proposer sends its proposal again while it lacks a quorum (peers that were
/// down or behind missed it).
pub const PROPOSAL_RESEND_MS: u64 = 2_000;

/// What the poster needs to know.
#[derive(Clone, Debug)]
pub struct PosterConfig {
    /// The validators in genesis order, which is the rotation order.
    pub validators: Vec<Sequencer>,
    /// This node's position in `validators`.
    pub me: usize,
    /// Where signatures are valid.
    pub domain: Domain,
    /// How long each validator in turn has to get a batch on L1 before the next one posts it.
    pub turn_ms: u64,
    /// The first wait before this node retries a post that failed; it doubles with each
    /// failure, up to `turn_ms`.
    pub retry_ms: u64,
}

/// What validators send each other on the network's L1 channel (Borsh).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum L1Message {
    /// A poster's batch header and the certificates its data holds (one per height, in
    /// order), for the others to check against their own blocks and sign.
    Proposal {
        /// The header.
        header: BatchHeader,
        /// The certificates.
        certificates: Vec<CommitCertificate>,
    },
    /// A signature of a proposed header, sent back to its proposer.
    Attestation(AttestationMessage),
}

/// A validator's signature of a batch header: the batch, the EIP-712 digest of the header,
/// and the signature `r ‖ s ‖ v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AttestationMessage {
    /// The batch index.
    pub index: u64,
    /// The digest signed.
    pub digest: [u8; 32],
    /// The signature.
    pub signature: [u8; 65],
}

/// Why an attestation was not counted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttestationRejected {
    /// The signature does not recover to an address.
    #[error("the signature does not recover")]
    BadSignature,
    /// The signer is not a sequencer of this chain.
    #[error("signed by {0:?}, not a sequencer")]
    NotASequencer(L1Address),
    /// Not a signature of a header this node proposed (a late answer to an old proposal).
    #[error("batch {index}: not a header this node proposed")]
    NotProposed {
        /// The batch.
        index: u64,
    },
}

/// A post this node should make now: its header and the signatures to send with it, in
/// ascending signer order as the contract wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostJob {
    /// The header.
    pub header: BatchHeader,
    /// The signatures.
    pub signatures: Vec<[u8; 65]>,
}

/// A batch this node built from its own store.
#[derive(Clone, Debug)]
struct OwnBatch {
    header: BatchHeader,
    digest: [u8; 32],
    built_at_ms: u64,
    /// When this node last sent its proposal.
    proposed_at_ms: Option<u64>,
}

/// A failed post and when the next attempt may start.
#[derive(Clone, Copy, Debug)]
struct Retry {
    index: u64,
    not_before_ms: u64,
    delay_ms: u64,
}

/// Signatures of one of this node's headers by signer's position.
type Signatures = BTreeMap<usize, [u8; 65]>;

/// The poster's state.
#[derive(Debug)]
pub struct Poster {
    config: PosterConfig,
    quorum_weight: u128,
    /// The index the contract expects next, and when this node first saw it.
    l1_next: Option<(u64, u64)>,
    own: BTreeMap<u64, OwnBatch>,
    signatures: BTreeMap<u64, Signatures>,
    retry: Option<Retry>,
}

impl Poster {
    /// A poster for `config`.
    pub fn new(config: PosterConfig) -> Result<Poster, L1Error> {
        if config.me >= config.validators.len() {
            return Err(L1Error::Invalid(format!(
                "validator position {} out of {}",
                config.me,
                config.validators.len()
            )));
        }
        let total: u128 = config.validators.iter().map(|v| u128::from(v.weight)).sum();
        if total == 0 || config.turn_ms == 0 {
            return Err(L1Error::Invalid("no weight, or a zero turn".into()));
        }
        // The contract's rule: strictly more than two thirds of the weight.
        let quorum_weight = total * 2 / 3 + 1;
        Ok(Poster {
            config,
            quorum_weight,
            l1_next: None,
            own: BTreeMap::new(),
            signatures: BTreeMap::new(),
            retry: None,
        })
    }

    /// The signing domain.
    pub fn domain(&self) -> &Domain {
        &self.config.domain
    }

    /// The index the contract expects next, as last seen.
    pub fn l1_next_index(&self) -> Option<u64> {
        self.l1_next.map(|(next, _)| next)
    }

    /// The batch this node should build next: the contract's next index, unless already
    /// built. Only the next batch is ever built, because only it can be posted. `None` until
    /// the contract has been read.
    pub fn next_to_build(&self) -> Option<u64> {
        let next = self.l1_next_index()?;
        (!self.own.contains_key(&next)).then_some(next)
    }

    /// Records the header this node built for a batch from its store, and its own signature.
    pub fn on_built(&mut self, now_ms: u64, header: BatchHeader, signature: [u8; 65]) {
        let digest = batch_digest(&self.config.domain, &header);
        let index = header.index;
        self.own
            .insert(index, OwnBatch { header, digest, built_at_ms: now_ms, proposed_at_ms: None });
        self.signatures.insert(index, BTreeMap::from([(self.config.me, signature)]));
    }

    /// The batch this node should propose now: its turn has started, and it has not sent the
    /// proposal yet, or sent it long enough ago without reaching a quorum.
    pub fn proposal_due(&self, now_ms: u64) -> Option<BatchHeader> {
        let index = self.l1_next_index()?;
        let starts_at = self.turn_starts_at(index)?;
        let own = self.own.get(&index)?;
        if now_ms < starts_at || self.quorum_signatures(index).is_some() {
            return None;
        }
        match own.proposed_at_ms {
            Some(at) if now_ms < at.saturating_add(PROPOSAL_RESEND_MS) => None,
            _ => Some(own.header),
        }
    }

    /// The proposal of batch `index` was sent.
    pub fn on_proposed(&mut self, now_ms: u64, index: u64) {
        if let Some(own) = self.own.get_mut(&index) {
            own.proposed_at_ms = Some(now_ms);
        }
    }

    /// Takes a signature a peer sent back; it counts if it signs this node's header.
    pub fn on_attestation(
        &mut self,
        message: AttestationMessage,
    ) -> Result<(), AttestationRejected> {
        let index = message.index;
        let own = match self.own.get(&index) {
            Some(own) if own.digest == message.digest => own,
            _ => return Err(AttestationRejected::NotProposed { index }),
        };
        let signer = recover_signer(&own.digest, &message.signature)
            .ok_or(AttestationRejected::BadSignature)?;
        let position = self
            .config
            .validators
            .iter()
            .position(|v| v.address == signer)
            .ok_or(AttestationRejected::NotASequencer(signer))?;
        self.signatures.entry(index).or_default().insert(position, message.signature);
        Ok(())
    }

    /// The contract's next index, as just read. Batches below it are done and forgotten.
    pub fn on_l1_next_index(&mut self, now_ms: u64, next: u64) {
        if self.l1_next_index() == Some(next) {
            return;
        }
        self.l1_next = Some((next, now_ms));
        self.own = self.own.split_off(&next);
        self.signatures = self.signatures.split_off(&next);
        if self.retry.is_some_and(|retry| retry.index < next) {
            self.retry = None;
        }
    }

    /// A post of batch `index` failed (the L1 unreachable, the transaction not mined, or
    /// refused): the next attempt waits, longer after each failure.
    pub fn on_post_failed(&mut self, now_ms: u64, index: u64) {
        let delay_ms = match self.retry {
            Some(retry) if retry.index == index => {
                retry.delay_ms.saturating_mul(2).min(self.config.turn_ms)
            }
            _ => self.config.retry_ms.min(self.config.turn_ms),
        };
        self.retry =
            Some(Retry { index, not_before_ms: now_ms.saturating_add(delay_ms), delay_ms });
    }

    /// The post this node should make now, if it is its turn and it holds a quorum.
    pub fn due(&self, now_ms: u64) -> Option<PostJob> {
        let index = self.l1_next_index()?;
        if now_ms < self.turn_starts_at(index)? {
            return None;
        }
        if self.retry.is_some_and(|retry| retry.index == index && now_ms < retry.not_before_ms) {
            return None;
        }
        let own = self.own.get(&index)?;
        Some(PostJob { header: own.header, signatures: self.quorum_signatures(index)? })
    }

    /// When this node's turn at batch `index` starts: `None` while the batch is not postable
    /// here (not built, or not next on L1).
    pub fn turn_starts_at(&self, index: u64) -> Option<u64> {
        let (next, next_since_ms) = self.l1_next?;
        let own = self.own.get(&index)?;
        if index != next {
            return None;
        }
        let postable_since_ms = own.built_at_ms.max(next_since_ms);
        let count = self.config.validators.len() as u64;
        let designated = index % count;
        let turns_after = (self.config.me as u64 + count - designated) % count;
        Some(postable_since_ms.saturating_add(turns_after.saturating_mul(self.config.turn_ms)))
    }

    /// The signatures of this node's header of `index`, in ascending signer order, if they
    /// hold the quorum weight.
    fn quorum_signatures(&self, index: u64) -> Option<Vec<[u8; 65]>> {
        let mut signed: Vec<(L1Address, [u8; 65])> = Vec::new();
        let mut weight = 0u128;
        for (position, signature) in self.signatures.get(&index)? {
            let validator = self.config.validators[*position];
            weight += u128::from(validator.weight);
            signed.push((validator.address, *signature));
        }
        if weight < self.quorum_weight {
            return None;
        }
        signed.sort_by_key(|(address, _)| *address);
        Some(signed.into_iter().map(|(_, signature)| signature).collect())
    }
}

#[cfg(test)]
mod tests {
    use tandem_types::Hash;

    use super::*;
    use crate::attestation::{attest, L1Signer};

    const TURN_MS: u64 = 5_000;

    struct Committee {
        keys: Vec<L1Signer>,
        domain: Domain,
    }

    impl Committee {
        fn new(count: u8) -> Committee {
            let keys = (1..=count).map(|i| L1Signer::from_secret(&[i; 32]).expect("key")).collect();
            Committee { keys, domain: Domain { chain_id: 31_337, contract: L1Address([7; 20]) } }
        }

        fn poster(&self, me: usize) -> Poster {
            let validators = self
                .keys
                .iter()
                .map(|key| Sequencer { address: key.address(), weight: 1 })
                .collect();
            Poster::new(PosterConfig {
                validators,
                me,
                domain: self.domain,
                turn_ms: TURN_MS,
                retry_ms: 500,
            })
            .expect("poster")
        }

        fn sign(&self, signer: usize, header: &BatchHeader) -> AttestationMessage {
            let attestation = attest(&self.keys[signer], &self.domain, header).expect("signs");
            AttestationMessage {
                index: header.index,
                digest: batch_digest(&self.domain, header),
                signature: attestation.signature,
            }
        }
    }

    fn header(index: u64) -> BatchHeader {
        BatchHeader {
            index,
            first_height: index * 100 + 1,
            last_height: index * 100 + 100,
            prev_state_root: Hash([1; 32]),
            state_root: Hash([2; 32]),
            last_block_hash: Hash([3; 32]),
            data_hash: [4; 32],
        }
    }

    /// `me`'s poster with its header of batch `index` built at time 0, the contract expecting
    /// `index` since time 0, and signatures of `others`.
    fn built(committee: &Committee, me: usize, index: u64, others: &[usize]) -> Poster {
        let mut poster = committee.poster(me);
        poster.on_l1_next_index(0, index);
        let own = committee.sign(me, &header(index));
        poster.on_built(0, header(index), own.signature);
        for &other in others {
            poster.on_attestation(committee.sign(other, &header(index))).expect("counted");
        }
        poster
    }

    #[test]
    fn the_designated_validator_proposes_at_once_and_posts_with_a_quorum() {
        let committee = Committee::new(4);
        // Batch 5 belongs first to validator 5 mod 4 = 1.
        let mut poster = built(&committee, 1, 5, &[]);
        assert_eq!(poster.proposal_due(0), Some(header(5)));
        poster.on_proposed(0, 5);
        assert_eq!(poster.proposal_due(1), None, "sent");
        assert_eq!(poster.due(1), None, "one signature of four");
        poster.on_attestation(committee.sign(0, &header(5))).expect("counted");
        assert_eq!(poster.due(1), None, "two of four is not a quorum");
        poster.on_attestation(committee.sign(3, &header(5))).expect("counted");
        let job = poster.due(2).expect("its turn, a quorum");
        assert_eq!(job.header, header(5));
        assert_eq!(job.signatures.len(), 3);
        let digest = batch_digest(&committee.domain, &header(5));
        let signers: Vec<L1Address> =
            job.signatures.iter().map(|s| recover_signer(&digest, s).expect("recovers")).collect();
        assert!(signers.windows(2).all(|pair| pair[0] < pair[1]), "ascending signers");
    }

    #[test]
    fn a_proposal_without_answers_is_sent_again() {
        let committee = Committee::new(4);
        let mut poster = built(&committee, 1, 5, &[]);
        poster.on_proposed(0, 5);
        assert_eq!(poster.proposal_due(PROPOSAL_RESEND_MS - 1), None);
        assert_eq!(poster.proposal_due(PROPOSAL_RESEND_MS), Some(header(5)));
        let mut answered = built(&committee, 1, 5, &[0, 2]);
        answered.on_proposed(0, 5);
        assert_eq!(answered.proposal_due(PROPOSAL_RESEND_MS), None, "it has its quorum");
    }

    #[test]
    fn the_others_take_over_one_turn_after_another() {
        let committee = Committee::new(4);
        for (me, turns) in [(1, 0), (2, 1), (3, 2), (0, 3)] {
            let poster = built(&committee, me, 5, &[(me + 1) % 4, (me + 2) % 4]);
            let starts = turns * TURN_MS;
            assert_eq!(poster.turn_starts_at(5), Some(starts), "validator {me}");
            if starts > 0 {
                assert_eq!(poster.due(starts - 1), None, "validator {me} waits its turn");
                assert_eq!(poster.proposal_due(starts - 1), None, "validator {me} waits");
            }
            assert!(poster.due(starts).is_some(), "validator {me} posts in its turn");
        }
    }

    #[test]
    fn a_batch_waits_for_the_one_before_it_and_turns_count_from_then() {
        let committee = Committee::new(4);
        let mut poster = committee.poster(2);
        poster.on_l1_next_index(0, 5);
        assert_eq!(poster.next_to_build(), Some(5));
        poster.on_l1_next_index(60_000, 6);
        assert_eq!(poster.next_to_build(), Some(6), "only the next batch is built");
        let own = committee.sign(2, &header(6));
        poster.on_built(60_100, header(6), own.signature);
        assert_eq!(poster.next_to_build(), None);
        // Batch 6 belongs to validator 2: its turn starts once it is built and next.
        assert_eq!(poster.turn_starts_at(6), Some(60_100));
        let mut next = committee.poster(3);
        next.on_l1_next_index(0, 6);
        next.on_built(0, header(6), committee.sign(3, &header(6)).signature);
        assert_eq!(next.turn_starts_at(6), Some(TURN_MS));
    }

    #[test]
    fn a_landed_batch_is_forgotten_and_late_signatures_refused() {
        let committee = Committee::new(4);
        let mut poster = built(&committee, 1, 5, &[0, 2]);
        assert!(poster.due(0).is_some());
        poster.on_l1_next_index(100, 6);
        assert_eq!(poster.due(100), None);
        assert_eq!(poster.proposal_due(100), None);
        assert_eq!(
            poster.on_attestation(committee.sign(3, &header(5))),
            Err(AttestationRejected::NotProposed { index: 5 })
        );
        assert_eq!(poster.next_to_build(), Some(6));
    }

    #[test]
    fn bad_signatures_are_refused_and_do_not_count() {
        let committee = Committee::new(4);
        let mut poster = built(&committee, 1, 5, &[]);
        let mut forged = committee.sign(0, &header(5));
        forged.signature[10] ^= 1;
        assert!(matches!(
            poster.on_attestation(forged),
            Err(AttestationRejected::BadSignature | AttestationRejected::NotASequencer(_))
        ));
        let outsider = L1Signer::from_secret(&[99; 32]).expect("key");
        let signature = attest(&outsider, &committee.domain, &header(5)).expect("signs").signature;
        let digest = batch_digest(&committee.domain, &header(5));
        let message = AttestationMessage { index: 5, digest, signature };
        assert_eq!(
            poster.on_attestation(message),
            Err(AttestationRejected::NotASequencer(outsider.address()))
        );
        // Another header for the same batch (another node's certificates): not this node's.
        let mut other = header(5);
        other.data_hash = [9; 32];
        assert_eq!(
            poster.on_attestation(committee.sign(2, &other)),
            Err(AttestationRejected::NotProposed { index: 5 })
        );
        // The same signer twice adds its weight once.
        poster.on_attestation(committee.sign(0, &header(5))).expect("counted");
        poster.on_attestation(committee.sign(0, &header(5))).expect("counted");
        assert_eq!(poster.due(0), None, "two distinct signers of four");
    }

    #[test]
    fn failures_back_off_and_the_turn_passes_on_regardless() {
        let committee = Committee::new(4);
        let mut poster = built(&committee, 1, 5, &[0, 2]);
        poster.on_post_failed(0, 5);
        assert_eq!(poster.due(499), None);
        assert!(poster.due(500).is_some());
        poster.on_post_failed(500, 5);
        assert_eq!(poster.due(1_499), None, "the wait doubled");
        assert!(poster.due(1_500).is_some());
        // Meanwhile the next validator's turn comes, whatever this one's failures.
        let next = built(&committee, 2, 5, &[0, 1]);
        assert!(next.due(TURN_MS).is_some());
    }

    #[test]
    fn nothing_is_built_or_posted_before_the_contract_is_read() {
        let committee = Committee::new(4);
        let poster = committee.poster(0);
        assert_eq!(poster.next_to_build(), None);
        assert_eq!(poster.proposal_due(0), None);
        assert_eq!(poster.due(0), None);
    }

    #[test]
    fn messages_round_trip() {
        let committee = Committee::new(4);
        let attestation = L1Message::Attestation(committee.sign(0, &header(5)));
        let bytes = borsh::to_vec(&attestation).expect("encodes");
        assert_eq!(L1Message::try_from_slice(&bytes).expect("decodes"), attestation);
        let proposal = L1Message::Proposal { header: header(5), certificates: vec![] };
        let bytes = borsh::to_vec(&proposal).expect("encodes");
        assert_eq!(L1Message::try_from_slice(&bytes).expect("decodes"), proposal);
        assert!(L1Message::try_from_slice(&[7, 1, 2]).is_err());
    }
}
