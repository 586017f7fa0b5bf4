//! Tandem's transaction pool: admission, ordering, gossip bookkeeping and block reaping.
//!
//! [`Mempool`] is a synchronous core: no clock, thread, I/O or randomness. Time comes in as
//! `now_ms` arguments and committed account state through [`AccountSource`], which the node
//! implements over the executor's state. Iteration that reaches an output runs over ordered
//! maps, so the same inputs always give the same outputs.
//!
//! It owns the pending transactions and the rules for holding them:
//! - **In**: signed transactions (or their bytes) from clients and peers' gossip
//!   ([`Mempool::admit`], [`Mempool::admit_bytes`]); decided blocks
//!   ([`Mempool::on_block_committed`]); the passing of time ([`Mempool::expire`]).
//! - **Out**: an admission verdict ([`Admitted`] or a [`Rejection`] carrying the protocol's
//!   stable reason); blocks' candidate transactions in executable order ([`Mempool::reap`]);
//!   client transactions to gossip ([`Mempool::take_gossip_batch`], with
//!   [`encode_gossip_batch`] / [`decode_gossip_batch`] for the network's mempool channel);
//!   what left the pool and why ([`Committed`]); counters ([`Metrics`]).
//!
//! Admission checks the cheap things first and the signature last: size, chain id, minimum
//! fee, duplicates, nonce (not below the account's, at most [`MempoolConfig::nonce_gap_max`]
//! beyond the sender's pending nonce), replace-by-fee or the per-sender cap, the balance
//! (covering this transaction and the sender's queued ones before it), room (evicting a
//! lower fee when full), then the strict ed25519 rule of `tandem_types`.

mod accounts;
mod admission;
mod block;
mod config;
mod dedupe;
mod gossip;
mod metrics;
#[cfg(test)]
mod model_tests;
mod pool;
mod queue;
mod reap;
mod rejection;

pub use accounts::AccountSource;
pub use admission::{replacement_fee, Admitted};
pub use block::Committed;
pub use config::{ConfigError, MempoolConfig, LARGEST_TX_BYTES};
pub use gossip::{decode_gossip_batch, encode_gossip_batch, GossipError};
pub use metrics::Metrics;
pub use pool::Mempool;
pub use queue::Origin;
pub use rejection::{Rejection, REASONS};
