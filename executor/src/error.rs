//! Typed errors of execution and storage.

use tandem_types::{Address, Hash, Height, SignatureError};

/// Why a transaction cannot be executed on the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The transaction is for another chain.
    #[error("transaction is for chain {found}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The transaction's chain id.
        found: u64,
    },
    /// The signature does not pass the strict rule.
    #[error("bad signature: {0}")]
    BadSignature(SignatureError),
    /// The fee is below the genesis minimum.
    #[error("fee {fee} is below the minimum {min_fee}")]
    FeeTooLow {
        /// Genesis `min_fee`.
        min_fee: u128,
        /// The transaction's fee.
        fee: u128,
    },
    /// The nonce was already used.
    #[error("nonce {found} is below the account nonce {expected}")]
    NonceTooLow {
        /// The account's nonce.
        expected: u64,
        /// The transaction's nonce.
        found: u64,
    },
    /// The nonce skips ahead of the account's.
    #[error("nonce {found} is above the account nonce {expected}")]
    NonceTooHigh {
        /// The account's nonce.
        expected: u64,
        /// The transaction's nonce.
        found: u64,
    },
    /// Amount plus fee exceeds the balance.
    #[error("balance {balance} is less than amount plus fee {needed}")]
    InsufficientBalance {
        /// The sender's balance.
        balance: u128,
        /// Amount plus fee.
        needed: u128,
    },
    /// An arithmetic overflow (amount + fee, a credited balance, or the nonce).
    #[error("{0} overflows")]
    Overflow(&'static str),
}

/// Why a block is invalid. Validators never vote for such a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header names another chain.
    #[error("block is for chain {found}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The header's chain id.
        found: u64,
    },
    /// The block does not extend the head.
    #[error("block height {found} does not follow head height {expected_minus_one}", expected_minus_one = expected - 1)]
    WrongHeight {
        /// The next height.
        expected: Height,
        /// The header's height.
        found: Height,
    },
    /// The parent hash is not the head's hash.
    #[error("parent hash {found} is not the head hash {expected}")]
    WrongParent {
        /// The head's hash.
        expected: Hash,
        /// The header's parent hash.
        found: Hash,
    },
    /// The timestamp goes back in time.
    #[error("timestamp {found_ms} ms is before the parent's {parent_ms} ms")]
    TimestampBeforeParent {
        /// Parent timestamp.
        parent_ms: u64,
        /// Header timestamp.
        found_ms: u64,
    },
    /// The proposer is not a validator.
    #[error("proposer {0} is not a validator")]
    UnknownProposer(Address),
    /// `tx_count` disagrees with the body.
    #[error("header says {header} transactions, the body has {body}")]
    TxCountMismatch {
        /// Header `tx_count`.
        header: u32,
        /// Transactions in the body.
        body: usize,
    },
    /// Too many transactions.
    #[error("{count} transactions exceed the limit of {max}")]
    TooManyTxs {
        /// Transactions in the block.
        count: usize,
        /// Genesis `block_txs_max`.
        max: u32,
    },
    /// Too many bytes.
    #[error("{bytes} bytes exceed the block limit of {max}")]
    TooLarge {
        /// Encoded size.
        bytes: usize,
        /// Genesis `block_bytes_max`.
        max: u32,
    },
    /// `tx_root` disagrees with the body.
    #[error("header tx_root {header} differs from the computed {computed}")]
    TxRootMismatch {
        /// Header value.
        header: Hash,
        /// Computed from the body.
        computed: Hash,
    },
    /// A transaction is invalid.
    #[error("transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTx {
        /// Position in the block.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// Why.
        reason: TxError,
    },
    /// The state root after execution differs from the header's.
    #[error("header state_root {header} differs from the executed {computed}")]
    StateRootMismatch {
        /// Header value.
        header: Hash,
        /// Computed by execution.
        computed: Hash,
    },
    /// The outcome offered for commit was computed on another head or for another block.
    #[error("the execution outcome does not belong to this block on this head")]
    StaleOutcome,
    /// The certificate offered for commit names another block or height.
    #[error("certificate for height {height} and block {block_hash} does not match the block")]
    CertificateMismatch {
        /// Certificate height.
        height: Height,
        /// Certificate block hash.
        block_hash: Hash,
    },
}

/// A storage failure. Fatal: the node must stop rather than continue on state it cannot trust.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb reported an error.
    #[error("database error: {0}")]
    Database(#[from] redb::Error),
    /// Stored bytes do not decode: the file is corrupt or from another version.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The store was created with another genesis.
    #[error("store belongs to genesis {stored}, the configured genesis is {configured}")]
    GenesisMismatch {
        /// Genesis hash recorded in the store.
        stored: Hash,
        /// Genesis hash of the configuration.
        configured: Hash,
    },
    /// The height is not retained.
    #[error("height {0} is not in the store")]
    MissingHeight(Height),
    /// The file was written in a layout this version does not read.
    #[error(
        "store format {found}, this version reads format {expected}: remove the data directory \
         and let the node sync again"
    )]
    Format {
        /// Format recorded in the file (1 for files from before formats were recorded).
        found: u32,
        /// Format this version reads and writes.
        expected: u32,
    },
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(error: $error) -> Self {
                StoreError::Database(error.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Anything `Executor` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The block is invalid.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Storage failed (fatal).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis document is unusable.
    #[error("bad genesis: {0}")]
    Genesis(#[from] tandem_types::GenesisError),
}
