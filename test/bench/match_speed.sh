#!/usr/bin/env bash
# test/bench/match_speed.sh: speed of the matching layer (issue 6) on generated clinic records.
#   test/bench/match_speed.sh [N]      N records (default 100000), against the dev cluster
#   LINK=0 test/bench/match_speed.sh N  skip the steps that link (run_matching): kernel figures only
#   CANDIDATES=0 ...                    skip blocking_report and candidate_pairs (minutes at 1M)
#   MODE=name-dense ...                 gen_clinic.py --mode (default, name-dense, sparse; issue 12)
#   FILE=path.csv ...                   load this gen_clinic.py file instead of generating one
#   REUSE=1 ...                         keep the database of the last run (no drop, no load): a 1M
#                                       population can be loaded in one lock hold and matched in the next
#   ANALYZE=1 ...                       ANALYZE cdp.record after the load (default: not, as after a bulk
#                                       load where nobody ran it; matching must not depend on it)
#   AGAIN=0 ...                         no second full run on unchanged data
#   TRAIN=0 ...                         skip the separate features/train/kernel steps (the run keys itself)
# Loads about N records of test/bench/gen_clinic.py (GEN=path/to/gen_clinic.py to use another
# copy; without it a small SQL generator), trains, runs a full match, a second full run on
# unchanged data, candidate_pairs, and match_record on 200 records; prints candidate pairs,
# pairs/s, pairwise precision/recall against the truth and the time of each step.
# Loading bypasses ingest's per-record path: one set-based INSERT of cdp.normalize_attrs() rows
# into cdp.record (no events, no queue), because only matching is measured here.
# Figures go to doc/benchmarks-match.md.  The whole-walk steps use parallel workers when the trained
# blocking gives >= 10 candidate pairs per record (cdp_internal._match_nparts); PARALLEL_AB=1 also times the
# kernel with a looser blocking (birth year + given initial, ~20 pairs per record) at 0, 1 and 2
# workers, and with the bounded scorer against full scoring (min_prob -1), in the same run.
set -euo pipefail
N=${1:-100000}
CDP_SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- bash "$0" "$@"; fi
eval "$(cat "$CDP_SRC/tmp_dev/env")"
DB=${DB:-cdp_bench_match}
export PGDATABASE=$DB
q() { psql -XqAt -v ON_ERROR_STOP=1 -c "$1"; }
t() { local s e; s=$(date +%s.%N); q "$2" >/tmp/match_speed.$$ ; e=$(date +%s.%N); printf '%-28s %8.2f s  %s\n' "$1" "$(echo "$e - $s" | bc)" "$(head -c 600 /tmp/match_speed.$$)"; }
GEN=${GEN:-$CDP_SRC/test/bench/gen_clinic.py}
if [ "${REUSE:-0}" = 1 ]; then
	echo "reusing database $DB"
elif [ -f "$GEN" ] || [ -n "${FILE:-}" ]; then
	psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	q "CREATE EXTENSION cdp"
	if [ -n "${FILE:-}" ]; then
		csv=$FILE
	else
		csv=$(mktemp /tmp/match_speed.XXXXXX.csv)
		python3 "$GEN" --mode "${MODE:-default}" --persons $((N * 10 / 24)) --seed 42 --out "$csv" >/dev/null
	fi
	q "CREATE TABLE stage (source text, source_id text, person_id text, family_name text, given_name text, patronymic text,
  full_name text, birth_date text, sex text, phone text, email text, snils text, oms text, address text, city text, vk text, telegram text)"
	psql -XqAt -v ON_ERROR_STOP=1 -c "\\copy stage FROM '$csv' WITH (FORMAT csv, HEADER true)"
	psql -XqAt -v ON_ERROR_STOP=1 <<'SQL'
SELECT cdp.register_source(s) FROM (SELECT DISTINCT source s FROM stage) x;
\timing on
CREATE TABLE truth AS SELECT row_number() OVER () AS k, * FROM stage;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT src.source_id, t.source_id, a, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}') || jsonb_build_object('person', t.person_id), md5(a::text)
  FROM truth t
  JOIN cdp.source src ON src.name = t.source
 CROSS JOIN LATERAL (SELECT jsonb_strip_nulls(to_jsonb(t) - 'k' - 'source' - 'source_id' - 'person_id') AS a) j
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(j.a, true)) n;
SQL
	[ -n "${FILE:-}" ] || rm -f "$csv"
