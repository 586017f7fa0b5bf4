//! Admission step by step: every rejection reason, replace-by-fee, caps and eviction.

mod common;

use std::collections::BTreeSet;

use common::*;
use tandem_mempool::{Mempool, MempoolConfig, Origin, Rejection, REASONS, RETRY_AFTER_MAX_MS};
use tandem_types::{Address, SignatureError};

fn world() -> World {
    let mut world = World::new(MempoolConfig::default());
    for i in 0..8 {
        world.fund(&key(i), 1_000, 0);
    }
    world
}

#[test]
fn a_valid_transfer_is_admitted_ready_and_counted() {
    let mut w = world();
    let tx = transfer(&key(0), 0, 10, 5);
    let admitted = w.pool.admit(0, tx.clone(), Origin::Client, &w.accounts).unwrap();
    assert_eq!(admitted.hash, tx.hash());
    assert!(admitted.ready);
    assert_eq!((admitted.replaced, admitted.evicted.len(), admitted.dropped.len()), (None, 0, 0));
    assert!(w.pool.contains(&tx.hash()));
    assert_eq!(w.pool.transaction(&tx.hash()), Some(&tx));
    assert_eq!((w.pool.len(), w.pool.bytes()), (1, 177));
    assert_eq!(w.pool.pending_nonce(&key(0).address()), Some(1));
    assert_eq!(w.pool.pending_nonce(&key(1).address()), None);
    assert_eq!(w.pool.metrics().admitted, 1);
}

#[test]
fn bytes_that_are_no_transaction_are_bad_encoding() {
    let mut w = world();
    let good = transfer(&key(0), 0, 10, 5).to_bytes();
    let mut trailing = good.clone();
    trailing.push(0);
    let mut unknown_action = good.clone();
    unknown_action[64] = 9;
    for bytes in [&good[..100], &trailing[..], &unknown_action[..], &[][..]] {
        let rejection = w.pool.admit_bytes(0, bytes, Origin::Peer, &w.accounts).unwrap_err();
        assert_eq!(rejection.reason(), "bad_encoding", "{rejection}");
    }
    let admitted = w.pool.admit_bytes(0, &good, Origin::Peer, &w.accounts).unwrap();
    assert!(admitted.ready);
    assert_eq!(w.pool.metrics().rejected_for("bad_encoding"), 4);
}

#[test]
fn oversized_bytes_are_too_large_before_decoding() {
    let mut w = world();
    let rejection = w.pool.admit_bytes(0, &[0; 1_025], Origin::Client, &w.accounts).unwrap_err();
    assert_eq!(rejection, Rejection::TooLarge { bytes: 1_025, max: 1_024 });
    assert_eq!(rejection.reason(), "too_large");
}

#[test]
fn a_transaction_for_another_chain_is_wrong_chain() {
    let mut w = world();
    let mut tx = transfer(&key(0), 0, 10, 5).tx;
    tx.chain_id = 8;
    let rejection = w.pool.admit(0, tx.sign(&key(0)), Origin::Client, &w.accounts).unwrap_err();
    assert_eq!(rejection, Rejection::WrongChain { expected: CHAIN_ID, got: 8 });
    assert_eq!(rejection.reason(), "wrong_chain");
}

#[test]
fn a_fee_below_the_minimum_is_fee_too_low() {
    let mut w = world();
    let rejection = w.pool.admit(0, transfer(&key(0), 0, 9, 5), Origin::Client, &w.accounts);
    let rejection = rejection.unwrap_err();
    assert_eq!(rejection, Rejection::FeeBelowMinimum { fee: 9, min_fee: 10 });
    assert_eq!(rejection.to_string(), "fee 9 is below the minimum fee 10");
    assert_eq!(rejection.reason(), "fee_too_low");
}

