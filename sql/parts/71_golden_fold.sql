/*
 * sql/parts/71_golden_fold.sql: golden records: the survivorship fold and its live computation.
 */

/* ------------------------------------------------------------------ the fold (pure) */

/*
 * One source record reduced to what the fold reads, from a row of cdp.record (to_jsonb) or from
 * the "record" object of a record.created/record.updated payload, and the source's trust
 * (src/golden_fold.c).  Identifiers go through their types, so both paths give the types'
 * canonical text.
 */
CREATE FUNCTION @extschema@.golden_record_doc(rec jsonb, trust int) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_record_doc';
COMMENT ON FUNCTION @extschema@.golden_record_doc(jsonb, int) IS
	'reduces a source record (row JSON or log payload) and its source trust to the document the survivorship fold reads, identifiers in canonical form (C)';

/*
 * The same document from the columns of a cdp.record row (C, src/golden_fold.c): what
 * golden_record_doc(to_jsonb(row), trust) gives, without building the row's JSON (about half the
 * cost of a record in the live fold, issue 16).  STABLE: timestamps are written in the session's
 * time zone, as to_jsonb writes them.
 */
CREATE FUNCTION cdp_internal.golden_record_doc_of(record_id bigint, source_id int, trust int, family_name text,
	given_name text, patronymic text, birth_date date, sex text, phones @extschema@.phone[], emails @extschema@.email[],
	snils @extschema@.snils, oms @extschema@.oms, address text, city text, handles jsonb, extra jsonb,
	created_at timestamptz, updated_at timestamptz) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_golden_record_doc_of'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_record_doc_of(bigint, int, int, text, text, text, date, text, @extschema@.phone[],
	@extschema@.email[], @extschema@.snils, @extschema@.oms, text, text, jsonb, jsonb, timestamptz, timestamptz) IS
	'golden_record_doc(to_jsonb(row), trust) of a cdp.record row, built from its columns (internal to the live fold)';

/*
 * The survivorship fold (C, src/golden_fold.c): a pure function of the records of one person (an
 * array of golden_record_doc documents) and the rules.  Single-valued attributes: candidates are
 * the records with a non-empty value, ranked by the attribute's rules in order (each rule a score,
 * higher first), then by the smaller record id.  Multi-valued contacts keep every distinct value
 * with its source records, first/last seen and validity.  Returns the profile and, unless
 * with_lineage is false (the projection paths skip it), its lineage.  NULL arguments, recs that is
 * not an array of objects and rules that are not an object of rule-name arrays raise 22004 /
 * 22023.  test/pgtap/71_golden_fold.sql compares it with the SQL oracle in
 * test/oracles/golden_fold.sql on generated clusters.
 */
CREATE FUNCTION @extschema@.golden_fold(recs jsonb, rules jsonb, with_lineage boolean DEFAULT true) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_fold';
COMMENT ON FUNCTION @extschema@.golden_fold(jsonb, jsonb, boolean) IS
	'survivorship fold (C): pure function of one person''s source records and the rules, returning the profile attributes, contacts and (unless with_lineage is false) lineage';

/*
 * The projection paths' fold (C, src/golden_fold.c): golden_fold(<docs as a JSON array ordered by
 * record id>, rules, false) for record documents given in any order.  golden_compute collects a
 * person's documents with array_agg and no ORDER BY: jsonb_agg(... ORDER BY record_id) sorted every
 * person's documents in a sort of their own and re-encoded them into one document, which the fold
 * then took apart again (issue 16, session 29).  NULL arguments raise 22004, a document that is not
 * an object 22023, as golden_fold.
 */
