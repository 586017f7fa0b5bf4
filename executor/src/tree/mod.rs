//! The SHA-256 Jellyfish Merkle tree over account state: the live tree cached in memory for
//! execution, its update for each block (`update`), the records the store keeps (`stored`), and
//! proofs at any retained height, which the jmt crate produces from the store.

use borsh::BorshDeserialize;
use jmt::storage::{NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Sha256Jmt, Version};
use rustc_hash::FxHashMap;
use tandem_types::proof::{internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::{encode, AccountProof, Hash, ProofLeaf};

use crate::error::StoreError;

mod node;
mod stored;
mod update;

pub(crate) use node::NodePos;
pub(crate) use stored::{rebuild_internal, to_jmt_node, write_records, StoredNode};
pub(crate) use update::TreeUpdate;

pub(crate) use node::TreeNode;

use node::{Child, LeafNode};

/// The nodes of the latest tree version, kept in memory so that execution never reads disk.
pub(crate) struct LiveTree {
    nodes: FxHashMap<NodePos, TreeNode>,
    root: Option<NodePos>,
}

impl LiveTree {
    pub fn empty() -> LiveTree {
        LiveTree { nodes: FxHashMap::default(), root: None }
    }

    /// Loads every node reachable from the root of `version` through `read`, checking each
    /// internal node's hash against its children, and returns the tree with the account value
    /// of every leaf.
    pub fn load(
        version: Version,
        read: impl Fn(&NodePos) -> Result<Option<StoredNode>, StoreError>,
    ) -> Result<(LiveTree, Vec<(KeyHash, OwnedValue)>), StoreError> {
        let mut loader = Loader { read, nodes: FxHashMap::default(), values: Vec::new() };
        let root = NodePos::root(version);
        match loader.read(&root)? {
            StoredNode::Null => {
                loader.nodes.insert(root, TreeNode::Null);
            }
            stored => {
                loader.load(root, stored)?;
            }
        }
        Ok((LiveTree { nodes: loader.nodes, root: Some(root) }, loader.values))
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
        self.nodes.reserve(update.nodes.len());
        self.nodes.extend(update.nodes.into_iter().map(|new| (new.pos, new.node)));
        self.root = Some(NodePos::root(update.version));
    }

    /// Hash of the root node of `version`, if cached.
    pub fn root_hash(&self, version: Version) -> Option<Hash> {
        self.nodes.get(&NodePos::root(version)).map(TreeNode::hash)
    }
}

/// Reads a subtree bottom-up, so that each internal node is checked against its children.
struct Loader<R> {
    read: R,
    nodes: FxHashMap<NodePos, TreeNode>,
    values: Vec<(KeyHash, OwnedValue)>,
}

impl<R: Fn(&NodePos) -> Result<Option<StoredNode>, StoreError>> Loader<R> {
    fn read(&self, pos: &NodePos) -> Result<StoredNode, StoreError> {
        (self.read)(pos)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tree node missing: version {} depth {}",
                pos.version, pos.depth
            ))
        })
    }

    /// Loads the subtree at `pos`, whose record is `stored`, and returns its parent's view of it.
    fn load(&mut self, pos: NodePos, stored: StoredNode) -> Result<Child, StoreError> {
        let child = stored.as_child(pos.version)?;
        let node = match stored {
            StoredNode::Null => unreachable!("as_child refuses an empty tree below the root"),
            StoredNode::Leaf(leaf) => {
                self.values.push((KeyHash(leaf.key_hash), leaf.value));
                TreeNode::Leaf(LeafNode { key_hash: leaf.key_hash, value_hash: leaf.value_hash })
            }
            StoredNode::Internal(internal) => {
                let node = rebuild_internal(&pos, internal, |child_pos, held| {
                    let child = match held {
                        Some(leaf) => StoredNode::Leaf(leaf),
                        None => self.read(&child_pos)?,
                    };
                    self.load(child_pos, child)
                })?;
                TreeNode::Internal(node)
            }
        };
        self.nodes.insert(pos, node);
        Ok(child)
    }
}

/// Where the store keeps the node the jmt crate calls `key`.
pub(crate) fn node_pos(key: &NodeKey) -> NodePos {
    let mut path = [0u8; 32];
    for (index, nibble) in key.nibble_path().nibbles().enumerate() {
        let nibble = u8::from(nibble);
        path[index / 2] |= if index.is_multiple_of(2) { nibble << 4 } else { nibble };
    }
    let depth = key.nibble_path().num_nibbles() as u8;
    NodePos { version: key.version(), depth, path }
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
    // The jmt crate unwraps some failed reads instead of returning them; a damaged store must
    // fail the request, not the node.
    let proved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Sha256Jmt::new(reader).get_with_proof(KeyHash(key.0), version)
    }))
    .map_err(|_| {
        StoreError::Corrupt(format!("proof at version {version}: a tree node is missing"))
    })?;
    let (value, proof) = proved
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
