/*
 * sql/parts/88_import_run.sql: running an import (issue 16): cdp.import_commit (reads the staged
 * lines, maps the header, hands chunks to the loaders of 88_import_load.sql: all or nothing,
 * quarantine or lenient), cdp.import_errors, cdp.import_status, the one-call cdp.import_csv, the
 * data-quality view cdp.source_quality, and the privileges of the import API (each function
 * runs as the owner and checks its caller: cdp_internal._import_require, 88_import.sql).
 * doc/import.md.
 */

/*
 * The kind of an import batch, for the role check of import_errors and import_status; an unknown
 * batch raises 22023, as cdp.import_commit does.  running_ok: a batch whose row this session does
 * not see yet but whose commit holds the batch's lock (an import_csv running in another session)
 * gives NULL, for which cdp_internal._import_require asks for cdp_admin (or a superuser).
 */
CREATE FUNCTION cdp_internal._import_batch_kind(batch bigint, running_ok boolean DEFAULT false) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_kind	text;
BEGIN
	SELECT b.kind INTO v_kind FROM cdp_internal.import_batch b WHERE b.batch_id OPERATOR(pg_catalog.=) batch;
	IF FOUND THEN
		RETURN v_kind;
	END IF;
	IF running_ok AND batch OPERATOR(pg_catalog.>) 0 AND EXISTS (
		SELECT 1 FROM pg_catalog.pg_locks l
		 WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
		   AND l.classid OPERATOR(pg_catalog.=) cdp_internal._import_lock_key()::oid
		   AND l.objid OPERATOR(pg_catalog.=) (batch OPERATOR(pg_catalog.%) 2147483647)::oid
		   AND l.objsubid OPERATOR(pg_catalog.=) 2) THEN
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'unknown import batch: %', batch
		USING ERRCODE = 'invalid_parameter_value', HINT = 'Open one with cdp.import_begin(source, kind).';
END
$$;
COMMENT ON FUNCTION cdp_internal._import_batch_kind(bigint, boolean) IS
	'the kind of an import batch; 22023 for an unknown one, NULL for one only seen running in another session (internal)';

/*
 * import_commit: reads the batch's lines in chunks (src/imp_sql.c), quarantines unreadable rows
 * and repeated source ids, loads the rest through ingest, and in all_or_nothing rolls everything
 * back (a subtransaction) when any row was refused, keeping the list of refusals.  One
 * transaction: a commit killed half-way leaves nothing.  Progress is shown in
 * pg_stat_activity.query (cdp.import_status).
 */
CREATE FUNCTION @extschema@.import_commit(batch bigint, mode text DEFAULT 'all_or_nothing') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_b			cdp_internal.import_batch;
	v_t0		timestamptz := pg_catalog.clock_timestamp();
	v_lines		text[];
	v_nos		bigint[];
	v_sniff		record;
	v_hkeys		text[];
	v_keycol	integer;
	v_badcol	text;
	v_hwhy		text;
	v_p			cdp_internal.import_parsed;
	v_last		bigint;
	v_chunk		integer;
	v_base		integer;
	v_final		boolean;
	v_row		integer := 2;
	v_line		integer;
	v_total		bigint;
	v_nrows		bigint := 0;
	v_nbad		bigint := 0;
	v_created	bigint := 0;
	v_updated	bigint := 0;
	v_unchanged	bigint := 0;
	v_notfound	bigint := 0;
	v_removed	bigint := 0;
	v_ambig		bigint := 0;
	v_dups		integer[];
	v_dup_of	integer[];
	v_duprows	integer[];
	v_opt		boolean;
	v_prow		integer;
	v_pline		integer;
	v_nbad0		bigint;
	v_keep		integer[];
	v_src_id	integer;
	v_indexed	boolean := true;
	v_new		boolean := false;
	v_c			record;
	v_dirty		boolean := false;
	v_stash		cdp_internal.import_reject[];
	v_status	text := 'committed';
	v_first		text;
	v_match		jsonb;
	v_result	jsonb;