else
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q "CREATE EXTENSION cdp"
psql -XqAt -v ON_ERROR_STOP=1 -v n="$N" <<'SQL'
-- a deterministic population: persons with 1-3 records each, with typos, day/month swaps,
-- missing values, common and rare surnames, shared family phones
SELECT setseed(0.42);
CREATE TEMP TABLE fam(i int, f text, sexed boolean);
INSERT INTO fam SELECT row_number() OVER (), f, true FROM unnest('{Иванов,Смирнов,Кузнецов,Попов,Васильев,Петров,Соколов,Михайлов,Новиков,Федоров,Морозов,Волков,Алексеев,Лебедев,Семенов,Егоров,Павлов,Козлов,Степанов,Николаев,Орлов,Андреев,Макаров,Никитин,Захаров,Зайцев,Соловьев,Борисов,Яковлев,Григорьев,Романов,Воробьев,Сергеев,Кузьмин,Фролов,Александров,Дмитриев,Королев,Гусев,Киселев,Ильин,Максимов,Поляков,Сорокин,Виноградов,Ковалев,Белов,Медведев,Антонов,Тарасов,Жуков,Баранов,Филиппов,Комаров,Давыдов,Беляев,Герасимов,Богданов,Осипов,Сидоров,Матвеев,Титов,Марков,Миронов,Крылов,Куликов,Карпов,Власов,Мельников,Денисов,Гаврилов,Тихонов,Казаков,Афанасьев,Данилов,Савельев,Тимофеев,Фомин,Чернов,Абрамов,Мартынов,Ефимов,Федотов,Щербаков,Назаров,Калинин,Исаев,Чернышев,Быков,Маслов,Родионов,Коновалов,Лазарев,Воронин,Климов,Филатов,Пономарев,Голубев,Кудрявцев,Прохоров}'::text[]) f;
CREATE TEMP TABLE gm(i int, g text); INSERT INTO gm SELECT row_number() OVER (), g FROM unnest('{Александр,Сергей,Дмитрий,Андрей,Алексей,Максим,Евгений,Иван,Михаил,Артем,Николай,Владимир,Павел,Роман,Олег,Денис,Игорь,Константин,Виктор,Юрий}'::text[]) g;
CREATE TEMP TABLE gf(i int, g text); INSERT INTO gf SELECT row_number() OVER (), g FROM unnest('{Елена,Ольга,Наталья,Анна,Мария,Ирина,Татьяна,Светлана,Екатерина,Юлия,Анастасия,Марина,Дарья,Людмила,Галина,Надежда,Валентина,Ксения,Вера,Алина}'::text[]) g;
CREATE TEMP TABLE pm(i int, p text); INSERT INTO pm SELECT row_number() OVER (), p FROM unnest('{Александров,Сергеев,Дмитриев,Андреев,Алексеев,Николаев,Владимиров,Викторов,Иванов,Михайлов,Петров,Юрьев,Павлов,Борисов,Олегов}'::text[]) p;
CREATE TEMP TABLE person AS
SELECT p, (random() < 0.5) AS male,
       1 + floor(100 * power(random(), 2.5))::int AS fi,
       1 + floor(20 * random())::int AS gi, 1 + floor(15 * random())::int AS pi,
       date '1940-01-01' + floor(random() * 25000)::int AS dob,
       '79' || lpad(floor(random() * 1e9)::bigint::text, 9, '0') AS phone,
       'u' || p || '@mail.ru' AS email,
       1 + floor(random() * 2.2)::int AS nrec
  FROM generate_series(1, (:n / 2)::int) p;
CREATE TEMP TABLE gen AS
SELECT row_number() OVER () AS k, x.*
  FROM (SELECT pr.p,
        jsonb_strip_nulls(jsonb_build_object(
          'family_name', CASE WHEN random() < 0.08 THEN overlay(nm.f placing 'о' from 2 + floor(random() * (length(nm.f) - 2))::int for 1) ELSE nm.f END,
          'given_name', CASE WHEN random() + r * 0 < 0.05 THEN left(nm.g, 1) ELSE nm.g END,
          'patronymic', CASE WHEN random() < 0.3 THEN NULL ELSE nm.pn END,
          'birth_date', CASE WHEN random() < 0.04 AND extract(day FROM pr.dob) <= 12 THEN to_char(pr.dob, 'YYYY-DD-MM') ELSE to_char(pr.dob, 'YYYY-MM-DD') END,
          'sex', CASE WHEN pr.male THEN 'M' ELSE 'F' END,
          'phone', CASE WHEN random() < 0.25 THEN NULL ELSE '+' || pr.phone END,
          'email', CASE WHEN random() < 0.6 THEN NULL ELSE pr.email END,
          'person', pr.p::text)) AS attrs
        FROM person pr
        JOIN fam ON fam.i = pr.fi JOIN gm ON gm.i = pr.gi JOIN gf ON gf.i = pr.gi JOIN pm ON pm.i = pr.pi
        CROSS JOIN LATERAL generate_series(1, pr.nrec) r(r)
        CROSS JOIN LATERAL (SELECT CASE WHEN pr.male THEN fam.f ELSE fam.f || 'а' END AS f,
                                   CASE WHEN pr.male THEN gm.g ELSE gf.g END AS g,
                                   pm.p || CASE WHEN pr.male THEN 'ич' ELSE 'на' END AS pn) nm
        ORDER BY random()) x;
