-- test/pgtap/83_offer_set.sql: the set-based offer guard (cdp_internal.offer_reasons, issue 13,
-- session 22) gives every person exactly what cdp_internal.offer_reason gives (the reason behind
-- cdp.offer_block_reason): on hand-made fixtures covering every reason (unknown and archived
-- patient, archived / expired / not yet valid offer, sex, age at both bounds, each kind of excluded
-- code: a code, a sub-code, a range and its ends, dotted codes; pregnancy by code in and out of the
-- 10-month window and by flag; required service and lab), then on a random clinic (fixed seed)
-- against a list of offers.  Both forms of the diagnosis passes are compared: a whole set (more
-- than a twentieth of the patients: the code ranges are read) and one person at a time (probes).
BEGIN;
SELECT plan(17);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
-- name, sex, age in years on this day (birthday today when the age is whole), flag pregnant
CREATE TEMP TABLE fx (k text, sex text, age numeric, preg boolean DEFAULT false);
INSERT INTO fx (k, sex, age) VALUES ('m50', 'M', 50.1), ('m39', 'M', 39.9), ('m40', 'M', 40), ('m75', 'M', 75), ('m76', 'M', 76),
	('f35', 'F', 35), ('f34', 'F', 34.99), ('f69', 'F', 69.5), ('f70', 'F', 70), ('f30', 'F', 30.3), ('f45', 'F', 45.5), ('f52', 'F', 52.1), ('m61', 'M', 61.3), ('m62', 'M', 62.7),
	('nosex', NULL, 44.4), ('nobirth', 'F', NULL), ('arch', 'M', 50.5), ('f60', 'F', 60.6), ('m45', 'M', 45.4), ('m55', 'M', 55.5);
INSERT INTO fx VALUES ('f41p', 'F', 41.2, true);
SELECT count(cdp.upsert_record('his', fx.k, jsonb_strip_nulls(jsonb_build_object('family_name', 'Фикс' || fx.k, 'given_name', 'Имя' || fx.k, 'sex', fx.sex,
       'birth_date', CASE WHEN fx.age IS NOT NULL THEN (current_date - make_interval(years => floor(fx.age)::int, days => round((fx.age - floor(fx.age)) * 360)::int))::date::text END,
       'pregnant', CASE WHEN fx.preg THEN true END)))) AS n FROM fx \gset
CREATE FUNCTION pg_temp.g(k text) RETURNS bigint LANGUAGE sql AS $$ SELECT cdp.golden_id('his', k) $$;
CREATE FUNCTION pg_temp.dx(k text, code text, ago interval) RETURNS void LANGUAGE sql AS $$
	SELECT cdp.upsert_clinical_event('his', 'dx-' || k || '-' || code || '-' || ago, 'diagnosis',
		jsonb_build_object('code', code, 'at', (now() - ago)::text, 'patient_source_id', k)) $$;
-- excluded codes: an exact code, sub-codes, the ends of a range, just outside it
SELECT pg_temp.dx('m61', 'C61', '1 year'), pg_temp.dx('m62', 'N40', '2 years'), pg_temp.dx('m50', 'N43', '1 year'),
       pg_temp.dx('m45', 'N42.9', '3 years'), pg_temp.dx('m45', 'C61.0', '1 month'),   -- two excluded: the older one first
       pg_temp.dx('f45', 'C50.9', '2 years'), pg_temp.dx('f52', 'D05.1', '6 months'), pg_temp.dx('f60', 'E11.9', '1 year'),
       pg_temp.dx('f60', 'E11', '2 years'),
-- pregnancy: Z33 within 10 months, O80 11 months ago (outside), O99.8 today, O00 in 9 months
       pg_temp.dx('f35', 'Z33', '3 months'), pg_temp.dx('f69', 'O80', '11 months'), pg_temp.dx('f30', 'O99.8', '1 hour'),
       pg_temp.dx('f70', 'O00', '9 months'), pg_temp.dx('nobirth', 'Z33.1', '2 months');
