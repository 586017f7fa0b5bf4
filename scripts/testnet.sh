#!/usr/bin/env bash
# Starts, inspects and stops a local Tandem testnet in .testnet/ (git-ignored).
# Usage: scripts/testnet.sh up [-n N]     builds, generates N validators (default 4), starts a local
#                                         L1 (anvil) and deploys the rollup contract on it, starts
#                                         the nodes, waits for height 1, prints one line per node:
#                                         "node I rpc=http://127.0.0.1:P metrics=http://127.0.0.1:Q"
#                                         then "l1 rpc=http://127.0.0.1:P contract=0x…"
#        scripts/testnet.sh down          stops the nodes and the L1 it started (data stays)
#        scripts/testnet.sh status        "node I height=H peers=P syncing=S" or "node I down",
#                                         then "l1 rpc=… contract=0x… block=N" or "l1 down"
#        scripts/testnet.sh logs I [-f]   prints (or follows) node I's log
#        scripts/testnet.sh stop I        kills node I (SIGKILL, a crash)
#        scripts/testnet.sh start I       restarts node I on its data, prints its line
#        scripts/testnet.sh stop-l1       stops the L1 (SIGTERM: anvil saves its state)
#        scripts/testnet.sh start-l1      restarts the L1 on its saved state, prints its line
# Environment: TANDEM_BIN (a tandem binary to use instead of building one),
#              TANDEM_BASE_PORT (default 26600: QUIC base+I, RPC base+100+I, metrics base+200+I,
#              L1 RPC base+300).
# The L1 lives in .testnet/l1/: anvil.log, anvil.pid, state.json (loaded at start, dumped on
# exit), contract (the rollup contract's address). anvil comes from scripts/install-anvil.sh.
# Only the node and L1 lines go to stdout; progress and errors go to stderr.
# Exit codes: 0 success, 1 failure, 2 usage error.
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# The canonical path, so that the --home of a node's command line is the same whichever way the
# script was reached; `down` recognises its nodes by it.
root=$(pwd -P)
net_dir=.testnet
usage="usage: scripts/testnet.sh up [-n N] | down | status | logs I [-f] | stop I | start I | stop-l1 | start-l1"
base_port=${TANDEM_BASE_PORT:-26600}
ready_timeout_s=120
restart_timeout_s=60
term_timeout_s=10
l1_dir=$net_dir/l1
l1_timeout_s=30
# The ether each validator's L1 key gets on the local L1, for its transactions to the contract.
l1_fund_eth=100

msg() { echo "testnet: $*" >&2; }
usage_error() {
  echo "testnet: $*" >&2
  echo "$usage" >&2
  exit 2
}
fail() {
  echo "testnet: $*" >&2
  echo "$usage" >&2
  exit 1
}

node_home() { echo "$root/$net_dir/node$1"; }
rpc_url() { echo "http://127.0.0.1:$((base_port + 100 + $1))"; }
metrics_url() { echo "http://127.0.0.1:$((base_port + 200 + $1))"; }
node_line() { echo "node $1 rpc=$(rpc_url "$1") metrics=$(metrics_url "$1")"; }
l1_port() { echo "$((base_port + 300))"; }
l1_url() { echo "http://127.0.0.1:$(l1_port)"; }
# Absolute, like a node's --home, so that `down` recognises the anvil by its command line.
l1_state() { echo "$root/$l1_dir/state.json"; }
l1_contract() {
  local contract
  contract=$(cat "$l1_dir/contract" 2>/dev/null) || contract=none
  echo "$contract"
}
l1_line() { echo "l1 rpc=$(l1_url) contract=$(l1_contract)"; }

check_base_port() {
  [[ $base_port =~ ^[1-9][0-9]*$ ]] && ((base_port <= 65535 - 300)) ||
    usage_error "TANDEM_BASE_PORT must be a port number up to 65235, not '$base_port'"
}

# The number of nodes of the existing testnet: its node directories are node0 .. node{N-1}.
node_count() {
  local dirs=()
  shopt -s nullglob
  dirs=("$net_dir"/node[0-9]*/)
  shopt -u nullglob
  echo "${#dirs[@]}"
}

