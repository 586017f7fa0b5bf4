//! Tandem protocol v1: every structure that is signed, hashed or sent between nodes and clients.
//!
//! This crate owns the canonical encoding (Borsh, strict: trailing bytes, unknown enum tags and
//! bad option tags are errors), hashing (SHA-256), ed25519 keys and strict signature checks,
//! the binary `tx_root`, commit certificates and their verification against a validator set,
//! and the genesis document with its hash.
//!
//! In: bytes from clients, peers and files. Out: typed values, hashes and verdicts. No I/O.
//! `docs/protocol.md` at the repository root describes the same rules for other languages.

mod account;
mod block;
mod codec;
mod crypto;
mod genesis;
mod hash;
pub mod json;
pub mod proof;
mod tx;
mod vote;

pub use account::{state_key, Account};
pub use block::{tx_root, Block, BlockHeader};
pub use codec::{decode, encode, DecodeError};
pub use crypto::{
    verify as crypto_verify, Address, CheckedKey, L1Address, SecretKey, Signature, SignatureError,
};
pub use genesis::{
    ChainParams, Genesis, GenesisAccount, GenesisError, GenesisValidator, Validator, ValidatorSet,
};
pub use hash::{sha256, Hash};
pub use proof::{AccountProof, ProofError, ProofLeaf};
pub use tx::{Action, SignedTransaction, Transaction, TX_SIGNING_DOMAIN};
pub use vote::{
    CertificateError, CommitCertificate, CommitSignature, Vote, VoteKind, VOTE_SIGNING_DOMAIN,
};

/// The height of a block: the first block is height 1, genesis is height 0.
pub type Height = u64;
