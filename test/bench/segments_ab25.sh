#!/usr/bin/env bash
# test/bench/segments_ab25.sh: a git ref's (default main) segment evaluation against this
# worktree's, alternated on one generated clinic (doc/benchmarks.md, "Consent and segments",
# Session 25).  Every function of the consent, offer and segment parts (80, 81, 82, 83, 84, 97) is
# loaded in turn by CREATE OR REPLACE, the ref's with this branch's partial index
# record_pregnant_idx dropped, this worktree's with it created.
#   test/bench/segments_ab25.sh DB preview [ref]   three passes; per pass and side: one warm-up, one timed
#       10-clause preview (segments_bench.sql's rule and offer, SMS), the 20 variants of
#       segments_bench.sql step 3; wall and backend CPU (/proc/self/stat: parallel workers not
#       counted); the previews' results compared between the sides
#   test/bench/segments_ab25.sh DB refresh [ref]   three passes; per pass and side: two new segments of
#       that rule, a full refresh of one, 1% of the patients changed through the API (a new seed
#       each time, so no side reads pages the other's changes warmed), an incremental refresh, a
#       full refresh of the twin, the members of both compared
# PG* from the environment.  Heavy at 1M: flock /work/bench.lock test/bench/segments_ab25.sh ...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=$1
what=$2
ref=${3:-main}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
defs() {	# defs REF|WORKTREE: every function of the parts as CREATE OR REPLACE
	for f in 80_consent.sql 81_offer.sql 82_segment_rules.sql 83_segment_eval.sql 84_segment.sql 97_seg_access.sql; do
		if [ "$1" = WORKTREE ]; then cat "$here/../../sql/parts/$f"; else git -C "$here" show "$1:sql/parts/$f"; fi |
		awk '/^CREATE FUNCTION/ {p=1} p {print} p && /\$\$;$/ {p=0; print ""} p && /'"'"'MODULE_PATHNAME'"'"'.*;$/ {p=0; print ""}' |
		sed "s/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/; s/@extschema@/cdp/g; s/'MODULE_PATHNAME'/'\$libdir\/cdp'/"
	done
}
# REF_SEG_LIB=name: the ref's id-set functions (src/seg_set.c) from $libdir/name.so, a build of the
# ref's seg_set.c alone (with PG_MODULE_MAGIC), since both sides otherwise share this build's library
{ echo "BEGIN;"; echo "DROP INDEX IF EXISTS cdp.record_pregnant_idx;"
  defs "$ref" | if [ -n "${REF_SEG_LIB:-}" ]; then sed "s/'\$libdir\/cdp', 'cdp_seg_/'\$libdir\/$REF_SEG_LIB', 'cdp_seg_/"; else cat; fi
  echo "COMMIT;"; } > "$tmp/ref.sql"
{ echo "BEGIN;"; echo "CREATE INDEX IF NOT EXISTS record_pregnant_idx ON cdp.record (golden_id) WHERE (extra ->> 'pregnant') = 'true';"
  defs WORKTREE; echo "COMMIT;"; } > "$tmp/new.sql"
chmod -R a+rX "$tmp"
echo "load: $(uptime)"
psql -X -q -d "$db" -v ref_sql="$tmp/ref.sql" -v new_sql="$tmp/new.sql" -v ref="$ref" -v what="$what" <<'SQL'
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SELECT offer_id AS offer FROM cdp.offer WHERE name = 'bench: mammography' \gset
\set rules '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [35, 69]}, {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["24 months", "11 months"]}, {"not": {"event": "visit", "within": "3 months"}}, {"attr": "city", "op": "in", "value": ["Москва", "Химки", "Балашиха", "Мытищи"]}, {"event": "lab_test", "where": {"code": "CHOL"}, "within": "3 years"}, {"not": {"event": "diagnosis", "where": {"code": "I10"}, "count": {">=": 3}}}, {"attr": "reachable", "op": "=", "value": "sms"}, {"not": {"event": "diagnosis", "where": {"code": ["O10-O99", "Z33"]}, "within": "10 months"}}, {"any": [{"attr": "source_kind", "op": "=", "value": "internal"}, {"event": "visit", "where": {"specialty": "gynecology"}}]}]}'
SELECT set_config('segbench.rules', :'rules', false) IS NULL AS x, set_config('segbench.offer', :'offer', false) IS NULL AS y \gset
CREATE TEMP TABLE t (what text, side text, pass int, round int, ms float8, cpu float8, result text);
-- the backend's CPU time in ms (user + system, clock ticks of 10 ms)
CREATE FUNCTION pg_temp.cpu() RETURNS float8 LANGUAGE sql AS $$
	SELECT (f[12]::float8 + f[13]::float8) * 10
	  FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f) x $$;
