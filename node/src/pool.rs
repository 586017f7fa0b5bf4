//! The node's side of the mempool: one [`Mempool`] shared by the RPC handlers (client
//! transactions), the gossip task (peers' transactions) and consensus (reaping, and the
//! recheck after each committed block).
//!
//! Admission reads the committed accounts through [`CommittedAccounts`], which the executor
//! updates right after each commit; the pool then hears of the block through
//! [`PoolSource::on_committed`]. Between the two, admission meets accounts newer than the
//! pool's queues, which the pool handles by rechecking that sender first.
//!
//! Signatures are verified outside the pool's lock (every other check first, under the lock;
//! then the signature; then admission again under the lock), so RPC threads verify in
//! parallel. Every pooled transaction's signature is verified, so consensus does not verify
//! it again when it executes a block ([`PoolSource`]'s `is_verified`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tandem_consensus::BlockSource;
use tandem_executor::CommittedAccounts;
use tandem_mempool::{
    decode_gossip_batch, encode_gossip_batch, AccountSource, Admitted, Mempool, Metrics, Origin,
    Rejection,
};
use tandem_network::{Channel, Transport};
use tandem_types::{Account, Address, Block, Hash, SignedTransaction};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, warn};

use crate::clock::now_ms;

/// How often client transactions not yet gossiped are sent to the peers.
const GOSSIP_INTERVAL: Duration = Duration::from_millis(5);
/// How many removed transactions keep a reason for `tandem_getTransaction`.
const REMOVED_REASONS_MAX: usize = 100_000;

/// Why a transaction that was pending left the pool without being finalized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// A higher-fee transaction with the same sender and nonce replaced it.
    Replaced,
    /// A higher-fee transaction took its room in a full pool.
    Evicted,
    /// It waited longer than the pool's TTL.
    Expired,
    /// Another transaction used its nonce, or the balance no longer covers it.
    Dropped,
}

impl Removal {
    /// The stable reason reported by `tandem_getTransaction`.
    pub fn reason(self) -> &'static str {
        match self {
            Removal::Replaced => "replaced",
            Removal::Evicted => "evicted",
            Removal::Expired => "expired",
            Removal::Dropped => "dropped",
        }
    }
}

/// The pool and what it remembers of transactions it let go.
struct Inner {
    mempool: Mempool,
    removed: HashMap<Hash, Removal>,
    removed_order: VecDeque<Hash>,
}

impl Inner {
    fn remember(&mut self, hashes: &[Hash], removal: Removal) {
        for hash in hashes {
            if self.removed.insert(*hash, removal).is_none() {
                self.removed_order.push_back(*hash);
            }
        }
        while self.removed_order.len() > REMOVED_REASONS_MAX {
            if let Some(oldest) = self.removed_order.pop_front() {
                self.removed.remove(&oldest);
            }
        }
    }

    fn record_admission(&mut self, admitted: &Admitted) {
        self.remember(admitted.replaced.as_slice(), Removal::Replaced);
        self.remember(&admitted.evicted, Removal::Evicted);
        self.remember(&admitted.dropped, Removal::Dropped);
    }
}

/// Where a transaction stands as far as the pool knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStatus {
    /// In the pool.
    Pending,
    /// Left the pool without being included (recently).
    Removed(Removal),
    /// Never seen, or forgotten.
    Unknown,
}

/// The committed accounts as the pool's [`AccountSource`].
struct Accounts<'a>(&'a CommittedAccounts);

impl AccountSource for Accounts<'_> {
    fn account(&self, address: &Address) -> Account {
        self.0.get(address).unwrap_or_default()
    }
}

/// The mempool shared between the node's tasks.
pub struct SharedPool {
    inner: Mutex<Inner>,
    accounts: CommittedAccounts,
    /// Wakes consensus when transactions become ready (a held height may start).
    ready: Arc<Notify>,
}

impl SharedPool {
    /// A pool over the executor's committed accounts; `ready` is notified on each admission
    /// of a ready transaction.
    pub fn new(mempool: Mempool, accounts: CommittedAccounts, ready: Arc<Notify>) -> SharedPool {
        let inner = Inner { mempool, removed: HashMap::new(), removed_order: VecDeque::new() };
        SharedPool { inner: Mutex::new(inner), accounts, ready }
    }

