#!/usr/bin/env bash
# test/bench/name_lookup.sh: fuzzy name lookup, cdp.name_gin_ops versus pg_trgm's gin_trgm_ops.
#
#   bash test/bench/name_lookup.sh [rows] [queries]      (defaults 1000000 and 1000)
#
# Builds a throwaway database with `rows` generated people (Cyrillic and Latin spellings mixed,
# deterministic: test/bench/name_lookup/{names,gen}.sql) and `queries` corrupted names with a
# known true person (typos, the other script, the other gender's surname form, capitals, doubled
# letters, word order).  For each method it reports the median and p95 time of a top-10 query
#   SELECT id FROM people WHERE name % $1 ORDER BY name <-> $1 LIMIT 10
# (cdp's operators OPERATOR(cdp.%) / OPERATOR(cdp.<->) on cdp.name_gin_ops, pg_trgm's on
# gin_trgm_ops), recall@10 of the true person, and each index's build time and size.
# Each method is also timed on two-word queries (surname and given name only, as in a Latin
# passport; a hit is then any person with the true surname, sex and given name).
# Talks to the server in the environment (PGHOST, PGPORT, PGUSER; e.g. eval "$(cat tmp_dev/env)")
# and needs cdp, pg_trgm and pg_prewarm installed there.
#   CDP_THRESHOLDS="0.4 0.6"  extra cdp thresholds to try
#   BENCH_GIST=1              also pg_trgm's GiST index (gist_trgm_ops) with an index-ordered
#                             top-10 (ORDER BY name <-> $1 LIMIT 10, no % filter): what a GiST design gives
#   BENCH_KEEP=1              keep the database (cdp_bench_names, or BENCH_DB) afterwards
#   POPULATION=default|name-dense  people from test/bench/gen_clinic.py --mode POPULATION instead
#                             (test/bench/name_lookup/clinic.sql: about `rows` records of rows/2
#                             persons; a query is one record's name; kind 'rare' = full name shared
#                             by <= 10 persons).  The table keeps the queries' own records and each
#                             lookup returns 11 rows, so recall@10 is given under three protocols
#                             from the same executions: 'held out' (the query's record taken out
#                             of the ten; another record of the person found), 'as written' (issue
#                             18's words: the first ten, any record of the person, its own
#                             included) and 'strict' (the first ten, the own record not counting).  GEN=path/to/gen_clinic.py to use another copy; CSV=file
#                             takes a file the generator wrote before (--persons rows/2 --seed 42).
#   CDP_ONLY=1                leave pg_trgm out (its GIN build and its lookups: minutes at 1M)
#   REPEATS=n                 times cdp's lookup over the same queries (default 1); the summary
#                             gives the median of the repeats' p50 and p95
#   PHASE=gin|gist            split a long run in two (each under its own hold of the bench lock):
#                             gin = everything but GiST, keeping the database; gist = only the GiST
#                             build and run on the database gin kept, then the summary of both
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-1000000}
nq=${2:-1000}
db=${BENCH_DB:-cdp_bench_names}
thresholds=${CDP_THRESHOLDS:-}
psql=(psql -X -q -v ON_ERROR_STOP=1 -d "$db")

