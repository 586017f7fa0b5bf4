//! Transactions.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{
    codec::{decode, encode, DecodeError},
    crypto::{verify, CheckedKey, SignatureError},
    hash::sha256,
    Address, Hash, L1Address, SecretKey, Signature,
};

/// Domain separator prefixed to a transaction's Borsh bytes before signing.
pub const TX_SIGNING_DOMAIN: &[u8] = b"tandem.tx.v1";

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Moves `amount` from the sender to `to`.
    Transfer {
        /// Recipient account.
        to: Address,
        /// Amount moved.
        #[serde(with = "crate::json::u128_string")]
        amount: u128,
    },
    /// Removes `amount` from the rollup, payable to `l1_recipient` on L1.
    Withdraw {
        /// Recipient on L1.
        l1_recipient: L1Address,
        /// Amount withdrawn.
        #[serde(with = "crate::json::u128_string")]
        amount: u128,
    },
}

impl Action {
    /// The amount the action takes from the sender, fee excluded.
    pub fn amount(&self) -> u128 {
        match self {
            Action::Transfer { amount, .. } | Action::Withdraw { amount, .. } => *amount,
        }
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// The chain this transaction is valid on.
    pub chain_id: u64,
    /// The paying and signing account.
    pub sender: Address,
    /// Must equal the sender's nonce at execution.
    pub nonce: u64,
    /// Paid to the block's proposer; at least the genesis `min_fee`.
    #[serde(with = "crate::json::u128_string")]
    pub fee: u128,
    /// What the transaction does.
    pub action: Action,
}

impl Transaction {
    /// The bytes the sender signs: `b"tandem.tx.v1" ++ borsh(tx)`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = TX_SIGNING_DOMAIN.to_vec();
        borsh::to_writer(&mut bytes, self).expect("borsh serialisation into a Vec never fails");
        bytes
    }

    /// Signs the transaction. The key should be the sender's; a different key gives a
    /// transaction that every node rejects.
    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_bytes());
        SignedTransaction { tx: self, signature }
    }
}

/// A transaction with the sender's signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// The sender's ed25519 signature over [`Transaction::signing_bytes`].
    pub signature: Signature,
}

impl SignedTransaction {
    /// The transaction hash: `H(borsh(SignedTransaction))`.
    pub fn hash(&self) -> Hash {
        sha256(&self.to_bytes())
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes the canonical encoding; rejects anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTransaction, DecodeError> {
        decode("signed transaction", bytes)
    }

    /// Length of the canonical encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        // chain_id + sender + nonce + fee + action tag + action fields + signature.
        let action_fields = match self.tx.action {
            Action::Transfer { .. } => 32 + 16,
            Action::Withdraw { .. } => 20 + 16,
        };
        8 + 32 + 8 + 16 + 1 + action_fields + 64
    }

    /// Checks the sender's signature under the strict rule.
    pub fn verify_signature(&self) -> Result<(), SignatureError> {
        verify(&self.tx.sender, &self.tx.signing_bytes(), &self.signature)
    }

    /// Checks the sender's signature like [`SignedTransaction::verify_signature`], with the
    /// sender's key already checked (`CheckedKey::new(&sender)`), so that a caller who keeps
    /// the keys of recent senders skips its decompression.
    pub fn verify_signature_with(&self, sender_key: &CheckedKey) -> Result<(), SignatureError> {
        assert_eq!(
            sender_key.address(),
            self.tx.sender,
            "a transaction's signature is checked with its own sender's key"
        );
        sender_key.verify(&self.tx.signing_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> SignedTransaction {
        let key = SecretKey::from_seed(&[1; 32]);
        Transaction {
            chain_id: 9,
            sender: key.address(),
            nonce: 3,
            fee: 10,
            action: Action::Transfer { to: Address([2; 32]), amount: 500 },
        }
        .sign(&key)
    }

    #[test]
    fn encoding_layout_matches_the_protocol() {
        let bytes = signed().to_bytes();
        // chain_id 8 + sender 32 + nonce 8 + fee 16 + tag 1 + to 32 + amount 16 + signature 64.
        assert_eq!(bytes.len(), 177);
        assert_eq!(signed().encoded_len(), 177);
        assert_eq!(&bytes[..8], &9u64.to_le_bytes());
        assert_eq!(&bytes[40..48], &3u64.to_le_bytes());
        assert_eq!(&bytes[48..64], &10u128.to_le_bytes());
        assert_eq!(bytes[64], 0, "Transfer is variant 0");
        assert_eq!(SignedTransaction::from_bytes(&bytes), Ok(signed()));
    }

    #[test]
    fn trailing_short_and_unknown_tags_are_errors() {
        let bytes = signed().to_bytes();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(SignedTransaction::from_bytes(&trailing).is_err());
        assert!(SignedTransaction::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut unknown_tag = bytes.clone();
        unknown_tag[64] = 2;
        assert!(SignedTransaction::from_bytes(&unknown_tag).is_err());
    }

    #[test]
    fn signature_covers_every_field() {
        let good = signed();
        assert_eq!(good.verify_signature(), Ok(()));
        let mut changed = good.clone();
        changed.tx.fee += 1;
        assert_eq!(changed.verify_signature(), Err(SignatureError::Invalid));
        let mut changed = good;
        changed.tx.chain_id += 1;
        assert_eq!(changed.verify_signature(), Err(SignatureError::Invalid));
    }

    #[test]
    fn a_checked_key_gives_the_same_verdicts() {
        let good = signed();
        let key = CheckedKey::new(&good.tx.sender).unwrap();
        let mut changed_fee = good.clone();
        changed_fee.tx.fee += 1;
        let mut malleated = good.clone();
        malleated.signature.0[63] |= 0xf0;
        for tx in [good, changed_fee, malleated] {
            assert_eq!(tx.verify_signature_with(&key), tx.verify_signature());
        }
        assert_eq!(signed().verify_signature_with(&key), Ok(()));
    }

    #[test]
    #[should_panic(expected = "its own sender's key")]
    fn a_key_of_another_sender_is_a_bug() {
        let other = CheckedKey::new(&SecretKey::from_seed(&[2; 32]).address()).unwrap();
        let _ = signed().verify_signature_with(&other);
    }

    #[test]
    fn json_uses_hex_and_decimal_strings() {
        let json = serde_json::to_value(signed()).unwrap();
        assert_eq!(json["tx"]["fee"], "10");
        assert_eq!(json["tx"]["action"]["type"], "transfer");
        assert_eq!(json["tx"]["action"]["amount"], "500");
        assert!(json["signature"].as_str().unwrap().starts_with("0x"));
        let back: SignedTransaction = serde_json::from_value(json).unwrap();
        assert_eq!(back, signed());
    }
}
