#!/usr/bin/env bash
# docker-compose's `service-clients` one-shot, after auth is healthy: gives each service that calls
# other services (client credentials, POST /v1/auth/token) its auth client secret. The secret lives
# in Vault (secret/episante/<client>/service-client, field client_secret) and in the file
# $SECRETS_DIR/<client>/client-secret that the service reads (EPISANTE_<CLIENT>__CLIENT_SECRET_FILE).
# Idempotent: a client already in Vault is only written out again.
# Scopes (least privilege, docs/ARCHITECTURE.md "Security notes"): each client gets exactly the
# scopes listed in client_scopes below, set again on every run (PUT …/scopes), so an upgrade or a
# change of this list takes effect at the next `docker compose up`.
#
# Environment: AUTH_URL (default http://auth:8081), CLIENTS (default "records"), SECRETS_DIR
# (default /run/episante-secrets; reads auth/admin-email and auth/admin-password), VAULT_ADDR and
# VAULT_TOKEN (or INIT_DIR with init.sh's init.json), BAO, SERVICE_UID (default 10001).
set -euo pipefail
AUTH_URL="${AUTH_URL:-http://auth:8081}"
CLIENTS="${CLIENTS:-records}"
SECRETS_DIR="${SECRETS_DIR:-/run/episante-secrets}"
SERVICE_UID="${SERVICE_UID:-10001}"
BAO="${BAO:-$(command -v bao || command -v vault)}"
log() { printf '[service-clients] %s\n' "$*" >&2; }
umask 077

if [ -z "${VAULT_TOKEN:-}" ] && [ -n "${INIT_DIR:-}" ]; then
  VAULT_TOKEN="$(tr -d '\n ' <"$INIT_DIR/init.json" | grep -o '"root_token":"[^"]*"' | sed 's/.*:"\(.*\)"/\1/')"
fi
: "${VAULT_ADDR:?VAULT_ADDR must be set}"
: "${VAULT_TOKEN:?VAULT_TOKEN (or INIT_DIR) must be set}"
export BAO_ADDR="$VAULT_ADDR" BAO_TOKEN="$VAULT_TOKEN" VAULT_ADDR VAULT_TOKEN

json_string() { # FIELD: the string value of "FIELD" in the JSON on stdin
  tr -d '\n' | grep -o "\"$1\" *: *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"$/\1/'
}

# The scopes of each client, as a JSON array: only what the service calls.
client_scopes() {
  case "$1" in
    records) printf '["devices:read","vitals:read"]' ;; # registry lookups, vitals for FHIR
    *) printf '[]' ;;
  esac
}

admin_token=""
login() {
  [ -n "$admin_token" ] && return
  local email password body
  email="$(cat "$SECRETS_DIR/auth/admin-email")"
  password="$(cat "$SECRETS_DIR/auth/admin-password")"
  body="$(printf '{"email":"%s","password":"%s"}' "$email" "$password")"
  admin_token="$(curl -fsS "$AUTH_URL/v1/auth/login" -H 'content-type: application/json' \
    --data-binary @- <<<"$body" | json_string access_token)"
  [ -n "$admin_token" ] || { log "admin login failed"; exit 1; }
}

for client in $CLIENTS; do
  path="episante/$client/service-client"
  scopes="$(client_scopes "$client")"
  login
  if secret="$("$BAO" kv get -mount=secret -field=client_secret "$path" 2>/dev/null)"; then
    log "$client: client already registered; scopes $scopes"
    answer="$(curl -sS -w '\n%{http_code}' -X PUT "$AUTH_URL/v1/auth/service-clients/$client/scopes" \
      -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
      -d "{\"scopes\":$scopes}")"
    status="${answer##*$'\n'}"
    if [ "$status" != 200 ]; then
      log "$client: setting scopes answered $status: ${answer%$'\n'*}"
      exit 1
    fi
  else
    log "$client: registering service client with scopes $scopes"
    answer="$(curl -sS -w '\n%{http_code}' "$AUTH_URL/v1/auth/service-clients" \
      -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
      -d "{\"client_id\":\"$client\",\"scopes\":$scopes}")"
    status="${answer##*$'\n'}"
    if [ "$status" != 201 ]; then
      log "$client: registration answered $status: ${answer%$'\n'*}"
      log "(a client registered outside this script: deactivate it, or store its secret at secret/$path)"
      exit 1
    fi
    secret="$(json_string client_secret <<<"${answer%$'\n'*}")"
    "$BAO" kv put -mount=secret -cas=0 "$path" client_id="$client" client_secret="$secret" >/dev/null
  fi
  mkdir -p "$SECRETS_DIR/$client"
  tmp="$(mktemp "$SECRETS_DIR/$client/.client-secret.XXXXXX")"
  printf '%s' "$secret" >"$tmp"
  chmod 0400 "$tmp"
  if [ "$(id -u)" = 0 ]; then chown "$SERVICE_UID" "$tmp"; fi
  mv -f "$tmp" "$SECRETS_DIR/$client/client-secret"
done
log "done"
