#!/usr/bin/env bash
# Clinical-safety benchmark: the simulator's labelled scenarios through the whole spine
# (simulator → MQTT broker → Kafka (tansu) → alerts), scored against the ground truth:
#   - recall per anomaly kind (mixed scenario, every kind on its own devices);
#   - false alerts per patient-day on normal traces (the mixed run's normal devices and times, plus
#     a separate all-normal fleet);
#   - reading→alert latency p50/p99, from the platform's receipt of the reading to the alert's
#     event arriving on a live SSE stream (where a clinician sees it), split at the start of the
#     consumer's transaction; measured while a background fleet loads the platform at each of
#     LOADS (fractions of its maximum ingest rate, measured first with everything running by
#     `episante-sim bench`): half and a tenth by default, each phase with its own labelled fleets.
#   ./infra/bench/alerts.sh    # SPEED=60 DURATION=120 DEVICES=64 NORMAL_DEVICES=200 LOADS="0.5 0.1"
#   EXTRA_UP_ENV=EPISANTE_ALERTS__MAX_BATCH=250 ./infra/bench/alerts.sh   # settings for `up`
set -euo pipefail
cd "$(dirname "$0")/../.."
SPEED=${SPEED:-60}
DURATION=${DURATION:-120}
DEVICES=${DEVICES:-64}
NORMAL_DEVICES=${NORMAL_DEVICES:-200}
RATE=${RATE:-6}   # samples per second per device: one every SPEED/RATE simulated seconds
LOADS=${LOADS:-0.5 0.1}
SETTLE=${SETTLE:-10}   # the background fleet starts this long before the labelled ones
cargo build --release -q -p episante-cli -p episante-sim
source infra/bench/lib.sh
machine
UP_ENV=(EPISANTE_ALERTS__DROPOUT_WATCHDOG_SECS=0 ${EXTRA_UP_ENV:-})
start_platform "bench_cs"
sim=target/release/episante-sim
records="http://127.0.0.1:$records_port"
registry="http://127.0.0.1:$registry_port"
alerts="http://127.0.0.1:$alerts_port"

# 1. The platform's ceiling with everything running: the broker's (MQTT → Kafka, acked end to
#    end) and the alerts consumer's (Kafka → rollups and rules in PostgreSQL), whichever is lower.
applied() { curl -sf "$alerts/metrics" | awk '$1 ~ /^episante_alerts_readings_total/ {s+=$2} END {printf "%d", s+0}'; }
lag() { curl -sf "$alerts/metrics" | awk '$1 ~ /^episante_alerts_consumer_lag/ {s+=$2} END {printf "%d", s+0}'; }
before=$(applied)
t0=$(date +%s.%N)
"$sim" bench --port "$mqtt_port" --registry "$registry" --token "$token" --devices 100 \
  --messages 300 --readings 6 --label ceiling >"$work/ceiling.json" 2>/dev/null
expected=$((before + 100 * 300 * 6))
for _ in $(seq 1 600); do [ "$(applied)" -ge "$expected" ] && break; sleep 0.2; done
t1=$(date +%s.%N)
broker_max=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["messages_per_sec"]))' "$work/ceiling.json")
consumer_max=$(python3 -c "print(int(($(applied) - $before) / 6 / ($t1 - $t0)))")
max=$(( broker_max < consumer_max ? broker_max : consumer_max ))
echo "ceilings: broker $broker_max msgs/s, alerts consumer $consumer_max msgs/s (6 readings each)" >&2

# Sums and counts of the histograms along the path (broker: Kafka delivery; alerts: time on the
# bus, batch gathering, batch application, reading → alert committed), for the profile.
path_histograms() {
  { curl -sf "$registry/metrics"; curl -sf "$alerts/metrics"; } \
    | awk '{sub(/\{.*\}/, "", $1)} $1 ~ /^episante_(broker_kafka_delivery|alerts_bus_delay|alerts_batch_gather|alerts_batch|alerts_reading_to_alert)_seconds_(sum|count)$/ {print $1, $2}'
}

phase=0
for load in $LOADS; do
  phase=$((phase + 1))
  rate=$(python3 -c "print(int($max * $load))")
  echo "== phase $phase: background load $load of the ceiling = $rate msgs/s" >&2
  login   # a fresh access token: the live stream ends when its token expires
  echo "provisioning $DEVICES + $NORMAL_DEVICES patients and hubs…" >&2
  python3 infra/bench/clinical_safety.py provision "$records" "$registry" "$token" "cs${phase}x" "$DEVICES" >"$work/map$phase.json"
  python3 infra/bench/clinical_safety.py provision "$records" "$registry" "$token" "nrm${phase}x" "$NORMAL_DEVICES" >"$work/map_normal$phase.json"

  # 2. Background load at that rate (unassigned hubs: no alerts, full consumer work).
  bg_devices=50
  bg_rate=$(python3 -c "print(max(0.1, $rate / $bg_devices))")
  "$sim" run --port "$mqtt_port" --registry "$registry" --token "$token" --devices "$bg_devices" \
    --prefix "bg${phase}x" --rate "$bg_rate" --duration $((DURATION + SETTLE + 40)) --scenario normal --quiet &
  bg_pid=$!
  pids+=("$bg_pid")
  python3 infra/bench/clinical_safety.py watch "$alerts" "$token" "$work/watched$phase.jsonl" &
  watch_pid=$!
  pids+=("$watch_pid")
  sleep "$SETTLE"
  path_histograms >"$work/hist0_$phase.txt"

  # 3. The labelled fleets.
  "$sim" run --port "$mqtt_port" --registry "$registry" --token "$token" --devices "$DEVICES" --prefix "cs${phase}x" \
    --rate "$RATE" --speed "$SPEED" --duration "$DURATION" --scenario mixed --seed 7 \
    --ground-truth "$work/truth$phase.jsonl" --report json >"$work/mixed$phase.json" 2>/dev/null &
  mixed_pid=$!
  "$sim" run --port "$mqtt_port" --registry "$registry" --token "$token" --devices "$NORMAL_DEVICES" --prefix "nrm${phase}x" \
    --rate "$RATE" --speed "$SPEED" --duration "$DURATION" --scenario normal --seed 8 \
    --ground-truth "$work/truth_normal$phase.jsonl" --report json >"$work/normal$phase.json" 2>/dev/null
  wait "$mixed_pid"
  path_histograms >"$work/hist1_$phase.txt"
  echo "consumer lag at the end of the labelled runs: $(lag) events" >&2
  python3 - "$work/hist0_$phase.txt" "$work/hist1_$phase.txt" <<'PY'
