//! Canonical Borsh encoding with strict decoding.

use borsh::{BorshDeserialize, BorshSerialize};

/// Why bytes could not be decoded into a protocol structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {reason}")]
pub struct DecodeError {
    /// The structure that was being decoded.
    pub what: &'static str,
    /// What was wrong with the bytes (wrong length, trailing bytes, unknown tag, ...).
    pub reason: String,
}

/// Encodes a value in its canonical Borsh form.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail: the only error source of Borsh serialisation is the writer.
    borsh::to_vec(value).expect("borsh serialisation into a Vec never fails")
}

/// Decodes a value from its canonical Borsh form. Every byte must be consumed: trailing bytes,
/// short input, unknown enum tags and option tags other than 0 and 1 are errors.
pub fn decode<T: BorshDeserialize>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    borsh::from_slice(bytes).map_err(|error| DecodeError { what, reason: error.to_string() })
}
