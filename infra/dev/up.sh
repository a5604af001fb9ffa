#!/usr/bin/env bash
# The run command: builds the web portal (web/dist, served by the gateway at its root) and runs
# the whole platform in one process with `episante up`. Extra arguments go to `episante up`
# (e.g. `--demo`, `--listen 0.0.0.0`). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -d web/node_modules/vite ]; then
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
npm run --prefix web --silent build:portal
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run --release -p episante-cli -- up "$@"
