//! Commit certificate verification against validator sets.

use tandem_types::{
    CertificateError, CommitCertificate, CommitSignature, GenesisValidator, Hash, L1Address,
    SecretKey, ValidatorSet, Vote, VoteKind,
};

const CHAIN_ID: u64 = 7;
const HEIGHT: u64 = 12;
const ROUND: u32 = 3;
const BLOCK: Hash = Hash([0xb1; 32]);

fn key(index: u8) -> SecretKey {
    SecretKey::from_seed(&[index + 1; 32])
}

fn outsider() -> SecretKey {
    SecretKey::from_seed(&[0xee; 32])
}

fn validator_set(powers: &[u64]) -> ValidatorSet {
    let validators = (0u8..)
        .zip(powers)
        .map(|(index, &power)| GenesisValidator {
            address: key(index).address(),
            l1_address: L1Address([index; 20]),
            power,
        })
        .collect();
    ValidatorSet::new(validators).expect("test validator set is valid")
}

fn equal_set() -> ValidatorSet {
    validator_set(&[1, 1, 1, 1])
}

fn unsigned() -> CommitCertificate {
    CommitCertificate { height: HEIGHT, round: ROUND, block_hash: BLOCK, signatures: Vec::new() }
}

fn entry(certificate: &CommitCertificate, signer: &SecretKey) -> CommitSignature {
    let signature = certificate.precommit(CHAIN_ID, signer.address()).sign(signer);
    CommitSignature { validator: signer.address(), signature }
}

fn signed_by(signers: &[SecretKey]) -> CommitCertificate {
    let mut certificate = unsigned();
    certificate.signatures = signers.iter().map(|signer| entry(&certificate, signer)).collect();
    certificate
}

fn check(certificate: &CommitCertificate, set: &ValidatorSet) -> Result<u64, CertificateError> {
    certificate.verify(CHAIN_ID, HEIGHT, &BLOCK, set)
}

fn insufficient(signed: u64, total: u64) -> Result<u64, CertificateError> {
    Err(CertificateError::InsufficientPower { signed, total })
}

#[test]
fn three_of_four_equal_validators_is_a_quorum() {
    let certificate = signed_by(&[key(0), key(1), key(2)]);
    assert_eq!(check(&certificate, &equal_set()), Ok(3));
}

#[test]
fn all_four_validators_sign() {
    let certificate = signed_by(&[key(3), key(1), key(0), key(2)]);
    assert_eq!(check(&certificate, &equal_set()), Ok(4));
}

#[test]
fn two_of_four_is_not_a_quorum() {
    let certificate = signed_by(&[key(0), key(1)]);
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
}

#[test]
fn an_empty_certificate_carries_no_power() {
    assert_eq!(check(&unsigned(), &equal_set()), insufficient(0, 4));
}

#[test]
fn exactly_two_thirds_is_not_a_quorum() {
    let set = validator_set(&[1, 1, 1]);
    assert_eq!(check(&signed_by(&[key(0), key(1)]), &set), insufficient(2, 3));
    assert_eq!(check(&signed_by(&[key(0), key(1), key(2)]), &set), Ok(3));
    let set = validator_set(&[4, 4, 4]);
    assert_eq!(check(&signed_by(&[key(0), key(2)]), &set), insufficient(8, 12));
}

#[test]
fn one_power_unit_above_two_thirds_is_a_quorum() {
    // 2/3 of 12 is 8; 9 is the smallest quorum.
    let set = validator_set(&[5, 4, 3]);
    assert_eq!(check(&signed_by(&[key(0), key(2)]), &set), insufficient(8, 12));
    assert_eq!(check(&signed_by(&[key(0), key(1)]), &set), Ok(9));
}

#[test]
fn a_repeated_validator_counts_once() {
    let base = signed_by(&[key(0), key(1)]);
    let mut padded = base.clone();
    padded.signatures.push(base.signatures[0].clone());
    padded.signatures.push(base.signatures[0].clone());
    assert_eq!(padded.signatures.len(), 4);
    assert_eq!(check(&padded, &equal_set()), insufficient(2, 4));
}

