//! One version's update of the tree: the changed accounts go in, the new root, the new nodes and
//! the positions they replace come out. The shape is the jmt crate's: a leaf sits at the
//! shortest prefix of its key that no other key shares, every node on the path to a changed
//! leaf is rewritten at the new version, and an existing leaf that a new key displaces moves
//! down, rewritten at the new version too.
//!
//! Accounts are never deleted, so an update only inserts and replaces.

use jmt::{OwnedValue, Version};
use tandem_types::{sha256, Hash};

use super::node::{nibble, Child, ChildKind, InternalNode, LeafNode, NodePos, TreeNode, MAX_DEPTH};
use super::{Existing, LiveTree};
use crate::error::StoreError;

/// A new node of an update. A changed leaf carries its account value; a leaf moved unchanged
/// carries none (its value is the account's current one).
#[derive(Clone, Debug)]
pub(crate) struct NewNode {
    pub pos: NodePos,
    pub node: TreeNode,
    pub value: Option<OwnedValue>,
}

/// Everything one version changes in the tree.
#[derive(Clone, Debug)]
pub(crate) struct TreeUpdate {
    pub version: Version,
    pub root: Hash,
    /// Sorted by position, which is the order of their store keys.
    pub nodes: Vec<NewNode>,
    /// The nodes the new ones replace; no later version reaches them.
    pub stale: Vec<NodePos>,
}

/// A leaf to write: a changed account, or an unchanged one moved down.
struct Entry {
    key: [u8; 32],
    value_hash: [u8; 32],
    value: Option<OwnedValue>,
}

/// Computes the update that writes `changes` (distinct keys) as `version` onto `tree`.
pub(crate) fn update(
    tree: &LiveTree,
    changes: Vec<([u8; 32], OwnedValue)>,
    version: Version,
) -> Result<TreeUpdate, StoreError> {
    let mut entries: Vec<Entry> = changes
        .into_iter()
        .map(|(key, value)| Entry { key, value_hash: sha256(&value).0, value: Some(value) })
        .collect();
    entries.sort_unstable_by_key(|entry| entry.key);
    if entries.windows(2).any(|pair| pair[0].key == pair[1].key) {
        return Err(StoreError::Corrupt("tree update with a key twice".into()));
    }
    // About one internal node per leaf above the bottom, in a tree of any size.
    let expected_nodes = 2 * entries.len() + 64;
    let mut writer = Writer {
        tree,
        version,
        new: Vec::with_capacity(expected_nodes),
        stale: Vec::with_capacity(expected_nodes),
    };
    let existing = tree.existing_root()?;
    let root = if entries.is_empty() {
        if existing.is_some() {
            return Err(StoreError::Corrupt("empty update of a non-empty tree".into()));
        }
        writer.new.push(NewNode { pos: NodePos::root(version), node: TreeNode::Null, value: None });
        tandem_types::proof::PLACEHOLDER_HASH
    } else {
        Hash(writer.rewrite(0, existing, &mut entries)?.hash)
    };
    let Writer { mut new, stale, .. } = writer;
    new.sort_unstable_by_key(|new| (new.pos.depth, new.pos.path));
    Ok(TreeUpdate { version, root, nodes: new, stale })
}

struct Writer<'a> {
    tree: &'a LiveTree,
    version: Version,
    new: Vec<NewNode>,
    stale: Vec<NodePos>,
}

