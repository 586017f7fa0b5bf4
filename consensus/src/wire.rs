//! The consensus messages nodes exchange, in Borsh.

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{
    NilOrVal, PolkaCertificate, Round, RoundCertificate, RoundCertificateType, RoundSignature,
    SignedMessage, Vote as _,
};
use tandem_types::{decode, encode, Address, Block, DecodeError, Signature, Vote};

use crate::context::{
    BlockHeight, BlockProposal, BlockValue, ConsensusVote, TandemContext, ValidatorAddress,
};

/// Which certificate a list of votes forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CertificateKind {
    /// More than 2/3 of prevotes for one block in one round (a proof of lock).
    Polka,
    /// Votes of more than 1/3 of the power in a later round: skip to it.
    SkipRound,
    /// Precommits of more than 2/3 of the power in a round, for any values: move on.
    PrecommitRound,
}

/// A signed vote or proposal as sent between validators.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WireMessage {
    /// A prevote or precommit.
    Vote {
        /// The vote, exactly as the protocol defines it.
        vote: Vote,
        /// The validator's signature over the vote's signing bytes.
        signature: Signature,
    },
    /// A proposal carrying its block.
    Proposal {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Round of the proof of lock, if any.
        pol_round: Option<u32>,
        /// The proposer.
        proposer: Address,
        /// The proposed block.
        block: Block,
        /// The proposer's signature over the proposal's signing bytes.
        signature: Signature,
    },
    /// Votes forming a certificate, sent so that a validator that missed them can catch up.
    Certificate {
        /// What they certify.
        kind: CertificateKind,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The signed votes.
        votes: Vec<(Vote, Signature)>,
    },
}

impl WireMessage {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a message; rejects anything that is not a canonical encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<WireMessage, DecodeError> {
        decode("consensus message", bytes)
    }

    /// The height the message belongs to.
    pub fn height(&self) -> u64 {
        match self {
            WireMessage::Vote { vote, .. } => vote.height,
            WireMessage::Proposal { height, .. } | WireMessage::Certificate { height, .. } => {
                *height
            }
        }
    }

    /// A proposal of `block` signed by `key`, as the proposer of (height, round) sends it.
    pub fn signed_proposal(
        chain_id: u64,
        round: u32,
        pol_round: Option<u32>,
        block: Block,
        key: &tandem_types::SecretKey,
    ) -> WireMessage {
        let height = block.header.height;
        let proposer = key.address();
        let proposal =
            proposal_from_wire(chain_id, height, round, pol_round, proposer, block.clone());
        let signature = key.sign(&proposal.signing_bytes());
        WireMessage::Proposal { height, round, pol_round, proposer, block, signature }
    }

    /// The wire form of a signed vote; `None` for a vote without a defined round.
    pub fn from_vote(vote: &SignedMessage<TandemContext, ConsensusVote>) -> Option<WireMessage> {
        Some(WireMessage::Vote { vote: vote.message.to_protocol()?, signature: vote.signature })
    }

    /// The wire form of a signed proposal; `None` for a proposal without a defined round.
    pub fn from_proposal(
        proposal: &SignedMessage<TandemContext, BlockProposal>,
    ) -> Option<WireMessage> {
        let message = &proposal.message;
        Some(WireMessage::Proposal {
            height: message.height.0,
            round: message.round.as_u32()?,
            pol_round: message.pol_round.as_u32(),
            proposer: message.proposer.0,
            block: message.value.block().clone(),
            signature: proposal.signature,
        })
    }
}

/// A proposal received from the wire, back in consensus form.
pub(crate) fn proposal_from_wire(
    chain_id: u64,
    height: u64,
    round: u32,
    pol_round: Option<u32>,
    proposer: Address,
    block: Block,
) -> BlockProposal {
    BlockProposal {
        chain_id,
        height: BlockHeight(height),
        round: Round::new(round),
        value: BlockValue::new(block),
        pol_round: pol_round.map_or(Round::Nil, Round::new),
        proposer: ValidatorAddress(proposer),
    }
}

fn protocol_votes(
    votes: impl Iterator<Item = SignedMessage<TandemContext, ConsensusVote>>,
) -> Vec<(Vote, Signature)> {
    votes.filter_map(|vote| Some((vote.message.to_protocol()?, vote.signature))).collect()
}

fn signed_votes(votes: &[(Vote, Signature)]) -> Vec<SignedMessage<TandemContext, ConsensusVote>> {
    votes
        .iter()
        .map(|(vote, signature)| SignedMessage::new(ConsensusVote::from_protocol(vote), *signature))
        .collect()
}

/// The wire form of a polka certificate.
pub(crate) fn from_polka(
    ctx: &TandemContext,
    certificate: &PolkaCertificate<TandemContext>,
) -> Option<WireMessage> {
    Some(WireMessage::Certificate {
        kind: CertificateKind::Polka,
        height: certificate.height.0,
        round: certificate.round.as_u32()?,
        votes: protocol_votes(certificate.votes(ctx)),
    })
}

/// The wire form of a round certificate.
pub(crate) fn from_round(
    ctx: &TandemContext,
    certificate: &RoundCertificate<TandemContext>,
) -> Option<WireMessage> {
    let kind = match certificate.cert_type {
        RoundCertificateType::Skip => CertificateKind::SkipRound,
        RoundCertificateType::Precommit => CertificateKind::PrecommitRound,
    };
    Some(WireMessage::Certificate {
        kind,
        height: certificate.height.0,
        round: certificate.round.as_u32()?,
        votes: protocol_votes(certificate.votes(ctx)),
    })
}

/// A polka certificate from its votes: they must all be prevotes for one block.
pub(crate) fn to_polka(
    height: u64,
    round: u32,
    votes: &[(Vote, Signature)],
) -> Option<PolkaCertificate<TandemContext>> {
    let signed = signed_votes(votes);
    let value = match signed.first()?.message.value() {
        NilOrVal::Val(id) => *id,
        NilOrVal::Nil => return None,
    };
    let certificate = PolkaCertificate::new(BlockHeight(height), Round::new(round), value, signed);
    (certificate.polka_signatures.len() == votes.len()).then_some(certificate)
}

/// A round certificate from its votes.
pub(crate) fn to_round(
    kind: CertificateKind,
    height: u64,
    round: u32,
    votes: &[(Vote, Signature)],
) -> Option<RoundCertificate<TandemContext>> {
    let cert_type = match kind {
        CertificateKind::SkipRound => RoundCertificateType::Skip,
        CertificateKind::PrecommitRound => RoundCertificateType::Precommit,
        CertificateKind::Polka => return None,
    };
    let round_signatures = signed_votes(votes)
        .into_iter()
        .filter(|vote| {
            vote.message.height() == BlockHeight(height)
                && vote.message.round() == Round::new(round)
        })
        .map(|vote| {
            RoundSignature::new(
                vote.message.vote_type(),
                *vote.message.value(),
                *vote.message.validator_address(),
                vote.signature,
            )
        })
        .collect::<Vec<_>>();
    (round_signatures.len() == votes.len()).then_some(RoundCertificate {
        height: BlockHeight(height),
        round: Round::new(round),
        cert_type,
        round_signatures,
    })
}
