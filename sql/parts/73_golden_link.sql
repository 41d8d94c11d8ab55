/*
 * sql/parts/73_golden_link.sql: golden records: link, merge, unmerge.
 */

/* ------------------------------------------------------------------ link, merge, unmerge */

/* The golden id of a record, or a clear error naming it. */
CREATE FUNCTION cdp_internal.golden_of_record(rec bigint, argname text) RETURNS bigint
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g	bigint;
BEGIN
	IF rec IS NULL THEN
		RAISE EXCEPTION '% must not be null', argname USING ERRCODE = '22004';
	END IF;
	SELECT r.golden_id INTO g FROM @extschema@.record r WHERE r.record_id = rec;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'record "%" does not exist', rec
			USING ERRCODE = 'P0002',
			DETAIL = pg_catalog.format('No row of cdp.record has record_id %s (argument %s).', rec, argname),
			HINT = 'Pass the record_id returned by cdp.upsert_record.';
	END IF;
	RETURN g;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_of_record(bigint, text) IS
	'the golden id of a record; raises P0002 naming the record when it does not exist (internal)';

/* Makes sure the given persons have projection rows, then locks them in id order. */
CREATE FUNCTION cdp_internal.golden_lock(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.unnest(ids) i
	            WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = i)) THEN
		PERFORM cdp_internal.refresh_patients(ids);
	END IF;
	PERFORM 1 FROM @extschema@.patient p WHERE p.golden_id = ANY (ids) ORDER BY p.golden_id FOR UPDATE;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_lock(bigint[]) IS
	'locks the projection rows of the given persons in id order, creating missing ones (internal)';

/*
 * Whether a batch of the given number of links locks cdp.record, cdp.clinical_event and
 * cdp.patient whole, and if so locks them (issue 16, session 32): from cdp.merge_lock_tables_links
 * links (default 10000, GOLDEN_LOCK_TABLES_LINKS of src/golden.h; 0 never), in READ COMMITTED
 * only (the statements after the locks must see what committed before them; a transaction
 * snapshot would not, and the row locks raise the serialization error there).  At 1M records a
 * first-day batch locked ~1M record rows, the clinical events and ~800k profile rows one by one,
 * each a dirtied tuple with its WAL, and read the persons of every link a second time under them.
 * EXCLUSIVE, not SHARE ROW EXCLUSIVE: it conflicts with the ROW SHARE lock of a transaction that
 * holds row locks (FOR NO KEY UPDATE, FOR KEY SHARE) too, so once it is granted no other
 * transaction holds or can take a row lock in the three tables, or write them, until this one
 * ends, and nothing read under it can change; plain reads go on.  The three are taken all or
 * none: each with NOWAIT inside a subtransaction; when one is busy the subtransaction's locks are
 * released and the call waits for the busy table alone (then lets it go) before the next attempt.
 * So the batch never waits for one of the tables while holding another, and a transaction that
 * holds a profile row and then writes a record cannot deadlock with it.  Returns false, holding
 * none of them, below the threshold or after 20 attempts (the tables kept being busy): the caller
 * then locks row by row.  lock_timeout, statement_timeout and a deadlock while waiting are raised.
 */
CREATE FUNCTION cdp_internal.golden_lock_tables(links int) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	above	int := COALESCE(NULLIF(pg_catalog.current_setting('cdp.merge_lock_tables_links', true), ''), '10000')::int;
	busy	text;
BEGIN
	IF above = 0 OR links IS NULL OR links < above
	   OR pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
		RETURN false;
	END IF;
	FOR attempt IN 1..20 LOOP
		BEGIN
			busy := 'record';
			LOCK TABLE ONLY @extschema@.record IN EXCLUSIVE MODE NOWAIT;
			busy := 'clinical_event';
			LOCK TABLE ONLY @extschema@.clinical_event IN EXCLUSIVE MODE NOWAIT;
			busy := 'patient';
			LOCK TABLE ONLY @extschema@.patient IN EXCLUSIVE MODE NOWAIT;
			RETURN true;
		EXCEPTION WHEN lock_not_available THEN
			/* the subtransaction's end released what it took */
			NULL;
		END;
		/* wait for the busy table holding none of the three, then let it go */
		BEGIN
			IF busy = 'record' THEN
				LOCK TABLE ONLY @extschema@.record IN EXCLUSIVE MODE;
			ELSIF busy = 'clinical_event' THEN
				LOCK TABLE ONLY @extschema@.clinical_event IN EXCLUSIVE MODE;
			ELSE
				LOCK TABLE ONLY @extschema@.patient IN EXCLUSIVE MODE;
			END IF;
			RAISE EXCEPTION USING ERRCODE = 'raise_exception', MESSAGE = 'release';
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
	RETURN false;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_lock_tables(int) IS
	'from cdp.merge_lock_tables_links links, locks cdp.record, cdp.clinical_event and cdp.patient in EXCLUSIVE mode, all or none, never waiting while holding one; false (nothing held) when it does not (internal to link_records_many and golden_link_apply)';

/*
 * Links two source records.  When they already share a golden id, only record.linked is
 * appended.  Otherwise the two persons merge: the smaller golden id survives, every record and
 * clinical event of the other moves to it, a redirect remembers the old id, patient.merged is
 * appended and the survivor's profile is re-folded; the other profile row is removed.  Returns
 * the surviving golden id, or NULL (nothing done) when a no_match decision joins a record of one
 * person to a record of the other.
 */
