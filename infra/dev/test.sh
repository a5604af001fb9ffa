#!/usr/bin/env bash
# The test command: installs what is missing (tansu, OpenBao, Chromium, Debian tools, web/'s npm
# packages), makes sure the local PostgreSQL is up, runs the portal's Vitest tests, then every
# test of the workspace against real servers (the portal's browser tests among them).
#   ./infra/dev/test.sh              # everything
#   ./infra/dev/test.sh -p episante-auth   # extra arguments go to cargo nextest run
set -euo pipefail
cd "$(dirname "$0")/../.."

./infra/dev/install-tools.sh
./infra/dev/ensure-services.sh

# The portal's unit and component tests (its browser tests run with the cli e2e tests below).
npm run --prefix web --silent test

export PATH="$HOME/.cargo/bin:$PATH"
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --all-features --no-fail-fast "$@"
else
  exec cargo test --workspace --all-features --no-fail-fast "$@"
fi
