-- test/pgtap/67_match_run_plan.sql: cdp_internal._match_run_plan (issue 12, session 30), the link plan
-- of a full run over pairs given in any order with ids, against _match_link_plan over the same pairs
-- sorted by SQL into decision order (forced first, probability descending, record ids), as
-- run_matching sorted them before: the same decisions (ord, action, reason, persons) row for row,
-- and each row's pair_id naming the pair at that place.  Random pairs among a few dozen persons
-- (ties of probability, forced and vetoed pairs, placeholders, name-only pairs, birth dates that
-- contradict, a no_match decision and a relation), given shuffled.  With key_records (issue 12,
-- session 32): the birth dates and never values of key rows listed in another order than the
-- records, one record without a key row and a key row of no record given, put beside their
-- records: the same decisions.  Then the errors.
BEGIN;
SELECT plan(9);

SELECT setseed(0.30);
-- 60 records of 45 persons (some persons hold two records already), a birth date each
CREATE TEMP TABLE rec AS
SELECT r AS record_id, 1000 + (r % 45) AS golden_id,
       CASE WHEN random() < 0.8 THEN (1970 + (r % 7))::text || '0101' END AS dob
  FROM generate_series(1, 60) r;
-- 240 pairs of records of different persons; probabilities on a coarse grid (ties), flags drawn
-- from forced (256), veto (512), placeholder (1024), name-only (2048)
CREATE TEMP TABLE pr AS
SELECT row_number() OVER ()::int AS id, x.a, x.b,
       round((0.75 + random() * 0.25)::numeric, 2)::float8 AS prob,
       (CASE WHEN random() < 0.10 THEN 256 ELSE 0 END) | (CASE WHEN random() < 0.05 THEN 512 ELSE 0 END)
       | (CASE WHEN random() < 0.03 THEN 1024 ELSE 0 END) | (CASE WHEN random() < 0.08 THEN 2048 ELSE 0 END) AS flags
  FROM (SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b
          FROM (SELECT 1 + floor(random() * 60)::int AS a, 1 + floor(random() * 60)::int AS b FROM generate_series(1, 300)) y
         WHERE a <> b) x
  JOIN rec ra ON ra.record_id = x.a JOIN rec rb ON rb.record_id = x.b
 WHERE ra.golden_id <> rb.golden_id
 LIMIT 240;
-- the same pairs in an order that is not the decision order
CREATE TEMP TABLE shuffled AS SELECT * FROM pr ORDER BY md5(id::text);

