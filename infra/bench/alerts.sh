#!/usr/bin/env bash
# Clinical-safety benchmark: the simulator's labelled scenarios through the whole spine
# (simulator → MQTT broker → Kafka (tansu) → alerts), scored against the ground truth:
#   - recall per anomaly kind (mixed scenario, every kind on its own devices);
#   - false alerts per patient-day on normal traces (the mixed run's normal devices and times, plus
#     a separate all-normal fleet);
#   - reading→alert latency p50/p99 (platform receipt of the reading → alert committed), measured
#     while a background fleet loads the platform at half its maximum ingest rate (measured first,
#     with everything running, by `episante-sim bench`).
#   ./infra/bench/alerts.sh    # SPEED=60 DURATION=120 DEVICES=64 NORMAL_DEVICES=200 by default
#   EXTRA_UP_ENV=EPISANTE_ALERTS__MAX_BATCH=250 ./infra/bench/alerts.sh   # settings for `up`
set -euo pipefail
cd "$(dirname "$0")/../.."
SPEED=${SPEED:-60}
DURATION=${DURATION:-120}
DEVICES=${DEVICES:-64}
NORMAL_DEVICES=${NORMAL_DEVICES:-200}
RATE=${RATE:-6}   # samples per second per device: one every SPEED/RATE simulated seconds
cargo build --release -q -p episante-cli -p episante-sim
source infra/bench/lib.sh
machine
UP_ENV=(EPISANTE_ALERTS__DROPOUT_WATCHDOG_SECS=0 ${EXTRA_UP_ENV:-})
start_platform "bench_cs"
sim=target/release/episante-sim
records="http://127.0.0.1:$records_port"
registry="http://127.0.0.1:$registry_port"
alerts="http://127.0.0.1:$alerts_port"

echo "provisioning $DEVICES + $NORMAL_DEVICES patients and hubs…" >&2
python3 infra/bench/clinical_safety.py provision "$records" "$registry" "$token" cs "$DEVICES" >"$work/map.json"
python3 infra/bench/clinical_safety.py provision "$records" "$registry" "$token" nrm "$NORMAL_DEVICES" >"$work/map_normal.json"

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
half=$((max / 2))
echo "ceilings: broker $broker_max msgs/s, alerts consumer $consumer_max msgs/s (6 readings each); background load at half the lower: $half msgs/s" >&2

# 2. Background load at that rate (unassigned hubs: no alerts, full consumer work).
bg_devices=50
bg_rate=$(python3 -c "print(max(0.1, $half / $bg_devices))")
"$sim" run --port "$mqtt_port" --registry "$registry" --token "$token" --devices "$bg_devices" \
  --prefix bg --rate "$bg_rate" --duration $((DURATION + 60)) --scenario normal --quiet &
bg_pid=$!
pids+=("$bg_pid")
sleep 10

# 3. The labelled fleets.
"$sim" run --port "$mqtt_port" --registry "$registry" --token "$token" --devices "$DEVICES" --prefix cs \
  --rate "$RATE" --speed "$SPEED" --duration "$DURATION" --scenario mixed --seed 7 \
  --ground-truth "$work/truth.jsonl" --report json >"$work/mixed.json" 2>/dev/null &
mixed_pid=$!
"$sim" run --port "$mqtt_port" --registry "$registry" --token "$token" --devices "$NORMAL_DEVICES" --prefix nrm \
  --rate "$RATE" --speed "$SPEED" --duration "$DURATION" --scenario normal --seed 8 \
  --ground-truth "$work/truth_normal.jsonl" --report json >"$work/normal.json" 2>/dev/null
wait "$mixed_pid"
echo "consumer lag at the end of the labelled runs: $(lag) events" >&2
kill "$bg_pid" 2>/dev/null || true
for _ in $(seq 1 300); do [ "$(lag)" -eq 0 ] && break; sleep 1; done
sleep 5

sim_seconds=$(python3 -c "print($DURATION * $SPEED)")
echo "== mixed scenario ($DEVICES devices, $sim_seconds simulated seconds each) =="
python3 infra/bench/clinical_safety.py score "$alerts" "$token" "$work/truth.jsonl" "$work/map.json" "$sim_seconds" "$DEVICES"
echo "== normal traces ($NORMAL_DEVICES devices) =="
python3 infra/bench/clinical_safety.py score "$alerts" "$token" "$work/truth_normal.jsonl" "$work/map_normal.json" "$sim_seconds" "$NORMAL_DEVICES"
python3 - "$work/ceiling.json" "$work/mixed.json" <<'PY'
import json, sys
c, m = (json.load(open(p)) for p in sys.argv[1:3])
print(f"broker ceiling {c['messages_per_sec']:.0f} msgs/s (e2e p99 {c.get('e2e_p99_ms')} ms); "
      f"mixed fleet sent {m['messages_sent']} msgs, errors {m['errors']}")
PY
