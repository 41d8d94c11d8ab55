/*
 * sql/parts/66_match_train.sql: matching: training (u sampling, EM) and blocking reports.
 */

/* ---------------------------------------------------------------- training */

-- _match_pattern_em: EM over level-vector counts, returns m (9 per comparison, flat) then lambda
CREATE FUNCTION cdp_internal._match_fit(pat jsonb, s jsonb, u float8[], m float8[], lambda float8, iterations int, fixed boolean[], update_m boolean)
	RETURNS float8[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	lev smallint[];
	cnt float8[];
	nlev int[];
BEGIN
	SELECT pg_catalog.array_agg(pg_catalog.jsonb_array_length(c -> 'levels') ORDER BY o) INTO nlev
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o);
	IF pat IS NULL OR pg_catalog.jsonb_array_length(pat) = 0 THEN
		RETURN m || lambda;
	END IF;
	SELECT pg_catalog.array_agg(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(x -> 'l')::smallint) ORDER BY o),
	       pg_catalog.array_agg((x ->> 'n')::float8 ORDER BY o)
	  INTO lev, cnt FROM pg_catalog.jsonb_array_elements(pat) WITH ORDINALITY e(x, o);
	RETURN cdp_internal._match_em(lev, cnt, nlev, u, m, lambda, iterations, fixed, update_m);
END $$;
COMMENT ON FUNCTION cdp_internal._match_fit(jsonb, jsonb, float8[], float8[], float8, int, boolean[], boolean) IS 'internal: runs EM over a JSON list of {l: levels, n: count}';

