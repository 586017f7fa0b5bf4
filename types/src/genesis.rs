//! The genesis document: chain parameters, validators and funded accounts.

use std::collections::{BTreeMap, BTreeSet};

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{codec::encode, hash::sha256_parts, Address, Hash, L1Address};

/// Domain separator of the genesis hash.
pub const GENESIS_HASH_DOMAIN: &[u8] = b"tandem.genesis.v1";

/// Protocol parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainParams {
    /// Smallest fee a transaction may carry.
    #[serde(with = "crate::json::u128_string")]
    pub min_fee: u128,
    /// Most transactions in one block.
    pub block_txs_max: u32,
    /// Most bytes of one encoded block.
    pub block_bytes_max: u32,
    /// Blocks per L1 batch: batch `i` covers heights `i*batch_blocks+1 ..= (i+1)*batch_blocks`.
    pub batch_blocks: u64,
}

/// A validator as listed in genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// Consensus and transport identity (ed25519 public key).
    pub address: Address,
    /// Address of the validator's secp256k1 key, which signs L1 attestations.
    pub l1_address: L1Address,
    /// Voting power.
    pub power: u64,
}

/// An account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// The account.
    pub address: Address,
    /// Its starting balance.
    #[serde(with = "crate::json::u128_string")]
    pub balance: u128,
}

/// The genesis document. Its canonical form lists accounts in strictly increasing address
/// order; validators keep their listed order, which fixes proposer and poster rotation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Genesis {
    /// The chain id every transaction and vote carries.
    pub chain_id: u64,
    /// Genesis time, milliseconds since the Unix epoch; block 1's timestamp is not earlier.
    pub genesis_time_ms: u64,
    /// Protocol parameters.
    pub params: ChainParams,
    /// The validator set, in rotation order.
    pub validators: Vec<GenesisValidator>,
    /// Funded accounts, sorted by address.
    pub accounts: Vec<GenesisAccount>,
}

/// Why a genesis document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The JSON could not be parsed.
    #[error("genesis is not valid JSON: {0}")]
    Json(String),
    /// No validators.
    #[error("genesis lists no validators")]
    NoValidators,
    /// A validator with zero power.
    #[error("validator {0} has zero power")]
    ZeroPower(Address),
    /// A validator listed twice.
    #[error("validator {0} is listed twice")]
    DuplicateValidator(Address),
    /// Two validators with one L1 key (the rollup contract refuses such a committee).
    #[error("L1 address {0:?} belongs to two validators")]
    DuplicateL1Address(L1Address),
    /// A validator key that cannot sign.
    #[error("validator {address} has an unusable key: {reason}")]
    BadValidatorKey {
        /// The key.
        address: Address,
        /// Why it is unusable.
        reason: String,
    },
    /// Total power does not fit in a u64.
    #[error("total voting power overflows u64")]
    PowerOverflow,
    /// No funded account: the state tree would be empty.
    #[error("genesis funds no account")]
    NoAccounts,
    /// Accounts not in strictly increasing address order (also catches duplicates).
    #[error("accounts must be sorted by address without duplicates; entry {index} ({address}) is out of order")]
    UnsortedAccounts {
        /// Position of the offending entry.
        index: usize,
        /// Its address.
        address: Address,
    },
    /// The sum of balances does not fit in a u128.
    #[error("total supply overflows u128")]
    SupplyOverflow,
    /// A parameter out of range.
    #[error("parameter {name} {reason}")]
    BadParam {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Genesis {
    /// Parses and validates a genesis JSON document.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let genesis: Genesis =
            serde_json::from_str(text).map_err(|error| GenesisError::Json(error.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Pretty JSON of the document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serialises to JSON")
    }

    /// The genesis hash: `H(b"tandem.genesis.v1" ++ borsh(genesis))`. Block 1's parent.
    pub fn hash(&self) -> Hash {
        sha256_parts(&[GENESIS_HASH_DOMAIN, &encode(self)])
    }

    /// Checks every rule of a usable genesis.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.validate_params()?;
        ValidatorSet::new(self.validators.clone())?;
        self.validate_accounts()
    }

    /// The validator set.
    pub fn validator_set(&self) -> Result<ValidatorSet, GenesisError> {
        ValidatorSet::new(self.validators.clone())
    }

    fn validate_params(&self) -> Result<(), GenesisError> {
        let params = &self.params;
        if params.block_txs_max == 0 {
            return Err(GenesisError::BadParam {
                name: "block_txs_max",
                reason: "must be at least 1",
            });
        }
        if params.block_bytes_max < 1024 {
            return Err(GenesisError::BadParam {
                name: "block_bytes_max",
                reason: "must be at least 1024",
            });
        }
        if params.batch_blocks == 0 {
            return Err(GenesisError::BadParam {
                name: "batch_blocks",
                reason: "must be at least 1",
            });
        }
        Ok(())
    }

    fn validate_accounts(&self) -> Result<(), GenesisError> {
        if self.accounts.is_empty() {
            return Err(GenesisError::NoAccounts);
        }
        let mut supply = 0u128;
        for (index, account) in self.accounts.iter().enumerate() {
            if index > 0 && self.accounts[index - 1].address >= account.address {
                return Err(GenesisError::UnsortedAccounts { index, address: account.address });
            }
            supply = supply.checked_add(account.balance).ok_or(GenesisError::SupplyOverflow)?;
        }
        Ok(())
    }
}

/// A member of the validator set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// ed25519 identity.
    pub address: Address,
    /// L1 attestation key's address.
    pub l1_address: L1Address,
    /// Voting power.
    pub power: u64,
}

