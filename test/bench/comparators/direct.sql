-- test/bench/comparators/direct.sql: the comparators alone, without the table scan. All pairs of
-- bench_pairs are loaded into two in-memory arrays once; cmpcall_ns (test/bench/cmpcall, a
-- benchmark-only module) then calls each function on every pair through the function manager,
-- as the executor calls it, and reports the thread's CPU nanoseconds per call. The functions are
-- timed in interleaved rounds (setting cdp_bench.runs), the median kept; "ratio" = peer time /
-- cdp time, i.e. how many more comparisons per second per core cdp makes.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cmpcall SCHEMA public;
CREATE TEMP TABLE direct_pairs AS
SELECT array_agg(a ORDER BY id) AS a, array_agg(b ORDER BY id) AS b FROM bench_pairs;

CREATE TEMP TABLE direct_fn (name text PRIMARY KEY, fn regprocedure, extra text[], peer_of text);
INSERT INTO direct_fn VALUES
  ('cdp.jaro_winkler', 'cdp.jaro_winkler(text, text, float8, float8)', '{0.1, 0.7}', NULL),
  ('pg_similarity jarowinkler', 'public.jarowinkler(text, text)', NULL, 'cdp.jaro_winkler'),
  ('cdp.osa_distance(a, b, 2)', 'cdp.osa_distance(text, text, int)', '{2}', NULL),
  ('fuzzystrmatch levenshtein_less_equal(a, b, 2)', 'public.levenshtein_less_equal(text, text, int)', '{2}', 'cdp.osa_distance(a, b, 2)'),
  ('cdp.osa_distance(a, b)', 'cdp.osa_distance(text, text)', NULL, NULL),
  ('fuzzystrmatch levenshtein', 'public.levenshtein(text, text)', NULL, 'cdp.osa_distance(a, b)'),
  ('cdp.qgram_jaccard', 'cdp.qgram_jaccard(text, text, int)', '{2}', NULL),
  ('pg_trgm similarity', 'public.similarity(text, text)', NULL, 'cdp.qgram_jaccard');

CREATE TEMP TABLE direct_time (name text, round int, ns float8);
DO $$
DECLARE
  f record;
  t float8[];
BEGIN
  FOR r IN 1..current_setting('cdp_bench.runs')::int LOOP
    FOR f IN SELECT * FROM direct_fn ORDER BY name LOOP
      SELECT public.cmpcall_ns(f.fn, p.a, p.b, f.extra, 1) INTO t FROM direct_pairs p;
      INSERT INTO direct_time VALUES (f.name, r, t[1]);
    END LOOP;
  END LOOP;
END $$;

\echo '== direct calls through fmgr, no table scan: CPU ns per comparison, median of the rounds =='
CREATE TEMP VIEW direct_median AS
SELECT name, percentile_disc(0.5) WITHIN GROUP (ORDER BY ns) AS ns, min(ns) AS min_ns, max(ns) AS max_ns
  FROM direct_time GROUP BY name;
SELECT m.name, round(m.ns::numeric, 1) AS ns_per_call, round(m.min_ns::numeric, 1) AS min, round(m.max_ns::numeric, 1) AS max,
       round((1e9 / m.ns)::numeric) AS per_s_core
  FROM direct_median m JOIN direct_fn f USING (name)
 ORDER BY coalesce(f.peer_of, f.name), f.peer_of NULLS FIRST;
\echo '== cdp against its peer, direct calls: peer ns / cdp ns (above 1: cdp makes more comparisons per second) =='
SELECT f.peer_of AS cdp, f.name AS peer, round((p.ns / c.ns)::numeric, 2) AS ratio
  FROM direct_fn f JOIN direct_median p ON p.name = f.name JOIN direct_median c ON c.name = f.peer_of
 WHERE f.peer_of IS NOT NULL ORDER BY 1;
\echo '== the same answers through this path as through SQL (sums over all pairs) =='
SELECT public.cmpcall_sum('cdp.osa_distance(text, text, int)', a, b, '{2}') AS cdp_osa2_sum,
       (SELECT sum(cdp.osa_distance(x.a, x.b, 2)) FROM bench_pairs x) AS sql_osa2_sum,
       public.cmpcall_sum('cdp.osa_distance(text, text)', a, b, '{}') AS cdp_osa_sum,
       (SELECT sum(cdp.osa_distance(x.a, x.b)) FROM bench_pairs x) AS sql_osa_sum
  FROM direct_pairs;
