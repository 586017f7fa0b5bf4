//! ed25519 identities and the one signature rule every node applies.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::json::{impl_hex_serde, to_hex};

/// An account or validator identity: the 32-byte ed25519 public key.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 32]);

/// An Ethereum address (20 bytes), used for L1 recipients and validators' L1 keys.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct L1Address(pub [u8; 20]);

/// A 64-byte ed25519 signature (`R ++ S`). Ordered by its bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl_hex_serde!(Address, 32);
impl_hex_serde!(L1Address, 20);
impl_hex_serde!(Signature, 64);

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for L1Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

/// Why a signature was rejected. Every node gives the same verdict on the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key bytes are not the encoding of a curve point.
    #[error("public key is not a valid curve point")]
    InvalidKey,
    /// The public key's y coordinate is not reduced modulo p.
    #[error("public key encoding is not canonical")]
    NonCanonicalKey,
    /// The public key has small order: it would verify signatures on many messages.
    #[error("public key has small order")]
    WeakKey,
    /// The signature's scalar S is not reduced modulo the group order (malleated).
    #[error("signature scalar is not canonical")]
    NonCanonicalSignature,
    /// The signature does not verify (including a small-order or non-canonical R).
    #[error("signature does not verify")]
    Invalid,
}

/// An ed25519 signing key. Its public half is the holder's [`Address`].
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key whose 32-byte secret seed is `seed` (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The 32-byte secret seed.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key, which is the account address.
    pub fn address(&self) -> Address {
        Address(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (deterministic, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.address())
    }
}

/// Verifies `signature` on `message` by `signer` under Tandem's single rule: the key must be a
/// canonical encoding of a point that is not of small order, S must be canonical, and the
/// signature must pass ed25519-dalek's `verify_strict` (which also rejects a small-order R and
/// a non-canonical R).
pub fn verify(
    signer: &Address,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    CheckedKey::new(signer)?.verify(message, signature)
}

/// A public key that passed [`verify`]'s key checks, kept decompressed: verifying with it
/// skips the key's decompression, about a tenth of a verification, for a signer seen before.
#[derive(Clone, Copy, Debug)]
pub struct CheckedKey(VerifyingKey);

impl CheckedKey {
    /// Checks `address` as a public key: a canonical encoding of a curve point that is not of
    /// small order.
    pub fn new(address: &Address) -> Result<CheckedKey, SignatureError> {
        if !is_canonical_field_element(&address.0) {
            return Err(SignatureError::NonCanonicalKey);
        }
        let key = VerifyingKey::from_bytes(&address.0).map_err(|_| SignatureError::InvalidKey)?;
        if key.is_weak() {
            return Err(SignatureError::WeakKey);
        }
        Ok(CheckedKey(key))
    }

    /// The address this key was checked from.
    pub fn address(&self) -> Address {
        Address(self.0.to_bytes())
    }

    /// Verifies `signature` on `message` by this key under [`verify`]'s rule, with the same
    /// verdict.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let s_bytes: [u8; 32] = signature.0[32..].try_into().expect("a signature has 64 bytes");
        if Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).is_none() {
            return Err(SignatureError::NonCanonicalSignature);
        }
        let dalek_signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0.verify_strict(message, &dalek_signature).map_err(|_| SignatureError::Invalid)
    }
}

impl Address {
    /// Whether these bytes are a public key that can ever sign under [`verify`]'s rule.
    pub fn check_key(&self) -> Result<(), SignatureError> {
        CheckedKey::new(self).map(|_| ())
    }
}

/// Whether the 255-bit y coordinate (sign bit cleared) is below p = 2^255 - 19.
fn is_canonical_field_element(encoding: &[u8; 32]) -> bool {
    let top = encoding[31] & 0x7f;
    let at_least_p =
        top == 0x7f && encoding[1..31].iter().all(|&b| b == 0xff) && encoding[0] >= 0xed;
    !at_least_p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_seed(&[7; 32])
    }

    #[test]
    fn a_signature_verifies_and_a_changed_message_does_not() {
        let signature = key().sign(b"hello");
        assert_eq!(verify(&key().address(), b"hello", &signature), Ok(()));
        assert_eq!(verify(&key().address(), b"hellp", &signature), Err(SignatureError::Invalid));
    }

    #[test]
    fn malleated_s_is_rejected() {
        // S + l is the classic malleation: same point equation, different bytes.
        let signature = key().sign(b"hello");
        let s = Scalar::from_canonical_bytes(signature.0[32..].try_into().unwrap()).unwrap();
        // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l_bytes: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let total = s.to_bytes()[i] as u16 + l_bytes[i] as u16 + carry;
            sum[i] = total as u8;
            carry = total >> 8;
        }
        let mut malleated = signature;
        malleated.0[32..].copy_from_slice(&sum);
        assert_eq!(
            verify(&key().address(), b"hello", &malleated),
            Err(SignatureError::NonCanonicalSignature)
        );
    }

    #[test]
    fn small_order_keys_are_rejected() {
        // The identity point (y = 1) and the order-2 point (y = -1) have small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let signature = Signature([0; 64]);
        assert_eq!(verify(&Address(identity), b"x", &signature), Err(SignatureError::WeakKey));
        let mut minus_one = [0xff; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert_eq!(verify(&Address(minus_one), b"x", &signature), Err(SignatureError::WeakKey));
    }

    #[test]
    fn non_canonical_key_encoding_is_rejected() {
        // y = p + 1 encodes the same point as y = 1 but is not canonical.
        let mut encoding = [0xff; 32];
        encoding[0] = 0xee;
        encoding[31] = 0x7f;
        assert_eq!(
            verify(&Address(encoding), b"x", &Signature([0; 64])),
            Err(SignatureError::NonCanonicalKey)
        );
    }

    #[test]
    fn small_order_r_is_rejected() {
        // R = identity, S = 0 satisfies the unreduced equation for any key and message
        // when the verifier is lax; the strict rule must reject it.
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        assert_eq!(verify(&key().address(), b"x", &Signature(bytes)), Err(SignatureError::Invalid));
    }

    #[test]
    fn bytes_that_are_no_point_are_rejected() {
        // y = 2 is not the y coordinate of any curve point.
        let mut encoding = [0u8; 32];
        encoding[0] = 2;
        assert_eq!(
            verify(&Address(encoding), b"x", &Signature([0; 64])),
            Err(SignatureError::InvalidKey)
        );
    }
}
