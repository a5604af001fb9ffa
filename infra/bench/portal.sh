#!/usr/bin/env bash
# Web portal benchmark: the initial JavaScript (gzipped; the build fails above its 250 KB budget)
# and the alerts board with 1,000 open alerts rendered by React into jsdom, against a plain list
# of every row (the peer, same run): web/app/src/test/board.bench.tsx.
#   ./infra/bench/portal.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d web/node_modules ] || npm ci --prefix web --no-audit --no-fund >/dev/null
npm run -s build:portal --prefix web >"$work/build.txt" 2>&1 || { cat "$work/build.txt"; exit 1; }
grep "initial JavaScript" "$work/build.txt"
(cd web && npx vitest bench --run --outputJson "$work/bench.json" >"$work/bench.txt" 2>&1) || { cat "$work/bench.txt"; exit 1; }
python3 - "$work/build.txt" "$work/bench.json" <<'PY'
import json, re, sys
sys.path.insert(0, "infra/bench")
import results
kb = float(re.search(r"initial JavaScript: ([\d.]+) KB", open(sys.argv[1]).read()).group(1))
benches = {b["name"]: b for f in json.load(open(sys.argv[2]))["files"] for g in f["groups"] for b in g["benchmarks"]}
for name, b in benches.items():
    print(f"{name}: mean {b['mean']:.1f} ms ({b['hz']:.1f}/s, {b['sampleCount']} samples)")
virtual = next(b for n, b in benches.items() if "virtual" in n.lower())
plain = next(b for n, b in benches.items() if b is not virtual)
print(f"initial JavaScript {kb} KB gzipped; board {virtual['mean']:.1f} ms vs plain list {plain['mean']:.1f} ms "
      f"({plain['mean'] / virtual['mean']:.1f}x faster)")
results.figure("portal", "initial JavaScript, gzipped (budget 250 KB)", kb, "KB", higher_is_better=False)
results.figure("portal", "board with 1,000 open alerts: mean render", virtual["mean"], "ms",
               "plain list of every row", plain["mean"], higher_is_better=False)
results.check("portal", "initial JavaScript within its 250 KB budget", kb <= 250, f"{kb} KB")
PY
