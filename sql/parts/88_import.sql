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
 */
CREATE FUNCTION cdp_internal._import_load_patients(batch bigint, source text, lenient boolean, try_whole boolean,
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
	v_src		@extschema@.source;
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
COMMENT ON FUNCTION cdp_internal._import_load_patients(bigint, text, boolean, boolean, integer[], integer[], text[], jsonb[], text[], text[]) IS
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
		 * the source ids seen so far: a temporary table, so memory stays flat in the file's size;
		 * compared bytewise (COLLATE "C": the same equality as the database's deterministic
		 * collation, without strcoll in every comparison of its index)
		 */
		IF pg_catalog.to_regclass('pg_temp.cdp_import_seen') IS NULL THEN
			CREATE TEMP TABLE cdp_import_seen (source_key text COLLATE "C" PRIMARY KEY, row_no integer) ON COMMIT DROP;
		ELSE
			TRUNCATE pg_temp.cdp_import_seen;
		END IF;

		BEGIN
			LOOP
				SELECT pg_catalog.array_agg(s.line ORDER BY s.line_no), pg_catalog.array_agg(s.line_no ORDER BY s.line_no)
				  INTO v_lines, v_nos
				  FROM (SELECT s.line, s.line_no FROM @extschema@.import_staging s
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

				/*
				 * a source id seen on an earlier row of the file: the later rows are refused.  The
				 * chunk's ids go in in id order (then row order, so the earlier of two equal ids
				 * wins, as in row order): one sweep over the index's leaves instead of one random
				 * leaf a row, which at 1M rows (an index of about 40 MB against 8 MB of temp_buffers)
				 * read and wrote a temporary page for nearly every row (session 24)
				 */
				v_dups := NULL;
				IF v_keycol OPERATOR(pg_catalog.>) 0 THEN
				WITH ins AS (
					INSERT INTO pg_temp.cdp_import_seen (source_key, row_no)
					SELECT u.k, u.r FROM unnest(v_p.keys, v_p.rows) AS u(k, r) ORDER BY u.k COLLATE "C", u.r
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
