//! The checked public keys of recent senders. Decompressing a sender's key is about a tenth
//! of a signature check; keeping it lets admission pay that once per sender instead of once
//! per transaction. The cache changes no verdict: a key is only kept after it passed the key
//! checks, and every signature is still verified.

use std::collections::HashMap;

use tandem_types::{Address, CheckedKey, SignatureError, SignedTransaction};

use crate::Mempool;

/// How many senders' keys one generation holds; the cache holds at most twice as many,
/// about 200 bytes each.
pub const SENDER_KEYS_GENERATION_MAX: usize = 8_192;

/// Two generations of checked keys. A key found in the older one moves to the newer; when
/// the newer is full it becomes the older and the older is dropped. So the cache is bounded,
/// and a sender seen within the last [`SENDER_KEYS_GENERATION_MAX`] distinct senders is found.
#[derive(Debug)]
pub(crate) struct SenderKeys {
    newer: HashMap<Address, CheckedKey>,
    older: HashMap<Address, CheckedKey>,
    generation_max: usize,
}

impl SenderKeys {
    pub(crate) fn new(generation_max: usize) -> SenderKeys {
        assert!(generation_max > 0, "a key cache generation holds at least one key");
        SenderKeys { newer: HashMap::new(), older: HashMap::new(), generation_max }
    }

    /// The checked key of `sender`, if it was kept.
    pub(crate) fn get(&mut self, sender: &Address) -> Option<CheckedKey> {
        if let Some(key) = self.newer.get(sender) {
            return Some(*key);
        }
        let key = self.older.remove(sender)?;
        self.insert(key);
        Some(key)
    }

    /// Keeps `key` (under its own address). Only a sender the newer generation does not
    /// hold yet can fill it, so a generation always spans that many distinct senders.
    pub(crate) fn insert(&mut self, key: CheckedKey) {
        let address = key.address();
        if self.newer.len() >= self.generation_max && !self.newer.contains_key(&address) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(address, key);
    }

    /// How many keys are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

impl Mempool {
    /// The kept key of `sender`, for a caller that verifies a signature outside the pool
    /// ([`Mempool::verify_signature`], then [`Mempool::admit_verified`]).
    pub fn sender_key(&mut self, sender: &Address) -> Option<CheckedKey> {
        self.keys.get(sender)
    }

    /// Verifies `tx`'s signature with its sender's key: `kept` if the caller had it
    /// ([`Mempool::sender_key`]), else checked from the address. Returns the key, to be kept.
    /// The verdict is [`SignedTransaction::verify_signature`]'s.
    pub fn verify_signature(
        tx: &SignedTransaction,
        kept: Option<CheckedKey>,
    ) -> Result<CheckedKey, SignatureError> {
        let key = match kept {
            Some(key) => key,
            None => CheckedKey::new(&tx.tx.sender)?,
        };
        tx.verify_signature_with(&key)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use tandem_types::SecretKey;

    use super::*;

    fn key(index: u8) -> CheckedKey {
        CheckedKey::new(&SecretKey::from_seed(&[index; 32]).address()).unwrap()
    }

    #[test]
    fn a_kept_key_is_found_until_two_generations_passed_it() {
        let mut keys = SenderKeys::new(2);
        keys.insert(key(1));
        keys.insert(key(2));
        assert_eq!(keys.get(&key(1).address()).map(|k| k.address()), Some(key(1).address()));
        // The third key starts a generation; 1 and 2 are the older one.
        keys.insert(key(3));
        assert_eq!(keys.len(), 3);
        // Found in the older generation, 2 moves to the newer, next to 3.
        assert!(keys.get(&key(2).address()).is_some());
        // The newer one is full again: 4 starts another, and 1, not asked for since it became
        // older, is gone.
        keys.insert(key(4));
        assert!(keys.get(&key(1).address()).is_none());
        assert!(keys.get(&key(2).address()).is_some());
        assert!(keys.get(&key(4).address()).is_some());
        assert!(keys.len() <= 4, "at most two generations of two");
    }

    #[test]
    fn keeping_a_key_the_newer_generation_holds_starts_no_generation() {
        let mut keys = SenderKeys::new(2);
        keys.insert(key(1));
        keys.insert(key(2));
        // The newer generation is full, but 2 is already in it: 1 stays where it is.
        keys.insert(key(2));
        assert_eq!(keys.len(), 2);
        keys.insert(key(3));
        assert!(keys.get(&key(1).address()).is_some(), "older, not dropped");
    }
}
