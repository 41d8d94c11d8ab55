/*
 * sql/parts/88_import_load.sql: the loaders of an import commit, one per kind of file (issue 16):
 * patients and partner contacts through cdp.upsert_records (a chunk at a time, then row by row for
 * the rows ingest refuses), clinical events through cdp.upsert_clinical_event, consents through
 * cdp.set_consents, segment lists through cdp.segment_list_set; each names the rows it refuses.
 * Internal to cdp.import_commit (88_import_run.sql); the tables and header mapping are in
 * 88_import.sql.  doc/import.md.
 */

/* The advisory lock a running commit holds: (this number, batch id), so cdp.import_status finds its backend. */
CREATE FUNCTION cdp_internal._import_lock_key() RETURNS integer
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN 1667526678;
COMMENT ON FUNCTION cdp_internal._import_lock_key() IS
	'first key of the advisory lock (key, batch_id) a running import commit holds';

/*
 * A refusal of another family's function as an import reason: its message as a sentence (capital
 * first letter, final period), then its detail and hint, so every reason reads alike.
 */
CREATE FUNCTION cdp_internal._import_reason(msg text, detail text, hint text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(pg_catalog.upper(pg_catalog.left(x.t, 1)) OPERATOR(pg_catalog.||) pg_catalog.substr(x.t, 2)
								 OPERATOR(pg_catalog.||) CASE WHEN x.t OPERATOR(pg_catalog.~) '[.!?]$' THEN '' ELSE '.' END,
								 ' ' ORDER BY x.o)
	  FROM pg_catalog.unnest(ARRAY[pg_catalog.btrim($1), pg_catalog.btrim($2), pg_catalog.btrim($3)]) WITH ORDINALITY AS x(t, o)
	 WHERE x.t OPERATOR(pg_catalog.<>) ''
$$;
COMMENT ON FUNCTION cdp_internal._import_reason(text, text, text) IS
	'an error''s message, detail and hint as the sentences of an import reason (internal)';

/* One call of cdp.upsert_records, counted by action. */
CREATE FUNCTION cdp_internal._import_upsert(source text, keys text[], attrs jsonb[], lenient boolean,
										   OUT created bigint, OUT updated bigint, OUT unchanged bigint)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.count(*) FILTER (WHERE u.action OPERATOR(pg_catalog.=) 'created'),
		   pg_catalog.count(*) FILTER (WHERE u.action OPERATOR(pg_catalog.=) 'updated'),
		   pg_catalog.count(*) FILTER (WHERE u.action OPERATOR(pg_catalog.=) 'unchanged')
	  FROM @extschema@.upsert_records($1, $2, $3, $4) u
$$;
COMMENT ON FUNCTION cdp_internal._import_upsert(text, text[], jsonb[], boolean) IS
	'cdp.upsert_records of one chunk, counted as created, updated, unchanged (internal to import_commit)';

/*
 * Loads one chunk of patient rows through cdp.upsert_records.  The chunk goes in whole first
 * (unless the last chunk had bad rows); when ingest refuses it, its lenient normaliser names every
 * invalid key of every row (quarantined with column, value and reason), the rest goes in whole,
 * and if ingest still refuses (a rule the normaliser does not see, such as the document size),
 * row by row, each refusal quarantined with ingest's own message.  Returns the counts.
 * keys_new: import_commit has just found every id of the chunk well formed and unknown to the
 * source (cdp_internal.ingest_keys_new, its check of repeated ids, session 30), so the fast
 * path's writer does not look them up again; a concurrent writer of one of them is still met by
 * the unique index (unique_violation: the steps below).  keys_new NULL (session 34, not lenient):
 * nobody looked them up; the chunk is not tried whole (upsert_records would update a record an
 * earlier row of the file wrote), the fast path's writer finds a known id in the unique index
 * (ingest_write_docs, optimistic), and the steps below probe it first: either way a known or
 * malformed id, or one another transaction is writing, raises CDP17 for import_commit, which
 * rolls the chunk back and checks it again against every id of the file seen so far.
 */
CREATE FUNCTION cdp_internal._import_load_patients(batch bigint, source text, lenient boolean, try_whole boolean,
												  rows integer[], lines integer[], keys text[], attrs jsonb[],
												  header text[], hkeys text[], keys_new boolean,
												  OUT created bigint, OUT updated bigint, OUT unchanged bigint, OUT rejected bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n			integer := pg_catalog.cardinality(keys);
	v_bad		integer[];
	v_good		integer[];
	v_norm		cdp_internal.ingest_row[];
	v_src		@extschema@.source;
	v_msg		text;
	v_detail	text;
	v_c			bigint;
	v_u			bigint;
	v_n			bigint;
	v_sub		integer[];
	v_whole		integer[];
	v_w			record;
	v_rules		jsonb;
	v_rules_version integer;
	i			integer;
BEGIN
	created := 0; updated := 0; unchanged := 0; rejected := 0;
	IF n OPERATOR(pg_catalog.=) 0 THEN
		RETURN;
	END IF;
	IF keys_new IS NULL AND lenient THEN
		/* lenient rows go through upsert_records: their ids looked up first (import_commit does not ask this) */
		IF NOT cdp_internal.ingest_keys_new(
				(SELECT s.source_id FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) _import_load_patients.source), keys) THEN
			RAISE EXCEPTION 'a source id of the chunk is known to the source' USING ERRCODE = 'CDP17';
		END IF;
		keys_new := true;
	END IF;
	IF try_whole AND keys_new IS NOT NULL THEN
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
		 * A chunk of source ids all new to the source, where the session may take ingest's fast
		 * path, goes from the documents to the pages in one call (session 29): normalised leniently
		 * and written without the rows that had values set aside, which come back to be
		 * quarantined here, each invalid key with its column, value and reason.  The same rows
		 * and rejects as the steps below, without the chunk's normalised rows going through
		 * PL/pgSQL.  NULL (a known or malformed id, or the writer declines): the steps below; an
		 * error (a document refused whole, a concurrent writer): the steps below too, from the
		 * start, in this subtransaction's place.
		 */
		SELECT s.* INTO v_src FROM @extschema@.source s
		 WHERE s.name OPERATOR(pg_catalog.=) _import_load_patients.source AND s.active;
		IF FOUND AND cdp_internal.ingest_fast_path_ok() THEN
			SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM @extschema@.survivorship_rules_as_of('infinity') rl;
			BEGIN
				v_w := cdp_internal.ingest_write_docs(v_src.source_id, v_src.name, keys, attrs, true, true,
													  NOT COALESCE(keys_new, true), v_rules, v_rules_version,
													  keys_new IS NULL);
				IF v_w.ids IS NOT NULL THEN
					INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
					SELECT batch, rows[b.o], lines[b.o], keys[b.o],
						   COALESCE(header[pg_catalog.array_position(hkeys, inv.key)], inv.key),
						   inv.val ->> 'value', inv.val ->> 'reason', attrs[b.o]
					  FROM unnest(v_w.bad_ord, v_w.bad_invalid) AS b(o, d)
					 CROSS JOIN LATERAL pg_catalog.jsonb_each(b.d) AS inv(key, val);
					rejected := pg_catalog.cardinality(v_w.bad_ord);
					created := pg_catalog.cardinality(v_w.ids);
					RETURN;
				END IF;
			EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
				NULL;			/* the steps below */
			END;
		END IF;
		IF keys_new IS NULL AND NOT cdp_internal.ingest_keys_new(
				(SELECT s.source_id FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) _import_load_patients.source), keys) THEN
			/* not looked up before (see above): a known or malformed id goes back to import_commit */
			RAISE EXCEPTION 'a source id of the chunk is known to the source' USING ERRCODE = 'CDP17';
		END IF;
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
		SELECT s.* INTO v_src FROM @extschema@.source s
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
COMMENT ON FUNCTION cdp_internal._import_load_patients(bigint, text, boolean, boolean, integer[], integer[], text[], jsonb[], text[], text[], boolean) IS
	'loads a chunk of patient rows with cdp.upsert_records, quarantining the rows ingest refuses (internal to import_commit)';

