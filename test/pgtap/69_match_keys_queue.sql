-- test/pgtap/69_match_keys_queue.sql: a queued record keyed since it was queued is not keyed again
-- (issue 12, session 27): every key row carries the queued_at of the record's queue entry read with
-- the record, so a full run right after training (a bulk load: every record queued) reads the keys
-- training computed, and re-keys only the records changed since; the keys are the same as a full
-- re-key's.
BEGIN;
SELECT plan(12);

-- 30 persons, each in both sources (the lab's copy with another phone), all queued by the load
\ir ../fixtures/match_keys_30.sql
SELECT is((SELECT count(*) FROM cdp_internal.match_queue), 60::bigint, 'the load queued every record');

SELECT ok((cdp.train_matching(100000, 10) ->> 'blocked_pairs')::bigint > 0, 'training keys the records');
SELECT is((SELECT count(*) FROM cdp_internal.match_queue q JOIN cdp_internal.match_key k USING (record_id)
            WHERE k.queued_at = q.queued_at), 60::bigint,
          'each key row carries the queued_at of its record''s queue entry');

-- a record changed after training: the lab's p7 gets another family name (re-queued, new queued_at)
CREATE TEMP TABLE p7 AS SELECT r.record_id FROM cdp.record r JOIN cdp.source s USING (source_id)
 WHERE s.name = 'lab' AND r.source_key = 'p7';
SELECT cdp.upsert_record('lab', 'p7', '{"family_name": "Орлов", "given_name": "Роман", "birth_date": "1967-08-13"}');
SELECT is((SELECT count(*) FROM cdp_internal.match_queue q JOIN cdp_internal.match_key k USING (record_id)
            WHERE k.queued_at IS DISTINCT FROM q.queued_at), 1::bigint, 'its queue entry no longer matches its key row');

-- (cmin: the command of this transaction that wrote the row)
CREATE TEMP TABLE before AS SELECT record_id, cmin::text AS c FROM cdp_internal.match_key;
SELECT ok((cdp.run_matching('full') ->> 'processed')::bigint = 60, 'the full run reads every record');
SELECT is((SELECT count(*) FROM cdp_internal.match_key k JOIN before b USING (record_id) WHERE k.cmin::text = b.c), 59::bigint,
          'the full run after training keeps the key rows of the 59 unchanged records');
SELECT set_eq($$SELECT k.record_id FROM cdp_internal.match_key k JOIN before b USING (record_id) WHERE k.cmin::text <> b.c$$,
              $$SELECT record_id FROM p7$$,
              'it re-keys the changed record only');
SELECT ok((SELECT k.feat::text LIKE '%орлов%' FROM cdp_internal.match_key k JOIN p7 USING (record_id)),
          'whose key row holds its new name');

-- the keys equal those of a re-key of every record
CREATE TEMP TABLE kept AS SELECT record_id, version, flags, feat, bk FROM cdp_internal.match_key;
SELECT cdp_internal._match_refresh_keys(NULL);
SELECT set_eq($$SELECT record_id, version, flags, feat, bk FROM cdp_internal.match_key$$,
              $$SELECT * FROM kept$$, 'they are the keys a re-key of every record computes');

-- match_record of a queued record keys it once: a second lookup reads the key row the first wrote
SELECT cdp.upsert_record('lab', 'p7', '{"family_name": "Орлова", "given_name": "Роман", "birth_date": "1967-08-13"}');
SELECT count(*) FROM p7, cdp.match_record(p7.record_id);
CREATE TEMP TABLE first AS SELECT k.cmin::text AS c FROM cdp_internal.match_key k JOIN p7 USING (record_id);
SELECT ok((SELECT k.feat::text LIKE '%орлова%' FROM cdp_internal.match_key k JOIN p7 USING (record_id)),
          'match_record keys a changed queued record');
SELECT count(*) FROM p7, cdp.match_record(p7.record_id);
SELECT is((SELECT k.cmin::text FROM cdp_internal.match_key k JOIN p7 USING (record_id)), (SELECT c FROM first),
          'and a second lookup does not key it again');

-- a fifth of the records changed: one re-key of every record
SELECT count(cdp.upsert_record('reg', 'p' || i, jsonb_build_object('family_name', 'Зайцев', 'given_name', 'Лев',
	'birth_date', (date '1960-01-01' + i * 397)::text))) FROM generate_series(1, 15) i;
CREATE TEMP TABLE again AS SELECT record_id, cmin::text AS c FROM cdp_internal.match_key;
SELECT cdp.run_matching('full');
SELECT is((SELECT count(*) FROM cdp_internal.match_key k JOIN again a USING (record_id) WHERE k.cmin::text <> a.c), 60::bigint,
          'with a fifth of the records changed, a full run re-keys every record');

SELECT * FROM finish();
ROLLBACK;