#[test]
fn a_wrong_or_weak_signature_is_bad_signature() {
    let mut w = world();
    let mut forged = transfer(&key(0), 0, 10, 5);
    forged.signature.0[5] ^= 1;
    let rejection = w.pool.admit(0, forged, Origin::Peer, &w.accounts).unwrap_err();
    assert_eq!(rejection, Rejection::BadSignature(SignatureError::Invalid));
    assert_eq!(rejection.reason(), "bad_signature");

    // Signed by someone else for key(1)'s account.
    let mut other = transfer(&key(1), 0, 10, 5).tx;
    other.sender = key(0).address();
    let rejection = w.pool.admit(0, other.sign(&key(1)), Origin::Peer, &w.accounts).unwrap_err();
    assert_eq!(rejection.reason(), "bad_signature");

    // The identity point is a small-order key that any signature would satisfy laxly.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    w.accounts.insert(Address(identity), tandem_types::Account { balance: 1_000, nonce: 0 });
    let mut weak = transfer(&key(0), 0, 10, 5);
    weak.tx.sender = Address(identity);
    let rejection = w.pool.admit(0, weak, Origin::Peer, &w.accounts).unwrap_err();
    assert_eq!(rejection, Rejection::BadSignature(SignatureError::WeakKey));
    assert!(w.pool.is_empty());
}

#[test]
fn a_sender_whose_key_the_pool_keeps_still_has_every_signature_checked() {
    let mut w = world();
    w.pool.admit(0, transfer(&key(0), 0, 10, 5), Origin::Client, &w.accounts).unwrap();
    assert!(w.pool.sender_key(&key(0).address()).is_some(), "kept after the first admission");
    let mut forged = transfer(&key(0), 1, 10, 5);
    forged.signature.0[5] ^= 1;
    let rejection = w.pool.admit(0, forged.clone(), Origin::Client, &w.accounts).unwrap_err();
    assert_eq!(rejection, Rejection::BadSignature(SignatureError::Invalid));
    // The same on the split path, with the kept key.
    let kept = w.pool.sender_key(&key(0).address());
    assert_eq!(Mempool::verify_signature(&forged, kept).unwrap_err(), SignatureError::Invalid);
    let valid = transfer(&key(0), 1, 10, 5);
    let sender_key = Mempool::verify_signature(&valid, kept).unwrap();
    w.pool.admit_verified(0, valid, sender_key, Origin::Client, &w.accounts).unwrap();
    assert_eq!(w.pool.len(), 2);
}

#[test]
fn a_used_nonce_is_nonce_too_low() {
    let mut w = world();
    w.fund(&key(0), 1_000, 5);
    let rejection = w.pool.admit(0, transfer(&key(0), 3, 10, 5), Origin::Client, &w.accounts);
    let rejection = rejection.unwrap_err();
    assert_eq!(rejection.to_string(), "nonce 3 is below the account nonce 5");
    assert_eq!(rejection.reason(), "nonce_too_low");
}

#[test]
fn nonces_beyond_the_gap_are_nonce_too_high() {
    let mut w = world();
    w.fund(&key(0), 1_000, 5);
    let accepted = w.pool.admit(0, transfer(&key(0), 69, 10, 1), Origin::Client, &w.accounts);
    assert!(!accepted.unwrap().ready, "64 nonces ahead is held, not ready");
    let rejection = w.pool.admit(0, transfer(&key(0), 70, 10, 1), Origin::Client, &w.accounts);
    assert_eq!(
        rejection.unwrap_err(),
        Rejection::NonceTooHigh { nonce: 70, pending_nonce: 5, gap_max: 64 }
    );
    // The window follows the sender's pending nonce: with 5..=7 queued it ends at 72.
    for nonce in 5..=7 {
        w.pool.admit(0, transfer(&key(0), nonce, 10, 1), Origin::Client, &w.accounts).unwrap();
    }
    assert_eq!(w.pool.pending_nonce(&key(0).address()), Some(8));
    assert!(w.pool.admit(0, transfer(&key(0), 72, 10, 1), Origin::Client, &w.accounts).is_ok());
    let rejection = w.pool.admit(0, transfer(&key(0), 73, 10, 1), Origin::Client, &w.accounts);
    assert_eq!(rejection.unwrap_err().reason(), "nonce_too_high");
}

