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
		link_threshold float8, review_threshold float8, reasons text[],
		max_person_records int, person_support float8)
	RETURNS TABLE (ord int, action "char", reason text, person_a bigint, person_b bigint, person_records int)
	AS 'MODULE_PATHNAME', 'cdp_match_link_plan'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[], int, float8) IS
	'internal: links, holds and review decisions of a run''s scored pairs by union-find with per-person constraint summaries (no_match decisions, relations, birth dates, different_id_never ids and sex) and cluster coherence (person size bound, support across the two persons, over every pair of their records, scored from match_key, when the proposed pairs are too few); name-only pairs are never linked; each row names the two persons it joins at the end';

-- _match_run_plan: _match_link_plan over the pairs of a run given in any order, each with an id
-- (pair_id): the C function puts them in decision order (forced first, probability descending,
-- record ids) itself, ord is a pair's place in that order and pair_id its id (issue 12, session 29).
-- With key_records, dob and never are those of the key rows key_records lists (in their order, a
-- scan of match_key), which the C function puts beside the records (a record without a key row has
-- none): a full run reads its records and their features in two scans, not in a join of every record
-- with every key row (issue 12, session 32); NULL: they go with records, as _match_link_plan's
CREATE FUNCTION cdp_internal._match_run_plan(pair_id int[], record_a bigint[], record_b bigint[], probability float8[], flags int[],
		records bigint[], goldens bigint[], dob text[], never text[], nnever int,
		no_match_a bigint[], no_match_b bigint[], relation_a bigint[], relation_b bigint[],
		link_threshold float8, review_threshold float8, reasons text[],
		max_person_records int, person_support float8, key_records bigint[] DEFAULT NULL)
	RETURNS TABLE (ord int, pair_id int, action "char", reason text, person_a bigint, person_b bigint, person_records int)
	AS 'MODULE_PATHNAME', 'cdp_match_run_plan'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._match_run_plan(int[], bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[], int, float8, bigint[]) IS
	'internal: _match_link_plan over a run''s pairs in any order, each with an id: sorts them into decision order itself (forced first, probability descending, record ids); ord is the place in that order, pair_id the id given; dob and never go with key_records when it is given (else with records)';
REVOKE ALL ON FUNCTION cdp_internal._match_run_plan(int[], bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[], int, float8, bigint[]) FROM PUBLIC;

-- _match_link_args: the arguments of link_records_many for a run's links given in any order, in
-- the order of ord, with each link's evidence built in C (src/match_link_args.c) as jsonb_build_object
-- gave it: four aggregates ordered by ord and jsonb_build_object per link cost about 8 s at 1M
-- records (540k links; the generic conversion of every value, the rules built again per link, the
-- sort of 230 MB of evidence on disk), the C function writes each evidence object once, into its
-- result (issue 12, session 35)
CREATE FUNCTION cdp_internal._match_link_args(ord int[], record_a bigint[], record_b bigint[], probability float8[],
		weight float8[], rule int[], forced boolean[], levels smallint[], rules jsonb, by text, settings_version int,
		OUT ord int[], OUT record_a bigint[], OUT record_b bigint[], OUT evidence jsonb[])
	RETURNS record
	AS 'MODULE_PATHNAME', 'cdp_match_link_args'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_link_args(int[], bigint[], bigint[], float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) IS
	'internal: link_records_many''s arguments for links given in any order (levels: one row per link), sorted by ord (distinct), evidence[i] = jsonb_build_object(''by'', by, ''record_a'', ..., ''record_b'', ..., ''probability'', ..., ''weight'', round(weight::numeric, 3), ''rule'', rules -> rule, ''forced'', ..., ''levels'', ..., ''settings_version'', settings_version)';
REVOKE ALL ON FUNCTION cdp_internal._match_link_args(int[], bigint[], bigint[], float8[], float8[], int[], boolean[], smallint[], jsonb, text, int) FROM PUBLIC;

-- _match_link_sorted: a run's links given in any order put in the order of ord, every array alike
-- (src/match_link_args.c): _match_link_args's arguments sorted as its result, without building the
-- evidence, which the run hands to golden in these parts (cdp_internal.golden_link_run): each object
-- is built only where it is written, into its event's payload (issue 12, session 36)
CREATE FUNCTION cdp_internal._match_link_sorted(ord int[], record_a bigint[], record_b bigint[], probability float8[],
		weight float8[], rule int[], forced boolean[], levels smallint[],
		OUT ord int[], OUT record_a bigint[], OUT record_b bigint[], OUT probability float8[],
		OUT weight float8[], OUT rule int[], OUT forced boolean[], OUT levels smallint[])
	RETURNS record
	AS 'MODULE_PATHNAME', 'cdp_match_link_sorted'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_link_sorted(int[], bigint[], bigint[], float8[], float8[], int[], boolean[], smallint[]) IS
	'internal: a run''s links given in any order (levels: one row per link) sorted by ord (distinct), every array alike: the parts of _match_link_args''s evidence, in its order';
REVOKE ALL ON FUNCTION cdp_internal._match_link_sorted(int[], bigint[], bigint[], float8[], float8[], int[], boolean[], smallint[]) FROM PUBLIC;

