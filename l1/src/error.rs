//! Errors of the L1 side.

/// A batch that cannot be built from the blocks given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No blocks.
    #[error("a batch needs at least one block")]
    Empty,
    /// The blocks are not the batch's heights, in order.
    #[error("batch {index} holds heights {first}..={last}; block {position} is height {found}")]
    WrongHeight {
        /// The batch.
        index: u64,
        /// Its first height.
        first: u64,
        /// Its last height.
        last: u64,
        /// Position of the offending block.
        position: usize,
        /// Its height.
        found: u64,
    },
}

/// A failure talking to the L1 or a refusal by the contract.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The endpoint could not be reached or answered with an error.
    #[error("L1 RPC: {0}")]
    Rpc(String),
    /// The contract refused the call, with its reason (one of its custom errors).
    #[error("the rollup contract refused: {0:?}")]
    Refused(Box<crate::contract::TandemRollup::TandemRollupErrors>),
    /// No contract code at the address.
    #[error("no contract code at {0}")]
    NoContract(String),
    /// The key or an argument is unusable.
    #[error("{0}")]
    Invalid(String),
}
