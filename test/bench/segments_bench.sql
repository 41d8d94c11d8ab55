-- test/bench/segments_bench.sql: the measurements of test/bench/segments.sh (run there).
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SELECT count(*) AS patients FROM cdp.patient \gset
SELECT count(*) AS events FROM cdp.clinical_event \gset
\echo patients :patients, clinical events :events, rounds :rounds
SELECT coalesce((SELECT offer_id FROM cdp.offer WHERE name = 'bench: mammography'),
       cdp.create_offer('{"name": "bench: mammography", "sex": "F", "age": [35, 69], "exclude_icd10": ["C50", "D05"], "exclude_pregnant": true}')) AS offer \gset
-- the 10 clauses: 4 profile attributes, 3 event conditions, 3 negated or nested ones
\set rules '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [35, 69]}, {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["24 months", "11 months"]}, {"not": {"event": "visit", "within": "3 months"}}, {"attr": "city", "op": "in", "value": ["Москва", "Химки", "Балашиха", "Мытищи"]}, {"event": "lab_test", "where": {"code": "CHOL"}, "within": "3 years"}, {"not": {"event": "diagnosis", "where": {"code": "I10"}, "count": {">=": 3}}}, {"attr": "reachable", "op": "=", "value": "sms"}, {"not": {"event": "diagnosis", "where": {"code": ["O10-O99", "Z33"]}, "within": "10 months"}}, {"any": [{"attr": "source_kind", "op": "=", "value": "internal"}, {"event": "visit", "where": {"specialty": "gynecology"}}]}]}'
SELECT set_config('segbench.rules', :'rules', false) IS NULL AS x, set_config('segbench.offer', :'offer', false) IS NULL AS y,
       set_config('segbench.rounds', :'rounds', false) IS NULL AS z \gset
CREATE TEMP TABLE t (what text, round int, ms float8, result text);
-- the same question by hand: one EXISTS / NOT EXISTS per clause, consent and offer inline
CREATE TEMP VIEW hand AS
SELECT p.golden_id FROM cdp.patient p
 WHERE p.status = 'active' AND p.sex = 'F' AND extract(year FROM age(current_date, p.birth_date)) BETWEEN 35 AND 69
   AND EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'lab_test' AND e.lab_code = 'MAMMO'
                 AND e.at >= current_date - interval '24 months' AND e.at < current_date - interval '11 months' + interval '1 day')
   AND NOT EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'visit'
                 AND e.visit_status IN ('came', 'in_appointment', 'done') AND e.at >= current_date - interval '3 months')
   AND p.city IN ('Москва', 'Химки', 'Балашиха', 'Мытищи')
   AND EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'lab_test' AND e.lab_code = 'CHOL'
                 AND e.at >= current_date - interval '3 years')
   AND (SELECT count(*) FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'diagnosis' AND e.icd10 LIKE 'I10%') < 3
   AND jsonb_array_length(p.phones) > 0
   AND NOT EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'diagnosis'
                 AND (e.icd10 BETWEEN 'O10' AND 'O99~' OR e.icd10 LIKE 'Z33%') AND e.at >= current_date - interval '10 months')
   AND (EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE r.golden_id = p.golden_id AND s.kind = 'internal')
        OR EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'visit' AND e.specialty = 'gynecology'
                     AND e.visit_status IN ('came', 'in_appointment', 'done')))
   AND (SELECT s.granted FROM cdp.record r JOIN cdp.consent_statement s ON s.record_id = r.record_id
         WHERE r.golden_id = p.golden_id AND s.purpose = 'marketing' AND s.channel = 'sms' ORDER BY s.at DESC, s.granted LIMIT 1)
   -- known only through partner bases: marketing needs partner_sharing by SMS too
   AND (EXISTS (SELECT 1 FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE r.golden_id = p.golden_id AND s.kind = 'internal')
        OR (SELECT s.granted FROM cdp.record r JOIN cdp.consent_statement s ON s.record_id = r.record_id
             WHERE r.golden_id = p.golden_id AND s.purpose = 'partner_sharing' AND s.channel = 'sms' ORDER BY s.at DESC, s.granted LIMIT 1))
   AND NOT EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'diagnosis'
                 AND (e.icd10 LIKE 'C50%' OR e.icd10 LIKE 'D05%'))
   AND extract(year FROM age(current_date, p.birth_date)) BETWEEN 35 AND 69;