#[test]
fn the_balance_covers_this_and_the_earlier_queued_transactions() {
    let mut w = world();
    w.fund(&key(0), 100, 0);
    let too_much = w.pool.admit(0, transfer(&key(0), 0, 10, 91), Origin::Client, &w.accounts);
    let rejection = too_much.unwrap_err();
    assert_eq!(rejection, Rejection::InsufficientBalance { balance: 100, required: 101 });
    assert_eq!(rejection.reason(), "insufficient_balance");

    w.pool.admit(0, transfer(&key(0), 0, 10, 50), Origin::Client, &w.accounts).unwrap();
    let second = w.pool.admit(0, transfer(&key(0), 1, 10, 31), Origin::Client, &w.accounts);
    assert_eq!(second.unwrap_err(), Rejection::InsufficientBalance { balance: 100, required: 101 });
    assert!(w.pool.admit(0, transfer(&key(0), 1, 10, 30), Origin::Client, &w.accounts).is_ok());

    let overflow =
        w.pool.admit(0, transfer(&key(1), 0, 10, u128::MAX), Origin::Client, &w.accounts);
    let rejection = overflow.unwrap_err();
    assert_eq!(rejection, Rejection::CostOverflow);
    assert_eq!(rejection.reason(), "insufficient_balance");
}

#[test]
fn a_known_hash_is_duplicate_in_the_pool_and_after_inclusion() {
    let mut w = world();
    let tx = transfer(&key(0), 0, 10, 5);
    w.pool.admit(0, tx.clone(), Origin::Client, &w.accounts).unwrap();
    let rejection = w.pool.admit(0, tx.clone(), Origin::Peer, &w.accounts).unwrap_err();
    assert_eq!(rejection, Rejection::Duplicate(tx.hash()));
    assert_eq!(rejection.reason(), "duplicate");

    w.commit(1, std::slice::from_ref(&tx));
    assert!(!w.pool.contains(&tx.hash()));
    let again = w.pool.admit(2, tx.clone(), Origin::Peer, &w.accounts).unwrap_err();
    assert_eq!(again.reason(), "duplicate", "included hashes are remembered");

    // A transaction included without passing through this pool is remembered too.
    let elsewhere = transfer(&key(1), 0, 10, 5);
    w.commit(3, std::slice::from_ref(&elsewhere));
    let rejection = w.pool.admit(4, elsewhere, Origin::Peer, &w.accounts).unwrap_err();
    assert_eq!(rejection.reason(), "duplicate");
}

#[test]
fn the_sender_cap_is_sender_limit() {
    let mut w = World::new(MempoolConfig { sender_txs_max: 3, ..MempoolConfig::default() });
    w.fund(&key(0), 1_000, 0);
    for nonce in 0..3 {
        w.pool.admit(0, transfer(&key(0), nonce, 10, 1), Origin::Client, &w.accounts).unwrap();
    }
    let rejection = w.pool.admit(0, transfer(&key(0), 3, 10, 1), Origin::Client, &w.accounts);
    let rejection = rejection.unwrap_err();
    assert_eq!(rejection, Rejection::SenderLimit { sender: key(0).address(), queued: 3 });
    assert_eq!(rejection.reason(), "sender_limit");
    // A replacement is not a new transaction: it passes the cap.
    let replacement = w.pool.admit(0, transfer(&key(0), 2, 11, 1), Origin::Client, &w.accounts);
    assert!(replacement.unwrap().replaced.is_some());
}

#[test]
fn replace_by_fee_needs_the_bump_and_the_balance() {
    let mut w = world();
    w.fund(&key(0), 300, 0);
    let old = transfer(&key(0), 0, 100, 5);
    w.pool.admit(0, old.clone(), Origin::Client, &w.accounts).unwrap();

    let low = w.pool.admit(1, transfer(&key(0), 0, 109, 5), Origin::Client, &w.accounts);
    let rejection = low.unwrap_err();
    assert_eq!(rejection, Rejection::ReplacementUnderpriced { nonce: 0, fee: 109, required: 110 });
    assert_eq!(rejection.reason(), "fee_too_low");
    assert!(rejection.to_string().contains("a fee of at least 110"), "{rejection}");

    let unaffordable = w.pool.admit(1, transfer(&key(0), 0, 110, 191), Origin::Client, &w.accounts);
    assert_eq!(unaffordable.unwrap_err().reason(), "insufficient_balance");

    let new = transfer(&key(0), 0, 110, 5);
    let admitted = w.pool.admit(1, new.clone(), Origin::Client, &w.accounts).unwrap();
    assert_eq!(admitted.replaced, Some(old.hash()));
    assert!(!w.pool.contains(&old.hash()) && w.pool.contains(&new.hash()));
    assert_eq!((w.pool.len(), w.pool.bytes()), (1, 177));
    assert_eq!(w.pool.metrics().replaced, 1);
    assert_eq!(w.pool.reap(10, 1 << 20), vec![new]);
    let back = w.pool.admit(2, old, Origin::Client, &w.accounts).unwrap_err();
    assert_eq!(back.reason(), "duplicate", "the replaced transaction cannot come back");
}