    // A panic inside the pool would be a bug in it; its state is still the best there is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a client's encoded transaction.
    pub fn admit_client(&self, bytes: &[u8]) -> Result<Admitted, Rejection> {
        let decoded = self.lock().mempool.decode_transaction(bytes);
        self.admit(decoded?, Origin::Client)
    }

    /// Admits a peer's gossiped transactions in order; returns how many were admitted.
    pub fn admit_gossip(&self, txs: Vec<SignedTransaction>) -> usize {
        txs.into_iter().map(|tx| self.admit(tx, Origin::Peer)).filter(Result::is_ok).count()
    }

    /// Admission in three steps, so that the pool is never held during the costly part: every
    /// check but the signature under the lock, the signature outside it (only for a
    /// transaction that passed the rest), then admission again under the lock, since the pool
    /// may have changed in between.
    fn admit(&self, tx: SignedTransaction, origin: Origin) -> Result<Admitted, Rejection> {
        let accounts = Accounts(&self.accounts);
        {
            let mut inner = self.lock();
            let refreshed = inner.mempool.precheck(&tx, &accounts)?;
            inner.remember(&refreshed, Removal::Dropped);
        }
        if let Err(error) = tx.verify_signature() {
            let rejection = Rejection::BadSignature(error);
            self.lock().mempool.count_rejection(&rejection);
            return Err(rejection);
        }
        let admitted = {
            let mut inner = self.lock();
            let admitted = inner.mempool.admit_verified(now_ms(), tx, origin, &accounts)?;
            inner.record_admission(&admitted);
            admitted
        };
        if admitted.ready {
            self.ready.notify_one();
        }
        Ok(admitted)
    }

    /// What the pool knows of the transaction `hash`.
    pub fn status(&self, hash: &Hash) -> PoolStatus {
        let inner = self.lock();
        if inner.mempool.contains(hash) {
            PoolStatus::Pending
        } else if let Some(removal) = inner.removed.get(hash) {
            PoolStatus::Removed(*removal)
        } else {
            PoolStatus::Unknown
        }
    }

    /// The pool's counters.
    pub fn metrics(&self) -> Metrics {
        self.lock().mempool.metrics()
    }

    fn take_gossip_batch(&self) -> Option<Vec<SignedTransaction>> {
        self.lock().mempool.take_gossip_batch()
    }
}

/// How many transactions this node puts in a block it proposes, so that under overload a
/// height takes about as long as at capacity instead of growing with a full block.
///
/// It learns the cost of a transaction from the blocks it commits: a height's time (from one
/// commit to the next) divided by its transactions, over blocks large enough for the
/// transactions to dominate, smoothed. A proposal then holds at most `budget_ms` worth of
/// them (never fewer than [`MIN_BUDGET_TXS`], never more than the genesis allows). When the
/// pool is not deep, blocks hold whatever arrived and the budget does not matter.
#[derive(Debug, Clone)]
pub struct ProposalBudget {
    budget_ms: u64,
    /// Smoothed milliseconds per transaction, once measured.
    ms_per_tx: Option<f64>,
    last_commit_ms: Option<u64>,
}

/// Blocks with fewer transactions say more about the fixed cost of a height than about
/// transactions: they are not measured.
pub const MEASURED_BLOCK_TXS: usize = 32;
/// The smallest budget, so that a slow height never starves the chain of transactions.
pub const MIN_BUDGET_TXS: usize = 16;
/// Weight of the newest measurement.
const SMOOTHING: f64 = 0.2;

impl ProposalBudget {
    /// A budget of `budget_ms` per block; 0 turns it off.
    pub fn new(budget_ms: u64) -> ProposalBudget {
        ProposalBudget { budget_ms, ms_per_tx: None, last_commit_ms: None }
    }

    /// A block of `txs` transactions was committed at `now_ms`.
    pub fn on_committed(&mut self, now_ms: u64, txs: usize) {
        if let Some(last) = self.last_commit_ms {
            if txs >= MEASURED_BLOCK_TXS && now_ms > last {
                let sample = (now_ms - last) as f64 / txs as f64;
                self.ms_per_tx = Some(match self.ms_per_tx {
                    Some(smoothed) => smoothed + SMOOTHING * (sample - smoothed),
                    None => sample,
                });
            }
        }
        self.last_commit_ms = Some(now_ms);
    }

