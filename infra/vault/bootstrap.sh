#!/usr/bin/env bash
# Prepares Vault/OpenBao for EpiSante and hands each service its credentials. Idempotent: safe to run
# on every start (docker-compose's `vault-bootstrap` one-shot does), it never replaces an existing
# key, secret or still-valid token.
#
#   - KV v2 at secret/, transit at transit/
#   - transit key transit/keys/records-pii (AES-256-GCM, rotated every 90 days; old versions still
#     decrypt, records rewraps)
#   - generated secrets, only when absent:
#       secret/episante/records/blind-index-key   {key}       HMAC key of the records blind index
#       secret/episante/records/audit-key         {key}       HMAC key of the records audit chain
#       secret/episante/alerts/webhook-secret     {secret}    alert webhook signatures
#       secret/episante/<service>/postgres        {password}  superuser of the service's Postgres
#       secret/episante/<service>/database-role   {password}  the service's own role (all instances)
#       secret/episante/auth/bootstrap-admin      {email,password} the first admin
#       secret/episante/grafana/admin             {password}
#   - one least-privilege policy per service (policies/<service>.hcl) and one periodic, orphan
#     token per service
#   - files for the containers, one directory per consumer (mounted only into it):
#       $SECRETS_DIR/<service>/vault-token, database-url, postgres-password, database-password
#       $SECRETS_DIR/auth/admin-password, $SECRETS_DIR/grafana/admin-password
#       $SECRETS_DIR/gateway/tls.crt, tls.key (self-signed unless already there)
#
# Environment:
#   VAULT_ADDR, VAULT_TOKEN   Vault API and a token allowed to mount, write policies, create tokens
#   SECRETS_DIR               where the files go (default /run/episante-secrets)
#   BAO                       the CLI (default: `bao`, else `vault`, on PATH)
#   SERVICES                  default "auth records bookings alerts broker"
#   DB_HOST_SUFFIX            database host = <service><suffix> (default "-db", compose's names)
#   DB_ADMIN_USER             the admin account in database-url; `%s` stands for the service
#                             (default "postgres": compose gives each service its own server;
#                             infra/cluster shares one server with "%s_admin" roles)
#   TOKEN_PERIOD              service token renewal period (default 768h)
#   SERVICE_UID               when run as root, chown each service's files to this uid (default 10001)
#   ADMIN_EMAIL               first admin (default admin@episante.local)
#   GATEWAY_HOSTNAMES         names (or IPv4 addresses) in the self-signed gateway certificate
#                             (default "localhost")
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POLICY_DIR="${POLICY_DIR:-$here/policies}"
SECRETS_DIR="${SECRETS_DIR:-/run/episante-secrets}"
SERVICES="${SERVICES:-auth records bookings alerts broker}"
DB_HOST_SUFFIX="${DB_HOST_SUFFIX:--db}"
DB_ADMIN_USER="${DB_ADMIN_USER:-postgres}"
TOKEN_PERIOD="${TOKEN_PERIOD:-768h}"
SERVICE_UID="${SERVICE_UID:-10001}"
ADMIN_EMAIL="${ADMIN_EMAIL:-admin@episante.local}"
GATEWAY_HOSTNAMES="${GATEWAY_HOSTNAMES:-localhost}"

if [ -z "${BAO:-}" ]; then
  BAO="$(command -v bao || command -v vault || true)"
fi
[ -n "$BAO" ] || { echo "bootstrap: neither bao nor vault on PATH (set BAO)" >&2; exit 1; }
: "${VAULT_ADDR:?VAULT_ADDR must be set}"
: "${VAULT_TOKEN:?VAULT_TOKEN must be set}"
# The OpenBao CLI reads BAO_*, Vault's reads VAULT_*.
export BAO_ADDR="$VAULT_ADDR" BAO_TOKEN="$VAULT_TOKEN" VAULT_ADDR VAULT_TOKEN

log() { printf '[vault-bootstrap] %s\n' "$*" >&2; }
v() { "$BAO" "$@"; }
umask 077

# --- engines ---------------------------------------------------------------------------------
mounts="$(v secrets list | awk 'NR>2 {print $1}')"
if ! grep -qx 'secret/' <<<"$mounts"; then
  log "enabling KV v2 at secret/"
  v secrets enable -path=secret -version=2 kv >/dev/null
else
  v kv enable-versioning secret/ >/dev/null
fi
if ! grep -qx 'transit/' <<<"$mounts"; then
  log "enabling transit at transit/"
  v secrets enable -path=transit transit >/dev/null
fi

# --- keys and generated secrets --------------------------------------------------------------
if ! v read transit/keys/records-pii >/dev/null 2>&1; then
  log "creating transit key records-pii"
  v write -f transit/keys/records-pii type=aes256-gcm96 >/dev/null
fi
v write transit/keys/records-pii/config auto_rotate_period=2160h deletion_allowed=false >/dev/null

random_b64() { v write -field=random_bytes sys/tools/random/32 format=base64; }
random_hex() { v write -field=random_bytes sys/tools/random/24 format=hex; }

