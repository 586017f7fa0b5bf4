//! The genesis document: JSON form, hash and every validation rule.

use std::collections::BTreeSet;

use tandem_types::{
    encode, sha256, Address, ChainParams, Genesis, GenesisAccount, GenesisError, GenesisValidator,
    L1Address, SecretKey, SignatureError,
};

fn validator(index: u8, power: u64) -> GenesisValidator {
    GenesisValidator {
        address: SecretKey::from_seed(&[index + 1; 32]).address(),
        l1_address: L1Address([index; 20]),
        power,
    }
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: 31337,
        genesis_time_ms: 1_700_000_000_000,
        params: ChainParams {
            min_fee: 10,
            block_txs_max: 1000,
            block_bytes_max: 1 << 20,
            batch_blocks: 16,
        },
        validators: (0..4).map(|index| validator(index, 1 + u64::from(index))).collect(),
        accounts: vec![
            GenesisAccount { address: Address([1; 32]), balance: 1_000_000 },
            GenesisAccount { address: Address([2; 32]), balance: u128::from(u64::MAX) + 1 },
            GenesisAccount { address: Address([3; 32]), balance: 0 },
        ],
    }
}

fn with(change: impl FnOnce(&mut Genesis)) -> Genesis {
    let mut genesis = genesis();
    change(&mut genesis);
    genesis
}

fn json_with(change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value = serde_json::to_value(genesis()).expect("serialises");
    change(&mut value);
    value.to_string()
}

#[test]
fn the_test_genesis_is_valid() {
    assert_eq!(genesis().validate(), Ok(()));
    let set = genesis().validator_set().expect("valid set");
    assert_eq!(set.total_power(), 10);
    assert_eq!(set.position(&validator(2, 3).address), Some(2));
}

#[test]
fn json_round_trip_keeps_the_document_and_its_hash() {
    let original = genesis();
    let text = original.to_json();
    let parsed = Genesis::from_json(&text).expect("round trip parses");
    assert_eq!(parsed, original);
    assert_eq!(parsed.hash(), original.hash());
    assert_eq!(parsed.to_json(), text);
}

#[test]
fn json_uses_hex_and_decimal_strings() {
    let value = serde_json::to_value(genesis()).expect("serialises");
    assert_eq!(value["params"]["min_fee"], "10");
    assert_eq!(value["accounts"][1]["balance"], "18446744073709551616");
    assert_eq!(value["accounts"][0]["address"], format!("0x{}", "01".repeat(32)));
    assert_eq!(value["validators"][3]["l1_address"], format!("0x{}", "03".repeat(20)));
    assert_eq!(value["validators"][3]["power"], 4);
}

#[test]
fn hash_is_the_domain_separated_borsh_hash() {
    let genesis = genesis();
    let mut preimage = b"tandem.genesis.v1".to_vec();
    preimage.extend(encode(&genesis));
    assert_eq!(genesis.hash(), sha256(&preimage));
    assert_eq!(genesis.hash(), genesis.clone().hash());
}

#[test]
fn changing_any_field_changes_the_hash() {
    let variants = [
        genesis(),
        with(|g| g.chain_id += 1),
        with(|g| g.genesis_time_ms += 1),
        with(|g| g.params.min_fee += 1),
        with(|g| g.params.block_txs_max += 1),
        with(|g| g.params.block_bytes_max += 1),
        with(|g| g.params.batch_blocks += 1),
        with(|g| g.validators[0].address = validator(9, 1).address),
        with(|g| g.validators[1].l1_address.0[19] ^= 1),
        with(|g| g.validators[2].power += 1),
        with(|g| g.validators.swap(0, 1)),
        with(|g| g.validators.truncate(3)),
        with(|g| g.validators.push(validator(9, 1))),
        with(|g| g.accounts[0].address.0[31] ^= 1),
        with(|g| g.accounts[1].balance -= 1),
        with(|g| g.accounts.truncate(2)),
        with(|g| g.accounts.push(GenesisAccount { address: Address([4; 32]), balance: 0 })),
    ];
    let hashes: BTreeSet<_> = variants.iter().map(Genesis::hash).collect();
    assert_eq!(hashes.len(), variants.len());
    for variant in &variants {
        assert_eq!(variant.validate(), Ok(()), "{variant:?}");
    }
}

#[test]
fn no_validators() {
    assert_eq!(with(|g| g.validators.clear()).validate(), Err(GenesisError::NoValidators));
}

#[test]
fn zero_power() {
    let genesis = with(|g| g.validators[2].power = 0);
    assert_eq!(genesis.validate(), Err(GenesisError::ZeroPower(validator(2, 0).address)));
}

#[test]
fn duplicate_validator() {
    let genesis = with(|g| g.validators.push(validator(1, 7)));
    assert_eq!(genesis.validate(), Err(GenesisError::DuplicateValidator(validator(1, 7).address)));
}

#[test]
fn duplicate_l1_address() {
    let genesis = with(|g| g.validators[2].l1_address = g.validators[0].l1_address);
    assert_eq!(genesis.validate(), Err(GenesisError::DuplicateL1Address(L1Address([0; 20]))));
}

fn bad_key(bytes: [u8; 32], error: SignatureError) {
    let address = Address(bytes);
    let genesis = with(|g| g.validators[1].address = address);
    assert_eq!(
        genesis.validate(),
        Err(GenesisError::BadValidatorKey { address, reason: error.to_string() })
    );
}

