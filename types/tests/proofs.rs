//! Account proofs against hand-built Jellyfish Merkle trees.

use tandem_types::proof::{account_value_hash, internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::{
    state_key, Account, AccountProof, Address, Hash, ProofError, ProofLeaf, SecretKey,
};

fn bit(key: &Hash, index: usize) -> bool {
    key.0[index / 8] & (0x80 >> (index % 8)) != 0
}

/// The first address (by seed) whose state key starts with `prefix` and is not in `taken`.
fn address_with_prefix(prefix: &[bool], taken: &[Address]) -> Address {
    (0u32..)
        .map(|seed| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&seed.to_le_bytes());
            SecretKey::from_seed(&bytes).address()
        })
        .find(|address| {
            let key = state_key(address);
            !taken.contains(address) && prefix.iter().enumerate().all(|(i, &b)| bit(&key, i) == b)
        })
        .expect("some seed has the prefix")
}

fn account(balance: u128, nonce: u64) -> Account {
    Account { balance, nonce }
}

fn leaf(address: &Address, account: &Account) -> ProofLeaf {
    ProofLeaf { key_hash: state_key(address), value_hash: account_value_hash(account) }
}

fn proof(leaf: Option<ProofLeaf>, siblings: &[Hash]) -> AccountProof {
    AccountProof { leaf, siblings: siblings.to_vec() }
}

fn root_mismatch(expected: Hash, computed: Hash) -> Result<(), ProofError> {
    Err(ProofError::RootMismatch { expected, computed })
}

