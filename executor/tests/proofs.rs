//! Account proofs at every retained height: they verify for present and absent accounts,
//! match the account history, and fail for any tampered field.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use tandem_executor::{Executor, ProvenAccount};
use tandem_types::{Account, AccountProof, Address, Hash, ProofError};

/// Every way of tampering with a proof or its claim; each must be rejected.
fn assert_tampering_fails(proven: &ProvenAccount, address: &Address) {
    let root = proven.state_root;
    let claim = proven.account;
    let proof = &proven.proof;
    let fails = |proof: &AccountProof, root: &Hash, claim: Option<&Account>, what: &str| {
        assert!(proof.verify(root, address, claim).is_err(), "tampered {what} still verifies");
    };
    for index in 0..proof.siblings.len() {
        let mut tampered = proof.clone();
        tampered.siblings[index].0[index % 32] ^= 1;
        fails(&tampered, &root, claim.as_ref(), "sibling");
    }
    let mut extra = proof.clone();
    extra.siblings.push(Hash([0; 32]));
    fails(&extra, &root, claim.as_ref(), "sibling count");
    if let Some(leaf) = proof.leaf {
        let mut tampered = proof.clone();
        tampered.leaf =
            Some(tandem_types::ProofLeaf { key_hash: Hash([leaf.key_hash.0[0] ^ 1; 32]), ..leaf });
        fails(&tampered, &root, claim.as_ref(), "leaf key");
        let mut tampered = proof.clone();
        let mut value_hash = leaf.value_hash;
        value_hash.0[31] ^= 1;
        tampered.leaf = Some(tandem_types::ProofLeaf { value_hash, ..leaf });
        fails(&tampered, &root, claim.as_ref(), "leaf value");
        let mut no_leaf = proof.clone();
        no_leaf.leaf = None;
        fails(&no_leaf, &root, claim.as_ref(), "dropped leaf");
    }
    let mut wrong_root = root;
    wrong_root.0[0] ^= 1;
    fails(proof, &wrong_root, claim.as_ref(), "root");
    match claim {
        Some(account) => {
            fails(proof, &root, None, "absence claim");
            let richer = Account { balance: account.balance + 1, ..account };
            fails(proof, &root, Some(&richer), "balance");
            let later = Account { nonce: account.nonce + 1, ..account };
            fails(proof, &root, Some(&later), "nonce");
        }
        None => fails(proof, &root, Some(&Account::default()), "presence claim"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn proofs_verify_at_every_height_and_fail_when_tampered(
        transfers in prop::collection::vec((0usize..55, 0usize..70, 1u128..50), 5..40),
    ) {
        let chain = chain(55, 1_000, 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut executor = Executor::open(&dir.path().join("node.redb"), chain.genesis.clone()).expect("open");
        // Recipients 55..70 start absent: they appear in the state as transfers reach them.
        let recipients: Vec<Address> =
            (0..70).map(|i| if i < 55 { chain.accounts[i].address() } else { key("new", i as u32).address() }).collect();
        let mut nonces = vec![0u64; 55];
        let mut history: Vec<BTreeMap<Address, Account>> = Vec::new();
        let mut model: BTreeMap<Address, Account> =
            chain.genesis.accounts.iter().map(|a| (a.address, Account { balance: a.balance, nonce: 0 })).collect();
        history.push(model.clone());
        for batch in transfers.chunks(7) {
            let mut txs = Vec::new();
            for &(from, to, amount) in batch {
                txs.push(transfer(&chain.accounts[from], nonces[from], recipients[to], amount, MIN_FEE));
                nonces[from] += 1;
            }
            let block = build_and_commit(&mut executor, &chain, txs);
            prop_assert_eq!(block.txs.len(), batch.len());
            for tx in &block.txs {
                let tandem_types::Action::Transfer { to, amount } = tx.tx.action else { unreachable!() };
                let sender = model.entry(tx.tx.sender).or_default();
                sender.balance -= amount + MIN_FEE;
                sender.nonce += 1;
                model.entry(to).or_default().balance += amount;
                model.entry(block.header.proposer).or_default().balance += MIN_FEE;
            }
            history.push(model.clone());
        }
        let probes: Vec<Address> = recipients.iter().copied().chain([chain.validators[0].address()]).collect();
        for (height, accounts) in history.iter().enumerate() {
            let height = height as u64;
            let root = executor.store().state_at(height).expect("read").expect("state").state_root;
            prop_assert_eq!(root, reference_root(accounts));
            for address in &probes {
                let proven = executor.prove(address, height).expect("prove");
                prop_assert_eq!(proven.state_root, root);
                prop_assert_eq!(proven.account, accounts.get(address).copied());
                prop_assert_eq!(executor.account_at(address, height).expect("account_at"), proven.account);
                prop_assert_eq!(proven.proof.verify(&root, address, proven.account.as_ref()), Ok(()));
                assert_tampering_fails(&proven, address);
            }
        }
    }
}

#[test]
fn absent_accounts_have_exclusion_proofs_of_both_shapes() {
    // With few accounts most absent keys end in an empty subtree; some end at another leaf.
    let chain = chain(3, 1_000, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let executor =
        Executor::open(&dir.path().join("node.redb"), chain.genesis.clone()).expect("open");
    let root = executor.head().state.state_root;
    let (mut with_leaf, mut without_leaf) = (0, 0);
    for index in 0..64 {
        let address = key("absent", index).address();
        let proven = executor.prove(&address, 0).expect("prove");
        assert_eq!(proven.account, None);
        assert_eq!(proven.proof.verify(&root, &address, None), Ok(()));
        match proven.proof.leaf {
            Some(_) => with_leaf += 1,
            None => without_leaf += 1,
        }
    }
    assert!(
        with_leaf > 0 && without_leaf > 0,
        "shapes: {with_leaf} with a leaf, {without_leaf} without"
    );
    let present = chain.accounts[0].address();
    let proven = executor.prove(&present, 0).expect("prove");
    assert_eq!(proven.proof.verify(&root, &present, None), Err(ProofError::AccountPresent));
}

#[test]
fn heights_beyond_the_head_are_missing() {
    let chain = chain(3, 1_000, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let executor =
        Executor::open(&dir.path().join("node.redb"), chain.genesis.clone()).expect("open");
    assert!(executor.prove(&chain.accounts[0].address(), 1).is_err());
    assert!(executor.account_at(&chain.accounts[0].address(), 5).is_err());
}
