//! A node's work for a refused client transaction, which is most of what it does under
//! overload: `tandem_sendTransaction` refused with `mempool_full` by a pool that holds its
//! clients' share, through the node's JSON-RPC module (jsonrpsee's dispatch, the parameter's
//! JSON and hex, the pool's checks, the error's JSON), 256 calls; and the same transactions
//! given straight to the pool, to see what the rest costs (in-process, one thread, one call
//! at a time: the module takes no batches); and the same 256 in batch requests of 256 and of
//! 32 over HTTP to the node's real server on loopback, timed by the CPU time of the server's
//! one thread (the client's work not counted).
#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::params::BatchRequestBuilder;
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::HttpClientBuilder;
use tandem_consensus::ConsensusStatus;
use tandem_executor::Executor;
use tandem_mempool::{Mempool, MempoolConfig};
use tandem_network::{NetworkConfig, PeerSet, QuicNetwork};
use tandem_node::api::methods;
use tandem_node::pool::SharedPool;
use tandem_node::rpc::{module, start, RpcContext, RpcLimits};
use tandem_types::json::to_hex;
use tandem_types::{
    sha256, Action, Address, ChainParams, Genesis, GenesisAccount, GenesisValidator, L1Address,
    SecretKey, SignedTransaction, Transaction,
};
use tokio::sync::{broadcast, watch, Notify};

const CHAIN_ID: u64 = 9;
/// Refused transactions per iteration (`tandem bench` batches 256 per request).
const BATCH: usize = 256;
/// Clients' transactions the pool holds before it refuses the rest.
const POOLED: usize = 64;

fn key(index: usize) -> SecretKey {
    SecretKey::from_seed(&sha256(&[b"refuse".as_slice(), &index.to_le_bytes()].concat()).0)
}

fn transfer(from: &SecretKey, fee: u128) -> SignedTransaction {
    let action = Action::Transfer { to: Address([7; 32]), amount: 1 };
    Transaction { chain_id: CHAIN_ID, sender: from.address(), nonce: 0, fee, action }.sign(from)
}

/// A one-validator genesis funding `POOLED + BATCH` senders, its store in `dir`, and a pool
/// that holds `POOLED` client transactions at fee 100: full for clients.
fn full_pool(dir: &std::path::Path) -> (Genesis, Executor, Arc<SharedPool>) {
    let validator = SecretKey::from_seed(&[1; 32]);
    let params = ChainParams {
        min_fee: 1,
        block_txs_max: 1_000,
        block_bytes_max: 1 << 20,
        batch_blocks: 100,
    };
    let mut accounts: Vec<GenesisAccount> = (0..POOLED + BATCH)
        .map(|i| GenesisAccount { address: key(i).address(), balance: 1 << 40 })
        .collect();
    accounts.sort_by_key(|account| account.address);
    let genesis = Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 0,
        params,
        validators: vec![GenesisValidator {
            address: validator.address(),
            l1_address: L1Address([1; 20]),
            power: 1,
        }],
        accounts,
    };
    let executor = Executor::open(&dir.join("store.redb"), genesis.clone()).expect("store");
    let config =
        MempoolConfig { txs_max: POOLED, client_share_percent: 100, ..MempoolConfig::default() };
    let mempool = Mempool::new(config, CHAIN_ID, &genesis.params).expect("config");
    let pool =
        Arc::new(SharedPool::new(mempool, executor.committed_accounts(), Arc::new(Notify::new())));
    for i in 0..POOLED {
        pool.admit_client(&transfer(&key(i), 100).to_bytes()).expect("room");
    }
    (genesis, executor, pool)
}

/// `BATCH` transfers at fee 1 from senders with nothing pooled: each is refused.
fn refused() -> Vec<SignedTransaction> {
    (POOLED..POOLED + BATCH).map(|i| transfer(&key(i), 1)).collect()
}

fn requests(txs: &[SignedTransaction]) -> Vec<String> {
    txs.iter()
        .enumerate()
        .map(|(id, tx)| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{}","params":["{}"]}}"#,
                methods::SEND_TRANSACTION,
                to_hex(&tx.to_bytes())
            )
        })
        .collect()
}

/// What the RPC server needs; each call builds a context over the same store, pool and
/// transport.
struct Node {
    genesis: Genesis,
    address: Address,
    executor: Executor,
    pool: Arc<SharedPool>,
    transport: Arc<QuicNetwork>,
    consensus: watch::Sender<ConsensusStatus>,
}

