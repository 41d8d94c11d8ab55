/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

-- Issue 16, found already (branch mig): cdp.oms refuses placeholders (src/type_oms.c), ingest refuses
-- placeholder SNILS and phones and drops invisible and bidirectional controls from text, lenient
-- mode keeps a non-string value as given (src/ingest_attrs.c), the fold reads a stored placeholder
-- OMS as none (src/golden_fold.c): all in C, no change of the SQL surface.  A 0.2.0 database may hold
-- a placeholder OMS in cdp.record or cdp.patient: the type's input now refuses it, so a dump would
-- not restore, and in a record it is still evidence for matching.  Such values are cleared here (the
-- record's raw document and its logged events keep what was sent; a re-fold or rebuild gives the
-- profile no OMS, as the fold now reads a placeholder as none).
UPDATE @extschema@.record SET oms = NULL
 WHERE oms IS NOT NULL
   AND pg_catalog.left(oms::text, 15) = pg_catalog.repeat(pg_catalog.left(oms::text, 1), 15);
UPDATE @extschema@.patient SET oms = NULL
 WHERE oms IS NOT NULL
   AND pg_catalog.left(oms::text, 15) = pg_catalog.repeat(pg_catalog.left(oms::text, 1), 15);

/* ==== end of section: types and text ==== */


/* ==== section: name index and find_patient (issue 18) ==== */

/* ==== end of section: name index and find_patient ==== */


/* ==== section: matching (issue 12) ==== */

/* ==== end of section: matching ==== */


/* ==== section: consent, offers and segments (issue 13) ==== */

/* ==== end of section: consent, offers and segments ==== */


/* ==== section: campaigns (issue 14) ==== */

/* ==== end of section: campaigns ==== */


/* ==== section: access (issue 15) ==== */

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

-- ingest and golden speed (branch mig): functions rewritten for issue 16, as in sql/parts

CREATE OR REPLACE FUNCTION @extschema@.upsert_records(source text, source_ids text[], attrs jsonb[], lenient boolean DEFAULT false)
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
	 * Normalise what is new or changed (the same input again costs one lookup), in one C call for
	 * the batch (cdp.normalize_records), made as a plain assignment so that an error's context is
	 * the record and the key, not this function's SQL.
	 */
	/*
	 * Existing records of the batch are locked first, in record-id order: the order in which a
	 * matching run's link batch (cdp.link_records_many) locks them, so the two cannot deadlock
	 * whatever order the batch lists them in.
	 */
	PERFORM 1 FROM @extschema@.record r
	  WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id AND r.source_key OPERATOR(pg_catalog.=) ANY (source_ids)
	  ORDER BY r.record_id FOR NO KEY UPDATE OF r;
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
				   @extschema@.golden_fold(pg_catalog.jsonb_build_array(@extschema@.golden_record_doc(pg_catalog.to_jsonb((SELECT d FROM (
					   SELECT w.record_id, w.source_id, w.family_name, w.given_name, w.patronymic, w.birth_date,
							  w.sex, w.phones, w.emails, w.snils, w.oms, w.address, w.city, w.handles, w.extra,
							  w.created_at, w.updated_at) d)), v_src.trust)), v_rules, false),
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

