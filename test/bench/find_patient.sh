#!/usr/bin/env bash
# test/bench/find_patient.sh: «is this patient already with us?» (issue 18): find_patient's recall@10
# and latency on test/bench/gen_clinic.py populations, with a name and a birth date, a name and a
# phone, and a name alone (then also how many namesakes find_patient_namesakes counts).
#
#   bash test/bench/find_patient.sh [persons] [queries] [mode]   (defaults 100000, 500, name-dense)
#
# mode is a gen_clinic.py --mode (default, name-dense).  GEN=path/to/gen_clinic.py uses another copy;
# CSV=file takes a file the generator wrote before (--persons N --seed 42 --mode MODE) instead.
# REPEATS=n times each probe kind over the same queries (default 1): p50/p95 are the medians of the
# repeats' (recall is the same in each).  BENCH_KEEP=1 keeps the database (BENCH_DB, cdp_bench_find).
# Loading bypasses ingest's per-record path (one set-based INSERT of cdp.normalize_attrs() rows, as
# test/bench/match_speed.sh does), then builds the matching keys (_match_refresh_keys); no linking, so
# every record is its own golden id.  The queries are held-out records of persons with two or more
# records: a query is found when any of the ten rows returned is a record of the same person.
# recall_reachable: over the queries where another record of the person carries the attr given
# beside the name (the same birth date, a shared phone); the others can only be found by name.
# recall_date_tolerant: where another record carries the birth date, or it with day and month
# exchanged or one digit off; recall_no_date: the other queries with a birth date (no record of the
# person carries a date near it: only the name can find them).  recall_rare: the queries whose full
# name (by cdp.name_key) is carried by at most 10 persons.  One query per person.
# REUSE=1 with a database BENCH_KEEP=1 kept runs the probes again without rebuilding it (the results
# of the earlier run are dropped); FIND_SQL=file is applied to the database before the probes (e.g.
# another definition of cdp.find_patient, to compare two versions on the same rows and queries).
# KINDS="name+birth_date" runs only those probe kinds (default: name+birth_date name+birth_date+ids
# name+phone name; name+birth_date+ids gives the date and the phone and SNILS the record carries).
# The oracle ceiling (session 26): whether ANY ranking that uses only what the probe carries could
# place a record of the person in the top 10.  A record s of another person is "at least as
# compatible" with the probe as a record t of the person when it is so on every attribute the probe
# gives: its name at least as similar (cdp.name_similarity of the full names, as find_patient
# compares them), its birth date in the same or a better class (exact > near: day and month
# exchanged or one digit off > absent > another date), with a phone given it shares one if t does,
# with a SNILS given its class is the same or better (equal > absent > another).  A probe is
# reachable when, for some record t of the person, fewer than 10 other persons have a record at
# least as compatible as t (ties count against: no ranking on these attributes can tell them apart).
# It is an upper bound per probe (the best t and the order that suits it may differ between
# probes), computed once per database, probe kind and query (table ceiling, kept on REUSE).
# recall_on_reachable is recall@10 over the reachable probes.  CEILING=0 skips it (the name kind's
# at 1M ran over 12 minutes, session 41): the ceiling table then lacks those probes.
# Needs the dev cluster (tmp_dev/env).  Hold /work/bench.lock at 100k and more.
set -euo pipefail
N=${1:-100000}
NQ=${2:-500}
MODE=${3:-name-dense}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
DB=${BENCH_DB:-cdp_bench_find}
REPEATS=${REPEATS:-1}
export PGDATABASE=$DB
if [ -n "${REUSE:-}" ] && psql -XqAt -d "$DB" -c "SELECT 1 FROM result LIMIT 0" >/dev/null 2>&1; then
	psql -XqAt -c "TRUNCATE result"
else
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
GEN=${GEN:-$CDP_SRC/test/bench/gen_clinic.py}
if [ -n "${CSV:-}" ]; then
	csv=$CSV
else
	csv=$(mktemp /tmp/find_patient.XXXXXX.csv)
	trap 'rm -f "$csv"' EXIT
	python3 "$GEN" --persons "$N" --seed 42 --mode "$MODE" --out "$csv" --quiet
fi
psql -XqAt -v ON_ERROR_STOP=1 -v nq="$NQ" <<SQL
CREATE EXTENSION cdp;
CREATE TABLE stage (source text, source_id text, person_id text, family_name text, given_name text, patronymic text,
  full_name text, birth_date text, sex text, phone text, email text, snils text, oms text, address text, city text, vk text, telegram text);
