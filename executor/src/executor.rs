//! The executor: validates, builds and commits blocks over the account state.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use jmt::{KeyHash, OwnedValue};
use rustc_hash::FxHashMap;
use tandem_types::{
    decode, encode, state_key, tx_root, Account, AccountProof, Address, Block, BlockHeader,
    CommitCertificate, Genesis, Hash, Height, SignedTransaction, ValidatorSet,
};

use crate::error::{BlockError, ExecutorError, StoreError, TxError};
use crate::ledger::{Overlay, Receipt, Rules, SignatureCheck};
use crate::store::{BlockWrite, Head, StateRef, Store, StoreConfig};
use crate::tree::{LiveTree, TreeUpdate};

/// Encoded size of a block header plus the body's length prefix.
const BLOCK_OVERHEAD_BYTES: usize = 8 * 3 + 32 * 4 + 4 + 4;

/// Whether a commit waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The block is on disk when the commit returns.
    Immediate,
    /// The block is on disk after the next immediate commit.
    Deferred,
}

/// The result of executing a block on the current head, ready to commit.
#[derive(Debug)]
pub struct BlockOutcome {
    /// State root after the block.
    pub state_root: Hash,
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    block_hash: Hash,
    parent_hash: Hash,
    tx_hashes: Vec<Hash>,
    changes: FxHashMap<Hash, Account>,
    tree: Option<TreeUpdate>,
}

/// A block built by a proposer, with its outcome and the candidates it left out.
#[derive(Debug)]
pub struct BuiltBlock {
    /// The block, its header complete.
    pub block: Block,
    /// Its execution outcome, for [`Executor::commit`] once decided.
    pub outcome: BlockOutcome,
    /// Candidates that were invalid on this state, with the reason.
    pub rejected: Vec<(Hash, TxError)>,
}

/// An account (or its absence) at a height, with the proof against that height's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenAccount {
    /// The height.
    pub height: Height,
    /// The state root after that height.
    pub state_root: Hash,
    /// The account, or `None` if it was never touched.
    pub account: Option<Account>,
    /// The proof of `account` under `state_root`.
    pub proof: AccountProof,
}

/// Transactions executed on an overlay, before the state root is computed.
struct Executed {
    changes: FxHashMap<Hash, Account>,
    receipts: Vec<Receipt>,
    tx_hashes: Vec<Hash>,
}

/// The committed accounts, shared with readers on other threads (the mempool's admission).
/// The executor is the only writer: it updates the map right after a block's commit.
#[derive(Clone, Debug, Default)]
pub struct CommittedAccounts(Arc<RwLock<FxHashMap<Hash, Account>>>);

impl CommittedAccounts {
    fn new(accounts: FxHashMap<Hash, Account>) -> CommittedAccounts {
        CommittedAccounts(Arc::new(RwLock::new(accounts)))
    }

    /// The committed account of `address`, if it exists.
    pub fn get(&self, address: &Address) -> Option<Account> {
        self.read().get(&state_key(address)).copied()
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there is no account (never true after genesis).
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A panic while the lock is held cannot leave the map half-updated (updates are one
    // `extend` of owned values), so a poisoned lock is still a consistent map.
    fn read(&self) -> RwLockReadGuard<'_, FxHashMap<Hash, Account>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn extend(&self, changes: FxHashMap<Hash, Account>) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).extend(changes);
    }
}

/// The deterministic state machine of one node.
pub struct Executor {
    genesis: Genesis,
    genesis_hash: Hash,
    validators: ValidatorSet,
    store: Arc<Store>,
    accounts: CommittedAccounts,
    tree: LiveTree,
    head: Head,
}

impl Executor {
    /// Opens the store at `path`, initialising it from `genesis` if it is new. A store created
    /// with another genesis is refused.
    pub fn open(path: &Path, genesis: Genesis) -> Result<Executor, ExecutorError> {
        Executor::open_with(path, genesis, &StoreConfig::default())
    }

