/*
 * sql/parts/83_segment_eval.sql: layer 8, segment storage and evaluation (issue 13).  See
 * doc/segments.md.  The tables of segments come first: the evaluator reads them ({"segment": id}
 * clauses read segment_member, the compiler reads whether a referenced segment is sensitive);
 * 84_segment.sql defines and refreshes segments.
 *
 * The plan of cdp_internal.seg_compile is evaluated clause by clause into sets of golden ids
 * (sorted bigint[], merged in C by src/seg_set.c), never as one WHERE of correlated EXISTS that
 * the planner would estimate at one row and run as nested loops over every clinical event.
 * Inside an "all" the clauses run in a fixed order: indexed clinical-event clauses and segment
 * references first (each an index range scan), then profile attributes, then other event
 * clauses, nested all/any, and "not" last.  Each clause after the first sees the survivors so
 * far: a small set is probed id by id (the "filter" SQL: one index lookup per id), a large one is
 * intersected with the clause's own set (the "gen" SQL).  The choice uses the true size of the
 * set in hand, not an estimate.  Then the guards, in order, with what each removed: archived
 * patients, the exclude list, consent, the offer's block reasons.
 */

/* ------------------------------------------------------------------ segment tables (84_segment.sql keeps them) */

CREATE SEQUENCE @extschema@.segment_id_seq;
COMMENT ON SEQUENCE @extschema@.segment_id_seq IS 'ids of cdp.segment';

CREATE TABLE @extschema@.segment (
	segment_id		bigint PRIMARY KEY,
	name			text NOT NULL,
	version			int NOT NULL,
	rules			jsonb NOT NULL,
	purpose			text NOT NULL,
	channel			text,
	offer_id		bigint,
	status			text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
	sensitive		boolean NOT NULL,
	auto_refresh	interval,
	created_at		timestamptz NOT NULL,
	updated_at		timestamptz NOT NULL,
	saved_by		text NOT NULL,
	last_refresh_at	timestamptz,
	last_refresh_mode text,
	refresh_mark	bigint,
	refresh_stamp	text
);
COMMENT ON TABLE @extschema@.segment IS
	'segments: current version of the rules, purpose, channel, offer, status and last refresh (refresh_stamp: what a refresh saw)';
ALTER TABLE @extschema@.segment ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_version (
	segment_id	bigint NOT NULL,
	version		int NOT NULL,
	name		text NOT NULL,
	rules		jsonb NOT NULL,
	purpose		text NOT NULL,
	channel		text,
	offer_id	bigint,
	at			timestamptz NOT NULL,
	saved_by	text NOT NULL,
	PRIMARY KEY (segment_id, version)
);
COMMENT ON TABLE @extschema@.segment_version IS 'every version of every segment definition';
ALTER TABLE @extschema@.segment_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_version FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_list (
	golden_id	bigint NOT NULL,
	segment_id	bigint NOT NULL,
	list		text NOT NULL CHECK (list IN ('include', 'exclude')),
	at			timestamptz NOT NULL,
	records		bigint[] NOT NULL,
	PRIMARY KEY (golden_id, segment_id, list)
);
COMMENT ON TABLE @extschema@.segment_list IS
	'manual include and exclude lists: the golden id given and the records it held then, which the entry follows through merges and unmerges (cdp_internal.seg_list_ids)';
CREATE INDEX segment_list_segment_idx ON @extschema@.segment_list (segment_id, list);
ALTER TABLE @extschema@.segment_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_list FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_member (
	golden_id	bigint NOT NULL,
	segment_id	bigint NOT NULL,
	version		int NOT NULL,
	entered_at	timestamptz NOT NULL,
	channels	text[] NOT NULL,
	PRIMARY KEY (segment_id, golden_id)
);
COMMENT ON TABLE @extschema@.segment_member IS
	'current members of every segment (materialized by cdp.refresh_segment); channels: those the member may be contacted through';
CREATE INDEX segment_member_golden_idx ON @extschema@.segment_member (golden_id);
ALTER TABLE @extschema@.segment_member ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_member FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.segment_member_history (
	golden_id		bigint NOT NULL,
	segment_id		bigint NOT NULL,
	version			int NOT NULL,
	entered_at		timestamptz NOT NULL,
	entered_event	bigint NOT NULL,
	left_at			timestamptz,
	left_event		bigint,
	left_version	int,
	PRIMARY KEY (segment_id, golden_id, entered_event)
);
COMMENT ON TABLE @extschema@.segment_member_history IS
	'membership history: who entered and left each segment, when, under which version and refresh';
CREATE INDEX segment_member_history_left_idx ON @extschema@.segment_member_history (segment_id, left_event);
CREATE INDEX segment_member_history_entered_idx ON @extschema@.segment_member_history (segment_id, entered_event);
ALTER TABLE @extschema@.segment_member_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.segment_member_history FORCE ROW LEVEL SECURITY;

