-- test/pgtap/51_ingest_fast_path.sql: ingest's fast path for records new to their source (issue
-- 16, session 22).  The same input goes once through the fast path (cdp.ingest_fast_path on, the
-- default) and once through the general path (off), into two sources of the same trust; records,
-- events, profiles, membership and queue must be the same but for ids and timestamps, in strict
-- and lenient mode and through cdp.import_csv in quarantine; the profiles the fast path writes must
-- be what refresh_patients and a rebuild from the log compute; the fast path is only taken where
-- the session has the general path's privileges and no row-level security applies.
BEGIN;
SELECT plan(56);

SELECT cdp.register_source('fp_fast', 'internal', 70) > 0 AS ok, cdp.register_source('fp_slow', 'internal', 70) > 0 AS ok,
       cdp.register_source('fp_fast_l', 'internal', 40) > 0 AS ok, cdp.register_source('fp_slow_l', 'internal', 40) > 0 AS ok,
       cdp.register_source('fp_fast_i', 'internal', 60) > 0 AS ok, cdp.register_source('fp_slow_i', 'internal', 60) > 0 AS ok;

-- 400 varied new patients; their ids are not in id order, so the sort by source_id is exercised
CREATE TEMP TABLE fp_in AS
SELECT g AS ord, 'K' || lpad(((g * 7919) % 100003)::text, 6, '0') AS sid,
       jsonb_strip_nulls(jsonb_build_object(
           'family_name', (ARRAY['Иванова', 'Петров', 'Ким', 'Лебедев-Кумач', 'Ёлкина', NULL])[1 + g % 6],
           'given_name', (ARRAY['Мария', 'Пётр', 'Ён', NULL, 'Анна'])[1 + g % 5],
           'patronymic', CASE WHEN g % 3 = 0 THEN 'Ильинична' END,
           'birth_date', (ARRAY['1970-05-06', '01.02.1960', NULL, '1999-12-31'])[1 + g % 4],
           'sex', (ARRAY['M', 'F', 'м', 'ж', NULL])[1 + g % 5],
           'phones', CASE WHEN g % 2 = 0 THEN jsonb_build_array('+7916' || lpad(g::text, 7, '0'), '8 (903) 555-00-0' || (g % 10)) END,
           'email', CASE WHEN g % 3 = 1 THEN 'u' || g || '@example.com' END,
           'snils', CASE WHEN g % 10 = 0 THEN '112-233-445 95' END,
           'oms', CASE WHEN g % 10 = 5 THEN '1234567890123452' END,
           'address', CASE WHEN g % 4 = 1 THEN 'Тверская ' || g END,
           'city', CASE WHEN g % 4 = 1 THEN 'Москва' END,
           'telegram', CASE WHEN g % 7 = 0 THEN '@user' || g END,
           'validated', CASE WHEN g % 11 = 0 THEN true END,
           'note', CASE WHEN g % 13 = 0 THEN 'free text ' || g END)) AS doc
  FROM generate_series(1, 400) g;

-- one side's records with their event, profile, membership and queue entry, ids and times left out
CREATE FUNCTION pg_temp.side(src text) RETURNS TABLE (source_key text, rec jsonb, kind text, payload jsonb, profile jsonb,
                                                    member_ok boolean, queued boolean)
LANGUAGE sql AS $$
SELECT r.source_key,
       to_jsonb(r) - 'record_id' - 'golden_id' - 'source_id' - 'created_at' - 'updated_at',
       e.kind,
       e.payload - 'source' || jsonb_build_object('record', (e.payload -> 'record') - 'created_at' - 'updated_at'),
       to_jsonb(p) - 'golden_id' - 'updated_at' - 'registered_on'
         || jsonb_build_object('phones', jsonb_path_query_array(p.phones, '$[*].value'),
                               'emails', jsonb_path_query_array(p.emails, '$[*].value'),
                               'handles', jsonb_path_query_array(p.handles, '$[*].value'),
                               'single_source_contacts', jsonb_array_length(jsonb_path_query_array(p.phones || p.emails || p.handles,
                                                                                            '$[*] ? (@.sources.size() == 1)'))),
       m.from_event = e.event_id AND m.to_event IS NULL AND m.golden_id = r.golden_id AND m.from_at = e.at,
       EXISTS (SELECT 1 FROM cdp_internal.match_queue q WHERE q.record_id = r.record_id)
  FROM cdp.record r JOIN cdp.source s USING (source_id)
  LEFT JOIN cdp.event e ON e.subject = r.record_id AND e.kind LIKE 'record.%'
  LEFT JOIN cdp.patient p ON p.golden_id = r.golden_id
  LEFT JOIN cdp.patient_member m ON m.record_id = r.record_id
 WHERE s.name = src
