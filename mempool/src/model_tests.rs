//! The pool against a reference model that recomputes everything from per-sender maps, over
//! random sequences of admissions (valid and not), blocks, foreign blocks and time.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tandem_types::{
    Account, Action, Address, ChainParams, Hash, L1Address, SecretKey, SignedTransaction,
    Transaction,
};

use crate::{replacement_fee, Mempool, MempoolConfig, Origin, Rejection};

const CHAIN_ID: u64 = 3;
const MIN_FEE: u128 = 10;
const SENDERS: usize = 5;

fn config() -> MempoolConfig {
    MempoolConfig {
        txs_max: 7,
        bytes_max: 6 * 177 + 100,
        sender_txs_max: 4,
        nonce_gap_max: 2,
        tx_bytes_max: 177,
        replace_bump_percent: 10,
        ttl_ms: 60,
        dedupe_hashes_max: 100_000,
        gossip_batch_txs_max: 3,
        full_retry_after_ms: 5,
        client_share_percent: 70,
    }
}

#[derive(Clone, Debug)]
struct MTx {
    tx: SignedTransaction,
    hash: Hash,
    cost: u128,
    bytes: usize,
    seq: u64,
    admitted_ms: u64,
}

impl MTx {
    fn fee(&self) -> u128 {
        self.tx.tx.fee
    }
}

/// What the model says an admission does: removed hashes (replaced, evicted, dropped).
type Verdict = Result<(Option<Hash>, Vec<Hash>, Vec<Hash>), &'static str>;

/// The rules restated simply: per-sender maps, everything recomputed on demand.
struct Model {
    config: MempoolConfig,
    ledger: BTreeMap<Address, Account>,
    queues: BTreeMap<Address, BTreeMap<u64, MTx>>,
    known: BTreeSet<Hash>,
    seq: u64,
}

impl Model {
    fn account(&self, sender: &Address) -> Account {
        self.ledger.get(sender).copied().unwrap_or_default()
    }

    fn all(&self) -> impl Iterator<Item = &MTx> {
        self.queues.values().flat_map(|queue| queue.values())
    }

    fn pending(&self, sender: &Address) -> u64 {
        let mut next = self.account(sender).nonce;
        while self.queues.get(sender).is_some_and(|queue| queue.contains_key(&next)) {
            next += 1;
        }
        next
    }

    fn admit(
        &mut self,
        now_ms: u64,
        tx: &SignedTransaction,
        signature_ok: bool,
        origin: Origin,
    ) -> Verdict {
        let (sender, nonce, fee) = (tx.tx.sender, tx.tx.nonce, tx.tx.fee);
        let hash = tx.hash();
        let account = self.account(&sender);
        let queue = self.queues.get(&sender).cloned().unwrap_or_default();
        if tx.tx.chain_id != CHAIN_ID {
            return Err("wrong_chain");
        }
        if fee < MIN_FEE {
            return Err("fee_too_low");
        }
        if self.known.contains(&hash) || self.all().any(|m| m.hash == hash) {
            return Err("duplicate");
        }
        if nonce < account.nonce {
            return Err("nonce_too_low");
        }
        let replaced = queue.get(&nonce);
        match replaced {
            Some(old) if fee < replacement_fee(old.fee(), self.config.replace_bump_percent) => {
                return Err("fee_too_low")
            }
            Some(_) => {}
            None if nonce > self.pending(&sender) + self.config.nonce_gap_max => {
                return Err("nonce_too_high")
            }
            None if queue.len() >= self.config.sender_txs_max => return Err("sender_limit"),
            None => {}
        }
        let before: Option<u128> =
            queue.range(..nonce).try_fold(0u128, |sum, (_, m)| sum.checked_add(m.cost));
        let cost = tx.tx.action.amount().checked_add(fee);
        match before.zip(cost).and_then(|(b, c)| b.checked_add(c)) {
            Some(required) if required <= account.balance => {}
            _ => return Err("insufficient_balance"),
        }
        let evicted = self.evictions(tx, replaced, self.caps(origin))?;
        if !signature_ok {
            return Err("bad_signature");
        }
        let replaced = replaced.map(|old| old.hash);
        for hash in replaced.iter().chain(&evicted) {
            self.remove(hash);
        }
        let bytes = tx.encoded_len();
        let m = MTx {
            tx: tx.clone(),
            hash,
            cost: cost.unwrap(),
            bytes,
            seq: self.seq,
            admitted_ms: now_ms,
        };
        self.seq += 1;
        self.queues.entry(sender).or_default().insert(nonce, m);
        self.known.insert(hash);
        let dropped = self.recheck(&sender);
        Ok((replaced, evicted, dropped))
    }

