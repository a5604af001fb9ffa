#!/usr/bin/env bash
# Every benchmark in one run, one results file, compared with the last recorded run.
#
#   ./infra/bench/run-all.sh              # full sizes (about 25 minutes after the release build)
#   ./infra/bench/run-all.sh --quick      # smaller sizes, under 10 minutes after the release build
#   ./infra/bench/run-all.sh --quick --only bookings,alerts
#   ./infra/bench/run-all.sh --record     # also make this run the recorded one: writes
#                                         # docs/bench/results-<mode>.json and the summary table
#                                         # in docs/BENCHMARKS.md
#
# Each benchmark script reports its figures (value, unit, the peer measured in the same run and
# the ratio) and its correctness checks to infra/bench/results.py; this script gathers them into
# target/bench/results-<mode>-<time>.json (date, machine, commit) and prints them beside the last
# recorded run of the same mode, flagging any figure that fell by more than 15 %. Noise is
# reported, never failed: the exit status is non-zero only when a correctness check inside a
# benchmark failed (a double booking, a lost reading, a missed alert) or a benchmark did not
# finish — for the benchmarks that wait for every acknowledgement (ingest, storm, edge, fleet),
# finishing is itself the check that nothing was lost. Not part of CI (.ci/run): it needs the
# machine to itself.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode=full
only=""
record=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --only) only=$2; shift ;;
    --record) record=1 ;;
    *) echo "usage: $0 [--quick] [--only a,b] [--record]" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$record" = 1 ] && [ -n "$only" ]; then
  echo "--record needs every benchmark (a partial run would replace the recorded baselines of the others)" >&2
  exit 2
fi

# name | full-size settings | quick settings | command
benches=(
  "auth|DURATION=10s|DURATION=4s|./infra/bench/auth.sh"
  "ingest|DEVICES=100 MESSAGES=1000|DEVICES=100 MESSAGES=1000|./infra/bench/ingest.sh"
  "bus|DEVICES=20 MESSAGES=400|DEVICES=20 MESSAGES=200 ALERT_DURATION=30|./infra/bench/bus.sh"
  "storm|DEVICES=10000 TIMEOUT_SECS=60|DEVICES=1000 TIMEOUT_SECS=60|./infra/bench/connect_storm.sh"
  "edge|READINGS=1000000|READINGS=200000|./infra/bench/edge.sh"
  "fleet|DEVICES=10000 DURATION=60|DEVICES=1000 DURATION=15 CONNECT_RATE=500|./infra/bench/fleet.sh"
  "records|DURATION=10s|DURATION=4s|./infra/bench/records.sh"
  "alerts|DURATION=120|DURATION=40 DEVICES=32 NORMAL_DEVICES=64|./infra/bench/alerts.sh"
  "bookings|DURATION=15|DURATION=5 CONTENTION_SLOTS=100|./infra/bench/bookings.sh"
  "notify|REMINDERS=10000 PAGES=50|REMINDERS=10000 PAGES=20|./infra/bench/notify.sh"
  "tui|FRAMES=500|FRAMES=1000|./infra/bench/tui.sh"
  "portal|-|-|./infra/bench/portal.sh"
)

out_dir=target/bench
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
figures="$out_dir/figures-$mode-$stamp.jsonl"
results="$out_dir/results-$mode-$stamp.json"
: >"$figures"

echo "building the release binaries once…" >&2
# The scripts' own build commands, each once: cargo unifies features over the packages of one
# command, so a different set is a different build (and would be compiled inside a benchmark).
builds=$(grep -ho 'cargo build --release -q [^|&;]*' $(ls infra/bench/*.sh | grep -v run-all) | sort -u)
while read -r build; do
  [ -n "$build" ] && { $build || exit 1; }
done <<<"$builds"

t_all=$(date +%s)
for entry in "${benches[@]}"; do
  IFS='|' read -r name full quick cmd <<<"$entry"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  settings=$full
  [ "$mode" = quick ] && settings=$quick
  [ "$settings" = - ] && settings=""
  log="$out_dir/$name-$mode-$stamp.log"
  echo "== $name ($settings) → $log" >&2
  t0=$(date +%s)
  # shellcheck disable=SC2086 # settings are NAME=VALUE words
  env BENCH_RESULTS="$PWD/$figures" $settings timeout --foreground 1200 "$cmd" >"$log" 2>&1 </dev/null
  status=$?
  t1=$(date +%s)
  echo "   $((t1 - t0)) s, exit $status" >&2
  if [ "$status" -ne 0 ]; then
    BENCH_RESULTS="$figures" python3 infra/bench/results.py check "$name" "benchmark finished" 0 \
      "exit $status after $((t1 - t0)) s; see $log"
    tail -5 "$log" >&2
  fi
done
echo "all benchmarks: $(( $(date +%s) - t_all )) s" >&2

python3 infra/bench/results.py finish "$figures" "$results" "$mode"
cp "$results" "$out_dir/latest-$mode.json"
recorded="docs/bench/results-$mode.json"
echo "results: $results"
python3 infra/bench/results.py compare "$results" "$recorded"
status=$?
if [ "$record" = 1 ]; then
  mkdir -p docs/bench
  cp "$results" "$recorded"
  python3 infra/bench/results.py docs docs/BENCHMARKS.md --write "$recorded"
  echo "recorded: $recorded and docs/BENCHMARKS.md"
fi
exit "$status"