SELECT cdp.upsert_clinical_event('his', 'v-m50', 'visit', format('{"at": "%s", "specialty": "urology", "status": "done", "patient_source_id": "m50"}', now() - interval '1 month')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'v-m40', 'visit', format('{"at": "%s", "specialty": "urology", "status": "booked", "patient_source_id": "m40"}', now() - interval '1 month')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'v-m55', 'visit', format('{"at": "%s", "specialty": "urology", "status": "came", "patient_source_id": "m55"}', now() - interval '1 year')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'l-m50', 'lab_test', format('{"code": "PSA", "result": "2.1", "taken_at": "%s", "patient_source_id": "m50"}', now() - interval '1 month')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.upsert_clinical_event('his', 'l-m75', 'lab_test', format('{"code": "PSA", "result": "3.0", "taken_at": "%s", "patient_source_id": "m75"}', now() - interval '2 years')::jsonb) IS NOT NULL AS e \gset
SELECT cdp.archive_patients(ARRAY[pg_temp.g('arch')], 'test', false) IS NOT NULL AS a \gset

-- the offers: every restriction, and the offer-level reasons
SELECT cdp.create_offer('{"name": "простата", "sex": "M", "age": [40, 75], "exclude_icd10": ["C61", "N40-N42"], "requires_service": "urology", "requires_lab": "PSA"}') AS o1,
       cdp.create_offer('{"name": "маммография", "sex": "F", "age": [35, 69], "exclude_icd10": ["C50", "D05"], "exclude_pregnant": true}') AS o2,
       cdp.create_offer('{"name": "рентген", "exclude_icd10": ["E11.9", "E10-E11"], "exclude_pregnant": true}') AS o3,
       cdp.create_offer('{"name": "старая", "valid_from": "2020-01-01", "valid_to": "2020-12-31", "sex": "M"}') AS o4,
       cdp.create_offer('{"name": "будущая", "valid_from": "2099-01-01"}') AS o5,
       cdp.create_offer('{"name": "в архиве", "age": [18, 99]}') AS o6,
       cdp.create_offer('{"name": "без ограничений"}') AS o7 \gset
SELECT cdp.archive_offer(:o6) IS NULL AS a \gset
ANALYZE cdp.patient;

-- what each person gets, both ways: the whole set at once, one person at a time, the old function
CREATE TEMP TABLE ids AS SELECT ARRAY(SELECT pg_temp.g(k) FROM fx UNION ALL SELECT 999999999 ORDER BY 1) AS a;
-- jit off: the planner prices this check query far above the JIT thresholds (seconds of compiling)
CREATE FUNCTION pg_temp.cmp() RETURNS TABLE (offer_id bigint, golden_id bigint, old text, whole text, one text)
	LANGUAGE sql SET jit = off AS $$
	SELECT o.offer_id, c.id, cdp_internal.offer_reason(p, o, current_date),
	       (SELECT x.reason FROM cdp_internal.offer_reasons((SELECT a FROM ids), o, current_date) x WHERE x.golden_id = c.id),
	       (SELECT x.reason FROM cdp_internal.offer_reasons(ARRAY[c.id], o, current_date) x)
	  FROM cdp.offer o CROSS JOIN unnest((SELECT a FROM ids)) c(id) LEFT JOIN cdp.patient p ON p.golden_id = c.id $$;
CREATE TEMP TABLE r AS SELECT * FROM pg_temp.cmp();

SELECT ok((SELECT reltuples FROM pg_class WHERE oid = 'cdp.patient'::regclass) BETWEEN 1 AND 20 * 20,
          'precondition: the whole set is more than a twentieth of the patients (code ranges read), one person less (probes)');
SELECT is((SELECT count(*) FROM r), (SELECT 7 * cardinality(a) FROM ids)::bigint, 'every offer x person compared');
SELECT is((SELECT count(*) FROM r WHERE old IS DISTINCT FROM whole), 0::bigint, 'the whole set: the same reason as offer_reason for every person');
SELECT is((SELECT count(*) FROM r WHERE old IS DISTINCT FROM one), 0::bigint, 'one person at a time: the same reason as offer_reason');
SELECT is((SELECT count(*) FROM cdp_internal.offer_reasons((SELECT a || a FROM ids), (SELECT o FROM cdp.offer o WHERE o.offer_id = :o1), current_date)),
          (SELECT cardinality(a) FROM ids)::bigint, 'each id once, duplicates folded');
-- the fixtures do reach every reason (the comparison is not vacuous)
SELECT set_eq($$SELECT DISTINCT coalesce(old, 'NULL') FROM r$$,
	ARRAY['NULL', 'unknown_patient', 'archived_patient', 'offer_archived', 'expired', 'not_yet_valid', 'sex', 'age',
	      'contraindication:C61', 'contraindication:N40', 'contraindication:N42.9', 'contraindication:C50.9', 'contraindication:D05.1',
	      'contraindication:E11', 'pregnancy', 'requires:urology', 'requires:PSA'], 'the fixtures reach every kind of reason');
SELECT is((SELECT whole FROM r WHERE offer_id = :o2 AND golden_id = pg_temp.g('f34')), 'age', 'age 34 and 364 days: below 35');
SELECT is((SELECT whole FROM r WHERE offer_id = :o2 AND golden_id = pg_temp.g('f69')), NULL, 'age 69 (bound included); O80 11 months ago is outside the window');
SELECT is((SELECT whole FROM r WHERE offer_id = :o2 AND golden_id = pg_temp.g('f70')), 'age', 'age 70: above 69');
SELECT is((SELECT whole FROM r WHERE offer_id = :o1 AND golden_id = pg_temp.g('m45')), 'contraindication:N42.9', 'two excluded codes: the older one is named');
SELECT is((SELECT whole FROM r WHERE offer_id = :o3 AND golden_id = pg_temp.g('f60')), 'contraindication:E11', 'E11 (in E10-E11) two years ago before E11.9');
SELECT is((SELECT whole FROM r WHERE offer_id = :o2 AND golden_id = pg_temp.g('f41p')), 'pregnancy', 'a record flagged pregnant');
SELECT is((SELECT whole FROM r WHERE offer_id = :o1 AND golden_id = pg_temp.g('m40')), 'requires:urology', 'a booked visit is not the required service');

-- a random clinic (fixed seed): 150 people, 600 diagnoses from codes at and around the offers' ranges
SELECT setseed(0.13);
SELECT count(cdp.upsert_record('his', 'r' || i, jsonb_build_object('family_name', 'Случайный' || i, 'given_name', 'Имя' || i,
       'sex', (ARRAY['M', 'F', 'F'])[1 + floor(random() * 3)::int],
       'birth_date', (current_date - (floor(random() * 80 * 365) + 15 * 365)::int)::text,
       'pregnant', random() < 0.03))) AS n FROM generate_series(1, 150) i \gset
SELECT count(cdp.upsert_clinical_event('his', 'rdx' || j, 'diagnosis', jsonb_build_object(
       'code', (ARRAY['C61', 'C61.9', 'N40', 'N41.0', 'N42.9', 'N43', 'C50.1', 'D05', 'D06', 'E11.9', 'E10', 'E12', 'Z33', 'Z33.1', 'O00', 'O99.9', 'O80', 'J06.9', 'I10'])[1 + floor(random() * 19)::int],
       'at', (now() - random() * interval '3 years')::text, 'patient_source_id', 'r' || (1 + floor(random() * 150)::int)))) AS n
  FROM generate_series(1, 600) j \gset
SELECT count(cdp.upsert_clinical_event('his', 'rv' || j, (ARRAY['visit', 'lab_test'])[1 + j % 2], CASE WHEN j % 2 = 0
         THEN jsonb_build_object('at', (now() - random() * interval '2 years')::text, 'specialty', (ARRAY['urology', 'therapy'])[1 + floor(random() * 2)::int],
                                 'status', (ARRAY['done', 'booked', 'came'])[1 + floor(random() * 3)::int], 'patient_source_id', 'r' || (1 + floor(random() * 150)::int))
         ELSE jsonb_build_object('code', (ARRAY['PSA', 'TSH'])[1 + floor(random() * 2)::int], 'result', '1.0',
                                 'taken_at', (now() - random() * interval '2 years')::text, 'patient_source_id', 'r' || (1 + floor(random() * 150)::int)) END)) AS n
  FROM generate_series(1, 200) j \gset
ANALYZE cdp.patient;
UPDATE ids SET a = ARRAY(SELECT golden_id FROM cdp.patient ORDER BY 1);
CREATE TEMP TABLE r2 AS SELECT * FROM pg_temp.cmp();
SELECT is((SELECT count(*) FROM r2 WHERE old IS DISTINCT FROM whole), 0::bigint, 'random clinic, the whole set: the same reasons as offer_reason');
SELECT is((SELECT count(*) FROM r2 WHERE old IS DISTINCT FROM one), 0::bigint, 'random clinic, one person at a time: the same reasons');
SELECT cmp_ok((SELECT count(DISTINCT old) FROM r2 WHERE old LIKE 'contraindication:%'), '>=', 8::bigint, 'the random clinic reaches many excluded codes');
-- and the segment evaluation with the offer drops exactly what the person-by-person guard gives
SELECT set_eq(
	format($$SELECT coalesce(reason, 'member'), count(*) FROM cdp_internal.seg_evaluate(
	          cdp_internal.seg_prepare('{"attr": "age", "op": ">=", "value": 0}', 'treatment', current_date),
	          'treatment', NULL, %s, current_date, '{}', '{}') GROUP BY 1$$, :o2),
	format($$SELECT CASE WHEN old = 'archived_patient' THEN 'archived' ELSE coalesce(old, 'member') END, count(*) FROM r2
	          WHERE offer_id = %s AND golden_id IN (SELECT golden_id FROM cdp.patient WHERE birth_date IS NOT NULL) GROUP BY 1$$, :o2),
	'seg_evaluate with the offer: members and reasons as offer_reason gives them');

SELECT * FROM finish();
ROLLBACK;
