-- test/pgtap/68_find_patient.sql: find_patient among namesakes (issue 18): twenty «Иванова Мария»
-- with different birth dates (and phones, SNILS), found first by the date, the phone or the SNILS
-- beside the name; with the name alone, how many namesakes there are.
BEGIN;
SELECT plan(33);

SELECT cdp.register_source('reg');
CREATE TEMP TABLE iv (i int PRIMARY KEY, id bigint, dob date, phone text, snils text);
-- twenty women called Иванова Мария, each born on another day, with her own phone; the first
-- ten also with a SNILS (valid check digits: weights 9..1, sum mod 101, 100 -> 00)
INSERT INTO iv
SELECT i, NULL, date '1950-01-01' + i * 811, '+7 916 200-' || lpad((i * 37 % 100)::text, 2, '0') || '-' || lpad(i::text, 2, '0'),
       CASE WHEN i <= 10 THEN n || lpad((CASE WHEN c < 100 THEN c WHEN c <= 101 THEN 0 ELSE c % 101 % 100 END)::text, 2, '0') END
  FROM (SELECT i, n, (SELECT sum(substr(n, k, 1)::int * (10 - k))::int FROM generate_series(1, 9) k) AS c
          FROM (SELECT i, (200000000 + i * 7919)::text AS n FROM generate_series(1, 20) i) a) b;
-- some with a patronymic (six: every third), every fifth written in Latin
UPDATE iv SET id = cdp.upsert_record('reg', 'iv' || i, jsonb_strip_nulls(jsonb_build_object(
         'family_name', CASE WHEN i % 5 = 0 THEN 'Ivanova' ELSE 'Иванова' END,
         'given_name', CASE WHEN i % 5 = 0 THEN 'Mariia' ELSE 'Мария' END,
         'patronymic', CASE WHEN i % 3 = 0 THEN 'Петровна' END,
         'sex', 'F', 'birth_date', dob::text, 'phone', phone, 'snils', snils)));
-- other people around them
SELECT cdp.upsert_record('reg', 'o' || i, jsonb_build_object('family_name', f, 'given_name', g, 'birth_date', d))
  FROM (VALUES (1, 'Иванов', 'Иван', '1980-01-01'), (2, 'Петрова', 'Мария', '1977-03-05'),
               (3, 'Иванова', 'Марина', '1990-07-07'), (4, 'Сидорова', 'Анна', '1961-02-02')) v(i, f, g, d);
SELECT is((cdp.run_matching() ->> 'processed')::int > 0, true, 'the records are matched');
SELECT is((SELECT count(DISTINCT golden_id)::int FROM cdp.record r JOIN iv ON iv.id = r.record_id), 20,
          'the twenty namesakes stay twenty persons');

CREATE FUNCTION pg_temp.first(attrs jsonb) RETURNS bigint LANGUAGE sql AS
	$$ SELECT record_id FROM cdp.find_patient(attrs) LIMIT 1 $$;
CREATE FUNCTION pg_temp.g(rid bigint) RETURNS bigint LANGUAGE sql AS
	$$ SELECT golden_id FROM cdp.record WHERE record_id = rid $$;

-- with the birth date beside the name, every one of the twenty comes first
SELECT is((SELECT count(*)::int FROM iv
            WHERE pg_temp.g(pg_temp.first(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
                                                             'birth_date', to_char(dob, 'DD.MM.YYYY')))) = pg_temp.g(iv.id)), 20,
          'the name and the birth date find each of the twenty namesakes first');
SELECT is(pg_temp.g(pg_temp.first(jsonb_build_object('family_name', 'Ivanova', 'given_name', 'Maria',
                                                     'birth_date', (SELECT dob FROM iv WHERE i = 4)::text))),
          pg_temp.g((SELECT id FROM iv WHERE i = 4)),
          'a Latin spelling and a birth date find her too');
SELECT is((SELECT count(*)::int FROM iv
            WHERE pg_temp.g(pg_temp.first(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'phone', phone))) = pg_temp.g(iv.id)), 20,
          'the name and the phone find each of the twenty first');
SELECT is((SELECT count(*)::int FROM iv
            WHERE snils IS NOT NULL
              AND pg_temp.g(pg_temp.first(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'snils', snils))) = pg_temp.g(iv.id)), 10,
          'the name and the SNILS find each of the ten with one first');
SELECT is((SELECT golden_id FROM cdp.find_patient(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
                                                                    'birth_date', (SELECT dob FROM iv WHERE i = 7)::text)) OFFSET 1 LIMIT 1) IS DISTINCT FROM
          pg_temp.g((SELECT id FROM iv WHERE i = 7)), true, 'the person found is not listed twice');