$$;
-- rows of one side that the other does not have, both ways
CREATE FUNCTION pg_temp.differ(a text, b text) RETURNS bigint LANGUAGE sql AS $$
SELECT count(*) FROM ((SELECT * FROM pg_temp.side(a) EXCEPT ALL SELECT * FROM pg_temp.side(b))
                      UNION ALL (SELECT * FROM pg_temp.side(b) EXCEPT ALL SELECT * FROM pg_temp.side(a))) x
$$;

-- calls of the fast path's writer in this transaction (so a test cannot pass with neither path
-- fast): its bulk writers in C, which upsert_records and the import call from the documents
-- (ingest_write_docs, session 29) or through ingest_insert_new, so 'all' functions are tracked,
-- not only 'pl'.  A call that raised is not counted; one that declined (NULL) would be, and none
-- does below
SET LOCAL track_functions = 'all';
CREATE FUNCTION pg_temp.fast_calls() RETURNS bigint LANGUAGE sql AS
$$ SELECT coalesce(pg_stat_get_xact_function_calls('cdp_internal.ingest_write_new(integer,text,cdp_internal.ingest_row[],boolean,jsonb,integer)'::regprocedure), 0)
        + coalesce(pg_stat_get_xact_function_calls('cdp_internal.ingest_write_docs(integer,text,text[],jsonb[],boolean,boolean,boolean,jsonb,integer,boolean)'::regprocedure), 0) $$;

-- ---------------------------------------------------------------- who may take the fast path
SELECT ok(cdp_internal.ingest_fast_path_ok(), 'the extension''s owner (a superuser here) may take the fast path');
SET LOCAL cdp.ingest_fast_path = off;
SELECT ok(NOT cdp_internal.ingest_fast_path_ok(), 'cdp.ingest_fast_path = off turns it off');
RESET cdp.ingest_fast_path;
CREATE ROLE fp_rls_writer;
GRANT USAGE ON SCHEMA cdp, cdp_internal TO fp_rls_writer;
GRANT SELECT, INSERT, UPDATE ON cdp.record, cdp.event, cdp.patient, cdp.patient_member, cdp_internal.match_queue TO fp_rls_writer;
GRANT EXECUTE ON FUNCTION cdp_internal.ingest_fast_path_ok() TO fp_rls_writer;
CREATE ROLE fp_no_update BYPASSRLS;
GRANT USAGE ON SCHEMA cdp, cdp_internal TO fp_no_update;
GRANT SELECT, INSERT ON cdp.record, cdp.event, cdp.patient, cdp.patient_member, cdp_internal.match_queue TO fp_no_update;
GRANT EXECUTE ON FUNCTION cdp_internal.ingest_fast_path_ok() TO fp_no_update;
SET LOCAL ROLE fp_rls_writer;
SELECT ok(NOT cdp_internal.ingest_fast_path_ok(), 'a role under row-level security takes the general path (its RETURNING checks policies)');
RESET ROLE;
SET LOCAL ROLE fp_no_update;
SELECT ok(NOT cdp_internal.ingest_fast_path_ok(), 'a role without the UPDATE privilege ON CONFLICT needs takes the general path (and is refused there)');
RESET ROLE;
GRANT UPDATE ON cdp.record, cdp_internal.match_queue TO fp_no_update;
SET LOCAL ROLE fp_no_update;
SELECT ok(cdp_internal.ingest_fast_path_ok(), 'a role with the general path''s privileges and BYPASSRLS may take the fast path');
RESET ROLE;

-- ---------------------------------------------------------------- strict: fast against general
CREATE TEMP TABLE fp_act AS
SELECT 'fast' AS side, u.* FROM cdp.upsert_records('fp_fast', ARRAY(SELECT sid FROM fp_in ORDER BY ord),
                                                   ARRAY(SELECT doc FROM fp_in ORDER BY ord)) WITH ORDINALITY u;
