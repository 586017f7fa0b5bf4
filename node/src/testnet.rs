//! `tandem testnet`: everything a local cluster needs, in one directory.
//!
//! ```text
//! OUT/genesis.json
//! OUT/node{i}/config.toml, node_key.json, l1_key.json, genesis.json (a copy)
//! ```
//! Validator keys are fresh random keys. The funded accounts are deterministic, so that any
//! client and `tandem bench` can sign for them: account `i` (for `i < accounts`) has the
//! ed25519 seed `SHA-256(b"tandem.testnet.account" ++ u32_le(i))` and the balance
//! [`ACCOUNT_BALANCE`]. Node `i` listens on `base_port + i` (QUIC), `base_port + 100 + i`
//! (JSON-RPC) and `base_port + 200 + i` (metrics), all on 127.0.0.1.

use std::path::Path;

use tandem_types::{sha256, ChainParams, Genesis, GenesisAccount, GenesisValidator, SecretKey};

use crate::config::{Config, PeerEntry};
use crate::keys;

/// Domain of the testnet account seeds.
pub const ACCOUNT_SEED_DOMAIN: &[u8] = b"tandem.testnet.account";
/// Balance of every testnet account: 10^24 base units.
pub const ACCOUNT_BALANCE: u128 = 1_000_000_000_000_000_000_000_000;
/// Chain id of generated testnets unless one is given.
pub const DEFAULT_CHAIN_ID: u64 = 4_242;

/// The signing key of testnet account `index`.
pub fn account_key(index: u32) -> SecretKey {
    let seed = sha256(&[ACCOUNT_SEED_DOMAIN, &index.to_le_bytes()].concat());
    SecretKey::from_seed(&seed.0)
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct TestnetPlan {
    /// Number of validators.
    pub validators: usize,
    /// Number of funded accounts.
    pub accounts: u32,
    /// Chain id.
    pub chain_id: u64,
    /// First port (see the module documentation).
    pub base_port: u16,
    /// Genesis time, ms since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Heights per L1 batch.
    pub batch_blocks: u64,
}

/// Heights per L1 batch in generated testnets, unless asked otherwise.
pub const DEFAULT_BATCH_BLOCKS: u64 = 100;

/// The chain parameters of generated testnets, with `batch_blocks` heights per L1 batch.
pub fn testnet_params(batch_blocks: u64) -> ChainParams {
    ChainParams { min_fee: 1, block_txs_max: 1_000, block_bytes_max: 4 << 20, batch_blocks }
}

/// Writes a testnet into `out`, which must not exist or be empty.
pub fn generate(out: &Path, plan: &TestnetPlan) -> anyhow::Result<Genesis> {
    anyhow::ensure!(plan.validators >= 1, "a testnet needs at least one validator");
    anyhow::ensure!(plan.batch_blocks >= 1, "a batch needs at least one height");
    anyhow::ensure!(plan.accounts >= 1, "a testnet needs at least one funded account");
    let last_port = u32::from(plan.base_port) + 200 + plan.validators as u32;
    anyhow::ensure!(last_port <= u32::from(u16::MAX), "--base-port too high for the ports needed");
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", out.display());
    }
    let node_keys: Vec<SecretKey> =
        (0..plan.validators).map(|_| keys::generate_node_key()).collect::<Result<_, _>>()?;
    let l1_keys: Vec<keys::L1Key> =
        (0..plan.validators).map(|_| keys::generate_l1_key()).collect::<Result<_, _>>()?;
    let genesis = testnet_genesis(plan, &node_keys, &l1_keys);
    genesis.validate()?;
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("genesis.json"), genesis.to_json() + "\n")?;
    for index in 0..plan.validators {
        let home = out.join(format!("node{index}"));
        std::fs::create_dir_all(&home)?;
        keys::write_node_key(&home.join("node_key.json"), &node_keys[index])?;
        keys::write_l1_key(&home.join("l1_key.json"), &l1_keys[index])?;
        std::fs::write(home.join("genesis.json"), genesis.to_json() + "\n")?;
        let config = node_config(plan, index, &node_keys);
        config.validate()?;
        std::fs::write(home.join("config.toml"), config.to_toml())?;
    }
    Ok(genesis)
}

fn testnet_genesis(
    plan: &TestnetPlan,
    node_keys: &[SecretKey],
    l1_keys: &[keys::L1Key],
) -> Genesis {
    let mut accounts: Vec<GenesisAccount> = (0..plan.accounts)
        .map(|i| GenesisAccount { address: account_key(i).address(), balance: ACCOUNT_BALANCE })
        .collect();
    accounts.sort_by_key(|account| account.address);
    Genesis {
        chain_id: plan.chain_id,
        genesis_time_ms: plan.genesis_time_ms,
        params: testnet_params(plan.batch_blocks),
        validators: node_keys
            .iter()
            .zip(l1_keys)
            .map(|(node, l1)| GenesisValidator {
                address: node.address(),
                l1_address: l1.address(),
                power: 1,
            })
            .collect(),
        accounts,
    }
}

fn node_config(plan: &TestnetPlan, index: usize, node_keys: &[SecretKey]) -> Config {
    let address = |offset: u16, i: usize| {
        std::net::SocketAddr::from(([127, 0, 0, 1], plan.base_port + offset + i as u16))
    };
    let mut config = Config::default();
    config.network.listen = address(0, index);
    config.network.peers = node_keys
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(i, key)| PeerEntry { key: key.address(), address: address(0, i) })
        .collect();
    config.rpc.listen = address(100, index);
    config.metrics.listen = address(200, index);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_seeds_follow_the_documented_rule() {
        let mut preimage = b"tandem.testnet.account".to_vec();
        preimage.extend_from_slice(&7u32.to_le_bytes());
        let expected = SecretKey::from_seed(&sha256(&preimage).0);
        assert_eq!(account_key(7).address(), expected.address());
        assert_ne!(account_key(7).address(), account_key(8).address());
    }

    #[test]
    fn a_generated_testnet_loads_and_agrees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("net");
        let plan = TestnetPlan {
            validators: 3,
            accounts: 50,
            chain_id: 9,
            base_port: 31_000,
            genesis_time_ms: 1,
            batch_blocks: DEFAULT_BATCH_BLOCKS,
        };
        let genesis = generate(&out, &plan).expect("generate");
        assert_eq!(genesis.validators.len(), 3);
        assert_eq!(genesis.accounts.len(), 50);
        assert!(genesis.accounts.iter().all(|a| a.balance == ACCOUNT_BALANCE));
        for index in 0..3 {
            let home = out.join(format!("node{index}"));
            let config = Config::load(&home).expect("valid config");
            assert_eq!(config.network.peers.len(), 2);
            assert_eq!(config.rpc.listen.port(), 31_100 + index as u16);
            let key = keys::read_node_key(&home.join("node_key.json")).expect("key");
            assert_eq!(key.address(), genesis.validators[index].address);
            let l1 = keys::read_l1_key(&home.join("l1_key.json")).expect("key");
            assert_eq!(l1.address(), genesis.validators[index].l1_address);
            let copy = std::fs::read_to_string(home.join("genesis.json")).expect("genesis");
            assert_eq!(Genesis::from_json(&copy).expect("parses").hash(), genesis.hash());
        }
        assert!(generate(&out, &plan).is_err(), "never overwrites a testnet");
    }
}
