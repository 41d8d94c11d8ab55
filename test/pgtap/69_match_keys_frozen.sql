-- test/pgtap/69_match_keys_frozen.sql: a full re-key writes its rows frozen (issue 12, session 42).
-- The TRUNCATE of _match_refresh_keys(NULL) gives match_key and match_block new files in its
-- subtransaction, so the C writer puts their rows on pages frozen and all-visible, as COPY FREEZE
-- does (CdpBulkFreeze, src/cdp_bulk.c): the ANALYZE at its end counts every page all-visible, and
-- an index-only scan of the block keys visits no heap page, before any VACUUM. Rows written into a
-- file an outer subtransaction made are not frozen: rolled back, they are gone. A re-key rolled
-- back to a savepoint leaves the key rows that were there.
BEGIN;
SELECT plan(9);

-- 30 persons, each in both sources (the lab's copy with another phone), all queued by the load
\ir ../fixtures/match_keys_30.sql

SELECT ok((cdp.train_matching(100000, 10) ->> 'blocked_pairs')::bigint > 0, 'training keys the records');
SELECT is((SELECT count(*) FROM pg_class
            WHERE oid IN ('cdp_internal.match_key'::regclass, 'cdp_internal.match_block'::regclass)
              AND relpages > 0 AND relallvisible = relpages), 2::bigint,
          'every page of match_key and match_block is all-visible after training, before any VACUUM');

-- the lookup match_record and find_patient make: the block key index alone, no heap visit
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
CREATE TEMP TABLE plan_lines (line text);
DO $$
DECLARE
	k text := (SELECT bk FROM cdp_internal.match_block ORDER BY bk LIMIT 1);
	l text;
BEGIN
	FOR l IN EXECUTE format('EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)'
	                        ' SELECT record_id, birth_date FROM cdp_internal.match_block WHERE bk = %L', k) LOOP
		INSERT INTO plan_lines VALUES (l);
	END LOOP;
END $$;
SELECT ok(EXISTS (SELECT 1 FROM plan_lines WHERE line LIKE '%Index Only Scan using match_block_bk%'),
          'the lookup of a block key is an index-only scan');
SELECT ok(EXISTS (SELECT 1 FROM plan_lines WHERE line LIKE '%Heap Fetches: 0%'), 'which visits no heap page');
RESET enable_seqscan;
RESET enable_bitmapscan;

-- a re-key rolled back to a savepoint: the key rows before it are there again
CREATE TEMP TABLE before AS SELECT k.* FROM cdp_internal.match_key k;
CREATE TEMP TABLE before_block AS SELECT m.* FROM cdp_internal.match_block m;
SAVEPOINT rekey;
SELECT cdp_internal._match_refresh_keys(NULL);
ROLLBACK TO SAVEPOINT rekey;
SELECT set_eq($$SELECT k.*::text FROM cdp_internal.match_key k$$, $$SELECT b.*::text FROM before b$$,
              'a full re-key rolled back to a savepoint leaves the key rows that were there');
SELECT bag_eq($$SELECT m.*::text FROM cdp_internal.match_block m$$, $$SELECT b.*::text FROM before_block b$$,
              'and their block rows');

-- rows written into a file an outer subtransaction made (the TRUNCATE before the savepoint) are
-- written as usual: the savepoint's rollback removes them (frozen, they would stay)
CREATE TEMP TABLE saved AS SELECT k.record_id, k.flags, k.feat, k.bk, k.queued_at, NULL::date AS birth_date
  FROM cdp_internal.match_key k;
TRUNCATE cdp_internal.match_key, cdp_internal.match_block;
SAVEPOINT inner_write;
SELECT is(cdp_internal._match_write_keys('SELECT * FROM pg_temp.saved',
                                         (SELECT version FROM cdp_internal.match_settings WHERE active)),
          60::bigint, 'the writer writes 60 key rows in a savepoint under the TRUNCATE');
ANALYZE cdp_internal.match_key;
SELECT is((SELECT relallvisible FROM pg_class WHERE oid = 'cdp_internal.match_key'::regclass), 0,
          'not frozen: the file is the outer transaction''s');
ROLLBACK TO SAVEPOINT inner_write;
SELECT is((SELECT count(*) FROM cdp_internal.match_key), 0::bigint, 'and the rollback of the savepoint removes them');

SELECT * FROM finish();
ROLLBACK;