    /// Up to where a transaction from `origin` fills the pool without evicting: the whole
    /// pool for a peer's, the client share for a client's.
    fn caps(&self, origin: Origin) -> (usize, usize) {
        let c = &self.config;
        let share = usize::from(c.client_share_percent);
        match origin {
            Origin::Peer => (c.txs_max, c.bytes_max),
            Origin::Client => {
                ((c.txs_max * share / 100).max(1), (c.bytes_max * share / 100).max(c.tx_bytes_max))
            }
        }
    }

    /// Evict other senders' last transactions, held ones first, then lowest fee (then
    /// latest) first, until the new transaction fits, and at least one if it takes the pool
    /// past `share`: a ready newcomer evicts any held tail and ready tails below its fee, a
    /// held newcomer only held tails below its fee.
    fn evictions(
        &self,
        tx: &SignedTransaction,
        replaced: Option<&MTx>,
        share: (usize, usize),
    ) -> Result<Vec<Hash>, &'static str> {
        let ready = |sender: &Address, nonce: u64| nonce < self.pending(sender);
        let mut tails: Vec<(bool, &MTx)> = self
            .queues
            .iter()
            .filter(|(sender, _)| **sender != tx.tx.sender)
            .filter_map(|(sender, queue)| {
                queue.iter().next_back().map(|(n, m)| (ready(sender, *n), m))
            })
            .collect();
        tails.sort_by_key(|(ready, m)| (*ready, m.fee(), std::cmp::Reverse(m.seq)));
        let newcomer_ready = tx.tx.nonce <= self.pending(&tx.tx.sender);
        let mut count = self.all().count() + 1 - usize::from(replaced.is_some());
        let mut bytes = self.all().map(|m| m.bytes).sum::<usize>() + tx.encoded_len()
            - replaced.map_or(0, |m| m.bytes);
        let mut evicted = Vec::new();
        let mut tails = tails.into_iter();
        let over_share = count > share.0 || bytes > share.1;
        let (txs_max, bytes_max) = (self.config.txs_max, self.config.bytes_max);
        while count > txs_max || bytes > bytes_max || (over_share && evicted.is_empty()) {
            match tails.next() {
                Some((victim_ready, victim))
                    if (newcomer_ready && !victim_ready)
                        || (victim_ready == newcomer_ready && victim.fee() < tx.tx.fee) =>
                {
                    count -= 1;
                    bytes -= victim.bytes;
                    evicted.push(victim.hash);
                }
                _ => return Err("mempool_full"),
            }
        }
        Ok(evicted)
    }

    fn remove(&mut self, hash: &Hash) -> bool {
        for queue in self.queues.values_mut() {
            if let Some(nonce) = queue.iter().find(|(_, m)| m.hash == *hash).map(|(n, _)| *n) {
                queue.remove(&nonce);
                self.queues.retain(|_, queue| !queue.is_empty());
                return true;
            }
        }
        false
    }

    /// Drops stale nonces and what the balance no longer covers, in nonce order.
    fn recheck(&mut self, sender: &Address) -> Vec<Hash> {
        let account = self.account(sender);
        let Some(queue) = self.queues.get_mut(sender) else { return vec![] };
        let mut dropped = Vec::new();
        let mut spent = 0u128;
        queue.retain(|&nonce, m| {
            let keep = nonce >= account.nonce
                && spent.checked_add(m.cost).is_some_and(|total| total <= account.balance);
            if keep {
                spent += m.cost;
            } else {
                dropped.push(m.hash);
            }
            keep
        });
        self.queues.retain(|_, queue| !queue.is_empty());
        dropped
    }

    /// Repeatedly the best among each sender's next ready transaction.
    fn reap(&self, max_txs: usize) -> Vec<SignedTransaction> {
        let mut next: BTreeMap<Address, u64> =
            self.queues.keys().map(|sender| (*sender, self.account(sender).nonce)).collect();
        let mut block = Vec::new();
        while block.len() < max_txs {
            let best = next
                .iter()
                .filter_map(|(sender, nonce)| self.queues[sender].get(nonce))
                .min_by_key(|m| (std::cmp::Reverse(m.fee()), m.seq));
            let Some(best) = best else { break };
            block.push(best.tx.clone());
            *next.get_mut(&best.tx.tx.sender).unwrap() += 1;
        }
        block
    }

    /// Executes a block on the ledger; panics if any transaction is invalid.
    fn execute(&mut self, block: &[SignedTransaction]) {
        for tx in block {
            let account = self.ledger.entry(tx.tx.sender).or_default();
            assert_eq!(account.nonce, tx.tx.nonce, "block nonces run in order");
            let cost = tx.tx.action.amount() + tx.tx.fee;
            account.balance = account.balance.checked_sub(cost).expect("the balance covers");
            account.nonce += 1;
        }
    }

    fn commit(&mut self, now_ms: u64, block: &[SignedTransaction]) -> (Vec<Hash>, Vec<Hash>) {
        self.execute(block);
        let mut included = Vec::new();
        for tx in block {
            self.known.insert(tx.hash());
            if self.remove(&tx.hash()) {
                included.push(tx.hash());
            }
        }
        let senders: BTreeSet<Address> = block.iter().map(|tx| tx.tx.sender).collect();
        let dropped = senders.iter().flat_map(|sender| self.recheck(sender)).collect();
        self.expire(now_ms);
        (included, dropped)
    }

    fn expire(&mut self, now_ms: u64) -> Vec<Hash> {
        let ttl = self.config.ttl_ms;
        let mut old: Vec<&MTx> = self.all().filter(|m| m.admitted_ms + ttl <= now_ms).collect();
        old.sort_by_key(|m| (m.admitted_ms, m.seq));
        let old: Vec<Hash> = old.iter().map(|m| m.hash).collect();
        for hash in &old {
            self.remove(hash);
        }
        old
    }
}

