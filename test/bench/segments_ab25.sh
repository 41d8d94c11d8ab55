#!/usr/bin/env bash
# test/bench/segments_ab25.sh: a git ref's (default main) segment evaluation against this
# worktree's, alternated on one generated clinic (doc/benchmarks-segments.md, "Consent and segments",
# Sessions 25 and 26).  Every function of the consent, offer and segment parts (80, 81, 82, 83, 84,
# 97) is loaded in turn by CREATE OR REPLACE; the partial index record_pregnant_idx (session 25) is
# dropped for the ref's turns when the ref's parts do not create it, and created for this
# worktree's.  Figures are printed as they come (WARNING lines), so a run cut short keeps them.
#   test/bench/segments_ab25.sh DB preview [ref]   three passes (PASSES=n); per pass and side: one warm-up, one timed
#       10-clause preview (segments_bench.sql's rule and offer, SMS), the 20 variants of
#       segments_bench.sql step 3; wall and backend CPU (/proc/self/stat: parallel workers not
#       counted); the previews' results compared between the sides
#   test/bench/segments_ab25.sh DB refresh [ref]   three passes (PASSES=n); per pass and side: two new segments of
#       that rule, a full refresh of one, 1% of the patients changed through the API (a new seed
#       each time, so no side reads pages the other's changes warmed), an incremental refresh, a
#       full refresh of the twin, the members of both compared
#   test/bench/segments_ab25.sh DB members [ref]   once per side: every id the evaluation of the rule
#       and of each variant yields, with its guard's reason, as a digest, compared between the sides
# PG* from the environment.  Heavy at 1M: flock /work/bench.lock test/bench/segments_ab25.sh ...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=$1
what=$2
ref=${3:-main}
passes=${PASSES:-3}	# passes of the alternation (PASSES=2: a 1M refresh run in one 8-minute hold)
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
{ echo "BEGIN;"
  git -C "$here" show "$ref:sql/parts/81_offer.sql" | grep -q 'CREATE INDEX record_pregnant_idx' || echo "DROP INDEX IF EXISTS cdp.record_pregnant_idx;"
  defs "$ref" | if [ -n "${REF_SEG_LIB:-}" ]; then sed "s/'\$libdir\/cdp', 'cdp_seg_/'\$libdir\/$REF_SEG_LIB', 'cdp_seg_/"; else cat; fi
  echo "COMMIT;"; } > "$tmp/ref.sql"
{ echo "BEGIN;"; echo "CREATE INDEX IF NOT EXISTS record_pregnant_idx ON cdp.record (golden_id) WHERE (extra ->> 'pregnant') = 'true';"
  defs WORKTREE; echo "COMMIT;"; } > "$tmp/new.sql"
