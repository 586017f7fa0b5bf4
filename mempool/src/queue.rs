//! One sender's queued transactions, and the keys that order them across senders.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use tandem_types::{Account, Address, Hash, SignedTransaction};

/// Where a transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Submitted to this node by a client: gossiped to the peers.
    Client,
    /// Received from a peer's gossip: not gossiped again (validators form a full mesh).
    Peer,
}

/// A pooled transaction with what the pool knows about it.
#[derive(Debug)]
pub(crate) struct PoolTx {
    pub(crate) tx: SignedTransaction,
    pub(crate) hash: Hash,
    /// Length of the canonical encoding.
    pub(crate) bytes: usize,
    /// Amount plus fee (checked at admission).
    pub(crate) cost: u128,
    /// Arrival order, unique across the pool.
    pub(crate) seq: u64,
    pub(crate) admitted_ms: u64,
    pub(crate) origin: Origin,
}

impl PoolTx {
    pub(crate) fn fee(&self) -> u128 {
        self.tx.tx.fee
    }

    pub(crate) fn nonce(&self) -> u64 {
        self.tx.tx.nonce
    }
}

/// Orders ready transactions best first: highest fee, then earliest arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ReadyKey {
    pub(crate) fee: Reverse<u128>,
    pub(crate) seq: u64,
    pub(crate) sender: Address,
    pub(crate) nonce: u64,
}

impl ReadyKey {
    pub(crate) fn of(tx: &PoolTx) -> ReadyKey {
        ReadyKey { fee: Reverse(tx.fee()), seq: tx.seq, sender: tx.tx.tx.sender, nonce: tx.nonce() }
    }
}

/// Orders senders' last transactions for eviction: held ones (waiting behind a nonce gap)
/// before ready ones, then lowest fee first, then latest arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EvictKey {
    pub(crate) ready: bool,
    pub(crate) fee: u128,
    pub(crate) seq: Reverse<u64>,
    pub(crate) sender: Address,
    pub(crate) nonce: u64,
}

impl EvictKey {
    fn of(tx: &PoolTx, ready: bool) -> EvictKey {
        EvictKey {
            ready,
            fee: tx.fee(),
            seq: Reverse(tx.seq),
            sender: tx.tx.tx.sender,
            nonce: tx.nonce(),
        }
    }
}

/// One sender's transactions by nonce, with its committed account as last read.
#[derive(Debug)]
pub(crate) struct SenderQueue {
    pub(crate) account: Account,
    /// Boxed: a B-tree node holds eleven entries inline, and most senders have one to a few
    /// transactions pooled, so inline entries (about 300 bytes each) cost a pool of ten
    /// thousand senders over 3 KB per sender.
    pub(crate) txs: BTreeMap<u64, Box<PoolTx>>,
    /// The first nonce from the account nonce on that is not queued: the transactions below
    /// it are ready (executable in order now).
    pub(crate) pending_nonce: u64,
    /// The key of the ready transaction at the account nonce, as indexed by the pool.
    pub(crate) head: Option<ReadyKey>,
    /// The key of the highest-nonce transaction, as indexed by the pool.
    pub(crate) tail: Option<EvictKey>,
    /// How many of its transactions the pool counts as ready (as of the last re-index).
    pub(crate) ready_counted: usize,
}

impl SenderQueue {
    pub(crate) fn new(account: Account) -> SenderQueue {
        SenderQueue {
            account,
            txs: BTreeMap::new(),
            pending_nonce: account.nonce,
            head: None,
            tail: None,
            ready_counted: 0,
        }
    }

    /// What the queued transactions with a nonce below `nonce` cost together; `None` on
    /// overflow.
    pub(crate) fn cost_before(&self, nonce: u64) -> Option<u128> {
        self.txs.range(..nonce).try_fold(0u128, |sum, (_, tx)| sum.checked_add(tx.cost))
    }

    /// Nonces that can no longer execute: below the account nonce, or not covered by the
    /// balance after the (kept) transactions before them.
    pub(crate) fn invalid_nonces(&self) -> Vec<u64> {
        let stale = self.txs.range(..self.account.nonce).map(|(&nonce, _)| nonce);
        let mut invalid: Vec<u64> = stale.collect();
        let mut spent = 0u128;
        for (&nonce, tx) in self.txs.range(self.account.nonce..) {
            match spent.checked_add(tx.cost) {
                Some(total) if total <= self.account.balance => spent = total,
                _ => invalid.push(nonce),
            }
        }
        invalid
    }

    /// Recomputes the pending nonce and the index keys (the caller re-indexes them).
    pub(crate) fn refresh_keys(&mut self) {
        let mut next = self.account.nonce;
        for &nonce in self.txs.range(self.account.nonce..).map(|(nonce, _)| nonce) {
            if nonce != next {
                break;
            }
            next = next.saturating_add(1);
        }
        self.pending_nonce = next;
        self.head = self.txs.get(&self.account.nonce).map(|tx| ReadyKey::of(tx));
        self.tail = self.txs.last_key_value().map(|(&nonce, tx)| EvictKey::of(tx, nonce < next));
    }

    /// How many transactions are ready: those from the account nonce to the pending nonce.
    pub(crate) fn ready_len(&self) -> usize {
        usize::try_from(self.pending_nonce.saturating_sub(self.account.nonce)).unwrap_or(usize::MAX)
    }

    /// Whether a transaction with a nonce above `nonce` is queued.
    pub(crate) fn has_after(&self, nonce: u64) -> bool {
        self.txs.last_key_value().is_some_and(|(&last, _)| last > nonce)
    }

    /// Whether the transaction with `nonce` is ready.
    pub(crate) fn is_ready(&self, nonce: u64) -> bool {
        nonce >= self.account.nonce && nonce < self.pending_nonce
    }
}