-- _match_plan_reasons: the reasons _match_link_plan gives, in its order (src/match_link.c LINK_WHY_*)
CREATE FUNCTION cdp_internal._match_plan_reasons(never_attr text[]) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN ARRAY['запись-заглушка', 'правило: разные идентификаторы, имя или дата рождения',
	             'решение «не совпадают» между этими людьми', 'записаны как родственники',
	             'у этих людей разные даты рождения',
	             'у человека слишком много записей: объединение только вручную',
	             'запись похожа лишь на часть записей этого человека',
	             'совпали только имена: нет даты рождения, идентификатора, контакта или адреса']
		|| ARRAY(SELECT CASE y.x WHEN 'sex' THEN 'у этих людей разный пол'
		                ELSE 'у этих людей разные ' || cdp_internal._match_attr_label(y.x) END
		           FROM pg_catalog.unnest(never_attr) WITH ORDINALITY y(x, n) ORDER BY y.n)
		|| ARRAY['запись без даты рождения подходит двум разным людям'];
COMMENT ON FUNCTION cdp_internal._match_plan_reasons(text[]) IS
	'internal: the Russian reasons of _match_link_plan, in its order, for the given person-level never attrs, then the dateless record''s (ambiguous)';

-- _match_never_attrs: the comparisons a person may hold one value of only (the different_id_never
-- attrs, then sex), as (comparison order, feature column, attr)
CREATE FUNCTION cdp_internal._match_never_attrs(s jsonb)
	RETURNS TABLE (n int, fpos int, attr text)
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT (pg_catalog.row_number() OVER (ORDER BY x.k, x.comp))::int, x.fpos, x.attr
	  FROM (SELECT 0 AS k, y.comp, y.fpos, y.attr FROM cdp_internal._match_layout(s) y
	         WHERE y.attr IN (SELECT cdp_internal._match_attr_column(r) FROM pg_catalog.jsonb_array_elements_text(s -> 'rules' -> 'different_id_never') r)
	        UNION ALL
	        SELECT 1, y.comp, y.fpos, y.attr FROM cdp_internal._match_layout(s) y
	         WHERE y.attr = 'sex' AND NOT (s -> 'rules' -> 'different_id_never' ? 'sex')) x
$$;
COMMENT ON FUNCTION cdp_internal._match_never_attrs(jsonb) IS
	'internal: the attrs of which one person holds one value (different_id_never, then sex), with their feature columns';

