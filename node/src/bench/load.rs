//! The load: transfers signed ahead of time from the testnet's funded accounts, submitted at a
//! fixed rate (open loop) round-robin to the endpoints, in small JSON-RPC batches every tick.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::params::BatchRequestBuilder;
use jsonrpsee_core::rpc_params;
use jsonrpsee_core::traits::ToRpcParams;
use jsonrpsee_http_client::HttpClient;
use serde_json::value::RawValue;
use tandem_types::json::to_hex;
use tandem_types::{Action, Address, Hash, SecretKey, Transaction};
use tokio::sync::Semaphore;

use crate::api::{methods, AccountAt};
use crate::testnet::account_key;

/// How often due transactions are sent.
pub const TICK: Duration = Duration::from_millis(5);
/// Batches in flight at once; beyond it the load falls behind (and the run says so).
const BATCHES_IN_FLIGHT: usize = 512;
/// Most transactions in one batch request: about 100 KB, well within a node's default
/// request size limit (1 MiB) even when a tick sends many refused transactions again at once.
const BATCH_TXS_MAX: usize = 256;

/// One signed transfer, ready to send.
pub struct Prepared {
    /// Index of the sending account among the bench's accounts.
    pub account: usize,
    /// Its nonce.
    pub nonce: u64,
    /// Its hash.
    pub hash: Hash,
    /// The call's parameters, `["0x…"]` with the encoding in hex, written once when signed:
    /// under ten times the load the generator sends each transaction more than once, on the
    /// cores the nodes it measures run on.
    pub params: Box<RawValue>,
}

/// A prepared transaction's parameters, as jsonrpsee takes them.
struct PreparedParams<'a>(&'a RawValue);

impl ToRpcParams for PreparedParams<'_> {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(Some(self.0.to_owned()))
    }
}

/// The bench's accounts: keys and the next nonce of each.
pub struct Accounts {
    /// Signing keys.
    pub keys: Vec<SecretKey>,
    /// Next nonce to use per account.
    pub next_nonce: Vec<u64>,
    /// The chain id.
    pub chain_id: u64,
}

impl Accounts {
    /// Testnet accounts `0..count`, with their committed nonces read from `client`.
    pub async fn load(client: &HttpClient, count: u32) -> anyhow::Result<Accounts> {
        let chain_id: u64 = client.request(methods::CHAIN_ID, rpc_params![]).await?;
        let keys: Vec<SecretKey> = (0..count).map(account_key).collect();
        let mut next_nonce = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(256) {
            let mut batch = BatchRequestBuilder::new();
            for key in chunk {
                batch.insert(methods::GET_ACCOUNT, rpc_params![key.address()])?;
            }
            let answers = client.batch_request::<AccountAt>(batch).await?;
            for answer in answers {
                let account = answer.map_err(|e| anyhow::anyhow!("reading nonces: {e}"))?;
                next_nonce.push(account.nonce);
            }
        }
        Ok(Accounts { keys, next_nonce, chain_id })
    }

    /// Signs `count` transfers, spreading them over the accounts in turn, on every core.
    pub fn sign(&mut self, count: usize, fee: u128) -> Vec<Prepared> {
        let plan: Vec<(usize, u64)> = (0..count)
            .map(|index| {
                let account = index % self.keys.len();
                let nonce = self.next_nonce[account];
                self.next_nonce[account] += 1;
                (account, nonce)
            })
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = plan.len().div_ceil(threads).max(1);
        let (keys, chain_id) = (&self.keys, self.chain_id);
        std::thread::scope(|scope| {
            let workers: Vec<_> = plan
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&(account, nonce)| sign_one(keys, chain_id, account, nonce, fee))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
        })
    }

    /// Forgets nonces from `nonce` on for `account` (a transaction with it was refused): the
    /// account's next transfer will carry it again.
    pub fn rewind(&mut self, account: usize, nonce: u64) {
        self.next_nonce[account] = self.next_nonce[account].min(nonce);
    }
}

fn sign_one(keys: &[SecretKey], chain_id: u64, account: usize, nonce: u64, fee: u128) -> Prepared {
    let key = &keys[account];
    let mut to = [0u8; 32];
    to[..8].copy_from_slice(&(account as u64 ^ nonce.rotate_left(17)).to_le_bytes());
    let tx = Transaction {
        chain_id,
        sender: key.address(),
        nonce,
        fee,
        action: Action::Transfer { to: Address(to), amount: 1 },
    }
    .sign(key);
    let params = format!("[\"{}\"]", to_hex(&tx.to_bytes()));
    let params = RawValue::from_string(params).expect("hex in a JSON array is JSON");
    Prepared { account, nonce, hash: tx.hash(), params }
}