\timing on
SELECT cdp.register_source('src' || i) FROM generate_series(0, 2) i;
SELECT count(cdp.upsert_record('src' || (k % 3), k::text, attrs)) AS loaded FROM gen;
SQL
fi
echo "records: $(q 'SELECT count(*) FROM cdp.record')  persons: $(q "SELECT count(DISTINCT extra->>'person') FROM cdp.record")"
[ "${ANALYZE:-0}" = 1 ] && q "ANALYZE cdp.record"
[ "${CANDIDATES:-1}" = 1 ] && t "blocking_report" "SELECT string_agg(pairs || '/' || new_pairs, ' ') FROM cdp.blocking_report()"
# the features of every record (C builder when the settings compile for it), then training, which
# reuses them (its keys_s is then only the suspicious-value check)
if [ "${TRAIN:-1}" = 1 ]; then
t "features (refresh_keys)" "SELECT cdp_internal._match_refresh_suspicious(), cdp_internal._match_refresh_keys(NULL)"
fi
t "train_matching" "SELECT cdp.train_matching(1000000, 20) - 'm' - 'u' - 'per_rule'"
# the kernel alone: load features, walk every block, score every candidate pair, keep those over
# the review threshold (what run_matching('full') does before it links)
[ "${TRAIN:-1}" = 1 ] && t "block+score (kernel)" "SELECT count(*) || ' pairs over the review threshold of ' || (SELECT (params ->> 'blocked_pairs') FROM cdp_internal.match_settings WHERE active) || ' candidates' FROM cdp_internal._match_pairs(NULL, 0.8)"
[ "${CANDIDATES:-1}" = 1 ] && t "candidate_pairs" "SELECT count(*) FROM cdp.candidate_pairs()"
[ "${CANDIDATES:-1}" = 1 ] && t "blocking_report (stored)" "SELECT string_agg(pairs || '/' || new_pairs, ' ') FROM cdp.blocking_report()"
if [ "${LINK:-1}" = 1 ]; then
t "run_matching full" "SELECT cdp.run_matching('full')"
[ "${AGAIN:-1}" = 1 ] && t "run_matching full again" "SELECT cdp.run_matching('full')"
fi
if [ "${PARALLEL_AB:-0}" = 1 ]; then
	v0=$(q "SELECT version FROM cdp_internal.match_settings WHERE active")
	q "SELECT cdp.configure_matching(jsonb_set(cdp_internal._match_default_settings(), '{blocking}', '[[\"birth_date.year\", \"given_name.initial\"]]'))" >/dev/null
	t "loose: train" "SELECT (cdp.train_matching(1000000, 20) ->> 'blocked_pairs') || ' candidate pairs'"
	for rep in 1 2; do
		for w in 0 1 2; do
			t "loose: kernel, $w workers" "SET max_parallel_workers_per_gather = $w; SELECT count(*) FROM cdp_internal._match_pairs(NULL, 0.8)"
		done
		t "loose: full scoring, serial" "SELECT sum(n) || ' pairs scored in full (patterns mode)' FROM cdp_internal._match_walk('patterns', cdp_internal._match_query(NULL), (cdp_internal._match_active()).program, (cdp_internal._match_active()).version, 0, 5000, 0, NULL)"
	done
	q "UPDATE cdp_internal.match_settings SET active = false WHERE active; UPDATE cdp_internal.match_settings SET active = true WHERE version = $v0; SELECT cdp_internal._match_refresh_keys(NULL)" >/dev/null
fi
# accuracy against the generator's truth (pairwise, over the links made)
t "pairwise precision/recall" "WITH r AS (SELECT record_id rid, golden_id g, extra->>'person' p FROM cdp.record),
  tp AS (SELECT count(*) n FROM r a JOIN r b ON a.g = b.g AND a.p = b.p AND a.rid < b.rid),
  pp AS (SELECT sum(c * (c - 1) / 2) n FROM (SELECT count(*) c FROM r GROUP BY g) x),
  ap AS (SELECT sum(c * (c - 1) / 2) n FROM (SELECT count(*) c FROM r GROUP BY p) x)
  SELECT 'precision ' || round(tp.n / nullif(pp.n, 0), 4) || ' recall ' || round(tp.n / nullif(ap.n, 0), 4) FROM tp, pp, ap"
# match_record latency: 200 records, p50/p95 in ms
psql -XqAt -v ON_ERROR_STOP=1 <<'SQL'
CREATE TEMP TABLE lat(ms float8);
DO $$ DECLARE r bigint; t0 timestamptz; BEGIN
  FOR r IN SELECT record_id FROM cdp.record ORDER BY hashint8(record_id) LIMIT 200 LOOP
    t0 := clock_timestamp(); PERFORM * FROM cdp.match_record(r);
    INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP; END $$;
SELECT 'match_record ms p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
    || ' p95 ' || round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM lat;
SQL
# find_patient latency: the stored attrs of 200 records as the query, p50/p95 in ms
psql -XqAt -v ON_ERROR_STOP=1 <<'SQL'
CREATE TEMP TABLE lat(ms float8);
DO $$ DECLARE a jsonb; t0 timestamptz; BEGIN
  FOR a IN SELECT raw FROM cdp.record ORDER BY hashint8(record_id + 1) LIMIT 200 LOOP
    t0 := clock_timestamp(); PERFORM * FROM cdp.find_patient(a, 10);
    INSERT INTO lat VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP; END $$;
SELECT 'find_patient ms p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
    || ' p95 ' || round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM lat;
SQL