SET LOCAL cdp.ingest_fast_path = off;
INSERT INTO fp_act
SELECT 'slow', u.* FROM cdp.upsert_records('fp_slow', ARRAY(SELECT sid FROM fp_in ORDER BY ord),
                                           ARRAY(SELECT doc FROM fp_in ORDER BY ord)) WITH ORDINALITY u;
RESET cdp.ingest_fast_path;
SELECT is(pg_temp.fast_calls(), 1::bigint, 'the new batch took the fast path once, the same batch with the setting off did not');
SELECT is((SELECT array_agg(source_id || ':' || action ORDER BY ordinality) FROM fp_act WHERE side = 'fast'),
          (SELECT array_agg(source_id || ':' || action ORDER BY ordinality) FROM fp_act WHERE side = 'slow'),
          'both paths return every row as created, in batch order');
SELECT is((SELECT count(*) FROM fp_act a JOIN cdp.record r ON r.record_id = a.record_id AND r.source_key = a.source_id WHERE a.side = 'fast'),
          400::bigint, 'the fast path returns the id of each row''s record');
SELECT is(pg_temp.differ('fp_fast', 'fp_slow'), 0::bigint,
          'records, events, profiles, membership and queue are the same by both paths');
SELECT is((SELECT count(*) FROM pg_temp.side('fp_fast') WHERE kind = 'record.created' AND member_ok AND queued
                                                          AND (profile ->> 'record_count')::int = 1),
          400::bigint, 'each new record has one record.created event, an open membership, a queue entry and a profile of its own');
