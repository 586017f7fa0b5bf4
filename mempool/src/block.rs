//! What happens to the pool when a block is decided, and when transactions grow old.

use std::collections::BTreeSet;

use tandem_types::{Hash, SignedTransaction};

use crate::accounts::AccountSource;
use crate::pool::Mempool;

/// What a committed block did to the pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Pooled transactions the block included.
    pub included: Vec<Hash>,
    /// Transactions that can no longer execute: another transaction used their nonce, or
    /// the sender's balance no longer covers them.
    pub dropped: Vec<Hash>,
    /// Transactions older than the TTL.
    pub expired: Vec<Hash>,
}

impl Mempool {
    /// Updates the pool after the block with `txs` was committed and `accounts` reflects it:
    /// removes the included transactions (remembering their hashes as duplicates), rechecks
    /// each sender of the block against its new account (dropping stale nonces and what the
    /// balance no longer covers, making held transactions ready when the gap before them
    /// closed), then expires what is older than the TTL at `now_ms`.
    pub fn on_block_committed(
        &mut self,
        now_ms: u64,
        txs: &[SignedTransaction],
        accounts: &impl AccountSource,
    ) -> Committed {
        self.inclusion.on_block(now_ms, txs.len());
        let mut included = Vec::new();
        let mut senders = BTreeSet::new();
        for tx in txs {
            let hash = tx.hash();
            self.recent.insert(hash);
            senders.insert(tx.tx.sender);
            if let Some(slot) = self.by_hash.get(&hash).copied() {
                self.take(&slot);
                included.push(hash);
            }
        }
        self.metrics.included += included.len() as u64;
        let mut dropped = Vec::new();
        for sender in &senders {
            if self.senders.contains_key(sender) {
                dropped.extend(self.recheck(sender, Some(accounts.account(sender))));
            }
        }
        let expired = self.expire(now_ms);
        Committed { included, dropped, expired }
    }

    /// Removes every transaction admitted at least the TTL before `now_ms`; returns their
    /// hashes. Later nonces of the same sender stay, held until the gap is filled again.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Hash> {
        let mut expired = Vec::new();
        let mut senders = BTreeSet::new();
        while let Some((&(admitted_ms, _), &slot)) = self.by_age.first_key_value() {
            if admitted_ms.saturating_add(self.config.ttl_ms) > now_ms {
                break;
            }
            if let Some(tx) = self.take(&slot) {
                expired.push(tx.hash);
            }
            senders.insert(slot.0);
        }
        for sender in &senders {
            self.sync_sender(sender);
        }
        self.metrics.expired += expired.len() as u64;
        expired
    }
}