/* Loads clinical event rows one by one through cdp.upsert_clinical_event, quarantining refusals. */
CREATE FUNCTION cdp_internal._import_load_clinical(batch bigint, source text,
												  rows integer[], lines integer[], keys text[], attrs jsonb[],
												  header text[], hkeys text[],
												  OUT created bigint, OUT updated bigint, OUT unchanged bigint, OUT rejected bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_msg		text;
	v_detail	text;
	v_col		text;
	v_kind		text;
	v_ver		integer;
	v_written	boolean;
	i			integer;
BEGIN
	created := 0; updated := 0; unchanged := 0; rejected := 0;
	FOR i IN 1 .. COALESCE(pg_catalog.cardinality(keys), 0) LOOP
		BEGIN
			v_kind := attrs[i] ->> 'kind';
			IF v_kind IS NULL THEN
				RAISE EXCEPTION 'clinical event attribute "kind" is required' USING ERRCODE = '22023';
			END IF;
			PERFORM @extschema@.upsert_clinical_event(source, keys[i], v_kind, attrs[i] OPERATOR(pg_catalog.-) 'kind');
			/* written now (updated_at is the transaction's start) or left as it was */
			SELECT c.version, c.updated_at OPERATOR(pg_catalog.=) pg_catalog.now()
			  INTO v_ver, v_written
			  FROM @extschema@.clinical_event c JOIN @extschema@.source s USING (source_id)
			 WHERE s.name OPERATOR(pg_catalog.=) source AND c.source_key OPERATOR(pg_catalog.=) keys[i];
			IF NOT v_written THEN
				unchanged := unchanged OPERATOR(pg_catalog.+) 1;
			ELSIF v_ver OPERATOR(pg_catalog.=) 1 THEN
				created := created OPERATOR(pg_catalog.+) 1;
			ELSE
				updated := updated OPERATOR(pg_catalog.+) 1;
			END IF;
		EXCEPTION WHEN data_exception OR no_data_found OR integrity_constraint_violation OR program_limit_exceeded THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
			v_col := (pg_catalog.regexp_match(v_msg, 'attribute "([^"]+)"'))[1];
			IF v_col OPERATOR(pg_catalog.=) 'record_source_id' OR v_msg OPERATOR(pg_catalog.~) '^record ".*" of source' THEN
				v_col := 'record_source_id';
			END IF;
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			VALUES (batch, rows[i], lines[i], keys[i],
					CASE WHEN v_col IS NOT NULL THEN COALESCE(header[pg_catalog.array_position(hkeys, v_col)], v_col) END,
					attrs[i] ->> v_col, cdp_internal._import_reason(v_msg, v_detail, NULL), attrs[i]);
			rejected := rejected OPERATOR(pg_catalog.+) 1;
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_load_clinical(bigint, text, integer[], integer[], text[], jsonb[], text[], text[]) IS
	'loads a chunk of clinical event rows with cdp.upsert_clinical_event, quarantining refusals (internal to import_commit)';

/* ---------------------------------------------------------------- consents and segment lists */

/*
 * Names the patient of each row of a chunk of consents or segment-list rows: every identifier the
 * row gives (golden_id, source + source_id, snils, phone; source defaults to the batch's source)
 * must be valid and match someone, and the patients all of them name together must be exactly
 * one (a phone two relatives share, given with a source id, names the one with that id).  One row
 * out per row in (ord = position in attrs): the golden id, or the problem (invalid, not_found,
 * ambiguous, none), the column (attrs key) and value at fault and an English sentence saying why.
 *
 * Set-based and with plans that cannot go quadratic: the distinct keys of each kind go to the
 * database in one query each (a hash join of the keys with one pass over cdp.record for SNILS and
 * phones, which have no index; the unique index for source ids; cdp.resolve_patient for golden
 * ids), answered as a jsonb map key -> golden ids; the rows are then judged in one pass.
 */
CREATE FUNCTION cdp_internal._import_identify(source text, attrs jsonb[])
	RETURNS TABLE (ord integer, golden_id bigint, column_name text, value text, problem text, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n		integer := COALESCE(pg_catalog.cardinality(attrs), 0);
	d		jsonb;
	v_map	jsonb := '{}'::jsonb;		/* "<column>:<key>" -> [golden ids] */
	k_gold	text[];
	k_snils	text[];
	k_phone	text[];
	k_src	text[];
	k_sid	text[];
	k_raw	text[];
	i		integer;
	c		text;
	v_val	text;
	v_src	text;
	v_key	text;
	v_gids	bigint[];
	v_common bigint[];
	v_said	text;
	v_any	boolean;
	v_bad	boolean;
	v_amb_col text;
	v_amb_val text;
	v_amb_why text;
	v_last_col text;
	v_last_val text;
BEGIN
	/* the distinct keys of the chunk per kind of identifier, as arrays (their real sizes plan the joins) */
	SELECT pg_catalog.array_agg(DISTINCT x.key) FILTER (WHERE x.col OPERATOR(pg_catalog.=) 'golden_id'),
		   pg_catalog.array_agg(DISTINCT x.key) FILTER (WHERE x.col OPERATOR(pg_catalog.=) 'snils'),
		   pg_catalog.array_agg(DISTINCT x.key) FILTER (WHERE x.col OPERATOR(pg_catalog.=) 'phone'),
		   pg_catalog.array_agg(x.src) FILTER (WHERE x.col OPERATOR(pg_catalog.=) 'source_id'),
		   pg_catalog.array_agg(x.key) FILTER (WHERE x.col OPERATOR(pg_catalog.=) 'source_id'),
		   pg_catalog.array_agg(x.val) FILTER (WHERE x.col OPERATOR(pg_catalog.=) 'source_id')
	  INTO k_gold, k_snils, k_phone, k_src, k_sid, k_raw
	  FROM pg_catalog.unnest(attrs) AS u(d)
	 CROSS JOIN LATERAL (VALUES
			('golden_id', CASE WHEN pg_catalog.btrim(u.d ->> 'golden_id') OPERATOR(pg_catalog.~) '^[0-9]{1,18}$'
							   THEN pg_catalog.btrim(u.d ->> 'golden_id') END, NULL::text, NULL::text),
			('source_id', pg_catalog.btrim(u.d ->> 'source_id'),
			 COALESCE(NULLIF(pg_catalog.btrim(u.d ->> 'source'), ''), source), u.d ->> 'source_id'),
			('snils', (@extschema@.try_snils(u.d ->> 'snils'))::text, NULL, NULL),
			('phone', @extschema@.phone_e164(@extschema@.try_phone(u.d ->> 'phone')), NULL, NULL)) AS x(col, key, src, val)
	 WHERE NULLIF(x.key, '') IS NOT NULL;

	/* the golden ids each key names: one query per kind, one pass over cdp.record for SNILS and phones */
	WITH answers AS (
		SELECT 'golden_id:' OPERATOR(pg_catalog.||) g.key AS k, @extschema@.resolve_patient(g.key::bigint) AS gid
		  FROM pg_catalog.unnest(k_gold) AS g(key)
		UNION ALL
		SELECT 'source_id:' OPERATOR(pg_catalog.||) w.src OPERATOR(pg_catalog.||) E'\x1f' OPERATOR(pg_catalog.||) w.key, r.golden_id
		  FROM ROWS FROM (pg_catalog.unnest(k_src), pg_catalog.unnest(k_sid), pg_catalog.unnest(k_raw)) AS w(src, key, raw)
		  /* the id as written and trimmed, each an equality the join can hash or look up in the index */
		 CROSS JOIN LATERAL (SELECT DISTINCT v.look FROM (VALUES (w.key), (w.raw)) AS v(look)) AS l
		  JOIN @extschema@.source s ON s.name OPERATOR(pg_catalog.=) w.src
		  JOIN @extschema@.record r ON r.source_id OPERATOR(pg_catalog.=) s.source_id
			   AND r.source_key OPERATOR(pg_catalog.=) l.look
		UNION ALL
		SELECT 'snils:' OPERATOR(pg_catalog.||) w.key, r.golden_id
		  FROM @extschema@.record r JOIN pg_catalog.unnest(k_snils) AS w(key) ON w.key OPERATOR(pg_catalog.=) r.snils::text
		UNION ALL
		SELECT 'phone:' OPERATOR(pg_catalog.||) w.key, x.golden_id
		  FROM (SELECT r.golden_id, @extschema@.phone_e164(p) AS e
				  FROM @extschema@.record r CROSS JOIN LATERAL pg_catalog.unnest(r.phones) AS p
				 WHERE k_phone IS NOT NULL) x
		  JOIN pg_catalog.unnest(k_phone) AS w(key) ON w.key OPERATOR(pg_catalog.=) x.e
	)
	SELECT COALESCE(pg_catalog.jsonb_object_agg(a.k, a.gids), '{}'::jsonb) INTO v_map
	  FROM (SELECT answers.k, pg_catalog.jsonb_agg(DISTINCT answers.gid ORDER BY answers.gid) FILTER (WHERE answers.gid IS NOT NULL) AS gids
			  FROM answers GROUP BY answers.k) a
	 WHERE a.gids IS NOT NULL;

	/* each row: its identifiers in column order, judged */
	FOR i IN 1 .. n LOOP
		d := attrs[i];
		ord := i; golden_id := NULL; column_name := NULL; value := NULL; problem := NULL; reason := NULL;
		v_common := NULL; v_any := false; v_bad := false; v_said := NULL;
		v_amb_col := NULL; v_amb_val := NULL; v_amb_why := NULL;
		FOREACH c IN ARRAY ARRAY['golden_id', 'source_id', 'snils', 'phone'] LOOP
			v_val := d ->> c;
			CONTINUE WHEN NULLIF(pg_catalog.btrim(v_val), '') IS NULL;
			v_any := true;
			v_src := CASE WHEN c OPERATOR(pg_catalog.=) 'source_id' THEN COALESCE(NULLIF(pg_catalog.btrim(d ->> 'source'), ''), source) END;
			v_key := CASE c
				WHEN 'golden_id' THEN CASE WHEN pg_catalog.btrim(v_val) OPERATOR(pg_catalog.~) '^[0-9]{1,18}$' THEN pg_catalog.btrim(v_val) END
				WHEN 'source_id' THEN CASE WHEN EXISTS (SELECT 1 FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) v_src)
										   THEN pg_catalog.btrim(v_val) END
				WHEN 'snils' THEN (@extschema@.try_snils(v_val))::text
				ELSE @extschema@.phone_e164(@extschema@.try_phone(v_val)) END;
			IF v_key IS NULL THEN
				/* an invalid value is the first thing said about a row */
				IF NOT v_bad OR problem OPERATOR(pg_catalog.<>) 'invalid' THEN
					problem := 'invalid'; column_name := c; value := v_val;
					reason := CASE c
						WHEN 'golden_id' THEN 'The golden id is not a whole number.'
						WHEN 'source_id' THEN pg_catalog.format('There is no source "%s".', pg_catalog.left(v_src, 100))
						WHEN 'snils' THEN 'The value is not a valid SNILS (11 digits whose last two are the check number).'
						ELSE 'The value is not a phone number.' END;
				END IF;
				v_bad := true;
				CONTINUE;
			END IF;
			v_gids := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v_map -> (c OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||)
						CASE WHEN c OPERATOR(pg_catalog.=) 'source_id' THEN v_src OPERATOR(pg_catalog.||) E'\x1f' ELSE '' END
						OPERATOR(pg_catalog.||) v_key))::bigint);
			IF pg_catalog.cardinality(v_gids) OPERATOR(pg_catalog.=) 0 THEN
				IF NOT v_bad THEN
					problem := 'not_found'; column_name := c; value := v_val;
					reason := CASE c
						WHEN 'golden_id' THEN pg_catalog.format('No patient has golden id %s, nor was it merged into one.', v_key)
						WHEN 'source_id' THEN pg_catalog.format('Source "%s" has no record "%s".', v_src, pg_catalog.left(v_key, 200))
						WHEN 'snils' THEN 'No patient has this SNILS.'
						ELSE 'No patient has this phone number.' END;
				END IF;
				v_bad := true;
				CONTINUE;
			END IF;
			IF pg_catalog.cardinality(v_gids) OPERATOR(pg_catalog.>) 1 AND v_amb_col IS NULL THEN
				v_amb_col := c; v_amb_val := v_val;
				v_amb_why := pg_catalog.format('%s patients have this %s (golden ids %s): name the patient by golden_id or source_id instead.',
					pg_catalog.cardinality(v_gids), CASE c WHEN 'snils' THEN 'SNILS' WHEN 'phone' THEN 'phone number' ELSE c END,
					pg_catalog.array_to_string(v_gids[1:5], ', ') OPERATOR(pg_catalog.||)
					CASE WHEN pg_catalog.cardinality(v_gids) OPERATOR(pg_catalog.>) 5 THEN ', ...' ELSE '' END);
			END IF;
			v_common := CASE WHEN v_common IS NULL THEN v_gids
							 ELSE ARRAY(SELECT x FROM pg_catalog.unnest(v_common) x WHERE x OPERATOR(pg_catalog.=) ANY (v_gids) ORDER BY x) END;
			v_said := COALESCE(v_said OPERATOR(pg_catalog.||) ', ', '') OPERATOR(pg_catalog.||) c OPERATOR(pg_catalog.||) ' '
					  OPERATOR(pg_catalog.||) pg_catalog.array_to_string(v_gids, '/');
			v_last_col := c; v_last_val := v_val;
		END LOOP;
		IF v_bad THEN
			NULL;						/* said above */
		ELSIF NOT v_any THEN
			problem := 'none';
			reason := 'The row names no patient: fill golden_id, source_id, snils or phone.';
		ELSIF pg_catalog.cardinality(v_common) OPERATOR(pg_catalog.=) 1 THEN
			golden_id := v_common[1];
		ELSIF pg_catalog.cardinality(v_common) OPERATOR(pg_catalog.=) 0 THEN
			problem := 'ambiguous'; column_name := v_last_col; value := v_last_val;
			reason := pg_catalog.format('The identifiers of the row name different patients (golden ids by column: %s).', v_said);
		ELSE
			problem := 'ambiguous'; column_name := v_amb_col; value := v_amb_val; reason := v_amb_why;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_identify(text, jsonb[]) IS
	'the patient each consents or segment-list row names (golden_id, source + source_id, snils, phone), or why none or several (internal)';

