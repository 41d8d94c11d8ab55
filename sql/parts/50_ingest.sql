/*
 * sql/parts/50_ingest.sql: sources, source records, the append-only event log, decisions made by
 * people about record pairs, and the queue of records matching has not seen yet.
 *
 * Every write here appends to cdp.event in the same transaction, so the log stays the truth and the
 * tables stay projections of it.  Personal data (record, event) is under row-level security: with no
 * policy yet, only the owner (the admin who created the extension) and BYPASSRLS roles see rows; the
 * access family adds per-role policies.
 */

/* ---------------------------------------------------------------- sequences */

CREATE SEQUENCE @extschema@.golden_id_seq AS bigint;
COMMENT ON SEQUENCE @extschema@.golden_id_seq IS
	'golden (person) ids; never assumed gap-free: a conflicting upsert may burn a value';

/* ---------------------------------------------------------------- sources */

CREATE TABLE @extschema@.source (
	source_id	integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE
		CONSTRAINT source_name_format CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
	kind		text NOT NULL
		CONSTRAINT source_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['internal', 'partner'])),
	trust		smallint NOT NULL
		CONSTRAINT source_trust_range CHECK (trust OPERATOR(pg_catalog.>=) 0 AND trust OPERATOR(pg_catalog.<=) 100),
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.source IS
	'source systems that send patient records (reception, lab, ...); trust 0-100 feeds survivorship';

/* ---------------------------------------------------------------- event log */

CREATE TABLE @extschema@.event (
	event_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	actor		text NOT NULL DEFAULT SESSION_USER,
	kind		text NOT NULL
		CONSTRAINT event_kind_format CHECK (kind OPERATOR(pg_catalog.~) '^[a-z_]+\.[a-z_]+$'),
	subject		bigint,
	golden_id	bigint,
	payload		jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX event_subject_idx ON @extschema@.event (subject, event_id);
CREATE INDEX event_golden_idx ON @extschema@.event (golden_id, event_id);
COMMENT ON TABLE @extschema@.event IS
	'append-only log of every change (kind family.verb); projections are rebuilt from it';
ALTER TABLE @extschema@.event ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION cdp_internal.event_refuse_change() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'cdp.event is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s on cdp.event was refused.', TG_OP),
			  HINT = 'Record a correction as a new event instead.';
END
$$;
COMMENT ON FUNCTION cdp_internal.event_refuse_change() IS
	'trigger: refuses UPDATE, DELETE and TRUNCATE on cdp.event for every role';
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON @extschema@.event
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.event_refuse_change();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON @extschema@.event
	FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.event_refuse_change();
/*
 * ALWAYS: an ordinary trigger does not fire in a session with session_replication_role = replica
 * (a superuser's setting, which PostgreSQL 15 lets be granted), which would let the log be
 * rewritten without a trace.  test/t/053_replica_triggers.pl.
 */
ALTER TABLE @extschema@.event ENABLE ALWAYS TRIGGER event_append_only;
ALTER TABLE @extschema@.event ENABLE ALWAYS TRIGGER event_no_truncate;

CREATE FUNCTION cdp_internal.append_event(kind text, subject bigint, golden_id bigint, payload jsonb)
	RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
	VALUES ($1, $2, $3, COALESCE($4, '{}'::jsonb))
	RETURNING event_id
$$;
COMMENT ON FUNCTION cdp_internal.append_event(text, bigint, bigint, jsonb) IS
	'appends one event to cdp.event and returns its id (for cdp families; not for applications)';
REVOKE ALL ON FUNCTION cdp_internal.append_event(text, bigint, bigint, jsonb) FROM PUBLIC;

/* ---------------------------------------------------------------- records */

