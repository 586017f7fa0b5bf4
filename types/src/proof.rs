//! Account proofs against a state root, and their verification.
//!
//! The state is a Jellyfish Merkle tree, which hashes exactly like a binary sparse Merkle tree
//! of depth 256 over the key hashes in which every subtree holding a single leaf is replaced by
//! that leaf and every empty subtree by a placeholder. A proof is the leaf found on the key's
//! path (or none) and the sibling hashes from that leaf up to the root.

use serde::{Deserialize, Serialize};

use crate::{
    account::state_key, codec::encode, hash::sha256, hash::sha256_parts, Account, Address, Hash,
};

/// Domain separator of leaf hashes: `H("JMT::LeafNode" ++ key_hash ++ value_hash)`.
pub const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
/// Domain separator of internal hashes: `H("JMT::IntrnalNode" ++ left ++ right)`.
pub const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree: these 32 ASCII bytes, not a digest.
pub const PLACEHOLDER_HASH: Hash = Hash(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");

/// The leaf a proof ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofLeaf {
    /// Key hash of the leaf, `H(address)` of the account stored there.
    pub key_hash: Hash,
    /// `H(borsh(account))` of that account.
    pub value_hash: Hash,
}

impl ProofLeaf {
    /// The leaf's node hash.
    pub fn hash(&self) -> Hash {
        leaf_hash(&self.key_hash, &self.value_hash)
    }
}

/// A proof that an account holds a value, or is absent, under a state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountProof {
    /// The leaf on the key's path: the account itself for an inclusion proof; another account
    /// sharing the path, or none (an empty subtree), for an exclusion proof.
    pub leaf: Option<ProofLeaf>,
    /// Sibling hashes, from the bottom (next to the leaf) to the top (child of the root).
    pub siblings: Vec<Hash>,
}

/// Why a proof does not establish what it was checked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A path in a 256-bit tree has at most 256 siblings.
    #[error("proof has {0} siblings, at most 256 are possible")]
    TooManySiblings(usize),
    /// The account was claimed present but the proof shows no leaf for it.
    #[error("expected an inclusion proof, got an exclusion proof")]
    NotAnInclusionProof,
    /// The leaf is another key's.
    #[error("the proof's leaf belongs to another key")]
    LeafKeyMismatch,
    /// The leaf's value hash is not the hash of the claimed account.
    #[error("the proof's leaf does not hold the claimed account")]
    LeafValueMismatch,
    /// The account was claimed absent but the proof's leaf is its own.
    #[error("the account is present: this is an inclusion proof")]
    AccountPresent,
    /// The leaf of an exclusion proof sits where the key could not be.
    #[error("the proof's leaf is not on the key's path")]
    LeafOffPath,
    /// The recomputed root differs.
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The trusted root.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
}

/// `H("JMT::LeafNode" ++ key_hash ++ value_hash)`.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    sha256_parts(&[LEAF_DOMAIN, &key_hash.0, &value_hash.0])
}

/// `H("JMT::IntrnalNode" ++ left ++ right)`.
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    sha256_parts(&[INTERNAL_DOMAIN, &left.0, &right.0])
}

/// The value hash of an account: `H(borsh(account))`.
pub fn account_value_hash(account: &Account) -> Hash {
    sha256(&encode(account))
}

/// Bit `index` of a key, counting from the most significant bit of byte 0.
fn bit(key: &Hash, index: usize) -> bool {
    key.0[index / 8] & (0x80 >> (index % 8)) != 0
}

fn common_prefix_bits(a: &Hash, b: &Hash) -> usize {
    (0..256).take_while(|&i| bit(a, i) == bit(b, i)).count()
}

impl AccountProof {
    /// Verifies that under `root`, `address` holds `account` (`Some`) or is absent (`None`).
    pub fn verify(
        &self,
        root: &Hash,
        address: &Address,
        account: Option<&Account>,
    ) -> Result<(), ProofError> {
        let key = state_key(address);
        if self.siblings.len() > 256 {
            return Err(ProofError::TooManySiblings(self.siblings.len()));
        }
        match (account, &self.leaf) {
            (Some(_), None) => return Err(ProofError::NotAnInclusionProof),
            (Some(account), Some(leaf)) => {
                if leaf.key_hash != key {
                    return Err(ProofError::LeafKeyMismatch);
                }
                if leaf.value_hash != account_value_hash(account) {
                    return Err(ProofError::LeafValueMismatch);
                }
            }
            (None, Some(leaf)) => {
                if leaf.key_hash == key {
                    return Err(ProofError::AccountPresent);
                }
                if common_prefix_bits(&key, &leaf.key_hash) < self.siblings.len() {
                    return Err(ProofError::LeafOffPath);
                }
            }
            (None, None) => {}
        }
        let computed = self.root_for(&key);
        if computed != *root {
            return Err(ProofError::RootMismatch { expected: *root, computed });
        }
        Ok(())
    }

    /// Folds the siblings from the leaf (or placeholder) up to a root along `key`'s path.
    fn root_for(&self, key: &Hash) -> Hash {
        let start = self.leaf.map_or(PLACEHOLDER_HASH, |leaf| leaf.hash());
        let depth = self.siblings.len();
        self.siblings.iter().enumerate().fold(start, |node, (level, sibling)| {
            // The bottom sibling pairs with the key's bit at depth - 1, the top one with bit 0.
            if bit(key, depth - 1 - level) {
                internal_hash(sibling, &node)
            } else {
                internal_hash(&node, sibling)
            }
        })
    }
}
