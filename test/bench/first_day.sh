#!/usr/bin/env bash
# test/bench/first_day.sh: the first-day migration of a clinic (issue 16), one command, one figure:
# a generated patients file from COPY to unified golden profiles, through the public API only, with
# the time of each step, beside a plain COPY of the same file into an unvalidated table in the same
# run.
#
#   test/bench/first_day.sh [PERSONS=420000] [FILE]
#
# PERSONS persons of test/bench/gen_clinic.py (default mode; 420,000 persons give about 1M records);
# FILE reuses a file gen_clinic.py wrote (its generation is never timed).  Environment:
#   SESSIONS=2     ingest sessions in parallel (each takes every SESSIONS-th row of each source)
#   BATCH=10000    rows per cdp.upsert_records call (one transaction each)
#   KEEP=1         keep the database afterwards
#   DB=NAME        the database's name (default cdp_bench_first_day; dropped and created)
#   SNAPSHOT=NAME  copy the database as NAME just before run_matching (to replay the merge:
#                  test/bench/golden_merge_replay.sh)
#   UNTIL=ingest   stop after the ingest step (its figure alone; the database is kept)
#   DOCS=table     build every row's attrs document in one statement before the sessions start
#                  (before session 26; default: each session builds those of its batches)
# Runs against the dev cluster (tmp_dev/env).  Hold `flock /work/bench.lock` for 1M runs.
#
# The steps, all through the documented API:
#   copy      psql \copy of the file into a staging table of raw text columns
#   ingest    cdp.upsert_records per source, in batches (validation, records, events, queue, and
#             the golden profile and membership of every new person, written set-based)
#   analyze   ANALYZE of the tables the next steps plan on
#   train     cdp.train_matching() (EM on sampled pairs)
#   match     cdp.run_matching('full'): blocking, scoring, links and merges (link_records_many:
#             events, redirects, membership, one fold per surviving person), and the review queue
# The plain COPY into an unvalidated table is the yardstick: "ratio" is its time over the
# migration's.  Each step prints its wall time and the CPU time of the cluster's processes that
# ended during it (see cpu() below), and a line on stderr as it ends; the load average before and
# after.  What a run ended with, independent of ids and timing: test/bench/first_day_digest.sql.
# Figures go to doc/benchmarks-ingest.md.
set -euo pipefail
PERSONS=${1:-420000}
FILE=${2:-}
SESSIONS=${SESSIONS:-2}
BATCH=${BATCH:-10000}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- env SESSIONS="$SESSIONS" BATCH="$BATCH" KEEP="${KEEP:-0}" SNAPSHOT="${SNAPSHOT:-}" UNTIL="${UNTIL:-}" DOCS="${DOCS:-session}" DB="${DB:-cdp_bench_first_day}" bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
DB=${DB:-cdp_bench_first_day}
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
# CPU seconds of the cluster's ended processes (backends, autovacuum and parallel workers): the
# postmaster's cutime + cstime grow when it reaps a child, so a step's CPU is read after its
# sessions have ended (a short wait lets the postmaster reap them); a step's figure also counts
# an autovacuum worker that ended during it.
PM_PID=$(head -1 "$(psql -XqAt -d postgres -c 'SHOW data_directory')/postmaster.pid" 2>/dev/null || echo)
tck=$(getconf CLK_TCK)
cpu() {
	sleep 0.3
	if [ -n "$PM_PID" ] && [ -r "/proc/$PM_PID/stat" ]; then
		awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($14 + $15) / t }' "/proc/$PM_PID/stat"
	else echo 0; fi
}

if [ -z "$FILE" ]; then
	FILE=/tmp/first_day_${PERSONS}.csv
	[ -s "$FILE" ] || python3 "$CDP_SRC/test/bench/gen_clinic.py" --persons "$PERSONS" --seed 42 --out "$FILE" --quiet
fi
rows=$(($(wc -l <"$FILE") - 1))
cols="source text, source_id text, person_id text, family_name text, given_name text, patronymic text, full_name text,
      birth_date text, sex text, phone text, email text, snils text, oms text, address text, city text, vk text, telegram text"

q -c "CREATE EXTENSION cdp" -c "CREATE UNLOGGED TABLE plain_copy ($cols)" -c "CREATE UNLOGGED TABLE stage ($cols)"

