//! What the consensus tests share: deterministic keys, an empty block source, a test genesis.

#![allow(dead_code)]

use tandem_consensus::BlockSource;
use tandem_types::{
    sha256, Block, ChainParams, Genesis, GenesisAccount, GenesisValidator, L1Address, SecretKey,
    SignedTransaction,
};

/// The key of the `index`-th holder of `role` ("validator", "account", "peer", …).
pub fn key(role: &str, index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[role.as_bytes(), &index.to_le_bytes()].concat()).0)
}

/// A block source that never has transactions: every block is empty.
pub struct Empty;

impl BlockSource for Empty {
    fn candidates(&mut self, _height: u64, _limit: usize) -> Vec<SignedTransaction> {
        Vec::new()
    }

    fn has_candidates(&self) -> bool {
        false
    }

    fn on_committed(&mut self, _now_ms: u64, _block: &Block) {}
}

/// A genesis with `validators` of equal power (keys `key("validator", i)`) and one funded
/// account (`key("account", 0)`).
pub fn genesis(chain_id: u64, validators: &[SecretKey], block_txs_max: u32) -> Genesis {
    Genesis {
        chain_id,
        genesis_time_ms: 0,
        params: ChainParams {
            min_fee: 1,
            block_txs_max,
            block_bytes_max: 1 << 20,
            batch_blocks: 10,
        },
        validators: validators
            .iter()
            .zip(1u8..)
            .map(|(k, i)| GenesisValidator {
                address: k.address(),
                l1_address: L1Address([i; 20]),
                power: 1,
            })
            .collect(),
        accounts: vec![GenesisAccount { address: key("account", 0).address(), balance: 10 }],
    }
}
