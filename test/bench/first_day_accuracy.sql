-- test/bench/first_day_accuracy.sql: the accuracy of a kept first-day database (test/bench/first_day.sh
-- with KEEP=1 on a gen_clinic.py file, whose staging table `stage` keeps the generator's person_id):
-- records, true-positive / predicted / true pairs, pairwise and B-cubed precision and recall (6
-- digits; NULL without pairs), the largest profile, profiles of 20 records or more, the largest true
-- person.
--   psql -d cdp_bench_first_day -f test/bench/first_day_accuracy.sql
\timing off
CREATE TEMP TABLE t AS
SELECT r.record_id, r.golden_id AS g, s.person_id AS p
  FROM cdp.record r JOIN cdp.source so ON so.source_id = r.source_id
  JOIN stage s ON s.source = so.name AND s.source_id = r.source_key;
ANALYZE t;
WITH gp AS (SELECT g, p, count(*) n FROM t GROUP BY g, p),
     gs AS (SELECT g, count(*) n FROM t GROUP BY g),
     ps AS (SELECT p, count(*) n FROM t GROUP BY p)
SELECT (SELECT count(*) FROM t) AS records,
       (SELECT sum(n*(n-1)/2) FROM gp) AS tp,
       (SELECT sum(n*(n-1)/2) FROM gs) AS pred,
       (SELECT sum(n*(n-1)/2) FROM ps) AS truth,
       round((SELECT sum(n*(n-1)/2) FROM gp)::numeric / NULLIF((SELECT sum(n*(n-1)/2) FROM gs), 0), 6) AS pair_p,
       round((SELECT sum(n*(n-1)/2) FROM gp)::numeric / NULLIF((SELECT sum(n*(n-1)/2) FROM ps), 0), 6) AS pair_r,
       round((SELECT sum(gp.n::numeric*gp.n/gs.n) FROM gp JOIN gs USING (g)) / (SELECT count(*) FROM t), 6) AS b3_p,
       round((SELECT sum(gp.n::numeric*gp.n/ps.n) FROM gp JOIN ps USING (p)) / (SELECT count(*) FROM t), 6) AS b3_r,
       (SELECT max(n) FROM gs) AS max_cluster, (SELECT count(*) FROM gs WHERE n >= 20) AS ge20,
       (SELECT max(n) FROM ps) AS max_true;
