#!/usr/bin/env bash
# Connect-storm benchmark: DEVICES (default 10,000) devices, registered beforehand, all
# (re)connecting at the same instant — as after a broker restart — each publishing one batch and
# waiting for its acknowledgement. In one run, with the same certificates:
#   (a) the EpiSante broker (`episante up`, mutual TLS, registry auth, end-to-end acks via tansu),
#   (b) a private Mosquitto with mutual TLS and the EpiSante device CA (PUBACK only).
# Prints time until all connected / all acknowledged, handshakes/s, retries, and the ratio.
#   ./infra/bench/connect_storm.sh          # DEVICES=10000; BUS=memory: no tansu; PERF=1: CPU profile
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICES=${DEVICES:-10000}
ulimit -n "$(ulimit -Hn)"
# One source address for the whole storm: lift the per-address pending limit (a production
# fleet comes from many addresses; behind a load balancer, see docs/ARCHITECTURE.md).
UP_ENV=(EPISANTE_BROKER__MAX_PENDING_HANDSHAKES="$DEVICES" EPISANTE_BROKER__MAX_PENDING_HANDSHAKES_PER_IP="$DEVICES")
source infra/bench/lib.sh
cargo build --release -q -p episante-cli -p episante-sim
start_platform bench_storm

mosq_tls_port=$(free_port)
chmod 755 "$work"
cat >"$work/mosquitto-tls.conf" <<CONF
user root
persistence false
log_dest file $work/mosquitto-tls.log
max_connections -1
listener $mosq_tls_port 127.0.0.1
cafile $work/data/broker/ca.pem
certfile $work/data/broker/server.pem
keyfile $work/data/broker/server.key.pem
require_certificate true
allow_anonymous true
CONF
mosquitto -c "$work/mosquitto-tls.conf" &
pids+=($!)
sleep 0.5

c0=$(cpu_secs "$up_pid")
# Timeline of the EpiSante storm, every second: sessions open, batches received, acks published.
( t0=$(date +%s); while sleep 1; do
    m=$(curl -s --max-time 1 "http://127.0.0.1:$registry_port/metrics" || true)
    v() { echo "$m" | awk -v k="$1" '$1 ~ "^"k"(\\{|$)" {print $2; exit}'; }
    echo "t=$(( $(date +%s) - t0 ))s sessions=$(v episante_broker_sessions) forwarded=$(v episante_broker_publishes_forwarded_total) received=$(v episante_broker_messages_in_total) acked=$(v episante_broker_acks_sent_total) cpu=$(cpu_secs "$up_pid")"
  done ) >"$work/timeline.txt" 2>/dev/null &
timeline_pid=$!
pids+=("$timeline_pid")
echo "tansu CPU before the storms: $(cpu_secs "$tansu_pid") s"
# PERF=1: sample where `episante up` spends its CPU during the storms (perf from linux-perf).
if [ -n "${PERF:-}" ]; then
  perf record -q -F 499 -o "$work/perf.data" -p "$up_pid" >/dev/null 2>&1 &
  perf_pid=$!
  pids+=("$perf_pid")
fi
target/release/episante-sim storm --host localhost --port "$mqtt_port" --peer-port "$mosq_tls_port" \
  --registry "http://127.0.0.1:$registry_port" --token "$token" --devices "$DEVICES" \
  --timeout-secs "${TIMEOUT_SECS:-120}" >"$work/storm.jsonl"
c1=$(cpu_secs "$up_pid")
kill "$timeline_pid" 2>/dev/null || true
if [ -n "${PERF:-}" ]; then
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  echo "where episante up spent its CPU (perf, self time):"
  perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio --percent-limit 0.7 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -50
fi
echo "timeline (episante storm, then the peer's):"; cat "$work/timeline.txt"
# Where the devices' batches went: received by the bridge, acknowledged, dead-lettered, sessions open.
curl -s "http://127.0.0.1:$registry_port/metrics" \
  | grep -E '^episante_broker_(messages_in|readings_in|acks_sent|dead_lettered|sessions|kafka_failures|kafka_delivery_seconds_(sum|count)|handshake|connections_refused|pending_handshakes)[_a-z]*(\{| )' || true
echo "tansu CPU during the run: $(cpu_secs "$tansu_pid") s"
machine
python3 - "$work/storm.jsonl" "$(python3 -c "print(round($c1 - $c0, 1))")" "${TIMEOUT_SECS:-120}" <<'PY'
import json, sys
rows = {r['label']: r for r in map(json.loads, open(sys.argv[1]))}
print(f"{'target':10} {'devices':>7} {'all connected s':>15} {'all acked s':>11} {'handshakes/s':>12} {'connect p50/p99 ms':>19} {'retries':>7}")
for r in rows.values():
    print(f"{r['label']:10} {r['devices']:>7} {r['all_connected_s']:>15.1f} {r['all_acked_s']:>11.1f} {r['handshakes_per_sec']:>12.0f} "
          f"{r['connect_p50_ms']:>9.0f}/{r['connect_p99_ms']:<9.0f} {r['retries']:>7}")
e, p = rows['episante'], rows['peer']
print(f"episante broker CPU during the run (registration and both storms): {sys.argv[2]} s")
print(f"ratio handshakes/s, episante / mosquitto mTLS: {e['handshakes_per_sec'] / p['handshakes_per_sec']:.2f}")
print(f"devices never acknowledged (timeout {sys.argv[3]} s): episante {e['unacked']}, mosquitto {p['unacked']}")
met = e['unacked'] == 0 and e['all_acked_s'] <= 15
print(f"goal: every device connected and acknowledged end to end within 15 s: {'met' if met else 'NOT met'} ({e['all_acked_s']:.1f} s)")
sys.path.insert(0, "infra/bench")
import results
results.figure("storm", f"{e['devices']} devices: handshakes/s", e["handshakes_per_sec"], "handshakes/s",
               "Mosquitto mTLS", p["handshakes_per_sec"])
results.figure("storm", f"{e['devices']} devices: all acked end to end", e["all_acked_s"], "s",
               "Mosquitto mTLS all PUBACKed", p["all_acked_s"], higher_is_better=False)
results.check("storm", "every device acknowledged end to end", e["unacked"] == 0,
              f"{e['unacked']} of {e['devices']} unacknowledged")
PY
