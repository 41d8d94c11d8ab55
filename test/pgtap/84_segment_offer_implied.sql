-- test/pgtap/84_segment_offer_implied.sql: the offer guard trusts a rule's profile clause (issue 13,
-- session 27).  When the profile clause of a rule's top "all" implies the offer's sex and age
-- (cdp_internal.seg_attr_implies, cdp_internal.offer_implied), the evaluator does not read the
-- profiles of the ids that rule yielded again (cdp_internal.offer_reasons with "known").  Every id
-- the evaluation keeps must still get exactly cdp_internal.offer_reason's reason: rules that imply
-- the offer, rules narrower, wider or without a bound, included persons outside the rule, the
-- offer-level reasons (expired, archived), ages at both bounds.  And the implication itself, at the
-- day boundaries of the birth-date ranges.
BEGIN;
SELECT plan(22);

SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS src \gset
-- name, sex, age in years on this day (birthday today when the age is whole)
CREATE TEMP TABLE fx (k text, sex text, age numeric);
INSERT INTO fx VALUES ('f35', 'F', 35), ('f34', 'F', 34.99), ('f69', 'F', 69.5), ('f70', 'F', 70), ('f30', 'F', 30.3),
	('f45', 'F', 45.5), ('f52', 'F', 52.1), ('f60', 'F', 60.6), ('m50', 'M', 50.1), ('m40', 'M', 40), ('m75', 'M', 75),
	('nosex', NULL, 44.4), ('nobirth', 'F', NULL), ('arch', 'F', 50.5);
SELECT count(cdp.upsert_record('his', fx.k, jsonb_strip_nulls(jsonb_build_object('family_name', 'Фикс' || fx.k, 'given_name', 'Имя' || fx.k, 'sex', fx.sex,
       'birth_date', CASE WHEN fx.age IS NOT NULL THEN (current_date - make_interval(years => floor(fx.age)::int, days => round((fx.age - floor(fx.age)) * 360)::int))::date::text END)))) AS n
  FROM fx \gset
CREATE FUNCTION pg_temp.g(k text) RETURNS bigint LANGUAGE sql AS $$ SELECT cdp.golden_id('his', k) $$;
CREATE FUNCTION pg_temp.dx(k text, code text, ago interval) RETURNS void LANGUAGE sql AS $$
	SELECT cdp.upsert_clinical_event('his', 'dx-' || k || '-' || code || '-' || ago, 'diagnosis',
		jsonb_build_object('code', code, 'at', (now() - ago)::text, 'patient_source_id', k)) $$;
SELECT pg_temp.dx('f45', 'C50.9', '2 years'), pg_temp.dx('f52', 'D05.1', '6 months'), pg_temp.dx('f35', 'Z33', '3 months'),
       pg_temp.dx('f60', 'D05', '1 year'), pg_temp.dx('f60', 'C50.1', '1 year');
SELECT cdp.archive_patients(ARRAY[pg_temp.g('arch')], 'test', false) IS NOT NULL AS a \gset

SELECT cdp.create_offer('{"name": "маммография", "sex": "F", "age": [35, 69], "exclude_icd10": ["C50", "D05"], "exclude_pregnant": true}') AS o1,
       cdp.create_offer('{"name": "старая", "valid_from": "2020-01-01", "valid_to": "2020-12-31", "sex": "F", "age": [30, 80]}') AS o2,
       cdp.create_offer('{"name": "в архиве", "age": [18, 99]}') AS o3,
       cdp.create_offer('{"name": "без ограничений", "exclude_icd10": ["D05"]}') AS o4,
       cdp.create_offer('{"name": "дети", "age": [0, 17]}') AS o5 \gset
SELECT cdp.archive_offer(:o3) IS NULL AS a \gset

