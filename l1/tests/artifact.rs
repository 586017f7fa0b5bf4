//! The committed contract artifact belongs to the committed source: its recorded source hash
//! is the SHA-256 of `contracts/src/TandemRollup.sol`. (`contracts/build.sh --check`, run by
//! `scripts/test.sh`, recompiles and compares the bytecode too.)

use std::path::PathBuf;

#[test]
fn the_artifact_was_built_from_the_source() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    let source = std::fs::read(root.join("src/TandemRollup.sol")).expect("source");
    let artifact: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("artifacts/TandemRollup.json")).expect("artifact"),
    )
    .expect("artifact is JSON");
    let recorded = artifact["sourceSha256"].as_str().expect("sourceSha256");
    let actual = hex::encode(tandem_types::sha256(&source).0);
    assert_eq!(
        recorded.trim_start_matches("0x"),
        actual,
        "contracts/src changed: run contracts/build.sh and commit the artifact"
    );
    assert!(artifact["bytecode"].as_str().is_some_and(|code| code.len() > 1_000));
}
