-- test/pgtap/69_match_keys_suspicious.sql: the suspicious-value snapshot is taken again only when
-- what cdp.suspicious_values reads changed (issue 12, session 28): training takes it, a full run right
-- after training reuses it, and any change to a record's names, phones or e-mails (through ingest or
-- by plain SQL), to the threshold, or to the snapshot itself (erasure deletes rows) takes it again.
-- Whether it was taken is read from the ctid of its source row (rewritten on every snapshot).
BEGIN;
SELECT plan(18);

SELECT cdp.register_source('reg');
-- ten differently named people leave the reception phone (suspicious_min_persons is 10 by default),
-- a family of three shares another, and a few more people
SELECT count(cdp.upsert_record('reg', 'rec' || i, jsonb_build_object('family_name', f, 'given_name', g, 'phone', '+7 495 000-00-00',
	'birth_date', (date '1950-01-01' + i * 1000)::text)))
  FROM (VALUES (1, 'Белов', 'Олег'), (2, 'Волкова', 'Ирина'), (3, 'Зайцев', 'Артём'), (4, 'Котова', 'Вера'), (5, 'Лосев', 'Юрий'),
               (6, 'Миронов', 'Глеб'), (7, 'Носова', 'Дарья'), (8, 'Осипов', 'Лев'), (9, 'Панова', 'Нина'), (10, 'Рябов', 'Тимур')) v(i, f, g);
SELECT count(cdp.upsert_record('reg', 'fam' || i, jsonb_build_object('family_name', f, 'given_name', g, 'phone', '+7 495 111-22-33',
	'birth_date', (date '1960-01-01' + i * 1000)::text)))
  FROM (VALUES (1, 'Яковлев', 'Олег'), (2, 'Яковлева', 'Ирина'), (3, 'Яковлев', 'Артём')) v(i, f, g);
SELECT count(cdp.upsert_record('reg', 'x' || i, jsonb_build_object('family_name', 'Смирнов', 'given_name', 'Иван',
	'birth_date', (date '1970-01-01' + i)::text, 'email', 'ivan' || i || '@mail.ru')))
  FROM generate_series(1, 6) i;

CREATE FUNCTION pg_temp.stamp() RETURNS text LANGUAGE sql AS $$ SELECT ctid::text FROM cdp_internal.match_suspicious_source $$;
-- the snapshot holds the values of the view (its person counts are those of when a value joined it)
CREATE FUNCTION pg_temp.same_as_view() RETURNS boolean LANGUAGE sql AS $$
	SELECT NOT EXISTS (SELECT attr, value FROM cdp_internal.match_suspicious
	                   EXCEPT SELECT attr, value FROM cdp.suspicious_values WHERE value <> '')
	   AND NOT EXISTS (SELECT attr, value FROM cdp.suspicious_values WHERE value <> ''
	                   EXCEPT SELECT attr, value FROM cdp_internal.match_suspicious) $$;

SELECT cdp.train_matching(100000, 10);
SELECT is((SELECT count(*) FROM cdp_internal.match_suspicious_source), 1::bigint, 'training takes the snapshot and notes its source');
SELECT ok(pg_temp.same_as_view() AND EXISTS (SELECT 1 FROM cdp_internal.match_suspicious WHERE value = '74950000000'),
          'the snapshot holds the reception phone, as the view does');
CREATE TEMP TABLE s0 AS SELECT pg_temp.stamp() AS c;

SELECT is(cdp_internal._match_refresh_suspicious(), false, 'nothing changed: the set did not change');
SELECT is(pg_temp.stamp(), (SELECT c FROM s0), 'and the snapshot was not taken again');
SELECT ok((cdp.run_matching('full') ->> 'processed')::int = 19, 'a full run right after training');
SELECT is(pg_temp.stamp(), (SELECT c FROM s0), 'reuses the snapshot training took');
SELECT ok(pg_temp.same_as_view(), 'which is what the view computes');

