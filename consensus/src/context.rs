//! The one Malachite `Context` over Tandem's types. Every Malachite type stays inside this
//! crate; the rest of the workspace speaks `tandem_types`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use borsh::BorshSerialize;
use malachitebft_core_types as mt;
use mt::{NilOrVal, Round, VoteType};
use tandem_types::{
    Address, Block, CommitCertificate, CommitSignature, Hash, SecretKey, Signature, ValidatorSet,
    Vote, VoteKind,
};

/// Domain separator prefixed to a proposal's Borsh bytes before signing.
pub const PROPOSAL_SIGNING_DOMAIN: &[u8] = b"tandem.proposal.v1";

/// A validator's address as Malachite sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorAddress(pub Address);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl mt::Address for ValidatorAddress {}

/// A block height as Malachite sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHeight(pub u64);

impl fmt::Display for BlockHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mt::Height for BlockHeight {
    const ZERO: Self = BlockHeight(0);
    const INITIAL: Self = BlockHeight(1);

    fn increment_by(&self, n: u64) -> Self {
        BlockHeight(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(BlockHeight)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// The id of a proposed value: the block hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A proposed block. Cheap to clone; compared by its hash, which commits to all its content.
#[derive(Clone, Debug)]
pub struct BlockValue {
    id: BlockId,
    block: Arc<Block>,
}

impl BlockValue {
    /// Wraps a block, computing its id once.
    pub fn new(block: Block) -> BlockValue {
        BlockValue { id: BlockId(block.hash()), block: Arc::new(block) }
    }

    /// The block hash, as the value's id.
    pub fn id(&self) -> BlockId {
        self.id
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }
}

impl PartialEq for BlockValue {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for BlockValue {}

impl PartialOrd for BlockValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BlockValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

impl mt::Value for BlockValue {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        self.id
    }
}

/// A prevote or precommit, holding exactly the fields of the protocol's `Vote`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusVote {
    chain_id: u64,
    height: BlockHeight,
    round: Round,
    kind: VoteType,
    value: NilOrVal<BlockId>,
    validator: ValidatorAddress,
}

impl ConsensusVote {
    /// The protocol vote this is; `None` if the round is undefined (never for a real vote).
    pub fn to_protocol(&self) -> Option<Vote> {
        Some(Vote {
            chain_id: self.chain_id,
            height: self.height.0,
            round: self.round.as_u32()?,
            kind: match self.kind {
                VoteType::Prevote => VoteKind::Prevote,
                VoteType::Precommit => VoteKind::Precommit,
            },
            block_hash: match self.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(id) => Some(id.0),
            },
            validator: self.validator.0,
        })
    }

    /// The vote a protocol vote is.
    pub fn from_protocol(vote: &Vote) -> ConsensusVote {
        ConsensusVote {
            chain_id: vote.chain_id,
            height: BlockHeight(vote.height),
            round: Round::new(vote.round),
            kind: match vote.kind {
                VoteKind::Prevote => VoteType::Prevote,
                VoteKind::Precommit => VoteType::Precommit,
            },
            value: vote.block_hash.map_or(NilOrVal::Nil, |hash| NilOrVal::Val(BlockId(hash))),
            validator: ValidatorAddress(vote.validator),
        }
    }
}

impl mt::Vote<TandemContext> for ConsensusVote {
    fn height(&self) -> BlockHeight {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.kind
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&mt::SignedExtension<TandemContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<mt::SignedExtension<TandemContext>> {
        None
    }

    fn extend(self, _extension: mt::SignedExtension<TandemContext>) -> Self {
        // Tandem does not use vote extensions; the policy is always `Disabled`.
        self
    }
}

/// A proposal: a block for (height, round), with the round of its proof of lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockProposal {
    /// Chain the proposal is for.
    pub chain_id: u64,
    /// Height.
    pub height: BlockHeight,
    /// Round.
    pub round: Round,
    /// The proposed block.
    pub value: BlockValue,
    /// Round of the polka this value was locked in, or nil.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: ValidatorAddress,
}

#[derive(BorshSerialize)]
struct ProposalSigning {
    chain_id: u64,
    height: u64,
    round: Option<u32>,
    block_hash: Hash,
    pol_round: Option<u32>,
    proposer: Address,
}

impl BlockProposal {
    /// The bytes the proposer signs: `b"tandem.proposal.v1" ++ borsh((chain_id, height, round,
    /// block_hash, pol_round, proposer))` with rounds as options (nil = none).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let signing = ProposalSigning {
            chain_id: self.chain_id,
            height: self.height.0,
            round: self.round.as_u32(),
            block_hash: self.value.id.0,
            pol_round: self.pol_round.as_u32(),
            proposer: self.proposer.0,
        };
        let mut bytes = PROPOSAL_SIGNING_DOMAIN.to_vec();
        borsh::to_writer(&mut bytes, &signing).expect("borsh serialisation into a Vec never fails");
        bytes
    }
}

