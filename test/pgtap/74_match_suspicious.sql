-- test/pgtap/74_match_suspicious.sql: cdp_internal._match_suspicious_scan (src/match_suspicious.c,
-- issue 12, session 37) returns exactly the rows of cdp.suspicious_values with a value other than
-- '' (same set, same persons), which _match_refresh_suspicious snapshots: phones made of digits,
-- NULL elements, e-mails in other case and with other characters, names that differ only in case,
-- non-ASCII e-mails and names, the threshold changed in the settings; and a role under row-level
-- security gets NULL (the caller then evaluates the view, as that role sees it).
BEGIN;
SELECT plan(16);

SELECT cdp.register_source('reg') IS NOT NULL AS src \gset

-- the rows of the view, and those of the scan under the view's threshold, as sorted text
CREATE FUNCTION pg_temp.view_rows() RETURNS text LANGUAGE sql AS $$
	SELECT COALESCE(string_agg(attr || '|' || value || '|' || persons, E'\n' ORDER BY attr, value), '')
	  FROM cdp.suspicious_values WHERE value <> '' $$;
CREATE FUNCTION pg_temp.scan_rows() RETURNS text LANGUAGE sql AS $$
	SELECT COALESCE(string_agg(u.attr || '|' || u.value || '|' || u.persons, E'\n' ORDER BY u.attr, u.value), '')
	  FROM cdp_internal._match_suspicious_scan(COALESCE((cdp.matching_settings() ->> 'suspicious_min_persons')::int, 5)) s,
	       unnest(s.attrs, s.vals, s.persons) AS u(attr, value, persons) $$;
CREATE FUNCTION pg_temp.snapshot_rows() RETURNS text LANGUAGE sql AS $$
	SELECT COALESCE(string_agg(attr || '|' || value || '|' || persons, E'\n' ORDER BY attr, value), '')
	  FROM cdp_internal.match_suspicious $$;

-- the reception phone: ten differently named people, twice written by two of them
SELECT count(cdp.upsert_record('reg', 'rec' || i, jsonb_build_object('family_name', f, 'given_name', g,
	'phones', jsonb_build_array('+7 495 000-00-00', '8 (495) 000-00-00'))))
  FROM (VALUES (1, 'Белов', 'Олег'), (2, 'Волкова', 'Ирина'), (3, 'Зайцев', 'Артём'), (4, 'Котова', 'Вера'), (5, 'Лосев', 'Юрий'),
               (6, 'Миронов', 'Глеб'), (7, 'Носова', 'Дарья'), (8, 'Осипов', 'Лев'), (9, 'Панова', 'Нина'), (10, 'Рябов', 'Тимур')) v(i, f, g);
-- an extension: its digits follow the number's
SELECT count(cdp.upsert_record('reg', 'ext' || i, jsonb_build_object('family_name', 'Доб' || i, 'given_name', 'Ext',
	'phones', jsonb_build_array('+7 495 000-00-00 доб. 12'))))
  FROM generate_series(1, 10) i;
-- twelve records of one phone whose names differ only in case and missing parts: four persons
SELECT count(cdp.upsert_record('reg', 'case' || i, jsonb_build_object('family_name', f, 'given_name', g, 'phones', jsonb_build_array('+7 916 555-44-33'))))
  FROM (VALUES (1, 'Иванов', 'Иван'), (2, 'ИВАНОВ', 'ИВАН'), (3, 'иванов', 'иван'), (4, 'Иванов', 'иВан'),
               (5, 'Петров', NULL), (6, 'ПЕТРОВ', NULL), (7, NULL, 'Пётр'), (8, NULL, 'ПЁТР'),
               (9, 'Ivanov', 'Ivan'), (10, 'IVANOV', 'IVAN'), (11, 'ivanov', 'ivan'), (12, NULL, NULL)) v(i, f, g);
-- e-mails: one address written in other cases by ten people, a Cyrillic one (local part and domain)
-- by ten more, and one with a capital Cyrillic domain
SELECT count(cdp.upsert_record('reg', 'mail' || i, jsonb_build_object('family_name', 'Почтов' || i, 'given_name', 'Имя',
	'emails', jsonb_build_array(CASE WHEN i % 2 = 0 THEN 'Test@Test.RU' ELSE 'test@test.ru' END, 'Клиника' || (i % 2) || '@Почта.РФ'))))
  FROM generate_series(1, 20) i;