-- the rules: implying the offer, narrower, wider, one-sided, sex only, age only
CREATE TEMP TABLE rules (n int, rule jsonb);
INSERT INTO rules VALUES
	(1, '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [35, 69]}]}'),
	(2, '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [40, 60]}, {"attr": "city", "op": "is_null", "value": true}]}'),
	(3, '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [30, 70]}]}'),
	(4, '{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": ">=", "value": 35}]}'),
	(5, '{"attr": "sex", "op": "=", "value": "F"}'),
	(6, '{"attr": "age", "op": "between", "value": [35, 69]}'),
	(7, '{"all": [{"attr": "age", "op": ">", "value": 34}, {"attr": "age", "op": "<", "value": 70}, {"attr": "sex", "op": "=", "value": "F"}]}');
-- every (rule, offer): the ids the evaluation keeps past archived / excluded / consent, with the
-- guard's reason; one included person outside every rule (a man); treatment purpose (no consent needed)
-- jit off for this check query alone: priced far above the JIT thresholds (seconds of compiling)
SET LOCAL jit = off;
CREATE TEMP TABLE r AS
SELECT ru.n, o.offer_id, x.golden_id, x.reason AS got, cdp_internal.offer_reason(p, o, current_date) AS want,
       cdp_internal.offer_implied(o, CASE WHEN pl ? 'pred' THEN pl -> 'imp'
                                          ELSE (SELECT k -> 'imp' FROM jsonb_array_elements(pl -> 'kids') k WHERE k ? 'pred') END, current_date) AS implied
  FROM rules ru
 CROSS JOIN LATERAL (SELECT cdp_internal.seg_prepare(ru.rule, 'treatment', current_date) AS pl) c
 CROSS JOIN cdp.offer o
 CROSS JOIN LATERAL cdp_internal.seg_evaluate(c.pl, 'treatment', NULL, o.offer_id, current_date, ARRAY[pg_temp.g('m50')], '{}') x
  LEFT JOIN cdp.patient p ON p.golden_id = x.golden_id
 WHERE x.reason IS NULL OR x.reason NOT IN ('archived', 'excluded', 'no_consent');
RESET jit;

SELECT is((SELECT count(*) FROM r WHERE got IS DISTINCT FROM want), 0::bigint,
          'every id kept: the guard''s reason is offer_reason''s, whether the rule implied the offer or not');
SELECT ok((SELECT count(*) FROM r WHERE implied) > 0 AND (SELECT count(*) FROM r WHERE NOT implied) > 0, 'both paths compared');
SELECT set_eq($$SELECT DISTINCT coalesce(got, 'NULL') FROM r WHERE implied$$,
	ARRAY['NULL', 'sex', 'expired', 'offer_archived', 'contraindication:C50.9', 'contraindication:D05.1', 'contraindication:D05', 'pregnancy'],
	'implied: the offer-level reasons, the later ones, and "sex" for the included man outside the rule');
SELECT set_eq($$SELECT DISTINCT n, offer_id FROM r WHERE implied$$,
	format('VALUES (1, %1$s), (2, %1$s), (7, %1$s), (1, %2$s), (2, %2$s), (3, %2$s), (7, %2$s)'
	       ', (1, %3$s), (2, %3$s), (3, %3$s), (6, %3$s), (7, %3$s), (1, %4$s), (2, %4$s), (3, %4$s), (4, %4$s), (5, %4$s), (6, %4$s), (7, %4$s)',
	       :o1, :o2, :o3, :o4),
	'the rules that imply each offer: the same or narrower ages and the same sex; none implies a child offer (age from 0)');
