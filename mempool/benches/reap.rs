//! Reaping a 10,000-transaction block from a full pool of 50,000 (10,000 senders with five
//! consecutive nonces each, fees spread over 1..=100). Timed by wall clock and by the
//! thread's CPU time.
#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use common::Clock;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tandem_mempool::{Mempool, MempoolConfig, Origin};
use tandem_types::{sha256, Account, Action, Address, ChainParams, SecretKey, Transaction};

const CHAIN_ID: u64 = 1;
const SENDERS: usize = 10_000;
const NONCES: u64 = 5;

fn full_pool() -> Mempool {
    let params = ChainParams {
        min_fee: 1,
        block_txs_max: 10_000,
        block_bytes_max: 4 << 20,
        batch_blocks: 100,
    };
    let mut pool = Mempool::new(MempoolConfig::default(), CHAIN_ID, &params).expect("config");
    let keys: Vec<SecretKey> = (0..SENDERS)
        .map(|i| SecretKey::from_seed(&sha256(&[b"reap".as_slice(), &i.to_le_bytes()].concat()).0))
        .collect();
    let accounts: BTreeMap<Address, Account> =
        keys.iter().map(|k| (k.address(), Account { balance: 1 << 60, nonce: 0 })).collect();
    for nonce in 0..NONCES {
        for (i, from) in keys.iter().enumerate() {
            let tx = Transaction {
                chain_id: CHAIN_ID,
                sender: from.address(),
                nonce,
                fee: 1 + (i as u128 * 7919 + u128::from(nonce) * 31) % 100,
                action: Action::Transfer { to: keys[(i + 1) % SENDERS].address(), amount: 3 },
            };
            pool.admit(0, tx.sign(from), Origin::Peer, &accounts).expect("valid");
        }
    }
    assert_eq!(pool.len(), SENDERS * NONCES as usize);
    pool
}

fn bench_reap(c: &mut Criterion) {
    let pool = full_pool();
    let mut group = c.benchmark_group("reap");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(10_000));
    for clock in Clock::BOTH {
        group.bench_function(BenchmarkId::new("10000_of_50000", clock.name()), |b| {
            b.iter_custom(|iters| {
                let (elapsed, ()) = clock.time(|| {
                    for _ in 0..iters {
                        assert_eq!(pool.reap(10_000, 4 << 20).len(), 10_000);
                    }
                });
                elapsed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_reap);
criterion_main!(benches);
