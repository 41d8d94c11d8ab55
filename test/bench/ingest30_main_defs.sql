-- test/bench/ingest30_main_defs.sql: main's (e41b2a2) upsert_records and _import_load_patients, for a
-- same-run comparison on one binary (session 29, issue 16): with these definitions a batch of new
-- records is normalised into an array of cdp_internal.ingest_row and written by ingest_write_new (or
-- ingest_insert_new), as before cdp_internal.ingest_write_docs.
--   IMPORT_AB_SQL=test/bench/ingest30_main_defs.sql test/bench/import_speed.sh ROWS REPEATS
CREATE OR REPLACE FUNCTION cdp.upsert_records(source text, source_ids text[], attrs jsonb[], lenient boolean DEFAULT false)
	RETURNS TABLE (source_id text, record_id bigint, action text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	v_src		cdp.source;
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
	SELECT s.* INTO v_src FROM cdp.source s WHERE s.name OPERATOR(pg_catalog.=) upsert_records.source;
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

	IF pg_catalog.cardinality(source_ids) OPERATOR(pg_catalog.=) 0 THEN
		RETURN;		/* an empty batch (an empty file) writes nothing */
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
	 * Existing records of the batch are locked first, in record-id order: the order in which a
	 * matching run's link batch (cdp.link_records_many) locks them, so the two cannot deadlock
	 * whatever order the batch lists them in.
	 */
	PERFORM 1 FROM cdp.record r
	  WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id AND r.source_key OPERATOR(pg_catalog.=) ANY (source_ids)
	  ORDER BY r.record_id FOR NO KEY UPDATE OF r;
	IF NOT FOUND THEN
		/*
		 * None of the ids is a record of the source (the first day of a clinic): no hashes to
		 * look up.  One another session commits from now on is met as the lookup below would
		 * meet one committed just after it: by the unique index (the fast path then falls back,
		 * the general path's ON CONFLICT makes it an update).
		 */
		v_old := pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality(source_ids)]);
		v_oldid := pg_catalog.array_fill(NULL::bigint, ARRAY[pg_catalog.cardinality(source_ids)]);
	ELSE
		/*
		 * Each key looked up by itself (LATERAL, OFFSET 0 so the planner keeps it a per-key index
		 * lookup instead of turning it back into a join): a plan cached while the table looked empty (a fresh
		 * clinic, or one long transaction that autovacuum cannot analyze) otherwise hashed every
		 * record of the source for each call, so per-row loads in one transaction grew quadratic.
		 */
		SELECT pg_catalog.array_agg(r.attrs_hash ORDER BY u.ord), pg_catalog.array_agg(r.record_id ORDER BY u.ord)
		  INTO v_old, v_oldid
		  FROM pg_catalog.unnest(source_ids) WITH ORDINALITY AS u(sid, ord)
		  LEFT JOIN LATERAL (SELECT r.attrs_hash, r.record_id FROM cdp.record r
		                      WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id
		                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true;
	END IF;
	/* normalise, then write: the fast path, else the general path (see the comment above the function) */
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(v_oldid) AS o(id) WHERE o.id IS NOT NULL)
	   AND cdp_internal.ingest_fast_path_ok() THEN
		SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM cdp.survivorship_rules_as_of('infinity') rl;
		BEGIN
			v_ids := cdp_internal.ingest_write_new(v_src.source_id, v_src.name,
				cdp_internal.normalize_records(source_ids, attrs, v_old, lenient), false, v_rules, v_rules_version);
			IF v_ids IS NULL THEN
				v_ids := cdp_internal.ingest_insert_new(v_src.source_id, v_src.name,
					cdp_internal.normalize_records(source_ids, attrs, v_old, lenient));
			END IF;
			RETURN QUERY
			SELECT u.sid, u.id, 'created'::text
			  FROM unnest(source_ids, v_ids) WITH ORDINALITY AS u(sid, id, ord)
			 ORDER BY u.ord;
			RETURN;
		EXCEPTION WHEN unique_violation THEN
			NULL;				/* a concurrent writer: the general path */
		END;
	END IF;
	v_rows := cdp_internal.normalize_records(source_ids, attrs, v_old, lenient);

	IF pg_catalog.cardinality(v_rows) OPERATOR(pg_catalog.>) 0 THEN
		SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM cdp.survivorship_rules_as_of('infinity') rl;
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
			   COALESCE(v_oldid[n.ord], pg_catalog.nextval('cdp.record_record_id_seq'::pg_catalog.regclass)) AS new_rid,
			   CASE WHEN v_oldid[n.ord] IS NULL
					THEN pg_catalog.nextval('cdp.golden_id_seq'::pg_catalog.regclass) ELSE 0 END AS new_gid
		  FROM pg_catalog.unnest(v_rows) n
	), written AS (
		INSERT INTO cdp.record AS r
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
		/* every column but raw (the largest): each reader of this CTE copies its rows */
		RETURNING r.record_id, r.source_id, r.source_key, r.golden_id, r.family_name, r.given_name, r.patronymic,
				  r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city, r.handles, r.extra,
				  r.created_at, r.updated_at, r.version
	), logged AS (
		INSERT INTO cdp.event (kind, subject, golden_id, payload)
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
		INSERT INTO cdp.patient
		SELECT pr.*
		  FROM written w
		 CROSS JOIN LATERAL cdp_internal.golden_row(w.golden_id,
				   cdp.golden_fold(pg_catalog.jsonb_build_array(cdp_internal.golden_record_doc_of(w.record_id,
					   w.source_id, v_src.trust::integer, w.family_name, w.given_name, w.patronymic, w.birth_date, w.sex,
					   w.phones, w.emails, w.snils, w.oms, w.address, w.city, w.handles, w.extra, w.created_at,
					   w.updated_at)), v_rules, false),
				   NULL, NULL, NULL, v_rules_version) pr
		 WHERE w.version OPERATOR(pg_catalog.=) 1
		 ORDER BY w.golden_id
		RETURNING golden_id
	), members AS (
		INSERT INTO cdp.patient_member (record_id, golden_id, from_event, from_at)
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
	  LEFT JOIN LATERAL (SELECT r.record_id FROM cdp.record r
	                      WHERE u.id IS NULL AND r.source_id OPERATOR(pg_catalog.=) v_src.source_id
	                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true
	 ORDER BY u.ord;
END
$$;

CREATE OR REPLACE FUNCTION cdp_internal._import_load_patients(batch bigint, source text, lenient boolean, try_whole boolean,
												  rows integer[], lines integer[], keys text[], attrs jsonb[],
												  header text[], hkeys text[],
												  OUT created bigint, OUT updated bigint, OUT unchanged bigint, OUT rejected bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n			integer := pg_catalog.cardinality(keys);
	v_bad		integer[];
	v_good		integer[];
	v_norm		cdp_internal.ingest_row[];
	v_src		cdp.source;
	v_msg		text;
	v_detail	text;
	v_c			bigint;
	v_u			bigint;
	v_n			bigint;
	v_sub		integer[];
	v_whole		integer[];
	i			integer;
BEGIN
	created := 0; updated := 0; unchanged := 0; rejected := 0;
	IF n OPERATOR(pg_catalog.=) 0 THEN
		RETURN;
	END IF;
	IF try_whole THEN
		BEGIN
			SELECT u.* INTO created, updated, unchanged FROM cdp_internal._import_upsert(source, keys, attrs, lenient) u;
			RETURN;
		EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
			NULL;				/* find the rows below */
		END;
	END IF;

	v_good := ARRAY(SELECT pg_catalog.generate_series(1, n));
	IF NOT lenient THEN
		/*
		 * ingest's own rules, every invalid key of every row named.  A document the normaliser
		 * refuses whole even leniently (one over the document cap of 256 kB whose fields are each
		 * under the 64 kB of a field) raises for the chunk: then each row is normalised alone to
		 * find those rows, which are quarantined with ingest's own message, and the others are
		 * normalised again (issue 16).  v_sub maps the normalised rows (ord) to the chunk's.
		 */
		v_sub := v_good;
		BEGIN
			v_norm := cdp_internal.normalize_records(keys, attrs, pg_catalog.array_fill(NULL::text, ARRAY[n]), true);
		EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
			v_whole := ARRAY[]::integer[];
			FOR i IN 1 .. n LOOP
				BEGIN
					PERFORM cdp_internal.normalize_records(ARRAY[keys[i]], ARRAY[attrs[i]], ARRAY[NULL::text], true);
				EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
					GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
					INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
					VALUES (batch, rows[i], lines[i], keys[i], NULL, NULL, cdp_internal._import_reason(v_msg, v_detail, NULL), attrs[i]);
					v_whole := v_whole OPERATOR(pg_catalog.||) i;
				END;
			END LOOP;
			rejected := pg_catalog.cardinality(v_whole);
			v_sub := ARRAY(SELECT g FROM pg_catalog.unnest(v_good) g WHERE g OPERATOR(pg_catalog.<>) ALL (v_whole) ORDER BY g);
			v_good := v_sub;
			IF pg_catalog.cardinality(v_sub) OPERATOR(pg_catalog.=) 0 THEN
				RETURN;
			END IF;
			v_norm := cdp_internal.normalize_records(ARRAY(SELECT keys[g] FROM pg_catalog.unnest(v_sub) WITH ORDINALITY AS u(g, o) ORDER BY u.o),
				ARRAY(SELECT attrs[g] FROM pg_catalog.unnest(v_sub) WITH ORDINALITY AS u(g, o) ORDER BY u.o),
				pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality(v_sub)]), true);
		END;
		WITH bad AS (
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			SELECT batch, rows[v_sub[r.ord]], lines[v_sub[r.ord]], keys[v_sub[r.ord]],
				   COALESCE(header[pg_catalog.array_position(hkeys, inv.key)], inv.key),
				   inv.val ->> 'value', inv.val ->> 'reason', attrs[v_sub[r.ord]]
			  FROM pg_catalog.unnest(v_norm) r
			 CROSS JOIN LATERAL pg_catalog.jsonb_each(r.extra -> '_invalid') AS inv(key, val)
			RETURNING row_no
		)
		SELECT pg_catalog.array_agg(DISTINCT pg_catalog.array_position(rows, bad.row_no)) INTO v_bad FROM bad;
		IF v_bad IS NOT NULL THEN
			rejected := rejected OPERATOR(pg_catalog.+) pg_catalog.cardinality(v_bad);
			v_good := ARRAY(SELECT g FROM pg_catalog.unnest(v_good) g WHERE g OPERATOR(pg_catalog.<>) ALL (v_bad) ORDER BY g);
		END IF;
		IF pg_catalog.cardinality(v_good) OPERATOR(pg_catalog.=) 0 THEN
			RETURN;
		END IF;
		/*
		 * The good rows are already normalised (a row without _invalid normalises leniently as it
		 * does strictly): when none of their source ids is known to the source and the session may
		 * take ingest's fast path, they are written from these rows, not normalised again
		 * (doc/import.md, "How a commit runs").  Otherwise, or when another session wrote one of
		 * the ids meanwhile, upsert_records below.
		 */
		SELECT s.* INTO v_src FROM cdp.source s
		 WHERE s.name OPERATOR(pg_catalog.=) _import_load_patients.source AND s.active;
		IF FOUND AND cdp_internal.ingest_fast_path_ok()
		   /*
			* every id of the chunk, the quarantined rows' too (fewer checks than picking the good
			* ones out, and never wrong: a known or malformed id sends the chunk the general way),
			* each looked up by itself in the unique index, from C
			*/
		   AND cdp_internal.ingest_keys_new(v_src.source_id, keys) THEN
			BEGIN
				/* the rows with _invalid are the ones just quarantined: skipped */
				PERFORM cdp_internal.ingest_insert_new(v_src.source_id, v_src.name, v_norm, true);
				created := pg_catalog.cardinality(v_good);
				RETURN;
			EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
				NULL;			/* a concurrent writer, or a rule the normaliser does not see: below */
			END;
		END IF;
		v_norm := NULL;
		BEGIN
			SELECT u.* INTO created, updated, unchanged
			  FROM cdp_internal._import_upsert(source, ARRAY(SELECT keys[g] FROM pg_catalog.unnest(v_good) g),
											   ARRAY(SELECT attrs[g] FROM pg_catalog.unnest(v_good) g), lenient) u;
			RETURN;
		EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
			NULL;				/* row by row below */
		END;
	END IF;

	FOREACH i IN ARRAY v_good LOOP
		BEGIN
			/* the row's counts into locals first: the OUT parameters share the names of u's columns */
			SELECT u.created, u.updated, u.unchanged INTO v_c, v_u, v_n
			  FROM cdp_internal._import_upsert(source, ARRAY[keys[i]], ARRAY[attrs[i]], lenient) u;
			created := created OPERATOR(pg_catalog.+) v_c;
			updated := updated OPERATOR(pg_catalog.+) v_u;
			unchanged := unchanged OPERATOR(pg_catalog.+) v_n;
		EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			VALUES (batch, rows[i], lines[i], keys[i], NULL, NULL, cdp_internal._import_reason(v_msg, v_detail, NULL), attrs[i]);
			rejected := rejected OPERATOR(pg_catalog.+) 1;
		END;
	END LOOP;
END
$$;

