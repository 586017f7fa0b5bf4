//! Admission: the checks a transaction passes to enter the pool, cheapest first, the
//! signature last; replace-by-fee; eviction when full.

use tandem_types::{Account, CheckedKey, Hash, SignedTransaction};

use crate::accounts::AccountSource;
use crate::pool::{Mempool, Slot};
use crate::queue::{EvictKey, Origin, PoolTx};
use crate::rejection::Rejection;

/// What admitting a transaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The admitted transaction's hash.
    pub hash: Hash,
    /// Whether it is ready: every nonce from the account's up to it is queued.
    pub ready: bool,
    /// The transaction it replaced (same sender and nonce, lower fee).
    pub replaced: Option<Hash>,
    /// Transactions evicted to make room for it.
    pub evicted: Vec<Hash>,
    /// The sender's transactions removed because they can no longer execute: a replacement
    /// with a higher cost can leave later ones uncovered by the balance.
    pub dropped: Vec<Hash>,
}

/// The changes an admission makes once the signature verifies.
struct Plan {
    account: Account,
    cost: u128,
    replaces: Option<Slot>,
    evicts: Vec<EvictKey>,
}

impl Mempool {
    /// Admits a signed transaction received at `now_ms` from `origin`, checking it against
    /// the committed state in `accounts`. Client transactions are queued for gossip.
    pub fn admit(
        &mut self,
        now_ms: u64,
        tx: SignedTransaction,
        origin: Origin,
        accounts: &impl AccountSource,
    ) -> Result<Admitted, Rejection> {
        let result = self.try_admit(now_ms, tx, origin, accounts);
        self.count(&result);
        result
    }

    fn count(&mut self, result: &Result<Admitted, Rejection>) {
        match result {
            Ok(_) => self.metrics.admitted += 1,
            Err(rejection) => self.metrics.count_rejection(rejection),
        }
    }

    /// Decodes `bytes` strictly as a signed transaction (after checking their length), then
    /// admits it like [`Mempool::admit`].
    pub fn admit_bytes(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        origin: Origin,
        accounts: &impl AccountSource,
    ) -> Result<Admitted, Rejection> {
        let tx = self.decode_transaction(bytes)?;
        self.admit(now_ms, tx, origin, accounts)
    }

    /// Runs every admission check except the signature, changing nothing but the sender's
    /// refresh against a moved account: `Ok` means `tx` would be admitted now if its signature
    /// verifies, and carries what that refresh dropped. With [`Mempool::admit_verified`] it
    /// lets a caller verify the signature without holding the pool (and only for
    /// transactions worth it).
    pub fn precheck(
        &mut self,
        tx: &SignedTransaction,
        origin: Origin,
        accounts: &impl AccountSource,
    ) -> Result<Vec<Hash>, Rejection> {
        let result = self.check_unsigned(tx, origin, accounts).map(|(_, _, dropped)| dropped);
        if let Err(rejection) = &result {
            self.metrics.count_rejection(rejection);
        }
        result
    }

    /// Admits `tx` like [`Mempool::admit`] but without checking its signature: the caller
    /// verified it with `sender_key` ([`Mempool::verify_signature`]), which the pool keeps.
    /// Every other check runs again, since the pool may have changed since a
    /// [`Mempool::precheck`].
    pub fn admit_verified(
        &mut self,
        now_ms: u64,
        tx: SignedTransaction,
        sender_key: CheckedKey,
        origin: Origin,
        accounts: &impl AccountSource,
    ) -> Result<Admitted, Rejection> {
        self.keys.insert(sender_key);
        let result = self
            .check_unsigned(&tx, origin, accounts)
            .map(|(hash, plan, dropped)| self.apply(now_ms, tx, hash, origin, plan, dropped));
        self.count(&result);
        result
    }

    /// Decodes `bytes` strictly as a signed transaction (after checking their length), as
    /// [`Mempool::admit_bytes`] does; a failure is counted like any rejection.
    pub fn decode_transaction(&mut self, bytes: &[u8]) -> Result<SignedTransaction, Rejection> {
        let result = Mempool::decode_transaction_with(self.config.tx_bytes_max, bytes);
        if let Err(rejection) = &result {
            self.metrics.count_rejection(rejection);
        }
        result
    }

    /// Counts a rejection decided outside the pool (a signature the caller found invalid), so
    /// that the pool's counters cover every refused transaction.
    pub fn count_rejection(&mut self, rejection: &Rejection) {
        self.metrics.count_rejection(rejection);
    }