# the yardstick: a plain COPY of the same file into an unvalidated table
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
c0=$(cpu); t0=$(now); q -c "\\copy plain_copy FROM '$FILE' WITH (FORMAT csv, HEADER true)"; t1=$(now)
plain=$(secs "$t0" "$t1"); c1=$(cpu); cpu_plain=$(secs "$c0" "$c1")

# 1. copy into staging (raw text; the person_id truth column is kept out of the attrs)
c0=$(cpu); t0=$(now)
q -c "\\copy stage FROM '$FILE' WITH (FORMAT csv, HEADER true)"
q -c "ALTER TABLE stage ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY" >/dev/null
t1=$(now); s_copy=$(secs "$t0" "$t1"); c1=$(cpu); cpu_copy=$(secs "$c0" "$c1")
echo "$(date -u +%T) copy: $s_copy s, cluster CPU $cpu_copy s" >&2

# 2. ingest: sources registered, then every row through cdp.upsert_records, SESSIONS in parallel
c0=$(cpu); t0=$(now)
q -c "SELECT count(cdp.register_source(s, CASE WHEN s LIKE 'partner%' THEN 'partner' ELSE 'internal' END, 50))
        FROM (SELECT DISTINCT source s FROM stage) x" >/dev/null
# each row's session and batch (narrow: the documents are built by the sessions, in parallel, as
# clients would build them from their part of the file; DOCS=table: once, in one statement)
if [ "${DOCS:-session}" = table ]; then
	q -c "CREATE UNLOGGED TABLE docs AS SELECT n, source_id, jsonb_strip_nulls(to_jsonb(s) - 'source' - 'source_id' - 'person_id' - 'n') AS attrs
	        FROM stage s" -c "CREATE UNIQUE INDEX ON docs (n)" >/dev/null
	docs_from="docs s"
else
	q -c "CREATE UNIQUE INDEX ON stage (n)" >/dev/null
	docs_from="(SELECT n, source_id, jsonb_strip_nulls(to_jsonb(s) - 'source' - 'source_id' - 'person_id' - 'n') AS attrs FROM stage s) s"
fi
q -c "CREATE UNLOGGED TABLE batch AS
      SELECT n % $SESSIONS AS k, source, (row_number() OVER (PARTITION BY source, n % $SESSIONS ORDER BY n) - 1) / $BATCH AS b, n
        FROM stage s" -c "CREATE INDEX ON batch (k, source, b, n)" >/dev/null
ingest_sql() {
	cat <<SQL
DO \$\$
DECLARE
	src text;
	bn bigint;
	ids text[];
	docs jsonb[];
BEGIN
	FOR src, bn IN SELECT DISTINCT source, b FROM batch WHERE k = $1 ORDER BY 1, 2 LOOP
		SELECT array_agg(s.source_id ORDER BY s.n), array_agg(s.attrs ORDER BY s.n)
		  INTO ids, docs
		  FROM batch x JOIN $docs_from ON s.n = x.n
		 WHERE x.k = $1 AND x.source = src AND x.b = bn;
		PERFORM count(*) FROM cdp.upsert_records(src, ids, docs, lenient => true);
		COMMIT;
	END LOOP;
END
\$\$;
SQL
}
pids=()
for k in $(seq 0 $((SESSIONS - 1))); do q -c "$(ingest_sql "$k")" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
t1=$(now); s_ingest=$(secs "$t0" "$t1"); c1=$(cpu); cpu_ingest=$(secs "$c0" "$c1")
echo "$(date -u +%T) ingest: $s_ingest s, cluster CPU $cpu_ingest s" >&2
if [ "${UNTIL:-}" = ingest ]; then
	printf 'first-day migration, until the ingest: %d rows of %s, %d ingest sessions, batches of %d; load average %s before, %s after\n' \
		"$rows" "$FILE" "$SESSIONS" "$BATCH" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'plain COPY %.1f s (CPU %.1f s), copy %.1f s (CPU %.1f s), ingest %.1f s (CPU %.1f s, %.0f rows/s), records %s\n' "$plain" "$cpu_plain" \
		"$s_copy" "$cpu_copy" "$s_ingest" "$cpu_ingest" "$(echo "$rows / $s_ingest" | bc -l)" "$(q -c "SELECT count(*) FROM cdp.record")"
	exit 0
fi

# 3. statistics for the planner (autovacuum would do it, later)
c0=$(cpu); t0=$(now); q -c "ANALYZE cdp.record" -c "ANALYZE cdp.event" -c "ANALYZE cdp.patient" -c "ANALYZE cdp.patient_member"; t1=$(now)
s_analyze=$(secs "$t0" "$t1"); c1=$(cpu); cpu_analyze=$(secs "$c0" "$c1")
echo "$(date -u +%T) analyze: $s_analyze s, cluster CPU $cpu_analyze s" >&2

