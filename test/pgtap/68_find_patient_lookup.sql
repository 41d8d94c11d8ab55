-- test/pgtap/68_find_patient_lookup.sql: the shipped settings block no pair on a family and a
-- given name alone; they keep those two rules as lookup_blocking rules (issue 12, session 40), so a
-- desk's lookup by the two names alone, with or without a birth date, finds what it found when the
-- two rules were blocking rules.  The same lookups under the former default settings (the 13 rules
-- of 0.3.0 before session 40) and under the shipped ones give the same rows: persons, records,
-- probabilities and summaries.
BEGIN;
SELECT plan(7);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab']) n;
-- namesakes of two common names, born on other days, some without a date, one in Latin letters,
-- one with the names exchanged, one with a typo; a few patronymics, cities and phones (each phone
-- its own last seven digits: the shipped rules also block on them)
CREATE TEMP TABLE fx (i int PRIMARY KEY, f text, g text, p text, d date, c text);
INSERT INTO fx VALUES
 (1, 'Иванова', 'Мария', 'Петровна', '1950-03-05', 'Тверь'), (2, 'Иванова', 'Мария', NULL, '1961-07-12', NULL),
 (3, 'Иванова', 'Мария', 'Ивановна', NULL, 'Тула'), (4, 'Иванова', 'Мария', NULL, NULL, NULL),
 (5, 'Ivanova', 'Mariia', NULL, '1975-11-30', NULL), (6, 'Мария', 'Иванова', NULL, '1980-01-02', NULL),
 (7, 'Иванова', 'Марья', 'Петровна', '1950-03-05', NULL), (8, 'Иванова', 'Мария', 'Сергеевна', '1950-05-03', 'Тверь'),
 (9, 'Петров', 'Иван', 'Иванович', '1944-04-04', NULL), (10, 'Петров', 'Иван', NULL, NULL, 'Орёл'),
 (11, 'Петров', 'Иван', 'Иванович', '1944-04-04', 'Орёл'), (12, 'Петрова', 'Ивана', NULL, '1944-04-04', NULL),
 (13, 'Петров', 'Иван', 'Олегович', '1990-09-09', NULL), (14, 'Сидорова', 'Анна', NULL, '1950-03-05', NULL),
 (15, 'Иванов', 'Мартин', NULL, '1961-07-12', NULL), (16, 'Петров', 'Иван', NULL, '1949-04-04', NULL);
SELECT count(cdp.upsert_record(CASE WHEN i % 2 = 0 THEN 'lab' ELSE 'reg' END, 'x' || i, jsonb_strip_nulls(jsonb_build_object(
	'family_name', f, 'given_name', g, 'patronymic', p, 'birth_date', d::text, 'city', c,
	'phone', CASE WHEN i % 3 = 0 THEN '+7916' || lpad((1000000 + i * 131071 % 9000000)::text, 7, '0') END))))
  FROM fx;
-- the lookups: every name alone, with each birth date of the fixture, with a typo
CREATE TEMP TABLE probe (n serial PRIMARY KEY, attrs jsonb);
INSERT INTO probe (attrs)
SELECT DISTINCT jsonb_build_object('family_name', f, 'given_name', g) FROM fx
UNION SELECT DISTINCT jsonb_build_object('family_name', f, 'given_name', g, 'birth_date', d2.d::text) FROM fx, (SELECT DISTINCT d FROM fx WHERE d IS NOT NULL) d2
UNION SELECT jsonb_build_object('family_name', 'Иваноа', 'given_name', 'Мария')
UNION SELECT jsonb_build_object('family_name', 'Петров', 'given_name', 'Ивна', 'birth_date', '1944-04-04')
UNION SELECT jsonb_build_object('family_name', 'Петров', 'given_name', 'Иван', 'patronymic', 'Иванович');
CREATE FUNCTION pg_temp.lookups() RETURNS TABLE (attrs jsonb, o bigint, golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE sql AS $$
	SELECT p.attrs, f.o, f.golden_id, f.probability, f.record_id, f.summary
	  FROM probe p CROSS JOIN LATERAL cdp.find_patient(p.attrs, 20) WITH ORDINALITY f(golden_id, probability, record_id, summary, o) $$;
CREATE FUNCTION pg_temp.namesakes() RETURNS TABLE (attrs jsonb, persons bigint, records bigint, ask text[])
	LANGUAGE sql AS $$
	SELECT p.attrs, n.* FROM probe p CROSS JOIN LATERAL cdp.find_patient_namesakes(p.attrs) n $$;

-- the former default: the shipped document with the 13 rules of 0.3.0 before session 40, the two
-- rules of two names among them
\ir ../fixtures/match_former_rules.sql
SELECT ok(cdp.configure_matching(pg_temp.former_rules()) > 0, 'the former default settings');
SELECT ok((cdp.run_matching('full') ->> 'processed')::int > 0, 'a full run under them');
CREATE TEMP TABLE old_rows AS SELECT * FROM pg_temp.lookups();
CREATE TEMP TABLE old_ns AS SELECT * FROM pg_temp.namesakes();

-- the shipped default, its keys computed for the same persons (no run: the persons stay)
SELECT ok(cdp.configure_matching(cdp_internal._match_default_settings()) > 0, 'the shipped default settings');
SELECT cdp_internal._match_refresh_keys(NULL) > 0;
SELECT ok((SELECT count(*) FROM old_rows) > 2 * (SELECT count(*) FROM probe), 'the lookups find several persons each');
-- (a person is shown by its best record; of two records of one person that score alike, which one
-- is shown follows the order the candidates were read in, which the rules' numbers change)
SELECT results_eq($$SELECT attrs, o, golden_id, probability, summary FROM pg_temp.lookups() ORDER BY attrs::text, o$$,
                  $$SELECT attrs, o, golden_id, probability, summary FROM old_rows ORDER BY attrs::text, o$$,
                  'find_patient gives the same persons, probabilities and summaries under the shipped rules as under the former ones');
SELECT is((SELECT count(*)::int FROM pg_temp.lookups() n JOIN old_rows o USING (attrs, o)
            WHERE n.record_id <> o.record_id
              AND (SELECT golden_id FROM cdp.record WHERE record_id = n.record_id) IS DISTINCT FROM
                  (SELECT golden_id FROM cdp.record WHERE record_id = o.record_id)), 0,
          'each shown by a record of that person');
SELECT results_eq($$SELECT * FROM pg_temp.namesakes() ORDER BY attrs::text$$, $$SELECT * FROM old_ns ORDER BY attrs::text$$,
                  'and find_patient_namesakes the same counts');

SELECT * FROM finish();
ROLLBACK;