    /// [`Executor::open`] with explicit store settings.
    pub fn open_with(
        path: &Path,
        genesis: Genesis,
        config: &StoreConfig,
    ) -> Result<Executor, ExecutorError> {
        genesis.validate()?;
        let validators = genesis.validator_set()?;
        let genesis_hash = genesis.hash();
        let store = Store::open(path, config)?;
        let (head, tree, accounts) = match store.genesis_hash()? {
            None => init_genesis(&store, &genesis, genesis_hash)?,
            Some(stored) if stored != genesis_hash => {
                return Err(StoreError::GenesisMismatch { stored, configured: genesis_hash }.into())
            }
            Some(_) => load_state(&store)?,
        };
        let store = Arc::new(store);
        let accounts = CommittedAccounts::new(accounts);
        Ok(Executor { genesis, genesis_hash, validators, store, accounts, tree, head })
    }

    /// The last committed height and its state.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The genesis hash (block 1's parent).
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The validator set.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// The store, for reads of blocks, certificates, receipts, the transaction index and
    /// proofs; shared, so readers on other threads keep it while the executor commits.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A handle to the committed accounts for readers on other threads.
    pub fn committed_accounts(&self) -> CommittedAccounts {
        self.accounts.clone()
    }

    /// Number of accounts in the current state.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// An account in the current state.
    pub fn account(&self, address: &Address) -> Option<Account> {
        self.accounts.get(address)
    }

    /// Validates `block` as the next block: header against the head, limits, every
    /// transaction, and the state root. Changes nothing; commit the outcome once decided.
    pub fn execute(
        &self,
        block: &Block,
        signatures: SignatureCheck<'_>,
    ) -> Result<BlockOutcome, ExecutorError> {
        let header = &block.header;
        self.check_header(header, block)?;
        let executed = self.run_all(&header.proposer, &block.txs, signatures)?;
        let computed = tx_root(&executed.tx_hashes);
        if computed != header.tx_root {
            return Err(BlockError::TxRootMismatch { header: header.tx_root, computed }.into());
        }
        let outcome = self.finish(executed, header.hash())?;
        if outcome.state_root != header.state_root {
            return Err(BlockError::StateRootMismatch {
                header: header.state_root,
                computed: outcome.state_root,
            }
            .into());
        }
        Ok(outcome)
    }

    /// Builds the next block from `candidates` in the order given, skipping invalid ones and
    /// stopping at the block limits. `timestamp_ms` is raised to the parent's if it is earlier.
    pub fn build(
        &self,
        proposer: Address,
        timestamp_ms: u64,
        candidates: impl IntoIterator<Item = SignedTransaction>,
        signatures: SignatureCheck<'_>,
    ) -> Result<BuiltBlock, ExecutorError> {
        if self.validators.get(&proposer).is_none() {
            return Err(BlockError::UnknownProposer(proposer).into());
        }
        let (txs, executed, rejected) = self.run_candidates(&proposer, candidates, signatures);
        let header = BlockHeader {
            chain_id: self.genesis.chain_id,
            height: self.head.height + 1,
            timestamp_ms: timestamp_ms.max(self.head.timestamp_ms),
            parent_hash: self.head.block_hash,
            proposer,
            tx_root: tx_root(&executed.tx_hashes),
            state_root: Hash::ZERO,
            tx_count: txs.len() as u32,
        };
        let mut outcome = self.finish(executed, Hash::ZERO)?;
        let block = Block { header: BlockHeader { state_root: outcome.state_root, ..header }, txs };
        outcome.block_hash = block.hash();
        Ok(BuiltBlock { block, outcome, rejected })
    }

    /// Commits a decided block with its certificate and the outcome of executing it: one redb
    /// write transaction, then the in-memory state. The certificate's signatures are the
    /// caller's to verify; here it must name this block.
    pub fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: BlockOutcome,
    ) -> Result<(), ExecutorError> {
        self.commit_with(block, certificate, outcome, Durability::Immediate)
    }