#[test]
fn a_repeated_validator_next_to_a_real_quorum_still_counts_once() {
    let mut certificate = signed_by(&[key(0), key(1), key(2)]);
    certificate.signatures.push(certificate.signatures[1].clone());
    assert_eq!(check(&certificate, &equal_set()), Ok(3));
}

#[test]
fn a_bad_entry_does_not_block_a_later_good_entry_of_the_same_validator() {
    let mut certificate = signed_by(&[key(2), key(0), key(1)]);
    let mut bad = certificate.signatures[0].clone();
    bad.signature.0[5] ^= 0x01;
    certificate.signatures.insert(0, bad);
    assert_eq!(check(&certificate, &equal_set()), Ok(3));
}

#[test]
fn a_signature_from_a_non_validator_is_ignored() {
    let certificate = signed_by(&[key(0), key(1), outsider()]);
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
    let certificate = signed_by(&[key(0), outsider(), key(1), key(2)]);
    assert_eq!(check(&certificate, &equal_set()), Ok(3));
}

#[test]
fn a_corrupted_signature_is_ignored() {
    for byte in [0, 31, 32, 63] {
        let mut certificate = signed_by(&[key(0), key(1), key(2)]);
        certificate.signatures[2].signature.0[byte] ^= 0x40;
        assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4), "byte {byte}");
    }
}

#[test]
fn a_signature_by_another_validator_key_is_ignored() {
    let mut certificate = signed_by(&[key(0), key(1)]);
    let stolen = entry(&certificate, &key(3)).signature;
    certificate.signatures.push(CommitSignature { validator: key(2).address(), signature: stolen });
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
}

#[test]
fn verify_with_trusts_exactly_the_votes_it_is_told_were_checked() {
    let mut certificate = signed_by(&[key(0), key(1), key(2)]);
    // A signature no key made: it counts only if the caller vouches for this vote with it.
    certificate.signatures[2].signature.0[0] ^= 0x40;
    let vouched = certificate.precommit(CHAIN_ID, key(2).address());
    let vouched_signature = certificate.signatures[2].signature;
    let trusting = |vote: &Vote, signature: &tandem_types::Signature| {
        *vote == vouched && *signature == vouched_signature
    };
    let checked = certificate.verify_with(CHAIN_ID, HEIGHT, &BLOCK, &equal_set(), trusting);
    assert_eq!(checked, Ok(3));

    // Vouching for another vote, or for another signature, does not make this entry count.
    let mut other_round = vouched.clone();
    other_round.round += 1;
    let other_vote = |vote: &Vote, signature: &tandem_types::Signature| {
        *vote == other_round && *signature == vouched_signature
    };
    let checked = certificate.verify_with(CHAIN_ID, HEIGHT, &BLOCK, &equal_set(), other_vote);
    assert_eq!(checked, insufficient(2, 4));
    let good_signature = entry(&certificate, &key(2)).signature;
    let other_signature = |vote: &Vote, signature: &tandem_types::Signature| {
        *vote == vouched && *signature == good_signature
    };
    let checked = certificate.verify_with(CHAIN_ID, HEIGHT, &BLOCK, &equal_set(), other_signature);
    assert_eq!(checked, insufficient(2, 4));
}

fn with_third_vote(vote: impl Fn(&CommitCertificate) -> Vote) -> CommitCertificate {
    let mut certificate = signed_by(&[key(0), key(1)]);
    let signature = vote(&certificate).sign(&key(2));
    certificate.signatures.push(CommitSignature { validator: key(2).address(), signature });
    certificate
}

#[test]
fn a_prevote_signature_is_not_a_precommit() {
    let certificate = with_third_vote(|certificate| Vote {
        kind: VoteKind::Prevote,
        ..certificate.precommit(CHAIN_ID, key(2).address())
    });
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
}

#[test]
fn a_nil_precommit_signature_is_ignored() {
    let certificate = with_third_vote(|certificate| Vote {
        block_hash: None,
        ..certificate.precommit(CHAIN_ID, key(2).address())
    });
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
}

