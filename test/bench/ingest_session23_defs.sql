-- test/bench/ingest_session23_defs.sql: the import's definitions as session 23 left them (main at
-- 7d72931), for a same-binary comparison of session 24's changes (issue 16):
--   IMPORT_AB_SQL=test/bench/ingest_session23_defs.sql test/bench/import_speed.sh ROWS REPEATS
-- run in a database right after CREATE EXTENSION cdp.  It puts back the two NOT EXISTS key checks
-- of _import_load_patients, the seen ids inserted in row order into a column of the database's
-- collation (import_commit), and the index of every profile by status.
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
		/* ingest's own rules, every invalid key of every row named */
		v_norm := cdp_internal.normalize_records(keys, attrs, pg_catalog.array_fill(NULL::text, ARRAY[n]), true);
		WITH bad AS (
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			SELECT batch, rows[r.ord], lines[r.ord], keys[r.ord],
				   COALESCE(header[pg_catalog.array_position(hkeys, inv.key)], inv.key),
				   inv.val ->> 'value', inv.val ->> 'reason', attrs[r.ord]
			  FROM pg_catalog.unnest(v_norm) r
			 CROSS JOIN LATERAL pg_catalog.jsonb_each(r.extra -> '_invalid') AS inv(key, val)
			RETURNING row_no
		)
		SELECT pg_catalog.array_agg(DISTINCT pg_catalog.array_position(rows, bad.row_no)) INTO v_bad FROM bad;
		IF v_bad IS NOT NULL THEN
			rejected := pg_catalog.cardinality(v_bad);
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
			* ones out, and never wrong: a known or malformed id sends the chunk the general way);
			* unnest, not keys[i], which walks the array from its start for every i
			*/
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(keys) k
							WHERE k IS NULL OR pg_catalog.btrim(k) OPERATOR(pg_catalog.=) ''
							   OR pg_catalog.octet_length(k) OPERATOR(pg_catalog.>) 200)
		   /* each id looked up by itself in the unique index (OFFSET 0, as in upsert_records) */
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(keys) k
							CROSS JOIN LATERAL (SELECT 1 FROM cdp.record r
												 WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id
												   AND r.source_key OPERATOR(pg_catalog.=) k OFFSET 0) r) THEN
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
			SELECT created OPERATOR(pg_catalog.+) u.created, updated OPERATOR(pg_catalog.+) u.updated,
				   unchanged OPERATOR(pg_catalog.+) u.unchanged
			  INTO created, updated, unchanged
			  FROM cdp_internal._import_upsert(source, ARRAY[keys[i]], ARRAY[attrs[i]], lenient) u;
		EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			VALUES (batch, rows[i], lines[i], keys[i], NULL, NULL, cdp_internal._import_reason(v_msg, v_detail, NULL), attrs[i]);
			rejected := rejected OPERATOR(pg_catalog.+) 1;
		END;
	END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION cdp.import_commit(batch bigint, mode text DEFAULT 'all_or_nothing') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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
	v_keep		integer[];
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
	  FROM (SELECT s.line, s.line_no FROM cdp.import_staging s
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
		SELECT pg_catalog.count(*) INTO v_total FROM cdp.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) batch;
		/* the persons a segment list names (the loader adds them; replace reads them at the end) */
		IF v_b.kind OPERATOR(pg_catalog.=) 'segment_list' THEN
			IF pg_catalog.to_regclass('pg_temp.cdp_import_listed') IS NULL THEN
				CREATE TEMP TABLE cdp_import_listed (golden_id bigint PRIMARY KEY) ON COMMIT DROP;
			ELSE
				TRUNCATE pg_temp.cdp_import_listed;
			END IF;
		END IF;
		/* the source ids seen so far: a temporary table, so memory stays flat in the file's size */
		IF pg_catalog.to_regclass('pg_temp.cdp_import_seen') IS NULL THEN
			CREATE TEMP TABLE cdp_import_seen (source_key text PRIMARY KEY, row_no integer) ON COMMIT DROP;
		ELSE
			TRUNCATE pg_temp.cdp_import_seen;
		END IF;

		BEGIN
			LOOP
				SELECT pg_catalog.array_agg(s.line ORDER BY s.line_no), pg_catalog.array_agg(s.line_no ORDER BY s.line_no)
				  INTO v_lines, v_nos
				  FROM (SELECT s.line, s.line_no FROM cdp.import_staging s
						 WHERE s.batch_id OPERATOR(pg_catalog.=) batch AND s.line_no OPERATOR(pg_catalog.>) v_last
						 ORDER BY s.line_no LIMIT v_chunk) s;
				EXIT WHEN v_lines IS NULL;
				v_final := pg_catalog.cardinality(v_lines) OPERATOR(pg_catalog.<) v_chunk;
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

				/* a source id seen on an earlier row of the file: the later rows are refused */
				v_dups := NULL;
				IF v_keycol OPERATOR(pg_catalog.>) 0 THEN
				WITH ins AS (
					INSERT INTO pg_temp.cdp_import_seen (source_key, row_no)
					SELECT u.k, u.r FROM unnest(v_p.keys, v_p.rows) AS u(k, r) ORDER BY u.r
					ON CONFLICT (source_key) DO NOTHING
					RETURNING row_no
				)
				SELECT pg_catalog.array_agg(u.o ORDER BY u.o) INTO v_dups
				  FROM pg_catalog.unnest(v_p.rows) WITH ORDINALITY AS u(r, o)
				 WHERE u.r NOT IN (SELECT ins.row_no FROM ins);
				END IF;
				IF v_dups IS NOT NULL THEN
					INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
					SELECT batch, v_p.rows[d], v_p.lines[d], v_p.keys[d], v_sniff.header[v_keycol], v_p.keys[d],
						   pg_catalog.format('The source id "%s" is also on row %s: a file names each record once.',
											 pg_catalog.left(v_p.keys[d], 200), s.row_no),
						   v_p.attrs[d]
					  FROM pg_catalog.unnest(v_dups) AS d
					  JOIN pg_temp.cdp_import_seen s ON s.source_key OPERATOR(pg_catalog.=) v_p.keys[d];
					v_nbad := v_nbad OPERATOR(pg_catalog.+) pg_catalog.cardinality(v_dups);
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
						v_p.rows, v_p.lines, v_p.keys, v_p.attrs, v_sniff.header, v_hkeys);
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
		v_removed := cdp.segment_list_set((v_b.options ->> 'segment')::bigint, v_b.options ->> 'list',
			ARRAY(SELECT l.golden_id FROM cdp.segment_list l
				   WHERE l.segment_id OPERATOR(pg_catalog.=) (v_b.options ->> 'segment')::bigint
					 AND l.list OPERATOR(pg_catalog.=) (v_b.options ->> 'list')
					 AND NOT EXISTS (SELECT 1 FROM pg_temp.cdp_import_listed x
									  WHERE x.golden_id OPERATOR(pg_catalog.=) cdp.resolve_patient(l.golden_id))),
			true);
	END IF;
	IF v_status OPERATOR(pg_catalog.=) 'committed' THEN
		DELETE FROM cdp.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) batch;
		IF v_b.options ->> 'matching' OPERATOR(pg_catalog.=) 'now' AND v_b.kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'partner_contacts']) THEN
			v_match := cdp.run_matching('incremental');
		END IF;
	END IF;
	SELECT pg_catalog.format('row %s%s: %s', r.row_no,
							 COALESCE(pg_catalog.format(', column "%s"', r.column_name), ''), r.reason)
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

DROP INDEX cdp.patient_archived_idx;
CREATE INDEX patient_status_idx ON cdp.patient (status, golden_id);
