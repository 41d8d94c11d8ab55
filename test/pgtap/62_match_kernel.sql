-- test/pgtap/62_match_kernel.sql: the matching kernel's speed paths give the answers of the plain
-- walk (issue 6): the bounded scorer (a pair is dropped once it cannot reach min_prob) keeps exactly
-- the pairs, weights and levels of full scoring; a walk cut into parts (one per parallel worker)
-- yields the pairs and counts of one walk; the sampled EM patterns equal the full ones when the
-- sample covers every pair and estimate the pair count otherwise; training reuses fresh features.
BEGIN;
SELECT plan(26);

-- a deterministic population: 700 persons with 1-3 records each, few surnames and given names
-- (so blocks hold many pairs), typos, day/month swaps, missing values and shared family phones
SELECT setseed(0.62);
SELECT cdp.register_source(n) FROM unnest(ARRAY['k1', 'k2']) n;
CREATE TEMP TABLE person AS
SELECT p, (random() < 0.5) AS male,
       (ARRAY['Иванов','Смирнов','Кузнецов','Попов','Васильев','Петров','Соколов','Михайлов'])[1 + floor(random() * 8)::int] AS f,
       floor(random() * 10)::int AS gi,
       (ARRAY['Александров','Сергеев','Дмитриев','Андреев','Иванов'])[1 + floor(random() * 5)::int] AS pn,
       date '1950-01-01' + floor(random() * 20000)::int AS dob,
       '79' || lpad(floor(random() * 300)::text, 9, '0') AS phone,
       1 + floor(random() * 2.5)::int AS nrec
  FROM generate_series(1, 700) p;
CREATE TEMP TABLE gen AS
SELECT row_number() OVER (ORDER BY pr.p, r) AS k, pr.p,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', CASE WHEN random() < 0.1 THEN overlay(nm.f placing 'о' from 2 for 1) ELSE nm.f END,
         'given_name', CASE WHEN random() < 0.05 THEN left(nm.g, 1) ELSE nm.g END,
         'patronymic', CASE WHEN random() < 0.3 THEN NULL ELSE nm.pn END,
         'birth_date', CASE WHEN random() < 0.05 AND extract(day FROM pr.dob) <= 12 THEN to_char(pr.dob, 'YYYY-DD-MM') ELSE to_char(pr.dob, 'YYYY-MM-DD') END,
         'sex', CASE WHEN pr.male THEN 'M' ELSE 'F' END,
         'phone', CASE WHEN random() < 0.3 THEN NULL ELSE '+' || pr.phone END)) AS attrs
  FROM person pr
 CROSS JOIN LATERAL generate_series(1, pr.nrec) r
 CROSS JOIN LATERAL (SELECT CASE WHEN pr.male THEN pr.f ELSE pr.f || 'а' END AS f,
                            CASE WHEN pr.male THEN (ARRAY['Александр','Сергей','Дмитрий','Андрей','Алексей','Максим','Евгений','Иван','Михаил','Артем'])[1 + pr.gi]
                                 ELSE (ARRAY['Елена','Ольга','Наталья','Анна','Мария','Ирина','Татьяна','Светлана','Екатерина','Юлия'])[1 + pr.gi] END AS g,
                            pr.pn || CASE WHEN pr.male THEN 'ич' ELSE 'на' END AS pn) nm;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.k::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g
  JOIN cdp.source s ON s.name = 'k' || (1 + g.k % 2)
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;

-- (about 4,100 under the shipped rules, which block no pair on a family and a given name alone:
-- issue 12, session 40; 5,000 and more under the former ones)
SELECT ok((cdp.train_matching(100000, 10) ->> 'blocked_pairs')::bigint > 3000, 'the population yields thousands of candidate pairs');
CREATE TEMP TABLE act AS SELECT * FROM cdp_internal._match_active();
CREATE TEMP TABLE ctid_before AS SELECT record_id, ctid::text AS t FROM cdp_internal.match_key;

