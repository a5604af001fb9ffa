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
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export PATH="$HOME/.cargo/bin:$PATH"
ulimit -n "$(ulimit -Hn)"   # 10,000 connections need ~10,000 descriptors in each process
cargo build --release -q -p episante-cli -p episante-sim
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_secs() { awk '{printf "%.1f", ($14+$15)/100}' "/proc/$1/stat"; }
work=$(mktemp -d)
stamp=$(date +%s)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "bench_fauth_$stamp" "bench_fbroker_$stamp"; do
    psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
tansu_port=$(free_port)
mkdir -p "$work/tansu"
(cd "$work/tansu" && exec tansu broker --listener-url "tcp://127.0.0.1:$tansu_port" \
  --advertised-listener-url "tcp://127.0.0.1:$tansu_port" --storage-engine sqlite://tansu.db >tansu.log 2>&1) &
pids+=($!)
auth_port=$(free_port); registry_port=$(free_port); mqtt_port=$(free_port)
EPISANTE_AUTH__DATABASE__NAME="bench_fauth_$stamp" EPISANTE_AUTH__DATABASE__ROLE="bench_fauth_$stamp" \
EPISANTE_BROKER__DATABASE__NAME="bench_fbroker_$stamp" EPISANTE_BROKER__DATABASE__ROLE="bench_fbroker_$stamp" \
EPISANTE_AUTH__BIND="127.0.0.1:$auth_port" EPISANTE_BROKER__HTTP_BIND="127.0.0.1:$registry_port" \
EPISANTE_BROKER__MQTT_BIND="127.0.0.1:$mqtt_port" EPISANTE_DATA_DIR="$work/data" \
EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD=benchmark-admin-password EPISANTE_DATABASE__MAX_CONNECTIONS=20 \
EPISANTE_KAFKA__BROKERS="127.0.0.1:$tansu_port" RUST_LOG=warn \
  target/release/episante up >"$work/up.log" 2>&1 &
pids+=($!)
up_pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$registry_port/ready" >/dev/null && break; sleep 0.1; done
token=$(curl -sf "http://127.0.0.1:$auth_port/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"admin@episante.local","password":"benchmark-admin-password"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
c0=$(cpu_secs "$up_pid")
/usr/bin/time -f "%e %U %S %M" -o "$work/sim.time" target/release/episante-sim run --host localhost --port "$mqtt_port" \
  --registry "http://127.0.0.1:$registry_port" --token "$token" --devices "$DEVICES" --rate "$RATE" \
  --duration "$DURATION" --connect-rate "$CONNECT_RATE" --scenario "$SCENARIO" --output json >"$work/sim.json" 2>"$work/sim.err" &
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
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | xargs); $(date -u +%F)"
echo "devices $DEVICES, rate $RATE samples/s each (6 readings per sample), duration ${DURATION}s after a ramp at $CONNECT_RATE connections/s"
echo "peak concurrent MQTT connections on the broker: $peak"
echo "broker (episante up): CPU $(python3 -c "print(round($c1 - $c0, 1))") s, peak RSS ${broker_hwm} MiB"
echo "simulator: wall ${wall}s, CPU $(python3 -c "print(round($user + $sys, 1))") s, peak RSS $((maxrss / 1024)) MiB"
echo "simulator report: $(cat "$work/sim.json")"
