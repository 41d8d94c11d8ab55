#!/usr/bin/env bash
# test/bench/golden_scale.sh: golden records at the issue's full size (issue 5): PERSONS persons
# and about PERSONS x EVENTS_PER_PERSON events in the log, then a full rebuild_patients(),
# patient_as_of / patient_history latency (median, p95) on SAMPLES random persons, a check that
# both stay index-driven (no sequential scan of cdp.event in their plans), merge + unmerge round
# trips and log bytes per event. Runs against the server in PG* (e.g. eval "$(cat tmp_dev/env)").
#
#   test/bench/golden_scale.sh [PERSONS=1000000] [EVENTS_PER_PERSON=10] [SAMPLES=300]
#
# How the log is written (bounded time at 1M persons / 10M events):
# - records: every person's record through the real cdp.upsert_records in batches of 5,000
#   (profiles refreshed in the same transactions; WORKERS=2 sessions), plus a second record from
#   another source for one person in twenty;
# - merges: each such pair through the real cdp.link_records (one merge at a time, COMMIT every
#   1,000);
# - clinical events (the bulk of the log): written set-based in chunks of 250,000 by WORKERS
#   sessions, one statement per chunk (INSERT ... RETURNING feeding the log), the same rows
#   and the same clinical.created payloads cdp.upsert_clinical_event writes, one visit in four,
#   the others lab tests; a sample of the bulk rows is checked against the real validation
#   function (cdp_internal.golden_clinical_columns) and a real upsert_clinical_event's payload keys.
#   Live last_visit is not refreshed for the bulk visits: the rebuild that follows derives it
#   from the log, as it would after a restore.
set -euo pipefail
persons=${1:-1000000}
per=${2:-10}
samples=${3:-300}
db=cdp_bench_scale
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }
here=$(cd "$(dirname "$0")" && pwd)
now_ms() { date +%s%3N; }
# waits for every background job and fails if one failed
waitall() { local p; for p in $(jobs -p); do wait "$p"; done; }
t_start=$(now_ms)

q <<SQL
CREATE EXTENSION cdp;
SELECT cdp.register_source('reception', 'internal', 80), cdp.register_source('site', 'partner', 30);
\set n $persons
\i $here/golden_staging.sql
CREATE INDEX ON staging (((i - 1) / 5000));  -- each batch an index scan, not a scan of all persons
ANALYZE staging;
SQL

