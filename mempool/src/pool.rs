//! The pool's state, the bookkeeping that keeps its indexes in step, and its queries.

use std::collections::{BTreeMap, BTreeSet};

use tandem_types::{Account, Address, ChainParams, Hash, SignedTransaction};

use crate::config::{ConfigError, MempoolConfig};
use crate::dedupe::RecentHashes;
use crate::drain::{InclusionRate, RETRY_AFTER_MAX_MS};
use crate::keys::{SenderKeys, SENDER_KEYS_GENERATION_MAX};
use crate::metrics::Metrics;
use crate::queue::{EvictKey, Origin, PoolTx, ReadyKey, SenderQueue};

/// Where a pooled transaction lives: its sender's queue, at its nonce.
pub(crate) type Slot = (Address, u64);

/// The transaction pool: a synchronous core with no clock, I/O or randomness.
///
/// Every transaction it holds has a valid signature, the chain's id, at least the minimum fee,
/// a nonce at or above its sender's committed nonce, and is covered by its sender's balance
/// together with the sender's queued transactions before it.
#[derive(Debug)]
pub struct Mempool {
    pub(crate) config: MempoolConfig,
    pub(crate) chain_id: u64,
    pub(crate) min_fee: u128,
    pub(crate) senders: BTreeMap<Address, SenderQueue>,
    pub(crate) by_hash: BTreeMap<Hash, Slot>,
    /// Each sender's ready transaction at its account nonce.
    pub(crate) ready: BTreeSet<ReadyKey>,
    /// Each sender's highest-nonce transaction: the eviction candidates.
    pub(crate) tails: BTreeSet<EvictKey>,
    /// Every transaction by (admission time, arrival), for the TTL.
    pub(crate) by_age: BTreeMap<(u64, u64), Slot>,
    /// Client transactions not yet handed out for gossip, by arrival.
    pub(crate) gossip: BTreeMap<u64, Slot>,
    pub(crate) recent: RecentHashes,
    /// The checked keys of recent senders.
    pub(crate) keys: SenderKeys,
    /// How fast committed blocks include transactions, for the retry hint.
    pub(crate) inclusion: InclusionRate,
    pub(crate) next_seq: u64,
    pub(crate) bytes: usize,
    /// Transactions executable now, in every sender's queue together.
    pub(crate) ready_txs: usize,
    pub(crate) metrics: Metrics,
}

