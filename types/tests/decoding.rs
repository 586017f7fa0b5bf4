//! Strict decoding: no panics on arbitrary input, exact round trips, rejected mutations.

use proptest::prelude::*;
use tandem_types::{
    decode, encode, Account, Action, Address, Block, BlockHeader, CommitCertificate,
    CommitSignature, Genesis, Hash, L1Address, SecretKey, Signature, SignedTransaction,
    Transaction, Vote, VoteKind,
};

/// Offset of the action tag in an encoded transaction: chain_id, sender, nonce, fee.
const ACTION_TAG: usize = 8 + 32 + 8 + 16;
/// Offset of the kind byte in an encoded vote: chain_id, height, round.
const VOTE_KIND: usize = 8 + 8 + 4;
/// Offset of the block hash option tag in an encoded vote.
const VOTE_OPTION_TAG: usize = VOTE_KIND + 1;

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 32]>().prop_map(Address)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (address(), any::<u128>()).prop_map(|(to, amount)| Action::Transfer { to, amount }),
        (any::<[u8; 20]>(), any::<u128>())
            .prop_map(|(l1, amount)| Action::Withdraw { l1_recipient: L1Address(l1), amount }),
    ]
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (any::<u64>(), address(), any::<u64>(), any::<u128>(), action()).prop_map(
        |(chain_id, sender, nonce, fee, action)| Transaction {
            chain_id,
            sender,
            nonce,
            fee,
            action,
        },
    )
}

fn signed_transaction() -> impl Strategy<Value = SignedTransaction> {
    (transaction(), any::<[u8; 64]>())
        .prop_map(|(tx, signature)| SignedTransaction { tx, signature: Signature(signature) })
}

/// A transaction really signed by its sender.
fn validly_signed_transaction() -> impl Strategy<Value = SignedTransaction> {
    (any::<[u8; 32]>(), transaction()).prop_map(|(seed, mut tx)| {
        let key = SecretKey::from_seed(&seed);
        tx.sender = key.address();
        tx.sign(&key)
    })
}

fn header() -> impl Strategy<Value = BlockHeader> {
    ((any::<u64>(), any::<u64>(), any::<u64>()), (hash(), address(), hash(), hash()), any::<u32>())
        .prop_map(
            |(
                (chain_id, height, timestamp_ms),
                (parent_hash, proposer, tx_root, state_root),
                tx_count,
            )| BlockHeader {
                chain_id,
                height,
                timestamp_ms,
                parent_hash,
                proposer,
                tx_root,
                state_root,
                tx_count,
            },
        )
}

fn block() -> impl Strategy<Value = Block> {
    (header(), prop::collection::vec(signed_transaction(), 0..4))
        .prop_map(|(header, txs)| Block { header, txs })
}

fn vote() -> impl Strategy<Value = Vote> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        prop_oneof![Just(VoteKind::Prevote), Just(VoteKind::Precommit)],
        prop::option::of(hash()),
        address(),
    )
        .prop_map(|(chain_id, height, round, kind, block_hash, validator)| Vote {
            chain_id,
            height,
            round,
            kind,
            block_hash,
            validator,
        })
}

fn certificate() -> impl Strategy<Value = CommitCertificate> {
    let entry = (address(), any::<[u8; 64]>())
        .prop_map(|(validator, bytes)| CommitSignature { validator, signature: Signature(bytes) });
    (any::<u64>(), any::<u32>(), hash(), prop::collection::vec(entry, 0..6)).prop_map(
        |(height, round, block_hash, signatures)| CommitCertificate {
            height,
            round,
            block_hash,
            signatures,
        },
    )
}

fn account() -> impl Strategy<Value = Account> {
    (any::<u128>(), any::<u64>()).prop_map(|(balance, nonce)| Account { balance, nonce })
}

fn assert_borsh_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value);
    let decoded: T = decode("value", &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    prop_assert_eq!(encode(&decoded), bytes);
    Ok(())
}

