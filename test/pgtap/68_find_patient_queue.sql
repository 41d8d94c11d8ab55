-- test/pgtap/68_find_patient_queue.sql: what find_patient and find_patient_namesakes answer beyond a
-- name (issue 18): a record registered a minute ago and not yet matched (still in the match
-- queue) is found and counted; an identifier or contact alone (SNILS, phone, e-mail) finds its
-- person; a lookup no blocking rule can use is an error asking for more; so is a birth date that
-- is no date.
BEGIN;
SELECT plan(19);

SELECT cdp.register_source('reg') IS NOT NULL AS src \gset
-- twenty women called Иванова Мария, each born on another day, with her own phone and e-mail, and
-- a man with a SNILS
CREATE TEMP TABLE iv (i int PRIMARY KEY, id bigint);
INSERT INTO iv
SELECT i, cdp.upsert_record('reg', 'iv' || i, jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'sex', 'F',
         'birth_date', (date '1950-01-01' + i * 811)::text,
         'phone', '+7 916 200-' || lpad((i * 37 % 100)::text, 2, '0') || '-' || lpad(i::text, 2, '0'),
         'email', 'mi' || i || '@mail.ru'))
  FROM generate_series(1, 20) i;
INSERT INTO iv VALUES (21, cdp.upsert_record('reg', 'sn', '{"family_name":"Петров","given_name":"Пётр","birth_date":"1970-01-01","snils":"112-233-445 95"}'));
SELECT is((cdp.run_matching() ->> 'processed')::int, 21, 'the records are matched');
CREATE FUNCTION pg_temp.g(k text) RETURNS bigint LANGUAGE sql AS
	$$ SELECT golden_id FROM cdp.record WHERE source_key = k $$;

/* ------------------------------------------------------------------ a record not yet matched */
-- the desk registers a twenty-first Иванова Мария, then asks again before any matching run
SELECT cdp.upsert_record('reg', 'new1', '{"family_name":"Иванова","given_name":"Мария","birth_date":"2001-02-03"}') IS NOT NULL AS n1 \gset
SELECT ok(EXISTS (SELECT 1 FROM cdp_internal.match_queue q JOIN cdp.record r USING (record_id) WHERE r.source_key = 'new1'),
          'the new record waits in the match queue');
SELECT is((SELECT golden_id FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"2001-02-03"}') LIMIT 1),
          pg_temp.g('new1'), 'find_patient finds it first by the name and the birth date');
SELECT is((SELECT count(*) FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"2001-02-03"}')
            WHERE golden_id = pg_temp.g('new1')), 1::bigint, 'once');
SELECT is((SELECT persons FROM cdp.find_patient_namesakes('{"family_name":"Иванова","given_name":"Мария"}')), 21::bigint,
          'find_patient_namesakes counts it: twenty-one namesakes');
SELECT is((SELECT persons FROM cdp.find_patient_namesakes('{"family_name":"Иванова","given_name":"Мария","birth_date":"2001-02-03"}')), 1::bigint,
          'and one with its birth date');
-- a record changed since the run (its keys are stale): found as it is now
SELECT cdp.upsert_record('reg', 'iv3', jsonb_build_object('family_name', 'Иванова', 'given_name', 'Мария', 'sex', 'F',
         'birth_date', '1999-09-09', 'phone', '+7 916 200-11-03')) IS NOT NULL AS upd \gset
SELECT is((SELECT golden_id FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"1999-09-09"}') LIMIT 1),
          pg_temp.g('iv3'), 'a record corrected since the run is found by its new birth date');
SELECT is((cdp.run_matching() ->> 'processed')::int, 2, 'after the next run');
SELECT is((SELECT golden_id FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"2001-02-03"}') LIMIT 1),
          pg_temp.g('new1'), 'it is found as before, from its keys');

/* ------------------------------------------------------------------ no name */
SELECT is((SELECT array_agg(golden_id) FROM cdp.find_patient('{"snils":"112-233-445 95"}')), ARRAY[pg_temp.g('sn')],
          'a SNILS alone finds its person');
SELECT is((SELECT array_agg(golden_id) FROM cdp.find_patient('{"phone":"+7 916 200-74-02"}')), ARRAY[pg_temp.g('iv2')],
          'a phone alone finds its person');
SELECT is((SELECT array_agg(golden_id) FROM cdp.find_patient('{"email":"mi5@mail.ru"}')), ARRAY[pg_temp.g('iv5')],
          'an e-mail alone finds its person');
SELECT is((SELECT golden_id FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","email":"mi7@mail.ru"}') LIMIT 1),
          pg_temp.g('iv7'), 'an e-mail beside the name finds her among the namesakes');
SELECT is((SELECT count(*) FROM cdp.find_patient('{"phone":"+7 999 000-00-00"}')), 0::bigint, 'a phone nobody has finds nobody');

/* ------------------------------------------------------------------ too little, or no date */
SELECT throws_ok($$SELECT * FROM cdp.find_patient_namesakes('{"family_name":"Иванова"}')$$, '22023',
          'find_patient_namesakes needs more than the attrs given', 'a family name alone is not counted as nought namesakes: an error');
CREATE FUNCTION pg_temp.err_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text; d text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT, d = PG_EXCEPTION_DETAIL;
	RETURN d || ' / ' || h;
END $$;
SELECT matches(pg_temp.err_hint($$SELECT * FROM cdp.find_patient_namesakes('{"family_name":"Иванова"}')$$),
          '^The lookup gives family_name; .* / Give a family and a given name, or a phone, SNILS',
          'naming what was given and asking for a given name or an identifier');
SELECT throws_ok($$SELECT * FROM cdp.find_patient('{"family_name":"Иванова"}')$$, '22023',
          'find_patient needs more than the attrs given', 'find_patient too');
SELECT throws_ok($$SELECT * FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"31.02.1990"}')$$, '22008',
          'invalid value for attrs key "birth_date"', 'a birth date that is no date is an error, not ignored');
SELECT lives_ok($$SELECT * FROM cdp.find_patient('{"family_name":"Иванова","given_name":"Мария","birth_date":"28.02.1990"}')$$,
          'a date that is one is looked up');

SELECT * FROM finish();
ROLLBACK;
