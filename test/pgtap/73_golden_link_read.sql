-- test/pgtap/73_golden_link_read.sql: link_records_many's check of its arguments and first reading
-- of the persons in C (cdp_internal.golden_link_read, src/golden_link_write.c; issue 16, session
-- 35): each record looked up once in record id order.  Compared with the statement it replaced
-- (kept in link_records_many for a user the function does not read for) on generated arrays with
-- repeats, NULLs, records linked to themselves, missing records and evidence that is not an
-- object, the first bad element at many places; then its refusals and its answer for a user who
-- may not read cdp.record.
BEGIN;
SELECT plan(12);

SELECT setseed(0.37);
SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['reg', 'lab']) s;
SELECT ok(count(cdp.upsert_record((ARRAY['reg','lab'])[1 + k % 2], 'r' || k,
              jsonb_build_object('family_name', (ARRAY['Иванов','Смирнов','Попов'])[1 + k % 3],
                                 'given_name', 'Иван', 'birth_date', (date '1970-01-01' + k * 11)::text))) = 120,
          'the records load')
  FROM generate_series(1, 120) k;
-- some persons merged already (records of one person with different golden ids in the arrays)
SELECT count(cdp.link_records(r1.record_id, r2.record_id, NULL))
  FROM cdp.record r1 JOIN cdp.record r2 ON r2.source_key = 'r' || (substr(r1.source_key, 2)::int + 1)
 WHERE r1.source_key ~ '^r[0-9]*0$' \gset

-- the statement golden_link_read stands in for (link_records_many before session 35)
CREATE FUNCTION pg_temp.ref(a bigint[], b bigint[], evidence jsonb[]) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ', least(x.bad, e.bad), x.ga::text, x.gb::text)
	  FROM (SELECT min(x.i) FILTER (WHERE x.ra IS NULL OR x.rb IS NULL OR x.ra = x.rb OR ra.record_id IS NULL
	                                      OR rb.record_id IS NULL) AS bad,
	               coalesce(array_agg(ra.golden_id ORDER BY x.i), '{}') AS ga, coalesce(array_agg(rb.golden_id ORDER BY x.i), '{}') AS gb
	          FROM ROWS FROM (unnest(a), unnest(b)) WITH ORDINALITY x(ra, rb, i)
	          LEFT JOIN cdp.record ra ON ra.record_id = x.ra
	          LEFT JOIN cdp.record rb ON rb.record_id = x.rb) x,
	       (SELECT min(e.i) AS bad FROM unnest(evidence) WITH ORDINALITY e(ev, i)
	         WHERE e.ev IS NOT NULL AND jsonb_typeof(e.ev) <> 'object') e
$$;
CREATE FUNCTION pg_temp.c(a bigint[], b bigint[], evidence jsonb[]) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN r.done THEN concat_ws(' ', r.bad, r.golden_a::text, r.golden_b::text) ELSE 'not done' END
	  FROM cdp_internal.golden_link_read(a, b, evidence) r
$$;

-- 60 generated batches: ids of existing records (repeated), and by turns one or two faults
CREATE TEMP TABLE ids AS SELECT array_agg(record_id ORDER BY record_id) AS ids, max(record_id) AS top FROM cdp.record;
CREATE TEMP TABLE batches AS
SELECT t, array_agg(CASE WHEN t % 5 = 1 AND i = 1 + (t * 7) % n THEN NULL
                         WHEN t % 5 = 2 AND i = 1 + (t * 3) % n THEN (SELECT top FROM ids) + 1000 + t
                         ELSE (SELECT ids FROM ids)[1 + floor(random() * 120)::int] END ORDER BY i) AS a,
       array_agg(CASE WHEN t % 5 = 3 AND i = 1 + (t * 5) % n THEN -t
                      ELSE (SELECT ids FROM ids)[1 + floor(random() * 120)::int] END ORDER BY i) AS b,
       CASE WHEN t % 3 = 0 THEN NULL
            ELSE array_agg(CASE WHEN t % 5 = 4 AND i >= 1 + (t * 11) % n THEN to_jsonb(ARRAY[i])
                                WHEN t % 7 = 0 AND i = n THEN 'null'::jsonb
                                WHEN random() < 0.3 THEN NULL ELSE jsonb_build_object('i', i, 'w', repeat('x', i % 50)) END ORDER BY i) END AS ev
  FROM (SELECT t, 5 + t * 3 AS n FROM generate_series(1, 60) t) s, generate_series(1, s.n) i
 GROUP BY t;
