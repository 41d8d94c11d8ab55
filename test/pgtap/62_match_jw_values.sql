-- test/pgtap/62_match_jw_values.sql: a Jaro-Winkler level compares the first MATCH_JW_MAX_VALUES
-- (4) values of each record, the exact level all of them (issue 12, session 42, src/match.h). Two
-- records of 32 long e-mails each made 1,024 similarities per pair and level, and a training on
-- twenty of them ran for over ten minutes. The shipped settings compare e-mails exact, then
-- Jaro-Winkler >= 0.95; explain_match shows the level the scorer reached.
BEGIN;
SELECT plan(7);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab']) n;
CREATE TEMP TABLE r(name text PRIMARY KEY, id bigint);
INSERT INTO r VALUES
 -- five addresses, in the order the feature keeps them
 ('five', cdp.upsert_record('reg', 'five', '{"family_name":"Зуев","given_name":"Павел","emails":["anna.zueva@mail.ru","boris.zuev@mail.ru","clinic.zuev@mail.ru","dmitri.zuev@mail.ru","egor.zuev@mail.ru"]}')),
 -- a slip in the first address: a Jaro-Winkler pair of the first four
 ('slip1', cdp.upsert_record('lab', 'slip1', '{"family_name":"Зуев","given_name":"Павел","emails":["anna.zueva@mail.ri"]}')),
 -- the same slip in the fourth
 ('slip4', cdp.upsert_record('lab', 'slip4', '{"family_name":"Зуев","given_name":"Павел","emails":["dmitri.zuev@mail.ri"]}')),
 -- the same slip in the fifth: past the values a Jaro-Winkler level compares
 ('slip5', cdp.upsert_record('lab', 'slip5', '{"family_name":"Зуев","given_name":"Павел","emails":["egor.zuev@mail.ri"]}')),
 -- the fifth address itself: the exact level compares every value
 ('same5', cdp.upsert_record('lab', 'same5', '{"family_name":"Зуев","given_name":"Павел","emails":["egor.zuev@mail.ru"]}'));
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM r WHERE name = n $$;
CREATE FUNCTION pg_temp.email_level(a text, b text) RETURNS text LANGUAGE sql AS $$
	SELECT level FROM cdp.explain_match(pg_temp.id(a), pg_temp.id(b)) WHERE attr = 'emails' $$;

SELECT is((SELECT value_a FROM cdp.explain_match(pg_temp.id('five'), pg_temp.id('slip5')) WHERE attr = 'emails'),
          'anna.zueva@mail.ru, boris.zuev@mail.ru, clinic.zuev@mail.ru, dmitri.zuev@mail.ru, egor.zuev@mail.ru',
          'the feature keeps the five addresses in this order');
SELECT ok(cdp.jaro_winkler('egor.zuev@mail.ru', 'egor.zuev@mail.ri') >= 0.95, 'each slip is over the level''s 0.95');
SELECT is(pg_temp.email_level('five', 'slip1'), 'похоже (Джаро-Винклер ≥ 0.95)', 'a slip in the first address reaches the Jaro-Winkler level');
SELECT is(pg_temp.email_level('slip1', 'five'), 'похоже (Джаро-Винклер ≥ 0.95)', 'from either side');
SELECT is(pg_temp.email_level('five', 'slip4'), 'похоже (Джаро-Винклер ≥ 0.95)', 'and in the fourth');
SELECT is(pg_temp.email_level('five', 'slip5'), 'не совпадает', 'a slip in the fifth address is not compared by Jaro-Winkler');
SELECT is(pg_temp.email_level('five', 'same5'), 'совпадает', 'the fifth address itself reaches the exact level');

SELECT * FROM finish();
ROLLBACK;