CREATE FUNCTION cdp_internal.golden_fold_docs(docs jsonb[], rules jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_golden_fold_docs'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_fold_docs(jsonb[], jsonb) IS
	'golden_fold(docs ordered by record id, rules, false) of record documents in any order (internal to the live fold)';

/*
 * Builds the projection row of one person from its fold and its log-derived status and visits
 * (C, src/golden_row.c: as PL/pgSQL it cost about 40 us a call, most of writing a new person).
 */
CREATE FUNCTION cdp_internal.golden_row(golden_id bigint, fold jsonb, status text, status_at timestamptz,
	last_visit timestamptz, rules_version int) RETURNS @extschema@.patient
	AS 'MODULE_PATHNAME', 'cdp_golden_row'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_row(bigint, jsonb, text, timestamptz, timestamptz, int) IS
	'the cdp.patient row of one person from its survivorship fold, status and last visit';

/*
 * The row of a person whose only record has the given columns (C, src/golden_single.c): what
 * golden_row(golden_id, golden_fold(jsonb_build_array(golden_record_doc_of(...)), rules, false),
 * NULL, NULL, NULL, rules_version) gives, without the three jsonb documents in between.  Ingest's
 * fast path writes the profile of every new person with it (issue 16).  STABLE: contacts are
 * ordered in the database collation.
 */
CREATE FUNCTION cdp_internal.golden_new_person_row(golden_id bigint, rules jsonb, rules_version int, record_id bigint,
	family_name text, given_name text, patronymic text, birth_date date, sex text, phones @extschema@.phone[],
	emails @extschema@.email[], snils @extschema@.snils, oms @extschema@.oms, address text, city text, handles jsonb,
	extra jsonb, created_at timestamptz, updated_at timestamptz) RETURNS @extschema@.patient
	AS 'MODULE_PATHNAME', 'cdp_golden_new_person_row'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_new_person_row(bigint, jsonb, int, bigint, text, text, text, date, text, @extschema@.phone[],
	@extschema@.email[], @extschema@.snils, @extschema@.oms, text, text, jsonb, jsonb, timestamptz, timestamptz) IS
	'the cdp.patient row of a person with one source record, from the record''s columns (ingest''s fast path)';

/*
 * One source record as the live re-fold reads it: the arguments of golden_record_doc_of, in order
 * (a cdp.record row's columns and its source's trust).
 */
CREATE TYPE cdp_internal.golden_fold_input AS (record_id bigint, source_id int, trust int, family_name text,
	given_name text, patronymic text, birth_date date, sex text, phones @extschema@.phone[], emails @extschema@.email[],
	snils @extschema@.snils, oms @extschema@.oms, address text, city text, handles jsonb, extra jsonb,
	created_at timestamptz, updated_at timestamptz);
COMMENT ON TYPE cdp_internal.golden_fold_input IS
	'a source record''s columns and its source''s trust, as the live re-fold reads them (internal)';

/*
 * The row of one person folded from its records' columns (C, src/golden_fold_row.c): what
 * golden_row(golden_id, golden_fold_docs(<golden_record_doc_of of each record>, rules), status,
 * status_at, last_visit, rules_version) gives, without a jsonb document per record or for the fold,
 * and with the rules checked and parsed once per statement rather than once per person (the
 * re-fold of the first-day merge, issue 16, session 33).  golden_compute calls it;
 * test/pgtap/71_golden_fold_row.sql compares the two.  STABLE: contacts are ordered in the
 * database collation.
 */
CREATE FUNCTION cdp_internal.golden_fold_row(golden_id bigint, recs cdp_internal.golden_fold_input[], rules jsonb,
	rules_version int, status text, status_at timestamptz, last_visit timestamptz) RETURNS @extschema@.patient
	AS 'MODULE_PATHNAME', 'cdp_golden_fold_row'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_fold_row(bigint, cdp_internal.golden_fold_input[], jsonb, int, text, timestamptz, timestamptz) IS
	'the cdp.patient row of one person folded from its records'' columns (internal to the live fold)';

/* ------------------------------------------------------------------ live computation */

/*
 * The profiles of the given golden ids computed from the live tables (cdp.record, cdp.source,
 * cdp.clinical_event, the stored status).  Ids without records yield nothing.
 * Plans: golden_compute, link_records and unmerge run with plan_cache_mode = force_generic_plan
 * (their nested calls inherit it).  Their parameters are JSON documents and short id arrays, for
 * which a custom plan is never better, and planning the fold's ranking query anew at every call
 * (when the fold was SQL) cost about 1 ms of the 1.5 ms a two-record fold took (see
 * doc/benchmarks-golden.md).  refresh_patients keeps the default: ingest passes it thousands of
 * ids at once, where a custom plan of its update pays off.
 * They also run with jit = off: a generic plan's cost estimate can pass jit_above_cost, and
 * compiling it at every merge made a matching run of 24,000 merges take over 12 minutes instead
 * of 48 seconds.
 */
CREATE FUNCTION cdp_internal.golden_compute(ids bigint[]) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of('infinity')),
	recs AS (
		SELECT r.golden_id,
		       /*
		        * each record's columns as one golden_fold_input value, in any order: golden_fold_row
		        * puts them in record id order (a jsonb document per record, golden_record_doc_of, and
		        * the fold's result as jsonb were about half of the re-fold, issue 16, session 33)
		        */
		       pg_catalog.array_agg(ROW(r.record_id, r.source_id, s.trust, r.family_name, r.given_name,
		           r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city,
		           r.handles, r.extra, r.created_at, r.updated_at)::cdp_internal.golden_fold_input) AS recs
		  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
		  JOIN @extschema@.record r ON r.golden_id = g.i
		  LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	/*
	 * The row as a value expanded by field (OFFSET 0: one call per person), not a function in
	 * FROM, which puts each call's one row through a tuplestore of its own.
	 */
	SELECT (x.row).*
	  FROM (SELECT cdp_internal.golden_fold_row(recs.golden_id, recs.recs, rl.rules, rl.version,
	                   p.status, p.status_at,
	                   (SELECT pg_catalog.max(c.at) FROM @extschema@.clinical_event c
	                     WHERE c.golden_id = recs.golden_id AND c.kind = 'visit'
	                       AND c.visit_status IN ('came', 'in_appointment', 'done'))) AS row
	          FROM recs CROSS JOIN rl
	          LEFT JOIN @extschema@.patient p ON p.golden_id = recs.golden_id
	        OFFSET 0) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_compute(bigint[]) IS
	'profiles of the given golden ids folded from the live records (internal to refresh_patients)';

/*
 * Follows redirects from a golden id to the person it now belongs to; NULL when the id is
 * unknown.  Chains (a merged into b, b into c) are followed up to 1000 steps.
 */
CREATE FUNCTION @extschema@.resolve_patient(id bigint) RETURNS bigint
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cur		bigint := id;
	nxt		bigint;
BEGIN
	FOR depth IN 1..1000 LOOP
		SELECT d.new_id INTO nxt FROM @extschema@.patient_redirect d WHERE d.old_id = cur;
		EXIT WHEN NOT FOUND;
		cur := nxt;
	END LOOP;
	IF EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = cur) THEN
		RETURN cur;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_patient(bigint) IS
	'the golden id a (possibly merged-away) golden id now belongs to, following redirect chains; NULL if unknown';

