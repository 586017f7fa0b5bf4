#!/usr/bin/env bash
# Runs deterministic simulation seeds of a Tandem cluster.
# Usage: scripts/simulate.sh --seeds N --seed-start S [--validators K]
# Prints each failure with the command that replays it and ends with
# "simulate: N seeds, F failures"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p tandem-testnet --bin simulate
exec target/release/simulate "$@"
