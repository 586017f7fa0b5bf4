//! The committed vectors match what the implementation produces now, and each vector checks
//! out on its own terms (decodes, hashes, verifies) by paths independent of the generator.

use serde_json::Value;
use tandem_types::json::parse_hex;
use tandem_types::proof::{account_value_hash, internal_hash, leaf_hash, PLACEHOLDER_HASH};
use tandem_types::{
    encode, sha256, state_key, Account, AccountProof, Address, BlockHeader, Hash, SecretKey,
    Signature, SignedTransaction, Transaction, Vote,
};

fn committed() -> Value {
    let text = std::fs::read_to_string(tandem_vectors::vectors_path()).expect("vectors file");
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn hex(value: &Value) -> Vec<u8> {
    parse_hex(value.as_str().expect("hex string")).expect("hex")
}

fn parse<T: serde::de::DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).expect("well-formed vector field")
}

#[test]
fn committed_vectors_match_the_implementation() {
    let fresh = tandem_vectors::render().expect("generate");
    let file = std::fs::read_to_string(tandem_vectors::vectors_path()).expect("vectors file");
    assert!(
        fresh == file,
        "docs/vectors/protocol-v1.json differs from what the code produces: an encoding or hash \
         changed. If the change is intended, run `cargo run -p tandem-vectors` and explain it in \
         docs/protocol.md"
    );
}

#[test]
fn transaction_vectors_decode_hash_and_verify() {
    let vectors = committed();
    let transactions = vectors["transactions"].as_array().expect("transactions");
    assert!(transactions.len() >= 5);
    let mut kinds = std::collections::BTreeSet::new();
    for vector in transactions {
        let tx: Transaction = parse(&vector["tx"]);
        kinds.insert(vector["tx"]["action"]["type"].as_str().expect("type").to_string());
        assert_eq!(encode(&tx), hex(&vector["tx_borsh"]));
        let signed_bytes = hex(&vector["signed_borsh"]);
        let signed = SignedTransaction::from_bytes(&signed_bytes).expect("decodes");
        assert_eq!(signed.tx, tx);
        assert_eq!(sha256(&signed_bytes), parse::<Hash>(&vector["hash"]));
        let seed: [u8; 32] = hex(&vector["seed"]).try_into().expect("32-byte seed");
        let key = SecretKey::from_seed(&seed);
        assert_eq!(key.address(), tx.sender);
        assert_eq!(signed.verify_signature(), Ok(()));
        assert_eq!(tx.sign(&key), signed, "ed25519 signatures are deterministic");
    }
    assert_eq!(kinds.len(), 2, "both action kinds are covered");
}

/// The tx_root rule, written out again: pair neighbours, an odd last node pairs with itself.
fn tx_root_again(hashes: &[Hash]) -> Hash {
    if hashes.is_empty() {
        return Hash([0; 32]);
    }
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(*level.last().expect("non-empty"));
        }
        level = level.chunks(2).map(|pair| sha256(&[pair[0].0, pair[1].0].concat())).collect();
    }
    level[0]
}

#[test]
fn tx_root_and_header_vectors_recompute() {
    let vectors = committed();
    let mut counts = Vec::new();
    for vector in vectors["tx_roots"].as_array().expect("tx_roots") {
        let hashes: Vec<Hash> = parse(&vector["tx_hashes"]);
        counts.push(hashes.len());
        assert_eq!(tx_root_again(&hashes), parse::<Hash>(&vector["root"]));
    }
    for count in [0, 1, 2, 3] {
        assert!(counts.contains(&count), "a tx_root vector with {count} leaves");
    }
    for vector in vectors["headers"].as_array().expect("headers") {
        let header: BlockHeader = parse(&vector["header"]);
        let bytes = hex(&vector["borsh"]);
        assert_eq!(encode(&header), bytes);
        assert_eq!(sha256(&bytes), parse::<Hash>(&vector["hash"]));
    }
}

/// The state root by definition: a binary sparse Merkle tree over key hashes in which every
/// single-leaf subtree is that leaf and every empty subtree is the placeholder.
fn root_by_definition(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => PLACEHOLDER_HASH,
        [(_, leaf)] => *leaf,
        _ => {
            let split =
                leaves.partition_point(|(key, _)| key.0[depth / 8] & (0x80 >> (depth % 8)) == 0);
            internal_hash(
                &root_by_definition(&leaves[..split], depth + 1),
                &root_by_definition(&leaves[split..], depth + 1),
            )
        }
    }
}

#[test]
fn state_vectors_have_the_defined_root_and_proofs_verify() {
    let vectors = committed();
    let states = vectors["states"].as_array().expect("states");
    assert!(states.iter().any(|s| s["accounts"].as_array().is_some_and(|a| a.len() >= 50)));
    for state in states {
        let root: Hash = parse(&state["root"]);
        let mut leaves: Vec<(Hash, Hash)> = state["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|entry| {
                let address: Address = parse(&entry["address"]);
                let account = Account {
                    balance: parse::<String>(&entry["balance"]).parse().expect("u128"),
                    nonce: parse(&entry["nonce"]),
                };
                let key = state_key(&address);
                (key, leaf_hash(&key, &account_value_hash(&account)))
            })
            .collect();
        leaves.sort();
        assert_eq!(root_by_definition(&leaves, 0), root);
        let proofs = state["proofs"].as_array().expect("proofs");
        let present = proofs.iter().filter(|p| !p["account"].is_null()).count();
        assert!(present >= 1 && proofs.len() - present >= 3, "present and absent proofs");
        for vector in proofs {
            let address: Address = parse(&vector["address"]);
            let account: Option<Account> = parse(&vector["account"]);
            let proof: AccountProof = parse(&vector["proof"]);
            assert_eq!(proof.verify(&root, &address, account.as_ref()), Ok(()));
        }
    }
}

#[test]
fn vote_vectors_sign_and_verify() {
    let vectors = committed();
    let votes = vectors["votes"].as_array().expect("votes");
    assert!(votes.iter().any(|v| v["vote"]["block_hash"].is_null() && v["vote"]["kind"] == 0));
    assert!(votes.iter().any(|v| v["vote"]["kind"] == 1));
    for vector in votes {
        let vote: Vote = parse(&vector["vote"]);
        let signing_bytes = hex(&vector["signing_bytes"]);
        assert_eq!(signing_bytes, [b"tandem.vote.v1".as_slice(), &encode(&vote)].concat());
        let signature: Signature = parse(&vector["signature"]);
        assert_eq!(vote.verify(&signature), Ok(()));
        let seed: [u8; 32] = hex(&vector["seed"]).try_into().expect("32-byte seed");
        assert_eq!(vote.sign(&SecretKey::from_seed(&seed)), signature);
    }
}