CREATE FUNCTION pg_temp.preview(side text, pass int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	c0 float8;
	r jsonb;
	v jsonb;
BEGIN
	r := cdp.segment_preview(current_setting('segbench.rules')::jsonb, current_setting('segbench.offer')::bigint, 'marketing', 'sms');
	t0 := clock_timestamp(); c0 := pg_temp.cpu();
	r := cdp.segment_preview(current_setting('segbench.rules')::jsonb, current_setting('segbench.offer')::bigint, 'marketing', 'sms');
	INSERT INTO t VALUES ('preview', side, pass, 1, extract(epoch FROM clock_timestamp() - t0) * 1000, pg_temp.cpu() - c0, r::text);
	FOR i IN 1..20 LOOP
		v := jsonb_set(jsonb_set(current_setting('segbench.rules')::jsonb, '{all,1,value}', jsonb_build_array(25 + i, 45 + i)),
		               '{all,4,value}', jsonb_build_array((ARRAY['Москва', 'Химки', 'Тверь', 'Подольск'])[1 + i % 4]));
		IF i % 2 = 0 THEN
			v := jsonb_set(v, '{all,2,ago}', jsonb_build_array((12 + i % 6) || ' months', (6 + i % 4) || ' months'));
		END IF;
		t0 := clock_timestamp(); c0 := pg_temp.cpu();
		r := cdp.segment_preview(v, current_setting('segbench.offer')::bigint, 'marketing', CASE WHEN i % 3 = 0 THEN NULL ELSE 'sms' END);
		INSERT INTO t VALUES ('variant', side, pass, i, extract(epoch FROM clock_timestamp() - t0) * 1000, pg_temp.cpu() - c0, r::text);
	END LOOP;
END $$;
-- 1% of the patients: half withdraw sms marketing, half get a new MAMMO or visit (segments_bench.sql step 2)
CREATE FUNCTION pg_temp.changes(seed float8) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	np bigint := (SELECT max(golden_id) FROM cdp.patient);
	g bigint;
BEGIN
	PERFORM setseed(seed);
	FOR g IN SELECT x FROM (SELECT DISTINCT (1 + random() * (np - 1))::bigint AS x FROM generate_series(1, np / 100)) y
	          WHERE x % 5 <> 0 LOOP
		IF g % 2 = 0 THEN
			PERFORM cdp.set_consent(g, 'marketing', 'sms', false);
		ELSE
			PERFORM cdp.upsert_clinical_event('his', 'bench25-' || g || '-' || clock_timestamp(), CASE WHEN g % 3 = 0 THEN 'lab_test' ELSE 'visit' END,
				CASE WHEN g % 3 = 0 THEN jsonb_build_object('code', 'MAMMO', 'result', 'норма', 'taken_at', (current_date - interval '12 months')::text, 'patient_source_id', 'p' || g)
				     ELSE jsonb_build_object('at', (now() - interval '1 day')::text, 'status', 'done', 'specialty', 'therapy', 'patient_source_id', 'p' || g) END);
		END IF;
	END LOOP;
END $$;
CREATE FUNCTION pg_temp.timed_refresh(what text, side text, pass int, seg bigint, mode text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	c0 float8 := pg_temp.cpu();
	r jsonb := cdp.refresh_segment(seg, mode);
BEGIN
	INSERT INTO t VALUES (what, side, pass, 1, extract(epoch FROM clock_timestamp() - t0) * 1000, pg_temp.cpu() - c0, r::text);
END $$;
SELECT :'what' = 'preview' AS is_preview \gset
\if :is_preview
\i :ref_sql
SELECT FROM pg_temp.preview(:'ref', 1);
\i :new_sql
SELECT FROM pg_temp.preview('this', 1);
\i :ref_sql
SELECT FROM pg_temp.preview(:'ref', 2);
\i :new_sql
SELECT FROM pg_temp.preview('this', 2);
\i :ref_sql
SELECT FROM pg_temp.preview(:'ref', 3);
\i :new_sql
SELECT FROM pg_temp.preview('this', 3);
\echo the 10-clause preview: wall and backend CPU per pass
SELECT side, string_agg(round(ms)::text, ' / ' ORDER BY pass) AS wall_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS wall_median,
       string_agg(round(cpu)::text, ' / ' ORDER BY pass) AS cpu_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu)::numeric, 1) AS cpu_median,
       count(DISTINCT result) AS distinct_results, min(result) AS result
  FROM t WHERE what = 'preview' GROUP BY side ORDER BY side;
\echo the 20 variants: p50 / p95 / max of wall and CPU per pass
SELECT side, pass, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS wall_p50, round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS wall_p95,
       round(max(ms)::numeric, 1) AS wall_max, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu)::numeric, 1) AS cpu_p50,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu)::numeric, 1) AS cpu_p95
  FROM t WHERE what = 'variant' GROUP BY side, pass ORDER BY pass, side;
SELECT count(*) AS "previews (rule and variants) whose result differs between the sides"
  FROM t a JOIN t b ON a.what = b.what AND a.round = b.round AND a.pass = b.pass AND a.side = :'ref' AND b.side = 'this'
 WHERE a.result IS DISTINCT FROM b.result;
