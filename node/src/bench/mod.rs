//! `tandem bench`: an open-loop load generator for a running testnet.
//!
//! Transfers from the testnet's funded accounts are signed ahead of time, then sent at a fixed
//! rate round-robin to the given endpoints (small JSON-RPC batches every 5 ms), whatever the
//! answers. Finality is observed through `newHeads` on the first endpoint: each transaction's
//! latency runs from its sending to the arrival of the head of the block that holds it. A
//! step reports the applied rate, finalized throughput during the load, latency percentiles,
//! the block interval and refusals by reason; `--sweep` runs several rates to find saturation.
//!
//! The run fails (non-zero exit) when the load could not be applied: an endpoint did not
//! answer, or sending fell more than 10% behind the asked rate. Refusals by the nodes
//! (`mempool_full`...) are results, not failures.

mod finality;
mod load;
mod report;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use tokio::sync::watch;

use self::finality::lock_finality;
use self::load::{lock, Accounts, Outcomes, SharedOutcomes};
pub use self::report::StepReport;
use self::report::{header, row, summarize, StepMeasurements};

/// How long a step waits after its load for the last transactions to be finalized.
const DRAIN: Duration = Duration::from_secs(10);
/// Sending more than this far behind the asked rate means the load was not applied.
const APPLIED_FRACTION_MIN: f64 = 0.9;

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchArgs {
    /// JSON-RPC endpoints (`http://…`); the first one's WebSocket follows finality.
    pub rpcs: Vec<String>,
    /// Rates to run, tx/s, one step each.
    pub rates: Vec<u64>,
    /// Length of each step.
    pub duration: Duration,
    /// Testnet accounts to send from (`0..accounts`).
    pub accounts: u32,
    /// Fee of every transfer.
    pub fee: u128,
    /// Where to write the JSON results.
    pub json: Option<PathBuf>,
}

/// Runs every step; `Ok(false)` if some load could not be applied.
pub async fn run(args: BenchArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(!args.rpcs.is_empty(), "give at least one --rpc endpoint");
    anyhow::ensure!(args.accounts > 0, "--accounts must be at least 1");
    let clients: Vec<HttpClient> =
        args.rpcs.iter().map(|url| client(url)).collect::<Result<_, _>>()?;
    let mut accounts = Accounts::load(&clients[0], args.accounts)
        .await
        .with_context(|| format!("reading the accounts' nonces from {}", args.rpcs[0]))?;
    let outcomes = SharedOutcomes::default();
    let (stop, stopped) = watch::channel(false);
    let ws_url = args.rpcs[0].replacen("http", "ws", 1);
    let finality = finality::start(&ws_url, clients[0].clone(), outcomes.clone(), stopped).await?;

    println!("{}", header());
    let mut reports = Vec::new();
    let mut applied = true;
    for &rate in &args.rates {
        let count = (rate as f64 * args.duration.as_secs_f64()).ceil() as usize;
        let txs = accounts.sign(count, args.fee);
        *lock(&outcomes) = Outcomes::default();
        *lock_finality(&finality) = finality::Finality::default();
        let start = Instant::now();
        let start_ms = crate::clock::now_ms();
        let (sent, sending) =
            load::submit(&clients, txs, rate, &outcomes, |sent| progress(rate, count, sent, start))
                .await;
        drain(&outcomes, start + args.duration).await;
        let (accepted, rejected, refused, retried) = {
            let mut shared = lock(&outcomes);
            let rejected: BTreeMap<String, u64> = shared.rejected.drain().collect();
            // What still waits for a retry is given up: its nonce is reused next step.
            let unsent = shared.retry.take_all().into_iter().map(|tx| (tx.account, tx.nonce));
            let mut refused = std::mem::take(&mut shared.refused);
            refused.extend(unsent);
            (shared.accepted, rejected, refused, shared.retried)
        };
        for (account, nonce) in refused {
            accounts.rewind(account, nonce);
        }
        let report = summarize(&StepMeasurements {
            offered_tps: rate,
            start_ms,
            duration: args.duration,
            sent,
            sending,
            accepted,
            rejected,
            retried,
            finality: &lock_finality(&finality),
        });
        clear_progress();
        println!("{}", row(&report));
        applied &= load_applied(&report);
        reports.push(report);
    }
    let _ = stop.send(true);
    print_summary(&reports);
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "endpoints": args.rpcs, "steps": reports });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(applied)
}

fn client(url: &str) -> anyhow::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .max_request_size(64 << 20)
        .max_response_size(64 << 20)
        .build(url)
        .with_context(|| format!("endpoint {url}"))
}

/// Waits until every accepted transaction is finalized, at most [`DRAIN`] after the load's
/// planned end.
async fn drain(outcomes: &SharedOutcomes, load_end: Instant) {
    let deadline = load_end.max(Instant::now()) + DRAIN;
    while Instant::now() < deadline && !lock(outcomes).pending.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn load_applied(report: &StepReport) -> bool {
    let unanswered = report.unanswered();
    let behind = report.applied_tps < report.offered_tps as f64 * APPLIED_FRACTION_MIN;
    if unanswered > 0 {
        eprintln!("bench: {unanswered} transactions got no answer from the endpoints");
    }
    if behind {
        eprintln!(
            "bench: sent {:.0} tx/s of the {} asked (this machine could not keep up)",
            report.applied_tps, report.offered_tps
        );
    }
    unanswered == 0 && !behind
}

fn print_summary(reports: &[StepReport]) {
    for report in reports {
        if !report.rejected.is_empty() {
            let reasons: Vec<String> =
                report.rejected.iter().map(|(reason, count)| format!("{reason} {count}")).collect();
            println!("rejected at {} tx/s: {}", report.offered_tps, reasons.join(", "));
        }
    }
    if reports.len() > 1 {
        let best = reports.iter().map(|r| r.throughput_tps).fold(0.0, f64::max);
        println!("saturation: {best:.0} finalized tx/s at most");
    }
}

/// A progress bar on stderr, redrawn in place on a terminal, a line per second otherwise.
fn progress(rate: u64, total: usize, sent: usize, start: Instant) {
    static LAST: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
    let terminal = std::io::stderr().is_terminal();
    let mut last = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let period = if terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
    if last.is_some_and(|at| at.elapsed() < period) && sent < total {
        return;
    }
    *last = Some(Instant::now());
    let width = 30;
    let done = (sent * width).checked_div(total).unwrap_or(width);
    let bar = format!("{}{}", "#".repeat(done), ".".repeat(width - done));
    let line = format!(
        "{rate:>8} tx/s [{bar}] {sent}/{total} sent, {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let mut stderr = std::io::stderr();
    let _ = if terminal { write!(stderr, "\r{line}") } else { writeln!(stderr, "{line}") };
}

fn clear_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r{}\r", " ".repeat(80));
    }
}
