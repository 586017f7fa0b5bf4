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
//! lower fee when full), then the strict ed25519 rule of `tandem_types`, with the sender's
//! key taken from a bounded cache of recent senders' checked keys when it is there.
//!
//! ```
//! use std::collections::BTreeMap;
//! use tandem_mempool::{Mempool, MempoolConfig, Origin};
//! use tandem_types::{Account, Action, Address, ChainParams, SecretKey, Transaction};
//!
//! let params = ChainParams { min_fee: 1, block_txs_max: 100, block_bytes_max: 1 << 20, batch_blocks: 10 };
//! let mut pool = Mempool::new(MempoolConfig::default(), 7, &params)?;
//! let alice = SecretKey::from_seed(&[1; 32]);
//! let mut accounts = BTreeMap::from([(alice.address(), Account { balance: 100, nonce: 0 })]);
//!
//! let transfer = Transaction {
//!     chain_id: 7,
//!     sender: alice.address(),
//!     nonce: 0,
//!     fee: 1,
//!     action: Action::Transfer { to: Address([2; 32]), amount: 10 },
//! }
//! .sign(&alice);
//! let admitted = pool.admit(0, transfer.clone(), Origin::Client, &accounts)?;
//! assert!(admitted.ready);
//! assert_eq!(pool.take_gossip_batch(), Some(vec![transfer.clone()]));
//!
//! let block = pool.reap(100, 1 << 20);
//! assert_eq!(block, vec![transfer]);
//! // The block is decided and executed; the pool learns the new state.
//! accounts.insert(alice.address(), Account { balance: 89, nonce: 1 });
//! let committed = pool.on_block_committed(1, &block, &accounts);
//! assert_eq!(committed.included, vec![admitted.hash]);
//! assert!(pool.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accounts;
mod admission;
mod block;
mod config;
mod dedupe;
mod drain;
mod gossip;
mod keys;
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
pub use drain::{RATE_WINDOW_MS, RETRY_AFTER_MAX_MS};
pub use gossip::{decode_gossip_batch, encode_gossip_batch, GossipError};
pub use keys::SENDER_KEYS_GENERATION_MAX;
pub use metrics::Metrics;
pub use pool::Mempool;
pub use queue::Origin;
pub use rejection::{Rejection, REASONS};
