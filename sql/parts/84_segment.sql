/*
 * sql/parts/84_segment.sql: layer 8, segments as objects, materialized membership and its
 * refresh, comparison, A/B split and the BI views (issue 13).  See doc/segments.md.
 *
 * The tables are created in 83_segment_eval.sql, which reads them.
 * Definitions are events (segment.created / edited / archived / restored / listed) and versions;
 * members are the materialized result of cdp_internal.seg_evaluate, kept by
 * cdp.refresh_segment: "full" evaluates everyone, "incremental" only the persons the log names
 * since the last refresh (their records, clinical events, consent, merges, unmerges, archive,
 * the segment's lists, and the members that moved in segments it references).  Incremental
 * equals full (test/pgtap/84_segment.sql proves it on random changes); a refresh on another day,
 * after an edit or a change of the offer runs in full, since time and the rule changed for
 * everyone.
 */

/* ------------------------------------------------------------------ definitions */

/* The segment row, locked, or P0002. */
CREATE FUNCTION cdp_internal.seg_get(id bigint) RETURNS @extschema@.segment
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment;
BEGIN
	SELECT * INTO s FROM @extschema@.segment x WHERE x.segment_id = id FOR UPDATE;
	IF s.segment_id IS NULL THEN
		RAISE EXCEPTION 'segment "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass a segment_id returned by cdp.create_segment.';
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_get(bigint) IS 'the row of a segment, locked; P0002 when unknown (internal)';

/*
 * Refuses a rule whose segment references lead back to the segment itself.  A walk level by level
 * over the referenced segments (each read once, at most 50 levels) rather than a recursive query:
 * the planner prices a recursive CTE over jsonb_path_query at millions of cost units (1000 rows per
 * call, compounded per level), which put every create/edit above the JIT thresholds and cost up to
 * two seconds of compilation for a walk over a handful of rows.
 */
CREATE FUNCTION cdp_internal.seg_check_cycle(id bigint, rules jsonb) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	seen		bigint[] := '{}';
	frontier	bigint[];
	depth		int := 1;
