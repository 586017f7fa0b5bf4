//! How fast the chain includes transactions, for the `retry_after_ms` hint of `mempool_full`:
//! a fixed hint under a lasting overload makes every refused client come back at once, and
//! the refusals then cost more than the transactions the pool does take.

use std::collections::VecDeque;

/// The stretch of recent blocks the inclusion rate is measured over.
pub const RATE_WINDOW_MS: u64 = 10_000;
/// The longest retry hint: past it a client had better look at the chain again.
pub const RETRY_AFTER_MAX_MS: u64 = 60_000;

/// Transactions included per committed block over the last [`RATE_WINDOW_MS`].
#[derive(Debug, Default)]
pub struct InclusionRate {
    /// (commit time in ms, transactions in the block), oldest first.
    blocks: VecDeque<(u64, u64)>,
    /// The sum of the counts in `blocks`.
    txs: u64,
}

impl InclusionRate {
    /// Records a block of `txs` transactions committed at `now_ms`, forgetting blocks that
    /// left the window.
    pub fn on_block(&mut self, now_ms: u64, txs: usize) {
        self.blocks.push_back((now_ms, txs as u64));
        self.txs += txs as u64;
        while let Some(&(at_ms, count)) = self.blocks.front() {
            if now_ms.saturating_sub(at_ms) <= RATE_WINDOW_MS {
                break;
            }
            self.blocks.pop_front();
            self.txs -= count;
        }
    }

    /// How long the chain needs to include `backlog` transactions at the rate it included them
    /// over the window, in ms; `None` before two blocks with transactions between them.
    pub fn drain_ms(&self, backlog: usize) -> Option<u64> {
        let (&(first_ms, first_txs), &(last_ms, _)) = (self.blocks.front()?, self.blocks.back()?);
        // The first block's transactions arrived before the window's span began.
        let included = self.txs - first_txs;
        let span_ms = last_ms.saturating_sub(first_ms);
        if included == 0 || span_ms == 0 {
            return None;
        }
        let drain_ms = (backlog as u128 * u128::from(span_ms)).div_ceil(u128::from(included));
        Some(u64::try_from(drain_ms).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_what_the_window_included_over_its_span() {
        let mut rate = InclusionRate::default();
        assert_eq!(rate.drain_ms(1_000), None, "no block yet");
        rate.on_block(0, 500);
        assert_eq!(rate.drain_ms(1_000), None, "one block has no span");
        // 1,000 transactions in the 500 ms after the first block: 2 per ms.
        rate.on_block(250, 500);
        rate.on_block(500, 500);
        assert_eq!(rate.drain_ms(1_000), Some(500));
        assert_eq!(rate.drain_ms(0), Some(0));
        assert_eq!(rate.drain_ms(1), Some(1), "rounded up");
    }

    #[test]
    fn old_blocks_leave_the_window_and_empty_blocks_give_no_rate() {
        let mut rate = InclusionRate::default();
        rate.on_block(0, 10_000);
        rate.on_block(1_000, 10_000);
        assert_eq!(rate.drain_ms(10_000), Some(1_000));
        // Empty blocks until the busy ones leave the window: the rate falls, then is unknown.
        rate.on_block(RATE_WINDOW_MS, 0);
        assert_eq!(rate.drain_ms(10_000), Some(RATE_WINDOW_MS));
        rate.on_block(RATE_WINDOW_MS + 1_001, 0);
        assert_eq!(rate.drain_ms(10_000), None);
    }
}
