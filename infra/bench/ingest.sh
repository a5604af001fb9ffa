#!/usr/bin/env bash
# Ingest benchmark, in one run, same publisher load (episante-sim bench: N devices, QoS 1):
#   (a) Mosquitto on 127.0.0.1:1883 as a plain broker (PUBACK only; no subscriber, so its queue
#       limits — max_queued_messages 1000 / max_inflight 20 per subscriber in Debian's defaults,
#       which silently drop QoS 1 under load — are not in play),
#   (b) the EpiSante broker (embedded rumqttd, mutual TLS, validation) bridging to tansu (sqlite)
#       with end-to-end acks, same message size,
#   (c) the EpiSante broker with readings batched per message (the edge agent's normal mode).
# Prints messages/s, readings/s, PUBACK and end-to-end latency, broker CPU seconds per 100k
# messages and RSS, and the (b)/(a) ratio.
#   ./infra/bench/ingest.sh                 # DEVICES=100 MESSAGES=1000 BATCH=50 BATCH_MESSAGES=300
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICES=${DEVICES:-100}
MESSAGES=${MESSAGES:-1000}
BATCH=${BATCH:-50}
BATCH_MESSAGES=${BATCH_MESSAGES:-300}
source infra/bench/lib.sh
cargo build --release -q -p episante-cli -p episante-sim

mosquitto_pid=$(pgrep -x mosquitto | head -n1 || true)
if [ -z "$mosquitto_pid" ]; then ./infra/dev/ensure-services.sh; mosquitto_pid=$(pgrep -x mosquitto | head -n1); fi
start_platform bench_ingest

# Mosquitto over mutual TLS on a free port, with the EpiSante broker's CA and server certificate,
# so the TLS cost is in both: a second, private Mosquitto process.
mosq_tls_port=$(free_port)
chmod 755 "$work"
cat >"$work/mosquitto-tls.conf" <<CONF
user root
persistence false
log_dest file $work/mosquitto-tls.log
listener $mosq_tls_port 127.0.0.1
cafile $work/data/broker/ca.pem
certfile $work/data/broker/server.pem
keyfile $work/data/broker/server.key.pem
require_certificate true
allow_anonymous true
CONF
mosquitto -c "$work/mosquitto-tls.conf" &
pids+=($!)
mosquitto_tls_pid=$!
sleep 0.5

# run LABEL PID ARGS... → JSON line with cpu and rss of PID added
run() {
  local label=$1 pid=$2; shift 2
  local c0 c1 t0 t1
  c0=$(cpu_secs "$pid"); t0=$(cpu_secs "$tansu_pid")
  local out
  out=$(target/release/episante-sim bench --label "$label" --devices "$DEVICES" "$@")
  c1=$(cpu_secs "$pid"); t1=$(cpu_secs "$tansu_pid")
  python3 -c "import json,sys; r=json.loads(sys.argv[1]); r['broker_cpu_s']=float(sys.argv[2])-float(sys.argv[3]); r['tansu_cpu_s']=float(sys.argv[4])-float(sys.argv[5]); r['broker_rss_mib']=float(sys.argv[6]); print(json.dumps(r))" \
    "$out" "$c1" "$c0" "$t1" "$t0" "$(rss_mib "$pid")"
}

results="$work/results.jsonl"
run mosquitto "$mosquitto_pid" --host 127.0.0.1 --port 1883 --messages "$MESSAGES" >>"$results"
run mosquitto-mtls "$mosquitto_tls_pid" --host localhost --port "$mosq_tls_port" --registry "http://127.0.0.1:$registry_port" --token "$token" --puback-only --messages "$MESSAGES" >>"$results"
run episante "$up_pid" --host localhost --port "$mqtt_port" --registry "http://127.0.0.1:$registry_port" --token "$token" --messages "$MESSAGES" >>"$results"
run episante-batched "$up_pid" --host localhost --port "$mqtt_port" --registry "http://127.0.0.1:$registry_port" --token "$token" --messages "$BATCH_MESSAGES" --readings "$BATCH" >>"$results"

machine
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'target':17} {'msgs':>7} {'B/msg':>6} {'puback msgs/s':>13} {'e2e msgs/s':>10} {'readings/s':>10} {'puback p50/p99 ms':>18} {'e2e p50/p99 ms':>16} {'cpu s/100k':>10} {'tansu cpu s':>11} {'rss MiB':>8}")
for r in rows:
    per100k = r['broker_cpu_s'] / r['messages'] * 100000
    e2e = r['e2e_p50_ms'] is not None
    lat = f"{r['e2e_p50_ms']:.0f}/{r['e2e_p99_ms']:.0f}" if e2e else "-"
    e2e_rate = f"{r['messages_per_sec']:.0f}" if e2e else "-"
    print(f"{r['label']:17} {r['messages']:>7} {r['message_bytes']:>6} {r['puback_messages_per_sec']:>13.0f} {e2e_rate:>10} {r['readings_per_sec']:>10.0f} "
          f"{r['puback_p50_ms']:>8.1f}/{r['puback_p99_ms']:<9.1f} {lat:>16} {per100k:>10.2f} {r['tansu_cpu_s']:>11.2f} {r['broker_rss_mib']:>8.1f}")
m = {r['label']: r for r in rows}
e, a, t = m['episante'], m['mosquitto'], m['mosquitto-mtls']
print(f"ratio PUBACK msgs/s, episante / mosquitto plain: {e['puback_messages_per_sec'] / a['puback_messages_per_sec']:.2f}")
print(f"ratio PUBACK msgs/s, episante / mosquitto mTLS:  {e['puback_messages_per_sec'] / t['puback_messages_per_sec']:.2f}")
print(f"ratio episante end-to-end (Kafka-confirmed) msgs/s / mosquitto plain PUBACK msgs/s: {e['messages_per_sec'] / a['puback_messages_per_sec']:.2f}")
print(f"episante batched: {m['episante-batched']['readings_per_sec']:.0f} readings/s end to end")
sys.path.insert(0, "infra/bench")
import results
results.figure("ingest", "EpiSante PUBACK msgs/s (1 reading/msg)", e["puback_messages_per_sec"], "msgs/s",
               "Mosquitto mTLS PUBACK", t["puback_messages_per_sec"])
results.figure("ingest", "EpiSante end to end msgs/s (Kafka-confirmed)", e["messages_per_sec"], "msgs/s",
               "Mosquitto plain PUBACK", a["puback_messages_per_sec"])
results.figure("ingest", "EpiSante end to end p99", e["e2e_p99_ms"], "ms", "Mosquitto mTLS PUBACK p99",
               t["puback_p99_ms"], higher_is_better=False)
b = m["episante-batched"]
results.figure("ingest", "EpiSante batched readings/s end to end", b["readings_per_sec"], "readings/s",
               "Mosquitto mTLS PUBACK msgs/s", t["puback_messages_per_sec"])
PY
