-- test/bench/ingest_statement_writer.sql: cdp_internal.ingest_insert_new as session 22 wrote it (one SQL
-- statement, no bulk writer): IMPORT_AB_SQL=test/bench/ingest_statement_writer.sql test/bench/import_speed.sh
-- compares it with this build's in the same run (doc/benchmarks.md, issue 16, session 23).
CREATE OR REPLACE FUNCTION cdp_internal.ingest_insert_new(src_id integer, src_name text, new_rows cdp_internal.ingest_row[],
											   skip_invalid boolean DEFAULT false)
	RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_rules			jsonb;
	v_rules_version	integer;
	v_ids			bigint[];
BEGIN
	IF src_id IS NULL OR src_name IS NULL OR new_rows IS NULL OR skip_invalid IS NULL THEN
		RAISE EXCEPTION 'source id, name, rows and skip_invalid must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pg_catalog.cardinality(new_rows) OPERATOR(pg_catalog.=) 0 THEN
		RETURN ARRAY[]::bigint[];
	END IF;
	SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM cdp.survivorship_rules_as_of('infinity') rl;
	WITH norm AS MATERIALIZED (
		SELECT n.*,
			   pg_catalog.nextval('cdp.record_record_id_seq'::pg_catalog.regclass) AS new_rid,
			   pg_catalog.nextval('cdp.golden_id_seq'::pg_catalog.regclass) AS new_gid,
			   pg_catalog.clock_timestamp() AS ts
		  FROM pg_catalog.unnest(new_rows) n
		 WHERE NOT skip_invalid OR n.extra IS NULL OR NOT n.extra OPERATOR(pg_catalog.?) '_invalid'
	), written AS (
		INSERT INTO cdp.record
			(record_id, golden_id, source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones,
			 emails, snils, oms, address, city, handles, extra, attrs_hash, created_at, updated_at)
		OVERRIDING SYSTEM VALUE
		SELECT norm.new_rid, norm.new_gid, src_id, norm.source_key, norm.raw, norm.family_name, norm.given_name,
			   norm.patronymic, norm.birth_date, norm.sex, norm.phones, norm.emails, norm.snils, norm.oms, norm.address,
			   norm.city, norm.handles, norm.extra, norm.attrs_hash, norm.ts, norm.ts
		  FROM norm
		 ORDER BY norm.source_key COLLATE "C"
	), logged AS (
		INSERT INTO cdp.event (kind, subject, golden_id, payload)
		SELECT 'record.created', norm.new_rid, norm.new_gid,
			   cdp_internal.record_event_payload(src_name, norm.source_key, 1, norm.raw, norm.norm, norm.ts, norm.ts)
		  FROM norm
		 ORDER BY norm.ord
		RETURNING event_id, at, subject, golden_id
	), queued AS (
		INSERT INTO cdp_internal.match_queue (record_id)
		SELECT norm.new_rid FROM norm
	), profiled AS (
		/*
		 * The profile of a person of one record, straight from the record's columns
		 * (golden_new_person_row: the fold of that record without its documents), as a value
		 * expanded by field (OFFSET 0 keeps it one call per row): a function in FROM (LATERAL)
		 * puts each call's row through a tuplestore of its own.
		 */
		INSERT INTO cdp.patient
		SELECT (pr.p).*
		  FROM (SELECT cdp_internal.golden_new_person_row(norm.new_gid, v_rules, v_rules_version, norm.new_rid,
						   norm.family_name, norm.given_name, norm.patronymic, norm.birth_date, norm.sex, norm.phones,
						   norm.emails, norm.snils, norm.oms, norm.address, norm.city, norm.handles, norm.extra,
						   norm.ts, norm.ts) AS p
				  FROM norm
				 ORDER BY norm.new_gid
				OFFSET 0) pr
	), members AS (
		INSERT INTO cdp.patient_member (record_id, golden_id, from_event, from_at)
		SELECT l.subject, l.golden_id, l.event_id, l.at FROM logged l
	)
	SELECT pg_catalog.array_agg(norm.new_rid ORDER BY norm.ord) INTO v_ids FROM norm;
	RETURN v_ids;
END
$$;
