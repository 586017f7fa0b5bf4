//! The executor against a `BTreeMap` reference ledger: random transaction sequences, at least
//! 20% of them invalid, must give the same accept/reject decisions (with the same reasons), the
//! same balances and nonces, and the state root the protocol defines for the resulting accounts.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tandem_executor::{Executor, SignatureCheck, TxError};
use tandem_types::{Account, Action, Address, SecretKey, SignedTransaction, Transaction};

const FUNDED: u32 = 6;

#[derive(Clone, Debug)]
struct TxSpec {
    sender: usize,
    recipient: usize,
    amount: AmountSpec,
    fee: FeeSpec,
    nonce_offset: i8,
    wrong_chain: bool,
    bad_signature: bool,
    withdraw: bool,
}

#[derive(Clone, Debug)]
enum AmountSpec {
    Small(u128),
    Huge,
}

#[derive(Clone, Debug)]
enum FeeSpec {
    BelowMin,
    Fee(u128),
    Max,
}

fn tx_spec() -> impl Strategy<Value = TxSpec> {
    let amount =
        prop_oneof![8 => (0u128..700).prop_map(AmountSpec::Small), 1 => Just(AmountSpec::Huge)];
    let fee = prop_oneof![1 => Just(FeeSpec::BelowMin), 12 => (MIN_FEE..60).prop_map(FeeSpec::Fee), 1 => Just(FeeSpec::Max)];
    let nonce_offset = prop_oneof![10 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)];
    let sender = prop_oneof![10 => 0..FUNDED as usize, 1 => FUNDED as usize..FUNDED as usize + 3];
    (
        sender,
        0..FUNDED as usize + 4,
        amount,
        fee,
        nonce_offset,
        prop::bool::weighted(0.04),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(
                sender,
                recipient,
                amount,
                fee,
                nonce_offset,
                wrong_chain,
                bad_signature,
                withdraw,
            )| TxSpec {
                sender,
                recipient,
                amount,
                fee,
                nonce_offset,
                wrong_chain,
                bad_signature,
                withdraw,
            },
        )
}

/// Keys that can send: funded accounts, two never-funded ones, and validator 0 (paid fees).
fn senders(chain: &TestChain) -> Vec<SecretKey> {
    let mut keys = chain.accounts.clone();
    keys.push(key("unfunded", 0));
    keys.push(key("unfunded", 1));
    keys.push(chain.validators[0].clone());
    keys
}

struct Model {
    accounts: BTreeMap<Address, Account>,
}