BEGIN
	IF batch IS NULL OR mode IS NULL THEN
		RAISE EXCEPTION 'batch and mode must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF mode OPERATOR(pg_catalog.<>) ALL (ARRAY['all_or_nothing', 'quarantine', 'lenient']) THEN
		RAISE EXCEPTION 'invalid import mode: "%"', pg_catalog.left(mode, 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use all_or_nothing, quarantine or lenient.';
	END IF;
	SELECT b.* INTO v_b FROM cdp_internal.import_batch b WHERE b.batch_id OPERATOR(pg_catalog.=) batch FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown import batch: %', batch
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Open one with cdp.import_begin(source, kind).';
	END IF;
	PERFORM cdp_internal._import_require(v_b.kind, 'cdp.import_commit');
	IF v_b.status OPERATOR(pg_catalog.=) 'committed' THEN
		/* idempotent: a committed batch is not loaded twice */
		RETURN v_b.result OPERATOR(pg_catalog.||) '{"repeated": true}'::jsonb;
	END IF;
	IF mode OPERATOR(pg_catalog.=) 'lenient' AND v_b.kind OPERATOR(pg_catalog.=) 'clinical_events' THEN
		RAISE EXCEPTION 'lenient mode is not for clinical events'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Clinical events have no lenient form: an invalid value cannot be kept aside.',
				  HINT = 'Use quarantine to load the valid rows and list the others.';
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(cdp_internal._import_lock_key(), (batch OPERATOR(pg_catalog.%) 2147483647)::integer);
	DELETE FROM cdp_internal.import_reject r WHERE r.batch_id OPERATOR(pg_catalog.=) batch;
	v_base := (v_b.options ->> 'chunk_rows')::integer;
	v_chunk := v_base;

	/* the header: encoding, delimiter and columns from the first lines */
	SELECT pg_catalog.array_agg(s.line ORDER BY s.line_no), pg_catalog.array_agg(s.line_no ORDER BY s.line_no)
	  INTO v_lines, v_nos
	  FROM (SELECT s.line, s.line_no FROM @extschema@.import_staging s
			 WHERE s.batch_id OPERATOR(pg_catalog.=) batch ORDER BY s.line_no LIMIT 200) s;
	v_sniff := cdp_internal._import_sniff(COALESCE(v_lines, ARRAY[]::text[]), v_b.options ->> 'encoding', v_b.options ->> 'delimiter');
	IF v_sniff.why IS NULL THEN
		SELECT h.keys, h.key_col, h.bad_col, h.why INTO v_hkeys, v_keycol, v_badcol, v_hwhy
		  FROM cdp_internal._import_header(v_b.kind, v_sniff.header, v_b.options) h;
	END IF;
	IF v_sniff.why IS NOT NULL OR v_hwhy IS NOT NULL THEN
		INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, column_name, value, reason)
		VALUES (batch, 1, 1, v_badcol,
				CASE WHEN v_sniff.header IS NOT NULL THEN pg_catalog.array_to_string(v_sniff.header, v_sniff.delimiter) END,
				COALESCE(v_sniff.why, v_hwhy));
		v_status := 'failed';
		v_nbad := 1;
	ELSE
		v_last := v_nos[v_sniff.consumed];
		v_line := v_sniff.consumed OPERATOR(pg_catalog.+) 1;
		SELECT pg_catalog.count(*) INTO v_total FROM @extschema@.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) batch;
		/* the persons a segment list names (the loader adds them; replace reads them at the end) */
		IF v_b.kind OPERATOR(pg_catalog.=) 'segment_list' THEN
			IF pg_catalog.to_regclass('pg_temp.cdp_import_listed') IS NULL THEN
				CREATE TEMP TABLE cdp_import_listed (golden_id bigint PRIMARY KEY) ON COMMIT DROP;
			ELSE
				TRUNCATE pg_temp.cdp_import_listed;
			END IF;
		END IF;
		/*
		 * the source ids seen so far (the first row of each): a temporary table, so memory stays
		 * flat in the file's size; compared bytewise (COLLATE "C": the same equality as the
		 * database's deterministic collation, without strcoll in every comparison).  Patients
		 * and partner contacts of a known source start without its unique index (session 30):
		 * while every id of a chunk is unknown to the source (cdp_internal.ingest_keys_new, the
		 * unique index of cdp.record, which the loader's fast path probes anyway), none can be
		 * a row of the file loaded earlier, so only the rows set aside so far (a small table of
		 * their ids, cdp_import_unloaded) and the chunk's own rows can hold it.  The first chunk
		 * with a known id (an update, a repeat, or a row loaded earlier in the file) gets the
		 * index built and from then on every id is looked up in it, as before.  Since session 34
		 * a quarantined or all-or-nothing load does not look the ids up before loading them:
		 * the unique index of cdp.record finds a known one as the writer adds it (see the chunk's
		 * loop below).
		 */
		IF pg_catalog.to_regclass('pg_temp.cdp_import_seen') IS NOT NULL THEN
			DROP TABLE pg_temp.cdp_import_seen;
		END IF;
		IF pg_catalog.to_regclass('pg_temp.cdp_import_unloaded') IS NOT NULL THEN
			DROP TABLE pg_temp.cdp_import_unloaded;
		END IF;
		CREATE TEMP TABLE cdp_import_seen (source_key text COLLATE "C" NOT NULL, row_no integer) ON COMMIT DROP;
		CREATE TEMP TABLE cdp_import_unloaded (source_key text COLLATE "C" PRIMARY KEY, row_no integer) ON COMMIT DROP;
		IF v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'partner_contacts']) AND v_keycol OPERATOR(pg_catalog.>) 0 THEN
			SELECT s.source_id INTO v_src_id FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) v_b.source;
		END IF;
		IF v_src_id IS NOT NULL THEN
			v_indexed := false;
		ELSE
			ALTER TABLE pg_temp.cdp_import_seen ADD PRIMARY KEY (source_key);
		END IF;

		BEGIN
			LOOP
				/*
				 * the next chunk's lines and their numbers, in line order: each an ARRAY of a
				 * subquery in the order of its ORDER BY, which the index of (batch_id, line_no)
				 * gives without sorting (session 34: array_agg(... ORDER BY line_no) sorted the
				 * chunk's lines once per aggregate, about a tenth of the commit's statements at
				 * 1M); one statement, so one snapshot for both
				 */
				SELECT ARRAY(SELECT s.line FROM @extschema@.import_staging s
							  WHERE s.batch_id OPERATOR(pg_catalog.=) batch AND s.line_no OPERATOR(pg_catalog.>) v_last
							  ORDER BY s.line_no LIMIT v_chunk),
					   ARRAY(SELECT s.line_no FROM @extschema@.import_staging s
							  WHERE s.batch_id OPERATOR(pg_catalog.=) batch AND s.line_no OPERATOR(pg_catalog.>) v_last
							  ORDER BY s.line_no LIMIT v_chunk)
				  INTO v_lines, v_nos;
				EXIT WHEN pg_catalog.cardinality(v_lines) OPERATOR(pg_catalog.=) 0;
				v_final := pg_catalog.cardinality(v_lines) OPERATOR(pg_catalog.<) v_chunk;
				v_prow := v_row;
				v_pline := v_line;
				v_p := cdp_internal._import_parse(v_lines, v_final, v_sniff.encoding, v_sniff.delimiter, v_sniff.header,
												  v_hkeys, v_keycol, v_row, v_line);
				IF v_p.consumed OPERATOR(pg_catalog.=) 0 THEN
					v_chunk := v_chunk OPERATOR(pg_catalog.*) 2;		/* a record longer than the chunk */
					CONTINUE;
				END IF;
				v_chunk := v_base;
				v_last := v_nos[v_p.consumed];
				v_line := v_line OPERATOR(pg_catalog.+) v_p.consumed;
				v_row := v_p.next_row;
				v_nrows := v_nrows OPERATOR(pg_catalog.+) pg_catalog.cardinality(v_p.rows) OPERATOR(pg_catalog.+) pg_catalog.cardinality(v_p.bad_rows);

				/* rows that cannot be read */
				IF pg_catalog.cardinality(v_p.bad_rows) OPERATOR(pg_catalog.>) 0 THEN
					INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason)
					SELECT batch, u.r, u.l, u.k, u.c, u.v, u.w
					  FROM unnest(v_p.bad_rows, v_p.bad_lines, v_p.bad_keys, v_p.bad_cols, v_p.bad_vals, v_p.bad_why)
						   AS u(r, l, k, c, v, w);
					v_nbad := v_nbad OPERATOR(pg_catalog.+) pg_catalog.cardinality(v_p.bad_rows);
				END IF;

				/*
				 * Optimistic (session 34): a file of patients or partner contacts checked without the
				 * seen table's index, quarantined or all or nothing, is not looked up in cdp.record
				 * before its loader runs: the unique index of cdp.record looks each id up as the
				 * fast path's writer adds it (one descent a row instead of the probe's and the
				 * insertion's), and a known or malformed id, or one another transaction is writing,
				 * raises CDP17 (cdp_internal._import_load_patients with keys_new NULL).  The chunk is
				 * then rolled back with its rejects (this block's subtransaction) and checked again
				 * from its rows as read, with the index, as the guard's false answer did before
				 * (session 30).  Lenient loads take the guard first, as before.
				 */
				v_opt := v_keycol OPERATOR(pg_catalog.>) 0 AND NOT v_indexed AND mode OPERATOR(pg_catalog.<>) 'lenient'
						 AND v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'partner_contacts']);
				v_nbad0 := v_nbad;
				LOOP
					BEGIN
						/*
						 * a source id seen on an earlier row of the file: the later rows are refused,
						 * each naming the first row (v_dup_of).  With the index: the chunk's ids go in in
						 * id order (then row order, so the earlier of two equal ids wins, as in row
						 * order): one sweep over the index's leaves instead of one random leaf a row,
						 * which at 1M rows (an index of about 40 MB against 8 MB of temp_buffers) read
						 * and wrote a temporary page for nearly every row (session 24).  Without it
						 * (every id of the chunk unknown to the source, see above): the chunk's repeats
						 * and the ids of rows set aside earlier; the chunk's first rows are appended to
						 * the table after its loader.
						 */
						v_dups := NULL;
						v_dup_of := NULL;
						v_duprows := NULL;
						IF v_keycol OPERATOR(pg_catalog.>) 0 THEN
							IF NOT v_indexed AND NOT v_opt THEN
								v_new := cdp_internal.ingest_keys_new(v_src_id, v_p.keys);
								IF NOT v_new THEN
									/* every id seen so far is there once: the first row of each */
									ALTER TABLE pg_temp.cdp_import_seen ADD PRIMARY KEY (source_key);
									v_indexed := true;
								END IF;
							END IF;
							IF v_indexed THEN
								WITH ins AS (
									INSERT INTO pg_temp.cdp_import_seen (source_key, row_no)
									SELECT u.k, u.r FROM unnest(v_p.keys, v_p.rows) AS u(k, r) ORDER BY u.k COLLATE "C", u.r
									ON CONFLICT (source_key) DO NOTHING
									RETURNING row_no
								)
								SELECT pg_catalog.array_agg(u.o ORDER BY u.o) INTO v_dups
								  FROM pg_catalog.unnest(v_p.rows) WITH ORDINALITY AS u(r, o)
								 WHERE u.r NOT IN (SELECT ins.row_no FROM ins);
								IF v_dups IS NOT NULL THEN
									v_dup_of := ARRAY(SELECT s.row_no FROM pg_catalog.unnest(v_dups) WITH ORDINALITY AS d(d, o)
													   JOIN pg_temp.cdp_import_seen s ON s.source_key OPERATOR(pg_catalog.=) (v_p.keys[d.d] COLLATE "C")
													  ORDER BY d.o);
								END IF;
							ELSE
								SELECT pg_catalog.array_agg(u.o ORDER BY u.o),
									   pg_catalog.array_agg(COALESCE(x.row_no, u.first) ORDER BY u.o)
								  INTO v_dups, v_dup_of
								  FROM (SELECT u.k, u.r, u.o, pg_catalog.min(u.r) OVER (PARTITION BY u.k COLLATE "C") AS first
										  FROM unnest(v_p.keys, v_p.rows) WITH ORDINALITY AS u(k, r, o)) u
								  LEFT JOIN pg_temp.cdp_import_unloaded x ON x.source_key OPERATOR(pg_catalog.=) (u.k COLLATE "C")
								 WHERE u.r OPERATOR(pg_catalog.>) u.first OR x.source_key IS NOT NULL;
							END IF;
						END IF;
						IF v_dups IS NOT NULL THEN
							INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
							SELECT batch, v_p.rows[u.d], v_p.lines[u.d], v_p.keys[u.d], v_sniff.header[v_keycol], v_p.keys[u.d],
								   pg_catalog.format('The source id "%s" is also on row %s: a file names each record once.',
													 pg_catalog.left(v_p.keys[u.d], 200), u.e),
								   v_p.attrs[u.d]
							  FROM unnest(v_dups, v_dup_of) AS u(d, e);
							v_nbad := v_nbad OPERATOR(pg_catalog.+) pg_catalog.cardinality(v_dups);
							v_duprows := ARRAY(SELECT v_p.rows[d] FROM pg_catalog.unnest(v_dups) d);
							v_keep := ARRAY(SELECT g FROM pg_catalog.generate_series(1, pg_catalog.cardinality(v_p.rows)) g
											 WHERE g OPERATOR(pg_catalog.<>) ALL (v_dups) ORDER BY g);
							v_p.rows := ARRAY(SELECT v_p.rows[g] FROM pg_catalog.unnest(v_keep) g);
							v_p.lines := ARRAY(SELECT v_p.lines[g] FROM pg_catalog.unnest(v_keep) g);
							v_p.keys := ARRAY(SELECT v_p.keys[g] FROM pg_catalog.unnest(v_keep) g);
							v_p.attrs := ARRAY(SELECT v_p.attrs[g] FROM pg_catalog.unnest(v_keep) g);
						END IF;

						/* the rows through their kind's loader */
						IF v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'partner_contacts']) THEN
							v_c := cdp_internal._import_load_patients(batch, v_b.source, mode OPERATOR(pg_catalog.=) 'lenient', NOT v_dirty,
								v_p.rows, v_p.lines, v_p.keys, v_p.attrs, v_sniff.header, v_hkeys,
								CASE WHEN v_opt THEN NULL ELSE NOT v_indexed AND v_new END);
							IF NOT v_indexed AND v_c.rejected OPERATOR(pg_catalog.>) 0 THEN
								/*
								 * the rows set aside: their ids are the ones a later row may repeat
								 * unseen by cdp.record.  The loader's rejects of this chunk are its
								 * rows in the chunk's range of rows that were neither unreadable nor
								 * repeats, each with its own source id (session 34: joined with the
								 * chunk's unnested ids before, about 40 ms a chunk at 1M)
								 */
								INSERT INTO pg_temp.cdp_import_unloaded (source_key, row_no)
								SELECT DISTINCT j.source_key, j.row_no FROM cdp_internal.import_reject j
								 WHERE j.batch_id OPERATOR(pg_catalog.=) batch
								   AND j.row_no OPERATOR(pg_catalog.>=) v_p.rows[1]
								   AND j.row_no OPERATOR(pg_catalog.<=) v_p.rows[pg_catalog.cardinality(v_p.rows)]
								   AND j.row_no OPERATOR(pg_catalog.<>) ALL (COALESCE(v_p.bad_rows, ARRAY[]::integer[]))
								   AND j.row_no OPERATOR(pg_catalog.<>) ALL (COALESCE(v_duprows, ARRAY[]::integer[]))
								   AND j.source_key IS NOT NULL
								ON CONFLICT (source_key) DO NOTHING;
							END IF;
						ELSIF v_b.kind OPERATOR(pg_catalog.=) 'clinical_events' THEN
							v_c := cdp_internal._import_load_clinical(batch, v_b.source,
								v_p.rows, v_p.lines, v_p.keys, v_p.attrs, v_sniff.header, v_hkeys);
						ELSIF v_b.kind OPERATOR(pg_catalog.=) 'consents' THEN
							v_c := cdp_internal._import_load_consents(batch, v_b.source,
								v_p.rows, v_p.lines, v_p.attrs, v_sniff.header, v_hkeys);
						ELSE
							v_c := cdp_internal._import_load_segment_list(batch, v_b.source, (v_b.options ->> 'segment')::bigint,
								v_b.options ->> 'list', v_p.rows, v_p.lines, v_p.attrs, v_sniff.header, v_hkeys);
						END IF;
						IF v_keycol OPERATOR(pg_catalog.>) 0 AND NOT v_indexed THEN
							/* the chunk's first rows (its repeats are out of v_p): what a later chunk's index holds */
							INSERT INTO pg_temp.cdp_import_seen (source_key, row_no)
							SELECT u.k, u.r FROM unnest(v_p.keys, v_p.rows) AS u(k, r);
						END IF;
						EXIT;
					EXCEPTION WHEN SQLSTATE 'CDP17' THEN
						IF NOT v_opt THEN
							RAISE;		/* only the optimistic loader raises it */
						END IF;
						/*
						 * a known or malformed id (see above): the chunk again, as read (read again
						 * from its lines rather than kept as a copy of some MB a chunk), with the index
						 */
						v_p := cdp_internal._import_parse(v_lines, v_final, v_sniff.encoding, v_sniff.delimiter, v_sniff.header,
														  v_hkeys, v_keycol, v_prow, v_pline);
						v_nbad := v_nbad0;
						v_opt := false;
						ALTER TABLE pg_temp.cdp_import_seen ADD PRIMARY KEY (source_key);
						v_indexed := true;
					END;
				END LOOP;
				IF v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['consents', 'segment_list']) THEN
					v_notfound := v_notfound OPERATOR(pg_catalog.+) v_c.not_found;
					v_ambig := v_ambig OPERATOR(pg_catalog.+) v_c.ambiguous;
				END IF;
				v_dirty := v_c.rejected OPERATOR(pg_catalog.>) 0;
				v_nbad := v_nbad OPERATOR(pg_catalog.+) v_c.rejected;
				v_created := v_created OPERATOR(pg_catalog.+) v_c.created;
				v_updated := v_updated OPERATOR(pg_catalog.+) v_c.updated;
				v_unchanged := v_unchanged OPERATOR(pg_catalog.+) v_c.unchanged;

				PERFORM cdp_internal._import_progress(pg_catalog.format(
					'cdp.import_commit batch=%s mode=%s lines=%s validated=%s loaded=%s rejected=%s',
					batch, mode, v_total, v_nrows, v_created OPERATOR(pg_catalog.+) v_updated OPERATOR(pg_catalog.+) v_unchanged, v_nbad));
				EXIT WHEN v_p.fatal OR (v_final AND v_p.consumed OPERATOR(pg_catalog.>=) pg_catalog.cardinality(v_lines));
			END LOOP;

			IF mode OPERATOR(pg_catalog.=) 'all_or_nothing' AND v_nbad OPERATOR(pg_catalog.>) 0 THEN
				/*
				 * Keep the list past the rollback of everything loaded, bounded: the first 10,000
				 * rows, values cut to 1000 bytes, without the rows as read (nothing was loaded:
				 * the file is what to fix), so at most about 20 MB.
				 */
				v_stash := ARRAY(SELECT ROW(r.batch_id, r.row_no, r.line_no, r.source_key, r.column_name,
											pg_catalog.left(r.value, 1000), pg_catalog.left(r.reason, 1000),
											NULL::jsonb)::cdp_internal.import_reject
								   FROM cdp_internal.import_reject r WHERE r.batch_id OPERATOR(pg_catalog.=) batch
								  ORDER BY r.row_no LIMIT 10000);
				RAISE EXCEPTION 'import batch % refused' , batch USING ERRCODE = 'CDP16';
			END IF;
		EXCEPTION WHEN SQLSTATE 'CDP16' THEN
			INSERT INTO cdp_internal.import_reject SELECT (pg_catalog.unnest(v_stash)).*;
			v_status := 'failed';
			v_created := 0; v_updated := 0; v_unchanged := 0;
			/* the report of a refused segment list still says which identifiers matched nobody or several */
		END;
	END IF;

	IF v_status OPERATOR(pg_catalog.=) 'committed' AND (v_b.options ->> 'replace')::boolean THEN
		/* the file becomes the whole list: whoever is on it and not named by the file leaves */
		v_removed := @extschema@.segment_list_set((v_b.options ->> 'segment')::bigint, v_b.options ->> 'list',
			ARRAY(SELECT l.golden_id FROM @extschema@.segment_list l
				   WHERE l.segment_id OPERATOR(pg_catalog.=) (v_b.options ->> 'segment')::bigint
					 AND l.list OPERATOR(pg_catalog.=) (v_b.options ->> 'list')
					 AND NOT EXISTS (SELECT 1 FROM pg_temp.cdp_import_listed x
									  WHERE x.golden_id OPERATOR(pg_catalog.=) @extschema@.resolve_patient(l.golden_id))),
			true);
	END IF;
	IF v_status OPERATOR(pg_catalog.=) 'committed' THEN
		DELETE FROM @extschema@.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) batch;
		IF v_b.options ->> 'matching' OPERATOR(pg_catalog.=) 'now' AND v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'partner_contacts']) THEN
			v_match := @extschema@.run_matching('incremental');
		END IF;
	END IF;
	SELECT pg_catalog.format('row %s%s: %s', r.row_no,
							 CASE WHEN r.column_name IS NOT NULL THEN pg_catalog.format(', column "%s"', r.column_name) ELSE '' END, r.reason)
	  INTO v_first
	  FROM cdp_internal.import_reject r WHERE r.batch_id OPERATOR(pg_catalog.=) batch ORDER BY r.row_no LIMIT 1;
	v_result := pg_catalog.jsonb_build_object(
		'batch', batch, 'source', v_b.source, 'kind', v_b.kind, 'mode', mode, 'status', v_status,
		'rows', v_nrows, 'loaded', v_created OPERATOR(pg_catalog.+) v_updated OPERATOR(pg_catalog.+) v_unchanged,
		'created', v_created, 'updated', v_updated, 'unchanged', v_unchanged, 'rejected', v_nbad,
		'encoding', v_sniff.encoding, 'delimiter', v_sniff.delimiter, 'bom', v_sniff.bom,
		'first_error', v_first, 'matching', COALESCE(v_match, pg_catalog.to_jsonb(v_b.options ->> 'matching')),
		'seconds', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0)::numeric, 3))
		OPERATOR(pg_catalog.||) CASE
			WHEN v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['consents', 'segment_list']) THEN
				pg_catalog.jsonb_build_object('not_found', v_notfound, 'ambiguous', v_ambig)
			ELSE '{}'::jsonb END
		OPERATOR(pg_catalog.||) CASE
			WHEN v_b.kind OPERATOR(pg_catalog.=) 'segment_list' THEN
				pg_catalog.jsonb_build_object('segment', (v_b.options ->> 'segment')::bigint, 'list', v_b.options ->> 'list',
											  'removed', v_removed)
			ELSE '{}'::jsonb END;
	UPDATE cdp_internal.import_batch b
	   SET status = v_status, mode = import_commit.mode, finished_at = pg_catalog.clock_timestamp(), result = v_result
	 WHERE b.batch_id OPERATOR(pg_catalog.=) batch;
	IF pg_catalog.current_setting('cdp.import_batch', true) OPERATOR(pg_catalog.=) batch::text THEN
		PERFORM pg_catalog.set_config('cdp.import_batch', '', false);
	END IF;
	RETURN v_result;
