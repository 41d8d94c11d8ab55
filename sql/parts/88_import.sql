/*
 * sql/parts/88_import.sql: bulk import of CSV files (issue 16): templates, a batch per file, a
 * staging table the client COPYs raw lines into, and a commit that reads them (src/imp_*.c),
 * validates every row with ingest's own functions and loads all or nothing, the valid rows
 * (quarantine) or every row (lenient).  doc/import.md.
 *
 * Validation is never re-implemented here: a chunk of rows goes to cdp.upsert_records as it is;
 * when ingest refuses it, ingest's lenient normaliser (cdp_internal.normalize_records) names the
 * bad rows and keys, and a row it does not name is tried alone, so a row is refused exactly when
 * cdp.upsert_record would refuse it.  Clinical events go one by one to cdp.upsert_clinical_event.
 *
 * Staging lines and rejects hold personal data: row-level security enabled and forced.  The API
 * functions run as the extension's owner and first check that the caller may write the batch's
 * kind (cdp_internal._import_require; doc/import.md "Privileges").
 *
 * This file: the tables, the reader's entry points, templates and header mapping, the role
 * check and cdp.import_begin.  The loaders of each kind are in 88_import_load.sql; the commit,
 * status, the one-call import_csv and the data-quality view in 88_import_run.sql (in that order).
 */

/* ---------------------------------------------------------------- tables */

CREATE TABLE cdp_internal.import_batch (
	batch_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source		text NOT NULL,
	kind		text NOT NULL
		CONSTRAINT import_batch_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'clinical_events', 'consents', 'partner_contacts', 'segment_list'])),
	options		jsonb NOT NULL DEFAULT '{}'::jsonb,
	status		text NOT NULL DEFAULT 'open'
		CONSTRAINT import_batch_status_check CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'committed', 'failed'])),
	mode		text,
	opened_by	text NOT NULL DEFAULT SESSION_USER,
	opened_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	finished_at	timestamptz,
	result		jsonb
);
COMMENT ON TABLE cdp_internal.import_batch IS
	'import batches: one per file, opened by cdp.import_begin, closed by cdp.import_commit (status, mode, counts in result)';
ALTER TABLE cdp_internal.import_batch ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.import_batch FORCE ROW LEVEL SECURITY;

/* In schema cdp, not cdp_internal: it is the DEFAULT a role's COPY evaluates with its own rights. */
CREATE FUNCTION @extschema@.import_current_batch() RETURNS bigint
	AS 'MODULE_PATHNAME', 'cdp_import_current_batch'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.import_current_batch() IS
	'the import batch cdp.import_begin opened in this session (GUC cdp.import_batch); raises 55000 when none is open';

CREATE TABLE @extschema@.import_staging (
	batch_id	bigint NOT NULL DEFAULT @extschema@.import_current_batch(),
	line_no		bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000),
	line		text
);
CREATE INDEX import_staging_batch_idx ON @extschema@.import_staging (batch_id, line_no);
COMMENT ON TABLE @extschema@.import_staging IS
	'raw lines of import files, one row per line, as COPY ... (line) FROM STDIN writes them under the open batch (RLS)';
ALTER TABLE @extschema@.import_staging ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.import_staging FORCE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.import_reject (
	batch_id	bigint NOT NULL,
	row_no		integer NOT NULL,
	line_no		integer,
	source_key	text,
	column_name	text,
	value		text,
	reason		text NOT NULL,
	attrs		jsonb
);
CREATE INDEX import_reject_batch_idx ON cdp_internal.import_reject (batch_id, row_no);
COMMENT ON TABLE cdp_internal.import_reject IS
	'rows of import batches that were not loaded: row, line, column, value, reason and the row as read (RLS)';
ALTER TABLE cdp_internal.import_reject ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.import_reject FORCE ROW LEVEL SECURITY;

/* ---------------------------------------------------------------- the reader (src/imp_sql.c) */

