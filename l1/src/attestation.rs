//! Attestations: each validator signs a batch header with its secp256k1 (L1) key, as the
//! contract's EIP-712 scheme defines; the poster (`crate::poster`) gathers enough of them.
//!
//! ```text
//! domain      EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
//!             name "TandemRollup", version "1", the L1 chain id, the contract's address
//! type        BatchHeader(uint64 index,uint64 firstHeight,uint64 lastHeight,bytes32 prevStateRoot,
//!                         bytes32 stateRoot,bytes32 lastBlockHash,bytes32 dataHash)
//! digest      keccak256(0x19 0x01 ‖ domainSeparator ‖ keccak256(abi.encode(typeHash, fields…)))
//! signature   r ‖ s ‖ v, v = 27 or 28, s in the lower half of the curve order
//! ```

use alloy::primitives::{Address as EthAddress, B256};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use alloy::sol_types::SolValue;
use tandem_types::L1Address;

use crate::batch::{keccak256, BatchHeader};
use crate::error::L1Error;

/// The type string of a batch header.
const BATCH_HEADER_TYPE: &str = "BatchHeader(uint64 index,uint64 firstHeight,uint64 lastHeight,\
bytes32 prevStateRoot,bytes32 stateRoot,bytes32 lastBlockHash,bytes32 dataHash)";

/// Where signatures are valid: the L1 chain and the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// The L1 chain id.
    pub chain_id: u64,
    /// The rollup contract.
    pub contract: L1Address,
}

impl Domain {
    fn separator(&self) -> B256 {
        alloy::sol_types::eip712_domain! {
            name: "TandemRollup",
            version: "1",
            chain_id: self.chain_id,
            verifying_contract: EthAddress::from(self.contract.0),
        }
        .separator()
    }
}

/// The EIP-712 digest a validator signs for `header`.
pub fn batch_digest(domain: &Domain, header: &BatchHeader) -> [u8; 32] {
    let type_hash = B256::from(keccak256(BATCH_HEADER_TYPE.as_bytes()));
    let fields = (
        type_hash,
        header.index,
        header.first_height,
        header.last_height,
        B256::from(header.prev_state_root.0),
        B256::from(header.state_root.0),
        B256::from(header.last_block_hash.0),
        B256::from(header.data_hash),
    );
    let struct_hash = keccak256(&fields.abi_encode());
    let mut message = Vec::with_capacity(66);
    message.extend_from_slice(&[0x19, 0x01]);
    message.extend_from_slice(domain.separator().as_slice());
    message.extend_from_slice(&struct_hash);
    keccak256(&message)
}

/// A validator's secp256k1 key for L1: attestations and gas.
#[derive(Clone, Debug)]
pub struct L1Signer(pub(crate) PrivateKeySigner);

impl L1Signer {
    /// The key with this 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Result<L1Signer, L1Error> {
        PrivateKeySigner::from_bytes(&B256::from(*secret))
            .map(L1Signer)
            .map_err(|error| L1Error::Invalid(format!("L1 key: {error}")))
    }

    /// Its Ethereum address.
    pub fn address(&self) -> L1Address {
        L1Address(self.0.address().0 .0)
    }
}

/// One validator's signature of one batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// The batch.
    pub batch_index: u64,
    /// The signer's L1 address.
    pub signer: L1Address,
    /// `r ‖ s ‖ v`.
    pub signature: [u8; 65],
}

/// Signs `header` for `domain`.
pub fn attest(
    key: &L1Signer,
    domain: &Domain,
    header: &BatchHeader,
) -> Result<Attestation, L1Error> {
    let digest = B256::from(batch_digest(domain, header));
    let signature = key
        .0
        .sign_hash_sync(&digest)
        .map_err(|error| L1Error::Invalid(format!("signing: {error}")))?;
    Ok(Attestation {
        batch_index: header.index,
        signer: key.address(),
        signature: signature.as_bytes(),
    })
}

/// Half the order of secp256k1, big-endian: the largest `s` of a canonical signature.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// Whether `signature` has the one encoding the contract accepts: `v` 27 or 28, `s` in the
/// lower half of the curve order.
pub fn is_canonical(signature: &[u8; 65]) -> bool {
    let s: &[u8] = &signature[32..64];
    matches!(signature[64], 27 | 28) && s <= HALF_ORDER.as_slice()
}

/// The address that signed `digest` with `signature`, if the signature is canonical (as the
/// contract wants it) and recovers to one.
pub fn recover_signer(digest: &[u8; 32], signature: &[u8; 65]) -> Option<L1Address> {
    if !is_canonical(signature) {
        return None;
    }
    let signature = alloy::primitives::Signature::from_raw(signature).ok()?;
    let address = signature.recover_address_from_prehash(&B256::from(*digest)).ok()?;
    Some(L1Address(address.0 .0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BatchHeader {
        BatchHeader {
            index: 2,
            first_height: 201,
            last_height: 300,
            prev_state_root: tandem_types::Hash([1; 32]),
            state_root: tandem_types::Hash([2; 32]),
            last_block_hash: tandem_types::Hash([3; 32]),
            data_hash: [4; 32],
        }
    }

    #[test]
    fn a_signature_recovers_its_signer_and_only_for_its_header() {
        let key = L1Signer::from_secret(&[7; 32]).expect("key");
        let domain = Domain { chain_id: 31_337, contract: L1Address([9; 20]) };
        let attestation = attest(&key, &domain, &header()).expect("signs");
        let digest = batch_digest(&domain, &header());
        assert_eq!(recover_signer(&digest, &attestation.signature), Some(key.address()));
        assert!(matches!(attestation.signature[64], 27 | 28));
        let mut other = header();
        other.state_root.0[0] ^= 1;
        let other_digest = batch_digest(&domain, &other);
        assert_ne!(recover_signer(&other_digest, &attestation.signature), Some(key.address()));
        let elsewhere = Domain { chain_id: 1, ..domain };
        assert_ne!(batch_digest(&elsewhere, &header()), digest);
    }

    #[test]
    fn only_the_canonical_encoding_recovers() {
        let key = L1Signer::from_secret(&[7; 32]).expect("key");
        let domain = Domain { chain_id: 31_337, contract: L1Address([9; 20]) };
        let signature = attest(&key, &domain, &header()).expect("signs").signature;
        let digest = batch_digest(&domain, &header());
        assert!(is_canonical(&signature));
        // The same signature with v as 0/1: alloy would recover it, the contract refuses it.
        let mut low_v = signature;
        low_v[64] -= 27;
        let lenient = alloy::primitives::Signature::from_raw(&low_v)
            .expect("parses")
            .recover_address_from_prehash(&B256::from(digest))
            .expect("alloy recovers it");
        assert_eq!(lenient.0 .0, key.address().0, "alloy alone would count it");
        assert_eq!(recover_signer(&digest, &low_v), None);
        // Its high-s twin (s' = n - s, v flipped) is just as valid to alloy; refused too.
        let order: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c,
            0xd0, 0x36, 0x41, 0x41,
        ];
        let mut high_s = signature;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let value = i16::from(order[i]) - i16::from(signature[32 + i]) - borrow;
            borrow = i16::from(value < 0);
            high_s[32 + i] = value.rem_euclid(256) as u8;
        }
        high_s[64] = if signature[64] == 27 { 28 } else { 27 };
        assert!(!is_canonical(&high_s));
        assert_eq!(recover_signer(&digest, &high_s), None);
    }
}