SELECT is((SELECT got FROM r WHERE n = 1 AND offer_id = :o1 AND golden_id = pg_temp.g('m50')), 'sex', 'an included man: his profile is read (sex)');
SELECT is((SELECT got FROM r WHERE n = 1 AND offer_id = :o1 AND golden_id = pg_temp.g('f69')), NULL, 'age 69 and a half: a member');
SELECT is((SELECT got FROM r WHERE n = 3 AND offer_id = :o1 AND golden_id = pg_temp.g('f34')), 'age', 'a wider rule: age 34 and 364 days is read and refused');
SELECT is((SELECT got FROM r WHERE n = 3 AND offer_id = :o1 AND golden_id = pg_temp.g('f70')), 'age', 'a wider rule: age 70 refused');
SELECT is((SELECT got FROM r WHERE n = 6 AND offer_id = :o1 AND golden_id = pg_temp.g('nosex')), 'sex', 'a rule without sex: an unknown sex refused');
SELECT is((SELECT got FROM r WHERE n = 2 AND offer_id = :o2 AND golden_id = pg_temp.g('f45')), 'expired', 'implied: an expired offer still refuses');
SELECT is((SELECT got FROM r WHERE n = 1 AND offer_id = :o1 AND golden_id = pg_temp.g('f60')), 'contraindication:D05',
          'two excluded codes on the same day: the first by event id, as offer_reason');
SELECT is((SELECT count(*) FROM r WHERE golden_id = pg_temp.g('arch')), 0::bigint, 'the archived patient is never kept');

-- the compiled profile clause says what it implies
SELECT is(cdp_internal.seg_prepare('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"attr": "age", "op": "between", "value": [35, 69]}]}', 'marketing', '2026-03-01') -> 'kids' -> 0 -> 'imp',
          '{"sex": "F", "lo": "1956-03-01", "hi": "1991-03-01"}'::jsonb, 'sex and age joined: a sex and the birth dates (1956-03-01, 1991-03-01]');
SELECT is(cdp_internal.seg_prepare('{"all": [{"attr": "age", "op": ">=", "value": 30}, {"attr": "age", "op": "<=", "value": 50}, {"attr": "age", "op": "<", "value": 45}]}', 'marketing', '2026-03-01') -> 'kids' -> 0 -> 'imp',
          '{"lo": "1981-03-01", "hi": "1996-03-01"}'::jsonb, 'several age clauses: the narrowest bounds');
SELECT is(cdp_internal.seg_prepare('{"attr": "age", "op": "in", "value": [30, 40]}', 'marketing', '2026-03-01') -> 'imp', NULL, 'an age list implies no range');
SELECT is(cdp_internal.seg_prepare('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"not": {"attr": "age", "op": "<", "value": 40}}]}', 'marketing', '2026-03-01') -> 'kids' -> 0 -> 'imp',
          '{"sex": "F"}'::jsonb, 'a "not" joined into the profile clause adds nothing to what it implies');
-- the implication at its day boundaries (offer: women 35-69 on 2026-03-01: born in (1956-03-01, 1991-03-01])
SELECT is(cdp_internal.offer_implied(o, '{"sex": "F", "lo": "1956-03-01", "hi": "1991-03-01"}', '2026-03-01'), true, 'the same range: implied')
  FROM cdp.offer o WHERE offer_id = :o1;
SELECT is(cdp_internal.offer_implied(o, '{"sex": "F", "lo": "1956-02-29", "hi": "1991-03-01"}', '2026-03-01'), false, 'one day older allowed: not implied')
  FROM cdp.offer o WHERE offer_id = :o1;
SELECT is(cdp_internal.offer_implied(o, '{"sex": "F", "lo": "1956-03-01", "hi": "1991-03-02"}', '2026-03-01'), false, 'one day younger allowed: not implied')
  FROM cdp.offer o WHERE offer_id = :o1;
SELECT is(cdp_internal.offer_implied(o, '{"sex": "M", "lo": "1960-01-01", "hi": "1980-01-01"}', '2026-03-01'), false, 'the other sex: not implied')
  FROM cdp.offer o WHERE offer_id = :o1;
SELECT is(cdp_internal.offer_implied(o, '{"lo": "1960-01-01", "hi": "1980-01-01"}', '2026-03-01'), false, 'no sex said: not implied')
  FROM cdp.offer o WHERE offer_id = :o1;
SELECT is(cdp_internal.offer_implied(o, NULL, '2026-03-01'), false, 'nothing known: not implied')
  FROM cdp.offer o WHERE offer_id = :o4;

SELECT * FROM finish();
ROLLBACK;