CREATE TABLE @extschema@.record (
	record_id	bigint GENERATED ALWAYS AS IDENTITY,
	source_id	integer NOT NULL REFERENCES @extschema@.source (source_id),
	source_key	text NOT NULL,
	golden_id	bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.golden_id_seq'::pg_catalog.regclass),
	raw			jsonb NOT NULL,
	family_name	text,
	given_name	text,
	patronymic	text,
	birth_date	date,
	sex			text CONSTRAINT record_sex_check CHECK (sex OPERATOR(pg_catalog.=) ANY (ARRAY['M', 'F'])),
	phones		@extschema@.phone[],
	emails		@extschema@.email[],
	snils		@extschema@.snils,
	oms			@extschema@.oms,
	address		text,
	city		text,
	handles		jsonb,
	extra		jsonb,
	attrs_hash	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	version		integer NOT NULL DEFAULT 1,
	/*
	 * The primary key carries what find_patient reads of a candidate by record id (its birth date,
	 * golden id and names, by an index-only scan: sql/parts/68_match_find.sql).  Until session 31
	 * a second index, record_find_by_id, had the same key with these columns: one B-tree entry a
	 * record instead of two (the largest index ingest wrote per record, issue 16).  Ingest caps a
	 * name at 200 bytes (600 for a full name split into parts), far under the index row limit.
	 */
	CONSTRAINT record_pkey PRIMARY KEY (record_id) INCLUDE (birth_date, golden_id, family_name, given_name, patronymic),
	CONSTRAINT record_source_key_unique UNIQUE (source_id, source_key)
);
/*
 * The records of a person by golden id; the record id rides along (INCLUDE, session 27, issue 14)
 * so that "the record ids of these persons" is an index-only scan (the send list's consent
 * statement of each message).  Same entries as a plain index, 8 bytes wider.
 */
CREATE INDEX record_golden_idx ON @extschema@.record (golden_id) INCLUDE (record_id);
COMMENT ON TABLE @extschema@.record IS
	'source records: raw attrs as received plus typed, normalised columns; golden_id = the person';
ALTER TABLE @extschema@.record ENABLE ROW LEVEL SECURITY;

/* ---------------------------------------------------------------- decisions and queue */

CREATE TABLE @extschema@.pair_decision (
	record_a	bigint NOT NULL REFERENCES @extschema@.record (record_id),
	record_b	bigint NOT NULL REFERENCES @extschema@.record (record_id),
	decision	text NOT NULL
		CONSTRAINT pair_decision_check CHECK (decision OPERATOR(pg_catalog.=) ANY (ARRAY['match', 'no_match'])),
	actor		text NOT NULL DEFAULT SESSION_USER,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	note		text,
	event_id	bigint NOT NULL,
	PRIMARY KEY (record_a, record_b),
	CONSTRAINT pair_decision_order CHECK (record_a OPERATOR(pg_catalog.<) record_b)
);
CREATE INDEX pair_decision_b_idx ON @extschema@.pair_decision (record_b);
COMMENT ON TABLE @extschema@.pair_decision IS
	'current decision of a person about a record pair (match / no_match); history is in cdp.event';