END
$$;
COMMENT ON FUNCTION @extschema@.import_commit(bigint, text) IS
	'validates every row of an import batch with ingest''s rules and loads all or nothing, the valid rows (quarantine) or every row (lenient); returns counts';

CREATE FUNCTION @extschema@.import_errors(batch bigint)
	RETURNS TABLE (row_no integer, line_no integer, source_id text, column_name text, value text, reason text, attrs jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal._import_require(cdp_internal._import_batch_kind(batch), 'cdp.import_errors');
	RETURN QUERY
	SELECT r.row_no, r.line_no, r.source_key, r.column_name, r.value, r.reason, r.attrs
	  FROM cdp_internal.import_reject r
	 WHERE r.batch_id OPERATOR(pg_catalog.=) import_errors.batch
	 ORDER BY r.row_no, r.column_name;
END
$$;
COMMENT ON FUNCTION @extschema@.import_errors(bigint) IS
	'the rows of an import batch that were not loaded: row (spreadsheet numbering, header = 1), line, source id, column, value, reason, the row as read';

CREATE FUNCTION @extschema@.import_status(batch bigint) RETURNS jsonb
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	/* a batch this session cannot see yet (an import_csv still running in another) is found by its lock below */
	PERFORM cdp_internal._import_require(cdp_internal._import_batch_kind(batch, true), 'cdp.import_status');
	RETURN (
	WITH run AS (
		SELECT a.pid, a.query, a.xact_start
		  FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
		 WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
		   AND l.classid OPERATOR(pg_catalog.=) cdp_internal._import_lock_key()::oid
		   AND l.objid OPERATOR(pg_catalog.=) (import_status.batch OPERATOR(pg_catalog.%) 2147483647)::oid
		   AND l.objsubid OPERATOR(pg_catalog.=) 2
		   AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()	/* not the caller's own finished commit */
		 LIMIT 1
	), num AS (
		SELECT run.pid, run.xact_start,
			   (pg_catalog.regexp_match(run.query, 'batch=([0-9]+) mode=([a-z_]+) lines=([0-9]+) validated=([0-9]+) loaded=([0-9]+) rejected=([0-9]+)')) AS m
		  FROM run
	)
	SELECT CASE
		WHEN num.pid IS NOT NULL THEN pg_catalog.jsonb_build_object(
			'batch', import_status.batch, 'status', 'running', 'pid', num.pid, 'since', num.xact_start,
			'mode', num.m[2], 'lines', num.m[3]::bigint, 'validated', COALESCE(num.m[4]::bigint, 0),
			'loaded', COALESCE(num.m[5]::bigint, 0), 'rejected', COALESCE(num.m[6]::bigint, 0))
		WHEN b.batch_id IS NOT NULL THEN pg_catalog.jsonb_build_object(
			'batch', b.batch_id, 'status', b.status, 'source', b.source, 'kind', b.kind, 'opened_by', b.opened_by,
			'opened_at', b.opened_at, 'finished_at', b.finished_at,
			'lines', CASE WHEN b.status OPERATOR(pg_catalog.<>) 'committed'
						  THEN (SELECT pg_catalog.count(*) FROM @extschema@.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) import_status.batch) END)
			OPERATOR(pg_catalog.||) COALESCE(b.result, '{}'::jsonb) OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('status', b.status)
		END
	  FROM (SELECT 1) one
	  LEFT JOIN num ON true
	  LEFT JOIN cdp_internal.import_batch b ON b.batch_id OPERATOR(pg_catalog.=) import_status.batch);
