//! The tree's nodes as the store keeps them. An internal node's record holds where its children
//! are (their versions), its own hash and its leaf count, but not its children's hashes: each is
//! in the child's own record. The jmt crate's encoding repeats every child's hash in the parent,
//! so a record here is about a fifth of that size, and a block writes a fifth of the bytes.
//! A leaf is written inside its parent's record (every new leaf's parent is new in the same
//! version), so a block writes one record per new internal node; only a leaf at the root has a
//! record of its own. Reading an internal node the way the jmt crate wants it (for a proof) reads
//! its children's records as well.

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::Node;
use jmt::{KeyHash, OwnedValue, Version};
use rustc_hash::FxHashMap;
use tandem_types::{encode, Hash};

use super::node::{Child, ChildKind, InternalNode, LeafNode, NodePos, TreeNode};
use super::update::{NewNode, TreeUpdate};
use crate::error::StoreError;

/// A stored node.
// Decoded one at a time and consumed at once: the size of the internal variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub(crate) enum StoredNode {
    /// The root of an empty tree.
    Null,
    Internal(StoredInternal),
    Leaf(StoredLeaf),
}

#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub(crate) struct StoredInternal {
    pub hash: [u8; 32],
    pub leaf_count: u64,
    /// The version that wrote each present child: with the path, where its record is.
    pub child_versions: [Option<Version>; 16],
    /// The children that are leaves written by this node's version, by slot.
    pub leaves: Vec<(u8, StoredLeaf)>,
}

#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub(crate) struct StoredLeaf {
    pub key_hash: [u8; 32],
    pub value_hash: [u8; 32],
    /// The account's encoding, whose hash is `value_hash`.
    pub value: OwnedValue,
}

/// The same layout as [`StoredNode`], borrowing the account values instead of owning them.
#[allow(clippy::large_enum_variant)] // One at a time, on the stack while it is encoded.
#[derive(BorshSerialize)]
enum StoredNodeRef<'a> {
    Null,
    Internal {
        hash: [u8; 32],
        leaf_count: u64,
        child_versions: [Option<Version>; 16],
        leaves: Vec<(u8, StoredLeafRef<'a>)>,
    },
    Leaf(StoredLeafRef<'a>),
}

#[derive(BorshSerialize)]
struct StoredLeafRef<'a> {
    key_hash: [u8; 32],
    value_hash: [u8; 32],
    value: &'a OwnedValue,
}

impl StoredNode {
    pub fn decode(bytes: &[u8]) -> Result<StoredNode, StoreError> {
        StoredNode::try_from_slice(bytes)
            .map_err(|error| StoreError::Corrupt(format!("tree node: {error}")))
    }

    /// What the parent of this node records of it, `version` being the version that wrote it.
    pub fn as_child(&self, version: Version) -> Result<Child, StoreError> {
        match self {
            StoredNode::Null => Err(StoreError::Corrupt("an empty tree below the root".into())),
            StoredNode::Internal(internal) => Ok(Child {
                hash: internal.hash,
                version,
                kind: ChildKind::Internal { leaf_count: internal.leaf_count },
            }),
            StoredNode::Leaf(leaf) => {
                let leaf = LeafNode { key_hash: leaf.key_hash, value_hash: leaf.value_hash };
                Ok(Child { hash: leaf.hash().0, version, kind: ChildKind::Leaf(leaf) })
            }
        }
    }
}