impl Node {
    fn context(&self) -> RpcContext {
        RpcContext {
            genesis: self.genesis.clone(),
            address: self.address,
            store: self.executor.store().clone(),
            pool: self.pool.clone(),
            consensus: self.consensus.subscribe(),
            heads: broadcast::channel(1).0,
            transport: self.transport.clone(),
            tx_bytes_max: MempoolConfig::default().tx_bytes_max,
            l1: None,
        }
    }
}

/// The CPU time of this process's threads named `name` (Linux `/proc/self/task/*/schedstat`).
fn threads_cpu_time(name: &str) -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("the CPU-time clock needs Linux /proc");
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| {
            text.split_whitespace().next().and_then(|field| field.parse::<u64>().ok())
        })
        .sum();
    Duration::from_nanos(nanos)
}

fn bench_refusal(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let (genesis, executor, pool) = full_pool(dir.path());
    let txs = refused();
    let validator = SecretKey::from_seed(&[1; 32]);
    let listen = "127.0.0.1:0".parse().expect("a socket address");
    let (transport, _events) = runtime.block_on(async {
        QuicNetwork::start(&validator, PeerSet::new([]), NetworkConfig::new(listen))
            .expect("transport")
    });
    let node = Node {
        genesis,
        address: validator.address(),
        executor,
        pool,
        transport: Arc::new(transport),
        consensus: watch::channel(ConsensusStatus::default()).0,
    };
    let rpc = module(node.context()).expect("module");
    let requests = requests(&txs);
    let send_all = || {
        let mut refusals = 0;
        for request in &requests {
            let (answer, _) = runtime.block_on(rpc.raw_json_request(request, 1)).expect("answer");
            refusals += usize::from(answer.get().contains("mempool_full"));
        }
        refusals
    };
    assert_eq!(send_all(), BATCH, "every transaction is refused");

    let mut group = c.benchmark_group("refuse");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("rpc_method_256", |b| b.iter(send_all));
    let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTransaction::to_bytes).collect();
    group.bench_function("pool_only_256", |b| {
        b.iter(|| {
            for bytes in &encoded {
                assert!(node.pool.admit_client(bytes).is_err(), "refused");
            }
        })
    });
    bench_http(&mut group, &runtime, &node, &txs);
    group.finish();
}

/// The batches over HTTP to the real server, on a runtime of one thread named `rpc-server`.
fn bench_http(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    node: &Node,
    txs: &[SignedTransaction],
) {
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rpc-server")
        .enable_all()
        .build()
        .expect("server runtime");
    let limits = RpcLimits { max_request_bytes: 16 << 20, max_connections: 16 };
    let listen = "127.0.0.1:0".parse().expect("a socket address");
    let (address, _server) =
        server_runtime.block_on(start(listen, limits, node.context())).expect("server");
    let client = HttpClientBuilder::default()
        .max_request_size(16 << 20)
        .max_response_size(16 << 20)
        .build(format!("http://{address}"))
        .expect("client");
    let hex: Vec<String> = txs.iter().map(|tx| to_hex(&tx.to_bytes())).collect();
    // `tandem bench` sends what falls due each 5 ms tick, split over the nodes: under ten
    // times the load its requests carry a few dozen transactions, not 256.
    for batch_txs in [BATCH, 32] {
        let send_batches = || {
            let mut refusals = 0;
            for part in hex.chunks(batch_txs) {
                let mut batch = BatchRequestBuilder::new();
                for tx in part {
                    batch.insert(methods::SEND_TRANSACTION, rpc_params![tx]).expect("parameters");
                }
                let answers =
                    runtime.block_on(client.batch_request::<String>(batch)).expect("answers");
                refusals += answers.into_iter().filter(Result::is_err).count();
            }
            refusals
        };
        assert_eq!(send_batches(), BATCH, "every transaction is refused");
        group.bench_function(format!("http_batches_of_{batch_txs}_server_cpu"), |b| {
            b.iter_custom(|iters| {
                let before = threads_cpu_time("rpc-server");
                for _ in 0..iters {
                    send_batches();
                }
                threads_cpu_time("rpc-server").saturating_sub(before)
            })
        });
    }
}

criterion_group!(benches, bench_refusal);
criterion_main!(benches);