END
$$;
COMMENT ON FUNCTION @extschema@.import_status(bigint) IS
	'an import batch''s state: while its commit runs (any session) the rows validated, loaded and rejected so far; then its result';

/* The one-call path: the file as text (already in the database encoding) or as bytes (encoding detected). */
CREATE FUNCTION @extschema@.import_csv(source text, kind text, data bytea, mode text DEFAULT 'all_or_nothing',
									   options jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_id	bigint;
BEGIN
	IF data IS NULL THEN
		RAISE EXCEPTION 'data must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	v_id := @extschema@.import_begin(source, kind, options);
	INSERT INTO @extschema@.import_staging (batch_id, line)
	SELECT v_id, u.l FROM pg_catalog.unnest(cdp_internal._import_split(data)) WITH ORDINALITY AS u(l, o) ORDER BY u.o;
	RETURN @extschema@.import_commit(v_id, mode);
END
$$;
COMMENT ON FUNCTION @extschema@.import_csv(text, text, bytea, text, jsonb) IS
	'imports a whole CSV file given as bytes in one call; the encoding (UTF-8, BOM, Windows-1251) is detected unless declared';

CREATE FUNCTION @extschema@.import_csv(source text, kind text, data text, mode text DEFAULT 'all_or_nothing',
									   options jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
	LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	/* text is already in the database's encoding: its UTF-8 bytes, declared so */
	RETURN @extschema@.import_csv(source, kind, pg_catalog.convert_to(data, 'UTF8'), mode,
								  COALESCE(options, '{}'::jsonb) OPERATOR(pg_catalog.||) '{"encoding": "utf8"}'::jsonb);
COMMENT ON FUNCTION @extschema@.import_csv(text, text, text, text, jsonb) IS
	'imports a whole CSV file given as text in one call (import_begin, the lines, import_commit); returns the commit''s counts and batch id';

/* ---------------------------------------------------------------- data quality */

/*
 * The import columns of cdp.source_quality: per source, its last committed import, the rows its
 * committed batches set aside, its refused batches.  The view reads the records with its caller's
 * rights; the batches are private, so these counts (no personal data) come from this function,
 * run as the owner.  EXECUTE: cdp_admin (who reads the view), as every function of the API.
 */
CREATE FUNCTION @extschema@.import_source_summary()
	RETURNS TABLE (source text, last_import timestamptz, rows_quarantined bigint, imports_refused bigint)
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	SELECT b.source,
		   pg_catalog.max(b.finished_at) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'committed'),
		   COALESCE(pg_catalog.sum((SELECT pg_catalog.count(*) FROM cdp_internal.import_reject j
									 WHERE j.batch_id OPERATOR(pg_catalog.=) b.batch_id))
					FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'committed'), 0)::bigint,
		   pg_catalog.count(*) FILTER (WHERE b.status OPERATOR(pg_catalog.=) 'failed')
	  FROM cdp_internal.import_batch b
	 GROUP BY b.source;
