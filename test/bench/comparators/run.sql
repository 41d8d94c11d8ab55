-- test/bench/comparators/run.sql: times cdp's comparators against their peers on bench_pairs
-- (setting cdp_bench.runs). Each query aggregates over every pair in one backend (no parallel
-- workers, no JIT), so pairs / seconds = comparisons per second per core. The rounds interleave
-- the queries, so a busy neighbour slows all of them alike; the median of the rounds is kept.
-- Two clocks: wall time (clock_timestamp) and, when the server runs on Linux and the user may
-- read files (superuser), the backend's own CPU time from /proc/self/schedstat, which a shared
-- machine disturbs much less (time spent waiting for a core is not counted).
\ir session.sql

CREATE FUNCTION pg_temp.bench(q text, OUT wall_ms float8, OUT cpu_ms float8) LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  c0 bigint;
  r float8;
BEGIN
  c0 := pg_temp.cpu_ns();
  t0 := clock_timestamp();
  EXECUTE q INTO r;
  wall_ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
  cpu_ms := (pg_temp.cpu_ns() - c0) / 1e6;
END $$;

CREATE TEMP TABLE bench_query (name text PRIMARY KEY, peer_of text, q text NOT NULL);
INSERT INTO bench_query VALUES
  ('scan only (octet_length)', NULL, 'SELECT sum(octet_length(a) + octet_length(b))::float8 FROM bench_pairs'),
  ('cdp.jaro_winkler', NULL, 'SELECT sum(cdp.jaro_winkler(a, b)) FROM bench_pairs'),
  ('pg_similarity jarowinkler', 'cdp.jaro_winkler', 'SELECT sum(public.jarowinkler(a, b)) FROM bench_pairs'),
  ('cdp.osa_distance(a, b, 2)', NULL, 'SELECT sum(cdp.osa_distance(a, b, 2))::float8 FROM bench_pairs'),
  ('fuzzystrmatch levenshtein_less_equal(a, b, 2)', 'cdp.osa_distance(a, b, 2)',
   'SELECT sum(public.levenshtein_less_equal(a, b, 2))::float8 FROM bench_pairs'),
  ('cdp.osa_distance(a, b)', NULL, 'SELECT sum(cdp.osa_distance(a, b))::float8 FROM bench_pairs'),
  ('fuzzystrmatch levenshtein', 'cdp.osa_distance(a, b)', 'SELECT sum(public.levenshtein(a, b))::float8 FROM bench_pairs'),
  ('cdp.qgram_jaccard', NULL, 'SELECT sum(cdp.qgram_jaccard(a, b)) FROM bench_pairs'),
  ('pg_trgm similarity', 'cdp.qgram_jaccard', 'SELECT sum(public.similarity(a, b))::float8 FROM bench_pairs'),
  ('cdp.token_set_similarity', NULL, 'SELECT sum(cdp.token_set_similarity(a, b)) FROM bench_pairs');

CREATE TEMP TABLE bench_time (name text, round int, ms float8, cpu_ms float8);
-- warm the cache and load every library before the first timed round
\o /dev/null
SELECT count(*) AS warm FROM bench_pairs WHERE cdp.jaro(a, b) + public.jarowinkler(a, b)
  + public.levenshtein(a, b) + public.similarity(a, b) < -1 AND id <= 1000;
\o

DO $$
DECLARE
  q record;
BEGIN
  FOR r IN 1..current_setting('cdp_bench.runs')::int LOOP
    FOR q IN SELECT * FROM bench_query ORDER BY name LOOP
      INSERT INTO bench_time SELECT q.name, r, b.wall_ms, b.cpu_ms FROM pg_temp.bench(q.q) b;
    END LOOP;
  END LOOP;
END $$;

\echo
\echo '== timings: median of the rounds, one core (wall clock; CPU time of the backend) =='
CREATE TEMP VIEW bench_median AS
SELECT name, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS ms, min(ms) AS min_ms, max(ms) AS max_ms,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY cpu_ms) AS cpu_ms
FROM bench_time GROUP BY name;
WITH n AS (SELECT count(*)::float8 AS pairs FROM bench_pairs)
SELECT m.name, round(m.ms::numeric) AS wall_ms, round(m.min_ms::numeric) AS min, round(m.max_ms::numeric) AS max,
       round((n.pairs / (m.ms / 1000))::numeric) AS per_s_core_wall,
       round(m.cpu_ms::numeric) AS cpu_ms, round((n.pairs / (m.cpu_ms / 1000))::numeric) AS per_s_core_cpu
FROM bench_median m CROSS JOIN n JOIN bench_query q USING (name)
ORDER BY coalesce(q.peer_of, q.name), q.peer_of NULLS FIRST;

\echo '== cdp against its peer: peer time / cdp time (above 1: cdp is faster); "net": the scan-only time subtracted from both =='
WITH s AS (SELECT ms, cpu_ms FROM bench_median WHERE name = 'scan only (octet_length)')
SELECT q.peer_of AS cdp, q.name AS peer,
       round((p.ms / c.ms)::numeric, 2) AS wall, round(((p.ms - s.ms) / nullif(c.ms - s.ms, 0))::numeric, 2) AS wall_net,
       round((p.cpu_ms / c.cpu_ms)::numeric, 2) AS cpu,
       round(((p.cpu_ms - s.cpu_ms) / nullif(c.cpu_ms - s.cpu_ms, 0))::numeric, 2) AS cpu_net
FROM bench_query q JOIN bench_median p ON p.name = q.name JOIN bench_median c ON c.name = q.peer_of CROSS JOIN s
WHERE q.peer_of IS NOT NULL ORDER BY 1;

\echo '== correctness on the same pairs =='
SELECT script, count(*) AS pairs,
       count(*) FILTER (WHERE abs(cdp.jaro_winkler(a, b) - public.jarowinkler(a, b)) > 1e-5) AS jw_disagree,
       -- pg_similarity lower-cases ASCII (bytes) before comparing, and computes in float4
       count(*) FILTER (WHERE abs(cdp.jaro_winkler(lower(a), lower(b)) - public.jarowinkler(a, b)) > 1e-5) AS jw_disagree_lowered,
       round(max(abs(cdp.jaro_winkler(a, b) - public.jarowinkler(a, b)))::numeric, 3) AS jw_max_diff,
       count(*) FILTER (WHERE cdp.osa_distance(a, b) > public.levenshtein(a, b)) AS osa_above_lev,
       count(*) FILTER (WHERE cdp.osa_distance(a, b) < public.levenshtein(a, b)) AS osa_below_lev_transpositions,
       count(*) FILTER (WHERE cdp.osa_distance(a, b, 2) <> least(cdp.osa_distance(a, b), 3)) AS osa_cap_mismatch
FROM bench_pairs GROUP BY script ORDER BY script;
SELECT a, b, round(cdp.jaro_winkler(a, b)::numeric, 4) AS cdp_jw, round(public.jarowinkler(a, b)::numeric, 4) AS pg_similarity_jw
FROM (VALUES ('МАРТА', 'МАРФА'), ('ДВАЙНЕ', 'ДУАНЕ'), ('MARTA', 'MARFA'), ('DWAYNE', 'DUANE')) AS v(a, b);