/*
 * The persons whose campaign history changed (a send row listed, sent, refused, cancelled, a
 * delivery outcome folded in, a row erased), at a position of the event log's sequence: the
 * triggers of 97_seg_access.sql on cdp.campaign_send write them (the campaign family appends no
 * event for a send or a delivery report), so an incremental refresh of a segment with a campaign
 * clause finds them like the persons of the log.  Pruned by refresh_segment below the oldest
 * position a segment with a campaign clause still needs.
 */
CREATE TABLE cdp_internal.seg_touch (
	golden_id	bigint NOT NULL,
	pos			bigint NOT NULL
);
COMMENT ON TABLE cdp_internal.seg_touch IS
	'persons whose campaign history changed, at a position of cdp.event''s sequence, for incremental segment refreshes (internal)';
CREATE INDEX seg_touch_pos_idx ON cdp_internal.seg_touch (pos);
ALTER TABLE cdp_internal.seg_touch ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.seg_touch FORCE ROW LEVEL SECURITY;

/*
 * The analysts' pseudonym of a golden id: the access family's keyed pseudonym (HMAC-SHA-256
 * under the secret key of cdp_internal.acc_key, sql/parts/93_acc_mask.sql), so a segment's
 * pseudonyms are those of cdp.masked_patients: one scheme.  SECURITY DEFINER: it reads the key
 * with the owner's rights, so whoever may see pseudonyms never needs (and must never get) the
 * key.  create_segment makes the key when there is none yet (cdp_internal.acc_ensure_key).
 */
