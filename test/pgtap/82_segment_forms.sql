-- test/pgtap/82_segment_forms.sql: the evaluation forms of session 24 (doc/segments.md,
-- Performance) give the results of the forms they replace: an age clause as a range of birth
-- dates against age() over every day of leap-year spans and future dates; several diagnosis
-- codes as one index range each (set and probe forms) against the hand-written query; a "not"
-- of a profile clause joined into the profile pass; the consent bits in one call against
-- consent_bit.
BEGIN;
SELECT plan(17);

-- ---------------------------------------------------------------- ages as birth-date ranges
CREATE TEMP TABLE bd AS
SELECT d::date AS birth_date FROM generate_series('1955-01-01'::date, '2031-12-31'::date, interval '1 day') d
UNION ALL SELECT NULL;
CREATE TEMP TABLE age_case (op text, n int[]);
INSERT INTO age_case VALUES ('>=', '{1}'), ('>=', '{35}'), ('>', '{34}'), ('>', '{0}'), ('<', '{18}'), ('<', '{1}'), ('<=', '{17}'),
	('between', '{35,55}'), ('between', '{1,1}'), ('between', '{40,30}'), ('=', '{30}'), ('!=', '{30}'), ('in', '{20,25,36}');
CREATE TEMP TABLE age_day (d date);
INSERT INTO age_day VALUES ('2024-02-29'), ('2025-02-28'), ('2025-03-01'), ('2026-12-05'), ('2027-02-28'), ('2028-02-29'), ('2028-03-01'), ('2023-12-31');
CREATE FUNCTION pg_temp.age_expr(op text, n int[], d date) RETURNS text LANGUAGE sql AS $$
	SELECT CASE op
		WHEN 'between' THEN format('(%s) BETWEEN %s AND %s', e, n[1], n[2])
		WHEN 'in' THEN format('(%s) IN (%s)', e, array_to_string(n, ', '))
		WHEN '!=' THEN format('(%s) <> %s', e, n[1])
		ELSE format('(%s) %s %s', e, op, n[1]) END
	  FROM (SELECT format('EXTRACT(year FROM age(%L::date, p.birth_date))::int', d) AS e) x $$;
CREATE FUNCTION pg_temp.age_differing() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	c record;
	k bigint;
	total bigint := 0;
BEGIN
	FOR c IN SELECT a.op, a.n, x.d, cdp_internal.seg_age_range(a.op, a.n, x.d) AS r FROM age_case a, age_day x LOOP
		CONTINUE WHEN c.r IS NULL;
		EXECUTE format('SELECT count(*) FROM pg_temp.bd p WHERE (%s) IS DISTINCT FROM (%s)', c.r, pg_temp.age_expr(c.op, c.n, c.d)) INTO k;
		total := total + k;
	END LOOP;
	RETURN total;
END $$;
SELECT is(pg_temp.age_differing(), 0::bigint,
          'an age clause as a birth-date range equals age() for every birth day 1955-2031 (future ones too), NULL, 8 evaluation days, 13 forms');
SELECT is((SELECT count(*) FROM age_case a, age_day x WHERE cdp_internal.seg_age_range(a.op, a.n, x.d) IS NULL), 0::bigint,
          'the range form is used for every case above (> 0 and < 1 are bounds "age >= 1"), so the comparison above covers all 104');
SELECT is(cdp_internal.seg_age_range('>=', '{0}', '2026-12-05'), NULL, 'a bound below 1 keeps age()');
SELECT is(cdp_internal.seg_age_range('>=', '{151}', '2026-12-05'), NULL, 'a bound above 150 keeps age()');
SELECT is(cdp_internal.seg_age_range('between', '{0,17}', '2026-12-05'), NULL, 'between 0 and 17 keeps age() (a birth date in the future is 0 years old)');
SELECT is(cdp_internal.seg_compile_attr('{"attr": "age", "op": "between", "value": [35, 69]}', '2026-12-05', '$'),
          '(p.birth_date <= ''1991-12-05''::date AND p.birth_date > ''1956-12-05''::date)', 'the compiler writes the range');

-- ---------------------------------------------------------------- a clinic
SELECT setseed(0.24) IS NULL AS seeded \gset
SELECT cdp.register_source('his', 'internal', 80) IS NOT NULL AS s1 \gset
SELECT count(cdp.upsert_record('his', i::text, jsonb_build_object(
         'family_name', 'Ф' || i, 'given_name', 'И', 'sex', CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
         'birth_date', (current_date - (18 * 365 + (i * 137) % 20000))::text, 'city', (ARRAY['Москва', 'Химки', 'Тверь'])[1 + i % 3],
         'phones', jsonb_build_array('+7916' || lpad(i::text, 7, '0')))))
  FROM generate_series(1, 300) i \gset
SELECT count(cdp.upsert_clinical_event('his', 'e' || n, CASE WHEN n % 3 = 0 THEN 'visit' ELSE 'diagnosis' END,
         CASE WHEN n % 3 = 0 THEN jsonb_build_object('at', (now() - random() * interval '12 months')::text, 'status', 'done',
                                                     'specialty', 'therapy', 'patient_source_id', (1 + n % 300)::text)
              ELSE jsonb_build_object('code', (ARRAY['E11', 'E11.9', 'E10', 'I10', 'O24.4', 'Z33.1', 'J06', 'O99'])[1 + floor(random() * 8)::int],
                                      'at', (now() - random() * interval '24 months')::text, 'patient_source_id', (1 + (n * 7) % 300)::text) END))
  FROM generate_series(1, 1800) n \gset