echo "load: $(uptime)"
cat > "$tmp/run.sql" <<'SQL'
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
	RAISE WARNING 'pass %, %: the preview % ms, CPU % ms, %', pass, side, (SELECT round(ms) FROM t WHERE what = 'preview' AND t.side = preview.side AND t.pass = preview.pass),
		(SELECT cpu FROM t WHERE what = 'preview' AND t.side = preview.side AND t.pass = preview.pass), r;
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
	RAISE WARNING 'pass %, %: 20 variants wall p50 % / p95 % ms, CPU p95 % ms', pass, side,
		(SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM t WHERE what = 'variant' AND t.side = preview.side AND t.pass = preview.pass),
		(SELECT round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM t WHERE what = 'variant' AND t.side = preview.side AND t.pass = preview.pass),
		(SELECT round(percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu)::numeric, 1) FROM t WHERE what = 'variant' AND t.side = preview.side AND t.pass = preview.pass);
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
-- the members (every id the evaluation yields, with its guard's reason) of the rule and the variants, as a digest
CREATE FUNCTION pg_temp.members(side text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v jsonb;
	ch text;
BEGIN
	FOR i IN 0..20 LOOP
		v := current_setting('segbench.rules')::jsonb;
		ch := 'sms';
		IF i > 0 THEN
			v := jsonb_set(jsonb_set(v, '{all,1,value}', jsonb_build_array(25 + i, 45 + i)),
			               '{all,4,value}', jsonb_build_array((ARRAY['Москва', 'Химки', 'Тверь', 'Подольск'])[1 + i % 4]));
			IF i % 2 = 0 THEN
				v := jsonb_set(v, '{all,2,ago}', jsonb_build_array((12 + i % 6) || ' months', (6 + i % 4) || ' months'));
			END IF;
			ch := CASE WHEN i % 3 = 0 THEN NULL ELSE 'sms' END;
		END IF;
		INSERT INTO t SELECT 'members', side, 1, i, NULL, NULL,
		       count(*) FILTER (WHERE x.reason IS NULL) || ' members, ' || count(*) || ' ids, digest '
		       || md5(string_agg(x.golden_id || ':' || coalesce(x.reason, '-'), ',' ORDER BY x.golden_id, x.reason))
		  FROM cdp_internal.seg_evaluate(cdp_internal.seg_prepare(v, 'marketing', current_date), 'marketing', ch,
		                                 current_setting('segbench.offer')::bigint, current_date, '{}', '{}') x;
		RAISE WARNING 'members, %, rule %: %', side, i, (SELECT result FROM t WHERE what = 'members' AND t.side = members.side AND t.round = i);
	END LOOP;
END $$;
-- a timed refresh, its figures printed at once (a run cut short by a timeout keeps what it printed)
CREATE FUNCTION pg_temp.timed_refresh(what text, side text, pass int, seg bigint, mode text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	c0 float8 := pg_temp.cpu();
	r jsonb := cdp.refresh_segment(seg, mode);
	ms float8 := extract(epoch FROM clock_timestamp() - t0) * 1000;
	cpu float8 := pg_temp.cpu() - c0;
BEGIN
	INSERT INTO t VALUES (what, side, pass, 1, ms, cpu, r::text);
	RETURN format('%s, %s, pass %s: %s ms, CPU %s ms, %s', side, what, pass, round(ms::numeric, 1), cpu, r);
END $$;
SQL
# the passes: the ref's definitions, then this worktree's, PASSES times (psql \i between the steps)
for pass in $(seq 1 "$passes"); do
	for side in ref this; do
		echo "\\i :${side/this/new}_sql"
		label=$([ $side = ref ] && echo ":'ref'" || echo "'this'")
		if [ "$what" = preview ]; then
			echo "SELECT FROM pg_temp.preview($label, $pass);"
		elif [ "$what" = members ]; then
			[ $pass = 1 ] && echo "SELECT FROM pg_temp.members($label);"
		else
			# each side and pass: its own pair of segments and its own 1% of the patients
			k=$(( (pass - 1) * 4 + $([ $side = ref ] && echo 1 || echo 3) ))
			echo "SELECT pg_temp.timed_refresh('full', $label, $pass, (:'segs'::bigint[])[$k], 'full') AS step;"
			echo "SELECT FROM pg_temp.changes(0.$pass$([ $side = ref ] && echo 1 || echo 2));"
			echo "SELECT pg_temp.timed_refresh('incremental', $label, $pass, (:'segs'::bigint[])[$k], 'incremental') AS step;"
			echo "SELECT pg_temp.timed_refresh('twin full', $label, $pass, (:'segs'::bigint[])[$((k + 1))], 'full') AS step;"
		fi
	done
done >> "$tmp/passes.sql"
if [ "$what" = preview ]; then
	cat > "$tmp/report.sql" <<'SQL'
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
SQL
elif [ "$what" = members ]; then
	cat > "$tmp/report.sql" <<'SQL'
\echo the members of the rule (0) and the variants (1-20), each side: count, ids evaluated, digest of (id, reason)
SELECT round AS rule, string_agg(side || ': ' || result, ' | ' ORDER BY side) FROM t WHERE what = 'members' GROUP BY round ORDER BY round;
SELECT count(*) AS "rules whose members or reasons differ between the sides"
  FROM t a JOIN t b ON a.what = 'members' AND b.what = 'members' AND a.round = b.round AND a.side = :'ref' AND b.side = 'this'
 WHERE a.result IS DISTINCT FROM b.result;
SQL
else
	cat > "$tmp/setup.sql" <<'SQL'
-- six pairs of segments, one per side and pass (a segment, then its twin)
SELECT array_agg(cdp.create_segment('ab25 ' || s || ' ' || now(), :'rules', 'marketing', :offer, 'sms') ORDER BY s) AS segs
  FROM generate_series(1, 4 * :passes) s \gset
SQL
	cat > "$tmp/report.sql" <<'SQL'
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
  FROM generate_series(1, 2 * :passes) i, (SELECT :'segs'::bigint[] AS s) x;
-- the bench segments go (archived: their members leave)
SELECT count(cdp.archive_segment(x)) FROM unnest(:'segs'::bigint[]) x;
SQL
fi
chmod -R a+rX "$tmp"
{ cat "$tmp/run.sql"; [ "$what" != refresh ] || cat "$tmp/setup.sql"; cat "$tmp/passes.sql" "$tmp/report.sql"; } |
	psql -X -q -d "$db" -v ref_sql="$tmp/ref.sql" -v new_sql="$tmp/new.sql" -v ref="$ref" -v passes="$passes"
echo "load: $(uptime)"