/// Encodes the records of an update and hands each to `write` with its store key, in key order.
/// `current` gives the value of a leaf the update moved unchanged.
pub(crate) fn write_records(
    update: &TreeUpdate,
    current: &dyn Fn(&KeyHash) -> Option<OwnedValue>,
    mut write: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut values: FxHashMap<[u8; 32], OwnedValue> = FxHashMap::default();
    let mut leaves_by_parent: FxHashMap<NodePos, Vec<(u8, &NewNode)>> = FxHashMap::default();
    for new in &update.nodes {
        if let TreeNode::Leaf(leaf) = &new.node {
            if new.value.is_none() {
                let value = current(&KeyHash(leaf.key_hash)).ok_or_else(|| {
                    StoreError::Corrupt(format!("no value for leaf {:?}", Hash(leaf.key_hash)))
                })?;
                values.insert(leaf.key_hash, value);
            }
            if let Some((parent, slot)) = new.pos.parent() {
                leaves_by_parent.entry(parent).or_default().push((slot, new));
            }
        }
    }
    let leaf_ref = |new, leaf| stored_leaf(new, leaf, &values);
    let mut record = Vec::with_capacity(1024);
    for new in &update.nodes {
        let stored = match &new.node {
            TreeNode::Null => StoredNodeRef::Null,
            TreeNode::Leaf(_) if new.pos.depth > 0 => continue,
            TreeNode::Leaf(leaf) => StoredNodeRef::Leaf(leaf_ref(new, leaf)),
            TreeNode::Internal(node) => StoredNodeRef::Internal {
                hash: node.hash().0,
                leaf_count: node.leaf_count,
                child_versions: node.child_versions(),
                leaves: leaves_by_parent
                    .remove(&new.pos)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(slot, leaf_node)| match &leaf_node.node {
                        TreeNode::Leaf(leaf) => (slot, leaf_ref(leaf_node, leaf)),
                        _ => unreachable!("only leaves are grouped under their parent"),
                    })
                    .collect(),
            },
        };
        record.clear();
        borsh::to_writer(&mut record, &stored).expect("borsh serialisation into a Vec never fails");
        let (key, key_len) = new.pos.key_array();
        write(&key[..key_len], &record)?;
    }
    if !leaves_by_parent.is_empty() {
        return Err(StoreError::Corrupt(
            "a new leaf whose parent the update does not write".into(),
        ));
    }
    Ok(())
}

/// A new leaf as stored; `moved_values` holds the values of leaves moved unchanged.
fn stored_leaf<'a>(
    new: &'a NewNode,
    leaf: &LeafNode,
    moved_values: &'a FxHashMap<[u8; 32], OwnedValue>,
) -> StoredLeafRef<'a> {
    StoredLeafRef {
        key_hash: leaf.key_hash,
        value_hash: leaf.value_hash,
        value: new.value.as_ref().unwrap_or_else(|| &moved_values[&leaf.key_hash]),
    }
}

/// Rebuilds the full internal node at `pos` from its record and its children, checking the
/// recorded hash. `child` gets each child's position and, for a leaf held in this record, the
/// leaf; it returns what the parent records of that child.
pub(crate) fn rebuild_internal(
    pos: &NodePos,
    stored: StoredInternal,
    mut child: impl FnMut(NodePos, Option<StoredLeaf>) -> Result<Child, StoreError>,
) -> Result<Box<InternalNode>, StoreError> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "tree node at version {} depth {}: {what}",
            pos.version, pos.depth
        ))
    };
    let mut held: [Option<StoredLeaf>; 16] = Default::default();
    for (slot, leaf) in stored.leaves {
        let slot = usize::from(slot);
        if stored.child_versions.get(slot) != Some(&Some(pos.version)) || held[slot].is_some() {
            return Err(corrupt("a held leaf in a slot it cannot be in"));
        }
        held[slot] = Some(leaf);
    }
    let mut children = Vec::with_capacity(16);
    for (slot, version) in stored.child_versions.iter().enumerate() {
        if let Some(version) = version {
            let leaf = held[slot].take();
            children.push((slot as u8, child(pos.child(*version, slot as u8), leaf)?));
        }
    }
    if children.is_empty() {
        return Err(corrupt("no children"));
    }
    let node = InternalNode::new(children);
    if node.hash().0 != stored.hash || node.leaf_count != stored.leaf_count {
        return Err(corrupt("does not match its children"));
    }
    Ok(node)
}