#[test]
fn public_hash_functions_follow_the_jmt_scheme() {
    let key = Hash([1; 32]);
    let value = Hash([2; 32]);
    let mut preimage = b"JMT::LeafNode".to_vec();
    preimage.extend_from_slice(&key.0);
    preimage.extend_from_slice(&value.0);
    assert_eq!(leaf_hash(&key, &value), tandem_types::sha256(&preimage));
    let mut preimage = b"JMT::IntrnalNode".to_vec();
    preimage.extend_from_slice(&key.0);
    preimage.extend_from_slice(&value.0);
    assert_eq!(internal_hash(&key, &value), tandem_types::sha256(&preimage));
    assert_eq!(&PLACEHOLDER_HASH.0, b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
    let account = account(5, 6);
    assert_eq!(account_value_hash(&account), tandem_types::sha256(&tandem_types::encode(&account)));
    let address = Address([7; 32]);
    assert_eq!(state_key(&address), tandem_types::sha256(&address.0));
}

#[test]
fn empty_tree_proves_absence_only() {
    let anyone = Address([7; 32]);
    let empty = proof(None, &[]);
    assert_eq!(empty.verify(&PLACEHOLDER_HASH, &anyone, None), Ok(()));
    assert_eq!(
        empty.verify(&PLACEHOLDER_HASH, &anyone, Some(&account(0, 0))),
        Err(ProofError::NotAnInclusionProof)
    );
}

#[test]
fn single_account_tree() {
    let address = address_with_prefix(&[], &[]);
    let other = address_with_prefix(&[], &[address]);
    let held = account(1_000, 2);
    let root = leaf(&address, &held).hash();
    assert_eq!(root, leaf_hash(&state_key(&address), &account_value_hash(&held)));
    let inclusion = proof(Some(leaf(&address, &held)), &[]);

    assert_eq!(inclusion.verify(&root, &address, Some(&held)), Ok(()));
    assert_eq!(inclusion.verify(&root, &other, None), Ok(()));
    assert_eq!(inclusion.verify(&root, &address, None), Err(ProofError::AccountPresent));
    assert_eq!(
        inclusion.verify(&root, &address, Some(&account(1_001, 2))),
        Err(ProofError::LeafValueMismatch)
    );
    assert_eq!(
        inclusion.verify(&root, &address, Some(&account(1_000, 3))),
        Err(ProofError::LeafValueMismatch)
    );
    assert_eq!(inclusion.verify(&root, &other, Some(&held)), Err(ProofError::LeafKeyMismatch));
    let wrong_root = Hash([9; 32]);
    assert_eq!(
        inclusion.verify(&wrong_root, &address, Some(&held)),
        root_mismatch(wrong_root, root)
    );
    assert_eq!(proof(None, &[]).verify(&root, &other, None), root_mismatch(root, PLACEHOLDER_HASH));
}

struct TwoAccounts {
    left: Address,
    right: Address,
    left_account: Account,
    right_account: Account,
    root: Hash,
}

fn two_accounts() -> TwoAccounts {
    let left = address_with_prefix(&[false], &[]);
    let right = address_with_prefix(&[true], &[]);
    let left_account = account(10, 0);
    let right_account = account(20, 4);
    let root =
        internal_hash(&leaf(&left, &left_account).hash(), &leaf(&right, &right_account).hash());
    TwoAccounts { left, right, left_account, right_account, root }
}

impl TwoAccounts {
    fn left_proof(&self) -> AccountProof {
        proof(
            Some(leaf(&self.left, &self.left_account)),
            &[leaf(&self.right, &self.right_account).hash()],
        )
    }

    fn right_proof(&self) -> AccountProof {
        proof(
            Some(leaf(&self.right, &self.right_account)),
            &[leaf(&self.left, &self.left_account).hash()],
        )
    }
}

#[test]
fn two_account_tree_inclusion() {
    let tree = two_accounts();
    assert!(!bit(&state_key(&tree.left), 0) && bit(&state_key(&tree.right), 0));
    assert_eq!(tree.left_proof().verify(&tree.root, &tree.left, Some(&tree.left_account)), Ok(()));
    assert_eq!(
        tree.right_proof().verify(&tree.root, &tree.right, Some(&tree.right_account)),
        Ok(())
    );
}

#[test]
fn two_account_tree_exclusion() {
    let tree = two_accounts();
    let absent_left = address_with_prefix(&[false], &[tree.left]);
    let absent_right = address_with_prefix(&[true], &[tree.right]);
    assert_eq!(tree.left_proof().verify(&tree.root, &absent_left, None), Ok(()));
    assert_eq!(tree.right_proof().verify(&tree.root, &absent_right, None), Ok(()));
    assert_eq!(
        tree.right_proof().verify(&tree.root, &absent_left, None),
        Err(ProofError::LeafOffPath)
    );
}

#[test]
fn two_account_tree_tampered_sibling() {
    let tree = two_accounts();
    let mut tampered = tree.left_proof();
    tampered.siblings[0].0[0] ^= 1;
    let computed =
        internal_hash(&leaf(&tree.left, &tree.left_account).hash(), &tampered.siblings[0]);
    assert_eq!(
        tampered.verify(&tree.root, &tree.left, Some(&tree.left_account)),
        root_mismatch(tree.root, computed)
    );
}

#[test]
fn two_account_tree_tampered_balance() {
    let tree = two_accounts();
    let inflated = account(tree.right_account.balance + 1, tree.right_account.nonce);
    assert_eq!(
        tree.right_proof().verify(&tree.root, &tree.right, Some(&inflated)),
        Err(ProofError::LeafValueMismatch)
    );
    let forged = proof(Some(leaf(&tree.right, &inflated)), &tree.right_proof().siblings);
    let computed = internal_hash(&forged.siblings[0], &leaf(&tree.right, &inflated).hash());
    assert_eq!(
        forged.verify(&tree.root, &tree.right, Some(&inflated)),
        root_mismatch(tree.root, computed)
    );
}

#[test]
fn two_account_tree_wrong_root() {
    let tree = two_accounts();
    let wrong_root = leaf(&tree.left, &tree.left_account).hash();
    assert_eq!(
        tree.left_proof().verify(&wrong_root, &tree.left, Some(&tree.left_account)),
        root_mismatch(wrong_root, tree.root)
    );
}

#[test]
fn two_account_tree_present_account_claimed_absent() {
    let tree = two_accounts();
    assert_eq!(
        tree.left_proof().verify(&tree.root, &tree.left, None),
        Err(ProofError::AccountPresent)
    );
    assert_eq!(
        tree.right_proof().verify(&tree.root, &tree.right, None),
        Err(ProofError::AccountPresent)
    );
}

#[test]
fn two_account_tree_proof_for_the_other_account() {
    let tree = two_accounts();
    assert_eq!(
        tree.left_proof().verify(&tree.root, &tree.right, Some(&tree.right_account)),
        Err(ProofError::LeafKeyMismatch)
    );
    assert_eq!(
        proof(None, &tree.left_proof().siblings).verify(
            &tree.root,
            &tree.left,
            Some(&tree.left_account)
        ),
        Err(ProofError::NotAnInclusionProof)
    );
}

#[test]
fn two_account_tree_swapped_children_do_not_verify() {
    let tree = two_accounts();
    let left_leaf = leaf(&tree.left, &tree.left_account).hash();
    let right_leaf = leaf(&tree.right, &tree.right_account).hash();
    let swapped_root = internal_hash(&right_leaf, &left_leaf);
    assert_eq!(
        tree.left_proof().verify(&swapped_root, &tree.left, Some(&tree.left_account)),
        root_mismatch(swapped_root, tree.root)
    );
}

#[test]
fn placeholder_siblings_and_empty_subtrees() {
    // Keys 000... and 001...; the subtrees 01 and 1 are empty.
    let a = address_with_prefix(&[false, false, false], &[]);
    let b = address_with_prefix(&[false, false, true], &[]);
    let (a_account, b_account) = (account(1, 1), account(2, 2));
    let (a_leaf, b_leaf) = (leaf(&a, &a_account).hash(), leaf(&b, &b_account).hash());
    let node_00 = internal_hash(&a_leaf, &b_leaf);
    let node_0 = internal_hash(&node_00, &PLACEHOLDER_HASH);
    let root = internal_hash(&node_0, &PLACEHOLDER_HASH);

    let a_proof = proof(Some(leaf(&a, &a_account)), &[b_leaf, PLACEHOLDER_HASH, PLACEHOLDER_HASH]);
    assert_eq!(a_proof.verify(&root, &a, Some(&a_account)), Ok(()));
    let b_proof = proof(Some(leaf(&b, &b_account)), &[a_leaf, PLACEHOLDER_HASH, PLACEHOLDER_HASH]);
    assert_eq!(b_proof.verify(&root, &b, Some(&b_account)), Ok(()));

    let in_01 = address_with_prefix(&[false, true], &[]);
    assert_eq!(proof(None, &[node_00, PLACEHOLDER_HASH]).verify(&root, &in_01, None), Ok(()));
    let in_1 = address_with_prefix(&[true], &[]);
    assert_eq!(proof(None, &[node_0]).verify(&root, &in_1, None), Ok(()));
    let in_000 = address_with_prefix(&[false, false, false], &[a]);
    assert_eq!(a_proof.verify(&root, &in_000, None), Ok(()));
    assert_eq!(a_proof.verify(&root, &in_01, None), Err(ProofError::LeafOffPath));

    let shortened = proof(Some(leaf(&a, &a_account)), &[b_leaf, PLACEHOLDER_HASH]);
    assert_eq!(shortened.verify(&root, &a, Some(&a_account)), root_mismatch(root, node_0));
    let reordered =
        proof(Some(leaf(&a, &a_account)), &[PLACEHOLDER_HASH, b_leaf, PLACEHOLDER_HASH]);
    assert!(matches!(
        reordered.verify(&root, &a, Some(&a_account)),
        Err(ProofError::RootMismatch { .. })
    ));
    assert!(matches!(
        proof(None, &[node_00, PLACEHOLDER_HASH]).verify(&root, &in_1, None),
        Err(ProofError::RootMismatch { .. })
    ));
}

#[test]
fn more_than_256_siblings_is_rejected() {
    let address = Address([7; 32]);
    let long = proof(None, &[PLACEHOLDER_HASH; 257]);
    assert_eq!(
        long.verify(&PLACEHOLDER_HASH, &address, None),
        Err(ProofError::TooManySiblings(257))
    );
    let held = account(1, 0);
    let long = proof(Some(leaf(&address, &held)), &[PLACEHOLDER_HASH; 257]);
    assert_eq!(
        long.verify(&PLACEHOLDER_HASH, &address, Some(&held)),
        Err(ProofError::TooManySiblings(257))
    );
}

#[test]
fn proofs_round_trip_through_json() {
    let tree = two_accounts();
    let json = serde_json::to_value(tree.left_proof()).expect("serialises");
    assert_eq!(json["siblings"].as_array().map(Vec::len), Some(1));
    assert!(json["leaf"]["key_hash"].as_str().expect("hex").starts_with("0x"));
    let back: AccountProof = serde_json::from_value(json).expect("parses");
    assert_eq!(back, tree.left_proof());
    let absent = serde_json::to_value(proof(None, &[])).expect("serialises");
    assert_eq!(absent, serde_json::json!({"leaf": null, "siblings": []}));
}
