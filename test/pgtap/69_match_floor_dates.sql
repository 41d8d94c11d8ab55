-- test/pgtap/69_match_floor_dates.sql: the evidence floor reads a birth date within a year of the
-- other as a date agreement where the settings count a birth year (a same_year level, as
-- fields-only settings have), and only there (issue 12, session 25).
BEGIN;
SELECT plan(9);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab']) n;
CREATE TEMP TABLE r(name text PRIMARY KEY, id bigint);
INSERT INTO r VALUES
 -- the same name and city; birth dates 335 days apart, across New Year, 368 days and ten years apart
 ('w1', cdp.upsert_record('reg', 'w1', '{"family_name":"Webster","given_name":"Leo","birth_date":"2014-04-08","city":"Sheffield"}')),
 ('w2', cdp.upsert_record('lab', 'w2', '{"family_name":"Webster","given_name":"Leo","birth_date":"2013-05-08","city":"Sheffield"}')),
 ('y1', cdp.upsert_record('reg', 'y1', '{"family_name":"Harper","given_name":"Ada","birth_date":"2013-12-30","city":"Plymouth"}')),
 ('y2', cdp.upsert_record('lab', 'y2', '{"family_name":"Harper","given_name":"Ada","birth_date":"2014-01-02","city":"Plymouth"}')),
 ('f1', cdp.upsert_record('reg', 'f1', '{"family_name":"Kirk","given_name":"Grace","birth_date":"1999-04-17","city":"Leeds"}')),
 ('f2', cdp.upsert_record('lab', 'f2', '{"family_name":"Kirk","given_name":"Grace","birth_date":"2000-04-19","city":"Leeds"}')),
 ('d1', cdp.upsert_record('reg', 'd1', '{"family_name":"Marshall","given_name":"Theo","birth_date":"1982-07-23","city":"Bath"}')),
 ('d2', cdp.upsert_record('lab', 'd2', '{"family_name":"Marshall","given_name":"Theo","birth_date":"1972-07-25","city":"Bath"}'));
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM r WHERE name = n $$;
-- whether explain_match flags the pair of fixture records a and b as agreeing on names only
CREATE FUNCTION pg_temp.name_only(a text, b text) RETURNS boolean LANGUAGE sql AS $$
	SELECT level LIKE '%совпали только имена%' FROM cdp.explain_match(pg_temp.id(a), pg_temp.id(b)) WHERE attr = '(итог)' $$;

SELECT ok(cdp.configure_matching('{"fields": ["family_name", "given_name", "birth_date", "city"]}') > 1,
          'fields-only settings are saved');
SELECT ok((SELECT c -> 'levels' @> '[{"if": "same_year"}]' FROM jsonb_array_elements(cdp.matching_settings() -> 'comparisons') c
            WHERE c ->> 'attr' = 'birth_date'),
          'their birth date counts the same year');
SELECT is(pg_temp.name_only('w1', 'w2'), false, 'birth dates 335 days apart are a date agreement for the floor');
SELECT is(pg_temp.name_only('y1', 'y2'), false, 'so are two dates three days apart across New Year, which share no year');
SELECT is(pg_temp.name_only('f1', 'f2'), true, 'dates 368 days apart are not');
SELECT is(pg_temp.name_only('d1', 'd2'), true, 'nor a birth date ten years off: such a pair agrees on names and a city only');

-- the shipped default has no same_year level: a birth year is no agreement there, nor a near date
SELECT ok(cdp.configure_matching(cdp_internal._match_default_settings()) > 1, 'the shipped default is saved');
SELECT ok(NOT (SELECT c -> 'levels' @> '[{"if": "same_year"}]' FROM jsonb_array_elements(cdp.matching_settings() -> 'comparisons') c
                WHERE c ->> 'attr' = 'birth_date'),
          'its birth date has no same_year level');
SELECT is(pg_temp.name_only('y1', 'y2'), true, 'so dates three days apart are no agreement under it');

SELECT * FROM finish();
ROLLBACK;