    /// [`Executor::commit`] with a choice of durability. `Deferred` skips the fsync: a crash
    /// may lose the block (and every later deferred one) until the next `Immediate` commit,
    /// which makes all earlier ones durable too. Only for blocks that can be fetched again,
    /// such as blocks caught up from peers.
    pub fn commit_with(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        outcome: BlockOutcome,
        durability: Durability,
    ) -> Result<(), ExecutorError> {
        let block_hash = block.hash();
        if outcome.block_hash != block_hash || outcome.parent_hash != self.head.block_hash {
            return Err(BlockError::StaleOutcome.into());
        }
        if certificate.block_hash != block_hash || certificate.height != block.header.height {
            return Err(BlockError::CertificateMismatch {
                height: certificate.height,
                block_hash: certificate.block_hash,
            }
            .into());
        }
        let tree_version =
            outcome.tree.as_ref().map_or(self.head.state.tree_version, |t| t.version);
        let head = Head {
            height: block.header.height,
            block_hash,
            timestamp_ms: block.header.timestamp_ms,
            state: StateRef { state_root: outcome.state_root, tree_version },
        };
        let write = BlockWrite {
            block,
            certificate,
            receipts: &outcome.receipts,
            tx_hashes: &outcome.tx_hashes,
            head: &head,
            tree: outcome.tree.as_ref(),
        };
        let accounts = self.accounts.read();
        let current = |key: &KeyHash| {
            let key = Hash(key.0);
            outcome.changes.get(&key).or_else(|| accounts.get(&key)).map(encode)
        };
        self.store.write_block(&write, &current, durability)?;
        drop(accounts);
        if let Some(update) = outcome.tree {
            self.tree.apply(update);
        }
        self.accounts.extend(outcome.changes);
        self.head = head;
        Ok(())
    }

    /// The account of `address` after `height`, with a proof against that height's root.
    pub fn prove(&self, address: &Address, height: Height) -> Result<ProvenAccount, ExecutorError> {
        self.store.prove(address, height)
    }

    /// The account of `address` after `height` (`None` if it did not exist then).
    pub fn account_at(
        &self,
        address: &Address,
        height: Height,
    ) -> Result<Option<Account>, ExecutorError> {
        Ok(self.prove(address, height)?.account)
    }

    fn check_header(&self, header: &BlockHeader, block: &Block) -> Result<(), BlockError> {
        let chain_id = self.genesis.chain_id;
        let params = &self.genesis.params;
        if header.chain_id != chain_id {
            return Err(BlockError::WrongChain { expected: chain_id, found: header.chain_id });
        }
        if header.height != self.head.height + 1 {
            return Err(BlockError::WrongHeight {
                expected: self.head.height + 1,
                found: header.height,
            });
        }
        if header.parent_hash != self.head.block_hash {
            return Err(BlockError::WrongParent {
                expected: self.head.block_hash,
                found: header.parent_hash,
            });
        }
        if header.timestamp_ms < self.head.timestamp_ms {
            return Err(BlockError::TimestampBeforeParent {
                parent_ms: self.head.timestamp_ms,
                found_ms: header.timestamp_ms,
            });
        }
        if self.validators.get(&header.proposer).is_none() {
            return Err(BlockError::UnknownProposer(header.proposer));
        }
        if header.tx_count as usize != block.txs.len() {
            return Err(BlockError::TxCountMismatch {
                header: header.tx_count,
                body: block.txs.len(),
            });
        }
        if block.txs.len() > params.block_txs_max as usize {
            return Err(BlockError::TooManyTxs {
                count: block.txs.len(),
                max: params.block_txs_max,
            });
        }
        let bytes = BLOCK_OVERHEAD_BYTES
            + block.txs.iter().map(SignedTransaction::encoded_len).sum::<usize>();
        if bytes > params.block_bytes_max as usize {
            return Err(BlockError::TooLarge { bytes, max: params.block_bytes_max });
        }
        Ok(())
    }