impl Mempool {
    /// An empty pool for the chain `chain_id` with the genesis parameters `params` (its
    /// `min_fee`). Fails if the configuration is unusable.
    pub fn new(
        config: MempoolConfig,
        chain_id: u64,
        params: &ChainParams,
    ) -> Result<Mempool, ConfigError> {
        config.validate()?;
        Ok(Mempool {
            recent: RecentHashes::new(config.dedupe_hashes_max),
            config,
            chain_id,
            min_fee: params.min_fee,
            senders: BTreeMap::new(),
            by_hash: BTreeMap::new(),
            ready: BTreeSet::new(),
            tails: BTreeSet::new(),
            by_age: BTreeMap::new(),
            gossip: BTreeMap::new(),
            keys: SenderKeys::new(SENDER_KEYS_GENERATION_MAX),
            inclusion: InclusionRate::default(),
            next_seq: 0,
            bytes: 0,
            ready_txs: 0,
            metrics: Metrics::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// The `retry_after_ms` hint of `mempool_full` for a held transaction (before its spread,
    /// see `retry_after_ms_for`): how long the chain needs to include what
    /// the pool holds, at the rate it included transactions lately; at least the configured
    /// hint, at most [`RETRY_AFTER_MAX_MS`]. A client told to come back when there is room
    /// does not come back, with every other refused client, while there is none.
    pub fn retry_after_ms(&self) -> u64 {
        let min_ms = self.config.full_retry_after_ms;
        self.inclusion
            .drain_ms(self.len())
            .map_or(min_ms, |drain_ms| drain_ms.min(RETRY_AFTER_MAX_MS).max(min_ms))
    }

    /// The retry hint given to `tx` when it is refused `mempool_full`, `ready` or held. A
    /// transaction that could execute at once (its sender's next nonce) is told the least
    /// hint, `full_retry_after_ms`: it finds room as soon as a block makes some, evicting held
    /// transactions, and its account's later nonces wait on it. Under overload nearly every
    /// account has a refused nonce, and with the drain time as every hint the executable
    /// ones came back in waves a hint apart, the chain running out of them in between. A held
    /// one is told [`Mempool::retry_after_ms`]. Either gets up to half as much again, drawn
    /// from the transaction's signature (the same transaction, the same hint): clients
    /// refused together and told the same time would come back together, to be refused
    /// together again.
    pub(crate) fn retry_after_ms_for(&self, tx: &SignedTransaction, ready: bool) -> u64 {
        let base_ms = if ready { self.config.full_retry_after_ms } else { self.retry_after_ms() };
        let draw = u64::from(u16::from_le_bytes([tx.signature.0[0], tx.signature.0[1]]));
        let spread_ms = base_ms.saturating_mul(draw) / (2 << 16);
        // Never past the cap, unless the configured least hint is itself past it.
        base_ms.saturating_add(spread_ms).min(RETRY_AFTER_MAX_MS.max(base_ms))
    }

    /// Whether the pool holds its clients' share (`client_share_percent` of its count or of
    /// its bytes): a client's transaction then enters only in exchange for one it evicts, so
    /// most are refused with `mempool_full`. This is how a node knows it is overloaded.
    pub fn is_full_for_clients(&self) -> bool {
        // A client's next transaction, however small, would take the pool past the share.
        self.past_share(Origin::Client, self.len() + 1, self.bytes + 1)
    }

    /// Whether a pool of `txs` transactions and `bytes` bytes is past what `origin` may fill
    /// freely (`MempoolConfig::caps_for`); beyond it a newcomer from `origin` must evict one.
    pub(crate) fn past_share(&self, origin: Origin, txs: usize, bytes: usize) -> bool {
        let (share_txs, share_bytes) = self.config.caps_for(origin);
        txs > share_txs || bytes > share_bytes
    }

    /// Whether the pool holds the transaction with this hash.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The pooled transaction with this hash.
    pub fn transaction(&self, hash: &Hash) -> Option<&SignedTransaction> {
        self.by_hash.get(hash).map(|slot| &self.pooled(slot).tx)
    }

    /// Number of transactions held.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether any transaction is ready to go into a block.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Encoded bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The nonce `sender`'s next transaction should carry: the first one after its committed
    /// nonce and its ready queued transactions. `None` if the pool holds nothing from
    /// `sender` (the committed nonce is then the answer).
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        self.senders.get(sender).map(|queue| queue.pending_nonce)
    }

    /// The counters, with the current size.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            txs: self.len(),
            ready_txs: self.ready_txs,
            bytes: self.bytes,
            ..self.metrics.clone()
        }
    }

    /// Up to the configured batch size of client transactions not yet gossiped, oldest first;
    /// `None` when there are none. Peers' transactions are never re-gossiped.
    pub fn take_gossip_batch(&mut self) -> Option<Vec<SignedTransaction>> {
        let mut batch = Vec::new();
        while batch.len() < self.config.gossip_batch_txs_max {
            let Some((_, slot)) = self.gossip.pop_first() else { break };
            batch.push(self.pooled(&slot).tx.clone());
        }
        (!batch.is_empty()).then_some(batch)
    }

    pub(crate) fn pooled(&self, (sender, nonce): &Slot) -> &PoolTx {
        self.senders
            .get(sender)
            .and_then(|queue| queue.txs.get(nonce))
            .expect("every index entry points at a pooled transaction")
    }

