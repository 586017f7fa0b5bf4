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

/// Why a validator does not sign a proposed batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalRejected {
    /// Not the heights of its index.
    #[error("batch {index} does not hold heights {first}..={last}")]
    WrongHeights {
        /// The batch.
        index: u64,
        /// The header's first height.
        first: u64,
        /// The header's last height.
        last: u64,
    },
    /// Not one certificate per block of the batch.
    #[error("{certificates} certificates for {blocks} blocks")]
    CertificateCount {
        /// Certificates proposed.
        certificates: usize,
        /// Blocks of the batch here.
        blocks: usize,
    },
    /// A certificate does not prove this node's block.
    #[error("height {height}: {error}")]
    Certificate {
        /// The height.
        height: u64,
        /// Why.
        error: tandem_types::CertificateError,
    },
    /// This node's blocks do not make a batch.
    #[error(transparent)]
    Blocks(BatchError),
    /// The header is not the one of this node's blocks with these certificates. A different
    /// state root or block hash means the proposer's chain differs from this node's.
    #[error("batch {index}: the proposed {field} differs from this node's")]
    HeaderMismatch {
        /// The batch.
        index: u64,
        /// The first field that differs.
        field: &'static str,
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
    /// Another poster got this batch on L1 while this one's transaction waited.
    #[error("batch {index} was posted by another validator first")]
    Superseded {
        /// The batch.
        index: u64,
    },
    /// The key or an argument is unusable.
    #[error("{0}")]
    Invalid(String),
}