# a clinic population's lookups return 11 rows (the query's own record may be one: see clinic.sql)
lim=10; [ -n "${POPULATION:-}" ] && lim=11
cdp_sql="SELECT array_agg(id) FROM (SELECT id FROM people WHERE name OPERATOR(cdp.%) \$1 ORDER BY name OPERATOR(cdp.<->) \$1, id LIMIT $lim) s"
trgm_sql="SELECT array_agg(id) FROM (SELECT id FROM people WHERE name OPERATOR(public.%) \$1 ORDER BY name OPERATOR(public.<->) \$1, id LIMIT $lim) s"
gist_sql="SELECT array_agg(id) FROM (SELECT id FROM people ORDER BY name OPERATOR(public.<->) \$1 LIMIT $lim) s"
phase=${PHASE:-all}
repeats=${REPEATS:-1}
[ "$phase" = gin ] && BENCH_KEEP=1
if [ "$phase" != gist ]; then
dropdb --if-exists "$db" >/dev/null
createdb -E UTF8 -T template0 "$db"
"${psql[@]}" -c 'CREATE EXTENSION cdp; CREATE EXTENSION pg_trgm; CREATE EXTENSION pg_prewarm; CREATE SCHEMA bench'
"${psql[@]}" -f "$here/name_lookup/names.sql"
t0=$(date +%s)
if [ -n "${POPULATION:-}" ]; then
	if [ -n "${CSV:-}" ]; then
		csv=$CSV
	else
		csv=$(mktemp /tmp/name_lookup.XXXXXX.csv)
		trap 'rm -f "$csv"' EXIT
		python3 "${GEN:-$here/gen_clinic.py}" --persons $(( n / 2 )) --seed 42 --mode "$POPULATION" --out "$csv" --quiet
		chmod a+r "$csv"
	fi
	"${psql[@]}" -v csv="$csv" -v nq="$nq" -f "$here/name_lookup/clinic.sql"
else
	"${psql[@]}" -v n="$n" -v nq="$nq" -f "$here/name_lookup/gen.sql"
fi
"${psql[@]}" -f "$here/name_lookup/measure.sql"
echo "generated $n people and $nq queries in $(( $(date +%s) - t0 )) s" >&2


"${psql[@]}" <<SQL
SET maintenance_work_mem = '256MB';
CREATE TABLE bench.build (method text, build_ms numeric, bytes bigint);
INSERT INTO bench.build
SELECT 'cdp name_gin_ops', bench.timed('CREATE INDEX people_name_cdp ON people USING gin (name cdp.name_gin_ops)'), 0;
UPDATE bench.build SET bytes = pg_relation_size('people_name_cdp') WHERE method = 'cdp name_gin_ops';
VACUUM ANALYZE people;
SQL
[ -n "${CDP_ONLY:-}" ] || "${psql[@]}" <<SQL
SET maintenance_work_mem = '256MB';
INSERT INTO bench.build
SELECT 'pg_trgm gin_trgm_ops', bench.timed('CREATE INDEX people_name_trgm ON people USING gin (name public.gin_trgm_ops)'), 0;
UPDATE bench.build SET bytes = pg_relation_size('people_name_trgm') WHERE method = 'pg_trgm gin_trgm_ops';
VACUUM ANALYZE people;
SQL
# every method starts from a warm cache
"${psql[@]}" -Atc "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.relname LIKE 'people%' AND c.relkind IN ('r', 'i')" >/dev/null

# the plans, so a reader can see both lookups use their index
ex="'Ivanova Mariia Petrovna'"
"${psql[@]}" -c "EXPLAIN (COSTS OFF) ${cdp_sql//\$1/$ex}" \
             -c "EXPLAIN (COSTS OFF) ${trgm_sql//\$1/$ex}" >&2

# the two-word pass belongs to gen.sql's queries (passport names); a clinic population's queries
# are whole records' names
shorts="false true"; [ -n "${POPULATION:-}" ] && shorts=false
for short in $shorts; do
	words=$([ $short = true ] && echo ", 2 words" || echo "")
	for rep in $(seq 1 "$repeats"); do
		r=$([ "$rep" = 1 ] && echo "" || echo " #$rep")
		"${psql[@]}" -c "SELECT cdp.library_version()" -o /dev/null -c "SELECT bench.run('cdp name_gin_ops (threshold ' || current_setting('cdp.name_similarity_threshold') || '$words)$r', \$q\$$cdp_sql\$q\$, $short)"
	done
	for t in $thresholds; do
		"${psql[@]}" -c "SET cdp.name_similarity_threshold = $t" \
			-c "SELECT bench.run('cdp name_gin_ops (threshold $t$words)', \$q\$$cdp_sql\$q\$, $short)"
	done
	[ -n "${CDP_ONLY:-}" ] || "${psql[@]}" -c "SELECT bench.run('pg_trgm gin_trgm_ops (threshold ' || public.show_limit() || '$words)', \$q\$$trgm_sql\$q\$, $short)"