BEGIN
	IF id IS NULL THEN
		RETURN;
	END IF;
	frontier := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint FROM pg_catalog.jsonb_path_query(rules, 'strict $.**.segment') x);
	WHILE pg_catalog.cardinality(frontier) > 0 AND depth <= 50 LOOP
		IF id = ANY (frontier) THEN
			RAISE EXCEPTION 'segment % would reference itself', id USING ERRCODE = '22023',
				DETAIL = 'At $ (a {"segment": ...} clause leads back to this segment).', HINT = 'Remove the circular reference.';
		END IF;
		seen := seen || frontier;
		frontier := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint
		                    FROM @extschema@.segment s
		                   CROSS JOIN LATERAL pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x
		                   WHERE s.segment_id = ANY (frontier)
		                     AND NOT (x #>> '{}')::bigint = ANY (seen));
		depth := depth + 1;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_check_cycle(bigint, jsonb) IS
	'22023 when a rule''s segment references lead back to the segment (internal)';

/* Saves a version (create when id is NULL); returns the segment id. */
CREATE FUNCTION cdp_internal.seg_save(id bigint, name text, rules jsonb, purpose text, channel text, offer bigint)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
	v		int := 1;
	s		@extschema@.segment;
	ev		bigint;
	at		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF name IS NULL OR pg_catalog.btrim(name) = '' OR pg_catalog.octet_length(name) > 200 THEN
		RAISE EXCEPTION 'a segment needs a name of 1 to 200 bytes' USING ERRCODE = '22023';
	END IF;
	PERFORM cdp_internal.seg_check_target(purpose, channel, offer);
	plan := cdp_internal.seg_prepare(rules, purpose, CURRENT_DATE);
	PERFORM cdp_internal.seg_check_cycle(id, rules);
	PERFORM cdp_internal.seg_check_referrers(id, plan ->> 'sensitive');
	IF id IS NULL THEN
		id := pg_catalog.nextval('@extschema@.segment_id_seq');
		/* the key of the members' pseudonyms (cdp.setup_roles makes it too) */
		PERFORM cdp_internal.acc_ensure_key();
	ELSE
		s := cdp_internal.seg_get(id);
		v := s.version + 1;
	END IF;
	ev := cdp_internal.append_event(CASE WHEN v = 1 THEN 'segment.created' ELSE 'segment.edited' END, id, NULL,
		pg_catalog.jsonb_build_object('version', v, 'name', name, 'rules', rules, 'purpose', purpose, 'channel', channel, 'offer', offer));
	INSERT INTO @extschema@.segment_version VALUES (id, v, name, rules, purpose, channel, offer, at, CURRENT_USER);
	INSERT INTO @extschema@.segment AS x (segment_id, name, version, rules, purpose, channel, offer_id, sensitive, created_at, updated_at, saved_by)
	VALUES (id, name, v, rules, purpose, channel, offer, plan ->> 'sensitive' IS NOT NULL, at, at, CURRENT_USER)
	ON CONFLICT (segment_id) DO UPDATE SET name = excluded.name, version = excluded.version, rules = excluded.rules,
		purpose = excluded.purpose, channel = excluded.channel, offer_id = excluded.offer_id, sensitive = excluded.sensitive,
		updated_at = excluded.updated_at, saved_by = excluded.saved_by;
	RETURN id;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_save(bigint, text, jsonb, text, text, bigint) IS
	'validates and saves a segment version (internal to create_segment and edit_segment)';

CREATE FUNCTION @extschema@.create_segment(name text, rules jsonb, purpose text DEFAULT 'marketing', offer bigint DEFAULT NULL,
	channel text DEFAULT NULL) RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT cdp_internal.seg_save(NULL, $1, $2, $3, $5, $4) $$;
COMMENT ON FUNCTION @extschema@.create_segment(text, jsonb, text, bigint, text) IS
	'validates and saves a segment (rules, purpose, offer, channel: NULL = any); returns its id; members come with cdp.refresh_segment';

CREATE FUNCTION @extschema@.edit_segment(segment_id bigint, rules jsonb, name text DEFAULT NULL, purpose text DEFAULT NULL,
	offer bigint DEFAULT NULL, channel text DEFAULT NULL) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(edit_segment.segment_id);
BEGIN
	PERFORM cdp_internal.seg_save(s.segment_id, coalesce(name, s.name), rules, coalesce(purpose, s.purpose),
		CASE WHEN channel IS NULL THEN s.channel ELSE NULLIF(channel, 'any') END,
		CASE WHEN offer IS NULL THEN s.offer_id ELSE NULLIF(offer, 0) END);
	RETURN s.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_segment(bigint, jsonb, text, text, bigint, text) IS
	'saves a new version of a segment (NULL keeps a setting; offer 0 and channel ''any'' clear them); the old version stays in cdp.segment_version';

CREATE FUNCTION @extschema@.copy_segment(segment_id bigint, name text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(copy_segment.segment_id);
	id	bigint;
BEGIN
	id := cdp_internal.seg_save(NULL, name, s.rules, s.purpose, s.channel, s.offer_id);
	INSERT INTO @extschema@.segment_list SELECT l.golden_id, id, l.list, pg_catalog.clock_timestamp(), l.records
	  FROM @extschema@.segment_list l WHERE l.segment_id = s.segment_id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.copy_segment(bigint, text) IS 'copies a segment (rules, purpose, offer, lists) under a new name; returns the new id';

/* Archives (true) or restores (false) a segment; archiving empties its membership (history kept). */
CREATE FUNCTION @extschema@.archive_segment(segment_id bigint, archived boolean DEFAULT true) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(archive_segment.segment_id);
	ev	bigint;
BEGIN
	IF archived IS NULL OR (s.status = 'archived') = archived THEN
		RETURN;
	END IF;
	ev := cdp_internal.append_event(CASE WHEN archived THEN 'segment.archived' ELSE 'segment.restored' END, s.segment_id, NULL, '{}');
	IF archived THEN
		PERFORM cdp_internal.seg_apply(s, '{}', ev);
	END IF;
	UPDATE @extschema@.segment x SET status = CASE WHEN archived THEN 'archived' ELSE 'active' END,
	       updated_at = pg_catalog.clock_timestamp(), refresh_stamp = NULL
	 WHERE x.segment_id = s.segment_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archive_segment(bigint, boolean) IS
	'archives a segment (its members leave; history kept) or restores it (archived => false; the next refresh is full)';

/*
 * Adds (or with remove, removes) persons to a segment's include or exclude list.  An entry keeps
 * the golden id given and the records the person holds now, and follows the records (see
 * seg_list_ids): through a merge and through an unmerge.  Removing a person removes every entry
 * that names the id or one of the person's records.
 */
CREATE FUNCTION @extschema@.segment_list_set(segment_id bigint, list text, golden_ids bigint[], remove boolean DEFAULT false)
	RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.segment := cdp_internal.seg_get(segment_list_set.segment_id);
	g		bigint;
	cur		bigint;
	recs	bigint[];
	gone	bigint[];
	k		bigint;
	n		int := 0;
BEGIN
	IF list IS NULL OR NOT list IN ('include', 'exclude') THEN
		RAISE EXCEPTION 'invalid segment list "%"', list USING ERRCODE = '22023', HINT = 'Use include or exclude.';
	END IF;
	FOR g IN SELECT DISTINCT x FROM pg_catalog.unnest(golden_ids) x WHERE x IS NOT NULL LOOP
		cur := @extschema@.resolve_patient(g);
		IF NOT remove AND cur IS NULL THEN
			RAISE EXCEPTION 'patient "%" does not exist', g USING ERRCODE = 'P0002';
		END IF;
		recs := ARRAY(SELECT r.record_id FROM @extschema@.record r WHERE r.golden_id = cur ORDER BY r.record_id);
		IF remove THEN
			WITH d AS (
				DELETE FROM @extschema@.segment_list l WHERE l.segment_id = s.segment_id AND l.list = segment_list_set.list
				   AND (l.golden_id = g OR l.records OPERATOR(pg_catalog.&&) recs)
				RETURNING l.records)
			SELECT (SELECT pg_catalog.count(*) FROM d), ARRAY(SELECT x FROM d CROSS JOIN LATERAL pg_catalog.unnest(d.records) x)
			  INTO k, gone;
			/* nothing named the person */
			CONTINUE WHEN k = 0;
			recs := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(recs || gone) x ORDER BY 1);
		ELSE
			INSERT INTO @extschema@.segment_list VALUES (g, s.segment_id, list, pg_catalog.clock_timestamp(), recs) ON CONFLICT DO NOTHING;
			CONTINUE WHEN NOT FOUND;
		END IF;
		/*
		 * golden_id and the records on the event: the next incremental refresh re-evaluates the
		 * person and whoever holds a record the removed entries named
		 */
		PERFORM cdp_internal.append_event('segment.listed', s.segment_id, cur,
			pg_catalog.jsonb_build_object('list', list, 'removed', remove, 'records', pg_catalog.to_jsonb(recs)));
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_list_set(bigint, text, bigint[], boolean) IS
	'adds persons to (remove => true: removes them from) a segment''s include or exclude list; returns how many changed';

/*
 * The include or exclude list of a segment as a set of current golden ids.  An entry follows the
 * records the person held when listed, as consent does: an exclusion counts for every person who
 * holds one of them now (a merge carries it to the survivor, an unmerge to each side), an
 * inclusion only for a person who holds all of those still present (after an unmerge that split
 * them, for nobody: it may have been the other person).  An entry without records (a person who
 * held none) follows the golden id through merges.
 */
CREATE FUNCTION cdp_internal.seg_list_ids(id bigint, list text) RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT cdp_internal.seg_set(ARRAY(
		SELECT r.golden_id FROM @extschema@.segment_list l CROSS JOIN LATERAL pg_catalog.unnest(l.records) x(rid)
		  JOIN @extschema@.record r ON r.record_id = x.rid
		 WHERE l.segment_id = $1 AND l.list = 'exclude' AND $2 = 'exclude'
		UNION ALL
		SELECT pg_catalog.min(r.golden_id) FROM @extschema@.segment_list l CROSS JOIN LATERAL pg_catalog.unnest(l.records) x(rid)
		  JOIN @extschema@.record r ON r.record_id = x.rid
		 WHERE l.segment_id = $1 AND l.list = 'include' AND $2 = 'include'
		 GROUP BY l.golden_id HAVING pg_catalog.min(r.golden_id) = pg_catalog.max(r.golden_id)
		UNION ALL
		SELECT @extschema@.resolve_patient(l.golden_id) FROM @extschema@.segment_list l
		 WHERE l.segment_id = $1 AND l.list = $2 AND pg_catalog.cardinality(l.records) = 0))
$$;
COMMENT ON FUNCTION cdp_internal.seg_list_ids(bigint, text) IS
	'a segment''s list as current golden ids, following the listed records through merges and unmerges (internal)';

/* ------------------------------------------------------------------ membership */

/*
 * Makes the members of a segment within scope (NULL: everyone) equal keep: members who are not in
 * keep leave, ids of keep who are not members enter, and every member of keep gets the channels
 * it may be contacted through now.  History rows carry the refresh event ev.  Returns
 * {"entered": n, "left": n, "size": n}: size is the members read here, less those who left, plus
 * those who entered (every other writer of a segment's members runs here too, under the lock on
 * the segment's row; an erasure committed meanwhile is the one exception, as it was for a count).
 */
CREATE FUNCTION cdp_internal.seg_apply(s @extschema@.segment, keep bigint[], ev bigint, scope bigint[] DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	mem		bigint[];
	cur		bigint[];
	gone	bigint[];
	came	bigint[];
	at		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	/*
	 * an empty scope (an incremental refresh with no person changed since the last one, as before
	 * every send-list build of an unchanged segment): nobody enters or leaves and no channel
	 * changes; the size is a count of the members (session 31: the set of 200k members built
	 * below cost about 50-140 ms of each build_send_list for nothing)
	 */
	IF pg_catalog.cardinality(scope) = 0 THEN
		RETURN pg_catalog.jsonb_build_object('entered', 0, 'left', 0,
			'size', (SELECT pg_catalog.count(*) FROM @extschema@.segment_member m WHERE m.segment_id = s.segment_id));
	END IF;
	/*
	 * the members: one pass over the segment's range of the primary key.  Within a scope, the
	 * members among its persons are then an intersection of two sorted sets (session 27, seg28:
	 * a probe of the primary key per person in scope, 12 ms for 7,974 at 1M, and a count of the
	 * members for the refresh's size, a pass of the same range, cost more than this one pass;
	 * the size is now derived from it)
	 */
	mem := cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = s.segment_id));
	IF scope IS NULL THEN
		cur := mem;
	ELSE
		cur := cdp_internal.seg_and(mem, scope);
		keep := cdp_internal.seg_and(keep, scope);
	END IF;
	gone := cdp_internal.seg_minus(cur, keep);
	came := cdp_internal.seg_minus(keep, cur);
	/* by the ids leaving, in the primary keys' order (= ANY: one index scan, not a hash of every member) */
	DELETE FROM @extschema@.segment_member m
	 WHERE m.segment_id = s.segment_id AND m.golden_id = ANY (gone);
	/*
	 * their open history rows: a probe of the primary key per id leaving (as "= ANY" the custom
	 * plan, estimating a new segment at one row, read every history row of the segment through
	 * the entered_event index and filtered the ids: 6,628 page reads for 84 leavers of a 15,552-member
	 * segment at 1M, session 26)
	 */
	UPDATE @extschema@.segment_member_history h SET left_at = at, left_event = ev, left_version = s.version
	  FROM pg_catalog.unnest(gone) g(id)
	 WHERE h.segment_id = s.segment_id AND h.golden_id = g.id AND h.left_event IS NULL;
	WITH ch AS (
		SELECT c.id, pg_catalog.array_agg(x.channel ORDER BY x.channel) AS channels
		  FROM @extschema@.consent_channels() x
		 CROSS JOIN LATERAL pg_catalog.unnest(cdp_internal.seg_consent_ok(keep, s.purpose, x.channel)) c(id)
		 GROUP BY c.id),
	upd AS (
		UPDATE @extschema@.segment_member m SET channels = ch.channels FROM ch
		 WHERE m.segment_id = s.segment_id AND m.golden_id = ch.id AND m.channels IS DISTINCT FROM ch.channels)
	INSERT INTO @extschema@.segment_member (golden_id, segment_id, version, entered_at, channels)
	SELECT c.id, s.segment_id, s.version, at, coalesce(ch.channels, '{}')
	  FROM pg_catalog.unnest(came) c(id) LEFT JOIN ch ON ch.id = c.id;
	INSERT INTO @extschema@.segment_member_history (golden_id, segment_id, version, entered_at, entered_event)
	SELECT c.id, s.segment_id, s.version, at, ev FROM pg_catalog.unnest(came) c(id);
	RETURN pg_catalog.jsonb_build_object('entered', pg_catalog.cardinality(came), 'left', pg_catalog.cardinality(gone),
		'size', pg_catalog.cardinality(mem) - pg_catalog.cardinality(gone) + pg_catalog.cardinality(came));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_apply(@extschema@.segment, bigint[], bigint, bigint[]) IS
	'makes a segment''s members within a scope equal a set, with history and channels (internal)';