-- _match_flat: a params matrix (jsonb array per comparison) as the kernel's flat 9-per-comparison array
CREATE FUNCTION cdp_internal._match_flat(mat jsonb) RETURNS float8[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.array_agg(COALESCE((mat -> c ->> l)::float8, 1e-6) ORDER BY c, l)
	  FROM pg_catalog.generate_series(0, pg_catalog.jsonb_array_length(mat) - 1) c, pg_catalog.generate_series(0, 8) l
$$;
COMMENT ON FUNCTION cdp_internal._match_flat(jsonb) IS 'internal: per-comparison parameter lists as a flat array of 9 per comparison';

-- _match_unflat: the inverse, keeping nlev + 1 values per comparison
CREATE FUNCTION cdp_internal._match_unflat(s jsonb, v float8[]) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_agg((SELECT pg_catalog.jsonb_agg(pg_catalog.round(v[(o - 1) * 9 + l + 1]::numeric, 8) ORDER BY l)
	                               FROM pg_catalog.generate_series(0, pg_catalog.jsonb_array_length(c -> 'levels')) l) ORDER BY o)
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
$$;
COMMENT ON FUNCTION cdp_internal._match_unflat(jsonb, float8[]) IS 'internal: flat parameters back to one list per comparison';

CREATE FUNCTION @extschema@.train_matching(sample_pairs int DEFAULT 1000000, em_iterations int DEFAULT 25) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	-- the walk samples pairs from the records in the order it reads them: a sequential scan that
	-- joins another session's scan of a large table (synchronize_seqscans) starts mid-table, and
	-- the same data would give another model (session 29, keys30); since session 40 the samples
	-- are drawn by content and no longer depend on that order (kept: it costs nothing)
	SET synchronize_seqscans = off
	-- jit: its statements over a freshly loaded clinic are priced above the JIT thresholds, and
	-- compiling them (in the backend and each parallel worker) cost more than it saved: at 1M
	-- records train_matching took 41.6 s of wall time with jit off against 47.9 s with it on
	-- (medians of two each, alternated, same model; doc/benchmarks-match.md, session 33)
	SET jit = off AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and tf value length of src/match.h */
	prog float8[];
	q text;
	tfcomps text;
	tfcols text;
	ncomp int := pg_catalog.jsonb_array_length(a.settings -> 'comparisons');
	nrules int := pg_catalog.jsonb_array_length(a.settings -> 'blocking');
	nrec bigint;
	force boolean;
	q_ids bigint[];
	q_ats timestamptz[];
	u float8[];
	m0 float8[];
	m float8[];
	msum float8[];
	mw float8[];
	res float8[];
	pat jsonb;
	fixed boolean[];
	battrs text[];
	r int;
	c int;
	i int;
	rule_pairs float8;
	total_pairs float8;
	lam_blocked float8;
	lam_id float8;
	lam float8;
	per_rule jsonb := '[]';
	p jsonb;
	t0 timestamptz := pg_catalog.clock_timestamp();
	t1 timestamptz;
	times jsonb := '{}';
BEGIN
	IF sample_pairs IS NULL OR sample_pairs < 1000 OR sample_pairs > 100000000 THEN
		RAISE EXCEPTION 'sample_pairs must be between 1000 and 100000000' USING ERRCODE = '22023';
	END IF;
	IF em_iterations IS NULL OR em_iterations < 1 OR em_iterations > 1000 THEN
		RAISE EXCEPTION 'em_iterations must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- the same lock as run_matching: training rewrites the features it reads
	PERFORM pg_catalog.pg_advisory_xact_lock(1668440176, 6);
	-- statistics first: training right after a bulk load plans with them (issue 12)
	PERFORM cdp_internal._match_analyze_stale();
	-- features are recomputed only when something they depend on changed (as run_matching('full')
	-- does): the settings version, the set of suspicious values, or records never keyed; otherwise
	-- only the queued records changed since their keys were computed.  The queue is read only when
	-- the suspicious values did not force a re-key of every record (after a bulk load they do, and
	-- its million entries were gathered for nothing), after their digest: an entry re-queued
	-- meanwhile is read with its new queued_at, so its record is re-keyed.  nrec: the key rows
	-- after the refresh, as it counted them (issue 12, session 38)
	force := cdp_internal._match_refresh_suspicious();
	IF NOT force THEN
		SELECT pg_catalog.array_agg(mq.record_id), pg_catalog.array_agg(mq.queued_at) INTO q_ids, q_ats
		  FROM cdp_internal.match_queue mq;
	END IF;
	SELECT rq.keys INTO nrec FROM cdp_internal._match_refresh_queued(q_ids, q_ats, force) rq;
	IF nrec < 2 THEN
		RAISE EXCEPTION 'too few records to train matching' USING ERRCODE = '55000',
			DETAIL = pg_catalog.format('%s records are loaded.', nrec);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- term frequencies of the tf-adjusted comparisons: values seen more than once, and one row with
	-- value '' holding the frequency of a value seen once.  Counted in one pass over the features
	-- (the tf columns side by side), grouped by bytes in a hash: a join of the layout with every
	-- key row sorted each comparison's values under the database collation, twice (issue 12,
	-- session 24: 7.7 s against 1.6 s at 200k records; the same rows).  The columns are paired
	-- with their comparisons by two unnests side by side in the select list (one projection per
	-- key row), not a VALUES list joined to each key row (issue 12, session 34: 2.35 s against
	-- 3.49 s of CPU at 1M records, serial; the same rows)
	DELETE FROM cdp_internal.match_tf WHERE version = a.version;
	SELECT pg_catalog.string_agg(y.comp::text, ', ' ORDER BY y.comp),
	       pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.fpos), ', ' ORDER BY y.comp) INTO tfcomps, tfcols
	  FROM cdp_internal._match_layout(a.settings) y
	 WHERE (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean;
	IF tfcols IS NOT NULL THEN
		EXECUTE pg_catalog.format(
			'CREATE TEMP TABLE _cdp_train_tf ON COMMIT DROP AS'
			' SELECT u.c AS comp, pg_catalog.left(pg_catalog.split_part(u.v, %L, 1), %s) COLLATE "C" AS v, pg_catalog.count(*) AS n'
			'   FROM (SELECT pg_catalog.unnest(ARRAY[%s]::int[]) AS c, pg_catalog.unnest(ARRAY[%s]::text[]) AS v'
			'           FROM cdp_internal.match_key k) u'
			'  WHERE u.v IS NOT NULL GROUP BY 1, 2',
			kc ->> 'value_sep', (kc ->> 'tf_value_len')::int, tfcomps, tfcols);
		INSERT INTO cdp_internal.match_tf (version, comp, value, freq)
		SELECT a.version, x.comp, x.v, x.n::float8 / x.total
		  FROM (SELECT t.comp, t.v, t.n, pg_catalog.sum(t.n) OVER (PARTITION BY t.comp) AS total FROM _cdp_train_tf t) x
		 WHERE x.n > 1 OR x.v = '';
		INSERT INTO cdp_internal.match_tf (version, comp, value, freq)
		SELECT a.version, t.comp, '', 1.0 / GREATEST(pg_catalog.sum(t.n), 1)
		  FROM _cdp_train_tf t
		 GROUP BY t.comp
		ON CONFLICT (version, comp, value) DO UPDATE SET freq = excluded.freq;
		DROP TABLE _cdp_train_tf;
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('tf_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- one walk over one load of the features (issue 12, session 24: two walks loaded every record
	-- twice, about 7 s of CPU each at 1M records): the level vectors of sample_pairs random pairs
	-- (rule -1), then those of the blocked pairs per rule, a uniform sample of at most sample_pairs
	-- of them (counts scaled back; one serial walk: the sample bounds the scoring).  Both samples
	-- are drawn by the records' content, not their ids or order (src/match_walk_sample.c), and EM
	-- reads the patterns in the order of their levels, so the same records loaded in any order
	-- give the same parameters, bit for bit (issue 12, session 40)
	-- (the program of the "blocking" rules only: the candidate_blocking rules come after them, are
	-- not walked, and change no count of the walk, so they change no parameter; issue 12, session 26)
	prog := cdp_internal._match_program(a.settings - 'candidate_blocking', NULL);
	q := cdp_internal._match_query(NULL, false);
	CREATE TEMP TABLE _cdp_train_walk ON COMMIT DROP AS
		SELECT w.rule, w.levels, pg_catalog.sum(w.n)::bigint AS n, pg_catalog.sum(w.n_new)::bigint AS n_new
		  FROM cdp_internal._match_walk('train', q, prog, a.version, 0,
			(a.settings ->> 'max_block_size')::int, sample_pairs, NULL) w
		 GROUP BY w.rule, w.levels;
	-- u: level frequencies among random pairs, which are almost all non-matches (+0.5 smoothing)
	SELECT pg_catalog.array_agg(x.uv ORDER BY x.comp, x.l) INTO u
	  FROM (SELECT c.comp, l.l,
	               (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] = l.l), 0) + 0.5)
	               / (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] >= 0), 0) + 4.5) AS uv
	          FROM pg_catalog.generate_series(0, ncomp - 1) c(comp)
	         CROSS JOIN pg_catalog.generate_series(0, 8) l(l)
	         CROSS JOIN _cdp_train_walk w
	         WHERE w.rule = -1
	         GROUP BY c.comp, l.l) x;
	CREATE TEMP TABLE _cdp_patterns ON COMMIT DROP AS
		SELECT w.rule, w.levels, w.n, w.n_new FROM _cdp_train_walk w WHERE w.rule >= 0;
	DROP TABLE _cdp_train_walk;
	SELECT COALESCE(pg_catalog.sum(n_new), 0) INTO total_pairs FROM _cdp_patterns;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('sample_patterns_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- m: EM per blocking rule with the comparisons it blocks on held fixed (every pair of the rule
	-- agrees on them), averaged over the rules that leave a comparison free, weighted by pairs
	m0 := cdp_internal._match_flat(cdp_internal._match_params(a.settings, NULL) -> 'm');
	msum := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	mw := pg_catalog.array_fill(0::float8, ARRAY[ncomp]);
	FOR r IN 0 .. nrules - 1 LOOP
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n) ORDER BY t.levels), COALESCE(pg_catalog.sum(t.n), 0)
		  INTO pat, rule_pairs FROM _cdp_patterns t WHERE t.rule = r;
		CONTINUE WHEN rule_pairs = 0;
		-- an "any_order" rule's attrs are held too: its pairs agree on them, directly or crossed
		SELECT pg_catalog.array_agg(cdp_internal._match_attr_column(pg_catalog.split_part(it, '.', 1))) INTO battrs
		  FROM pg_catalog.jsonb_array_elements_text(a.settings -> 'blocking' -> r) it
		 WHERE it <> 'any_order';
		SELECT pg_catalog.array_agg(COALESCE(y.attr = ANY (battrs), false) ORDER BY y.comp) INTO fixed FROM cdp_internal._match_layout(a.settings) y;
		res := cdp_internal._match_fit(pat, a.settings, u, m0, 0.05, em_iterations, fixed, true);
		FOR c IN 0 .. ncomp - 1 LOOP
			CONTINUE WHEN fixed[c + 1];
			FOR i IN 1 .. 9 LOOP
				msum[c * 9 + i] := msum[c * 9 + i] + res[c * 9 + i] * rule_pairs;
			END LOOP;
			mw[c + 1] := mw[c + 1] + rule_pairs;
		END LOOP;
		per_rule := per_rule || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'rule', a.settings -> 'blocking' -> r, 'pairs', rule_pairs, 'lambda', pg_catalog.round(res[ncomp * 9 + 1]::numeric, 6)));
	END LOOP;
	-- comparisons every rule blocks on: EM over the distinct pairs with nothing fixed
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n_new) ORDER BY t.levels) INTO pat FROM _cdp_patterns t WHERE t.n_new > 0;
	res := cdp_internal._match_fit(pat, a.settings, u, m0, 0.05, em_iterations, pg_catalog.array_fill(false, ARRAY[ncomp]), true);
	m := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	FOR c IN 0 .. ncomp - 1 LOOP
		FOR i IN 1 .. 9 LOOP
			m[c * 9 + i] := CASE WHEN mw[c + 1] > 0 THEN msum[c * 9 + i] / mw[c + 1] ELSE res[c * 9 + i] END;
		END LOOP;
	END LOOP;
	-- a swapped or crossed name is no stronger evidence than the same name spelled differently: its
	-- m/u is capped at the lowest m/u of the levels above it (u of a swap is tiny, and exchanged names
	-- are not term-frequency adjusted, so an uncapped weight links namesakes who share nothing else)
	FOR c IN 0 .. ncomp - 1 LOOP
		lam_id := NULL;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(a.settings -> 'comparisons' -> c -> 'levels') - 1 LOOP
			IF a.settings -> 'comparisons' -> c -> 'levels' -> i ->> 'if' IN ('swapped', 'cross') THEN
				IF lam_id IS NOT NULL THEN
					m[c * 9 + i + 1] := LEAST(m[c * 9 + i + 1], lam_id * u[c * 9 + i + 1]);
				END IF;
			ELSE
				lam_id := LEAST(COALESCE(lam_id, 'Infinity'::float8), m[c * 9 + i + 1] / GREATEST(u[c * 9 + i + 1], 1e-6));
			END IF;
		END LOOP;
	END LOOP;
	lam_id := NULL;
	-- lambda: the match share of the blocked pairs (m and u fixed), scaled to all pairs
	res := cdp_internal._match_fit(pat, a.settings, u, m, 0.05, em_iterations, pg_catalog.array_fill(false, ARRAY[ncomp]), false);
	lam_blocked := res[ncomp * 9 + 1];
	-- EM takes households (shared surname, address, phone) for matches and over-estimates the match
	-- share of blocked pairs; where a same_id_match attr (SNILS, OMS) is filled on both sides of
	-- enough blocked pairs, the share of those pairs agreeing on it exactly is a direct estimate
	SELECT x.share INTO lam_id
	  FROM (SELECT pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] = 0)::float8
	               / pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] >= 0) AS share,
	               pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] >= 0) AS n
	          FROM cdp_internal._match_layout(a.settings) y
	          CROSS JOIN _cdp_patterns t
	         WHERE t.n_new > 0 AND a.settings -> 'rules' -> 'same_id_match' ? y.attr AND y.comparator = 'id'
	         GROUP BY y.comp) x
	 WHERE x.n >= 1000 AND x.share > 0
	 ORDER BY x.n DESC LIMIT 1;
	IF lam_id IS NOT NULL THEN
		lam_blocked := lam_id;
	END IF;
	lam := LEAST(GREATEST(lam_blocked * total_pairs / (nrec::float8 * (nrec - 1) / 2), 1e-12), 0.5);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('em_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	p := pg_catalog.jsonb_build_object(
		'trained', true,
		'trained_at', pg_catalog.now(),
		'records', nrec,
		'sample_pairs', sample_pairs,
		'blocked_pairs', total_pairs,
		'lambda_blocked', lam_blocked,
		'lambda', lam,
		'expected_matches', pg_catalog.round((lam_blocked * total_pairs)::numeric),
		'm', cdp_internal._match_unflat(a.settings, m),
		'u', cdp_internal._match_unflat(a.settings, u),
		'per_rule', per_rule,
		'times', times);
	UPDATE cdp_internal.match_settings SET params = p, program = cdp_internal._match_program(a.settings, p) WHERE version = a.version;
	DROP TABLE _cdp_patterns;
	RETURN p;
