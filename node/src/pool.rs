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
//! then the signature, with the sender's key from the pool's cache of recent senders when it
//! is there; then admission again under the lock), so RPC threads verify in parallel. Every
//! pooled transaction's signature is verified, so consensus does not verify it again when it
//! executes a block ([`PoolSource`]'s `verified_among`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Block transactions whose signature consensus had to verify itself: the pool did not
    /// hold them (refused, evicted, or not yet gossiped here), so the check ran on the
    /// consensus thread, on the path to the vote.
    unpooled_checks: AtomicU64,
    /// The pool's largest accepted transaction, to decode clients' bytes without the lock.
    tx_bytes_max: usize,
}

impl SharedPool {
    /// A pool over the executor's committed accounts; `ready` is notified on each admission
    /// of a ready transaction.
    pub fn new(mempool: Mempool, accounts: CommittedAccounts, ready: Arc<Notify>) -> SharedPool {
        let tx_bytes_max = mempool.config().tx_bytes_max;
        let inner = Inner { mempool, removed: HashMap::new(), removed_order: VecDeque::new() };
        SharedPool {
            inner: Mutex::new(inner),
            accounts,
            ready,
            unpooled_checks: AtomicU64::new(0),
            tx_bytes_max,
        }
    }

    // A panic inside the pool would be a bug in it; its state is still the best there is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a client's encoded transaction.
    pub fn admit_client(&self, bytes: &[u8]) -> Result<Admitted, Rejection> {
        let decoded = Mempool::decode_transaction_with(self.tx_bytes_max, bytes);
        if let Err(rejection) = &decoded {
            self.lock().mempool.count_rejection(rejection);
        }
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
        let kept_key = {
            let mut inner = self.lock();
            let refreshed = inner.mempool.precheck(&tx, origin, &accounts)?;
            inner.remember(&refreshed, Removal::Dropped);
            inner.mempool.sender_key(&tx.tx.sender)
        };
        let sender_key = Mempool::verify_signature(&tx, kept_key).map_err(|error| {
            let rejection = Rejection::BadSignature(error);
            self.lock().mempool.count_rejection(&rejection);
            rejection
        })?;
        let admitted = {
            let mut inner = self.lock();
            let admitted =
                inner.mempool.admit_verified(now_ms(), tx, sender_key, origin, &accounts)?;
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

    /// How many block transactions consensus verified itself because the pool did not hold
    /// them.
    pub fn unpooled_checks(&self) -> u64 {
        self.unpooled_checks.load(Ordering::Relaxed)
    }

    fn take_gossip_batch(&self) -> Option<Vec<SignedTransaction>> {
        self.lock().mempool.take_gossip_batch()
    }
}

/// How many transactions this node puts in a block it proposes, so that under overload a
/// height takes about `budget_ms` instead of growing with a block filled to the genesis limit.
///
/// Overload is a pool that refuses clients (it holds their share), or did within the last
/// [`OVERLOAD_HOLD_MS`]: the chain cannot take what arrives, and the node gives up some
/// throughput to keep its heights short. The hold keeps a pool that hovers at the share, as
/// it does under a lasting overload, from opening the gate for one full block each time it
/// dips below.
///
/// A feedback loop on the overloaded heights whose blocks the cap limited: a height slower
/// than the budget shrinks the cap in proportion (at most by half), a faster one grows it (at
/// most by a quarter). The cap starts at [`MIN_BUDGET_TXS`]: a block too small costs a few
/// short heights, a block too large costs one long height on a machine that is already
/// short of CPU. Blocks the cap did not limit leave it alone, so when a block holds whatever
/// arrived since the last one, the cap does not bind.
///
/// Outside overload a block holds at most half again as many transactions as the largest of
/// the last [`RECENT_BLOCKS`] committed (and [`MIN_BUDGET_TXS`] at least), so a pool that
/// deepens at once, as at the onset of an overload before it holds the clients' share, is
/// drained with blocks that grow height by height instead of one block of the genesis limit,
/// a height ten times the normal one. A backlog is still taken within a few heights, and
/// one small block (a proposer whose pool had not yet heard of the rest) does not hold back
/// the next.
#[derive(Debug, Clone)]
pub struct ProposalBudget {
    budget_ms: u64,
    /// The cap; it starts at [`MIN_BUDGET_TXS`].
    cap: usize,
    /// The genesis `block_txs_max`.
    limit: usize,
    last_commit_ms: Option<u64>,
    /// The transaction counts of the last [`RECENT_BLOCKS`] committed blocks, newest last.
    recent_block_txs: VecDeque<usize>,
    /// When the pool was last seen full for clients.
    full_at_ms: Option<u64>,
}

/// The smallest cap, so that a slow height never starves the chain of transactions.
pub const MIN_BUDGET_TXS: usize = 32;
/// How many committed blocks outside overload the next one may outgrow by half the largest.
pub const RECENT_BLOCKS: usize = 8;
/// How long the node stays overloaded after its pool was last seen full for clients.
pub const OVERLOAD_HOLD_MS: u64 = 2_000;

impl ProposalBudget {
    /// A budget of `budget_ms` per height (0 turns it off) under the genesis `block_txs_max`.
    pub fn new(budget_ms: u64, block_txs_max: usize) -> ProposalBudget {
        ProposalBudget {
            budget_ms,
            cap: MIN_BUDGET_TXS.min(block_txs_max),
            limit: block_txs_max,
            last_commit_ms: None,
            recent_block_txs: VecDeque::with_capacity(RECENT_BLOCKS),
            full_at_ms: None,
        }
    }

    /// Whether the node is overloaded at `now_ms`, given whether its pool is full for
    /// clients now.
    pub fn observe(&mut self, now_ms: u64, full_for_clients: bool) -> bool {
        if full_for_clients {
            self.full_at_ms = Some(now_ms);
        }
        self.full_at_ms.is_some_and(|at_ms| now_ms.saturating_sub(at_ms) < OVERLOAD_HOLD_MS)
    }

    /// A block of `txs` transactions was committed at `now_ms`, `overloaded` or not.
    pub fn on_committed(&mut self, now_ms: u64, txs: usize, overloaded: bool) {
        let previous = self.last_commit_ms.replace(now_ms);
        if self.recent_block_txs.len() == RECENT_BLOCKS {
            self.recent_block_txs.pop_front();
        }
        self.recent_block_txs.push_back(txs);
        let Some(previous) = previous else { return };
        let cap = self.cap;
        // Limited by the cap: within a tenth of it (other proposers' caps differ a little).
        if self.budget_ms == 0 || !overloaded || txs == 0 || txs < cap - cap / 10 {
            return;
        }
        let interval_ms = now_ms.saturating_sub(previous).max(1) as f64;
        let factor = (self.budget_ms as f64 / interval_ms).clamp(0.5, 1.25);
        let scaled = (cap as f64 * factor) as usize;
        // A quarter of a small cap may round to nothing: a faster height grows it by one at least.
        let resized = if factor > 1.0 { scaled.max(cap + 1) } else { scaled };
        self.cap = resized.clamp(MIN_BUDGET_TXS.min(self.limit), self.limit);
    }

    /// The most transactions the next proposal should hold, within `limit`, `overloaded`
    /// or not.
    pub fn limit(&self, limit: usize, overloaded: bool) -> usize {
        if self.budget_ms == 0 {
            limit
        } else if overloaded {
            self.cap.min(limit)
        } else {
            let largest = self.recent_block_txs.iter().copied().max().unwrap_or(0);
            largest.saturating_add(largest / 2).max(MIN_BUDGET_TXS).min(limit)
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
    /// most `budget_ms` worth of transactions (0: as many as `block_txs_max` allows).
    pub fn new(
        pool: Arc<SharedPool>,
        (block_txs_max, block_bytes_max): (usize, usize),
        budget_ms: u64,
    ) -> PoolSource {
        PoolSource { pool, block_bytes_max, budget: ProposalBudget::new(budget_ms, block_txs_max) }
    }
}

impl BlockSource for PoolSource {
    fn candidates(&mut self, _height: u64, limit: usize) -> Vec<SignedTransaction> {
        let inner = self.pool.lock();
        let overloaded = self.budget.observe(now_ms(), inner.mempool.is_full_for_clients());
        let limit = self.budget.limit(limit, overloaded);
        inner.mempool.reap(limit, self.block_bytes_max)
    }

    fn has_candidates(&self) -> bool {
        self.pool.lock().mempool.has_ready()
    }

    fn verified_among(&self, tx_hashes: &[Hash]) -> HashSet<Hash> {
        // Every pooled transaction's signature was verified on admission.
        let verified: HashSet<Hash> = {
            let inner = self.pool.lock();
            tx_hashes.iter().filter(|hash| inner.mempool.contains(hash)).copied().collect()
        };
        let unpooled = (tx_hashes.len() - verified.len()) as u64;
        self.pool.unpooled_checks.fetch_add(unpooled, Ordering::Relaxed);
        verified
    }

    fn on_committed(&mut self, now_ms: u64, block: &Block) {
        let mut inner = self.pool.lock();
        let overloaded = self.budget.observe(now_ms, inner.mempool.is_full_for_clients());
        self.budget.on_committed(now_ms, block.txs.len(), overloaded);
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
    use tandem_consensus::BlockSource;
    use tandem_executor::Executor;
    use tandem_mempool::MempoolConfig;
    use tandem_types::{
        Action, ChainParams, Genesis, GenesisAccount, GenesisValidator, L1Address, SecretKey,
        Transaction,
    };

    /// A pool with `config` over a one-validator genesis that funds one sender, and a signer
    /// of that sender's transfers by nonce. The directory holds the store.
    fn one_sender_pool(
        config: MempoolConfig,
    ) -> (tempfile::TempDir, Arc<SharedPool>, impl Fn(u64) -> SignedTransaction) {
        let (validator, sender) = (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]));
        let params = ChainParams {
            min_fee: 1,
            block_txs_max: 10,
            block_bytes_max: 1 << 16,
            batch_blocks: 10,
        };
        let genesis = Genesis {
            chain_id: 9,
            genesis_time_ms: 0,
            params,
            validators: vec![GenesisValidator {
                address: validator.address(),
                l1_address: L1Address([1; 20]),
                power: 1,
            }],
            accounts: vec![GenesisAccount { address: sender.address(), balance: 1_000 }],
        };
        let dir = tempfile::tempdir().unwrap();
        let executor = Executor::open(&dir.path().join("store.redb"), genesis.clone()).unwrap();
        let mempool = Mempool::new(config, 9, &genesis.params).unwrap();
        let pool = Arc::new(SharedPool::new(
            mempool,
            executor.committed_accounts(),
            Arc::new(Notify::new()),
        ));
        let transfer = move |nonce| {
            let action = Action::Transfer { to: Address([7; 32]), amount: 1 };
            Transaction { chain_id: 9, sender: sender.address(), nonce, fee: 1, action }
                .sign(&sender)
        };
        (dir, pool, transfer)
    }

    #[test]
    fn only_pooled_transactions_count_as_verified_and_the_others_are_counted() {
        let (_dir, pool, transfer) = one_sender_pool(MempoolConfig::default());
        let (pooled, unpooled) = (transfer(0), transfer(1));
        pool.admit_client(&pooled.to_bytes()).unwrap();
        let source = PoolSource::new(pool.clone(), (10, 1 << 16), 0);
        let verified = source.verified_among(&[pooled.hash(), unpooled.hash()]);
        assert_eq!(verified, HashSet::from([pooled.hash()]));
        assert_eq!(pool.unpooled_checks(), 1);
    }

    #[test]
    fn proposals_keep_to_the_cap_only_while_the_pool_refuses_clients() {
        // Clients may fill half of 8: the pool refuses them from the fifth on.
        let config = MempoolConfig { txs_max: 8, client_share_percent: 50, ..Default::default() };
        let (_dir, pool, transfer) = one_sender_pool(config);
        let mut source = PoolSource::new(pool.clone(), (10, 1 << 16), 25);
        source.budget.cap = 2;
        for nonce in 0..3 {
            pool.admit_client(&transfer(nonce).to_bytes()).unwrap();
        }
        assert_eq!(source.candidates(1, 10).len(), 3, "a pool that takes clients is drained");
        pool.admit_client(&transfer(3).to_bytes()).unwrap();
        assert!(pool.admit_client(&transfer(4).to_bytes()).is_err(), "full for clients");
        assert_eq!(source.candidates(1, 10).len(), 2, "an overloaded one keeps to the cap");
    }

    #[test]
    fn a_first_proposal_outside_overload_holds_the_growth_floor() {
        let (_dir, pool, transfer) = one_sender_pool(MempoolConfig::default());
        for nonce in 0..40 {
            pool.admit_client(&transfer(nonce).to_bytes()).unwrap();
        }
        let mut source = PoolSource::new(pool.clone(), (1_000, 1 << 20), 25);
        assert_eq!(source.candidates(1, 1_000).len(), MIN_BUDGET_TXS, "no block yet");
        let mut off = PoolSource::new(pool, (1_000, 1 << 20), 0);
        assert_eq!(off.candidates(1, 1_000).len(), 40, "no budget: as many as allowed");
    }

    /// Commits `count` overloaded heights of `txs` transactions each, `interval_ms` apart,
    /// after `at`.
    fn heights(
        budget: &mut ProposalBudget,
        at: &mut u64,
        count: usize,
        txs: usize,
        interval_ms: u64,
    ) {
        for _ in 0..count {
            *at += interval_ms;
            budget.on_committed(*at, txs, true);
        }
    }

    #[test]
    fn under_overload_the_cap_settles_where_a_height_takes_the_budget() {
        let mut budget = ProposalBudget::new(25, 1_000);
        let mut at = 0;
        assert_eq!(budget.limit(1_000, true), MIN_BUDGET_TXS, "it starts small");
        // A deep pool: every block is as full as allowed, and a height costs 1 ms plus 0.32 ms
        // per transaction.
        for _ in 0..60 {
            let txs = budget.limit(1_000, true);
            heights(&mut budget, &mut at, 1, txs, 1 + (txs as u64 * 32) / 100);
        }
        let settled = budget.limit(1_000, true);
        assert!((60..=85).contains(&settled), "(25 - 1) / 0.32 = 75, got {settled}");
        // Blocks the cap does not limit leave it alone, however slow.
        heights(&mut budget, &mut at, 10, 5, 400);
        assert_eq!(budget.limit(1_000, true), settled);
    }

    /// A budget of 25 ms whose cap grew to the genesis limit of 1,000 on fast heights.
    fn grown_budget(at: &mut u64) -> ProposalBudget {
        let mut budget = ProposalBudget::new(25, 1_000);
        heights(&mut budget, at, 1, 0, 0);
        for _ in 0..20 {
            let txs = budget.limit(1_000, true);
            heights(&mut budget, at, 1, txs, 5);
        }
        budget
    }

    #[test]
    fn a_faster_chain_grows_the_cap_and_a_slower_one_shrinks_it_by_half_at_most() {
        let mut at = 0;
        let mut budget = grown_budget(&mut at);
        assert_eq!(budget.limit(1_000, true), 1_000, "a quarter more a height, up to the limit");
        assert_eq!(budget.limit(300, true), 300);
        heights(&mut budget, &mut at, 1, 1_000, 320);
        assert_eq!(budget.limit(1_000, true), 500, "halved at most");
        // A small cap still grows on fast heights, by one at least.
        let mut small = ProposalBudget::new(25, 1_000);
        heights(&mut small, &mut at, 1, 0, 0);
        heights(&mut small, &mut at, 1, MIN_BUDGET_TXS, 24);
        assert_eq!(small.limit(1_000, true), MIN_BUDGET_TXS + 1);
    }

    #[test]
    fn a_slow_chain_keeps_a_floor_and_zero_turns_the_budget_off() {
        let mut at = 0;
        let mut slow = grown_budget(&mut at);
        for _ in 0..30 {
            let txs = slow.limit(1_000, true);
            heights(&mut slow, &mut at, 1, txs, 60_000);
        }
        assert_eq!(slow.limit(1_000, true), MIN_BUDGET_TXS);
        let mut off = ProposalBudget::new(0, 1_000);
        let txs = off.limit(1_000, true);
        assert_eq!(txs, 1_000);
        heights(&mut off, &mut at, 3, txs, 320);
        assert_eq!(off.limit(1_000, true), 1_000);
    }

    #[test]
    fn the_cap_binds_only_while_the_pool_refuses_clients() {
        let mut at = 0;
        let mut budget = grown_budget(&mut at);
        heights(&mut budget, &mut at, 1, 1_000, 320);
        assert_eq!(budget.limit(1_000, true), 500);
        // A pool that takes clients is not held to the cap (after a block of 1,000 it may
        // fill one to the limit again), and its slow heights teach the cap nothing.
        assert_eq!(budget.limit(1_000, false), 1_000);
        for _ in 0..5 {
            at += 320;
            budget.on_committed(at, 1_000, false);
        }
        assert_eq!(budget.limit(1_000, true), 500, "the cap overload left");
    }

    #[test]
    fn outside_overload_a_block_grows_by_half_over_the_largest_recent_one() {
        let mut budget = ProposalBudget::new(25, 1_000);
        assert_eq!(budget.limit(1_000, false), MIN_BUDGET_TXS, "no block yet: the floor");
        let mut at = 1_000;
        budget.on_committed(at, 0, false);
        assert_eq!(budget.limit(1_000, false), MIN_BUDGET_TXS, "after an empty block too");
        // A pool that deepens at once, each block as full as allowed.
        let mut sizes = Vec::new();
        while sizes.last() != Some(&1_000) {
            let txs = budget.limit(1_000, false);
            at += 20;
            budget.on_committed(at, txs, false);
            sizes.push(txs);
        }
        assert_eq!(sizes, [32, 48, 72, 108, 162, 243, 364, 546, 819, 1_000]);
        // One small block does not lower the ceiling; a run of them does.
        budget.on_committed(at + 20, 10, false);
        assert_eq!(budget.limit(1_000, false), 1_000);
        for _ in 0..RECENT_BLOCKS - 1 {
            at += 20;
            budget.on_committed(at, 100, false);
        }
        assert_eq!(budget.limit(1_000, false), 150);
        assert_eq!(budget.limit(120, false), 120, "never past the limit");
        // A budget of 0 turns this off as well.
        let mut off = ProposalBudget::new(0, 1_000);
        assert_eq!(off.limit(1_000, false), 1_000);
        off.on_committed(at, 10, false);
        assert_eq!(off.limit(1_000, false), 1_000);
    }

    #[test]
    fn overload_holds_for_a_while_after_the_pool_last_refused_clients() {
        let mut budget = ProposalBudget::new(25, 1_000);
        assert!(!budget.observe(1_000, false), "never full: not overloaded");
        assert!(budget.observe(5_000, true));
        // The pool dips below the clients' share between two refusals: still overloaded.
        assert!(budget.observe(5_000 + OVERLOAD_HOLD_MS - 1, false));
        assert!(!budget.observe(5_000 + OVERLOAD_HOLD_MS, false), "the hold has passed");
        assert!(budget.observe(9_000, true), "full again");
    }
}