    /// Adds `tx` to its sender's queue (created with `account` if absent) and to the indexes,
    /// except the ready and eviction keys, which [`Mempool::sync_sender`] maintains.
    pub(crate) fn insert(&mut self, tx: PoolTx, account: Account) {
        let slot = (tx.tx.tx.sender, tx.nonce());
        self.by_hash.insert(tx.hash, slot);
        self.by_age.insert((tx.admitted_ms, tx.seq), slot);
        if tx.origin == Origin::Client {
            self.gossip.insert(tx.seq, slot);
        }
        self.bytes += tx.bytes;
        let queue = self.senders.entry(slot.0).or_insert_with(|| SenderQueue::new(account));
        let previous = queue.txs.insert(slot.1, Box::new(tx));
        assert!(previous.is_none(), "a slot is emptied before it is filled again");
    }

    /// Removes a transaction from its queue and the indexes; the caller then syncs the sender.
    pub(crate) fn take(&mut self, (sender, nonce): &Slot) -> Option<PoolTx> {
        let tx = *self.senders.get_mut(sender)?.txs.remove(nonce)?;
        self.by_hash.remove(&tx.hash);
        self.by_age.remove(&(tx.admitted_ms, tx.seq));
        self.gossip.remove(&tx.seq);
        self.bytes -= tx.bytes;
        Some(tx)
    }

    /// Recomputes a sender's pending nonce and re-indexes its ready and eviction keys; forgets
    /// the sender if nothing of it is left.
    pub(crate) fn sync_sender(&mut self, sender: &Address) {
        let Some(queue) = self.senders.get_mut(sender) else { return };
        self.ready_txs -= std::mem::take(&mut queue.ready_counted);
        if let Some(key) = queue.head.take() {
            self.ready.remove(&key);
        }
        if let Some(key) = queue.tail.take() {
            self.tails.remove(&key);
        }
        if queue.txs.is_empty() {
            self.senders.remove(sender);
            return;
        }
        queue.refresh_keys();
        queue.ready_counted = queue.ready_len();
        self.ready_txs += queue.ready_counted;
        self.ready.extend(queue.head);
        self.tails.extend(queue.tail);
    }

    /// Sets a sender's committed account, removes what can no longer execute and re-indexes.
    /// Returns the hashes removed.
    pub(crate) fn recheck(&mut self, sender: &Address, account: Option<Account>) -> Vec<Hash> {
        let Some(queue) = self.senders.get_mut(sender) else { return Vec::new() };
        if let Some(account) = account {
            queue.account = account;
        }
        let mut dropped = Vec::new();
        for nonce in queue.invalid_nonces() {
            if let Some(tx) = self.take(&(*sender, nonce)) {
                dropped.push(tx.hash);
            }
        }
        self.metrics.dropped += dropped.len() as u64;
        self.sync_sender(sender);
        dropped
    }

    /// Checks that every index agrees with the queues. For tests.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        let mut count = 0;
        let mut bytes = 0;
        let mut ready = 0;
        for (sender, queue) in &self.senders {
            ready += queue.ready_len();
            assert_eq!(queue.ready_counted, queue.ready_len(), "ready transactions counted");
            assert!(!queue.txs.is_empty(), "empty queues are forgotten");
            assert!(queue.invalid_nonces().is_empty(), "queued transactions stay executable");
            for (nonce, tx) in &queue.txs {
                assert_eq!(self.by_hash.get(&tx.hash), Some(&(*sender, *nonce)));
                assert_eq!(self.by_age.get(&(tx.admitted_ms, tx.seq)), Some(&(*sender, *nonce)));
                count += 1;
                bytes += tx.bytes;
            }
            assert_eq!(queue.head, queue.txs.get(&queue.account.nonce).map(|tx| ReadyKey::of(tx)));
            assert!(queue.head.is_none_or(|key| self.ready.contains(&key)));
            assert!(queue.tail.is_some_and(|key| self.tails.contains(&key)));
        }
        assert_eq!((self.by_hash.len(), self.by_age.len(), self.bytes), (count, count, bytes));
        assert_eq!(self.ready_txs, ready);
        assert_eq!(self.tails.len(), self.senders.len());
        assert!(self.gossip.values().all(|slot| self.pooled(slot).origin == Origin::Client));
    }
}