CREATE OR REPLACE FUNCTION cdp_internal.golden_link_apply(a bigint[], b bigint[], evidence jsonb[]) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
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
	/* lock the persons of the records; a concurrent merge or unmerge may move a record meanwhile */
	LOOP
		SELECT pg_catalog.array_agg(DISTINCT r.golden_id ORDER BY r.golden_id) INTO ids
		  FROM (SELECT pg_catalog.unnest(a) UNION SELECT pg_catalog.unnest(b)) x(id)
		  JOIN @extschema@.record r ON r.record_id = x.id;
		PERFORM 1 FROM @extschema@.record r JOIN pg_catalog.unnest(ids) g(id) ON r.golden_id = g.id
		 ORDER BY r.record_id FOR NO KEY UPDATE OF r;
		PERFORM 1 FROM @extschema@.clinical_event c JOIN pg_catalog.unnest(ids) g(id) ON c.golden_id = g.id
		 ORDER BY c.event_id FOR NO KEY UPDATE OF c;
		/* profile rows for persons that have none yet (folded at the end, as refresh_patients would) */
		WITH ins AS (
			INSERT INTO @extschema@.patient (golden_id)
			SELECT g.id FROM pg_catalog.unnest(ids) g(id) ORDER BY 1
			ON CONFLICT (golden_id) DO NOTHING
			RETURNING golden_id)
		SELECT pg_catalog.array_cat(created, pg_catalog.array_agg(ins.golden_id)) INTO created FROM ins;
		PERFORM 1 FROM @extschema@.patient p JOIN pg_catalog.unnest(ids) g(id) ON p.golden_id = g.id
		 ORDER BY p.golden_id FOR UPDATE OF p;
		/* a new statement: sees what committed while we waited */
		EXIT WHEN ids = (SELECT pg_catalog.array_agg(DISTINCT r.golden_id ORDER BY r.golden_id)
		                   FROM (SELECT pg_catalog.unnest(a) UNION SELECT pg_catalog.unnest(b)) x(id)
		                   JOIN @extschema@.record r ON r.record_id = x.id);
		tries := tries + 1;
		IF tries > 100 THEN
			RAISE EXCEPTION 'records keep moving between persons while they are linked'
				USING ERRCODE = '40001', HINT = 'Retry the transaction.';
		END IF;
	END LOOP;
	RAISE DEBUG 'golden_link_apply %: % ms', 'lock', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* the plan, from the persons as they are now */
	WITH p AS MATERIALIZED (
		SELECT p.*
		  /* every no_match decision: the plan ignores those outside these persons */
		  FROM (SELECT pg_catalog.array_agg(ra.golden_id) AS ga, pg_catalog.array_agg(rb.golden_id) AS gb
		          FROM @extschema@.pair_decision d
		          JOIN @extschema@.record ra ON ra.record_id = d.record_a
		          JOIN @extschema@.record rb ON rb.record_id = d.record_b
		         WHERE d.decision = 'no_match') nm,
		       cdp_internal._golden_merge_plan(
		         ARRAY(SELECT r.golden_id FROM pg_catalog.unnest(a) WITH ORDINALITY x(id, i)
		                 JOIN @extschema@.record r ON r.record_id = x.id ORDER BY x.i),
		         ARRAY(SELECT r.golden_id FROM pg_catalog.unnest(b) WITH ORDINALITY x(id, i)
		                 JOIN @extschema@.record r ON r.record_id = x.id ORDER BY x.i),
		         nm.ga, nm.gb,
		         ARRAY(SELECT q.golden_id FROM @extschema@.patient q JOIN pg_catalog.unnest(ids) g(id) ON q.golden_id = g.id
		                WHERE q.status = 'archived')) p)
	SELECT (SELECT pg_catalog.array_agg(p.ord ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.outcome ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.keep ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.gone ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.restore ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.ord ORDER BY p.ord, x.g) FROM p, pg_catalog.unnest(p.absorbed) x(g)),
	       (SELECT pg_catalog.array_agg(x.g ORDER BY p.ord, x.g) FROM p, pg_catalog.unnest(p.absorbed) x(g))
	  INTO pl_ord, pl_out, pl_keep, pl_gone, pl_rest, ab_ord, ab_g;
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

	/* every record each merge moves (the records of the original ids it absorbs), read once */
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id, x.ord), pg_catalog.array_agg(x.ord ORDER BY r.record_id, x.ord)
	  INTO mv_rec, mv_ord
	  FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
	  JOIN @extschema@.record r ON r.golden_id = x.g;
	RAISE DEBUG 'golden_link_apply %: % ms', 'moved_records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

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

		/* records and clinical events go to the person their original id ends in */
		UPDATE @extschema@.record r SET golden_id = f.keep
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_nev)) f(rec, keep, nev)
		 WHERE f.nev IS NULL AND r.record_id = f.rec;
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
		 * are picked out first: joined to every event of the batch, a profile table whose statistics
		 * said empty (rows created by this batch) got a nested loop rescanning the whole event list
		 * per profile row (100k records: 196 s instead of 0.1 s)
		 */
		SELECT pg_catalog.array_agg(e.subject), pg_catalog.array_agg(e.at) INTO rs_id, rs_at
		  FROM ROWS FROM (pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj), pg_catalog.unnest(ev_at)) e(kind, subject, at)
		 WHERE e.kind = 'patient.restored';
		IF rs_id IS NOT NULL THEN
			UPDATE @extschema@.patient p SET status = 'active', status_at = e.at
			  FROM ROWS FROM (pg_catalog.unnest(rs_id), pg_catalog.unnest(rs_at)) e(subject, at)
			 WHERE p.golden_id = e.subject;
		END IF;
		DELETE FROM @extschema@.patient p USING pg_catalog.unnest(m_gone) g(id) WHERE p.golden_id = g.id;
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
COMMENT ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[]) IS
	'applies links between records in order as link_records would one by one, with set-based writes and one fold per survivor (internal)';

/* ==== end of section: import ==== */