SELECT is((SELECT array_agg(r.source_key ORDER BY r.record_id) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fp_fast'),
          (SELECT array_agg(sid ORDER BY ord) FROM fp_in), 'record ids follow the batch order');
SELECT is((SELECT array_agg(r.source_key ORDER BY r.golden_id) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fp_fast'),
          (SELECT array_agg(sid ORDER BY ord) FROM fp_in), 'golden ids follow the batch order');
SELECT is((SELECT array_agg(e.subject ORDER BY e.event_id) FROM cdp.event e JOIN fp_act a ON a.record_id = e.subject
            WHERE a.side = 'fast' AND e.kind = 'record.created'),
          (SELECT array_agg(a.record_id ORDER BY a.ordinality) FROM fp_act a WHERE a.side = 'fast'), 'events follow the batch order');
SELECT ok((SELECT bool_and(r.created_at = (e.payload -> 'record' ->> 'created_at')::timestamptz
                           AND r.updated_at = (e.payload -> 'record' ->> 'updated_at')::timestamptz)
             FROM cdp.record r JOIN cdp.source s USING (source_id) JOIN cdp.event e ON e.subject = r.record_id
            WHERE s.name = 'fp_fast'), 'the event states the timestamps the record has');

-- the profiles are what the golden family computes for them
CREATE TEMP TABLE fp_g AS SELECT r.golden_id FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fp_fast';
SELECT is(cdp_internal.refresh_patients(ARRAY(SELECT golden_id FROM fp_g)), 0, 'refresh_patients changes nothing the fast path wrote');
CREATE TEMP TABLE fp_live AS SELECT * FROM cdp.patient;
SELECT cdp.rebuild_patients() >= 0 AS rebuilt;
SELECT is_empty($$(SELECT * FROM fp_live EXCEPT SELECT * FROM cdp.patient) UNION ALL (SELECT * FROM cdp.patient EXCEPT SELECT * FROM fp_live)$$,
                'a rebuild of the profiles from the event log equals the live ones');

-- the same batch again: nothing new, by either path
SELECT is((SELECT array_agg(DISTINCT action) FROM cdp.upsert_records('fp_fast', ARRAY(SELECT sid FROM fp_in ORDER BY ord),
                                                                     ARRAY(SELECT doc FROM fp_in ORDER BY ord))),
          ARRAY['unchanged'], 'the same batch again changes nothing');
-- a batch with one known id goes the general way: the known one updated, the new ones created
SELECT is((SELECT array_agg(action ORDER BY source_id) FROM cdp.upsert_records('fp_fast', ARRAY['K-new-1', (SELECT sid FROM fp_in WHERE ord = 1), 'K-new-2'],
             ARRAY['{"family_name": "Новикова"}', '{"family_name": "Другая"}', '{"family_name": "Новиков"}']::jsonb[])),
          ARRAY['created', 'created', 'updated'], 'a batch with a known id is written by the general path');

-- ---------------------------------------------------------------- lenient: invalid values kept aside alike
CREATE TEMP TABLE fp_bad AS
SELECT ord, sid, CASE WHEN ord % 5 = 0 THEN doc || '{"snils": "111-111-111 11", "birth_date": "31.02.1990", "phone": 12345}'::jsonb ELSE doc END AS doc
  FROM fp_in WHERE ord <= 100;
SELECT is((SELECT count(*) FROM cdp.upsert_records('fp_fast_l', ARRAY(SELECT sid FROM fp_bad ORDER BY ord),
                                                   ARRAY(SELECT doc FROM fp_bad ORDER BY ord), true) WHERE action = 'created'),
          100::bigint, 'lenient: the fast path loads every row');
SET LOCAL cdp.ingest_fast_path = off;
SELECT is((SELECT count(*) FROM cdp.upsert_records('fp_slow_l', ARRAY(SELECT sid FROM fp_bad ORDER BY ord),
                                                   ARRAY(SELECT doc FROM fp_bad ORDER BY ord), true) WHERE action = 'created'),
          100::bigint, 'lenient: the general path loads every row');
RESET cdp.ingest_fast_path;
SELECT is(pg_temp.differ('fp_fast_l', 'fp_slow_l'), 0::bigint, 'lenient: both paths write the same, invalid values under extra._invalid');
SELECT is((SELECT count(*) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fp_fast_l' AND r.extra ? '_invalid'),
          20::bigint, 'lenient: the invalid values are kept aside');

-- ---------------------------------------------------------------- an import in quarantine, chunks of 30
CREATE TEMP TABLE fp_csv AS
SELECT E'source_id;family_name;given_name;birth_date;phone;snils\n'
       || string_agg(concat_ws(';', 'I-' || g, 'Фамилия' || g, 'Имя', CASE WHEN g % 17 = 0 THEN '31.02.1990' ELSE '1980-01-01' END,
                               '+7916' || lpad(g::text, 7, '0'), CASE WHEN g % 23 = 0 THEN '111-111-111 11' ELSE '' END), E'\n' ORDER BY g) AS data
  FROM generate_series(1, 200) g;
CREATE TEMP TABLE fp_imp AS
SELECT 'fast' AS side, cdp.import_csv('fp_fast_i', 'patients', (SELECT data FROM fp_csv), 'quarantine', '{"chunk_rows": 30}') AS res;
SET LOCAL cdp.ingest_fast_path = off;
INSERT INTO fp_imp SELECT 'slow', cdp.import_csv('fp_slow_i', 'patients', (SELECT data FROM fp_csv), 'quarantine', '{"chunk_rows": 30}');
RESET cdp.ingest_fast_path;
SELECT is((SELECT res - 'batch' - 'source' - 'seconds' FROM fp_imp WHERE side = 'fast'),
          (SELECT res - 'batch' - 'source' - 'seconds' FROM fp_imp WHERE side = 'slow'), 'import: both paths report the same counts');
SELECT is(pg_temp.fast_calls(), 2::bigint + 7, 'the lenient batch took the fast path, the repeated and the known-id batch did not, and each of the seven chunks of the import did');
SELECT is((SELECT (res ->> 'created')::int || '/' || (res ->> 'rejected')::int FROM fp_imp WHERE side = 'fast'), '181/19',
          'import: the valid rows are loaded, the invalid ones quarantined');
SELECT is_empty($$(SELECT row_no, line_no, source_id, column_name, value, reason FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM fp_imp WHERE side = 'fast'))
                   EXCEPT ALL SELECT row_no, line_no, source_id, column_name, value, reason FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM fp_imp WHERE side = 'slow')))
                  UNION ALL
                  (SELECT row_no, line_no, source_id, column_name, value, reason FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM fp_imp WHERE side = 'slow'))
                   EXCEPT ALL SELECT row_no, line_no, source_id, column_name, value, reason FROM cdp.import_errors((SELECT (res ->> 'batch')::bigint FROM fp_imp WHERE side = 'fast')))$$,
                'import: both paths quarantine the same rows with the same reasons');
SELECT is(pg_temp.differ('fp_fast_i', 'fp_slow_i'), 0::bigint, 'import: both paths write the same records, events and profiles');

