#!/usr/bin/env bash
# test/bench/segments.sh: segment figures of issue 13 (doc/benchmarks-segments.md, doc/segments.md).
#   test/bench/segments.sh [persons] [events] [rounds]      (defaults 1000000 20000000 3)
# Against the dev cluster (test/scripts/devdb.sh start; PG* from tmp_dev/env).  Generates the
# clinic once into database segbench_<persons>_<events> (test/bench/gen_segments.sql), then, in
# one run (after VACUUM (ANALYZE) of the events and profiles): the 10-clause segment with
# consent and contraindication guards (segment_preview) beside the same question written by hand in plain SQL (EXISTS / NOT EXISTS per clause, over the same
# tables and indexes, statement_timeout 150 s, two runs); a full refresh, 1% of the patients changed through
# the API (consent withdrawals, new clinical events), an incremental refresh, checked equal to a
# full one; segment_preview p95 over 20 rule variants; may_contact p95 over 2,000 random calls.
# Medians of the rounds.  Heavy: hold the bench lock (flock /work/bench.lock test/bench/segments.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
persons=${1:-1000000}
events=${2:-20000000}
rounds=${3:-3}
db=segbench_${persons}_${events}
if ! psql -XAtq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
	echo "generating $persons patients, $events clinical events into $db"
	psql -Xq -d postgres -c "CREATE DATABASE $db"
	psql -Xq -d "$db" -c "CREATE EXTENSION cdp"
	start=$(date +%s)
	psql -X -q -d "$db" -v persons="$persons" -v events="$events" -f "$here/gen_segments.sql" | grep -v NOTICE || true
	echo "generated in $(( $(date +%s) - start )) s"
fi
# what a DBA does after a bulk load (autovacuum does it too, later): set the visibility map, so
# the segment clauses are index-only scans with no heap fetch (doc/segments.md, Performance)
psql -Xq -d "$db" -c "VACUUM (ANALYZE) cdp.clinical_event, cdp.patient"
psql -X -q -d "$db" -v rounds="$rounds" -f "$here/segments_bench.sql"