CREATE FUNCTION @extschema@.link_records(a bigint, b bigint, evidence jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.golden_of_record(a, 'a');
	PERFORM cdp_internal.golden_of_record(b, 'b');
	IF a = b THEN
		RAISE EXCEPTION 'cannot link record "%" to itself', a USING ERRCODE = '22023';
	END IF;
	IF evidence IS NOT NULL AND pg_catalog.jsonb_typeof(evidence) <> 'object' THEN
		RAISE EXCEPTION 'link evidence must be a JSON object'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', evidence::text);
	END IF;
	/* one link is a batch of one: the same locks, plan and writes as link_records_many */
	RETURN (cdp_internal.golden_link_apply(ARRAY[a], ARRAY[b], ARRAY[evidence]))[1];
END
$$;
COMMENT ON FUNCTION @extschema@.link_records(bigint, bigint, jsonb) IS
	'links two source records, merging their persons (older golden id survives, the other redirects); returns the golden id, NULL if a no_match decision forbids it';

/*
 * The merge plan of a batch of links (src/match_link.c): for link i, between the persons
 * golden_a[i] and golden_b[i] as they were before the batch, whether they were one person by
 * then ('s'), a no_match decision between the grown persons refuses it ('n'), or gone merges into
 * keep ('m', the smaller id survives) taking the records of the original golden ids in absorbed;
 * restore: keep was archived and gone active.
 */
CREATE FUNCTION cdp_internal._golden_merge_plan(golden_a bigint[], golden_b bigint[],
		no_match_a bigint[], no_match_b bigint[], archived bigint[])
	RETURNS TABLE (ord int, outcome "char", keep bigint, gone bigint, restore boolean, absorbed bigint[])
	AS 'MODULE_PATHNAME', 'cdp_golden_merge_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._golden_merge_plan(bigint[], bigint[], bigint[], bigint[], bigint[]) IS
	'the merges a list of links between golden ids makes when applied in order, by union-find (internal to link_records_many)';

/*
 * The same plan as one row of arrays, element i the columns of link i (ord = i), the absorbed ids of
 * every merge flattened into (ab_ord, ab_g) in link then id order; arrays of nothing are NULL.
 * What golden_link_apply reads: aggregating _golden_merge_plan's rows back into arrays took seven
 * sorts of the links (issue 16).
 */
CREATE FUNCTION cdp_internal._golden_merge_plan_arrays(golden_a bigint[], golden_b bigint[],
		no_match_a bigint[], no_match_b bigint[], archived bigint[],
		OUT ord int[], OUT outcome "char"[], OUT keep bigint[], OUT gone bigint[], OUT restore boolean[],
		OUT ab_ord int[], OUT ab_g bigint[])
	RETURNS record
	AS 'MODULE_PATHNAME', 'cdp_golden_merge_plan_arrays'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._golden_merge_plan_arrays(bigint[], bigint[], bigint[], bigint[], bigint[]) IS
	'the merge plan of _golden_merge_plan as one row of arrays (internal to golden_link_apply)';

/*
 * The writes of golden_link_apply that are rows built from its plan (C, src/golden_link_write.c):
 * the events of the links, the membership intervals the merges close and open, the redirects, as
 * its SQL statements write them and in the same order, put on pages many at a time (issue 16).
 * Returns written = false, having written nothing, when cdp.event, cdp.patient_member or
 * cdp.patient_redirect has an insert trigger (or patient_member an update trigger), a rule, a stored
 * generated column or row-level security for the current user (the caller then runs its statements); else the merges
 * (link number, survivor, absorbed id), each moved record's final person and the restored persons
 * with the time of their event.  Not STRICT: evidence may be NULL.  The ev_ arguments, when
 * given (all or none; evidence then NULL), are a run's evidence in parts (the arrays
 * cdp_internal._match_link_args takes, in link order): each link's evidence object is built where
 * its event's payload is written, the same jsonb as _match_link_args builds (issue 12, session 36).
 */
CREATE FUNCTION cdp_internal.golden_link_write(a bigint[], b bigint[], evidence jsonb[], outcome "char"[],
		keep bigint[], gone bigint[], restore boolean[], mv_rec bigint[], mv_ord int[],
		ev_probability float8[] DEFAULT NULL, ev_weight float8[] DEFAULT NULL, ev_rule int[] DEFAULT NULL,
		ev_forced boolean[] DEFAULT NULL, ev_levels smallint[] DEFAULT NULL, ev_rules jsonb DEFAULT NULL,
		ev_by text DEFAULT NULL, ev_version int DEFAULT NULL,
		OUT written boolean, OUT m_ord int[], OUT m_keep bigint[], OUT m_gone bigint[],
		OUT fin_rec bigint[], OUT fin_keep bigint[], OUT rs_id bigint[], OUT rs_at timestamptz[])
	RETURNS record
	AS 'MODULE_PATHNAME', 'cdp_golden_link_write'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.golden_link_write(bigint[], bigint[], jsonb[], "char"[], bigint[], bigint[], boolean[], bigint[], int[], float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) IS
	'writes the events, membership and redirects of a planned batch of links in bulk (C), the evidence given whole or (a run''s) in parts; written = false when a table needs the SQL path (internal to golden_link_apply)';

/*
 * The move of records to their final persons in golden_link_apply (C, src/golden_link_write.c):
 * what its UPDATE of cdp.record writes (record rec[i] to person keep[i], rec strictly ascending),
 * row by row through the primary key, without the statement's join and the transition tables of
 * its consent triggers, which are not fired: the caller runs cdp_internal.consent_records_moved
 * (issue 16, session 31).  Returns false, having written nothing, when cdp.record has another
 * update trigger, a rule, a stored generated column or row-level security for the current user
 * (the caller then runs its UPDATE).  The caller holds the records' row locks.
 */
CREATE FUNCTION cdp_internal.golden_move_records(rec bigint[], keep bigint[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_golden_move_records'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.golden_move_records(bigint[], bigint[]) IS
	'moves records to their final persons after a planned batch of links (C, no consent trigger: the caller runs consent_records_moved); false when cdp.record needs the UPDATE (internal to golden_link_apply)';

/*
 * The delete of the profile rows a merge absorbed in golden_link_apply (C,
 * src/golden_profile_delete.c): each distinct id in ascending order found through cdp.patient's
 * primary key and its row deleted, what the DELETE ... USING unnest(m_gone) deleted, without the
 * statement's join and executor (issue 16, session 37).  Returns false, having deleted nothing,
 * when cdp.patient has a delete trigger, a rule or row-level security for the current user (the
 * caller then runs its DELETE).  The caller holds the rows' locks.
 */
CREATE FUNCTION cdp_internal.golden_delete_profiles(ids bigint[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_golden_delete_profiles'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal.golden_delete_profiles(bigint[]) IS
	'deletes the profile rows of the golden ids a planned batch of links absorbed (C); false when cdp.patient needs the DELETE (internal to golden_link_apply)';
REVOKE ALL ON FUNCTION cdp_internal.golden_delete_profiles(bigint[]) FROM PUBLIC;

/*
 * Applies links between records in the given order, with exactly the effect of calling
 * link_records for each in turn: one record.linked event for records already in one person,
 * otherwise one patient.merged event per merge (same payload: from, into, the moved records,
 * a, b, evidence), patient.restored when an archived survivor merges with an active person,
 * redirects, membership intervals, clinical events and records moved, absorbed rows removed.
 * The difference is the cost: the plan is computed in memory, every table is written by one
 * statement, and each surviving person is re-folded once.  Locks, in id order: the records and
 * clinical events of the persons involved (what ingest locks first), then their profile rows
 * (as refresh_patients, link_records and unmerge do); a batch of at least
 * cdp.merge_lock_tables_links links in READ COMMITTED locks the three tables whole instead
 * (golden_lock_tables), and tables_locked says its caller took them before reading golden_a and
 * golden_b.  Returns the surviving golden id of each
 * link, NULL where a no_match decision refused it.  The arguments are trusted (checked by the
 * callers link_records and link_records_many).  Plans: generic for a few links (planning would
 * cost more than the work), custom for more, so the planner sees the arrays as constants and sizes
 * the joins between them by their real length (a generic plan takes every unnest for 10 rows and
 * joins them by nested loops).  golden_a and golden_b, when given, are the golden ids of a and b as
 * the caller read them (link_records_many): a first guess of the persons to lock, read again under
 * the locks.  The ev_ arguments, when given (a run's links: golden_link_run; evidence then NULL),
 * are the evidence in parts, as golden_link_write takes them (issue 12, session 36); the six-argument
 * form below gives none.
 */
CREATE FUNCTION cdp_internal.golden_link_apply(a bigint[], b bigint[], evidence jsonb[],
		golden_a bigint[], golden_b bigint[], tables_locked boolean,
		ev_probability float8[], ev_weight float8[], ev_rule int[], ev_forced boolean[], ev_levels smallint[],
		ev_rules jsonb, ev_by text, ev_version int) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ga			bigint[] := golden_a;
	gb			bigint[] := golden_b;
	ga2			bigint[];
	gb2			bigint[];
	n_locked	bigint;
	ids			bigint[];
	created		bigint[];
	tries		int := 0;
	pl_ord		int[];
	pl_out		"char"[];
	pl_keep		bigint[];
	pl_gone		bigint[];
	pl_rest		boolean[];
	ab_ord		int[];
	ab_g		bigint[];
	ev_id		bigint[];
	ev_at		timestamptz[];
	ev_kind		text[];
	ev_subj		bigint[];
	m_ord		int[];
	m_keep		bigint[];
	m_gone		bigint[];
	m_ev		bigint[];
	m_at		timestamptz[];
	mv_rec		bigint[];
	mv_ord		int[];
	mm_rec		bigint[];
	mm_keep		bigint[];
	mm_ev		bigint[];
	mm_at		timestamptz[];
	mm_nev		bigint[];
	mm_nat		timestamptz[];
	mm_first	boolean[];
	rs_id		bigint[];
	rs_at		timestamptz[];
	fin_rec		bigint[];
	fin_keep	bigint[];
	c_done		boolean := false;
	locked		boolean := COALESCE(tables_locked, false);
	survivors	bigint[];
	res			bigint[];
	/* step times as DEBUG1 messages (profiling: SET client_min_messages = debug1) */
	tt			timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF pg_catalog.cardinality(a) = 0 THEN
		RETURN '{}';
	END IF;
	IF pg_catalog.cardinality(a) > 16 THEN
		/* local to this call: the function's own SET restores the generic mode on exit */
		PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
	END IF;
	/*
	 * lock the persons of the records; a concurrent merge or unmerge may move a record meanwhile.
	 * The persons of both ends of every link (ga, gb) are read once before the locks (or taken from
	 * the caller, link_records_many, which read them to check the records exist) and once after,
	 * and the plan reads the second reading: each reading joins every link's two records, and
	 * there were four (issue 16, session 29).  A batch of cdp.merge_lock_tables_links links or more
	 * locks the tables first instead, and its one reading is final (session 32)
	 */
	IF ga IS NULL OR gb IS NULL THEN
		/* a large batch whose caller took no table locks may take them (before reading) */
		IF NOT locked THEN
			locked := cdp_internal.golden_lock_tables(pg_catalog.cardinality(a));
		END IF;
		SELECT pg_catalog.array_agg(ra.golden_id ORDER BY x.i), pg_catalog.array_agg(rb.golden_id ORDER BY x.i)
		  INTO ga, gb
		  FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b)) WITH ORDINALITY x(ra, rb, i)
		  JOIN @extschema@.record ra ON ra.record_id = x.ra
		  JOIN @extschema@.record rb ON rb.record_id = x.rb;
	END IF;
	SELECT pg_catalog.array_agg(DISTINCT x.g ORDER BY x.g) INTO ids
	  FROM pg_catalog.unnest(pg_catalog.array_cat(ga, gb)) x(g);
	IF locked THEN
		/*
		 * a batch of at least cdp.merge_lock_tables_links links holds the three tables whole
		 * (golden_lock_tables, taken by link_records_many before it read ga and gb, or above):
		 * nothing can have moved a record since that reading, so it is final; only a person
		 * without a profile row gets its placeholder, as in the row-lock path below
		 */
		SELECT pg_catalog.array_agg(g.id ORDER BY g.id) INTO created
		  FROM pg_catalog.unnest(ids) g(id)
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = g.id);
		IF created IS NOT NULL THEN
			INSERT INTO @extschema@.patient (golden_id) SELECT g.id FROM pg_catalog.unnest(created) g(id) ORDER BY 1;
		END IF;
	ELSE
		LOOP
			PERFORM 1 FROM @extschema@.record r JOIN pg_catalog.unnest(ids) g(id) ON r.golden_id = g.id
			 ORDER BY r.record_id FOR NO KEY UPDATE OF r;
			PERFORM 1 FROM @extschema@.clinical_event c JOIN pg_catalog.unnest(ids) g(id) ON c.golden_id = g.id
			 ORDER BY c.event_id FOR NO KEY UPDATE OF c;
			/*
			 * the profile rows, in id order; when some person has none yet (a profile row is written
			 * with every new person, so hardly ever), a placeholder is made for it (folded at the end,
			 * as refresh_patients would) and every row locked again.  Counting the rows the lock
			 * found replaces an insertion attempt per person (one probe of the key each, session 29)
			 */
			SELECT pg_catalog.count(*) INTO n_locked
			  FROM (SELECT 1 FROM @extschema@.patient p JOIN pg_catalog.unnest(ids) g(id) ON p.golden_id = g.id
			         ORDER BY p.golden_id FOR UPDATE OF p) l;
			IF n_locked < pg_catalog.cardinality(ids) THEN
				WITH ins AS (
					INSERT INTO @extschema@.patient (golden_id)
					SELECT g.id FROM pg_catalog.unnest(ids) g(id) ORDER BY 1
					ON CONFLICT (golden_id) DO NOTHING
					RETURNING golden_id)
				SELECT pg_catalog.array_cat(created, pg_catalog.array_agg(ins.golden_id)) INTO created FROM ins;
				PERFORM 1 FROM @extschema@.patient p JOIN pg_catalog.unnest(ids) g(id) ON p.golden_id = g.id
				 ORDER BY p.golden_id FOR UPDATE OF p;
			END IF;
			/* a new statement: sees what committed while we waited */
			SELECT pg_catalog.array_agg(ra.golden_id ORDER BY x.i), pg_catalog.array_agg(rb.golden_id ORDER BY x.i)
			  INTO ga2, gb2
			  FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b)) WITH ORDINALITY x(ra, rb, i)
			  JOIN @extschema@.record ra ON ra.record_id = x.ra
			  JOIN @extschema@.record rb ON rb.record_id = x.rb;
			EXIT WHEN ga2 = ga AND gb2 = gb;
			ga := ga2;
			gb := gb2;
			SELECT pg_catalog.array_agg(DISTINCT x.g ORDER BY x.g) INTO ids
			  FROM pg_catalog.unnest(pg_catalog.array_cat(ga, gb)) x(g);
			tries := tries + 1;
			IF tries > 100 THEN
				RAISE EXCEPTION 'records keep moving between persons while they are linked'
					USING ERRCODE = '40001', HINT = 'Retry the transaction.';
			END IF;
		END LOOP;
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'lock', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* the plan, from the persons as they are now, as arrays (element i: link i) */
	SELECT x.ord, x.outcome, x.keep, x.gone, x.restore, x.ab_ord, x.ab_g
	  INTO pl_ord, pl_out, pl_keep, pl_gone, pl_rest, ab_ord, ab_g
	  /* every no_match decision: the plan ignores those outside these persons */
	  FROM (SELECT pg_catalog.array_agg(ra.golden_id) AS nm_a, pg_catalog.array_agg(rb.golden_id) AS nm_b
	          FROM @extschema@.pair_decision d
	          JOIN @extschema@.record ra ON ra.record_id = d.record_a
	          JOIN @extschema@.record rb ON rb.record_id = d.record_b
	         WHERE d.decision = 'no_match') nm,
	       cdp_internal._golden_merge_plan_arrays(ga, gb, nm.nm_a, nm.nm_b,
	         ARRAY(SELECT q.golden_id FROM @extschema@.patient q JOIN pg_catalog.unnest(ids) g(id) ON q.golden_id = g.id
	                WHERE q.status = 'archived')) x;
	RAISE DEBUG 'golden_link_apply %: % ms', 'plan', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * new records' membership starts at their record.created event, as in refresh_patients.  Only
	 * persons without a profile row before this call can have records without an open interval
	 * (every path that creates a profile row opens its records' intervals: ingest, refresh_patients,
	 * merges, unmerge, rebuild), so only they are looked at; looking at every person of the batch
	 * cost an index probe per record of every merged person (issue 16)
	 */
	IF created IS NOT NULL THEN
		PERFORM cdp_internal.golden_open_members(created);
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'open_members', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * every record each merge moves (the records of the original ids it absorbs), read once, in no
	 * order: golden_link_write sorts the moves itself and the SQL path orders them where it reads
	 * them (the two sorts of some 300k moves here cost about 0.4 s at 1M records, session 36)
	 */
	SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(x.ord)
	  INTO mv_rec, mv_ord
	  FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
	  JOIN @extschema@.record r ON r.golden_id = x.g;
	RAISE DEBUG 'golden_link_apply %: % ms', 'moved_records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * The events, membership and redirects: in C (golden_link_write, src/golden_link_write.c: rows
	 * built in memory and put on pages many at a time) unless a table has a trigger, rule or
	 * row-level security it cannot honour, or cdp_internal.golden_link_writer is 'sql' (the A/B test of
	 * test/pgtap/73_golden_link_write.sql); else by the SQL statements below, which write the same
	 * rows in the same order
	 */
	IF COALESCE(pg_catalog.current_setting('cdp_internal.golden_link_writer', true), '') <> 'sql' THEN
		SELECT w.written, w.m_ord, w.m_keep, w.m_gone, w.fin_rec, w.fin_keep, w.rs_id, w.rs_at
		  INTO c_done, m_ord, m_keep, m_gone, fin_rec, fin_keep, rs_id, rs_at
		  FROM cdp_internal.golden_link_write(a, b, evidence, pl_out, pl_keep, pl_gone, pl_rest, mv_rec, mv_ord,
		         ev_probability, ev_weight, ev_rule, ev_forced, ev_levels, ev_rules, ev_by, ev_version) w;
		RAISE DEBUG 'golden_link_apply %: % ms', 'write', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
	END IF;
	IF NOT c_done THEN
		/* a run's evidence given in parts: the objects golden_link_write would have built */
		IF evidence IS NULL AND ev_probability IS NOT NULL THEN
			SELECT x.evidence INTO evidence
			  FROM cdp_internal._match_link_args(ARRAY(SELECT pg_catalog.generate_series(1, pg_catalog.cardinality(a))), a, b,
			         ev_probability, ev_weight, ev_rule, ev_forced, ev_levels, ev_rules, ev_by, ev_version) x;
		END IF;
		/*
		 * the events, in link order: record.linked, or patient.merged (then patient.restored); one pass
		 * over the links, each payload built once (a merge always moves records: its gone id has some)
		 */
		WITH p AS (
			SELECT l.ord, l.outcome, l.keep, l.gone, l.restore, x.ra, x.rb, x.ev
			  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep), pg_catalog.unnest(pl_gone), pg_catalog.unnest(pl_rest)) l(ord, outcome, keep, gone, restore)
			  JOIN ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b), pg_catalog.unnest(evidence)) WITH ORDINALITY x(ra, rb, ev, i) ON x.i = l.ord
			 WHERE l.outcome <> 'n'),
		mv AS (
			SELECT x.ord, pg_catalog.array_agg(x.rec ORDER BY x.rec) AS recs
			  FROM ROWS FROM (pg_catalog.unnest(mv_rec), pg_catalog.unnest(mv_ord)) x(rec, ord)
			 GROUP BY x.ord),
		ins AS (
			INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
			SELECT e.kind, e.subject, p.keep, e.payload
			  FROM p LEFT JOIN mv ON mv.ord = p.ord
			 CROSS JOIN LATERAL (VALUES
			       (0, CASE p.outcome WHEN 'm' THEN 'patient.merged' ELSE 'record.linked' END,
			        CASE p.outcome WHEN 'm' THEN p.gone ELSE p.ra END,
			        CASE p.outcome
			          WHEN 'm' THEN pg_catalog.jsonb_build_object('from', p.gone, 'into', p.keep, 'records', pg_catalog.to_jsonb(mv.recs),
			                                                      'a', p.ra, 'b', p.rb, 'evidence', p.ev)
			          ELSE pg_catalog.jsonb_build_object('a', p.ra, 'b', p.rb, 'evidence', p.ev) END),
			       (1, 'patient.restored', p.keep,
			        CASE WHEN p.outcome = 'm' AND p.restore
			             THEN pg_catalog.jsonb_build_object('comment', pg_catalog.format('merged with active patient %s', p.gone)) END)
			       ) e(sub, kind, subject, payload)
			 WHERE e.sub = 0 OR (p.outcome = 'm' AND p.restore)
			 ORDER BY p.ord, e.sub
			RETURNING event_id, at, kind, subject)
		SELECT pg_catalog.array_agg(ins.event_id), pg_catalog.array_agg(ins.at), pg_catalog.array_agg(ins.kind),
		       pg_catalog.array_agg(ins.subject)
		  INTO ev_id, ev_at, ev_kind, ev_subj
		  FROM ins;
		RAISE DEBUG 'golden_link_apply %: % ms', 'events', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		/* each merge with its event (a gone id is absorbed once) */
		SELECT pg_catalog.array_agg(l.ord ORDER BY l.ord), pg_catalog.array_agg(l.keep ORDER BY l.ord),
		       pg_catalog.array_agg(l.gone ORDER BY l.ord), pg_catalog.array_agg(e.event_id ORDER BY l.ord),
		       pg_catalog.array_agg(e.at ORDER BY l.ord)
		  INTO m_ord, m_keep, m_gone, m_ev, m_at
		  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep), pg_catalog.unnest(pl_gone)) l(ord, outcome, keep, gone)
		  JOIN ROWS FROM (pg_catalog.unnest(ev_id), pg_catalog.unnest(ev_at), pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj)) e(event_id, at, kind, subject)
		    ON e.kind = 'patient.merged' AND e.subject = l.gone
		 WHERE l.outcome = 'm';
		RAISE DEBUG 'golden_link_apply %: % ms', 'merge_events', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
		IF m_ord IS NOT NULL THEN
			/*
			 * every move of every moved record, in record then link order, read once: its person and
			 * event, the next move's event, whether it is the record's first move
			 */
			SELECT pg_catalog.array_agg(y.rec ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.keep ORDER BY y.rec, y.ord),
			       pg_catalog.array_agg(y.ev ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.at ORDER BY y.rec, y.ord),
			       pg_catalog.array_agg(y.nev ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.nat ORDER BY y.rec, y.ord),
			       pg_catalog.array_agg(y.first ORDER BY y.rec, y.ord)
			  INTO mm_rec, mm_keep, mm_ev, mm_at, mm_nev, mm_nat, mm_first
			  FROM (SELECT x.rec, x.ord, m.keep, m.ev, m.at,
			               pg_catalog.lead(m.ev) OVER w AS nev, pg_catalog.lead(m.at) OVER w AS nat,
			               pg_catalog.row_number() OVER w = 1 AS first
			          FROM ROWS FROM (pg_catalog.unnest(mv_rec), pg_catalog.unnest(mv_ord)) x(rec, ord)
			          JOIN ROWS FROM (pg_catalog.unnest(m_ord), pg_catalog.unnest(m_keep), pg_catalog.unnest(m_ev), pg_catalog.unnest(m_at)) m(ord, keep, ev, at)
			            ON m.ord = x.ord
			        WINDOW w AS (PARTITION BY x.rec ORDER BY x.ord)) y;
			/* membership: the open interval of a moved record ends at its first move; one per move after */
			UPDATE @extschema@.patient_member pm SET to_event = f.ev, to_at = f.at
			  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_ev), pg_catalog.unnest(mm_at), pg_catalog.unnest(mm_first)) f(rec, ev, at, first)
			 WHERE f.first AND pm.record_id = f.rec AND pm.to_event IS NULL;
			RAISE DEBUG 'golden_link_apply %: % ms', 'member_close', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
			tt := pg_catalog.clock_timestamp();
			INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at, to_event, to_at)
			SELECT f.rec, f.keep, f.ev, f.at, f.nev, f.nat
			  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_ev), pg_catalog.unnest(mm_at),
			                  pg_catalog.unnest(mm_nev), pg_catalog.unnest(mm_nat)) f(rec, keep, ev, at, nev, nat);
			RAISE DEBUG 'golden_link_apply %: % ms', 'member_open', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
			tt := pg_catalog.clock_timestamp();

			INSERT INTO @extschema@.patient_redirect (old_id, new_id, at, event_id)
			SELECT m.gone, m.keep, m.at, m.ev FROM ROWS FROM (pg_catalog.unnest(m_gone), pg_catalog.unnest(m_keep), pg_catalog.unnest(m_at), pg_catalog.unnest(m_ev)) m(gone, keep, at, ev);
			RAISE DEBUG 'golden_link_apply %: % ms', 'redirects', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
			tt := pg_catalog.clock_timestamp();
			/* each moved record's final person: the person of its last move */
			SELECT pg_catalog.array_agg(f.rec), pg_catalog.array_agg(f.keep) INTO fin_rec, fin_keep
			  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_nev)) f(rec, keep, nev)
			 WHERE f.nev IS NULL;
			SELECT pg_catalog.array_agg(e.subject), pg_catalog.array_agg(e.at) INTO rs_id, rs_at
			  FROM ROWS FROM (pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj), pg_catalog.unnest(ev_at)) e(kind, subject, at)
			 WHERE e.kind = 'patient.restored';
		END IF;
	END IF;
	IF m_ord IS NOT NULL THEN
		/*
		 * records and clinical events go to the person their original id ends in.  After the C
		 * writer (fin_rec in record order) the records are moved in C and the consent triggers'
		 * work done for the persons of the merges, whose profile rows are held (session 31): the
		 * UPDATE's join, its transition tables and the triggers' re-lock of every person took
		 * about a third of the first-day merge at 1M
		 */
		IF c_done AND cdp_internal.golden_move_records(fin_rec, fin_keep) THEN
			PERFORM cdp_internal.consent_records_moved(
				pg_catalog.array_cat(m_gone, fin_keep), fin_rec);
		ELSE
			UPDATE @extschema@.record r SET golden_id = f.keep
			  FROM ROWS FROM (pg_catalog.unnest(fin_rec), pg_catalog.unnest(fin_keep)) f(rec, keep)
			 WHERE r.record_id = f.rec;
		END IF;
		RAISE DEBUG 'golden_link_apply %: % ms', 'records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
		UPDATE @extschema@.clinical_event c SET golden_id = f.keep
		  FROM (SELECT DISTINCT ON (x.g) x.g, m.keep
		          FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
		          JOIN ROWS FROM (pg_catalog.unnest(m_ord), pg_catalog.unnest(m_keep)) m(ord, keep) ON m.ord = x.ord
		         ORDER BY x.g, x.ord DESC) f
		 WHERE c.golden_id = f.g;
		RAISE DEBUG 'golden_link_apply %: % ms', 'clinical', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		/*
		 * an archived person that merges with an active one is active again.  The few restored ids
		 * are picked out first (rs_id): joined to every event of the batch, a profile table whose
		 * statistics said empty (rows created by this batch) got a nested loop rescanning the whole
		 * event list per profile row (100k records: 196 s instead of 0.1 s)
		 */
		IF rs_id IS NOT NULL THEN
			UPDATE @extschema@.patient p SET status = 'active', status_at = e.at
			  FROM ROWS FROM (pg_catalog.unnest(rs_id), pg_catalog.unnest(rs_at)) e(subject, at)
			 WHERE p.golden_id = e.subject;
		END IF;
		/*
		 * the absorbed profile rows, in id order (about the order of their pages): in link order the
		 * deletes visited the table's pages at random, about twice as long at 1M records (session 36).
		 * After the C writer, in C through the primary key (golden_delete_profiles, session 37)
		 */
		IF NOT (c_done AND cdp_internal.golden_delete_profiles(m_gone)) THEN
			DELETE FROM @extschema@.patient p
			 USING (SELECT g.id FROM pg_catalog.unnest(m_gone) g(id) ORDER BY g.id) g WHERE p.golden_id = g.id;
		END IF;
		RAISE DEBUG 'golden_link_apply %: % ms', 'restore_delete', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
	END IF;

	/* a new row whose person lost its records meanwhile goes, as in refresh_patients */
	DELETE FROM @extschema@.patient p USING pg_catalog.unnest(created) g(id)
	 WHERE p.golden_id = g.id
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = p.golden_id);
	/* each surviving person (and each new row) is folded once */
	SELECT pg_catalog.array_agg(x.g ORDER BY x.g) INTO survivors
	  FROM (SELECT pg_catalog.unnest(m_keep) UNION SELECT pg_catalog.unnest(created)
	        EXCEPT SELECT pg_catalog.unnest(m_gone)) x(g)
	 WHERE x.g IS NOT NULL;
	IF survivors IS NOT NULL THEN
		PERFORM cdp_internal.golden_refold(survivors);
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'refold', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();
	SELECT pg_catalog.array_agg(CASE WHEN l.outcome = 'n' THEN NULL ELSE l.keep END ORDER BY l.ord) INTO res
	  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep)) l(ord, outcome, keep);
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[], bigint[], bigint[], boolean, float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) IS
	'applies links between records in order as link_records would one by one, with set-based writes and one fold per survivor, the evidence given whole or (a run''s) in parts (internal)';