-- _match_run: the body of run_matching: keys, blocking and scoring, then every decision in memory
-- (_match_link_plan), the links in one link_records_many call and the review queue in one insert
CREATE FUNCTION cdp_internal._match_run(mode text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kc jsonb := cdp_internal._match_constants();	/* pair flags of src/match.h */
	pair_forced int := (kc ->> 'pair_forced')::int;
	pair_name_only int := (kc ->> 'pair_name_only')::int;
	pair_held int := (kc ->> 'pair_veto')::int | (kc ->> 'pair_placeholder')::int;
	a record;
	focus bigint[];
	processed bigint;
	candidates bigint := 0;
	linked bigint := 0;
	queued bigint := 0;
	already bigint := 0;
	held bigint := 0;
	decided bigint := 0;
	name_only bigint := 0;
	review_pairs bigint := 0;
	review_persons bigint := 0;
	review_over bigint := 0;
	review_undecidable bigint := 0;
	review_apart bigint := 0;
	review_room bigint;
	max_records int;
	support float8;
	link_t float8;
	review_t float8;
	never_pos int[];
	never_attr text[];
	dob_pos int;
	t_start timestamptz := pg_catalog.clock_timestamp();
	t0 timestamptz := t_start;
	t1 timestamptz;
	times jsonb := '{}';
	result jsonb;
	t_link timestamptz;
	u_rec bigint[];
	u_gold bigint[];
	u_key bigint[];
	u_dob text[];
	u_never text[];
	t_id int[];
	t_a bigint[];
	t_b bigint[];
	t_prob float8[];
	t_flags int[];
	link_ord int[];
	link_res bigint[];
	refused int[];
	q_ids bigint[];
	q_ats timestamptz[];
	nparts int;
	par_old text[];
	jit_old text;
	link_a bigint[];
	link_b bigint[];
	link_prob float8[];
	link_weight float8[];
	link_rule int[];
	link_forced boolean[];
	link_levels smallint[];
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
	-- settings saved before 0.3.0 lack the coherence keys: the shipped defaults apply
	max_records := COALESCE(a.settings ->> 'max_person_records', cdp_internal._match_default_settings() ->> 'max_person_records')::int;
	support := COALESCE(a.settings ->> 'person_support', cdp_internal._match_default_settings() ->> 'person_support')::float8;
	-- a person holds one value of each different_id_never attr and of sex, and (when birth_date is
	-- a disagree_never attr) birth dates that differ by at most a slip
	SELECT pg_catalog.array_agg(y.fpos ORDER BY y.n), pg_catalog.array_agg(y.attr ORDER BY y.n) INTO never_pos, never_attr
	  FROM cdp_internal._match_never_attrs(a.settings) y;
	SELECT y.fpos INTO dob_pos FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr = 'birth_date' AND y.comparator = 'date'
	   AND a.settings -> 'rules' -> 'disagree_never' ? 'birth_date';

	IF mode = 'full' THEN
		-- statistics first: a full run right after a bulk load plans with them (issue 12)
		PERFORM cdp_internal._match_analyze_stale();
		-- the queue as it is before any record is read: only these entries, unchanged since, are
		-- removed at the end (an ingest committing while the run works re-queues its record with a
		-- new queued_at, and keeps it queued for the next run)
		SELECT pg_catalog.array_agg(mq.record_id), pg_catalog.array_agg(mq.queued_at) INTO q_ids, q_ats
		  FROM cdp_internal.match_queue mq;
		-- features are recomputed for every record only when something they depend on changed:
		-- the settings version, the set of suspicious values, or records never keyed (and when a
		-- fifth of the records or more changed, as after a bulk load: one set-based re-key with its
		-- indexes built after it costs less than re-keying them one index entry at a time, and gives
		-- the same keys); otherwise only the queued records changed since their keys were computed
		-- (after training, none: issue 12); processed: the key rows after it, as the refresh counted
		-- them (not a second count of match_key's million wide rows: issue 12, session 38)
		SELECT rq.keys INTO processed
		  FROM cdp_internal._match_refresh_queued(q_ids, q_ats, cdp_internal._match_refresh_suspicious()) rq;
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

	-- the kernel's rows straight into the table (as _match_pairs scores them, but not through its
	-- result set nor _match_walk_all's: two more copies of every pair, spilled to disk at 1M
	-- records; issue 12, session 29): a whole run with many pairs per record in parallel parts
	-- (_match_walk_all's plan, its settings for this statement only), else one walk.  At most one
	-- part per core (_match_cpus), walked by the workers alone while the leader writes their rows:
	-- each part loads every record, and on two cores the leader and two workers each loading 1M
	-- records repeated a load, competing for the cores with the leader's writes (issue 12,
	-- session 31); as many processes walk as before at most (1 + max_parallel_workers_per_gather).
	-- A full run's walk (kernel mode 'run') reads the records' golden ids itself, in record id order,
	-- instead of joining cdp.record in its record query: that join was 3 s of each part's 4 s load
	-- at 1M records (issue 12, session 34); the same records in the same order, the same pairs.
	-- Every row of match_part is read, the parts past nparts walking nothing: a filter on part was
	-- estimated at one row once the table was analyzed, and the walk ran serially (session 41)
	nparts := CASE WHEN focus IS NULL THEN LEAST(cdp_internal._match_nparts(), COALESCE(cdp_internal._match_cpus(), 8), 8) ELSE 1 END;
	-- no JIT for the statements of the scoring, the plan and the review work list (restored for the
	-- queue's clean-up; the merge's functions set their own): the row estimates of the C functions
	-- make their plans look costly enough to compile, in every parallel worker too, and there is
	-- nothing to gain for a few rows per plan node; the review's statements over the run's temp
	-- tables (no statistics) were compiled too, about 2 s at 100k records (issue 12, session 35)
	jit_old := pg_catalog.current_setting('jit');
	PERFORM pg_catalog.set_config('jit', 'off', true);
	IF nparts > 1 THEN
		par_old := ARRAY[pg_catalog.current_setting('parallel_setup_cost'), pg_catalog.current_setting('parallel_tuple_cost'),
		                 pg_catalog.current_setting('min_parallel_table_scan_size'), pg_catalog.current_setting('parallel_leader_participation'),
		                 pg_catalog.current_setting('max_parallel_workers_per_gather')];
		PERFORM pg_catalog.set_config('parallel_setup_cost', '0', true), pg_catalog.set_config('parallel_tuple_cost', '0', true),
		        pg_catalog.set_config('min_parallel_table_scan_size', '0', true),
		        pg_catalog.set_config('parallel_leader_participation', 'off', true),
		        pg_catalog.set_config('max_parallel_workers_per_gather', nparts::text, true);
		CREATE TEMP TABLE _cdp_scored ON COMMIT DROP AS
			SELECT (pg_catalog.row_number() OVER ())::int AS id, w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
			  FROM cdp_internal.match_part p
			 CROSS JOIN LATERAL cdp_internal._match_walk_part(p.part, LEAST(nparts, 8), 'run', cdp_internal._match_query(NULL, false), a.program,
			                                                 a.version, review_t, (a.settings ->> 'max_block_size')::int, 0, NULL) w;
		PERFORM pg_catalog.set_config('parallel_setup_cost', par_old[1], true), pg_catalog.set_config('parallel_tuple_cost', par_old[2], true),
		        pg_catalog.set_config('min_parallel_table_scan_size', par_old[3], true),
		        pg_catalog.set_config('parallel_leader_participation', par_old[4], true),
		        pg_catalog.set_config('max_parallel_workers_per_gather', par_old[5], true);
	ELSE
		CREATE TEMP TABLE _cdp_scored ON COMMIT DROP AS
			SELECT (pg_catalog.row_number() OVER ())::int AS id, w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
			  FROM cdp_internal._match_walk(CASE WHEN focus IS NULL THEN 'run' ELSE 'score' END,
			                               cdp_internal._match_query(focus, focus IS NOT NULL), a.program,
			                               a.version, review_t, (a.settings ->> 'max_block_size')::int, 0, focus) w;
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('block_score_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;
	t_link := t1;
	-- one scan of the scored pairs: the counts, the pairs a person's decision settles (a decision
	-- wins, both ways: decided pairs never reach the plan; pair_decision has one row per pair), and
	-- the pairs to decide (persons still apart, no decision), with those only names support counted
	-- (the evidence floor: never linked, to review when they score over the link threshold), in no
	-- order: the plan puts them in decision order (strongest evidence first, so a weak pair never
	-- decides before a strong one) and gives each its place (ord), without a sort of every scored
	-- row in SQL (issue 12, session 29)
	SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE s.golden_a = s.golden_b),
	       pg_catalog.count(*) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NOT NULL),
	       pg_catalog.array_agg(s.id) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NULL),
	       pg_catalog.array_agg(s.record_a) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NULL),
	       pg_catalog.array_agg(s.record_b) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NULL),
	       pg_catalog.array_agg(s.probability) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NULL),
	       pg_catalog.array_agg(s.flags) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NULL),
	       pg_catalog.count(*) FILTER (WHERE s.golden_a <> s.golden_b AND d.record_a IS NULL AND s.flags & pair_name_only <> 0)
	  INTO candidates, already, decided, t_id, t_a, t_b, t_prob, t_flags, name_only
	  FROM _cdp_scored s
	  LEFT JOIN @extschema@.pair_decision d ON d.record_a = s.record_a AND d.record_b = s.record_b;
	-- every record of every person a pair touches, with the features the constraints read (taken
	-- out of match_key before the join, OFFSET 0: the hash then holds a few values per record, not
	-- every feature; at 1M records that hash spilled to disk, issue 12).  A full run reads every
	-- record, without finding the persons its pairs touch first: the two joins and the distinct
	-- persons of 2.3M pair ends cost more at 1M records than the records of persons no pair
	-- touches, which the plan never looks at (issue 12, session 29).  It reads them and their
	-- features in two scans (the records' golden ids from an index, the features from match_key),
	-- which _match_run_plan puts side by side by record id (key_records): at 1M records the hash
	-- join of every record with every key row cost about 2 s (issue 12, session 32)
	IF t_id IS NOT NULL AND focus IS NULL THEN
		SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id) INTO u_rec, u_gold FROM @extschema@.record r;
		IF dob_pos IS NOT NULL OR never_pos IS NOT NULL THEN
			EXECUTE pg_catalog.format(
				'SELECT pg_catalog.array_agg(k.record_id), %s, %s FROM cdp_internal.match_key k',
				CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE pg_catalog.format('pg_catalog.array_agg(k.feat[%s])', dob_pos) END,
				CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
				     ELSE 'pg_catalog.array_agg(ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
				                                           FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[])' END)
			  INTO u_key, u_dob, u_never;
			u_key := COALESCE(u_key, '{}');
		END IF;
	ELSIF t_id IS NOT NULL THEN
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id), %s, %s
			   FROM %s
			   LEFT JOIN (SELECT k.record_id, %s AS dob, %s AS never FROM cdp_internal.match_key k OFFSET 0) k ON k.record_id = r.record_id',
			CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE 'pg_catalog.array_agg(k.dob)' END,
			CASE WHEN never_pos IS NULL THEN 'NULL::text[]' ELSE 'pg_catalog.array_agg(k.never)' END,
			'(SELECT DISTINCT r.golden_id
			              FROM (SELECT t.record_a FROM _cdp_scored t WHERE t.golden_a <> t.golden_b AND NOT EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.record_a = t.record_a AND d.record_b = t.record_b)
			                    UNION SELECT t.record_b FROM _cdp_scored t WHERE t.golden_a <> t.golden_b AND NOT EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.record_a = t.record_a AND d.record_b = t.record_b)) x(id)
			              JOIN @extschema@.record r ON r.record_id = x.id) g
			      JOIN @extschema@.record r ON r.golden_id = g.golden_id',
			CASE WHEN dob_pos IS NULL THEN 'NULL::text' ELSE pg_catalog.format('k.feat[%s]', dob_pos) END,
			CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
			     ELSE 'ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
			                       FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[]' END)
		  INTO u_rec, u_gold, u_dob, u_never;
	END IF;
	CREATE TEMP TABLE _cdp_plan ON COMMIT DROP AS
	SELECT lp.* FROM cdp_internal._match_run_plan(t_id, t_a, t_b, t_prob, t_flags,
		u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
		(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		link_t, review_t, cdp_internal._match_plan_reasons(never_attr),
		max_records, support, u_key) lp;
	SELECT already + pg_catalog.count(*) FILTER (WHERE lp.action = 'a'), pg_catalog.count(*) FILTER (WHERE lp.action = 'h')
	  INTO already, held FROM _cdp_plan lp;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('plan_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	-- every link at once, in decision order (golden applies them as link_records would one by one):
	-- the links' values gathered in any order and put in decision order by _match_link_sorted in C;
	-- golden_link_run does what link_records_many(link_a, link_b, evidence) did with the evidence
	-- _match_link_args built from these parts, but builds each object only into its event's payload
	-- (no jsonb[] of every object, about 230 MB at 1M records, read again by the check and flattened
	-- by each C function plpgsql handed it to: issue 12, session 36)
	SELECT x.ord, x.record_a, x.record_b, x.probability, x.weight, x.rule, x.forced, x.levels
	  INTO link_ord, link_a, link_b, link_prob, link_weight, link_rule, link_forced, link_levels
	  FROM (SELECT pg_catalog.array_agg(lp.ord) AS ord, pg_catalog.array_agg(t.record_a) AS record_a,
	               pg_catalog.array_agg(t.record_b) AS record_b, pg_catalog.array_agg(t.probability) AS probability,
	               pg_catalog.array_agg(t.weight) AS weight, pg_catalog.array_agg(t.rule) AS rule,
	               pg_catalog.array_agg(t.flags & pair_forced <> 0) AS forced, pg_catalog.array_agg(t.levels) AS levels
	          FROM _cdp_plan lp JOIN _cdp_scored t ON t.id = lp.pair_id
	         WHERE lp.action = 'l') l
	  LEFT JOIN cdp_internal._match_link_sorted(l.ord, l.record_a, l.record_b, l.probability, l.weight, l.rule, l.forced, l.levels) x ON true;
	IF link_a IS NULL THEN
		link_res := '{}';
	ELSE
		link_res := cdp_internal.golden_link_run(link_a, link_b, link_prob, link_weight, link_rule, link_forced, link_levels,
			cdp_internal._match_rules(a.settings), 'run_matching', a.version);
	END IF;
	-- golden refuses a link only when a no_match decision appeared since the plan was made
	SELECT pg_catalog.count(*) FILTER (WHERE x.g IS NOT NULL), pg_catalog.array_agg(x.o) FILTER (WHERE x.g IS NULL)
	  INTO linked, refused
	  FROM ROWS FROM (pg_catalog.unnest(link_ord), pg_catalog.unnest(link_res)) x(o, g);
	held := held + COALESCE(pg_catalog.cardinality(refused), 0);
	t0 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('merge_s', pg_catalog.round(EXTRACT(epoch FROM t0 - t1), 3));
	-- the review queue is a work list: one entry per pair of persons still apart (the strongest of
	-- their record pairs, in decision order), none for a pair of persons that has an open entry
	-- already, ordered by priority (probability times the records the decision moves; a hundredth of
	-- that for a name-only pair), at most review_limit open entries; the rest are counted.
	-- None for two persons a reviewer decided apart (a no_match decision between a record of each,
	-- by their persons now): golden refuses every link between them, so an entry could not be
	-- decided otherwise, and each run would queue their next record pair (issue 12); their pairs
	-- are counted (review_decided_apart) until the decisions are withdrawn
	CREATE TEMP TABLE _cdp_apart ON COMMIT DROP AS
	SELECT DISTINCT LEAST(ra.golden_id, rb.golden_id) AS person_a, GREATEST(ra.golden_id, rb.golden_id) AS person_b
	  FROM @extschema@.pair_decision d
	  JOIN @extschema@.record ra ON ra.record_id = d.record_a
	  JOIN @extschema@.record rb ON rb.record_id = d.record_b
	 WHERE d.decision = 'no_match' AND ra.golden_id <> rb.golden_id;
	CREATE TEMP TABLE _cdp_rev ON COMMIT DROP AS
	SELECT DISTINCT ON (r.person_a, r.person_b) r.ord, r.pair_id, r.reason, r.person_a, r.person_b, r.person_records,
	       pg_catalog.count(*) OVER (PARTITION BY r.person_a, r.person_b)::int AS pairs,
	       EXISTS (SELECT 1 FROM _cdp_apart x WHERE x.person_a = r.person_a AND x.person_b = r.person_b) AS apart
	  FROM (SELECT lp.ord, lp.pair_id, lp.reason, lp.person_a, lp.person_b, lp.person_records FROM _cdp_plan lp
	          JOIN _cdp_scored t ON t.id = lp.pair_id
	         -- a pair the evidence floor holds (name-only, no rule or placeholder) is not queued but
	         -- counted (review_undecidable): a reviewer has nothing to check but the names the
	         -- matcher compared already (issue 12)
	         WHERE lp.action IN ('h', 'r') AND t.flags & (pair_name_only | pair_held) <> pair_name_only
	        UNION ALL
	        SELECT x.o, lp.pair_id, 'решение «не совпадают» между этими людьми', LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	               (SELECT pg_catalog.count(*) FROM @extschema@.record rr WHERE rr.golden_id IN (ra.golden_id, rb.golden_id))::int
	          FROM pg_catalog.unnest(refused) x(o) JOIN _cdp_plan lp ON lp.ord = x.o JOIN _cdp_scored t ON t.id = lp.pair_id
	          JOIN @extschema@.record ra ON ra.record_id = t.record_a JOIN @extschema@.record rb ON rb.record_id = t.record_b) r
	 WHERE r.person_a <> r.person_b
	 ORDER BY r.person_a, r.person_b, r.ord;
	SELECT pg_catalog.count(*) FILTER (WHERE NOT v.apart), COALESCE(pg_catalog.sum(v.pairs) FILTER (WHERE NOT v.apart), 0),
	       COALESCE(pg_catalog.sum(v.pairs) FILTER (WHERE v.apart), 0)
	  INTO review_persons, review_pairs, review_apart FROM _cdp_rev v;
	SELECT pg_catalog.count(*) INTO review_undecidable
	  FROM _cdp_plan lp JOIN _cdp_scored t ON t.id = lp.pair_id
	 WHERE lp.action IN ('h', 'r') AND t.flags & (pair_name_only | pair_held) = pair_name_only;
	-- open entries of persons still apart, by the persons they join now
	CREATE TEMP TABLE _cdp_open ON COMMIT DROP AS
	SELECT q.pair_id, LEAST(ra.golden_id, rb.golden_id) AS person_a, GREATEST(ra.golden_id, rb.golden_id) AS person_b
	  FROM cdp_internal.match_review q
	  JOIN @extschema@.record ra ON ra.record_id = q.record_a
	  JOIN @extschema@.record rb ON rb.record_id = q.record_b
	 WHERE q.status = 'open' AND ra.golden_id <> rb.golden_id;
	review_room := GREATEST(COALESCE(a.settings ->> 'review_limit', cdp_internal._match_default_settings() ->> 'review_limit')::bigint - (SELECT pg_catalog.count(*) FROM _cdp_open), 0);
	WITH cand AS (
		SELECT v.*, t.record_a, t.record_b, t.probability, t.weight, t.levels, t.flags,
		       -- a name-only pair gives a reviewer nothing to check but the names: after every other
		       t.probability * v.person_records * CASE WHEN t.flags & pair_name_only <> 0 THEN 0.01 ELSE 1 END AS priority
		  FROM _cdp_rev v JOIN _cdp_scored t ON t.id = v.pair_id
		 WHERE NOT v.apart
		   AND NOT EXISTS (SELECT 1 FROM _cdp_open o WHERE o.person_a = v.person_a AND o.person_b = v.person_b
		                      AND NOT EXISTS (SELECT 1 FROM cdp_internal.match_review q2
		                                       WHERE q2.pair_id = o.pair_id AND q2.record_a = t.record_a AND q2.record_b = t.record_b))),
	ranked AS (
		SELECT c.*, pg_catalog.row_number() OVER (ORDER BY c.priority DESC, c.ord) AS rk FROM cand c),
	ins AS (
		INSERT INTO cdp_internal.match_review AS q (record_a, record_b, score, weight, levels, flags, version, reason, priority, pairs)
		SELECT k.record_a, k.record_b, k.probability, k.weight, k.levels, k.flags, a.version, k.reason, k.priority, k.pairs
		  FROM ranked k
		 WHERE k.rk <= review_room
		 ORDER BY k.rk
		ON CONFLICT (record_a, record_b) DO UPDATE
		   SET score = excluded.score, weight = excluded.weight, levels = excluded.levels, flags = excluded.flags,
		       version = excluded.version, reason = excluded.reason, priority = excluded.priority, pairs = excluded.pairs
		 WHERE q.status = 'open'
		RETURNING q.xmax = 0 AS inserted)
	SELECT (SELECT pg_catalog.count(*) FILTER (WHERE ins.inserted) FROM ins),
	       (SELECT pg_catalog.count(*) FROM ranked k WHERE k.rk > review_room)
	  INTO queued, review_over;
	DROP TABLE _cdp_rev;
	DROP TABLE _cdp_open;
	DROP TABLE _cdp_apart;
	PERFORM pg_catalog.set_config('jit', jit_old, true);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('review_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	DROP TABLE _cdp_plan;
	t0 := t_link;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('link_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	-- the queue entries the run read, unchanged since (a record an ingest changed and committed
	-- meanwhile has another queued_at; one queued meanwhile is not among them): one hash join of the
	-- queue with them.  Every record they name has its key row now (the run keyed every record
	-- without one), so they are not joined with match_key as well: at 1M records that join probed
	-- its primary key once per entry, about 4 s counted in no step (issue 12, session 32)
	IF mode = 'full' THEN
		DELETE FROM cdp_internal.match_queue q
		 USING ROWS FROM (pg_catalog.unnest(q_ids), pg_catalog.unnest(q_ats)) s(id, at)
		 WHERE q.record_id = s.id AND q.queued_at = s.at;
	ELSE
		DELETE FROM cdp_internal.match_queue q WHERE q.record_id = ANY (focus);
	END IF;
	DROP TABLE _cdp_scored;
	t0 := pg_catalog.clock_timestamp();
	-- queue_s: the queue's clean-up; total_s: the whole run, so that keys_s + block_score_s + plan_s
	-- + merge_s + review_s + queue_s accounts for it (link_s is plan_s + merge_s + review_s)
	times := times || pg_catalog.jsonb_build_object('queue_s', pg_catalog.round(EXTRACT(epoch FROM t0 - t1), 3),
		'total_s', pg_catalog.round(EXTRACT(epoch FROM t0 - t_start), 3));
	result := pg_catalog.jsonb_build_object('mode', mode, 'settings_version', a.version, 'trained', a.params IS NOT NULL,
		'processed', processed, 'candidates', candidates, 'already_same_person', already, 'linked', linked,
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'name_only', name_only,
		'review_pairs', review_pairs, 'review_persons', review_persons, 'review_over_limit', review_over,
		'review_undecidable', review_undecidable, 'review_decided_apart', review_apart, 'times', times);
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

/*
 * The rows of cdp.matching_progress: the private run log, read as the owner (runs, counts and step
 * times; no personal data); EXECUTE is the role check (cdp_admin).
 */
CREATE FUNCTION @extschema@.matching_runs()
	RETURNS TABLE (run_id bigint, mode text, started_at timestamptz, finished_at timestamptz, result jsonb, waiting_in_queue bigint)
	LANGUAGE sql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT r.run_id, r.mode, r.started_at, r.finished_at, r.result,
	       (SELECT pg_catalog.count(*) FROM cdp_internal.match_queue) AS waiting_in_queue
	  FROM cdp_internal.match_run r
	 ORDER BY r.run_id DESC
$$;
COMMENT ON FUNCTION @extschema@.matching_runs() IS
	'the rows of cdp.matching_progress (finished matching runs and the queue''s length), read as the owner; EXECUTE is the role check';
CREATE VIEW @extschema@.matching_progress WITH (security_invoker = true) AS
	SELECT r.run_id, r.mode, r.started_at, r.finished_at, r.result, r.waiting_in_queue
	  FROM @extschema@.matching_runs() r;
COMMENT ON VIEW @extschema@.matching_progress IS 'finished matching runs, newest first, with their counts and step times, and what is waiting in cdp.match_queue';

-- _match_lookup_query: the kernel's record query for one record's lookup (match_record): the record
-- and at most 64 block mates, the rarest keys first.  Each key of the record gives at most 128
-- mates; a mate weighs the sum over the keys it shares of ln(256 / the mates that key gave) (an
-- inverse document frequency), and the 64 heaviest are read.  A birth-date, phone or identifier
-- key gives a handful of mates, each weighing 4 to 5.5; a family + given name key of a common name
-- (Иванова Татьяна among a million records: thousands of mates) gives 128, each weighing 0.69: a
-- namesake sharing four name keys (a birth date typed wrong) weighs about as much as a stranger
-- sharing one birth-date key, and a twin sharing four rare keys far more than both.  A
-- record of a common name then reads 64 feature rows, not 256 or thousands (issue 12, speed).
-- Only the keys of the rules a walk pairs by (bk[1:_match_walked_rules]): a lookup_blocking
-- rule's mates would take places and score no pair (issue 12, session 40).
-- With fewer mates than that, the query reads every mate, as _match_query does.
CREATE FUNCTION cdp_internal._match_lookup_query(record_id bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.format(
		'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k'
		' WHERE k.record_id IN (SELECT %1$s::bigint UNION ALL'
		' (SELECT x.record_id FROM (SELECT m.record_id, pg_catalog.count(*) OVER (PARTITION BY b.bk) AS n'
		'   FROM cdp_internal.match_key f'
		'   CROSS JOIN LATERAL pg_catalog.unnest(f.bk) WITH ORDINALITY b(bk, o)'
		'   CROSS JOIN LATERAL (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = b.bk AND m.record_id <> %1$s LIMIT 128) m'
		'  WHERE f.record_id = %1$s AND b.bk IS NOT NULL'
		'    AND b.o <= (SELECT cdp_internal._match_walked_rules(s.settings) FROM cdp_internal.match_settings s WHERE s.active)) x'
		' GROUP BY x.record_id ORDER BY pg_catalog.sum(pg_catalog.ln(256.0::float8 / x.n)) DESC, x.record_id LIMIT 64))', record_id);
COMMENT ON FUNCTION cdp_internal._match_lookup_query(bigint) IS
	'internal: the kernel''s record query of match_record: the record and at most 64 block mates (at most 128 per key, the rarest keys first: each mate weighs the sum of ln(256 / mates) of the keys it shares)';

CREATE FUNCTION @extschema@.match_record(record_id bigint)
	RETURNS TABLE (candidate bigint, golden_id bigint, probability float8, weight float8, decision text, summary text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kc jsonb := cdp_internal._match_constants();	/* pair flags of src/match.h */
	pair_forced int := (kc ->> 'pair_forced')::int;
	pair_name_only int := (kc ->> 'pair_name_only')::int;
	pair_no_auto int := (kc ->> 'pair_veto')::int | (kc ->> 'pair_placeholder')::int | pair_name_only;
	a record := cdp_internal._match_active();
	link_t float8 := (a.settings ->> 'link_threshold')::float8;
	review_t float8 := (a.settings ->> 'review_threshold')::float8;
	dob_pos int;
	never_pos int[];
	never_attr text[];
	c_cand bigint[];
	c_gold bigint[];
	c_prob float8[];
	c_weight float8[];
	c_flags int[];
	c_levels text[];
	u_rec bigint[];
	u_gold bigint[];
	u_dob text[];
	u_never text[];
	plan_ord int[];
	plan_act text[];
	plan_why text[];
	g0 bigint;
BEGIN
	IF record_id IS NULL THEN
		RAISE EXCEPTION 'record_id must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.record_id = match_record.record_id) THEN
		RAISE EXCEPTION 'record "%" does not exist', record_id USING ERRCODE = '22023';
	END IF;
	-- a record changed since matching last saw it (still queued) is compared as it is now
	-- (a queued record keyed since it was queued, by training, a run or an earlier lookup, is not
	-- keyed again: its key row carries the queue entry's queued_at)
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.record_id = match_record.record_id AND k.version = a.version)
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_queue q
	               WHERE q.record_id = match_record.record_id
	                 AND q.queued_at IS DISTINCT FROM (SELECT k.queued_at FROM cdp_internal.match_key k WHERE k.record_id = q.record_id)) THEN
		PERFORM cdp_internal._match_refresh_keys(ARRAY[record_id]);
	END IF;
	-- the block mates are read without their golden ids (no join per mate); the few pairs kept
	-- read theirs, in the order a run decides them
	g0 := (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = match_record.record_id);
	SELECT pg_catalog.array_agg(x.cand ORDER BY x.o), pg_catalog.array_agg(rc.golden_id ORDER BY x.o),
	       pg_catalog.array_agg(x.probability ORDER BY x.o), pg_catalog.array_agg(x.weight ORDER BY x.o),
	       pg_catalog.array_agg(x.flags ORDER BY x.o), pg_catalog.array_agg(x.levels::text ORDER BY x.o)
	  INTO c_cand, c_gold, c_prob, c_weight, c_flags, c_levels
	  FROM (SELECT CASE WHEN p.record_a = match_record.record_id THEN p.record_b ELSE p.record_a END AS cand,
	               p.probability, p.weight, p.flags, p.levels,
	               pg_catalog.row_number() OVER (ORDER BY (p.flags & pair_forced <> 0) DESC, p.probability DESC,
	                                             CASE WHEN p.record_a = match_record.record_id THEN p.record_b ELSE p.record_a END) AS o
	          FROM cdp_internal._match_walk('score', cdp_internal._match_lookup_query(record_id), a.program,
	                                       a.version, review_t, (a.settings ->> 'max_block_size')::int, 0,
	                                       ARRAY[record_id]) p) x
	  JOIN @extschema@.record rc ON rc.record_id = x.cand;
	IF c_cand IS NULL THEN
		RETURN;
	END IF;
	-- the decisions a run would take (cluster coherence included): _match_link_plan over the
	-- candidates of the record's person, with every record of every person involved; only when
	-- some candidate of another person could link (most lookups find none and skip it)
	IF NOT EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest(c_gold), pg_catalog.unnest(c_prob), pg_catalog.unnest(c_flags)) x(g, p, f)
	                WHERE x.g <> g0 AND x.f & pair_no_auto = 0 AND (x.p >= link_t OR x.f & pair_forced <> 0)) THEN
		RETURN QUERY
		SELECT c_cand[o], c_gold[o], c_prob[o], c_weight[o],
		       CASE WHEN c_gold[o] = g0 THEN 'same_person' ELSE 'review' END,
		       cdp_internal._match_summary(a.settings, c_levels[o]::smallint[])
		         || CASE WHEN c_flags[o] & pair_name_only <> 0 THEN '; совпали только имена: автоматическое объединение запрещено' ELSE '' END
		  FROM pg_catalog.generate_subscripts(c_cand, 1) o
		 ORDER BY c_prob[o] DESC, 1;
		RETURN;
	END IF;
	SELECT pg_catalog.array_agg(y.fpos ORDER BY y.n), pg_catalog.array_agg(y.attr ORDER BY y.n) INTO never_pos, never_attr
	  FROM cdp_internal._match_never_attrs(a.settings) y;
	SELECT y.fpos INTO dob_pos FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr = 'birth_date' AND y.comparator = 'date'
	   AND a.settings -> 'rules' -> 'disagree_never' ? 'birth_date';
	SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id),
	       CASE WHEN dob_pos IS NULL THEN NULL ELSE pg_catalog.array_agg(k.feat[dob_pos]) END,
	       CASE WHEN never_pos IS NULL THEN NULL
	            ELSE pg_catalog.array_agg(ARRAY(SELECT k.feat[f] FROM pg_catalog.unnest(never_pos) WITH ORDINALITY z(f, n) ORDER BY z.n)) END
	  INTO u_rec, u_gold, u_dob, u_never
	  FROM @extschema@.record r
	  LEFT JOIN cdp_internal.match_key k ON k.record_id = r.record_id
	 WHERE r.golden_id IN (SELECT DISTINCT g FROM pg_catalog.unnest(c_gold || g0) g);
	SELECT pg_catalog.array_agg(lp.ord), pg_catalog.array_agg(lp.action::text), pg_catalog.array_agg(lp.reason)
	  INTO plan_ord, plan_act, plan_why
	  FROM cdp_internal._match_link_plan(
		pg_catalog.array_fill(match_record.record_id, ARRAY[pg_catalog.cardinality(c_cand)]), c_cand, c_prob, c_flags,
		u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
		(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d
		  WHERE d.decision = 'no_match' AND (d.record_a = ANY (u_rec) OR d.record_b = ANY (u_rec))),
		(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d
		  WHERE d.decision = 'no_match' AND (d.record_a = ANY (u_rec) OR d.record_b = ANY (u_rec))),
		(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h
		  WHERE h.record_a = ANY (u_rec) AND h.record_b = ANY (u_rec)),
		(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h
		  WHERE h.record_a = ANY (u_rec) AND h.record_b = ANY (u_rec)),
		link_t, review_t, cdp_internal._match_plan_reasons(never_attr),
		COALESCE(a.settings ->> 'max_person_records', cdp_internal._match_default_settings() ->> 'max_person_records')::int,
		COALESCE(a.settings ->> 'person_support', cdp_internal._match_default_settings() ->> 'person_support')::float8) lp;
	RETURN QUERY
	SELECT c_cand[o], c_gold[o], c_prob[o], c_weight[o],
	       CASE WHEN c_gold[o] = g0 THEN 'same_person'
	            WHEN pl.act = 'l' THEN 'link'
	            WHEN pl.act = 'a' THEN 'same_person'
	            ELSE 'review' END,
	       cdp_internal._match_summary(a.settings, c_levels[o]::smallint[])
	         || CASE WHEN c_flags[o] & pair_name_only <> 0 THEN '; совпали только имена: автоматическое объединение запрещено' ELSE '' END
	         || CASE WHEN pl.act = 'h' THEN '; ' || pl.why ELSE '' END
	  FROM pg_catalog.generate_subscripts(c_cand, 1) o
	  LEFT JOIN (SELECT x.o AS ord, x.act, x.why
	               FROM ROWS FROM (pg_catalog.unnest(plan_ord), pg_catalog.unnest(plan_act), pg_catalog.unnest(plan_why)) x(o, act, why)) pl
	    ON pl.ord = o
	 ORDER BY c_prob[o] DESC, 1;
END $$;
COMMENT ON FUNCTION @extschema@.match_record(bigint) IS
	'candidate matches of one record at once, without linking (for the reception desk): probability, link/review/same_person as a run would decide them (evidence floor and cluster coherence included) and a Russian summary; e.g. SELECT * FROM match_record(42)';

CREATE VIEW @extschema@.oversize_persons WITH (security_invoker = true) AS
	SELECT r.golden_id, pg_catalog.count(*) AS records, b.max_person_records
	  FROM @extschema@.record r
	 -- (20 is the shipped default of _match_default_settings, for settings saved before 0.3.0; the
	 -- settings in force come from cdp.matching_settings(), as the owner, so a role that may read
	 -- cdp.record may read this view)
	 CROSS JOIN (SELECT COALESCE((@extschema@.matching_settings() ->> 'max_person_records')::int, 20) AS max_person_records) b
	 WHERE b.max_person_records > 0
	 GROUP BY r.golden_id, b.max_person_records
	HAVING pg_catalog.count(*) >= b.max_person_records;
COMMENT ON VIEW @extschema@.oversize_persons IS
	'the oversize alarm: persons holding max_person_records records or more (matching no longer links more records to them automatically; the next candidates go to review)';

/* the clinic default, installed as version 1 */
INSERT INTO cdp_internal.match_settings (settings, program, active)
	SELECT d, cdp_internal._match_program(d, NULL), true
	  FROM (SELECT cdp_internal._match_expand(cdp_internal._match_default_settings()) AS d) x;
