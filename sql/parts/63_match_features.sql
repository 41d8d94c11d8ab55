/*
 * sql/parts/63_match_features.sql: matching: comparison features and the per-record key table.
 */

/* ---------------------------------------------------------------- features */

-- _match_name_roles: the family, given and patronymic name of a record by what the words are, not
-- by the field they came in (a whole name typed «Имя Фамилия» or «Имя Отчество Фамилия» into a form
-- puts a given name in the family field).  The rules are cdp.name_roles (src/text_roles.c, layer 2),
-- which ingest also applies when it splits a full name; see doc/ingest.md.
CREATE FUNCTION cdp_internal._match_name_roles(family text, given text, patronymic text) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN @extschema@.name_roles(family, given, patronymic);
COMMENT ON FUNCTION cdp_internal._match_name_roles(text, text, text) IS
	'internal: family, given and patronymic name by what the words are (cdp.name_roles), as an array of three';

-- _match_value_sql: SQL expression of the raw value(s) of attr for record alias r, multi-values
-- joined with the kernel's separator (U+001F, value_sep of _match_constants).  A suspicious phone,
-- e-mail or birth date (cdp_internal.match_suspicious) is no value: no agreement, no blocking key,
-- no contradiction (a birth date since issue 12, session 39).
CREATE FUNCTION cdp_internal._match_value_sql(attr text, comparator text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE
		WHEN attr IN ('family_name', 'given_name', 'patronymic', 'address', 'city') THEN
			CASE comparator WHEN 'date' THEN pg_catalog.format('cdp_internal._match_date(r.%I)', attr)
			                WHEN 'id' THEN pg_catalog.format('pg_catalog.upper(pg_catalog.regexp_replace(r.%I, ''[\s-]'', '''', ''g''))', attr)
			                ELSE pg_catalog.format('cdp_internal._match_norm(r.%I)', attr) END
		WHEN attr = 'sex' THEN 'pg_catalog.upper(pg_catalog.left(r.sex, 1))'
		WHEN attr = 'birth_date' THEN 'CASE WHEN NOT EXISTS (SELECT 1 FROM cdp_internal.match_suspicious s WHERE s.attr = ''birth_date'''
			' AND s.value = pg_catalog.to_char(r.birth_date, ''YYYY-MM-DD'')) THEN pg_catalog.to_char(r.birth_date, ''YYYYMMDD'') END'
		WHEN attr IN ('phones', 'emails') THEN pg_catalog.format(
			'NULLIF(pg_catalog.array_to_string(ARRAY(SELECT x FROM (SELECT %s AS x FROM pg_catalog.unnest(r.%I) WITH ORDINALITY u(v, o) ORDER BY o) y'
			' WHERE x <> '''' AND NOT EXISTS (SELECT 1 FROM cdp_internal.match_suspicious s WHERE s.attr = %L AND s.value = y.x)), %L), '''')',
			CASE attr WHEN 'phones' THEN 'pg_catalog.regexp_replace(v::text, ''\D'', '''', ''g'')' ELSE 'pg_catalog.lower(pg_catalog.btrim(v::text))' END,
			attr, attr, cdp_internal._match_constants() ->> 'value_sep')
		WHEN attr IN ('snils', 'oms') THEN pg_catalog.format('NULLIF(pg_catalog.regexp_replace(r.%I::text, ''\D'', '''', ''g''), '''')', attr)
		ELSE (SELECT CASE comparator
			WHEN 'date' THEN pg_catalog.format('cdp_internal._match_date(%s)', e)
			WHEN 'phone' THEN pg_catalog.format('NULLIF(pg_catalog.regexp_replace(%s, ''\D'', '''', ''g''), '''')', e)
			WHEN 'email' THEN pg_catalog.format('NULLIF(pg_catalog.lower(pg_catalog.btrim(%s)), '''')', e)
			WHEN 'id' THEN pg_catalog.format('NULLIF(pg_catalog.upper(pg_catalog.regexp_replace(%s, ''[\s-]'', '''', ''g'')), '''')', e)
			WHEN 'exact' THEN pg_catalog.format('NULLIF(pg_catalog.btrim(%s), '''')', e)
			ELSE pg_catalog.format('cdp_internal._match_norm(%s)', e) END
			FROM (SELECT pg_catalog.format('COALESCE(r.extra ->> %L, r.handles ->> %L)', attr, attr) AS e) x)
		END;
COMMENT ON FUNCTION cdp_internal._match_value_sql(text, text) IS 'internal: SQL expression reading and normalising an attr of cdp.record r';

-- _match_layout: the feature columns of a settings document: one per comparison, two for "name"
-- (value, key); returns per comparison its 1-based feature position (src/match_compile.c
-- MatchDocLayout, the layout the kernel program is compiled with).
CREATE FUNCTION cdp_internal._match_layout(s jsonb, OUT comp int, OUT attr text, OUT comparator text, OUT fpos int)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp_match_layout'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 24;
COMMENT ON FUNCTION cdp_internal._match_layout(jsonb) IS 'internal: feature column position of each comparison (C)';

-- _match_features: one record's features in one C call (src/match_features.c), the values the SQL
-- expressions below compute; _match_feature_program compiles a settings document for it.
-- susp_dates are the suspicious birth dates as YYYYMMDD (the feature's form; issue 12, session 39;
-- none when omitted).
CREATE FUNCTION cdp_internal._match_features(kinds int[], rules text[], ph_pos int[], ph_names text[],
		raw text[], phones text[], emails text[], susp_phones text[], susp_emails text[], susp_dates text[] DEFAULT NULL,
		OUT flags int, OUT feat text[], OUT bk text[])
	AS 'MODULE_PATHNAME', 'cdp_match_features'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_features(int[], text[], int[], text[], text[], text[], text[], text[], text[], text[]) IS
	'internal: the match_key features, blocking keys and placeholder flag of one record (C); see _match_feature_program';

-- _match_feature_program: the program of _match_features for settings s, compiled in C
-- (src/match_compile.c, MatchCompileFeatures, from the MATCH_FEAT_* and MATCH_TR_* codes of
-- src/match.h): per comparison a kind and the SQL expression of its raw value over record alias r;
-- per blocking rule "A" (any_order) or "N" then ";<0-based feature column>:<transform>" per item; the
-- placeholder name columns and names.  Every column NULL when s uses what only the SQL form computes
-- (a date comparator on a text attr, a "name" comparator outside the name attrs, a phonetic key) or
-- the database is not UTF-8.  STABLE: the answer depends on the database encoding.
CREATE FUNCTION cdp_internal._match_feature_program(s jsonb, OUT kinds int[], OUT raws text[], OUT rules text[],
		OUT ph_pos int[], OUT ph_names text[])
	AS 'MODULE_PATHNAME', 'cdp_match_feature_program'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_feature_program(jsonb) IS
	'internal: compiles settings for the C feature builder (_match_features), NULL kinds when only the SQL form applies (C)';

-- _match_feature_query: a query over from_sql (which must define alias r with cdp.record's
-- columns) returning (record_id, golden_id, flags, feat, bk) under settings s, and the record's
-- birth_date after them when with_date (the full re-key's writer, _match_write_keys, puts it in the
-- block rows: issue 12, session 30).  Each feature is computed once in an inner query; blocking
-- keys and flags are read from the features.
CREATE FUNCTION cdp_internal._match_feature_query(s jsonb, from_sql text, use_sql boolean DEFAULT false,
		with_date boolean DEFAULT false) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	feat text[] := '{}';
	bk text[] := '{}';
	l record;
	v text;
	i int;
	j int;
	item text;
	battr text;
	tr text;
	parts text[];
	e text;
	names text;
	pos_f int;
	pos_g int;
	pos_p int;
	flags text := '0';
	brules jsonb := cdp_internal._match_rules(s);
	fp record;
	c_form boolean := false;
	cols text;
	k jsonb := cdp_internal._match_constants();
BEGIN
	-- one C call per record when the settings compile for it (the SQL form below is the reference)
	IF NOT use_sql THEN
		fp := cdp_internal._match_feature_program(s);
		c_form := fp.kinds IS NOT NULL;
	END IF;
	IF c_form THEN
		cols := pg_catalog.array_to_string(fp.raws, ', ');
	ELSE
		FOR l IN SELECT * FROM cdp_internal._match_layout(s) LOOP
			v := cdp_internal._match_value_sql(l.attr, l.comparator);
			feat := feat || v;
			IF l.comparator = 'name' THEN
				-- the key of the raw value: name_base_key normalises by itself
				feat := feat || pg_catalog.replace(v, 'cdp_internal._match_norm(', 'cdp_internal._match_name_key(');
			END IF;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(brules) - 1 LOOP
			parts := '{}';
			pos_g := CASE WHEN brules -> i ->> 0 = 'any_order' THEN 1 ELSE 0 END;
			FOR j IN pos_g .. pg_catalog.jsonb_array_length(brules -> i) - 1 LOOP
				item := brules -> i ->> j;
				battr := cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1));
				tr := pg_catalog.split_part(item, '.', 2);
				SELECT CASE WHEN tr = 'key' THEN y.fpos + 1 ELSE y.fpos END INTO pos_f
				  FROM cdp_internal._match_layout(s) y WHERE y.attr = battr;
				e := pg_catalog.format('pg_catalog.split_part(q.feat[%s], %L, 1)', pos_f, k ->> 'value_sep');
				e := CASE tr
					WHEN 'year' THEN pg_catalog.format('pg_catalog.left(%s, 4)', e)
					WHEN 'month_day' THEN pg_catalog.format('pg_catalog.substr(%s, 5, 4)', e)
					WHEN 'initial' THEN pg_catalog.format('pg_catalog.left(%s, 1)', e)
					WHEN 'last7' THEN pg_catalog.format('pg_catalog.right(%s, 7)', e)
					WHEN 'prefix3' THEN pg_catalog.format('pg_catalog.left(%s, 3)', e)
					WHEN 'phonetic' THEN pg_catalog.format('@extschema@.phonetic_ru(%s)', e)
					ELSE e END;
				parts := parts || pg_catalog.format('NULLIF(%s, '''')', e);
			END LOOP;
			-- NULL when any part is missing: a rule never blocks on nothing; an "any_order" rule sorts its
			-- parts, so Иванов Пётр and Пётр Иванов (given and family name exchanged) share its key
			IF brules -> i ->> 0 = 'any_order' THEN
				bk := bk || pg_catalog.format('(%L || (SELECT pg_catalog.string_agg(x, ''|'' ORDER BY x COLLATE "C") FROM pg_catalog.unnest(ARRAY[%s]) x HAVING pg_catalog.count(x) = %s))',
					'r' || i || ':', pg_catalog.array_to_string(parts, ', '), pg_catalog.cardinality(parts));
			ELSE
				bk := bk || pg_catalog.format('(%L || %s)', 'r' || i || ':', pg_catalog.array_to_string(parts, ' || ''|'' || '));
			END IF;
		END LOOP;
		-- placeholder records: no name at all, or a name from placeholder_names
		SELECT y.fpos INTO pos_f FROM cdp_internal._match_layout(s) y WHERE y.attr = 'family_name' AND y.comparator = 'name';
		SELECT y.fpos INTO pos_g FROM cdp_internal._match_layout(s) y WHERE y.attr = 'given_name' AND y.comparator = 'name';
		SELECT y.fpos INTO pos_p FROM cdp_internal._match_layout(s) y WHERE y.attr = 'patronymic' AND y.comparator = 'name';
		IF pos_f IS NOT NULL OR pos_g IS NOT NULL THEN
			SELECT pg_catalog.string_agg(pg_catalog.quote_literal(cdp_internal._match_norm(n)), ', ') INTO names
			  FROM pg_catalog.jsonb_array_elements_text(s -> 'placeholder_names') n;
			names := pg_catalog.format('ARRAY[%s]::text[]', COALESCE(names, '''-'''));
			flags := pg_catalog.format('CASE WHEN %2$s IS NULL AND %3$s IS NULL THEN %1$s WHEN %4$s OR %5$s OR %6$s THEN %1$s ELSE 0 END',
				k ->> 'record_placeholder', COALESCE('q.feat[' || pos_f || ']', 'NULL'), COALESCE('q.feat[' || pos_g || ']', 'NULL'),
				COALESCE('q.feat[' || pos_f || '] = ANY (' || names || ')', 'false'),
				COALESCE('q.feat[' || pos_g || '] = ANY (' || names || ')', 'false'),
				COALESCE('q.feat[' || pos_p || '] = ANY (' || names || ')', 'false'));
		END IF;
		cols := pg_catalog.array_to_string(feat, ', ');
	END IF;
	-- name_roles: names read by what the words are (_match_name_roles), computed once per record,
	-- in either form
	IF COALESCE((s ->> 'name_roles')::boolean, false) THEN
		cols := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(cols,
			'r.family_name', 'nr.n[1]'), 'r.given_name', 'nr.n[2]'), 'r.patronymic', 'nr.n[3]');
		from_sql := pg_catalog.format('(SELECT r.* FROM %s) r CROSS JOIN LATERAL (SELECT cdp_internal._match_name_roles(r.family_name, r.given_name, r.patronymic) AS n OFFSET 0) nr', from_sql);
	END IF;
	IF c_form THEN
		RETURN pg_catalog.format('SELECT q.record_id, q.golden_id, (q.f).flags, (q.f).feat, (q.f).bk%s'
			' FROM (SELECT r.record_id, r.golden_id%s, cdp_internal._match_features(%L::int[], %L::text[], %L::int[], %L::text[],'
			' ARRAY[%s]::text[], r.phones::text[], r.emails::text[], (SELECT pg_catalog.array_agg(x.value) FROM cdp_internal.match_suspicious x WHERE x.attr = ''phones''),'
			' (SELECT pg_catalog.array_agg(x.value) FROM cdp_internal.match_suspicious x WHERE x.attr = ''emails''),'
			' (SELECT pg_catalog.array_agg(pg_catalog.replace(x.value, ''-'', '''')) FROM cdp_internal.match_suspicious x WHERE x.attr = ''birth_date'')) AS f'
			' FROM %s OFFSET 0) q',
			CASE WHEN with_date THEN ', q.birth_date' ELSE '' END, CASE WHEN with_date THEN ', r.birth_date' ELSE '' END,
			fp.kinds, fp.rules, fp.ph_pos, fp.ph_names, cols, from_sql);
	END IF;
	RETURN pg_catalog.format('SELECT q.record_id, q.golden_id, (%s)::int AS flags, q.feat, ARRAY[%s]::text[] AS bk%s'
		' FROM (SELECT r.record_id, r.golden_id%s, ARRAY[%s]::text[] AS feat FROM %s OFFSET 0) q',
		flags, pg_catalog.array_to_string(bk, ', '), CASE WHEN with_date THEN ', q.birth_date' ELSE '' END,
		CASE WHEN with_date THEN ', r.birth_date' ELSE '' END, cols, from_sql);
END $$;
COMMENT ON FUNCTION cdp_internal._match_feature_query(jsonb, text, boolean, boolean) IS
	'internal: query computing record_id, golden_id, flags, features and blocking keys (and with_date: birth_date) of the records of from_sql (alias r)';

CREATE FUNCTION cdp_internal._match_active(OUT version int, OUT settings jsonb, OUT params jsonb, OUT program float8[])
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	SELECT s.version, s.settings, s.params, s.program INTO version, settings, params, program
	  FROM cdp_internal.match_settings s WHERE s.active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no matching settings are active' USING ERRCODE = '55000',
			HINT = 'Call cdp.configure_matching(settings) first.';
	END IF;
END $$;
COMMENT ON FUNCTION cdp_internal._match_active() IS 'internal: the active settings version, document, trained parameters and compiled program';

-- _match_analyze_stale: gives the planner statistics for the tables a training or full run reads
-- when they have none or have changed by a fifth since (a run right after a bulk load must not
-- wait for autovacuum or the DBA); returns the tables analyzed
CREATE FUNCTION cdp_internal._match_analyze_stale() RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
	n int := 0;
BEGIN
	FOR t IN
		SELECT st.relid::regclass AS rel
		  FROM pg_catalog.pg_stat_user_tables st
		 WHERE st.relid IN ('@extschema@.record'::regclass, 'cdp_internal.match_queue'::regclass,
		                    'cdp_internal.match_review'::regclass, '@extschema@.pair_decision'::regclass)
		   AND st.n_live_tup + st.n_mod_since_analyze > 1000
		   AND ((st.last_analyze IS NULL AND st.last_autoanalyze IS NULL)
		        OR st.n_mod_since_analyze > 0.2 * GREATEST(st.n_live_tup, 1))
	LOOP
		EXECUTE pg_catalog.format('ANALYZE %s', t.rel);
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;
COMMENT ON FUNCTION cdp_internal._match_analyze_stale() IS
	'internal: ANALYZE of the tables matching reads (records, queue, review, decisions) when they have no statistics or changed by a fifth since';

-- _match_write_keys: the full re-key's writes in one pass over query (record_id, flags, feat, bk,
-- queued_at, birth_date): a match_key row of settings version `version` per row and a match_block
-- row per non-NULL key, put on pages a group at a time as COPY does (src/match_keys_write.c; issue
-- 12, session 30).  NULL, having written nothing, when a table cannot be written that way
-- (row-level security for the caller, rules, triggers, Citus): the caller runs its INSERTs.
CREATE FUNCTION cdp_internal._match_write_keys(query text, version int) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cdp_match_write_keys'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal._match_write_keys(text, int) IS
	'internal: writes the match_key and match_block rows of a full re-key from the rows of a feature query (C); NULL when the tables cannot be written from C';
REVOKE ALL ON FUNCTION cdp_internal._match_write_keys(text, int) FROM PUBLIC;

-- _match_write_keys_scan: the full re-key of _match_write_keys without its query (issue 12, session
-- 32): one scan of cdp.record in C computes each record's raw values, names (cdp.name_roles when
-- name_roles) and features (the function _match_features calls) for the feature program
-- (_match_feature_program's kinds, rules, ph_pos, ph_names; attrs: the comparisons' attrs in order)
-- and writes the same rows in the same order, queued_at from match_queue read under the same
-- snapshot.  NULL, having written nothing, when the tables cannot be read or written that way: the
-- caller runs the query.
CREATE FUNCTION cdp_internal._match_write_keys_scan(kinds int[], rules text[], ph_pos int[], ph_names text[],
		attrs text[], name_roles boolean, version int) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cdp_match_write_keys_scan'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal._match_write_keys_scan(int[], text[], int[], text[], text[], boolean, int) IS
	'internal: writes the match_key and match_block rows of a full re-key from one scan of the records (C); NULL when the tables cannot be read or written from C';
REVOKE ALL ON FUNCTION cdp_internal._match_write_keys_scan(int[], text[], int[], text[], text[], boolean, int) FROM PUBLIC;

-- _match_refresh_keys: (re)computes match_key for the given records (NULL: every record), each
-- row with the queued_at of the record's queue entry read in the same statement (the same snapshot
-- as the record), so that _match_refresh_queued can tell which queued records changed since.  One
-- INSERT text for both: all records go into an emptied table, some are upserted.
CREATE FUNCTION cdp_internal._match_refresh_keys(ids bigint[]) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
	n bigint;
	fp record;
	mwm text;
	ins text := 'INSERT INTO cdp_internal.match_key (record_id, version, flags, feat, bk, queued_at)'
		' SELECT f.record_id, %s, f.flags, f.feat, f.bk, q.queued_at FROM (%s) f LEFT JOIN cdp_internal.match_queue q ON q.record_id = f.record_id%s';
BEGIN
	IF ids IS NULL THEN
		-- every record: the indexes, the key table's primary key among them, are built after the
		-- load (one sorted build each, not an index entry a row at a time: at 1M records the key
		-- index's row-by-row upkeep cost about 2 s of a 39 s re-key; issue 12, session 29).  The
		-- tables are truncated in this transaction, so no other session reads them meanwhile.
		TRUNCATE cdp_internal.match_key, cdp_internal.match_block;
		ALTER TABLE cdp_internal.match_key DROP CONSTRAINT match_key_pkey;
		DROP INDEX IF EXISTS cdp_internal.match_block_bk;
		DROP INDEX IF EXISTS cdp_internal.match_block_record;
		-- Both tables in one pass from C (src/match_keys_write.c): the block rows with the record's
		-- birth date read with its features, not by a second pass over match_key joined with
		-- cdp.record (1M records: 7.4M block rows), every row put on pages a group at a time, as COPY
		-- does (issue 12, session 30).  The same rows in the same order as the two INSERTs after it,
		-- which run when the tables cannot be written from C (NULL).  When the settings compile for
		-- the C feature builder, one scan of the records in C computes the features without the
		-- feature query (its expressions, arrays, composite result and join with the queue were
		-- half of the re-key: issue 12, session 32); otherwise, or when that scan cannot run, the query.
		fp := cdp_internal._match_feature_program(a.settings);
		IF fp.kinds IS NOT NULL THEN
			n := cdp_internal._match_write_keys_scan(fp.kinds, fp.rules, fp.ph_pos, fp.ph_names,
				(SELECT pg_catalog.array_agg(y.attr ORDER BY y.comp) FROM cdp_internal._match_layout(a.settings) y),
				COALESCE((a.settings ->> 'name_roles')::boolean, false), a.version);
		END IF;
		IF n IS NULL THEN
			n := cdp_internal._match_write_keys(pg_catalog.format(
				'SELECT f.record_id, f.flags, f.feat, f.bk, q.queued_at, f.birth_date FROM (%s) f'
				' LEFT JOIN cdp_internal.match_queue q ON q.record_id = f.record_id',
				cdp_internal._match_feature_query(a.settings, '@extschema@.record r', false, true)), a.version);
		END IF;
		IF n IS NULL THEN
			EXECUTE pg_catalog.format(ins, a.version, cdp_internal._match_feature_query(a.settings, '@extschema@.record r'), '');
			GET DIAGNOSTICS n = ROW_COUNT;
			-- (with the record's birth date, read in this statement: a record changed since the keys
			-- were computed is queued, and find_patient reads the date of a queued one from the record)
			INSERT INTO cdp_internal.match_block (bk, record_id, birth_date)
			SELECT b, k.record_id, r.birth_date FROM cdp_internal.match_key k
			  JOIN @extschema@.record r ON r.record_id = k.record_id, pg_catalog.unnest(k.bk) b WHERE b IS NOT NULL;
		END IF;
		-- The three sorted builds with at most 64 MB of maintenance_work_mem (PostgreSQL's default;
		-- a smaller setting is kept): their tuple sorts compare keys that tie on their first 8
		-- bytes, so each comparison reads the tuples, and quicksorting runs of a few tens of MB
		-- that stay in the CPU's caches, then merging them, cost less than one sort of hundreds of
		-- MB: at 1M records (7.4M block rows) the block indexes took about 13 s of CPU at 64 MB
		-- against 22 s at 512 MB, serial or parallel, the same indexes (issue 12, session 38).
		mwm := pg_catalog.current_setting('maintenance_work_mem');
		IF pg_catalog.pg_size_bytes(mwm) > 64 * 1024 * 1024 THEN
			PERFORM pg_catalog.set_config('maintenance_work_mem', '64MB', true);
		END IF;
		ALTER TABLE cdp_internal.match_key ADD CONSTRAINT match_key_pkey PRIMARY KEY (record_id);
		CREATE INDEX match_block_bk ON cdp_internal.match_block (bk) INCLUDE (record_id, birth_date);
		CREATE INDEX match_block_record ON cdp_internal.match_block (record_id);
		PERFORM pg_catalog.set_config('maintenance_work_mem', mwm, true);
	ELSE
		-- Two sessions may re-key one record at once (match_record at two desks, or beside a run):
		-- the key row is upserted, so the second waits for the first and then updates its row
		-- (a plain insert failed with a duplicate key); the block rows are replaced after that, by
		-- statements that see the first session's rows.
		DELETE FROM cdp_internal.match_key WHERE record_id = ANY (ids);
		EXECUTE pg_catalog.format(ins, a.version,
			cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = ANY ($1)'),
			' ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, flags = excluded.flags, feat = excluded.feat, bk = excluded.bk,'
			' queued_at = excluded.queued_at') USING ids;
		GET DIAGNOSTICS n = ROW_COUNT;
		DELETE FROM cdp_internal.match_block WHERE record_id = ANY (ids);
		INSERT INTO cdp_internal.match_block (bk, record_id, birth_date)
		SELECT b, k.record_id, r.birth_date FROM cdp_internal.match_key k
		  JOIN @extschema@.record r ON r.record_id = k.record_id, pg_catalog.unnest(k.bk) b
		 WHERE k.record_id = ANY (ids) AND b IS NOT NULL;
	END IF;
	IF ids IS NULL OR n > 10000 THEN
		-- the lookups go through the indexes of match_block: give the planner fresh statistics
		ANALYZE cdp_internal.match_key;
		ANALYZE cdp_internal.match_block;
	END IF;
	RETURN n;
END $$;
COMMENT ON FUNCTION cdp_internal._match_refresh_keys(bigint[]) IS 'internal: recomputes the features and blocking keys of some records (NULL: all)';

-- _match_refresh_queued: brings match_key up to date before training or a full run reads all of it.
-- Every record is re-keyed (one set-based pass, indexes built after it) when something the keys
-- depend on changed (force: the settings version or the suspicious values, checked by the caller),
-- when some record has no key row or one of another version, or when a fifth of the records or more
-- changed; otherwise only the records that changed: the queue entries (ids, ats: the queue as the
-- caller read it) whose key row was computed under another queued_at (ingest re-queues a changed
-- record with a new one).  A queued record keyed since it was queued is not keyed again: after a
-- bulk load training keys every record, and the full run after it keys none (issue 12: 79 s of
-- 1M records' keys computed twice).  rekeyed: the records re-keyed; keys: the key rows after it,
-- which the callers count no more (a full re-key wrote that many rows into the emptied table it
-- holds locked, a run with nothing to re-key counted them in its join: issue 12, session 38).
CREATE FUNCTION cdp_internal._match_refresh_queued(ids bigint[], ats timestamptz[], force boolean,
		OUT rekeyed bigint, OUT keys bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
	stale bigint[];
	other boolean;
BEGIN
	-- a forced re-key needs nothing of the join below (after a bulk load, where the suspicious
	-- values are taken for the first time: a full join of a million queue entries, issue 12,
	-- session 29)
	IF force THEN
		rekeyed := cdp_internal._match_refresh_keys(NULL);
		keys := rekeyed;
		RETURN;
	END IF;
	-- one pass over match_key: its rows, whether some are of another version, and the queue
	-- entries whose key row is missing or was computed under another queued_at.  The entries are
	-- paired by two unnests in the select list (a ProjectSet, as ROWS FROM pairs them: the shorter
	-- array padded with NULLs), not by ROWS FROM, which stored both million-row results in
	-- tuplestores before the join read one row (2.9 s against 0.4 s at 1M; issue 12, session 38)
	SELECT pg_catalog.count(k.record_id), COALESCE(pg_catalog.bool_or(k.version <> a.version), false),
	       pg_catalog.array_agg(s.id ORDER BY s.id) FILTER (WHERE s.id IS NOT NULL AND (k.record_id IS NULL OR k.queued_at IS DISTINCT FROM s.at))
	  INTO keys, other, stale
	  FROM cdp_internal.match_key k
	  FULL JOIN (SELECT pg_catalog.unnest(ids) AS id, pg_catalog.unnest(ats) AS at) s ON s.id = k.record_id;
	IF other
	   OR keys <> (SELECT pg_catalog.count(*) FROM @extschema@.record)
	   OR COALESCE(pg_catalog.cardinality(stale), 0) > 0.2 * keys THEN
		rekeyed := cdp_internal._match_refresh_keys(NULL);
		keys := rekeyed;
		RETURN;
	END IF;
	IF stale IS NULL THEN
		rekeyed := 0;
		RETURN;
	END IF;
	rekeyed := cdp_internal._match_refresh_keys(stale);
	-- the upsert may add rows (a queued record whose key row was missing)
	SELECT pg_catalog.count(*) INTO keys FROM cdp_internal.match_key;
END $$;
COMMENT ON FUNCTION cdp_internal._match_refresh_queued(bigint[], timestamptz[], boolean) IS
	'internal: re-keys every record when the keys are out of date as a whole (force, another version, missing rows, a fifth changed), else only the queued records changed since their keys were computed; returns the records re-keyed and the key rows after it';
