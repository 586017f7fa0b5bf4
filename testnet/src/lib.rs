//! The deterministic simulation of a Tandem cluster.
//!
//! Every validator's consensus core runs in one thread against virtual time and a seeded
//! simulated network (latency, jitter and so reordering, loss, duplication, symmetric and
//! one-way partitions) with crashes that lose a validator's unsynced log entries, up to f
//! Byzantine validators (equivocating proposer, double voter, garbage sender), client
//! transactions arriving at seeded times, and the empty-block modes. One seed decides every
//! fault, and the same seed gives the same trace hash. A run has a safety phase (faults on) and
//! a liveness phase (network healed, nodes up) and checks its invariants after every step on
//! the honest validators: agreement, no equivocation, no penalty charged to an honest peer,
//! validity (decided blocks re-execute to their roots), and progress after healing.
//!
//! In: a [`SimConfig`]. Out: a [`SimReport`], or the first [`Violation`] with the seed that
//! replays it.

mod byzantine;
mod pool;
mod rng;
mod sim;

pub use byzantine::Behaviour;
pub use rng::Rng;
pub use sim::{run, SimConfig, SimReport, Violation};