CREATE FUNCTION cdp_internal._import_sniff(lines text[], encoding text, delimiter text,
										  OUT encoding text, OUT delimiter text, OUT bom boolean,
										  OUT header text[], OUT consumed integer, OUT why text)
	AS 'MODULE_PATHNAME', 'cdp_import_sniff'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._import_sniff(text[], text, text) IS
	'the encoding, delimiter and header of an import file from its first lines (declared or detected); why when unreadable';

CREATE TYPE cdp_internal.import_parsed AS (
	consumed	integer,
	next_row	integer,
	rows		integer[],
	lines		integer[],
	keys		text[],
	attrs		jsonb[],
	bad_rows	integer[],
	bad_lines	integer[],
	bad_keys	text[],
	bad_cols	text[],
	bad_vals	text[],
	bad_why		text[],
	fatal		boolean
);
COMMENT ON TYPE cdp_internal.import_parsed IS
	'one chunk of an import file as read: lines used, the readable rows (row, line, source id, attrs) and the unreadable ones';

CREATE FUNCTION cdp_internal._import_parse(lines text[], final boolean, encoding text, delimiter text,
										  header text[], keys text[], key_col integer,
										  first_row integer, first_line integer)
	RETURNS cdp_internal.import_parsed
	AS 'MODULE_PATHNAME', 'cdp_import_parse'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._import_parse(text[], boolean, text, text, text[], text[], integer, integer, integer) IS
	'reads the records of a chunk of lines of an import file into source ids and attrs documents, naming unreadable rows';

CREATE FUNCTION cdp_internal._import_progress(status text) RETURNS void
	AS 'MODULE_PATHNAME', 'cdp_import_progress'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal._import_progress(text) IS
	'shows a running import commit''s counts in this backend''s pg_stat_activity.query (read by cdp.import_status)';

/* ---------------------------------------------------------------- templates and columns */

/* The import kinds, in the order the documentation lists them. */
CREATE FUNCTION cdp_internal._import_kinds() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN ARRAY['patients', 'clinical_events', 'consents', 'partner_contacts', 'segment_list'];
COMMENT ON FUNCTION cdp_internal._import_kinds() IS
	'the import kinds: patients, clinical_events, consents, partner_contacts, segment_list';