# records: two sessions, each taking every other batch of 5,000 (WORKERS sessions in general)
workers=${WORKERS:-2}
batches() { echo "DO \$\$ DECLARE b int; BEGIN FOR b IN SELECT DISTINCT (i - 1) / 5000 FROM staging WHERE $2 AND ((i - 1) / 5000) % $workers = $5 ORDER BY 1 LOOP
  PERFORM count(*) FROM cdp.upsert_records('$1', ARRAY(SELECT $3 FROM staging WHERE $2 AND (i - 1) / 5000 = b ORDER BY i),
                                           ARRAY(SELECT $4 FROM staging WHERE $2 AND (i - 1) / 5000 = b ORDER BY i));
  COMMIT; END LOOP; END \$\$"; }
t0=$(now_ms)
for ((w = 0; w < workers; w++)); do q -c "$(batches reception true source_id attrs $w)" & done; waitall
for ((w = 0; w < workers; w++)); do
  q -c "$(batches site "i % 20 = 0" "'W' || i" "attrs || '{\"given_name\": \"Аня\", \"phone\": \"+79990000000\"}'" $w)" &
done; waitall
t1=$(now_ms)
echo "records: $((persons + persons / 20)) through upsert_records with live profiles in $((t1 - t0)) ms"

# statistics as autovacuum would have them in production, so the merges' plans are not made blind
q -c "VACUUM ANALYZE cdp.record" -c "VACUUM ANALYZE cdp.patient" -c "VACUUM ANALYZE cdp.patient_member" -c "VACUUM ANALYZE cdp.event"
t0=$(now_ms)
q -c "DO \$\$ DECLARE x record; n int := 0; BEGIN
  FOR x IN SELECT a.record_id AS a, b.record_id AS b FROM cdp.record a JOIN cdp.record b ON b.source_key = 'W' || substr(a.source_key, 2)
            WHERE a.source_key LIKE 'R%' AND b.source_id = 2 ORDER BY a.record_id LOOP
    PERFORM cdp.link_records(x.a, x.b, '{\"bench\": true}');
    n := n + 1; IF n % 1000 = 0 THEN COMMIT; END IF; END LOOP; END \$\$"
t1=$(now_ms)
links=$(q -c "SELECT count(*) FROM cdp.event WHERE kind = 'patient.merged'")
echo "merges: $links through link_records in $((t1 - t0)) ms"

# clinical events: enough to bring the log to about PERSONS x EVENTS_PER_PERSON
t0=$(now_ms)
q <<SQL
-- one real event of each kind, to compare the bulk payloads with
DO \$\$ BEGIN
  PERFORM cdp.upsert_clinical_event('reception', 'probe-visit', 'visit', '{"record_source_id": "R1", "at": "2024-01-01T10:00:00+03", "status": "done", "type": "repeat"}');
  PERFORM cdp.upsert_clinical_event('reception', 'probe-lab', 'lab_test', '{"record_source_id": "R1", "code": "HGB", "result": "135", "unit": "g/L", "ref_low": 120, "ref_high": 160, "taken_at": "2024-01-01T10:00:00+03"}');
END \$\$;
CREATE TABLE recs AS
SELECT row_number() OVER (ORDER BY r.record_id) AS n, r.record_id, r.golden_id, r.source_key
  FROM cdp.record r WHERE r.source_id = 1;
CREATE UNIQUE INDEX ON recs (n);
SQL
nclin=$(q -c "SELECT greatest(0, $persons::bigint * $per - (SELECT count(*) FROM cdp.event))")
nrec=$(q -c "SELECT count(*) FROM recs")
chunk=500000
clinical_chunk() { q <<SQL
WITH b AS (
SELECT j, r.record_id, r.golden_id, r.source_key,
       CASE WHEN j % 4 = 0 THEN 'visit' ELSE 'lab_test' END AS kind,
       timestamptz '2020-01-01 09:00:00+03' + (j % 100000) * interval '13 minutes' AS at,
       nextval('cdp.clinical_event_id_seq') AS event_id
  FROM (SELECT j FROM generate_series($1 + 1, $2) j ORDER BY j) g JOIN recs r ON r.n = 1 + (g.j - 1) % $nrec),
ins AS (
INSERT INTO cdp.clinical_event
SELECT p.*
  FROM b,
  LATERAL (SELECT CASE WHEN b.kind = 'visit'
                   THEN jsonb_build_object('record_source_id', b.source_key, 'at', b.at, 'status', 'done', 'type', 'repeat')
                   ELSE jsonb_build_object('record_source_id', b.source_key, 'code', 'HGB', 'result', (120 + b.j % 40)::text,
                                           'unit', 'g/L', 'ref_low', 120, 'ref_high', 160, 'taken_at', b.at) END AS attrs,
                  CASE WHEN b.kind = 'visit'
                   THEN jsonb_build_object('at', b.at, 'visit_type', 'repeat', 'visit_status', 'done', 'doctor', NULL, 'specialty', NULL)
                   ELSE jsonb_build_object('lab_code', 'HGB', 'lab_result', (120 + b.j % 40)::text, 'lab_unit', 'g/L', 'at', b.at,
                                           'ref_low', 120, 'ref_high', 160, 'ref_text', NULL) END AS cols) c,
  LATERAL jsonb_populate_record(NULL::cdp.clinical_event, c.cols || jsonb_build_object(
         'event_id', b.event_id, 'source_id', 1, 'source_key', 'C' || b.j,
         'record_id', b.record_id, 'golden_id', b.golden_id, 'kind', b.kind, 'attrs', c.attrs,
         'attrs_hash', md5(b.kind || ':' || c.attrs::text), 'created_at', now(), 'updated_at', now(), 'version', 1)) p
 ORDER BY b.j
RETURNING *)
INSERT INTO cdp.event (kind, subject, golden_id, payload)
SELECT 'clinical.created', i.event_id, i.golden_id, jsonb_build_object('clinical', to_jsonb(i) - 'golden_id')
  FROM ins i ORDER BY i.event_id;
SQL
}
# chunks of 250,000 events, WORKERS sessions each writing every WORKERS-th chunk
chunk=250000
for ((w = 0; w < workers; w++)); do
  ( for ((lo = w * chunk; lo < nclin; lo += workers * chunk)); do
      clinical_chunk $lo $(( lo + chunk < nclin ? lo + chunk : nclin ))
    done ) &
done; waitall
t1=$(now_ms)
echo "clinical events: $nclin written set-based in $((t1 - t0)) ms"
echo "bulk rows equal what the real functions write (sample of 1000 rows differing; payload key sets differing): $(q -c "SET max_parallel_workers_per_gather = 0" -c "
  SELECT (SELECT count(*) FROM (SELECT * FROM cdp.clinical_event c WHERE c.source_key LIKE 'C%' ORDER BY c.event_id LIMIT 1000) c
           WHERE NOT to_jsonb(c) @> cdp_internal.golden_clinical_columns(c.kind, c.attrs)) || '; ' ||
         (SELECT count(*) FROM (VALUES ('C4', 'probe-visit'), ('C1', 'probe-lab')) v(bulk, probe)
           WHERE (SELECT ARRAY(SELECT jsonb_object_keys(e.payload -> 'clinical') ORDER BY 1) FROM cdp.clinical_event c
                    JOIN cdp.event e ON e.subject = c.event_id AND e.kind = 'clinical.created'
                   WHERE c.source_id = 1 AND c.source_key = v.bulk)
                 IS DISTINCT FROM
                 (SELECT ARRAY(SELECT jsonb_object_keys(e.payload -> 'clinical') ORDER BY 1) FROM cdp.clinical_event c
                    JOIN cdp.event e ON e.subject = c.event_id AND e.kind = 'clinical.created'
                   WHERE c.source_id = 1 AND c.source_key = v.probe))")"
q -c "VACUUM ANALYZE cdp.event" -c "VACUUM ANALYZE cdp.clinical_event" -c "VACUUM ANALYZE cdp.record"

npersons=$(q -c "SELECT count(*) FROM cdp.patient")
events=$(q -c "SELECT count(*) FROM cdp.event")
echo "persons: $npersons, events: $events (log written in $(( $(now_ms) - t_start )) ms)"

t0=$(now_ms); q -c "SELECT cdp.rebuild_patients()" >/dev/null; t1=$(now_ms)
echo "rebuild_patients of $npersons persons: $((t1 - t0)) ms ($(( (t1 - t0) * 1000 / npersons )) us per person)"
q -c "VACUUM ANALYZE cdp.patient" -c "VACUUM ANALYZE cdp.patient_member"

lat() { q -c "DO \$\$ DECLARE g bigint; t timestamptz; t0 timestamptz; lo timestamptz; hi timestamptz; BEGIN
  SELECT min(at), max(at) INTO lo, hi FROM cdp.event;
  CREATE TEMP TABLE lat (ms float8);
  FOR i IN 1..$samples LOOP
    SELECT golden_id INTO g FROM cdp.patient WHERE golden_id >= (SELECT min(golden_id) FROM cdp.patient)
           + floor(random() * ((SELECT max(golden_id) FROM cdp.patient) - (SELECT min(golden_id) FROM cdp.patient)))
     ORDER BY golden_id LIMIT 1;
    t := lo + random() * (hi - lo);
    t0 := clock_timestamp();
    PERFORM * FROM $1;
    INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP; END \$\$" -c "SELECT format('median %s ms, p95 %s ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2)) FROM lat"; }
echo "patient_as_of ($samples random persons and times): $(lat 'cdp.patient_as_of(g, t)')"
echo "patient_history ($samples random persons): $(lat 'cdp.patient_history(g)')"

# every statement those two run, planned as in a live session: no sequential scan of cdp.event
g=$(q -c "SELECT golden_id FROM cdp.patient WHERE record_count > 1 ORDER BY golden_id LIMIT 1")
plans=$(q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" -c "SET auto_explain.log_nested_statements = on" \
          -c "SET auto_explain.log_level = notice" -c "SET client_min_messages = notice" \
          -c "SELECT count(*) FROM cdp.patient_as_of($g, now())" -c "SELECT count(*) FROM cdp.patient_history($g)" 2>&1)
echo "as_of / history plans: $(grep -c 'Index\|index' <<<"$plans") index lines, $(grep -c 'Seq Scan on event' <<<"$plans") sequential scans of cdp.event"

q -v samples="$samples" -v every=10 -f "$here/golden_roundtrip.sql"

q -c "SELECT format('log: %s events, %s bytes on disk per event (table + indexes + TOAST)', count(*),
       pg_total_relation_size('cdp.event') / count(*)) FROM cdp.event"
q -c "SELECT format('  %s: %s events, payload %s bytes on average', kind, count(*), round(avg(pg_column_size(payload))))
       FROM cdp.event GROUP BY kind ORDER BY count(*) DESC"
echo "total: $(( ($(now_ms) - t_start) / 1000 )) s"
