#!/usr/bin/env bash
# test/bench/name_lookup_estimator.sh: the plan of the top-10 name lookup under PostgreSQL's
# matchingsel versus cdp's restriction estimator of % (cdp_internal.name_similar_sel, issue 18),
# on a database test/bench/name_lookup.sh kept (BENCH_KEEP=1), in one session of runs:
#
#   BENCH_KEEP=1 POPULATION=name-dense bash test/bench/name_lookup.sh 200000 300
#   bash test/bench/name_lookup_estimator.sh [database] [rounds]   (defaults cdp_bench_names, 3)
#
# For each estimator: the plan shapes the 300 queries get, the estimated rows of the index scan
# against the rows % really finds, then `rounds` alternating timed passes (bench.run) whose p50
# and p95 are reported as medians over the rounds.  Leaves the operator on cdp's estimator.
# Takes a minute at 200k and several at 1M: hold the bench lock.
set -euo pipefail
db=${1:-cdp_bench_names}
rounds=${2:-3}
psql=(psql -X -q -v ON_ERROR_STOP=1 -d "$db")
cdp_sql='SELECT array_agg(id) FROM (SELECT id FROM people WHERE name OPERATOR(cdp.%) $1 ORDER BY name OPERATOR(cdp.<->) $1, id LIMIT 10) s'
set_est() { "${psql[@]}" -c "ALTER OPERATOR cdp.% (text, text) SET (RESTRICT = $1)"; }

"${psql[@]}" <<'SQL'
CREATE OR REPLACE FUNCTION bench.plan_est(q text, OUT est float8, OUT nodes text)
	LANGUAGE plpgsql AS $$
DECLARE j jsonb;
BEGIN
	EXECUTE format('EXPLAIN (FORMAT JSON) SELECT id FROM people WHERE name OPERATOR(cdp.%%) %L ORDER BY name OPERATOR(cdp.<->) %L, id LIMIT 10', q, q) INTO j;
	est := (SELECT max(v::text::float8) FROM jsonb_path_query(j, 'strict $.**.Plans[*] ? (@."Node Type" == "Bitmap Index Scan" || @."Node Type" == "Seq Scan")."Plan Rows"') v);
	nodes := (SELECT string_agg(v #>> '{}', ' > ') FROM jsonb_path_query(j, 'strict $.**."Node Type"') v);
END $$;
DROP TABLE IF EXISTS bench.est_plan, bench.est_actual;
CREATE TABLE bench.est_plan (estimator text, qid int, est float8, nodes text);
CREATE TABLE bench.est_actual AS
SELECT qid, (SELECT count(*) FROM people WHERE name OPERATOR(cdp.%) q) AS n FROM bench.query;
DELETE FROM bench.result WHERE label LIKE 'estimator %';
SQL
for e in pg_catalog.matchingsel cdp_internal.name_similar_sel; do
	set_est "$e"
	"${psql[@]}" -c "INSERT INTO bench.est_plan SELECT '$e', qid, (bench.plan_est(q)).* FROM bench.query"
done
for r in $(seq 1 "$rounds"); do
	for e in pg_catalog.matchingsel cdp_internal.name_similar_sel; do
		set_est "$e"
		"${psql[@]}" -c "SELECT bench.run('estimator $e #$r', \$q\$$cdp_sql\$q\$, false)"
	done
done
"${psql[@]}" -P footer=off <<'SQL'
\pset format aligned
\pset border 2
SELECT estimator, nodes, count(*) AS queries FROM bench.est_plan GROUP BY 1, 2 ORDER BY 1, 2;
SELECT p.estimator, a.kind,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY p.est) AS est_p50, max(p.est) AS est_max,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY n.n) AS actual_p50, max(n.n) AS actual_max,
       round(exp(avg(ln(greatest(p.est, 1) / greatest(n.n, 1))))::numeric, 2) AS geomean_est_over_actual
  FROM bench.est_plan p JOIN bench.est_actual n USING (qid) JOIN bench.query a USING (qid)
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT regexp_replace(label, ' #[0-9]+$', '') AS estimator, count(DISTINCT label) AS rounds,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p50)::numeric, 2) AS median_p50_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p95)::numeric, 2) AS median_p95_ms,
       round(avg(recall)::numeric, 3) AS recall_at_10
  FROM (SELECT label, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95, avg(hit::int) AS recall
          FROM bench.result WHERE label LIKE 'estimator %' GROUP BY label) s
 GROUP BY 1 ORDER BY 1;
SQL
