//! Where the pool reads committed account state from.

use std::collections::{BTreeMap, HashMap};

use tandem_types::{Account, Address};

/// The committed state the pool checks nonces and balances against. The node implements it
/// over the executor's state; tests use a map.
pub trait AccountSource {
    /// The committed account at `address`; an absent account has balance 0 and nonce 0.
    fn account(&self, address: &Address) -> Account;
}

impl AccountSource for BTreeMap<Address, Account> {
    fn account(&self, address: &Address) -> Account {
        self.get(address).copied().unwrap_or_default()
    }
}

impl<S: std::hash::BuildHasher> AccountSource for HashMap<Address, Account, S> {
    fn account(&self, address: &Address) -> Account {
        self.get(address).copied().unwrap_or_default()
    }
}

impl<T: AccountSource + ?Sized> AccountSource for &T {
    fn account(&self, address: &Address) -> Account {
        (**self).account(address)
    }
}
