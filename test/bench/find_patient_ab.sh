#!/usr/bin/env bash
# test/bench/find_patient_ab.sh: two versions of find_patient (a cdp library and a file of SQL
# definitions each) on one kept find_patient.sh database, alternated: per pass the backend CPU of one
# backend running every probe (/proc/<pid>/stat; comparable when the machine is loaded, unlike wall
# times) and each probe's wall time; then p50 / p95 per pass and over each probe's fastest and
# median pass, and whether both versions return the same rows.
#
#   bash test/bench/find_patient_ab.sh A.so A.sql B.so B.sql [passes]     (default 3 passes)
#
# Needs a database kept by BENCH_KEEP=1 test/bench/find_patient.sh (BENCH_DB, default
# cdp_bench_find; it holds the query table and the probe() function), the dev cluster's environment
# (eval "$(cat tmp_dev/env)"), and write access to the server's pkglibdir: each pass copies the
# library there (new backends load it; cdp is not preloaded) and applies the definitions (e.g. a
# CREATE OR REPLACE FUNCTION cdp.find_patient ...).  B is left installed.  Run as the cluster's
# owner, under /work/bench.lock at 1M.
#   KIND   the probe kind of find_patient.sh (default name+birth_date)
set -euo pipefail
. "$(dirname "$0")/backend_cpu.sh"
alib=$1
asql=$2
blib=$3
bsql=$4
passes=${5:-3}
db=${BENCH_DB:-cdp_bench_find}
kind=${KIND:-name+birth_date}
lib=$(pg_config --pkglibdir)/cdp.so
psql=(psql -X -q -v ON_ERROR_STOP=1 -d "$db")
"${psql[@]}" -c "CREATE TABLE IF NOT EXISTS ab_find (v text, pass int, qid bigint, ms float8, rids bigint[])" -c "TRUNCATE ab_find"
run="DO \$\$DECLARE r record; rids bigint[]; t0 timestamptz; BEGIN
  FOR r IN SELECT * FROM query WHERE qid <= 20 LOOP PERFORM * FROM cdp.find_patient(probe(r.attrs, '$kind')); END LOOP;
  FOR r IN SELECT * FROM query ORDER BY qid LOOP
    t0 := clock_timestamp();
    SELECT array_agg(f.record_id) INTO rids FROM cdp.find_patient(probe(r.attrs, '$kind'), 10) f;
    INSERT INTO ab_find VALUES (current_setting('ab.v'), current_setting('ab.pass')::int, r.qid,
                                extract(epoch FROM clock_timestamp() - t0) * 1000, rids);
  END LOOP; END\$\$;"

for i in $(seq 1 "$passes"); do
	for v in A B; do
		if [ $v = A ]; then put_lib "$alib"; "${psql[@]}" -f "$asql"; else put_lib "$blib"; "${psql[@]}" -f "$bsql"; fi
		PGOPTIONS="-c ab.v=$v -c ab.pass=$i" backend_cpu "$v #$i" "$db" "$run SELECT 'done';"
	done
done
"${psql[@]}" -P footer=off -c "
SELECT v, pass, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p95_ms
  FROM ab_find GROUP BY v, pass ORDER BY pass, v" -c "
WITH q AS (SELECT v, qid, min(ms) AS fastest, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median
             FROM ab_find GROUP BY v, qid)
SELECT v, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fastest)::numeric, 2) AS p50_fastest,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY fastest)::numeric, 2) AS p95_fastest,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY median)::numeric, 2) AS p50_median,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY median)::numeric, 2) AS p95_median
  FROM q GROUP BY v ORDER BY v" -c "
SELECT count(*) AS probes, count(*) FILTER (WHERE a.rids IS NOT DISTINCT FROM b.rids) AS same_rows
  FROM ab_find a JOIN ab_find b USING (qid, pass) WHERE a.v = 'A' AND b.v = 'B' AND a.pass = 1"
