-- test/pgtap/68_find_patient_dateless.sql: find_patient when the person's own record carries no
-- birth date (issue 18, session 26).  The desk gives the name and the date; the person's record has
-- the name and no date; namesakes around it are born on other days, or on days a digit off the one
-- given, sharing only a word of the name.  Nothing outranks the person's record on what the desk
-- gave (the oracle ceiling of test/bench/find_patient.sh), so it must come first.
BEGIN;
SELECT plan(9);

SELECT cdp.register_source('reg') IS NOT NULL AS src \gset
-- twenty «Иванова Мария» born on other days (none a digit off 17.09.1948)
SELECT cdp.upsert_record('reg', 'iv' || i, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'sex', 'F',
                         'birth_date', (date '1950-01-01' + i * 811)::text))
  FROM generate_series(1, 20) i;
-- twelve people born on a day a digit off 17.09.1948, each sharing one word with «Иванова Мария
-- Тимофеевна»: Иванова with another given name, or Ivanov
SELECT cdp.upsert_record('reg', 'near' || i, jsonb_build_object('family_name', f, 'given_name', g, 'birth_date', d))
  FROM (VALUES (1, 'Иванова', 'Елена', '1948-09-18'), (2, 'Иванова', 'Ольга', '1948-09-13'),
               (3, 'Ivanov', 'Aleksandr', '1948-09-14'), (4, 'Ivanov', 'Igor', '1948-09-27'),
               (5, 'Иванова', 'Анна', '1948-08-17'), (6, 'Иванова', 'Любовь', '1948-02-17'),
               (7, 'Иванова', 'Анастасия', '1948-01-17'), (8, 'Иванов', 'Николай', '1948-06-17'),
               (9, 'Иванова', 'Нина', '1943-09-17'), (10, 'Иванова', 'Вера', '1946-09-17'),
               (11, 'Иванов', 'Пётр', '1949-09-17'), (12, 'Иванова', 'Галина', '1948-09-07')) v(i, f, g, d);
-- the person: her name, no birth date
SELECT cdp.upsert_record('reg', 'me', '{"family_name":"Иванова","given_name":"Мария","patronymic":"Тимофеевна","sex":"F"}');
-- a maiden name: «Береговая Мария Ивановна» born 26.10.1993, asked for as «LEBEDEVA MARIIA» with
-- that date, among ten «Лебедева Мария» without a date
SELECT cdp.upsert_record('reg', 'mb', '{"family_name":"Береговая","given_name":"Мария","patronymic":"Ивановна","birth_date":"1993-10-26","sex":"F"}');
SELECT cdp.upsert_record('reg', 'lm' || i, jsonb_build_object('family_name', 'Лебедева', 'given_name', 'Мария', 'patronymic', p, 'sex', 'F'))
  FROM unnest(ARRAY['Алексеевна', 'Борисовна', 'Викторовна', 'Глебовна', 'Денисовна', 'Евгеньевна', 'Игоревна',
                    'Кирилловна', 'Леонидовна', 'Максимовна']) WITH ORDINALITY v(p, i);
-- a typo in the family name: «Лобанов Алексей» without a date, asked for as «Lobnov Aleksey»
SELECT cdp.upsert_record('reg', 'lo', '{"family_name":"Лобанов","given_name":"Алексей","sex":"M"}');
SELECT is((cdp.run_matching() ->> 'processed')::int > 0, true, 'the records are matched');

CREATE TEMP TABLE fm AS
SELECT o, r.source_key FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","patronymic":"Тимофеевна","birth_date":"17.09.1948"}', 10)
       WITH ORDINALITY f(g, p, rid, s, o) JOIN cdp.record r ON r.record_id = f.rid;
SELECT is((SELECT source_key FROM fm WHERE o = 1), 'me',
          'the person''s record without a date comes first, before twelve born a digit off who share one word of the name');
SELECT is((SELECT count(*)::int FROM fm WHERE source_key LIKE 'near%'), 9,
          'nine of them follow her: a word in common and a date a digit off is no agreement, but no contradiction either');
SELECT is((SELECT count(*)::int FROM fm WHERE source_key LIKE 'iv%'), 0,
          'the namesakes born on other days come after them');
-- a date a digit off still agrees with a similar name: «Иванова Мария» born 18.09.1948
SELECT cdp.upsert_record('reg', 'nearsim', '{"family_name":"Иванова","given_name":"Мария","birth_date":"1948-09-18","sex":"F"}');
SELECT cdp.run_matching();
SELECT is((SELECT r.source_key FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","patronymic":"Тимофеевна","birth_date":"17.09.1948"}', 10)
                  WITH ORDINALITY f(g, p, rid, s, o) JOIN cdp.record r ON r.record_id = f.rid WHERE o = 1), 'nearsim',
          'a namesake born a digit off with the same name still agrees and comes first');

SELECT is((SELECT r.source_key FROM cdp.find_patient('{"family_name":"LEBEDEVA","given_name":"MARIIA","birth_date":"26.10.1993"}', 10)
                  WITH ORDINALITY f(g, p, rid, s, o) JOIN cdp.record r ON r.record_id = f.rid WHERE o = 1), 'mb',
          'the birth date itself agrees with a word in common: a maiden name born that day comes before ten namesakes without a date');

SELECT ok(EXISTS (SELECT 1 FROM cdp.find_patient('{"family_name":"Lobnov","given_name":"Aleksey","birth_date":"05.01.1994"}', 10) f
                   JOIN cdp.record r ON r.record_id = f.record_id WHERE r.source_key = 'lo'),
          'a typo in the family name and no date on the record: «Лобанов Алексей» is found for «Lobnov Aleksey»');
SELECT is(cdp_internal._find_name_ranges('{"blocking":[["family_name.key","given_name.key"],["phones"],["any_order","family_name.key","given_name.key"],["any_order","family_name.key","given_name.key","patronymic.key"]]}',
                                         ARRAY['r0:lobnov|alexei', 'r1:79000000000', 'r2:alexei|lobnov', 'r3:alexei|lobnov|x']),
          ARRAY['r0:lobnov|alexei', 'r2:alexei|lobnov'],
          'the name ranges: the rules of two name keys, in order and in any order');
SELECT is(cdp_internal._find_name_ranges('{"blocking":[["family_name.key","birth_date.year"],["given_name.key","birth_date"]]}',
                                         ARRAY['r0:lobnov|1994', 'r1:alexei|19940105']),
          '{}'::text[], 'no range for a rule with a key other than a name''s');
SELECT * FROM finish();
ROLLBACK;