REVOKE ALL ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[], bigint[], bigint[], boolean, float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) FROM PUBLIC;

/*
 * golden_link_apply with the evidence whole (link_records, link_records_many): the form above
 * without parts.  An SQL-standard body (names bound at creation), one expression and no SET, so that
 * the planner inlines it into its callers' statements (as cdp.age_band)
 */
CREATE FUNCTION cdp_internal.golden_link_apply(a bigint[], b bigint[], evidence jsonb[],
		golden_a bigint[] DEFAULT NULL, golden_b bigint[] DEFAULT NULL, tables_locked boolean DEFAULT false) RETURNS bigint[]
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	RETURN cdp_internal.golden_link_apply(a, b, evidence, golden_a, golden_b, tables_locked,
		NULL::float8[], NULL::float8[], NULL::int[], NULL::boolean[], NULL::smallint[], NULL::jsonb, NULL::text, NULL::int);
COMMENT ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[], bigint[], bigint[], boolean) IS
	'applies links between records in order as link_records would one by one, with set-based writes and one fold per survivor (internal)';

/*
 * The check of link_records_many's arguments and its first reading of the persons, in C
 * (src/golden_link_write.c): every record looked up once, in record id order, instead of two
 * index probes per link in link order (issue 16, session 35).  bad: the first element (from 1)
 * with a NULL, a record linked to itself, a record that does not exist, or evidence (when given)
 * that is not a JSON object; golden_a, golden_b: the golden ids of each link's records.  done =
 * false, the rest NULL, when cdp.record is not read here (no SELECT privilege for the current
 * user, row-level security, not a plain table, citus): the caller then runs its statement.
 */
