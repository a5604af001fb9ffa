#!/usr/bin/env bash
# docker-compose's `vault-bootstrap` one-shot: initialises OpenBao on first start (one unseal key,
# kept with the root token in the `vault-init` volume, 0600), unseals it on every start, then runs
# bootstrap.sh with the root token to deliver every service's credentials.
#
# Keeping the unseal key beside the server is a single-machine convenience: in production use an
# auto-unseal seal, revoke the root token after bootstrap and run bootstrap.sh with an admin token.
#
# Environment: VAULT_ADDR (default http://vault:8200), INIT_DIR (default /vault-init), plus
# bootstrap.sh's.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export VAULT_ADDR="${VAULT_ADDR:-http://vault:8200}"
export BAO_ADDR="$VAULT_ADDR"
INIT_DIR="${INIT_DIR:-/vault-init}"
BAO="${BAO:-$(command -v bao || command -v vault)}"
export BAO
log() { printf '[vault-init] %s\n' "$*" >&2; }
umask 077
mkdir -p "$INIT_DIR"

# `status` exits 0 when unsealed, 2 when sealed or uninitialised, 1 when unreachable.
reachable=no
for _ in $(seq 60); do
  rc=0
  "$BAO" status >/dev/null 2>&1 || rc=$?
  if [ "$rc" != 1 ]; then reachable=yes; break; fi
  sleep 1
done
[ "$reachable" = yes ] || { log "$VAULT_ADDR unreachable"; exit 1; }

status() { "$BAO" status -format=json 2>/dev/null || true; }
if ! status | grep -q '"initialized": *true'; then
  log "initialising (1 key share)"
  "$BAO" operator init -key-shares=1 -key-threshold=1 -format=json >"$INIT_DIR/init.json.tmp"
  mv "$INIT_DIR/init.json.tmp" "$INIT_DIR/init.json"
fi
[ -s "$INIT_DIR/init.json" ] || { log "Vault is initialised but $INIT_DIR/init.json is missing"; exit 1; }
json_field() { tr -d '\n ' <"$INIT_DIR/init.json" | grep -o "\"$1\":\[\?\"[^\"]*\"" | head -1 | sed 's/.*"\([^"]*\)"$/\1/'; }
unseal_key="$(json_field unseal_keys_b64)"
root_token="$(json_field root_token)"

if status | grep -q '"sealed": *true'; then
  log "unsealing"
  "$BAO" operator unseal "$unseal_key" >/dev/null
fi

# After unsealing, Raft elects its leader: wait until the API serves requests.
export VAULT_TOKEN="$root_token" BAO_TOKEN="$root_token"
for _ in $(seq 60); do
  "$BAO" secrets list >/dev/null 2>&1 && break
  sleep 1
done
exec "$here/bootstrap.sh"