CREATE TEMP TABLE by_sql AS
SELECT lp.* FROM cdp_internal._match_link_plan(
	(SELECT array_agg(a::bigint ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(b::bigint ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(prob ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(flags ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(record_id::bigint ORDER BY record_id) FROM rec), (SELECT array_agg(golden_id::bigint ORDER BY record_id) FROM rec),
	(SELECT array_agg(dob ORDER BY record_id) FROM rec), NULL, 0,
	ARRAY[3]::bigint[], ARRAY[4]::bigint[], ARRAY[5]::bigint[], ARRAY[6]::bigint[],
	0.9, 0.8, ARRAY['p', 'v', 'n', 'rel', 'dob', 'big', 'sup', 'names'], 4, 0.5) lp;
CREATE TEMP TABLE by_c AS
SELECT lp.* FROM cdp_internal._match_run_plan(
	(SELECT array_agg(id) FROM shuffled), (SELECT array_agg(a::bigint) FROM shuffled), (SELECT array_agg(b::bigint) FROM shuffled),
	(SELECT array_agg(prob) FROM shuffled), (SELECT array_agg(flags) FROM shuffled),
	(SELECT array_agg(record_id::bigint ORDER BY record_id) FROM rec), (SELECT array_agg(golden_id::bigint ORDER BY record_id) FROM rec),
	(SELECT array_agg(dob ORDER BY record_id) FROM rec), NULL, 0,
	ARRAY[3]::bigint[], ARRAY[4]::bigint[], ARRAY[5]::bigint[], ARRAY[6]::bigint[],
	0.9, 0.8, ARRAY['p', 'v', 'n', 'rel', 'dob', 'big', 'sup', 'names'], 4, 0.5) lp;

-- a never attr (one value per person: here a letter by record, so some persons contradict)
CREATE TEMP TABLE nev AS SELECT record_id, CASE WHEN record_id % 11 = 0 THEN NULL ELSE chr(65 + (record_id % 3)) END AS v FROM rec;
CREATE TEMP TABLE by_sql_never AS
SELECT lp.* FROM cdp_internal._match_link_plan(
	(SELECT array_agg(a::bigint ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(b::bigint ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(prob ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(flags ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b) FROM pr),
	(SELECT array_agg(record_id::bigint ORDER BY record_id) FROM rec), (SELECT array_agg(golden_id::bigint ORDER BY record_id) FROM rec),
	-- record 7 has no key row below: no birth date, no never value
	(SELECT array_agg(CASE WHEN record_id <> 7 THEN dob END ORDER BY record_id) FROM rec),
	(SELECT array_agg(CASE WHEN r.record_id <> 7 THEN n.v END ORDER BY r.record_id) FROM rec r JOIN nev n USING (record_id)), 1,
	ARRAY[3]::bigint[], ARRAY[4]::bigint[], ARRAY[5]::bigint[], ARRAY[6]::bigint[],
	0.9, 0.8, ARRAY['p', 'v', 'n', 'rel', 'dob', 'big', 'sup', 'names', 'nev'], 4, 0.5) lp;
-- the key rows shuffled, record 7's left out, one of record 999 (no such record) added
CREATE TEMP TABLE keyrows AS
SELECT r.record_id::bigint AS record_id, r.dob, n.v FROM rec r JOIN nev n USING (record_id) WHERE r.record_id <> 7
UNION ALL SELECT 999, '19990101', 'Z';
CREATE TEMP TABLE by_key AS
SELECT lp.* FROM cdp_internal._match_run_plan(
	(SELECT array_agg(id) FROM shuffled), (SELECT array_agg(a::bigint) FROM shuffled), (SELECT array_agg(b::bigint) FROM shuffled),
	(SELECT array_agg(prob) FROM shuffled), (SELECT array_agg(flags) FROM shuffled),
	(SELECT array_agg(record_id::bigint ORDER BY golden_id, record_id) FROM rec), (SELECT array_agg(golden_id::bigint ORDER BY golden_id, record_id) FROM rec),
	(SELECT array_agg(dob ORDER BY md5(record_id::text)) FROM keyrows), (SELECT array_agg(v ORDER BY md5(record_id::text)) FROM keyrows), 1,
	ARRAY[3]::bigint[], ARRAY[4]::bigint[], ARRAY[5]::bigint[], ARRAY[6]::bigint[],
	0.9, 0.8, ARRAY['p', 'v', 'n', 'rel', 'dob', 'big', 'sup', 'names', 'nev'], 4, 0.5,
	(SELECT array_agg(record_id ORDER BY md5(record_id::text)) FROM keyrows)) lp;

SELECT ok((SELECT count(DISTINCT action) FROM by_sql) >= 3 AND (SELECT count(*) FROM pr) >= 200
          AND (SELECT count(*) FROM pr p1 JOIN pr p2 ON p1.prob = p2.prob AND p1.id < p2.id) > 0,
          'the fixture has ties of probability and links, holds and reviews');
SELECT results_eq('SELECT ord, action::text, reason, person_a, person_b, person_records FROM by_c ORDER BY ord',
                  'SELECT ord, action::text, reason, person_a, person_b, person_records FROM by_sql ORDER BY ord',
                  '_match_run_plan over shuffled pairs decides what _match_link_plan decides over them in decision order');
SELECT is((SELECT count(*) FROM by_c c
             JOIN pr p ON p.id = c.pair_id
             JOIN (SELECT row_number() OVER (ORDER BY (flags & 256 <> 0) DESC, prob DESC, a, b)::int AS ord, id FROM pr) o ON o.id = p.id
            WHERE o.ord = c.ord),
          (SELECT count(*) FROM by_c),
          'each row''s pair_id is the pair at its place in decision order');
SELECT ok((SELECT count(*) FROM by_sql_never WHERE reason = 'nev') > 0,
          'the never attr holds some pairs (the features beside the records decide something)');
SELECT results_eq('SELECT ord, action::text, reason, person_a, person_b, person_records FROM by_key ORDER BY ord',
                  'SELECT ord, action::text, reason, person_a, person_b, person_records FROM by_sql_never ORDER BY ord',
                  '_match_run_plan with key_records (key rows in another order, one missing, one of no record) decides what the features beside their records decide');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_run_plan(ARRAY[1], ARRAY[1]::bigint[], ARRAY[2]::bigint[], ARRAY[0.95], ARRAY[0],
                   ARRAY[1, 2]::bigint[], ARRAY[1, 2]::bigint[], ARRAY['19800101', '19800101', '19800101'], NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5,
                   ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5, ARRAY[1, 2]::bigint[])$$, '2202E', 'arrays given to _match_link_plan do not match in length',
                 'the run plan refuses birth dates of another length than key_records');
SELECT is_empty($$SELECT * FROM cdp_internal._match_run_plan(NULL, NULL, NULL, NULL, NULL, ARRAY[1]::bigint[], ARRAY[1]::bigint[],
                   NULL, NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.8, ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5)$$,
                'no pairs, no rows');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_run_plan(ARRAY[1], ARRAY[1, 2]::bigint[], ARRAY[3, 3]::bigint[], ARRAY[0.9, 0.9], ARRAY[0, 0],
                   ARRAY[1, 2, 3]::bigint[], ARRAY[1, 2, 3]::bigint[], NULL, NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5,
                   ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5)$$, '2202E', 'arrays given to _match_link_plan do not match in length',
                 'the run plan refuses ids of another length than the pairs');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_run_plan(ARRAY[1, NULL], ARRAY[1, 2]::bigint[], ARRAY[3, 3]::bigint[], ARRAY[0.9, 0.9], ARRAY[0, 0],
                   ARRAY[1, 2, 3]::bigint[], ARRAY[1, 2, 3]::bigint[], NULL, NULL, 0, NULL, NULL, NULL, NULL, 0.9, 0.5,
                   ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 20, 0.5)$$, '2202E', 'arrays given to _match_link_plan do not match in length',
                 'the run plan refuses a null id');

SELECT * FROM finish();
ROLLBACK;