CREATE FUNCTION cdp_internal.seg_pseudonym(golden_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN cdp_internal.acc_pseudonym(golden_id);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_pseudonym(bigint) IS
	'the stable pseudonym of a golden id for analysts: the access family''s keyed pseudonym, read with the owner''s rights (internal)';

/* ------------------------------------------------------------------ id sets (C) */

CREATE FUNCTION cdp_internal.seg_set(ids bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_set';
COMMENT ON FUNCTION cdp_internal.seg_set(bigint[]) IS
	'the set of the ids: sorted ascending, no duplicates, no nulls (internal)';
CREATE FUNCTION cdp_internal.seg_and(a bigint[], b bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_and';
COMMENT ON FUNCTION cdp_internal.seg_and(bigint[], bigint[]) IS
	'intersection of two id sets (sorted, distinct; 22023 otherwise) (internal)';
CREATE FUNCTION cdp_internal.seg_or(a bigint[], b bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_or';
COMMENT ON FUNCTION cdp_internal.seg_or(bigint[], bigint[]) IS
	'union of two id sets (internal)';
CREATE FUNCTION cdp_internal.seg_minus(a bigint[], b bigint[]) RETURNS bigint[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_minus';
COMMENT ON FUNCTION cdp_internal.seg_minus(bigint[], bigint[]) IS
	'the ids of the first set that are not in the second (internal)';

/*
 * The index the event clauses read: kind, then the code a clause filters on (lab code, ICD-10
 * code or specialty, in C collation so ICD-10 ranges are index ranges), then the time.  A
 * diagnosis range N40-N42 is the index range ['N40', 'N42~'].  It carries the golden id, so a
 * clause's set is an index-only scan (no heap fetch per row once the visibility map is set: VACUUM
 * after a bulk load), and the columns of the code expression and the visit status: PostgreSQL's
 * planner allows an index-only scan over an expression index only when the columns the expression
 * reads are in the index too, and a visit clause filters on the status.
 */
CREATE INDEX clinical_event_seg_code_idx ON @extschema@.clinical_event
	(kind, (COALESCE(lab_code, icd10, specialty) COLLATE "C"), at)
	INCLUDE (golden_id, lab_code, icd10, specialty, visit_status);
CREATE INDEX clinical_event_seg_due_idx ON @extschema@.clinical_event (due_date) INCLUDE (golden_id)
	WHERE kind = 'recommendation';
/*
 * The index a clause's probes read (session 22): one patient's events of a kind and code, in
 * time order, with the same included columns, so "does candidate X have a CHOL test within 3
 * years" or "how many I10 diagnoses has X" is one index-only descent reading only the matching
 * entries; through (golden_id, kind, at) each of the person's events of the kind was a heap fetch
 * for its code.  It is the per-patient summary of clinical codes the evaluator needs, kept by
 * PostgreSQL on every write of an event (merges included), exact for every window and count.
 */
CREATE INDEX clinical_event_seg_patient_idx ON @extschema@.clinical_event
	(golden_id, kind, (COALESCE(lab_code, icd10, specialty) COLLATE "C"), at)
	INCLUDE (lab_code, icd10, specialty, visit_status);

/* ------------------------------------------------------------------ the event reader (C, session 26) */

CREATE FUNCTION cdp_internal.seg_read_events(ids bigint[], test int[], kind text[], lo text[], hi text[],
	t_from timestamptz[], t_upto timestamptz[], status text[], cmin int[], cmax int[], neg boolean[]) RETURNS bigint[]
	LANGUAGE C STABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_read_events';
COMMENT ON FUNCTION cdp_internal.seg_read_events(bigint[], int[], text[], text[], text[], timestamptz[], timestamptz[], text[], int[], int[], boolean[]) IS
	'the ids of a set meeting (or, neg, not meeting) every event test, one descent per id into clinical_event_seg_patient_idx; NULL under row-level security (internal)';

CREATE FUNCTION cdp_internal.seg_read_range(kind text, lo text[], hi text[], t_from timestamptz, t_upto timestamptz,
	status text[], cmin int, cmax int, lim bigint) RETURNS bigint[]
	LANGUAGE C STABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_seg_read_range';
COMMENT ON FUNCTION cdp_internal.seg_read_range(text, text[], text[], timestamptz, timestamptz, text[], int, int, bigint) IS
	'the set of golden ids with cmin..cmax events of a kind in code ranges, a window and visit statuses, read from clinical_event_seg_code_idx; NULL under row-level security or above lim events (internal)';

/*
 * The set of an event clause read by the C range reader (src/seg_read.c) from its "rd" (the
 * kind, code ranges, window, visit statuses and count bounds of cdp_internal.seg_compile_event):
 * the same ids as its "gen" SQL, without the executor's index-only scan, which released and
 * read a visibility-map page again for most entries (session 26).  NULL when the reader declines
 * (row-level security, or several code ranges with a count bound, which the SQL counts once per
 * event) or when more than lim events match: the caller then runs the SQL or probes its
 * candidates.  With lim, the reader stops at lim events, so a large clause costs at most that.
 */
CREATE FUNCTION cdp_internal.seg_read_set(rd jsonb, lim bigint DEFAULT NULL) RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof(rd -> 'codes') = 'array' AND pg_catalog.jsonb_array_length(rd -> 'codes') > 1
	                 AND (coalesce((rd ->> 'min')::int, 1) <> 1 OR rd ->> 'max' IS NOT NULL) THEN NULL
	            ELSE cdp_internal.seg_read_range(rd ->> 'kind',
	                   ARRAY(SELECT x.c ->> 0 FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(rd -> 'codes') = 'array'
	                                                                                   THEN rd -> 'codes' ELSE '[]' END) WITH ORDINALITY x(c, i) ORDER BY x.i),
	                   ARRAY(SELECT x.c ->> 1 FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(rd -> 'codes') = 'array'
	                                                                                   THEN rd -> 'codes' ELSE '[]' END) WITH ORDINALITY x(c, i) ORDER BY x.i),
	                   (rd ->> 'from')::timestamptz, (rd ->> 'upto')::timestamptz,
	                   CASE WHEN pg_catalog.jsonb_typeof(rd -> 'status') = 'array' THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(rd -> 'status')) END,
	                   coalesce((rd ->> 'min')::int, 1), (rd ->> 'max')::int, lim) END
$$;
COMMENT ON FUNCTION cdp_internal.seg_read_set(jsonb, bigint) IS
	'the set of an event clause read by the C range reader from its "rd"; NULL when it declines or more than lim events match (internal)';

/*
 * The ids of a set meeting every event clause of a list, each read by the event reader in one
 * descent per id (src/seg_read.c): specs is [{"rd": <a leaf's "rd">, "neg": true for a "not"},
 * ...], the "rd" of cdp_internal.seg_compile_event (kind, code ranges, window, visit statuses,
 * count bounds).  NULL when the reader declines (row-level security applies to the caller): the
 * caller then probes in SQL.
 */
CREATE FUNCTION cdp_internal.seg_read(ids bigint[], specs jsonb) RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH t AS (SELECT x.i::int AS i, x.s -> 'rd' AS rd, coalesce((x.s ->> 'neg')::boolean, false) AS neg
	             FROM pg_catalog.jsonb_array_elements(specs) WITH ORDINALITY x(s, i)),
	     r AS (SELECT t.i, t.rd ->> 'kind' AS kind, c.v ->> 0 AS lo, c.v ->> 1 AS hi,
	                  (t.rd ->> 'from')::timestamptz AS f, (t.rd ->> 'upto')::timestamptz AS u, st.v AS st,
	                  pg_catalog.row_number() OVER () AS o
	             FROM t
	            CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(t.rd -> 'codes') = 'array'
	                                                                    THEN t.rd -> 'codes' ELSE '[[null, null]]' END) c(v)
	            CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(CASE WHEN pg_catalog.jsonb_typeof(t.rd -> 'status') = 'array'
	                                                                         THEN t.rd -> 'status' ELSE '[null]' END) st(v))
	SELECT cdp_internal.seg_read_events(ids, x.test, x.kind, x.lo, x.hi, x.f, x.u, x.st, y.cmin, y.cmax, y.neg)
	  FROM (SELECT coalesce(pg_catalog.array_agg(r.i ORDER BY r.i, r.o), '{}') AS test,
	               coalesce(pg_catalog.array_agg(r.kind ORDER BY r.i, r.o), '{}') AS kind,
	               coalesce(pg_catalog.array_agg(r.lo ORDER BY r.i, r.o), '{}') AS lo,
	               coalesce(pg_catalog.array_agg(r.hi ORDER BY r.i, r.o), '{}') AS hi,
	               coalesce(pg_catalog.array_agg(r.f ORDER BY r.i, r.o), '{}') AS f,
	               coalesce(pg_catalog.array_agg(r.u ORDER BY r.i, r.o), '{}') AS u,
	               coalesce(pg_catalog.array_agg(r.st ORDER BY r.i, r.o), '{}') AS st FROM r) x,
	       (SELECT coalesce(pg_catalog.array_agg((t.rd ->> 'min')::int ORDER BY t.i), '{}') AS cmin,
	               coalesce(pg_catalog.array_agg((t.rd ->> 'max')::int ORDER BY t.i), '{}') AS cmax,
	               coalesce(pg_catalog.array_agg(t.neg ORDER BY t.i), '{}') AS neg FROM t) y
$$;
COMMENT ON FUNCTION cdp_internal.seg_read(bigint[], jsonb) IS
	'the ids of a set meeting every event clause of a list (or not, for a "not"), read in one descent per id by the C event reader; NULL when it declines (internal)';

/*
 * The ids of a set meeting one event clause, by the C readers: the clause's own set when it has
 * at most four events per id (read up to that many by seg_read_set: a range that small costs
 * less than a descent per id), else one descent per id (seg_read).  NULL when they decline.
 */
CREATE FUNCTION cdp_internal.seg_read_few(ids bigint[], rd jsonb) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r	bigint[] := cdp_internal.seg_read_set(rd, 4 * pg_catalog.cardinality(ids));
BEGIN
	IF r IS NOT NULL THEN
		RETURN cdp_internal.seg_and(ids, r);
	END IF;
	RETURN cdp_internal.seg_read(ids, pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('rd', rd, 'neg', false)));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_read_few(bigint[], jsonb) IS
	'the ids of a set meeting one event clause: its set when small beside the ids, else one descent per id, by the C readers; NULL when they decline (internal)';

