-- test/pgtap/88_import_optimistic.sql: the import's chunks loaded without looking their ids up
-- first (issue 16, session 34).  ingest_write_docs(..., optimistic => true) lets the unique index
-- of cdp.record find a known id as the records' entries go in and raises CDP17, writing nothing;
-- cdp.import_commit (quarantine, all or nothing) then rolls the chunk back and checks it again
-- with the seen table's index: the same loads, rejects and reasons as the guard's look-up gave.
BEGIN;
SELECT plan(21);

SELECT cdp.register_source('opt_w', 'internal', 50);
CREATE TEMP TABLE opt_rules AS SELECT rl.version, rl.rules FROM cdp.survivorship_rules_as_of('infinity') rl;
CREATE FUNCTION pg_temp.nrec(src text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = src $$;
CREATE FUNCTION pg_temp.rejects_of(res jsonb) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(e.row_no || ':' || coalesce(e.column_name, '-') || ':' || e.reason, ' | ' ORDER BY e.row_no, e.column_name)
     FROM cdp.import_errors((res ->> 'batch')::bigint) e $$;
CREATE FUNCTION pg_temp.records_of(src text) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(r.source_key || '=' || r.family_name || '/v' || r.version, ',' ORDER BY r.source_key)
     FROM cdp.record r JOIN cdp.source s USING (source_id) WHERE s.name = src $$;

-- ---------------------------------------------------------------- the writer
SELECT is(cardinality(w.ids), 2, 'ingest_write_docs, optimistic: new ids are written')
  FROM opt_rules r, cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'opt_w'), 'opt_w',
       ARRAY['W-1', 'W-2'], ARRAY['{"family_name": "Орлов"}', '{"family_name": "Ким"}']::jsonb[], true, true, false,
       r.rules, r.version, true) w;
SELECT is(pg_temp.nrec('opt_w'), 2::bigint, '... two records');
SELECT throws_ok($$SELECT cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'opt_w'), 'opt_w',
       ARRAY['W-3', 'W-2', 'W-4'], ARRAY['{"family_name": "Ли"}', '{"family_name": "Ким-2"}', '{"family_name": "Ан"}']::jsonb[],
       true, true, false, r.rules, r.version, true) FROM opt_rules r$$, 'CDP17', NULL,
       'a known id raises CDP17 from the unique index');
SELECT is(pg_temp.records_of('opt_w'), 'W-1=Орлов/v1,W-2=Ким/v1', '... and nothing of the batch is written (the statement rolled back)');
SELECT throws_ok($$SELECT cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'opt_w'), 'opt_w',
       ARRAY['W-5', 'W-5'], ARRAY['{"family_name": "Ли"}', '{"family_name": "Ли"}']::jsonb[],
       true, true, false, r.rules, r.version, true) FROM opt_rules r$$, 'CDP17', NULL,
       'an id twice in the batch raises CDP17 too');
SELECT is(w.ids, NULL::bigint[], 'a blank id: the writer declines (NULL), as the guard''s checks do')
  FROM opt_rules r, cdp_internal.ingest_write_docs((SELECT source_id FROM cdp.source WHERE name = 'opt_w'), 'opt_w',
       ARRAY['W-6', '  '], ARRAY['{"family_name": "Ли"}', '{"family_name": "Ан"}']::jsonb[], true, true, false,
       r.rules, r.version, true) w;
SELECT is(pg_temp.nrec('opt_w'), 2::bigint, '... and writes nothing');
SELECT throws_ok($$SELECT cdp_internal.ingest_write_docs(1, 'x', ARRAY['a'], ARRAY['{}']::jsonb[], true, true, true, '{}', 1, true)$$,
       '22023', 'check_keys and optimistic of ingest_write_docs cannot both be true', 'check_keys and optimistic together are refused');
SELECT throws_ok($$SELECT cdp_internal.ingest_write_docs(1, 'x', ARRAY['a'], ARRAY['{}']::jsonb[], true, true, false, '{}', 1, NULL)$$,
       '22004', NULL, 'a null optimistic is refused');

-- ---------------------------------------------------------------- the commit
-- a clean file of new ids in three chunks: loaded without a look-up of its ids before the writer
SET LOCAL track_functions = 'all';
CREATE TEMP TABLE opt_calls AS
SELECT coalesce(pg_stat_get_xact_function_calls('cdp_internal.ingest_keys_new(integer,text[])'::regprocedure), 0) AS n;
SELECT cdp.register_source('opt_c', 'internal', 50);
SELECT is((cdp.import_csv('opt_c', 'patients', E'source_id;family_name\nC-1;А\nC-2;Б\nC-3;В\nC-4;Г\nC-5;Д\n',
                          'quarantine', '{"chunk_rows": 2}') ->> 'created')
          || '/' || (coalesce(pg_stat_get_xact_function_calls('cdp_internal.ingest_keys_new(integer,text[])'::regprocedure), 0)
                     - (SELECT n FROM opt_calls)),
          '5/0', 'quarantine: a clean file of new ids is loaded with no look-up of its ids before the writer');