#[test]
fn a_precommit_for_another_round_is_ignored() {
    let certificate = with_third_vote(|certificate| Vote {
        round: ROUND + 1,
        ..certificate.precommit(CHAIN_ID, key(2).address())
    });
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
}

#[test]
fn a_precommit_for_another_chain_is_ignored() {
    let certificate =
        with_third_vote(|certificate| certificate.precommit(CHAIN_ID + 1, key(2).address()));
    assert_eq!(check(&certificate, &equal_set()), insufficient(2, 4));
    let whole = signed_by(&[key(0), key(1), key(2)]);
    assert_eq!(whole.verify(CHAIN_ID + 1, HEIGHT, &BLOCK, &equal_set()), insufficient(0, 4));
}

#[test]
fn more_entries_than_validators_is_rejected() {
    let mut certificate = signed_by(&[key(0), key(1), key(2), key(3)]);
    certificate.signatures.push(certificate.signatures[0].clone());
    assert_eq!(
        check(&certificate, &equal_set()),
        Err(CertificateError::TooManySignatures { entries: 5, validators: 4 })
    );
}

#[test]
fn wrong_height_is_rejected() {
    let certificate = signed_by(&[key(0), key(1), key(2), key(3)]);
    assert_eq!(
        certificate.verify(CHAIN_ID, HEIGHT + 1, &BLOCK, &equal_set()),
        Err(CertificateError::WrongHeight { expected: HEIGHT + 1, found: HEIGHT })
    );
}

#[test]
fn wrong_block_hash_is_rejected() {
    let certificate = signed_by(&[key(0), key(1), key(2), key(3)]);
    let other = Hash([0xb2; 32]);
    assert_eq!(
        certificate.verify(CHAIN_ID, HEIGHT, &other, &equal_set()),
        Err(CertificateError::WrongBlock { expected: other, found: BLOCK })
    );
}

#[test]
fn a_certificate_re_labelled_for_another_block_does_not_verify() {
    let mut certificate = signed_by(&[key(0), key(1), key(2), key(3)]);
    let other = Hash([0xb2; 32]);
    certificate.block_hash = other;
    assert_eq!(certificate.verify(CHAIN_ID, HEIGHT, &other, &equal_set()), insufficient(0, 4));
    let mut certificate = signed_by(&[key(0), key(1), key(2), key(3)]);
    certificate.height = HEIGHT + 1;
    assert_eq!(certificate.verify(CHAIN_ID, HEIGHT + 1, &BLOCK, &equal_set()), insufficient(0, 4));
}

#[test]
fn one_heavy_validator_suffices_alone() {
    // 10 of 13: 30 > 26.
    let set = validator_set(&[10, 1, 1, 1]);
    assert_eq!(check(&signed_by(&[key(0)]), &set), Ok(10));
    assert_eq!(check(&signed_by(&[key(1), key(2), key(3)]), &set), insufficient(3, 13));
    assert_eq!(check(&signed_by(&[key(0), key(3)]), &set), Ok(11));
}

#[test]
fn a_validator_just_below_two_thirds_needs_help() {
    // 8 of 12 is exactly 2/3; one more unit makes a quorum.
    let set = validator_set(&[8, 1, 1, 1, 1]);
    assert_eq!(check(&signed_by(&[key(0)]), &set), insufficient(8, 12));
    assert_eq!(check(&signed_by(&[key(0), key(4)]), &set), Ok(9));
}

#[test]
fn powers_near_u64_max_do_not_overflow_the_quorum_check() {
    let set = validator_set(&[u64::MAX / 2, u64::MAX / 2]);
    assert_eq!(check(&signed_by(&[key(0)]), &set), insufficient(u64::MAX / 2, u64::MAX - 1));
    assert_eq!(check(&signed_by(&[key(0), key(1)]), &set), Ok(u64::MAX - 1));
}

#[test]
fn certificate_survives_encoding() {
    let certificate = signed_by(&[key(0), key(1), key(2)]);
    let decoded = CommitCertificate::from_bytes(&certificate.to_bytes()).expect("decodes");
    assert_eq!(check(&decoded, &equal_set()), Ok(3));
}
