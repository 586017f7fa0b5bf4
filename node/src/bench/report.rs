//! One step's numbers: throughput, latency percentiles, block interval, rejections; printed
//! as a table row and written as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::finality::{Finality, SeenBlock};

/// The result of one rate step.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// Offered rate, tx/s.
    pub offered_tps: u64,
    /// Length of the load, seconds.
    pub duration_s: f64,
    /// Transactions sent.
    pub sent: usize,
    /// Rate actually applied, tx/s (sent over the time sending took).
    pub applied_tps: f64,
    /// Transactions the nodes accepted.
    pub accepted: u64,
    /// Refusals by reason (`timeout` and `transport`: no answer); a refusal retried later
    /// counts each time.
    pub rejected: BTreeMap<String, u64>,
    /// Transactions sent again after `mempool_full` (when `retry_after_ms` said).
    pub retried: u64,
    /// Bench transactions finalized during the load window.
    pub finalized_in_window: usize,
    /// Bench transactions finalized in all (the window and the drain after it).
    pub finalized: usize,
    /// Finalized tx/s during the load window.
    pub throughput_tps: f64,
    /// Submit → finalized latency percentiles, milliseconds.
    pub latency_ms: Percentiles,
    /// Block interval (consecutive header timestamps) during the window, milliseconds.
    pub block_interval_ms: Percentiles,
    /// Blocks decided during the window.
    pub blocks: usize,
    /// Mean transactions per block during the window (all transactions, not only the bench's).
    pub txs_per_block: f64,
    /// The fewest transactions the blocks included in any whole second of the window (by the
    /// blocks' timestamps, all transactions). A stall, or a chain short of executable
    /// transactions under overload, shows here where the interval's percentiles hide it.
    /// `None` for a window shorter than a second.
    pub included_min_per_s: Option<u64>,
}

impl StepReport {
    /// Transactions whose request got no answer (timed out, or the connection failed).
    pub fn unanswered(&self) -> u64 {
        ["timeout", "transport"].iter().filter_map(|reason| self.rejected.get(*reason)).sum()
    }
}

/// p50, p90, p99 and max.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of_sorted(values: &[f64]) -> Percentiles {
        let at = |q: f64| {
            if values.is_empty() {
                return 0.0;
            }
            let index = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
            values[index]
        };
        Percentiles { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1.0) }
    }
}

/// What a step measured, before it is summarized.
pub struct StepMeasurements<'a> {
    /// Offered rate.
    pub offered_tps: u64,
    /// When sending started, ms since the Unix epoch.
    pub start_ms: u64,
    /// How long the load was meant to last.
    pub duration: Duration,
    /// Sent transactions.
    pub sent: usize,
    /// How long sending took.
    pub sending: Duration,
    /// Accepted transactions.
    pub accepted: u64,
    /// Refusals.
    pub rejected: BTreeMap<String, u64>,
    /// Retries after `mempool_full`.
    pub retried: u64,
    /// The finality tracker's data.
    pub finality: &'a Finality,
}

/// Summarizes a step.
pub fn summarize(step: &StepMeasurements<'_>) -> StepReport {
    let end_ms = step.start_ms + step.duration.as_millis() as u64;
    let finality = step.finality;
    let in_window = |ms: u64| ms >= step.start_ms && ms <= end_ms;
    let finalized_in_window = finality.finalized_ms.iter().filter(|ms| in_window(**ms)).count();
    let latency = &finality.latency_us;
    let ms = |us: u64| us as f64 / 1000.0;
    let latency_ms = if latency.is_empty() {
        Percentiles::default()
    } else {
        Percentiles {
            p50: ms(latency.value_at_quantile(0.5)),
            p90: ms(latency.value_at_quantile(0.9)),
            p99: ms(latency.value_at_quantile(0.99)),
            max: ms(latency.max()),
        }
    };
    let mut blocks: Vec<_> =
        finality.blocks.iter().filter(|block| in_window(block.timestamp_ms)).collect();
    blocks.sort_by_key(|block| block.timestamp_ms);
    let mut intervals: Vec<f64> = blocks
        .windows(2)
        .map(|pair| pair[1].timestamp_ms.saturating_sub(pair[0].timestamp_ms) as f64)
        .collect();
    intervals.sort_by(f64::total_cmp);
    let block_txs: u64 = blocks.iter().map(|block| u64::from(block.txs)).sum();
    let included_min_per_s = least_included_second(&blocks, step.start_ms, step.duration);
    let seconds = step.duration.as_secs_f64();
    StepReport {
        offered_tps: step.offered_tps,
        duration_s: seconds,
        sent: step.sent,
        applied_tps: step.sent as f64 / step.sending.as_secs_f64().max(seconds),
        accepted: step.accepted,
        rejected: step.rejected.clone(),
        retried: step.retried,
        finalized_in_window,
        finalized: finality.finalized_ms.len(),
        throughput_tps: finalized_in_window as f64 / seconds,
        latency_ms,
        block_interval_ms: Percentiles::of_sorted(&intervals),
        blocks: blocks.len(),
        txs_per_block: if blocks.is_empty() { 0.0 } else { block_txs as f64 / blocks.len() as f64 },
        included_min_per_s,
    }
}

/// The fewest transactions `blocks` included in any of the whole seconds from `start_ms`
/// within `duration`.
fn least_included_second(blocks: &[&SeenBlock], start_ms: u64, duration: Duration) -> Option<u64> {
    let mut per_second = vec![0u64; usize::try_from(duration.as_secs()).ok()?];
    for block in blocks {
        let second = block.timestamp_ms.saturating_sub(start_ms) / 1000;
        if let Some(count) = usize::try_from(second).ok().and_then(|s| per_second.get_mut(s)) {
            *count += u64::from(block.txs);
        }
    }
    per_second.into_iter().min()
}

/// The table's header.
pub fn header() -> String {
    format!(
        "{:>8} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9}",
        "offered",
        "applied",
        "finalized",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "block ms",
        "tx/block",
        "rejected"
    )
}

/// One table row.
pub fn row(report: &StepReport) -> String {
    let rejected: u64 = report.rejected.values().sum();
    format!(
        "{:>8} {:>9.0} {:>10.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1} {:>9}",
        report.offered_tps,
        report.applied_tps,
        report.throughput_tps,
        report.latency_ms.p50,
        report.latency_ms.p90,
        report.latency_ms.p99,
        report.latency_ms.max,
        report.block_interval_ms.p50,
        report.txs_per_block,
        rejected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_second_counts_a_second_without_blocks() {
        let block = |at_ms: u64, txs| SeenBlock { timestamp_ms: 10_000 + at_ms, txs };
        let blocks = [block(0, 40), block(500, 40), block(1_200, 3), block(3_999, 7)];
        let seen: Vec<&SeenBlock> = blocks.iter().collect();
        let least = |seconds| least_included_second(&seen, 10_000, Duration::from_secs(seconds));
        assert_eq!(least(2), Some(3), "80 in the first second, 3 in the second");
        assert_eq!(least(4), Some(0), "nothing in the third second");
        assert_eq!(least(0), None, "no whole second");
    }
}
