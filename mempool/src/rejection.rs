//! Why a transaction was refused, with the protocol's stable reason strings.

use tandem_types::{Address, DecodeError, Hash, SignatureError};

/// Why a transaction was not admitted. [`Rejection::reason`] is the stable `data.reason` of
/// the JSON-RPC error; `Display` is the human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes are not a canonical signed transaction.
    #[error("{0}")]
    BadEncoding(DecodeError),
    /// The signature does not verify under the strict rule.
    #[error("bad signature: {0}")]
    BadSignature(SignatureError),
    /// The transaction is for another chain.
    #[error("transaction is for chain {got}, this chain is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: u64,
        /// The transaction's chain id.
        got: u64,
    },
    /// The nonce was already used.
    #[error("nonce {nonce} is below the account nonce {account_nonce}")]
    NonceTooLow {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's committed nonce.
        account_nonce: u64,
    },
    /// The nonce is too far ahead of the sender's next nonce.
    #[error(
        "nonce {nonce} is too far ahead: the sender's next nonce is {pending_nonce} and at most \
         {gap_max} nonces may be skipped"
    )]
    NonceTooHigh {
        /// The transaction's nonce.
        nonce: u64,
        /// The first nonce not yet queued after the account nonce.
        pending_nonce: u64,
        /// The configured largest gap.
        gap_max: u64,
    },
    /// The balance does not cover this transaction after the sender's earlier queued ones.
    #[error(
        "balance {balance} does not cover {required}: amount plus fee of this transaction and \
         of the sender's queued transactions before it"
    )]
    InsufficientBalance {
        /// The sender's committed balance.
        balance: u128,
        /// What this transaction and the earlier queued ones cost together.
        required: u128,
    },
    /// Amount plus fee, or the sum with earlier queued transactions, overflows a u128.
    #[error("amount plus fee overflows")]
    CostOverflow,
    /// The fee is below the genesis minimum.
    #[error("fee {fee} is below the minimum fee {min_fee}")]
    FeeBelowMinimum {
        /// The transaction's fee.
        fee: u128,
        /// The chain's minimum fee.
        min_fee: u128,
    },
    /// A transaction with the same sender and nonce is queued and this fee does not outbid it.
    #[error(
        "fee {fee} is too low to replace the queued transaction with nonce {nonce}: a \
         replacement needs a fee of at least {required}"
    )]
    ReplacementUnderpriced {
        /// The contested nonce.
        nonce: u64,
        /// The transaction's fee.
        fee: u128,
        /// The smallest fee that replaces.
        required: u128,
    },
    /// The encoding is larger than the configured limit.
    #[error("transaction is {bytes} bytes, the limit is {max}")]
    TooLarge {
        /// Size of the encoding.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The transaction is already in the pool, or was recently admitted or included.
    #[error("transaction {0} is already known")]
    Duplicate(Hash),
    /// The pool is full and the fee does not outbid a transaction that could be evicted.
    #[error("mempool is full and the fee does not outbid any evictable transaction; retry after {retry_after_ms} ms")]
    MempoolFull {
        /// When a retry may succeed.
        retry_after_ms: u64,
    },
    /// The sender has as many queued transactions as allowed.
    #[error("sender {sender} already has {queued} queued transactions, the limit")]
    SenderLimit {
        /// The sender.
        sender: Address,
        /// Its queued transactions.
        queued: usize,
    },
}

/// Every stable reason string, in the order of PROTOCOL.md.
pub const REASONS: [&str; 11] = [
    "bad_encoding",
    "bad_signature",
    "wrong_chain",
    "nonce_too_low",
    "nonce_too_high",
    "insufficient_balance",
    "fee_too_low",
    "too_large",
    "duplicate",
    "mempool_full",
    "sender_limit",
];

impl Rejection {
    /// The stable reason: one of [`REASONS`].
    pub fn reason(&self) -> &'static str {
        REASONS[self.reason_index()]
    }

    /// Position of [`Rejection::reason`] in [`REASONS`].
    pub fn reason_index(&self) -> usize {
        match self {
            Rejection::BadEncoding(_) => 0,
            Rejection::BadSignature(_) => 1,
            Rejection::WrongChain { .. } => 2,
            Rejection::NonceTooLow { .. } => 3,
            Rejection::NonceTooHigh { .. } => 4,
            Rejection::InsufficientBalance { .. } | Rejection::CostOverflow => 5,
            Rejection::FeeBelowMinimum { .. } | Rejection::ReplacementUnderpriced { .. } => 6,
            Rejection::TooLarge { .. } => 7,
            Rejection::Duplicate(_) => 8,
            Rejection::MempoolFull { .. } => 9,
            Rejection::SenderLimit { .. } => 10,
        }
    }

    /// The retry hint of `mempool_full` (the JSON-RPC `data.retry_after_ms`).
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Rejection::MempoolFull { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_is_wrong() {
        let low = Rejection::NonceTooLow { nonce: 3, account_nonce: 5 };
        assert_eq!(low.to_string(), "nonce 3 is below the account nonce 5");
        assert_eq!(low.reason(), "nonce_too_low");
        let bump = Rejection::ReplacementUnderpriced { nonce: 2, fee: 10, required: 11 };
        assert_eq!(bump.reason(), "fee_too_low");
        assert!(bump.to_string().contains("at least 11"), "{bump}");
        let full = Rejection::MempoolFull { retry_after_ms: 750 };
        assert_eq!(full.retry_after_ms(), Some(750));
        assert!(full.to_string().contains("750 ms"));
        assert_eq!(Rejection::CostOverflow.reason(), "insufficient_balance");
        assert_eq!(low.retry_after_ms(), None);
    }
}
