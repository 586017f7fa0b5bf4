//! The transaction index: tx hash → (height, position in block).
//!
//! Transaction hashes are random, and a B-tree that takes each block's hashes as they come
//! dirties one page per entry once it is large, every one of them rewritten at the block's
//! commit. So the index keeps the entries of recent blocks in memory and writes them, when
//! enough have gathered (`StoreConfig::tx_index_run_txs`), as one sorted run appended at the end of the table (keys start with
//! the run number). A watermark, committed with each run, says which heights the runs cover; at
//! start the entries of later blocks are rebuilt from the blocks themselves. Lookups try memory,
//! then the runs from newest to oldest.

use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use redb::{ReadTransaction, TableDefinition, WriteTransaction};
use rustc_hash::FxHashMap;
use tandem_types::{Hash, Height};

use crate::error::StoreError;

pub(crate) const TX_RUNS: TableDefinition<&[u8], (u64, u32)> =
    TableDefinition::new("tx_index_runs");

/// What the runs on disk cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Watermark {
    /// Number of runs written; run ids are `0..runs`.
    pub runs: u32,
    /// Every transaction of a height at or below this one is in a run.
    pub indexed_height: Height,
}

/// What a block's commit does to the index, applied to memory once the commit succeeded.
pub(crate) enum Staged {
    /// The block's entries stay in memory.
    Buffered { height: Height, tx_hashes: Vec<Hash> },
    /// Memory and the block's entries were written as a run.
    Flushed(Watermark),
}

struct Recent {
    entries: FxHashMap<Hash, (Height, u32)>,
    watermark: Watermark,
}

/// The in-memory part of the index; the runs live in the store's file.
pub(crate) struct TxIndex {
    recent: Mutex<Recent>,
    run_txs: usize,
}

fn run_key(run: u32, hash: &Hash) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..4].copy_from_slice(&run.to_be_bytes());
    key[4..].copy_from_slice(&hash.0);
    key
}

impl TxIndex {
    /// An index whose runs end at `watermark`, with `later` blocks' hashes (heights above the
    /// watermark, in order) rebuilt in memory.
    pub fn new(
        run_txs: usize,
        watermark: Watermark,
        later: impl IntoIterator<Item = (Height, Vec<Hash>)>,
    ) -> TxIndex {
        let mut entries = FxHashMap::default();
        for (height, hashes) in later {
            insert_block(&mut entries, height, &hashes);
        }
        TxIndex { recent: Mutex::new(Recent { entries, watermark }), run_txs }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        // A panic while holding the lock cannot leave the map half-updated: every update is a
        // single insert or a clear.
        self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a block's entries to the commit `tx`; writes a run if enough have gathered.
    pub fn stage(
        &self,
        tx: &WriteTransaction,
        height: Height,
        tx_hashes: &[Hash],
    ) -> Result<(Staged, Option<Watermark>), StoreError> {
        let recent = self.recent();
        if recent.entries.len() + tx_hashes.len() < self.run_txs {
            return Ok((Staged::Buffered { height, tx_hashes: tx_hashes.to_vec() }, None));
        }
        let mut run: Vec<(Hash, (Height, u32))> =
            recent.entries.iter().map(|(h, l)| (*h, *l)).collect();
        run.extend(
            tx_hashes.iter().enumerate().map(|(position, hash)| (*hash, (height, position as u32))),
        );
        run.sort_unstable_by_key(|(hash, _)| *hash);
        let run_id = recent.watermark.runs;
        let mut table = tx.open_table(TX_RUNS)?;
        for (hash, location) in run {
            table.insert(run_key(run_id, &hash).as_slice(), location)?;
        }
        let watermark = Watermark { runs: run_id + 1, indexed_height: height };
        Ok((Staged::Flushed(watermark), Some(watermark)))
    }

    /// Applies a staged change after its commit succeeded.
    pub fn apply(&self, staged: Staged) {
        let mut recent = self.recent();
        match staged {
            Staged::Buffered { height, tx_hashes } => {
                insert_block(&mut recent.entries, height, &tx_hashes)
            }
            Staged::Flushed(watermark) => {
                recent.entries.clear();
                recent.watermark = watermark;
            }
        }
    }

    /// Where a transaction is, if it is in a committed block.
    pub fn lookup(
        &self,
        read: &ReadTransaction,
        tx_hash: &Hash,
    ) -> Result<Option<(Height, u32)>, StoreError> {
        let runs = {
            let recent = self.recent();
            if let Some(location) = recent.entries.get(tx_hash) {
                return Ok(Some(*location));
            }
            recent.watermark.runs
        };
        let table = read.open_table(TX_RUNS)?;
        for run in (0..runs).rev() {
            if let Some(location) = table.get(run_key(run, tx_hash).as_slice())? {
                return Ok(Some(location.value()));
            }
        }
        Ok(None)
    }

    /// Entries held in memory, and runs on disk.
    pub fn shape(&self) -> (usize, u32) {
        let recent = self.recent();
        (recent.entries.len(), recent.watermark.runs)
    }
}

fn insert_block(entries: &mut FxHashMap<Hash, (Height, u32)>, height: Height, tx_hashes: &[Hash]) {
    for (position, hash) in tx_hashes.iter().enumerate() {
        entries.insert(*hash, (height, position as u32));
    }
}