fn assert_json_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(value).expect("serialises");
    let decoded: T = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    prop_assert_eq!(serde_json::to_string(&decoded).expect("serialises"), text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedTransaction::from_bytes(&bytes);
        let _ = Block::from_bytes(&bytes);
        let _ = CommitCertificate::from_bytes(&bytes);
        let _ = decode::<BlockHeader>("header", &bytes);
        let _ = decode::<Vote>("vote", &bytes);
        let _ = decode::<Account>("account", &bytes);
        let _ = decode::<Vec<(Block, CommitCertificate)>>("batch", &bytes);
    }

    #[test]
    fn arbitrary_text_never_panics_genesis_parsing(text in any::<String>()) {
        prop_assert!(Genesis::from_json(&text).is_err());
    }

    #[test]
    fn transactions_round_trip(tx in signed_transaction()) {
        assert_borsh_round_trip(&tx)?;
        assert_borsh_round_trip(&tx.tx)?;
        assert_json_round_trip(&tx)?;
        let bytes = tx.to_bytes();
        prop_assert_eq!(bytes.len(), tx.encoded_len());
        prop_assert_eq!(SignedTransaction::from_bytes(&bytes), Ok(tx));
    }

    #[test]
    fn headers_and_blocks_round_trip(block in block()) {
        assert_borsh_round_trip(&block.header)?;
        assert_json_round_trip(&block.header)?;
        assert_borsh_round_trip(&block)?;
        assert_json_round_trip(&block)?;
        prop_assert_eq!(Block::from_bytes(&block.to_bytes()), Ok(block));
    }

    #[test]
    fn votes_round_trip(vote in vote()) {
        assert_borsh_round_trip(&vote)?;
        assert_json_round_trip(&vote)?;
        let expected_len = if vote.block_hash.is_some() { 8 + 8 + 4 + 1 + 1 + 32 + 32 } else {
            8 + 8 + 4 + 1 + 1 + 32
        };
        prop_assert_eq!(encode(&vote).len(), expected_len);
    }

    #[test]
    fn certificates_round_trip(certificate in certificate()) {
        assert_borsh_round_trip(&certificate)?;
        assert_json_round_trip(&certificate)?;
        prop_assert_eq!(CommitCertificate::from_bytes(&certificate.to_bytes()), Ok(certificate));
    }

    #[test]
    fn accounts_round_trip(account in account()) {
        assert_borsh_round_trip(&account)?;
        assert_json_round_trip(&account)?;
    }

    #[test]
    fn a_transaction_with_a_trailing_byte_is_rejected(tx in signed_transaction(), extra: u8) {
        let mut bytes = tx.to_bytes();
        bytes.push(extra);
        prop_assert!(SignedTransaction::from_bytes(&bytes).is_err());
    }

    #[test]
    fn a_truncated_transaction_is_rejected(tx in signed_transaction(), cut in 1usize..=200) {
        let bytes = tx.to_bytes();
        let cut = cut.min(bytes.len());
        prop_assert!(SignedTransaction::from_bytes(&bytes[..bytes.len() - cut]).is_err());
    }

    #[test]
    fn an_unknown_action_tag_is_rejected(tx in signed_transaction(), tag in 2u8..) {
        let mut bytes = tx.to_bytes();
        prop_assert!(bytes[ACTION_TAG] < 2);
        bytes[ACTION_TAG] = tag;
        prop_assert!(SignedTransaction::from_bytes(&bytes).is_err());
    }

    #[test]
    fn a_bad_vote_option_or_kind_tag_is_rejected(vote in vote(), tag in 2u8..) {
        let bytes = encode(&vote);
        let mut bad_option = bytes.clone();
        bad_option[VOTE_OPTION_TAG] = tag;
        prop_assert!(decode::<Vote>("vote", &bad_option).is_err());
        let mut bad_kind = bytes;
        bad_kind[VOTE_KIND] = tag;
        prop_assert!(decode::<Vote>("vote", &bad_kind).is_err());
    }

    #[test]
    fn a_wrong_certificate_length_prefix_is_rejected(
        certificate in certificate(),
        delta in prop_oneof![Just(-1i64), 1i64..1_000_000],
    ) {
        let mut bytes = certificate.to_bytes();
        let offset = 8 + 4 + 32;
        let count = i64::try_from(certificate.signatures.len()).expect("few entries");
        let prefix = u32::try_from(count).expect("few entries").to_le_bytes();
        prop_assert_eq!(&bytes[offset..offset + 4], &prefix);
        prop_assume!(count + delta >= 0);
        let wrong = u32::try_from(count + delta).expect("fits in u32");
        bytes[offset..offset + 4].copy_from_slice(&wrong.to_le_bytes());
        prop_assert!(CommitCertificate::from_bytes(&bytes).is_err());
    }
}

