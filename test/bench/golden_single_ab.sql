-- test/bench/golden_single_ab.sql: the profile of one new person as ingest writes it, three ways in
-- the same run (issue 16, session 22), alternated over the first 10,000 records of a loaded
-- database: a first round hashes each path's rows (same_rows: equal to the first path's), five
-- more are timed:
--   chain, golden_row in FROM   the general path's way (session 21): record document + fold +
--                               golden_row called as a function in FROM (LATERAL)
--   chain, row as a value       the same three calls, the row expanded by field (OFFSET 0)
--   golden_new_person_row       the fast path's way: the row straight from the record's columns
-- Prints the median per path in ms and in microseconds per person.  Usage (any database with
-- records, e.g. after ingest_speed.sh or import_speed.sh with KEEP):
--   psql -X -d DB -f test/bench/golden_single_ab.sql
\set ON_ERROR_STOP 1
CREATE TEMP TABLE w AS SELECT r.*, s.trust FROM cdp.record r JOIN cdp.source s USING (source_id) ORDER BY record_id LIMIT 10000;
CREATE TEMP TABLE rl AS SELECT * FROM cdp.survivorship_rules_as_of('infinity');
CREATE TEMP TABLE t (run int, path text, ms float8, rows_hash text);
DO $$
DECLARE t0 timestamptz; h text;
BEGIN
	FOR i IN 1..6 LOOP
		t0 := clock_timestamp();
		SELECT CASE WHEN i = 1 THEN md5(string_agg(x.p::text, ',' ORDER BY (x.p).golden_id)) ELSE count((x.p).golden_id)::text END INTO h
		  FROM (SELECT pr AS p FROM w r, rl CROSS JOIN LATERAL cdp_internal.golden_row(r.golden_id,
		            cdp.golden_fold(jsonb_build_array(cdp_internal.golden_record_doc_of(r.record_id, r.source_id, r.trust,
		                r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms,
		                r.address, r.city, r.handles, r.extra, r.created_at, r.updated_at)), rl.rules, false),
		            NULL, NULL, NULL, rl.version) pr OFFSET 0) x;
		INSERT INTO t VALUES (i, 'chain, golden_row in FROM', CASE WHEN i > 1 THEN extract(epoch FROM clock_timestamp() - t0) * 1000 END, h);
		t0 := clock_timestamp();
		SELECT CASE WHEN i = 1 THEN md5(string_agg(x.p::text, ',' ORDER BY (x.p).golden_id)) ELSE count((x.p).golden_id)::text END INTO h
		  FROM (SELECT cdp_internal.golden_row(r.golden_id,
		            cdp.golden_fold(jsonb_build_array(cdp_internal.golden_record_doc_of(r.record_id, r.source_id, r.trust,
		                r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms,
		                r.address, r.city, r.handles, r.extra, r.created_at, r.updated_at)), rl.rules, false),
		            NULL, NULL, NULL, rl.version) AS p FROM w r, rl OFFSET 0) x;
		INSERT INTO t VALUES (i, 'chain, row as a value', CASE WHEN i > 1 THEN extract(epoch FROM clock_timestamp() - t0) * 1000 END, h);
		t0 := clock_timestamp();
		SELECT CASE WHEN i = 1 THEN md5(string_agg(x.p::text, ',' ORDER BY (x.p).golden_id)) ELSE count((x.p).golden_id)::text END INTO h
		  FROM (SELECT cdp_internal.golden_new_person_row(r.golden_id, rl.rules, rl.version, r.record_id, r.family_name,
		            r.given_name, r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city,
		            r.handles, r.extra, r.created_at, r.updated_at) AS p FROM w r, rl OFFSET 0) x;
		INSERT INTO t VALUES (i, 'golden_new_person_row', CASE WHEN i > 1 THEN extract(epoch FROM clock_timestamp() - t0) * 1000 END, h);
	END LOOP;
END $$;
SELECT path, count(ms) AS runs, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) * 1000 / (SELECT count(*) FROM w))::numeric, 1) AS us_per_person,
       bool_and(rows_hash = (SELECT t1.rows_hash FROM t t1 WHERE t1.run = 1 AND t1.path = 'chain, golden_row in FROM'))
         FILTER (WHERE run = 1) AS same_rows
  FROM t GROUP BY path ORDER BY median_ms DESC;