/*
 * The consent summary's rows of a set of golden ids (src/seg_summary.c, session 28): one C pass
 * over the primary key (walking its leaves between near ids, descending again past a gap), NULLs
 * for a person without a row, in the order of the set.
 * The source_kind clause and the consent guard read them instead of a lateral probe per id (the
 * executor restarting a subquery for each: 3-4 us an id at 1M, about 120 ms each per preview).
 * The rows of the last set read are kept for the statement (prev29): the guard's survivors, a
 * subset of the clause's candidates read under the same snapshot, transaction and subtransaction,
 * take them instead of reading the summary again (any write since means a later command id, so a
 * new read).  Through SQL when row-level security applies to the caller.
 */
CREATE FUNCTION cdp_internal.seg_summary_rows(ids bigint[])
	RETURNS TABLE (golden_id bigint, allowed bigint, internal boolean, partner boolean)
	LANGUAGE C STABLE PARALLEL SAFE ROWS 10000
	AS 'MODULE_PATHNAME', 'cdp_seg_summary_rows';
COMMENT ON FUNCTION cdp_internal.seg_summary_rows(bigint[]) IS
	'the consent_summary row of each id of a set (NULLs for a person without one), read in one C pass over its primary key, or taken from the last set read under the same snapshot (internal)';

/* The reader's spec of an "all"'s clause: an event leaf's "rd", or its "not"; NULL for any other clause. */
CREATE FUNCTION cdp_internal.seg_read_spec(kid jsonb) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN kid ->> 't' = 'leaf' AND pg_catalog.jsonb_typeof(kid -> 'rd') = 'object'
	            THEN pg_catalog.jsonb_build_object('rd', kid -> 'rd', 'neg', false)
	            WHEN kid ->> 't' = 'not' AND kid -> 'kid' ->> 't' = 'leaf' AND pg_catalog.jsonb_typeof(kid -> 'kid' -> 'rd') = 'object'
	            THEN pg_catalog.jsonb_build_object('rd', kid -> 'kid' -> 'rd', 'neg', true) END
$$;
COMMENT ON FUNCTION cdp_internal.seg_read_spec(jsonb) IS
	'the event reader''s spec of a compiled clause (an event leaf or the "not" of one), NULL for other clauses (internal)';

/* ------------------------------------------------------------------ evaluation */

/* Every patient, as a set (archived ones are removed, and counted, by the first guard). */
CREATE FUNCTION cdp_internal.seg_universe() RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM @extschema@.patient p)) $$;
COMMENT ON FUNCTION cdp_internal.seg_universe() IS 'the set of every patient (internal)';

/*
 * Most selective first, by true sizes: the number of ids an indexed clause (class 0) yields,
 * counted through its index up to 20,000 (a bounded index scan), when it would start an "all"
 * (no candidates yet).  Other clauses and later positions: 0 (their order stays as written).
 * A clause the range reader reads (its "rd") is counted by it (session 28): its ids, or 20,000
 * once more than 20,000 events match, read in C instead of an executor scan of up to 20,000 rows
 * (which re-read a visibility-map page for most entries, session 26); the order only decides
 * how fast, never which ids, since an "all" intersects its clauses' sets.
 */
CREATE FUNCTION cdp_internal.seg_probe_size(plan jsonb, cand bigint[]) RETURNS bigint
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
	rd	jsonb := plan -> 'rd';