-- training's term frequencies (one pass over the tf columns, issue 12 session 24) are the frequency
-- of each value seen more than once among the records filling the comparison, and '' the
-- frequency of a value seen once
SELECT set_eq($$SELECT t.comp, t.value, t.freq FROM cdp_internal.match_tf t, act a WHERE t.version = a.version$$,
              $$WITH v AS (SELECT y.comp, left(split_part(k.feat[y.fpos], chr(31), 1), 63) AS v
                             FROM act a, cdp_internal._match_layout(a.settings) y, cdp_internal.match_key k
                            WHERE (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean AND k.feat[y.fpos] IS NOT NULL),
                     c AS (SELECT comp, v, count(*) AS n, sum(count(*)) OVER (PARTITION BY comp) AS total FROM v GROUP BY 1, 2)
                SELECT comp, v, n::float8 / total FROM c WHERE n > 1 AND v <> ''
                UNION ALL SELECT comp, '', (1.0 / sum(n))::float8 FROM c GROUP BY comp$$,
              'training stores the term frequency of every repeated value and of a value seen once');

-- the bounded scorer against full scoring (min_prob -1 scores every pair in full)
CREATE TEMP TABLE full_pairs AS
SELECT w.record_a, w.record_b, w.weight, w.flags, w.levels
  FROM act a, cdp_internal._match_walk('score', cdp_internal._match_query(NULL), a.program, a.version, -1,
                              (a.settings ->> 'max_block_size')::int, 0, NULL) w;
CREATE TEMP TABLE cut_pairs AS
SELECT w.record_a, w.record_b, w.weight, w.flags, w.levels
  FROM act a, cdp_internal._match_walk('score', cdp_internal._match_query(NULL), a.program, a.version, 0.8,
                              (a.settings ->> 'max_block_size')::int, 0, NULL) w;
SELECT cmp_ok((SELECT count(*) FROM cut_pairs), '>', 100::bigint, 'pairs over the review threshold are found');
SELECT cmp_ok((SELECT count(*) FROM cut_pairs), '<', (SELECT count(*) FROM full_pairs), 'and they are fewer than the candidate pairs');
SELECT set_eq('SELECT * FROM cut_pairs',
              'SELECT * FROM full_pairs WHERE 1 / (1 + power(2, -weight)) >= 0.8 OR flags & 256 <> 0',
              'the bounded scorer keeps exactly the pairs, weights, flags and levels of full scoring');
-- the bound is each pair's own (only the comparisons both records fill, a common name's own tf
-- adjustment; issue 12, session 24): it must cut nothing that reaches a low or a high threshold
SELECT set_eq($$SELECT w.record_a, w.record_b, w.weight, w.flags, w.levels
                  FROM act a, cdp_internal._match_walk('score', cdp_internal._match_query(NULL), a.program, a.version, 0.3,
                                                  (a.settings ->> 'max_block_size')::int, 0, NULL) w$$,
              'SELECT * FROM full_pairs WHERE 1 / (1 + power(2, -weight)) >= 0.3 OR flags & 256 <> 0',
              'at min_prob 0.3 too');
SELECT set_eq($$SELECT w.record_a, w.record_b, w.weight, w.flags, w.levels
                  FROM act a, cdp_internal._match_walk('score', cdp_internal._match_query(NULL), a.program, a.version, 0.995,
                                                  (a.settings ->> 'max_block_size')::int, 0, NULL) w$$,
              'SELECT * FROM full_pairs WHERE 1 / (1 + power(2, -weight)) >= 0.995 OR flags & 256 <> 0',
              'and at min_prob 0.995');

-- a walk cut into parts: the union of the parts is the one walk
SELECT set_eq($$SELECT w.record_a, w.record_b, w.weight, w.flags, w.levels
                  FROM act a, cdp_internal._match_walk_all('score', cdp_internal._match_query(NULL), a.program, a.version, 0.8,
                                                  (a.settings ->> 'max_block_size')::int, 0, 3) w$$,
              'SELECT * FROM cut_pairs', 'three parts (parallel workers when the planner gives them) yield the pairs of one walk');
SELECT is((SELECT count(*) FROM act a, cdp_internal._match_walk_all('score', cdp_internal._match_query(NULL), a.program, a.version, 0.8,
                                                           (a.settings ->> 'max_block_size')::int, 0, 3) w),
          (SELECT count(*) FROM cut_pairs), 'and no pair twice');
