//! The rotating poster's decisions, without I/O: the batches this node has signed, the
//! attestations it has gathered, and whether it is this node's turn to post the next batch.
//! The node's L1 task feeds it the time, its own signed headers, the attestations peers gossip
//! and the contract's next index, and does what it answers.
//!
//! Turns: batch `i` belongs first to validator `i mod n` (genesis order). The batch can be
//! posted once this node holds attestations of more than two thirds of the weight for it and
//! the contract expects it next; from that moment validator `i mod n` posts at once, validator
//! `i + 1 mod n` after one turn, `i + 2 mod n` after two, and so on around the set, until the
//! contract's next index moves past `i`. The contract accepts each index once, so a second
//! poster's late transaction is refused: never a duplicate, never a gap.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use tandem_types::L1Address;

use crate::attestation::{batch_digest, recover_signer, Domain};
use crate::batch::BatchHeader;
use crate::client::Sequencer;
use crate::error::L1Error;

/// How far beyond the batches it knows of a node accepts attestations: a peer ahead of it by
/// more than this many batches is ignored until this node catches up.
pub const ATTESTATION_WINDOW_BATCHES: u64 = 64;

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

/// An attestation as validators gossip it (Borsh on the network's L1 channel): the batch, the
/// EIP-712 digest of the header the signer computed, and its signature `r ‖ s ‖ v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AttestationMessage {
    /// The batch index.
    pub index: u64,
    /// The digest signed.
    pub digest: [u8; 32],
    /// The signature.
    pub signature: [u8; 65],
}

/// Why a gossiped attestation was not counted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttestationRejected {
    /// Not a Borsh attestation message.
    #[error("not an attestation message")]
    Undecodable,
    /// The signature does not recover to an address.
    #[error("the signature does not recover")]
    BadSignature,
    /// The signer is not a sequencer of this chain.
    #[error("signed by {0:?}, not a sequencer")]
    NotASequencer(L1Address),
    /// The batch is already on L1.
    #[error("batch {index} is already on L1 (next index {next})")]
    AlreadyPosted {
        /// The batch.
        index: u64,
        /// The contract's next index.
        next: u64,
    },
    /// The batch is too far beyond what this node knows of.
    #[error("batch {index} is beyond this node's window (up to {limit})")]
    TooFarAhead {
        /// The batch.
        index: u64,
        /// The last index accepted now.
        limit: u64,
    },
    /// A sequencer signed another header for a batch than this node built: a fork, or a bug.
    #[error("{signer:?} signed another header for batch {index}")]
    DifferentHeader {
        /// The batch.
        index: u64,
        /// The sequencer.
        signer: L1Address,
    },
}

/// A post this node should make now: the header and the signatures to send with it, in
/// ascending signer order as the contract wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostJob {
    /// The header.
    pub header: BatchHeader,
    /// The signatures.
    pub signatures: Vec<[u8; 65]>,
}

/// A batch this node built and signed.
#[derive(Clone, Debug)]
struct SignedBatch {
    header: BatchHeader,
    digest: [u8; 32],
    signature: [u8; 65],
    /// When this node first held a quorum of attestations for it.
    quorum_since_ms: Option<u64>,
}

/// A failed post and when the next attempt may start.
#[derive(Clone, Copy, Debug)]
struct Retry {
    index: u64,
    not_before_ms: u64,
    delay_ms: u64,
}

/// Verified attestations of one batch by signer's position: the digest signed and the
/// signature.
type Signatures = BTreeMap<usize, ([u8; 32], [u8; 65])>;