CREATE FUNCTION cdp_internal.golden_link_read(a bigint[], b bigint[], evidence jsonb[],
		OUT done boolean, OUT bad int, OUT golden_a bigint[], OUT golden_b bigint[])
	RETURNS record
	AS 'MODULE_PATHNAME', 'cdp_golden_link_read'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_link_read(bigint[], bigint[], jsonb[]) IS
	'the first bad element of link_records_many''s arguments and the golden ids of the records of each link, read in record id order (C); done = false when the caller must read them (internal to link_records_many)';

/*
 * Links many pairs of source records in the given order: the same result, events and
 * projections as calling link_records(a[i], b[i], evidence[i]) for i = 1, 2, ..., in one pass
 * (golden_link_apply).  Returns the surviving golden id of each link, NULL where a no_match
 * decision between the persons refused it.  evidence may be NULL (no evidence for any link).
 */
CREATE FUNCTION @extschema@.link_records_many(a bigint[], b bigint[], evidence jsonb[] DEFAULT NULL) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	bad		record;
	bad_i	bigint;
	bad_e	bigint;
	ga		bigint[];
	gb		bigint[];
	locked	boolean;
	done	boolean;
	/* the time of the checks and the first reading as a DEBUG1 message, beside golden_link_apply's steps */
	tt		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF a IS NULL OR b IS NULL THEN
		RAISE EXCEPTION 'a and b must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.array_ndims(a) > 1 OR pg_catalog.array_ndims(b) > 1 OR pg_catalog.array_ndims(evidence) > 1
	   OR pg_catalog.cardinality(a) <> pg_catalog.cardinality(b)
	   OR (evidence IS NOT NULL AND pg_catalog.cardinality(evidence) <> pg_catalog.cardinality(a)) THEN
		RAISE EXCEPTION 'a, b and evidence must be one-dimensional arrays of the same length'
			USING ERRCODE = '2202E',
			DETAIL = pg_catalog.format('a has %s elements, b %s, evidence %s.', pg_catalog.cardinality(a),
			                           pg_catalog.cardinality(b), COALESCE(pg_catalog.cardinality(evidence)::text, 'none'));
	END IF;
	/*
	 * a batch of at least cdp.merge_lock_tables_links links locks the record, clinical event and
	 * profile tables first (golden_lock_tables), so that the reading below is final
	 */
	locked := cdp_internal.golden_lock_tables(pg_catalog.cardinality(a));
	/*
	 * one pass over the links: the first bad element, and the persons of both records of each
	 * link, which golden_link_apply takes as its first reading (it reads them again under its row
	 * locks, unless the tables are locked).  In C (golden_link_read): each record looked up once,
	 * in record id order; the statement below, two index probes per link in link order, took
	 * 3.4 s of the merge of the 1M first day (issue 16, session 35).  The statement stays for a
	 * user golden_link_read does not read for
	 */
	SELECT r.done, r.bad, r.golden_a, r.golden_b INTO done, bad_i, ga, gb
	  FROM cdp_internal.golden_link_read(a, b, evidence) r;
	IF NOT done THEN
		SELECT pg_catalog.min(x.i) FILTER (WHERE x.ra IS NULL OR x.rb IS NULL OR x.ra = x.rb OR ra.record_id IS NULL
		                                          OR rb.record_id IS NULL),
		       pg_catalog.array_agg(ra.golden_id ORDER BY x.i), pg_catalog.array_agg(rb.golden_id ORDER BY x.i)
		  INTO bad_i, ga, gb
		  FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b)) WITH ORDINALITY x(ra, rb, i)
		  LEFT JOIN @extschema@.record ra ON ra.record_id = x.ra
		  LEFT JOIN @extschema@.record rb ON rb.record_id = x.rb;
		/*
		 * the first evidence that is not an object, element by element (unnest in the select list
		 * runs value per call): as a third column of the function scan above, every evidence
		 * object went into its tuplestore, about 230 MB at 1M records, written to disk past
		 * work_mem (issue 16, session 34)
		 */
		IF evidence IS NOT NULL THEN
			SELECT pg_catalog.min(e.i) INTO bad_e
			  FROM (SELECT pg_catalog.unnest(evidence) AS ev, pg_catalog.generate_series(1, pg_catalog.cardinality(evidence)) AS i) e
			 WHERE e.ev IS NOT NULL AND pg_catalog.jsonb_typeof(e.ev) <> 'object';
			bad_i := LEAST(bad_i, bad_e);
		END IF;
	END IF;
	IF bad_i IS NOT NULL THEN
		SELECT x.i, x.ra, x.rb, x.ev, ra.record_id IS NULL AS a_missing, rb.record_id IS NULL AS b_missing INTO bad
		  FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b), pg_catalog.unnest(evidence)) WITH ORDINALITY x(ra, rb, ev, i)
		  LEFT JOIN @extschema@.record ra ON ra.record_id = x.ra
		  LEFT JOIN @extschema@.record rb ON rb.record_id = x.rb
		 WHERE x.i = bad_i;
		IF bad.ra IS NULL OR bad.rb IS NULL THEN
			RAISE EXCEPTION 'element % of a and b must not be null', bad.i USING ERRCODE = '22004';
		ELSIF bad.a_missing OR bad.b_missing THEN
			RAISE EXCEPTION 'record "%" does not exist', CASE WHEN bad.a_missing THEN bad.ra ELSE bad.rb END
				USING ERRCODE = 'P0002',
				DETAIL = pg_catalog.format('No row of cdp.record has record_id %s (element %s of %s).',
				                           CASE WHEN bad.a_missing THEN bad.ra ELSE bad.rb END, bad.i,
				                           CASE WHEN bad.a_missing THEN 'a' ELSE 'b' END),
				HINT = 'Pass the record_id returned by cdp.upsert_record.';
		ELSIF bad.ra = bad.rb THEN
			RAISE EXCEPTION 'cannot link record "%" to itself', bad.ra
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Element %s of a and b names the same record.', bad.i);
		ELSE
			RAISE EXCEPTION 'link evidence must be a JSON object'
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Element %s of evidence is %s.', bad.i, bad.ev::text);
		END IF;
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'check', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	RETURN cdp_internal.golden_link_apply(a, b, evidence, ga, gb, locked);
END
$$;
COMMENT ON FUNCTION @extschema@.link_records_many(bigint[], bigint[], jsonb[]) IS
	'links many record pairs in order with exactly the effect of link_records on each in turn (events, redirects, membership), each survivor folded once; returns the golden id per link, NULL where a no_match decision refused it; e.g. link_records_many(ARRAY[1,3], ARRAY[2,4], NULL)';