#[test]
fn a_costlier_replacement_drops_later_transactions_it_leaves_uncovered() {
    let mut w = world();
    w.fund(&key(0), 100, 0);
    w.pool.admit(0, transfer(&key(0), 0, 10, 10), Origin::Client, &w.accounts).unwrap();
    let second = transfer(&key(0), 1, 10, 40);
    w.pool.admit(0, second.clone(), Origin::Client, &w.accounts).unwrap();
    let third = transfer(&key(0), 2, 10, 10);
    w.pool.admit(0, third.clone(), Origin::Client, &w.accounts).unwrap();
    // 20 + 50 + 20 = 90 is covered; replacing nonce 0 with a cost of 60 leaves room for 40.
    let admitted = w.pool.admit(1, transfer(&key(0), 0, 20, 40), Origin::Client, &w.accounts);
    let admitted = admitted.unwrap();
    assert_eq!(admitted.dropped, vec![second.hash()], "60 + 50 > 100, while 60 + 20 fits");
    assert!(w.pool.contains(&third.hash()));
    assert_eq!(w.pool.pending_nonce(&key(0).address()), Some(1), "nonce 2 is held behind the gap");
    assert_eq!(w.pool.reap(10, 1 << 20).len(), 1);
    assert_eq!(w.pool.metrics().dropped, 1);
}

#[test]
fn filling_a_gap_drops_a_later_transaction_the_balance_no_longer_covers() {
    let mut w = world();
    w.fund(&key(0), 100, 0);
    let later = transfer(&key(0), 1, 10, 50);
    w.pool.admit(0, later.clone(), Origin::Client, &w.accounts).unwrap();
    // Nonce 0 is judged against the transactions before it (none): 60 fits the 100.
    let first = w.pool.admit(1, transfer(&key(0), 0, 10, 50), Origin::Client, &w.accounts);
    let first = first.unwrap();
    assert!(first.ready);
    assert_eq!(first.dropped, vec![later.hash()], "60 + 60 exceeds 100");
    assert_eq!(w.pool.len(), 1);
}

#[test]
fn a_full_pool_evicts_the_lowest_fee_tail_or_refuses() {
    // Clients may fill the whole pool here; the client share has its own test.
    let config = MempoolConfig {
        txs_max: 3,
        full_retry_after_ms: 250,
        client_share_percent: 100,
        ..MempoolConfig::default()
    };
    let mut w = World::new(config);
    for i in 0..4 {
        w.fund(&key(i), 1_000, 0);
    }
    let a0 = transfer(&key(0), 0, 50, 1);
    let a1 = transfer(&key(0), 1, 15, 1);
    let b0 = transfer(&key(1), 0, 20, 1);
    for tx in [&a0, &a1, &b0] {
        w.pool.admit(0, tx.clone(), Origin::Client, &w.accounts).unwrap();
    }
    // Equal to the lowest fee: refused with the retry hint.
    let refused = w.pool.admit(1, transfer(&key(2), 0, 15, 1), Origin::Client, &w.accounts);
    let rejection = refused.unwrap_err();
    assert_eq!(rejection.reason(), "mempool_full");
    assert_hint_within(&rejection, 250);

    // Higher: evicts key(0)'s last nonce (fee 15), never its nonce 0.
    let c0 = transfer(&key(2), 0, 16, 1);
    let admitted = w.pool.admit(1, c0.clone(), Origin::Client, &w.accounts).unwrap();
    assert_eq!(admitted.evicted, vec![a1.hash()]);
    assert!(w.pool.contains(&a0.hash()) && w.pool.contains(&c0.hash()));
    assert_eq!(w.pool.len(), 3);
    assert_eq!(w.pool.metrics().evicted, 1);

    // Tails now: a0 (50), b0 (20), c0 (16). A fee of 17 evicts c0 (the lowest).
    let d0 = transfer(&key(3), 0, 17, 1);
    assert_eq!(w.pool.admit(2, d0, Origin::Client, &w.accounts).unwrap().evicted, vec![c0.hash()]);
    // A sender never evicts its own transactions: key(3)'s nonce 1 at fee 18 would have to
    // push out d0 (17, its own) and it cannot outbid b0 (20) or a0 (50).
    let own = w.pool.admit(3, transfer(&key(3), 1, 18, 1), Origin::Client, &w.accounts);
    assert_eq!(own.unwrap_err().reason(), "mempool_full");
}