#[derive(Clone, Debug)]
enum Op {
    Admit {
        sender: usize,
        nonce_offset: i64,
        fee: u128,
        amount: u128,
        withdraw: bool,
        fault: u8,
        peer: bool,
    },
    Resubmit {
        index: usize,
    },
    Block {
        max_txs: usize,
        foreign: Option<(usize, u128)>,
    },
    Tick {
        ms: u64,
    },
    Gossip,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop_oneof![1 => Just(0), 2 => 0..SENDERS], -2i64..4, proptest::sample::select(&[5u128, 10, 11, 12, 13, 14, 20, 22, 30, 50][..]), 0u128..300, any::<bool>(), 0u8..20, any::<bool>())
            .prop_map(|(sender, nonce_offset, fee, amount, withdraw, fault, peer)| Op::Admit {
                sender, nonce_offset, fee, amount, withdraw, fault, peer
            }),
        1 => (0usize..1000).prop_map(|index| Op::Resubmit { index }),
        2 => (0usize..6, proptest::option::weighted(0.3, (0..SENDERS, 0u128..300)))
            .prop_map(|(max_txs, foreign)| Op::Block { max_txs, foreign }),
        1 => (0u64..30).prop_map(|ms| Op::Tick { ms }),
        1 => Just(Op::Gossip),
    ]
}

