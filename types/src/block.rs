//! Blocks and the transaction Merkle root.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{
    codec::{decode, encode, DecodeError},
    hash::{sha256, sha256_parts},
    Address, Hash, Height, SignedTransaction,
};

/// A block header. Its hash identifies the block; `state_root` is the state after the block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: u64,
    /// 1 for the first block.
    pub height: Height,
    /// Proposer's clock when the block was built, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Hash of the previous header; the genesis hash for height 1.
    pub parent_hash: Hash,
    /// The validator that proposed the block and receives its fees.
    pub proposer: Address,
    /// [`tx_root`] of the block's transactions.
    pub tx_root: Hash,
    /// State root after executing the block.
    pub state_root: Hash,
    /// Number of transactions in the block.
    pub tx_count: u32,
}

impl BlockHeader {
    /// The block hash: `H(borsh(header))`.
    pub fn hash(&self) -> Hash {
        sha256(&encode(self))
    }
}

/// A block: header and transactions.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    /// The block hash (the header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes the canonical encoding; rejects anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, DecodeError> {
        decode("block", bytes)
    }
}

/// The binary Merkle root over transaction hashes in block order. Leaves are the hashes; a
/// parent is `H(left ++ right)`; a level with an odd count pairs its last node with itself;
/// the root of no transactions is all zeros.
pub fn tx_root(tx_hashes: &[Hash]) -> Hash {
    if tx_hashes.is_empty() {
        return Hash::ZERO;
    }
    let mut level = tx_hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let right = pair.get(1).unwrap_or(&pair[0]);
                sha256_parts(&[&pair[0].0, &right.0])
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(byte: u8) -> Hash {
        Hash([byte; 32])
    }

    fn parent(left: Hash, right: Hash) -> Hash {
        sha256_parts(&[&left.0, &right.0])
    }

    #[test]
    fn tx_root_small_cases() {
        assert_eq!(tx_root(&[]), Hash::ZERO);
        assert_eq!(tx_root(&[leaf(1)]), leaf(1));
        assert_eq!(tx_root(&[leaf(1), leaf(2)]), parent(leaf(1), leaf(2)));
        let three = parent(parent(leaf(1), leaf(2)), parent(leaf(3), leaf(3)));
        assert_eq!(tx_root(&[leaf(1), leaf(2), leaf(3)]), three);
        let five_left = parent(parent(leaf(1), leaf(2)), parent(leaf(3), leaf(4)));
        let five_right = parent(parent(leaf(5), leaf(5)), parent(leaf(5), leaf(5)));
        assert_eq!(
            tx_root(&[leaf(1), leaf(2), leaf(3), leaf(4), leaf(5)]),
            parent(five_left, five_right)
        );
    }

    #[test]
    fn header_encoding_is_fixed_size() {
        let header = BlockHeader {
            chain_id: 1,
            height: 2,
            timestamp_ms: 3,
            parent_hash: leaf(4),
            proposer: Address([5; 32]),
            tx_root: leaf(6),
            state_root: leaf(7),
            tx_count: 8,
        };
        let bytes = encode(&header);
        assert_eq!(bytes.len(), 8 * 3 + 32 * 4 + 4);
        assert_eq!(decode::<BlockHeader>("header", &bytes), Ok(header));
    }
}