END $$;
COMMENT ON FUNCTION @extschema@.train_matching(int, int) IS
	'trains the active settings: term frequencies, u from random pairs, m by EM per blocking rule, lambda; stores and returns the parameters; e.g. train_matching(200000, 20)';
REVOKE ALL ON FUNCTION @extschema@.train_matching(int, int) FROM PUBLIC;

/* ---------------------------------------------------------------- blocking */

-- _match_ensure_keys: re-keys every record when match_key was computed by another settings version
CREATE FUNCTION cdp_internal._match_ensure_keys() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
BEGIN
	IF EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
	   OR (NOT EXISTS (SELECT 1 FROM cdp_internal.match_key) AND EXISTS (SELECT 1 FROM @extschema@.record)) THEN
		PERFORM cdp_internal._match_refresh_keys(NULL);
	END IF;
END $$;
COMMENT ON FUNCTION cdp_internal._match_ensure_keys() IS 'internal: recomputes all features when the settings version changed';

CREATE FUNCTION @extschema@.blocking_report(settings jsonb DEFAULT NULL)
	RETURNS TABLE (rule text, pairs bigint, new_pairs bigint, skipped_pairs bigint, trains boolean)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	s jsonb := CASE WHEN settings IS NULL THEN a.settings ELSE cdp_internal._match_expand(settings) END;
	q text;
	nparts int := 1;
	bound bigint := cdp_internal._match_rule_pair_bound(s);
	rules jsonb := cdp_internal._match_rules(s);
	ntrain int := pg_catalog.jsonb_array_length(s -> 'blocking');
	x record;