SELECT ok(pg_temp.view_rows() <> '', 'the fixtures have suspicious values');

-- NULL elements (plain SQL: ingest writes none), and a record with nothing
UPDATE cdp.record SET phones = phones || NULL::cdp.phone, emails = ARRAY[NULL::cdp.email]
 WHERE source_key IN ('rec1', 'rec2', 'rec3', 'rec4', 'rec5', 'rec6', 'rec7', 'rec8', 'rec9', 'rec10', 'case1');
UPDATE cdp.record SET phones = '{}', emails = NULL WHERE source_key = 'case12';

SELECT is(pg_temp.scan_rows(), pg_temp.view_rows(), 'the scan returns the rows of the view (threshold 10)');
SELECT ok(pg_temp.scan_rows() LIKE '%phones|74950000000|10%', 'the reception phone, ten persons');
SELECT ok(pg_temp.scan_rows() LIKE '%phones|7495000000012|10%', 'the number with its extension, a value of its own');

-- the threshold in the settings
SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"suspicious_min_persons": 3}') IS NOT NULL AS cfg \gset
SELECT is(pg_temp.scan_rows(), pg_temp.view_rows(), 'threshold 3: the same rows');
SELECT ok(pg_temp.scan_rows() LIKE '%phones|79165554433|4%', 'names differing only in case are one person');
SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"suspicious_min_persons": 5}') IS NOT NULL AS cfg \gset
SELECT is(pg_temp.scan_rows(), pg_temp.view_rows(), 'threshold 5: the same rows');
SELECT ok(pg_temp.scan_rows() NOT LIKE '%79165554433%', 'four persons are under it');
SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"suspicious_min_persons": 2}') IS NOT NULL AS cfg \gset
SELECT is(pg_temp.scan_rows(), pg_temp.view_rows(), 'threshold 2 (any value two persons share): the same rows');
SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"suspicious_min_persons": 10}') IS NOT NULL AS cfg \gset

-- the refresh: the snapshot holds the view's rows
SELECT ok(cdp_internal._match_refresh_suspicious(), 'the refresh takes the snapshot');
SELECT is(pg_temp.snapshot_rows(), pg_temp.view_rows(), 'which holds the rows of the view');
-- spaces around an e-mail (plain SQL: the type keeps no spaces, so a row of spaces is stored as the
-- value '' the caller drops; here the set stays the same)
SELECT is(cdp_internal._match_refresh_suspicious(), false, 'nothing changed: the set did not change');

-- a role under row-level security on cdp.record: NULL, and the refresh runs the view as it sees it
CREATE ROLE susp74_analyst;
GRANT USAGE ON SCHEMA cdp, cdp_internal TO susp74_analyst;
GRANT SELECT ON cdp.record, cdp.suspicious_values, cdp_internal.match_settings, cdp.source TO susp74_analyst;
GRANT SELECT, INSERT, DELETE ON cdp_internal.match_suspicious, cdp_internal.match_suspicious_source TO susp74_analyst;
GRANT EXECUTE ON FUNCTION cdp.matching_settings(), cdp_internal._match_suspicious_scan(int),
	cdp_internal._match_suspicious_digest(), cdp_internal._match_refresh_suspicious() TO susp74_analyst;
CREATE POLICY susp74_all ON cdp_internal.match_suspicious TO susp74_analyst USING (true);
CREATE POLICY susp74_all ON cdp_internal.match_suspicious_source TO susp74_analyst USING (true);
CREATE POLICY susp74_mail ON cdp.record FOR SELECT TO susp74_analyst USING (source_key LIKE 'mail%');
SET ROLE susp74_analyst;
SELECT ok((SELECT attrs IS NULL AND vals IS NULL AND persons IS NULL FROM cdp_internal._match_suspicious_scan(10)),
          'under row-level security the scan returns NULL');
SELECT ok(cdp_internal._match_refresh_suspicious(), 'the refresh evaluates the view instead');
SELECT is(pg_temp.snapshot_rows(), pg_temp.view_rows(), 'and takes what the role sees');
SELECT ok(pg_temp.snapshot_rows() NOT LIKE '%phones%', 'which has the e-mails only');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