struct Run {
    pool: Mempool,
    model: Model,
    keys: Vec<SecretKey>,
    sent: Vec<SignedTransaction>,
    now_ms: u64,
}

impl Run {
    fn new(balances: &[u128]) -> Run {
        let keys: Vec<SecretKey> =
            (0..SENDERS as u8).map(|i| SecretKey::from_seed(&[i + 1; 32])).collect();
        let ledger = keys
            .iter()
            .zip(balances)
            .map(|(key, &balance)| (key.address(), Account { balance, nonce: 0 }))
            .collect();
        let params = ChainParams {
            min_fee: MIN_FEE,
            block_txs_max: 100,
            block_bytes_max: 1 << 20,
            batch_blocks: 1,
        };
        let pool = Mempool::new(config(), CHAIN_ID, &params).unwrap();
        let model = Model {
            config: config(),
            ledger,
            queues: BTreeMap::new(),
            known: BTreeSet::new(),
            seq: 0,
        };
        Run { pool, model, keys, sent: Vec::new(), now_ms: 0 }
    }

    fn make_tx(
        &self,
        sender: usize,
        nonce_offset: i64,
        fee: u128,
        amount: u128,
        withdraw: bool,
    ) -> Transaction {
        let key = &self.keys[sender];
        let base = self.model.pending(&key.address()) as i64;
        let action = match withdraw {
            true => Action::Withdraw { l1_recipient: L1Address([1; 20]), amount },
            false => Action::Transfer { to: self.keys[(sender + 1) % SENDERS].address(), amount },
        };
        let nonce = (base + nonce_offset).max(0) as u64;
        Transaction { chain_id: CHAIN_ID, sender: key.address(), nonce, fee, action }
    }

    fn admit(&mut self, tx: SignedTransaction, signature_ok: bool, origin: Origin) {
        let expected = self.model.admit(self.now_ms, &tx, signature_ok, origin);
        // Odd nonces take the split path: precheck, the signature outside, admit_verified.
        let got = if tx.tx.nonce % 2 == 1 {
            self.admit_split(tx.clone(), origin)
        } else {
            self.pool.admit(self.now_ms, tx.clone(), origin, &self.model.ledger)
        };
        match (&got, &expected) {
            (Ok(admitted), Ok((replaced, evicted, dropped))) => {
                assert_eq!(&admitted.replaced, replaced);
                assert_eq!(&admitted.evicted, evicted);
                assert_eq!(&admitted.dropped, dropped);
            }
            (Err(rejection), Err(reason)) => assert_eq!(rejection.reason(), *reason, "{rejection}"),
            _ => panic!("pool {got:?}, model {expected:?} for {tx:?}"),
        }
        self.sent.push(tx);
    }

