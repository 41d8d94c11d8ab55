-- test/pgtap/84_segment_probes.sql: the evaluator's two ways to the same ids (session 25,
-- sql/parts/83_segment_eval.sql, 81_offer.sql, doc/segments.md "Evaluation").  The evaluator
-- probes id by id while the set in hand is small beside the clinic and reads whole sets
-- otherwise; a small test clinic always reads sets.  Here the planner statistics of the patients
-- and the consent summary are made those of a clinic of a million (inside this transaction, rolled
-- back), so every clause, the archived guard, consent and the offer probe; each rule's evaluation
-- (members and every guard's reason, id by id) must equal the set evaluation, in full, within all
-- ids (as an incremental refresh: the profile pass first) and within a random half, with an
-- archived patient, an id without a profile and a record flagged pregnant in the way.
BEGIN;
SELECT plan(18);

SELECT setseed(0.25) IS NULL AS seeded \gset
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS s1, cdp.register_source('partner1', 'partner', 40) IS NOT NULL AS s2 \gset
SELECT count(cdp.upsert_record(CASE WHEN i % 5 = 0 THEN 'partner1' ELSE 'his' END, i::text, jsonb_build_object(
         'family_name', 'Ф' || i, 'given_name', 'И', 'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
         'birth_date', (current_date - (18 * 365 + (i * 137) % 20000))::text, 'city', (ARRAY['Москва', 'Химки', 'Тверь'])[1 + i % 3],
         'phones', CASE WHEN i % 7 = 0 THEN '[]'::jsonb ELSE jsonb_build_array('+7916' || lpad(i::text, 7, '0')) END,
         'pregnant', i % 23 = 0)))
  FROM generate_series(1, 300) i \gset
-- a woman of 40 whose only sign of pregnancy is her record's flag, with a recent MAMMO and consent
SELECT cdp.upsert_record('his', 'preg', jsonb_build_object('family_name', 'Беременная', 'given_name', 'Анна', 'sex', 'F',
         'birth_date', (current_date - interval '40 years')::date::text, 'city', 'Химки', 'phones', jsonb_build_array('+79169999999'), 'pregnant', true)) IS NOT NULL AS p \gset
SELECT cdp.upsert_clinical_event('his', 'preg-mammo', 'lab_test', jsonb_build_object('code', 'MAMMO', 'result', 'норма',
         'taken_at', (now() - interval '3 months')::text, 'patient_source_id', 'preg')) IS NOT NULL AS e \gset
SELECT cdp.set_consent(cdp.golden_id('his', 'preg'), 'marketing', '*', true) IS NOT NULL AS c \gset
CREATE TEMP TABLE ev AS
SELECT n, (ARRAY['lab_test', 'lab_test', 'visit', 'diagnosis'])[1 + floor(random() * 4)::int] AS kind,
       1 + (random() * 299)::int AS pat, random() AS r1, random() AS r2
  FROM generate_series(1, 3000) n;
UPDATE ev SET pat = pat - 1 WHERE pat % 5 = 0;	-- the partner base's records have no clinical events
SELECT count(cdp.upsert_clinical_event('his', 'e' || n, kind, CASE kind
  WHEN 'lab_test' THEN jsonb_build_object('code', (ARRAY['MAMMO', 'CHOL', 'PSA'])[1 + floor(r1 * 3)::int], 'result', round((r2 * 10)::numeric, 1)::text,
                                          'taken_at', (now() - r2 * interval '30 months')::text, 'patient_source_id', pat::text)
  WHEN 'visit' THEN jsonb_build_object('at', (now() - r1 * interval '30 months')::text, 'status', (ARRAY['done', 'booked', 'came'])[1 + floor(r2 * 3)::int],
                                       'specialty', (ARRAY['therapy', 'urology', 'gynecology'])[1 + floor(r2 * 3)::int], 'patient_source_id', pat::text)
  ELSE jsonb_build_object('code', (ARRAY['I10', 'I10', 'I10', 'J06', 'J06', 'J06', 'J06', 'C50.9', 'D05.1', 'O80', 'Z33.1', 'O03'])[1 + floor(r1 * 12)::int],
                          'at', (now() - r2 * interval '30 months')::text, 'patient_source_id', pat::text) END))
  FROM ev \gset
SELECT count(cdp.set_consent(g, p, '*', true))
  FROM (SELECT golden_id AS g, row_number() OVER (ORDER BY golden_id) AS i FROM cdp.patient) x, unnest(ARRAY['marketing', 'partner_sharing']) p
 WHERE i % 3 <> 0 AND (p = 'marketing' OR i % 2 = 0) \gset
SELECT count(cdp.set_consent(g, 'marketing', 'sms', false))
  FROM (SELECT golden_id AS g, row_number() OVER (ORDER BY golden_id) AS i FROM cdp.patient WHERE golden_id <> cdp.golden_id('his', 'preg')) x
 WHERE i % 11 = 1 \gset
SELECT count(*) AS arch FROM cdp.archive_patients(ARRAY[cdp.golden_id('his', '2'), cdp.golden_id('his', '8')], 'test', false) \gset
SELECT cdp.create_offer('{"name": "маммография", "sex": "F", "age": [35, 69], "exclude_icd10": ["C50", "D05"], "exclude_pregnant": true}') AS offer \gset
ANALYZE cdp.patient, cdp.record, cdp.clinical_event, cdp_internal.consent_summary;

-- the rules: the benchmark's 10 clauses, a nested "all" inside an "any" (evaluated within
-- candidates), a "not" of a profile clause, a count, a referenced pregnancy range
CREATE TEMP TABLE rules (k int, r jsonb);
INSERT INTO rules VALUES
(1, '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [18, 90]}, {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["30 months", "1 months"]}, {"not": {"event": "visit", "within": "3 months"}}, {"attr": "city", "op": "in", "value": ["Москва", "Химки", "Тверь"]}, {"event": "lab_test", "where": {"code": "CHOL"}, "within": "3 years"}, {"not": {"event": "diagnosis", "where": {"code": "I10"}, "count": {">=": 3}}}, {"attr": "reachable", "op": "=", "value": "sms"}, {"not": {"event": "diagnosis", "where": {"code": ["O10-O99", "Z33"]}, "within": "10 months"}}, {"any": [{"attr": "source_kind", "op": "=", "value": "internal"}, {"event": "visit", "where": {"specialty": "gynecology"}}]}]}'),
(2, '{"any": [{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"event": "lab_test", "where": {"code": "MAMMO"}, "within": "2 years"}]}, {"all": [{"not": {"attr": "city", "op": "=", "value": "Москва"}}, {"event": "diagnosis", "where": {"code": "I10"}, "count": {">=": 2}}]}]}'),
(3, '{"all": [{"event": "visit", "where": {"specialty": "therapy"}}, {"attr": "age", "op": ">=", "value": 40}, {"not": {"attr": "sex", "op": "=", "value": "M"}}, {"not": {"event": "diagnosis", "where": {"code": "J06"}}}]}'),
(4, '{"all": [{"attr": "reachable", "op": "=", "value": "sms"}, {"event": "diagnosis", "where": {"code": ["O80", "Z33"]}}]}');