-- self-links here and there (a random pick may make one anywhere: the reference says where)
UPDATE batches SET b[2] = a[2] WHERE t % 4 = 0;
SELECT is((SELECT count(*) FROM batches WHERE pg_temp.c(a, b, ev) IS DISTINCT FROM pg_temp.ref(a, b, ev)), 0::bigint,
          'every generated batch: the same first bad element and golden ids as the statement');
SELECT ok((SELECT count(DISTINCT split_part(pg_temp.ref(a, b, ev), ' ', 1)) FROM batches) > 10
          AND (SELECT count(*) FROM batches WHERE pg_temp.ref(a, b, ev) !~ '^[0-9]') > 2,
          'the batches have their first bad element at many places, and some none');
SELECT is(pg_temp.c('{}', '{}', NULL), pg_temp.ref('{}', '{}', NULL), 'empty arrays: no bad element, empty readings');
SELECT is(pg_temp.c(ARRAY[NULL, -1]::bigint[], ARRAY[-2, NULL]::bigint[], NULL), '1 {NULL,NULL} {NULL,NULL}',
          'NULL elements: the first is bad, nothing read for them');
-- a record in many links: read once, its golden id at every place
SELECT is(pg_temp.c(array_fill((SELECT ids[5] FROM ids), ARRAY[50]), array_fill((SELECT ids[6] FROM ids), ARRAY[50]), NULL),
          pg_temp.ref(array_fill((SELECT ids[5] FROM ids), ARRAY[50]), array_fill((SELECT ids[6] FROM ids), ARRAY[50]), NULL),
          'the same two records in 50 links');
-- the reading is the statement's: a record moved earlier in the transaction is read at its new person
SELECT cdp.link_records((SELECT ids[7] FROM ids), (SELECT ids[8] FROM ids), NULL) IS NOT NULL AS moved \gset
SELECT is(pg_temp.c((SELECT ids[1:20] FROM ids), (SELECT ids[101:120] FROM ids), NULL),
          pg_temp.ref((SELECT ids[1:20] FROM ids), (SELECT ids[101:120] FROM ids), NULL),
          'after a merge in the same transaction: the same reading');

-- refusals
SELECT throws_ok($$SELECT cdp_internal.golden_link_read(NULL, ARRAY[1]::bigint[], NULL)$$, '22004', 'a must not be null',
                 'a NULL array is refused');
SELECT throws_ok($$SELECT cdp_internal.golden_link_read(ARRAY[1, 2]::bigint[], ARRAY[1]::bigint[], NULL)$$, '2202E',
                 'a, b and evidence must have the same length', 'arrays of different lengths are refused');
SELECT throws_ok($$SELECT cdp_internal.golden_link_read(ARRAY[1]::bigint[], ARRAY[2]::bigint[], ARRAY['{}', '{}']::jsonb[])$$, '2202E',
                 'a, b and evidence must have the same length', 'evidence of another length is refused');
SELECT throws_ok($$SELECT cdp_internal.golden_link_read(ARRAY[[1], [2]]::bigint[], ARRAY[[2], [3]]::bigint[], NULL)$$, '2202E',
                 'a must be a one-dimensional bigint array', 'a two-dimensional array is refused');

-- a user who may not read cdp.record: not done, nothing read (link_records_many then runs its statement)
CREATE ROLE cdp_test_link_read NOLOGIN;
GRANT USAGE ON SCHEMA cdp_internal TO cdp_test_link_read;
GRANT EXECUTE ON FUNCTION cdp_internal.golden_link_read(bigint[], bigint[], jsonb[]) TO cdp_test_link_read;
SET LOCAL ROLE cdp_test_link_read;
SELECT r.done AS done_noread, r.bad IS NULL AND r.golden_a IS NULL AND r.golden_b IS NULL AS nothing_noread
  FROM cdp_internal.golden_link_read(ARRAY[1]::bigint[], ARRAY[2]::bigint[], NULL) r \gset
RESET ROLE;
SELECT is(:'done_noread' || ' ' || :'nothing_noread', 'f t', 'no SELECT on cdp.record: not done, nothing read');

SELECT * FROM finish();
ROLLBACK;
