//! Tandem's deterministic state machine and its store.
//!
//! Owns the account state (in memory, with the live nodes of its SHA-256 Jellyfish Merkle tree
//! cached) and the node's redb file. In: the genesis, blocks to validate or build, and decided
//! blocks with their certificates to commit. Out: state roots, receipts, typed rejections of
//! invalid blocks and transactions, and reads of any retained height (blocks, certificates,
//! receipts, transaction locations, accounts with proofs).
//!
//! Execution never touches the disk; [`Executor::commit`] writes a block and all its effects in
//! one redb write transaction and only then updates memory. Nothing here reads a clock.

mod error;
mod executor;
mod ledger;
mod store;
mod tree;
mod tx_index;

pub use error::{BlockError, ExecutorError, StoreError, TxError};
pub use executor::{
    BlockOutcome, BuiltBlock, CommittedAccounts, Durability, Executor, ProvenAccount,
};
pub use ledger::{Receipt, SignatureCheck, Withdrawal};
pub use store::{Head, StateRef, Store, StoreConfig};
