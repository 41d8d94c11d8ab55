-- test/pgtap/73_golden_link_index.sql: the merge writer's index entries (issue 16, session 34).
-- cdp_internal.golden_link_write and golden_move_records (src/golden_link_write.c) put rows on pages
-- as they go and add their index entries at the end of each table's rows, index by index in key
-- order (src/cdp_bulk.c, CdpIndexSort): every row written or moved must have its entry in every
-- index of cdp.event, cdp.patient_member, cdp.patient_redirect and cdp.record (amcheck's
-- bt_index_check with heapallindexed: an entry missing is an error), and lookups through each
-- index must find what a sequential scan finds.  The batch is larger than a group of rows
-- (CDP_BULK_GROUP_ROWS, 1000), so that entries of several groups are sorted together.
BEGIN;
SELECT plan(13);

SELECT setseed(0.34);
SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['reg', 'lab']) s;
SELECT ok(count(cdp.upsert_record((ARRAY['reg','lab'])[1 + k % 2], 'x' || k,
              jsonb_build_object('family_name', (ARRAY['Иванов','Смирнов','Попов','Орлов'])[1 + k % 4],
                                 'given_name', (ARRAY['Иван','Пётр','Олег'])[1 + (k / 4) % 3],
                                 'birth_date', (date '1950-01-01' + k * 11)::text))) = 2400,
          'the records load')
  FROM generate_series(1, 2400) k;
-- 1,500 links between random records (chains, repeats, links inside one person)
CREATE TEMP TABLE recs (k int PRIMARY KEY, record_id bigint);
INSERT INTO recs SELECT substr(source_key, 2)::int, record_id FROM cdp.record WHERE source_key ~ '^x[0-9]+$';
CREATE TEMP TABLE batch AS
SELECT x.n, r1.record_id AS a, r2.record_id AS b, jsonb_build_object('n', x.n) AS ev
  FROM (SELECT n, 1 + floor(random() * 2400)::int AS i, 1 + floor(random() * 2400)::int AS j
          FROM generate_series(1, 1500) n) x
  JOIN recs r1 ON r1.k = x.i
  JOIN recs r2 ON r2.k = x.j
 WHERE r1.record_id <> r2.record_id;
SELECT max(event_id) AS since FROM cdp.event \gset
SELECT ok(cardinality(cdp.link_records_many(
               (SELECT array_agg(a ORDER BY n) FROM batch), (SELECT array_agg(b ORDER BY n) FROM batch),
               (SELECT array_agg(ev ORDER BY n) FROM batch))) > 1000,
          'a batch of more than a thousand links is applied');
SELECT ok((SELECT count(*) FROM cdp.event WHERE event_id > :since AND kind = 'patient.merged') > 1000,
          'more than a thousand merges: several groups of event rows');

-- every btree index of the four tables holds every row (amcheck, when the server has it)
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck')
            THEN 'CREATE EXTENSION IF NOT EXISTS amcheck' ELSE 'SELECT 1' END AS amcheck_sql \gset
:amcheck_sql;
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')
            THEN skip('amcheck is not available', 1)
            ELSE lives_ok($$SELECT count(bt_index_check(i.indexrelid::regclass, true))
                              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
                             WHERE a.amname = 'btree'
                               AND i.indrelid IN ('cdp.event'::regclass, 'cdp.patient_member'::regclass,
                                                  'cdp.patient_redirect'::regclass, 'cdp.record'::regclass,
                                                  'cdp.patient'::regclass)$$,
                          'every btree index of the log, membership, redirects, records and profiles holds every row (bt_index_check, heapallindexed)')
       END;

-- lookups through the indexes find what a sequential scan finds
CREATE TEMP TABLE seq AS
SELECT (SELECT count(*) FROM cdp.event e JOIN cdp.event x ON x.event_id > :since AND e.subject = x.subject AND e.event_id = x.event_id) AS ev_subject,
       (SELECT count(*) FROM cdp.event e JOIN (SELECT DISTINCT golden_id FROM cdp.event WHERE event_id > :since) g ON e.golden_id = g.golden_id) AS ev_golden,
       (SELECT count(*) FROM cdp.patient_member m JOIN (SELECT DISTINCT golden_id FROM cdp.record) g ON m.golden_id = g.golden_id) AS member_golden,
       (SELECT count(*) FROM cdp.patient_member m JOIN cdp.record r ON m.record_id = r.record_id AND m.to_event IS NULL) AS member_open,
       (SELECT count(*) FROM cdp.patient_redirect d JOIN cdp.event e ON e.event_id > :since AND e.kind = 'patient.merged' AND d.new_id = e.golden_id AND d.old_id = e.subject) AS redirect,
       (SELECT count(*) FROM cdp.record r JOIN (SELECT DISTINCT golden_id FROM cdp.patient_member WHERE to_event IS NULL) g ON r.golden_id = g.golden_id) AS record_golden;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
