#!/usr/bin/env bash
# test/bench/name_lookup_ab.sh: two builds of the cdp library on one kept name_lookup.sh database,
# alternated: the top-10 lookup's p50 / p95 and recall@10 (three protocols of clinic.sql) per pass,
# the whole answer of % compared between the two, and the backend CPU of one backend running all
# the queries (/proc/<pid>/stat; comparable when the machine is loaded, unlike wall times).
#
#   bash test/bench/name_lookup_ab.sh A.so B.so [passes]        (default 3 passes)
#
# Needs a database kept by BENCH_KEEP=1 POPULATION=... test/bench/name_lookup.sh (BENCH_DB,
# default cdp_bench_names), the dev cluster's environment (eval "$(cat tmp_dev/env)"), and write
# access to the server's pkglibdir: each pass copies the library there, and new backends load it
# (cdp is not preloaded).  B.so is left installed.  Run as the cluster's owner, under
# /work/bench.lock at 1M.  The labels are 'A #n' and 'B #n' in bench.result.
#   NANS   queries whose whole % answer is compared (default 150)
set -euo pipefail
. "$(dirname "$0")/backend_cpu.sh"
a=$1
b=$2
passes=${3:-3}
db=${BENCH_DB:-cdp_bench_names}
lib=$(pg_config --pkglibdir)/cdp.so
psql=(psql -X -q -v ON_ERROR_STOP=1 -d "$db")
sql='SELECT array_agg(id) FROM (SELECT id FROM people WHERE name OPERATOR(cdp.%) $1 ORDER BY name OPERATOR(cdp.<->) $1, id LIMIT 11) s'
"${psql[@]}" -c "DELETE FROM bench.result WHERE label ~ '^[AB] #'" \
	-c "CREATE TABLE IF NOT EXISTS bench.ans (v text, qid int, ids bigint[])" -c "TRUNCATE bench.ans"
"${psql[@]}" -Atc "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.relname LIKE 'people%' AND c.relkind IN ('r', 'i')" >/dev/null

for i in $(seq 1 "$passes"); do
	for v in A B; do
		if [ $v = A ]; then put_lib "$a"; else put_lib "$b"; fi
		"${psql[@]}" -c "SELECT bench.run('$v #$i', \$q\$$sql\$q\$)" -o /dev/null
		backend_cpu "$v #$i" "$db" "DO \$\$DECLARE r record; ids bigint[]; BEGIN FOR r IN SELECT q FROM bench.query ORDER BY qid LOOP EXECUTE \$q\$$sql\$q\$ INTO ids USING r.q; END LOOP; END\$\$; SELECT 'done';"
	done
done
for v in A B; do
	if [ $v = A ]; then put_lib "$a"; else put_lib "$b"; fi
	"${psql[@]}" -c "INSERT INTO bench.ans SELECT '$v', q.qid, ARRAY(SELECT id FROM people WHERE name OPERATOR(cdp.%) q.q ORDER BY id)
	                   FROM bench.query q WHERE q.qid <= ${NANS:-150}"
done
"${psql[@]}" -P footer=off -c "SELECT count(*) AS queries, count(*) FILTER (WHERE a.ids = b.ids) AS same_answer, sum(cardinality(a.ids)) AS rows
                                  FROM bench.ans a JOIN bench.ans b USING (qid) WHERE a.v = 'A' AND b.v = 'B'" -c "
SELECT label, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p95_ms,
       round(avg(hit::int), 3) AS held_out, round(avg(issue::int), 3) AS as_written, round(avg(issue_strict::int), 3) AS strict,
       round(avg(hit::int) FILTER (WHERE kind = 'rare'), 3) AS held_out_rare, round(avg(issue::int) FILTER (WHERE kind = 'rare'), 3) AS as_written_rare
  FROM bench.result WHERE label ~ '^[AB] #' GROUP BY label ORDER BY min(ctid)"