#[test]
fn clients_fill_only_their_share_and_peers_the_rest() {
    let config = MempoolConfig { txs_max: 4, client_share_percent: 50, ..MempoolConfig::default() };
    let mut w = World::new(config);
    for i in 0..6 {
        w.fund(&key(i), 1_000, 0);
    }
    for i in 0..2 {
        assert!(!w.pool.is_full_for_clients(), "{i} of 2");
        w.pool.admit(0, transfer(&key(i), 0, 20, 1), Origin::Client, &w.accounts).unwrap();
    }
    assert!(w.pool.is_full_for_clients());
    // Half full: a third client transaction is refused before its signature is looked at,
    // with the retry hint, and nothing is evicted for it at an equal fee.
    let mut bad_signature = transfer(&key(2), 0, 20, 1);
    bad_signature.signature.0[0] ^= 1;
    let refused = w.pool.precheck(&bad_signature, Origin::Client, &w.accounts).unwrap_err();
    assert_hint_within(&refused, 1_000);
    let refused = w.pool.admit(0, transfer(&key(2), 0, 20, 1), Origin::Client, &w.accounts);
    assert_eq!(refused.unwrap_err().reason(), "mempool_full");
    // A peer's transactions fill the rest of the pool.
    for i in 2..4 {
        w.pool.admit(0, transfer(&key(i), 0, 20, 1), Origin::Peer, &w.accounts).unwrap();
    }
    assert_eq!(w.pool.len(), 4);
    let full = w.pool.admit(0, transfer(&key(4), 0, 20, 1), Origin::Peer, &w.accounts);
    assert_eq!(full.unwrap_err().reason(), "mempool_full");
    // Above its share a client's higher fee still buys a place, one out for one in.
    let outbidding = w.pool.admit(0, transfer(&key(4), 0, 21, 1), Origin::Client, &w.accounts);
    assert_eq!(outbidding.unwrap().evicted.len(), 1);
    assert_eq!(w.pool.len(), 4);
    // So does a peer's, in the full pool.
    let admitted = w.pool.admit(0, transfer(&key(5), 0, 21, 1), Origin::Peer, &w.accounts);
    assert_eq!(admitted.unwrap().evicted.len(), 1);
    assert_eq!(w.pool.metrics().rejected_for("mempool_full"), 3);
}