impl<'a> Writer<'a> {
    /// Writes `entries` (sorted, sharing their first `depth` nibbles) into the subtree whose
    /// current node is `existing`, and returns what the parent records of the new subtree.
    fn rewrite(
        &mut self,
        depth: usize,
        existing: Option<(NodePos, Existing<'a>)>,
        entries: &mut [Entry],
    ) -> Result<Child, StoreError> {
        let Some((pos, node)) = existing else { return self.create(depth, entries) };
        self.stale.push(pos);
        match node {
            Existing::Null => self.create(depth, entries),
            Existing::Leaf(leaf) => self.rewrite_leaf(depth, &leaf, entries),
            Existing::Internal(internal) => {
                let mut node = Box::new(internal.clone());
                let mut changed = 0u16;
                for group in groups_by_nibble(entries, depth) {
                    let slot = nibble(&group[0].key, depth);
                    let existing_child = match internal.child(slot) {
                        Some(child) => {
                            let child_pos = pos.child(child.version, slot);
                            Some((child_pos, self.tree.existing_child(&child_pos, child)?))
                        }
                        None => None,
                    };
                    node.set_child(slot, self.rewrite(depth + 1, existing_child, group)?);
                    changed |= 1 << slot;
                }
                node.refresh(changed);
                Ok(self.push_internal(depth, &entries[0].key, node))
            }
        }
    }

    /// Replaces the leaf at this position by `entries`, keeping the old account unless one of
    /// the entries replaces it.
    fn rewrite_leaf(
        &mut self,
        depth: usize,
        leaf: &LeafNode,
        entries: &mut [Entry],
    ) -> Result<Child, StoreError> {
        match entries.binary_search_by(|entry| entry.key.cmp(&leaf.key_hash)) {
            Ok(_) => self.create(depth, entries),
            Err(at) => {
                let moved = Entry { key: leaf.key_hash, value_hash: leaf.value_hash, value: None };
                let mut merged: Vec<Entry> = Vec::with_capacity(entries.len() + 1);
                for entry in &mut entries[..at] {
                    merged.push(entry.take());
                }
                merged.push(moved);
                for entry in &mut entries[at..] {
                    merged.push(entry.take());
                }
                self.create(depth, &mut merged)
            }
        }
    }

    /// A fresh subtree over `entries`: a leaf for one, an internal node splitting by the next
    /// nibble for more.
    fn create(&mut self, depth: usize, entries: &mut [Entry]) -> Result<Child, StoreError> {
        if let [entry] = entries {
            return Ok(self.push_leaf(depth, entry));
        }
        if depth >= MAX_DEPTH {
            return Err(StoreError::Corrupt("tree keys collide on every nibble".into()));
        }
        let mut children = Vec::with_capacity(16);
        for group in groups_by_nibble(entries, depth) {
            let slot = nibble(&group[0].key, depth);
            children.push((slot, self.create(depth + 1, group)?));
        }
        Ok(self.push_internal(depth, &entries[0].key, InternalNode::new(children)))
    }

    fn push_leaf(&mut self, depth: usize, entry: &mut Entry) -> Child {
        let leaf = LeafNode { key_hash: entry.key, value_hash: entry.value_hash };
        let hash = leaf.hash().0;
        self.new.push(NewNode {
            pos: NodePos::of_key(self.version, &entry.key, depth),
            node: TreeNode::Leaf(leaf),
            value: entry.value.take(),
        });
        Child { hash, version: self.version, kind: ChildKind::Leaf(leaf) }
    }

    fn push_internal(&mut self, depth: usize, key: &[u8; 32], node: Box<InternalNode>) -> Child {
        let child = Child {
            hash: node.hash().0,
            version: self.version,
            kind: ChildKind::Internal { leaf_count: node.leaf_count },
        };
        self.new.push(NewNode {
            pos: NodePos::of_key(self.version, key, depth),
            node: TreeNode::Internal(node),
            value: None,
        });
        child
    }
}

impl Entry {
    fn take(&mut self) -> Entry {
        Entry { key: self.key, value_hash: self.value_hash, value: self.value.take() }
    }
}

/// Splits sorted `entries` into runs sharing their `depth`-th nibble.
fn groups_by_nibble(entries: &mut [Entry], depth: usize) -> impl Iterator<Item = &mut [Entry]> {
    entries.chunk_by_mut(move |a, b| nibble(&a.key, depth) == nibble(&b.key, depth))
}

#[cfg(test)]
mod tests {
    //! The update against the jmt crate's own: the same root, the same new nodes byte for byte,
    //! the same replaced positions, version after version.

    use std::collections::BTreeMap;

