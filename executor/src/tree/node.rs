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

    /// The parent's position (same version) and this node's slot in it; none for the root.
    pub fn parent(&self) -> Option<(NodePos, u8)> {
        let depth = usize::from(self.depth.checked_sub(1)?);
        let slot = nibble(&self.path, depth);
        Some((NodePos::of_key(self.version, &self.path, depth), slot))
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
    #[cfg(test)]
    pub fn key_bytes(&self) -> Vec<u8> {
        let (bytes, len) = self.key_array();
        bytes[..len].to_vec()
    }

    /// The store key in a fixed buffer, and its length.
    pub fn key_array(&self) -> ([u8; 41], usize) {
        let path_bytes = usize::from(self.depth).div_ceil(2);
        let mut bytes = [0; 41];
        bytes[..8].copy_from_slice(&self.version.to_be_bytes());
        bytes[8] = self.depth;
        bytes[9..9 + path_bytes].copy_from_slice(&self.path[..path_bytes]);
        (bytes, 9 + path_bytes)
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
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize)]
pub(crate) enum TreeNode {
    /// The root of an empty tree.
    Null,
    Internal(Box<InternalNode>),
    Leaf(LeafNode),
}

/// Up to sixteen children, one per nibble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InternalNode {
    pub children: [Option<Child>; 16],
    pub num_children: u64,
    pub leaf_count: u64,
    /// The binary tree over the sixteen slots, in heap order: the node's hash, then the two
    /// halves, the four quarters and the eight pairs. Kept in memory (never stored) so that a
    /// rewrite rehashes only the ranges that hold a changed slot.
    ranges: [[u8; 32]; 15],
}

/// The jmt crate's encoding: the ranges are not part of it.
impl BorshSerialize for InternalNode {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.children.serialize(writer)?;
        self.num_children.serialize(writer)?;
        self.leaf_count.serialize(writer)
    }
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
    pub fn new(children: [Option<Child>; 16]) -> Box<InternalNode> {
        let mut node = Box::new(InternalNode {
            children,
            num_children: 0,
            leaf_count: 0,
            ranges: [[0; 32]; 15],
        });
        node.refresh(u16::MAX);
        node
    }

    /// Brings the counts and hashes up to date after the children in the slots of `changed`
    /// (bit `i` for slot `i`) were replaced: only ranges holding a changed slot are rehashed.
    pub fn refresh(&mut self, changed: u16) {
        let present = self.children.iter().flatten();
        self.num_children = present.clone().count() as u64;
        self.leaf_count = present
            .map(|child| match child.kind {
                ChildKind::Leaf => 1,
                ChildKind::Internal { leaf_count } => leaf_count,
            })
            .sum();
        self.hash_ranges(changed);
    }

    /// The node's hash: the root of the four-level binary tree over the sixteen slots.
    pub fn hash(&self) -> Hash {
        Hash(self.ranges[0])
    }

    /// Fills `ranges` bottom-up. An empty range hashes to the placeholder, a range holding a
    /// single leaf to that leaf's hash, any other range to the hash of its two halves (the jmt
    /// crate's rule). A range without a slot of `changed` keeps its hash.
    fn hash_ranges(&mut self, changed: u16) {
        let mut present = 0u16;
        let mut leaves = 0u16;
        for (slot, child) in self.children.iter().enumerate() {
            if let Some(child) = child {
                present |= 1 << slot;
                if child.kind == ChildKind::Leaf {
                    leaves |= 1 << slot;
                }
            }
        }
        // Heap index i has children 2i + 1 and 2i + 2; indices 7..15 are the pairs, whose
        // halves are single slots.
        for index in (0..15).rev() {
            let level = (index + 1usize).ilog2();
            let width = 16u32 >> level;
            let start = (index + 1 - (1 << level)) as u32 * width;
            let mask = (((1u32 << width) - 1) << start) as u16;
            let (in_range, leaves_in_range) = (present & mask, leaves & mask);
            self.ranges[index] = if in_range == 0 {
                PLACEHOLDER_HASH.0
            } else if in_range.count_ones() == 1 && leaves_in_range != 0 {
                self.slot_hash(in_range.trailing_zeros() as usize)
            } else if changed & mask == 0 {
                self.ranges[index]
            } else if width == 2 {
                let (left, right) = (start as usize, start as usize + 1);
                internal_hash(&Hash(self.slot_hash(left)), &Hash(self.slot_hash(right))).0
            } else {
                let (left, right) = (self.ranges[2 * index + 1], self.ranges[2 * index + 2]);
                internal_hash(&Hash(left), &Hash(right)).0
            };
        }
    }

    fn slot_hash(&self, slot: usize) -> [u8; 32] {
        self.children[slot].map_or(PLACEHOLDER_HASH.0, |child| child.hash)
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