END
$$;
COMMENT ON FUNCTION @extschema@.import_source_summary() IS
	'per source: its last committed import, rows its committed imports set aside, imports refused (the import columns of cdp.source_quality)';

CREATE VIEW @extschema@.source_quality WITH (security_invoker = true) AS
	WITH r AS (
		SELECT r.source_id, r.golden_id, r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex,
			   r.phones, r.emails, r.snils, r.oms, r.address, r.city,
			   pg_catalog.count(*) OVER (PARTITION BY r.source_id, r.golden_id) AS same_person
		  FROM @extschema@.record r
	), agg AS (
		SELECT r.source_id, pg_catalog.count(*) AS n,
			   pg_catalog.jsonb_build_object(
				'family_name', pg_catalog.avg((r.family_name IS NOT NULL)::integer),
				'given_name', pg_catalog.avg((r.given_name IS NOT NULL)::integer),
				'patronymic', pg_catalog.avg((r.patronymic IS NOT NULL)::integer),
				'birth_date', pg_catalog.avg((r.birth_date IS NOT NULL)::integer),
				'sex', pg_catalog.avg((r.sex IS NOT NULL)::integer),
				'phones', pg_catalog.avg((r.phones IS NOT NULL)::integer),
				'emails', pg_catalog.avg((r.emails IS NOT NULL)::integer),
				'snils', pg_catalog.avg((r.snils IS NOT NULL)::integer),
				'oms', pg_catalog.avg((r.oms IS NOT NULL)::integer),
				'address', pg_catalog.avg((r.address IS NOT NULL)::integer),
				'city', pg_catalog.avg((r.city IS NOT NULL)::integer)) AS completeness,
			   pg_catalog.avg((r.same_person OPERATOR(pg_catalog.>) 1)::integer) AS duplicate_rate
		  FROM r GROUP BY r.source_id
	)
	SELECT s.name AS source, s.kind, COALESCE(a.n, 0) AS records, a.completeness,
		   (SELECT pg_catalog.jsonb_object_agg(k.key, pg_catalog.round(k.n::numeric OPERATOR(pg_catalog./) a.n, 4))
			  FROM (SELECT e.key, pg_catalog.count(*) AS n
					  /* only ingest's object: a scalar a caller stored there before ingest reserved the key is no key of it */
					  FROM @extschema@.record r2 CROSS JOIN LATERAL pg_catalog.jsonb_object_keys(
							CASE WHEN pg_catalog.jsonb_typeof(r2.extra -> '_invalid') OPERATOR(pg_catalog.=) 'object'
								 THEN r2.extra -> '_invalid' ELSE '{}'::jsonb END) AS e(key)
					 WHERE r2.source_id OPERATOR(pg_catalog.=) s.source_id AND r2.extra ? '_invalid'
					 GROUP BY e.key) k) AS invalid_rate,
		   pg_catalog.round(a.duplicate_rate, 4) AS duplicate_rate,
		   i.last_import,
		   /* rows set aside by committed imports; a refused file loaded nothing, so quarantined nothing */
		   COALESCE(i.rows_quarantined, 0) AS rows_quarantined,
		   COALESCE(i.imports_refused, 0) AS imports_refused
	  FROM @extschema@.source s LEFT JOIN agg a ON a.source_id OPERATOR(pg_catalog.=) s.source_id
	  /* the batches are private: their counts through a function run as the owner */
	  LEFT JOIN @extschema@.import_source_summary() i ON i.source OPERATOR(pg_catalog.=) s.name;
COMMENT ON VIEW @extschema@.source_quality IS
	'per source: records, completeness per field, invalid rate per key (lenient loads), duplicate rate (records sharing a person with another record of the source), last import, rows quarantined by committed imports, imports refused';

/* run as the owner, with a role check per kind (cdp_internal._import_require); the grant matrix (94_acc_audit.sql) gives EXECUTE */
REVOKE ALL ON FUNCTION @extschema@.import_begin(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.import_commit(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.import_csv(text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.import_csv(text, text, bytea, text, jsonb) FROM PUBLIC;
