#!/usr/bin/env bash
# EpiSante as a multi-host cluster on one machine: every service a real process on its own
# (virtual) host — a network namespace with its own address on a private bridge — configured from
# infra/docker-compose.yml (infra/cluster/compose_env.py) and started through the images'
# entrypoint (infra/docker/entrypoint.sh):
#
#   db          PostgreSQL: one server, one database + role per service, and per service an admin
#               role (CREATEROLE CREATEDB, not a superuser) holding compose's per-service password
#   vault       OpenBao (Raft storage), initialised, unsealed and bootstrapped by infra/vault/*.sh
#   kafka       tansu (Kafka protocol, sqlite storage; see docs/DEPLOYMENT.md "Scaling out")
#   broker-1/2  MQTT brokers + device registry, one device CA shared through Vault
#   mqtt        HAProxy: TCP load balancer for devices (8883), health-checked on each broker's /ready
#   auth-1/2, records-1/2, bookings-1/2, alerts-1/2 (one consumer group)
#   gateway     nginx with infra/nginx's templates (upstreams: both instances of each service)
#   ward        where the simulated fleet runs (infra/cluster/chaos.sh)
#
#   sudo ./infra/cluster/up.sh            # release build, then the cluster; prints where things are
#   EPISANTE_BIN_DIR=target/debug ./infra/cluster/up.sh   # use already built binaries
#   ./infra/cluster/down.sh               # stop everything, remove the namespaces and the data
#
# Needs root (namespaces), Debian's haproxy, nginx and postgresql, OpenBao and tansu
# (infra/dev/install-tools.sh installs what is missing). State lives in $EPISANTE_CLUSTER_DIR
# (default /tmp/episante-cluster).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/cluster/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root (network namespaces): sudo $0"
command -v haproxy >/dev/null && command -v nginx >/dev/null && [ -x "$(tansu_bin)" ] \
  && [ -x "$(bao_bin)" ] && [ -n "$(pg_bin)" ] || "$REPO/infra/dev/install-tools.sh"
[ -d "$CLUSTER_DIR/run" ] && die "a cluster is already in $CLUSTER_DIR (./infra/cluster/down.sh first)"

# Ports: the services' own (compose's EPISANTE_*__BIND / *_UPSTREAM; a test checks they agree).
declare -A PORT=([auth]=8081 [records]=8082 [bookings]=8083 [broker]=8085 [alerts]=8086)

# --- binaries ----------------------------------------------------------------------------------
if [ -z "${EPISANTE_BIN_DIR:-}" ]; then
  log "building the release binaries (the same as the images')"
  (cd "$REPO" && cargo build --release --locked -q -p episante-auth -p episante-records \
    -p episante-bookings -p episante-alerts -p episante-broker -p episante-sim)
  EPISANTE_BIN_DIR="$REPO/target/release"
fi
BIN_DIR="$(cd "$EPISANTE_BIN_DIR" && pwd)"
for s in "${SERVICES[@]}"; do [ -x "$BIN_DIR/episante-$s" ] || die "no $BIN_DIR/episante-$s"; done

mkdir -p "$CLUSTER_DIR"/{run,logs,env,data,secrets}
echo "$BIN_DIR" >"$CLUSTER_DIR/bin-dir"

# --- network -----------------------------------------------------------------------------------
log "network: bridge $BRIDGE ($NET.0/24), ${#HOSTS[@]} hosts"
ip link add "$BRIDGE" type bridge 2>/dev/null || true
ip addr add "$NET.1/24" dev "$BRIDGE" 2>/dev/null || true
ip link set "$BRIDGE" up
hosts_file="$CLUSTER_DIR/hosts"
{
  echo "127.0.0.1 localhost"
  echo "$(ip_of db) db auth-db records-db bookings-db alerts-db broker-db"
  echo "$(ip_of vault) vault"
  echo "$(ip_of kafka) kafka"
  echo "$(ip_of mqtt) mqtt mqtt.episante.local"
  echo "$(ip_of gateway) gateway"
  for s in "${SERVICES[@]}"; do
    for i in 1 2; do echo "$(ip_of "$s-$i") $s $s-$i"; done
  done
  echo "$(ip_of ward) ward"
} >"$hosts_file"
for h in "${HOSTS[@]}"; do
  ns="$(ns_of "$h")"
  ip netns add "$ns"
  ip link add "ec-$h" type veth peer name eth0 netns "$ns"
  ip link set "ec-$h" master "$BRIDGE" up
  in_host "$h" ip addr add "$(ip_of "$h")/24" dev eth0
  in_host "$h" ip link set eth0 up
  in_host "$h" ip link set lo up
  in_host "$h" ip route add default via "$NET.1"
  mkdir -p "/etc/netns/$ns"
  cp "$hosts_file" "/etc/netns/$ns/hosts"
done

