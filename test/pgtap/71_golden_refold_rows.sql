-- test/pgtap/71_golden_refold_rows.sql: the live re-fold's update in C,
-- cdp_internal.golden_refold_rows (src/golden_refold.c), writes exactly what golden_refold's
-- statement (UPDATE cdp.patient ... FROM golden_compute(ids) WHERE ... IS DISTINCT FROM) writes:
-- on persons made by upsert_record and link_records, with visits (done, booked, without a time)
-- and other clinical events, an archived person, profile rows changed by hand in every kind of
-- column (so that the re-fold has rows to put back) and rows left as they are, ids given twice,
-- NULL, without a profile row or a profile row without records; the same rows byte for byte
-- (their text) and the same count.  golden_refold calls it, and runs the statement when it
-- returns NULL (another update trigger on cdp.patient).  And its refusals.
BEGIN;
SELECT plan(13);

SET LOCAL TIME ZONE 'Europe/Moscow';
SELECT count(cdp.register_source(s, 'internal', t)) AS n_sources
  FROM (VALUES ('rr_reg', 70), ('rr_lab', 70), ('rr_web', 20)) v(s, t) \gset
SELECT count(cdp.upsert_record((ARRAY['rr_reg', 'rr_lab', 'rr_web'])[1 + k % 3], 'rr' || k,
        jsonb_build_object('family_name', (ARRAY['Зуева', 'Зуева', 'Зуева-Ким', ''])[1 + k % 4],
                           'given_name', (ARRAY['Яна', 'Яна', 'Янина'])[1 + k % 3],
                           'birth_date', CASE WHEN k % 5 <> 0 THEN '1990-0' || (1 + k % 2) || '-15' END,
                           'sex', 'F',
                           'phones', jsonb_build_array('+7916555000' || (k % 3)),
                           'emails', CASE WHEN k % 4 = 1 THEN jsonb_build_array('zu' || (k % 3) || '@mail.ru') END,
                           'snils', CASE WHEN k % 2 = 0 THEN '112-233-445 95' END,
                           'city', (ARRAY['Казань', 'Kazan'])[1 + k % 2],
                           'validated', k % 7 = 0,
                           'handles', jsonb_build_object('telegram', '@zu' || (k % 2)))))
  FROM generate_series(1, 90) k \gset
SELECT count(cdp.link_records(a.record_id, b.record_id, NULL)) AS n_links
  FROM (SELECT record_id, row_number() OVER (ORDER BY record_id) AS i FROM cdp.record r
          JOIN cdp.source s USING (source_id) WHERE s.name LIKE 'rr\_%') a
  JOIN (SELECT record_id, row_number() OVER (ORDER BY record_id) AS i FROM cdp.record r
          JOIN cdp.source s USING (source_id) WHERE s.name LIKE 'rr\_%') b ON b.i = a.i + 1 AND a.i % 6 <> 0 \gset
-- visits of several statuses, with and without a time, and a lab test, for some persons
SELECT count(cdp.upsert_clinical_event('rr_reg', 'v' || k, 'visit',
        jsonb_build_object('record_source_id', 'rr' || (3 * k),
                           'at', '2024-02-0' || (1 + k % 9) || 'T10:00:00+03:00',
                           'status', (ARRAY['done', 'booked', 'came', 'in_appointment'])[1 + k % 4], 'type', 'first')))
  FROM generate_series(1, 25) k \gset
SELECT count(cdp.upsert_clinical_event('rr_lab', 'l' || k, 'lab_test',
        jsonb_build_object('record_source_id', 'rr' || (3 * k + 1), 'code', 'HbA1c', 'result', '6.1', 'unit', '%',
                           'taken_at', '2025-02-01T10:30:00+03:00')))
  FROM generate_series(1, 10) k \gset
UPDATE cdp.clinical_event SET at = NULL WHERE source_key IN ('v4', 'v9', 'v14');
UPDATE cdp.patient SET status = 'archived', status_at = '2024-03-01T00:00:00Z'
 WHERE golden_id = (SELECT min(golden_id) FROM cdp.patient WHERE record_count > 1);