/*
 * Opens a membership interval for every record of the given golden ids that has none yet (a
 * record ingest just created), starting at its record.created event.
 */
CREATE FUNCTION cdp_internal.golden_open_members(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at)
	SELECT r.record_id, r.golden_id, e.event_id, e.at
	  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
	  JOIN @extschema@.record r ON r.golden_id = g.i
	  CROSS JOIN LATERAL (SELECT e.event_id, e.at FROM @extschema@.event e
	                       WHERE e.subject = r.record_id AND e.kind = 'record.created'
	                       ORDER BY e.event_id LIMIT 1) e
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient_member m
	                    WHERE m.record_id = r.record_id AND m.to_event IS NULL)
	ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_open_members(bigint[]) IS
	'starts the membership history of records new to the given golden ids (internal)';

/*
 * golden_refold's statement in C (src/golden_refold.c): for each distinct id in ascending
 * order, the profile row read through the primary key, the person's records through
 * record_golden_idx, its last visit through clinical_event_golden_idx, the row folded as
 * golden_fold_row folds it (with the stored status) and, when IS DISTINCT FROM the stored one, its
 * new version written as the UPDATE writes it.  The statement's array_agg of a golden_fold_input
 * value per record, golden_compute's tuplestore, the join back to the profiles and the
 * executor's UPDATE were most of the first-day merge's re-fold (issue 16, session 36).  Returns
 * how many rows changed, or NULL having written nothing when it cannot stand in for the statement
 * (Citus, row-level security for the current user, another update trigger on cdp.patient than
 * campaign_on_archive, no index on golden_id: see the file); golden_refold then runs it.
 * NULL ids: 0; NULL rules raise 22004.  test/pgtap/71_golden_refold_rows.sql compares the two.
 */
CREATE FUNCTION cdp_internal.golden_refold_rows(ids bigint[], rules jsonb, rules_version int) RETURNS int
	AS 'MODULE_PATHNAME', 'cdp_golden_refold_rows'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.golden_refold_rows(bigint[], jsonb, int) IS
	'golden_refold''s update of the locked profile rows of the given ids, in C; NULL when the caller must run the statement (internal)';
REVOKE ALL ON FUNCTION cdp_internal.golden_refold_rows(bigint[], jsonb, int) FROM PUBLIC;