    use jmt::storage::{LeafNode as JmtLeaf, Node, NodeKey, TreeReader, TreeUpdateBatch};
    use jmt::{KeyHash, Sha256Jmt};
    use proptest::prelude::*;
    use rustc_hash::FxHashMap;
    use tandem_types::encode;

    use super::*;
    use crate::tree::node_pos;

    /// The jmt crate's updater over an in-memory map: the reference.
    #[derive(Default)]
    struct Reference {
        nodes: FxHashMap<NodeKey, Node>,
        /// Latest value of each key, for proofs at the latest version.
        values: FxHashMap<KeyHash, OwnedValue>,
    }

    impl TreeReader for Reference {
        fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<Node>> {
            Ok(self.nodes.get(key).cloned())
        }
        fn get_value_option(&self, _: Version, key: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
            Ok(self.values.get(&key).cloned())
        }
        fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, JmtLeaf)>> {
            anyhow::bail!("not used by updates")
        }
    }

    impl Reference {
        fn update(
            &mut self,
            changes: &[([u8; 32], OwnedValue)],
            version: Version,
        ) -> ([u8; 32], TreeUpdateBatch) {
            let values: Vec<(KeyHash, OwnedValue)> =
                changes.iter().map(|(key, value)| (KeyHash(*key), value.clone())).collect();
            let (roots, batch) = Sha256Jmt::new(&*self)
                .batch_put_value_sets(vec![values], None, version)
                .expect("reference update");
            for stale in &batch.stale_node_index_batch {
                self.nodes.remove(&stale.node_key);
            }
            for (key, node) in batch.node_batch.nodes() {
                self.nodes.insert(key.clone(), node.clone());
            }
            self.values.extend(changes.iter().map(|(key, value)| (KeyHash(*key), value.clone())));
            (roots[0].0, batch)
        }
    }

    /// The live tree, updated and then applied version after version as the executor does.
    struct Ours {
        tree: LiveTree,
    }

    impl Ours {
        fn new() -> Ours {
            Ours { tree: LiveTree::empty() }
        }

        fn update(&mut self, changes: &[([u8; 32], OwnedValue)], version: Version) -> TreeUpdate {
            let result = update(&self.tree, changes.to_vec(), version).expect("update");
            self.tree.apply(result.clone());
            assert_eq!(self.tree.root_hash(version), Some(result.root), "applied root");
            result
        }
    }

    fn assert_same(ours: &TreeUpdate, root: [u8; 32], reference: &TreeUpdateBatch) {
        assert_eq!(ours.root.0, root, "root at version {}", ours.version);
        let reference_nodes: BTreeMap<Vec<u8>, Vec<u8>> = reference
            .node_batch
            .nodes()
            .iter()
            .map(|(key, node)| (node_pos(key).key_bytes(), encode(node)))
            .collect();
        let our_nodes: BTreeMap<Vec<u8>, Vec<u8>> =
            ours.nodes.iter().map(|new| (new.pos.key_bytes(), encode(&new.node))).collect();
        assert_eq!(our_nodes.len(), ours.nodes.len(), "a position written twice");
        assert_eq!(our_nodes, reference_nodes, "new nodes at version {}", ours.version);
        let our_order: Vec<Vec<u8>> = ours.nodes.iter().map(|n| n.pos.key_bytes()).collect();
        assert!(our_order.windows(2).all(|pair| pair[0] < pair[1]), "new nodes in store-key order");
        let reference_stale: BTreeMap<Vec<u8>, ()> = reference
            .stale_node_index_batch
            .iter()
            .map(|stale| (node_pos(&stale.node_key).key_bytes(), ()))
            .collect();
        let our_stale: BTreeMap<Vec<u8>, ()> =
            ours.stale.iter().map(|pos| (pos.key_bytes(), ())).collect();
        assert_eq!(our_stale, reference_stale, "replaced nodes at version {}", ours.version);
    }

