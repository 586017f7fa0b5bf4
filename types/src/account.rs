//! Account state.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{hash::sha256, Address, Hash};

/// The state of one account. An account that was never touched is absent from the state.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Account {
    /// Spendable balance.
    #[serde(with = "crate::json::u128_string")]
    pub balance: u128,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

/// The state tree key of an account: `H(address)`.
pub fn state_key(address: &Address) -> Hash {
    sha256(&address.0)
}