require_testnet() {
  (($(node_count) > 0)) || fail "no testnet yet: run 'scripts/testnet.sh up' first"
}

# Checks that $1 is a node index of the existing testnet.
check_index() {
  local count
  count=$(node_count)
  [[ $1 =~ ^(0|[1-9][0-9]*)$ ]] && (($1 < count)) ||
    usage_error "no node '$1': the testnet has nodes 0..$((count - 1))"
}

# The binary: TANDEM_BIN when set (relative to where the script was called from), else the one
# `up` used, recorded in .testnet/, so that `start` and `status` run what the testnet was made with.
resolve_bin() {
  local bin
  if [[ -n ${TANDEM_BIN:-} ]]; then
    case $TANDEM_BIN in
      /*) bin=$TANDEM_BIN ;;
      */*) bin=$caller_dir/$TANDEM_BIN ;;
      *) bin=$(command -v "$TANDEM_BIN") || fail "TANDEM_BIN: no '$TANDEM_BIN' on PATH" ;;
    esac
  elif [[ -f $net_dir/bin ]]; then
    bin=$(<"$net_dir/bin")
  else
    bin=$root/target/release/tandem
  fi
  [[ -x $bin ]] || fail "no tandem binary at $bin"
  echo "$bin"
}

# True when $1 is a live `tandem run` for node $2's home. The pid file alone is not trusted: the
# node may have died and its pid been reused, and a zombie has an empty command line.
is_node_process() {
  local pid=$1 home args=() k
  home=$(node_home "$2")
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  ((${#args[@]} >= 4)) && [[ ${args[1]} == run ]] || return 1
  for ((k = 2; k + 1 < ${#args[@]}; k++)); do
    [[ ${args[k]} == --home && ${args[k + 1]} == "$home" ]] && return 0
  done
  return 1
}

# Prints the pid of node $1 when it runs. A stale pid file is left for spawn_node to replace:
# removing it on one failed check would lose a live node seen at an odd instant.
node_pid() {
  local pid_file pid
  pid_file="$(node_home "$1")/node.pid"
  [[ -f $pid_file ]] || return 1
  pid=$(<"$pid_file")
  if [[ $pid =~ ^[0-9]+$ ]] && is_node_process "$pid" "$1"; then
    echo "$pid"
    return 0
  fi
  return 1
}

# Starts node $1 in the background with $bin, detached so that it outlives the script and no
# terminal signal reaches it. The shell writes its own pid and then execs the node, so the pid
# file names the node whether or not setsid forks.
spawn_node() {
  local i=$1 home pid_file log detach=() k
  home=$(node_home "$i")
  pid_file=$home/node.pid
  log=$home/node.log
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  rm -f "$pid_file"
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) testnet.sh: starting node $i" >>"$log"
  # shellcheck disable=SC2016 # $$ and $1.. belong to the inner shell
  # The allocator setting is given here because the node would otherwise replace itself (exec)
  # to apply it, and a check of its command line during that exec sees none.
  MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-0} nohup "${detach[@]}" sh -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1" && exec "$2" run --home "$3"' \
    sh "$pid_file" "$bin" "$home" </dev/null >>"$log" 2>&1 &
  # Until the exec the pid names the wrapper shell; wait for the node's own command line.
  for ((k = 0; k < 100; k++)); do
    node_pid "$i" >/dev/null && return 0
    sleep 0.1
  done
  msg "node $i did not start; its log ($log):"
  tail -n 20 "$log" >&2 || true
  return 1
}

# Prints node $1's status JSON; fails when its RPC does not answer.
status_json() {
  timeout 5 "$bin" status --rpc "$(rpc_url "$1")" --json 2>/dev/null
}

# Reads a status JSON on stdin and prints "HEIGHT PEERS SYNCING".
parse_status() {
  python3 -c '
import json, sys
s = json.load(sys.stdin)
sync = s.get("sync") or {}
print(s.get("latest_height") or 0, len(s.get("peers") or []), str(bool(sync.get("syncing"))).lower())
'
}

node_height() {
  local json fields
  json=$(status_json "$1") || return 1
  fields=$(parse_status <<<"$json" 2>/dev/null) || return 1
  echo "${fields%% *}"
}

# Sends SIGTERM to the given nodes, waits up to 10 s for all of them, then SIGKILLs the rest.
# Only processes that node_pid recognises are signalled.
stop_nodes() {
  local i pid k pids=() left
  for i in "$@"; do
    if pid=$(node_pid "$i"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids[i]=$pid
    fi
  done
  for ((k = 0; k < term_timeout_s * 10; k++)); do
    left=0
    for i in "${!pids[@]}"; do is_node_process "${pids[i]}" "$i" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if is_node_process "${pids[i]}" "$i"; then
      kill -KILL "${pids[i]}" 2>/dev/null || true
      msg "killed node $i (pid ${pids[i]}): still running ${term_timeout_s} s after SIGTERM"
    else
      msg "stopped node $i (pid ${pids[i]})"
    fi
    rm -f "$(node_home "$i")/node.pid"
  done
  ((${#pids[@]})) || msg "no node was running"
}

# True when $1 is a live anvil serving this testnet's L1: its port and state file on its command
# line. As for the nodes, the pid file alone is not trusted.
is_anvil_process() {
  local pid=$1 args=() k port="" state=""
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  ((${#args[@]} >= 5)) && [[ ${args[0]##*/} == anvil ]] || return 1
  for ((k = 1; k + 1 < ${#args[@]}; k++)); do
    case ${args[k]} in
      --port) port=${args[k + 1]} ;;
      --state) state=${args[k + 1]} ;;
    esac
  done
  [[ $port == "$(l1_port)" && $state == "$(l1_state)" ]]
}

# Prints the pid of the L1 when it runs; a stale pid file is removed.
anvil_pid() {
  local pid_file=$l1_dir/anvil.pid pid
  [[ -f $pid_file ]] || return 1
  pid=$(<"$pid_file")
  if [[ $pid =~ ^[0-9]+$ ]] && is_anvil_process "$pid"; then
    echo "$pid"
    return 0
  fi
  # Kept: until the wrapper shell execs anvil, the pid names the shell, and removing the file
  # then would lose the anvil that follows.
  return 1
}

# Calls the L1's JSON-RPC method $1 with the parameters $2 (a JSON array, default none) and
# prints the result; fails when nothing answers or the answer is an error. No proxy: it is local.
l1_call() {
  timeout 5 python3 -c '
import json, sys, urllib.request
url, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(request, timeout=3) as response:
    reply = json.load(response)
if not isinstance(reply, dict) or "result" not in reply:
    sys.exit(1)
print(reply["result"])
' "$(l1_url)" "$1" "${2:-[]}" 2>/dev/null
}

# True when something already listens on the L1's port (an anvil answering there would otherwise
# be taken for ours).
l1_port_busy() {
  # shellcheck disable=SC2016 # $1 belongs to the inner shell
  timeout 2 bash -c ': <>"/dev/tcp/127.0.0.1/$1"' _ "$(l1_port)" 2>/dev/null
}

print_l1_log_tail() {
  local log=$l1_dir/anvil.log
  echo "--- l1: last 20 lines of $log" >&2
  tail -n 20 "$log" >&2 2>/dev/null || true
}

# Starts anvil ($anvil) in the background on the L1's port and state file, detached like a node.
spawn_anvil() {
  local pid_file=$root/$l1_dir/anvil.pid log=$l1_dir/anvil.log detach=() k
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  mkdir -p "$l1_dir"
  rm -f "$pid_file"
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) testnet.sh: starting anvil" >>"$log"
  # shellcheck disable=SC2016 # $$ and $1.. belong to the inner shell
  # The allocator setting is given here because the node would otherwise replace itself (exec)
  # to apply it, and a check of its command line during that exec sees none.
  MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-0} nohup "${detach[@]}" sh -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1" && shift && exec "$@"' \
    sh "$pid_file" "$anvil" --host 127.0.0.1 --port "$(l1_port)" --block-time 1 \
    --state "$(l1_state)" </dev/null >>"$log" 2>&1 &
  for ((k = 0; k < 100; k++)); do
    anvil_pid >/dev/null && return 0
    sleep 0.1
  done
  msg "anvil did not start"
  return 1
}

# Waits up to 30 s for the L1 to answer eth_chainId; fails early when anvil exits.
wait_l1() {
  local deadline=$((SECONDS + l1_timeout_s))
  msg "waiting up to ${l1_timeout_s} s for the L1 on $(l1_url)"
  until l1_call eth_chainId >/dev/null && anvil_pid >/dev/null; do
    if ! anvil_pid >/dev/null; then
      msg "anvil exited"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      msg "anvil did not answer on $(l1_url) within ${l1_timeout_s} s"
      return 1
    fi
    sleep 0.2
  done
}

# Installs anvil if needed, starts it on the L1's state and waits for it; on failure stops it
# and prints its log tail. Sets l1_started, for stop_started.
start_l1() {
  anvil=$("$root/scripts/install-anvil.sh") || {
    msg "could not install anvil"
    return 1
  }
  if l1_port_busy; then
    msg "port $(l1_port) (the L1's RPC) is already in use"
    return 1
  fi
  msg "starting the L1 (anvil) on $(l1_url)"
  l1_started=1
  spawn_anvil || {
    print_l1_log_tail
    stop_l1 >/dev/null 2>&1 || true
    return 1
  }
  wait_l1 || {
    print_l1_log_tail
    stop_l1 || true
    return 1
  }
}

# Sends SIGTERM to the L1 (anvil dumps its state on exit), waits up to 10 s, then SIGKILLs it.
# Fails when it was not running.
stop_l1() {
  local pid k
  pid=$(anvil_pid) || return 1
  kill -TERM "$pid" 2>/dev/null || true
  for ((k = 0; k < term_timeout_s * 10; k++)); do
    is_anvil_process "$pid" || break
    sleep 0.1
  done
  if is_anvil_process "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    msg "killed the L1 (pid $pid): still running ${term_timeout_s} s after SIGTERM, its state may not be saved"
  else
    msg "stopped the L1 (pid $pid)"
  fi
  rm -f "$l1_dir/anvil.pid"
}

print_log_tail() {
  local log
  log="$(node_home "$1")/node.log"
  echo "--- node $1: last 20 lines of $log" >&2
  tail -n 20 "$log" >&2 2>/dev/null || true
}

# The nodes (and the L1) this invocation started, stopped again if it fails or is interrupted,
# so that a failed `up`, `start` or `start-l1` leaves nothing behind.
started=()
l1_started=0
# Stops what this invocation started, and the nodes given as arguments.
stop_started() {
  local nodes=("${started[@]}" "$@")
  ((${#nodes[@]} == 0)) || stop_nodes "${nodes[@]}"
  ((l1_started == 0)) || stop_l1 || true
}
abort_started() {
  trap - INT TERM
  stop_started
  exit 130
}

cmd_up() {
  local n=4 i count running=() not_ready=() pending h contract
  while (($#)); do
    case $1 in
      -n)
        [[ ${2:-} =~ ^[1-9][0-9]*$ ]] && (($2 <= 100)) || usage_error "-n needs a number of validators from 1 to 100"
        n=$2
        shift 2
        ;;
      *) usage_error "unknown option for up: '$1'" ;;
    esac
  done
  check_base_port

  # A running node would keep its ports and its data directory, which the new testnet replaces.
  count=$(node_count)
  for ((i = 0; i < count; i++)); do
    node_pid "$i" >/dev/null && running+=("$i")
  done
  ((${#running[@]} == 0)) ||
    fail "nodes ${running[*]} of a previous testnet are still running: run 'scripts/testnet.sh down' first"
  ! anvil_pid >/dev/null ||
    fail "the L1 of a previous testnet is still running: run 'scripts/testnet.sh down' first"

  if [[ -n ${TANDEM_BIN:-} ]]; then
    bin=$(resolve_bin)
    msg "using $bin (TANDEM_BIN)"
  else
    msg "building tandem-node (release)"
    cargo build --release --locked -p tandem-node >&2
    bin=$root/target/release/tandem
    [[ -x $bin ]] || fail "the build did not produce $bin"
  fi

  rm -rf "$net_dir"
  msg "generating $n validators in $net_dir/ (base port $base_port)"
  "$bin" testnet --validators "$n" --accounts 10000 --out "$net_dir" --base-port "$base_port" >&2
  echo "$bin" >"$net_dir/bin"

  # ---- L1 -------------------------------------------------------------------------------------
  # A local L1 (anvil) with the rollup contract deployed for the genesis, started before the
  # nodes so that their configurations can point at it.
  trap abort_started INT TERM
  start_l1 || exit 1
  msg "deploying the rollup contract, funding each validator's L1 key with ${l1_fund_eth} ETH"
  if ! contract=$("$bin" deploy-contract --l1-rpc "$(l1_url)" --genesis "$net_dir/genesis.json" \
    --dev-key --fund-validators "$l1_fund_eth") || [[ ! $contract =~ ^contract=(0x[0-9a-f]{40})$ ]]; then
    msg "could not deploy the rollup contract; stopping the L1"
    print_l1_log_tail
    stop_started
    exit 1
  fi
  echo "${BASH_REMATCH[1]}" >"$l1_dir/contract"
  msg "rollup contract at ${BASH_REMATCH[1]}"
  # Every node posts to and watches the contract. Testnet timings: anvil makes a block every
  # second, so a batch counts as settled two blocks on, and each validator's turn is 5 s.
  for ((i = 0; i < n; i++)); do
    cat >>"$(node_home "$i")/config.toml" <<EOF

[l1]
rpc_url = "$(l1_url)"
chain_id = 31337
contract = "${BASH_REMATCH[1]}"
post_turn_ms = 5000
poll_interval_ms = 1000
settle_blocks = 2
resubmit_after_ms = 4000
EOF
  done
  # ---------------------------------------------------------------------------------------------

  for ((i = 0; i < n; i++)); do
    msg "starting node $i"
    spawn_node "$i" || {
      stop_started "$i"
      exit 1
    }
    started+=("$i")
  done

  msg "waiting up to ${ready_timeout_s} s for every node to decide height 1"
  pending=("${started[@]}")
  local deadline=$((SECONDS + ready_timeout_s))
  while ((${#pending[@]})); do
    not_ready=()
    for i in "${pending[@]}"; do
      # Only our own process counts: another one may answer on the node's port.
      node_pid "$i" >/dev/null && h=$(node_height "$i") && ((h >= 1)) && continue
      not_ready+=("$i")
    done
    pending=("${not_ready[@]}")
    ((${#pending[@]})) || break
    # A node that exited will never get there; no point waiting out the deadline.
    for i in "${pending[@]}"; do
      node_pid "$i" >/dev/null || {
        msg "node $i exited"
        deadline=$SECONDS
      }
    done
    if ((SECONDS >= deadline)); then
      msg "nodes ${pending[*]} did not reach height 1; stopping the testnet"
      for i in "${pending[@]}"; do print_log_tail "$i"; done
      stop_started
      exit 1
    fi
    sleep 1
  done
  trap - INT TERM

  msg "testnet up: $n nodes and the L1"
  for ((i = 0; i < n; i++)); do node_line "$i"; done
  l1_line
}

cmd_down() {
  (($# == 0)) || usage_error "down takes no arguments"
  check_base_port
  local n i all=()
  n=$(node_count)
  for ((i = 0; i < n; i++)); do all+=("$i"); done
  if ((n == 0)) && [[ ! -d $l1_dir ]]; then
    msg "no testnet: nothing to stop"
    return 0
  fi
  ((n == 0)) || stop_nodes "${all[@]}"
  stop_l1 || msg "the L1 was not running"
}

cmd_status() {
  (($# == 0)) || usage_error "status takes no arguments"
  require_testnet
  check_base_port
  bin=$(resolve_bin)
  local n i json fields height peers syncing block
  n=$(node_count)
  for ((i = 0; i < n; i++)); do
    if json=$(status_json "$i") && fields=$(parse_status <<<"$json" 2>/dev/null); then
      read -r height peers syncing <<<"$fields"
      echo "node $i height=$height peers=$peers syncing=$syncing"
    else
      echo "node $i down"
    fi
  done
  if block=$(l1_call eth_blockNumber) && [[ $block =~ ^0x[0-9a-fA-F]+$ ]]; then
    echo "$(l1_line) block=$((block))"
  else
    echo "l1 down"
  fi
}

cmd_logs() {
  local index="" follow=0 log
  while (($#)); do
    case $1 in
      -f) follow=1 ;;
      -*) usage_error "unknown option for logs: '$1'" ;;
      *)
        [[ -z $index ]] || usage_error "logs takes one node index"
        index=$1
        ;;
    esac
    shift
  done
  [[ -n $index ]] || usage_error "logs needs a node index"
  require_testnet
  check_index "$index"
  log="$(node_home "$index")/node.log"
  [[ -f $log ]] || fail "node $index has no log yet"
  if ((follow)); then
    exec tail -f "$log"
  fi
  cat "$log"
}

cmd_stop() {
  (($# == 1)) || usage_error "stop takes one node index"
  require_testnet
  check_index "$1"
  local pid k
  pid=$(node_pid "$1") || fail "node $1 is not running"
  # SIGKILL on purpose: this simulates a crash, so the node gets no chance to shut down cleanly.
  kill -KILL "$pid"
  for ((k = 0; k < 50; k++)); do
    is_node_process "$pid" "$1" || break
    sleep 0.1
  done
  rm -f "$(node_home "$1")/node.pid"
  msg "killed node $1 (pid $pid)"
}

cmd_start() {
  (($# == 1)) || usage_error "start takes one node index"
  require_testnet
  check_index "$1"
  check_base_port
  local i=$1 pid deadline
  pid=$(node_pid "$i") && fail "node $i is already running (pid $pid)"
  bin=$(resolve_bin)

  trap abort_started INT TERM
  msg "starting node $i"
  spawn_node "$i" || {
    stop_nodes "$i"
    exit 1
  }
  started+=("$i")
  msg "waiting up to ${restart_timeout_s} s for its RPC"
  deadline=$((SECONDS + restart_timeout_s))
  # Only our own process counts: another one may answer on the node's port.
  until node_pid "$i" >/dev/null && status_json "$i" >/dev/null; do
    if ! node_pid "$i" >/dev/null || ((SECONDS >= deadline)); then
      msg "node $i did not answer on $(rpc_url "$i"); stopping it"
      print_log_tail "$i"
      stop_nodes "$i"
      exit 1
    fi
    sleep 1
  done
  trap - INT TERM
  node_line "$i"
}

cmd_stop_l1() {
  (($# == 0)) || usage_error "stop-l1 takes no arguments"
  require_testnet
  check_base_port
  stop_l1 || fail "the L1 is not running"
}

cmd_start_l1() {
  (($# == 0)) || usage_error "start-l1 takes no arguments"
  require_testnet
  check_base_port
  local pid code
  [[ -f $l1_dir/contract ]] || fail "this testnet has no L1: run 'scripts/testnet.sh up' for a new one"
  pid=$(anvil_pid) && fail "the L1 is already running (pid $pid)"

  trap abort_started INT TERM
  start_l1 || exit 1
  # Without its saved state the chain starts over, without the contract.
  if ! code=$(l1_call eth_getCode "[\"$(l1_contract)\", \"latest\"]") || [[ $code == 0x ]]; then
    msg "the L1 has no contract at $(l1_contract): its state was lost; stopping it"
    stop_started
    exit 1
  fi
  trap - INT TERM
  l1_line
}

main() {
  (($#)) || usage_error "no command"
  local cmd=$1
  shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    logs) cmd_logs "$@" ;;
    stop) cmd_stop "$@" ;;
    start) cmd_start "$@" ;;
    stop-l1) cmd_stop_l1 "$@" ;;
    start-l1) cmd_start_l1 "$@" ;;
    -h | --help | help) sed -n '2,22s/^# \{0,1\}//p' "$root/scripts/testnet.sh" ;;
    *) usage_error "unknown command '$cmd'" ;;
  esac
}

main "$@"