-- a birth date written with a typo (session 21): day and month exchanged, one digit off; and
-- a record whose name no name block meets (maiden name and initials), found by its birth date
SELECT cdp.upsert_record('reg', 'x' || i, jsonb_strip_nulls(jsonb_build_object('family_name', f, 'given_name', g,
                         'patronymic', p, 'birth_date', d, 'sex', 'F')))
  FROM (VALUES (1, 'Сидорова', 'Мария', NULL, '1954-11-06'),      -- born the day i = 2's date swapped gives
               (2, 'Полякова', 'Н.', 'С.', '1977-04-05'),          -- maiden name Филиппова, initials only
               (3, 'Павлова', 'Наталья', NULL, NULL),             -- no date
               (4, 'Павлова', 'Наталья', 'Владиславовна', '1990-01-01'),
               (5, 'Смирнова', 'Ольга', 'Петровна', '1977-04-05')) v(i, f, g, p, d);   -- born that day, another name
SELECT cdp.run_matching();
SELECT is((SELECT count(*)::int FROM cdp_internal.match_key k JOIN cdp.record r USING (record_id) WHERE r.source_key LIKE 'x%'), 5,
          'the five new records have matching keys');
SELECT is(pg_temp.g(pg_temp.first('{"family_name":"Иванова","given_name":"Мария","birth_date":"06.11.1954"}')),
          pg_temp.g((SELECT id FROM iv WHERE i = 2)),
          'day and month exchanged: Иванова Мария born 11.06.1954 comes before Сидорова Мария born 06.11.1954');
SELECT is(pg_temp.g(pg_temp.first('{"family_name":"Иванова","given_name":"Мария","birth_date":"1965-07-19"}')),
          pg_temp.g((SELECT id FROM iv WHERE i = 7)), 'one digit off (18 -> 19): the right Иванова Мария first');
SELECT is((SELECT r.family_name FROM cdp.record r WHERE r.record_id = pg_temp.first(
               '{"family_name":"Филиппова","given_name":"Нина","patronymic":"Сергеевна","birth_date":"05.04.1977"}')), 'Полякова',
          'a maiden name and initials: «Полякова Н. С.» born that day is found first');
SELECT is((SELECT r.source_key FROM cdp.record r WHERE r.record_id = pg_temp.first(
               '{"family_name":"Павлова","given_name":"Натшлья","patronymic":"Владиславовна","birth_date":"20.12.1985"}')), 'x3',
          'a typo in the given name and no date on the record: «Павлова Наталья» (no date) is found first');
SELECT is((SELECT array_agg(r.birth_date ORDER BY o)::text FROM cdp.find_patient(
               '{"family_name":"Павлова","given_name":"Натшлья","patronymic":"Владиславовна","birth_date":"20.12.1985"}') WITH ORDINALITY f(g, p, rid, s, o)
             JOIN cdp.record r ON r.record_id = f.rid WHERE r.family_name = 'Павлова'), '{NULL,1990-01-01}',
          'the namesake born on another day comes after her');

