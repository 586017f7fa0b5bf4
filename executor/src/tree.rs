//! The SHA-256 Jellyfish Merkle tree over account state: the live tree cached in memory for
//! execution, and readers over the store for roots and proofs at any retained height.

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::{LeafNode, NibblePath, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, Sha256Jmt, Version};
use rustc_hash::FxHashMap;
use tandem_types::proof::{internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::{encode, AccountProof, Hash, ProofLeaf};

use crate::error::StoreError;

/// The store key of a tree node: version (big-endian, so one version's nodes are adjacent),
/// nibble count, then the nibbles packed two per byte.
pub(crate) fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    let path = key.nibble_path();
    let mut bytes = Vec::with_capacity(9 + path.num_nibbles().div_ceil(2));
    bytes.extend_from_slice(&key.version().to_be_bytes());
    bytes.push(path.num_nibbles() as u8);
    let mut pending: Option<u8> = None;
    for nibble in path.nibbles() {
        let nibble = u8::from(nibble);
        match pending.take() {
            None => pending = Some(nibble << 4),
            Some(high) => bytes.push(high | nibble),
        }
    }
    bytes.extend(pending);
    bytes
}

/// A stored tree node; a leaf carries the account value whose hash it holds.
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct NodeRecord {
    pub node: Node,
    pub value: Option<OwnedValue>,
}

pub(crate) fn decode_node_record(bytes: &[u8]) -> Result<NodeRecord, StoreError> {
    NodeRecord::try_from_slice(bytes)
        .map_err(|error| StoreError::Corrupt(format!("tree node: {error}")))
}

/// The nodes of the latest tree version, kept in memory so that execution never reads disk.
pub(crate) struct LiveTree {
    nodes: FxHashMap<NodeKey, Node>,
}

impl LiveTree {
    pub fn empty() -> LiveTree {
        LiveTree { nodes: FxHashMap::default() }
    }

    /// Loads every node reachable from the root of `version` through `read`, and returns the
    /// tree with the account value of every leaf.
    pub fn load(
        version: Version,
        read: impl Fn(&NodeKey) -> Result<Option<NodeRecord>, StoreError>,
    ) -> Result<(LiveTree, Vec<(KeyHash, OwnedValue)>), StoreError> {
        let mut nodes = FxHashMap::default();
        let mut values = Vec::new();
        let root_key = NodeKey::new(version, std::iter::empty().collect::<NibblePath>());
        let mut pending = vec![root_key];
        while let Some(key) = pending.pop() {
            let record = read(&key)?.ok_or_else(|| {
                StoreError::Corrupt(format!("tree node missing at version {}", key.version()))
            })?;
            let node = record.node;
            if let Node::Leaf(leaf) = &node {
                let value =
                    record.value.ok_or_else(|| StoreError::Corrupt("leaf without value".into()))?;
                values.push((leaf.key_hash(), value));
            }
            if let Node::Internal(internal) = &node {
                for (nibble, child) in internal.children_sorted() {
                    let path = key.nibble_path().nibbles().chain(std::iter::once(nibble)).collect();
                    pending.push(NodeKey::new(child.version, path));
                }
            }
            nodes.insert(key, node);
        }
        Ok((LiveTree { nodes }, values))
    }

    /// Computes the root and the node changes of writing `changes` as `version`.
    pub fn update(
        &self,
        changes: Vec<(KeyHash, OwnedValue)>,
        version: Version,
    ) -> Result<(Hash, TreeUpdateBatch), StoreError> {
        let tree = Sha256Jmt::new(self);
        let (roots, batch) = tree
            .batch_put_value_sets(vec![changes], None, version)
            .map_err(|error| StoreError::Corrupt(format!("tree update failed: {error:#}")))?;
        Ok((Hash(roots[0].0), batch))
    }

    /// Applies a committed update: new nodes in, replaced nodes out.
    pub fn apply(&mut self, batch: &TreeUpdateBatch) {
        for stale in &batch.stale_node_index_batch {
            self.nodes.remove(&stale.node_key);
        }
        for (key, node) in batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
    }

    /// Hash of the root node of `version`, if cached.
    pub fn root_hash(&self, version: Version) -> Option<Hash> {
        let root_key = NodeKey::new(version, std::iter::empty().collect::<NibblePath>());
        match self.nodes.get(&root_key)? {
            Node::Internal(node) => Some(Hash(node.hash::<sha2::Sha256>())),
            Node::Leaf(node) => Some(Hash(node.hash::<sha2::Sha256>())),
            Node::Null => Some(PLACEHOLDER_HASH),
        }
    }
}

impl TreeReader for LiveTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        // Updates never read values; reads of state go through the store.
        anyhow::bail!("the live tree holds nodes only; read values from the store")
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the live tree does not serve tree restoration")
    }
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
