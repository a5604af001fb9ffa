#!/usr/bin/env bash
# Embedded event bus benchmark (issue 34): `episante up` on its durable PostgreSQL log beside the
# in-memory bus (not durable: the peer) and tansu, same load, same run:
#   - ingest end to end: DEVICES hubs publish MESSAGES messages of READINGS readings each as fast
#     as their in-flight window allows, every one acknowledged only once the bus holds it
#     (episante-sim bench, e2e acks): readings/s and ack latency p50/p99;
#   - reading → alert: the clinical-safety probe's latency (alerts.sh at LOAD of the ceiling, one
#     labelled phase) on the durable and the in-memory bus.
#   ./infra/bench/bus.sh        # DEVICES=20 MESSAGES=200 READINGS=250 ALERTS=1
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICES=${DEVICES:-20}
MESSAGES=${MESSAGES:-200}
READINGS=${READINGS:-250}
ALERTS=${ALERTS:-1}
cargo build --release -q -p episante-cli -p episante-sim
results_file=$(mktemp)
trap 'rm -f "$results_file"*' EXIT

for bus in postgres memory kafka; do
  (
    BUS=$bus
    source infra/bench/lib.sh
    start_platform "bench_bus_$bus"
    target/release/episante-sim bench --label "$bus" --devices "$DEVICES" --messages "$MESSAGES" \
      --readings "$READINGS" --host localhost --port "$mqtt_port" \
      --registry "http://127.0.0.1:$registry_port" --token "$token" >>"$results_file"
  )
done

if [ "$ALERTS" = 1 ]; then
  # alerts.sh's own figures stay out of this run's results (they are the alerts benchmark's).
  for bus in postgres memory; do
    env -u BENCH_RESULTS BUS=$bus DURATION="${ALERT_DURATION:-40}" DEVICES=32 NORMAL_DEVICES=64 LOADS=0.1 \
      ./infra/bench/alerts.sh >"$results_file.alerts-$bus" 2>&1 || { cat "$results_file.alerts-$bus"; exit 1; }
    grep -E "reading → alert on the SSE stream" "$results_file.alerts-$bus" | sed "s/^/[$bus] /"
  done
fi

python3 - "$results_file" "$ALERTS" <<'PY'
import json, re, sys
rows = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
print(f"{'bus':9} {'readings':>9} {'readings/s e2e':>14} {'ack p50 ms':>10} {'ack p99 ms':>10}")
for label in ("postgres", "memory", "kafka"):
    r = rows[label]
    print(f"{label:9} {r['readings']:>9} {r['readings_per_sec']:>14.0f} {r['e2e_p50_ms']:>10.0f} {r['e2e_p99_ms']:>10.0f}")
p, m, k = rows["postgres"], rows["memory"], rows["kafka"]
print(f"ratio durable / in-memory readings/s: {p['readings_per_sec'] / m['readings_per_sec']:.2f}")
print(f"ratio durable / tansu readings/s:     {p['readings_per_sec'] / k['readings_per_sec']:.2f}")
sys.path.insert(0, "infra/bench")
import results
results.figure("bus", "durable bus: readings/s end to end", p["readings_per_sec"], "readings/s",
               "in-memory bus", m["readings_per_sec"])
results.figure("bus", "durable bus: ack p99", p["e2e_p99_ms"], "ms", "in-memory bus",
               m["e2e_p99_ms"], higher_is_better=False)
results.figure("bus", "tansu: readings/s end to end", k["readings_per_sec"], "readings/s",
               "in-memory bus", m["readings_per_sec"])
if sys.argv[2] == "1":
    latency = {}
    for label in ("postgres", "memory"):
        text = open(f"{sys.argv[1]}.alerts-{label}").read()
        found = re.search(r"reading → alert on the SSE stream p50 ([\d.]+) ms, p99 ([\d.]+) ms", text)
        latency[label] = (float(found.group(1)), float(found.group(2)))
    for i, q in enumerate(("p50", "p99")):
        print(f"reading → alert on the stream {q}: durable {latency['postgres'][i]:.0f} ms, in-memory {latency['memory'][i]:.0f} ms")
        results.figure("bus", f"durable bus: reading → alert on stream {q} (0.1 of ceiling)", latency["postgres"][i], "ms",
                       "in-memory bus", latency["memory"][i], higher_is_better=False)
PY