-- session 23: a day carried by more than a cap of records is a placeholder, not read whole
-- (find_patient's cap is 1 000; two records are born on 05.04.1977 here)
CREATE TEMP TABLE dr AS SELECT cdp_internal._find_date_ranges((SELECT settings FROM cdp_internal._match_active()), date '1977-04-05') AS r;
SELECT is((SELECT cdp_internal._find_dates_usual(r, 1) FROM dr),
          (SELECT array_agg(p ORDER BY p) FROM dr, unnest(r) p WHERE p NOT LIKE '%19770405'),
          'a cap of one record drops the ranges of a day of two (the day-month swapped ones stay)');
SELECT is((SELECT cdp_internal._find_dates_usual(r, 2) FROM dr), (SELECT r FROM dr), 'a cap of two keeps them');

-- session 22: a record without a birth date, under the review floor (two typos in the given name,
-- found through the name ranges), comes before namesakes born on other days, whatever their
-- probability (before: those at or above the floor came first)
SELECT cdp.upsert_record('reg', 'k' || i, jsonb_strip_nulls(jsonb_build_object('family_name', f, 'given_name', g,
                         'patronymic', p, 'birth_date', d, 'sex', 'F')))
  FROM (VALUES (1, 'Кузьмина', 'Светлана', 'Игоревна', '1980-05-05'),
               (2, 'Кузьмина', 'Светлана', 'Игоревна', '1966-09-21'),
               (3, 'Кузьмина', 'Светлна', NULL, NULL)) v(i, f, g, p, d);
SELECT cdp.run_matching();
SELECT is((SELECT array_agg(r.source_key ORDER BY o)::text FROM cdp.find_patient(
               '{"family_name":"Кузьмина","given_name":"Светлана","patronymic":"Игоревна","birth_date":"03.03.1971"}') WITH ORDINALITY f(g, p, rid, s, o)
             JOIN cdp.record r ON r.record_id = f.rid WHERE r.source_key LIKE 'k%'), '{k3,k1,k2}',
          'no date and under the floor (k3) before two namesakes born on other days (k1, k2)');

-- with the name alone: the namesakes are counted, not cut to an arbitrary ten
SELECT is((SELECT persons::int FROM cdp.find_patient_namesakes('{"family_name":"Иванова","given_name":"Мария"}')), 20,
          'the name alone has twenty namesakes');
SELECT is((SELECT persons::int FROM cdp.find_patient_namesakes('{"family_name":"Ivanova","given_name":"Mariia"}')), 20,
          'the Latin spelling counts the same twenty');
SELECT is((SELECT persons::int FROM cdp.find_patient_namesakes('{"family_name":"Иванова","given_name":"Мария","patronymic":"Петровна"}')), 6,
          'the patronymic narrows them to the six who gave it');
SELECT ok((SELECT ask FROM cdp.find_patient_namesakes('{"family_name":"Иванова","given_name":"Мария"}')) @> ARRAY['birth_date'],
          'and asks for the birth date');
SELECT is((SELECT persons::int FROM cdp.find_patient_namesakes(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
                                                                                 'birth_date', (SELECT dob FROM iv WHERE i = 4)::text))), 1,
          'with the birth date one person is left');

-- session 23: with a birth date (and no phone or SNILS) find_patient scores first the candidates
-- without a date or with one near it, and those whose date contradicts the probe's only when the
-- first are fewer than max_results.  Twelve «Иванова Мария» without a birth date (each with her own
-- patronymic) make the first pass enough for ten.
SELECT cdp.upsert_record('reg', 'n' || i, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
                         'patronymic', p, 'sex', 'F'))
  FROM unnest(ARRAY['Алексеевна', 'Борисовна', 'Викторовна', 'Глебовна', 'Денисовна', 'Евгеньевна', 'Игоревна',
                    'Кирилловна', 'Леонидовна', 'Максимовна', 'Олеговна', 'Романовна']) WITH ORDINALITY v(p, i);
SELECT cdp.run_matching();
CREATE TEMP TABLE f10 AS
SELECT o, r.source_key, r.birth_date FROM cdp.find_patient(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
         'birth_date', (SELECT dob FROM iv WHERE i = 4)::text), 10) WITH ORDINALITY f(g, p, rid, s, o)
  JOIN cdp.record r ON r.record_id = f.rid;
SELECT is((SELECT source_key FROM f10 WHERE o = 1), 'iv4', 'among twelve namesakes without a date, the one born that day first');
SELECT is((SELECT count(*)::int FROM f10 WHERE birth_date IS NULL), 9, 'then nine of the namesakes without a date, no namesake born on another day');
CREATE TEMP TABLE f40 AS
SELECT o, r.source_key, r.birth_date FROM cdp.find_patient(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
         'birth_date', (SELECT dob FROM iv WHERE i = 4)::text), 40) WITH ORDINALITY f(g, p, rid, s, o)
  JOIN cdp.record r ON r.record_id = f.rid;
SELECT ok((SELECT count(*) FROM f40 WHERE birth_date IS NULL) = 12
          AND (SELECT max(o) FROM f40 WHERE birth_date IS NULL) < (SELECT min(o) FROM f40 WHERE source_key LIKE 'iv%' AND source_key <> 'iv4'),
          'asked for forty, the namesakes born on other days follow all twelve without a date');
SELECT is((SELECT array_agg(source_key ORDER BY o) FROM f40 WHERE o <= 10), (SELECT array_agg(source_key ORDER BY o) FROM f10),
          'and the first ten are the same ten');

-- session 24: everything the desk gives is used.  A record written «Иванова М.» with a birth date
-- and no phone, asked for with the date and a phone of another Иванова Мария (iv7): both agree on
-- one attr, so both come before every namesake (before, the missing phone made the agreement on
-- the date NULL, and «Иванова М.» fell behind the twelve namesakes without a date).
SELECT cdp.upsert_record('reg', 'dp', '{"family_name":"Иванова","given_name":"М.","birth_date":"1999-09-09","sex":"F"}');
SELECT cdp.run_matching();
CREATE TEMP TABLE fid AS
SELECT o, r.source_key, r.birth_date FROM cdp.find_patient(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
         'birth_date', '1999-09-09', 'phone', (SELECT phone FROM iv WHERE i = 7)), 10) WITH ORDINALITY f(g, p, rid, s, o)
  JOIN cdp.record r ON r.record_id = f.rid;