# --- PostgreSQL (db) ---------------------------------------------------------------------------
PG="$(pg_bin)"
pgdata="$CLUSTER_DIR/pg/data"
mkdir -p "$CLUSTER_DIR/pg/sock"
chown -R postgres:postgres "$CLUSTER_DIR/pg"
log "PostgreSQL on db ($(ip_of db):5432)"
runuser -u postgres -- "$PG/initdb" -D "$pgdata" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
echo "host all all $NET.0/24 scram-sha-256" >>"$pgdata/pg_hba.conf"
start_in postgres db /dev/null runuser -u postgres -- "$PG/postgres" -D "$pgdata" \
  -c listen_addresses="$(ip_of db)" -c unix_socket_directories="$CLUSTER_DIR/pg/sock" \
  -c max_connections=500 -c shared_buffers=256MB -c fsync=on
psql_db() { in_host db "$PG/psql" -h "$CLUSTER_DIR/pg/sock" -U postgres -qAt -v ON_ERROR_STOP=1 "$@"; }
for _ in $(seq 100); do psql_db -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
psql_db -c 'SELECT 1' >/dev/null || die "PostgreSQL did not start (log: $CLUSTER_DIR/logs/postgres.log)"

# --- OpenBao (vault) ---------------------------------------------------------------------------
log "OpenBao on vault ($(ip_of vault):8200)"
BAO="$(bao_bin)"
mkdir -p "$CLUSTER_DIR/vault/data" "$CLUSTER_DIR/vault/init"
# compose's server configuration, its storage path moved to the cluster's directory.
sed "s#/openbao/data#$CLUSTER_DIR/vault/data#" "$REPO/infra/vault/openbao.hcl" >"$CLUSTER_DIR/vault/openbao.hcl"
echo "disable_mlock = true" >>"$CLUSTER_DIR/vault/openbao.hcl"
start_in vault vault /dev/null "$BAO" server -config="$CLUSTER_DIR/vault/openbao.hcl"
wait_tcp "$(ip_of vault):8200" 30
# one_shot SERVICE SCRIPT [NAME=VALUE...]: compose's one-shot SERVICE, run from here: its
# environment with the cluster's paths, then the overrides (the operator's machine reaches hosts
# by address; files belong to root here).
one_shot() {
  local name="$1" script="$2"
  shift 2
  python3 "$COMPOSE_ENV" env "$name" --map /vault-init="$CLUSTER_DIR/vault/init" \
    --map /secrets="$CLUSTER_DIR/secrets" >"$CLUSTER_DIR/env/$name"
  (
    set -a
    . "$CLUSTER_DIR/env/$name"
    set +a
    export VAULT_ADDR="http://$(ip_of vault):8200" BAO SERVICE_UID=0 "$@"
    "$script"
  ) >>"$CLUSTER_DIR/logs/$name.log" 2>&1 || die "$name failed (log: $CLUSTER_DIR/logs/$name.log)"
}
one_shot vault-bootstrap "$REPO/infra/vault/init.sh" DB_ADMIN_USER='%s_admin' \
  GATEWAY_HOSTNAMES="localhost gateway $(ip_of gateway)"

# One server for every service: each service's admin account is its own role (CREATEROLE,
# CREATEDB, no superuser) with the password compose gives its own server's superuser.
for s in "${SERVICES[@]}"; do
  password="$(cat "$CLUSTER_DIR/secrets/$s/postgres-password")"
  psql_db -d postgres -c "DO \$\$BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${s}_admin') THEN
        CREATE ROLE ${s}_admin LOGIN CREATEROLE CREATEDB;
      END IF;
    END\$\$;" -c "ALTER ROLE ${s}_admin PASSWORD '$password'"
done

# --- Kafka protocol (kafka) --------------------------------------------------------------------
log "tansu on kafka ($(ip_of kafka):9092)"
mkdir -p "$CLUSTER_DIR/kafka"
start_kafka() {
  start_in kafka kafka /dev/null sh -c "cd '$CLUSTER_DIR/kafka' && exec '$(tansu_bin)' broker \
    --listener-url tcp://0.0.0.0:9092 --advertised-listener-url tcp://kafka:9092 \
    --storage-engine sqlite://tansu.db"
}
start_kafka
wait_tcp "$(ip_of kafka):9092" 30
# chaos.sh restarts what it kills with these functions.
declare -f start_kafka >"$CLUSTER_DIR/run/functions.sh"