    /// Decodes `bytes` strictly as a signed transaction of at most `tx_bytes_max` bytes,
    /// without the pool (so that a caller sharing the pool need not hold it for this); the
    /// caller counts a failure with [`Mempool::count_rejection`].
    pub fn decode_transaction_with(
        tx_bytes_max: usize,
        bytes: &[u8],
    ) -> Result<SignedTransaction, Rejection> {
        if bytes.len() > tx_bytes_max {
            return Err(Rejection::TooLarge { bytes: bytes.len(), max: tx_bytes_max });
        }
        SignedTransaction::from_bytes(bytes).map_err(Rejection::BadEncoding)
    }

    fn try_admit(
        &mut self,
        now_ms: u64,
        tx: SignedTransaction,
        origin: Origin,
        accounts: &impl AccountSource,
    ) -> Result<Admitted, Rejection> {
        let (hash, plan, dropped) = self.check_unsigned(&tx, origin, accounts)?;
        let kept = self.keys.get(&tx.tx.sender);
        let sender_key = Mempool::verify_signature(&tx, kept).map_err(Rejection::BadSignature)?;
        if kept.is_none() {
            self.keys.insert(sender_key);
        }
        Ok(self.apply(now_ms, tx, hash, origin, plan, dropped))
    }

    /// Every check but the signature, in order; the hash, the plan of changes, and what the
    /// sender's refresh dropped.
    fn check_unsigned(
        &mut self,
        tx: &SignedTransaction,
        origin: Origin,
        accounts: &impl AccountSource,
    ) -> Result<(Hash, Plan, Vec<Hash>), Rejection> {
        self.check_alone(tx)?;
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) || self.recent.contains(&hash) {
            return Err(Rejection::Duplicate(hash));
        }
        let account = accounts.account(&tx.tx.sender);
        let dropped = self.refresh_account(tx, account);
        let plan = self.plan(tx, origin, account)?;
        Ok((hash, plan, dropped))
    }

    /// The checks that need nothing but the transaction.
    fn check_alone(&self, tx: &SignedTransaction) -> Result<(), Rejection> {
        let bytes = tx.encoded_len();
        if bytes > self.config.tx_bytes_max {
            return Err(Rejection::TooLarge { bytes, max: self.config.tx_bytes_max });
        }
        if tx.tx.chain_id != self.chain_id {
            return Err(Rejection::WrongChain { expected: self.chain_id, got: tx.tx.chain_id });
        }
        if tx.tx.fee < self.min_fee {
            return Err(Rejection::FeeBelowMinimum { fee: tx.tx.fee, min_fee: self.min_fee });
        }
        Ok(())
    }

    /// If the committed account moved since the pool last read it (a block the pool was not
    /// told about yet), recheck the sender's queue against it first.
    fn refresh_account(&mut self, tx: &SignedTransaction, account: Account) -> Vec<Hash> {
        let sender = &tx.tx.sender;
        match self.senders.get(sender) {
            Some(queue) if queue.account != account => self.recheck(sender, Some(account)),
            _ => Vec::new(),
        }
    }

    /// Every stateful check, in order: nonce, replacement or window and sender cap, balance,
    /// room (within the caps for `origin`). Changes nothing.
    fn plan(
        &self,
        tx: &SignedTransaction,
        origin: Origin,
        account: Account,
    ) -> Result<Plan, Rejection> {
        let (sender, nonce, fee) = (tx.tx.sender, tx.tx.nonce, tx.tx.fee);
        if nonce < account.nonce {
            return Err(Rejection::NonceTooLow { nonce, account_nonce: account.nonce });
        }
        let queue = self.senders.get(&sender);
        let replaced = queue.and_then(|queue| queue.txs.get(&nonce));
        if let Some(old) = replaced {
            let required = replacement_fee(old.fee(), self.config.replace_bump_percent);
            if fee < required {
                return Err(Rejection::ReplacementUnderpriced { nonce, fee, required });
            }
        } else {
            let pending_nonce = queue.map_or(account.nonce, |queue| queue.pending_nonce);
            let gap_max = self.config.nonce_gap_max;
            if nonce > pending_nonce.saturating_add(gap_max) {
                return Err(Rejection::NonceTooHigh { nonce, pending_nonce, gap_max });
            }
            let queued = queue.map_or(0, |queue| queue.txs.len());
            if queued >= self.config.sender_txs_max {
                return Err(Rejection::SenderLimit { sender, queued });
            }
        }
        let cost = tx.tx.action.amount().checked_add(fee).ok_or(Rejection::CostOverflow)?;
        let before = queue.map_or(Some(0), |queue| queue.cost_before(nonce));
        let required = before.and_then(|b| b.checked_add(cost)).ok_or(Rejection::CostOverflow)?;
        if required > account.balance {
            return Err(Rejection::InsufficientBalance { balance: account.balance, required });
        }
        let freed = replaced.map_or((0, 0), |old| (1, old.bytes));
        let ready = nonce <= queue.map_or(account.nonce, |queue| queue.pending_nonce);
        let evicts = self.plan_evictions(tx, (ready, origin), freed)?;
        Ok(Plan { account, cost, replaces: replaced.map(|_| (sender, nonce)), evicts })
    }

    /// The transactions to evict so that `tx` fits, given what its replacement frees:
    /// senders' last transactions, held ones (behind a nonce gap) first, then lowest fee
    /// first. A ready newcomer may evict any held transaction and a ready one with a lower
    /// fee; a held newcomer only a held one with a lower fee. Never the sender's own (that
    /// could leave a gap before `tx`). A client's transaction that would take the pool past
    /// the client share must evict at least one: above the share, clients only exchange.
    fn plan_evictions(
        &self,
        tx: &SignedTransaction,
        (ready, origin): (bool, Origin),
        (freed_txs, freed_bytes): (usize, usize),
    ) -> Result<Vec<EvictKey>, Rejection> {
        let mut txs = self.len() + 1 - freed_txs;
        let mut bytes = self.bytes + tx.encoded_len() - freed_bytes;
        let exchange_only = self.past_share(origin, txs, bytes);
        let sender = &tx.tx.sender;
        let evictable = |victim: &EvictKey| {
            if ready && !victim.ready {
                return true;
            }
            victim.ready == ready && victim.fee < tx.tx.fee
        };
        let mut candidates = self.tails.iter().filter(|key| key.sender != *sender);
        let mut evicts = Vec::new();
        while txs > self.config.txs_max
            || bytes > self.config.bytes_max
            || (exchange_only && evicts.is_empty())
        {
            let Some(victim) = candidates.next().filter(|key| evictable(key)) else {
                return Err(Rejection::MempoolFull {
                    retry_after_ms: self.retry_after_ms_for(tx, ready),
                });
            };
            txs -= 1;
            bytes -= self.pooled(&(victim.sender, victim.nonce)).bytes;
            evicts.push(*victim);
        }
        Ok(evicts)
    }

    fn apply(
        &mut self,
        now_ms: u64,
        tx: SignedTransaction,
        hash: Hash,
        origin: Origin,
        plan: Plan,
        mut dropped: Vec<Hash>,
    ) -> Admitted {
        let sender = tx.tx.sender;
        let nonce = tx.tx.nonce;
        let replaced = plan.replaces.and_then(|slot| self.take(&slot)).map(|old| old.hash);
        self.metrics.replaced += u64::from(replaced.is_some());
        let mut evicted = Vec::with_capacity(plan.evicts.len());
        for key in plan.evicts {
            if let Some(old) = self.take(&(key.sender, key.nonce)) {
                evicted.push(old.hash);
                self.sync_sender(&key.sender);
            }
        }
        self.metrics.evicted += evicted.len() as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = tx.encoded_len();
        let pooled = PoolTx { tx, hash, bytes, cost: plan.cost, seq, admitted_ms: now_ms, origin };
        self.insert(pooled, plan.account);
        self.recent.insert(hash);
        if self.senders.get(&sender).is_some_and(|queue| queue.has_after(nonce)) {
            // A costlier replacement or a filled gap may leave later nonces uncovered.
            dropped.extend(self.recheck(&sender, None));
        } else {
            self.sync_sender(&sender);
        }
        let ready = self.senders.get(&sender).is_some_and(|queue| queue.is_ready(nonce));
        Admitted { hash, ready, replaced, evicted, dropped }
    }
}

/// The smallest fee that replaces a transaction paying `old`: `old × (100 + bump) / 100`
/// rounded up, and always more than `old`. Saturates instead of overflowing.
pub fn replacement_fee(old: u128, bump_percent: u32) -> u128 {
    let bump = u128::from(bump_percent);
    let increase =
        (old / 100).saturating_mul(bump).saturating_add((old % 100 * bump).div_ceil(100));
    old.saturating_add(increase.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_fee_rounds_up_and_always_increases() {
        assert_eq!(replacement_fee(100, 10), 110);
        assert_eq!(replacement_fee(101, 10), 112); // 111.1 rounds up
        assert_eq!(replacement_fee(1, 10), 2);
        assert_eq!(replacement_fee(0, 10), 1);
        assert_eq!(replacement_fee(50, 0), 51);
        assert_eq!(replacement_fee(1_000, 100), 2_000);
        assert_eq!(replacement_fee(u128::MAX, 10), u128::MAX);
        assert_eq!(replacement_fee(u128::MAX / 2, 10_000), u128::MAX);
    }
}
