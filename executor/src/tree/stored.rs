//! The tree's nodes as the store keeps them. An internal node's record holds where its children
//! are (their versions), its own hash and its leaf count, but not its children's hashes: each is
//! in the child's own record. The jmt crate's encoding repeats every child's hash in the parent,
//! so a record here is about a fifth of that size, and a block writes a fifth of the bytes.
//! Reading an internal node the way the jmt crate wants it (for a proof) reads its children's
//! records as well.

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::Node;
use jmt::{KeyHash, OwnedValue, Version};
use tandem_types::{encode, Hash};

use super::node::{Child, ChildKind, InternalNode, LeafNode, NodePos, TreeNode};
use super::update::NewNode;
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
}

#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub(crate) struct StoredLeaf {
    pub key_hash: [u8; 32],
    pub value_hash: [u8; 32],
    /// The account's encoding, whose hash is `value_hash`.
    pub value: OwnedValue,
}

/// The same layout as [`StoredNode`], borrowing the account value instead of owning it.
#[allow(clippy::large_enum_variant)]
#[derive(BorshSerialize)]
enum StoredNodeRef<'a> {
    Null,
    Internal(StoredInternal),
    Leaf { key_hash: [u8; 32], value_hash: [u8; 32], value: &'a OwnedValue },
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
            StoredNode::Leaf(leaf) => Ok(Child {
                hash: LeafNode { key_hash: leaf.key_hash, value_hash: leaf.value_hash }.hash().0,
                version,
                kind: ChildKind::Leaf,
            }),
        }
    }
}

/// Appends to `record` the stored form of `new`; `current` gives the value of a leaf the update
/// moved unchanged.
pub(crate) fn encode_new_node(
    new: &NewNode,
    current: &dyn Fn(&KeyHash) -> Option<OwnedValue>,
    record: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let moved_value;
    let stored = match &new.node {
        TreeNode::Null => StoredNodeRef::Null,
        TreeNode::Internal(node) => StoredNodeRef::Internal(StoredInternal {
            hash: node.hash().0,
            leaf_count: node.leaf_count,
            child_versions: node.children.map(|child| child.map(|child| child.version)),
        }),
        TreeNode::Leaf(leaf) => {
            let value = match &new.value {
                Some(value) => value,
                None => {
                    moved_value = current(&KeyHash(leaf.key_hash)).ok_or_else(|| {
                        StoreError::Corrupt(format!("no value for leaf {:?}", Hash(leaf.key_hash)))
                    })?;
                    &moved_value
                }
            };
            StoredNodeRef::Leaf { key_hash: leaf.key_hash, value_hash: leaf.value_hash, value }
        }
    };
    borsh::to_writer(record, &stored).expect("borsh serialisation into a Vec never fails");
    Ok(())
}

/// Rebuilds the full internal node at `pos` from its record and its children's, checking the
/// recorded hash.
pub(crate) fn rebuild_internal(
    pos: &NodePos,
    stored: &StoredInternal,
    mut child: impl FnMut(NodePos) -> Result<Child, StoreError>,
) -> Result<Box<InternalNode>, StoreError> {
    let mut children = [None; 16];
    for (slot, version) in stored.child_versions.iter().enumerate() {
        if let Some(version) = version {
            children[slot] = Some(child(pos.child(*version, slot as u8))?);
        }
    }
    if children.iter().all(Option::is_none) {
        return Err(StoreError::Corrupt("an internal tree node without children".into()));
    }
    let node = InternalNode::new(children);
    if node.hash().0 != stored.hash || node.leaf_count != stored.leaf_count {
        return Err(StoreError::Corrupt(format!(
            "tree node at version {} depth {} does not match its children",
            pos.version, pos.depth
        )));
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

    fn leaf_child(byte: u8) -> Child {
        Child {
            hash: LeafNode { key_hash: [byte; 32], value_hash: [byte; 32] }.hash().0,
            version: 3,
            kind: ChildKind::Leaf,
        }
    }

    #[test]
    fn records_decode_to_what_was_written() {
        let mut children = [None; 16];
        children[2] = Some(leaf_child(2));
        children[9] = Some(leaf_child(9));
        let node = InternalNode::new(children);
        let pos = NodePos::root(3);
        let internal = NewNode { pos, node: TreeNode::Internal(node.clone()), value: None };
        let mut record = Vec::new();
        encode_new_node(&internal, &|_| None, &mut record).expect("encode");
        let StoredNode::Internal(stored) = StoredNode::decode(&record).expect("decode") else {
            panic!("not an internal node");
        };
        assert_eq!(stored.hash, node.hash().0);
        assert_eq!(stored.leaf_count, 2);
        assert_eq!(stored.child_versions.iter().flatten().count(), 2);
        let rebuilt = rebuild_internal(&pos, &stored, |child| {
            Ok(leaf_child(if child.path[0] == 0x20 { 2 } else { 9 }))
        })
        .expect("rebuild");
        assert_eq!(rebuilt, node);

        // A leaf moved unchanged takes its value from the current state.
        let leaf = LeafNode { key_hash: [5; 32], value_hash: [6; 32] };
        let moved = NewNode { pos, node: TreeNode::Leaf(leaf), value: None };
        record.clear();
        encode_new_node(&moved, &|_| Some(vec![7, 7]), &mut record).expect("encode");
        let StoredNode::Leaf(stored) = StoredNode::decode(&record).expect("decode") else {
            panic!("not a leaf");
        };
        assert_eq!(
            (stored.key_hash, stored.value_hash, stored.value),
            ([5; 32], [6; 32], vec![7, 7])
        );
        assert!(encode_new_node(&moved, &|_| None, &mut record).is_err());
    }

    #[test]
    fn a_node_that_does_not_match_its_children_is_corrupt() {
        let mut children = [None; 16];
        children[2] = Some(leaf_child(2));
        children[9] = Some(leaf_child(9));
        let node = InternalNode::new(children);
        let mut child_versions = [None; 16];
        child_versions[2] = Some(3);
        child_versions[9] = Some(3);
        let stored = StoredInternal { hash: node.hash().0, leaf_count: 2, child_versions };
        // A child whose record changed since its parent was written.
        let result = rebuild_internal(&NodePos::root(3), &stored, |_| Ok(leaf_child(4)));
        assert!(matches!(result, Err(StoreError::Corrupt(_))));
        let childless = StoredInternal { child_versions: [None; 16], ..stored };
        assert!(rebuild_internal(&NodePos::root(3), &childless, |_| Ok(leaf_child(4))).is_err());
    }
}
