//! After admission: reaping order, gaps held then promoted, blocks, expiry and gossip.

mod common;

use common::*;
use tandem_mempool::{decode_gossip_batch, encode_gossip_batch, MempoolConfig, Origin};
use tandem_types::SignedTransaction;

fn world(senders: u32) -> World {
    let mut world = World::new(MempoolConfig::default());
    for i in 0..senders {
        world.fund(&key(i), 10_000, 0);
    }
    world
}

fn admit(w: &mut World, now_ms: u64, tx: &SignedTransaction) {
    w.pool.admit(now_ms, tx.clone(), Origin::Client, &w.accounts).expect("admitted");
}

#[test]
fn reaping_orders_by_fee_then_arrival_and_keeps_each_senders_nonces_in_order() {
    let mut w = world(3);
    let a0 = transfer(&key(0), 0, 10, 1);
    let a1 = transfer(&key(0), 1, 90, 1); // a high fee cannot jump its own nonce 0
    let b0 = transfer(&key(1), 0, 50, 1);
    let c0 = transfer(&key(2), 0, 50, 1); // same fee as b0, later: after it
    let c1 = transfer(&key(2), 1, 20, 1);
    for tx in [&a0, &a1, &b0, &c0, &c1] {
        admit(&mut w, 0, tx);
    }
    let all = w.pool.reap(100, 1 << 20);
    assert_eq!(all, vec![b0.clone(), c0.clone(), c1.clone(), a0.clone(), a1.clone()]);
    assert_eq!(w.pool.reap(2, 1 << 20), vec![b0.clone(), c0.clone()]);
    assert_eq!(w.pool.reap(100, 177 * 3), vec![b0, c0, c1]);
    assert_eq!(w.pool.reap(100, 176), vec![]);
    assert_eq!(w.pool.len(), 5, "reaping removes nothing");
}

#[test]
fn a_gap_is_held_until_filled() {
    let mut w = world(1);
    let n0 = transfer(&key(0), 0, 10, 1);
    let n1 = transfer(&key(0), 1, 10, 1);
    let n2 = transfer(&key(0), 2, 10, 1);
    let held = w.pool.admit(0, n2.clone(), Origin::Client, &w.accounts).unwrap();
    assert!(!held.ready);
    let held = w.pool.admit(0, n1.clone(), Origin::Client, &w.accounts).unwrap();
    assert!(!held.ready);
    assert_eq!(w.pool.reap(10, 1 << 20), vec![]);
    assert_eq!(w.pool.pending_nonce(&key(0).address()), Some(0));
    assert!(w.pool.admit(0, n0.clone(), Origin::Client, &w.accounts).unwrap().ready);
    assert_eq!(w.pool.reap(10, 1 << 20), vec![n0, n1, n2]);
    assert_eq!(w.pool.pending_nonce(&key(0).address()), Some(3));
}

#[test]
fn a_block_from_elsewhere_closes_a_gap() {
    let mut w = world(1);
    let n1 = transfer(&key(0), 1, 10, 1);
    admit(&mut w, 0, &n1);
    // Nonce 0 reached another validator and was decided there.
    let n0 = transfer(&key(0), 0, 10, 1);
    let committed = w.commit(5, std::slice::from_ref(&n0));
    assert!(committed.included.is_empty() && committed.dropped.is_empty());
    assert_eq!(w.pool.reap(10, 1 << 20), vec![n1]);
    assert_eq!(w.pool.pending_nonce(&key(0).address()), Some(2));
}

