#!/usr/bin/env bash
# Auth service benchmark: login throughput (Argon2id-bound by design) and token verification
# throughput, p50/p99, with wrk; nginx serving a static JSON file in the same run is the HTTP
# ceiling of this machine, and each result is also given as a ratio of it.
#   ./infra/bench/auth.sh            # DURATION=15s CONNECTIONS=64 by default
# Client and server share the machine's cores: compare ratios, not absolute numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-8}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { echo "wrk missing: run infra/dev/install-tools.sh" >&2; exit 1; }

cargo build --release -q -p episante-cli
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
work=$(mktemp -d)
db="bench_auth_$(date +%s)"
port=$(free_port)
nginx_port=$(free_port)
password="benchmark-admin-password"
up_pid=""
# `episante up` runs every service: give the others private databases and ports too.
others=()
for svc in records alerts bookings broker; do
  name="${db}_$svc"; upper=$(echo "$svc" | tr a-z A-Z)
  bind=BIND; [ "$svc" = broker ] && bind=HTTP_BIND
  others+=("EPISANTE_${upper}__DATABASE__NAME=$name" "EPISANTE_${upper}__DATABASE__ROLE=$name" "EPISANTE_${upper}__${bind}=127.0.0.1:0")
done
others+=("EPISANTE_BROKER__MQTT_BIND=127.0.0.1:0" "EPISANTE_GATEWAY__BIND=127.0.0.1:0")
cleanup() {
  [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for d in "$db" "${db}_records" "${db}_alerts" "${db}_bookings" "${db}_broker"; do
    psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" -c "DROP ROLE IF EXISTS $d" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

env "${others[@]}" EPISANTE_AUTH__DATABASE__NAME=$db EPISANTE_AUTH__DATABASE__ROLE=$db \
EPISANTE_AUTH__BIND=127.0.0.1:$port EPISANTE_DATA_DIR=$work \
EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD=$password \
EPISANTE_AUTH__LOGIN_ATTEMPTS_PER_IP_PER_MINUTE=1000000000 \
RUST_LOG=warn target/release/episante up >"$work/up.log" 2>&1 &
up_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/ready" >/dev/null && break; sleep 0.1; done
curl -sf "$base/ready" >/dev/null || { cat "$work/up.log"; exit 1; }

login_body="{\"email\":\"admin@episante.local\",\"password\":\"$password\"}"
admin=$(curl -sf "$base/v1/auth/login" -H 'content-type: application/json' -d "$login_body" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
secret=$(curl -sf "$base/v1/auth/service-clients" -H "authorization: Bearer $admin" -H 'content-type: application/json' -d '{"client_id":"bench"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["client_secret"])')
service=$(curl -sf "$base/v1/auth/token" -d "grant_type=client_credentials&client_id=bench&client_secret=$secret" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')

cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$login_body'
wrk.headers["Content-Type"] = "application/json"
LUA

chmod 755 "$work"; mkdir -p "$work/www" && chmod 755 "$work/www" && echo '{"status":"ok"}' >"$work/www/health.json"
cat >"$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$nginx_port; root $work/www; }
}
NGINX
nginx -c "$work/nginx.conf"
sleep 0.3

# Prints "req/s p50 p99 non2xx" for one wrk run.
run() {
  local out
  out=$(wrk --latency "$@")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p50 $p99 ${errors:-0}"
}

echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | xargs); $(date -u +%F)"
printf '%-44s %10s %9s %9s %7s %8s\n' scenario "req/s" p50 p99 non2xx "vs nginx"
nginx_result=$(run -t2 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$nginx_port/health.json")
nginx_rps=${nginx_result%% *}
report() {
  local name=$1 result=$2
  read -r rps p50 p99 errors <<<"$result"
  printf '%-44s %10s %9s %9s %7s %8s\n' "$name" "$rps" "$p50" "$p99" "$errors" \
    "$(python3 -c "print(f'{$rps/$nginx_rps:.3f}')")"
  [ "$name" = "${name#nginx}" ] && python3 infra/bench/results.py figure auth "${name%% (*}" "$rps" "req/s" "nginx static file" "$nginx_rps"
  return 0
}
report "nginx static file (ceiling)" "$nginx_result"
report "verify service token (GET /v1/auth/me)" "$(run -t2 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $service" "$base/v1/auth/me")"
report "verify user token + user row (GET /me)" "$(run -t2 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $admin" "$base/v1/auth/me")"
report "JWKS (GET /.well-known/jwks.json)" "$(run -t2 -c"$CONNECTIONS" -d"$DURATION" "$base/.well-known/jwks.json")"
report "login, Argon2id m=19MiB t=2 (POST /login)" "$(run -t2 -c"$LOGIN_CONNECTIONS" -d"$DURATION" -s "$work/login.lua" "$base/v1/auth/login")"
