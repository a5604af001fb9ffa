#!/usr/bin/env bash
# Fault injection on the cluster of up.sh, scored against the simulator's ground truth
# (infra/cluster/chaos.py has the scenario and the scoring).
#
#   sudo ./infra/cluster/chaos.sh            # 1,000 devices, 45 s per fault (~8 min)
#   sudo ./infra/cluster/chaos.sh --quick    # 60 devices, 20 s per fault (CI: infra/tests/cluster.rs)
#   sudo ./infra/cluster/chaos.sh --devices 300 --phase 30 --partition 30
#
# Faults, one at a time and then together: kill -9 of a broker (devices reconnect through HAProxy
# and resend from their last end-to-end ack), kill -9 of an alerts instance (its partitions move to
# the other), a 30 s partition of an alerts instance from Kafka, 200 ms latency + 2 % loss on the
# ward's link, kill -9 of gateway upstreams (records-1, bookings-1) while clients call the API,
# kill -9 and restart of Kafka (tansu). Prints one JSON report; exits 1 when a reading was lost
# or counted twice, or an anomaly episode got no alert or two.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/cluster/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root: sudo $0"
[ -d "$CLUSTER_DIR/run" ] || die "no cluster in $CLUSTER_DIR: ./infra/cluster/up.sh first"
args=("$@")
if [ "${1:-}" = --quick ]; then
  args=(--devices 60 --phase 20 --partition 15 --rate 2 --speed 20 --connect-rate 30 "${@:2}")
fi
export CLUSTER_DIR
exec python3 "$here/chaos.py" "${args[@]}"
