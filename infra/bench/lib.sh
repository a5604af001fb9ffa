# Shared by the benchmark scripts (source it): a private platform for one benchmark run.
#   start_platform PREFIX    tansu (sqlite) + release `episante up` bridging to it (BUS=memory: the
#                            in-memory bus), with fresh
#                            databases; sets work, tansu_pid, up_pid, auth_port, registry_port,
#                            records_port, alerts_port, bookings_port, gateway_port, mqtt_port, token. Everything is stopped and dropped on exit.
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export PATH="$HOME/.cargo/bin:$PATH"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_secs() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
machine() { echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | xargs); $(date -u +%F)"; }

work=$(mktemp -d)
pids=()
bench_dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # KEEP_LOGS=DIR keeps the platform's log for a post-mortem.
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$work"/*.log "$KEEP_LOGS"/ 2>/dev/null || true; fi
  for db in "${bench_dbs[@]}"; do
    psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Extra NAME=VALUE settings for `episante up` (e.g. Vault), set by the calling script.
[[ -v UP_ENV ]] || UP_ENV=()

start_platform() {
  local prefix=$1 stamp
  stamp=$(date +%s)
  tansu_port=$(free_port)
  mkdir -p "$work/tansu"
  (cd "$work/tansu" && exec tansu broker --listener-url "tcp://127.0.0.1:$tansu_port" \
    --advertised-listener-url "tcp://127.0.0.1:$tansu_port" --storage-engine sqlite://tansu.db >tansu.log 2>&1) &
  tansu_pid=$!
  pids+=("$tansu_pid")
  # BUS=kafka (default): tansu; BUS=postgres: `up`'s own durable bus (its default without Kafka);
  # BUS=memory: the in-memory bus (not durable; the peer the durable bus is measured against).
  kafka_env=("EPISANTE_KAFKA__BROKERS=127.0.0.1:$tansu_port")
  case "${BUS:-kafka}" in
    memory) kafka_env=(EPISANTE_BUS__IN_MEMORY=true) ;;
    postgres) kafka_env=() ;;
  esac
  bench_dbs+=("${prefix}_bus_$stamp")
  kafka_env+=("EPISANTE_BUS__DATABASE__NAME=${prefix}_bus_$stamp" "EPISANTE_BUS__DATABASE__ROLE=${prefix}_bus_$stamp")
  auth_port=$(free_port); registry_port=$(free_port); mqtt_port=$(free_port)
  records_port=$(free_port); alerts_port=$(free_port); bookings_port=$(free_port); gateway_port=$(free_port)
  local env=()
  for svc in auth broker records alerts bookings; do
    local db="${prefix}_${svc}_$stamp" up
    up=$(echo "$svc" | tr a-z A-Z)
    bench_dbs+=("$db")
    env+=("EPISANTE_${up}__DATABASE__NAME=$db" "EPISANTE_${up}__DATABASE__ROLE=$db")
  done
  env "${env[@]}" \
  EPISANTE_AUTH__BIND="127.0.0.1:$auth_port" EPISANTE_BROKER__HTTP_BIND="127.0.0.1:$registry_port" \
  EPISANTE_RECORDS__BIND="127.0.0.1:$records_port" EPISANTE_ALERTS__BIND="127.0.0.1:$alerts_port" \
  EPISANTE_BOOKINGS__BIND="127.0.0.1:$bookings_port" EPISANTE_GATEWAY__BIND="127.0.0.1:$gateway_port" \
  EPISANTE_BROKER__MQTT_BIND="127.0.0.1:$mqtt_port" EPISANTE_DATA_DIR="$work/data" \
  EPISANTE_BROKER__DEVICE_MAX_MSGS_PER_SEC="${DEVICE_MAX_MSGS_PER_SEC:-100000}" \
  EPISANTE_BROKER__DEVICE_MAX_BYTES_PER_SEC="${DEVICE_MAX_BYTES_PER_SEC:-1000000000}" \
  EPISANTE_CONFIG_DIR="$work/config" \
  EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD=benchmark-admin-password EPISANTE_DATABASE__MAX_CONNECTIONS=20 \
  "${kafka_env[@]}" RUST_LOG="${RUST_LOG:-warn}" \
  "${UP_ENV[@]}" \
    target/release/episante up >"$work/up.log" 2>&1 &
  up_pid=$!
  pids+=("$up_pid")
  # tansu can take tens of seconds to open its sqlite store on a busy machine.
  for _ in $(seq 1 1200); do curl -sf "http://127.0.0.1:$alerts_port/ready" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$alerts_port/ready" >/dev/null || { cat "$work/up.log"; exit 1; }
  login
}

# Sets token: a fresh access token of the bootstrap admin.
login() {
  token=$(curl -sf "http://127.0.0.1:$auth_port/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"admin@episante.local","password":"benchmark-admin-password"}' \
    | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
}