\else
-- six pairs of segments, one per side and pass (a segment, then its twin)
SELECT array_agg(cdp.create_segment('ab25 ' || s || ' ' || now(), :'rules', 'marketing', :offer, 'sms') ORDER BY s) AS segs
  FROM generate_series(1, 12) s \gset
\echo (each side and pass: its own pair of segments and its own 1% of the patients)
\i :ref_sql
SELECT FROM pg_temp.timed_refresh('full', :'ref', 1, (:'segs'::bigint[])[1], 'full');
SELECT FROM pg_temp.changes(0.11);
SELECT FROM pg_temp.timed_refresh('incremental', :'ref', 1, (:'segs'::bigint[])[1], 'incremental');
SELECT FROM pg_temp.timed_refresh('twin full', :'ref', 1, (:'segs'::bigint[])[2], 'full');
\i :new_sql
SELECT FROM pg_temp.timed_refresh('full', 'this', 1, (:'segs'::bigint[])[3], 'full');
SELECT FROM pg_temp.changes(0.12);
SELECT FROM pg_temp.timed_refresh('incremental', 'this', 1, (:'segs'::bigint[])[3], 'incremental');
SELECT FROM pg_temp.timed_refresh('twin full', 'this', 1, (:'segs'::bigint[])[4], 'full');
\i :ref_sql
SELECT FROM pg_temp.timed_refresh('full', :'ref', 2, (:'segs'::bigint[])[5], 'full');
SELECT FROM pg_temp.changes(0.21);
SELECT FROM pg_temp.timed_refresh('incremental', :'ref', 2, (:'segs'::bigint[])[5], 'incremental');
SELECT FROM pg_temp.timed_refresh('twin full', :'ref', 2, (:'segs'::bigint[])[6], 'full');
\i :new_sql
SELECT FROM pg_temp.timed_refresh('full', 'this', 2, (:'segs'::bigint[])[7], 'full');
SELECT FROM pg_temp.changes(0.22);
SELECT FROM pg_temp.timed_refresh('incremental', 'this', 2, (:'segs'::bigint[])[7], 'incremental');
SELECT FROM pg_temp.timed_refresh('twin full', 'this', 2, (:'segs'::bigint[])[8], 'full');
\i :ref_sql
SELECT FROM pg_temp.timed_refresh('full', :'ref', 3, (:'segs'::bigint[])[9], 'full');
SELECT FROM pg_temp.changes(0.31);
SELECT FROM pg_temp.timed_refresh('incremental', :'ref', 3, (:'segs'::bigint[])[9], 'incremental');
SELECT FROM pg_temp.timed_refresh('twin full', :'ref', 3, (:'segs'::bigint[])[10], 'full');
\i :new_sql
SELECT FROM pg_temp.timed_refresh('full', 'this', 3, (:'segs'::bigint[])[11], 'full');
SELECT FROM pg_temp.changes(0.32);
SELECT FROM pg_temp.timed_refresh('incremental', 'this', 3, (:'segs'::bigint[])[11], 'incremental');
SELECT FROM pg_temp.timed_refresh('twin full', 'this', 3, (:'segs'::bigint[])[12], 'full');
\echo refreshes: wall and backend CPU per pass (full: the first full refresh; twin full: the twin after the changes)
SELECT side, what, string_agg(round(ms)::text, ' / ' ORDER BY pass) AS wall_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS wall_median,
       string_agg(round(cpu)::text, ' / ' ORDER BY pass) AS cpu_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu)::numeric, 1) AS cpu_median
  FROM t WHERE what IN ('full', 'incremental', 'twin full') GROUP BY side, what ORDER BY side, what;
SELECT side, round((100 * percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE what = 'incremental')
                 / percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE what <> 'incremental'))::numeric, 1) AS "incremental, % of full (wall)",
       round((100 * percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu) FILTER (WHERE what = 'incremental')
                 / percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu) FILTER (WHERE what <> 'incremental'))::numeric, 1) AS "incremental, % of full (CPU)"
  FROM t GROUP BY side ORDER BY side;
SELECT side, pass, result FROM t WHERE what = 'incremental' ORDER BY pass, side;
SELECT i AS pair, (SELECT count(*) FROM ((SELECT golden_id FROM cdp.segment_member WHERE segment_id = s[2 * i - 1] EXCEPT SELECT golden_id FROM cdp.segment_member WHERE segment_id = s[2 * i])
        UNION ALL (SELECT golden_id FROM cdp.segment_member WHERE segment_id = s[2 * i] EXCEPT SELECT golden_id FROM cdp.segment_member WHERE segment_id = s[2 * i - 1])) d) AS "incremental vs full: differing members"
  FROM generate_series(1, 6) i, (SELECT :'segs'::bigint[] AS s) x;
-- the bench segments go (archived: their members leave)
SELECT count(cdp.archive_segment(x)) FROM unnest(:'segs'::bigint[]) x;
\endif
SQL
echo "load: $(uptime)"
