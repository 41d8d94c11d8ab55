/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

/* ==== end of section: types and text ==== */


/* ==== section: name index and find_patient (issue 18) ==== */

/* ==== end of section: name index and find_patient ==== */


/* ==== section: matching (issue 12) ==== */

/* ==== end of section: matching ==== */


/* ==== section: consent, offers and segments (issue 13) ==== */

/* ==== end of section: consent, offers and segments ==== */


/* ==== section: campaigns (issue 14) ==== */

/* ==== end of section: campaigns ==== */


/* ==== section: access (issue 15) ==== */

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

-- ingest and golden speed (branch mig): functions rewritten for issue 16, as in sql/parts

CREATE OR REPLACE FUNCTION @extschema@.upsert_records(source text, source_ids text[], attrs jsonb[], lenient boolean DEFAULT false)
	RETURNS TABLE (source_id text, record_id bigint, action text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	v_src		@extschema@.source;
	v_bad		record;
	v_goldens	bigint[];
	v_sids		text[];
	v_ids		bigint[];
	v_actions	text[];
	v_nlogged	bigint;
	v_nqueued	bigint;
	v_old		text[];
	v_oldid		bigint[];
	v_rows		cdp_internal.ingest_row[];
	v_rules		jsonb;
	v_rules_version int;
	v_nprofiled	bigint;
BEGIN
	IF source IS NULL OR source_ids IS NULL OR attrs IS NULL THEN
		RAISE EXCEPTION 'source, source_id and attrs must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = pg_catalog.format('source %s, source_id %s, attrs %s.',
					  CASE WHEN source IS NULL THEN 'is null' ELSE 'is given' END,
					  CASE WHEN source_ids IS NULL THEN 'is null' ELSE 'is given' END,
					  CASE WHEN attrs IS NULL THEN 'is null' ELSE 'is given' END);
	END IF;
	SELECT s.* INTO v_src FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) upsert_records.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown source: "%"', pg_catalog.left(source, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Register it first with cdp.register_source(name, kind, trust).';
	END IF;
	IF NOT v_src.active THEN
		RAISE EXCEPTION 'source "%" is not active', source
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF pg_catalog.cardinality(source_ids) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(attrs) THEN
		RAISE EXCEPTION 'source_ids and attrs differ in length'
			USING ERRCODE = 'array_subscript_error',
				  DETAIL = pg_catalog.format('%s source ids, %s attrs documents.',
					  pg_catalog.cardinality(source_ids), pg_catalog.cardinality(attrs));
	END IF;

	/* row checks, naming the first bad row */
	SELECT u.ord, u.sid, u.a INTO v_bad
	  FROM unnest(source_ids, attrs) WITH ORDINALITY AS u(sid, a, ord)
	 WHERE u.sid IS NULL OR u.a IS NULL OR pg_catalog.btrim(u.sid) OPERATOR(pg_catalog.=) ''
	    OR pg_catalog.octet_length(u.sid) OPERATOR(pg_catalog.>) 200
	 ORDER BY u.ord LIMIT 1;
	IF FOUND THEN
		IF v_bad.sid IS NULL OR v_bad.a IS NULL THEN
			RAISE EXCEPTION 'source, source_id and attrs must not be null'
				USING ERRCODE = 'null_value_not_allowed',
					  DETAIL = pg_catalog.format('Row %s: source_id %s, attrs %s.', v_bad.ord,
						  CASE WHEN v_bad.sid IS NULL THEN 'is null' ELSE 'is given' END,
						  CASE WHEN v_bad.a IS NULL THEN 'is null' ELSE 'is given' END);
		END IF;
		RAISE EXCEPTION 'invalid source_id: "%"', pg_catalog.left(v_bad.sid, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Row %s: source_id is %s bytes long.', v_bad.ord, pg_catalog.octet_length(v_bad.sid)),
				  HINT = 'A source_id is the id of the record in its source system: 1 to 200 bytes, not blank.';
	END IF;
	SELECT u.sid, pg_catalog.count(*) AS n INTO v_bad
	  FROM unnest(source_ids) AS u(sid) GROUP BY u.sid HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'source_id "%" appears % times in one batch', pg_catalog.left(v_bad.sid, 100), v_bad.n
			USING ERRCODE = 'unique_violation',
				  HINT = 'Send each record once per batch; send a later version in a later batch.';
	END IF;

	/*
	 * Normalise what is new or changed (the same input again costs one lookup), in one C call for
	 * the batch (cdp.normalize_records), made as a plain assignment so that an error's context is
	 * the record and the key, not this function's SQL.
	 */
	/*
	 * Existing records of the batch are locked first, in record-id order: the order in which a
	 * matching run's link batch (cdp.link_records_many) locks them, so the two cannot deadlock
	 * whatever order the batch lists them in.
	 */
	PERFORM 1 FROM @extschema@.record r
	  WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id AND r.source_key OPERATOR(pg_catalog.=) ANY (source_ids)
	  ORDER BY r.record_id FOR NO KEY UPDATE OF r;
	/*
	 * Each key looked up by itself (LATERAL, OFFSET 0 so the planner keeps it a per-key index
	 * lookup instead of turning it back into a join): a plan cached while the table looked empty (a fresh
	 * clinic, or one long transaction that autovacuum cannot analyze) otherwise hashed every
	 * record of the source for each call, so per-row loads in one transaction grew quadratic.
	 */
	SELECT pg_catalog.array_agg(r.attrs_hash ORDER BY u.ord), pg_catalog.array_agg(r.record_id ORDER BY u.ord)
	  INTO v_old, v_oldid
	  FROM pg_catalog.unnest(source_ids) WITH ORDINALITY AS u(sid, ord)
	  LEFT JOIN LATERAL (SELECT r.attrs_hash, r.record_id FROM @extschema@.record r
	                      WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id
	                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true;
	v_rows := cdp_internal.normalize_records(source_ids, attrs, v_old, lenient);
	IF pg_catalog.cardinality(v_rows) OPERATOR(pg_catalog.>) 0 THEN
		SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM @extschema@.survivorship_rules_as_of('infinity') rl;
	END IF;

	/*
	 * One statement writes records, events, queue entries, and the profiles and membership of new
	 * persons for the whole batch.
	 *
	 * Ids: a record new to this batch gets its record id and golden id here, drawn in batch order
	 * (the scan of v_rows is in batch order), so ids follow the batch as they would with one call
	 * per row.  Rows are then written in source_id order: two sessions sending the same new
	 * source ids in different orders insert their index entries in one order, so the second waits
	 * for the first instead of each waiting for the other (40P01; the row locks above only cover
	 * rows that exist).  A key another session created meanwhile becomes an update and its drawn
	 * ids are not used (sequences are never assumed gap-free).
	 *
	 * Profiles: a record created here is a person of its own (its golden id is new), so its
	 * profile is the fold of that one record, its membership opens at its record.created event,
	 * and both are written set-based here: exactly what refresh_patients computes for it
	 * (test/pgtap/70_golden.sql checks that refresh_patients then changes nothing).  Updated
	 * records go through refresh_patients below.
	 */
	WITH input AS (
		SELECT u.sid, u.ord FROM unnest(source_ids) WITH ORDINALITY AS u(sid, ord)
	), norm AS MATERIALIZED (
		SELECT n.*,
			   COALESCE(v_oldid[n.ord], pg_catalog.nextval('@extschema@.record_record_id_seq'::pg_catalog.regclass)) AS new_rid,
			   CASE WHEN v_oldid[n.ord] IS NULL
					THEN pg_catalog.nextval('@extschema@.golden_id_seq'::pg_catalog.regclass) ELSE 0 END AS new_gid
		  FROM pg_catalog.unnest(v_rows) n
	), written AS (
		INSERT INTO @extschema@.record AS r
			(record_id, golden_id, source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones,
			 emails, snils, oms, address, city, handles, extra, attrs_hash)
		OVERRIDING SYSTEM VALUE
		SELECT norm.new_rid, norm.new_gid, v_src.source_id, norm.source_key, norm.raw, norm.family_name, norm.given_name,
			   norm.patronymic, norm.birth_date, norm.sex, norm.phones, norm.emails, norm.snils, norm.oms, norm.address,
			   norm.city, norm.handles, norm.extra, norm.attrs_hash
		  FROM norm
		 ORDER BY norm.source_key COLLATE "C"
		ON CONFLICT ON CONSTRAINT record_source_key_unique DO UPDATE
		   SET raw = EXCLUDED.raw, family_name = EXCLUDED.family_name, given_name = EXCLUDED.given_name,
			   patronymic = EXCLUDED.patronymic, birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex,
			   phones = EXCLUDED.phones, emails = EXCLUDED.emails, snils = EXCLUDED.snils, oms = EXCLUDED.oms,
			   address = EXCLUDED.address, city = EXCLUDED.city, handles = EXCLUDED.handles, extra = EXCLUDED.extra,
			   attrs_hash = EXCLUDED.attrs_hash, updated_at = pg_catalog.clock_timestamp(),
			   version = r.version OPERATOR(pg_catalog.+) 1
		 WHERE r.attrs_hash OPERATOR(pg_catalog.<>) EXCLUDED.attrs_hash
		RETURNING r.*
	), logged AS (
		INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
		SELECT CASE WHEN w.version OPERATOR(pg_catalog.=) 1 THEN 'record.created' ELSE 'record.updated' END,
			   w.record_id, w.golden_id,
			   cdp_internal.record_event_payload(v_src.name, w.source_key, w.version, norm.raw, norm.norm,
				   w.created_at, w.updated_at)
		  FROM written w JOIN norm ON norm.source_key OPERATOR(pg_catalog.=) w.source_key
		 ORDER BY norm.ord
		RETURNING event_id, at, kind, subject, golden_id
	), queued AS (
		INSERT INTO cdp_internal.match_queue (record_id)
		SELECT w.record_id FROM written w
		ON CONFLICT (record_id) DO UPDATE SET queued_at = EXCLUDED.queued_at
		RETURNING record_id
	), profiled AS (
		INSERT INTO @extschema@.patient
		SELECT pr.*
		  FROM written w
		 CROSS JOIN LATERAL cdp_internal.golden_row(w.golden_id,
				   @extschema@.golden_fold(pg_catalog.jsonb_build_array(@extschema@.golden_record_doc(pg_catalog.to_jsonb((SELECT d FROM (
					   SELECT w.record_id, w.source_id, w.family_name, w.given_name, w.patronymic, w.birth_date,
							  w.sex, w.phones, w.emails, w.snils, w.oms, w.address, w.city, w.handles, w.extra,
							  w.created_at, w.updated_at) d)), v_src.trust)), v_rules, false),
				   NULL, NULL, NULL, v_rules_version) pr
		 WHERE w.version OPERATOR(pg_catalog.=) 1
		 ORDER BY w.golden_id
		RETURNING golden_id
	), members AS (
		INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at)
		SELECT l.subject, l.golden_id, l.event_id, l.at FROM logged l WHERE l.kind OPERATOR(pg_catalog.=) 'record.created'
		RETURNING record_id
	)
	SELECT pg_catalog.array_agg(i.sid ORDER BY i.ord),
		   pg_catalog.array_agg(w.record_id ORDER BY i.ord),
		   pg_catalog.array_agg(CASE WHEN w.record_id IS NULL THEN 'unchanged'
									 WHEN w.version OPERATOR(pg_catalog.=) 1 THEN 'created' ELSE 'updated' END ORDER BY i.ord),
		   pg_catalog.array_agg(DISTINCT w.golden_id) FILTER (WHERE w.golden_id IS NOT NULL AND w.version OPERATOR(pg_catalog.>) 1),
		   (SELECT pg_catalog.count(*) FROM logged), (SELECT pg_catalog.count(*) FROM queued),
		   (SELECT pg_catalog.count(*) FROM profiled) OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM members)
	  INTO v_sids, v_ids, v_actions, v_goldens, v_nlogged, v_nqueued, v_nprofiled
	  FROM input i LEFT JOIN written w ON w.source_key OPERATOR(pg_catalog.=) i.sid;

	/* the golden profiles of every updated record, in one call */
	IF v_goldens IS NOT NULL THEN
		PERFORM cdp_internal.refresh_patients(v_goldens);
	END IF;

	/*
	 * Unchanged rows (and rows a concurrent session wrote first) are looked up in a new statement,
	 * so a row committed by another session while we waited is seen.
	 */
	RETURN QUERY
	SELECT u.sid, COALESCE(u.id, r.record_id), u.act
	  FROM unnest(v_sids, v_ids, v_actions) WITH ORDINALITY AS u(sid, id, act, ord)
	  LEFT JOIN LATERAL (SELECT r.record_id FROM @extschema@.record r
	                      WHERE u.id IS NULL AND r.source_id OPERATOR(pg_catalog.=) v_src.source_id
	                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true
	 ORDER BY u.ord;
END
$$;

/* ==== end of section: import ==== */
