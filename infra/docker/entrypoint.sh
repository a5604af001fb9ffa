#!/bin/sh
# Entry point of every EpiSante service image.
#
# Secrets arrive as files (written by the vault-bootstrap one-shot into a volume mounted only into
# this service): for NAME_FILE=/path with NAME = EPISANTE_*, VAULT_TOKEN or DATABASE_URL, NAME is set
# to the file's content and NAME_FILE is removed (other *_FILE variables, e.g. SSL_CERT_FILE, are
# left alone), e.g. VAULT_TOKEN_FILE → VAULT_TOKEN, DATABASE_URL_FILE → DATABASE_URL,
# EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD_FILE → EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD.
# Then runs the service binary ($EPISANTE_SERVICE_BIN, from $EPISANTE_BIN_DIR: /usr/local/bin in the
# image, the release build's target dir in infra/cluster) with the arguments, or, when the first
# argument is not an option, that command instead (`docker run IMAGE sh`).
set -eu

for var in $(env | sed -n 's/^\(EPISANTE_[A-Za-z0-9_]*\|VAULT_TOKEN\|DATABASE_URL\)_FILE=.*/\1/p'); do
  file="$(printenv "${var}_FILE")"
  if [ ! -r "$file" ]; then
    echo "episante-entrypoint: ${var}_FILE=$file is not readable" >&2
    exit 1
  fi
  value="$(cat "$file")"
  export "$var=$value"
  unset "${var}_FILE"
done

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  exec "${EPISANTE_BIN_DIR:-/usr/local/bin}/${EPISANTE_SERVICE_BIN:?EPISANTE_SERVICE_BIN is not set}" "$@"
fi
exec "$@"
