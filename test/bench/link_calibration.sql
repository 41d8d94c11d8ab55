-- test/bench/link_calibration.sql: how right the links of a kept first-day database are, by the
-- probability of the pair that made each (test/bench/first_day.sh with KEEP=1 on a gen_clinic.py
-- file, whose staging table `stage` keeps the generator's person_id): every `patient.merged`
-- event's evidence names its two records; a link is wrong when they are two people.  Scored links
-- and links forced by a same_id_match identifier apart (issue 12, session 40: the clinic
-- document's link threshold, doc/benchmarks-match.md, thr42).
--   psql -d cdp_bench_first_day -f test/bench/link_calibration.sql
\timing off
CREATE TEMP TABLE rp AS
SELECT r.record_id, s.person_id AS p
  FROM cdp.record r JOIN cdp.source so ON so.source_id = r.source_id
  JOIN stage s ON s.source = so.name AND s.source_id = r.source_key;
CREATE UNIQUE INDEX ON rp (record_id);
SELECT COALESCE((e.payload -> 'evidence' ->> 'forced')::boolean, false) AS forced,
       CASE WHEN pr >= 0.999 THEN '0.999-1' WHEN pr >= 0.99 THEN '0.99-0.999' WHEN pr >= 0.97 THEN '0.97-0.99'
            WHEN pr >= 0.95 THEN '0.95-0.97' WHEN pr >= 0.9 THEN '0.9-0.95' ELSE '< 0.9' END AS probability,
       count(*) AS links,
       count(*) FILTER (WHERE ra.p <> rb.p) AS wrong,
       round(100.0 * count(*) FILTER (WHERE ra.p <> rb.p) / count(*), 2) AS wrong_pct
  FROM cdp.event e
 CROSS JOIN LATERAL (SELECT (e.payload -> 'evidence' ->> 'probability')::float8 AS pr) x
  JOIN rp ra ON ra.record_id = (e.payload -> 'evidence' ->> 'record_a')::bigint
  JOIN rp rb ON rb.record_id = (e.payload -> 'evidence' ->> 'record_b')::bigint
 WHERE e.kind = 'patient.merged'
 GROUP BY 1, 2 ORDER BY 1, 2;
DROP TABLE rp;
