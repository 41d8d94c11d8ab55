#!/usr/bin/env bash
# test/bench/name_lookup_profile.sh: perf profile of the slowest cdp name lookups of a kept
# test/bench/name_lookup.sh database (BENCH_KEEP=1).
#
#   bash test/bench/name_lookup_profile.sh [n_slowest] [passes]     (defaults 30 and 5)
#
# Takes the n slowest queries of the last cdp run in bench.result, runs them `passes` times in one
# backend while `perf record -g -p <backend>` samples it, and prints the top of `perf report`
# (children and self).  Run as root (perf) with the server's environment (eval "$(cat tmp_dev/env)").
#   BENCH_DB   the database (default cdp_bench_names)
#   OUT        where perf.data goes (default /tmp/name_lookup_profile.data)
set -euo pipefail
n=${1:-30}
passes=${2:-5}
db=${BENCH_DB:-cdp_bench_names}
out=${OUT:-/tmp/name_lookup_profile.data}
psql=(psql -X -q -v ON_ERROR_STOP=1 -d "$db")
cdp_sql='SELECT array_agg(id) FROM (SELECT id FROM people WHERE name OPERATOR(cdp.%) $1 ORDER BY name OPERATOR(cdp.<->) $1, id LIMIT 10) s'

"${psql[@]}" -c "DROP TABLE IF EXISTS bench.slow; CREATE TABLE bench.slow AS
  SELECT q.qid, q.q, r.ms FROM bench.result r JOIN bench.query q USING (qid)
   WHERE r.label = (SELECT label FROM bench.result WHERE label LIKE 'cdp%' ORDER BY ctid DESC LIMIT 1)
   ORDER BY r.ms DESC LIMIT $n"
"${psql[@]}" -c "SELECT qid, round(ms::numeric, 1) AS ms, q FROM bench.slow ORDER BY ms DESC LIMIT 10"
# the backend waits 2 s so perf can attach, then runs the queries
"${psql[@]}" -c "SET application_name = 'name_lookup_profile'" -c "SELECT pg_sleep(2)" -c "
DO \$\$DECLARE r record; ids bigint[]; t0 timestamptz := clock_timestamp(); BEGIN
  FOR i IN 1..$passes LOOP FOR r IN SELECT * FROM bench.slow LOOP
    EXECUTE \$q\$$cdp_sql\$q\$ INTO ids USING r.q;
  END LOOP; END LOOP;
  RAISE NOTICE 'profiled % queries in % ms', $passes * (SELECT count(*) FROM bench.slow),
    round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000);
END\$\$" &
bg=$!
sleep 1
pid=$(psql -X -At -d "$db" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'name_lookup_profile' LIMIT 1")
perf record -q -g -o "$out" -p "$pid" 2>/dev/null &
perfpid=$!
wait $bg
kill -INT $perfpid; wait $perfpid || true
perf report -i "$out" --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -v '^$' | grep -E '^ +[0-9]' | head -40
echo "--- with children"
perf report -i "$out" --children --percent-limit 3 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -40