proptest! {
    // Each case derives a key, signs and verifies twice: ed25519 dominates the run time.
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_flipped_bit_breaks_decoding_or_the_signature(
        tx in validly_signed_transaction(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        prop_assert_eq!(tx.verify_signature(), Ok(()));
        let mut bytes = tx.to_bytes();
        let position = position.index(bytes.len());
        bytes[position] ^= 1 << bit;
        if let Ok(changed) = SignedTransaction::from_bytes(&bytes) {
            prop_assert_ne!(&changed, &tx);
            prop_assert!(changed.verify_signature().is_err(), "flip at {} verified", position);
        }
    }
}

fn fixed_transaction(action: Action) -> SignedTransaction {
    let key = SecretKey::from_seed(&[0x42; 32]);
    Transaction { chain_id: 5, sender: key.address(), nonce: 17, fee: 1_000, action }.sign(&key)
}

#[test]
fn every_single_bit_flip_of_a_signed_transaction_is_caught() {
    let transfer = Action::Transfer { to: Address([3; 32]), amount: 99 };
    let withdraw = Action::Withdraw { l1_recipient: L1Address([4; 20]), amount: 99 };
    for tx in [fixed_transaction(transfer), fixed_transaction(withdraw)] {
        assert_eq!(tx.verify_signature(), Ok(()));
        let bytes = tx.to_bytes();
        for position in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[position] ^= 1 << bit;
                let decoded = SignedTransaction::from_bytes(&flipped);
                if position == ACTION_TAG {
                    assert!(decoded.is_err(), "action tag flip at bit {bit} decoded");
                    continue;
                }
                let changed = decoded.expect("same-length flip outside the tag decodes");
                assert!(changed.verify_signature().is_err(), "flip {position}:{bit} verified");
            }
        }
    }
}

#[test]
fn fixed_layouts_match_the_protocol() {
    let tx = fixed_transaction(Action::Withdraw { l1_recipient: L1Address([4; 20]), amount: 99 });
    let bytes = tx.to_bytes();
    assert_eq!(bytes.len(), 8 + 32 + 8 + 16 + 1 + 20 + 16 + 64);
    assert_eq!(bytes[ACTION_TAG], 1, "Withdraw is variant 1");
    assert_eq!(&bytes[ACTION_TAG + 1..ACTION_TAG + 21], &[4; 20]);
    assert_eq!(&bytes[bytes.len() - 64..], &tx.signature.0);
    let vote = Vote {
        chain_id: 1,
        height: 2,
        round: 3,
        kind: VoteKind::Precommit,
        block_hash: None,
        validator: Address([9; 32]),
    };
    let bytes = encode(&vote);
    assert_eq!((bytes[VOTE_KIND], bytes[VOTE_OPTION_TAG]), (1, 0));
    assert_eq!(&bytes[VOTE_KIND - 4..VOTE_KIND], &3u32.to_le_bytes());
    assert!(vote.signing_bytes().starts_with(b"tandem.vote.v1"));
    assert_eq!(&vote.signing_bytes()[14..], &bytes[..]);
}

#[test]
fn json_kind_is_a_number_and_amounts_are_strings() {
    let vote = Vote {
        chain_id: 1,
        height: 2,
        round: 3,
        kind: VoteKind::Prevote,
        block_hash: Some(Hash([0xab; 32])),
        validator: Address([9; 32]),
    };
    let json = serde_json::to_value(&vote).expect("serialises");
    assert_eq!(json["kind"], 0);
    assert_eq!(json["block_hash"], format!("0x{}", "ab".repeat(32)));
    let mut bad_kind = json.clone();
    bad_kind["kind"] = serde_json::json!(2);
    assert!(serde_json::from_value::<Vote>(bad_kind).is_err());
    let amount = u128::MAX;
    let account = Account { balance: amount, nonce: 1 };
    let json = serde_json::to_value(account).expect("serialises");
    assert_eq!(json["balance"], amount.to_string());
    let mut as_number = json;
    as_number["balance"] = serde_json::json!(5);
    assert!(serde_json::from_value::<Account>(as_number).is_err());
}