/* 22023 naming the kinds when kind is not one of them. */
CREATE FUNCTION cdp_internal._import_check_kind(kind text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IS NULL OR kind OPERATOR(pg_catalog.<>) ALL (cdp_internal._import_kinds()) THEN
		RAISE EXCEPTION 'unknown import kind: "%"', pg_catalog.left(kind, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use patients, clinical_events, consents, partner_contacts or segment_list.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_check_kind(text) IS
	'raises 22023 unless kind is an import kind (internal)';

/*
 * Who may import: the import functions run as the extension's owner (they read and write the
 * private schema, which no clinic role may use), so each checks its caller first.  A caller may
 * import a kind when it may call the function that writes that kind's rows: cdp.upsert_records
 * (patients, partner contacts), cdp.upsert_clinical_event (clinical events), cdp.set_consents
 * (consents), cdp.segment_list_set (segment lists).  The grant matrix decides those
 * (doc/security.md): cdp_registrar imports patients, partner contacts and consents, cdp_marketer
 * segment lists, cdp_admin every kind; a superuser and the extension's owner every kind.  The
 * caller is cdp_internal.acc_caller() (SET ROLE, else the login), not the definer.
 */
CREATE FUNCTION cdp_internal._import_require(kind text, action text) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_fn	pg_catalog.regprocedure := CASE kind
		WHEN 'patients' THEN '@extschema@.upsert_records(text,text[],jsonb[],boolean)'
		WHEN 'partner_contacts' THEN '@extschema@.upsert_records(text,text[],jsonb[],boolean)'
		WHEN 'clinical_events' THEN '@extschema@.upsert_clinical_event(text,text,text,jsonb)'
		WHEN 'consents' THEN '@extschema@.set_consents(bigint,text[],text[],boolean,timestamp with time zone,text,text)'
		WHEN 'segment_list' THEN '@extschema@.segment_list_set(bigint,text,bigint[],boolean)' END;
	v_who	text := cdp_internal.acc_caller();
BEGIN
	IF kind IS NULL THEN
		/* a batch seen only running in another session: its kind is unknown here, an admin may look */
		PERFORM cdp_internal.acc_require(ARRAY['cdp_admin'], action);
		RETURN;
	END IF;
	IF v_fn IS NULL OR NOT pg_catalog.has_function_privilege(v_who, v_fn, 'EXECUTE') THEN
		RAISE EXCEPTION 'permission denied for %', action
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" may not import %s: it may not execute %s, which writes them.',
											 v_who, COALESCE(kind, 'this kind'), COALESCE(v_fn::text, '-')),
				  HINT = 'An admin maps logins to roles with cdp.grant_role(login, role): cdp_registrar imports patients, partner contacts and consents, cdp_marketer segment lists, cdp_admin every kind.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_require(text, text) IS
	'raises 42501 unless the caller may execute the function that writes the rows of an import kind (internal)';

/* The columns of each kind: name, spellings accepted besides it, example value, what it is. */
CREATE FUNCTION cdp_internal._import_kind_columns(kind text)
	RETURNS TABLE (ord integer, name text, spellings text[], example text, required boolean)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c.ord::integer, c.name, c.spellings, c.example, c.required
	  FROM (VALUES
		('patients', 1, 'source_id', ARRAY['id', 'код', 'идентификатор'], 'P-1001', true),
		('patients', 2, 'family_name', ARRAY['last_name', 'surname', 'lastname', 'familyname', 'фамилия'], 'Иванова', false),
		('patients', 3, 'given_name', ARRAY['first_name', 'firstname', 'givenname', 'имя'], 'Мария', false),
		('patients', 4, 'patronymic', ARRAY['middle_name', 'middlename', 'отчество'], 'Петровна', false),
		('patients', 5, 'birth_date', ARRAY['dob', 'date_of_birth', 'birthday', 'birthdate', 'дата_рождения'], '14.03.1985', false),
		('patients', 6, 'sex', ARRAY['gender', 'пол'], 'Ж', false),
		('patients', 7, 'phone', ARRAY['mobile', 'tel', 'phones', 'mobile_phone', 'telephone', 'телефон'], '+7 916 123-45-67', false),
		('patients', 8, 'email', ARRAY['e_mail', 'e-mail', 'emails'], 'ivanova@example.ru', false),
		('patients', 9, 'snils', ARRAY['снилс'], '112-233-445 95', false),
		('patients', 10, 'oms', ARRAY['polis', 'oms_policy', 'полис'], '', false),
		('patients', 11, 'address', ARRAY['адрес'], 'ул. Ленина, д. 5, кв. 12', false),
		('patients', 12, 'city', ARRAY['town', 'город'], 'Москва', false),
		('patients', 13, 'vk', ARRAY['vkontakte'], '', false),
		('patients', 14, 'telegram', ARRAY['tg'], '@ivanova_m', false),
		('clinical_events', 1, 'source_id', ARRAY['id', 'код'], 'V-501', true),
		('clinical_events', 2, 'record_source_id', ARRAY['patient_source_id'], 'P-1001', true),
		('clinical_events', 3, 'kind', ARRAY['вид'], 'visit', true),
		('clinical_events', 4, 'at', ARRAY[]::text[], '2024-03-01T09:30:00+03:00', false),
		('clinical_events', 5, 'type', ARRAY[]::text[], 'first', false),
		('clinical_events', 6, 'status', ARRAY[]::text[], 'done', false),
		('clinical_events', 7, 'doctor', ARRAY[]::text[], 'Смирнов А.В.', false),
		('clinical_events', 8, 'specialty', ARRAY[]::text[], 'терапевт', false),
		('clinical_events', 9, 'code', ARRAY[]::text[], '', false),
		('clinical_events', 10, 'result', ARRAY[]::text[], '', false),
		('clinical_events', 11, 'unit', ARRAY[]::text[], '', false),
		('clinical_events', 12, 'reference_range', ARRAY[]::text[], '', false),
		('clinical_events', 13, 'ref_low', ARRAY[]::text[], '', false),
		('clinical_events', 14, 'ref_high', ARRAY[]::text[], '', false),
		('clinical_events', 15, 'taken_at', ARRAY[]::text[], '', false),
		('clinical_events', 16, 'number', ARRAY[]::text[], '', false),
		('clinical_events', 17, 'from', ARRAY[]::text[], '', false),
		('clinical_events', 18, 'to', ARRAY[]::text[], '', false),
		('clinical_events', 19, 'text', ARRAY[]::text[], '', false),
		('clinical_events', 20, 'due_date', ARRAY[]::text[], '', false),
		('clinical_events', 21, 'due_in', ARRAY[]::text[], '', false),
		('clinical_events', 22, 'note', ARRAY[]::text[], 'повторный приём через месяц', false),
		/* consents and segment lists name a patient by any of these (kind "ids") */
		('ids', 1, 'golden_id', ARRAY['patient_id', 'пациент', 'карточка'], '', false),
		('ids', 2, 'source', ARRAY['источник'], '', false),
		('ids', 3, 'source_id', ARRAY['id', 'код', 'идентификатор'], '', false),
		('ids', 4, 'snils', ARRAY['снилс'], '', false),
		('ids', 5, 'phone', ARRAY['mobile', 'tel', 'телефон'], '', false),
		('consents', 6, 'purpose', ARRAY['цель'], 'маркетинг', true),
		('consents', 7, 'channel', ARRAY['канал'], 'смс', true),
		('consents', 8, 'granted', ARRAY['consent', 'согласие'], 'да', true),
		('consents', 9, 'at', ARRAY['date', 'дата'], '01.03.2024', true),
		('consents', 10, 'evidence', ARRAY['основание', 'документ'], 'анкета при регистрации, лист 2', false),
		('consents', 11, 'address', ARRAY['адрес', 'контакт'], '', false)
	  ) AS t(kind, ord, name, spellings, example, required)
	  /* the kinds made of other kinds' columns, with examples of their own */
	  CROSS JOIN LATERAL (VALUES (t.kind),
			(CASE t.kind WHEN 'ids' THEN 'segment_list' END),
			(CASE WHEN t.kind OPERATOR(pg_catalog.=) 'patients' AND t.ord OPERATOR(pg_catalog.<=) 8 OR t.name OPERATOR(pg_catalog.=) 'city'
							  AND t.kind OPERATOR(pg_catalog.=) 'patients' THEN 'partner_contacts' END),
			(CASE t.kind WHEN 'ids' THEN 'consents' END)) AS k(kind)
	  LEFT JOIN (VALUES
		('consents', 'source_id', 'P-1001'), ('segment_list', 'phone', '+7 916 123-45-67'),
		('partner_contacts', 'source_id', 'FIT-0042'), ('partner_contacts', 'family_name', 'Соколова'),
		('partner_contacts', 'given_name', 'Анна'), ('partner_contacts', 'patronymic', 'Игоревна'),
		('partner_contacts', 'birth_date', '22.07.1990'), ('partner_contacts', 'sex', 'Ж'),
		('partner_contacts', 'phone', '8 (926) 700-11-22'), ('partner_contacts', 'email', 'a.sokolova@example.ru')
	  ) AS x(kind, name, example) ON x.kind OPERATOR(pg_catalog.=) k.kind AND x.name OPERATOR(pg_catalog.=) t.name
	  CROSS JOIN LATERAL (SELECT k.kind, CASE WHEN t.name OPERATOR(pg_catalog.=) 'city' AND k.kind OPERATOR(pg_catalog.=) 'partner_contacts'
											  THEN 9 ELSE t.ord END AS ord,
								 t.name, t.spellings, COALESCE(x.example, t.example) AS example, t.required) AS c
	 WHERE c.kind OPERATOR(pg_catalog.=) $1
	 ORDER BY c.ord
$$;
COMMENT ON FUNCTION cdp_internal._import_kind_columns(text) IS
	'the template columns of an import kind: name, other spellings, example value, required';

/* The example's OMS number is computed, so it always passes the type's checksum. */
CREATE FUNCTION @extschema@.import_template(kind text) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_head	text;
	v_ex	text;
BEGIN
	PERFORM cdp_internal._import_check_kind(kind);
	SELECT pg_catalog.string_agg(c.name, ';' ORDER BY c.ord),
		   pg_catalog.string_agg(CASE WHEN pg_catalog.strpos(c.example, ';') OPERATOR(pg_catalog.>) 0
									   OR pg_catalog.strpos(c.example, '"') OPERATOR(pg_catalog.>) 0
								  THEN '"' OPERATOR(pg_catalog.||) pg_catalog.replace(c.example, '"', '""') OPERATOR(pg_catalog.||) '"'
								  ELSE c.example END, ';' ORDER BY c.ord)
	  INTO v_head, v_ex
	  FROM cdp_internal._import_kind_columns(kind) c;
	RETURN v_head OPERATOR(pg_catalog.||) E'\n' OPERATOR(pg_catalog.||) v_ex OPERATOR(pg_catalog.||) E'\n';
END
$$;
COMMENT ON FUNCTION @extschema@.import_template(text) IS
	'the CSV header and an example row of an import kind (patients, clinical_events, consents, partner_contacts, segment_list), ";"-delimited, UTF-8';

/*
 * Maps a file's header to attrs keys.  A name is compared trimmed, lower-case, with spaces as
 * underscores.  For patients and partner contacts every column ingest knows is accepted under
 * every spelling ingest accepts (asked of cdp.normalize_attrs itself: a key it keeps in extra is
 * unknown), so the list of spellings is ingest's; for the other kinds the template's names.
 * Unknown columns are an error unless options.extra_columns (patients, partner contacts: kept in
 * the record's extra) or listed in options.ignore_columns.  Consents and segment lists have no
 * key column (key_col 0): their source_id is one of the ways to name a patient.
 */
CREATE FUNCTION cdp_internal._import_header(kind text, header text[], options jsonb,
										   OUT keys text[], OUT key_col integer, OUT bad_col text, OUT why text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_norm		text;
	v_key		text;
	v_ignore	text[];
	v_extra		boolean := COALESCE((options ->> 'extra_columns')::boolean, false);
	v_card		boolean := kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'partner_contacts']);
	v_keyed		boolean := kind OPERATOR(pg_catalog.<>) ALL (ARRAY['consents', 'segment_list']);
	v_seen		text[] := ARRAY[]::text[];
	v_field		text;
	v_fields	text[];
	v_probe		jsonb;
	i			integer;
