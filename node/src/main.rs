//! `tandem`: the Tandem sequencer node and its tools.
//!
//! - `tandem keygen --out DIR` writes a fresh ed25519 consensus key and secp256k1 L1 key.
//! - `tandem testnet --validators N --accounts M --out DIR` writes a local testnet.
//! - `tandem run --home DIR` runs a validator.
//! - `tandem tx transfer`, `tandem account`, `tandem status` are clients of a node's JSON-RPC.
//!
//! Configuration is `DIR/config.toml` (see `config.rs` for every setting and its default).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use tandem_node::config::{Config, LogFormat};
use tandem_node::{bench, client, keys, run, testnet};
use tandem_types::{Address, Genesis, SecretKey};

/// mimalloc, unless built with the `system-allocator` feature for a heap profiler that hooks
/// malloc (see docs/performance.md).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tandem", version, about = "Tandem: a decentralized sequencer node")]
struct Cli {
    /// Log format; overrides the configuration's `log.format`.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a fresh consensus key (node_key.json) and L1 key (l1_key.json) into DIR.
    Keygen {
        /// Directory for the key files (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a local testnet: a genesis and one home directory per validator.
    Testnet {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Number of funded accounts (deterministic seeds, see `tandem testnet --help`).
        #[arg(long, default_value_t = 10_000)]
        accounts: u32,
        /// Output directory (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Chain id.
        #[arg(long, default_value_t = testnet::DEFAULT_CHAIN_ID)]
        chain_id: u64,
        /// Node i uses ports BASE+i (QUIC), BASE+100+i (RPC) and BASE+200+i (metrics).
        #[arg(long, default_value_t = 26_600)]
        base_port: u16,
        /// Heights per L1 batch.
        #[arg(long, default_value_t = testnet::DEFAULT_BATCH_BLOCKS)]
        batch_blocks: u64,
    },
    /// Runs a validator from its home directory.
    Run {
        /// The node's home directory (holds config.toml).
        #[arg(long)]
        home: PathBuf,
    },
    /// Signs and submits transactions.
    Tx {
        #[command(subcommand)]
        command: TxCommand,
    },
    /// Reads an account, optionally with a proof verified against the genesis validators.
    Account {
        /// The account's address (0x-prefixed hex of its ed25519 key).
        address: Address,
        /// Fetch a Merkle proof and verify it (and the header's certificate) locally.
        #[arg(long, requires = "genesis")]
        prove: bool,
        /// The genesis file whose validators certify headers (with --prove).
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Height to read at (default: the latest).
        #[arg(long)]
        height: Option<u64>,
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
    },
    /// Applies open-loop load to a testnet and reports throughput, latency and rejections.
    Bench {
        /// JSON-RPC endpoints, comma-separated; transactions go round-robin to all of them.
        #[arg(long, value_delimiter = ',', default_value = DEFAULT_RPC)]
        rpc: Vec<String>,
        /// Offered load, transactions per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Rates to run one after the other instead of --rate (finds saturation).
        #[arg(long, value_delimiter = ',')]
        sweep: Option<Vec<u64>>,
        /// Seconds of load per rate.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Testnet accounts to send from.
        #[arg(long, default_value_t = 10_000)]
        accounts: u32,
        /// Fee of each transfer.
        #[arg(long, default_value_t = 1)]
        fee: u128,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Deploys the rollup contract for a genesis on an L1; prints `contract=0x…`.
    DeployContract {
        /// The L1's JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The genesis whose validators and state root the contract holds.
        #[arg(long)]
        genesis: PathBuf,
        /// The paying L1 key file (as written by `tandem keygen`, l1_key.json).
        #[arg(long, required_unless_present = "dev_key", conflicts_with = "dev_key")]
        key: Option<PathBuf>,
        /// Pay with anvil's first default account (development chains only).
        #[arg(long)]
        dev_key: bool,
        /// Give each validator's L1 key this many ETH (anvil only).
        #[arg(long)]
        fund_validators: Option<u64>,
    },
    /// Checks every batch committed on L1 from the L1 and the genesis alone: certificates,
    /// signers, and re-execution to each posted root. Exits non-zero at the first failure.
    Audit {
        /// The L1's JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The rollup contract's address.
        #[arg(long)]
        contract: tandem_types::L1Address,
        /// The genesis file.
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Prints a node's height, round, peers, sync state and mempool.
    Status {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
        /// Print the JSON-RPC answer as it is.
        #[arg(long)]
        json: bool,
    },
}

const DEFAULT_RPC: &str = "http://127.0.0.1:8545";

#[derive(Subcommand)]
enum TxCommand {
    /// Transfers an amount to an address and waits until the transfer is finalized.
    Transfer {
        /// Recipient address.
        #[arg(long)]
        to: Address,
        /// Amount.
        #[arg(long)]
        amount: u128,
        /// Fee (at least the genesis minimum).
        #[arg(long, default_value_t = 1)]
        fee: u128,
        /// Nonce (default: the sender's committed nonce).
        #[arg(long)]
        nonce: Option<u64>,
        /// The sender's ed25519 key file (as written by `tandem keygen`).
        #[arg(
            long,
            required_unless_present = "testnet_account",
            conflicts_with = "testnet_account"
        )]
        key: Option<PathBuf>,
        /// Sign as the testnet's funded account I instead of a key file.
        #[arg(long)]
        testnet_account: Option<u32>,
        /// Return once the node accepted the transaction.
        #[arg(long)]
        no_wait: bool,
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
    },
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The allocator's setting that makes a node give freed memory back to the system at once
/// instead of keeping it (mimalloc's default delay leaves it with the memory of a load peak:
/// about 600 MiB per node after ten times the load, against 280 MiB with this).
const PURGE_DELAY: (&str, &str) = ("MIMALLOC_PURGE_DELAY", "0");

/// mimalloc reads its options from the environment when the process starts, so the node
/// replaces itself (same process id, same arguments) with the option set, unless the
/// environment already sets it (an operator's choice wins). If that fails it runs as it is.
fn return_freed_memory_promptly() {
    use std::os::unix::process::CommandExt;
    let (name, value) = PURGE_DELAY;
    if std::env::var_os(name).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let error =
        std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(name, value).exec();
    eprintln!("warning: running with the allocator's defaults ({name} not applied: {error})");
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = execute(cli) {
        // The whole chain of causes on one line, without a backtrace: the message is the report.
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let format_override = cli.log_format.map(|format| match format {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    });
    match cli.command {
        Command::Keygen { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let node = keys::generate_node_key()?;
            let l1 = keys::generate_l1_key()?;
            keys::write_node_key(&out.join("node_key.json"), &node)?;
            keys::write_l1_key(&out.join("l1_key.json"), &l1)?;
            println!("node key {}", node.address());
            println!("l1 key {:?}", l1.address());
            Ok(())
        }
        Command::Testnet { validators, accounts, out, chain_id, base_port, batch_blocks } => {
            let genesis_time_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_millis() as u64;
            let plan = testnet::TestnetPlan {
                validators,
                accounts,
                chain_id,
                base_port,
                genesis_time_ms,
                batch_blocks,
            };
            let genesis = testnet::generate(&out, &plan)?;
            println!(
                "testnet in {}: {} validators, {} accounts, chain id {}, genesis {}",
                out.display(),
                validators,
                accounts,
                chain_id,
                genesis.hash()
            );
            Ok(())
        }
        Command::Run { home } => {
            if cfg!(not(feature = "system-allocator")) {
                return_freed_memory_promptly();
            }
            let config = Config::load(&home)?;
            init_logging(&config.log.level, format_override.unwrap_or(config.log.format));
            run::run_node(&home, config)
        }
        Command::Tx { command } => client_runtime()?.block_on(tx(command)),
        Command::Account { address, prove, genesis, height, rpc } => {
            let genesis = match (prove, genesis) {
                (true, Some(path)) => Some(read_genesis(&path)?),
                _ => None,
            };
            client_runtime()?.block_on(client::account(&rpc, address, height, genesis.as_ref()))
        }
        Command::Status { rpc, json } => client_runtime()?.block_on(client::status(&rpc, json)),
        Command::DeployContract { l1_rpc, genesis, key, dev_key, fund_validators } => {
            let secret = match (key, dev_key) {
                (Some(path), _) => keys::read_l1_key(&path)?.secret_bytes(),
                _ => tandem_node::deploy::ANVIL_FIRST_SECRET,
            };
            let signer = tandem_l1::L1Signer::from_secret(&secret)?;
            let deploying =
                tandem_node::deploy::deploy(&l1_rpc, &signer, &genesis, fund_validators);
            let contract = client_runtime()?.block_on(deploying)?;
            println!("contract={contract:?}");
            Ok(())
        }
        Command::Audit { l1_rpc, contract, genesis } => {
            let genesis = read_genesis(&genesis)?;
            let verdicts = client_runtime()?
                .block_on(tandem_node::audit::audit(&l1_rpc, contract, &genesis))?;
            for verdict in &verdicts {
                match &verdict.result {
                    Ok(summary) => println!("batch {} {summary}", verdict.index),
                    Err(reason) => println!("batch {} FAILED: {reason}", verdict.index),
                }
            }
            if verdicts.iter().any(|verdict| verdict.result.is_err()) {
                std::process::exit(1);
            }
            println!("audit: {} batches verified", verdicts.len());
            Ok(())
        }
        Command::Bench { rpc, rate, sweep, duration, accounts, fee, json } => {
            let args = bench::BenchArgs {
                rpcs: rpc,
                rates: sweep.unwrap_or_else(|| vec![rate]),
                duration: std::time::Duration::from_secs(duration),
                accounts,
                fee,
                json,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            if !runtime.block_on(bench::run(args))? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn read_genesis(path: &std::path::Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the genesis {}", path.display()))?;
    Genesis::from_json(&text).with_context(|| format!("genesis {}", path.display()))
}

async fn tx(command: TxCommand) -> anyhow::Result<()> {
    let TxCommand::Transfer { to, amount, fee, nonce, key, testnet_account, no_wait, rpc } =
        command;
    let key: SecretKey = match (key, testnet_account) {
        (Some(path), _) => keys::read_node_key(&path)?,
        (None, Some(index)) => testnet::account_key(index),
        (None, None) => anyhow::bail!("give --key FILE or --testnet-account I"),
    };
    let transfer = client::Transfer { to, amount, fee, nonce, wait: !no_wait };
    client::transfer(&rpc, &key, transfer).await
}