\echo 1. the 10-clause segment with consent and contraindication guards
SELECT cdp.segment_preview(:'rules', :offer, 'marketing', 'sms') AS warm \gset
DO $$
DECLARE
	t0 timestamptz;
	r jsonb;
BEGIN
	FOR i IN 1..current_setting('segbench.rounds')::int LOOP
		t0 := clock_timestamp();
		r := cdp.segment_preview(current_setting('segbench.rules')::jsonb, current_setting('segbench.offer')::bigint, 'marketing', 'sms');
		INSERT INTO t VALUES ('cdp.segment_preview', i, extract(epoch FROM clock_timestamp() - t0) * 1000, r::text);
	END LOOP;
END $$;
-- the hand-written query twice, as top-level statements (statement_timeout applies to those only)
\set ON_ERROR_STOP 0
SET statement_timeout = '150s';
SELECT clock_timestamp() AS h0 \gset
\set hand_n 'timeout 150 s'
SELECT count(*)::text AS hand_n FROM hand \gset
INSERT INTO t VALUES ('hand-written SQL', 1, extract(epoch FROM clock_timestamp() - :'h0'::timestamptz) * 1000, :'hand_n');
SELECT clock_timestamp() AS h0 \gset
\set hand_n 'timeout 150 s'
SELECT count(*)::text AS hand_n FROM hand \gset
INSERT INTO t VALUES ('hand-written SQL', 2, extract(epoch FROM clock_timestamp() - :'h0'::timestamptz) * 1000, :'hand_n');
RESET statement_timeout;
\set ON_ERROR_STOP 1
SELECT what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms, min(result) AS result
  FROM t WHERE what IN ('cdp.segment_preview', 'hand-written SQL') GROUP BY what ORDER BY what;
SELECT round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'hand-written SQL')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'cdp.segment_preview')::numeric, 1) AS "hand / cdp";

\echo 2. full refresh, 1% of patients changed, incremental refresh (and it equals a full one)
SELECT cdp.create_segment('bench ' || now(), :'rules', 'marketing', :offer, 'sms') AS seg \gset
SELECT cdp.create_segment('bench twin ' || now(), :'rules', 'marketing', :offer, 'sms') AS twin \gset
SELECT set_config('segbench.seg', :'seg', false) IS NULL AS x, set_config('segbench.twin', :'twin', false) IS NULL AS y \gset
DO $$
DECLARE
	t0 timestamptz;
	r jsonb;
	s bigint := current_setting('segbench.seg')::bigint;
	np bigint := (SELECT max(golden_id) FROM cdp.patient);
	g bigint;
BEGIN
	FOR i IN 1..current_setting('segbench.rounds')::int LOOP
		t0 := clock_timestamp();
		r := cdp.refresh_segment(s, 'full');
		INSERT INTO t VALUES ('refresh full', i, extract(epoch FROM clock_timestamp() - t0) * 1000, r::text);
	END LOOP;
	PERFORM setseed(0.5);
	t0 := clock_timestamp();
	-- 1% of the patients: half withdraw sms marketing, half get a new clinical event (a MAMMO or a visit)
	FOR g IN SELECT x FROM (SELECT DISTINCT (1 + random() * (np - 1))::bigint AS x FROM generate_series(1, np / 100)) y
	          WHERE x % 5 <> 0 LOOP
		IF g % 2 = 0 THEN
			PERFORM cdp.set_consent(g, 'marketing', 'sms', false);
		ELSE
			PERFORM cdp.upsert_clinical_event('his', 'bench-' || g || '-' || clock_timestamp(), CASE WHEN g % 3 = 0 THEN 'lab_test' ELSE 'visit' END,
				CASE WHEN g % 3 = 0 THEN jsonb_build_object('code', 'MAMMO', 'result', 'норма', 'taken_at', (current_date - interval '12 months')::text, 'patient_source_id', 'p' || g)
				     ELSE jsonb_build_object('at', (now() - interval '1 day')::text, 'status', 'done', 'specialty', 'therapy', 'patient_source_id', 'p' || g) END);
		END IF;
	END LOOP;
	INSERT INTO t VALUES ('1% changes through the API', 1, extract(epoch FROM clock_timestamp() - t0) * 1000, NULL);