/// The validators in genesis order, with an index by address and the total power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    index: BTreeMap<Address, usize>,
    total_power: u64,
}

impl ValidatorSet {
    /// Builds a set; rejects empty sets, zero powers, duplicate keys (ed25519 or L1), unusable
    /// keys and overflow.
    pub fn new(validators: Vec<GenesisValidator>) -> Result<ValidatorSet, GenesisError> {
        if validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut index = BTreeMap::new();
        let mut l1_addresses = BTreeSet::new();
        let mut total_power = 0u64;
        for (position, validator) in validators.iter().enumerate() {
            if validator.power == 0 {
                return Err(GenesisError::ZeroPower(validator.address));
            }
            validator.address.check_key().map_err(|error| GenesisError::BadValidatorKey {
                address: validator.address,
                reason: error.to_string(),
            })?;
            if index.insert(validator.address, position).is_some() {
                return Err(GenesisError::DuplicateValidator(validator.address));
            }
            if !l1_addresses.insert(validator.l1_address) {
                return Err(GenesisError::DuplicateL1Address(validator.l1_address));
            }
            total_power =
                total_power.checked_add(validator.power).ok_or(GenesisError::PowerOverflow)?;
        }
        let validators = validators
            .into_iter()
            .map(|v| Validator { address: v.address, l1_address: v.l1_address, power: v.power })
            .collect();
        Ok(ValidatorSet { validators, index, total_power })
    }

    /// The validators in genesis order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: a set has at least one validator.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Sum of all powers.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The power of `address`, or `None` if it is not a validator.
    pub fn power_of(&self, address: &Address) -> Option<u64> {
        self.get(address).map(|v| v.power)
    }

    /// The validator with this address.
    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.index.get(address).map(|&position| &self.validators[position])
    }

    /// Position of `address` in genesis order.
    pub fn position(&self, address: &Address) -> Option<usize> {
        self.index.get(address).copied()
    }

    /// Whether `signed` power is strictly more than 2/3 of `total`.
    pub fn is_quorum(signed: u64, total: u64) -> bool {
        u128::from(signed) * 3 > u128::from(total) * 2
    }
}
