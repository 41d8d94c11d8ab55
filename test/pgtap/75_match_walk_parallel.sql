-- test/pgtap/75_match_walk_parallel.sql: the training walk in shares (issue 12, session 37).  At
-- 1M records _match_walk('train', ...) runs in as many processes as the server has cores: each
-- loads the records and meets every pair in the serial order, but scores only its own runs of
-- pairs, and the leader merges the workers' pattern counts and emits them in the serial walk's
-- order (the order of the pattern table the serial walk fills, which the EM reads).  Forced here
-- on a small fixture through _match_walk_part(0, n, 'train', ...): its rows must be the serial
-- walk's, row for row and in the same order, with 2 and 3 processes, and with the fallbacks (no
-- worker allowed, none started), which are the serial walk.
BEGIN;
SELECT plan(9);

SELECT setseed(0.37);
SELECT cdp.register_source('wp');
CREATE TEMP TABLE gen AS
SELECT row_number() OVER () AS k,
       jsonb_strip_nulls(jsonb_build_object(
         'family_name', (ARRAY['Zorgul', 'Zorgol', 'Tramfo', 'Blipko', 'Blipka', 'Quenhar'])[1 + floor(random() * 6)::int],
         'given_name', (ARRAY['Wexlin', 'Wexlyn', 'Qwix', 'Qwixa', 'Ferdo'])[1 + floor(random() * 5)::int],
         'patronymic', CASE WHEN random() < 0.4 THEN NULL ELSE (ARRAY['Plon', 'Vorbis', 'Vorbys'])[1 + floor(random() * 3)::int] END,
         'birth_date', CASE WHEN random() < 0.1 THEN NULL
                            ELSE to_char(date '1980-01-01' + floor(random() * 40)::int, 'YYYY-MM-DD') END,
         'email', CASE WHEN random() < 0.7 THEN NULL ELSE 'x' || floor(random() * 30)::text || '@example.org' END,
         'phone', CASE WHEN random() < 0.5 THEN NULL ELSE '+7916' || lpad(floor(random() * 40)::text, 7, '0') END)) AS attrs
  FROM generate_series(1, 400) i;
INSERT INTO cdp.record (source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
                        snils, oms, address, city, handles, extra, attrs_hash)
SELECT s.source_id, g.k::text, g.attrs, n.family_name, n.given_name, n.patronymic, n.birth_date, n.sex, n.phones, n.emails,
       n.snils, n.oms, n.address, n.city, n.handles, COALESCE(n.extra, '{}'), md5(g.attrs::text)
  FROM gen g
  JOIN cdp.source s ON s.name = 'wp'
 CROSS JOIN LATERAL jsonb_populate_record(NULL::cdp.record, cdp.normalize_attrs(g.attrs, true)) n;
-- keys and term frequencies, as a training leaves them
SELECT cdp.train_matching(2000, 5) IS NOT NULL AS trained;

-- the training walk's arguments, as train_matching passes them; a sample smaller than the
-- candidate pairs, so that the blocked pairs are sampled (the draws decide which pairs are scored)
CREATE TEMP TABLE args AS
SELECT cdp_internal._match_program(a.settings - 'candidate_blocking', NULL) AS prog,
       cdp_internal._match_query(NULL, false) AS q, a.version, (a.settings ->> 'max_block_size')::int AS max_block
  FROM cdp_internal._match_active() a;
CREATE TEMP TABLE serial AS
SELECT w.ord, w.rule, w.levels, w.n, w.n_new
  FROM args x, cdp_internal._match_walk('train', x.q, x.prog, x.version, 0, x.max_block, 3000, NULL)
       WITH ORDINALITY w(record_a, record_b, golden_a, golden_b, rule, weight, probability, flags, levels, n, n_new, ord);
SELECT cmp_ok((SELECT count(*) FROM serial WHERE rule = -1), '>=', 20::bigint, 'the fixture''s random pairs reach many level vectors');
SELECT cmp_ok((SELECT count(*) FROM serial WHERE rule >= 0), '>=', 40::bigint, 'the fixture''s blocked pairs reach many level vectors');
SELECT cmp_ok((SELECT sum(n) FROM serial WHERE rule >= 0), '>', 3000::numeric,
              'the blocked pairs are sampled (more candidate pairs than the sample)');

PREPARE walk(int) AS
SELECT w.ord, w.rule, w.levels, w.n, w.n_new
  FROM args x, cdp_internal._match_walk_part(0, $1, 'train', x.q, x.prog, x.version, 0, x.max_block, 3000, NULL)
       WITH ORDINALITY w(record_a, record_b, golden_a, golden_b, rule, weight, probability, flags, levels, n, n_new, ord);
SET LOCAL max_parallel_workers_per_gather = 4;
SELECT results_eq('EXECUTE walk(2)', 'SELECT * FROM serial ORDER BY ord',
                  'in two processes: the serial walk''s rows, in its order');
SELECT results_eq('EXECUTE walk(3)', 'SELECT * FROM serial ORDER BY ord',
                  'in three processes: the serial walk''s rows, in its order');
-- the fallbacks: no worker allowed per Gather, no worker slot (none starts): the serial walk
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT results_eq('EXECUTE walk(2)', 'SELECT * FROM serial ORDER BY ord',
                  'with max_parallel_workers_per_gather 0: the serial walk');
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL max_parallel_workers = 0;
SELECT results_eq('EXECUTE walk(2)', 'SELECT * FROM serial ORDER BY ord',
                  'with no worker started: the serial walk');
RESET max_parallel_workers;
SELECT throws_ok($$SELECT * FROM args x, cdp_internal._match_walk_part(1, 2, 'train', x.q, x.prog, x.version, 0, x.max_block, 3000, NULL)$$,
                 '22023', 'a training walk in 2 processes must be called as part 0',
                 'a training walk in shares is called as part 0 only');
SELECT results_eq($$SELECT w.rule, w.levels, w.n, w.n_new
                      FROM args x, cdp_internal._match_walk_part(0, 1, 'train', x.q, x.prog, x.version, 0, x.max_block, 3000, NULL) w$$,
                  'SELECT rule, levels, n, n_new FROM serial ORDER BY ord',
                  'one part: the serial walk');

SELECT * FROM finish();
ROLLBACK;