END $$;
-- a new transaction (each DO commits), so the refresh sees the changes as committed
DO $$
DECLARE
	t0 timestamptz;
	r jsonb;
BEGIN
	t0 := clock_timestamp();
	r := cdp.refresh_segment(current_setting('segbench.seg')::bigint, 'incremental');
	INSERT INTO t VALUES ('refresh incremental after 1% changed', 1, extract(epoch FROM clock_timestamp() - t0) * 1000, r::text);
	t0 := clock_timestamp();
	r := cdp.refresh_segment(current_setting('segbench.twin')::bigint, 'full');
	INSERT INTO t VALUES ('refresh full after the changes (twin)', 1, extract(epoch FROM clock_timestamp() - t0) * 1000, r::text);
END $$;
SELECT what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms, min(result) AS result
  FROM t WHERE what LIKE 'refresh%' OR what LIKE '1%%' GROUP BY what ORDER BY min(round);
SELECT round(100 * (SELECT ms FROM t WHERE what = 'refresh incremental after 1% changed')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM t WHERE what = 'refresh full')::numeric, 1) AS "incremental, % of full";
SELECT (SELECT count(*) FROM ((SELECT golden_id FROM cdp.segment_member WHERE segment_id = :seg EXCEPT SELECT golden_id FROM cdp.segment_member WHERE segment_id = :twin)
        UNION ALL (SELECT golden_id FROM cdp.segment_member WHERE segment_id = :twin EXCEPT SELECT golden_id FROM cdp.segment_member WHERE segment_id = :seg)) d) AS "incremental vs full: differing members";

\echo 3. segment_preview p95 over 20 variants of the rule (ages, cities, windows)
DO $$
DECLARE
	t0 timestamptz;
	r jsonb;
	v jsonb;
BEGIN
	FOR i IN 1..20 LOOP
		v := jsonb_set(jsonb_set(current_setting('segbench.rules')::jsonb, '{all,1,value}', jsonb_build_array(25 + i, 45 + i)),
		               '{all,4,value}', jsonb_build_array((ARRAY['Москва', 'Химки', 'Тверь', 'Подольск'])[1 + i % 4]));
		IF i % 2 = 0 THEN
			v := jsonb_set(v, '{all,2,ago}', jsonb_build_array((12 + i % 6) || ' months', (6 + i % 4) || ' months'));
		END IF;
		t0 := clock_timestamp();
		r := cdp.segment_preview(v, current_setting('segbench.offer')::bigint, 'marketing', CASE WHEN i % 3 = 0 THEN NULL ELSE 'sms' END);
		INSERT INTO t VALUES ('segment_preview variant', i, extract(epoch FROM clock_timestamp() - t0) * 1000, r ->> 'count');
	END LOOP;
END $$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p95_ms, round(max(ms)::numeric, 1) AS max_ms
  FROM t WHERE what = 'segment_preview variant';

\echo 4. may_contact p95 over 2,000 random calls (one call timed at a time)
DO $$
DECLARE
	t0 timestamptz;
	ok boolean;
	np bigint := (SELECT max(golden_id) FROM cdp.patient);
BEGIN
	PERFORM setseed(0.7);
	FOR i IN 1..2000 LOOP
		t0 := clock_timestamp();
		ok := cdp.may_contact((1 + random() * (np - 1))::bigint, (ARRAY['marketing', 'treatment'])[1 + i % 2], (ARRAY['sms', 'email', 'call'])[1 + i % 3]);
		INSERT INTO t VALUES ('may_contact', i, extract(epoch FROM clock_timestamp() - t0) * 1000, ok::text);
	END LOOP;
END $$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS median_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p95_ms,
       count(*) FILTER (WHERE result = 'true') AS allowed
  FROM t WHERE what = 'may_contact';
