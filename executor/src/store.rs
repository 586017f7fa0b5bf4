//! The redb store: one file per node holding blocks, certificates, receipts, the transaction
//! index, per-height state references and the versioned state tree. Every decided block and all
//! its effects are written in one write transaction, so a crash leaves either all or none.
//!
//! Tree records are keyed by version first, so a block's new records append at the end of the
//! table instead of dirtying pages all over the file; leaves carry their account value, so no
//! separate randomly-keyed value table is written. What a record holds is in `tree::stored`.

use std::cell::RefCell;
use std::path::Path;

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, ValueHash, Version};
use redb::{Database, ReadOnlyTable, ReadableDatabase, TableDefinition, WriteTransaction};
use rustc_hash::FxHashMap;
use tandem_types::{decode, encode, Block, CommitCertificate, Hash, Height};

use crate::error::StoreError;
use crate::executor::Durability;
use crate::ledger::Receipt;
use crate::tree::{
    node_pos, rebuild_internal, to_jmt_node, write_records, NodePos, StoredNode, TreeUpdate,
};
use crate::tx_index::{TxIndex, Watermark, TX_RUNS};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const STATES: TableDefinition<u64, &[u8]> = TableDefinition::new("states");
const TREE_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tree_nodes");

const META_GENESIS_HASH: &str = "genesis_hash";
const META_HEAD: &str = "head";
const META_TX_INDEX: &str = "tx_index_watermark";
const META_FORMAT: &str = "store_format";

/// The file layout this version reads and writes. Format 2 stores an internal tree node without
/// its children's hashes (format 1, unrecorded, had the jmt crate's encoding).
const STORE_FORMAT: u32 = 2;

/// The state after a height: its root and the tree version that holds it. Empty blocks change
/// no state, so several heights can share one tree version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateRef {
    /// Root of the account tree.
    pub state_root: Hash,
    /// Tree version holding that root.
    pub tree_version: Version,
}

/// The last committed height and what the next block builds on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Head {
    /// Last committed height; 0 is genesis.
    pub height: Height,
    /// Its block hash (the genesis hash at height 0).
    pub block_hash: Hash,
    /// Its timestamp (the genesis time at height 0).
    pub timestamp_ms: u64,
    /// The state after it.
    pub state: StateRef,
}

/// Everything one decided block writes.
pub(crate) struct BlockWrite<'a> {
    pub block: &'a Block,
    pub certificate: &'a CommitCertificate,
    pub receipts: &'a [Receipt],
    pub tx_hashes: &'a [Hash],
    pub head: &'a Head,
    pub tree: Option<&'a TreeUpdate>,
}

/// The current value of an account by key hash, for leaves a tree update moved unchanged.
pub(crate) type ValueSource<'a> = &'a dyn Fn(&KeyHash) -> Option<OwnedValue>;

/// Store settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Transaction index entries gathered in memory before they are written as one sorted run.
    /// Larger runs mean fewer runs to search and more entries to rebuild at start.
    pub tx_index_run_txs: usize,
    /// Bytes of the file redb keeps cached in memory. redb's own default is 1 GiB, which a
    /// node's memory budget cannot afford; execution never reads the disk (the working state is
    /// in memory), so the cache serves commits and RPC reads, and a node fills it with the pages
    /// its commits wrote. Default 32 MiB: the block benchmark commits as fast as with 64 MiB.
    pub cache_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig { tx_index_run_txs: 65_536, cache_bytes: 32 << 20 }
    }
}

/// Handle to the node's database file.
pub struct Store {
    db: Database,
    tx_index: TxIndex,
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

impl Store {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        let db = redb::Builder::new().set_cache_size(config.cache_bytes).create(path)?;
        let tx = db.begin_write()?;
        // Create every table up front so that readers never meet a missing table.
        tx.open_table(META)?;
        tx.open_table(BLOCKS)?;
        tx.open_table(CERTIFICATES)?;
        tx.open_table(RECEIPTS)?;
        tx.open_table(TX_RUNS)?;
        tx.open_table(STATES)?;
        tx.open_table(TREE_NODES)?;
        tx.commit()?;
        let mut store = Store { db, tx_index: TxIndex::new(1, Watermark::default(), []) };
        store.check_format()?;
        store.tx_index = store.rebuild_tx_index(config.tx_index_run_txs.max(1))?;
        Ok(store)
    }

