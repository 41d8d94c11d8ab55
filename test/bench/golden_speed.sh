#!/usr/bin/env bash
# test/bench/golden_speed.sh: golden records (issue 5) at size N: ingest with live profiles, a
# full rebuild of every profile from the log, patient_as_of / patient_history latency (median and
# p95 over random persons and times), merge + unmerge round trips, and log bytes per event.
# Runs against the server in PG* (e.g. eval "$(cat tmp_dev/env)").
#
#   test/bench/golden_speed.sh [RECORDS=100000] [SAMPLES=500]
#   GOLDEN_FOLD=sql test/bench/golden_speed.sh ...   the same with the PL/pgSQL oracles of the fold
#       and record documents (test/oracles/golden_fold.sql: cdp_test.golden_fold_sql,
#       cdp_test.golden_record_doc_sql) put in place of the C ones, for a before/after comparison
#       on one build (database cdp_bench_golden_sql)
#
# One person in five gets a second record from another source that is then linked (a merge); one
# record in five gets a visit. Prints one line per figure.
set -euo pipefail
rows=${1:-100000}
samples=${2:-500}
db=cdp_bench_golden${GOLDEN_FOLD:+_$GOLDEN_FOLD}
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }
here=$(cd "$(dirname "$0")" && pwd)
now_ms() { date +%s%3N; }

q <<SQL
CREATE EXTENSION cdp;
\i $here/../oracles/golden_fold.sql
DO \$\$ DECLARE f text; def text; BEGIN
  IF '${GOLDEN_FOLD:-c}' = 'sql' THEN
    FOREACH f IN ARRAY ARRAY['golden_fold(jsonb,jsonb,boolean)', 'golden_record_doc(jsonb,integer)'] LOOP
      def := pg_get_functiondef(('cdp_test.' || replace(f, '(', '_sql('))::regprocedure);
      def := replace(replace(def, 'FUNCTION cdp_test.', 'FUNCTION cdp.'), '_sql(', '(');
      EXECUTE def;
    END LOOP;
  END IF; END \$\$;
SELECT format('fold: %s', l.lanname) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'cdp.golden_fold(jsonb,jsonb,boolean)'::regprocedure;
SELECT cdp.register_source('reception', 'internal', 80), cdp.register_source('site', 'partner', 30);
\set n $rows
\i $here/golden_staging.sql
SQL

