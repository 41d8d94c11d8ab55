-- test/bench/golden_profile_ab.sql: the profile of one new person as ingest writes it (record
-- document + survivorship fold + profile row), before and after issue 16's session-21 change, in
-- the same run: the former path (golden_record_doc(to_jsonb(row)) and the PL/pgSQL golden_row,
-- re-created here as pg_temp.golden_row_old) against the current one (golden_record_doc_of and
-- the C golden_row), alternated 5 times over the first 10,000 records of a loaded database.
-- Prints the median per path.  Usage (any database with records, e.g. after ingest_speed.sh):
--   psql -X -d DB -f test/bench/golden_profile_ab.sql
\set ON_ERROR_STOP 1
CREATE OR REPLACE FUNCTION pg_temp.golden_row_old(golden_id bigint, fold jsonb, status text, status_at timestamptz,
	last_visit timestamptz, rules_version int) RETURNS cdp.patient LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
	RETURN ROW(golden_id, coalesce(status, 'active'), status_at,
	       (fold ->> 'registered_on')::date, (fold ->> 'validated')::boolean,
	       fold -> 'attributes' ->> 'family_name', fold -> 'attributes' ->> 'given_name',
	       fold -> 'attributes' ->> 'patronymic', fold -> 'attributes' ->> 'sex',
	       (fold -> 'attributes' ->> 'birth_date')::date,
	       fold -> 'phones', fold -> 'emails', fold -> 'handles',
	       (fold -> 'attributes' ->> 'snils')::cdp.snils, (fold -> 'attributes' ->> 'oms')::cdp.oms,
	       fold -> 'attributes' ->> 'address', fold -> 'attributes' ->> 'city',
	       last_visit, (fold ->> 'record_count')::int, (fold ->> 'updated_at')::timestamptz,
	       rules_version)::cdp.patient;
END
$f$;
CREATE TEMP TABLE w AS SELECT r.*, s.trust FROM cdp.record r JOIN cdp.source s USING (source_id) ORDER BY record_id LIMIT 10000;
CREATE TEMP TABLE rl AS SELECT * FROM cdp.survivorship_rules_as_of('infinity');
CREATE TEMP TABLE t (run int, path text, ms float8);
DO $$
DECLARE t0 timestamptz; n bigint;
BEGIN
 FOR i IN 1..5 LOOP
  t0 := clock_timestamp();
  SELECT count(*) INTO n FROM w CROSS JOIN rl CROSS JOIN LATERAL pg_temp.golden_row_old(w.golden_id,
     cdp.golden_fold(jsonb_build_array(cdp.golden_record_doc(to_jsonb((SELECT d FROM (
       SELECT w.record_id, w.source_id, w.family_name, w.given_name, w.patronymic, w.birth_date,
              w.sex, w.phones, w.emails, w.snils, w.oms, w.address, w.city, w.handles, w.extra,
              w.created_at, w.updated_at) d)), w.trust)), rl.rules, false), NULL, NULL, NULL, rl.version) pr;
  INSERT INTO t VALUES (i, 'before', extract(epoch FROM clock_timestamp() - t0) * 1000);
  t0 := clock_timestamp();
  SELECT count(*) INTO n FROM w CROSS JOIN rl CROSS JOIN LATERAL cdp_internal.golden_row(w.golden_id,
     cdp.golden_fold(jsonb_build_array(cdp_internal.golden_record_doc_of(w.record_id, w.source_id, w.trust::int,
       w.family_name, w.given_name, w.patronymic, w.birth_date, w.sex, w.phones, w.emails, w.snils, w.oms,
       w.address, w.city, w.handles, w.extra, w.created_at, w.updated_at)), rl.rules, false), NULL, NULL, NULL, rl.version) pr;
  INSERT INTO t VALUES (i, 'after', extract(epoch FROM clock_timestamp() - t0) * 1000);
 END LOOP;
END $$;
SELECT path, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms_per_10k,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) / 10)::numeric, 1) AS us_per_person, array_agg(round(ms::numeric) ORDER BY run)
  FROM t GROUP BY path ORDER BY path DESC;