CREATE TEMP VIEW act AS SELECT * FROM cdp.patient WHERE status = 'active';
CREATE FUNCTION pg_temp.count_of(rules jsonb) RETURNS bigint LANGUAGE sql AS $$
	SELECT (cdp.segment_preview(rules, NULL, 'treatment') ->> 'count')::bigint $$;

-- ---------------------------------------------------------------- several diagnosis codes
SELECT ok(jsonb_typeof(cdp_internal.seg_compile('{"event": "diagnosis", "where": {"code": ["O00-O99", "Z33"]}, "within": "10 months"}', current_date) -> 'gen') = 'string'
          AND cdp_internal.seg_compile('{"event": "diagnosis", "where": {"code": ["O00-O99", "Z33"]}, "within": "10 months"}', current_date) ->> 'gen' LIKE '% UNION ALL %',
          'two codes compile to a union of two index ranges');
SELECT is(pg_temp.count_of('{"event": "diagnosis", "where": {"code": ["O00-O99", "Z33"]}, "within": "10 months"}'),
          (SELECT count(*) FROM act p WHERE EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id AND e.kind = 'diagnosis'
                                                        AND (e.icd10 LIKE 'O%' OR e.icd10 LIKE 'Z33%') AND e.at >= current_date - interval '10 months')),
          'several codes: the set form equals the hand-written query');
SELECT ok(pg_temp.count_of('{"event": "diagnosis", "where": {"code": ["O00-O99", "Z33"]}, "within": "10 months"}') > 0, 'the fixture has such diagnoses');
SELECT is(pg_temp.count_of('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"not": {"event": "diagnosis", "where": {"code": ["E10-E11", "I10"]}}}]}'),
          (SELECT count(*) FROM act p WHERE p.sex = 'F' AND NOT EXISTS (SELECT 1 FROM cdp.clinical_event e WHERE e.golden_id = p.golden_id
                                                        AND e.kind = 'diagnosis' AND left(e.icd10, 3) IN ('E10', 'E11', 'I10'))),
          'several codes under a "not" equal the hand-written query');
CREATE TEMP TABLE cand AS SELECT cdp_internal.seg_set(ARRAY(SELECT golden_id FROM cdp.patient WHERE golden_id % 4 = 1)) AS ids;
SELECT is(cdp_internal.seg_probe(cdp_internal.seg_compile('{"event": "diagnosis", "where": {"code": ["E10", "I10", "O24-O24"]}, "within": "12 months"}', current_date) ->> 'filter',
                                 (SELECT ids FROM cand)),
          cdp_internal.seg_and((SELECT ids FROM cand),
                               cdp_internal.seg_eval(cdp_internal.seg_compile('{"event": "diagnosis", "where": {"code": ["E10", "I10", "O24-O24"]}, "within": "12 months"}', current_date), NULL, 1000)),
          'several codes: the probe form (one index probe per code) equals the set form within candidates');
SELECT is(cdp_internal.seg_probe(cdp_internal.seg_compile('{"event": "diagnosis", "where": {"code": ["E10", "I10"]}, "count": {">=": 2}}', current_date) ->> 'filter',
                                 (SELECT ids FROM cand)),
          cdp_internal.seg_and((SELECT ids FROM cand),
                               cdp_internal.seg_eval(cdp_internal.seg_compile('{"event": "diagnosis", "where": {"code": ["E10", "I10"]}, "count": {">=": 2}}', current_date), NULL, 1000)),
          'several codes with a count keep one query (each event counted once)');

-- ---------------------------------------------------------------- a "not" of a profile clause in the profile pass
SELECT is(jsonb_array_length(cdp_internal.seg_compile('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"not": {"event": "visit", "within": "3 months"}}, {"not": {"attr": "city", "op": "=", "value": "Тверь"}}]}', current_date) -> 'kids'),
          1, 'the "not"s of profile clauses join the profile pass');
SELECT is(pg_temp.count_of('{"all": [{"attr": "sex", "op": "=", "value": "F"}, {"not": {"event": "visit", "within": "3 months"}}, {"not": {"attr": "city", "op": "=", "value": "Тверь"}}]}'),
          (SELECT count(*) FROM act p WHERE p.sex = 'F' AND NOT coalesce(p.last_visit >= current_date - interval '3 months', false)
             AND p.city IS DISTINCT FROM 'Тверь'),
          'and give the hand-written count (a missing last visit or city does not meet the clause under the "not")');
SELECT is(jsonb_array_length(cdp_internal.seg_compile('{"all": [{"event": "visit", "where": {"specialty": "therapy"}}, {"not": {"attr": "city", "op": "=", "value": "Тверь"}}]}', current_date) -> 'kids'),
          2, 'a "not" alone stays a "not" (the profile pass would require a profile row)');

-- ---------------------------------------------------------------- consent bits in one call
SELECT is((SELECT count(*) FROM cdp_internal.consent_bits() b WHERE b.b IS DISTINCT FROM cdp_internal.consent_bit(b.purpose, b.channel)),
          0::bigint, 'consent_bits gives consent_bit of every purpose x channel');
SELECT is(cdp_internal.consent_default_mask(),
          (SELECT bit_or(1::bigint << cdp_internal.consent_bit(p.purpose, c.channel)) FROM cdp.consent_purposes() p, cdp.consent_channels() c WHERE p.default_granted),
          'the default mask: every channel of the purposes allowed by default');

SELECT * FROM finish();
ROLLBACK;