-- evaluated with the statistics the clinic has (sets), then with those of a million patients (probes)
CREATE FUNCTION pg_temp.ev(k int, offer bigint, channel text, cand bigint[]) RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE sql AS $$
	SELECT x.golden_id, x.reason FROM rules r, cdp_internal.seg_evaluate(cdp_internal.seg_prepare(r.r, 'marketing', current_date),
	       'marketing', channel, offer, current_date, ARRAY[cdp.golden_id('his', '8'), 999999999]::bigint[], '{}', cand) x WHERE r.k = ev.k $$;
CREATE TEMP TABLE cases AS
SELECT k, o, ch, c, cand FROM rules, (VALUES (NULL::bigint), (:offer)) o(o), (VALUES ('sms'), (NULL)) ch(ch),
       (VALUES (1, NULL::bigint[]), (2, ARRAY(SELECT golden_id FROM cdp.patient ORDER BY 1) || 999999999::bigint),
               (3, ARRAY(SELECT golden_id FROM cdp.patient WHERE random() < 0.5 ORDER BY 1))) c(c, cand);
CREATE TEMP TABLE sets AS SELECT k, o, ch, c, x.* FROM cases, pg_temp.ev(k, o, ch, cand) x;
SELECT ok((SELECT reltuples FROM pg_class WHERE oid = 'cdp.patient'::regclass) BETWEEN 100 AND 1000,
          'precondition: the set evaluation saw the clinic''s own statistics');
UPDATE pg_class SET reltuples = 1000000 WHERE oid IN ('cdp.patient'::regclass, 'cdp_internal.consent_summary'::regclass);
CREATE TEMP TABLE probes AS SELECT k, o, ch, c, x.* FROM cases, pg_temp.ev(k, o, ch, cand) x;

SELECT is((SELECT count(*) FROM cases), 48::bigint, '4 rules x with and without the offer x SMS or any channel x everyone, all ids, half');
SELECT is((SELECT count(*) FROM ((TABLE sets EXCEPT ALL TABLE probes) UNION ALL (TABLE probes EXCEPT ALL TABLE sets)) d), 0::bigint,
          'probes and sets: the same ids with the same reason in every case');
SELECT is((SELECT count(*) FROM probes WHERE c = 1 AND o IS NOT NULL AND ch = 'sms' AND reason IS NULL AND k = 1), (SELECT count(*) FROM sets WHERE c = 1 AND o IS NOT NULL AND ch = 'sms' AND reason IS NULL AND k = 1),
          'the 10-clause rule: the same number of members');