#[test]
fn small_order_validator_key() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    bad_key(identity, SignatureError::WeakKey);
}

#[test]
fn non_canonical_and_off_curve_validator_keys() {
    let mut above_p = [0xff; 32];
    above_p[0] = 0xee;
    above_p[31] = 0x7f;
    bad_key(above_p, SignatureError::NonCanonicalKey);
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    bad_key(off_curve, SignatureError::InvalidKey);
}

#[test]
fn power_overflow() {
    let genesis = with(|g| {
        g.validators[0].power = u64::MAX - 9;
        g.validators[1].power = 10;
    });
    assert_eq!(genesis.validate(), Err(GenesisError::PowerOverflow));
    let at_limit = with(|g| {
        g.validators.truncate(2);
        g.validators[0].power = u64::MAX - 10;
        g.validators[1].power = 10;
    });
    assert_eq!(at_limit.validate(), Ok(()));
}

#[test]
fn no_accounts() {
    assert_eq!(with(|g| g.accounts.clear()).validate(), Err(GenesisError::NoAccounts));
}

#[test]
fn duplicate_account() {
    let genesis = with(|g| g.accounts[2].address = Address([2; 32]));
    assert_eq!(
        genesis.validate(),
        Err(GenesisError::UnsortedAccounts { index: 2, address: Address([2; 32]) })
    );
}

#[test]
fn out_of_order_accounts() {
    let genesis = with(|g| g.accounts.swap(0, 1));
    assert_eq!(
        genesis.validate(),
        Err(GenesisError::UnsortedAccounts { index: 1, address: Address([1; 32]) })
    );
}

#[test]
fn supply_overflow() {
    let genesis = with(|g| g.accounts[2].balance = u128::MAX - g.accounts[1].balance);
    assert_eq!(genesis.validate(), Err(GenesisError::SupplyOverflow));
    let at_limit =
        with(|g| g.accounts[2].balance = u128::MAX - g.accounts[1].balance - g.accounts[0].balance);
    assert_eq!(at_limit.validate(), Ok(()));
}

fn bad_param(name: &'static str, reason: &'static str) -> Result<(), GenesisError> {
    Err(GenesisError::BadParam { name, reason })
}

#[test]
fn zero_block_txs_max() {
    let genesis = with(|g| g.params.block_txs_max = 0);
    assert_eq!(genesis.validate(), bad_param("block_txs_max", "must be at least 1"));
    assert_eq!(with(|g| g.params.block_txs_max = 1).validate(), Ok(()));
}

#[test]
fn small_block_bytes_max() {
    let genesis = with(|g| g.params.block_bytes_max = 1023);
    assert_eq!(genesis.validate(), bad_param("block_bytes_max", "must be at least 1024"));
    assert_eq!(with(|g| g.params.block_bytes_max = 1024).validate(), Ok(()));
}

#[test]
fn zero_batch_blocks() {
    let genesis = with(|g| g.params.batch_blocks = 0);
    assert_eq!(genesis.validate(), bad_param("batch_blocks", "must be at least 1"));
}

#[test]
fn from_json_validates() {
    let text = with(|g| g.accounts.clear()).to_json();
    assert_eq!(Genesis::from_json(&text), Err(GenesisError::NoAccounts));
    let text = with(|g| g.params.batch_blocks = 0).to_json();
    assert_eq!(
        Genesis::from_json(&text).map(drop),
        bad_param("batch_blocks", "must be at least 1")
    );
}

fn assert_json_error(text: &str) {
    let result = Genesis::from_json(text);
    assert!(matches!(result, Err(GenesisError::Json(_))), "{text}: {result:?}");
}

#[test]
fn malformed_json() {
    let valid = genesis().to_json();
    assert_json_error("");
    assert_json_error("{");
    assert_json_error("null");
    assert_json_error(&valid[..valid.len() - 1]);
    assert_json_error(&format!("{valid} {{}}"));
}

#[test]
fn u128_as_a_json_number_is_rejected() {
    assert_json_error(&json_with(|v| v["params"]["min_fee"] = serde_json::json!(10)));
    assert_json_error(&json_with(|v| v["accounts"][0]["balance"] = serde_json::json!(1000000)));
}

#[test]
fn bad_field_encodings_are_rejected() {
    assert_json_error(&json_with(|v| v["params"]["min_fee"] = serde_json::json!("-1")));
    assert_json_error(&json_with(|v| v["params"]["min_fee"] = serde_json::json!("")));
    assert_json_error(&json_with(|v| v["params"]["min_fee"] = serde_json::json!("1e3")));
    let too_big = format!("{}0", u128::MAX);
    assert_json_error(&json_with(|v| v["accounts"][0]["balance"] = serde_json::json!(too_big)));
    let no_prefix = "01".repeat(32);
    assert_json_error(&json_with(|v| v["accounts"][0]["address"] = serde_json::json!(no_prefix)));
    let short = format!("0x{}", "01".repeat(31));
    assert_json_error(&json_with(|v| v["accounts"][0]["address"] = serde_json::json!(short)));
    assert_json_error(&json_with(|v| v["validators"][0]["power"] = serde_json::json!(-1)));
    assert_json_error(&json_with(|v| v["validators"][0]["power"] = serde_json::json!("1")));
    assert_json_error(&json_with(|v| {
        v["params"].as_object_mut().expect("params is an object").remove("min_fee");
    }));
}
