-- test/bench/golden_roundtrip.sql: merge + unmerge round trip on fresh pairs of single-record
-- persons (records R<k> and the next record, k % :every = 2), :samples pairs; prints the median
-- and p95 in ms.  Shared by golden_speed.sh and golden_scale.sh:
--   psql -v samples=500 -v every=5 -f test/bench/golden_roundtrip.sql
SELECT set_config('cdp_bench.samples', :'samples', false) AS samples_set, set_config('cdp_bench.every', :'every', false) AS every_set \gset
DO $$ DECLARE x record; t0 timestamptz; BEGIN
  CREATE TEMP TABLE rt (ms float8);
  FOR x IN SELECT a.record_id AS a, b.record_id AS b FROM cdp.record a JOIN cdp.record b ON b.record_id = a.record_id + 1
            WHERE a.source_key LIKE 'R%' AND b.source_key LIKE 'R%'
              AND substr(a.source_key, 2)::int % current_setting('cdp_bench.every')::int = 2
            ORDER BY a.record_id LIMIT current_setting('cdp_bench.samples')::int LOOP
    t0 := clock_timestamp();
    PERFORM cdp.link_records(x.a, x.b, '{"bench": "round trip"}');
    PERFORM cdp.unmerge(x.b, 'bench round trip');
    INSERT INTO rt VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP; END $$;
SELECT format('merge + unmerge round trip (%s pairs): median %s ms, p95 %s ms', count(*),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2), round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2)) FROM rt;