-- an eleventh person at the reception phone, through ingest: taken again, with the new count
SELECT cdp.upsert_record('reg', 'rec11', '{"family_name": "Уткин", "given_name": "Фёдор", "phone": "+7 495 000-00-00"}');
SELECT is(cdp_internal._match_refresh_suspicious(), false, 'an eleventh person at the phone changes no value in the set');
SELECT ok(pg_temp.stamp() <> (SELECT c FROM s0), 'but the snapshot is taken again');
SELECT ok(pg_temp.same_as_view(), 'and it still holds what the view holds');

-- a record changed by plain SQL (no queue entry): a given name moved into the family name field
CREATE TEMP TABLE s1 AS SELECT pg_temp.stamp() AS c;
UPDATE cdp.record r SET family_name = r.given_name, given_name = NULL
 WHERE r.source_key = 'fam3';
SELECT is(cdp_internal._match_refresh_suspicious(), false, 'a name moved to another field changes no value in the set');
SELECT ok(pg_temp.stamp() <> (SELECT c FROM s1), 'but is seen: the snapshot is taken again');

-- a family phone reaches the threshold (three people and seven more): the set changes
UPDATE cdp.record r SET phones = r.phones || (SELECT phones FROM cdp.record WHERE source_key = 'fam1')
 WHERE r.source_key IN ('rec1', 'rec2', 'rec3', 'rec4', 'rec5', 'rec6', 'rec7');
SELECT is(cdp_internal._match_refresh_suspicious(), true, 'a family phone now shared by ten persons changes the set');
SELECT ok(pg_temp.same_as_view() AND EXISTS (SELECT 1 FROM cdp_internal.match_suspicious WHERE value = '74951112233'),
          'and the snapshot holds it');

-- the view counts persons only for the values in as many records as the threshold (session 31): the
-- same rows as when it counted them for every value, a phone in twelve records of one person among them
SELECT count(cdp.upsert_record('reg', 'one' || i, jsonb_build_object('family_name', 'Орлов', 'given_name', 'Пётр',
	'phone', '+7 495 222-33-44', 'email', 'orlov@mail.ru', 'birth_date', (date '1980-01-01' + i)::text)))
  FROM generate_series(1, 12) i;
SELECT ok(NOT EXISTS (SELECT 1 FROM cdp.suspicious_values WHERE value IN ('74952223344', 'orlov@mail.ru')),
          'a phone and an e-mail in twelve records of one person are not suspicious');
SELECT set_eq('SELECT attr, value, persons, records FROM cdp.suspicious_values',
	$$SELECT x.attr, x.value, count(*)::int, sum(x.n)::int
	    FROM (SELECT v.attr, v.value, v.person, count(*) AS n
	            FROM (SELECT 'phones'::text AS attr, regexp_replace(unnest(r.phones)::text, '\D', '', 'g') AS value,
	                         lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')) AS person
	                    FROM cdp.record r
	                  UNION ALL
	                  SELECT 'emails'::text, lower(btrim(unnest(r.emails)::text)),
	                         lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, ''))
	                    FROM cdp.record r) v
	           GROUP BY v.attr, v.value, v.person) x
	   GROUP BY x.attr, x.value
	  HAVING count(*) >= (SELECT COALESCE((cdp.matching_settings() ->> 'suspicious_min_persons')::int, 5))$$,
	'the view holds the rows its former definition (persons counted for every value) computes');

-- a row deleted from the snapshot (as erasure does): taken again
DELETE FROM cdp_internal.match_suspicious WHERE value = '74950000000';
SELECT is(cdp_internal._match_refresh_suspicious(), true, 'a snapshot that lost a row is taken again');

-- another threshold (a new settings version): taken again
SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"suspicious_min_persons": 50}');
SELECT is(cdp_internal._match_refresh_suspicious(), true, 'another threshold empties the set');

SELECT * FROM finish();
ROLLBACK;
