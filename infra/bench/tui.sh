#!/usr/bin/env bash
# Clinician TUI benchmark: frame time with 1,000 open alerts and a busy stream (no server: alert
# events go through the SSE parser and JSON decoding into the app, then the board is drawn with
# the real crossterm backend into a sink). See `episante-tui bench --help`.
#   ./infra/bench/tui.sh          # FRAMES=500
set -euo pipefail
cd "$(dirname "$0")/../.."
FRAMES=${FRAMES:-500}
cargo build --release -q -p episante-tui
for size in "120 40 10" "80 24 10" "120 40 100"; do
  read -r w h u <<<"$size"
  line=$(target/release/episante-tui bench --alerts 1000 --frames "$FRAMES" --updates "$u" --width "$w" --height "$h")
  echo "$line"
  python3 - "$line" "$w" "$h" "$u" <<'PY'
import re, sys
sys.path.insert(0, "infra/bench")
import results
line, w, h, u = sys.argv[1:]
mean = float(re.search(r"mean ([\d.]+) ms", line).group(1))
p99 = float(re.search(r"p99 ([\d.]+) ms", line).group(1))
results.figure("tui", f"{w}x{h}, {u} events per frame: mean frame", mean, "ms", higher_is_better=False)
results.figure("tui", f"{w}x{h}, {u} events per frame: p99 frame", p99, "ms", higher_is_better=False)
PY
done
