//! Consensus votes and commit certificates.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{
    codec::{decode, encode, DecodeError},
    crypto::{verify, SignatureError},
    Address, Hash, Height, SecretKey, Signature, ValidatorSet,
};

/// Domain separator prefixed to a vote's Borsh bytes before signing.
pub const VOTE_SIGNING_DOMAIN: &[u8] = b"tandem.vote.v1";

/// The two vote steps of Tendermint. Encoded as one byte: 0 prevote, 1 precommit.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub enum VoteKind {
    /// First voting step.
    Prevote,
    /// Second voting step; a block is decided by > 2/3 precommits.
    Precommit,
}

impl Serialize for VoteKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for VoteKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match <u8 as Deserialize>::deserialize(deserializer)? {
            0 => Ok(VoteKind::Prevote),
            1 => Ok(VoteKind::Precommit),
            other => {
                Err(serde::de::Error::custom(format!("vote kind must be 0 or 1, got {other}")))
            }
        }
    }
}

/// A vote for a block (or for nothing: `block_hash = None`) at one (height, round, step).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Vote {
    /// The chain.
    pub chain_id: u64,
    /// Height voted on.
    pub height: Height,
    /// Round within the height.
    pub round: u32,
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The block voted for, or `None` for nil.
    pub block_hash: Option<Hash>,
    /// The voting validator.
    pub validator: Address,
}

impl Vote {
    /// The bytes a validator signs: `b"tandem.vote.v1" ++ borsh(vote)`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = VOTE_SIGNING_DOMAIN.to_vec();
        borsh::to_writer(&mut bytes, self).expect("borsh serialisation into a Vec never fails");
        bytes
    }

    /// Signs the vote with the validator's key.
    pub fn sign(&self, key: &SecretKey) -> Signature {
        key.sign(&self.signing_bytes())
    }

    /// Checks `signature` as the vote's validator's signature.
    pub fn verify(&self, signature: &Signature) -> Result<(), SignatureError> {
        verify(&self.validator, &self.signing_bytes(), signature)
    }
}

/// One validator's precommit signature inside a certificate.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CommitSignature {
    /// The signing validator.
    pub validator: Address,
    /// Its signature over the precommit for the certified block.
    pub signature: Signature,
}

/// Proof that more than 2/3 of the voting power precommitted a block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// Height of the block.
    pub height: Height,
    /// Round in which it was decided.
    pub round: u32,
    /// The decided block's hash.
    pub block_hash: Hash,
    /// The precommit signatures.
    pub signatures: Vec<CommitSignature>,
}

/// Why a certificate does not prove a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// More entries than validators: padding that would only cost verification time.
    #[error("certificate has {entries} signatures for {validators} validators")]
    TooManySignatures {
        /// Entries in the certificate.
        entries: usize,
        /// Validators in the set.
        validators: usize,
    },
    /// The certificate names another block than the one it is checked for.
    #[error("certificate is for {found:?} but {expected:?} was expected")]
    WrongBlock {
        /// The block hash the certificate must certify.
        expected: Hash,
        /// The block hash it certifies.
        found: Hash,
    },
    /// The certificate is for another height than the one it is checked for.
    #[error("certificate is for height {found} but height {expected} was expected")]
    WrongHeight {
        /// The expected height.
        expected: Height,
        /// The certificate's height.
        found: Height,
    },
    /// Distinct, known, valid signatures hold at most 2/3 of the voting power.
    #[error("certificate carries {signed} of {total} voting power, more than 2/3 is required")]
    InsufficientPower {
        /// Power of the distinct validators whose signatures verified.
        signed: u64,
        /// Total power of the set.
        total: u64,
    },
}

impl CommitCertificate {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes the canonical encoding; rejects anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<CommitCertificate, DecodeError> {
        decode("commit certificate", bytes)
    }

    /// The precommit `validator` signed for this certificate's block.
    pub fn precommit(&self, chain_id: u64, validator: Address) -> Vote {
        Vote {
            chain_id,
            height: self.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block_hash: Some(self.block_hash),
            validator,
        }
    }

    /// Checks that the certificate proves `block_hash` at `height` for `validators`: the
    /// distinct validators of the set whose precommit signatures verify must hold strictly more
    /// than 2/3 of the total power. Entries from non-validators, repeated validators and bad
    /// signatures count for nothing. Returns the signed power.
    pub fn verify(
        &self,
        chain_id: u64,
        height: Height,
        block_hash: &Hash,
        validators: &ValidatorSet,
    ) -> Result<u64, CertificateError> {
        self.verify_with(chain_id, height, block_hash, validators, |_, _| false)
    }

    /// [`CommitCertificate::verify`], trusting the precommit signatures `verified` vouches for
    /// (this very vote with this very signature, checked before) without checking them again.
    /// A validator builds the certificate of each height it decides from precommits it
    /// verified one by one as they arrived, and is asked to verify it before committing.
    pub fn verify_with(
        &self,
        chain_id: u64,
        height: Height,
        block_hash: &Hash,
        validators: &ValidatorSet,
        verified: impl Fn(&Vote, &Signature) -> bool,
    ) -> Result<u64, CertificateError> {
        if self.height != height {
            return Err(CertificateError::WrongHeight { expected: height, found: self.height });
        }
        if self.block_hash != *block_hash {
            return Err(CertificateError::WrongBlock {
                expected: *block_hash,
                found: self.block_hash,
            });
        }
        if self.signatures.len() > validators.len() {
            return Err(CertificateError::TooManySignatures {
                entries: self.signatures.len(),
                validators: validators.len(),
            });
        }
        let signed = self.signed_power(chain_id, validators, verified);
        let total = validators.total_power();
        if !ValidatorSet::is_quorum(signed, total) {
            return Err(CertificateError::InsufficientPower { signed, total });
        }
        Ok(signed)
    }

    fn signed_power(
        &self,
        chain_id: u64,
        validators: &ValidatorSet,
        verified: impl Fn(&Vote, &Signature) -> bool,
    ) -> u64 {
        let mut counted = BTreeSet::new();
        let mut signed = 0u64;
        for entry in &self.signatures {
            let Some(power) = validators.power_of(&entry.validator) else { continue };
            if counted.contains(&entry.validator) {
                continue;
            }
            let precommit = self.precommit(chain_id, entry.validator);
            if verified(&precommit, &entry.signature) || precommit.verify(&entry.signature).is_ok()
            {
                counted.insert(entry.validator);
                // The set's total fits in a u64 (checked when it was built), so any sum of
                // distinct members does too.
                signed += power;
            }
        }
        signed
    }
}
