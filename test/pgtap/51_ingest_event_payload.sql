-- test/pgtap/51_ingest_event_payload.sql: the payload of a record event written directly in
-- jsonb's binary form (issue 16, session 32: src/ingest_attrs.c, PayloadDirect) is the payload
-- jsonb_build_object builds: equal, of the same size on disk, the same text, every member found by
-- its key, over documents of every kind of value (strings, numbers of several sizes, booleans,
-- nulls, nested arrays and objects, multibyte keys, more than 32 members, so that offsets as well
-- as lengths are stored), and where the record already names created_at or updated_at (built the
-- general way, with the same result as ||).
BEGIN;
SELECT plan(9);

-- 600 documents: raw as given, norm as a normalised record might be, each with every kind of value
CREATE TEMP TABLE ep_in AS
SELECT g,
       jsonb_strip_nulls(jsonb_build_object(
           'family_name', (ARRAY['Иванова', 'Ким', 'O''Brien', 'Ёлкина-Щукина', ''])[1 + g % 5],
           'n', CASE WHEN g % 3 = 0 THEN g * 1000003 WHEN g % 3 = 1 THEN (g::numeric / 7) END,
           'flags', CASE WHEN g % 4 = 0 THEN jsonb_build_array(true, false, NULL, g, 'x' || g, jsonb_build_object('d', g / 3.0)) END,
           'ок', CASE WHEN g % 2 = 0 THEN true ELSE false END,
           'nothing', CASE WHEN g % 5 = 0 THEN 'null'::jsonb END,
           'long', CASE WHEN g % 7 = 0 THEN repeat('ж', 300 + g) END,
           'nested', CASE WHEN g % 6 = 0 THEN jsonb_build_object('a', jsonb_build_array(1, 2.5, jsonb_build_object('b', NULL)), 'c', 'т') END))
       || CASE WHEN g % 9 = 0
               THEN (SELECT jsonb_object_agg('k' || k, CASE k % 4 WHEN 0 THEN to_jsonb(k) WHEN 1 THEN to_jsonb('v' || k)
                                                                WHEN 2 THEN to_jsonb(k % 8 = 2) ELSE jsonb_build_array(k, k::numeric / 3) END)
                       FROM generate_series(1, 40 + g % 5) k)
               ELSE '{}' END AS raw,
       jsonb_strip_nulls(jsonb_build_object(
           'family_name', (ARRAY['Иванова', 'Ким', 'O''Brien', 'Ёлкина-Щукина', NULL])[1 + g % 5],
           'phones', CASE WHEN g % 2 = 0 THEN jsonb_build_array('+7916' || lpad(g::text, 7, '0')) END,
           'birth_date', CASE WHEN g % 3 <> 0 THEN '1970-05-06' END,
           'extra', CASE WHEN g % 4 = 0 THEN jsonb_build_object('n', g, 'note', 'x', 'z', 1.5) END,
           'handles', CASE WHEN g % 5 = 0 THEN jsonb_build_object('vk', 'id' || g) END,
           'validated', CASE WHEN g % 8 = 0 THEN g % 16 = 0 END))
       || CASE WHEN g % 11 = 0
               THEN (SELECT jsonb_object_agg(repeat('q', k), k) FROM generate_series(1, 35) k)
               ELSE '{}' END AS norm,
       'PL-' || g AS sid
  FROM generate_series(1, 600) g;

-- a view, so that sizes are of the values as built (a table would compress some of them)
CREATE TEMP VIEW ep_out AS
SELECT g, raw, norm,
       cdp_internal.record_event_payload('lab', sid, 1 + g % 3, raw, norm, '2024-02-29 10:00:00.5+03', '2024-03-01 00:00+00') AS direct,
       jsonb_build_object('source', 'lab', 'source_id', sid, 'version', 1 + g % 3, 'raw', raw,
                          'record', norm || jsonb_build_object('created_at', '2024-02-29 10:00:00.5+03'::timestamptz,
                                                               'updated_at', '2024-03-01 00:00+00'::timestamptz)) AS built
  FROM ep_in;

SELECT is((SELECT count(*) FROM ep_out WHERE direct = built), 600::bigint, 'every payload equals jsonb_build_object''s');
SELECT is((SELECT count(*) FROM ep_out WHERE direct::text = built::text), 600::bigint, 'and has its text');
SELECT is((SELECT count(*) FROM ep_out WHERE pg_column_size(direct) = pg_column_size(built)), 600::bigint,
          'and its size as built: the same binary form, no padding lost or added');
SELECT is((SELECT count(*) FROM ep_out o
            WHERE (SELECT bool_and(o.direct -> 'raw' -> k = o.raw -> k) FROM jsonb_object_keys(o.raw) k) IS NOT FALSE
              AND (SELECT bool_and(o.direct -> 'record' -> k = o.norm -> k) FROM jsonb_object_keys(o.norm) k) IS NOT FALSE
              AND o.direct ->> 'source' = 'lab' AND (o.direct ->> 'version')::int = 1 + o.g % 3
              AND o.direct -> 'record' ->> 'updated_at' = '2024-03-01T00:00:00+00:00'),
          600::bigint, 'every member of raw and of the record is found by its key');
SELECT is((SELECT count(*) FROM ep_out WHERE direct @> built AND built @> direct), 600::bigint, 'containment both ways');
SELECT is((SELECT count(*) FROM ep_out WHERE jsonb_typeof(direct -> 'record' -> 'extra') = 'object' AND direct -> 'record' -> 'extra' ->> 'z' = '1.5'),
          (SELECT count(*) FROM ep_in WHERE g % 4 = 0), 'a nested object''s numbers are read back');

-- a record that already names created_at or updated_at: || gives the later value (built the general way)
SELECT is(cdp_internal.record_event_payload('lab', 'L-1', 2, '{"a": 1}', '{"created_at": "x", "b": [1]}',
                                            '2024-02-29 10:00:00.5+03', '2024-03-01 00:00+00')::text,
          jsonb_build_object('source', 'lab', 'source_id', 'L-1', 'version', 2, 'raw', '{"a": 1}'::jsonb,
                             'record', '{"created_at": "x", "b": [1]}'::jsonb
                                       || jsonb_build_object('created_at', '2024-02-29 10:00:00.5+03'::timestamptz,
                                                             'updated_at', '2024-03-01 00:00+00'::timestamptz))::text,
          'a record with its own created_at: the event''s times win, as with ||');
SELECT is(cdp_internal.record_event_payload('lab', 'L-1', 1, '{}', '{"updated_at": 5}', '2024-02-29 10:00:00.5+03', '2024-03-01 00:00+00')
            -> 'record',
          '{"created_at": "2024-02-29T07:00:00.5+00:00", "updated_at": "2024-03-01T00:00:00+00:00"}'::jsonb,
          'a record with its own updated_at: the event''s');
-- raw given as a scalar or array (the writer's rows never are, the SQL function may be called so)
SELECT is(cdp_internal.record_event_payload('lab', 'L-2', 1, '[1, "a"]', '{}', '2024-02-29 10:00:00.5+03', '2024-03-01 00:00+00'),
          jsonb_build_object('source', 'lab', 'source_id', 'L-2', 'version', 1, 'raw', '[1, "a"]'::jsonb,
                             'record', jsonb_build_object('created_at', '2024-02-29 10:00:00.5+03'::timestamptz,
                                                          'updated_at', '2024-03-01 00:00+00'::timestamptz)),
          'raw as an array is kept as given');

SELECT * FROM finish();
ROLLBACK;
