//! `tandem`: the Tandem sequencer node and its tools.
//!
//! - `tandem keygen --out DIR` writes a fresh ed25519 consensus key and secp256k1 L1 key.
//! - `tandem testnet --validators N --accounts M --out DIR` writes a local testnet.
//! - `tandem run --home DIR` runs a validator.
//!
//! Configuration is `DIR/config.toml` (see `config.rs` for every setting and its default).

mod config;
mod keys;
mod run;
mod testnet;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, LogFormat};

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
    },
    /// Runs a validator from its home directory.
    Run {
        /// The node's home directory (holds config.toml).
        #[arg(long)]
        home: PathBuf,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
        Command::Testnet { validators, accounts, out, chain_id, base_port } => {
            let genesis_time_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_millis() as u64;
            let plan =
                testnet::TestnetPlan { validators, accounts, chain_id, base_port, genesis_time_ms };
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
            let config = Config::load(&home)?;
            init_logging(&config.log.level, format_override.unwrap_or(config.log.format));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run::run(&home, config))
        }
    }
}