    fn admit_split(
        &mut self,
        tx: SignedTransaction,
        origin: Origin,
    ) -> Result<crate::Admitted, Rejection> {
        let refreshed = self.pool.precheck(&tx, origin, &self.model.ledger)?;
        let kept = self.pool.sender_key(&tx.tx.sender);
        let sender_key = Mempool::verify_signature(&tx, kept).map_err(|error| {
            let rejection = Rejection::BadSignature(error);
            self.pool.count_rejection(&rejection);
            rejection
        })?;
        let ledger = &self.model.ledger;
        let mut admitted = self.pool.admit_verified(self.now_ms, tx, sender_key, origin, ledger)?;
        admitted.dropped.splice(0..0, refreshed);
        Ok(admitted)
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Admit { sender, nonce_offset, fee, amount, withdraw, fault, peer } => {
                let mut tx = self.make_tx(sender, nonce_offset, fee, amount, withdraw);
                if fault == 0 {
                    tx.chain_id += 1;
                }
                let mut signed = tx.sign(&self.keys[sender]);
                if fault == 1 {
                    signed.signature.0[40] ^= 4;
                }
                let origin = if peer { Origin::Peer } else { Origin::Client };
                self.admit(signed, fault != 1, origin);
            }
            Op::Resubmit { index } if !self.sent.is_empty() => {
                let tx = self.sent[index % self.sent.len()].clone();
                let signature_ok = tx.verify_signature().is_ok();
                self.admit(tx, signature_ok, Origin::Peer);
            }
            Op::Resubmit { .. } => {}
            Op::Block { max_txs, foreign } => self.block(max_txs, foreign),
            Op::Tick { ms } => {
                self.now_ms += ms;
                assert_eq!(self.pool.expire(self.now_ms), self.model.expire(self.now_ms));
            }
            Op::Gossip => {
                let batch = self.pool.take_gossip_batch();
                let batch = batch.unwrap_or_default();
                assert!(batch.len() <= config().gossip_batch_txs_max);
                assert!(batch.iter().all(|tx| self.pool.contains(&tx.hash())));
            }
        }
    }

    fn block(&mut self, max_txs: usize, foreign: Option<(usize, u128)>) {
        let mut block = self.pool.reap(max_txs, usize::MAX);
        assert_eq!(block, self.model.reap(max_txs), "reaped order");
        if let Some((sender, amount)) = foreign {
            // Another validator's block also carries a transaction this pool never saw.
            let address = self.keys[sender].address();
            let mut ledger = self.model.ledger.clone();
            let mut trial = Model { ledger: std::mem::take(&mut ledger), ..self.model_shell() };
            trial.execute(&block);
            let account = trial.account(&address);
            if account.balance >= amount + MIN_FEE {
                let tx = Transaction {
                    chain_id: CHAIN_ID,
                    sender: address,
                    nonce: account.nonce,
                    fee: MIN_FEE,
                    action: Action::Transfer { to: Address([7; 32]), amount },
                };
                block.push(tx.sign(&self.keys[sender]));
            }
        }
        self.now_ms += 1;
        let (included, dropped) = self.model.commit(self.now_ms, &block);
        let committed = self.pool.on_block_committed(self.now_ms, &block, &self.model.ledger);
        assert_eq!(committed.included, included);
        let mut got = committed.dropped;
        let mut want = dropped;
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    fn model_shell(&self) -> Model {
        Model {
            config: config(),
            ledger: BTreeMap::new(),
            queues: BTreeMap::new(),
            known: BTreeSet::new(),
            seq: 0,
        }
    }

    /// The pool holds what the model holds, within its caps, and what it would reap
    /// executes against the committed state.
    fn check(&mut self) {
        self.pool.assert_consistent();
        let held: BTreeSet<Hash> = self.model.all().map(|m| m.hash).collect();
        assert_eq!(self.pool.len(), held.len());
        assert!(held.iter().all(|hash| self.pool.contains(hash)));
        assert!(self.pool.len() <= config().txs_max && self.pool.bytes() <= config().bytes_max);
        for key in &self.keys {
            let sender = key.address();
            let want = self.model.queues.contains_key(&sender).then(|| self.model.pending(&sender));
            assert_eq!(self.pool.pending_nonce(&sender), want);
        }
        let everything = self.pool.reap(usize::MAX, usize::MAX);
        assert_eq!(everything, self.model.reap(usize::MAX));
        assert_eq!(
            self.pool.metrics().ready_txs,
            everything.len(),
            "ready = what a block can take"
        );
        assert_eq!(self.pool.has_ready(), !everything.is_empty(), "has_ready");
        let mut trial = Model { ledger: self.model.ledger.clone(), ..self.model_shell() };
        trial.execute(&everything);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_pool_matches_the_model(
        balances in proptest::collection::vec(0u128..3_000, SENDERS),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut run = Run::new(&balances);
        for op in ops {
            run.step(op);
            run.check();
        }
        let metrics = run.pool.metrics();
        prop_assert_eq!(metrics.txs, run.pool.len());
    }
}