#[test]
fn the_retry_hint_is_the_time_the_chain_needs_to_include_the_pool() {
    let config = MempoolConfig {
        txs_max: 4,
        full_retry_after_ms: 100,
        client_share_percent: 100,
        ..MempoolConfig::default()
    };
    let mut w = World::new(config);
    for i in 0..8 {
        w.fund(&key(i), 1_000_000, 0);
    }
    // Blocks from other senders: 4 transactions included over the 2 s after the first block.
    w.commit(0, &[transfer(&key(5), 0, 20, 1)]);
    w.commit(1_000, &[transfer(&key(5), 1, 20, 1), transfer(&key(6), 0, 20, 1)]);
    w.commit(2_000, &[transfer(&key(5), 2, 20, 1), transfer(&key(6), 1, 20, 1)]);
    for i in 0..4 {
        w.pool.admit(2_000, transfer(&key(i), 0, 20, 1), Origin::Client, &w.accounts).unwrap();
    }
    // Four held at two a second: a held newcomer (nonce 1 without nonce 0) comes back in
    // 2 s, not after the configured 100 ms.
    let refused = w.pool.admit(2_000, transfer(&key(4), 1, 20, 1), Origin::Client, &w.accounts);
    assert_hint_within(&refused.unwrap_err(), 2_000);
    assert_eq!(w.pool.retry_after_ms(), 2_000);
    // One that could execute at once is told the least hint: its account waits on it, and it
    // evicts a held one as soon as there is one.
    let refused = w.pool.admit(2_000, transfer(&key(7), 0, 20, 1), Origin::Client, &w.accounts);
    assert_hint_within(&refused.unwrap_err(), 100);
    // A slow chain's hint is capped: one transaction in 10 s would say 70 s for seven.
    let mut slow = World::new(MempoolConfig { txs_max: 7, ..MempoolConfig::default() });
    slow.fund(&key(5), 1_000, 0);
    slow.commit(0, &[]);
    slow.commit(10_000, &[transfer(&key(5), 0, 20, 1)]);
    assert_eq!(slow.pool.retry_after_ms(), 1_000, "an empty pool needs no time");
    for i in 0..3 {
        slow.fund(&key(i), 1_000, 0);
        slow.pool.admit(10_000, transfer(&key(i), 0, 20, 1), Origin::Peer, &slow.accounts).unwrap();
    }
    assert_eq!(slow.pool.retry_after_ms(), 30_000);
    for i in 6..10 {
        slow.fund(&key(i), 1_000, 0);
        slow.pool.admit(10_000, transfer(&key(i), 0, 20, 1), Origin::Peer, &slow.accounts).unwrap();
    }
    assert_eq!(slow.pool.retry_after_ms(), RETRY_AFTER_MAX_MS);
}

/// Checks that `rejection` is `mempool_full` with a hint between `base_ms` and half as much
/// again.
fn assert_hint_within(rejection: &Rejection, base_ms: u64) {
    let Rejection::MempoolFull { retry_after_ms } = *rejection else {
        panic!("mempool_full expected, got {rejection:?}");
    };
    assert!(
        (base_ms..base_ms + base_ms / 2).contains(&retry_after_ms),
        "{retry_after_ms} ms is not within [{base_ms}, 1.5 × {base_ms})"
    );
}

#[test]
fn clients_refused_together_are_told_different_times() {
    let config =
        MempoolConfig { txs_max: 1, client_share_percent: 100, ..MempoolConfig::default() };
    let mut w = World::new(config);
    for i in 0..41 {
        w.fund(&key(i), 1_000, 0);
    }
    w.pool.admit(0, transfer(&key(40), 0, 20, 1), Origin::Client, &w.accounts).unwrap();
    let hints: BTreeSet<u64> = (0..40)
        .map(|i| {
            let tx = transfer(&key(i), 0, 20, 1);
            let refused = w.pool.admit(0, tx.clone(), Origin::Client, &w.accounts).unwrap_err();
            assert_hint_within(&refused, 1_000);
            refused.retry_after_ms().unwrap()
        })
        .collect();
    // Forty draws over 500 ms: a handful could collide, not most.
    assert!(hints.len() >= 30, "only {} different hints", hints.len());
    let spread_ms = hints.last().unwrap() - hints.first().unwrap();
    assert!(spread_ms >= 300, "hints spread over {spread_ms} ms only");
}

#[test]
fn held_transactions_give_way_to_ready_ones() {
    let config =
        MempoolConfig { txs_max: 2, client_share_percent: 100, ..MempoolConfig::default() };
    let mut w = World::new(config);
    for i in 0..4 {
        w.fund(&key(i), 1_000, 0);
    }
    // Two held transactions (nonce 1 without nonce 0) with high fees fill the pool.
    let held_a = transfer(&key(0), 1, 90, 1);
    let held_b = transfer(&key(1), 1, 80, 1);
    for tx in [&held_a, &held_b] {
        assert!(!w.pool.admit(0, tx.clone(), Origin::Client, &w.accounts).unwrap().ready);
    }
    // A ready transaction at the minimum fee evicts the cheaper held one.
    let ready = transfer(&key(2), 0, MIN_FEE, 1);
    let admitted = w.pool.admit(1, ready.clone(), Origin::Client, &w.accounts).unwrap();
    assert_eq!((admitted.ready, admitted.evicted), (true, vec![held_b.hash()]));
    // A held newcomer never pushes out a ready transaction, and a held one only with a
    // higher fee: at 90 it cannot outbid held_a (90).
    let held_c = transfer(&key(3), 1, 90, 1);
    let refused = w.pool.admit(2, held_c, Origin::Client, &w.accounts);
    assert_eq!(refused.unwrap_err().reason(), "mempool_full");
    let held_d = transfer(&key(3), 1, 91, 1);
    let admitted = w.pool.admit(2, held_d.clone(), Origin::Client, &w.accounts).unwrap();
    assert_eq!(admitted.evicted, vec![held_a.hash()]);
    // Ready ones evict ready ones only with a higher fee, and held ones first.
    let cheap = w.pool.admit(3, transfer(&key(1), 0, MIN_FEE, 1), Origin::Client, &w.accounts);
    assert_eq!(cheap.unwrap().evicted, vec![held_d.hash()], "the held one goes first");
    let equal = w.pool.admit(3, transfer(&key(0), 0, MIN_FEE, 1), Origin::Client, &w.accounts);
    assert_eq!(equal.unwrap_err().reason(), "mempool_full");
    let higher = transfer(&key(0), 0, MIN_FEE + 1, 1);
    assert_eq!(w.pool.admit(4, higher, Origin::Client, &w.accounts).unwrap().evicted.len(), 1);
}

