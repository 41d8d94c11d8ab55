-- test/pgtap/69_match_suspicious_dates.sql: a birth date carried by far more people than a day of
-- the population has (a clinic's placeholder day) is no evidence (issue 12, session 39): it is listed
-- in cdp.suspicious_values (attr birth_date), the feature builders (C and SQL) drop it, so two
-- namesakes who share only it are never linked, while two records of one person on an ordinary day
-- still are; and the snapshot is taken again when a date joins the set.
BEGIN;
SELECT plan(16);

SELECT cdp.register_source(n) FROM unnest(ARRAY['reg', 'lab']) n;
-- an ordinary clinic: forty people, two records each (one per source), each on a day of their own
-- (median: two records a day, so a date is suspicious from twenty persons: max(10, 10 x 2))
SELECT count(cdp.upsert_record(s, 'p' || i || s, jsonb_build_object('family_name', 'Фамилия' || i, 'given_name', 'Имя' || i,
	'birth_date', (date '1950-01-01' + i * 397)::text)))
  FROM generate_series(1, 40) i, unnest(ARRAY['reg', 'lab']) s;
-- one more person, two records on an ordinary day: the same person
SELECT cdp.upsert_record('reg', 'o1', '{"family_name": "Соколов", "given_name": "Андрей", "patronymic": "Викторович", "birth_date": "1985-03-04"}');
SELECT cdp.upsert_record('lab', 'o2', '{"family_name": "Соколов", "given_name": "Андрей", "patronymic": "Викторович", "birth_date": "1985-03-04"}');
-- the placeholder day: twenty-four differently named people, and two namesakes (another phone each)
SELECT count(cdp.upsert_record('reg', 'ph' || i, jsonb_build_object('family_name', 'Заглушкин' || i, 'given_name', 'Пётр',
	'birth_date', '2007-01-06')))
  FROM generate_series(1, 24) i;
SELECT cdp.upsert_record('reg', 'n1', '{"family_name": "Кузнецов", "given_name": "Иван", "patronymic": "Петрович", "birth_date": "2007-01-06", "phones": ["+79161110001"]}');
SELECT cdp.upsert_record('lab', 'n2', '{"family_name": "Кузнецов", "given_name": "Иван", "patronymic": "Петрович", "birth_date": "2007-01-06", "phones": ["+79262220002"]}');

CREATE FUNCTION pg_temp.rid(k text) RETURNS bigint LANGUAGE sql AS $$ SELECT record_id FROM cdp.record WHERE source_key = k $$;
CREATE FUNCTION pg_temp.same(a text, b text) RETURNS boolean LANGUAGE sql AS $$
	SELECT (SELECT golden_id FROM cdp.record WHERE source_key = a) = (SELECT golden_id FROM cdp.record WHERE source_key = b) $$;
-- the features of record id by the C form or the SQL form of the feature query
CREATE FUNCTION pg_temp.feat(use_sql boolean, id bigint) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	f text[];
BEGIN
	EXECUTE format('SELECT feat FROM (%s) x', cdp_internal._match_feature_query((cdp_internal._match_active()).settings,
		format('cdp.record r WHERE r.record_id = %s', id), use_sql)) INTO f;
	RETURN f;
END $$;

SELECT is((SELECT persons FROM cdp.suspicious_values WHERE attr = 'birth_date' AND value = '2007-01-06'), 25,
          'the placeholder day is suspicious: twenty-five differently named people');
SELECT is((SELECT count(*) FROM cdp.suspicious_values WHERE attr = 'birth_date'), 1::bigint, 'and no other day');
SELECT set_eq($$SELECT attr, value, persons FROM cdp.suspicious_values WHERE value <> ''$$,
              $$SELECT u.attr, u.value, u.persons FROM cdp_internal._match_suspicious_scan(10) s, unnest(s.attrs, s.vals, s.persons) u(attr, value, persons)$$,
              'the scan in C returns the rows of the view');

SELECT ok((cdp.run_matching('full') ->> 'processed')::int > 0, 'a full run');
SELECT is((SELECT persons FROM cdp_internal.match_suspicious WHERE attr = 'birth_date' AND value = '2007-01-06'), 25,
          'takes the placeholder day into its snapshot');
SELECT is(pg_temp.same('n1', 'n2'), false, 'two namesakes sharing only the placeholder day are not linked');
SELECT is(pg_temp.same('o1', 'o2'), true, 'two records of one person on an ordinary day are');
SELECT ok((SELECT bool_and(pg_temp.same('p' || i || 'reg', 'p' || i || 'lab')) FROM generate_series(1, 40) i),
          'and so are the forty people of the ordinary clinic');
SELECT is((SELECT count(DISTINCT golden_id) FROM cdp.record WHERE birth_date = '2007-01-06'), 26::bigint,
          'nobody on the placeholder day is linked to anybody');

-- the features: no birth date for the placeholder day, in the C form and in the SQL form alike
SELECT is(pg_temp.feat(false, pg_temp.rid('n1')), pg_temp.feat(true, pg_temp.rid('n1')),
          'the C and the SQL feature builders agree on a record of the placeholder day');
SELECT is((SELECT k.feat FROM cdp_internal.match_key k WHERE k.record_id = pg_temp.rid('n1')), pg_temp.feat(true, pg_temp.rid('n1')),
          'and the full re-key wrote the same');
SELECT ok(NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k, unnest(k.feat) f WHERE k.record_id = pg_temp.rid('n1') AND f = '20070106'),
          'whose features hold no birth date');
SELECT ok(EXISTS (SELECT 1 FROM cdp_internal.match_key k, unnest(k.feat) f WHERE k.record_id = pg_temp.rid('o1') AND f = '19850304'),
          'while an ordinary day is a feature');
SELECT ok(NOT EXISTS (SELECT 1 FROM cdp_internal.match_block b WHERE b.record_id IN (pg_temp.rid('n1'), pg_temp.rid('n2')) AND b.bk LIKE '%20070106%'),
          'and no blocking key is built on the placeholder day');

-- a record arriving later on the placeholder day, matched at once: not linked either
SELECT cdp.upsert_record('reg', 'n3', '{"family_name": "Кузнецов", "given_name": "Иван", "patronymic": "Петрович", "birth_date": "2007-01-06"}');
SELECT count(*) >= 0 AS m FROM cdp.match_record(pg_temp.rid('n3')) \gset
SELECT ok(NOT pg_temp.same('n3', 'n1') AND NOT pg_temp.same('n3', 'n2'), 'a later namesake on the placeholder day is not linked at once');

-- the control: a threshold over the placeholder day's persons makes it evidence again, and the
-- namesakes are then linked on their full name and the date
SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"suspicious_min_persons": 100}') IS NOT NULL AS cfg \gset
SELECT cdp.run_matching('full') IS NOT NULL AS run \gset
SELECT is(pg_temp.same('n1', 'n2'), true, 'control: with the day as evidence the namesakes are linked');

SELECT * FROM finish();
ROLLBACK;