SELECT set_eq($$SELECT w.rule, sum(w.n) AS n, sum(w.n_new) AS n_new FROM act a,
                       cdp_internal._match_walk_all('count', cdp_internal._match_query(NULL), a.program, 0, 0, 5000, 0, 4) w GROUP BY w.rule$$,
              $$SELECT w.rule, sum(w.n) AS n, sum(w.n_new) AS n_new FROM act a,
                       cdp_internal._match_walk('count', cdp_internal._match_query(NULL), a.program, 0, 0, 5000, 0, NULL) w GROUP BY w.rule$$,
              'the per-rule pair counts of four parts add up to those of one walk');
SELECT is((SELECT count(*) FROM cdp.candidate_pairs()), (SELECT count(*) FROM full_pairs), 'candidate_pairs emits every candidate pair once');
SELECT is((SELECT count(*) FROM cdp_internal._match_walk_part(2, 2, 'count', 'SELECT 1', '{}', 0, 0, 0, 0, NULL)), 0::bigint,
          'a part past the last walks nothing (a walk calls every row of match_part)');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_walk_part(-1, 2, 'count', 'SELECT 1', '{}', 0, 0, 0, 0, NULL)$$,
                 '22023', 'part -1 of 2 is out of range', 'a negative part is refused');
SELECT throws_ok($$SELECT * FROM cdp_internal._match_walk_part(64, 2, 'count', 'SELECT 1', '{}', 0, 0, 0, 0, NULL)$$,
                 '22023', 'part 64 of 2 is out of range', 'a part past match_part''s 64 is refused');
