//! Key files: the ed25519 consensus key and the secp256k1 L1 key, each a small JSON document
//! written with mode 0600.
//!
//! ```json
//! {"type": "ed25519", "secret": "0x…32 bytes…", "address": "0x…32 bytes…"}
//! {"type": "secp256k1", "secret": "0x…32 bytes…", "address": "0x…20 bytes…"}
//! ```
//! The address is derived from the secret on load and must match, so a hand-edited file
//! cannot silently become another identity.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};
use tandem_types::json::to_hex;
use tandem_types::{L1Address, SecretKey};

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a key document of the expected type.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    secret: String,
    address: String,
}

/// A secp256k1 key: signs L1 attestations and pays L1 gas.
#[derive(Clone)]
pub struct L1Key(k256::ecdsa::SigningKey);

impl L1Key {
    /// The key with these 32 secret bytes, if they are a valid scalar.
    pub fn from_bytes(secret: &[u8; 32]) -> Option<L1Key> {
        k256::ecdsa::SigningKey::from_bytes(secret.into()).ok().map(L1Key)
    }

    /// The secret scalar.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The Ethereum address: the last 20 bytes of keccak256 of the uncompressed public key.
    pub fn address(&self) -> L1Address {
        let point = self.0.verifying_key().to_encoded_point(false);
        let digest = Keccak256::digest(&point.as_bytes()[1..]);
        let mut address = [0; 20];
        address.copy_from_slice(&digest[12..]);
        L1Address(address)
    }
}

fn random_32() -> Result<[u8; 32], KeyError> {
    let mut bytes = [0; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A fresh consensus key.
pub fn generate_node_key() -> Result<SecretKey, KeyError> {
    Ok(SecretKey::from_seed(&random_32()?))
}

/// A fresh L1 key.
pub fn generate_l1_key() -> Result<L1Key, KeyError> {
    loop {
        if let Some(key) = L1Key::from_bytes(&random_32()?) {
            return Ok(key);
        }
    }
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.strip_prefix("0x")?).ok()?;
    bytes.try_into().ok()
}

/// Writes `contents` to a new file readable only by its owner.
fn write_private(path: &Path, contents: &str) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

fn write_key(path: &Path, kind: &str, secret: &[u8], address: String) -> Result<(), KeyError> {
    let file = KeyFile { kind: kind.into(), secret: to_hex(secret), address };
    let text = serde_json::to_string_pretty(&file).map_err(|e| KeyError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_private(path, &(text + "\n"))
}

/// Writes a consensus key file (refuses to overwrite one).
pub fn write_node_key(path: &Path, key: &SecretKey) -> Result<(), KeyError> {
    write_key(path, "ed25519", &key.seed(), key.address().to_string())
}

/// Writes an L1 key file (refuses to overwrite one).
pub fn write_l1_key(path: &Path, key: &L1Key) -> Result<(), KeyError> {
    write_key(path, "secp256k1", &key.secret_bytes(), format!("{:?}", key.address()))
}

fn read_key(path: &Path, kind: &str) -> Result<([u8; 32], String), KeyError> {
    let invalid = |reason: String| KeyError::Invalid { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path)
        .map_err(|source| KeyError::Io { path: path.display().to_string(), source })?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.kind != kind {
        return Err(invalid(format!("a {} key, expected {kind}", file.kind)));
    }
    let secret = hex32(&file.secret)
        .ok_or_else(|| invalid("secret is not 0x-prefixed hex of 32 bytes".into()))?;
    Ok((secret, file.address))
}

/// Reads a consensus key file and checks its address.
pub fn read_node_key(path: &Path) -> Result<SecretKey, KeyError> {
    let (secret, address) = read_key(path, "ed25519")?;
    let key = SecretKey::from_seed(&secret);
    if key.address().to_string() != address.to_lowercase() {
        return Err(KeyError::Invalid {
            path: path.display().to_string(),
            reason: format!("address {address} does not belong to the secret"),
        });
    }
    Ok(key)
}

/// Reads an L1 key file and checks its address.
pub fn read_l1_key(path: &Path) -> Result<L1Key, KeyError> {
    let invalid = |reason: String| KeyError::Invalid { path: path.display().to_string(), reason };
    let (secret, address) = read_key(path, "secp256k1")?;
    let key =
        L1Key::from_bytes(&secret).ok_or_else(|| invalid("secret is not a valid scalar".into()))?;
    if format!("{:?}", key.address()) != address.to_lowercase() {
        return Err(invalid(format!("address {address} does not belong to the secret")));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_address_matches_a_known_ethereum_key() {
        // The first anvil/hardhat development account.
        let secret = hex32("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
            .expect("hex");
        let key = L1Key::from_bytes(&secret).expect("valid");
        assert_eq!(format!("{:?}", key.address()), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    }

    #[test]
    fn key_files_round_trip_private_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = generate_node_key().expect("key");
        let l1 = generate_l1_key().expect("key");
        let (node_path, l1_path) = (dir.path().join("node.json"), dir.path().join("l1.json"));
        write_node_key(&node_path, &node).expect("write");
        write_l1_key(&l1_path, &l1).expect("write");
        assert_eq!(read_node_key(&node_path).expect("read").address(), node.address());
        assert_eq!(read_l1_key(&l1_path).expect("read").address(), l1.address());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&node_path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_node_key(&node_path, &node).is_err(), "never overwrites a key");
        assert!(matches!(read_l1_key(&node_path), Err(KeyError::Invalid { .. })));
        // A file whose address does not belong to its secret is refused.
        let other = SecretKey::from_seed(&[7; 32]).address().to_string();
        let tampered = std::fs::read_to_string(&node_path)
            .expect("read")
            .replace(&node.address().to_string(), &other);
        std::fs::write(dir.path().join("bad.json"), tampered).expect("write");
        assert!(matches!(
            read_node_key(&dir.path().join("bad.json")),
            Err(KeyError::Invalid { .. })
        ));
    }
}
