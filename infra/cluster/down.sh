#!/usr/bin/env bash
# Stops the cluster of up.sh: every process (SIGTERM, then SIGKILL after 10 s), the namespaces,
# the bridge, and its directory (keep it with --keep-data, e.g. to read the logs).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/cluster/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root: sudo $0"

for pidfile in "$CLUSTER_DIR"/run/*.pid; do
  [ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null
done
# Anything still running inside the namespaces (children included).
for h in "${HOSTS[@]}"; do
  ns="$(ns_of "$h")"
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM 2>/dev/null
done
for _ in $(seq 50); do
  left=0
  for h in "${HOSTS[@]}"; do
    [ -n "$(ip netns pids "$(ns_of "$h")" 2>/dev/null)" ] && left=1
  done
  [ $left = 0 ] && break
  sleep 0.2
done
for h in "${HOSTS[@]}"; do
  ns="$(ns_of "$h")"
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  ip link del "ec-$h" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "/etc/netns/$ns"
done
ip link del "$BRIDGE" 2>/dev/null
if [ "${1:-}" = --keep-data ]; then
  rm -rf "$CLUSTER_DIR/run"
  log "stopped; data and logs kept in $CLUSTER_DIR"
else
  rm -rf "$CLUSTER_DIR"
  log "stopped and removed"
fi