#[test]
fn a_committed_block_removes_its_transactions_and_what_became_invalid() {
    let mut w = world(3);
    w.fund(&key(1), 100, 0);
    let a0 = transfer(&key(0), 0, 10, 1);
    let a1 = transfer(&key(0), 1, 10, 1);
    let b0 = transfer(&key(1), 0, 10, 20);
    let b1 = transfer(&key(1), 1, 10, 20);
    let b2 = transfer(&key(1), 2, 10, 30);
    let c0 = transfer(&key(2), 0, 10, 1);
    for tx in [&a0, &a1, &b0, &b1, &b2, &c0] {
        admit(&mut w, 0, tx);
    }
    // The block holds a0, and another nonce-0 transaction of key(1) that spends 50 of 100:
    // b0 lost its nonce; b1 (30) still fits the remaining 50, b2 (40) no longer does.
    let b0_elsewhere = transfer(&key(1), 0, 10, 40);
    let committed = w.commit(1, &[a0.clone(), b0_elsewhere]);
    assert_eq!(committed.included, vec![a0.hash()]);
    assert_eq!(committed.dropped, vec![b0.hash(), b2.hash()]);
    assert_eq!(w.pool.reap(10, 1 << 20), vec![a1.clone(), b1.clone(), c0.clone()]);
    assert_eq!(w.pool.pending_nonce(&key(1).address()), Some(2));

    // b1 is included by the next block; key(1) leaves the pool.
    let committed = w.commit(2, std::slice::from_ref(&b1));
    assert_eq!((committed.included, committed.dropped), (vec![b1.hash()], vec![]));
    assert_eq!(w.pool.pending_nonce(&key(1).address()), None);
    assert_eq!(w.pool.len(), 2);
    let metrics = w.pool.metrics();
    assert_eq!((metrics.included, metrics.dropped), (2, 2));
}

#[test]
fn admission_notices_an_account_that_moved_without_a_block_notice() {
    let mut w = world(1);
    let n0 = transfer(&key(0), 0, 10, 1);
    admit(&mut w, 0, &n0);
    w.fund(&key(0), 10_000, 1); // state moved on; the pool was not told yet
    let n1 = transfer(&key(0), 1, 10, 1);
    let admitted = w.pool.admit(1, n1.clone(), Origin::Client, &w.accounts).unwrap();
    assert_eq!(admitted.dropped, vec![n0.hash()]);
    assert!(admitted.ready);
    assert_eq!(w.pool.reap(10, 1 << 20), vec![n1]);
}

#[test]
fn transactions_expire_after_the_ttl() {
    let mut w = World::new(MempoolConfig { ttl_ms: 10_000, ..MempoolConfig::default() });
    w.fund(&key(0), 1_000, 0);
    w.fund(&key(1), 1_000, 0);
    let a0 = transfer(&key(0), 0, 10, 1);
    let a1 = transfer(&key(0), 1, 10, 1);
    let b0 = transfer(&key(1), 0, 10, 1);
    admit(&mut w, 1_000, &a0);
    admit(&mut w, 5_000, &a1);
    admit(&mut w, 6_000, &b0);
    assert_eq!(w.pool.expire(10_999), vec![]);
    assert_eq!(w.pool.expire(11_000), vec![a0.hash()]);
    assert_eq!(w.pool.reap(10, 1 << 20), vec![b0.clone()], "a1 is held behind the expired nonce");
    let committed = w.commit(15_000, &[]);
    assert_eq!(committed.expired, vec![a1.hash()], "blocks expire too");
    assert_eq!(w.pool.expire(100_000), vec![b0.hash()]);
    assert!(w.pool.is_empty());
    assert_eq!(w.pool.metrics().expired, 3);
}

#[test]
fn only_client_transactions_are_gossiped_in_batches() {
    let mut w = World::new(MempoolConfig { gossip_batch_txs_max: 2, ..MempoolConfig::default() });
    for i in 0..4 {
        w.fund(&key(i), 1_000, 0);
    }
    let client: Vec<_> = (0..3).map(|i| transfer(&key(i), 0, 10, 1)).collect();
    let peer = transfer(&key(3), 0, 10, 1);
    w.pool.admit(0, peer, Origin::Peer, &w.accounts).unwrap();
    for tx in &client {
        admit(&mut w, 0, tx);
    }
    assert_eq!(w.pool.take_gossip_batch(), Some(client[..2].to_vec()));
    assert_eq!(w.pool.take_gossip_batch(), Some(client[2..].to_vec()));
    assert_eq!(w.pool.take_gossip_batch(), None);

    // A transaction that left the pool before its turn is not gossiped.
    let gone = transfer(&key(0), 1, 10, 1);
    let kept = transfer(&key(1), 1, 10, 1);
    admit(&mut w, 0, &gone);
    admit(&mut w, 0, &kept);
    w.commit(1, &[client[0].clone(), transfer(&key(0), 1, 10, 5)]);
    let batch = w.pool.take_gossip_batch().unwrap();
    assert_eq!(batch, vec![kept]);
    let bytes = encode_gossip_batch(&batch);
    assert_eq!(decode_gossip_batch(&bytes, 2).unwrap(), batch);
}
