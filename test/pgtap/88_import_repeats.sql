-- test/pgtap/88_import_repeats.sql: cdp_internal._import_repeats, the check of a chunk's repeated
-- source ids by a hash in C (issue 16, session 36), against the statement cdp.import_commit ran
-- before (a window over the chunk's unnested ids, joined with the ids set aside so far): the same
-- positions and the same rows named, on edge cases and on random chunks; and its input checks.
BEGIN;
SELECT plan(20);

-- the former statement, the oracle: known ids in a table with a unique key, as cdp_import_unloaded
CREATE TEMP TABLE rep_known (source_key text COLLATE "C" PRIMARY KEY, row_no integer);
CREATE FUNCTION pg_temp.rep_sql(keys text[], rows integer[], kk text[], kr integer[]) RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	v_dups integer[];
	v_dup_of integer[];
BEGIN
	TRUNCATE rep_known;
	INSERT INTO rep_known SELECT u.k, u.r FROM unnest(kk, kr) AS u(k, r);
	SELECT array_agg(u.o ORDER BY u.o), array_agg(COALESCE(x.row_no, u.first) ORDER BY u.o)
	  INTO v_dups, v_dup_of
	  FROM (SELECT u.k, u.r, u.o, min(u.r) OVER (PARTITION BY u.k COLLATE "C") AS first
			  FROM unnest(keys, rows) WITH ORDINALITY AS u(k, r, o)) u
	  LEFT JOIN rep_known x ON x.source_key = (u.k COLLATE "C")
	 WHERE u.r > u.first OR x.source_key IS NOT NULL;
	RETURN coalesce(v_dups::text, 'NULL') || ' ' || coalesce(v_dup_of::text, 'NULL');
END $$;
CREATE FUNCTION pg_temp.rep_c(keys text[], rows integer[], kk text[], kr integer[]) RETURNS text
	LANGUAGE sql AS $$
	SELECT coalesce(d.dups::text, 'NULL') || ' ' || coalesce(d.dup_of::text, 'NULL')
	  FROM cdp_internal._import_repeats(keys, rows, kk, kr) d $$;

SELECT is(pg_temp.rep_c('{}', '{}', '{}', '{}'), 'NULL NULL', 'an empty chunk has no repeats');
SELECT is(pg_temp.rep_c('{A,B,C}', '{2,3,4}', '{}', '{}'), 'NULL NULL', 'distinct ids: no repeats (both NULL)');
SELECT is(pg_temp.rep_c('{A,B,A,C,B,A}', '{2,3,4,5,6,7}', '{}', '{}'), '{3,5,6} {2,3,2}',
          'repeats name the first row of their id');
SELECT is(pg_temp.rep_c('{A,B,A,C,B,A}', '{2,3,4,5,6,7}', '{}', '{}'),
          pg_temp.rep_sql('{A,B,A,C,B,A}', '{2,3,4,5,6,7}', '{}', '{}'), '... as the statement');
SELECT is(pg_temp.rep_c('{A,B,C,B}', '{10,11,12,13}', '{B,Z}', '{4,5}'), '{2,4} {4,4}',
          'an id set aside earlier: every row with it, naming the row set aside');
SELECT is(pg_temp.rep_c('{A,B,C,B}', '{10,11,12,13}', '{B,Z}', '{4,5}'),
          pg_temp.rep_sql('{A,B,C,B}', '{10,11,12,13}', '{B,Z}', '{4,5}'), '... as the statement');
SELECT is(pg_temp.rep_c(ARRAY['a', NULL, 'b', NULL, NULL], '{1,2,3,4,5}', '{}', '{}'),
          pg_temp.rep_sql(ARRAY['a', NULL, 'b', NULL, NULL], '{1,2,3,4,5}', '{}', '{}'),
          'NULL ids are one id, as the window''s partition makes them');
SELECT is(pg_temp.rep_c('{A,A,A}', '{9,5,7}', '{}', '{}'), pg_temp.rep_sql('{A,A,A}', '{9,5,7}', '{}', '{}'),
          'rows out of order: the smallest row of the id is the first');
SELECT is(pg_temp.rep_c(ARRAY['a', 'A', 'a ', 'ё', 'е', 'a', 'ё'], '{1,2,3,4,5,6,7}', '{}', '{}'),
          pg_temp.rep_sql(ARRAY['a', 'A', 'a ', 'ё', 'е', 'a', 'ё'], '{1,2,3,4,5,6,7}', '{}', '{}'),
          'ids compare bytewise (case, trailing space, ё/е)');
SELECT is(pg_temp.rep_c(ARRAY[repeat('x', 3000), repeat('x', 2999) || 'y', repeat('x', 3000)], '{1,2,3}', '{}', '{}'),
          '{3} {1}', 'long ids');

-- random chunks with repeats and ids set aside, against the statement
CREATE TEMP TABLE rep_cases AS
SELECT c, ARRAY(SELECT 'K-' || (random() * 300)::int FROM generate_series(1, 1000)) AS keys,
       ARRAY(SELECT g FROM generate_series(101, 1100) g) AS rows,
       ARRAY(SELECT DISTINCT 'K-' || (random() * 3000)::int FROM generate_series(1, 40 * c)) AS kk
  FROM generate_series(0, 4) c;
SELECT is((SELECT count(*) FROM rep_cases
            WHERE pg_temp.rep_c(keys, rows, kk, ARRAY(SELECT 100 - g FROM generate_series(1, cardinality(kk)) g))
                  IS DISTINCT FROM pg_temp.rep_sql(keys, rows, kk, ARRAY(SELECT 100 - g FROM generate_series(1, cardinality(kk)) g))),
          0::bigint, 'five random chunks of 1,000 rows: the same repeats and rows named as the statement');
SELECT cmp_ok((SELECT min(cardinality(d.dups)) FROM rep_cases, cdp_internal._import_repeats(keys, rows, kk, '{}'::int[] || ARRAY(SELECT 1 FROM unnest(kk))) d),
          '>', 600, '... which had repeats');

-- the input checks
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats(NULL, '{}', '{}', '{}')$$, '22004', NULL, 'NULL ids');
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats('{}', '{}', '{}', NULL)$$, '22004', NULL, 'NULL known rows');
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats('{A,B}', '{1}', '{}', '{}')$$, '22023',
                 'the ids and rows of _import_repeats differ in length', 'ids and rows of different lengths');
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats('{}', '{}', '{A}', '{}')$$, '22023',
                 'the ids and rows of _import_repeats differ in length', 'known ids and rows of different lengths');
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats('{A}', ARRAY[NULL::int], '{}', '{}')$$, '22023',
                 'the rows of _import_repeats must not be null', 'a NULL row');
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats('{}', '{}', ARRAY[NULL::text], '{1}')$$, '22023',
                 'the known ids and rows of _import_repeats must not be null', 'a NULL known id');