-- a profile row without records
INSERT INTO cdp.patient (golden_id) VALUES (-7);
-- rows changed by hand, so that the re-fold changes them back (every fourth left as it is); by
-- each row's rank, not its golden id, whose values depend on what the sequence gave before
UPDATE cdp.patient p SET
       family_name = CASE WHEN x.i % 4 = 1 THEN 'X' ELSE p.family_name END,
       phones = CASE WHEN x.i % 4 = 2 THEN '[]' ELSE p.phones END,
       record_count = CASE WHEN x.i % 4 = 3 THEN 0 ELSE p.record_count END,
       last_visit = CASE WHEN x.i % 8 = 1 THEN 'infinity' ELSE p.last_visit END,
       snils = CASE WHEN x.i % 8 = 2 THEN NULL ELSE p.snils END
  FROM (SELECT golden_id, row_number() OVER (ORDER BY golden_id) AS i FROM cdp.patient WHERE golden_id > 0) x
 WHERE p.golden_id = x.golden_id;
SELECT cmp_ok((SELECT max(record_count) FROM cdp.patient), '>=', 5, 'the persons have several records');
SELECT cmp_ok((SELECT count(*) FROM cdp.clinical_event), '>', 20::bigint, 'the persons have clinical events');

SELECT array_agg(golden_id ORDER BY golden_id DESC) || ARRAY[NULL, -7, -8, (SELECT min(golden_id) FROM cdp.patient WHERE golden_id > 0)]::bigint[] AS ids
  FROM cdp.patient \gset
SELECT r.rules AS rules, r.version AS version FROM cdp.survivorship_rules_as_of('infinity') r \gset

-- the statement (golden_refold's before session 36)
SAVEPOINT before_refold;
WITH u AS (
	UPDATE cdp.patient p SET
		status = c.status, status_at = c.status_at, registered_on = c.registered_on, validated = c.validated,
		family_name = c.family_name, given_name = c.given_name, patronymic = c.patronymic, sex = c.sex,
		birth_date = c.birth_date, phones = c.phones, emails = c.emails, handles = c.handles,
		snils = c.snils, oms = c.oms, address = c.address, city = c.city, last_visit = c.last_visit,
		record_count = c.record_count, updated_at = c.updated_at, rules_version = c.rules_version
	  FROM cdp_internal.golden_compute(:'ids') c
	 WHERE p.golden_id = c.golden_id
	   AND (p.*) IS DISTINCT FROM (c.*)
	RETURNING 1)
SELECT count(*) AS sql_n FROM u \gset
SELECT string_agg(p::text, E'\n' ORDER BY golden_id) AS sql_rows FROM cdp.patient p \gset
ROLLBACK TO SAVEPOINT before_refold;

SELECT cmp_ok(:sql_n::bigint, '>', 10::bigint, 'the statement changes rows');
SELECT is(cdp_internal.golden_refold_rows(:'ids', :'rules', :version), :sql_n::int,
          'golden_refold_rows changes as many rows as the statement');
SELECT is((SELECT string_agg(p::text, E'\n' ORDER BY golden_id) FROM cdp.patient p), :'sql_rows',
          'golden_refold_rows writes the rows the statement writes');
SELECT is(cdp_internal.golden_refold_rows(:'ids', :'rules', :version), 0, 'a second re-fold changes nothing');
ROLLBACK TO SAVEPOINT before_refold;
SELECT is(cdp_internal.golden_refold(:'ids'), :sql_n::int, 'golden_refold changes as many rows through it');
ROLLBACK TO SAVEPOINT before_refold;

-- another update trigger on cdp.patient: NULL, and golden_refold runs the statement
CREATE FUNCTION pg_temp.rr_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER rr_trigger AFTER UPDATE ON cdp.patient FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.rr_trigger();
SELECT is(cdp_internal.golden_refold_rows(:'ids', :'rules', :version), NULL, 'another update trigger: NULL, nothing written');
SELECT is(cdp_internal.golden_refold(:'ids'), :sql_n::int, 'golden_refold then runs the statement');
SELECT is((SELECT string_agg(p::text, E'\n' ORDER BY golden_id) FROM cdp.patient p), :'sql_rows',
          'with the same rows');
ROLLBACK TO SAVEPOINT before_refold;

-- NULL ids: nothing; refusals
SELECT is(cdp_internal.golden_refold_rows(NULL, :'rules', :version), 0, 'NULL ids: nothing to do');
SELECT throws_ok($$SELECT cdp_internal.golden_refold_rows('{1}', NULL, 1)$$, '22004',
                 'argument "rules" of cdp_internal.golden_refold_rows must not be null', 'NULL rules are refused');
SELECT throws_ok($$SELECT cdp_internal.golden_refold_rows('{{1}}', '{}', 1)$$, '2202E',
                 'ids must be a one-dimensional array', 'a multi-dimensional id array is refused');

SELECT * FROM finish();
ROLLBACK;
