//! The transaction rules, applied to an overlay of touched accounts over the committed state.

use borsh::{BorshDeserialize, BorshSerialize};
use rustc_hash::FxHashMap;
use tandem_types::{state_key, Account, Action, Hash, L1Address, SignedTransaction};

use crate::error::TxError;

/// Whether execution checks transaction signatures. Skipping is only sound for transactions
/// whose signatures this node already verified (for example at mempool admission).
#[derive(Clone, Copy)]
pub enum SignatureCheck<'a> {
    /// Verify every signature under the strict rule.
    Verify,
    /// Trust that every signature was verified before.
    AlreadyVerified,
    /// Verify every signature except those of transactions this predicate knows by hash as
    /// verified before. The hash covers the signature, so a known hash is a known signature.
    SkipVerified(&'a dyn Fn(&Hash) -> bool),
}

impl SignatureCheck<'_> {
    /// Whether the signature of the transaction `tx_hash` must be verified.
    pub fn needs_verifying(&self, tx_hash: &Hash) -> bool {
        match self {
            SignatureCheck::Verify => true,
            SignatureCheck::AlreadyVerified => false,
            SignatureCheck::SkipVerified(known) => !known(tx_hash),
        }
    }
}

impl std::fmt::Debug for SignatureCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureCheck::Verify => "Verify",
            SignatureCheck::AlreadyVerified => "AlreadyVerified",
            SignatureCheck::SkipVerified(_) => "SkipVerified",
        })
    }
}

/// A withdrawal recorded by a `Withdraw` transaction; paid out on L1 in a later protocol step.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Withdrawal {
    /// Recipient on L1.
    pub l1_recipient: L1Address,
    /// Amount removed from the rollup.
    pub amount: u128,
}

/// What executing one transaction did.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// Fee paid to the proposer.
    pub fee: u128,
    /// The withdrawal it recorded, if it was a `Withdraw`.
    pub withdrawal: Option<Withdrawal>,
}

/// The rules and the context they need.
pub(crate) struct Rules<'a> {
    pub chain_id: u64,
    pub min_fee: u128,
    pub signatures: SignatureCheck<'a>,
}

/// Accounts touched by a block, over the committed state. Keys are state keys (`H(address)`).
pub(crate) struct Overlay<'a> {
    base: &'a FxHashMap<Hash, Account>,
    touched: FxHashMap<Hash, Account>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a FxHashMap<Hash, Account>) -> Overlay<'a> {
        Overlay { base, touched: FxHashMap::default() }
    }

    fn get(&self, key: &Hash) -> Account {
        self.touched.get(key).or_else(|| self.base.get(key)).copied().unwrap_or_default()
    }

    /// The touched accounts with their final values.
    pub fn into_changes(self) -> FxHashMap<Hash, Account> {
        self.touched
    }

    /// Applies `tx` if it is valid; on error the overlay is unchanged.
    pub fn apply(
        &mut self,
        rules: &Rules<'_>,
        proposer_key: &Hash,
        tx: &SignedTransaction,
        tx_hash: Hash,
    ) -> Result<Receipt, TxError> {
        let body = &tx.tx;
        if body.chain_id != rules.chain_id {
            return Err(TxError::WrongChain { expected: rules.chain_id, found: body.chain_id });
        }
        if body.fee < rules.min_fee {
            return Err(TxError::FeeTooLow { min_fee: rules.min_fee, fee: body.fee });
        }
        let sender_key = state_key(&body.sender);
        let mut sender = self.get(&sender_key);
        check_nonce(sender.nonce, body.nonce)?;
        let needed =
            body.action.amount().checked_add(body.fee).ok_or(TxError::Overflow("amount + fee"))?;
        if sender.balance < needed {
            return Err(TxError::InsufficientBalance { balance: sender.balance, needed });
        }
        // Signatures last: they cost most, and every earlier check is a cheap reject.
        if rules.signatures.needs_verifying(&tx_hash) {
            tx.verify_signature().map_err(TxError::BadSignature)?;
        }
        sender.balance -= needed;
        sender.nonce = sender.nonce.checked_add(1).ok_or(TxError::Overflow("sender nonce"))?;
        self.commit_transfer(sender_key, sender, &body.action, proposer_key, body.fee)?;
        let withdrawal = match body.action {
            Action::Withdraw { l1_recipient, amount } => Some(Withdrawal { l1_recipient, amount }),
            Action::Transfer { .. } => None,
        };
        Ok(Receipt { tx_hash, fee: body.fee, withdrawal })
    }

    /// Credits the recipient and the proposer after the sender was debited, all or nothing.
    fn commit_transfer(
        &mut self,
        sender_key: Hash,
        sender: Account,
        action: &Action,
        proposer_key: &Hash,
        fee: u128,
    ) -> Result<(), TxError> {
        let mut updates = vec![(sender_key, sender)];
        if let Action::Transfer { to, amount } = action {
            updates.push(credit(&updates, self, state_key(to), *amount, "recipient balance")?);
        }
        updates.push(credit(&updates, self, *proposer_key, fee, "proposer balance")?);
        self.touched.extend(updates);
        Ok(())
    }
}

/// The account at `key` after crediting `amount`, seeing the not yet applied `pending` updates.
fn credit(
    pending: &[(Hash, Account)],
    overlay: &Overlay<'_>,
    key: Hash,
    amount: u128,
    what: &'static str,
) -> Result<(Hash, Account), TxError> {
    let mut account = pending
        .iter()
        .rev()
        .find(|(pending_key, _)| *pending_key == key)
        .map_or_else(|| overlay.get(&key), |(_, account)| *account);
    account.balance = account.balance.checked_add(amount).ok_or(TxError::Overflow(what))?;
    Ok((key, account))
}

fn check_nonce(expected: u64, found: u64) -> Result<(), TxError> {
    match found.cmp(&expected) {
        std::cmp::Ordering::Less => Err(TxError::NonceTooLow { expected, found }),
        std::cmp::Ordering::Greater => Err(TxError::NonceTooHigh { expected, found }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}