/*
 * The persons the log names between two positions (lo, hi], as current golden ids: everything
 * that can change a person's evaluation (their records, clinical events, consent, archive, merges
 * and unmerges, a segment list, an address suppressed, a move in a segment this one references,
 * and, for a rule with a campaign clause, a change of their campaign history: seg_touch).
 * NULL when an event changes everyone (survivorship rules, a source's trust or kind): then the
 * refresh is full.
 */
CREATE FUNCTION cdp_internal.seg_changed(s @extschema@.segment, lo bigint, hi bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	-- the address branch's estimate (a scan of every profile, rarely run) must not start a JIT compile
	SET jit = off
	AS $$
DECLARE
	ids		bigint[];
	refs	bigint[] := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x);
	camp	boolean := pg_catalog.jsonb_path_exists(s.rules, 'strict $.**.campaign');
	wide	boolean;
BEGIN
	/*
	 * the range of the log is read once: the check for an event that changes everyone is a scan
	 * of the materialized range, and the ids are gathered only when there is none (session 27,
	 * seg28: a separate scan of the range for that check was 18 of an incremental refresh's
	 * 290 ms at 1M)
	 */
	WITH e AS MATERIALIZED (SELECT * FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi),
	ids AS (
		SELECT e.golden_id AS id FROM e WHERE e.golden_id IS NOT NULL
		UNION ALL SELECT e.subject FROM e WHERE e.kind = 'patient.merged'
		UNION ALL SELECT (e.payload ->> 'from')::bigint FROM e WHERE e.kind = 'patient.unmerged'
		UNION ALL SELECT r.golden_id FROM e JOIN @extschema@.record r ON r.record_id = e.subject WHERE e.kind LIKE 'record.%'
		-- a clinical event moved to another record: the person who had it (session 24)
		UNION ALL SELECT (e.payload ->> 'previous_golden_id')::bigint FROM e WHERE e.kind = 'clinical.updated'
		/*
		 * the persons holding a statement's records now: a consent statement's records were its
		 * person's (e.golden_id, locked by set_consents), so they are another's only after a merge
		 * or unmerge, whose own ids the log names; read only when the range holds one (session 27:
		 * a record probe per statement was 40 of an incremental refresh's 230 ms at 1M)
		 */
		UNION ALL SELECT r.golden_id FROM e CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(e.payload -> 'records') x
		            JOIN @extschema@.record r ON r.record_id = x::bigint
		           WHERE e.kind = 'segment.listed'
		              OR (e.kind LIKE 'consent.%'
		                  AND EXISTS (SELECT 1 FROM e m WHERE m.kind IN ('patient.merged', 'patient.unmerged')))
		-- the holders of an address suppressed or restored: the keys first, and the profiles are
		-- read only when there are any (a one-time filter; joined to the events, a nested loop
		-- with the profiles outside rescanned the events once per profile: 74 s at 1M patients)
		UNION ALL SELECT p.golden_id
		            FROM (SELECT ARRAY(SELECT e.payload ->> 'address_key' FROM e
		                                WHERE e.kind LIKE 'consent.%' AND e.payload ->> 'address_key' IS NOT NULL
		                                -- a lift that a merge or unmerge made count or stop counting (consent_lift_sync)
		                                UNION SELECT cs.address_key FROM @extschema@.consent_suppression cs
		                                 WHERE cs.withdrawal IS NOT NULL
		                                   AND cs.records OPERATOR(pg_catalog.&&) ARRAY(
		                                       SELECT r.record_id FROM e JOIN @extschema@.record r
		                                           ON r.golden_id IN (e.golden_id, e.subject, (e.payload ->> 'from')::bigint)
		                                        WHERE e.kind IN ('patient.merged', 'patient.unmerged'))) AS k) a,
		                 @extschema@.patient p
		           WHERE pg_catalog.cardinality(a.k) > 0
		             AND cdp_internal.seg_holds_key(p, a.k)
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.entered_event > lo AND h.entered_event <= hi
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.left_event > lo AND h.left_event <= hi
		UNION ALL SELECT t.golden_id FROM cdp_internal.seg_touch t WHERE camp AND t.pos > lo AND t.pos <= hi),
	w AS (SELECT EXISTS (SELECT 1 FROM e WHERE e.kind IN ('survivorship.configured', 'source.updated')) AS x)
	SELECT w.x, CASE WHEN w.x THEN NULL ELSE cdp_internal.seg_set(ARRAY(SELECT ids.id FROM ids)) END
	  INTO wide, ids
	  FROM w;
	IF wide THEN
		RETURN NULL;
	END IF;
	/*
	 * ids merged away since: their survivors too.  Only an id with a redirect can resolve to
	 * another (resolve_patient); a probe of the redirects, small and seldom written, instead of
	 * one of the profiles, whose pages the changes just dirtied (session 27: 64 ms at 1M for
	 * 7,941 ids).  An id with both a profile and a redirect adds its redirect's survivor: one
	 * person more to evaluate, never one less.
	 */
	RETURN cdp_internal.seg_or(ids, cdp_internal.seg_set(ARRAY(
		SELECT @extschema@.resolve_patient(x) FROM pg_catalog.unnest(ids) x
		 WHERE EXISTS (SELECT 1 FROM @extschema@.patient_redirect d WHERE d.old_id = x))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_changed(@extschema@.segment, bigint, bigint) IS
	'the golden ids whose evaluation the log changed between two event ids; NULL when everyone''s did (internal)';

/*
 * Trigger on cdp.campaign_send (created in 97_seg_access.sql, after the campaign family): the
 * persons whose campaign history a statement changed, into seg_touch at one new position of the
 * log's sequence.  An update counts when a column a campaign clause reads changed (status, the
 * times, the bounce, the channel, the person); a due row moved to a later slot does not.  The
 * lock comes before the position, so a refresh that read a mark at or above it waits for this
 * transaction (seg_wait_writers).  SECURITY DEFINER: seg_touch is the owner's.
 *
 * Nothing is written while no segment can read the touches: no active segment has a campaign
 * clause, and no other transaction holds a write lock on cdp.segment (one creating, editing,
 * restoring or refreshing a segment, whose clause this one cannot see yet).  The refresh deletes
 * such touches anyway (refresh_segment keeps only those above the oldest mark of the active
 * segments with a campaign clause).  Why skipping loses nothing: the lock on seg_touch is taken
 * before the check, so a refresh that waits for writers after it waits for this transaction and
 * sees its rows; a refresh that waited before it, of a segment whose campaign clause committed
 * before the check, is answered by the touches (written: the clause is seen), and of one whose
 * clause had not committed yet, by the write lock that segment's transaction holds on
 * cdp.segment until it ends (seen in pg_locks: touches written).  A segment created, edited or
 * restored later refreshes in full first.
 */
CREATE FUNCTION cdp_internal.seg_campaign_watched() RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	LOCK TABLE cdp_internal.seg_touch IN ROW EXCLUSIVE MODE;
	RETURN EXISTS (SELECT 1 FROM @extschema@.segment x
	                WHERE x.status = 'active' AND pg_catalog.jsonb_path_exists(x.rules, 'strict $.**.campaign'))
	    OR EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
	                WHERE l.locktype = 'relation' AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
	                                                                  WHERE d.datname = pg_catalog.current_database())
	                  AND l.relation = '@extschema@.segment'::regclass
	                  AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
	                  AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid());
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_watched() IS
	'whether changes of campaign history must be written to seg_touch: an active segment has a campaign clause, or another transaction may be writing one (takes seg_touch''s writer lock first) (internal)';