BEGIN
	-- the stored features when they are those of these settings and of every record (walked in
	-- parts when that pays); otherwise computed on the fly in one walk (nothing is stored)
	IF s = a.settings AND NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
	   AND (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) = (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
		q := cdp_internal._match_query(NULL, false);
		nparts := cdp_internal._match_nparts();
	ELSE
		q := cdp_internal._match_feature_query(s, '@extschema@.record r');
	END IF;
	FOR x IN
		SELECT w.rule, pg_catalog.sum(w.n)::bigint AS n, pg_catalog.sum(w.n_new)::bigint AS n_new, pg_catalog.sum(w.weight)::bigint AS skipped
		  FROM cdp_internal._match_walk_all('count', q, cdp_internal._match_program(s, NULL), 0, 0,
		                                   (s ->> 'max_block_size')::int, 0, nparts) w
		 GROUP BY w.rule
		 ORDER BY w.rule
	LOOP
		-- a rule over the bound: configure_matching leaves it out of a fields-only document
		IF x.n > bound THEN
			RAISE WARNING 'blocking rule % yields % candidate pairs, more than %', rules -> x.rule, x.n, bound
				USING HINT = 'A fields-only document leaves such a rule out when saved; give "blocking" rules or "max_rule_pairs".';
		END IF;
		rule := (rules -> x.rule)::text;
		pairs := x.n;
		new_pairs := x.n_new;
		skipped_pairs := x.skipped;
		trains := x.rule < ntrain;
		RETURN NEXT;
	END LOOP;
	-- the lookup_blocking rules: keyed for find_patient, never walked, so they yield no pair and
	-- their pairs are not counted (NULL: no walk reads them; issue 12, session 40)
	FOR x IN SELECT e.r FROM pg_catalog.jsonb_array_elements(s -> 'lookup_blocking') e(r) LOOP
		rule := x.r::text;
		pairs := NULL;
		new_pairs := NULL;
		skipped_pairs := NULL;
		trains := false;
		RETURN NEXT;
	END LOOP;
	-- the rules configure_matching left out, with the pairs they yielded then
	FOR x IN SELECT e.r FROM pg_catalog.jsonb_array_elements(s -> 'skipped_blocking') e(r) LOOP
		rule := (x.r -> 'rule')::text;
		pairs := (x.r ->> 'pairs')::bigint;
		new_pairs := 0;
		skipped_pairs := (x.r ->> 'pairs')::bigint;
		trains := COALESCE((x.r ->> 'trains')::boolean, true);
		RETURN NEXT;
	END LOOP;
END $$;
COMMENT ON FUNCTION @extschema@.blocking_report(jsonb) IS
	'cost of blocking before running: per rule the candidate pairs, the pairs no earlier rule yields, the pairs of blocks over max_block_size (not scored) and whether it trains (false: a candidate_blocking rule); a lookup_blocking rule, never walked, is listed with its pairs NULL; a rule yielding more pairs than max_rule_pairs is warned about, and the rules configure_matching left out for it are listed with all their pairs skipped; e.g. SELECT * FROM blocking_report()';

CREATE FUNCTION @extschema@.candidate_pairs()
	RETURNS TABLE (record_a bigint, record_b bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
BEGIN
	PERFORM cdp_internal._match_ensure_keys();
	IF cdp_internal._match_nparts() > 1 THEN
		RETURN QUERY SELECT w.record_a, w.record_b
		  FROM cdp_internal._match_walk_all('score', cdp_internal._match_query(NULL, false), a.program,
		                                   a.version, -1, (a.settings ->> 'max_block_size')::int, 0,
		                                   cdp_internal._match_nparts()) w;
		RETURN;
	END IF;
	RETURN QUERY SELECT w.record_a, w.record_b
	  FROM cdp_internal._match_walk('score', cdp_internal._match_query(NULL, false), a.program,
	                               a.version, -1, (a.settings ->> 'max_block_size')::int, 0, NULL) w;
END $$;
COMMENT ON FUNCTION @extschema@.candidate_pairs() IS
	'the deduplicated candidate pairs (record_a < record_b) of the active settings'' blocking rules, e.g. to measure pairs completeness';
