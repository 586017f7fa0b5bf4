//! The wire form of a gossip batch: `borsh(Vec<SignedTransaction>)`, decoded strictly.

use tandem_types::{decode, encode, DecodeError, SignedTransaction};

/// Why a received gossip batch was refused. The sender is a peer: the node penalizes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// The batch announces more transactions than allowed.
    #[error("gossip batch of {count} transactions, at most {max} allowed")]
    TooMany {
        /// The announced count.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a canonical batch.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
}

/// Encodes transactions as one gossip batch.
pub fn encode_gossip_batch(txs: &[SignedTransaction]) -> Vec<u8> {
    encode(&txs)
}

/// Decodes a gossip batch of at most `max_txs` transactions. Trailing bytes, short input and
/// anything not canonical are errors; the count is checked before anything is decoded.
pub fn decode_gossip_batch(
    bytes: &[u8],
    max_txs: usize,
) -> Result<Vec<SignedTransaction>, GossipError> {
    if let Some(prefix) = bytes.get(..4) {
        let count = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if u64::from(count) > max_txs as u64 {
            return Err(GossipError::TooMany { count: count.into(), max: max_txs });
        }
    }
    Ok(decode("gossip batch", bytes)?)
}

#[cfg(test)]
mod tests {
    use tandem_types::{Action, Address, SecretKey, Transaction};

    use super::*;

    fn txs(count: u64) -> Vec<SignedTransaction> {
        let key = SecretKey::from_seed(&[4; 32]);
        (0..count)
            .map(|nonce| {
                Transaction {
                    chain_id: 1,
                    sender: key.address(),
                    nonce,
                    fee: 2,
                    action: Action::Transfer { to: Address([9; 32]), amount: 1 },
                }
                .sign(&key)
            })
            .collect()
    }

    #[test]
    fn round_trips_and_matches_the_vec_encoding() {
        let batch = txs(3);
        let bytes = encode_gossip_batch(&batch);
        assert_eq!(bytes, encode(&batch));
        assert_eq!(&bytes[..4], &3u32.to_le_bytes());
        assert_eq!(decode_gossip_batch(&bytes, 3), Ok(batch));
        assert_eq!(decode_gossip_batch(&encode_gossip_batch(&[]), 0), Ok(vec![]));
    }

    #[test]
    fn too_many_is_refused_before_decoding() {
        let bytes = encode_gossip_batch(&txs(3));
        assert_eq!(decode_gossip_batch(&bytes, 2), Err(GossipError::TooMany { count: 3, max: 2 }));
        let huge = u32::MAX.to_le_bytes();
        assert!(matches!(decode_gossip_batch(&huge, 1000), Err(GossipError::TooMany { .. })));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let bytes = encode_gossip_batch(&txs(2));
        let mut trailing = bytes.clone();
        trailing.push(0);
        for bad in [&bytes[..bytes.len() - 1], &trailing[..], &bytes[..2], &[][..]] {
            assert!(matches!(decode_gossip_batch(bad, 10), Err(GossipError::Malformed(_))));
        }
        let mut bad_tag = bytes;
        bad_tag[4 + 64] = 7; // the first transaction's action tag
        assert!(matches!(decode_gossip_batch(&bad_tag, 10), Err(GossipError::Malformed(_))));
    }
}