import sys
def load(p):
    return {k: float(v) for k, v in (l.split() for l in open(p) if l.strip())}
a, b = load(sys.argv[1]), load(sys.argv[2])
print("where the time went while the labelled fleets ran (mean per observation):")
for name, what in [("episante_broker_kafka_delivery_seconds", "broker: produce → Kafka acknowledged"),
                   ("episante_alerts_bus_delay_seconds", "alerts: record timestamp → consumer has it"),
                   ("episante_alerts_batch_gather_seconds", "alerts: gathering a batch"),
                   ("episante_alerts_batch_seconds", "alerts: applying a batch (one transaction)"),
                   ("episante_alerts_reading_to_alert_seconds", "alerts: reading received → alert committed")]:
    n = b.get(name + "_count", 0) - a.get(name + "_count", 0)
    s = b.get(name + "_sum", 0) - a.get(name + "_sum", 0)
    print(f"  {what:48} {1000 * s / n if n else float('nan'):8.1f} ms  ({n:.0f} observations)")
PY
  kill "$bg_pid" 2>/dev/null || true
  wait "$bg_pid" 2>/dev/null || true
  for _ in $(seq 1 300); do [ "$(lag)" -eq 0 ] && break; sleep 1; done
  sleep 5
  kill "$watch_pid" 2>/dev/null || true

  sim_seconds=$(python3 -c "print($DURATION * $SPEED)")
  echo "== load $load: mixed scenario ($DEVICES devices, $sim_seconds simulated seconds each) =="
  python3 infra/bench/clinical_safety.py score "$alerts" "$token" "$work/truth$phase.jsonl" "$work/map$phase.json" \
    "$sim_seconds" "$DEVICES" "$work/watched$phase.jsonl" | tee "$work/score$phase.json"
  echo "== load $load: normal traces ($NORMAL_DEVICES devices) =="
  python3 infra/bench/clinical_safety.py score "$alerts" "$token" "$work/truth_normal$phase.jsonl" "$work/map_normal$phase.json" \
    "$sim_seconds" "$NORMAL_DEVICES" | tee "$work/score_normal$phase.json"
  python3 - "$work/score$phase.json" "$work/score_normal$phase.json" "$work/mixed$phase.json" "$load" "$rate" <<'PY'
import json, sys
sys.path.insert(0, "infra/bench")
import results
m, n, sim = (json.load(open(p)) for p in sys.argv[1:4])
load, rate = float(sys.argv[4]), int(sys.argv[5])
at = f"at {load:g} of the ceiling"
print(f"{at} ({rate} msgs/s): reading → alert on the SSE stream p50 {m['sse_latency_ms_p50']} ms, p99 {m['sse_latency_ms_p99']} ms "
      f"(received → transaction start p99 {m['stage_received_to_tx_ms_p99']} ms, then → stream p99 "
      f"{m['stage_tx_to_sse_ms_p99']} ms); recall {m['recall_total']:.0%}; false alerts "
      f"{m['false_alerts'] + n['false_alerts']}; fleet errors {sim['errors']}")
for q in ("p99", "p50"):
    if m[f"sse_latency_ms_{q}"] is not None:
        results.figure("alerts", f"{at}: reading → alert on stream {q}", m[f"sse_latency_ms_{q}"], "ms",
                       higher_is_better=False)
results.check("alerts", f"{at}: recall 100 %", m["recall_total"] == 1.0, json.dumps(m["recall"]))
results.check("alerts", f"{at}: no duplicate alerts", m["duplicate_alerts"] == 0, f"{m['duplicate_alerts']} duplicates")
results.check("alerts", f"{at}: no false alerts", m["false_alerts"] + n["false_alerts"] == 0,
              f"{m['false_alerts'] + n['false_alerts']} on {m['patient_days'] + n['patient_days']:.1f} patient-days")
results.check("alerts", f"{at}: every alert reached the live stream", m["sse_missing"] == 0 and m["sse_samples"] > 0,
              f"{m['sse_missing']} missing of {m['sse_samples'] + m['sse_missing']}")
PY
done
python3 - "$work/ceiling.json" "$consumer_max" <<'PY'
import json, sys
sys.path.insert(0, "infra/bench")
import results
c = json.load(open(sys.argv[1]))
print(f"broker ceiling {c['messages_per_sec']:.0f} msgs/s (e2e p99 {c.get('e2e_p99_ms')} ms); "
      f"alerts consumer ceiling {sys.argv[2]} msgs/s")
results.figure("alerts", "consumer ceiling (6 readings per message)", float(sys.argv[2]) * 6, "readings/s",
               "broker end to end", c["messages_per_sec"] * 6)
PY
