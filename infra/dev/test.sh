#!/usr/bin/env bash
# The test command: installs what is missing (tansu, OpenBao, Debian tools), makes sure the local
# PostgreSQL is up, then runs every test of the workspace against real servers.
#   ./infra/dev/test.sh              # everything
#   ./infra/dev/test.sh -p episante-auth   # extra arguments go to cargo nextest run
set -euo pipefail
cd "$(dirname "$0")/../.."

./infra/dev/install-tools.sh
./infra/dev/ensure-services.sh

export PATH="$HOME/.cargo/bin:$PATH"
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --all-features --no-fail-fast "$@"
else
  exec cargo test --workspace --all-features --no-fail-fast "$@"
fi
