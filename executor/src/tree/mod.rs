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

use node::{Child, ChildKind, InternalNode, LeafNode};

/// The latest tree version, kept in memory so that execution never reads disk. Leaves are held
/// by their parents (see [`Child`]); only a leaf at the root stands alone.
pub(crate) struct LiveTree {
    internal: FxHashMap<NodePos, Box<InternalNode>>,
    root: Option<(NodePos, RootKind)>,
}

/// What the root is; an internal root is in the map with the others.
#[derive(Clone, Copy)]
enum RootKind {
    Null,
    Leaf(LeafNode),
    Internal,
}

/// A node the update replaces, as the live tree holds it.
#[derive(Clone, Copy)]
pub(crate) enum Existing<'a> {
    Null,
    Leaf(LeafNode),
    Internal(&'a InternalNode),
}

impl LiveTree {
    pub fn empty() -> LiveTree {
        LiveTree { internal: FxHashMap::default(), root: None }
    }

    /// Loads every node reachable from the root of `version` through `read`, checking each
    /// internal node's hash against its children, and returns the tree with the account value
    /// of every leaf.
    pub fn load(
        version: Version,
        read: impl Fn(&NodePos) -> Result<Option<StoredNode>, StoreError>,
    ) -> Result<(LiveTree, Vec<(KeyHash, OwnedValue)>), StoreError> {
        let mut loader = Loader { read, internal: FxHashMap::default(), values: Vec::new() };
        let root = NodePos::root(version);
        let kind = match loader.read(&root)? {
            StoredNode::Null => RootKind::Null,
            stored => match loader.load(root, stored)?.kind {
                ChildKind::Leaf(leaf) => RootKind::Leaf(leaf),
                ChildKind::Internal { .. } => RootKind::Internal,
            },
        };
        Ok((LiveTree { internal: loader.internal, root: Some((root, kind)) }, loader.values))
    }

    /// Computes the root and the node changes of writing `changes` as `version`.
    pub fn update(
        &self,
        changes: Vec<(KeyHash, OwnedValue)>,
        version: Version,
    ) -> Result<TreeUpdate, StoreError> {
        let changes = changes.into_iter().map(|(key, value)| (key.0, value)).collect();
        update::update(self, changes, version)
    }

    /// Applies a committed update: new internal nodes in, replaced ones out. New leaves are
    /// already in their new parents.
    pub fn apply(&mut self, update: TreeUpdate) {
        for stale in &update.stale {
            self.internal.remove(stale);
        }
        let mut root = RootKind::Null;
        for new in update.nodes {
            match new.node {
                TreeNode::Internal(node) => {
                    if new.pos.depth == 0 {
                        root = RootKind::Internal;
                    }
                    self.internal.insert(new.pos, node);
                }
                TreeNode::Leaf(leaf) if new.pos.depth == 0 => root = RootKind::Leaf(leaf),
                TreeNode::Leaf(_) | TreeNode::Null => {}
            }
        }
        self.root = Some((NodePos::root(update.version), root));
    }

    /// Hash of the root node of `version`, if that is the live version.
    pub fn root_hash(&self, version: Version) -> Option<Hash> {
        let (pos, kind) = self.root?;
        if pos.version != version {
            return None;
        }
        match kind {
            RootKind::Null => Some(PLACEHOLDER_HASH),
            RootKind::Leaf(leaf) => Some(leaf.hash()),
            RootKind::Internal => self.internal.get(&pos).map(|node| node.hash()),
        }
    }

    /// The root, as the update finds it; none before the first version.
    pub(crate) fn existing_root(&self) -> Result<Option<(NodePos, Existing<'_>)>, StoreError> {
        let Some((pos, kind)) = self.root else { return Ok(None) };
        let existing = match kind {
            RootKind::Null => Existing::Null,
            RootKind::Leaf(leaf) => Existing::Leaf(leaf),
            RootKind::Internal => Existing::Internal(self.internal(&pos)?),
        };
        Ok(Some((pos, existing)))
    }

    /// The child at `pos`, as its parent describes it.
    pub(crate) fn existing_child(
        &self,
        pos: &NodePos,
        child: &Child,
    ) -> Result<Existing<'_>, StoreError> {
        match child.kind {
            ChildKind::Leaf(leaf) => Ok(Existing::Leaf(leaf)),
            ChildKind::Internal { .. } => Ok(Existing::Internal(self.internal(pos)?)),
        }
    }

    fn internal(&self, pos: &NodePos) -> Result<&InternalNode, StoreError> {
        self.internal.get(pos).map(|node| &**node).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tree node missing: version {} depth {}",
                pos.version, pos.depth
            ))
        })
    }
}

/// Reads a subtree bottom-up, so that each internal node is checked against its children.
struct Loader<R> {
    read: R,
    internal: FxHashMap<NodePos, Box<InternalNode>>,
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
        match stored {
            StoredNode::Null => unreachable!("as_child refuses an empty tree below the root"),
            StoredNode::Leaf(leaf) => self.values.push((KeyHash(leaf.key_hash), leaf.value)),
            StoredNode::Internal(internal) => {
                let node = rebuild_internal(&pos, internal, |child_pos, held| {
                    let child = match held {
                        Some(leaf) => StoredNode::Leaf(leaf),
                        None => self.read(&child_pos)?,
                    };
                    self.load(child_pos, child)
                })?;
                self.internal.insert(pos, node);
            }
        }
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
