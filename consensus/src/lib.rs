//! Tandem's consensus: Malachite's Tendermint core driven directly over Tandem's types.
//!
//! Owns the Malachite `Context` (this crate is the only one that names Malachite types), the
//! sans-IO `ConsensusCore` that handles every effect (proposing and validating blocks through
//! the executor, the empty-block modes, peer penalties), its write-ahead log, value sync, and
//! `run_validator`, the tokio shell over a transport. In: votes, proposals and decided blocks
//! from peers (with the sender's key), candidate transactions from a `BlockSource`, the time.
//! Out: signed votes and proposals to publish, sync messages, log appends, timers, and decided
//! blocks committed with their certificates.

mod context;
mod core;
mod driver;
mod penalty;
mod sync;
mod verified;
mod wal;
mod wire;

pub use context::{
    from_protocol_certificate, to_protocol_certificate, BlockHeight, BlockId, BlockProposal,
    BlockValue, ConsensusValidator, ConsensusValidatorSet, ConsensusVote, Ed25519, NoProposalParts,
    TandemContext, ValidatorAddress, PROPOSAL_SIGNING_DOMAIN,
};
pub use core::{
    BlockSource, ConsensusConfig, ConsensusCore, EmptyBlocks, Fatal, Output, Rejection, TimerId,
    TimerKind,
};
pub use driver::{run_validator, ConsensusStatus, Decision, ValidatorIo};
pub use penalty::{PeerPenalties, PeerRecord, BAN_MS, BAN_POINTS};
pub use sync::{SyncMessage, SYNC_BLOCKS_MAX, SYNC_BYTES_MAX};
pub use wal::{FileWal, WalEntry};
pub use wire::{CertificateKind, WireMessage};