/* The persons given (each once) to seg_touch at one new position. */
CREATE FUNCTION cdp_internal.seg_campaign_touch(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d	bigint[] := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(ids) x WHERE x IS NOT NULL);
	pos	bigint;
BEGIN
	IF pg_catalog.cardinality(d) > 0 THEN
		pos := pg_catalog.nextval('@extschema@.event_event_id_seq');
		INSERT INTO cdp_internal.seg_touch (golden_id, pos) SELECT x, pos FROM pg_catalog.unnest(d) x;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_touch(bigint[]) IS
	'writes the persons whose campaign history changed to seg_touch at one position (internal)';

/* The trigger: the persons of the statement's changed send rows (a listing's writer calls the two above itself). */
CREATE FUNCTION cdp_internal.seg_campaign_touched() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids	bigint[];
BEGIN
	IF NOT cdp_internal.seg_campaign_watched() THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		ids := ARRAY(SELECT n.golden_id FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		ids := ARRAY(SELECT o.golden_id FROM old_rows o);
	ELSE
		ids := ARRAY(
			SELECT x.g FROM new_rows n JOIN old_rows o ON o.send_id = n.send_id
			 CROSS JOIN LATERAL (VALUES (n.golden_id), (o.golden_id)) x(g)
			 WHERE (o.golden_id, o.status, o.channel, o.built_at, o.sent_at, o.delivered_at, o.opened_at, o.clicked_at,
			        o.converted_at, o.unsubscribed_at, o.complained_at, o.bounced, o.returned_at)
			       IS DISTINCT FROM
			       (n.golden_id, n.status, n.channel, n.built_at, n.sent_at, n.delivered_at, n.opened_at, n.clicked_at,
			        n.converted_at, n.unsubscribed_at, n.complained_at, n.bounced, n.returned_at));
	END IF;
	PERFORM cdp_internal.seg_campaign_touch(ids);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_touched() IS
	'trigger: the persons whose campaign history changed go to seg_touch for incremental segment refreshes (internal)';

/*
 * Waits until every transaction that has appended to the log (or to seg_touch) and not ended yet
 * has ended, so that every event up to a position read before the call is committed (or gone)
 * before the refresh reads; without it an event committed late with a smaller id would be skipped
 * by the next incremental refresh.  The wait is a lock: SHARE on cdp.event, then on seg_touch,
 * conflicts with the ROW EXCLUSIVE lock each writer holds until it ends (a touch's position is
 * drawn after its writer's lock, so a writer that locks later draws a position above the mark).
 * Each is taken in a subtransaction that is rolled back at once, so the lock is released at once;
 * meanwhile new writers queue behind it only until the writers before it end.  At most 10 seconds (lock_timeout), then 55P03: a long bulk load is running, the
 * next scheduled refresh will try again.
 */
CREATE FUNCTION cdp_internal.seg_wait_writers() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t	regclass;
BEGIN
	/*
	 * one table at a time, each lock released before the next is asked: holding the log's lock
	 * while waiting for seg_touch's (or the reverse) could deadlock with a writer that touches one
	 * and then appends to the other
	 */
	FOREACH t IN ARRAY ARRAY['@extschema@.event'::regclass, 'cdp_internal.seg_touch'::regclass] LOOP
		BEGIN
			PERFORM pg_catalog.set_config('lock_timeout', '10s', true);
			EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', t);
			RAISE EXCEPTION 'cdp: writers drained' USING ERRCODE = 'P0001';
		EXCEPTION
			WHEN lock_not_available THEN
				RAISE EXCEPTION 'a segment refresh waited 10 seconds for transactions writing to the log to end' USING ERRCODE = '55P03',
					HINT = 'A long transaction is appending events (see pg_stat_activity); retry when it has ended.';
			WHEN raise_exception THEN
				IF SQLERRM <> 'cdp: writers drained' THEN
					RAISE;
				END IF;
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_wait_writers() IS
	'waits (a lock, released at once) until the transactions appending to cdp.event have ended (internal to refresh_segment)';

/*
 * Refreshes the members of a segment: 'full' evaluates everyone; 'incremental' only the persons
 * the log names since the last refresh, and runs in full instead on a new day, after an edit or a
 * change of the offer, or when an event changed everyone.  Returns {"mode", "evaluated",
 * "entered", "left", "size"}.  Needs READ COMMITTED (each statement must see what committed).
 */
CREATE FUNCTION @extschema@.refresh_segment(id bigint, mode text DEFAULT 'incremental') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	mark	bigint;
	s		@extschema@.segment;
	d		date := CURRENT_DATE;
	stamp	text;
	plan	jsonb;
	cand	bigint[];
	keep	bigint[];
	ev		bigint;
	res		jsonb;
	m		text := mode;
BEGIN
	IF m IS NULL OR NOT m IN ('full', 'incremental') THEN
		RAISE EXCEPTION 'invalid refresh mode "%"', m USING ERRCODE = '22023', HINT = 'Use full or incremental.';
	END IF;
	IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'refresh_segment needs READ COMMITTED' USING ERRCODE = '25000',
			DETAIL = 'It must see what committed while it waited for writers.';
	END IF;
	/* the log position first, then wait for whoever was writing: every event up to mark is settled */
	mark := coalesce(pg_catalog.pg_sequence_last_value('@extschema@.event_event_id_seq'::regclass), 0);
	PERFORM cdp_internal.seg_wait_writers();
	s := cdp_internal.seg_get(id);
	IF s.status <> 'active' THEN
		RAISE EXCEPTION 'segment "%" is archived', id USING ERRCODE = '55000', HINT = 'Restore it with cdp.archive_segment(id, false).';
	END IF;
	stamp := pg_catalog.format('v%s d%s o%s', s.version, d,
		(SELECT o.version || o.status FROM @extschema@.offer o WHERE o.offer_id = s.offer_id));
	IF m = 'incremental' AND s.refresh_stamp IS DISTINCT FROM stamp THEN
		m := 'full';
	END IF;
	IF m = 'incremental' THEN
		cand := cdp_internal.seg_changed(s, s.refresh_mark, GREATEST(mark, s.refresh_mark));
		IF cand IS NULL THEN
			m := 'full';
		END IF;
	END IF;
	ev := cdp_internal.append_event('segment.refreshed', s.segment_id, NULL,
		pg_catalog.jsonb_build_object('mode', m, 'version', s.version, 'from', s.refresh_mark, 'to', mark));
	plan := cdp_internal.seg_refresh_plan(s, d);
	IF plan ? 'refused' THEN
		RETURN cdp_internal.seg_refuse(s, ev, plan ->> 'refused');
	END IF;
	SELECT cdp_internal.seg_set(ARRAY(SELECT x.golden_id FROM cdp_internal.seg_evaluate(plan, s.purpose, s.channel, s.offer_id, d,
	           cdp_internal.seg_list_ids(s.segment_id, 'include'), cdp_internal.seg_list_ids(s.segment_id, 'exclude'),
	           CASE WHEN m = 'full' THEN NULL ELSE cand END) x WHERE x.reason IS NULL))
	  INTO keep;
	res := cdp_internal.seg_apply(s, keep, ev, CASE WHEN m = 'full' THEN NULL ELSE cand END);
	UPDATE @extschema@.segment x SET last_refresh_at = pg_catalog.clock_timestamp(), last_refresh_mode = m,
	       refresh_mark = GREATEST(mark, s.refresh_mark), refresh_stamp = stamp
	 WHERE x.segment_id = s.segment_id;
	/*
	 * campaign touches no segment needs any more: at or below the oldest mark of the active
	 * segments with a campaign clause (one never refreshed, or restored, refreshes in full)
	 */
	DELETE FROM cdp_internal.seg_touch t
	 WHERE t.pos <= LEAST(mark, (SELECT pg_catalog.min(x.refresh_mark) FROM @extschema@.segment x
	                              WHERE x.status = 'active' AND x.refresh_stamp IS NOT NULL
	                                AND pg_catalog.jsonb_path_exists(x.rules, 'strict $.**.campaign')));
	RETURN res || pg_catalog.jsonb_build_object('mode', m,
		'evaluated', CASE WHEN m = 'full' THEN NULL ELSE pg_catalog.cardinality(cand) END);
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_segment(bigint, text) IS
	'refreshes a segment''s members: full, or incremental (only persons the log changed since the last refresh); e.g. refresh_segment(3)';

/* Sets or clears (NULL) the automatic refresh period of a segment, run by cdp.run_maintenance. */
CREATE FUNCTION @extschema@.set_segment_refresh(segment_id bigint, every interval) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.seg_get(set_segment_refresh.segment_id);
	IF every < interval '1 minute' THEN
		RAISE EXCEPTION 'a segment refresh period is at least one minute' USING ERRCODE = '22023';
	END IF;
	UPDATE @extschema@.segment x SET auto_refresh = every WHERE x.segment_id = set_segment_refresh.segment_id;
END
$$;
COMMENT ON FUNCTION @extschema@.set_segment_refresh(bigint, interval) IS
	'refresh a segment automatically every period (cdp.run_maintenance); NULL stops it; e.g. set_segment_refresh(3, ''1 hour'')';

/* Refreshes (incrementally) every active segment whose period has passed; returns how many. */
CREATE FUNCTION @extschema@.refresh_due_segments() RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id	bigint;
	n	int := 0;
BEGIN
	FOR id IN SELECT s.segment_id FROM @extschema@.segment s
	           WHERE s.status = 'active' AND s.auto_refresh IS NOT NULL
	             AND (s.last_refresh_at IS NULL OR s.last_refresh_at + s.auto_refresh <= pg_catalog.now())
	           ORDER BY s.segment_id LOOP
		PERFORM @extschema@.refresh_segment(id, 'incremental');
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_due_segments() IS
	'incremental refresh of every segment whose automatic period has passed (called by cdp.run_maintenance); returns how many';

/* ------------------------------------------------------------------ comparing, splitting */

CREATE FUNCTION @extschema@.segment_compare(a bigint, b bigint,
	OUT reach_a bigint, OUT reach_b bigint, OUT overlap bigint, OUT only_a bigint, OUT only_b bigint)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH x AS (SELECT cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = a)) AS sa,
	                  cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = b)) AS sb)
	SELECT pg_catalog.cardinality(x.sa)::bigint, pg_catalog.cardinality(x.sb)::bigint,
	       pg_catalog.cardinality(cdp_internal.seg_and(x.sa, x.sb))::bigint,
	       pg_catalog.cardinality(cdp_internal.seg_minus(x.sa, x.sb))::bigint,
	       pg_catalog.cardinality(cdp_internal.seg_minus(x.sb, x.sa))::bigint
	  FROM x