-- Chunks of 2 rows; row 2 of the file is the first data row.  O-2 is a record of the source
-- before the import (an update), O-3 repeats a row loaded by the first chunk, O-6 a row set aside.
SELECT cdp.register_source('opt_q', 'internal', 50);
SELECT cdp.upsert_record('opt_q', 'O-2', '{"family_name": "Старый"}');
CREATE TEMP TABLE opt_file AS
SELECT E'source_id;family_name;snils\nO-1;Орлов;\nO-3;Ким;\nO-4;Ли;\nO-3;Ким-2;\nO-6;Ан;12345\nO-2;Новый;\nO-6;Ан-2;\nO-7;Ус;\n' AS data;
CREATE TEMP TABLE opt_res AS
SELECT cdp.import_csv('opt_q', 'patients', data, 'quarantine', '{"chunk_rows": 2}') AS res FROM opt_file;
SELECT is(pg_temp.rejects_of(res),
          '5:source_id:The source id "O-3" is also on row 3: a file names each record once. | '
          '6:snils:The value is not a valid snils. | '
          '8:source_id:The source id "O-6" is also on row 6: a file names each record once.',
          'quarantine: a repeat of a loaded row (found by the unique index, the chunk checked again) and of a row set aside')
  FROM opt_res;
SELECT is(pg_temp.records_of('opt_q'), 'O-1=Орлов/v1,O-2=Новый/v2,O-3=Ким/v1,O-4=Ли/v1,O-7=Ус/v1',
          '... the record known before the import is updated, the first row of each id loaded');
SELECT is((SELECT concat_ws('/', res ->> 'created', res ->> 'updated', res ->> 'rejected', res ->> 'status') FROM opt_res),
          '4/1/3/committed', '... counted as created, updated and rejected');
SELECT is((SELECT count(*) FROM cdp.event e JOIN cdp.record r ON r.record_id = e.subject
            JOIN cdp.source s USING (source_id) WHERE s.name = 'opt_q' AND e.kind LIKE 'record.%'), 6::bigint,
          '... one event a record written (5 created, 1 updated), none of the rolled-back tries');

-- all or nothing: the same file refused, nothing loaded, the same reasons
SELECT cdp.register_source('opt_a', 'internal', 50);
SELECT cdp.upsert_record('opt_a', 'O-2', '{"family_name": "Старый"}');
CREATE TEMP TABLE opt_res_a AS
SELECT cdp.import_csv('opt_a', 'patients', data, 'all_or_nothing', '{"chunk_rows": 2}') AS res FROM opt_file;
SELECT is((SELECT concat_ws('/', res ->> 'status', res ->> 'rejected') FROM opt_res_a), 'failed/3', 'all or nothing: the file is refused');
SELECT is((SELECT pg_temp.rejects_of(res) FROM opt_res_a),
          (SELECT pg_temp.rejects_of(res) FROM opt_res), '... for the same rows and reasons');
SELECT is(pg_temp.records_of('opt_a'), 'O-2=Старый/v1', '... and nothing is loaded');

-- lenient: the guard looks the ids up first (no CDP17 path); the same repeats refused
SELECT cdp.register_source('opt_l', 'internal', 50);
SELECT cdp.upsert_record('opt_l', 'O-2', '{"family_name": "Старый"}');
CREATE TEMP TABLE opt_res_l AS
SELECT cdp.import_csv('opt_l', 'patients', data, 'lenient', '{"chunk_rows": 2}') AS res FROM opt_file;
SELECT is((SELECT pg_temp.rejects_of(res) FROM opt_res_l),
          '5:source_id:The source id "O-3" is also on row 3: a file names each record once. | '
          '8:source_id:The source id "O-6" is also on row 6: a file names each record once.',
          'lenient: the repeats refused, the invalid snils kept aside in the record');
SELECT is(pg_temp.records_of('opt_l'), 'O-1=Орлов/v1,O-2=Новый/v2,O-3=Ким/v1,O-4=Ли/v1,O-6=Ан/v1,O-7=Ус/v1',
          '... and the other rows loaded');

-- the loader asked for a lenient chunk without a look-up (import_commit does not): it looks first
SELECT throws_ok($$SELECT cdp_internal._import_load_patients(0, 'opt_l', true, true, ARRAY[2], ARRAY[2], ARRAY['O-2'],
                     ARRAY['{"family_name": "Х"}']::jsonb[], ARRAY['source_id', 'family_name'], ARRAY['source_id', 'family_name'], NULL)$$,
                 'CDP17', NULL, 'the loader, lenient and not looked up: a known id raises CDP17');
SELECT is((SELECT concat_ws('/', l.created, l.rejected) FROM cdp_internal._import_load_patients(0, 'opt_l', true, true, ARRAY[2], ARRAY[2],
             ARRAY['O-9'], ARRAY['{"family_name": "Х"}']::jsonb[], ARRAY['source_id', 'family_name'], ARRAY['source_id', 'family_name'], NULL) l),
          '1/0', '... and a new one is loaded');

SELECT * FROM finish();
ROLLBACK;