-- ---------------------------------------------------------------- the singleton profile against the fold
-- golden_new_person_row must give what golden_row(golden_fold([golden_record_doc_of(...)])) gives,
-- on every record above and on rows ingest never writes (duplicate and null contacts, empty texts,
-- odd handles and validated flags, infinite times), under the default rules and rules without some
-- attributes
CREATE FUNCTION pg_temp.chain(r cdp.record, rules jsonb, v int) RETURNS cdp.patient LANGUAGE sql AS $$
SELECT cdp_internal.golden_row(r.golden_id, cdp.golden_fold(jsonb_build_array(cdp_internal.golden_record_doc_of(r.record_id,
           r.source_id, 50, r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms,
           r.address, r.city, r.handles, r.extra, r.created_at, r.updated_at)), rules, false), NULL, NULL, NULL, v) $$;
CREATE FUNCTION pg_temp.single(r cdp.record, rules jsonb, v int) RETURNS cdp.patient LANGUAGE sql AS $$
SELECT cdp_internal.golden_new_person_row(r.golden_id, rules, v, r.record_id, r.family_name, r.given_name, r.patronymic,
           r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city, r.handles, r.extra, r.created_at,
           r.updated_at) $$;
CREATE TEMP TABLE fp_edge AS SELECT * FROM cdp.record LIMIT 0;
INSERT INTO fp_edge (record_id, source_id, source_key, golden_id, raw, family_name, given_name, patronymic, birth_date, sex,
                     phones, emails, snils, oms, address, city, handles, extra, attrs_hash, created_at, updated_at, version)
VALUES
 (-1, 1, 'e1', -1, '{}', '', 'Анна', NULL, '0044-03-15 BC', 'F', ARRAY['+79161234567', NULL, '+79161234567', '+79031112233']::cdp.phone[],
  ARRAY['b@example.com', 'A@example.com', 'a@example.com']::cdp.email[], '112-233-445 95', '1234567890123452', ' ', NULL,
  '{"vk": 123, "tg": "", "x": {"a": 1}, "y": null, "ok": "@ann", "Ok": "@ann"}', '{"validated": "Yes"}', 'h', '2020-01-01 10:00:00.123456+03',
  '2021-06-30 23:59:59.999999+00', 1),
 (-2, 1, 'e2', -2, '{}', NULL, NULL, NULL, NULL, NULL, ARRAY[]::cdp.phone[], NULL, NULL, NULL, NULL, NULL, '[1, 2]', '[{"validated": true}]', 'h',
  'infinity', '-infinity', 1),
 (-3, 1, 'e3', -3, '{}', 'Ёж', 'ёж', 'Ежов', '2000-02-29', 'M', NULL, NULL, NULL, NULL, 'Тверская, 1', 'Москва', '"@scalar"',
  '{"validated": 1, "note": "x"}', 'h', '1900-01-01 00:00:00+02:30:17', '1900-01-01 00:00:00+00', 1),
 (-4, 1, 'e4', -4, '{}', 'Ким', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', '{"validated": "false"}', 'h',
  now(), now(), 1),
 -- session 35: the values copied without their text (src/golden_single.c, SingleAttrTyped) at their
 -- edges: a long address stored compressed and out of line, the first day of 1 AD, the last date, an
 -- infinite birth date, the first microsecond of 1 AD and the last before it, spaced identifiers
 (-5, 1, 'e5', -5, '{}', 'Ли', '', '', '0001-01-01', '', ARRAY['+79161234567']::cdp.phone[], ARRAY['Li@Example.com']::cdp.email[], '112-233-445 95', '1234 5678 9012 3452', repeat('улица Ленина, ', 1500), '', '{}', '{}', 'h',
  '0001-01-01 00:00:00+00', '0001-01-01 00:00:00+00', 1),
 (-6, 1, 'e6', -6, '{}', 'Ли', NULL, NULL, '5874897-12-31', NULL, NULL, NULL, NULL, NULL, repeat(md5('x'), 200), NULL, '{}', '{}', 'h',
  '0001-12-31 23:59:59.999999+00 BC', '0001-12-31 23:59:59.999999+00 BC', 1),
 (-7, 1, 'e7', -7, '{}', 'Ли', NULL, NULL, 'infinity', NULL, ARRAY['+79031112233']::cdp.phone[], ARRAY['li@example.com']::cdp.email[], NULL, NULL, NULL, NULL, '{}', '{}', 'h',
  '294276-12-31 23:59:59.999999+00', '294276-12-31 23:59:59.999999+00', 1);
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.record UNION ALL SELECT * FROM fp_edge) r, cdp.survivorship_rules_as_of() rl
            WHERE pg_temp.chain(r, rl.rules, rl.version) IS DISTINCT FROM pg_temp.single(r, rl.rules, rl.version)),
          0::bigint, 'the singleton profile equals the fold of the one record, on every record, under the default rules');