# --- EpiSante services -------------------------------------------------------------------------
# service_env SERVICE INSTANCE: compose's environment for SERVICE, secrets from its directory,
# data in the instance's own.
service_env() {
  local s="$1" instance="$2"
  mkdir -p "$CLUSTER_DIR/data/$instance"
  python3 "$COMPOSE_ENV" env "$s" --map /run/secrets/episante="$CLUSTER_DIR/secrets/$s" \
    --map /var/lib/episante="$CLUSTER_DIR/data/$instance" >"$CLUSTER_DIR/env/$instance"
  {
    echo "EPISANTE_BIN_DIR=$BIN_DIR"
    echo "EPISANTE_SERVICE_BIN=episante-$s"
    # The MQTT load balancer's name, in every broker's server certificate (compose: ${EPISANTE_MQTT_HOSTNAME}).
  } >>"$CLUSTER_DIR/env/$instance"
}
export EPISANTE_MQTT_HOSTNAME=mqtt
start_service() { # SERVICE INSTANCE-NUMBER
  local s="$1" n="$2"
  local instance="$s-$n"
  [ -f "$CLUSTER_DIR/env/$instance" ] || service_env "$s" "$instance"
  start_in "$instance" "$instance" "$CLUSTER_DIR/env/$instance" "$REPO/infra/docker/entrypoint.sh"
  wait_http "http://$(ip_of "$instance"):${PORT[$s]}/ready" 120 "$instance"
  log "$instance ready on $(ip_of "$instance"):${PORT[$s]}"
}
declare -p PORT >"$CLUSTER_DIR/run/ports.sh"
{ declare -f service_env start_service; } >>"$CLUSTER_DIR/run/functions.sh"

start_service auth 1
start_service auth 2
# compose's service-clients one-shot (records' client credentials), after auth.
one_shot service-clients "$REPO/infra/vault/service-clients.sh" AUTH_URL="http://$(ip_of auth-1):8081"
for s in broker records bookings alerts; do
  start_service "$s" 1
  start_service "$s" 2
done

# --- MQTT load balancer (mqtt) -----------------------------------------------------------------
log "HAProxy on mqtt ($(ip_of mqtt):8883)"
mkdir -p "$CLUSTER_DIR/haproxy"
cat >"$CLUSTER_DIR/haproxy/haproxy.cfg" <<EOF
# Devices' MQTT over mutual TLS, passed through (TLS ends at the brokers, which check the client
# certificates). A broker is taken out when its /ready fails twice, 1 s apart; its sessions are
# cut at once so that devices reconnect to the other.
global
    # Two descriptors per connection (device + broker side); the process may hold 20,000.
    maxconn 9000
defaults
    mode tcp
    timeout connect 3s
    timeout client 10m
    timeout server 10m
    option redispatch
    retries 2
frontend mqtt
    bind :8883
    default_backend brokers
backend brokers
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
    server broker-1 $(ip_of broker-1):8883 check port 8085
    server broker-2 $(ip_of broker-2):8883 check port 8085
EOF
haproxy -c -q -f "$CLUSTER_DIR/haproxy/haproxy.cfg" || die "invalid HAProxy configuration"
start_in haproxy mqtt /dev/null haproxy -db -f "$CLUSTER_DIR/haproxy/haproxy.cfg"
wait_tcp "$(ip_of mqtt):8883" 20

# --- gateway (nginx, compose's templates and settings) -----------------------------------------
log "nginx gateway on gateway ($(ip_of gateway):443)"
gw="$CLUSTER_DIR/gateway"
mkdir -p "$gw/conf" "$gw/run"
python3 "$COMPOSE_ENV" env gateway --map /run/secrets/episante="$CLUSTER_DIR/secrets/gateway" \
  --map /etc/nginx="$gw/conf" --map /var/cache/nginx="$gw/run" >"$CLUSTER_DIR/env/gateway"
(
  set -a
  . "$CLUSTER_DIR/env/gateway"
  set +a
  for t in nginx.conf gateway.conf; do
    python3 "$COMPOSE_ENV" render "$REPO/infra/nginx/$t.template" >"$gw/conf/$t"
  done
)
in_host gateway nginx -t -q -c "$gw/conf/nginx.conf" || die "invalid nginx configuration"
start_in gateway gateway /dev/null nginx -c "$gw/conf/nginx.conf" -g 'daemon off;'
cacert="$CLUSTER_DIR/secrets/gateway/tls.crt"
gateway_up() { curl -fsS -o /dev/null --cacert "$cacert" "https://$(ip_of gateway)/api/openapi/auth.json" 2>/dev/null; }
for _ in $(seq 100); do gateway_up && break; sleep 0.3; done
gateway_up || die "the gateway does not answer (log: $CLUSTER_DIR/logs/gateway.log)"

cat <<EOF
EpiSante cluster up ($CLUSTER_DIR)
  gateway   https://$(ip_of gateway)/  (CA: $cacert)
  devices   mqtts://$(ip_of mqtt):8883 (HAProxy → broker-1 $(ip_of broker-1), broker-2 $(ip_of broker-2))
  admin     $(cat "$CLUSTER_DIR/secrets/auth/admin-email") / password in $CLUSTER_DIR/secrets/auth/admin-password
  logs      $CLUSTER_DIR/logs/   run a host's command: ip netns exec epc-<host> …
  next      ./infra/cluster/chaos.sh    then ./infra/cluster/down.sh
EOF