    fn rules<'a>(&self, signatures: SignatureCheck<'a>) -> Rules<'a> {
        Rules { chain_id: self.genesis.chain_id, min_fee: self.genesis.params.min_fee, signatures }
    }

    /// Executes every transaction; the first invalid one invalidates the block.
    fn run_all(
        &self,
        proposer: &Address,
        txs: &[SignedTransaction],
        signatures: SignatureCheck<'_>,
    ) -> Result<Executed, BlockError> {
        let rules = self.rules(signatures);
        let proposer_key = state_key(proposer);
        let accounts = self.accounts.read();
        let mut overlay = Overlay::new(&accounts);
        let mut receipts = Vec::with_capacity(txs.len());
        let mut tx_hashes = Vec::with_capacity(txs.len());
        for (index, tx) in txs.iter().enumerate() {
            let hash = tx.hash();
            let receipt = overlay
                .apply(&rules, &proposer_key, tx, hash)
                .map_err(|reason| BlockError::InvalidTx { index, hash, reason })?;
            receipts.push(receipt);
            tx_hashes.push(hash);
        }
        Ok(Executed { changes: overlay.into_changes(), receipts, tx_hashes })
    }

    /// Executes candidates in order, keeping the valid ones until a block limit is reached.
    fn run_candidates(
        &self,
        proposer: &Address,
        candidates: impl IntoIterator<Item = SignedTransaction>,
        signatures: SignatureCheck<'_>,
    ) -> (Vec<SignedTransaction>, Executed, Vec<(Hash, TxError)>) {
        let rules = self.rules(signatures);
        let params = &self.genesis.params;
        let proposer_key = state_key(proposer);
        let accounts = self.accounts.read();
        let mut overlay = Overlay::new(&accounts);
        let (mut txs, mut receipts, mut tx_hashes, mut rejected) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut bytes = BLOCK_OVERHEAD_BYTES;
        for tx in candidates {
            if txs.len() >= params.block_txs_max as usize {
                break;
            }
            if bytes + tx.encoded_len() > params.block_bytes_max as usize {
                continue;
            }
            let hash = tx.hash();
            match overlay.apply(&rules, &proposer_key, &tx, hash) {
                Ok(receipt) => {
                    bytes += tx.encoded_len();
                    receipts.push(receipt);
                    tx_hashes.push(hash);
                    txs.push(tx);
                }
                Err(reason) => rejected.push((hash, reason)),
            }
        }
        (txs, Executed { changes: overlay.into_changes(), receipts, tx_hashes }, rejected)
    }

    /// Computes the state root of the executed changes on top of the head.
    fn finish(&self, executed: Executed, block_hash: Hash) -> Result<BlockOutcome, StoreError> {
        let (state_root, tree) = if executed.changes.is_empty() {
            (self.head.state.state_root, None)
        } else {
            let version = self.head.state.tree_version + 1;
            let values = tree_values(&executed.changes);
            let update = self.tree.update(values, version)?;
            (update.root, Some(update))
        };
        Ok(BlockOutcome {
            state_root,
            receipts: executed.receipts,
            block_hash,
            parent_hash: self.head.block_hash,
            tx_hashes: executed.tx_hashes,
            changes: executed.changes,
            tree,
        })
    }
}

fn tree_values(accounts: &FxHashMap<Hash, Account>) -> Vec<(KeyHash, OwnedValue)> {
    accounts.iter().map(|(key, account)| (KeyHash(key.0), encode(account))).collect()
}

pub(crate) fn decode_account(bytes: &[u8]) -> Result<Account, StoreError> {
    decode("account", bytes).map_err(|error| StoreError::Corrupt(error.to_string()))
}

type LoadedState = (Head, LiveTree, FxHashMap<Hash, Account>);

/// Writes the genesis accounts as tree version 0 and height 0.
fn init_genesis(
    store: &Store,
    genesis: &Genesis,
    genesis_hash: Hash,
) -> Result<LoadedState, StoreError> {
    let accounts: FxHashMap<Hash, Account> = genesis
        .accounts
        .iter()
        .map(|funded| (state_key(&funded.address), Account { balance: funded.balance, nonce: 0 }))
        .collect();
    let mut tree = LiveTree::empty();
    let update = tree.update(tree_values(&accounts), 0)?;
    let state_root = update.root;
    let head = Head {
        height: 0,
        block_hash: genesis_hash,
        timestamp_ms: genesis.genesis_time_ms,
        state: StateRef { state_root, tree_version: 0 },
    };
    let current = |key: &KeyHash| accounts.get(&Hash(key.0)).map(encode);
    store.write_genesis(&genesis_hash, &head, &update, &current)?;
    tree.apply(update);
    Ok((head, tree, accounts))
}

/// Loads the head, the live tree and every account of the latest state.
fn load_state(store: &Store) -> Result<LoadedState, StoreError> {
    let head =
        store.head()?.ok_or_else(|| StoreError::Corrupt("genesis hash without head".into()))?;
    let reader = store.tree_reader()?;
    let version = head.state.tree_version;
    let (tree, values) = LiveTree::load(version, |pos| reader.stored(pos))?;
    if tree.root_hash(version) != Some(head.state.state_root) {
        return Err(StoreError::Corrupt(format!(
            "tree root differs from the head at height {}",
            head.height
        )));
    }
    let mut accounts = FxHashMap::default();
    accounts.reserve(values.len());
    for (key_hash, bytes) in values {
        accounts.insert(Hash(key_hash.0), decode_account(&bytes)?);
    }
    Ok((head, tree, accounts))
}
