#!/usr/bin/env bash
# Compiles contracts/src/TandemRollup.sol with a pinned solc and writes its artifact.
# Usage: contracts/build.sh           writes contracts/artifacts/TandemRollup.json
#        contracts/build.sh --check   recompiles into a temporary file and fails if the
#                                     committed artifact differs from it (for CI)
# The compiler is the npm package solc (the WebAssembly build of solc) at the version below,
# installed on first use into .tools/ (git-ignored); it needs Node.js 20 or later with npm.
# Settings: optimizer on with 200 runs, EVM cancun, no metadata hash or CBOR trailer, so the
# same source always gives the same bytecode (see contracts/compile.js).
# Exit codes: 0 success, 1 failure (or artifact out of date with --check), 2 usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

solc_version=0.8.28
artifact=contracts/artifacts/TandemRollup.json
usage="usage: contracts/build.sh [--check]"

check=false
case $# in
  0) ;;
  1) [[ $1 == --check ]] || { echo "build: unknown argument $1" >&2; echo "$usage" >&2; exit 2; }
     check=true ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "build: node and npm are needed; install Node.js 20 or later with npm" >&2
  echo "build: (e.g. apt-get install nodejs npm, or https://nodejs.org/en/download)" >&2
  exit 1
fi

# Installs the pinned solc into .tools/ unless that exact version is already there.
installed=$(node -p "require('./.tools/node_modules/solc/package.json').version" 2>/dev/null || true)
if [[ $installed != "$solc_version" ]]; then
  echo "build: installing solc@$solc_version into .tools/" >&2
  mkdir -p .tools
  [[ -f .tools/package.json ]] || echo '{ "private": true }' >.tools/package.json
  log=$(mktemp)
  if ! npm install --prefix .tools --save-exact --no-audit --no-fund --loglevel=error \
    "solc@$solc_version" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "build: npm could not install solc@$solc_version" >&2
    exit 1
  fi
  rm -f "$log"
fi

if ! $check; then
  node contracts/compile.js "$artifact"
  echo "build: wrote $artifact" >&2
  exit 0
fi

if [[ ! -f $artifact ]]; then
  echo "build: $artifact is missing; run contracts/build.sh and commit it" >&2
  exit 1
fi
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
node contracts/compile.js "$fresh"
if ! cmp -s "$fresh" "$artifact"; then
  fields=$(node -e '
    const fs = require("fs");
    const [committed, fresh] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
    const keys = new Set([...Object.keys(committed), ...Object.keys(fresh)]);
    console.log([...keys].filter((k) => JSON.stringify(committed[k]) !== JSON.stringify(fresh[k])).join(", "));
  ' "$artifact" "$fresh" 2>/dev/null || echo "(not valid JSON)")
  echo "build: $artifact does not match contracts/src/TandemRollup.sol compiled with solc $solc_version" >&2
  echo "build: differing fields: ${fields:-formatting only}" >&2
  echo "build: run contracts/build.sh and commit the artifact" >&2
  exit 1
fi
echo "build: $artifact matches the source" >&2
