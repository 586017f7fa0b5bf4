#!/usr/bin/env bash
# Runs the standard benchmark on local 4-validator testnets: a steady run on one, a rate sweep on
# a fresh one, an overload run on a third, while sampling the nodes' memory; writes the results,
# a chart and a summary against the targets. Each run gets its own testnet so that none measures
# what another left behind: an overloaded step leaves transactions held behind nonce gaps (until
# their TTL) whose nonces a new run hands out again, any load leaves the L1 batches still to
# post, and every transfer adds an account to the state.
# Usage: scripts/bench.sh [--sweep R1,R2,…] [--step-seconds S] [--steady-rate R]
#                         [--steady-seconds S] [--capacity-rate R] [--overload-seconds S]
#                         [--no-overload] [--quick]
#        --sweep LIST        offered rates of the sweep, tx/s (default 1000,2000,3000,4000,6000)
#        --step-seconds S    seconds of load per sweep rate (default 10)
#        --steady-rate R     offered rate of the steady run, tx/s (default 1000)
#        --steady-seconds S  seconds of the steady run (default 60)
#        --capacity-rate R   the load the cluster takes at its normal block interval, tx/s: the
#                            overload run offers it, then ten times it (default 3000, the
#                            highest sweep rate whose blocks still carry only what arrived
#                            since the last one; see docs/performance.md, Overload)
#        --overload-seconds S  seconds of each overload step (default 20)
#        --no-overload       skip the overload run
#        --quick             sweep 1000,2000 at 5 s, steady 10 s, overload 1000 then 10000 at 5 s,
#                            to try the script; the options above still override it
#        scripts/bench.sh -h prints this
# The testnet comes from `scripts/testnet.sh up` (a release build unless TANDEM_BIN names a
# binary; TANDEM_BASE_PORT moves its ports) and `scripts/testnet.sh down` stops it on exit, error
# or interrupt. A testnet already running in .testnet/ is left alone: the script refuses to start.
# Results go to bench/results/YYYYMMDD-HHMMSS/ (git-ignored): sweep.json, steady.json and
# overload.json (from `tandem bench --json`), rss.json (each node's peak VmRSS in KiB over the
# steady run and the sweep, sampled every second; rss-RUN.json per run) and chart.svg
# (scripts/bench-chart.py: throughput and latency against offered rate).
# The summary goes to stdout; progress, including tandem bench's own tables, goes to stderr.
# Targets: >= 10,000 finalized tx/s; at 1,000 tx/s p50 <= 25 ms and p99 <= 100 ms; RSS <= 300 MiB;
# under ten times the capacity load, every transaction answered (refused `mempool_full` with a
# retry hint when there is no room) and the block interval's median within 20% of its value at
# capacity. Missing them is reported, not a failure.
# Exit codes: 0 the runs completed, 1 the testnet did not start or tandem bench could not apply
# the load, 2 usage error, 130 interrupted (143 on SIGTERM).
set -euo pipefail
caller_dir=$PWD
cd "$(dirname "$0")/.."
# testnet.sh reads a relative TANDEM_BIN from where it is called, which is now the repository's
# root: anchor it to where this script was called from instead.
if [[ ${TANDEM_BIN:-} == */* && $TANDEM_BIN != /* ]]; then
  export TANDEM_BIN=$caller_dir/$TANDEM_BIN
fi

usage="usage: scripts/bench.sh [--sweep R1,R2,…] [--step-seconds S] [--steady-rate R] [--steady-seconds S] [--capacity-rate R] [--overload-seconds S] [--no-overload] [--quick] [-h]"
validators=4
# Seconds of unmeasured load on each fresh testnet before its run.
warmup_s=5
results_root=bench/results

msg() { echo "bench: $*" >&2; }
usage_error() {
  echo "bench: $*" >&2
  echo "$usage" >&2
  exit 2
}
fail() {
  echo "bench: $*" >&2
  exit 1
}

print_help() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' scripts/bench.sh; }

# ---- options ------------------------------------------------------------------------------------

sweep="" step_s="" steady_rate="" steady_s="" capacity_rate="" overload_s="" overload=1 quick=0

positive() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# option_value VAR OPTION VALUE WHAT: sets VAR to VALUE if it is a positive whole number, else
# stops with a usage error saying that OPTION needs WHAT.
option_value() {
  positive "$3" || usage_error "$2 needs $4"
  printf -v "$1" '%s' "$3"
}

parse_options() {
  while (($#)); do
    case $1 in
      --sweep)
        [[ ${2:-} =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage_error "--sweep needs rates like 1000,2000"
        sweep=$2
        shift 2
        ;;
      --step-seconds) option_value step_s "$1" "${2:-}" "a number of seconds"; shift 2 ;;
      --steady-rate) option_value steady_rate "$1" "${2:-}" "a rate in tx/s"; shift 2 ;;
      --steady-seconds) option_value steady_s "$1" "${2:-}" "a number of seconds"; shift 2 ;;
      --capacity-rate) option_value capacity_rate "$1" "${2:-}" "a rate in tx/s"; shift 2 ;;
      --overload-seconds) option_value overload_s "$1" "${2:-}" "a number of seconds"; shift 2 ;;
      --no-overload)
        overload=0
        shift
        ;;
      --quick)
        quick=1
        shift
        ;;
      -h | --help)
        print_help
        exit 0
        ;;
      *) usage_error "unknown option '$1'" ;;
    esac
  done
  # --quick only fills in what was not given, whatever the order of the options.
  if ((quick)); then
    : "${sweep:=1000,2000}" "${step_s:=5}" "${steady_rate:=1000}" "${steady_s:=10}"
    : "${capacity_rate:=1000}" "${overload_s:=5}"
  else
    : "${sweep:=1000,2000,3000,4000,6000}" "${step_s:=10}" "${steady_rate:=1000}" "${steady_s:=60}"
    : "${capacity_rate:=3000}" "${overload_s:=20}"
  fi
}

# ---- cleanup ------------------------------------------------------------------------------------

# Set once `up` has been called: from then on the testnet is this script's to stop.
testnet_started=0
# The tandem bench running now, and the RSS sampler: stopped by pid on the way out.
child=""
sampler=""
# The results directory, once made.
results_dir=""

stop_process() {
  [[ -n $1 ]] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_process "$child"
  stop_process "$sampler"
  if ((status != 0)) && [[ -n $results_dir ]]; then
    msg "partial results in $results_dir/"
  fi
  if ((testnet_started)); then
    msg "stopping the testnet"
    scripts/testnet.sh down >/dev/null || msg "scripts/testnet.sh down failed"
  fi
  exit "$status"
}

# $1: the signal's name, $2: its number; the exit status is 128 + the number, as for a shell.
interrupted() {
  msg "interrupted (SIG$1)"
  exit $((128 + $2))
}

# Runs "$@" in the background and waits for it: bash runs a trap only once the foreground command
# ends, so a 60 s run would otherwise hold an interrupt back until its end. `cleanup` stops it.
run_child() {
  local status=0
  "$@" &
  child=$!
  wait "$child" || status=$?
  child=""
  return "$status"
}

# ---- testnet ------------------------------------------------------------------------------------

# True when a node or the L1 of .testnet/ is alive (a pid file naming a `… run --home …` or an
# anvil): `up` would refuse it, and this script must not stop a testnet it did not start.
previous_testnet_running() {
  local pid_file pid cmdline
  for pid_file in .testnet/node*/node.pid .testnet/l1/anvil.pid; do
    [[ -f $pid_file ]] || continue
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmdline == *" run --home "* || $cmdline == *anvil* ]] && return 0
  done
  return 1
}

