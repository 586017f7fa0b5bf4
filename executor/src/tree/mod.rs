//! The SHA-256 Jellyfish Merkle tree over account state: the live tree cached in memory for
//! execution, and readers over the store for roots and proofs at any retained height.

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::{Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Sha256Jmt, Version};
use rustc_hash::FxHashMap;
use tandem_types::proof::{internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::{encode, AccountProof, Hash, ProofLeaf};

use crate::error::StoreError;

mod node;
mod update;

pub(crate) use node::NodePos;
pub(crate) use update::TreeUpdate;

use node::TreeNode;

/// A stored tree node as the jmt crate reads it; a leaf carries the account value whose hash
/// it holds.
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct NodeRecord {
    pub node: Node,
    pub value: Option<OwnedValue>,
}

/// The same record decoded into this crate's node type.
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct LiveRecord {
    node: TreeNode,
    value: Option<OwnedValue>,
}

pub(crate) fn decode_node_record(bytes: &[u8]) -> Result<NodeRecord, StoreError> {
    NodeRecord::try_from_slice(bytes)
        .map_err(|error| StoreError::Corrupt(format!("tree node: {error}")))
}

pub(crate) fn decode_live_record(bytes: &[u8]) -> Result<LiveRecord, StoreError> {
    LiveRecord::try_from_slice(bytes)
        .map_err(|error| StoreError::Corrupt(format!("tree node: {error}")))
}

/// The encoding of a record holding the `index`-th new node of `update`; `current` gives the
/// value of a leaf the update moved unchanged.
pub(crate) fn encode_new_node(
    update: &TreeUpdate,
    index: usize,
    current: &dyn Fn(&KeyHash) -> Option<OwnedValue>,
) -> Result<Vec<u8>, StoreError> {
    let new = &update.nodes[index];
    let moved_value;
    let value = match (&new.node, &new.value) {
        (TreeNode::Leaf(leaf), None) => {
            moved_value = current(&KeyHash(leaf.key_hash)).ok_or_else(|| {
                StoreError::Corrupt(format!("no value for leaf {:?}", Hash(leaf.key_hash)))
            })?;
            Some(&moved_value)
        }
        (_, value) => value.as_ref(),
    };
    let mut record = encode(&new.node);
    borsh::to_writer(&mut record, &value).expect("borsh serialisation into a Vec never fails");
    Ok(record)
}

/// The nodes of the latest tree version, kept in memory so that execution never reads disk.
pub(crate) struct LiveTree {
    nodes: FxHashMap<NodePos, TreeNode>,
    root: Option<NodePos>,
}

impl LiveTree {
    pub fn empty() -> LiveTree {
        LiveTree { nodes: FxHashMap::default(), root: None }
    }

    /// Loads every node reachable from the root of `version` through `read`, and returns the
    /// tree with the account value of every leaf.
    pub fn load(
        version: Version,
        read: impl Fn(&NodePos) -> Result<Option<LiveRecord>, StoreError>,
    ) -> Result<(LiveTree, Vec<(KeyHash, OwnedValue)>), StoreError> {
        let mut nodes = FxHashMap::default();
        let mut values = Vec::new();
        let root = NodePos::root(version);
        let mut pending = vec![root];
        while let Some(pos) = pending.pop() {
            let record = read(&pos)?.ok_or_else(|| {
                StoreError::Corrupt(format!("tree node missing at version {}", pos.version))
            })?;
            match &record.node {
                TreeNode::Leaf(leaf) => {
                    let value = record
                        .value
                        .ok_or_else(|| StoreError::Corrupt("leaf without value".into()))?;
                    values.push((KeyHash(leaf.key_hash), value));
                }
                TreeNode::Internal(internal) => {
                    for (slot, child) in internal.children.iter().enumerate() {
                        if let Some(child) = child {
                            pending.push(pos.child(child.version, slot as u8));
                        }
                    }
                }
                TreeNode::Null => {}
            }
            nodes.insert(pos, record.node);
        }
        Ok((LiveTree { nodes, root: Some(root) }, values))
    }

    /// Computes the root and the node changes of writing `changes` as `version`.
    pub fn update(
        &self,
        changes: Vec<(KeyHash, OwnedValue)>,
        version: Version,
    ) -> Result<TreeUpdate, StoreError> {
        let changes = changes.into_iter().map(|(key, value)| (key.0, value)).collect();
        update::update(&self.nodes, self.root, changes, version)
    }

    /// Applies a committed update: new nodes in, replaced nodes out.
    pub fn apply(&mut self, update: TreeUpdate) {
        for stale in &update.stale {
            self.nodes.remove(stale);
        }
        self.nodes.extend(update.nodes.into_iter().map(|new| (new.pos, new.node)));
        self.root = Some(NodePos::root(update.version));
    }

    /// Hash of the root node of `version`, if cached.
    pub fn root_hash(&self, version: Version) -> Option<Hash> {
        self.nodes.get(&NodePos::root(version)).map(TreeNode::hash)
    }
}

/// The store key of the node the jmt crate calls `key`.
pub(crate) fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    let mut path = [0u8; 32];
    for (index, nibble) in key.nibble_path().nibbles().enumerate() {
        let nibble = u8::from(nibble);
        path[index / 2] |= if index.is_multiple_of(2) { nibble << 4 } else { nibble };
    }
    let depth = key.nibble_path().num_nibbles() as u8;
    NodePos { version: key.version(), depth, path }.key_bytes()
}

/// Mirror of the jmt crate's proof encoding, to read the sibling nodes it keeps private.
#[derive(BorshDeserialize)]
struct JmtProof {
    leaf: Option<JmtLeaf>,
    siblings: Vec<JmtNode>,
}

#[derive(BorshDeserialize)]
struct JmtLeaf {
    key_hash: [u8; 32],
    value_hash: [u8; 32],
}

#[derive(BorshDeserialize)]
enum JmtNode {
    Null,
    Internal { left: [u8; 32], right: [u8; 32] },
    Leaf { key_hash: [u8; 32], value_hash: [u8; 32] },
}

impl JmtNode {
    fn hash(&self) -> Hash {
        match self {
            JmtNode::Null => PLACEHOLDER_HASH,
            JmtNode::Internal { left, right } => internal_hash(&Hash(*left), &Hash(*right)),
            JmtNode::Leaf { key_hash, value_hash } => {
                leaf_hash(&Hash(*key_hash), &Hash(*value_hash))
            }
        }
    }
}

/// Reads the value and proof for `key` at `version` through any tree reader.
pub(crate) fn prove(
    reader: &impl TreeReader,
    key: Hash,
    version: Version,
) -> Result<(Option<OwnedValue>, AccountProof), StoreError> {
    let (value, proof) = Sha256Jmt::new(reader)
        .get_with_proof(KeyHash(key.0), version)
        .map_err(|error| StoreError::Corrupt(format!("proof at version {version}: {error:#}")))?;
    let mirror: JmtProof = borsh::from_slice(&encode(&proof))
        .map_err(|error| StoreError::Corrupt(format!("proof encoding: {error}")))?;
    let proof = AccountProof {
        leaf: mirror.leaf.map(|leaf| ProofLeaf {
            key_hash: Hash(leaf.key_hash),
            value_hash: Hash(leaf.value_hash),
        }),
        siblings: mirror.siblings.iter().map(JmtNode::hash).collect(),
    };
    Ok((value, proof))
}