kv_exists() { v kv get -mount=secret "$1" >/dev/null 2>&1; }
kv_field() { v kv get -mount=secret -field="$2" "$1"; }
# kv_seed PATH FIELD VALUE-COMMAND [MORE FIELD=VALUE...]: writes only when PATH does not exist.
kv_seed() {
  local path="$1" field="$2" generator="$3"
  shift 3
  if ! kv_exists "$path"; then
    log "generating secret/$path"
    v kv put -mount=secret -cas=0 "$path" "$field=$($generator)" "$@" >/dev/null
  fi
}

kv_seed episante/records/blind-index-key key random_b64
kv_seed episante/records/audit-key key random_b64
kv_seed episante/alerts/webhook-secret secret random_b64
kv_seed episante/auth/bootstrap-admin password random_b64 "email=$ADMIN_EMAIL"
kv_seed episante/grafana/admin password random_b64
for service in $SERVICES; do
  kv_seed "episante/$service/postgres" password random_hex
  # The service's own database role: shared by all its instances (one that starts sets it).
  kv_seed "episante/$service/database-role" password random_hex
done

# --- policies --------------------------------------------------------------------------------
for service in $SERVICES; do
  policy="$POLICY_DIR/$service.hcl"
  [ -f "$policy" ] || { echo "bootstrap: no policy $policy" >&2; exit 1; }
  v policy write "episante-$service" "$policy" >/dev/null
done

# --- files -----------------------------------------------------------------------------------
# put_file DIR NAME CONTENT MODE [OWNER]
put_file() {
  local dir="$1" name="$2" content="$3" mode="$4" owner="${5:-}"
  mkdir -p "$dir"
  local tmp
  tmp="$(mktemp "$dir/.$name.XXXXXX")"
  printf '%s' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  if [ -n "$owner" ] && [ "$(id -u)" = 0 ]; then chown "$owner" "$tmp"; fi
  mv -f "$tmp" "$dir/$name"
}

token_valid_for() { # token service: the token exists and carries the service's policy
  BAO_TOKEN="$1" VAULT_TOKEN="$1" v token lookup -field=policies 2>/dev/null \
    | tr -d '[]' | tr ' ' '\n' | grep -qx "episante-$2"
}

for service in $SERVICES; do
  dir="$SECRETS_DIR/$service"
  mkdir -p "$dir"
  token_file="$dir/vault-token"
  if [ -s "$token_file" ] && token_valid_for "$(cat "$token_file")" "$service"; then
    log "$service: existing token still valid"
  else
    log "$service: issuing token"
    token="$(v token create -orphan -policy="episante-$service" -period="$TOKEN_PERIOD" \
      -display-name="$service" -field=token)"
    put_file "$dir" vault-token "$token" 0400 "$SERVICE_UID"
  fi
  password="$(kv_field "episante/$service/postgres" password)"
  # The service's Postgres image reads the password file as its own user: world-readable inside a
  # volume mounted only into that service and its database.
  put_file "$dir" postgres-password "$password" 0444
  put_file "$dir" database-url \
    "postgres://${DB_ADMIN_USER//%s/$service}:$password@$service$DB_HOST_SUFFIX:5432/postgres" 0400 "$SERVICE_UID"
  put_file "$dir" database-password \
    "$(kv_field "episante/$service/database-role" password)" 0400 "$SERVICE_UID"
done

if grep -qw auth <<<"$SERVICES"; then
  put_file "$SECRETS_DIR/auth" admin-email "$(kv_field episante/auth/bootstrap-admin email)" 0400 "$SERVICE_UID"
  put_file "$SECRETS_DIR/auth" admin-password "$(kv_field episante/auth/bootstrap-admin password)" 0400 "$SERVICE_UID"
fi
put_file "$SECRETS_DIR/grafana" admin-password "$(kv_field episante/grafana/admin password)" 0444

gateway="$SECRETS_DIR/gateway"
if [ ! -s "$gateway/tls.crt" ] || [ ! -s "$gateway/tls.key" ]; then
  log "generating a self-signed gateway certificate for: $GATEWAY_HOSTNAMES (replace with a real one)"
  # An end-entity certificate (CA:FALSE): clients that pin it as their trust anchor (rustls/webpki
  # ones among them: the CLI, the simulator) refuse a CA certificate used as a server's.
  mkdir -p "$gateway"
  san="$(for h in $GATEWAY_HOSTNAMES; do
    if [[ "$h" =~ ^[0-9]+(\.[0-9]+){3}$ ]]; then printf 'IP:%s,' "$h"; else printf 'DNS:%s,' "$h"; fi
  done)IP:127.0.0.1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=${GATEWAY_HOSTNAMES%% *}" -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$gateway/tls.key" -out "$gateway/tls.crt" 2>/dev/null
  chmod 0444 "$gateway/tls.crt"
  chmod 0400 "$gateway/tls.key"
fi
log "done: secrets in $SECRETS_DIR"