/// What happened to the submitted transactions, shared with the finality tracker.
#[derive(Default)]
pub struct Outcomes {
    /// Accepted (or in flight) transactions: when they were sent.
    pub pending: HashMap<Hash, Instant>,
    /// Refusals by stable reason (`timeout` and `transport` for requests that got no answer).
    pub rejected: HashMap<String, u64>,
    /// Accepted transactions.
    pub accepted: u64,
    /// Refused transactions' (account, nonce), so the accounts can be rewound.
    pub refused: Vec<(usize, u64)>,
    /// Transactions refused with `mempool_full`, to send again when the node said: a client
    /// that gave up on a nonce would leave every later nonce of its account stuck.
    pub retry: RetryQueue,
    /// Transactions sent again after `mempool_full`.
    pub retried: u64,
}

/// Shared outcomes.
pub type SharedOutcomes = Arc<Mutex<Outcomes>>;

/// Locks the outcomes (a panic elsewhere leaves them usable: counters only).
pub fn lock(outcomes: &SharedOutcomes) -> std::sync::MutexGuard<'_, Outcomes> {
    outcomes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends `txs` at `rate` per second round-robin to `clients`; returns how many were sent and
/// how long sending took. `on_tick` sees the count sent so far (for progress).
pub async fn submit(
    clients: &[HttpClient],
    txs: Vec<Prepared>,
    rate: u64,
    outcomes: &SharedOutcomes,
    mut on_tick: impl FnMut(usize),
) -> (usize, Duration) {
    let start = Instant::now();
    let total = txs.len();
    let mut txs = txs.into_iter();
    let permits = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut sent = 0usize;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_endpoint = 0usize;
    while sent < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as usize).min(total);
        let mut batches: Vec<Vec<Prepared>> = (0..clients.len()).map(|_| Vec::new()).collect();
        let fresh = txs.by_ref().take(due.saturating_sub(sent));
        sent += fresh.len();
        for tx in fresh.chain(due_retries(outcomes)) {
            batches[next_endpoint].push(tx);
            next_endpoint = (next_endpoint + 1) % clients.len();
        }
        for (endpoint, batch) in batches.into_iter().enumerate() {
            let mut txs = batch.into_iter().peekable();
            while txs.peek().is_some() {
                let batch: Vec<Prepared> = txs.by_ref().take(BATCH_TXS_MAX).collect();
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let client = clients[endpoint].clone();
                let outcomes = outcomes.clone();
                tokio::spawn(async move {
                    send_batch(&client, batch, &outcomes).await;
                    drop(permit);
                });
            }
        }
        on_tick(sent);
    }
    let elapsed = start.elapsed();
    // Wait for the answers still on their way.
    let _ = permits.acquire_many(BATCHES_IN_FLIGHT as u32).await;
    (sent, elapsed)
}

/// Refused transactions waiting for the time their node gave, soonest first, to the
/// millisecond. Under ten times the load it holds a hundred thousand or more, takes tens of
/// thousands a second and is asked for what is due every tick: taking the due ones must not
/// walk the rest, and queueing one is a push onto its millisecond's list.
pub struct RetryQueue {
    /// What the milliseconds count from.
    origin: Instant,
    /// By the millisecond they come due, each list in arrival order.
    waiting: BTreeMap<u64, Vec<Prepared>>,
}

impl Default for RetryQueue {
    fn default() -> Self {
        RetryQueue { origin: Instant::now(), waiting: BTreeMap::new() }
    }
}

impl RetryQueue {
    /// Queues `tx` to be sent again at `at`.
    pub fn push(&mut self, at: Instant, tx: Prepared) {
        self.waiting.entry(self.millisecond(at)).or_default().push(tx);
    }

    /// Takes the transactions due at `now`, soonest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Prepared> {
        let later = self.waiting.split_off(&self.millisecond(now).saturating_add(1));
        std::mem::replace(&mut self.waiting, later).into_values().flatten().collect()
    }

    /// Takes every waiting transaction.
    pub fn take_all(&mut self) -> Vec<Prepared> {
        std::mem::take(&mut self.waiting).into_values().flatten().collect()
    }

    fn millisecond(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }
}

