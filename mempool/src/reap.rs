//! Choosing a block's transactions: best fee first, each sender's nonces in order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tandem_types::SignedTransaction;

use crate::pool::Mempool;
use crate::queue::ReadyKey;

/// The smallest encoded transaction of protocol v1 (a withdrawal); below this much room no
/// transaction fits.
const SMALLEST_TX_BYTES: usize = 165;

impl Mempool {
    /// Up to `max_txs` ready transactions of at most `max_bytes` encoded bytes in total, in
    /// block order: highest fee first, then earliest arrival, and a sender's nonce `n + 1`
    /// never before its nonce `n`. Executed in this order against the committed state, every
    /// one is valid. Nothing is removed: the committed block does that.
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<SignedTransaction> {
        let mut block = Vec::new();
        let mut room = max_bytes;
        let mut heads = self.ready.iter().copied().peekable();
        // Each taken transaction's successor competes with the other senders' heads.
        let mut successors: BinaryHeap<Reverse<ReadyKey>> = BinaryHeap::new();
        while block.len() < max_txs && room >= SMALLEST_TX_BYTES {
            let from_heads = match (heads.peek(), successors.peek()) {
                (Some(head), Some(Reverse(next))) => head < next,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let key: ReadyKey = match from_heads {
                true => heads.next(),
                false => successors.pop().map(|Reverse(key)| key),
            }
            .expect("the chosen source is not empty");
            let pooled = self.pooled(&(key.sender, key.nonce));
            if pooled.bytes > room {
                continue; // this sender's later nonces cannot come without this one
            }
            room -= pooled.bytes;
            block.push(pooled.tx.clone());
            if let Some(next) = self.ready_successor(&key) {
                successors.push(Reverse(next));
            }
        }
        block
    }

    fn ready_successor(&self, key: &ReadyKey) -> Option<ReadyKey> {
        let queue = self.senders.get(&key.sender)?;
        let nonce = key.nonce.checked_add(1)?;
        queue.is_ready(nonce).then(|| ReadyKey::of(&queue.txs[&nonce]))
    }
}

#[cfg(test)]
mod tests {
    use tandem_types::{Action, Address, L1Address, SecretKey, Transaction};

    use super::SMALLEST_TX_BYTES;
    use crate::LARGEST_TX_BYTES;

    #[test]
    fn the_size_bounds_are_those_of_the_two_actions() {
        let key = SecretKey::from_seed(&[1; 32]);
        let sized = |action| {
            Transaction { chain_id: 1, sender: key.address(), nonce: 0, fee: 1, action }
                .sign(&key)
                .to_bytes()
                .len()
        };
        let withdraw = sized(Action::Withdraw { l1_recipient: L1Address([1; 20]), amount: 1 });
        let transfer = sized(Action::Transfer { to: Address([1; 32]), amount: 1 });
        assert_eq!((withdraw, transfer), (SMALLEST_TX_BYTES, LARGEST_TX_BYTES));
    }
}