SELECT is((SELECT array_agg(source_key ORDER BY source_key) FROM fid WHERE o <= 2), ARRAY['dp', 'iv7'],
          'date and phone given: the record with the date and no phone and the one with the phone and another date come first');
SELECT is((SELECT count(*)::int FROM fid WHERE o > 2 AND birth_date IS NOT NULL), 0,
          'then namesakes without a date, none born on another day');
CREATE TEMP TABLE fid40 AS
SELECT o, r.source_key, f.g FROM cdp.find_patient(jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария',
         'birth_date', '1999-09-09', 'phone', (SELECT phone FROM iv WHERE i = 7)), 40) WITH ORDINALITY f(g, p, rid, s, o)
  JOIN cdp.record r ON r.record_id = f.rid;
SELECT is((SELECT array_agg(source_key ORDER BY o) FROM fid40 WHERE o <= 10), (SELECT array_agg(source_key ORDER BY o) FROM fid),
          'with a phone too, the first pass gives the same first ten as forty');
SELECT is((SELECT count(DISTINCT g) = count(*) AND count(*) FILTER (WHERE source_key = 'iv7') = 1 FROM fid40), true,
          'asked for forty, no person is listed twice (iv7, kept by the first pass, not again by the second)');

-- session 25: with a date alone, the passes split the candidates by the records' birth dates, read
-- from the index by record id without the table; both passes list every namesake once.  Since
-- session 31 that index is the record's primary key (it was record_find_by_id, the same key)
SELECT is(pg_get_indexdef('cdp.record_pkey'::regclass),
          'CREATE UNIQUE INDEX record_pkey ON cdp.record USING btree (record_id) INCLUDE (birth_date, golden_id, family_name, given_name, patronymic)',
          'the records'' birth dates, golden ids and names are in the primary key by record id (sessions 26, 27, 31)');
-- session 27: the names the ranking compares come from that index, not the record; a near date
-- (day and month exchanged) and initials, then the same lookups with a primary key of the record
-- id alone (read from the table): the same persons in the same order
SELECT cdp.upsert_record('reg', 'sw', jsonb_build_object('family_name', 'Иванова', 'given_name', 'М.', 'birth_date',
         to_char((SELECT dob FROM iv WHERE i = 5), 'YYYY-DD-MM'), 'sex', 'F'));
SELECT cdp.run_matching();
CREATE TEMP TABLE fxq (k int, a jsonb);
INSERT INTO fxq VALUES
  (1, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'birth_date', (SELECT dob FROM iv WHERE i = 5)::text)),
  (2, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'birth_date', '1999-09-09')),
  (3, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'birth_date', (SELECT dob FROM iv WHERE i = 9)::text,
                         'phone', (SELECT phone FROM iv WHERE i = 2)));
CREATE TEMP TABLE fx AS
SELECT q.k, (SELECT array_agg(f.rid ORDER BY o) FROM cdp.find_patient(q.a, 40) WITH ORDINALITY f(g, p, rid, s, o)) AS rids FROM fxq q;
SELECT is((SELECT count(*)::int FROM fx WHERE cardinality(rids) >= 10), 3, 'three lookups, each lists at least ten persons');
-- the primary key without the included columns (pair_decision's foreign keys go with it, rolled back)
ALTER TABLE cdp.record DROP CONSTRAINT record_pkey CASCADE;
ALTER TABLE cdp.record ADD CONSTRAINT record_pkey PRIMARY KEY (record_id);
SELECT is((SELECT array_agg(fx.rids = (SELECT array_agg(f.rid ORDER BY o) FROM cdp.find_patient(q.a, 40) WITH ORDINALITY f(g, p, rid, s, o)) ORDER BY q.k)
             FROM fx JOIN fxq q USING (k)),
          ARRAY[true, true, true], 'without the index (names read from the table) the same persons in the same order');
SELECT is((SELECT array_agg(source_key ORDER BY o)::text FROM f40),
          '{iv4,n1,n2,n3,n4,n5,n6,n7,n8,n9,n10,n11,n12,iv1,iv2,iv3,iv6,iv7,iv8,iv9,iv11,iv12,iv13,iv14,iv16,iv17,iv18,iv19}',
          'asked for forty with the date alone: the 28 persons session 24''s definition lists, in its order');
SELECT * FROM finish();
ROLLBACK;