# Starts the testnet and sets rpcs (the nodes' RPC URLs, comma-separated) and bin (the binary the
# testnet runs, also used for the load). `up` stays in the foreground so that a Ctrl-C reaches it
# (and its cargo build): it then stops what it started itself.
start_testnet() {
  local lines line urls=()
  if previous_testnet_running; then
    fail "a testnet is already running in .testnet/: stop it with 'scripts/testnet.sh down' first"
  fi
  testnet_started=1
  lines=$(scripts/testnet.sh up) || fail "the testnet did not start"
  while IFS= read -r line; do
    [[ $line =~ ^node\ [0-9]+\ rpc=([^ ]+) ]] && urls+=("${BASH_REMATCH[1]}")
  done <<<"$lines"
  ((${#urls[@]} == validators)) ||
    fail "expected $validators node lines from scripts/testnet.sh up, got ${#urls[@]}"
  rpcs=$(
    IFS=,
    echo "${urls[*]}"
  )
  bin=$(<.testnet/bin)
}

stop_testnet() {
  scripts/testnet.sh down >/dev/null || fail "scripts/testnet.sh down failed"
  testnet_started=0
}

# ---- memory -------------------------------------------------------------------------------------

# Samples each node's VmRSS every second until stopped and keeps the peak per node in $1 as
# {"node0_kib": …, …}, rewritten whole each second so that it is complete whenever it is stopped.
sample_rss() {
  local out=$1 pids=() peaks=() fields=() i key value _ json
  for ((i = 0; i < validators; i++)); do
    pids[i]=$(<".testnet/node$i/node.pid")
    peaks[i]=0
  done
  while :; do
    fields=()
    for i in "${!pids[@]}"; do
      # A node that exited keeps the peak it had.
      while read -r key value _; do
        if [[ $key == VmRSS: ]]; then
          ((value <= peaks[i])) || peaks[i]=$value
          break
        fi
      done 2>/dev/null <"/proc/${pids[i]}/status" || true
      fields+=("\"node${i}_kib\": ${peaks[i]}")
    done
    printf -v json '%s, ' "${fields[@]}"
    echo "{${json%, }}" >"$out.tmp" && mv "$out.tmp" "$out"
    sleep 1
  done
}

start_sampler() {
  sample_rss "$1" &
  sampler=$!
}

stop_sampler() {
  stop_process "$sampler"
  sampler=""
  rm -f "$1.tmp"
}

# ---- runs ---------------------------------------------------------------------------------------

# Runs tandem bench with the testnet's endpoints and the given options; its table goes to stderr
# with the rest of the progress, stdout is for the summary. Exit 1: the load was not applied,
# except in the overload run, where transactions left unanswered are a result to report.
run_bench() {
  local what=$1 status=0
  shift
  msg "$what: tandem bench $*"
  run_child "$bin" bench --rpc "$rpcs" "$@" >&2 || status=$?
  ((status == 0)) || [[ $what == overload && $status == 1 ]] ||
    fail "$what: tandem bench exited $status (the load was not applied)"
}

# Runs tandem bench as run $1 (steady, sweep or overload) with the options that follow on a fresh testnet,
# sampling the nodes' memory, and stops the testnet. Writes $1.json and rss-$1.json. A few
# seconds at the steady rate come first, unmeasured: a testnet just started is still setting
# up its L1 and its connections, and its first transactions would count that against the run.
measure() {
  local what=$1
  shift
  start_testnet
  start_sampler "$results_dir/rss-$what.json"
  run_bench "$what: warm-up" --rate "$steady_rate" --duration "$warmup_s"
  run_bench "$what" "$@" --json "$results_dir/$what.json"
  stop_sampler "$results_dir/rss-$what.json"
  [[ -f $results_dir/rss-$what.json ]] || fail "$what: no RSS sample was taken"
  stop_testnet
}

# Writes rss.json: each node's peak over the runs' samples.
merge_rss() {
  python3 - "$1" <<'EOF'
import json, os, sys
results = sys.argv[1]
peaks = {}
for name in ("rss-steady.json", "rss-sweep.json"):
    with open(os.path.join(results, name)) as f:
        for node, kib in json.load(f).items():
            peaks[node] = max(peaks.get(node, 0), kib)
with open(os.path.join(results, "rss.json"), "w") as f:
    json.dump(peaks, f)
EOF
}

# Prints the sweep and steady rows, the peak RSS and each target with its outcome.
print_summary() {
  python3 - "$1" "$step_s" "$steady_s" <<'EOF'
import json, os, sys

results, step_s, steady_s = sys.argv[1], sys.argv[2], sys.argv[3]
def load(name):
    with open(os.path.join(results, name)) as f:
        return json.load(f)
sweep, steady, rss = load("sweep.json")["steps"], load("steady.json")["steps"], load("rss.json")

columns = "{:<7} {:>8} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9}"
def row(run, step):
    lat = step["latency_ms"]
    return columns.format(
        run, step["offered_tps"], f"{step['applied_tps']:.0f}", f"{step['throughput_tps']:.0f}",
        f"{lat['p50']:.1f}", f"{lat['p90']:.1f}", f"{lat['p99']:.1f}", f"{lat['max']:.1f}",
        f"{step['block_interval_ms']['p50']:.1f}", f"{step['txs_per_block']:.1f}",
        sum(step["rejected"].values()))

print()
print(f"sweep: {step_s} s per rate; steady: {steady_s} s; throughput and rates in tx/s")
print(columns.format("run", "offered", "applied", "finalized", "p50 ms", "p90 ms", "p99 ms",
                     "max ms", "block ms", "tx/block", "rejected"))
for step in sweep:
    print(row("sweep", step))
for step in steady:
    print(row("steady", step))
print()
print("peak RSS: " + ", ".join(f"{node.removesuffix('_kib')} {kib:,} KiB" for node, kib in rss.items()))

# (what, measured, target, met); met is None when the run does not measure the target.
targets = []
best = max(step["throughput_tps"] for step in sweep + steady)
targets.append(("finalized throughput, best step", f"{best:,.0f} tx/s", ">= 10,000 tx/s",
                best >= 10_000))
at_1000 = [step for step in steady if step["offered_tps"] == 1000]
for name, limit in (("p50", 25), ("p99", 100)):
    what = f"{name} latency at 1,000 tx/s, steady"
    if at_1000:
        value = at_1000[0]["latency_ms"][name]
        targets.append((what, f"{value:,.1f} ms", f"<= {limit} ms", value <= limit))
    else:
        targets.append((what, "not run", f"<= {limit} ms", None))
for node, kib in rss.items():
    mib = kib / 1024
    targets.append((f"peak RSS {node.removesuffix('_kib')}", f"{mib:,.1f} MiB", "<= 300 MiB",
                    mib <= 300))
def unanswered(step):
    return sum(step["rejected"].get(reason, 0) for reason in ("timeout", "transport"))

if os.path.exists(os.path.join(results, "overload.json")):
    normal, heavy = load("overload.json")["steps"]
    print()
    print(f"overload: {heavy['duration_s']:.0f} s at the capacity rate, then at ten times it; "
          "included: the blocks' transactions per second; least 1 s: the fewest they "
          "included in one second of the step; block intervals in ms")
    overload_columns = "{:<8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11}"
    print(overload_columns.format("offered", "applied", "included", "least 1 s", "block p50",
                                  "block p99", "tx/block", "refused", "resent", "unanswered"))
    for step in (normal, heavy):
        rejected = step["rejected"]
        included = step["blocks"] * step["txs_per_block"] / step["duration_s"]
        interval = step["block_interval_ms"]
        least = step.get("included_min_per_s")
        print(overload_columns.format(
            step["offered_tps"], f"{step['applied_tps']:.0f}", f"{included:.0f}",
            "-" if least is None else least,
            f"{interval['p50']:.1f}", f"{interval['p99']:.1f}", f"{step['txs_per_block']:.1f}",
            rejected.get("mempool_full", 0), step["retried"], unanswered(step)))
    base, loaded = normal["block_interval_ms"]["p50"], heavy["block_interval_ms"]["p50"]
    full = heavy["rejected"].get("mempool_full", 0)
    no_answer = unanswered(heavy)
    # A run that refused nothing did not overload the cluster: its interval would say nothing.
    targets.append(("block interval p50 at 10x load", f"{loaded:,.1f} ms",
                    f"<= {1.2 * base:,.1f} ms", full > 0 and loaded <= 1.2 * base))
    targets.append(("unanswered at 10x load", f"{no_answer:,} tx", "0 tx",
                    full > 0 and no_answer == 0))

print()
print(f"{'target':<36} {'measured':>14} {'target':>15}")
for what, measured, target, met in targets:
    outcome = "n/a" if met is None else "met" if met else "MISSED"
    print(f"{what:<36} {measured:>14} {target:>15}  {outcome}")
EOF
}

main() {
  local stamp started_at
  parse_options "$@"
  read -r stamp started_at < <(date '+%Y%m%d-%H%M%S %Y-%m-%d %H:%M')

  trap cleanup EXIT
  trap 'interrupted INT 2' INT
  trap 'interrupted TERM 15' TERM
  if previous_testnet_running; then
    fail "a testnet is already running in .testnet/: stop it with 'scripts/testnet.sh down' first"
  fi
  mkdir -p "$results_root"
  mkdir "$results_root/$stamp" || fail "$results_root/$stamp already exists"
  results_dir=$results_root/$stamp
  msg "results in $results_dir/"

  measure steady --rate "$steady_rate" --duration "$steady_s"
  measure sweep --sweep "$sweep" --duration "$step_s"
  if ((overload)); then
    measure overload --sweep "$capacity_rate,$((10 * capacity_rate))" --duration "$overload_s"
  fi
  merge_rss "$results_dir"

  python3 scripts/bench-chart.py "$results_dir/sweep.json" "$results_dir/chart.svg" --date "$started_at"
  print_summary "$results_dir"
  echo
  echo "results: $results_dir/ (sweep.json, steady.json, overload.json, rss.json, chart.svg)"
}

main "$@"