-- the full run's walk statement (_match_run) with its settings: parallel workers walk the parts
-- even once match_part is analyzed (a DBA's ANALYZE of the whole database); with a filter on part
-- the planner estimated one row and walked every part in one process (session 41)
ANALYZE cdp_internal.match_part;
CREATE FUNCTION pg_temp.run_walk_plan() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE p text;
BEGIN
	PERFORM set_config('parallel_setup_cost', '0', true), set_config('parallel_tuple_cost', '0', true),
	        set_config('min_parallel_table_scan_size', '0', true), set_config('parallel_leader_participation', 'off', true),
	        set_config('max_parallel_workers_per_gather', '2', true);
	EXECUTE $q$EXPLAIN (FORMAT JSON) SELECT (row_number() OVER ())::int AS id, w.record_a, w.record_b
	          FROM cdp_internal.match_part p
	         CROSS JOIN LATERAL cdp_internal._match_walk_part(p.part, 2, 'run', 'SELECT 1', '{}', 0, 0, 0, 0, NULL) w$q$ INTO p;
	PERFORM set_config('parallel_setup_cost', '1000', true), set_config('parallel_tuple_cost', '0.1', true),
	        set_config('min_parallel_table_scan_size', '8MB', true), set_config('parallel_leader_participation', 'on', true);
	RETURN p;
END $f$;
SELECT ok(pg_temp.run_walk_plan() ~ '"Node Type": "Gather".*"Workers Planned": 2.*"Parallel Aware": true',
          'the full run''s walk over an analyzed match_part is planned for two parallel workers');

-- EM patterns: a sample that covers every pair changes nothing; a smaller one estimates the counts
CREATE TEMP TABLE pat_all AS
SELECT w.rule, w.levels, w.n, w.n_new FROM act a, cdp_internal._match_walk('patterns', cdp_internal._match_query(NULL), a.program, a.version, 0, 5000, 0, NULL) w;
SELECT set_eq($$SELECT w.rule, w.levels, w.n, w.n_new FROM act a,
                       cdp_internal._match_walk('patterns', cdp_internal._match_query(NULL), a.program, a.version, 0, 5000, 100000000, NULL) w$$,
              'SELECT * FROM pat_all', 'a sample cap above the pair count counts every pair');
CREATE TEMP TABLE pat_half AS
SELECT w.rule, w.levels, w.n, w.n_new FROM act a,
       cdp_internal._match_walk('patterns', cdp_internal._match_query(NULL), a.program, a.version, 0, 5000,
                       (SELECT sum(n) / 2 FROM pat_all)::bigint, NULL) w;
SELECT cmp_ok(abs((SELECT sum(n_new) FROM pat_half) / (SELECT sum(n_new) FROM pat_all) - 1), '<', 0.05::numeric,
              'a half sample estimates the distinct pair count within 5 %');
SELECT cmp_ok((SELECT count(*) FROM pat_half), '<', (SELECT count(*) FROM pat_all), 'and sees fewer level patterns');

-- training again on unchanged records reuses the stored features
SELECT lives_ok('SELECT cdp.train_matching(100000, 10)', 'training again works');
SELECT set_eq('SELECT record_id, ctid::text AS t FROM cdp_internal.match_key', 'SELECT * FROM ctid_before',
              'and leaves the features of unchanged records where they were (not recomputed)');

-- the block index follows the features, after a full and after a partial re-key
UPDATE cdp.record SET family_name = 'Новикова' WHERE record_id IN (SELECT record_id FROM cdp.record ORDER BY record_id LIMIT 20);
SELECT cdp_internal._match_refresh_keys(ARRAY(SELECT record_id FROM cdp.record ORDER BY record_id LIMIT 40));
SELECT set_eq('SELECT bk, record_id FROM cdp_internal.match_block',
              'SELECT b, record_id FROM cdp_internal.match_key, unnest(bk) b WHERE b IS NOT NULL',
              'match_block holds every blocking key of match_key after a partial re-key');
SELECT set_eq((SELECT 'SELECT q.record_id FROM (' || cdp_internal._match_query(ARRAY[min(record_id)], false) || ') q' FROM cdp.record),
              (SELECT format('SELECT k.record_id FROM cdp_internal.match_key k WHERE k.record_id = %s OR k.bk && (SELECT f.bk FROM cdp_internal.match_key f WHERE f.record_id = %s)',
                             min(record_id), min(record_id)) FROM cdp.record),
              'a lookup reads exactly the records sharing a blocking key with the focus record');

-- a full run walks in at most one part per processor, the parts in the workers alone while the
-- leader writes their rows (issue 12, session 31): the same persons and counts as one serial walk.
-- Training's pair count is raised so that _match_nparts cuts the walk; each run is rolled back
-- (the plpgsql variables keep what it ended with)
SELECT cmp_ok(cdp_internal._match_cpus(), '>=', 1, 'the server counts its processors');
UPDATE cdp_internal.match_settings SET params = params || '{"blocked_pairs": 1e9}' WHERE active;
CREATE FUNCTION pg_temp.full_run(workers int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	res text;
BEGIN
	BEGIN
		PERFORM pg_catalog.set_config('max_parallel_workers_per_gather', workers::text, true);
		SELECT pg_catalog.concat_ws(' ', (cdp.run_matching('full') - 'times')::text,
		       (SELECT pg_catalog.md5(pg_catalog.string_agg(r.record_id || ':' || r.golden_id, ',' ORDER BY r.record_id)) FROM cdp.record r),
		       (SELECT pg_catalog.md5(pg_catalog.string_agg(m.golden_id || ':' || m.record_id, ',' ORDER BY m.golden_id, m.record_id))
		          FROM cdp.patient_member m WHERE m.to_event IS NULL),
		       (SELECT pg_catalog.count(*) || ' ' || COALESCE(pg_catalog.md5(pg_catalog.string_agg(q.record_a || ':' || q.record_b || ':' || q.reason || ':' || q.pairs, ',' ORDER BY q.record_a, q.record_b)), '')
		          FROM cdp_internal.match_review q))
		  INTO res;
		RAISE EXCEPTION USING ERRCODE = 'P0001';
	EXCEPTION WHEN SQLSTATE 'P0001' THEN
		NULL;
	END;
	RETURN res;
END $$;
SELECT is(LEAST(cdp_internal._match_nparts(), cdp_internal._match_cpus()) > 1 OR cdp_internal._match_cpus() = 1, true,
          'with two workers per gather the run cuts its walk into parts (one processor: one walk)');
CREATE TEMP TABLE runs AS SELECT pg_temp.full_run(2) AS parts, pg_temp.full_run(0) AS one;
SELECT ok((SELECT one FROM runs) ~ '"linked": [1-9]', 'the run links records');
SELECT is((SELECT parts FROM runs), (SELECT one FROM runs),
          'a full run walked in parts by the workers ends with the persons, review entries and counts of one walk');

SELECT * FROM finish();
ROLLBACK;