/*
 * The links of a matching run (cdp_internal._match_run, issue 12, session 36): exactly what
 * link_records_many(a, b, evidence) does, evidence[i] being the object
 * cdp_internal._match_link_args builds for link i from element i of the parts (probability, weight,
 * rule, forced, levels; rules, by, settings_version), but the evidence stays in parts down to
 * golden_link_write, which builds each object into its event's payload: the run no longer builds a
 * jsonb[] of every evidence object (about 230 MB at 1M records) that link_records_many's check read
 * again and plpgsql handed expanded to C functions that flattened it.  The same locks
 * (golden_lock_tables, then golden_link_read's reading of the persons) and checks: parts always
 * give objects, a run's pairs are two distinct records, so only a record deleted since the run read
 * it can make an element bad; a batch with a bad element, or whose records golden_link_read does not
 * read, goes to link_records_many itself, with its evidence built, which raises the same error or
 * reads them by its statement.
 */
CREATE FUNCTION cdp_internal.golden_link_run(a bigint[], b bigint[], probability float8[], weight float8[], rule int[],
		forced boolean[], levels smallint[], rules jsonb, by text, settings_version int) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	bad_i	int;
	ga		bigint[];
	gb		bigint[];
	locked	boolean;
	done	boolean := false;
	/* the time of the checks and the first reading as a DEBUG1 message, as link_records_many's */
	tt		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF a IS NOT NULL AND b IS NOT NULL AND pg_catalog.array_ndims(a) = 1 AND pg_catalog.array_ndims(b) = 1
	   AND pg_catalog.cardinality(a) = pg_catalog.cardinality(b) THEN
		/* as link_records_many: the tables first for a large batch, then the one reading */
		locked := cdp_internal.golden_lock_tables(pg_catalog.cardinality(a));
		SELECT r.done, r.bad, r.golden_a, r.golden_b INTO done, bad_i, ga, gb
		  FROM cdp_internal.golden_link_read(a, b, NULL) r;
	END IF;
	IF NOT done OR bad_i IS NOT NULL THEN
		RETURN @extschema@.link_records_many(a, b,
			(SELECT x.evidence
			   FROM cdp_internal._match_link_args(ARRAY(SELECT pg_catalog.generate_series(1, pg_catalog.cardinality(a))), a, b,
			          probability, weight, rule, forced, levels, rules, by, settings_version) x));
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'check', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	RETURN cdp_internal.golden_link_apply(a, b, NULL, ga, gb, locked,
		probability, weight, rule, forced, levels, rules, by, settings_version);
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_link_run(bigint[], bigint[], float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) IS
	'link_records_many for a matching run''s links with their evidence in parts (the arguments of _match_link_args, in link order), each evidence object built only into its event''s payload (internal to _match_run)';