#[test]
fn the_byte_cap_counts_too() {
    let config = MempoolConfig {
        bytes_max: 177 * 2,
        tx_bytes_max: 177,
        client_share_percent: 100,
        ..MempoolConfig::default()
    };
    let mut w = World::new(config);
    for i in 0..3 {
        w.fund(&key(i), 1_000, 0);
    }
    w.pool.admit(0, transfer(&key(0), 0, 10, 1), Origin::Client, &w.accounts).unwrap();
    w.pool.admit(0, transfer(&key(1), 0, 12, 1), Origin::Client, &w.accounts).unwrap();
    let full = w.pool.admit(0, transfer(&key(2), 0, 10, 1), Origin::Client, &w.accounts);
    assert_eq!(full.unwrap_err().reason(), "mempool_full");
    let evicting = w.pool.admit(0, transfer(&key(2), 0, 11, 1), Origin::Client, &w.accounts);
    assert_eq!(evicting.unwrap().evicted.len(), 1);
    assert_eq!(w.pool.bytes(), 177 * 2);
}

#[test]
fn every_reason_is_counted_once_per_rejection() {
    let mut w = World::new(MempoolConfig { txs_max: 1, sender_txs_max: 1, ..Default::default() });
    w.fund(&key(0), 1_000, 2);
    w.fund(&key(1), 1_000, 0);
    let ok = transfer(&key(0), 2, 10, 1);
    w.pool.admit(0, ok.clone(), Origin::Client, &w.accounts).unwrap();
    let mut bad_sig = transfer(&key(1), 0, 20, 1);
    bad_sig.signature.0[0] ^= 1;
    let mut wrong_chain = transfer(&key(1), 0, 10, 1).tx;
    wrong_chain.chain_id = 1;
    let cases = [
        transfer(&key(0), 1, 10, 1),     // nonce_too_low
        transfer(&key(0), 3, 10, 1),     // sender_limit
        transfer(&key(1), 70, 10, 1),    // nonce_too_high
        transfer(&key(1), 0, 10, 2_000), // insufficient_balance
        transfer(&key(1), 0, 1, 1),      // fee_too_low
        ok,                              // duplicate
        transfer(&key(1), 0, 10, 1),     // mempool_full
        bad_sig,                         // bad_signature
        wrong_chain.sign(&key(1)),       // wrong_chain
    ];
    for tx in cases {
        let _ = w.pool.admit(0, tx, Origin::Client, &w.accounts).unwrap_err();
    }
    let _ = w.pool.admit_bytes(0, &[1, 2, 3], Origin::Peer, &w.accounts).unwrap_err();
    let _ = w.pool.admit_bytes(0, &[0; 2_000], Origin::Peer, &w.accounts).unwrap_err();
    let metrics = w.pool.metrics();
    for reason in REASONS {
        assert_eq!(metrics.rejected_for(reason), 1, "{reason}");
    }
    assert_eq!(metrics.rejected_by_reason().count(), REASONS.len());
    assert_eq!((metrics.admitted, metrics.txs, metrics.bytes), (1, 1, 177));
}
