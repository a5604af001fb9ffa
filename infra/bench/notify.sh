#!/usr/bin/env bash
# Notify benchmark (issue 27's numbers): 10,000 reminders falling due at once, delivered to a real
# SMTP server (aiosmtpd into a Maildir) by the release `episante-notify` process reading Kafka
# (tansu), which is SIGKILLed halfway and started again; then critical-alert pages one at a time,
# publish → Maildir. Driven by the crate's example (examples/notify_bench.rs). The peer: Python's
# smtplib sending the same number of messages to the same server over one connection (the
# server's own ceiling on this machine).
#   ./infra/bench/notify.sh            # REMINDERS=10000 RECIPIENTS=100 PAGES=50 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
REMINDERS=${REMINDERS:-10000}
RECIPIENTS=${RECIPIENTS:-100}
PAGES=${PAGES:-50}
export EPISANTE_TEST_DATABASE_URL=${EPISANTE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
python3 -c 'import aiosmtpd' || { echo "aiosmtpd missing: run infra/dev/install-tools.sh" >&2; exit 1; }

cargo build --release -q -p episante-notify --bin episante-notify --example notify_bench

work=$(mktemp -d)
peer_pid=""
cleanup() { [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | xargs); $(date -u +%F)"

# Peer: smtplib → aiosmtpd, the same number of small multipart messages.
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$work/peer-maildir" &
peer_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
peer_rate=$(python3 - "$port" "$REMINDERS" <<'PY'
import smtplib, sys, time
from email.message import EmailMessage
port, n = int(sys.argv[1]), int(sys.argv[2])
start = time.monotonic()
with smtplib.SMTP("127.0.0.1", port) as s:
    for i in range(n):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "EpiSante <no-reply@episante.local>", f"p{i % 100}@bench.test", "Reminder"
        m.set_content("A reminder of your appointment " * 8)
        m.add_alternative("<p>" + "A reminder of your appointment " * 8 + "</p>", subtype="html")
        s.send_message(m)
print(round(n / (time.monotonic() - start)))
PY
)
kill "$peer_pid"; peer_pid=""
echo "peer: smtplib, one connection → aiosmtpd: $peer_rate messages/s"

target/release/examples/notify_bench --bin target/release/episante-notify \
  --reminders "$REMINDERS" --recipients "$RECIPIENTS" --pages "$PAGES" | tee "$work/bench.jsonl"

python3 - "$work/bench.jsonl" "$peer_rate" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
s = next(l["summary"] for l in lines if "summary" in l)
r, p = s["reminders"], s["pages"]
peer = float(sys.argv[2])
print(f"reminders: {r['reminders']} to {r['recipients']} people, all in the Maildir after {r['all_delivered_secs']} s "
      f"({r['per_sec']:.0f}/s = {r['per_sec'] / peer:.0%} of smtplib), notify SIGKILLed after {r['killed_after_messages']} "
      f"({r['killed_at_secs']} s); distinct {r['distinct_delivered']}, files {r['files']}, "
      f"Message-IDs delivered twice {r['duplicated_message_ids']}")
print(f"pages: {p['pages']} critical alerts, publish → Maildir p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms, max {p['max_ms']} ms")
sys.path.insert(0, "infra/bench")
import results
results.figure("notify", "reminders delivered", r["per_sec"], "messages/s", "smtplib → aiosmtpd", peer)
results.figure("notify", "10k reminders, kill -9 halfway: all delivered", r["all_delivered_secs"], "s", higher_is_better=False)
results.figure("notify", "critical alert page p99 (publish → SMTP server)", p["p99_ms"], "ms", higher_is_better=False)
results.figure("notify", "messages sent twice across the kill", r["files"] - r["distinct_delivered"], "messages", higher_is_better=False)
results.check("notify", "every reminder delivered", r["distinct_delivered"] == r["reminders"],
              f"{r['distinct_delivered']} of {r['reminders']}")
results.check("notify", "all delivered within 60 s", r["all_delivered_secs"] <= 60, f"{r['all_delivered_secs']} s")
results.check("notify", "page p99 within 2 s", p["p99_ms"] <= 2000, f"{p['p99_ms']} ms")
PY