BEGIN
	IF cand IS NOT NULL OR plan ->> 't' <> 'leaf' OR (plan ->> 'class')::int <> 0 THEN
		RETURN 0;
	END IF;
	/* the reader's NULL means "more than 20,000" unless it declines (as seg_read_set says when) */
	IF pg_catalog.jsonb_typeof(rd) = 'object' AND NOT pg_catalog.row_security_active('@extschema@.clinical_event')
	   AND NOT (pg_catalog.jsonb_typeof(rd -> 'codes') = 'array' AND pg_catalog.jsonb_array_length(rd -> 'codes') > 1
	            AND (coalesce((rd ->> 'min')::int, 1) <> 1 OR rd ->> 'max' IS NOT NULL)) THEN
		RETURN coalesce(pg_catalog.cardinality(cdp_internal.seg_read_set(rd, 20000)), 20000);
	END IF;
	EXECUTE 'SELECT pg_catalog.count(*) FROM (' || (plan ->> 'gen') || ' LIMIT 20000) x' INTO n;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_probe_size(jsonb, bigint[]) IS
	'how many ids an indexed clause yields, counted up to 20,000, to start an "all" with the most selective one (internal)';

/*
 * Runs a clause's "filter" SQL over the candidates as probes: one index lookup per candidate.
 * The evaluator chose probes by the true number of candidates; the planner, estimating the
 * candidates or a correlated clause wrongly, could still turn the statement into a hash or merge
 * join that reads every profile, record or event of the clause (a pass proportional to the
 * clinic, not to the candidates).  So hash and merge joins are off while the statement is planned
 * and run (the function's SET clauses: put back when it returns or fails).
 */
CREATE FUNCTION cdp_internal.seg_probe(filter text, cand bigint[]) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	SET enable_hashjoin = off
	SET enable_mergejoin = off
	AS $$
DECLARE
	r	bigint[];
BEGIN
	EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || filter || '))' INTO r USING cand;
	RETURN r;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_probe(text, bigint[]) IS
	'runs a clause''s filter SQL over candidate ids as index probes (hash and merge joins off) (internal)';

/*
 * The golden ids meeting a plan node, within cand when it is not NULL (NULL: everyone).  The
 * result holds archived patients too; the caller drops them (and counts them).
 */
