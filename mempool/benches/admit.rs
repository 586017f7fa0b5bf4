//! Admission of fresh signed transfers into an empty pool, signatures checked, from many
//! senders; and the signature check alone on the same transactions, to see what the pool's
//! own bookkeeping costs. Then the refusal of clients' transactions by a pool that holds its
//! clients' share, what a node does for most requests under overload. Each is timed by wall
//! clock and by the thread's CPU time.
#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

// The node runs on mimalloc; admission allocates a little per transaction.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use common::Clock;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tandem_mempool::{Mempool, MempoolConfig, Origin};
use tandem_types::{
    sha256, Account, Action, Address, ChainParams, SecretKey, SignedTransaction, Transaction,
};

const CHAIN_ID: u64 = 1;
const TXS: usize = 10_000;

fn params() -> ChainParams {
    ChainParams { min_fee: 1, block_txs_max: 10_000, block_bytes_max: 4 << 20, batch_blocks: 100 }
}

fn key(index: usize) -> SecretKey {
    SecretKey::from_seed(&sha256(&[b"bench".as_slice(), &index.to_le_bytes()].concat()).0)
}

/// `TXS` transfers from `senders` funded accounts, `TXS / senders` consecutive nonces each,
/// with fees spread over 1..=100.
fn workload(senders: usize) -> (Vec<SignedTransaction>, BTreeMap<Address, Account>) {
    let keys: Vec<SecretKey> = (0..senders).map(key).collect();
    let accounts =
        keys.iter().map(|k| (k.address(), Account { balance: 1 << 60, nonce: 0 })).collect();
    let txs = (0..TXS)
        .map(|i| {
            let from = &keys[i % senders];
            Transaction {
                chain_id: CHAIN_ID,
                sender: from.address(),
                nonce: (i / senders) as u64,
                fee: 1 + (i as u128 * 7919) % 100,
                action: Action::Transfer { to: keys[(i + 1) % senders].address(), amount: 3 },
            }
            .sign(from)
        })
        .collect();
    (txs, accounts)
}

fn admit_all(txs: Vec<SignedTransaction>, accounts: &BTreeMap<Address, Account>) -> Mempool {
    // Admission itself: clients may fill the whole pool here.
    let config = MempoolConfig { client_share_percent: 100, ..MempoolConfig::default() };
    let mut pool = Mempool::new(config, CHAIN_ID, &params()).expect("config");
    for tx in txs {
        pool.admit(0, tx, Origin::Client, accounts).expect("every bench transfer is valid");
    }
    pool
}

fn verify_all(txs: &[SignedTransaction]) {
    for tx in txs {
        tx.verify_signature().expect("signed by its sender");
    }
}

fn bench_admission(c: &mut Criterion) {
    let mut group = c.benchmark_group("admit");
    group.sample_size(10).measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(TXS as u64));
    for senders in [10_000, 1_000] {
        let (txs, accounts) = workload(senders);
        for clock in Clock::BOTH {
            let id = BenchmarkId::new(format!("signed_transfers/{}", clock.name()), senders);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let txs = txs.clone();
                            let (elapsed, pool) = clock.time(|| admit_all(txs, &accounts));
                            drop(pool);
                            elapsed
                        })
                        .sum()
                });
            });
            let id = BenchmarkId::new(format!("signature_check_only/{}", clock.name()), senders);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| clock.time(|| (0..iters).for_each(|_| verify_all(&txs))).0);
            });
        }
    }
    group.finish();
}

/// A pool holding its clients' share of ready transfers at fee 100, and `TXS` transfers at fee
/// 1 from other funded senders, each of which it refuses with `mempool_full`.
fn full_pool() -> (Mempool, Vec<SignedTransaction>, BTreeMap<Address, Account>) {
    let config = MempoolConfig::default();
    let (share, _) = config.caps_for(Origin::Client);
    let mut pool = Mempool::new(config, CHAIN_ID, &params()).expect("config");
    let keys: Vec<SecretKey> = (0..share + TXS).map(key).collect();
    let accounts: BTreeMap<Address, Account> =
        keys.iter().map(|k| (k.address(), Account { balance: 1 << 60, nonce: 0 })).collect();
    let transfer = |from: &SecretKey, fee| {
        let action = Action::Transfer { to: keys[0].address(), amount: 3 };
        Transaction { chain_id: CHAIN_ID, sender: from.address(), nonce: 0, fee, action }.sign(from)
    };
    for from in &keys[..share] {
        pool.admit(0, transfer(from, 100), Origin::Client, &accounts).expect("room");
    }
    let refused = keys[share..].iter().map(|from| transfer(from, 1)).collect();
    (pool, refused, accounts)
}

fn bench_refusal(c: &mut Criterion) {
    let mut group = c.benchmark_group("refuse");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(TXS as u64));
    let (mut pool, txs, accounts) = full_pool();
    for clock in Clock::BOTH {
        let id = BenchmarkId::new(format!("mempool_full/{}", clock.name()), TXS);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let txs = txs.clone();
                    elapsed += clock
                        .time(|| {
                            for tx in txs {
                                let refused = pool.admit(0, tx, Origin::Client, &accounts);
                                assert!(refused.is_err(), "the pool holds its clients' share");
                            }
                        })
                        .0;
                }
                elapsed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_admission, bench_refusal);
criterion_main!(benches);