/* A value's words as a file writes them: lower case, ё as е, dots, hyphens and spaces as "_". */
CREATE FUNCTION cdp_internal._import_word(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.translate(pg_catalog.lower(pg_catalog.btrim(v)), 'ё', 'е'),
													  '[[:space:].-]+', '_', 'g'), '_');
COMMENT ON FUNCTION cdp_internal._import_word(text) IS
	'a value of an import file folded for comparison with the accepted spellings (internal)';

/*
 * The accepted spellings of the values of the consents kind: purposes, channels, granted.  A
 * spelling not listed is passed to the consent registry as written, which refuses it with its own
 * message.
 */
CREATE FUNCTION cdp_internal._import_consent_words(OUT col text, OUT word text, OUT value text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('purpose', 'лечение', 'treatment'), ('purpose', 'медицинские_уведомления', 'treatment'),
		   ('purpose', 'маркетинг', 'marketing'), ('purpose', 'реклама', 'marketing'),
		   ('purpose', 'аналитика', 'analytics'),
		   ('purpose', 'партнеры', 'partner_sharing'), ('purpose', 'передача_партнерам', 'partner_sharing'),
		   ('purpose', 'егисз', 'state_exchange'), ('purpose', 'государство', 'state_exchange'),
		   ('channel', 'e_mail', 'email'), ('channel', 'эл_почта', 'email'), ('channel', 'электронная_почта', 'email'),
		   ('channel', 'смс', 'sms'), ('channel', 'мессенджер', 'messenger'), ('channel', 'telegram', 'messenger'),
		   ('channel', 'whatsapp', 'messenger'), ('channel', 'viber', 'messenger'),
		   ('channel', 'соцсети', 'social'), ('channel', 'вконтакте', 'social'), ('channel', 'vk', 'social'),
		   ('channel', 'звонок', 'call'), ('channel', 'письмо', 'post'), ('channel', 'почта', 'post'),
		   ('channel', 'все', '*'), ('channel', 'all', '*'), ('channel', 'любой', '*'),
		   ('granted', 'да', 'true'), ('granted', 'yes', 'true'), ('granted', 'y', 'true'), ('granted', 'true', 'true'),
		   ('granted', 't', 'true'), ('granted', '1', 'true'), ('granted', 'granted', 'true'),
		   ('granted', 'дано', 'true'), ('granted', 'дал', 'true'), ('granted', 'дала', 'true'), ('granted', 'согласен', 'true'),
		   ('granted', 'согласна', 'true'),
		   ('granted', 'нет', 'false'), ('granted', 'no', 'false'), ('granted', 'n', 'false'), ('granted', 'false', 'false'),
		   ('granted', 'f', 'false'), ('granted', '0', 'false'), ('granted', 'withdrawn', 'false'),
		   ('granted', 'отозвано', 'false'), ('granted', 'отозвал', 'false'), ('granted', 'отозвала', 'false'),
		   ('granted', 'отказ', 'false')
$$;
COMMENT ON FUNCTION cdp_internal._import_consent_words() IS
	'the Russian and other spellings a consents file may use for purposes, channels and granted (internal)';

/* A list of purposes or channels as written ("маркетинг, аналитика") in the registry's words. */
CREATE FUNCTION cdp_internal._import_consent_list(col text, v text) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT ARRAY(SELECT COALESCE(w.value, pg_catalog.btrim(x.t))
				   FROM pg_catalog.regexp_split_to_table(pg_catalog.btrim(v), '[[:space:]]*[,|/][[:space:]]*') WITH ORDINALITY AS x(t, o)
				   LEFT JOIN (SELECT w.col, w.word, w.value FROM cdp_internal._import_consent_words() w
							  UNION ALL SELECT 'purpose', p.purpose, p.purpose FROM @extschema@.consent_purposes() p
							  UNION ALL SELECT 'channel', c.channel, c.channel FROM @extschema@.consent_channels() c) w
						  ON w.col OPERATOR(pg_catalog.=) $1 AND w.word OPERATOR(pg_catalog.=) cdp_internal._import_word(x.t)
				  WHERE pg_catalog.btrim(x.t) OPERATOR(pg_catalog.<>) ''
				  ORDER BY x.o)
$$;
COMMENT ON FUNCTION cdp_internal._import_consent_list(text, text) IS
	'the purposes or channels of a consents row in the consent registry''s words (internal)';

/*
 * The moment of a consent statement as a file writes it: DD.MM.YYYY [HH:MI[:SS]] or ISO 8601,
 * in the session's time zone unless the value names one.  NULL when it is not a date.
 */
CREATE FUNCTION cdp_internal._import_moment(v text) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t	text := pg_catalog.btrim(v);
BEGIN
	IF t OPERATOR(pg_catalog.~) '^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}$' THEN
		RETURN pg_catalog.to_date(t, 'DD.MM.YYYY')::timestamptz;
	ELSIF t OPERATOR(pg_catalog.~) '^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}[ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$' THEN
		RETURN pg_catalog.to_timestamp(t, 'DD.MM.YYYY HH24:MI:SS');
	ELSIF t OPERATOR(pg_catalog.~) '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]+([+-][0-9:]+|Z)?)?$' THEN
		RETURN t::timestamptz;
	END IF;
	RETURN NULL;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format OR data_exception THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_moment(text) IS
	'a date or timestamp of an import file (DD.MM.YYYY [HH:MI[:SS]] or ISO 8601), NULL when it is none (internal)';

/*
 * Loads a chunk of consents rows: each row's patient (cdp_internal._import_identify), then one
 * statement through the consent registry's cdp.set_consents (its checks, its event, its
 * projections).  A statement already on record for the person (same purposes x channels, granted,
 * moment, evidence and address) is unchanged and not recorded twice, so a file sent again writes
 * nothing.  Refusals are quarantined with the column at fault.
 */
CREATE FUNCTION cdp_internal._import_load_consents(batch bigint, source text,
												  rows integer[], lines integer[], attrs jsonb[],
												  header text[], hkeys text[],
												  OUT created bigint, OUT updated bigint, OUT unchanged bigint, OUT rejected bigint,
												  OUT not_found bigint, OUT ambiguous bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_id		record;
	d			jsonb;
	v_purp		text[];
	v_chan		text[];
	v_all		text[];
	v_granted	boolean;
	v_at		timestamptz;
	v_ev		text;
	v_addr		text;
	v_col		text;
	v_why		text;
	v_msg		text;
	v_hint		text;
BEGIN
	created := 0; updated := 0; unchanged := 0; rejected := 0; not_found := 0; ambiguous := 0;
	FOR v_id IN SELECT * FROM cdp_internal._import_identify(source, attrs) LOOP
		d := attrs[v_id.ord];
		v_col := NULL; v_why := NULL;
		IF v_id.golden_id IS NULL THEN
			v_col := v_id.column_name; v_why := v_id.reason;
			not_found := not_found OPERATOR(pg_catalog.+) (v_id.problem OPERATOR(pg_catalog.=) 'not_found')::integer;
			ambiguous := ambiguous OPERATOR(pg_catalog.+) (v_id.problem OPERATOR(pg_catalog.=) 'ambiguous')::integer;
		ELSE
			v_purp := cdp_internal._import_consent_list('purpose', d ->> 'purpose');
			v_chan := cdp_internal._import_consent_list('channel', d ->> 'channel');
			v_granted := (SELECT w.value::boolean FROM cdp_internal._import_consent_words() w
						   WHERE w.col OPERATOR(pg_catalog.=) 'granted'
							 AND w.word OPERATOR(pg_catalog.=) cdp_internal._import_word(d ->> 'granted'));
			v_at := cdp_internal._import_moment(d ->> 'at');
			v_ev := NULLIF(pg_catalog.btrim(d ->> 'evidence'), '');
			v_addr := NULLIF(pg_catalog.btrim(d ->> 'address'), '');
			IF pg_catalog.cardinality(v_purp) OPERATOR(pg_catalog.=) 0 THEN
				v_col := 'purpose'; v_why := 'The purpose is empty: every statement is for a purpose.';
			ELSIF pg_catalog.cardinality(v_chan) OPERATOR(pg_catalog.=) 0 THEN
				v_col := 'channel'; v_why := 'The channel is empty: name one, several, or * for all of them.';
			ELSIF v_granted IS NULL THEN
				v_col := 'granted';
				v_why := CASE WHEN d ? 'granted' THEN 'The value says neither yes nor no: write "да" or "нет" (yes/no, 1/0).'
							  ELSE 'The granted value is empty: write "да" or "нет" (yes/no, 1/0).' END;
			ELSIF v_at IS NULL THEN
				v_col := 'at';
				v_why := CASE WHEN d ? 'at' THEN 'The value is not a date: write DD.MM.YYYY, DD.MM.YYYY HH:MI or YYYY-MM-DD.'
							  ELSE 'The date is empty: a statement needs the day it was given.' END;
			ELSIF v_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 day') THEN
				v_col := 'at'; v_why := 'The date is in the future.';
			END IF;
		END IF;
		IF v_why IS NULL THEN
			BEGIN
				v_all := cdp_internal.consent_check(v_purp, v_chan);
				IF NOT EXISTS (
					SELECT 1 FROM pg_catalog.unnest(v_purp) p, pg_catalog.unnest(v_all) c
					 WHERE NOT EXISTS (
						SELECT 1 FROM @extschema@.record r
						  JOIN @extschema@.consent_statement s ON s.record_id OPERATOR(pg_catalog.=) r.record_id
						 WHERE r.golden_id OPERATOR(pg_catalog.=) v_id.golden_id
						   AND s.purpose OPERATOR(pg_catalog.=) p AND s.channel OPERATOR(pg_catalog.=) c
						   AND s.granted OPERATOR(pg_catalog.=) v_granted AND s.at OPERATOR(pg_catalog.=) v_at
						   AND s.evidence IS NOT DISTINCT FROM v_ev AND s.address IS NOT DISTINCT FROM v_addr)) THEN
					unchanged := unchanged OPERATOR(pg_catalog.+) 1;
				ELSE
					PERFORM @extschema@.set_consents(v_id.golden_id, v_purp, v_chan, v_granted, v_at, v_ev, v_addr);
					created := created OPERATOR(pg_catalog.+) 1;
				END IF;
			EXCEPTION WHEN data_exception OR no_data_found OR integrity_constraint_violation THEN
				GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_hint = PG_EXCEPTION_HINT;
				v_col := CASE WHEN v_msg OPERATOR(pg_catalog.~) 'purpose' THEN 'purpose'
							  WHEN v_msg OPERATOR(pg_catalog.~) 'channel' THEN 'channel'
							  WHEN v_msg OPERATOR(pg_catalog.~) 'evidence' THEN 'evidence'
							  WHEN v_msg OPERATOR(pg_catalog.~) 'address' THEN 'address' END;
				v_why := cdp_internal._import_reason(v_msg, NULL, v_hint);
			END;
		END IF;
		IF v_why IS NOT NULL THEN
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			VALUES (batch, rows[v_id.ord], lines[v_id.ord], NULL,
					CASE WHEN v_col IS NOT NULL THEN COALESCE(header[pg_catalog.array_position(hkeys, v_col)], v_col) END,
					d ->> v_col, v_why, d);
			rejected := rejected OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_load_consents(bigint, text, integer[], integer[], jsonb[], text[], text[]) IS
	'records a chunk of consents rows through cdp.set_consents, quarantining rows that name no single patient or an invalid statement (internal to import_commit)';

/*
 * Loads a chunk of segment-list rows: the patients the rows name go on the segment's include (or
 * exclude) list through cdp.segment_list_set, one call per chunk; rows that name nobody or more
 * than one patient are quarantined (import_errors is the report of them).  created counts the
 * persons put on the list, unchanged the rows whose person was on it already.  The persons named
 * are kept in pg_temp.cdp_import_listed (import_commit creates it) for the option replace.
 */
CREATE FUNCTION cdp_internal._import_load_segment_list(batch bigint, source text, segment bigint, list text,
													  rows integer[], lines integer[], attrs jsonb[],
													  header text[], hkeys text[],
													  OUT created bigint, OUT updated bigint, OUT unchanged bigint, OUT rejected bigint,
													  OUT not_found bigint, OUT ambiguous bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_ids	bigint[];
BEGIN
	created := 0; updated := 0; unchanged := 0;
	IF pg_catalog.to_regclass('pg_temp.cdp_import_ident') IS NULL THEN
		CREATE TEMP TABLE cdp_import_ident (ord integer, golden_id bigint, column_name text, value text,
											problem text, reason text) ON COMMIT DROP;
	ELSE
		TRUNCATE pg_temp.cdp_import_ident;
	END IF;
	INSERT INTO pg_temp.cdp_import_ident SELECT * FROM cdp_internal._import_identify(source, attrs);
	INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
	SELECT batch, rows[i.ord], lines[i.ord], NULL,
		   CASE WHEN i.column_name IS NOT NULL THEN COALESCE(header[pg_catalog.array_position(hkeys, i.column_name)], i.column_name) END,
		   i.value, i.reason, attrs[i.ord]
	  FROM pg_temp.cdp_import_ident i WHERE i.golden_id IS NULL ORDER BY i.ord;
	SELECT pg_catalog.count(*) FILTER (WHERE i.golden_id IS NULL),
		   pg_catalog.count(*) FILTER (WHERE i.problem OPERATOR(pg_catalog.=) 'not_found'),
		   pg_catalog.count(*) FILTER (WHERE i.problem OPERATOR(pg_catalog.=) 'ambiguous'),
		   pg_catalog.array_agg(i.golden_id ORDER BY i.golden_id) FILTER (WHERE i.golden_id IS NOT NULL)
	  INTO rejected, not_found, ambiguous, v_ids
	  FROM pg_temp.cdp_import_ident i;
	IF v_ids IS NOT NULL THEN
		created := @extschema@.segment_list_set(segment, list, v_ids);
		unchanged := pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.-) created;
		/* the persons the file names, for a replace at the end of the commit */
		INSERT INTO pg_temp.cdp_import_listed SELECT DISTINCT x FROM pg_catalog.unnest(v_ids) x ON CONFLICT DO NOTHING;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_load_segment_list(bigint, text, bigint, text, integer[], integer[], jsonb[], text[], text[]) IS
	'puts the patients a chunk of segment-list rows names on a segment''s list through cdp.segment_list_set, quarantining rows that name nobody or several (internal to import_commit)';
