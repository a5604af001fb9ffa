#!/usr/bin/env bash
# Bookings benchmark: booking throughput and p99 on distinct slots and under contention on one
# slot, driven over HTTP by the crate's load tool (examples/bookings_bench.rs) against the
# release `episante-bookings` binary; then a query proves there is no double booking. pgbench's
# plain INSERT TPS on the same machine (same table shape, no rules, no HTTP) is the ceiling.
#   ./infra/bench/bookings.sh        # DURATION=20 CONCURRENCY=64 DB_CONNECTIONS=16 by default
# Load tool, service and PostgreSQL share the machine's cores: compare ratios, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-64}
DB_CONNECTIONS=${DB_CONNECTIONS:-16}
CONTENTION_SLOTS=${CONTENTION_SLOTS:-300}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-16}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export EPISANTE_TEST_DATABASE_URL=${EPISANTE_TEST_DATABASE_URL:-$DATABASE_URL}
command -v pgbench >/dev/null || { echo "pgbench missing (Debian: postgresql-client)" >&2; exit 1; }

cargo build --release -q -p episante-bookings --bin episante-bookings --example bookings_bench

work=$(mktemp -d)
ceiling_db="bench_pgbench_$(date +%s)"
cleanup() {
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $ceiling_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | xargs); $(date -u +%F)"
echo "postgres: $(psql -tA "$DATABASE_URL" -c 'SHOW server_version') synchronous_commit=$(psql -tA "$DATABASE_URL" -c 'SHOW synchronous_commit')"

# Ceiling: pgbench inserting rows of the appointments' shape (with the same exclusion
# constraint, on distinct ranges), one transaction per insert.
psql -q "$DATABASE_URL" -c "CREATE DATABASE $ceiling_db"
ceiling_url="${DATABASE_URL%/*}/$ceiling_db"
psql -q "$ceiling_url" <<'SQL'
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE plain (id uuid PRIMARY KEY, practitioner_id int NOT NULL,
  starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,
  EXCLUDE USING gist (practitioner_id WITH =, tstzrange(starts_at, ends_at) WITH &&));
CREATE SEQUENCE slot_seq;
SQL
cat >"$work/insert.sql" <<'SQL'
INSERT INTO plain SELECT gen_random_uuid(), n % 50, t, t + interval '5 minutes'
FROM (SELECT s AS n, timestamptz '2030-01-01' + (s / 50) * interval '5 minutes' AS t
      FROM nextval('slot_seq') AS s) AS x;
SQL
pgbench -n -c "$PGBENCH_CLIENTS" -j 2 -T "$DURATION" -f "$work/insert.sql" "$ceiling_url" >"$work/pgbench.txt" 2>&1
pgbench_tps=$(awk -F'= ' '/^tps/ {split($2, a, " "); printf "%.0f", a[1]; exit}' "$work/pgbench.txt")
echo "pgbench plain INSERT (exclusion constraint, $PGBENCH_CLIENTS clients, ${DURATION}s): $pgbench_tps tps"

target/release/examples/bookings_bench --bin target/release/episante-bookings \
  --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --db-connections "$DB_CONNECTIONS" \
  --contention-slots "$CONTENTION_SLOTS" | tee "$work/bench.jsonl"

python3 - "$work/bench.jsonl" "$pgbench_tps" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
summary = next(l["summary"] for l in lines if "summary" in l)
ceiling = float(sys.argv[2])
d, c, v = summary["distinct"], summary["contention"], summary["verification"]
print(f"distinct slots: {d['bookings_per_sec']:.0f} bookings/s, p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms "
      f"({d['created']} booked, {d['errors']} errors) = {d['bookings_per_sec'] / ceiling:.0%} of pgbench")
print(f"one slot at a time, {summary['concurrency']} contenders: {c['requests_per_sec']:.0f} attempts/s, "
      f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, {c['created']} × 201 / {c['conflicts']} × 409 / {c['errors']} errors")
print(f"double bookings: {v['double_bookings']}; rows {v['rows']} = 201s {v['created_201']}; "
      f"contended slots {v['contended_slots']} → rows {v['contended_rows']}")
sys.path.insert(0, "infra/bench")
import results
results.figure("bookings", "distinct slots", d["bookings_per_sec"], "bookings/s", "pgbench plain INSERT", ceiling)
results.figure("bookings", "distinct slots p99", d["p99_ms"], "ms", higher_is_better=False)
results.figure("bookings", f"one slot, {summary['concurrency']} contenders", c["requests_per_sec"], "attempts/s",
               "pgbench plain INSERT", ceiling)
results.check("bookings", "zero double bookings", v["double_bookings"] == 0, f"{v['double_bookings']} overlapping")
results.check("bookings", "every 201 is one row", v["rows"] == v["created_201"],
              f"{v['rows']} rows, {v['created_201']} × 201")
results.check("bookings", "each contended slot booked exactly once", v["contended_rows"] == v["contended_slots"],
              f"{v['contended_slots']} slots, {v['contended_rows']} rows")
results.check("bookings", "no errors", d["errors"] + c["errors"] == 0, f"{d['errors'] + c['errors']} errors")
PY
