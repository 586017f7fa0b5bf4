//! Counters of the pool's decisions, for the node's Prometheus exporter.

use crate::rejection::{Rejection, REASONS};

/// What the pool has done since it started, and what it holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Transactions admitted (replacements included).
    pub admitted: u64,
    /// Rejections per stable reason, in the order of [`REASONS`].
    pub rejected: [u64; REASONS.len()],
    /// Transactions evicted to make room for a higher fee.
    pub evicted: u64,
    /// Transactions replaced by the same sender and nonce with a higher fee.
    pub replaced: u64,
    /// Transactions removed because they outlived the TTL.
    pub expired: u64,
    /// Transactions removed because a committed block included them.
    pub included: u64,
    /// Transactions removed because they became invalid: their nonce was used by another
    /// transaction, or the balance no longer covers them.
    pub dropped: u64,
    /// Transactions held now.
    pub txs: usize,
    /// Of those, the ones executable now (the rest wait behind a nonce gap).
    pub ready_txs: usize,
    /// Encoded bytes held now.
    pub bytes: usize,
}

impl Metrics {
    /// Rejections with the stable reason `reason` (0 for an unknown reason).
    pub fn rejected_for(&self, reason: &str) -> u64 {
        REASONS.iter().position(|r| *r == reason).map_or(0, |i| self.rejected[i])
    }

    /// Every reason with its count, for exporting as labelled counters.
    pub fn rejected_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REASONS.iter().copied().zip(self.rejected.iter().copied())
    }

    pub(crate) fn count_rejection(&mut self, rejection: &Rejection) {
        self.rejected[rejection.reason_index()] += 1;
    }
}
