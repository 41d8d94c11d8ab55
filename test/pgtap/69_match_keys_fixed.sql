-- test/pgtap/69_match_keys_fixed.sql: the fixed costs of the keys step (issue 12, session 38):
-- _match_refresh_queued returns the key rows after it (which train_matching and run_matching('full')
-- no longer count), pairs the queue as the caller read it with the key rows as ROWS FROM did (the
-- shorter array padded with NULLs), and still re-keys a record changed after the caller read the
-- queue (re-queued with a new queued_at) and every record when the suspicious values' snapshot
-- is stale; train_matching reads the queue only when the suspicious values force no re-key; a full
-- re-key builds its indexes with at most 64 MB of maintenance_work_mem.
BEGIN;
SELECT plan(16);

-- 30 persons, each in both sources (the lab's copy with another phone), all queued by the load
\ir ../fixtures/match_keys_30.sql

-- the first training after the load: the suspicious values are taken for the first time, so every
-- record is keyed without the queue being read
SELECT ok((cdp.train_matching(100000, 10) ->> 'blocked_pairs')::bigint > 0, 'training keys the records');
SELECT is((SELECT count(*) FROM cdp_internal.match_key), 60::bigint, 'one key row per record');

-- nothing changed since: nothing re-keyed, the key rows counted by the join
CREATE TEMP TABLE q AS SELECT array_agg(record_id) AS ids, array_agg(queued_at) AS ats FROM cdp_internal.match_queue;
SELECT is((SELECT row(r.rekeyed, r.keys)::text FROM q, cdp_internal._match_refresh_queued(q.ids, q.ats, false) r),
          '(0,60)', 'nothing changed: none re-keyed, 60 key rows');
SELECT is((SELECT row(r.rekeyed, r.keys)::text FROM cdp_internal._match_refresh_queued(NULL, NULL, false) r),
          '(0,60)', 'an empty queue: none re-keyed, 60 key rows');

-- the queue as the caller read it pairs ids and queued_at by position; a shorter ats array leaves
-- the last id without a queued_at, which no key row carries: that record is re-keyed
CREATE TEMP TABLE before AS SELECT record_id, cmin::text AS c FROM cdp_internal.match_key;
SELECT is((SELECT row(r.rekeyed, r.keys)::text FROM q, cdp_internal._match_refresh_queued(q.ids, q.ats[1:59], false) r),
          '(1,60)', 'an id without its queued_at is re-keyed, as ROWS FROM paired them');
SELECT set_eq($$SELECT k.record_id FROM cdp_internal.match_key k JOIN before b USING (record_id) WHERE k.cmin::text <> b.c$$,
              $$SELECT q.ids[60] FROM q$$, 'the last id of the queue, and no other');

-- a record changed after the caller read the queue (an ingest committing while the run works):
-- its entry as read still names the old queued_at, which its key row carries, so this call does
-- not re-key it; the entry now in the queue has the new queued_at, and the next call re-keys it
CREATE TEMP TABLE p7 AS SELECT r.record_id FROM cdp.record r JOIN cdp.source s USING (source_id)
 WHERE s.name = 'lab' AND r.source_key = 'p7';
CREATE TEMP TABLE q2 AS SELECT array_agg(record_id) AS ids, array_agg(queued_at) AS ats FROM cdp_internal.match_queue;
SELECT cdp.upsert_record('lab', 'p7', '{"family_name": "Орлов", "given_name": "Роман", "birth_date": "1967-08-13"}');
SELECT is((SELECT row(r.rekeyed, r.keys)::text FROM q2, cdp_internal._match_refresh_queued(q2.ids, q2.ats, false) r),
          '(0,60)', 'the queue as read before the change: nothing to re-key');
DELETE FROM before; INSERT INTO before SELECT record_id, cmin::text FROM cdp_internal.match_key;
CREATE TEMP TABLE run1 AS SELECT cdp.run_matching('full') AS r;
SELECT is((SELECT (r ->> 'processed')::bigint FROM run1), 60::bigint, 'the full run reports the 60 key rows');
SELECT set_eq($$SELECT k.record_id FROM cdp_internal.match_key k JOIN before b USING (record_id) WHERE k.cmin::text <> b.c$$,
              $$SELECT record_id FROM p7$$, 'the next full run re-keys the changed record only');
SELECT ok((SELECT k.feat::text LIKE '%орлов%' FROM cdp_internal.match_key k JOIN p7 USING (record_id)),
          'whose key row holds its new name');

-- training after a change reads the queue (the suspicious values force nothing) and re-keys the
-- changed record only
SELECT cdp.upsert_record('lab', 'p7', '{"family_name": "Орлова", "given_name": "Роман", "birth_date": "1967-08-13"}');
DELETE FROM before; INSERT INTO before SELECT record_id, cmin::text FROM cdp_internal.match_key;
SELECT ok((cdp.train_matching(100000, 10) ->> 'blocked_pairs')::bigint > 0, 'training again');
SELECT set_eq($$SELECT k.record_id FROM cdp_internal.match_key k JOIN before b USING (record_id) WHERE k.cmin::text <> b.c$$,
              $$SELECT record_id FROM p7$$, 'training re-keys the changed record only');

-- a snapshot of the suspicious values with a row it was not taken with is stale: the next run
-- takes it again, and the set it takes differs from the one left, so every record is re-keyed
INSERT INTO cdp_internal.match_suspicious (attr, value, persons) VALUES ('phones', '79160000000', 10);
DELETE FROM before; INSERT INTO before SELECT record_id, cmin::text FROM cdp_internal.match_key;
CREATE TEMP TABLE run2 AS SELECT cdp.run_matching('full') AS r;
SELECT is((SELECT count(*) FROM cdp_internal.match_key k JOIN before b USING (record_id) WHERE k.cmin::text <> b.c), 60::bigint,
          'a stale snapshot of the suspicious values re-keys every record');
SELECT is((SELECT (r ->> 'processed')::bigint FROM run2), 60::bigint, 'and the run reports the 60 key rows');

-- a full re-key builds its indexes with at most 64 MB of maintenance_work_mem and leaves the
-- caller's setting as it was
SET maintenance_work_mem = '256MB';
SELECT cdp_internal._match_refresh_keys(NULL);
SELECT is(current_setting('maintenance_work_mem'), '256MB', 'a full re-key leaves maintenance_work_mem as it was');
SELECT is((SELECT count(*) FROM pg_indexes WHERE schemaname = 'cdp_internal' AND tablename IN ('match_key', 'match_block')),
          3::bigint, 'and builds the three indexes');

SELECT * FROM finish();
ROLLBACK;