SELECT is((SELECT count(*) FROM (SELECT * FROM cdp.record UNION ALL SELECT * FROM fp_edge) r,
                 (VALUES (cdp.golden_default_rules() - 'city' - 'sex' - 'snils')) rl(rules)
            WHERE pg_temp.chain(r, rl.rules, 7) IS DISTINCT FROM pg_temp.single(r, rl.rules, 7)),
          0::bigint, 'and under rules that leave attributes out');
SELECT ok((SELECT count(*) FROM (SELECT * FROM cdp.record WHERE false UNION ALL SELECT * FROM fp_edge) r WHERE (pg_temp.single(r, cdp.golden_default_rules(), 0)).phones <> '[]') = 3
          AND (SELECT jsonb_array_length((pg_temp.single(r, cdp.golden_default_rules(), 0)).phones) FROM (SELECT * FROM cdp.record WHERE false UNION ALL SELECT * FROM fp_edge) r WHERE record_id = -1) = 2,
          'the edge rows are read (duplicate and null phones dropped)');
SELECT throws_ok($$SELECT cdp_internal.golden_new_person_row(1, '{"family_name": ["nonsense"]}', 0, 1, 'a', NULL, NULL, NULL, NULL, NULL,
                    NULL, NULL, NULL, NULL, NULL, NULL, NULL, now(), now())$$, '22023', NULL, 'rules the fold refuses are refused');
SELECT throws_ok($$SELECT cdp_internal.golden_new_person_row(1, cdp.golden_default_rules(), 0, NULL, 'a', NULL, NULL, NULL, NULL, NULL,
                    NULL, NULL, NULL, NULL, NULL, NULL, NULL, now(), now())$$, '22004', NULL, 'a NULL record id is refused');

-- ---------------------------------------------------------------- the bulk writer (session 23)
-- cdp_internal.ingest_write_new writes the fast path's rows from C in groups of 1000: a batch of
-- 2,500 crosses two group boundaries and must still equal the general path
SELECT cdp.register_source('fp_bulk', 'internal', 55) > 0 AS ok, cdp.register_source('fp_bulk_slow', 'internal', 55) > 0 AS ok,
       cdp.register_source('fp_trig', 'internal', 55) > 0 AS ok;
CREATE TEMP TABLE fp_big AS
SELECT g AS ord, 'B' || lpad(((g * 7919) % 100003)::text, 6, '0') AS sid,
       jsonb_strip_nulls(jsonb_build_object('family_name', (ARRAY['Иванова', 'Петров', 'Ким'])[1 + g % 3], 'given_name', 'Имя' || (g % 50),
           'birth_date', CASE WHEN g % 5 <> 0 THEN (date '1950-01-01' + g)::text END,
           'phone', CASE WHEN g % 2 = 0 THEN '+7916' || lpad(g::text, 7, '0') END,
           'telegram', CASE WHEN g % 9 = 0 THEN '@u' || g END, 'validated', CASE WHEN g % 13 = 0 THEN true END)) AS doc
  FROM generate_series(1, 2500) g;
SELECT is((SELECT count(*) FROM cdp.upsert_records('fp_bulk', ARRAY(SELECT sid FROM fp_big ORDER BY ord),
                                                   ARRAY(SELECT doc FROM fp_big ORDER BY ord)) WHERE action = 'created'),
          2500::bigint, 'the bulk writer loads a batch larger than its groups');
SET LOCAL cdp.ingest_fast_path = off;
SELECT is((SELECT count(*) FROM cdp.upsert_records('fp_bulk_slow', ARRAY(SELECT sid FROM fp_big ORDER BY ord),
                                                   ARRAY(SELECT doc FROM fp_big ORDER BY ord)) WHERE action = 'created'),
          2500::bigint, 'and so does the general path');