# ingest: batches of 5,000 through cdp.upsert_records, profiles refreshed in the same transactions
batches() { echo "DO \$\$ DECLARE b int; BEGIN FOR b IN SELECT DISTINCT (i - 1) / 5000 FROM staging WHERE $2 ORDER BY 1 LOOP
  PERFORM count(*) FROM cdp.upsert_records('$1', ARRAY(SELECT $3 FROM staging WHERE $2 AND (i - 1) / 5000 = b ORDER BY i),
                                           ARRAY(SELECT $4 FROM staging WHERE $2 AND (i - 1) / 5000 = b ORDER BY i));
  COMMIT; END LOOP; END \$\$"; }
t0=$(now_ms)
q -c "$(batches reception true source_id attrs)"
q -c "$(batches site "i % 5 = 0" "'W' || i" "attrs || '{\"given_name\": \"Аня\", \"phone\": \"+79990000000\"}'")"
t1=$(now_ms)
echo "ingest of $((rows + rows / 5)) records with live profiles: $((t1 - t0)) ms"

# merges: the second record of every fifth person joins the first (one link per transaction)
t0=$(now_ms)
q -c "DO \$\$ DECLARE x record; BEGIN
  FOR x IN SELECT a.record_id AS a, b.record_id AS b FROM cdp.record a JOIN cdp.record b ON b.source_key = 'W' || substr(a.source_key, 2)
            WHERE a.source_key LIKE 'R%' ORDER BY a.record_id LOOP
    PERFORM cdp.link_records(x.a, x.b, '{\"bench\": true}'); COMMIT; END LOOP; END \$\$"
t1=$(now_ms)
links=$(q -c "SELECT count(*) FROM cdp.event WHERE kind = 'patient.merged'")
echo "link_records (merge): $links merges in $((t1 - t0)) ms, $(( (t1 - t0) * 1000 / (links > 0 ? links : 1) )) us per merge"

# visits for one record in five
q -c "DO \$\$ DECLARE x record; BEGIN
  FOR x IN SELECT source_key, row_number() OVER () AS n FROM cdp.record WHERE source_key LIKE 'R%' AND substr(source_key, 2)::int % 5 = 1 LOOP
    PERFORM cdp.upsert_clinical_event('reception', 'V' || x.n, 'visit', jsonb_build_object('record_source_id', x.source_key,
      'at', '2024-01-01T10:00:00+03'::timestamptz + x.n * interval '1 minute', 'status', 'done', 'type', 'first'));
    IF x.n % 5000 = 0 THEN COMMIT; END IF; END LOOP; END \$\$"

persons=$(q -c "SELECT count(*) FROM cdp.patient")
events=$(q -c "SELECT count(*) FROM cdp.event")
echo "persons: $persons, events: $events"

q -c "CREATE TABLE live AS SELECT * FROM cdp.patient"
t0=$(now_ms); q -c "SELECT cdp.rebuild_patients()" >/dev/null; t1=$(now_ms)
echo "rebuild_patients of $persons persons: $((t1 - t0)) ms ($(( (t1 - t0) * 1000 / persons )) us per person)"
# vacuum and statistics of the log and the rewritten projections, as autovacuum leaves them a
# minute later, so the latency figures below do not depend on when autovacuum gets to them: with
# cdp.event's statistics still those of a small table (the load above adds 160k events within a
# minute), patient_as_of took ~40 ms instead of 0.2-0.5 ms (doc/benchmarks-golden.md)
q -c "VACUUM ANALYZE cdp.event" -c "VACUUM ANALYZE cdp.record" -c "VACUUM ANALYZE cdp.clinical_event" \
  -c "VACUUM ANALYZE cdp.patient" -c "VACUUM ANALYZE cdp.patient_member" -c "VACUUM ANALYZE cdp.patient_redirect"
echo "rebuild equals live (rows differing, both ways): $(q -c "SELECT (SELECT count(*) FROM (SELECT * FROM live EXCEPT SELECT * FROM cdp.patient) x) + (SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM live) x)")"

# latency: one call per sample, timed inside the server
lat() { q -c "DO \$\$ DECLARE g bigint; t timestamptz; t0 timestamptz; lo timestamptz; hi timestamptz; BEGIN
  SELECT min(at), max(at) INTO lo, hi FROM cdp.event;
  CREATE TEMP TABLE lat (ms float8);
  FOR i IN 1..$samples LOOP
    SELECT golden_id INTO g FROM cdp.patient OFFSET floor(random() * $persons) LIMIT 1;
    t := lo + random() * (hi - lo);
    t0 := clock_timestamp();
    PERFORM * FROM $1;
    INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP; END \$\$" -c "SELECT format('median %s ms, p95 %s ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2)) FROM lat"; }
echo "patient_as_of ($samples random persons and times): $(lat 'cdp.patient_as_of(g, t)')"
echo "patient_history ($samples random persons): $(lat 'cdp.patient_history(g)')"
echo "patient_lineage ($samples random persons): $(lat 'cdp.patient_lineage(g)')"

# merge + unmerge round trip on fresh pairs of single-record persons
q -v samples="$samples" -v every=5 -f "$here/golden_roundtrip.sql" \
  | sed 's/^/ /' | sed 's/^ //'

q -c "SELECT format('log: %s events, %s bytes on disk per event (table + indexes + TOAST)', count(*),
       pg_total_relation_size('cdp.event') / count(*)) FROM cdp.event"
q -c "SELECT format('  %s: %s events, payload %s bytes on average', kind, count(*), round(avg(pg_column_size(payload))))
       FROM cdp.event GROUP BY kind ORDER BY count(*) DESC"