SELECT is((SELECT count(*) FROM cdp.event e JOIN cdp.event x ON x.event_id > :since AND e.subject = x.subject AND e.event_id = x.event_id),
          (SELECT ev_subject FROM seq), 'the log by subject: every event of the batch');
SELECT is((SELECT count(*) FROM cdp.event e JOIN (SELECT DISTINCT golden_id FROM cdp.event WHERE event_id > :since) g ON e.golden_id = g.golden_id),
          (SELECT ev_golden FROM seq), 'the log by person: every event of the survivors');
SELECT is((SELECT count(*) FROM cdp.patient_member m JOIN (SELECT DISTINCT golden_id FROM cdp.record) g ON m.golden_id = g.golden_id)
          + (SELECT count(*) FROM cdp.patient_member m JOIN cdp.record r ON m.record_id = r.record_id AND m.to_event IS NULL),
          (SELECT member_golden + member_open FROM seq), 'membership by person and open intervals by record');
SELECT is((SELECT count(*) FROM cdp.patient_redirect d JOIN cdp.event e ON e.event_id > :since AND e.kind = 'patient.merged' AND d.new_id = e.golden_id AND d.old_id = e.subject)
          + (SELECT count(*) FROM cdp.record r JOIN (SELECT DISTINCT golden_id FROM cdp.patient_member WHERE to_event IS NULL) g ON r.golden_id = g.golden_id),
          (SELECT redirect + record_golden FROM seq), 'redirects of the merges and records by their new person');

-- the unique indexes whose entries for updated rows went in unchecked (src/cdp_bulk.c,
-- CDP_INDEX_SORT_KEPT_UNCHECKED: the update kept their key) still hold those entries as live: a
-- second row with the key is refused
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_mergejoin;
SELECT m.record_id AS moved, m.from_event AS moved_from, r.source_id AS moved_src, r.source_key AS moved_key
  FROM cdp.patient_member m JOIN cdp.record r USING (record_id)
 WHERE m.to_event > :since ORDER BY m.record_id LIMIT 1 \gset
SELECT r.record_id AS other FROM cdp.record r JOIN cdp.patient_member m USING (record_id)
 WHERE m.to_event > :since AND r.source_id = :moved_src AND r.record_id <> :moved ORDER BY 1 LIMIT 1 \gset
SELECT throws_ok(format('UPDATE cdp.record SET source_key = %L WHERE record_id = %s', :'moved_key', :other),
                 '23505', NULL, 'a moved record''s source key stays unique (record_source_key_unique)');
SELECT throws_ok(format($$INSERT INTO cdp.record (record_id, source_id, source_key, raw, attrs_hash)
                          OVERRIDING SYSTEM VALUE VALUES (%s, %s, 'fresh-key', '{}', 'h')$$, :moved, :moved_src),
                 '23505', NULL, 'a moved record''s id stays unique (record_pkey)');
SELECT throws_ok(format($$INSERT INTO cdp.patient_member (record_id, golden_id, from_event, from_at)
                          VALUES (%s, 0, %s, now())$$, :moved, :moved_from),
                 '23505', NULL, 'a closed interval''s key stays unique (patient_member_pkey)');
SELECT throws_ok(format('INSERT INTO cdp.patient (golden_id) VALUES (%s)',
                        (SELECT golden_id FROM cdp.record WHERE record_id = :moved)),
                 '23505', NULL, 'a re-folded profile''s id stays unique (patient_pkey)');
SELECT ok((SELECT count(*) FROM cdp.patient p JOIN cdp.record r ON r.golden_id = p.golden_id
            WHERE r.record_id = :moved AND p.record_count > 1) = 1,
          'the moved record''s person was re-folded (a new version of its profile row)');

SELECT * FROM finish();
ROLLBACK;
