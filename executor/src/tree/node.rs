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

/// Children above this count keep their ranges' hashes (see [`InternalNode`]).
const RANGES_KEPT_ABOVE_CHILDREN: usize = 4;

/// Up to sixteen children, one per nibble (slot).
///
/// Most internal nodes of a large tree sit just above the leaves and have two or three
/// children, so only the present ones are held. The hashes of the binary tree over the sixteen
/// slots are kept only for a node with more children than [`RANGES_KEPT_ABOVE_CHILDREN`]: there
/// a rewrite of one child rehashes four ranges instead of fifteen, while a sparse node rehashes
/// all of its few ranges in about as many steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InternalNode {
    /// The present children with their slots, in slot order.
    children: Vec<(u8, Child)>,
    pub leaf_count: u64,
    hash: [u8; 32],
    /// For a dense node, the binary tree over the sixteen slots in heap order: the node's hash,
    /// then the two halves, the four quarters and the eight pairs. Never stored.
    ranges: Option<Box<[[u8; 32]; 15]>>,
}

/// The jmt crate's encoding: sixteen optional children, their count and the leaf count.
impl BorshSerialize for InternalNode {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        let mut slots: [Option<ChildEncoding>; 16] = [None; 16];
        for (slot, child) in &self.children {
            slots[usize::from(*slot)] = Some(ChildEncoding::of(child));
        }
        slots.serialize(writer)?;
        (self.children.len() as u64).serialize(writer)?;
        self.leaf_count.serialize(writer)
    }
}

/// What an internal node knows of a child: enough to hash it without reading it, the version
/// that locates it and, for a leaf, the leaf itself (the tree holds leaves only inside their
/// parents: a leaf per account is most of its nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Child {
    pub hash: [u8; 32],
    pub version: Version,
    pub kind: ChildKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildKind {
    Leaf(LeafNode),
    Internal { leaf_count: u64 },
}

impl Child {
    fn is_leaf(&self) -> bool {
        matches!(self.kind, ChildKind::Leaf(_))
    }

    fn leaf_count(&self) -> u64 {
        match self.kind {
            ChildKind::Leaf(_) => 1,
            ChildKind::Internal { leaf_count } => leaf_count,
        }
    }
}

/// The jmt crate's `Child`: the leaf itself is not part of it.
#[derive(Clone, Copy, BorshSerialize)]
struct ChildEncoding {
    hash: [u8; 32],
    version: Version,
    kind: ChildKindEncoding,
}

#[derive(Clone, Copy, BorshSerialize)]
enum ChildKindEncoding {
    Leaf,
    Internal { leaf_count: u64 },
}

impl ChildEncoding {
    fn of(child: &Child) -> ChildEncoding {
        let kind = match child.kind {
            ChildKind::Leaf(_) => ChildKindEncoding::Leaf,
            ChildKind::Internal { leaf_count } => ChildKindEncoding::Internal { leaf_count },
        };
        ChildEncoding { hash: child.hash, version: child.version, kind }
    }
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
    /// The node over `children` (slot and child, in slot order), at least one of them.
    pub fn new(children: Vec<(u8, Child)>) -> Box<InternalNode> {
        assert!(
            children.windows(2).all(|pair| pair[0].0 < pair[1].0)
                && children.iter().all(|(slot, _)| *slot < 16),
            "an internal node's children are in distinct slots below 16, in slot order"
        );
        let mut node =
            Box::new(InternalNode { children, leaf_count: 0, hash: [0; 32], ranges: None });
        node.refresh(u16::MAX);
        node
    }

    /// The child in `slot`, if any.
    pub fn child(&self, slot: u8) -> Option<&Child> {
        self.children.iter().find(|(at, _)| *at == slot).map(|(_, child)| child)
    }

    /// Puts `child` in `slot`, replacing what was there; [`InternalNode::refresh`] must follow.
    pub fn set_child(&mut self, slot: u8, child: Child) {
        assert!(slot < 16, "an internal node has sixteen slots");
        match self.children.binary_search_by_key(&slot, |(at, _)| *at) {
            Ok(index) => self.children[index].1 = child,
            Err(index) => self.children.insert(index, (slot, child)),
        }
    }

    /// The version that wrote each present child, by slot.
    pub fn child_versions(&self) -> [Option<Version>; 16] {
        let mut versions = [None; 16];
        for (slot, child) in &self.children {
            versions[usize::from(*slot)] = Some(child.version);
        }
        versions
    }