BEGIN
	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.replace(pg_catalog.lower(pg_catalog.btrim(e)), ' ', '_')), ARRAY[]::text[])
	  INTO v_ignore FROM pg_catalog.jsonb_array_elements_text(COALESCE(options -> 'ignore_columns', '[]'::jsonb)) e;
	keys := ARRAY[]::text[];
	v_fields := ARRAY[]::text[];
	FOR i IN 1 .. pg_catalog.cardinality(header) LOOP
		v_norm := pg_catalog.replace(pg_catalog.lower(pg_catalog.btrim(COALESCE(header[i], ''))), ' ', '_');
		v_key := NULL;
		IF v_norm OPERATOR(pg_catalog.=) '' THEN
			bad_col := pg_catalog.format('column %s', i);
			why := pg_catalog.format('Column %s of the header has no name.', i);
			RETURN;
		END IF;
		IF v_norm OPERATOR(pg_catalog.=) ANY (v_seen) THEN
			bad_col := header[i];
			why := pg_catalog.format('Column "%s" appears twice in the header.', header[i]);
			RETURN;
		END IF;
		v_seen := v_seen OPERATOR(pg_catalog.||) v_norm;
		IF v_norm OPERATOR(pg_catalog.=) ANY (v_ignore) THEN
			keys := keys OPERATOR(pg_catalog.||) NULL::text;
			v_fields := v_fields OPERATOR(pg_catalog.||) NULL::text;
			CONTINUE;
		END IF;
		/* ingest's own key (cdp.upsert_records refuses it too) */
		IF v_norm OPERATOR(pg_catalog.=) '_invalid' THEN
			bad_col := header[i];
			why := pg_catalog.format('Column "%s" is reserved: ingest keeps there the values lenient mode sets aside. '
									 'Rename the column, or name it in options.ignore_columns.', header[i]);
			RETURN;
		END IF;
		SELECT c.name INTO v_key FROM cdp_internal._import_kind_columns(kind) c
		 WHERE v_norm OPERATOR(pg_catalog.=) c.name OR v_norm OPERATOR(pg_catalog.=) ANY (c.spellings);
		IF v_key OPERATOR(pg_catalog.=) 'source_id' AND v_keyed THEN
			IF key_col IS NOT NULL THEN
				bad_col := header[i];
				why := pg_catalog.format('Column "%s" is a second source id column.', header[i]);
				RETURN;
			END IF;
			key_col := i;
			keys := keys OPERATOR(pg_catalog.||) NULL::text;
			v_fields := v_fields OPERATOR(pg_catalog.||) NULL::text;
			CONTINUE;
		END IF;
		v_field := v_key;
		IF v_key IS NULL AND v_card THEN
			v_probe := @extschema@.normalize_attrs(pg_catalog.jsonb_build_object(v_norm, '0'), true);
			IF NOT COALESCE((v_probe -> 'extra') OPERATOR(pg_catalog.?) v_norm, false) THEN
				v_key := v_norm;		/* a spelling ingest knows */
				/* the field it fills: a handle by its network (tg and telegram are one), else the key ingest writes */
				v_field := COALESCE('handles.' OPERATOR(pg_catalog.||) (SELECT pg_catalog.min(h) FROM pg_catalog.jsonb_object_keys(v_probe -> 'handles') h),
									'ingest.' OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(k, ',' ORDER BY k)
																		 FROM pg_catalog.jsonb_object_keys(v_probe OPERATOR(pg_catalog.-) 'extra') k),
									v_norm);
			END IF;
		END IF;
		IF v_key IS NULL THEN
			IF v_extra AND v_card THEN
				v_key := v_norm;
				v_field := v_norm;
			ELSE
				bad_col := header[i];
				why := pg_catalog.format('Column "%s" is not a column of %s.', header[i], kind);
				RETURN;
			END IF;
		END IF;
		/* two spellings of one field: the later would silently replace the earlier in every row */
		IF v_field OPERATOR(pg_catalog.=) ANY (v_fields) THEN
			bad_col := header[i];
			why := pg_catalog.format('Columns "%s" and "%s" both give %s: a file gives each field once, or the later column would replace the earlier in every row. '
									 'Remove one of them, or name it in options.ignore_columns.',
									 header[pg_catalog.array_position(v_fields, v_field)], header[i],
									 pg_catalog.regexp_replace(v_field, '^(ingest|handles)\.', ''));
			RETURN;
		END IF;
		keys := keys OPERATOR(pg_catalog.||) v_key;
		v_fields := v_fields OPERATOR(pg_catalog.||) v_field;
	END LOOP;
	IF NOT v_keyed THEN
		key_col := 0;
		SELECT c.name INTO bad_col FROM cdp_internal._import_kind_columns(kind) c
		 WHERE c.required AND pg_catalog.array_position(keys, c.name) IS NULL ORDER BY c.ord LIMIT 1;
		IF bad_col IS NOT NULL THEN
			why := pg_catalog.format('The header has no %s column: every row of %s needs one.', bad_col, kind);
		ELSIF NOT keys OPERATOR(pg_catalog.&&) ARRAY['golden_id', 'source_id', 'snils', 'phone'] THEN
			bad_col := 'golden_id';
			why := 'The header names no patient identifier: give a golden_id, source_id, snils or phone column.';
		END IF;
	ELSIF key_col IS NULL THEN
		bad_col := 'source_id';
		why := 'The header has no source_id column: every row needs the id the source system gives the record.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_header(text, text[], jsonb) IS
	'maps an import file''s header to attrs keys and the source id column, or says which column is wrong';

