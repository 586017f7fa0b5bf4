//! The simulation's block source: a node's pool of transactions that arrived from clients.
//!
//! Transfers from one funded account, with consecutive nonces, arrive at every node at virtual
//! times the seed decides. A crash loses a node's pool (it is memory), as a real mempool's is.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use tandem_consensus::BlockSource;
use tandem_types::{Block, SignedTransaction};

/// One node's pending transactions, by nonce. Shared between the simulation (which adds
/// arrivals) and the node's consensus core (which proposes them and reports commits).
#[derive(Clone, Default)]
pub(crate) struct Pool(Rc<RefCell<PoolState>>);

#[derive(Default)]
struct PoolState {
    pending: BTreeMap<u64, SignedTransaction>,
    /// Nonces below this are committed; arrivals below it are dropped.
    committed_nonce: u64,
}

impl Pool {
    /// A transaction arrived; returns whether it is new to this pool.
    pub(crate) fn add(&self, tx: SignedTransaction) -> bool {
        let mut state = self.0.borrow_mut();
        if tx.tx.nonce < state.committed_nonce || state.pending.contains_key(&tx.tx.nonce) {
            return false;
        }
        state.pending.insert(tx.tx.nonce, tx);
        true
    }
}

impl BlockSource for Pool {
    fn candidates(&mut self, _height: u64, limit: usize) -> Vec<SignedTransaction> {
        self.0.borrow().pending.values().take(limit).cloned().collect()
    }

    fn has_candidates(&self) -> bool {
        !self.0.borrow().pending.is_empty()
    }

    fn on_committed(&mut self, _now_ms: u64, block: &Block) {
        let mut state = self.0.borrow_mut();
        if let Some(last) = block.txs.iter().map(|tx| tx.tx.nonce).max() {
            state.committed_nonce = state.committed_nonce.max(last + 1);
        }
        let committed = state.committed_nonce;
        state.pending.retain(|nonce, _| *nonce >= committed);
    }
}