CREATE FUNCTION cdp_internal.seg_eval(plan jsonb, cand bigint[], n_all bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r		bigint[];
	rr		bigint[];
	kid		jsonb;
	kids	jsonb[];
	specs	jsonb;
	n		bigint := pg_catalog.cardinality(cand);
	probe	boolean;
	noread	boolean := false;
	prof	boolean := coalesce((plan ->> 'prof')::boolean, false);
	kinds	text[];
BEGIN
	IF n = 0 THEN
		RETURN '{}';
	END IF;
	IF plan ->> 't' = 'leaf' THEN
		/* probe id by id while that is cheaper than the clause's whole set (true sizes, no estimates) */
		probe := cand IS NOT NULL AND CASE (plan ->> 'class')::int WHEN 0 THEN n * 20 <= n_all WHEN 1 THEN n * 10 <= n_all ELSE n * 2 <= n_all END;
		/* an event clause (session 26): the C readers (src/seg_read.c), unless they decline */
		IF probe AND pg_catalog.jsonb_typeof(plan -> 'rd') = 'object' THEN
			r := cdp_internal.seg_read_few(cand, plan -> 'rd');
		ELSIF pg_catalog.jsonb_typeof(plan -> 'rd') = 'object' THEN
			r := cdp_internal.seg_read_set(plan -> 'rd');
			IF r IS NOT NULL AND cand IS NOT NULL THEN
				r := cdp_internal.seg_and(cand, r);
			END IF;
		END IF;
		IF r IS NOT NULL THEN
			RETURN r;
		ELSIF probe AND plan ? 'kinds' AND prof THEN
			/*
			 * source_kind of candidates known to have a profile (session 28): their consent
			 * summary rows in one C pass (the kinds of their sources), the records of a person
			 * without a row, as the clause's SQL (82_segment_rules.sql) reads them
			 */
			kinds := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(plan -> 'kinds'));
			RETURN cdp_internal.seg_set(ARRAY(
				SELECT s.golden_id FROM cdp_internal.seg_summary_rows(cand) s
				 WHERE coalesce((s.internal AND 'internal' = ANY (kinds)) OR (s.partner AND 'partner' = ANY (kinds)),
				                EXISTS (SELECT 1 FROM @extschema@.record x JOIN @extschema@.source y ON y.source_id = x.source_id
				                         WHERE x.golden_id = s.golden_id AND y.kind = ANY (kinds)))));
		ELSIF probe AND plan ? 'kfilter' AND coalesce((plan ->> 'prof')::boolean, false) THEN
			/* the candidates have a profile: a clause of the profile's id alone need not read it */
			r := cdp_internal.seg_probe(plan ->> 'kfilter', cand);
		ELSIF probe THEN
			r := cdp_internal.seg_probe(plan ->> 'filter', cand);
		ELSE
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			r := CASE WHEN cand IS NULL THEN r ELSE cdp_internal.seg_and(cand, r) END;
		END IF;
		RETURN r;
	ELSIF plan ->> 't' = 'all' THEN
		r := cand;
		/*
		 * within candidates (an incremental refresh, a nested "all"), the profile pass comes first:
		 * one primary-key probe per candidate into cdp.patient (small, mostly cached) that usually
		 * removes most of them, before the event probes descend the large per-patient index
		 */
		kids := ARRAY(SELECT x.k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') WITH ORDINALITY x(k, i)
		               ORDER BY CASE WHEN cand IS NOT NULL AND (x.k ->> 'class')::int = 1 THEN -1 ELSE (x.k ->> 'class')::int END,
		                        cdp_internal.seg_probe_size(x.k, cand), x.i);
		FOR i IN 1 .. pg_catalog.cardinality(kids) LOOP
			CONTINUE WHEN kids[i] IS NULL;	/* read with an earlier clause */
			/*
			 * once the survivors are few enough to probe, every event clause left in this "all"
			 * (and every "not" of one) is read in one descent per survivor by the C reader,
			 * instead of one SQL probe per clause per survivor (session 26): at the first event
			 * clause or nested clause, after the profile pass and the indexed non-event clauses,
			 * which usually remove most candidates first (an incremental refresh)
			 */
			IF NOT noread AND r IS NOT NULL AND pg_catalog.cardinality(r) * 20 <= n_all
			   AND (cdp_internal.seg_read_spec(kids[i]) IS NOT NULL OR (kids[i] ->> 'class')::int >= 2)
			   AND EXISTS (SELECT 1 FROM pg_catalog.unnest(kids[i:]) k WHERE cdp_internal.seg_read_spec(k) IS NOT NULL) THEN
				specs := pg_catalog.to_jsonb(ARRAY(SELECT cdp_internal.seg_read_spec(k) FROM pg_catalog.unnest(kids[i:]) k
				                                    WHERE cdp_internal.seg_read_spec(k) IS NOT NULL));
				rr := cdp_internal.seg_read(r, specs);
				IF rr IS NOT NULL THEN
					r := rr;
					EXIT WHEN pg_catalog.cardinality(r) = 0;
					FOR j IN i .. pg_catalog.cardinality(kids) LOOP
						IF cdp_internal.seg_read_spec(kids[j]) IS NOT NULL THEN
							kids[j] := NULL;
						END IF;
					END LOOP;
				ELSE
					noread := true;	/* declined: SQL probes, clause by clause */
				END IF;
			END IF;
			CONTINUE WHEN kids[i] IS NULL;
			/* "prof": every candidate has a profile (a profile clause or the caller said so) */
			r := cdp_internal.seg_eval(CASE WHEN prof THEN kids[i] || '{"prof": true}' ELSE kids[i] END, r, n_all);
			prof := prof OR (kids[i] ? 'pred');
			EXIT WHEN pg_catalog.cardinality(r) = 0;
		END LOOP;
		RETURN r;
	ELSIF plan ->> 't' = 'any' THEN
		/* within candidates, each clause sees only those no earlier clause took */
		r := '{}';
		FOR kid IN SELECT CASE WHEN prof THEN k || '{"prof": true}' ELSE k END FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k LOOP
			IF cand IS NULL THEN
				r := cdp_internal.seg_or(r, cdp_internal.seg_eval(kid, NULL, n_all));
			ELSE
				EXIT WHEN pg_catalog.cardinality(r) = n;
				r := cdp_internal.seg_or(r, cdp_internal.seg_eval(kid, cdp_internal.seg_minus(cand, r), n_all));
			END IF;
		END LOOP;
		RETURN r;
	ELSE
		r := coalesce(cand, cdp_internal.seg_universe());
		RETURN cdp_internal.seg_minus(r, cdp_internal.seg_eval(CASE WHEN prof THEN (plan -> 'kid') || '{"prof": true}' ELSE plan -> 'kid' END, r, n_all));
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_eval(jsonb, bigint[], bigint) IS
	'the golden ids meeting a compiled rule node, within a candidate set (NULL = all) (internal)';

/*
 * The ids of a set that may be contacted for a purpose: through the channel, or through at least
 * one channel when channel is NULL (the union of may_contact over the channels).  The set-based
 * form of cdp.may_contact (same fold, same defaults, same partner and suppression rules;
 * test/pgtap/80_consent_summary.sql and 82_segment_rules.sql compare them): the fold and the
 * partner flag are one row per person of cdp_internal.consent_summary (80_consent.sql), read by
 * primary key or one pass; the suppression list is asked only when it holds an address for the
 * purpose, and then only for the persons consent allows.
 */
