//! `tandem deploy-contract`: deploys the rollup contract for a genesis on an L1.
//!
//! The contract gets the genesis validators' L1 addresses (in genesis order: the poster
//! rotation) with their voting power as weight, and the genesis state root. On a development
//! chain (anvil) `--dev-key` pays with anvil's first funded account, and `--fund-validators`
//! gives every validator's L1 key some ETH for gas.

use std::path::Path;

use anyhow::Context;
use tandem_executor::Executor;
use tandem_l1::{set_balance_dev, L1Signer, RollupClient, Sequencer};
use tandem_types::{Genesis, Hash};

pub use tandem_l1::ANVIL_FIRST_SECRET;

/// The state root of `genesis`, computed by a throwaway store.
pub fn genesis_state_root(genesis: &Genesis) -> anyhow::Result<Hash> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let executor = Executor::open(&dir.path().join("genesis.redb"), genesis.clone())
        .context("computing the genesis state")?;
    Ok(executor.head().state.state_root)
}

/// Deploys the contract for `genesis` on `l1_rpc`, paid by `key`; funds the validators' L1 keys
/// with `fund_eth` ETH each if asked (development chains). Returns the contract's address.
pub async fn deploy(
    l1_rpc: &str,
    key: &L1Signer,
    genesis_path: &Path,
    fund_eth: Option<u64>,
) -> anyhow::Result<tandem_types::L1Address> {
    let text = std::fs::read_to_string(genesis_path)
        .with_context(|| format!("reading the genesis {}", genesis_path.display()))?;
    let genesis =
        Genesis::from_json(&text).with_context(|| format!("genesis {}", genesis_path.display()))?;
    let root = genesis_state_root(&genesis)?;
    let sequencers: Vec<Sequencer> = genesis
        .validators
        .iter()
        .map(|v| Sequencer { address: v.l1_address, weight: v.power })
        .collect();
    let client = RollupClient::deploy(l1_rpc, key, &sequencers, root)
        .await
        .with_context(|| format!("deploying the rollup contract through {l1_rpc}"))?;
    if let Some(eth) = fund_eth {
        let wei = u128::from(eth) * 1_000_000_000_000_000_000;
        for sequencer in &sequencers {
            set_balance_dev(l1_rpc, sequencer.address, wei).await.with_context(|| {
                format!("funding {:?} (a development chain?)", sequencer.address)
            })?;
        }
    }
    Ok(client.address())
}
