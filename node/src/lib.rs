//! The Tandem node: everything behind the `tandem` binary.
//!
//! Owns the node's configuration (TOML, validated), key files, testnet generation, and the
//! wiring of a running validator: the store and executor, the QUIC transport, consensus on its
//! own thread, the shared mempool and its gossip, the client JSON-RPC, the metrics server and
//! the L1 task. In: a home directory (config, keys, genesis), peers' messages, clients'
//! requests, the L1. Out: decided blocks in the store, batches on L1, answers to clients,
//! metrics and logs.
//!
//! - [`run`]: `tandem run`, the wiring.
//! - [`l1`]: the L1 task: batches, proposals and signatures, the rotating poster, the watcher.
//! - [`pool`]: the mempool shared by RPC, gossip and consensus.
//! - [`rpc`] and [`api`]: the JSON-RPC server and its JSON shapes.
//! - [`metrics`]: `/metrics` and `/health`.
//! - [`client`]: the CLI's client commands, and proof verification against a genesis.
//! - [`bench`]: `tandem bench`, the load generator.
//! - [`config`], [`keys`], [`testnet`]: files an operator writes or generates.
//! - [`deploy`]: `tandem deploy-contract`, the rollup contract for a genesis.
//! - [`audit`]: `tandem audit`, every posted batch checked from L1 and the genesis alone.

pub mod api;
pub mod audit;
pub mod bench;
pub mod client;
pub mod clock;
pub mod config;
pub mod deploy;
pub mod keys;
pub mod l1;
pub mod metrics;
pub mod pool;
pub mod rpc;
pub mod run;
pub mod testnet;