CREATE FUNCTION cdp_internal.seg_consent_ok(ids bigint[], purpose text, channel text) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	chans	text[] := CASE WHEN channel IS NULL THEN ARRAY(SELECT x.channel FROM @extschema@.consent_channels() x) ELSE ARRAY[channel] END;
	dflt	bigint := cdp_internal.consent_default_mask();
	sup		boolean := EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                            WHERE s.purpose = seg_consent_ok.purpose AND s.suppressed);
	/* a person known only through partner bases gets marketing only with partner_sharing too (as may_contact) */
	viap	boolean := purpose = 'marketing';
	psup	boolean := purpose = 'marketing' AND EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                     WHERE s.purpose = 'partner_sharing' AND s.suppressed);
	probe	boolean := pg_catalog.cardinality(ids) * 20 <= (SELECT c.reltuples FROM pg_catalog.pg_class c
	                                                        WHERE c.oid = 'cdp_internal.consent_summary'::regclass);
BEGIN
	RETURN (
	WITH pc AS MATERIALIZED (SELECT c.ch, cdp_internal.consent_bit(seg_consent_ok.purpose, c.ch) AS b,
	                   cdp_internal.consent_bit('partner_sharing', c.ch) AS pb
	              FROM pg_catalog.unnest(chans) c(ch)),
	/*
	 * the ids' rows: for a set small beside the clinic one primary-key descent per id by the C
	 * reader (session 28; a lateral probe per id before), else one hash join over the summary
	 */
	st AS MATERIALIZED (
		SELECT s.golden_id AS id, coalesce(s.allowed, dflt) AS allowed, viap AND NOT coalesce(s.internal, false) AS partner, s.allowed IS NULL AS norow
		  FROM cdp_internal.seg_summary_rows(cdp_internal.seg_set(ids)) s
		 WHERE probe
		UNION ALL
		SELECT c.id, coalesce(s.allowed, dflt), viap AND NOT coalesce(s.internal, false), s.allowed IS NULL
		  FROM pg_catalog.unnest(ids) c(id)
		  LEFT JOIN cdp_internal.consent_summary s ON s.golden_id = c.id
		 WHERE NOT probe),
	/* a person without a row (new since): the defaults, and the partner rule from the records */
	st2 AS (
		SELECT st.id, st.allowed,
		       CASE WHEN st.norow AND viap
		            THEN NOT EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id
		                              WHERE r.golden_id = st.id AND s.kind = 'internal')
		            ELSE st.partner END AS partner
		  FROM st),
	ok AS (
		SELECT st.id, pc.ch, st.partner FROM st2 st, pc
		 WHERE st.allowed OPERATOR(pg_catalog.&) ((1::bigint) OPERATOR(pg_catalog.<<) pc.b) <> 0
		   AND (NOT st.partner OR st.allowed OPERATOR(pg_catalog.&) ((1::bigint) OPERATOR(pg_catalog.<<) pc.pb) <> 0))
	SELECT cdp_internal.seg_set(ARRAY(
		SELECT ok.id FROM ok
		 WHERE (NOT sup OR NOT cdp_internal.consent_all_suppressed(ok.id, ok.ch, seg_consent_ok.purpose))
		   AND (NOT (psup AND ok.partner) OR NOT cdp_internal.consent_all_suppressed(ok.id, ok.ch, 'partner_sharing')))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_consent_ok(bigint[], text, text) IS
	'the ids of a set that may be contacted for a purpose (through a channel, or any when NULL): may_contact for a set, from the consent summary (internal)';

/*
 * Evaluates a plan with its guards for a day, within cand (NULL = everyone): every id the rule or
 * the include list yields, with NULL for a member or the first guard that removed it: archived,
 * excluded, no_consent, then the offer's block reason (sex, age, contraindication:<code>, ...).
 */
CREATE FUNCTION cdp_internal.seg_evaluate(plan jsonb, purpose text, channel text, offer bigint, d date,
	include bigint[], exclude bigint[], cand bigint[] DEFAULT NULL)
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* probes of 10^4-10^5 ids are estimated costly enough for a JIT compile of 0.1 s each (session 24) */
	AS $$
DECLARE
	n_all	bigint;
	r		bigint[];
	act		bigint[];
	kept	bigint[];
	ok		bigint[];
	unk		bigint[];
	rule	bigint[];
	known	bigint[];
	o		@extschema@.offer;
BEGIN
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	r := cdp_internal.seg_eval(plan, cand, n_all);
	rule := r;
	unk := CASE WHEN cand IS NULL THEN include ELSE cdp_internal.seg_and(include, cand) END;
	/*
	 * the ids not known to have a profile: all of them, unless the rule is (or its top "all" has)
	 * a profile clause, which read each id's profile row: then only the included ones (session 26)
	 */
	IF NOT (plan ? 'pred' OR (plan ->> 't' = 'all' AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k WHERE k ? 'pred'))) THEN
		unk := cdp_internal.seg_or(r, unk);
	ELSE
		unk := cdp_internal.seg_minus(unk, r);
	END IF;
	r := cdp_internal.seg_or(r, CASE WHEN cand IS NULL THEN include ELSE cdp_internal.seg_and(include, cand) END);
	/*
	 * the active ones.  While the set is small beside the clinic: those with a profile (known, or
	 * an index-only probe of the primary key per id) less the archived ones (patient_archived_idx);
	 * as a join, the planner hashed every profile (1.8 s at 1M for 33k ids, session 25), and a
	 * probe reading each profile's status cost 2.5 times the index-only one.  Else one join.
	 */
	IF pg_catalog.cardinality(unk) * 20 <= n_all THEN
		act := cdp_internal.seg_minus(
			cdp_internal.seg_or(cdp_internal.seg_minus(r, unk),
				cdp_internal.seg_probe('SELECT c.id FROM pg_catalog.unnest($1) c(id)'
				                       ' WHERE EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = c.id)', unk)),
			cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM @extschema@.patient p WHERE p.status = 'archived')));
	ELSE
		act := cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM pg_catalog.unnest(r) c(id)
		                                  JOIN @extschema@.patient p ON p.golden_id = c.id WHERE p.status = 'active'));
	END IF;
	RETURN QUERY SELECT x, 'archived'::text FROM pg_catalog.unnest(cdp_internal.seg_minus(r, act)) x;
	kept := cdp_internal.seg_minus(act, exclude);
	RETURN QUERY SELECT x, 'excluded'::text FROM pg_catalog.unnest(cdp_internal.seg_and(act, exclude)) x;
	ok := cdp_internal.seg_consent_ok(kept, purpose, channel);
	RETURN QUERY SELECT x, 'no_consent'::text FROM pg_catalog.unnest(cdp_internal.seg_minus(kept, ok)) x;
	IF offer IS NULL THEN
		RETURN QUERY SELECT x, NULL::text FROM pg_catalog.unnest(ok) x;
		RETURN;
	END IF;
	SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = offer;
	/*
	 * the ids the rule yielded passed its profile clause (the rule itself or one of its top
	 * "all"), in this snapshot: when what that clause implies (its "imp") implies the offer's sex
	 * and age, their profiles are not read again (session 27); they are active (archived ones left above)
	 */
	IF cdp_internal.offer_implied(o, CASE WHEN plan ? 'pred' THEN plan -> 'imp' WHEN plan ->> 't' = 'all'
	                                      THEN (SELECT k -> 'imp' FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k
	                                             WHERE k ? 'pred' AND k ? 'imp' LIMIT 1) END, d) THEN
		known := cdp_internal.seg_and(ok, rule);
	END IF;
	/* set-based: offer_reason of every survivor in a few passes, not one call each */
	RETURN QUERY SELECT x.golden_id, x.reason FROM cdp_internal.offer_reasons(ok, o, d, known) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_evaluate(jsonb, text, text, bigint, date, bigint[], bigint[], bigint[]) IS
	'evaluates a compiled rule with the include list and the guards (archived, excluded, no_consent, offer reasons) (internal)';

