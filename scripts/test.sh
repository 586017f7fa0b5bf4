#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, and every test of the workspace.
# Usage: scripts/test.sh        (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs the Rust components the checks need, when rustup is present and they are missing.
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

# Node.js and npm bring anvil (the local L1) and the Solidity compiler.
if ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing nodejs and npm"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "test.sh: Node.js 20+ with npm is needed (apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
echo "== anvil and the contract"
TANDEM_ANVIL=$(scripts/install-anvil.sh)
export TANDEM_ANVIL
contracts/build.sh --check

jobs="${CARGO_BUILD_JOBS:-2}"
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked -j "$jobs" --workspace --all-targets -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked -j "$jobs" --workspace 2>&1 | tee "$log"
echo "== simulation seeds"
cargo run --locked -q -j "$jobs" -p tandem-testnet --bin simulate -- --seeds 200 --seed-start 1 --validators 4
cargo run --locked -q -j "$jobs" -p tandem-testnet --bin simulate -- --seeds 50 --seed-start 1 --validators 7
# One summary of every test binary's result line.
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '; [0-9]+ failed' "$log" | awk '{s += $2} END {print s + 0}')
echo "tests: $passed passed, $failed failed"
