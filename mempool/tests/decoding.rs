//! Bytes from clients and peers never panic the pool: arbitrary and mutated input.

mod common;

use common::*;
use proptest::prelude::*;
use tandem_mempool::{
    decode_gossip_batch, encode_gossip_batch, GossipError, MempoolConfig, Origin,
};
use tandem_types::SignedTransaction;

fn valid_batch() -> Vec<u8> {
    encode_gossip_batch(&[transfer(&key(0), 0, 10, 1), transfer(&key(1), 0, 10, 2)])
}

proptest! {
    #[test]
    fn arbitrary_transaction_bytes_are_rejected_or_admitted_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1_200),
    ) {
        let mut w = World::new(MempoolConfig::default());
        let result = w.pool.admit_bytes(0, &bytes, Origin::Peer, &w.accounts);
        let rejection = result.expect_err("random bytes are no funded, signed transaction");
        if bytes.len() > 1_024 {
            prop_assert_eq!(rejection.reason(), "too_large");
        } else if SignedTransaction::from_bytes(&bytes).is_err() {
            prop_assert_eq!(rejection.reason(), "bad_encoding");
        }
    }

    #[test]
    fn mutated_transactions_never_panic(
        position in 0usize..177,
        value in any::<u8>(),
        cut in 0usize..178,
    ) {
        let mut w = World::new(MempoolConfig::default());
        w.fund(&key(0), 1_000, 0);
        let mut bytes = transfer(&key(0), 0, 10, 1).to_bytes();
        bytes[position] = value;
        bytes.truncate(cut.max(1));
        let _ = w.pool.admit_bytes(0, &bytes, Origin::Peer, &w.accounts);
        prop_assert!(w.pool.len() <= 1);
    }

    #[test]
    fn arbitrary_gossip_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        max in 0usize..10,
    ) {
        match decode_gossip_batch(&bytes, max) {
            Ok(txs) => prop_assert!(txs.len() <= max),
            Err(GossipError::TooMany { count, .. }) => prop_assert!(count > max as u64),
            Err(GossipError::Malformed(_)) => {}
        }
    }

    #[test]
    fn mutated_gossip_batches_never_panic(
        position in 0usize..358,
        value in any::<u8>(),
        cut in 0usize..359,
    ) {
        let mut bytes = valid_batch();
        bytes[position] = value;
        bytes.truncate(cut);
        if let Ok(txs) = decode_gossip_batch(&bytes, 2) {
            prop_assert_eq!(encode_gossip_batch(&txs), bytes, "only canonical bytes decode");
        }
    }
}
