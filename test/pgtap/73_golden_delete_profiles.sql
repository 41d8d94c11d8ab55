-- test/pgtap/73_golden_delete_profiles.sql: the delete of the absorbed profile rows in C,
-- cdp_internal.golden_delete_profiles (src/golden_profile_delete.c), deletes exactly the rows
-- golden_link_apply's statement (DELETE FROM cdp.patient USING unnest(ids) ...) deletes: ids in
-- any order, repeated, without a profile row; the rows left are the same, byte for byte (their
-- text), and so are the primary key's lookups.  Its refusals (a delete trigger on cdp.patient:
-- false, nothing deleted) and its input checks (issue 16, session 37).
BEGIN;
SELECT plan(12);

SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['dp_reg', 'dp_lab']) s;
SELECT ok(count(cdp.upsert_record((ARRAY['dp_reg', 'dp_lab'])[1 + k % 2], 'dp' || k,
              jsonb_build_object('family_name', (ARRAY['Орлова', 'Зуева', 'Котова'])[1 + k % 3],
                                 'given_name', (ARRAY['Анна', 'Яна'])[1 + k % 2],
                                 'birth_date', (date '1960-01-01' + k * 37)::text))) = 300,
          'the records load')
  FROM generate_series(1, 300) k;
CREATE TEMP TABLE ids AS
SELECT array_agg(golden_id ORDER BY random()) || ARRAY[-1, -2]::bigint[]
       || (SELECT array_agg(golden_id) FROM (SELECT golden_id FROM cdp.patient ORDER BY golden_id LIMIT 5) x) AS del
  FROM (SELECT golden_id FROM cdp.patient ORDER BY golden_id OFFSET 3) p
 WHERE golden_id % 3 <> 0;
SELECT ok((SELECT cardinality(del) FROM ids) > 100, 'a hundred ids and more, shuffled, some twice, some without a row');

-- the statement's result
SAVEPOINT s;
DELETE FROM cdp.patient p USING (SELECT g.id FROM unnest((SELECT del FROM ids)) g(id) ORDER BY g.id) g
 WHERE p.golden_id = g.id;
SELECT count(*) AS sql_n, md5(string_agg(p::text, '|' ORDER BY p::text)) AS sql_rows FROM cdp.patient p \gset
ROLLBACK TO SAVEPOINT s;

SELECT is(cdp_internal.golden_delete_profiles((SELECT del FROM ids)), true, 'the C delete runs');
SELECT is((SELECT count(*) FROM cdp.patient), :sql_n::bigint, 'as many rows left as the statement leaves');
SELECT is((SELECT md5(string_agg(p::text, '|' ORDER BY p::text)) FROM cdp.patient p), :'sql_rows',
          'the same rows left, byte for byte');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM cdp.patient p JOIN unnest((SELECT del FROM ids)) g(id) ON p.golden_id = g.id),
          0::bigint, 'no deleted id is found through the primary key');
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT is(cdp_internal.golden_delete_profiles((SELECT del FROM ids)), true, 'deleting them again deletes nothing');
SELECT is(cdp_internal.golden_delete_profiles(NULL) AND cdp_internal.golden_delete_profiles('{}'),
          true, 'NULL and an empty array: nothing to delete');
ROLLBACK TO SAVEPOINT s;

-- input checks
SELECT throws_ok($$SELECT cdp_internal.golden_delete_profiles(ARRAY[1, NULL]::bigint[])$$, '22004', NULL,
                 'a NULL id is an error');
SELECT throws_ok($$SELECT cdp_internal.golden_delete_profiles(ARRAY[[1, 2], [3, 4]]::bigint[])$$, '2202E', NULL,
                 'a two-dimensional array is an error');

-- a delete trigger on cdp.patient: the caller's statement runs instead
CREATE FUNCTION pg_temp.dp_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER dp_trg BEFORE DELETE ON cdp.patient FOR EACH ROW EXECUTE FUNCTION pg_temp.dp_trg();
SELECT is(cdp_internal.golden_delete_profiles((SELECT del FROM ids)), false, 'a delete trigger: false');
SELECT is((SELECT count(*) FROM cdp.patient p JOIN unnest((SELECT del FROM ids)) g(id) ON p.golden_id = g.id) > 0,
          true, 'and nothing deleted');

SELECT * FROM finish();
ROLLBACK;
