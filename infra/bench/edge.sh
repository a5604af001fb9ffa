#!/usr/bin/env bash
# Edge agent benchmark:
#   1. RSS of the agent with READINGS (default 1,000,000) readings buffered on disk while its broker
#      is unreachable (input through the Unix socket, as a hub's sensors would send it);
#   2. replay rate once the broker is back: readings/s from restart to the last end-to-end ack
#      (EpiSante broker → tansu), with the agent's default batching (200 readings per message).
#   ./infra/bench/edge.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
READINGS=${READINGS:-1000000}
source infra/bench/lib.sh
cargo build --release -q -p episante-cli -p episante-edge
start_platform bench_edge
dead_port=$(free_port)
curl -sf "http://127.0.0.1:$registry_port/v1/devices" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"device_id":"benchhub"}' >"$work/creds.json"
mkdir -p "$work/hub"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]; c = json.load(open(f"{w}/creds.json"))
for f, k in [("ca.pem", "ca_pem"), ("cert.pem", "certificate_pem"), ("key.pem", "private_key_pem")]:
    open(f"{w}/hub/{f}", "w").write(c[k])
open(f"{w}/hub/secret", "w").write(c["secret"])
PY

start_agent() {
  EPISANTE_EDGE__DEVICE_ID=benchhub EPISANTE_EDGE__SECRET="$(cat "$work/hub/secret")" \
  EPISANTE_EDGE__BROKER_HOST=localhost EPISANTE_EDGE__BROKER_PORT="$1" \
  EPISANTE_EDGE__CA_PATH="$work/hub/ca.pem" EPISANTE_EDGE__CERT_PATH="$work/hub/cert.pem" \
  EPISANTE_EDGE__KEY_PATH="$work/hub/key.pem" EPISANTE_EDGE__BUFFER_DIR="$work/hub/buffer" \
  RUST_LOG=error target/release/episante-edge run --input "unix:$work/hub/sensors.sock" >>"$work/agent.log" 2>&1 &
  agent_pid=$!
  pids+=($agent_pid)
  for _ in $(seq 1 100); do [ -S "$work/hub/sensors.sock" ] && break; sleep 0.05; done
}
status() { python3 -c "import json,sys; print(json.load(open('$work/hub/buffer/status.json'))[sys.argv[1]])" "$1" 2>/dev/null || echo 0; }

# 1. Broker unreachable: everything stays in the buffer.
start_agent "$dead_port"
t0=$(date +%s.%N)
python3 - "$work/hub/sensors.sock" "$READINGS" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
n = int(sys.argv[2]); chunk = []
for i in range(1, n + 1):
    chunk.append('{"kind":"heart_rate","value":%d,"ts_ms":%d}\n' % (40 + i % 100, 1764000000000 + i))
    if len(chunk) == 10000:
        s.sendall("".join(chunk).encode()); chunk = []
if chunk: s.sendall("".join(chunk).encode())
s.close()
PY
until [ "$(status next_seq)" -gt "$READINGS" ]; do sleep 0.2; done
t1=$(date +%s.%N)
sleep 1.5
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$agent_pid/status")
hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$agent_pid/status")
disk=$(du -sm "$work/hub/buffer" | cut -f1)
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
rm -f "$work/hub/sensors.sock"

# 2. Broker back: replay.
start_agent "$mqtt_port"
r0=$(date +%s.%N)
until [ "$(status acked_through)" -ge "$READINGS" ]; do sleep 0.1; done
r1=$(date +%s.%N)

machine
python3 - <<PY
n = $READINGS
print(f"buffered {n} readings in {$t1 - $t0:.1f} s ({n / ($t1 - $t0):.0f} readings/s through the socket), {$disk} MiB on disk")
print(f"agent RSS with {n} readings buffered: {$rss} MiB (peak {$hwm} MiB; target < 15 MiB)")
print(f"replay after the outage: {n} readings acked end to end in {$r1 - $r0:.1f} s = {n / ($r1 - $r0):.0f} readings/s (target >= 50,000)")
import sys
sys.path.insert(0, "infra/bench")
import results
results.figure("edge", f"replay of {n} buffered readings", n / ($r1 - $r0), "readings/s")
results.figure("edge", f"agent RSS with {n} readings buffered", $rss, "MiB", higher_is_better=False)
PY