    /// Brings the counts and hashes up to date after the children in the slots of `changed`
    /// (bit `i` for slot `i`) were replaced: in a dense node only ranges holding a changed
    /// slot are rehashed.
    pub fn refresh(&mut self, changed: u16) {
        self.children.shrink_to_fit();
        self.leaf_count = self.children.iter().map(|(_, child)| child.leaf_count()).sum();
        if self.children.len() <= RANGES_KEPT_ABOVE_CHILDREN {
            self.ranges = None;
            self.hash = range_hash(&self.children, 0, 16);
            return;
        }
        let changed = if self.ranges.is_some() { changed } else { u16::MAX };
        let ranges = self.ranges.get_or_insert_with(|| Box::new([[0; 32]; 15]));
        hash_ranges(&self.children, ranges, changed);
        self.hash = ranges[0];
    }

    /// The node's hash: the root of the four-level binary tree over the sixteen slots.
    pub fn hash(&self) -> Hash {
        Hash(self.hash)
    }
}

/// The hash of the `width` slots from `start`, `children` being the ones among them (in slot
/// order). An empty range hashes to the placeholder, a range holding a single leaf to that
/// leaf's hash, a single slot to its child's hash, any other range to the hash of its two
/// halves (the jmt crate's rule).
fn range_hash(children: &[(u8, Child)], start: u8, width: u8) -> [u8; 32] {
    match children {
        [] => PLACEHOLDER_HASH.0,
        [(_, child)] if child.is_leaf() || width == 1 => child.hash,
        _ => {
            let half = width / 2;
            let split = children.partition_point(|(slot, _)| *slot < start + half);
            let left = range_hash(&children[..split], start, half);
            let right = range_hash(&children[split..], start + half, half);
            internal_hash(&Hash(left), &Hash(right)).0
        }
    }
}

/// Fills `ranges` bottom-up by the rule of [`range_hash`]; a range without a slot of `changed`
/// keeps its hash.
fn hash_ranges(children: &[(u8, Child)], ranges: &mut [[u8; 32]; 15], changed: u16) {
    let mut by_slot: [Option<&Child>; 16] = [None; 16];
    let (mut present, mut leaves) = (0u16, 0u16);
    for (slot, child) in children {
        by_slot[usize::from(*slot)] = Some(child);
        present |= 1 << slot;
        if child.is_leaf() {
            leaves |= 1 << slot;
        }
    }
    let slot_hash = |slot: usize| by_slot[slot].map_or(PLACEHOLDER_HASH.0, |child| child.hash);
    // Heap index i has children 2i + 1 and 2i + 2; indices 7..15 are the pairs, whose halves
    // are single slots.
    for index in (0..15).rev() {
        let level = (index + 1usize).ilog2();
        let width = 16u32 >> level;
        let start = (index + 1 - (1 << level)) as u32 * width;
        let mask = (((1u32 << width) - 1) << start) as u16;
        let (in_range, leaves_in_range) = (present & mask, leaves & mask);
        ranges[index] = if in_range == 0 {
            PLACEHOLDER_HASH.0
        } else if in_range.count_ones() == 1 && leaves_in_range != 0 {
            slot_hash(in_range.trailing_zeros() as usize)
        } else if changed & mask == 0 {
            ranges[index]
        } else if width == 2 {
            let (left, right) = (start as usize, start as usize + 1);
            internal_hash(&Hash(slot_hash(left)), &Hash(slot_hash(right))).0
        } else {
            let (left, right) = (ranges[2 * index + 1], ranges[2 * index + 2]);
            internal_hash(&Hash(left), &Hash(right)).0
        };
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn child(slot: u8, leaf: bool, seed: u8) -> (u8, Child) {
        let kind = if leaf {
            ChildKind::Leaf(LeafNode { key_hash: [seed; 32], value_hash: [slot; 32] })
        } else {
            ChildKind::Internal { leaf_count: 2 }
        };
        (slot, Child { hash: [seed ^ slot; 32], version: 1, kind })
    }

    proptest! {
        /// Kept ranges, rehashed only where a child changed, give the hash that hashing every
        /// range gives, however the node fills up.
        #[test]
        fn kept_ranges_hash_like_the_whole_rule(
            steps in prop::collection::vec((0u8..16, any::<bool>(), any::<u8>()), 1..40),
        ) {
            let (slot, leaf, seed) = steps[0];
            let mut node = InternalNode::new(vec![child(slot, leaf, seed)]);
            for (slot, leaf, seed) in steps {
                let (slot, new) = child(slot, leaf, seed);
                node.set_child(slot, new);
                node.refresh(1 << slot);
                prop_assert_eq!(node.hash, range_hash(&node.children, 0, 16));
                prop_assert_eq!(
                    node.ranges.is_some(),
                    node.children.len() > RANGES_KEPT_ABOVE_CHILDREN
                );
            }
        }
    }
}