/*
 * Re-folds the existing, already locked profile rows of the given golden ids (no redirects
 * followed, no rows created or removed); returns how many changed.  The shared last step of
 * refresh_patients and link_records.  In C (golden_refold_rows) unless it cannot stand in for
 * the statement below, which then runs.  golden_compute returns only rows of the given ids, so
 * the join needs no "= ANY (ids)" filter: tested on each joined row against the whole array, it
 * made a re-fold of n persons O(n^2) (100,000 persons: over 6 minutes).
 * enable_seqscan = off (inherited by golden_compute): the rows are reached by id, through the
 * indexes.  golden_compute's plan is generic and cached for the session; planned while the
 * tables looked empty (a fresh clinic, or one long transaction that autovacuum cannot analyze),
 * it hashed a sequential scan of every record and profile for each call, so one transaction of
 * per-row upserts took 13 ms a row at 15,000 rows instead of about 1 ms.  With statistics the
 * plan was index-driven already (the id list is estimated at 10 rows).
 */
CREATE FUNCTION cdp_internal.golden_refold(ids bigint[]) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET enable_seqscan = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	int;
	rl	record;
BEGIN
	SELECT r.rules, r.version INTO rl FROM @extschema@.survivorship_rules_as_of('infinity') r;
	n := cdp_internal.golden_refold_rows(ids, rl.rules, rl.version);
	IF n IS NOT NULL THEN
		RETURN n;
	END IF;
	UPDATE @extschema@.patient p SET
		status = c.status, status_at = c.status_at, registered_on = c.registered_on, validated = c.validated,
		family_name = c.family_name, given_name = c.given_name, patronymic = c.patronymic, sex = c.sex,
		birth_date = c.birth_date, phones = c.phones, emails = c.emails, handles = c.handles,
		snils = c.snils, oms = c.oms, address = c.address, city = c.city, last_visit = c.last_visit,
		record_count = c.record_count, updated_at = c.updated_at, rules_version = c.rules_version
	  FROM cdp_internal.golden_compute(ids) c
	 WHERE p.golden_id = c.golden_id
	   AND (p.*) IS DISTINCT FROM (c.*);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_refold(bigint[]) IS
	're-folds the existing, locked profile rows of the given golden ids; returns how many changed (internal)';

/*
 * Re-folds the profiles of the given golden ids (following redirects) from their records:
 * creates the row of a new person, updates a changed one, removes one left without records.
 * Locks the patient rows in id order first, so concurrent refreshes and merges serialise and the
 * fold then reads committed records.  Called by ingest after every record change.
 * jit = off (inherited by golden_open_members, golden_refold, golden_compute): while a freshly
 * loaded table has no statistics, the estimate of a 5,000-id batch passed jit_above_cost and
 * every batch compiled its plans with LLVM.  For the same reason each statement here (and in
 * golden_open_members and golden_compute) starts from the id list (unnest joined to the id
 * index) rather than filtering a table with "= ANY (ids)": without statistics, or in a generic
 * plan, the latter became a sequential scan testing every row against the whole array, so
 * ingest of 100,000 records into a fresh database went from 0.5 s per batch of 5,000 to 2 s as
 * the tables grew.  enable_seqscan = off (inherited by the three): see golden_refold; the
 * statements here reach rows by id too.
 */
CREATE FUNCTION cdp_internal.refresh_patients(golden_ids bigint[]) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET jit = off
	SET enable_seqscan = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	todo	bigint[];
	n		int;
BEGIN
	IF golden_ids IS NULL THEN
		RETURN 0;
	END IF;
	SELECT pg_catalog.array_agg(DISTINCT x.g ORDER BY x.g) INTO todo
	  FROM (SELECT coalesce(@extschema@.resolve_patient(i), i) AS g
	          FROM pg_catalog.unnest(golden_ids) i WHERE i IS NOT NULL) x;
	IF todo IS NULL THEN
		RETURN 0;
	END IF;
	/* rows exist (placeholders for new persons), then lock them in id order */
	INSERT INTO @extschema@.patient (golden_id)
	SELECT g.i FROM pg_catalog.unnest(todo) g(i)
	 WHERE EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = g.i)
	ORDER BY 1
	ON CONFLICT (golden_id) DO NOTHING;
	PERFORM 1 FROM pg_catalog.unnest(todo) g(i) JOIN @extschema@.patient p ON p.golden_id = g.i
	 ORDER BY p.golden_id FOR UPDATE OF p;
	PERFORM cdp_internal.golden_open_members(todo);
	/* a new statement: sees what committed while we waited for the locks */
	n := cdp_internal.golden_refold(todo);
	DELETE FROM @extschema@.patient p
	 USING pg_catalog.unnest(todo) g(i)
	 WHERE p.golden_id = g.i
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = p.golden_id);
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.refresh_patients(bigint[]) IS
	're-folds the golden profiles of the given ids (after redirects) from their current records; returns how many rows changed';