RESET cdp.ingest_fast_path;
SELECT is(pg_temp.differ('fp_bulk', 'fp_bulk_slow'), 0::bigint, 'across groups, the bulk writer writes what the general path writes');
SELECT is((SELECT array_agg(r.source_key ORDER BY r.record_id) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fp_bulk'),
          (SELECT array_agg(sid ORDER BY ord) FROM fp_big), 'across groups, record ids follow the batch order');
-- a PL/pgSQL variable's rows (an expanded array, as the import hands them over) are read where
-- they are (session 27), and written as the flat array of a direct call is
SELECT cdp.register_source('fp_expanded', 'internal', 55) > 0 AS ok;
DO $$
DECLARE
	v_src	integer := (SELECT source_id FROM cdp.source WHERE name = 'fp_expanded');
	v_rows	cdp_internal.ingest_row[];
	v_rules	jsonb;
	v_ver	integer;
	v_ids	bigint[];
BEGIN
	SELECT rl.rules, rl.version INTO v_rules, v_ver FROM cdp.survivorship_rules_as_of('infinity') rl;
	v_rows := cdp_internal.normalize_records(ARRAY(SELECT sid FROM fp_big ORDER BY ord), ARRAY(SELECT doc FROM fp_big ORDER BY ord),
											 array_fill(NULL::text, ARRAY[2500]));
	v_ids := cdp_internal.ingest_write_new(v_src, 'fp_expanded', v_rows, false, v_rules, v_ver);
	IF cardinality(v_ids) <> 2500 THEN
		RAISE EXCEPTION 'the writer returned % ids', cardinality(v_ids);
	END IF;
END
$$;
SELECT is(pg_temp.differ('fp_expanded', 'fp_bulk'), 0::bigint,
          'the bulk writer writes a PL/pgSQL variable''s rows as upsert_records'' fast path writes them');

-- an insert trigger on a table it writes: the bulk writer declines (NULL, nothing written) and the
-- fast path's statement runs, firing the trigger for every row
CREATE TEMP TABLE fp_fired (golden_id bigint);
CREATE FUNCTION pg_temp.fp_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO fp_fired VALUES (NEW.golden_id); RETURN NEW; END $$;
CREATE TRIGGER fp_note AFTER INSERT ON cdp.patient FOR EACH ROW EXECUTE FUNCTION pg_temp.fp_note();
SELECT is(cdp_internal.ingest_write_new((SELECT source_id FROM cdp.source WHERE name = 'fp_trig'), 'fp_trig',
              cdp_internal.normalize_records(ARRAY['T-0'], ARRAY['{"family_name": "Ким"}'::jsonb], ARRAY[NULL::text])
              , false, cdp.golden_default_rules(), 0),
          NULL, 'with another insert trigger the bulk writer declines');
SELECT is((SELECT count(*) FROM cdp.upsert_records('fp_trig', ARRAY(SELECT sid FROM fp_in ORDER BY ord),
                                                   ARRAY(SELECT doc FROM fp_in ORDER BY ord)) WHERE action = 'created'),
          400::bigint, 'and the fast path''s statement writes the batch');
SELECT is((SELECT count(DISTINCT golden_id) FROM fp_fired), 400::bigint, 'firing the trigger once a profile');
DROP TRIGGER fp_note ON cdp.patient;
CREATE RULE fp_rule AS ON INSERT TO cdp_internal.match_queue DO ALSO NOTHING;
SELECT is(cdp_internal.ingest_write_new((SELECT source_id FROM cdp.source WHERE name = 'fp_trig'), 'fp_trig',
              cdp_internal.normalize_records(ARRAY['R-0'], ARRAY['{"family_name": "Ким"}'::jsonb], ARRAY[NULL::text])
              , false, cdp.golden_default_rules(), 0),
          NULL, 'with a rewrite rule on a table it writes the bulk writer declines too');
DROP RULE fp_rule ON cdp_internal.match_queue;
SELECT throws_ok($$SELECT cdp_internal.ingest_write_new(2147483647, 'nowhere',
                     cdp_internal.normalize_records(ARRAY['F-1'], ARRAY['{"family_name": "Ким"}'::jsonb], ARRAY[NULL::text]),
                     false, cdp.golden_default_rules(), 0)$$,
                 '23503', NULL, 'the bulk writer checks the source as the foreign key of cdp.record does');

-- the fast path's guard on a chunk's ids (session 24, src/ingest_write.c): what the import's two
-- NOT EXISTS checked, by index probes from C
SELECT cdp.register_source('fp_keys', 'internal', 50) > 0 AS ok;
SELECT is(cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), ARRAY['N-1', 'N-2']),
          true, 'ids no record of the source has are new');
