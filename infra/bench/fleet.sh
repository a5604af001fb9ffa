#!/usr/bin/env bash
# Fleet benchmark: DEVICES (default 10,000) simulated devices connected over mutual TLS to
# `episante up` (bridging to tansu) and publishing vitals; reports the broker's and the
# simulator's CPU seconds and peak RSS, and the simulator's report (messages, e2e latency).
#   ./infra/bench/fleet.sh          # DEVICES=10000 RATE=0.2 DURATION=60 CONNECT_RATE=100 SCENARIO=normal
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICES=${DEVICES:-10000}
RATE=${RATE:-0.2}
DURATION=${DURATION:-60}
CONNECT_RATE=${CONNECT_RATE:-100}
SCENARIO=${SCENARIO:-normal}
ulimit -n "$(ulimit -Hn)"   # 10,000 connections need ~10,000 descriptors in each process
source infra/bench/lib.sh
cargo build --release -q -p episante-cli -p episante-sim
start_platform bench_fleet
c0=$(cpu_secs "$up_pid")
/usr/bin/time -f "%e %U %S %M" -o "$work/sim.time" target/release/episante-sim run --host localhost --port "$mqtt_port" \
  --registry "http://127.0.0.1:$registry_port" --token "$token" --devices "$DEVICES" --rate "$RATE" \
  --duration "$DURATION" --connect-rate "$CONNECT_RATE" --scenario "$SCENARIO" --report json >"$work/sim.json" 2>"$work/sim.err" &
sim_pid=$!
peak=0
while kill -0 "$sim_pid" 2>/dev/null; do
  conns=$(ss -Htn state established "( sport = :$mqtt_port )" | wc -l)
  [ "$conns" -gt "$peak" ] && peak=$conns
  sleep 2
done
wait "$sim_pid" || { tail -5 "$work/sim.err"; exit 1; }
c1=$(cpu_secs "$up_pid")
broker_hwm=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$up_pid/status")
read -r wall user sys maxrss <"$work/sim.time"
machine
echo "devices $DEVICES, rate $RATE samples/s each (6 readings per sample), duration ${DURATION}s after a ramp at $CONNECT_RATE connections/s"
echo "peak concurrent MQTT connections on the broker: $peak"
echo "broker (episante up): CPU $(python3 -c "print(round($c1 - $c0, 1))") s, peak RSS ${broker_hwm} MiB"
echo "simulator: wall ${wall}s, CPU $(python3 -c "print(round($user + $sys, 1))") s, peak RSS $((maxrss / 1024)) MiB"
echo "simulator report: $(cat "$work/sim.json")"
python3 - "$work/sim.json" "$(python3 -c "print(round($c1 - $c0, 1))")" "$broker_hwm" "$peak" <<'PY'
import json, sys
sys.path.insert(0, "infra/bench")
import results
r, cpu, rss, peak = json.load(open(sys.argv[1])), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
n = r["devices"]
results.figure("fleet", f"{n} devices: broker CPU s per 100k messages", cpu / max(r["messages_sent"], 1) * 1e5,
               "CPU s", higher_is_better=False)
results.figure("fleet", f"{n} devices: broker peak RSS", rss, "MiB", higher_is_better=False)
if r["latency_p99_ms"] is not None:
    results.figure("fleet", f"{n} devices: e2e latency p99", r["latency_p99_ms"], "ms", higher_is_better=False)
results.check("fleet", "every device connected", peak >= n and r["devices_failed"] == 0,
              f"peak {peak} connections, {r['devices_failed']} devices failed")
results.check("fleet", "every message acknowledged end to end", r["messages_acked"] == r["messages_sent"],
              f"{r['messages_acked']} of {r['messages_sent']}")
PY