/// The refused transactions whose retry time has come.
fn due_retries(outcomes: &SharedOutcomes) -> Vec<Prepared> {
    let mut shared = lock(outcomes);
    let due = shared.retry.take_due(Instant::now());
    shared.retried += due.len() as u64;
    due
}

async fn send_batch(client: &HttpClient, batch: Vec<Prepared>, outcomes: &SharedOutcomes) {
    let mut request = BatchRequestBuilder::new();
    {
        let mut shared = lock(outcomes);
        let now = Instant::now();
        for tx in &batch {
            // Before sending: the block may be decided before the answer arrives.
            shared.pending.insert(tx.hash, now);
            let _ = request.insert(methods::SEND_TRANSACTION, PreparedParams(&tx.params));
        }
    }
    let answers = client.batch_request::<Hash>(request).await;
    let mut shared = lock(outcomes);
    match answers {
        Ok(answers) => {
            for (tx, answer) in batch.into_iter().zip(answers) {
                match answer {
                    Ok(_) => shared.accepted += 1,
                    Err(error) => {
                        let data = error
                            .data()
                            .and_then(|raw| serde_json::from_str::<RefusalData>(raw.get()).ok())
                            .unwrap_or_default();
                        let reason = data.reason.map_or_else(
                            || Cow::Owned(format!("error {}", error.code())),
                            Cow::Borrowed,
                        );
                        refuse(&mut shared, tx, &reason, data.retry_after_ms);
                    }
                }
            }
        }
        Err(error) => {
            let reason = unanswered_reason(&error);
            for tx in batch {
                refuse(&mut shared, tx, reason, None);
            }
        }
    }
}

/// Why a batch got no answer: `timeout` when none came within the client's request timeout,
/// `transport` when the connection failed (the first such error is printed, once).
fn unanswered_reason(error: &jsonrpsee_core::ClientError) -> &'static str {
    static PRINTED: std::sync::Once = std::sync::Once::new();
    if matches!(error, jsonrpsee_core::ClientError::RequestTimeout) {
        return "timeout";
    }
    PRINTED.call_once(|| eprintln!("bench: a request failed: {error}"));
    "transport"
}

/// Counts a refusal; the transaction is sent again after `retry_after_ms` if the node gave
/// one, else its nonce is given back to its account (unless a pool already holds it).
fn refuse(shared: &mut Outcomes, tx: Prepared, reason: &str, retry_after_ms: Option<u64>) {
    shared.pending.remove(&tx.hash);
    match shared.rejected.get_mut(reason) {
        Some(count) => *count += 1,
        None => {
            shared.rejected.insert(reason.to_string(), 1);
        }
    }
    match retry_after_ms {
        Some(after_ms) => {
            shared.retry.push(Instant::now() + Duration::from_millis(after_ms), tx);
        }
        None if reason != "duplicate" => shared.refused.push((tx.account, tx.nonce)),
        None => {}
    }
}

/// The `data` of a refused transaction's error (PROTOCOL.md), read without building a JSON
/// value: the generator reads tens of thousands a second under ten times the load.
#[derive(Default, serde::Deserialize)]
struct RefusalData<'a> {
    #[serde(borrow)]
    reason: Option<&'a str>,
    retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(nonce: u64) -> Prepared {
        let params = RawValue::from_string("[]".to_string()).expect("JSON");
        Prepared { account: 0, nonce, hash: Hash([0; 32]), params }
    }

    #[test]
    fn retries_come_due_in_time_order_and_only_when_due() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut queue = RetryQueue::default();
        for (nonce, due_ms) in [(0, 300), (1, 100), (2, 200), (3, 100)] {
            queue.push(at(due_ms), prepared(nonce));
        }
        let nonces = |txs: Vec<Prepared>| txs.iter().map(|tx| tx.nonce).collect::<Vec<_>>();
        assert_eq!(nonces(queue.take_due(at(50))), Vec::<u64>::new());
        assert_eq!(nonces(queue.take_due(at(100))), [1, 3], "due at 100, in arrival order");
        assert_eq!(nonces(queue.take_due(at(250))), [2]);
        assert_eq!(nonces(queue.take_all()), [0]);
        assert!(queue.take_all().is_empty());
    }
}