    /// The most transactions the next proposal should hold, within `limit`.
    pub fn limit(&self, limit: usize) -> usize {
        match (self.budget_ms, self.ms_per_tx) {
            (0, _) | (_, None) => limit,
            (budget_ms, Some(ms_per_tx)) => {
                let affordable = (budget_ms as f64 / ms_per_tx.max(1e-3)) as usize;
                limit.min(affordable.max(MIN_BUDGET_TXS))
            }
        }
    }
}

/// The pool as consensus's [`BlockSource`].
pub struct PoolSource {
    pool: Arc<SharedPool>,
    block_bytes_max: usize,
    budget: ProposalBudget,
}

impl PoolSource {
    /// Reaps blocks of at most `block_bytes_max` transaction bytes from `pool`, holding at
    /// most `budget_ms` worth of transactions (0: as many as the genesis allows).
    pub fn new(pool: Arc<SharedPool>, block_bytes_max: usize, budget_ms: u64) -> PoolSource {
        PoolSource { pool, block_bytes_max, budget: ProposalBudget::new(budget_ms) }
    }
}

impl BlockSource for PoolSource {
    fn candidates(&mut self, _height: u64, limit: usize) -> Vec<SignedTransaction> {
        let limit = self.budget.limit(limit);
        self.pool.lock().mempool.reap(limit, self.block_bytes_max)
    }

    fn has_candidates(&self) -> bool {
        self.pool.lock().mempool.has_ready()
    }

    fn is_verified(&self, tx_hash: &Hash) -> bool {
        // Every pooled transaction's signature was verified on admission.
        self.pool.lock().mempool.contains(tx_hash)
    }

    fn on_committed(&mut self, now_ms: u64, block: &Block) {
        self.budget.on_committed(now_ms, block.txs.len());
        let mut inner = self.pool.lock();
        let committed =
            inner.mempool.on_block_committed(now_ms, &block.txs, &Accounts(&self.pool.accounts));
        inner.remember(&committed.dropped, Removal::Dropped);
        inner.remember(&committed.expired, Removal::Expired);
    }
}

/// Gossips client transactions to every peer and admits peers' batches until `shutdown`.
/// A batch that does not decode is dropped with a warning (the transport already closed
/// connections that break the framing; a bad batch inside a good frame costs only itself).
pub async fn run_gossip<T: Transport>(
    pool: Arc<SharedPool>,
    transport: Arc<T>,
    mut incoming: mpsc::Receiver<(Address, Bytes)>,
    batch_txs_max: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(GOSSIP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                while let Some(batch) = pool.take_gossip_batch() {
                    transport.broadcast(Channel::Mempool, Bytes::from(encode_gossip_batch(&batch)));
                }
            }
            message = incoming.recv() => {
                let Some((peer, payload)) = message else { return };
                match decode_gossip_batch(&payload, batch_txs_max) {
                    Ok(txs) => {
                        let count = txs.len();
                        let admitted = pool.admit_gossip(txs);
                        debug!(%peer, count, admitted, "mempool.gossip received");
                    }
                    Err(error) => warn!(%peer, %error, "mempool.gossip rejected"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_learns_the_cost_of_a_transaction_from_full_blocks() {
        let mut budget = ProposalBudget::new(25);
        assert_eq!(budget.limit(1_000), 1_000, "nothing measured yet");
        // A first commit only starts the clock; small blocks say nothing about transactions.
        budget.on_committed(0, 1_000);
        budget.on_committed(10, 5);
        assert_eq!(budget.limit(1_000), 1_000);
        // 1,000 transactions in 320 ms: 0.32 ms each, 78 fit in 25 ms.
        budget.on_committed(330, 1_000);
        assert_eq!(budget.limit(1_000), 78);
        assert_eq!(budget.limit(50), 50, "never above the genesis limit");
        // Smaller blocks that come quicker move the estimate, smoothly.
        for step in 1..=50u64 {
            budget.on_committed(330 + step * 20, 100);
        }
        let limit = budget.limit(1_000);
        assert!((120..=130).contains(&limit), "0.2 ms each: about 125, got {limit}");
    }

    #[test]
    fn a_slow_chain_keeps_a_floor_and_zero_turns_the_budget_off() {
        let mut slow = ProposalBudget::new(25);
        slow.on_committed(0, 0);
        slow.on_committed(60_000, 100);
        assert_eq!(slow.limit(1_000), MIN_BUDGET_TXS);
        let mut off = ProposalBudget::new(0);
        off.on_committed(0, 0);
        off.on_committed(320, 1_000);
        assert_eq!(off.limit(1_000), 1_000);
    }
}