    /// Refuses a file written in another layout; a new file has none yet.
    fn check_format(&self) -> Result<(), StoreError> {
        if self.genesis_hash()?.is_none() {
            return Ok(());
        }
        match self.meta::<u32>(META_FORMAT, "store format")? {
            Some(STORE_FORMAT) => Ok(()),
            found => Err(StoreError::Format { found: found.unwrap_or(1), expected: STORE_FORMAT }),
        }
    }

    /// The index's runs as recorded, plus the entries of every later block, rebuilt from them.
    fn rebuild_tx_index(&self, run_txs: usize) -> Result<TxIndex, StoreError> {
        let watermark: Watermark =
            self.meta(META_TX_INDEX, "tx index watermark")?.unwrap_or_default();
        let head = self.head()?.map_or(0, |head| head.height);
        let mut later = Vec::new();
        for height in watermark.indexed_height + 1..=head {
            let block = self.block(height)?.ok_or(StoreError::MissingHeight(height))?;
            later.push((height, block.txs.iter().map(|tx| tx.hash()).collect()));
        }
        Ok(TxIndex::new(run_txs, watermark, later))
    }

    /// The genesis hash the store was initialised with, if any.
    pub fn genesis_hash(&self) -> Result<Option<Hash>, StoreError> {
        self.meta(META_GENESIS_HASH, "genesis hash")
    }

    /// The last committed head, if the store was initialised.
    pub fn head(&self) -> Result<Option<Head>, StoreError> {
        self.meta(META_HEAD, "head")
    }

    fn meta<T: BorshDeserialize>(
        &self,
        key: &str,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let table = self.db.begin_read()?.open_table(META)?;
        let Some(bytes) = table.get(key)? else { return Ok(None) };
        decode(what, bytes.value()).map(Some).map_err(|error| corrupt(what, error))
    }

    /// Writes the genesis state as height 0.
    pub(crate) fn write_genesis(
        &self,
        genesis_hash: &Hash,
        head: &Head,
        tree: &TreeUpdate,
        values: ValueSource<'_>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(META_FORMAT, encode(&STORE_FORMAT).as_slice())?;
            meta.insert(META_GENESIS_HASH, encode(genesis_hash).as_slice())?;
            meta.insert(META_HEAD, encode(head).as_slice())?;
            tx.open_table(STATES)?.insert(0, encode(&head.state).as_slice())?;
        }
        write_tree(&tx, tree, values)?;
        tx.commit()?;
        Ok(())
    }

    /// Writes a decided block and all its effects atomically.
    pub(crate) fn write_block(
        &self,
        write: &BlockWrite<'_>,
        values: ValueSource<'_>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let height = write.block.header.height;
        let mut tx = self.db.begin_write()?;
        if durability == Durability::Deferred {
            tx.set_durability(redb::Durability::None).map_err(redb::Error::from)?;
        }
        {
            tx.open_table(BLOCKS)?.insert(height, write.block.to_bytes().as_slice())?;
            tx.open_table(CERTIFICATES)?.insert(height, write.certificate.to_bytes().as_slice())?;
            tx.open_table(RECEIPTS)?.insert(height, encode(&write.receipts).as_slice())?;
            tx.open_table(STATES)?.insert(height, encode(&write.head.state).as_slice())?;
            tx.open_table(META)?.insert(META_HEAD, encode(write.head).as_slice())?;
        }
        let (staged, watermark) = self.tx_index.stage(&tx, height, write.tx_hashes)?;
        if let Some(watermark) = watermark {
            tx.open_table(META)?.insert(META_TX_INDEX, encode(&watermark).as_slice())?;
        }
        if let Some(tree) = write.tree {
            write_tree(&tx, tree, values)?;
        }
        tx.commit()?;
        self.tx_index.apply(staged);
        Ok(())
    }

    /// The block at `height`.
    pub fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        self.by_height(BLOCKS, height, "block")
    }

    /// The commit certificate of `height`.
    pub fn certificate(&self, height: Height) -> Result<Option<CommitCertificate>, StoreError> {
        self.by_height(CERTIFICATES, height, "certificate")
    }

    /// The receipts of `height`, in block order.
    pub fn receipts(&self, height: Height) -> Result<Option<Vec<Receipt>>, StoreError> {
        self.by_height(RECEIPTS, height, "receipts")
    }

    /// The state after `height`.
    pub fn state_at(&self, height: Height) -> Result<Option<StateRef>, StoreError> {
        self.by_height(STATES, height, "state reference")
    }

    fn by_height<T: BorshDeserialize>(
        &self,
        table: TableDefinition<u64, &[u8]>,
        height: Height,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let table = self.db.begin_read()?.open_table(table)?;
        let Some(bytes) = table.get(height)? else { return Ok(None) };
        decode(what, bytes.value()).map(Some).map_err(|error| corrupt(what, error))
    }

    /// Where a finalized transaction is: (height, index in block).
    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<(Height, u32)>, StoreError> {
        self.tx_index.lookup(&self.db.begin_read()?, tx_hash)
    }

    /// Transaction index entries held in memory, and sorted runs written to disk.
    pub fn tx_index_shape(&self) -> (usize, u32) {
        self.tx_index.shape()
    }

    /// The account of `address` after `height`, with a proof against that height's root.
    pub fn prove(
        &self,
        address: &tandem_types::Address,
        height: Height,
    ) -> Result<crate::ProvenAccount, crate::ExecutorError> {
        let state = self.state_at(height)?.ok_or(StoreError::MissingHeight(height))?;
        let reader = self.tree_reader()?;
        let key = tandem_types::state_key(address);
        let (value, proof) = crate::tree::prove(&reader, key, state.tree_version)?;
        let account = value.map(|bytes| crate::executor::decode_account(&bytes)).transpose()?;
        Ok(crate::ProvenAccount { height, state_root: state.state_root, account, proof })
    }

    /// A consistent read view of the state tree.
    pub(crate) fn tree_reader(&self) -> Result<StoreTreeReader, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(StoreTreeReader { nodes: tx.open_table(TREE_NODES)?, leaf_values: RefCell::default() })
    }
}

