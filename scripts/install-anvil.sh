#!/usr/bin/env bash
# Installs anvil, Foundry's local Ethereum node, into .tools/ (git-ignored) unless it is there.
# Usage: scripts/install-anvil.sh      prints the absolute path of the anvil binary
# The binary comes from the npm package @foundry-rs/anvil-linux-amd64 at the version below
# (Linux x86-64 only); it needs Node.js 20 or later with npm. Only the path goes to stdout;
# stderr gets one line when it installs, and errors.
# Exit codes: 0 success, 1 failure.
set -euo pipefail
cd "$(dirname "$0")/.."

anvil_version=1.7.1
package=@foundry-rs/anvil-linux-amd64
binary=.tools/node_modules/$package/bin/anvil

fail() {
  echo "install-anvil: $*" >&2
  exit 1
}

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  fail "the npm package $package is for Linux x86-64, not $(uname -s) $(uname -m)"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  fail "node and npm are needed; install Node.js 20 or later with npm (e.g. apt-get install nodejs npm, or https://nodejs.org/en/download)"
fi

installed=$(node -p "require('./.tools/node_modules/$package/package.json').version" 2>/dev/null || true)
if [[ $installed != "$anvil_version" || ! -f $binary ]]; then
  echo "install-anvil: installing $package@$anvil_version into .tools/" >&2
  mkdir -p .tools
  [[ -f .tools/package.json ]] || echo '{ "private": true }' >.tools/package.json
  log=$(mktemp)
  if ! npm install --prefix .tools --save-exact --no-audit --no-fund --loglevel=error \
    "$package@$anvil_version" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    fail "npm could not install $package@$anvil_version"
  fi
  rm -f "$log"
  [[ -f $binary ]] || fail "$package@$anvil_version has no bin/anvil"
fi
# npm keeps the mode from the tarball; make sure it is executable all the same.
[[ -x $binary ]] || chmod +x "$binary"
echo "$(pwd -P)/$binary"