SELECT is(cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), ARRAY[]::text[]),
          true, 'no id at all is new too');
SELECT is(cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'),
                                       ARRAY['N-1', (SELECT min(sid) FROM fp_in)]),
          true, 'an id of another source is new to this one');
SELECT is(count(*), 1::bigint, 'one record written in this transaction ...')
  FROM cdp.upsert_records('fp_keys', ARRAY['K-7'], ARRAY['{"family_name": "Ким"}'::jsonb]);
SELECT is(cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), ARRAY['N-1', 'N-2', 'K-7']),
          false, '... is known: one known id among new ones sends the chunk the general way');
SELECT is(cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), ARRAY['k-7', 'K-7 ']),
          true, 'ids are compared exactly (case and spaces count)');
SELECT is(array_agg(cdp_internal.ingest_keys_new((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), ARRAY['N-1', k])
                    ORDER BY o),
          ARRAY[false, false, false, false, true],
          'a null, empty, blank or 201-byte id is not for the fast path; 200 bytes is')
  FROM unnest(ARRAY[NULL, '', '   ', repeat('я', 100) || 'x', repeat('я', 100)]) WITH ORDINALITY AS u(k, o);
SELECT throws_ok($$SELECT cdp_internal.ingest_keys_new(NULL, ARRAY['N-1'])$$, '22004', NULL,
                 'ingest_keys_new refuses a null source');

-- ingest_write_docs (session 29): the fast path from the documents to the pages in one call
CREATE TEMP TABLE fp_rules AS SELECT rl.version, rl.rules FROM cdp.survivorship_rules_as_of('infinity') rl;
SELECT is(w.ids, NULL::bigint[], 'ingest_write_docs with check_keys declines a batch with a known id ...')
  FROM fp_rules r, cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), 'fp_keys',
       ARRAY['D-1', 'K-7'], ARRAY['{"family_name": "Орлов"}', '{"family_name": "Ким"}']::jsonb[], true, true, true,
       r.rules, r.version) w;
SELECT is((SELECT count(*) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = 'fp_keys'), 1::bigint,
          '... and writes nothing');
SELECT is(ROW(cardinality(w.ids), w.bad_ord, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(w.bad_invalid[1]) k)),
          ROW(2, ARRAY[2], ARRAY['oms', 'snils']),
          'with skip_invalid it writes the valid rows and returns the others'' positions and _invalid objects')
  FROM fp_rules r, cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'fp_keys'), 'fp_keys',
       ARRAY['D-1', 'D-2', 'D-3'],
       ARRAY['{"family_name": "Орлов", "phone": "+7 916 000-11-22"}', '{"family_name": "Орлова", "snils": "1", "oms": "x"}',
             '{"full_name": "Орлов Пётр Ильич"}']::jsonb[], true, true, true, r.rules, r.version) w;
SELECT is((SELECT array_agg(r.source_key || ':' || coalesce(r.given_name, '-') || ':' || (p.golden_id IS NOT NULL)::text ORDER BY r.source_key)
             FROM cdp.record r JOIN cdp.source s USING (source_id)
             LEFT JOIN cdp.patient p ON p.golden_id = r.golden_id WHERE s.name = 'fp_keys' AND r.source_key LIKE 'D-%'),
          ARRAY['D-1:-:true', 'D-3:Пётр:true'], 'the written rows are records of new persons, normalised (the full name split)');
SELECT throws_ok($$SELECT cdp_internal.ingest_write_docs(1, 'x', ARRAY['a'], NULL, false, false, false, '{}', 1)$$, '22004', NULL,
                 'ingest_write_docs refuses a null argument');
SELECT throws_ok($$SELECT cdp_internal.ingest_write_docs(1, 'x', ARRAY['a', 'b'], ARRAY['{}']::jsonb[], false, false, false, '{}', 1)$$,
                 '2202E', 'source_ids and attrs differ in length', 'ingest_write_docs refuses arrays of different lengths');

SELECT * FROM finish();
ROLLBACK;