# 4. training
c0=$(cpu); t0=$(now); q -c "SELECT cdp.train_matching() - 'm' - 'u' - 'per_rule'" >/tmp/first_day_train.$$; t1=$(now)
s_train=$(secs "$t0" "$t1"); c1=$(cpu); cpu_train=$(secs "$c0" "$c1")
echo "$(date -u +%T) train: $s_train s, cluster CPU $cpu_train s" >&2

[ -z "${SNAPSHOT:-}" ] || psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $SNAPSHOT" -c "CREATE DATABASE $SNAPSHOT TEMPLATE $DB"

# 5. full matching: links, merges, profiles, review queue
# (DEBUG1 lines of golden_link_apply: the time of each step of the merge)
c0=$(cpu); t0=$(now); q -c "SET client_min_messages = debug1" -c "SELECT cdp.run_matching('full')" >/tmp/first_day_match.$$ 2>/tmp/first_day_debug.$$; t1=$(now)
s_match=$(secs "$t0" "$t1"); c1=$(cpu); cpu_match=$(secs "$c0" "$c1")
echo "$(date -u +%T) match: $s_match s, cluster CPU $cpu_match s" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

total=$(echo "$s_copy + $s_ingest + $s_analyze + $s_train + $s_match" | bc)
cpu_total=$(echo "$cpu_copy + $cpu_ingest + $cpu_analyze + $cpu_train + $cpu_match" | bc)
records=$(q -c "SELECT count(*) FROM cdp.record")
persons=$(q -c "SELECT count(*) FROM cdp.patient")
members=$(q -c "SELECT count(*) FROM cdp.patient_member WHERE to_event IS NULL")
review=$(q -c "SELECT count(*) FROM cdp.review_queue")
events=$(q -c "SELECT count(*) FROM cdp.event")
invalid=$(q -c "SELECT count(*) FROM cdp.record WHERE extra ? '_invalid'")
true_persons=$(q -c "SELECT count(DISTINCT person_id) FROM stage")
printf 'first-day migration: %d rows of %s, %d ingest sessions, batches of %d; load average %s before, %s after\n' \
	"$rows" "$FILE" "$SESSIONS" "$BATCH" "$load_before" "$load_after"
printf '%-34s %9s   %9s\n' "step" "wall" "cluster CPU"
printf '%-34s %9.1f s %9.1f s\n' "plain COPY, unvalidated table" "$plain" "$cpu_plain"
printf '%-34s %9.1f s %9.1f s\n' "1. copy into staging" "$s_copy" "$cpu_copy"
printf '%-34s %9.1f s %9.1f s  %8.0f rows/s\n' "2. ingest (upsert_records)" "$s_ingest" "$cpu_ingest" "$(echo "$rows / $s_ingest" | bc -l)"
printf '%-34s %9.1f s %9.1f s\n' "3. analyze" "$s_analyze" "$cpu_analyze"
printf '%-34s %9.1f s %9.1f s\n' "4. train_matching" "$s_train" "$cpu_train"
printf '%-34s %9.1f s %9.1f s\n' "5. run_matching('full')" "$s_match" "$cpu_match"
printf '%-34s %9.1f s %9.1f s  (plain COPY / migration: %.3f)\n' "total, copy to unified profiles" "$total" "$cpu_total" "$(echo "$plain / $total" | bc -l)"
printf 'records %s (%s with invalid fields kept aside), golden profiles %s (true persons %s), open memberships %s, review queue %s, events %s\n' \
	"$records" "$invalid" "$persons" "$true_persons" "$members" "$review" "$events"
printf 'train_matching: %s\n' "$(head -c 1500 /tmp/first_day_train.$$)"
printf 'run_matching: %s\n' "$(head -c 1500 /tmp/first_day_match.$$)"
printf 'merge steps (golden_link_apply, ms):%s\n' "$(sed -n 's/.*golden_link_apply \([a-z_]*\): \([0-9.]*\) ms.*/ \1 \2/p' /tmp/first_day_debug.$$ | tr -d '\n')"
rm -f /tmp/first_day_train.$$ /tmp/first_day_match.$$ /tmp/first_day_debug.$$
[ "${KEEP:-0}" = 1 ] || psql -XqAt -d postgres -c "DROP DATABASE $DB"