\copy stage FROM '$csv' WITH (FORMAT csv, HEADER true)
SQL
psql -XqAt -v ON_ERROR_STOP=1 -v nq="$NQ" <<'SQL'
CREATE TABLE truth AS SELECT row_number() OVER () AS k, * FROM stage;
-- the held-out queries: one record each of nq persons with two or more records and a birth date
-- (one record per person, so another record of the person always stays in the table)
CREATE TABLE query AS
SELECT row_number() OVER (ORDER BY hashint8(k)) AS qid, k, person_id, attrs
  FROM (SELECT DISTINCT ON (t.person_id) t.k, t.person_id,
               jsonb_strip_nulls(to_jsonb(t) - 'k' - 'source' - 'source_id' - 'person_id') AS attrs
          FROM truth t
         WHERE t.person_id IN (SELECT person_id FROM truth GROUP BY 1 HAVING count(*) >= 2)
           AND t.birth_date <> ''
         ORDER BY t.person_id, hashint8(t.k)) q
 ORDER BY hashint8(k) LIMIT :nq;
SELECT cdp.register_source(s) FROM (SELECT DISTINCT source s FROM stage) x;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT src.source_id, t.source_id, a, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}') || jsonb_build_object('person', t.person_id), md5(a::text)
  FROM truth t
  JOIN cdp.source src ON src.name = t.source
 CROSS JOIN LATERAL (SELECT jsonb_strip_nulls(to_jsonb(t) - 'k' - 'source' - 'source_id' - 'person_id') AS a) j
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(j.a, true)) n
 WHERE t.k NOT IN (SELECT k FROM query);
CREATE INDEX record_person ON cdp.record ((extra ->> 'person'));  -- the benchmark's own look-ups of the truth
ANALYZE cdp.record;
SELECT cdp_internal._match_refresh_suspicious(), cdp_internal._match_refresh_keys(NULL);
ANALYZE cdp_internal.match_block;
-- a query's attrs cut to what the desk has: the name (full_name, or the parts) and one more attr
-- how many persons carry each full name (by name key): a query is 'rare' when its name is shared
-- by at most 10 persons (issue 18 item 1)
CREATE TABLE fullname AS
SELECT cdp.name_key(concat_ws(' ', family_name, given_name, patronymic)) AS nk, count(DISTINCT extra ->> 'person') AS persons
  FROM cdp.record GROUP BY 1;
CREATE INDEX ON fullname (nk);
CREATE TABLE result (rep int, kind text, qid int, ms float8, hit boolean, nfound int, namesakes bigint, reachable boolean,
                     tolerant boolean, rare boolean);