/// The jmt crate's node for a rebuilt one: the encodings are the same.
pub(crate) fn to_jmt_node(node: &TreeNode) -> Result<Node, StoreError> {
    borsh::from_slice(&encode(node))
        .map_err(|error| StoreError::Corrupt(format!("tree node for the jmt crate: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(byte: u8) -> LeafNode {
        LeafNode { key_hash: [byte; 32], value_hash: [byte; 32] }
    }

    fn leaf_child(byte: u8) -> Child {
        Child { hash: leaf(byte).hash().0, version: 3, kind: ChildKind::Leaf(leaf(byte)) }
    }

    /// A root over two leaves, in slots 2 and 9; the one in slot 9 moved unchanged.
    fn two_leaves() -> (TreeUpdate, Box<InternalNode>) {
        let node = InternalNode::new(vec![(2, leaf_child(0x22)), (9, leaf_child(0x99))]);
        let root = NodePos::root(3);
        let nodes = vec![
            NewNode { pos: root, node: TreeNode::Internal(node.clone()), value: None },
            NewNode {
                pos: root.child(3, 2),
                node: TreeNode::Leaf(leaf(0x22)),
                value: Some(vec![1]),
            },
            NewNode { pos: root.child(3, 9), node: TreeNode::Leaf(leaf(0x99)), value: None },
        ];
        (TreeUpdate { version: 3, root: node.hash(), nodes, stale: vec![] }, node)
    }

    #[test]
    fn leaves_are_written_inside_their_parent_and_read_back() {
        let (update, node) = two_leaves();
        let mut records = Vec::new();
        let current = |_: &KeyHash| Some(vec![9, 9]);
        write_records(&update, &current, |key, record| {
            records.push((key.to_vec(), record.to_vec()));
            Ok(())
        })
        .expect("write");
        assert_eq!(records.len(), 1, "one record: the root, holding both leaves");
        let StoredNode::Internal(stored) = StoredNode::decode(&records[0].1).expect("decode")
        else {
            panic!("not an internal node");
        };
        assert_eq!((stored.hash, stored.leaf_count), (node.hash().0, 2));
        let held: Vec<_> =
            stored.leaves.iter().map(|(slot, leaf)| (*slot, leaf.value.clone())).collect();
        assert_eq!(held, vec![(2, vec![1]), (9, vec![9, 9])]);
        let mut asked = Vec::new();
        let rebuilt = rebuild_internal(&NodePos::root(3), stored, |pos, held| {
            asked.push(pos);
            StoredNode::Leaf(held.expect("both leaves are held")).as_child(pos.version)
        })
        .expect("rebuild");
        assert_eq!(rebuilt, node);
        assert_eq!(asked.len(), 2);
    }

    #[test]
    fn a_moved_leaf_without_a_current_value_is_an_error() {
        let (update, _) = two_leaves();
        let result = write_records(&update, &|_| None, |_, _| Ok(()));
        assert!(matches!(result, Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_node_that_does_not_match_its_children_is_corrupt() {
        let (update, node) = two_leaves();
        let mut child_versions = [None; 16];
        child_versions[2] = Some(3);
        child_versions[9] = Some(3);
        let stored = || StoredInternal {
            hash: node.hash().0,
            leaf_count: 2,
            child_versions,
            leaves: vec![],
        };
        let root = update.nodes[0].pos;
        // A child whose record changed since its parent was written.
        let result = rebuild_internal(&root, stored(), |_, _| Ok(leaf_child(4)));
        assert!(matches!(result, Err(StoreError::Corrupt(_))));
        let childless = StoredInternal { child_versions: [None; 16], ..stored() };
        assert!(rebuild_internal(&root, childless, |_, _| Ok(leaf_child(4))).is_err());
        // A held leaf in a slot whose child another version wrote.
        let misplaced = StoredInternal {
            leaves: vec![(5, StoredLeaf { key_hash: [5; 32], value_hash: [5; 32], value: vec![] })],
            ..stored()
        };
        assert!(rebuild_internal(&root, misplaced, |_, _| Ok(leaf_child(4))).is_err());
    }
}
