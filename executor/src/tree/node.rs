//! The tree's nodes as this crate keeps them in memory: the same content, hashes and Borsh
//! encoding as the jmt crate's `Node`, so that the jmt crate reads what this crate writes (proofs
//! are produced by it, from the store). Positions are fixed-size keys, so the in-memory tree
//! allocates nothing per lookup.

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::Version;
use tandem_types::proof::{internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::Hash;

/// Nibbles in a key hash: the deepest a node can sit.
pub(crate) const MAX_DEPTH: usize = 64;

/// Where a node is stored: the version that wrote it and its path from the root (the first
/// `depth` nibbles of `path`, the rest zero). The jmt crate calls this a `NodeKey`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NodePos {
    pub version: Version,
    pub depth: u8,
    pub path: [u8; 32],
}

impl NodePos {
    /// The root of `version`.
    pub fn root(version: Version) -> NodePos {
        NodePos { version, depth: 0, path: [0; 32] }
    }

    /// The node at the first `depth` nibbles of `key`, written by `version`.
    pub fn of_key(version: Version, key: &[u8; 32], depth: usize) -> NodePos {
        let mut path = [0; 32];
        let whole_bytes = depth / 2;
        path[..whole_bytes].copy_from_slice(&key[..whole_bytes]);
        if !depth.is_multiple_of(2) {
            path[whole_bytes] = key[whole_bytes] & 0xf0;
        }
        NodePos { version, depth: depth as u8, path }
    }

    /// The child under `nibble`, written by `version`.
    pub fn child(&self, version: Version, nibble: u8) -> NodePos {
        let depth = usize::from(self.depth);
        let mut path = self.path;
        if depth.is_multiple_of(2) {
            path[depth / 2] = nibble << 4;
        } else {
            path[depth / 2] |= nibble;
        }
        NodePos { version, depth: self.depth + 1, path }
    }

    /// The store key: version (big-endian, so one version's nodes are adjacent), nibble count,
    /// then the nibbles packed two per byte.
    pub fn key_bytes(&self) -> Vec<u8> {
        let path_bytes = usize::from(self.depth).div_ceil(2);
        let mut bytes = Vec::with_capacity(9 + path_bytes);
        bytes.extend_from_slice(&self.version.to_be_bytes());
        bytes.push(self.depth);
        bytes.extend_from_slice(&self.path[..path_bytes]);
        bytes
    }
}

/// The `depth`-th nibble of a key hash.
pub(crate) fn nibble(key: &[u8; 32], depth: usize) -> u8 {
    let byte = key[depth / 2];
    if depth.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// A tree node. Variant order and field layout are the jmt crate's, which fixes the encoding.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) enum TreeNode {
    /// The root of an empty tree.
    Null,
    Internal(Box<InternalNode>),
    Leaf(LeafNode),
}

/// Up to sixteen children, one per nibble.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct InternalNode {
    pub children: [Option<Child>; 16],
    pub num_children: u64,
    pub leaf_count: u64,
}

/// What an internal node knows of a child: enough to hash without reading it, and the version
/// that locates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Child {
    pub hash: [u8; 32],
    pub version: Version,
    pub kind: ChildKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) enum ChildKind {
    Leaf,
    Internal { leaf_count: u64 },
}

/// An account's place in the tree: its key hash and the hash of its encoded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct LeafNode {
    pub key_hash: [u8; 32],
    pub value_hash: [u8; 32],
}

impl LeafNode {
    pub fn hash(&self) -> Hash {
        leaf_hash(&Hash(self.key_hash), &Hash(self.value_hash))
    }
}

impl InternalNode {
    /// The node over `children`, at least one of them present.
    pub fn new(children: [Option<Child>; 16]) -> InternalNode {
        let present = children.iter().flatten();
        let num_children = present.clone().count() as u64;
        let leaf_count = present
            .map(|child| match child.kind {
                ChildKind::Leaf => 1,
                ChildKind::Internal { leaf_count } => leaf_count,
            })
            .sum();
        InternalNode { children, num_children, leaf_count }
    }

    /// The root of the four-level binary tree over the sixteen slots: an empty range hashes to
    /// the placeholder, a range holding a single leaf to that leaf's hash.
    pub fn hash(&self) -> Hash {
        let mut present = 0u16;
        let mut leaves = 0u16;
        for (index, child) in self.children.iter().enumerate() {
            if let Some(child) = child {
                present |= 1 << index;
                if child.kind == ChildKind::Leaf {
                    leaves |= 1 << index;
                }
            }
        }
        self.range_hash(0, 16, present, leaves)
    }

    fn range_hash(&self, start: u32, width: u32, present: u16, leaves: u16) -> Hash {
        let mask = (((1u32 << width) - 1) << start) as u16;
        let (present, leaves) = (present & mask, leaves & mask);
        if present == 0 {
            return PLACEHOLDER_HASH;
        }
        if width == 1 || (present.count_ones() == 1 && leaves != 0) {
            let only = self.children[present.trailing_zeros() as usize];
            return Hash(only.map_or(PLACEHOLDER_HASH.0, |child| child.hash));
        }
        let half = width / 2;
        internal_hash(
            &self.range_hash(start, half, present, leaves),
            &self.range_hash(start + half, half, present, leaves),
        )
    }
}

impl TreeNode {
    pub fn hash(&self) -> Hash {
        match self {
            TreeNode::Null => PLACEHOLDER_HASH,
            TreeNode::Internal(node) => node.hash(),
            TreeNode::Leaf(leaf) => leaf.hash(),
        }
    }
}
