//! A small world for the pool's tests: keys, funded accounts and signed transfers.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;

use tandem_mempool::{Mempool, MempoolConfig};
use tandem_types::{
    sha256, Account, Action, Address, ChainParams, SecretKey, SignedTransaction, Transaction,
};

pub const CHAIN_ID: u64 = 7;
pub const MIN_FEE: u128 = 10;

pub fn params() -> ChainParams {
    ChainParams {
        min_fee: MIN_FEE,
        block_txs_max: 1_000,
        block_bytes_max: 1 << 20,
        batch_blocks: 10,
    }
}

pub fn key(index: u32) -> SecretKey {
    SecretKey::from_seed(&sha256(&[b"mempool".as_slice(), &index.to_le_bytes()].concat()).0)
}

pub fn transfer(from: &SecretKey, nonce: u64, fee: u128, amount: u128) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID,
        sender: from.address(),
        nonce,
        fee,
        action: Action::Transfer { to: Address([0xaa; 32]), amount },
    }
    .sign(from)
}

/// A pool and the committed accounts it is checked against.
pub struct World {
    pub pool: Mempool,
    pub accounts: BTreeMap<Address, Account>,
}

impl World {
    pub fn new(config: MempoolConfig) -> World {
        World {
            pool: Mempool::new(config, CHAIN_ID, &params()).expect("valid config"),
            accounts: BTreeMap::new(),
        }
    }

    pub fn fund(&mut self, key: &SecretKey, balance: u128, nonce: u64) {
        self.accounts.insert(key.address(), Account { balance, nonce });
    }

    /// Executes `txs` against the accounts like the executor would (they must be valid),
    /// then tells the pool.
    pub fn commit(&mut self, now_ms: u64, txs: &[SignedTransaction]) -> tandem_mempool::Committed {
        for tx in txs {
            let account = self.accounts.entry(tx.tx.sender).or_default();
            assert_eq!(account.nonce, tx.tx.nonce, "committed transactions are in nonce order");
            let cost = tx.tx.action.amount() + tx.tx.fee;
            account.balance = account.balance.checked_sub(cost).expect("balance covers");
            account.nonce += 1;
        }
        self.pool.on_block_committed(now_ms, txs, &self.accounts)
    }
}
