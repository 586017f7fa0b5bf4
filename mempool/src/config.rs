//! The mempool's configuration: plain values with documented defaults, validated once.

/// Limits and policies of the pool. The chain id and the minimum fee are not here: they come
/// from the genesis ([`tandem_types::ChainParams`]) given to [`crate::Mempool::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions held at once. Default 50,000.
    pub txs_max: usize,
    /// Most encoded transaction bytes held at once. Default 64 MiB.
    pub bytes_max: usize,
    /// Most transactions held for one sender. Default 256.
    pub sender_txs_max: usize,
    /// How far a nonce may run ahead of the sender's pending nonce (the first nonce missing
    /// after the account nonce): nonces up to `pending + nonce_gap_max` are held until the gap
    /// fills; higher ones are `nonce_too_high`. 0 accepts only the pending nonce. Default 64.
    pub nonce_gap_max: u64,
    /// Largest accepted encoded transaction. Must fit every valid transaction. Default 1,024.
    pub tx_bytes_max: usize,
    /// A transaction replaces a queued one with the same sender and nonce only if its fee is
    /// at least `old fee × (100 + this) / 100` (and strictly higher). Default 10.
    pub replace_bump_percent: u32,
    /// How long a transaction may wait in the pool, from its admission. Default 10 minutes.
    pub ttl_ms: u64,
    /// How many recently admitted or included transaction hashes are remembered to refuse
    /// duplicates after they left the pool. Default 100,000.
    pub dedupe_hashes_max: usize,
    /// Most transactions in one gossip batch. Default 256.
    pub gossip_batch_txs_max: usize,
    /// The smallest retry hint given with `mempool_full`, and the one given to a transaction
    /// that could execute at once; under a lasting overload a held transaction's hint is the
    /// time the chain needs to include what the pool holds (see
    /// [`crate::Mempool::retry_after_ms`]). Default 1,000 ms.
    pub full_retry_after_ms: u64,
    /// Clients' transactions fill the pool freely only up to this share, in percent, of
    /// `txs_max` and `bytes_max`; above it a client's transaction enters only by evicting one
    /// with a lower fee (one out for one in), while peers' transactions may fill the whole
    /// pool. A transaction a peer admitted is probably in a block soon: refusing it here would
    /// move its signature check onto the consensus path, when that block arrives. Under
    /// overload the pool therefore refuses new client transactions, cheaply and before their
    /// signature is checked, rather than its peers'.
    ///
    /// The share also sets how deep a sudden overload fills the pools, and every pooled
    /// transaction costs each node a signature check: at 50% the four-node testnet's nodes
    /// each verified about 50,000 transactions in the first seconds of a ten-fold load, which
    /// starved consensus for 11–19 s; at 10% the same onset took 2–4 s. A pool deeper than a
    /// few seconds of blocks only makes clients wait. At 5% the onset took about a second, but
    /// the testnet then tipped into a lasting overload at loads it could carry: a chain that
    /// reaches the share keeps its blocks small. Default 10 (5,000 transactions).
    pub client_share_percent: u8,
}

impl Default for MempoolConfig {
    fn default() -> MempoolConfig {
        MempoolConfig {
            txs_max: 50_000,
            bytes_max: 64 << 20,
            sender_txs_max: 256,
            nonce_gap_max: 64,
            tx_bytes_max: 1_024,
            replace_bump_percent: 10,
            ttl_ms: 10 * 60 * 1_000,
            dedupe_hashes_max: 100_000,
            gossip_batch_txs_max: 256,
            full_retry_after_ms: 1_000,
            client_share_percent: 10,
        }
    }
}

/// The largest encoded signed transaction of protocol v1 (a transfer).
pub const LARGEST_TX_BYTES: usize = 177;

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mempool config: {name} {reason}")]
pub struct ConfigError {
    /// The offending setting.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl MempoolConfig {
    /// Up to how many transactions and bytes a transaction from `origin` may fill the pool
    /// without evicting one: the whole pool for a peer's, the client share for a client's (at
    /// least one transaction's worth).
    pub fn caps_for(&self, origin: crate::Origin) -> (usize, usize) {
        match origin {
            crate::Origin::Peer => (self.txs_max, self.bytes_max),
            crate::Origin::Client => {
                let percent = u128::from(self.client_share_percent);
                let share =
                    |cap: usize| usize::try_from(cap as u128 * percent / 100).unwrap_or(cap);
                (share(self.txs_max).max(1), share(self.bytes_max).max(self.tx_bytes_max))
            }
        }
    }

    /// Checks that the limits are usable together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let error = |name, reason: String| Err(ConfigError { name, reason });
        if self.txs_max == 0 {
            return error("txs_max", "must be at least 1".into());
        }
        if self.tx_bytes_max < LARGEST_TX_BYTES {
            return error(
                "tx_bytes_max",
                format!("must be at least {LARGEST_TX_BYTES}, the size of a transfer"),
            );
        }
        if self.bytes_max < self.tx_bytes_max {
            return error("bytes_max", "must be at least tx_bytes_max".into());
        }
        if self.sender_txs_max == 0 {
            return error("sender_txs_max", "must be at least 1".into());
        }
        if self.replace_bump_percent > 10_000 {
            return error("replace_bump_percent", "must be at most 10000".into());
        }
        if self.ttl_ms == 0 {
            return error("ttl_ms", "must be at least 1".into());
        }
        if self.gossip_batch_txs_max == 0 {
            return error("gossip_batch_txs_max", "must be at least 1".into());
        }
        if !(1..=100).contains(&self.client_share_percent) {
            return error("client_share_percent", "must be between 1 and 100".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(MempoolConfig::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Spoil = fn(&mut MempoolConfig);
        let cases: [(&str, Spoil); 9] = [
            ("txs_max", |c| c.txs_max = 0),
            ("tx_bytes_max", |c| c.tx_bytes_max = 100),
            ("bytes_max", |c| c.bytes_max = 500),
            ("sender_txs_max", |c| c.sender_txs_max = 0),
            ("replace_bump_percent", |c| c.replace_bump_percent = 10_001),
            ("ttl_ms", |c| c.ttl_ms = 0),
            ("gossip_batch_txs_max", |c| c.gossip_batch_txs_max = 0),
            ("client_share_percent", |c| c.client_share_percent = 0),
            ("client_share_percent", |c| c.client_share_percent = 101),
        ];
        for (name, spoil) in cases {
            let mut config = MempoolConfig::default();
            spoil(&mut config);
            let error = config.validate().expect_err(name);
            assert_eq!(error.name, name);
            assert!(error.to_string().starts_with(&format!("mempool config: {name} ")));
        }
    }
}