$$;
COMMENT ON FUNCTION @extschema@.segment_compare(bigint, bigint) IS
	'reach of two segments (current members), their overlap and what only each reaches';

/*
 * A deterministic A/B split of a segment's members into named arms with given proportions
 * ({"A": 50, "B": 50}): each person's arm depends only on a hash of its golden id and the segment
 * id, so it stays the same when the segment grows or is refreshed.
 */
CREATE FUNCTION @extschema@.segment_split(segment_id bigint, arms jsonb) RETURNS TABLE (golden_id bigint, arm text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF arms IS NULL OR pg_catalog.jsonb_typeof(arms) <> 'object' OR arms = '{}'
	   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(arms) x WHERE pg_catalog.jsonb_typeof(x.value) <> 'number' OR (x.value #>> '{}')::numeric <= 0) THEN
		RAISE EXCEPTION 'arms must be an object of positive proportions' USING ERRCODE = '22023',
			DETAIL = 'At $.', HINT = 'Use {"A": 50, "B": 50} or {"control": 10, "offer": 90}.';
	END IF;
	RETURN QUERY
	WITH a AS (
		SELECT x.key, pg_catalog.sum((x.value #>> '{}')::numeric) OVER (ORDER BY x.key) / pg_catalog.sum((x.value #>> '{}')::numeric) OVER () AS upto
		  FROM pg_catalog.jsonb_each(arms) x)
	SELECT m.golden_id, (SELECT a.key FROM a WHERE a.upto > h.u ORDER BY a.upto LIMIT 1)
	  FROM @extschema@.segment_member m
	 CROSS JOIN LATERAL (SELECT ((pg_catalog.hashint8extended(m.golden_id, m.segment_id) & 2147483647)::numeric / 2147483648) AS u) h
	 WHERE m.segment_id = segment_split.segment_id
	 ORDER BY m.golden_id;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_split(bigint, jsonb) IS
	'deterministic A/B split of a segment''s members by a hash of the golden id; e.g. segment_split(3, ''{"A": 50, "B": 50}'')';

/* ------------------------------------------------------------------ BI views */

CREATE VIEW @extschema@.segment_summary WITH (security_invoker = true) AS
SELECT s.segment_id, s.name, s.version, s.status, s.purpose, s.channel, s.offer_id,
       coalesce(m.size, 0) AS size,
       coalesce(m.email, 0) AS reach_email, coalesce(m.sms, 0) AS reach_sms, coalesce(m.messenger, 0) AS reach_messenger,
       coalesce(m.social, 0) AS reach_social, coalesce(m.call, 0) AS reach_call, coalesce(m.post, 0) AS reach_post,
       s.created_at, s.updated_at, s.last_refresh_at, s.last_refresh_mode, s.auto_refresh
  FROM @extschema@.segment s
  LEFT JOIN LATERAL (
	SELECT pg_catalog.count(*) AS size,
	       pg_catalog.count(*) FILTER (WHERE 'email' = ANY (x.channels) AND pg_catalog.jsonb_array_length(coalesce(p.emails, '[]')) > 0) AS email,
	       pg_catalog.count(*) FILTER (WHERE 'sms' = ANY (x.channels) AND pg_catalog.jsonb_array_length(coalesce(p.phones, '[]')) > 0) AS sms,
	       pg_catalog.count(*) FILTER (WHERE 'messenger' = ANY (x.channels) AND pg_catalog.jsonb_array_length(coalesce(p.phones, '[]')) > 0) AS messenger,
	       pg_catalog.count(*) FILTER (WHERE 'social' = ANY (x.channels) AND coalesce(p.handles, '[]') @> '[{"network": "vk"}]') AS social,
	       pg_catalog.count(*) FILTER (WHERE 'call' = ANY (x.channels) AND pg_catalog.jsonb_array_length(coalesce(p.phones, '[]')) > 0) AS call,
	       pg_catalog.count(*) FILTER (WHERE 'post' = ANY (x.channels) AND p.address IS NOT NULL) AS post
	  FROM @extschema@.segment_member x LEFT JOIN @extschema@.patient p ON p.golden_id = x.golden_id
	 WHERE x.segment_id = s.segment_id) m ON true;
COMMENT ON VIEW @extschema@.segment_summary IS
	'per segment: version, status, size, reachable size per channel (members consent and suppression allowed as of the last refresh who have an address for it), created, updated, last refresh';

/*
 * Members for analysts without names or contacts: a stable pseudonym (keyed hash of the golden id
 * with a secret salt), age band, sex, city; a row whose (segment, age band, sex, city) group has
 * fewer than 5 members is left out.
 */
CREATE VIEW @extschema@.segment_member_pseudonymous WITH (security_invoker = true) AS
WITH m AS (
	SELECT x.segment_id,
	       cdp_internal.seg_pseudonym(x.golden_id) AS pseudonym,
	       CASE WHEN a.age IS NULL THEN NULL WHEN a.age < 18 THEN '0-17' WHEN a.age < 25 THEN '18-24' WHEN a.age < 35 THEN '25-34'
	            WHEN a.age < 45 THEN '35-44' WHEN a.age < 55 THEN '45-54' WHEN a.age < 65 THEN '55-64' ELSE '65+' END AS age_band,
	       p.sex, p.city
	  FROM @extschema@.segment_member x
	  JOIN @extschema@.patient p ON p.golden_id = x.golden_id
	 CROSS JOIN LATERAL (SELECT EXTRACT(year FROM pg_catalog.age(CURRENT_DATE, p.birth_date))::int AS age) a)
SELECT g.segment_id, g.pseudonym, g.age_band, g.sex, g.city
  FROM (SELECT m.*, pg_catalog.count(*) OVER (PARTITION BY m.segment_id, m.age_band, m.sex, m.city) AS n FROM m) g
 WHERE g.n >= 5;
COMMENT ON VIEW @extschema@.segment_member_pseudonymous IS
	'segment members for analysts: pseudonym, age band, sex, city; groups under 5 left out; no names or contacts';

REVOKE ALL ON FUNCTION @extschema@.create_segment(text, jsonb, text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.edit_segment(bigint, jsonb, text, text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.copy_segment(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.archive_segment(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.segment_list_set(bigint, text, bigint[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.refresh_segment(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_segment_refresh(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.refresh_due_segments() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.configure_sensitive_categories(jsonb) FROM PUBLIC;

/* ------------------------------------------------------------------ audit fixes (issue 13, session 24) */

/*
 * Refuses to make a segment target a sensitive category (sens: the path the compiler names, NULL
 * when it does not) while a segment that is not for treatment references it, directly, through
 * other segments, or through the history of a campaign sent to it: that segment would then select
 * the sensitive patients for its own purpose.  22023 naming the referencing segment.  SECURITY
 * DEFINER: every segment counts, whichever the caller may read.
 */
CREATE FUNCTION cdp_internal.seg_check_referrers(id bigint, sens text) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r	record;
BEGIN
	IF id IS NULL OR sens IS NULL THEN
		RETURN;
	END IF;
	WITH RECURSIVE up(sid, depth) AS (
		SELECT seg_check_referrers.id, 0
		UNION
		SELECT s.segment_id, u.depth + 1
		  FROM up u JOIN @extschema@.segment s ON s.status = 'active'
		 WHERE u.depth < 50
		   AND (EXISTS (SELECT 1 FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x
		                 WHERE x = pg_catalog.to_jsonb(u.sid))
		        OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.campaign') x
		                     JOIN @extschema@.campaign_version v ON pg_catalog.to_jsonb(v.campaign_id) = x
		                    WHERE v.doc -> 'segment' = pg_catalog.to_jsonb(u.sid))))
	SELECT s.segment_id, s.name, s.purpose INTO r
	  FROM up JOIN @extschema@.segment s ON s.segment_id = up.sid
	 WHERE up.sid <> seg_check_referrers.id AND s.purpose <> 'treatment'
	 ORDER BY up.depth, s.segment_id LIMIT 1;
	IF r.segment_id IS NOT NULL THEN
		RAISE EXCEPTION 'segment % may not target a sensitive category: % segment % ("%") references it',
			id, r.purpose, r.segment_id, r.name USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s. Segment %s (purpose %s) references segment %s, directly or through other segments or a campaign''s history.',
			                           sens, r.segment_id, r.purpose, id),
			HINT = pg_catalog.format('Remove the reference from segment %s first, or save this rule as a new treatment segment.', r.segment_id);
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_check_referrers(bigint, text) IS
	'22023 when a segment made sensitive is referenced by a segment that is not for treatment (internal)';

/*
 * The plan a refresh evaluates, with the sensitive-category policy checked again for the
 * segment's purpose: a segment it references may have been edited, the sensitive list
 * reconfigured, or a campaign it reads sent to a sensitive segment since it was saved.  A
 * segment that is not for treatment and now targets a sensitive category gets {"refused":
 * message} instead (the role check of a treatment segment was made when it was saved).
 */
CREATE FUNCTION cdp_internal.seg_refresh_plan(s @extschema@.segment, d date) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb := cdp_internal.seg_compile(s.rules, d);
BEGIN
	IF plan ->> 'sensitive' IS NOT NULL AND s.purpose <> 'treatment' THEN
		RETURN pg_catalog.jsonb_build_object('refused', pg_catalog.format('a %s segment may not target a sensitive category (at %s)',
			s.purpose, plan ->> 'sensitive'));
	END IF;
	RETURN plan;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_refresh_plan(@extschema@.segment, date) IS
	'the compiled rule of a segment for a refresh, or {"refused": ...} when it now targets a sensitive category for a purpose other than treatment (internal)';

/*
 * A refresh the policy refused: every member leaves (nothing the rule selects stays
 * materialized), the next refresh is full, and a WARNING says why; returns the refresh result
 * with mode "refused" and the reason.  No error: the refresh of the other due segments goes on.
 */
CREATE FUNCTION cdp_internal.seg_refuse(s @extschema@.segment, ev bigint, reason text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res	jsonb := cdp_internal.seg_apply(s, '{}', ev);
BEGIN
	UPDATE @extschema@.segment x SET last_refresh_at = pg_catalog.clock_timestamp(), last_refresh_mode = 'refused', refresh_stamp = NULL
	 WHERE x.segment_id = s.segment_id;
	RAISE WARNING 'segment % was not refreshed and has no members: %', s.segment_id, reason
		USING HINT = 'Edit the segment (or the segments it references) so that it no longer targets the category.';
	RETURN res || pg_catalog.jsonb_build_object('mode', 'refused', 'refused', reason, 'evaluated', NULL, 'size', 0);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_refuse(@extschema@.segment, bigint, text) IS
	'empties a segment whose refresh the sensitive-category policy refused, with a WARNING (internal to refresh_segment)';

/*
 * Does profile p hold one of the address keys (canonical, consent_address_key)?  As
 * consent_addresses reads them: a phone with an extension is the key of its number, an e-mail
 * whatever its case.  The keys are substrings of the stored values lower-cased (profiles hold
 * phones in E.164, with ";ext=" after, and e-mails as cdp.email prints them), so a profile is
 * canonicalised only when that test passes (seg_changed scans every profile with it).
 */
CREATE FUNCTION cdp_internal.seg_holds_key(p @extschema@.patient, keys text[]) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (
		SELECT 1 FROM pg_catalog.unnest($2) u(key)
		 WHERE pg_catalog.strpos(pg_catalog.lower(coalesce($1.phones::text, '') || coalesce($1.emails::text, '')
		                                          || coalesce($1.handles::text, '') || coalesce($1.address, '')), u.key) > 0
		   AND (u.key = ANY (cdp_internal.consent_addresses($1, 'sms')) OR u.key = ANY (cdp_internal.consent_addresses($1, 'email'))
		        OR u.key = ANY (cdp_internal.consent_addresses($1, 'social')) OR u.key = ANY (cdp_internal.consent_addresses($1, 'post'))))
$$;
COMMENT ON FUNCTION cdp_internal.seg_holds_key(@extschema@.patient, text[]) IS
	'true when a profile carries one of the canonical address keys through any channel (internal)';