REVOKE ALL ON FUNCTION cdp_internal.golden_link_run(bigint[], bigint[], float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) FROM PUBLIC;

/*
 * Takes a record out of its person into a new golden id: both profiles are re-folded, no_match
 * decisions against every other record of the former person keep the matcher from re-linking it,
 * its clinical events follow it, and patient.unmerged is appended.  Returns the new golden id.
 */
CREATE FUNCTION @extschema@.unmerge(record_id bigint, reason text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rec		bigint := unmerge.record_id;
	g		bigint;
	others	bigint[];
	newg	bigint;
	ev		bigint;
	ev_at	timestamptz;
	o		bigint;
BEGIN
	IF reason IS NULL OR pg_catalog.btrim(reason) = '' THEN
		RAISE EXCEPTION 'an unmerge needs a reason'
			USING ERRCODE = '22023', HINT = 'Say why the record is not the same person, for example ''twin sibling''.';
	END IF;
	g := cdp_internal.golden_of_record(rec, 'record_id');
	/* the record and its clinical events first, then the person: the lock order of ingest and links */
	PERFORM 1 FROM @extschema@.record r WHERE r.record_id = rec FOR NO KEY UPDATE;
	PERFORM 1 FROM @extschema@.clinical_event c WHERE c.record_id = rec ORDER BY c.event_id FOR NO KEY UPDATE;
	LOOP
		PERFORM cdp_internal.golden_lock(ARRAY[g]);
		EXIT WHEN (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = rec) = g;
		g := cdp_internal.golden_of_record(rec, 'record_id');
	END LOOP;
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id) INTO others
	  FROM @extschema@.record r WHERE r.golden_id = g AND r.record_id <> rec;
	IF others IS NULL THEN
		RAISE EXCEPTION 'record "%" is alone in patient "%"', rec, g
			USING ERRCODE = '55000',
			DETAIL = 'There is nothing to unmerge: the record is the only record of its golden record.';
	END IF;
	newg := pg_catalog.nextval('@extschema@.golden_id_seq');
	PERFORM cdp_internal.golden_open_members(ARRAY[g]);
	ev := cdp_internal.append_event('patient.unmerged', rec, newg,
		pg_catalog.jsonb_build_object('record_id', rec, 'from', g, 'into', newg, 'reason', reason,
		                              'others', pg_catalog.to_jsonb(others)));
	SELECT e.at INTO ev_at FROM @extschema@.event e WHERE e.event_id = ev;
	UPDATE @extschema@.record r SET golden_id = newg WHERE r.record_id = rec;
	UPDATE @extschema@.clinical_event c SET golden_id = newg WHERE c.record_id = rec;
	UPDATE @extschema@.patient_member m SET to_event = ev, to_at = ev_at
	 WHERE m.record_id = rec AND m.to_event IS NULL;
	INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at) VALUES (rec, newg, ev, ev_at);
	FOREACH o IN ARRAY others LOOP
		PERFORM @extschema@.record_pair_decision(least(rec, o), greatest(rec, o),
			'no_match', reason);
	END LOOP;
	PERFORM cdp_internal.refresh_patients(ARRAY[g, newg]);
	RETURN newg;
END
$$;
COMMENT ON FUNCTION @extschema@.unmerge(bigint, text) IS
	'takes a source record out of its golden record into a new one, with no_match decisions against its former siblings; returns the new golden id';