CREATE FUNCTION cdp_internal._import_split(data bytea) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_import_split'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._import_split(bytea) IS
	'the lines of a file given as bytes, undecoded (what COPY with ENCODING ''SQL_ASCII'' writes to the staging table)';

/* ---------------------------------------------------------------- batches */

CREATE FUNCTION @extschema@.import_begin(source text, kind text, options jsonb DEFAULT '{}'::jsonb)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_opt		jsonb := COALESCE(options, '{}'::jsonb);
	v_bad		text;
	v_id		bigint;
	v_enc		text;
	v_delim		text;
	v_chunk		integer;
	v_seg		bigint;
	v_kind		text;
BEGIN
	IF source IS NULL OR kind IS NULL THEN
		RAISE EXCEPTION 'source and kind must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM cdp_internal._import_check_kind(kind);
	PERFORM cdp_internal._import_require(kind, 'cdp.import_begin');
	IF pg_catalog.jsonb_typeof(v_opt) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'import options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT k INTO v_bad FROM pg_catalog.jsonb_object_keys(v_opt) k
	 WHERE k OPERATOR(pg_catalog.<>) ALL (ARRAY['encoding', 'delimiter', 'ignore_columns', 'extra_columns', 'matching', 'chunk_rows',
												   'segment', 'list', 'replace'])
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown import option: "%"', pg_catalog.left(v_bad, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Options are encoding, delimiter, ignore_columns, extra_columns, matching, chunk_rows, and for segment_list segment, list and replace.';
	END IF;
	/* a segment list names its segment (which must exist) and the list it fills */
	IF (v_opt ? 'segment' OR v_opt ? 'list' OR v_opt ? 'replace') AND kind OPERATOR(pg_catalog.<>) 'segment_list' THEN
		RAISE EXCEPTION 'the options segment, list and replace are for segment_list imports' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF kind OPERATOR(pg_catalog.=) 'segment_list' THEN
		v_seg := CASE WHEN pg_catalog.jsonb_typeof(v_opt -> 'segment') OPERATOR(pg_catalog.=) 'number'
					  AND (v_opt ->> 'segment') OPERATOR(pg_catalog.~) '^[0-9]{1,18}$' THEN (v_opt ->> 'segment')::bigint END;
		IF v_seg IS NULL THEN
			RAISE EXCEPTION 'a segment_list import needs the segment it fills'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Pass options {"segment": <segment_id>} (a segment_id of cdp.segment), optionally "list": "include" or "exclude".';
		END IF;
		IF NOT EXISTS (SELECT 1 FROM @extschema@.segment g WHERE g.segment_id OPERATOR(pg_catalog.=) v_seg) THEN
			RAISE EXCEPTION 'segment "%" does not exist', v_seg USING ERRCODE = 'P0002',
				HINT = 'Pass a segment_id returned by cdp.create_segment.';
		END IF;
		IF COALESCE(v_opt ->> 'list', 'include') OPERATOR(pg_catalog.<>) ALL (ARRAY['include', 'exclude']) THEN
			RAISE EXCEPTION 'invalid segment list "%"', pg_catalog.left(v_opt ->> 'list', 100)
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Use include or exclude.';
		END IF;
		IF v_opt ? 'replace' AND pg_catalog.jsonb_typeof(v_opt -> 'replace') OPERATOR(pg_catalog.<>) 'boolean' THEN
			RAISE EXCEPTION 'invalid import options' USING ERRCODE = 'invalid_parameter_value',
				HINT = 'replace is true (the file becomes the whole list) or false (the file adds to it).';
		END IF;
		v_opt := v_opt OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('segment', v_seg, 'list', COALESCE(v_opt ->> 'list', 'include'),
			'replace', COALESCE((v_opt ->> 'replace')::boolean, false));
	END IF;
	v_enc := CASE pg_catalog.lower(COALESCE(v_opt ->> 'encoding', 'auto'))
		WHEN 'auto' THEN 'auto' WHEN 'utf8' THEN 'utf8' WHEN 'utf-8' THEN 'utf8'
		WHEN 'cp1251' THEN 'cp1251' WHEN 'windows-1251' THEN 'cp1251' WHEN 'win1251' THEN 'cp1251' END;
	IF v_enc IS NULL THEN
		RAISE EXCEPTION 'invalid import encoding: "%"', pg_catalog.left(v_opt ->> 'encoding', 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use auto, utf8 or cp1251 (windows-1251).';
	END IF;
	v_delim := CASE COALESCE(v_opt ->> 'delimiter', 'auto')
		WHEN 'auto' THEN 'auto' WHEN ';' THEN ';' WHEN ',' THEN ',' WHEN E'\t' THEN E'\t' WHEN 'tab' THEN E'\t'
		WHEN '|' THEN '|' END;
	IF v_delim IS NULL THEN
		RAISE EXCEPTION 'invalid import delimiter: "%"', pg_catalog.left(v_opt ->> 'delimiter', 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use auto, ";", ",", "|" or tab.';
	END IF;
	IF COALESCE(v_opt ->> 'matching', 'later') OPERATOR(pg_catalog.<>) ALL (ARRAY['later', 'now']) THEN
		RAISE EXCEPTION 'invalid import matching: "%"', pg_catalog.left(v_opt ->> 'matching', 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use later (cdp.run_maintenance matches the new records) or now (cdp.run_matching after the commit).';
	END IF;
	IF v_opt ? 'ignore_columns' AND pg_catalog.jsonb_typeof(v_opt -> 'ignore_columns') OPERATOR(pg_catalog.<>) 'array'
	   OR v_opt ? 'extra_columns' AND pg_catalog.jsonb_typeof(v_opt -> 'extra_columns') OPERATOR(pg_catalog.<>) 'boolean' THEN
		RAISE EXCEPTION 'invalid import options' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'ignore_columns is an array of column names, extra_columns true or false.';
	END IF;
	v_chunk := CASE WHEN pg_catalog.jsonb_typeof(v_opt -> 'chunk_rows') OPERATOR(pg_catalog.=) 'number'
				   THEN (v_opt ->> 'chunk_rows')::numeric::integer END;
	IF v_opt ? 'chunk_rows' AND (v_chunk IS NULL OR v_chunk OPERATOR(pg_catalog.<) 1 OR v_chunk OPERATOR(pg_catalog.>) 100000) THEN
		RAISE EXCEPTION 'invalid import chunk_rows: %', pg_catalog.left(v_opt ->> 'chunk_rows', 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'chunk_rows is an integer from 1 to 100000 (default 10000).';
	END IF;

	/*
	 * An unknown or inactive source is refused with ingest's own error: upsert_records checks
	 * the source before anything else, so an empty batch raises it and writes nothing.
	 */
	IF NOT EXISTS (SELECT 1 FROM @extschema@.source s
				    WHERE s.name OPERATOR(pg_catalog.=) import_begin.source AND s.active) THEN
		PERFORM 1 FROM @extschema@.upsert_records(source, ARRAY[]::text[], ARRAY[]::jsonb[]);
	END IF;
	/* partner contacts go to a partner source only: its kind is what keeps them out of marketing */
	SELECT s.kind INTO v_kind FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) import_begin.source;
	IF kind OPERATOR(pg_catalog.=) 'partner_contacts' AND v_kind OPERATOR(pg_catalog.<>) 'partner' THEN
		RAISE EXCEPTION 'source "%" is not a partner source', source
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Partner contacts go to a source of kind partner; "%s" is %s.', source, v_kind),
				  HINT = pg_catalog.format('Register the partner''s base: SELECT cdp.register_source(''%s'', ''partner'', 30).', source);
	END IF;

	/* opened by the caller (SET ROLE, else the login), not by the owner this function runs as */
	INSERT INTO cdp_internal.import_batch (source, kind, opened_by, options)
	VALUES (source, kind, cdp_internal.acc_caller(), v_opt || pg_catalog.jsonb_build_object('encoding', v_enc, 'delimiter', v_delim,
		'matching', COALESCE(v_opt ->> 'matching', 'later'), 'chunk_rows', COALESCE(v_chunk, 10000)))
	RETURNING batch_id INTO v_id;
	PERFORM pg_catalog.set_config('cdp.import_batch', v_id::text, false);
	RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.import_begin(text, text, jsonb) IS
	'opens an import batch of a source and kind (patients, clinical_events, consents, partner_contacts, segment_list); COPY the file into cdp.import_staging (line) next, in the same session';
