#!/usr/bin/env bash
# test/bench/segments_ab.sh: the preview path of a git ref (default main) against this worktree's,
# on one generated clinic, in one run (doc/benchmarks-segments.md, "Consent and segments", Session 23).
# The ref's and this worktree's bodies of the functions listed in fns are loaded in turn (CREATE OR REPLACE)
# into a database made by test/bench/segments.sh (this worktree's install, or the update script's
# section applied), alternating: per pass and variant, one warm-up and `rounds` timed previews of
# the 10-clause rule with the offer (segments_bench.sql's rule), then the 20 rule variants of
# segments_bench.sql step 3.  Then, with this worktree's filter: the hand-written query once, a
# full refresh, 1% of the patients changed through the API, an incremental refresh checked equal
# to a full one, and 2,000 may_contact calls.  Restores this worktree's body at the end.
#   test/bench/segments_ab.sh DB [ref] [rounds] [passes]       (PG* from tmp_dev/env)
# Heavy at 1M: hold the bench lock (flock /work/bench.lock test/bench/segments_ab.sh ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=$1
ref=${2:-main}
rounds=${3:-3}
passes=${4:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the functions of the preview's path and of the consent summary's upkeep (session 24; session 23
# compared seg_consent_ok, seg_compile_attr and offer_reasons); a function the ref lacks is
# created by this worktree's list and left in place (the ref's bodies do not call it)
fns="82_segment_rules.sql:cdp_internal.seg_age_range 82_segment_rules.sql:cdp_internal.seg_compile_attr 82_segment_rules.sql:cdp_internal.seg_compile_event 82_segment_rules.sql:cdp_internal.seg_compile 83_segment_eval.sql:cdp_internal.seg_evaluate 83_segment_eval.sql:cdp_internal.seg_consent_ok 81_offer.sql:cdp_internal.offer_reasons 80_consent.sql:cdp_internal.consent_bits 80_consent.sql:cdp_internal.consent_bit 80_consent.sql:cdp_internal.consent_default_mask 80_consent.sql:cdp_internal.consent_summary_of 80_consent.sql:cdp_internal.consent_summary_sync"
body() { awk -v f="^CREATE FUNCTION $1\\(" '$0 ~ f {p=1} p {print} p && /^\$\$;/ {p=0}' | sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/; s/@extschema@/cdp/g'; }
: > "$tmp/ref.sql"; : > "$tmp/new.sql"
for x in $fns; do
	git -C "$here" show "$ref:sql/parts/${x%%:*}" | body "${x#*:}" >> "$tmp/ref.sql"
	body "${x#*:}" < "$here/../../sql/parts/${x%%:*}" >> "$tmp/new.sql"
done
chmod -R a+rX "$tmp"
echo "load: $(uptime)"
psql -X -q -d "$db" -v rounds="$rounds" -v passes="$passes" -v ref_sql="$tmp/ref.sql" -v new_sql="$tmp/new.sql" -v ref="$ref" <<'SQL'
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SELECT offer_id AS offer FROM cdp.offer WHERE name = 'bench: mammography' \gset
\set rules '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [35, 69]}, {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["24 months", "11 months"]}, {"not": {"event": "visit", "within": "3 months"}}, {"attr": "city", "op": "in", "value": ["Москва", "Химки", "Балашиха", "Мытищи"]}, {"event": "lab_test", "where": {"code": "CHOL"}, "within": "3 years"}, {"not": {"event": "diagnosis", "where": {"code": "I10"}, "count": {">=": 3}}}, {"attr": "reachable", "op": "=", "value": "sms"}, {"not": {"event": "diagnosis", "where": {"code": ["O10-O99", "Z33"]}, "within": "10 months"}}, {"any": [{"attr": "source_kind", "op": "=", "value": "internal"}, {"event": "visit", "where": {"specialty": "gynecology"}}]}]}'
SELECT set_config('segbench.rules', :'rules', false) IS NULL AS x, set_config('segbench.offer', :'offer', false) IS NULL AS y,
       set_config('segbench.rounds', :'rounds', false) IS NULL AS z \gset
CREATE TEMP TABLE t (what text, variant text, pass int, round int, ms float8, result text);
CREATE FUNCTION pg_temp.run(variant text, pass int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	r jsonb;
	v jsonb;
BEGIN
	r := cdp.segment_preview(current_setting('segbench.rules')::jsonb, current_setting('segbench.offer')::bigint, 'marketing', 'sms');
	FOR i IN 1..current_setting('segbench.rounds')::int LOOP
		t0 := clock_timestamp();
		r := cdp.segment_preview(current_setting('segbench.rules')::jsonb, current_setting('segbench.offer')::bigint, 'marketing', 'sms');
		INSERT INTO t VALUES ('preview', variant, pass, i, extract(epoch FROM clock_timestamp() - t0) * 1000, r::text);
	END LOOP;
	FOR i IN 1..20 LOOP
		v := jsonb_set(jsonb_set(current_setting('segbench.rules')::jsonb, '{all,1,value}', jsonb_build_array(25 + i, 45 + i)),
		               '{all,4,value}', jsonb_build_array((ARRAY['Москва', 'Химки', 'Тверь', 'Подольск'])[1 + i % 4]));
		IF i % 2 = 0 THEN
			v := jsonb_set(v, '{all,2,ago}', jsonb_build_array((12 + i % 6) || ' months', (6 + i % 4) || ' months'));
		END IF;
		t0 := clock_timestamp();
		r := cdp.segment_preview(v, current_setting('segbench.offer')::bigint, 'marketing', CASE WHEN i % 3 = 0 THEN NULL ELSE 'sms' END);
		INSERT INTO t VALUES ('variant', variant, pass, i, extract(epoch FROM clock_timestamp() - t0) * 1000, r ->> 'count');
	END LOOP;
END $$;
-- set_consent of 150 random persons with each side's summary upkeep, timed one by one, rolled back
CREATE FUNCTION pg_temp.consents(variant text, pass int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	np bigint := (SELECT max(golden_id) FROM cdp.patient);
	g bigint;
	ms float8[] := '{}';
BEGIN
	PERFORM setseed(0.3 + pass / 10.0);
	BEGIN
		FOR i IN 1..150 LOOP
			g := (1 + random() * (np - 1))::bigint;
			CONTINUE WHEN NOT EXISTS (SELECT 1 FROM cdp.patient p WHERE p.golden_id = g);
			t0 := clock_timestamp();
			PERFORM cdp.set_consent(g, 'marketing', 'sms', i % 2 = 0);
			ms := ms || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
		END LOOP;
		RAISE EXCEPTION 'roll back';
	EXCEPTION WHEN raise_exception THEN
		NULL;	/* the statements are rolled back, the timings kept */
	END;
	INSERT INTO t SELECT 'set_consent', variant, pass, x.i, x.ms, NULL FROM unnest(ms) WITH ORDINALITY x(ms, i);
END $$;
\echo pass 1
\i :ref_sql
SELECT pg_temp.run(:'ref', 1);
SELECT pg_temp.consents(:'ref', 1);
\i :new_sql
SELECT pg_temp.run('this', 1);
SELECT pg_temp.consents('this', 1);
SELECT :passes >= 2 AS two \gset
\if :two
\echo pass 2
\i :ref_sql
SELECT pg_temp.run(:'ref', 2);
SELECT pg_temp.consents(:'ref', 2);
\i :new_sql
SELECT pg_temp.run('this', 2);
SELECT pg_temp.consents('this', 2);
\endif
\echo previews of the 10-clause rule (median per pass) and the 20 variants (median / p95 / max)
SELECT variant, pass, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS preview_median_ms,
       string_agg(round(ms::numeric)::text, ' / ' ORDER BY round) AS runs, min(result) AS result
  FROM t WHERE what = 'preview' GROUP BY variant, pass ORDER BY pass, variant;
SELECT variant, pass, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p95_ms, round(max(ms)::numeric, 1) AS max_ms
  FROM t WHERE what = 'variant' GROUP BY variant, pass ORDER BY pass, variant;
SELECT variant, pass, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS set_consent_p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS set_consent_p95_ms, count(*) AS calls
  FROM t WHERE what = 'set_consent' GROUP BY variant, pass ORDER BY pass, variant;
SELECT count(*) AS "variants with different counts" FROM t a JOIN t b ON a.what = 'variant' AND b.what = 'variant' AND a.round = b.round
 WHERE a.result IS DISTINCT FROM b.result;
SQL
echo "load: $(uptime)"
if [ "${BENCH:-1}" = 1 ]; then
	# this worktree's filter stays loaded: segments_bench.sql's four steps (hand-written query,
	# refresh full / 1% changed / incremental, variants, may_contact)
	psql -X -q -d "$db" -v rounds="$rounds" -f "$here/segments_bench.sql"
	echo "load: $(uptime)"
fi