impl Model {
    fn get(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    /// The protocol's rules, written independently of the executor, in the documented order.
    fn apply(&mut self, tx: &SignedTransaction, proposer: Address) -> Result<(), TxError> {
        let body = &tx.tx;
        if body.chain_id != CHAIN_ID {
            return Err(TxError::WrongChain { expected: CHAIN_ID, found: body.chain_id });
        }
        if body.fee < MIN_FEE {
            return Err(TxError::FeeTooLow { min_fee: MIN_FEE, fee: body.fee });
        }
        let mut sender = self.get(&body.sender);
        if body.nonce < sender.nonce {
            return Err(TxError::NonceTooLow { expected: sender.nonce, found: body.nonce });
        }
        if body.nonce > sender.nonce {
            return Err(TxError::NonceTooHigh { expected: sender.nonce, found: body.nonce });
        }
        let amount = body.action.amount();
        let needed = amount.checked_add(body.fee).ok_or(TxError::Overflow("amount + fee"))?;
        if sender.balance < needed {
            return Err(TxError::InsufficientBalance { balance: sender.balance, needed });
        }
        tx.verify_signature().map_err(TxError::BadSignature)?;
        sender.balance -= needed;
        sender.nonce += 1;
        self.accounts.insert(body.sender, sender);
        if let Action::Transfer { to, .. } = body.action {
            let mut recipient = self.get(&to);
            recipient.balance += amount;
            self.accounts.insert(to, recipient);
        }
        let mut paid = self.get(&proposer);
        paid.balance += body.fee;
        self.accounts.insert(proposer, paid);
        Ok(())
    }
}

fn make_tx(
    spec: &TxSpec,
    keys: &[SecretKey],
    recipients: &[Address],
    model: &Model,
) -> SignedTransaction {
    let sender = &keys[spec.sender];
    let account = model.get(&sender.address());
    let nonce = (account.nonce as i64 + spec.nonce_offset as i64).max(0) as u64;
    let amount = match spec.amount {
        AmountSpec::Small(amount) => amount,
        AmountSpec::Huge => u128::MAX - 5,
    };
    let fee = match spec.fee {
        FeeSpec::BelowMin => MIN_FEE - 1,
        FeeSpec::Fee(fee) => fee,
        FeeSpec::Max => u128::MAX,
    };
    let action = if spec.withdraw {
        Action::Withdraw { l1_recipient: tandem_types::L1Address([9; 20]), amount }
    } else {
        Action::Transfer { to: recipients[spec.recipient], amount }
    };
    let chain_id = if spec.wrong_chain { CHAIN_ID + 1 } else { CHAIN_ID };
    let mut signed =
        Transaction { chain_id, sender: sender.address(), nonce, fee, action }.sign(sender);
    if spec.bad_signature {
        signed.signature.0[5] ^= 0x40;
    }
    signed
}

static TXS_TOTAL: AtomicUsize = AtomicUsize::new(0);
static TXS_INVALID: AtomicUsize = AtomicUsize::new(0);

fn run_case(blocks: Vec<Vec<TxSpec>>) -> Result<(), TestCaseError> {
    let chain = chain(FUNDED, 2_000, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut executor =
        Executor::open(&dir.path().join("a.redb"), chain.genesis.clone()).expect("open a");
    let mut replica =
        Executor::open(&dir.path().join("b.redb"), chain.genesis.clone()).expect("open b");
    let keys = senders(&chain);
    let mut recipients: Vec<Address> = keys.iter().map(SecretKey::address).collect();
    recipients.push(key("recipient-only", 0).address());
    let mut model = Model {
        accounts: chain
            .genesis
            .accounts
            .iter()
            .map(|a| (a.address, Account { balance: a.balance, nonce: 0 }))
            .collect(),
    };
    for (height, specs) in blocks.iter().enumerate() {
        let proposer = chain.validators[height % 2].address();
        let mut txs = Vec::new();
        let mut expected_included = Vec::new();
        let mut expected_rejected = Vec::new();
        for spec in specs {
            let tx = make_tx(spec, &keys, &recipients, &model);
            match model.apply(&tx, proposer) {
                Ok(()) => expected_included.push(tx.clone()),
                Err(reason) => expected_rejected.push((tx.hash(), reason)),
            }
            txs.push(tx);
        }
        TXS_TOTAL.fetch_add(txs.len(), Ordering::Relaxed);
        TXS_INVALID.fetch_add(expected_rejected.len(), Ordering::Relaxed);
        let built = executor
            .build(proposer, 1_800_000_000_000 + height as u64, txs, SignatureCheck::Verify)
            .expect("build");
        prop_assert_eq!(&built.block.txs, &expected_included);
        prop_assert_eq!(&built.rejected, &expected_rejected);
        let replica_outcome = replica
            .execute(&built.block, SignatureCheck::Verify)
            .expect("replica accepts the block");
        prop_assert_eq!(replica_outcome.state_root, built.outcome.state_root);
        let certificate = certificate(&built.block, &chain.validators);
        executor.commit(&built.block, &certificate, built.outcome).expect("commit");
        replica.commit(&built.block, &certificate, replica_outcome).expect("replica commit");
        for (address, account) in &model.accounts {
            prop_assert_eq!(executor.account(address), Some(*account));
        }
        prop_assert_eq!(executor.account_count(), model.accounts.len());
        prop_assert_eq!(executor.head().state.state_root, reference_root(&model.accounts));
    }
    Ok(())
}

#[test]
fn executor_agrees_with_the_reference_ledger() {
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    let strategy = prop::collection::vec(prop::collection::vec(tx_spec(), 0..14), 1..6);
    runner.run(&strategy, run_case).expect("executor and reference ledger agree");
    let total = TXS_TOTAL.load(Ordering::Relaxed);
    let invalid = TXS_INVALID.load(Ordering::Relaxed);
    eprintln!("{invalid} of {total} transactions were invalid");
    assert!(total > 500, "the run covered only {total} transactions");
    assert!(
        invalid * 5 >= total,
        "only {invalid} of {total} transactions were invalid; need at least 20%"
    );
}
