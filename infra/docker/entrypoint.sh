#!/bin/sh
# Entry point of every EpiSante service image.
#
# Secrets arrive as files (written by the vault-bootstrap one-shot into a volume mounted only into
# this service): for every variable NAME_FILE=/path, NAME is set to the file's content and NAME_FILE
# is removed, e.g. VAULT_TOKEN_FILE → VAULT_TOKEN, DATABASE_URL_FILE → DATABASE_URL,
# EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD_FILE → EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD.
# Then runs the service binary ($EPISANTE_SERVICE_BIN) with the arguments, or, when the first
# argument is not an option, that command instead (`docker run IMAGE sh`).
set -eu

for var in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1/p'); do
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
  exec "/usr/local/bin/${EPISANTE_SERVICE_BIN:?EPISANTE_SERVICE_BIN is not set}" "$@"
fi
exec "$@"