SELECT throws_ok($$SELECT * FROM cdp_internal._import_repeats('{{A},{B}}', '{{1},{2}}', '{}', '{}')$$, '22023',
                 'the arrays of _import_repeats must be one-dimensional', 'two-dimensional arrays');

-- the commit's use: a row set aside in one chunk, repeated in later ones (chunks of 3 rows)
SELECT cdp.register_source('rep_unl', 'internal', 50);
CREATE TEMP TABLE rep_res AS
SELECT cdp.import_csv('rep_unl', 'patients',
       E'source_id,family_name,oms\nR-1,Орлов,\nR-2,Ким,123\nR-3,Ли,\nR-2,Ан,\nR-5,Пак,\nR-1,Цой,\nR-2,Хан,\nR-9,Ю,\n',
       'quarantine', '{"chunk_rows": 3}') AS res;
SELECT is((SELECT (res ->> 'rejected') || ' ' || string_agg(e.row_no || ':' || e.reason, ' | ' ORDER BY e.row_no)
             FROM rep_res, cdp.import_errors((res ->> 'batch')::bigint) e GROUP BY res),
          '4 3:The value is not a valid oms. | '
          '5:The source id "R-2" is also on row 3: a file names each record once. | '
          '7:The source id "R-1" is also on row 2: a file names each record once. | '
          '8:The source id "R-2" is also on row 3: a file names each record once.',
          'a set-aside id repeated in a later chunk names the row set aside; a loaded one its first row');

SELECT * FROM finish();
ROLLBACK;