/// The poster's state.
#[derive(Debug)]
pub struct Poster {
    config: PosterConfig,
    quorum_weight: u128,
    /// The index the contract expects next, and when this node first saw it.
    l1_next: Option<(u64, u64)>,
    batches: BTreeMap<u64, SignedBatch>,
    /// Verified attestations by batch.
    attestations: BTreeMap<u64, Signatures>,
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
            batches: BTreeMap::new(),
            attestations: BTreeMap::new(),
            retry: None,
        })
    }

    /// The index the contract expects next, as last seen.
    pub fn l1_next_index(&self) -> Option<u64> {
        self.l1_next.map(|(next, _)| next)
    }

    /// The first batch this node still has to build and sign: after the last one it signed,
    /// and not before the contract's next index. `None` until the contract has been read.
    pub fn next_to_sign(&self) -> Option<u64> {
        let next = self.l1_next_index()?;
        let after_signed = self.batches.keys().next_back().map_or(0, |last| last + 1);
        Some(next.max(after_signed))
    }

    /// Records this node's own signed header and returns the message to gossip.
    pub fn on_signed(
        &mut self,
        now_ms: u64,
        header: BatchHeader,
        signature: [u8; 65],
    ) -> AttestationMessage {
        let digest = batch_digest(&self.config.domain, &header);
        let index = header.index;
        self.attestations.entry(index).or_default().insert(self.config.me, (digest, signature));
        self.batches
            .insert(index, SignedBatch { header, digest, signature, quorum_since_ms: None });
        self.update_quorum(now_ms, index);
        AttestationMessage { index, digest, signature }
    }

    /// This node's attestations of batches not yet on L1, to gossip again (peers that were
    /// down or behind missed them).
    pub fn own_attestations(&self) -> Vec<AttestationMessage> {
        self.batches
            .iter()
            .map(|(index, batch)| AttestationMessage {
                index: *index,
                digest: batch.digest,
                signature: batch.signature,
            })
            .collect()
    }

    /// Takes a gossiped attestation (Borsh bytes).
    pub fn on_attestation_bytes(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
    ) -> Result<(), AttestationRejected> {
        let message = AttestationMessage::try_from_slice(bytes)
            .map_err(|_| AttestationRejected::Undecodable)?;
        self.on_attestation(now_ms, message)
    }

    /// Takes a gossiped attestation. It is kept if it is a sequencer's signature of a batch not
    /// yet on L1, even before this node has built that batch; it counts towards the quorum when
    /// its digest is this node's.
    pub fn on_attestation(
        &mut self,
        now_ms: u64,
        message: AttestationMessage,
    ) -> Result<(), AttestationRejected> {
        let index = message.index;
        if let Some(next) = self.l1_next_index() {
            if index < next {
                return Err(AttestationRejected::AlreadyPosted { index, next });
            }
        }
        let known = self.next_to_sign().unwrap_or(0).max(self.l1_next_index().unwrap_or(0));
        let limit = known + ATTESTATION_WINDOW_BATCHES;
        if index > limit {
            return Err(AttestationRejected::TooFarAhead { index, limit });
        }
        let signer = recover_signer(&message.digest, &message.signature)
            .ok_or(AttestationRejected::BadSignature)?;
        let position = self
            .config
            .validators
            .iter()
            .position(|v| v.address == signer)
            .ok_or(AttestationRejected::NotASequencer(signer))?;
        self.attestations
            .entry(index)
            .or_default()
            .insert(position, (message.digest, message.signature));
        self.update_quorum(now_ms, index);
        match self.batches.get(&index) {
            Some(batch) if batch.digest != message.digest => {
                Err(AttestationRejected::DifferentHeader { index, signer })
            }
            _ => Ok(()),
        }
    }

    /// The contract's next index, as just read. Batches below it are done and forgotten.
    pub fn on_l1_next_index(&mut self, now_ms: u64, next: u64) {
        if self.l1_next_index() == Some(next) {
            return;
        }
        self.l1_next = Some((next, now_ms));
        self.batches = self.batches.split_off(&next);
        self.attestations = self.attestations.split_off(&next);
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

    /// The post this node should make now, if it is its turn.
    pub fn due(&self, now_ms: u64) -> Option<PostJob> {
        let index = self.l1_next_index()?;
        let starts_at = self.turn_starts_at(index)?;
        if now_ms < starts_at {
            return None;
        }
        if self.retry.is_some_and(|retry| retry.index == index && now_ms < retry.not_before_ms) {
            return None;
        }
        let batch = self.batches.get(&index)?;
        Some(PostJob { header: batch.header, signatures: self.quorum_signatures(index)? })
    }

    /// When this node's turn to post batch `index` starts: `None` while the batch cannot be
    /// posted yet (not built here, no quorum, or not next on L1).
    pub fn turn_starts_at(&self, index: u64) -> Option<u64> {
        let (next, next_since_ms) = self.l1_next?;
        let batch = self.batches.get(&index)?;
        if index != next {
            return None;
        }
        let postable_since_ms = batch.quorum_since_ms?.max(next_since_ms);
        let count = self.config.validators.len() as u64;
        let designated = index % count;
        let turns_after = (self.config.me as u64 + count - designated) % count;
        Some(postable_since_ms.saturating_add(turns_after.saturating_mul(self.config.turn_ms)))
    }

    /// The signatures of `index` that sign this node's digest, in ascending signer order, if
    /// they hold the quorum weight.
    fn quorum_signatures(&self, index: u64) -> Option<Vec<[u8; 65]>> {
        let digest = self.batches.get(&index)?.digest;
        let mut signed: Vec<(L1Address, [u8; 65])> = Vec::new();
        let mut weight = 0u128;
        for (position, (signed_digest, signature)) in self.attestations.get(&index)? {
            if *signed_digest == digest {
                let validator = self.config.validators[*position];
                weight += u128::from(validator.weight);
                signed.push((validator.address, *signature));
            }
        }
        if weight < self.quorum_weight {
            return None;
        }
        signed.sort_by_key(|(address, _)| *address);
        Some(signed.into_iter().map(|(_, signature)| signature).collect())
    }

    fn update_quorum(&mut self, now_ms: u64, index: u64) {
        let has_quorum = self.quorum_signatures(index).is_some();
        if let Some(batch) = self.batches.get_mut(&index) {
            if has_quorum && batch.quorum_since_ms.is_none() {
                batch.quorum_since_ms = Some(now_ms);
            }
        }
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

    /// `me`'s poster with batch `index` signed by itself and by `others`, the contract
    /// expecting `index`, everything at time 0.
    fn with_attestations(committee: &Committee, me: usize, index: u64, others: &[usize]) -> Poster {
        let mut poster = committee.poster(me);
        poster.on_l1_next_index(0, index);
        let own = committee.sign(me, &header(index));
        poster.on_signed(0, header(index), own.signature);
        for &other in others {
            poster.on_attestation(0, committee.sign(other, &header(index))).expect("counted");
        }
        poster
    }

    #[test]
    fn the_designated_validator_posts_once_it_holds_a_quorum() {
        let committee = Committee::new(4);
        // Batch 5 belongs first to validator 5 mod 4 = 1.
        let mut poster = with_attestations(&committee, 1, 5, &[0]);
        assert_eq!(poster.due(0), None, "two of four is not a quorum");
        poster.on_attestation(10, committee.sign(3, &header(5))).expect("counted");
        let job = poster.due(10).expect("its turn");
        assert_eq!(job.header, header(5));
        assert_eq!(job.signatures.len(), 3);
        let digest = batch_digest(&committee.domain, &header(5));
        let signers: Vec<L1Address> =
            job.signatures.iter().map(|s| recover_signer(&digest, s).expect("recovers")).collect();
        assert!(signers.windows(2).all(|pair| pair[0] < pair[1]), "ascending signers");
    }

    #[test]
    fn the_others_take_over_one_turn_after_another() {
        let committee = Committee::new(4);
        for (me, turns) in [(1, 0), (2, 1), (3, 2), (0, 3)] {
            let poster = with_attestations(&committee, me, 5, &[(me + 1) % 4, (me + 2) % 4]);
            let starts = turns * TURN_MS;
            assert_eq!(poster.turn_starts_at(5), Some(starts), "validator {me}");
            if starts > 0 {
                assert_eq!(poster.due(starts - 1), None, "validator {me} waits its turn");
            }
            assert!(poster.due(starts).is_some(), "validator {me} posts in its turn");
        }
    }

    #[test]
    fn a_batch_waits_for_the_one_before_it_and_turns_count_from_then() {
        let committee = Committee::new(4);
        let mut poster = with_attestations(&committee, 2, 6, &[0, 1]);
        poster.on_l1_next_index(0, 5);
        assert_eq!(poster.due(60_000), None, "batch 5 is not on L1 yet");
        poster.on_l1_next_index(60_000, 6);
        // Batch 6 belongs to validator 2: it posts as soon as batch 5 has landed.
        assert!(poster.due(60_000).is_some());
        let mut next = with_attestations(&committee, 3, 6, &[0, 1]);
        next.on_l1_next_index(0, 5);
        next.on_l1_next_index(60_000, 6);
        assert_eq!(next.turn_starts_at(6), Some(60_000 + TURN_MS));
    }

    #[test]
    fn a_landed_batch_is_forgotten_and_its_attestations_refused() {
        let committee = Committee::new(4);
        let mut poster = with_attestations(&committee, 1, 5, &[0, 2]);
        assert!(poster.due(0).is_some());
        poster.on_l1_next_index(100, 6);
        assert_eq!(poster.due(100), None);
        assert!(poster.own_attestations().is_empty());
        assert_eq!(
            poster.on_attestation(100, committee.sign(3, &header(5))),
            Err(AttestationRejected::AlreadyPosted { index: 5, next: 6 })
        );
        assert_eq!(poster.next_to_sign(), Some(6));
    }

    #[test]
    fn early_attestations_count_once_the_batch_is_built() {
        let committee = Committee::new(4);
        let mut poster = committee.poster(1);
        poster.on_l1_next_index(0, 5);
        for other in [0, 2] {
            poster.on_attestation(0, committee.sign(other, &header(5))).expect("kept");
        }
        assert_eq!(poster.due(0), None, "not built here yet");
        let own = committee.sign(1, &header(5));
        poster.on_signed(0, header(5), own.signature);
        assert!(poster.due(0).is_some());
    }

    #[test]
    fn bad_attestations_are_refused_and_do_not_count() {
        let committee = Committee::new(4);
        let mut poster = with_attestations(&committee, 1, 5, &[]);
        let mut forged = committee.sign(0, &header(5));
        forged.signature[10] ^= 1;
        assert!(matches!(
            poster.on_attestation(0, forged),
            Err(AttestationRejected::BadSignature | AttestationRejected::NotASequencer(_))
        ));
        let outsider = L1Signer::from_secret(&[99; 32]).expect("key");
        let signature = attest(&outsider, &committee.domain, &header(5)).expect("signs").signature;
        let message = AttestationMessage {
            index: 5,
            digest: batch_digest(&committee.domain, &header(5)),
            signature,
        };
        assert_eq!(
            poster.on_attestation(0, message),
            Err(AttestationRejected::NotASequencer(outsider.address()))
        );
        let mut other = header(5);
        other.state_root = Hash([9; 32]);
        assert_eq!(
            poster.on_attestation(0, committee.sign(2, &other)),
            Err(AttestationRejected::DifferentHeader {
                index: 5,
                signer: committee.keys[2].address()
            })
        );
        assert_eq!(
            poster
                .on_attestation(0, committee.sign(3, &header(6 + ATTESTATION_WINDOW_BATCHES + 1))),
            Err(AttestationRejected::TooFarAhead { index: 71, limit: 70 })
        );
        assert_eq!(
            poster.on_attestation_bytes(0, &[1, 2, 3]),
            Err(AttestationRejected::Undecodable)
        );
        assert_eq!(poster.due(0), None, "only this node's own signature counts");
        // A second message from the same signer replaces the first instead of adding weight.
        poster.on_attestation(0, committee.sign(0, &header(5))).expect("counted");
        poster.on_attestation(0, committee.sign(0, &header(5))).expect("counted");
        assert_eq!(poster.due(0), None, "two distinct signers of four");
    }

    #[test]
    fn failures_back_off_and_the_turn_passes_on_regardless() {
        let committee = Committee::new(4);
        let mut poster = with_attestations(&committee, 1, 5, &[0, 2]);
        poster.on_post_failed(0, 5);
        assert_eq!(poster.due(499), None);
        assert!(poster.due(500).is_some());
        poster.on_post_failed(500, 5);
        assert_eq!(poster.due(1_499), None, "the wait doubled");
        assert!(poster.due(1_500).is_some());
        // Meanwhile the next validator's turn comes, whatever this one's failures.
        let next = with_attestations(&committee, 2, 5, &[0, 1]);
        assert!(next.due(TURN_MS).is_some());
    }

    #[test]
    fn nothing_is_signed_or_posted_before_the_contract_is_read() {
        let committee = Committee::new(4);
        let mut poster = committee.poster(0);
        assert_eq!(poster.next_to_sign(), None);
        let own = committee.sign(0, &header(4));
        poster.on_signed(0, header(4), own.signature);
        for other in [1, 2] {
            poster.on_attestation(0, committee.sign(other, &header(4))).expect("counted");
        }
        assert_eq!(poster.due(0), None);
        poster.on_l1_next_index(10, 4);
        assert!(poster.due(10).is_some());
    }
}