-- the comparison is not vacuous: members and every guard's reason occur
SELECT cmp_ok((SELECT count(*) FROM probes WHERE reason IS NULL), '>', 100::bigint, 'members in the cases');
SELECT ok(EXISTS (SELECT 1 FROM probes WHERE k = 1 AND c = 1 AND o IS NOT NULL AND reason IS NULL), 'the 10-clause rule has members with the offer');
SELECT ok(ARRAY(SELECT DISTINCT reason FROM probes WHERE reason IS NOT NULL)
          @> ARRAY['archived', 'no_consent', 'sex', 'age', 'pregnancy', 'contraindication:C50.9', 'contraindication:D05.1'],
          'archived, no consent and the offer''s reasons occur');
SELECT is((SELECT count(*) FROM probes WHERE golden_id = 999999999 AND reason = 'archived' AND c <> 3), 32::bigint,
          'an id without a profile, listed: dropped as archived in every case that holds it');
SELECT is((SELECT count(*) FROM probes WHERE golden_id = cdp.golden_id('his', '8') AND reason IS DISTINCT FROM 'archived'), 0::bigint,
          'an archived patient, listed: never a member');
SELECT is((SELECT string_agg(DISTINCT coalesce(reason, 'member'), ',') FROM probes WHERE golden_id = cdp.golden_id('his', 'preg') AND k = 2 AND o IS NOT NULL),
          'pregnancy', 'a record flagged pregnant (no pregnancy code) blocks the offer: pregnancy');
SELECT has_index('cdp', 'record', 'record_pregnant_idx', ARRAY['golden_id'], 'the flagged records have their partial index');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'cdp.record_pregnant_idx'::regclass),
          '((extra ->> ''pregnant''::text) = ''true''::text)', 'its predicate is the guard''s own condition');

-- the id sets (src/seg_set.c, session 25: no copy of a null-free input, a sort only when unsorted,
-- merges written into the result): against SQL on random arrays with duplicates, nulls, negative
-- ids, ascending runs, other lower bounds, and one of 200,000 ids
CREATE TEMP TABLE arrs AS
SELECT k, CASE k % 4 WHEN 0 THEN ARRAY(SELECT (random() * 60)::bigint - 10 FROM generate_series(1, k % 37))
                     WHEN 1 THEN ARRAY(SELECT CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 60)::bigint END FROM generate_series(1, k % 29))
                     WHEN 2 THEN ARRAY(SELECT x FROM generate_series(-5, (k % 50), 1 + k % 3) x)
                     ELSE ARRAY(SELECT x / 2 FROM generate_series(1, k % 41) x) END AS a
  FROM generate_series(1, 400) k;
SELECT is((SELECT count(*) FROM arrs WHERE cdp_internal.seg_set(a) IS DISTINCT FROM
             ARRAY(SELECT DISTINCT x FROM unnest(a) x WHERE x IS NOT NULL ORDER BY 1)), 0::bigint,
          'seg_set: sorted, distinct, no nulls, on 400 random arrays (sorted, unsorted, with runs and nulls)');
SELECT is((SELECT count(*) FROM arrs a1 JOIN arrs a2 ON a2.k = 401 - a1.k,
                  LATERAL (SELECT cdp_internal.seg_set(a1.a) AS x, cdp_internal.seg_set(a2.a) AS y) s
            WHERE cdp_internal.seg_and(x, y) IS DISTINCT FROM ARRAY(SELECT unnest(x) INTERSECT SELECT unnest(y) ORDER BY 1)
               OR cdp_internal.seg_or(x, y) IS DISTINCT FROM ARRAY(SELECT unnest(x) UNION SELECT unnest(y) ORDER BY 1)
               OR cdp_internal.seg_minus(x, y) IS DISTINCT FROM ARRAY(SELECT unnest(x) EXCEPT SELECT unnest(y) ORDER BY 1)), 0::bigint,
          'seg_and, seg_or, seg_minus: as INTERSECT, UNION and EXCEPT on 400 random pairs');
SELECT is(cdp_internal.seg_set('[0:3]={7,3,7,-2}'::bigint[]), '{-2,3,7}'::bigint[], 'another lower bound: a set from 1');
SELECT is(array_lower(cdp_internal.seg_or('[5:6]={1,2}'::bigint[], '{}'), 1), 1, 'a merge result starts at 1');
SELECT is((SELECT cdp_internal.seg_set(a) = ARRAY(SELECT DISTINCT x FROM unnest(a) x ORDER BY 1)
             FROM (SELECT ARRAY(SELECT (x * 7919) % 200003 FROM generate_series(200000, 1, -1) x)
                          || ARRAY(SELECT (random() * 2e12)::bigint - 1000000000000 FROM generate_series(1, 20000))
                          || ARRAY[-9223372036854775808, 9223372036854775807, 0, -1]::bigint[] AS a) y), true,
          'seg_set of 220,004 ids in a scrambled order, negative and extreme ones among them (the radix sort)');
SELECT throws_ok($$SELECT cdp_internal.seg_minus('{1,NULL,3}', '{1}')$$, '22023', 'a segment id set cannot contain nulls', 'a merge refuses a null');

SELECT * FROM finish();
ROLLBACK;