done
fi  # phase != gist
# GiST last, so it cannot stand in for the GIN index in the runs above
if [ -n "${BENCH_GIST:-}" ] && [ "$phase" != gin ]; then
	shorts="false true"; [ -n "${POPULATION:-}" ] && shorts=false
	"${psql[@]}" <<'SQL'
SET maintenance_work_mem = '256MB';
INSERT INTO bench.build
SELECT 'pg_trgm gist_trgm_ops', bench.timed('CREATE INDEX people_name_trgm_gist ON people USING gist (name public.gist_trgm_ops)'), 0;
UPDATE bench.build SET bytes = pg_relation_size('people_name_trgm_gist') WHERE method = 'pg_trgm gist_trgm_ops';
SQL
	"${psql[@]}" -Atc "SELECT pg_prewarm('people_name_trgm_gist')" >/dev/null
	for short in $shorts; do
		words=$([ $short = true ] && echo ", 2 words" || echo "")
		"${psql[@]}" -c "SET enable_bitmapscan = off" -c "SELECT bench.run('pg_trgm gist_trgm_ops (KNN$words)', \$q\$$gist_sql\$q\$, $short)"
	done
fi

[ "$phase" = gin ] && { echo "phase gin done; the database $db is kept for PHASE=gist" >&2; exit 0; }
echo
echo "rows: $n${POPULATION:+ (gen_clinic.py --mode $POPULATION)}, queries: $nq, PostgreSQL $("${psql[@]}" -Atc 'SHOW server_version'), $(date -u +%F)"
echo
"${psql[@]}" -P footer=off <<'SQL'
\pset format aligned
\pset border 2
SELECT label AS method,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS median_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p95_ms,
       round(avg(hit::int), 3) AS recall_at_10,
       round(avg(nfound), 1) AS avg_found
  FROM bench.result GROUP BY label ORDER BY min(ctid);
SELECT label AS method, kind, round(avg(hit::int), 3) AS recall_at_10, count(*) AS queries
  FROM bench.result WHERE label NOT LIKE '% #%' GROUP BY label, kind ORDER BY label, kind;
-- the repeats of cdp's lookup (REPEATS): the median of their p50 and p95
SELECT regexp_replace(label, ' #[0-9]+$', '') AS method, count(DISTINCT label) AS repeats,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p50)::numeric, 2) AS median_p50_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p95)::numeric, 2) AS median_p95_ms
  FROM (SELECT label, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95
          FROM bench.result GROUP BY label) s
 GROUP BY 1 ORDER BY 1;
SELECT method, build_ms, pg_size_pretty(bytes) AS size, bytes FROM bench.build;
-- a clinic population: recall@10 under the three protocols of clinic.sql, same executions
SELECT label AS method, count(*) AS queries,
       round(avg(hit::int), 3) AS held_out, round(avg(issue::int), 3) AS as_written,
       round(avg(issue_strict::int), 3) AS strict,
       round(avg(hit::int) FILTER (WHERE kind = 'rare'), 3) AS held_out_rare,
       round(avg(issue::int) FILTER (WHERE kind = 'rare'), 3) AS as_written_rare,
       round(avg(hit::int) FILTER (WHERE kind = 'common'), 3) AS held_out_common,
       round(avg(issue::int) FILTER (WHERE kind = 'common'), 3) AS as_written_common
  FROM bench.result WHERE issue IS NOT NULL AND label NOT LIKE '% #%' GROUP BY label ORDER BY min(ctid);
SQL
[ -n "${BENCH_KEEP:-}" ] || dropdb "$db"
