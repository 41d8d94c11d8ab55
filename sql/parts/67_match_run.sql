/*
 * sql/parts/67_match_run.sql: matching: a run and one record at once (find_patient is in 68_match_find.sql).
 */

/* ---------------------------------------------------------------- running */

-- _match_link_plan: the decisions of a run in memory (src/match_link.c): pairs in decision order,
-- every record of every person they touch with its birth-date and different_id_never features,
-- the no_match and relation edges; one row per pair that links ('l'), is already one person
-- ('a'), is held by a cannot-link constraint ('h') or goes to review ('r')
CREATE FUNCTION cdp_internal._match_link_plan(record_a bigint[], record_b bigint[], probability float8[], flags int[],
		records bigint[], goldens bigint[], dob text[], never text[], nnever int,
		no_match_a bigint[], no_match_b bigint[], relation_a bigint[], relation_b bigint[],
		link_threshold float8, review_threshold float8, reasons text[])
	RETURNS TABLE (ord int, action "char", reason text)
	AS 'MODULE_PATHNAME', 'cdp_match_link_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[]) IS
	'internal: links, holds and review decisions of a run''s scored pairs by union-find with per-person constraint summaries (no_match decisions, relations, birth dates, different_id_never ids)';

-- _match_run: the body of run_matching: keys, blocking and scoring, then every decision in memory
-- (_match_link_plan), the links in one link_records_many call and the review queue in one insert
CREATE FUNCTION cdp_internal._match_run(mode text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pair_forced int := (cdp_internal._match_constants() ->> 'pair_forced')::int;	/* pair flags of src/match.h */
	a record;
	focus bigint[];
	processed bigint;
	candidates bigint := 0;
	linked bigint := 0;
	queued bigint := 0;
	already bigint := 0;
	held bigint := 0;
	decided bigint := 0;
	link_t float8;
	review_t float8;
	never_pos int[];
	never_attr text[];
	dob_pos int;
	t0 timestamptz := pg_catalog.clock_timestamp();
	t1 timestamptz;
	times jsonb := '{}';
	result jsonb;
	t_link timestamptz;
	u_rec bigint[];
	u_gold bigint[];
	u_dob text[];
	u_never text[];
	link_ord int[];
	link_res bigint[];
	refused int[];
	q_ids bigint[];
	q_ats timestamptz[];
BEGIN
	IF mode IS NULL OR mode NOT IN ('incremental', 'full') THEN
		RAISE EXCEPTION 'invalid matching mode "%"', mode USING ERRCODE = '22023',
			HINT = 'Use ''incremental'' or ''full''.';
	END IF;
	-- one run at a time (key: "cdp" as int, 6 = matching); a second caller returns at once
	IF NOT pg_catalog.pg_try_advisory_xact_lock(1668440176, 6) THEN
		RETURN pg_catalog.jsonb_build_object('mode', mode, 'skipped', true,
			'note', 'another run_matching or train_matching is in progress; nothing was done');
	END IF;
	a := cdp_internal._match_active();
	link_t := (a.settings ->> 'link_threshold')::float8;
	review_t := (a.settings ->> 'review_threshold')::float8;
	SELECT pg_catalog.array_agg(y.fpos ORDER BY y.comp), pg_catalog.array_agg(y.attr ORDER BY y.comp) INTO never_pos, never_attr
	  FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr IN (SELECT cdp_internal._match_attr_column(x) FROM pg_catalog.jsonb_array_elements_text(a.settings -> 'rules' -> 'different_id_never') x);
	-- birth dates conflict between persons when birth_date is a disagree_never attr
	SELECT y.fpos INTO dob_pos FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr = 'birth_date' AND y.comparator = 'date'
	   AND a.settings -> 'rules' -> 'disagree_never' ? 'birth_date';

	IF mode = 'full' THEN
		-- the queue as it is before any record is read: only these entries, unchanged since, are
		-- removed at the end (an ingest committing while the run works re-queues its record with a
		-- new queued_at, and keeps it queued for the next run)
		SELECT pg_catalog.array_agg(mq.record_id), pg_catalog.array_agg(mq.queued_at) INTO q_ids, q_ats
		  FROM cdp_internal.match_queue mq;
		-- features are recomputed for every record only when something they depend on changed:
		-- the settings version, the set of suspicious values, or records never keyed
		IF cdp_internal._match_refresh_suspicious()
		   OR EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
		   OR (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
			PERFORM cdp_internal._match_refresh_keys(NULL);
		ELSE
			PERFORM cdp_internal._match_refresh_keys(COALESCE(q_ids, '{}'));
		END IF;
		SELECT pg_catalog.count(*) INTO processed FROM cdp_internal.match_key;
		focus := NULL;
	ELSE
		SELECT pg_catalog.array_agg(q.record_id ORDER BY q.record_id) INTO focus
		  FROM (SELECT mq.record_id FROM cdp_internal.match_queue mq ORDER BY mq.record_id FOR UPDATE SKIP LOCKED) q;
		IF focus IS NULL THEN
			RETURN pg_catalog.jsonb_build_object('mode', mode, 'processed', 0, 'candidates', 0, 'linked', 0, 'queued', 0);
		END IF;
		PERFORM cdp_internal._match_ensure_keys();
		processed := cdp_internal._match_refresh_keys(focus);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	CREATE TEMP TABLE _cdp_scored ON COMMIT DROP AS
		SELECT * FROM cdp_internal._match_pairs(focus, review_t);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('block_score_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;
	t_link := t1;
	SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE s.golden_a = s.golden_b) INTO candidates, already FROM _cdp_scored s;

	-- a person's decision wins, both ways: decided pairs never reach the plan
	SELECT pg_catalog.count(*) INTO decided
	  FROM _cdp_scored s JOIN @extschema@.pair_decision d ON d.record_a = s.record_a AND d.record_b = s.record_b
	 WHERE s.golden_a <> s.golden_b;
	-- strongest evidence first, so a weak pair never decides before a strong one
	CREATE TEMP TABLE _cdp_todo ON COMMIT DROP AS
		SELECT pg_catalog.row_number() OVER (ORDER BY (s.flags & pair_forced <> 0) DESC, s.probability DESC, s.record_a, s.record_b)::int AS ord, s.*
		  FROM _cdp_scored s
		 WHERE s.golden_a <> s.golden_b
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.record_a = s.record_a AND d.record_b = s.record_b);
	-- every record of every person a pair touches, with the features the constraints read
	EXECUTE pg_catalog.format(
		'SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id), %s, %s
		   FROM (SELECT DISTINCT r.golden_id
		           FROM (SELECT t.record_a FROM _cdp_todo t UNION SELECT t.record_b FROM _cdp_todo t) x(id)
		           JOIN @extschema@.record r ON r.record_id = x.id) g
		   JOIN @extschema@.record r ON r.golden_id = g.golden_id
		   LEFT JOIN cdp_internal.match_key k ON k.record_id = r.record_id',
		CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE pg_catalog.format('pg_catalog.array_agg(k.feat[%s])', dob_pos) END,
		CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
		     ELSE 'pg_catalog.array_agg(ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
		                                          FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[])' END)
	  INTO u_rec, u_gold, u_dob, u_never;
	CREATE TEMP TABLE _cdp_plan ON COMMIT DROP AS
	SELECT lp.* FROM cdp_internal._match_link_plan(
		(SELECT pg_catalog.array_agg(t.record_a ORDER BY t.ord) FROM _cdp_todo t),
		(SELECT pg_catalog.array_agg(t.record_b ORDER BY t.ord) FROM _cdp_todo t),
		(SELECT pg_catalog.array_agg(t.probability ORDER BY t.ord) FROM _cdp_todo t),
		(SELECT pg_catalog.array_agg(t.flags ORDER BY t.ord) FROM _cdp_todo t),
		u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
		(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		link_t, review_t,
		ARRAY['запись-заглушка', 'правило: разные идентификаторы, имя или дата рождения',
		      'решение «не совпадают» между этими людьми', 'записаны как родственники',
		      'у этих людей разные даты рождения']
		|| ARRAY(SELECT 'у этих людей разные ' || cdp_internal._match_attr_label(y.x)
		           FROM pg_catalog.unnest(never_attr) WITH ORDINALITY y(x, n) ORDER BY y.n)) lp;
	SELECT already + pg_catalog.count(*) FILTER (WHERE lp.action = 'a'), pg_catalog.count(*) FILTER (WHERE lp.action = 'h')
	  INTO already, held FROM _cdp_plan lp;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('plan_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	-- every link at once, in decision order (golden applies them as link_records would one by one)
	SELECT pg_catalog.array_agg(t.ord ORDER BY t.ord), @extschema@.link_records_many(
	         COALESCE(pg_catalog.array_agg(t.record_a ORDER BY t.ord), '{}'), COALESCE(pg_catalog.array_agg(t.record_b ORDER BY t.ord), '{}'),
	         pg_catalog.array_agg(pg_catalog.jsonb_build_object(
	           'by', 'run_matching', 'record_a', t.record_a, 'record_b', t.record_b, 'probability', t.probability,
	           'weight', pg_catalog.round(t.weight::numeric, 3), 'rule', a.settings -> 'blocking' -> t.rule,
	           'forced', t.flags & pair_forced <> 0, 'levels', t.levels, 'settings_version', a.version) ORDER BY t.ord))
	  INTO link_ord, link_res
	  FROM _cdp_plan lp JOIN _cdp_todo t ON t.ord = lp.ord
	 WHERE lp.action = 'l';
	-- golden refuses a link only when a no_match decision appeared since the plan was made
	SELECT pg_catalog.count(*) FILTER (WHERE x.g IS NOT NULL), pg_catalog.array_agg(x.o) FILTER (WHERE x.g IS NULL)
	  INTO linked, refused
	  FROM ROWS FROM (pg_catalog.unnest(link_ord), pg_catalog.unnest(link_res)) x(o, g);
	held := held + COALESCE(pg_catalog.cardinality(refused), 0);
	t0 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('merge_s', pg_catalog.round(EXTRACT(epoch FROM t0 - t1), 3));
	-- the review queue, in decision order (a decided pair stays decided)
	WITH ins AS (
		INSERT INTO cdp_internal.match_review AS q (record_a, record_b, score, weight, levels, flags, version, reason)
		SELECT t.record_a, t.record_b, t.probability, t.weight, t.levels, t.flags, a.version, r.reason
		  FROM (SELECT lp.ord, lp.reason FROM _cdp_plan lp WHERE lp.action IN ('h', 'r')
		        UNION ALL
		        SELECT x.o, 'решение «не совпадают» между этими людьми' FROM pg_catalog.unnest(refused) x(o)) r
		  JOIN _cdp_todo t ON t.ord = r.ord
		 ORDER BY r.ord
		ON CONFLICT (record_a, record_b) DO UPDATE
		   SET score = excluded.score, weight = excluded.weight, levels = excluded.levels, flags = excluded.flags,
		       version = excluded.version, reason = excluded.reason
		 WHERE q.status = 'open'
		RETURNING q.xmax = 0 AS inserted)
	SELECT pg_catalog.count(*) FILTER (WHERE ins.inserted) INTO queued FROM ins;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('review_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	DROP TABLE _cdp_todo;
	DROP TABLE _cdp_plan;
	t0 := t_link;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('link_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	IF mode = 'full' THEN
		DELETE FROM cdp_internal.match_queue q
		 USING ROWS FROM (pg_catalog.unnest(q_ids), pg_catalog.unnest(q_ats)) s(id, at), cdp_internal.match_key k
		 WHERE q.record_id = s.id AND q.queued_at = s.at AND k.record_id = q.record_id;
	ELSE
		DELETE FROM cdp_internal.match_queue q WHERE q.record_id = ANY (focus);
	END IF;
	DROP TABLE _cdp_scored;
	result := pg_catalog.jsonb_build_object('mode', mode, 'settings_version', a.version, 'trained', a.params IS NOT NULL,
		'processed', processed, 'candidates', candidates, 'already_same_person', already, 'linked', linked,
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'times', times);
	INSERT INTO cdp_internal.match_run (mode, finished_at, result) VALUES (mode, pg_catalog.clock_timestamp(), result);
	RETURN result;
END $$;
COMMENT ON FUNCTION cdp_internal._match_run(text) IS
	'internal: the body of run_matching (keys, scoring, decisions in memory, links in one batch, review queue)';
REVOKE ALL ON FUNCTION cdp_internal._match_run(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.run_matching(mode text DEFAULT 'incremental') RETURNS jsonb
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	RETURN cdp_internal._match_run(mode);
COMMENT ON FUNCTION @extschema@.run_matching(text) IS
	'matches the records in cdp.match_queue (''incremental'') or every record (''full''): decides every pair in memory (_match_link_plan), links those over the link threshold in one cdp.link_records_many call, queues unsure ones for review; returns counts and step times; a concurrent call returns at once with "skipped"';
REVOKE ALL ON FUNCTION @extschema@.run_matching(text) FROM PUBLIC;

CREATE VIEW @extschema@.matching_progress WITH (security_invoker = true) AS
	SELECT r.run_id, r.mode, r.started_at, r.finished_at, r.result,
	       (SELECT pg_catalog.count(*) FROM cdp_internal.match_queue) AS waiting_in_queue
	  FROM cdp_internal.match_run r
	 ORDER BY r.run_id DESC;
COMMENT ON VIEW @extschema@.matching_progress IS 'finished matching runs, newest first, with their counts and step times, and what is waiting in cdp.match_queue';

CREATE FUNCTION @extschema@.match_record(record_id bigint)
	RETURNS TABLE (candidate bigint, golden_id bigint, probability float8, weight float8, decision text, summary text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kc jsonb := cdp_internal._match_constants();	/* pair flags of src/match.h */
	pair_forced int := (kc ->> 'pair_forced')::int;
	pair_no_auto int := (kc ->> 'pair_veto')::int | (kc ->> 'pair_placeholder')::int;
	a record := cdp_internal._match_active();
	link_t float8 := (a.settings ->> 'link_threshold')::float8;
	g0 bigint;
BEGIN
	IF record_id IS NULL THEN
		RAISE EXCEPTION 'record_id must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.record_id = match_record.record_id) THEN
		RAISE EXCEPTION 'record "%" does not exist', record_id USING ERRCODE = '22023';
	END IF;
	-- a record changed since matching last saw it (still queued) is compared as it is now
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.record_id = match_record.record_id AND k.version = a.version)
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_queue q WHERE q.record_id = match_record.record_id) THEN
		PERFORM cdp_internal._match_refresh_keys(ARRAY[record_id]);
	END IF;
	-- the block mates are read without their golden ids (no join per mate); the few pairs kept
	-- read theirs
	g0 := (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = match_record.record_id);
	RETURN QUERY
	SELECT x.cand, rc.golden_id, x.probability, x.weight,
	       CASE WHEN rc.golden_id = g0 THEN 'same_person'
	            WHEN x.flags & pair_no_auto <> 0 THEN 'review'
	            WHEN x.probability >= link_t OR x.flags & pair_forced <> 0 THEN 'link'
	            ELSE 'review' END,
	       cdp_internal._match_summary(a.settings, x.levels)
	  FROM (SELECT CASE WHEN p.record_a = match_record.record_id THEN p.record_b ELSE p.record_a END AS cand,
	               p.probability, p.weight, p.flags, p.levels
	          FROM cdp_internal._match_walk('score', cdp_internal._match_query(ARRAY[record_id], false), a.program,
	                                       a.version, (a.settings ->> 'review_threshold')::float8, (a.settings ->> 'max_block_size')::int, 0,
	                                       ARRAY[record_id]) p) x
	  JOIN @extschema@.record rc ON rc.record_id = x.cand
	 ORDER BY x.probability DESC, 1;
END $$;
COMMENT ON FUNCTION @extschema@.match_record(bigint) IS
	'candidate matches of one record at once, without linking (for the reception desk): probability, link/review/same_person and a Russian summary; e.g. SELECT * FROM match_record(42)';

/* the clinic default, installed as version 1 */
INSERT INTO cdp_internal.match_settings (settings, program, active)
	SELECT d, cdp_internal._match_program(d, NULL), true
	  FROM (SELECT cdp_internal._match_expand(cdp_internal._match_default_settings()) AS d) x;
