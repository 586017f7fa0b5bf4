//! The consensus messages nodes exchange, in Borsh.

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{Round, SignedMessage};
use tandem_types::{decode, encode, Address, Block, DecodeError, Signature, Vote};

use crate::context::{
    BlockHeight, BlockProposal, BlockValue, ConsensusVote, TandemContext, ValidatorAddress,
};

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
