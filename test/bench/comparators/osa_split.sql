-- test/bench/comparators/osa_split.sql: where the time of cdp.osa_distance(a, b, 2) and of
-- fuzzystrmatch's levenshtein_less_equal(a, b, 2) goes, on bench_pairs split by kind of pair
-- (identical; 1-2 edits apart; more than 2 apart with lengths within 2; lengths more than 2
-- apart), each kind in a table of its own, against the scan-only query on the same table.
-- Setting cdp_bench.runs: rounds (median kept). Run after comparators.sh, in its database:
--   PGOPTIONS="-c cdp_bench.runs=3" psql -X -d cdp_bench -f test/bench/comparators/osa_split.sql
\ir session.sql
SET client_min_messages = warning;

CREATE TEMP TABLE split_pairs AS
SELECT a, b, CASE WHEN a = b THEN '1 identical'
                  WHEN abs(length(a) - length(b)) > 2 THEN '4 lengths more than 2 apart'
                  WHEN cdp.osa_distance(a, b) <= 2 THEN '2 1-2 edits apart'
                  ELSE '3 more than 2 apart, lengths within 2' END AS kind
FROM bench_pairs;
CREATE TEMP TABLE split_1 AS SELECT a, b FROM split_pairs WHERE kind LIKE '1%';
CREATE TEMP TABLE split_2 AS SELECT a, b FROM split_pairs WHERE kind LIKE '2%';
CREATE TEMP TABLE split_3 AS SELECT a, b FROM split_pairs WHERE kind LIKE '3%';
CREATE TEMP TABLE split_4 AS SELECT a, b FROM split_pairs WHERE kind LIKE '4%';
ANALYZE split_1, split_2, split_3, split_4;

CREATE TEMP TABLE split_time (kind int, fn text, round int, ms float8, cpu_ms float8);
DO $$
DECLARE
  t0 timestamptz;
  c0 bigint;
  r float8;
  f record;
BEGIN
  -- round 0 warms the cache and the temporary tables' hint bits; it is not kept
  FOR rnd IN 0..current_setting('cdp_bench.runs')::int LOOP
    FOR k IN 1..4 LOOP
      FOR f IN SELECT * FROM (VALUES ('scan only', 'octet_length(a) + octet_length(b)'),
                                     ('cdp.osa_distance(a, b, 2)', 'cdp.osa_distance(a, b, 2)'),
                                     ('levenshtein_less_equal(a, b, 2)', 'public.levenshtein_less_equal(a, b, 2)')) v(fn, e) LOOP
        c0 := pg_temp.cpu_ns();
        t0 := clock_timestamp();
        EXECUTE format('SELECT sum(%s)::float8 FROM split_%s', f.e, k) INTO r;
        IF rnd > 0 THEN
          INSERT INTO split_time VALUES (k, f.fn, rnd, 1000 * extract(epoch FROM clock_timestamp() - t0),
                                         (pg_temp.cpu_ns() - c0) / 1e6);
        END IF;
      END LOOP;
    END LOOP;
  END LOOP;
END $$;

\echo '== capped OSA by kind of pair: median of the rounds, ms (CPU time of the backend where readable; wall clock) =='
WITH m AS (
  SELECT kind, fn, percentile_disc(0.5) WITHIN GROUP (ORDER BY cpu_ms) AS cpu_ms,
         percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS ms
  FROM split_time GROUP BY kind, fn),
n AS (SELECT kind, count(*) AS pairs FROM split_pairs GROUP BY kind)
SELECT n.kind, n.pairs,
       round(s.cpu_ms::numeric, 1) AS scan_cpu, round(c.cpu_ms::numeric, 1) AS cdp_cpu, round(l.cpu_ms::numeric, 1) AS peer_cpu,
       round(s.ms::numeric, 1) AS scan_wall, round(c.ms::numeric, 1) AS cdp_wall, round(l.ms::numeric, 1) AS peer_wall
FROM n JOIN m s ON s.kind = left(n.kind, 1)::int AND s.fn = 'scan only'
       JOIN m c ON c.kind = s.kind AND c.fn = 'cdp.osa_distance(a, b, 2)'
       JOIN m l ON l.kind = s.kind AND l.fn = 'levenshtein_less_equal(a, b, 2)'
ORDER BY n.kind;