/* Checks the preview/segment arguments shared by preview and create: purpose, channel, offer. */
CREATE FUNCTION cdp_internal.seg_check_target(purpose text, channel text, offer bigint) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[coalesce(channel, '*')]);
	IF channel = '*' THEN
		RAISE EXCEPTION 'a segment channel is one channel or NULL (any)' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call, post or NULL.';
	END IF;
	IF offer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.offer o WHERE o.offer_id = offer) THEN
		RAISE EXCEPTION 'offer "%" does not exist', offer USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_check_target(text, text, bigint) IS
	'validates the purpose, channel and offer of a segment or preview (internal)';

/*
 * Counts who a rule would reach today, without saving anything: {"count": n, "dropped":
 * {"archived": n, "no_consent": n, "sex": n, "contraindication:C61": n, ...}, "sample": [up to 10
 * golden ids]}.
 */
CREATE FUNCTION @extschema@.segment_preview(rules jsonb, offer bigint DEFAULT NULL, purpose text DEFAULT 'marketing',
	channel text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
BEGIN
	PERFORM cdp_internal.seg_check_target(purpose, channel, offer);
	plan := cdp_internal.seg_prepare(rules, purpose, CURRENT_DATE);
	RETURN (
		WITH ev AS (SELECT * FROM cdp_internal.seg_evaluate(plan, purpose, channel, offer, CURRENT_DATE, '{}', '{}'))
		SELECT pg_catalog.jsonb_build_object(
			'count', (SELECT pg_catalog.count(*) FROM ev WHERE ev.reason IS NULL),
			'dropped', coalesce((SELECT pg_catalog.jsonb_object_agg(x.reason, x.n) FROM
			             (SELECT ev.reason, pg_catalog.count(*) AS n FROM ev WHERE ev.reason IS NOT NULL GROUP BY ev.reason) x), '{}'),
			'sample', coalesce((SELECT pg_catalog.jsonb_agg(x.golden_id) FROM
			             (SELECT ev.golden_id FROM ev WHERE ev.reason IS NULL
			               ORDER BY pg_catalog.hashint8(ev.golden_id), ev.golden_id LIMIT 10) x), '[]')));
END
$$;
COMMENT ON FUNCTION @extschema@.segment_preview(jsonb, bigint, text, text) IS
	'who a rule would reach today, without saving: {"count", "dropped": {guard: n}, "sample": [golden ids]}; e.g. segment_preview(''{"attr": "sex", "op": "=", "value": "F"}'')';