SQL
fi  # REUSE
# the probes and the run (re-created on REUSE too, so a kept database gets new probe kinds)
psql -XqAt -v ON_ERROR_STOP=1 <<'SQL'
CREATE OR REPLACE FUNCTION probe(a jsonb, kind text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT (a - 'birth_date' - 'phone' - 'email' - 'snils' - 'oms' - 'address' - 'city' - 'vk' - 'telegram' - 'sex')
	    || CASE kind WHEN 'name+birth_date' THEN jsonb_build_object('birth_date', a -> 'birth_date')
	                 WHEN 'name+phone' THEN jsonb_strip_nulls(jsonb_build_object('phone', a -> 'phone'))
	                 -- everything the desk may have beside the name: the date, and the phone and SNILS
	                 -- when the query's record carries them (issue 18 item 2, session 24)
	                 WHEN 'name+birth_date+ids' THEN jsonb_strip_nulls(jsonb_build_object('birth_date', a -> 'birth_date',
	                                                  'phone', a -> 'phone', 'snils', a -> 'snils'))
	                 ELSE '{}' END $$;
CREATE OR REPLACE FUNCTION run(kind text, rep int DEFAULT 1) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record; rids bigint[]; t0 timestamptz; t1 timestamptz; p jsonb;
BEGIN
	FOR r IN SELECT * FROM query WHERE qid <= 20 LOOP PERFORM * FROM cdp.find_patient(probe(r.attrs, kind)); END LOOP;
	FOR r IN SELECT * FROM query ORDER BY qid LOOP
		p := probe(r.attrs, kind);
		CONTINUE WHEN kind = 'name+phone' AND NOT p ? 'phone';
		t0 := clock_timestamp();
		SELECT array_agg(f.record_id) INTO rids FROM cdp.find_patient(p, 10) f;
		t1 := clock_timestamp();
		INSERT INTO result SELECT rep, kind, r.qid, extract(epoch FROM t1 - t0) * 1000,
		       EXISTS (SELECT 1 FROM cdp.record c WHERE c.record_id = ANY (coalesce(rids, '{}')) AND c.extra ->> 'person' = r.person_id),
		       coalesce(cardinality(rids), 0),
		       CASE WHEN kind = 'name' THEN (SELECT persons FROM cdp.find_patient_namesakes(p)) END,
		       -- another record of the person carries the attr given (the birth date, the phone)
		       CASE kind WHEN 'name+birth_date+ids' THEN EXISTS (SELECT 1 FROM cdp.record c, LATERAL (SELECT cdp.normalize_attrs(p, true) AS n) x
		                                                       WHERE c.extra ->> 'person' = r.person_id
		                                                         AND (c.birth_date = (x.n ->> 'birth_date')::date
		                                                              OR c.phones::text[] && ARRAY(SELECT jsonb_array_elements_text(x.n -> 'phones'))
		                                                              OR c.snils::text = x.n ->> 'snils'))
		                 WHEN 'name+birth_date' THEN EXISTS (SELECT 1 FROM cdp.record c WHERE c.extra ->> 'person' = r.person_id
		                                                       AND c.birth_date = (cdp.normalize_attrs(p, true) ->> 'birth_date')::date)
		                 WHEN 'name+phone' THEN EXISTS (SELECT 1 FROM cdp.record c WHERE c.extra ->> 'person' = r.person_id
		                                                  AND c.phones::text[] && ARRAY(SELECT jsonb_array_elements_text(cdp.normalize_attrs(p, true) -> 'phones')))
		       END,
		       -- another record carries the birth date, or it with day and month exchanged or one digit off
		       CASE WHEN kind LIKE 'name+birth_date%' THEN EXISTS (SELECT 1 FROM cdp.record c WHERE c.extra ->> 'person' = r.person_id
		                     AND cdp.date_level(c.birth_date, (cdp.normalize_attrs(p, true) ->> 'birth_date')::date) IN ('exact', 'day_month_swapped', 'one_digit')) END,
		       coalesce((SELECT f.persons FROM fullname f, LATERAL (SELECT cdp.normalize_attrs(r.attrs, true) AS n) x
		                  WHERE f.nk = cdp.name_key(concat_ws(' ', x.n ->> 'family_name', x.n ->> 'given_name', x.n ->> 'patronymic'))), 0) <= 10;
	END LOOP;
END $$;
SQL
# the oracle ceiling's tables (built once; see the header): every record's person, name, date,
# phones and SNILS, the birth dates carried, and the ceiling of each (kind, query)
psql -XqAt -v ON_ERROR_STOP=1 <<'SQL'
DO $$BEGIN
	IF to_regclass('crec') IS NULL THEN
		CREATE TABLE crec AS
		SELECT r.record_id, r.extra ->> 'person' AS person, r.birth_date,
		       concat_ws(' ', r.family_name, r.given_name, r.patronymic) AS nm, r.phones::text[] AS phones, r.snils::text AS snils
		  FROM cdp.record r;
		CREATE INDEX ON crec (person);
		CREATE INDEX ON crec (birth_date);
		CREATE TABLE cdate AS SELECT DISTINCT birth_date AS d FROM crec WHERE birth_date IS NOT NULL;
		ANALYZE crec; ANALYZE cdate;
	END IF;
END$$;
CREATE TABLE IF NOT EXISTS ceiling (kind text, qid int, dominators int, PRIMARY KEY (kind, qid));
-- the fewest other persons (counted up to 10) having a record at least as compatible with probe p
-- as one of person's records
CREATE OR REPLACE FUNCTION oracle(p jsonb, who text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	pr cdp.record := cdp_internal._find_probe(p);
	pname text := concat_ws(' ', pr.family_name, pr.given_name, pr.patronymic);
	pph text[] := pr.phones::text[];
	psn text := pr.snils::text;
	near date[];
	best int := 10;
	t record;
	s record;
	seen text[];
	w text;
BEGIN
	IF pr.birth_date IS NOT NULL THEN
		near := ARRAY(SELECT c.d FROM cdate c WHERE cdp.date_level(c.d, pr.birth_date) IN ('exact', 'day_month_swapped', 'one_digit'));
	END IF;
	FOR t IN SELECT c.*, cdp.name_similarity(c.nm, pname) AS sim,
	                CASE WHEN pr.birth_date IS NULL THEN NULL WHEN c.birth_date IS NULL THEN 1 WHEN c.birth_date = pr.birth_date THEN 3
	                     WHEN c.birth_date = ANY (near) THEN 2 ELSE 0 END AS dcl,
	                COALESCE(c.phones && pph, false) AS ph,
	                CASE WHEN psn IS NULL THEN NULL WHEN c.snils IS NULL THEN 1 WHEN c.snils = psn THEN 2 ELSE 0 END AS scl
	           FROM crec c WHERE c.person = who ORDER BY dcl DESC NULLS LAST, sim DESC LOOP
		w := concat_ws(' AND ', CASE t.dcl WHEN 3 THEN format('c.birth_date = %L', pr.birth_date)
		                                   WHEN 2 THEN format('c.birth_date = ANY (%L::date[])', near)
		                                   WHEN 1 THEN format('(c.birth_date IS NULL OR c.birth_date = ANY (%L::date[]))', near) END,
		               CASE WHEN t.ph THEN format('c.phones && %L::text[]', pph) END,
		               CASE t.scl WHEN 2 THEN format('c.snils = %L', psn) WHEN 1 THEN format('(c.snils IS NULL OR c.snils = %L)', psn) END);
		seen := '{}';
		FOR s IN EXECUTE format('SELECT c.person FROM crec c WHERE c.person <> $1 AND %s AND cdp.name_similarity(c.nm, $2) >= $3',
		                        COALESCE(NULLIF(w, ''), 'true'))
		         USING who, pname, t.sim LOOP
			IF NOT s.person = ANY (seen) THEN
				seen := seen || s.person;
				EXIT WHEN cardinality(seen) >= best;
			END IF;
		END LOOP;
		best := least(best, cardinality(seen));
		EXIT WHEN best = 0;
	END LOOP;
	RETURN best;
END $$;
SQL
[ -z "${FIND_SQL:-}" ] || psql -XqAt -v ON_ERROR_STOP=1 -f "$FIND_SQL"
for rep in $(seq 1 "$REPEATS"); do
	for kind in ${KINDS:-name+birth_date name+birth_date+ids name+phone name}; do
		psql -XqAt -v ON_ERROR_STOP=1 -c "SELECT run('$kind', $rep)"
	done
done
# the ceiling of the probes not yet computed (once per database, kind and query)
[ "${CEILING:-1}" = 0 ] || psql -XqAt -v ON_ERROR_STOP=1 -c "INSERT INTO ceiling SELECT k.kind, q.qid, oracle(probe(q.attrs, k.kind), q.person_id)
  FROM (SELECT DISTINCT kind, qid FROM result) k JOIN query q USING (qid)
 WHERE NOT EXISTS (SELECT 1 FROM ceiling c WHERE c.kind = k.kind AND c.qid = k.qid)"
echo
echo "persons: $N ($MODE), records: $(psql -XqAt -c 'SELECT count(*) FROM cdp.record'), queries: $NQ, repeats: $REPEATS, $(date -u +%F)"
psql -X -P footer=off <<'SQL'
\pset border 2
SELECT kind, rep, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p95_ms
  FROM result GROUP BY kind, rep ORDER BY min(ctid);
WITH per AS (SELECT kind, rep, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95
               FROM result GROUP BY kind, rep),
     med AS (SELECT kind, percentile_cont(0.5) WITHIN GROUP (ORDER BY p50) AS p50, percentile_cont(0.5) WITHIN GROUP (ORDER BY p95) AS p95
               FROM per GROUP BY kind)
SELECT kind, count(*) AS queries,
       round(min(med.p50)::numeric, 2) AS p50_ms, round(min(med.p95)::numeric, 2) AS p95_ms,
       round(avg(hit::int), 3) AS recall_at_10,
       round(avg(hit::int) FILTER (WHERE reachable), 3) AS recall_reachable, count(*) FILTER (WHERE reachable) AS reachable,
       round(avg(hit::int) FILTER (WHERE tolerant), 3) AS recall_date_tolerant, count(*) FILTER (WHERE tolerant) AS date_tolerant,
       round(avg(hit::int) FILTER (WHERE NOT tolerant), 3) AS recall_no_date, count(*) FILTER (WHERE NOT tolerant) AS no_date,
       round(avg(hit::int) FILTER (WHERE rare), 3) AS recall_rare, count(*) FILTER (WHERE rare) AS rare,
       round(avg(nfound), 1) AS avg_found,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY namesakes) AS median_namesakes,
       max(namesakes) AS max_namesakes
  FROM result JOIN med USING (kind) WHERE rep = 1 GROUP BY kind ORDER BY min(result.ctid);
-- the oracle ceiling (see the header): the share of probes some ranking could find, the recall on
-- those, and the misses it calls reachable
SELECT r.kind, count(*) AS queries, round(avg(r.hit::int), 3) AS recall_at_10,
       round(avg((c.dominators < 10)::int), 3) AS ceiling, count(*) FILTER (WHERE c.dominators < 10) AS reachable,
       round(avg(r.hit::int) FILTER (WHERE c.dominators < 10), 3) AS recall_on_reachable,
       count(*) FILTER (WHERE c.dominators < 10 AND NOT r.hit) AS reachable_missed,
       count(*) FILTER (WHERE c.dominators >= 10 AND r.hit) AS found_beyond
  FROM result r JOIN ceiling c USING (kind, qid) WHERE r.rep = 1 GROUP BY r.kind ORDER BY min(r.ctid);
SQL
[ -n "${BENCH_KEEP:-}" ] || psql -XqAt -d postgres -c "DROP DATABASE $DB"