impl mt::Proposal<TandemContext> for BlockProposal {
    fn height(&self) -> BlockHeight {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// Blocks travel whole inside proposals, so there are no proposal parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoProposalParts {}

impl mt::ProposalPart<TandemContext> for NoProposalParts {
    fn is_first(&self) -> bool {
        match *self {}
    }

    fn is_last(&self) -> bool {
        match *self {}
    }
}

/// A member of the validator set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusValidator {
    address: ValidatorAddress,
    public_key: Address,
    power: u64,
}

impl mt::Validator<TandemContext> for ConsensusValidator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &Address {
        &self.public_key
    }

    fn voting_power(&self) -> mt::VotingPower {
        self.power
    }
}

/// The validator set in genesis order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusValidatorSet {
    validators: Vec<ConsensusValidator>,
    index: BTreeMap<ValidatorAddress, usize>,
    total_power: u64,
}

impl ConsensusValidatorSet {
    /// The set of `validators`, in their order.
    pub fn new(validators: &ValidatorSet) -> ConsensusValidatorSet {
        let validators: Vec<ConsensusValidator> = validators
            .validators()
            .iter()
            .map(|v| ConsensusValidator {
                address: ValidatorAddress(v.address),
                public_key: v.address,
                power: v.power,
            })
            .collect();
        let index = validators.iter().enumerate().map(|(i, v)| (v.address, i)).collect();
        let total_power = validators.iter().map(|v| v.power).sum();
        ConsensusValidatorSet { validators, index, total_power }
    }
}

impl mt::ValidatorSet<TandemContext> for ConsensusValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> mt::VotingPower {
        self.total_power
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&ConsensusValidator> {
        self.index.get(address).map(|&i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&ConsensusValidator> {
        self.validators.get(index)
    }
}

/// Malformed key or signature bytes.
#[derive(Debug)]
pub struct DecodingError(&'static str);

impl fmt::Display for DecodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// ed25519 under Tandem's strict rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

impl mt::SigningScheme for Ed25519 {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = Address;
    type PrivateKey = SecretKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        bytes.try_into().map(Signature).map_err(|_| DecodingError("a signature has 64 bytes"))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<Address, DecodingError> {
        bytes.try_into().map(Address).map_err(|_| DecodingError("a public key has 32 bytes"))
    }

    fn encode_public_key(public_key: &Address) -> Vec<u8> {
        public_key.0.to_vec()
    }
}

/// Tandem's consensus context: the chain id every vote and proposal carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TandemContext {
    /// The chain.
    pub chain_id: u64,
}

impl mt::Context for TandemContext {
    type Address = ValidatorAddress;
    type Height = BlockHeight;
    type ProposalPart = NoProposalParts;
    type Proposal = BlockProposal;
    type Validator = ConsensusValidator;
    type ValidatorSet = ConsensusValidatorSet;
    type Timeouts = mt::LinearTimeouts;
    type Value = BlockValue;
    type Vote = ConsensusVote;
    type Extension = ();
    type SigningScheme = Ed25519;

    /// Weighted round robin: slot `(height + round) mod total_power` of the validators laid
    /// out in genesis order, each taking as many consecutive slots as its power.
    fn select_proposer<'a>(
        &self,
        set: &'a ConsensusValidatorSet,
        height: BlockHeight,
        round: Round,
    ) -> &'a ConsensusValidator {
        assert!(set.total_power > 0, "a validator set has positive total power");
        let round = u64::from(round.as_u32().unwrap_or(0));
        let mut slot = (height.0 % set.total_power + round % set.total_power) % set.total_power;
        for validator in &set.validators {
            if slot < validator.power {
                return validator;
            }
            slot -= validator.power;
        }
        unreachable!("slot is below the total power, so some validator holds it")
    }

    fn new_proposal(
        &self,
        height: BlockHeight,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> BlockProposal {
        BlockProposal {
            chain_id: self.chain_id,
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: BlockHeight,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> ConsensusVote {
        ConsensusVote {
            chain_id: self.chain_id,
            height,
            round,
            kind: VoteType::Prevote,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: BlockHeight,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> ConsensusVote {
        ConsensusVote {
            chain_id: self.chain_id,
            height,
            round,
            kind: VoteType::Precommit,
            value: value_id,
            validator: address,
        }
    }
}

/// The protocol certificate of a Malachite commit certificate.
pub fn to_protocol_certificate(
    certificate: &mt::CommitCertificate<TandemContext>,
) -> Option<CommitCertificate> {
    Some(CommitCertificate {
        height: certificate.height.0,
        round: certificate.round.as_u32()?,
        block_hash: certificate.value_id.0,
        signatures: certificate
            .commit_signatures
            .iter()
            .map(|s| CommitSignature { validator: s.address.0, signature: s.signature })
            .collect(),
    })
}

/// The Malachite commit certificate of a protocol certificate.
pub fn from_protocol_certificate(
    certificate: &CommitCertificate,
) -> mt::CommitCertificate<TandemContext> {
    mt::CommitCertificate {
        height: BlockHeight(certificate.height),
        round: Round::new(certificate.round),
        value_id: BlockId(certificate.block_hash),
        commit_signatures: certificate
            .signatures
            .iter()
            .map(|s| mt::CommitSignature::new(ValidatorAddress(s.validator), s.signature))
            .collect(),
    }
}