    /// Keys from a few shared prefixes, so that leaves sit deep and chains of single-child
    /// internal nodes appear, plus fully random ones.
    fn key() -> impl Strategy<Value = [u8; 32]> {
        (0usize..4, any::<[u8; 32]>()).prop_map(|(prefix, mut key)| {
            let shared: &[u8] = match prefix {
                0 => &[],
                1 => &[0xab],
                2 => &[0xab, 0xcd, 0xef],
                _ => &[0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67],
            };
            key[..shared.len()].copy_from_slice(shared);
            key
        })
    }

    fn batch(min_len: usize) -> impl Strategy<Value = Vec<([u8; 32], OwnedValue)>> {
        prop::collection::btree_map(key(), prop::collection::vec(any::<u8>(), 0..12), min_len..40)
            .prop_map(|map| map.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn matches_the_jmt_crate(
            // The jmt crate cannot write an empty first version.
            genesis in batch(1),
            later in prop::collection::vec((batch(0), prop::collection::vec(any::<prop::sample::Index>(), 0..10)), 1..6),
        ) {
            let mut reference = Reference::default();
            let mut ours = Ours::new();
            let (root, batch) = reference.update(&genesis, 0);
            assert_same(&ours.update(&genesis, 0), root, &batch);
            let mut known: Vec<[u8; 32]> = genesis.iter().map(|(key, _)| *key).collect();
            let mut version: Version = 0;
            for (fresh, rewrites) in later {
                // New keys plus new values for some existing ones.
                let mut changes: BTreeMap<[u8; 32], OwnedValue> = fresh.into_iter().collect();
                if !known.is_empty() {
                    for index in rewrites {
                        changes.insert(*index.get(&known), (version + 1).to_le_bytes().to_vec());
                    }
                }
                if changes.is_empty() {
                    continue;
                }
                // The jmt crate builds each version on the one before.
                version += 1;
                let changes: Vec<_> = changes.into_iter().collect();
                known.extend(changes.iter().map(|(key, _)| *key));
                known.sort();
                known.dedup();
                let (root, batch) = reference.update(&changes, version);
                assert_same(&ours.update(&changes, version), root, &batch);
            }
        }
    }

    #[test]
    fn an_empty_tree_has_the_placeholder_root_and_grows_like_a_fresh_one() {
        let mut ours = Ours::new();
        let empty = ours.update(&[], 0);
        assert_eq!(empty.root, tandem_types::proof::PLACEHOLDER_HASH);
        assert_eq!(empty.nodes.len(), 1);
        let accounts: Vec<_> = (0u8..20).map(|i| ([i.wrapping_mul(37); 32], vec![i])).collect();
        let grown = ours.update(&accounts, 1);
        let (fresh_root, _) = Reference::default().update(&accounts, 0);
        assert_eq!(grown.root.0, fresh_root);
        assert_eq!(grown.stale, vec![NodePos::root(0)]);
    }

    #[test]
    fn a_proof_over_a_tree_missing_a_node_is_an_error_not_a_panic() {
        let accounts: Vec<_> = (0u8..40).map(|i| (sha256(&[i]).0, vec![i])).collect();
        let mut reference = Reference::default();
        reference.update(&accounts, 0);
        let target = accounts[0].0;
        assert!(crate::tree::prove(&reference, Hash(target), 0).is_ok());
        // Keep only the nodes on the target's path: proving it reads a sibling that is gone.
        reference.nodes.retain(|key, _| {
            let path = node_pos(key);
            path == NodePos::of_key(0, &target, usize::from(path.depth))
        });
        let result = crate::tree::prove(&reference, Hash(target), 0);
        assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
    }

    #[test]
    fn refuses_a_key_twice_and_an_empty_update_of_a_tree() {
        let twice = vec![([7; 32], vec![1]), ([7; 32], vec![2])];
        assert!(update(&LiveTree::empty(), twice, 0).is_err());
        let mut ours = Ours::new();
        ours.update(&[([7; 32], vec![1])], 0);
        assert!(update(&ours.tree, Vec::new(), 1).is_err());
    }
}