fn write_tree(
    tx: &WriteTransaction,
    tree: &TreeUpdate,
    current: ValueSource<'_>,
) -> Result<(), StoreError> {
    let mut nodes = tx.open_table(TREE_NODES)?;
    write_records(tree, current, |key, record| {
        nodes.insert(key, record)?;
        Ok(())
    })
}

/// Reads tree nodes from one read transaction. The values of the leaves it has read are kept,
/// because a proof reads a leaf and then asks for its value.
pub(crate) struct StoreTreeReader {
    nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    leaf_values: RefCell<FxHashMap<KeyHash, OwnedValue>>,
}

impl StoreTreeReader {
    /// The stored node at `pos`: its own record, or for a leaf below the root, the copy its
    /// parent's record holds.
    pub fn stored(&self, pos: &NodePos) -> Result<Option<StoredNode>, StoreError> {
        if let Some(stored) = self.record(pos)? {
            return Ok(Some(stored));
        }
        let Some((parent, slot)) = pos.parent() else { return Ok(None) };
        let Some(StoredNode::Internal(parent)) = self.record(&parent)? else { return Ok(None) };
        let held = parent.leaves.into_iter().find(|(held_slot, _)| *held_slot == slot);
        Ok(held.map(|(_, leaf)| StoredNode::Leaf(leaf)))
    }

    fn record(&self, pos: &NodePos) -> Result<Option<StoredNode>, StoreError> {
        let (key, key_len) = pos.key_array();
        match self.nodes.get(&key[..key_len])? {
            Some(bytes) => StoredNode::decode(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The node at `pos` as the jmt crate has it; a leaf's value is kept for the proof.
    fn jmt_node(&self, pos: &NodePos) -> Result<Option<Node>, StoreError> {
        let Some(stored) = self.stored(pos)? else { return Ok(None) };
        let node = match stored {
            StoredNode::Null => Node::Null,
            StoredNode::Leaf(leaf) => {
                let key_hash = KeyHash(leaf.key_hash);
                self.leaf_values.borrow_mut().insert(key_hash, leaf.value);
                Node::Leaf(LeafNode::new(key_hash, ValueHash(leaf.value_hash)))
            }
            StoredNode::Internal(internal) => {
                let node = rebuild_internal(pos, internal, |child_pos, held| {
                    let child = match held {
                        Some(leaf) => StoredNode::Leaf(leaf),
                        None => self.stored(&child_pos)?.ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "tree node missing: version {} depth {}",
                                child_pos.version, child_pos.depth
                            ))
                        })?,
                    };
                    child.as_child(child_pos.version)
                })?;
                to_jmt_node(&crate::tree::TreeNode::Internal(node))?
            }
        };
        Ok(Some(node))
    }
}

impl TreeReader for StoreTreeReader {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.jmt_node(&node_pos(node_key))?)
    }

    fn get_value_option(
        &self,
        _max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        match self.leaf_values.borrow().get(&key_hash) {
            Some(value) => Ok(Some(value.clone())),
            None => anyhow::bail!("value of {key_hash:?} asked before its leaf was read"),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the store does not serve tree restoration")
    }
}
