//! Tandem's L1 side: how the committee's decisions become claims on Ethereum.
//!
//! Owns the rollup contract's bindings (generated from the committed artifact of
//! `contracts/`), its deployment, the batch format, attestations, and the rotating poster's
//! decisions ([`Poster`], sans-IO). In: decided blocks with
//! their certificates, the genesis (validators' L1 addresses and weights), secp256k1 keys, an
//! Ethereum JSON-RPC endpoint. Out: batch headers and their data (`borsh(Vec<(Block,
//! CommitCertificate)>)`, hashed with keccak-256), EIP-712 signatures over headers, and batches
//! submitted to the contract with typed reasons when it refuses them.
//!
//! Batch boundaries are a pure function of the chain: batch `i` holds heights
//! `i·batch_blocks + 1 ..= (i + 1)·batch_blocks` ([`batch_heights`]), so every honest validator
//! signs the same header.

mod anvil;
mod attestation;
mod batch;
mod client;
mod contract;
mod error;
mod poster;

pub use anvil::{anvil_binary, anvil_funded_key, Anvil, ANVIL_FIRST_SECRET};
pub use attestation::{
    attest, batch_digest, is_canonical, recover_signer, Attestation, Domain, L1Signer,
};
pub use batch::{
    batch_heights, batch_of_height, check_proposal, decode_batch_data, encode_batch_data,
    keccak256, Batch, BatchHeader,
};
pub use client::{
    l1_chain_id, mine_block_dev, set_balance_dev, CommittedEvent, PostedBatch, RollupClient,
    SendPolicy, SentBatch, Sequencer,
};
pub use contract::TandemRollup;
pub use error::{BatchError, L1Error, ProposalRejected};
pub use poster::{
    AttestationMessage, AttestationRejected, L1Message, PostJob, Poster, PosterConfig,
    PROPOSAL_RESEND_MS,
};