CREATE TABLE cdp_internal.match_queue (
	record_id	bigint PRIMARY KEY,	/* no foreign key: a per-row check would double the queue's cost */
	queued_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cdp_internal.match_queue IS
	'records created or changed since matching last processed them';

/* ---------------------------------------------------------------- functions */

CREATE FUNCTION @extschema@.register_source(name text, kind text DEFAULT 'internal', trust integer DEFAULT 50)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_id		integer;
	v_old		@extschema@.source;
BEGIN
	IF name IS NULL OR kind IS NULL OR trust IS NULL THEN
		RAISE EXCEPTION 'source name, kind and trust must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid source name: "%"', pg_catalog.left(name, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A source name is 1 to 63 characters: a lower-case Latin letter, then letters, digits or underscores.',
				  HINT = 'For example: reception, lab_invitro.';
	END IF;
	IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['internal', 'partner']) THEN
		RAISE EXCEPTION 'invalid source kind: "%"', pg_catalog.left(kind, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use internal or partner.';
	END IF;
	IF trust OPERATOR(pg_catalog.<) 0 OR trust OPERATOR(pg_catalog.>) 100 THEN
		RAISE EXCEPTION 'source trust out of range: %', trust
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Trust is an integer from 0 (least) to 100 (most trusted).';
	END IF;

	SELECT s.* INTO v_old FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) register_source.name FOR UPDATE;
	IF FOUND THEN
		IF v_old.kind OPERATOR(pg_catalog.=) register_source.kind AND v_old.trust OPERATOR(pg_catalog.=) register_source.trust
		   AND v_old.active THEN
			RETURN v_old.source_id;
		END IF;
		UPDATE @extschema@.source s SET kind = register_source.kind, trust = register_source.trust, active = true
		 WHERE s.source_id OPERATOR(pg_catalog.=) v_old.source_id;
		PERFORM cdp_internal.append_event('source.updated', v_old.source_id, NULL,
			pg_catalog.jsonb_build_object('name', name, 'kind', kind, 'trust', trust,
										  'old', pg_catalog.jsonb_build_object('kind', v_old.kind, 'trust', v_old.trust, 'active', v_old.active)));
		RETURN v_old.source_id;
	END IF;

	INSERT INTO @extschema@.source (name, kind, trust) VALUES (name, kind, trust)
	ON CONFLICT ON CONSTRAINT source_name_key DO NOTHING
	RETURNING source_id INTO v_id;
	IF v_id IS NULL THEN
		/* a concurrent session registered it first */
		RETURN @extschema@.register_source(name, kind, trust);
	END IF;
	PERFORM cdp_internal.append_event('source.registered', v_id, NULL,
		pg_catalog.jsonb_build_object('name', name, 'kind', kind, 'trust', trust));
	RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.register_source(text, text, integer) IS
	'registers a source system (or updates its kind and trust); idempotent; returns its id';
REVOKE ALL ON FUNCTION @extschema@.register_source(text, text, integer) FROM PUBLIC;

/*
 * The normaliser: one C function turns an attrs document into the typed, normalised record
 * (src/ingest_attrs.c).  It raises with the offending key (and the record's label) named, or with
 * lenient = true moves invalid values into extra._invalid.
 */
CREATE FUNCTION @extschema@.normalize_attrs(attrs jsonb, lenient boolean DEFAULT false, label text DEFAULT NULL)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_normalize_attrs'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_attrs(jsonb, boolean, text) IS
	'validates an attrs document and returns its normalised form (keys of cdp.record); raises naming the bad key';

/* One row of a batch as cdp.normalize_records returns it: the input, its hash and its typed columns. */
CREATE TYPE cdp_internal.ingest_row AS (
	ord			integer,
	source_key	text,
	attrs_hash	text,
	raw			jsonb,
	norm		jsonb,
	family_name	text,
	given_name	text,
	patronymic	text,
	birth_date	date,
	sex			text,
	phones		@extschema@.phone[],
	emails		@extschema@.email[],
	snils		@extschema@.snils,
	oms			@extschema@.oms,
	address		text,
	city		text,
	handles		jsonb,
	extra		jsonb
);
COMMENT ON TYPE cdp_internal.ingest_row IS
	'one new or changed row of an ingest batch: position, source_id, md5 of attrs, raw and normalised attrs, typed columns';

/*
 * The batch normaliser behind upsert_records (src/ingest_attrs.c): hashes every attrs document
 * (md5 of its canonical text), skips the rows whose hash equals the stored one, normalises the
 * others and returns them with their typed columns.  Errors name the row's source_id.
 */
CREATE FUNCTION cdp_internal.normalize_records(source_ids text[], attrs jsonb[], old_hashes text[], lenient boolean DEFAULT false)
	RETURNS cdp_internal.ingest_row[]
	AS 'MODULE_PATHNAME', 'cdp_normalize_records'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.normalize_records(text[], jsonb[], text[], boolean) IS
	'normalises the new or changed rows of an ingest batch (internal to upsert_records); raises naming the row and key';

/*
 * The payload of a record.created / record.updated event (src/ingest_attrs.c), built in one pass:
 * the same document as jsonb_build_object('source', source, 'source_id', source_id, 'version',
 * version, 'raw', raw, 'record', norm || jsonb_build_object('created_at', created_at,
 * 'updated_at', updated_at)).  STABLE: timestamps are written in the session's time zone.
 */
CREATE FUNCTION cdp_internal.record_event_payload(source text, source_id text, version integer, raw jsonb, norm jsonb,
												 created_at timestamptz, updated_at timestamptz)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_record_event_payload'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.record_event_payload(text, text, integer, jsonb, jsonb, timestamptz, timestamptz) IS
	'the payload of a record.created / record.updated event (internal to upsert_records)';

/*
 * The fast path of a batch of new records (doc/ingest.md, "The fast path for new records"): whether
 * this session may take it.  It writes what the general path writes for a record new to its
 * source, with plain INSERTs instead of INSERT ... ON CONFLICT and no row read back, so it is only
 * taken where nothing but that could differ: cdp.ingest_fast_path is on, no table it writes has
 * row-level security active for the current role (the general path's RETURNING checks SELECT
 * policies), and the role holds every table privilege the general path needs (its ON CONFLICT DO
 * UPDATE and RETURNING need UPDATE and SELECT even when no row conflicts), so the fast path
 * refuses nobody the general path accepts and accepts nobody it refuses.
 */
CREATE FUNCTION cdp_internal.ingest_fast_path_ok() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(pg_catalog.current_setting('cdp.ingest_fast_path', true), 'on') OPERATOR(pg_catalog.<>) 'off'
	   AND NOT EXISTS (
		SELECT 1
		  FROM (VALUES ('@extschema@.record', ARRAY['INSERT', 'SELECT', 'UPDATE']),
					   ('@extschema@.event', ARRAY['INSERT', 'SELECT']),
					   ('cdp_internal.match_queue', ARRAY['INSERT', 'SELECT', 'UPDATE']),
					   ('@extschema@.patient', ARRAY['INSERT', 'SELECT']),
					   ('@extschema@.patient_member', ARRAY['INSERT', 'SELECT'])) AS t(tbl, privs)
		 CROSS JOIN LATERAL pg_catalog.unnest(t.privs) AS p(priv)
		 WHERE pg_catalog.row_security_active(t.tbl) OR NOT pg_catalog.has_table_privilege(t.tbl, p.priv))
$$;
COMMENT ON FUNCTION cdp_internal.ingest_fast_path_ok() IS
	'whether this session may write a batch of new records by the fast path (setting on, no row-level security, the general path''s privileges)';

/*
 * The fast path's writes in bulk (src/ingest_write.c): the rows of cdp_internal.ingest_insert_new
 * written the way COPY FROM writes a table (rows built in C, heap tuples put on pages a group at a
 * time, index entries per group), with the same ids, orders, defaults and constraint checks as its
 * SQL statement.  NULL, having written nothing, where that statement must run instead: an insert
 * trigger on one of the five tables other than the foreign key check of cdp.record.source_id, a
 * rewrite rule or a stored generated column on one of them, or row-level security active for one.
 */
CREATE FUNCTION cdp_internal.ingest_write_new(src_id integer, src_name text, new_rows cdp_internal.ingest_row[],
											  skip_invalid boolean, rules jsonb, rules_version integer)
	RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'cdp_ingest_write_new'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.ingest_write_new(integer, text, cdp_internal.ingest_row[], boolean, jsonb, integer) IS
	'the fast path''s writes in bulk (internal to ingest_insert_new): records, events, queue, profiles, membership of new persons';

/*
 * The fast path from the documents to the pages in one call (src/ingest_write.c, session 29): each
 * row normalised as cdp_internal.normalize_records does it and written as ingest_write_new writes
 * it, without the array of cdp_internal.ingest_row between the two.  check_keys: first the guard
 * of cdp_internal.ingest_keys_new; optimistic (session 34, not with check_keys): only the guard's
 * checks of well-formed ids, then the unique index of cdp.record finds a known id (or one another
 * transaction is writing) as the records' entries go in, and the call raises CDP17, which the
 * caller's subtransaction undoes (cdp.import_commit: one descent of that index a row instead of
 * two); skip_invalid: rows with values set aside (extra._invalid) are not written, their positions
 * and _invalid objects come back in bad_ord and bad_invalid.  All three NULL, having written
 * nothing, where the guard fails or the writer declines.
 */
CREATE FUNCTION cdp_internal.ingest_write_docs(src_id integer, src_name text, source_ids text[], attrs jsonb[],
											   lenient boolean, skip_invalid boolean, check_keys boolean,
											   rules jsonb, rules_version integer, optimistic boolean DEFAULT false,
											   OUT ids bigint[], OUT bad_ord integer[], OUT bad_invalid jsonb[])
	AS 'MODULE_PATHNAME', 'cdp_ingest_write_docs'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.ingest_write_docs(integer, text, text[], jsonb[], boolean, boolean, boolean, jsonb, integer, boolean) IS
	'the fast path from documents to pages: normalises a batch of new records and writes them in bulk (internal to upsert_records and import_commit)';

/*
 * The fast path's guard on a batch's source ids (src/ingest_write.c): true when every id is not
 * null, not blank, at most 200 bytes, and no record of the source has it, each looked up by
 * itself in the unique index of cdp.record (source_id, source_key), from C (session 24: the
 * import's check of a chunk, formerly two NOT EXISTS over unnest with a subplan per id).
 */
CREATE FUNCTION cdp_internal.ingest_keys_new(src_id integer, keys text[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_ingest_keys_new'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.ingest_keys_new(integer, text[]) IS
	'whether every source id of a batch is well formed and unknown to the source, by index probes (internal to import_commit)';

/*
 * The fast path's writes: every row of new_rows (cdp_internal.normalize_records' output, strict or
 * without _invalid, of source ids no record of the source has) becomes a new record of a new
 * person, with its record.created event, its match queue entry, its singleton profile and its
 * membership, in one statement: the general path's statement of upsert_records for rows that all
 * go the insert way, written as plain INSERTs in the same orders (records in source_id order, so
 * concurrent batches of the same new ids still wait for each other instead of deadlocking) and
 * with the record's timestamps taken once so the event needs no join back to the written rows.
 * With skip_invalid, the rows whose extra has _invalid (a lenient normalisation's refusals, which
 * the import has quarantined) are left out.  A source id another session wrote meanwhile raises unique_violation: the caller runs the
 * general path instead (in a subtransaction, so nothing of this attempt stays).  Returns the
 * record ids in the order of the rows written.  The rows are written in bulk from C by
 * cdp_internal.ingest_write_new (session 23); the statement below runs where that declines.
 */
CREATE FUNCTION cdp_internal.ingest_insert_new(src_id integer, src_name text, new_rows cdp_internal.ingest_row[],
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
	SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM @extschema@.survivorship_rules_as_of('infinity') rl;
	/* in bulk from C (cdp_internal.ingest_write_new); the statement below where that cannot */
	v_ids := cdp_internal.ingest_write_new(src_id, src_name, new_rows, skip_invalid, v_rules, v_rules_version);
	IF v_ids IS NOT NULL THEN
		RETURN v_ids;
	END IF;
	WITH norm AS MATERIALIZED (
		SELECT n.*,
			   pg_catalog.nextval('@extschema@.record_record_id_seq'::pg_catalog.regclass) AS new_rid,
			   pg_catalog.nextval('@extschema@.golden_id_seq'::pg_catalog.regclass) AS new_gid,
			   pg_catalog.clock_timestamp() AS ts
		  FROM pg_catalog.unnest(new_rows) n
		 WHERE NOT skip_invalid OR n.extra IS NULL OR NOT n.extra OPERATOR(pg_catalog.?) '_invalid'
	), written AS (
		INSERT INTO @extschema@.record
			(record_id, golden_id, source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones,
			 emails, snils, oms, address, city, handles, extra, attrs_hash, created_at, updated_at)
		OVERRIDING SYSTEM VALUE
		SELECT norm.new_rid, norm.new_gid, src_id, norm.source_key, norm.raw, norm.family_name, norm.given_name,
			   norm.patronymic, norm.birth_date, norm.sex, norm.phones, norm.emails, norm.snils, norm.oms, norm.address,
			   norm.city, norm.handles, norm.extra, norm.attrs_hash, norm.ts, norm.ts
		  FROM norm
		 ORDER BY norm.source_key COLLATE "C"
	), logged AS (
		INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
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
		INSERT INTO @extschema@.patient
		SELECT (pr.p).*
		  FROM (SELECT cdp_internal.golden_new_person_row(norm.new_gid, v_rules, v_rules_version, norm.new_rid,
						   norm.family_name, norm.given_name, norm.patronymic, norm.birth_date, norm.sex, norm.phones,
						   norm.emails, norm.snils, norm.oms, norm.address, norm.city, norm.handles, norm.extra,
						   norm.ts, norm.ts) AS p
				  FROM norm
				 ORDER BY norm.new_gid
				OFFSET 0) pr
	), members AS (
		INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at)
		SELECT l.subject, l.golden_id, l.event_id, l.at FROM logged l
	)
	SELECT pg_catalog.array_agg(norm.new_rid ORDER BY norm.ord) INTO v_ids FROM norm;
	RETURN v_ids;
END
$$;
COMMENT ON FUNCTION cdp_internal.ingest_insert_new(integer, text, cdp_internal.ingest_row[], boolean) IS
	'the fast path of ingest: writes a batch of records new to their source as new persons with plain INSERTs (internal to upsert_records and import_commit)';

/*
 * upsert_records: the set-based ingest path.  One statement per table for the whole batch (records,
 * events, queue), so a COPY-loaded staging table goes in at bulk speed; upsert_record is its
 * one-row case.  The whole batch is one transaction: any bad row rejects it, naming the row.
 *
 * Normalise what is new or changed (the same input again costs one lookup) in one C call for
 * the batch (cdp_internal.normalize_records), made in a plain assignment so that an error's
 * context is the record and the key, not this function's SQL.
 *
 * A batch of source ids the source has none of (the first day of a clinic, a new file) takes
 * the fast path when this session may (cdp_internal.ingest_fast_path_ok): the same rows written
 * with plain INSERTs, in bulk from C (cdp_internal.ingest_write_new), the normaliser's rows
 * handed straight to the writer (session 27: kept in a variable, the array was copied three
 * times on its way).  Where the writer declines, ingest_insert_new's statement writes them.  A
 * source id another session wrote since the lookup above makes it raise unique_violation; the
 * subtransaction undoes the attempt and the general path below runs, normalising again.
 */
CREATE FUNCTION @extschema@.upsert_records(source text, source_ids text[], attrs jsonb[], lenient boolean DEFAULT false)
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
	PERFORM 1 FROM @extschema@.record r
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
		  LEFT JOIN LATERAL (SELECT r.attrs_hash, r.record_id FROM @extschema@.record r
		                      WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id
		                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true;
	END IF;
	/* normalise, then write: the fast path, else the general path (see the comment above the function) */
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(v_oldid) AS o(id) WHERE o.id IS NOT NULL)
	   AND cdp_internal.ingest_fast_path_ok() THEN
		SELECT rl.version, rl.rules INTO v_rules_version, v_rules FROM @extschema@.survivorship_rules_as_of('infinity') rl;
		BEGIN
			v_ids := (cdp_internal.ingest_write_docs(v_src.source_id, v_src.name, source_ids, attrs, lenient, false, false,
				v_rules, v_rules_version)).ids;
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
		/* every column but raw (the largest): each reader of this CTE copies its rows */
		RETURNING r.record_id, r.source_id, r.source_key, r.golden_id, r.family_name, r.given_name, r.patronymic,
				  r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city, r.handles, r.extra,
				  r.created_at, r.updated_at, r.version
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
				   @extschema@.golden_fold(pg_catalog.jsonb_build_array(cdp_internal.golden_record_doc_of(w.record_id,
					   w.source_id, v_src.trust::integer, w.family_name, w.given_name, w.patronymic, w.birth_date, w.sex,
					   w.phones, w.emails, w.snils, w.oms, w.address, w.city, w.handles, w.extra, w.created_at,
					   w.updated_at)), v_rules, false),
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
COMMENT ON FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) IS
	'ingests a batch of source records of one source in one statement per table; all or nothing';
REVOKE ALL ON FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.upsert_record(source text, source_id text, attrs jsonb, lenient boolean DEFAULT false)
	RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT u.record_id FROM @extschema@.upsert_records($1, ARRAY[$2], ARRAY[$3], $4) u
$$;
COMMENT ON FUNCTION @extschema@.upsert_record(text, text, jsonb, boolean) IS
	'ingests one source record: validates, stores raw + normalised, logs an event; idempotent on (source, source_id)';
REVOKE ALL ON FUNCTION @extschema@.upsert_record(text, text, jsonb, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.golden_id(source text, source_id text) RETURNS bigint
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT r.golden_id
	  FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
	 WHERE s.name OPERATOR(pg_catalog.=) $1 AND r.source_key OPERATOR(pg_catalog.=) $2
$$;
COMMENT ON FUNCTION @extschema@.golden_id(text, text) IS
	'the golden (person) id a source record belongs to, or NULL when the record is unknown';

CREATE FUNCTION @extschema@.record_pair_decision(record_a bigint, record_b bigint, decision text, note text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_a		bigint := LEAST(record_a, record_b);
	v_b		bigint := GREATEST(record_a, record_b);
	v_event	bigint;
	v_n		integer;
BEGIN
	IF record_a IS NULL OR record_b IS NULL OR decision IS NULL THEN
		RAISE EXCEPTION 'record_a, record_b and decision must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF decision OPERATOR(pg_catalog.<>) ALL (ARRAY['match', 'no_match']) THEN
		RAISE EXCEPTION 'invalid decision: "%"', pg_catalog.left(decision, 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use match or no_match.';
	END IF;
	IF v_a OPERATOR(pg_catalog.=) v_b THEN
		RAISE EXCEPTION 'a record cannot be paired with itself'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('Both records are %s.', v_a);
	END IF;
	SELECT pg_catalog.count(*) INTO v_n FROM @extschema@.record r WHERE r.record_id OPERATOR(pg_catalog.=) ANY (ARRAY[v_a, v_b]);
	IF v_n OPERATOR(pg_catalog.<>) 2 THEN
		RAISE EXCEPTION 'unknown record in pair (%, %)', v_a, v_b
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Both ids must be record_id values of cdp.record.';
	END IF;
	v_event := cdp_internal.append_event('decision.recorded', v_a, NULL,
		pg_catalog.jsonb_build_object('record_a', v_a, 'record_b', v_b, 'decision', decision, 'note', note));
	INSERT INTO @extschema@.pair_decision AS d (record_a, record_b, decision, note, event_id)
	VALUES (v_a, v_b, decision, note, v_event)
	ON CONFLICT ON CONSTRAINT pair_decision_pkey DO UPDATE
	   SET decision = EXCLUDED.decision, note = EXCLUDED.note, actor = EXCLUDED.actor,
		   at = EXCLUDED.at, event_id = EXCLUDED.event_id;
	RETURN v_event;
END
$$;
COMMENT ON FUNCTION @extschema@.record_pair_decision(bigint, bigint, text, text) IS
	'records a person''s decision (match / no_match) about two records; an event; matching obeys it';
REVOKE ALL ON FUNCTION @extschema@.record_pair_decision(bigint, bigint, text, text) FROM PUBLIC;
