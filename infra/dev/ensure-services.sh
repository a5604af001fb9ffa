#!/usr/bin/env bash
# Makes sure the machine-wide services tests and `episante up` rely on are running:
# PostgreSQL on 127.0.0.1:5432 (trust auth for local connections) and Mosquitto on 1883
# (a third-party MQTT peer used by interoperability tests and benchmarks).
# Tests start their own tansu and OpenBao instances; nothing here binds a test port.
set -euo pipefail
log() { printf '[ensure-services] %s\n' "$*" >&2; }

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "PostgreSQL is up"
elif command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
else
  log "PostgreSQL is not running on 127.0.0.1:5432 and is not installed here."
  log "Install it (apt-get install postgresql) or set EPISANTE_TEST_DATABASE_URL."
  exit 1
fi

if command -v mosquitto >/dev/null; then
  if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    log "Mosquitto is up"
  else
    log "starting Mosquitto"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  fi
fi
