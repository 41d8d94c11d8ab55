/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

/* -- issue 17 (branch first): what people read of a golden profile.  cdp.email now prints its
 * domain in Unicode (the stored form stays ASCII), and the contact flag "valid" is named
 * "confirmed" (validated, or reported by two sources).  The 0.3.0 library already folds profiles
 * that way; the rows folded by 0.2.0 are rewritten here to what the new fold gives (the order of
 * contacts is kept; SELECT cdp.rebuild_patients() refolds everything from the log if wanted). */
UPDATE @extschema@.patient p
   SET phones = n.phones, emails = n.emails, handles = n.handles
  FROM (SELECT q.golden_id, c.*
          FROM @extschema@.patient q,
               LATERAL (SELECT
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                ELSE x.e END ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.phones) WITH ORDINALITY x(e, o)) AS phones,
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           pg_catalog.jsonb_set(
                             CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                    OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                  ELSE x.e END,
                             '{value}', pg_catalog.to_jsonb(((x.e ->> 'value')::@extschema@.email)::text))
                           ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.emails) WITH ORDINALITY x(e, o)) AS emails,
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                ELSE x.e END ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.handles) WITH ORDINALITY x(e, o)) AS handles) c
         WHERE pg_catalog.strpos(q.phones::text, '"valid"') > 0 OR pg_catalog.strpos(q.emails::text, '"valid"') > 0
            OR pg_catalog.strpos(q.emails::text, 'xn--') > 0 OR pg_catalog.strpos(q.handles::text, '"valid"') > 0) n
 WHERE p.golden_id = n.golden_id;
-- matching compares e-mails as printed, so the stored keys of records with an internationalised
-- domain were computed from the punycode form: mark them stale; the next full run (or incremental
-- run with records to match) re-keys every record
UPDATE cdp_internal.match_key k SET version = -1
 WHERE EXISTS (SELECT 1 FROM @extschema@.record r, pg_catalog.unnest(r.emails) e
                WHERE r.record_id = k.record_id AND pg_catalog.strpos(@extschema@.email_domain(e), 'xn--') > 0);
/* -- end of issue 17 (branch first) */
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
-- The name functions cost what a call costs (two names' keys through ICU), so the planner prefers
-- the index; extract_query reads the threshold (STABLE).
ALTER FUNCTION @extschema@.name_similarity(text, text) COST 100;
ALTER FUNCTION @extschema@.name_distance(text, text) COST 100;
ALTER FUNCTION @extschema@.name_similar(text, text) COST 100;
ALTER FUNCTION @extschema@.name_gin_extract_query(text, internal, int2, internal, internal, internal, internal) STABLE;
COMMENT ON FUNCTION @extschema@.name_similar(text, text) IS
	'true when name_similarity(a, b) > 0 and >= cdp.name_similarity_threshold and, if two or more words pair, one word is equal and another begins alike (the anchor); the function of the % operator';
COMMENT ON OPERATOR @extschema@.% (text, text) IS
	'names are similar: name_similarity at or above cdp.name_similarity_threshold, anchored on an equal word (indexable by name_gin_ops)';

-- name_gin_ops now stores pair and single keys, and "%" needs an anchor word: an index built by
-- 0.2.0 lacks those keys and would find nothing, so every index of the operator class is rebuilt
-- here (REINDEX takes each index's table lock for the rebuild: minutes per million names).
DO $reindex$
DECLARE
	ix regclass;
BEGIN
	FOR ix IN
		SELECT DISTINCT i.indexrelid::regclass
		  FROM pg_catalog.pg_index i
		  JOIN pg_catalog.pg_opclass o ON o.oid OPERATOR(pg_catalog.=) ANY (i.indclass::oid[])
		 WHERE o.opcname OPERATOR(pg_catalog.=) 'name_gin_ops'
		   AND o.opcnamespace OPERATOR(pg_catalog.=) '@extschema@'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('REINDEX INDEX %s', ix);
	END LOOP;
END
$reindex$;

-- _find_probe: the attrs of a lookup as a record row, normalised by ingest's own normaliser (invalid
-- values set aside); shared by find_patient and find_patient_namesakes.
CREATE FUNCTION cdp_internal._find_probe(attrs jsonb) RETURNS @extschema@.record
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	RETURN pg_catalog.jsonb_populate_record(NULL::@extschema@.record,
		@extschema@.normalize_attrs(attrs, true) || '{"record_id": -1, "golden_id": -1}');
END $$;
COMMENT ON FUNCTION cdp_internal._find_probe(jsonb) IS
	'internal: the attrs of find_patient / find_patient_namesakes as a normalised record row (22023 unless an object)';

REVOKE ALL ON FUNCTION cdp_internal._find_probe(jsonb) FROM PUBLIC;

-- find_patient: what the desk gave beside the name ranks first
CREATE OR REPLACE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	-- a generic plan: re-planning the ranking query at every call was a third of a lookup
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
	min_prob float8 := 0.01 * (a.settings ->> 'review_threshold')::float8;
	pname text;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	pname := pg_catalog.concat_ws(' ', probe.family_name, probe.given_name, probe.patronymic);
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- Every block mate is scored (no probability floor in the walk).  What the desk gave beside the
	-- name decides first: a person whose record agrees exactly on the birth date, a phone or the
	-- SNILS given, and whose name meets the probe's in a word (cdp.name_similarity > 0), comes before namesakes
	-- that only score well; among those, and among the rest, the probability orders.  Rows under the
	-- review floor are kept only when such an attr agrees.  The summary is written for the rows
	-- returned only.
	RETURN QUERY
	SELECT t.g, t.probability, t.rid, cdp_internal._match_summary(a.settings, t.levels) FROM (
	SELECT z.g, z.probability, z.rid, z.levels, z.agree FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels, x.agree
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels,
	               -- the cheap exact checks first; the name is compared only for the rows they keep
	               CASE WHEN e.n > 0 AND @extschema@.name_similarity(
	                             pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) > 0
	                    THEN e.n ELSE 0 END AS agree
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k WHERE k.record_id IN (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (%L::text[]))',
	                                           f.flags, f.feat, f.bk, f.bk),
	                         a.program, a.version, 0::float8, 0, 0, ARRAY[-1]::bigint[]) w) y
	          -- block mates are read without golden ids; the pairs kept read theirs, one by one
	          -- (LIMIT 1 keeps the planner from hashing the whole record table for a few rows)
	         CROSS JOIN LATERAL (SELECT r.golden_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
	                                    r.phones, r.snils
	                               FROM @extschema@.record r WHERE r.record_id = y.rid LIMIT 1) rc
	         CROSS JOIN LATERAL (SELECT (probe.birth_date IS NOT NULL AND rc.birth_date = probe.birth_date)::int
	                                  + (probe.phones IS NOT NULL AND rc.phones OPERATOR(pg_catalog.&&) probe.phones)::int
	                                  + (probe.snils IS NOT NULL AND rc.snils OPERATOR(@extschema@.=) probe.snils)::int AS n) e) x
	 WHERE x.agree > 0 OR x.probability >= min_prob
	 ORDER BY x.g, x.agree DESC, x.probability DESC) z
	 ORDER BY z.agree DESC, z.probability DESC, z.g
	 LIMIT max_results) t
	 ORDER BY t.agree DESC, t.probability DESC, t.g;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; persons agreeing exactly on a birth date, phone or SNILS given come first; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';

-- find_patient_namesakes: how many persons share everything a probe gives
CREATE FUNCTION @extschema@.find_patient_namesakes(attrs jsonb)
	RETURNS TABLE (persons bigint, records bigint, ask text[])
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	-- candidates: the probe's blocks (for a name alone, the name-only blocking rules), then every
	-- record that agrees exactly with each attribute the probe gives (names by their name key)
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	RETURN QUERY
	SELECT pg_catalog.count(DISTINCT rc.golden_id), pg_catalog.count(*),
	       ARRAY(SELECT x FROM pg_catalog.unnest(ARRAY['birth_date', 'phone', 'snils']) x
	              WHERE (x = 'birth_date' AND probe.birth_date IS NULL) OR (x = 'phone' AND probe.phones IS NULL)
	                 OR (x = 'snils' AND probe.snils IS NULL))
	  FROM @extschema@.record rc
	 WHERE rc.record_id IN (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (f.bk))
	   AND (probe.family_name IS NULL OR @extschema@.name_key(rc.family_name) = @extschema@.name_key(probe.family_name))
	   AND (probe.given_name IS NULL OR @extschema@.name_key(rc.given_name) = @extschema@.name_key(probe.given_name))
	   AND (probe.patronymic IS NULL OR @extschema@.name_key(rc.patronymic) = @extschema@.name_key(probe.patronymic))
	   AND (probe.birth_date IS NULL OR rc.birth_date = probe.birth_date)
	   AND (probe.phones IS NULL OR rc.phones OPERATOR(pg_catalog.&&) probe.phones)
	   AND (probe.snils IS NULL OR rc.snils OPERATOR(@extschema@.=) probe.snils);
END $$;
COMMENT ON FUNCTION @extschema@.find_patient_namesakes(jsonb) IS
	'how many persons (and records) agree exactly with everything attrs give (names by name key), and which of birth_date, phone, snils to ask for next; e.g. find_patient_namesakes(''{"family_name":"Иванова","given_name":"Мария"}'')';
REVOKE ALL ON FUNCTION @extschema@.find_patient_namesakes(jsonb) FROM PUBLIC;
/* ==== end of section: name index and find_patient ==== */


/* ==== section: matching (issue 12) ==== */

-- the review work list: each open entry stands for a pair of persons, with a priority
ALTER TABLE cdp_internal.match_review ADD COLUMN priority float8, ADD COLUMN pairs int;
COMMENT ON TABLE cdp_internal.match_review IS
	'the review work list: one open entry per pair of persons a run could not decide (the strongest of their record pairs, over the review threshold or held back by a rule), waiting for a person''s decision';
COMMENT ON COLUMN cdp_internal.match_review.priority IS
	'how much the decision matters: probability times the records of the two persons (issue 12)';
COMMENT ON COLUMN cdp_internal.match_review.pairs IS
	'how many record pairs between the two persons the run found uncertain (this entry stands for all of them)';

-- _match_analyze_stale: gives the planner statistics for the tables a training or full run reads
-- when they have none or have changed by a fifth since (a run right after a bulk load must not
-- wait for autovacuum or the DBA); returns the tables analyzed
CREATE FUNCTION cdp_internal._match_analyze_stale() RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
	n int := 0;
BEGIN
	FOR t IN
		SELECT st.relid::regclass AS rel
		  FROM pg_catalog.pg_stat_user_tables st
		 WHERE st.relid IN ('@extschema@.record'::regclass, 'cdp_internal.match_queue'::regclass,
		                    'cdp_internal.match_review'::regclass, '@extschema@.pair_decision'::regclass)
		   AND st.n_live_tup + st.n_mod_since_analyze > 1000
		   AND ((st.last_analyze IS NULL AND st.last_autoanalyze IS NULL)
		        OR st.n_mod_since_analyze > 0.2 * GREATEST(st.n_live_tup, 1))
	LOOP
		EXECUTE pg_catalog.format('ANALYZE %s', t.rel);
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;
COMMENT ON FUNCTION cdp_internal._match_analyze_stale() IS
	'internal: ANALYZE of the tables matching reads (records, queue, review, decisions) when they have no statistics or changed by a fifth since';

REVOKE ALL ON FUNCTION cdp_internal._match_analyze_stale() FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.train_matching(sample_pairs int DEFAULT 1000000, em_iterations int DEFAULT 25) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and tf value length of src/match.h */
	prog float8[];
	q text;
	ncomp int := pg_catalog.jsonb_array_length(a.settings -> 'comparisons');
	nrules int := pg_catalog.jsonb_array_length(a.settings -> 'blocking');
	nrec bigint;
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
	-- only the queued (changed) records
	IF cdp_internal._match_refresh_suspicious()
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
	   OR (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
		PERFORM cdp_internal._match_refresh_keys(NULL);
	ELSE
		PERFORM cdp_internal._match_refresh_keys(ARRAY(SELECT mq.record_id FROM cdp_internal.match_queue mq));
	END IF;
	SELECT pg_catalog.count(*) INTO nrec FROM cdp_internal.match_key;
	IF nrec < 2 THEN
		RAISE EXCEPTION 'too few records to train matching' USING ERRCODE = '55000',
			DETAIL = pg_catalog.format('%s records are loaded.', nrec);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- term frequencies of the tf-adjusted comparisons: values seen more than once, and one row with
	-- value '' holding the frequency of a value seen once
	DELETE FROM cdp_internal.match_tf WHERE version = a.version;
	INSERT INTO cdp_internal.match_tf (version, comp, value, freq)
	SELECT a.version, x.comp, x.v, x.n::float8 / x.total
	  FROM (SELECT y.comp, pg_catalog.left(pg_catalog.split_part(k.feat[y.fpos], kc ->> 'value_sep', 1), (kc ->> 'tf_value_len')::int) AS v, pg_catalog.count(*) AS n,
	               pg_catalog.sum(pg_catalog.count(*)) OVER (PARTITION BY y.comp) AS total
	          FROM cdp_internal._match_layout(a.settings) y
	          JOIN cdp_internal.match_key k ON (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean
	         WHERE k.feat[y.fpos] IS NOT NULL
	         GROUP BY 1, 2) x
	 WHERE x.n > 1 OR x.v = '';
	INSERT INTO cdp_internal.match_tf (version, comp, value, freq)
	SELECT a.version, y.comp, '', 1.0 / GREATEST(pg_catalog.count(*), 1)
	  FROM cdp_internal._match_layout(a.settings) y
	  JOIN cdp_internal.match_key k ON (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean
	 WHERE k.feat[y.fpos] IS NOT NULL
	 GROUP BY y.comp
	ON CONFLICT (version, comp, value) DO UPDATE SET freq = excluded.freq;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('tf_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- u: level frequencies among random pairs, which are almost all non-matches (+0.5 smoothing)
	prog := cdp_internal._match_program(a.settings, NULL);
	q := cdp_internal._match_query(NULL, false);
	SELECT pg_catalog.array_agg(x.uv ORDER BY x.comp, x.l) INTO u
	  FROM (SELECT c.comp, l.l,
	               (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] = l.l), 0) + 0.5)
	               / (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] >= 0), 0) + 4.5) AS uv
	          FROM pg_catalog.generate_series(0, ncomp - 1) c(comp)
	         CROSS JOIN pg_catalog.generate_series(0, 8) l(l)
	         CROSS JOIN cdp_internal._match_walk('sample', q, prog, a.version, 0, 0, sample_pairs, NULL) w
	         GROUP BY c.comp, l.l) x;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('u_sample_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- level vectors of the blocked pairs, per rule: a uniform sample of at most sample_pairs of them
	-- (counts scaled back; one serial walk: the sample bounds the scoring)
	CREATE TEMP TABLE _cdp_patterns ON COMMIT DROP AS
		SELECT w.rule, w.levels, pg_catalog.sum(w.n)::bigint AS n, pg_catalog.sum(w.n_new)::bigint AS n_new
		  FROM cdp_internal._match_walk_all('patterns', q, prog, a.version, 0,
			(a.settings ->> 'max_block_size')::int, sample_pairs, 1) w
		 GROUP BY w.rule, w.levels;
	SELECT COALESCE(pg_catalog.sum(n_new), 0) INTO total_pairs FROM _cdp_patterns;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('patterns_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- m: EM per blocking rule with the comparisons it blocks on held fixed (every pair of the rule
	-- agrees on them), averaged over the rules that leave a comparison free, weighted by pairs
	m0 := cdp_internal._match_flat(cdp_internal._match_params(a.settings, NULL) -> 'm');
	msum := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	mw := pg_catalog.array_fill(0::float8, ARRAY[ncomp]);
	FOR r IN 0 .. nrules - 1 LOOP
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n)), COALESCE(pg_catalog.sum(t.n), 0)
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
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n_new)) INTO pat FROM _cdp_patterns t WHERE t.n_new > 0;
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

-- the coherence keys of the settings document

CREATE OR REPLACE FUNCTION cdp_internal._match_default_settings() RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN $json${
	"comparisons": [
		{"attr": "family_name", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "swapped", "with": "given_name"}, {"if": "cross", "with": "given_name"},
		            {"if": "jw", "ge": 0.92}, {"if": "jw", "ge": 0.8}]},
		{"attr": "given_name", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "swapped", "with": "family_name"}, {"if": "cross", "with": "patronymic"},
		            {"if": "jw", "ge": 0.92}, {"if": "jw", "ge": 0.8}, {"if": "initial"}]},
		{"attr": "patronymic", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "cross", "with": "family_name"}, {"if": "cross", "with": "given_name"},
		            {"if": "jw", "ge": 0.9}, {"if": "initial"}]},
		{"attr": "birth_date", "comparator": "date",
		 "levels": [{"if": "exact"}, {"if": "day_month_swapped"}, {"if": "osa", "le": 1}]},
		{"attr": "sex", "comparator": "exact"},
		{"attr": "phones", "comparator": "phone", "levels": [{"if": "exact"}, {"if": "last7"}]},
		{"attr": "emails", "comparator": "email", "levels": [{"if": "exact"}, {"if": "jw", "ge": 0.95}]},
		{"attr": "snils", "comparator": "id", "levels": [{"if": "exact"}, {"if": "osa", "le": 1}]},
		{"attr": "oms", "comparator": "id", "levels": [{"if": "exact"}, {"if": "osa", "le": 1}]},
		{"attr": "address", "comparator": "string", "levels": [{"if": "exact"}, {"if": "jw", "ge": 0.9}]},
		{"attr": "city", "comparator": "string", "tf": true, "levels": [{"if": "exact"}]},
		{"attr": "vk", "comparator": "id", "levels": [{"if": "exact"}]},
		{"attr": "telegram", "comparator": "id", "levels": [{"if": "exact"}]}
	],
	"blocking": [
		["family_name.key", "birth_date.year"],
		["given_name.key", "birth_date"],
		["family_name.key", "given_name.key"],
		["birth_date", "patronymic.key"],
		["birth_date", "given_name.initial"],
		["any_order", "family_name.key", "given_name.key"],
		["any_order", "family_name.key", "given_name.key", "patronymic.key"],
		["phones"],
		["emails"],
		["snils"],
		["oms"],
		["vk"],
		["telegram"]
	],
	"link_threshold": 0.9,
	"review_threshold": 0.8,
	"rules": {"same_id_match": ["snils", "oms", "phones"], "different_id_never": ["snils"],
	          "disagree_never": ["given_name", "patronymic", "birth_date"]},
	"name_roles": true,
	"placeholder_names": ["неизвестный", "неизвестная", "неизвестно", "аноним", "анонимно", "анонимный",
		"тест", "тестов", "тестова", "тестович", "тестовна", "тестовый", "test", "unknown", "noname", "нет"],
	"suspicious_min_persons": 10,
	"max_block_size": 5000,
	"max_person_records": 20,
	"person_support": 0.33,
	"review_limit": 10000,
	"max_rule_pairs": 0,
	"evidence_floor": true
}$json$::jsonb;
COMMENT ON FUNCTION cdp_internal._match_default_settings() IS 'internal: the settings document installed as version 1 (clinic fields)';

CREATE OR REPLACE FUNCTION cdp_internal._match_expand(s jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d jsonb := cdp_internal._match_default_settings();
	lim jsonb := cdp_internal._match_constants();
	out jsonb;
	comps jsonb := '[]';
	comp jsonb;
	lv jsonb;
	lvs jsonb;
	k text;
	i int;
	j int;
	attr text;
	cmpname text;
	attrs text[] := '{}';
	cols text[] := '{}';
	rules jsonb := '[]';
	rule jsonb;
	item text;
	link float8;
	review float8;
	nf int;
BEGIN
	IF s IS NULL OR pg_catalog.jsonb_typeof(s) <> 'object' THEN
		PERFORM cdp_internal._match_fail('$', 'The settings must be a JSON object.');
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(s) LOOP
		IF k NOT IN ('fields', 'comparisons', 'blocking', 'link_threshold', 'review_threshold', 'rules',
		             'placeholder_names', 'suspicious_min_persons', 'max_block_size', 'lambda', 'name_roles',
		             'max_person_records', 'person_support', 'review_limit', 'max_rule_pairs', 'skipped_blocking', 'evidence_floor') THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The key "%s" is not a settings key.', k),
				'Known keys: fields, comparisons, blocking, link_threshold, review_threshold, rules, placeholder_names, suspicious_min_persons, max_block_size, lambda, name_roles, max_person_records, person_support, review_limit, max_rule_pairs, evidence_floor.');
		END IF;
	END LOOP;
	IF s ? 'fields' AND s ? 'comparisons' THEN
		PERFORM cdp_internal._match_fail('$.fields', 'Give either "fields" or "comparisons", not both.');
	END IF;
	IF NOT (s ? 'fields' OR s ? 'comparisons') THEN
		PERFORM cdp_internal._match_fail('$', 'The settings name no fields to compare.',
			'Add "fields": ["surname", "given_name", ...] or a "comparisons" list.');
	END IF;

	-- fields-only: one comparison per field, comparator from the column or guessed from the data
	IF s ? 'fields' THEN
		IF pg_catalog.jsonb_typeof(s -> 'fields') <> 'array' OR pg_catalog.jsonb_array_length(s -> 'fields') = 0 THEN
			PERFORM cdp_internal._match_fail('$.fields', 'The fields must be a non-empty array of attr names.');
		END IF;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'fields') - 1 LOOP
			IF pg_catalog.jsonb_typeof(s -> 'fields' -> i) <> 'string' OR (s -> 'fields' ->> i) = '' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.fields[%s]', i), 'A field must be a non-empty string.');
			END IF;
			attr := cdp_internal._match_attr_column(s -> 'fields' ->> i);
			cmpname := COALESCE(cdp_internal._match_clinic_comparator(attr), cdp_internal._match_guess_comparator(attr));
			comps := comps || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'attr', attr, 'comparator', cmpname, 'tf', cmpname IN ('name', 'string')));
		END LOOP;
	ELSE
		comps := s -> 'comparisons';
		IF pg_catalog.jsonb_typeof(comps) <> 'array' OR pg_catalog.jsonb_array_length(comps) = 0 THEN
			PERFORM cdp_internal._match_fail('$.comparisons', 'The comparisons must be a non-empty array.');
		END IF;
	END IF;
	IF pg_catalog.jsonb_array_length(comps) > (lim ->> 'max_comparisons')::int THEN
		PERFORM cdp_internal._match_fail('$.comparisons', pg_catalog.format('At most %s comparisons are supported.', lim ->> 'max_comparisons'));
	END IF;

	out := '[]';
	FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
		comp := comps -> i;
		IF pg_catalog.jsonb_typeof(comp) <> 'object' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s]', i), 'A comparison must be an object with "attr" and "comparator".');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(comp) LOOP
			IF k NOT IN ('attr', 'comparator', 'levels', 'tf', 'label') THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].%s', i, k), pg_catalog.format('The key "%s" is not a comparison key.', k),
					'Known keys: attr, comparator, levels, tf, label.');
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_typeof(comp -> 'attr') IS DISTINCT FROM 'string' OR (comp ->> 'attr') !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), 'The attr must be a name of letters, digits and underscores.');
		END IF;
		attr := cdp_internal._match_attr_column(comp ->> 'attr');
		IF attr = ANY (attrs) THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), pg_catalog.format('The attr "%s" is compared twice.', attr));
		END IF;
		attrs := attrs || attr;
		cmpname := COALESCE(comp ->> 'comparator', cdp_internal._match_clinic_comparator(attr));
		IF cmpname IS NULL OR cmpname NOT IN ('name', 'string', 'date', 'phone', 'email', 'id', 'exact') THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].comparator', i),
				pg_catalog.format('The comparator "%s" is unknown.', COALESCE(cmpname, 'null')),
				'Use one of name, string, date, phone, email, id, exact.');
		END IF;
		IF comp ? 'tf' AND pg_catalog.jsonb_typeof(comp -> 'tf') <> 'boolean' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].tf', i), 'The tf flag must be true or false.');
		END IF;
		lvs := COALESCE(comp -> 'levels', cdp_internal._match_default_levels(cmpname));
		IF pg_catalog.jsonb_typeof(lvs) <> 'array' OR pg_catalog.jsonb_array_length(lvs) NOT BETWEEN 1 AND (lim ->> 'max_levels')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels', i),
				pg_catalog.format('The levels must be an array of 1 to %s levels ("else" is implicit).', lim ->> 'max_levels'));
		END IF;
		FOR j IN 0 .. pg_catalog.jsonb_array_length(lvs) - 1 LOOP
			lv := lvs -> j;
			IF pg_catalog.jsonb_typeof(lv) = 'string' THEN
				lv := pg_catalog.jsonb_build_object('if', lv #>> '{}');
				lvs := pg_catalog.jsonb_set(lvs, ARRAY[j::text], lv);
			END IF;
			IF pg_catalog.jsonb_typeof(lv) <> 'object' OR cdp_internal._match_op_code(lv ->> 'if', cmpname) IS NULL THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s]', i, j),
					pg_catalog.format('The level "%s" is unknown or not allowed for comparator "%s".', COALESCE(lv ->> 'if', lv::text), cmpname),
					'Levels: exact, key (name), swapped or cross with "with" (name), jw with "ge", osa with "le", day_month_swapped, same_year (date), last7 (phone), initial, prefix with "n".');
			END IF;
			IF (lv ->> 'if') = 'jw' AND NOT (pg_catalog.jsonb_typeof(lv -> 'ge') = 'number' AND (lv ->> 'ge')::float8 > 0 AND (lv ->> 'ge')::float8 <= 1) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].ge', i, j), 'A jw level needs "ge", a number in (0, 1].');
			END IF;
			IF (lv ->> 'if') = 'osa' AND NOT (pg_catalog.jsonb_typeof(lv -> 'le') = 'number' AND (lv ->> 'le')::float8 BETWEEN 0 AND (lim ->> 'max_osa')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].le', i, j),
					pg_catalog.format('An osa level needs "le", an edit distance from 0 to %s.', lim ->> 'max_osa'));
			END IF;
			IF (lv ->> 'if') IN ('swapped', 'cross') AND NOT (pg_catalog.jsonb_typeof(lv -> 'with') = 'string'
			   AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(comps) x
			                WHERE cdp_internal._match_attr_column(x ->> 'attr') = cdp_internal._match_attr_column(lv ->> 'with')
			                  AND COALESCE(x ->> 'comparator', cdp_internal._match_clinic_comparator(x ->> 'attr')) = 'name'
			                  AND cdp_internal._match_attr_column(x ->> 'attr') <> attr)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].with', i, j),
					pg_catalog.format('A %s level needs "with", another compared attr of comparator "name".', lv ->> 'if'));
			END IF;
			IF (lv ->> 'if') = 'prefix' AND NOT (pg_catalog.jsonb_typeof(lv -> 'n') = 'number' AND (lv ->> 'n')::float8 BETWEEN 1 AND (lim ->> 'max_prefix')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].n', i, j),
					pg_catalog.format('A prefix level needs "n", a length from 1 to %s.', lim ->> 'max_prefix'));
			END IF;
		END LOOP;
		out := out || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'attr', attr, 'comparator', cmpname, 'levels', lvs,
			'tf', COALESCE((comp ->> 'tf')::boolean, false))
			|| CASE WHEN comp ? 'label' THEN pg_catalog.jsonb_build_object('label', comp -> 'label') ELSE '{}' END);
	END LOOP;
	comps := out;

	-- blocking: given, or for fields-only documents pairs of the first five fields plus every date/id field
	IF s ? 'blocking' THEN
		rules := s -> 'blocking';
	ELSIF s ? 'fields' THEN
		-- names block on their name key, so spelling variants and transliterations share a block
		nf := LEAST(pg_catalog.jsonb_array_length(comps), 5);
		FOR i IN 0 .. nf - 1 LOOP
			FOR j IN i + 1 .. nf - 1 LOOP
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(
					(comps -> i ->> 'attr') || CASE WHEN comps -> i ->> 'comparator' = 'name' THEN '.key' ELSE '' END,
					(comps -> j ->> 'attr') || CASE WHEN comps -> j ->> 'comparator' = 'name' THEN '.key' ELSE '' END));
			END LOOP;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
			IF comps -> i ->> 'comparator' IN ('date', 'id', 'phone', 'email') AND pg_catalog.jsonb_array_length(rules) < (lim ->> 'max_rules')::int THEN
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> i ->> 'attr'));
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_array_length(rules) = 0 THEN
			rules := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> 0 ->> 'attr'));
		END IF;
		rules := (SELECT pg_catalog.jsonb_agg(r) FROM (SELECT r FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY e(r, o) ORDER BY o LIMIT (lim ->> 'max_rules')::int) x);
	ELSE
		PERFORM cdp_internal._match_fail('$.blocking', 'A settings document with "comparisons" needs "blocking" rules.',
			'Example: "blocking": [["family_name.key", "birth_date.year"], ["phones"]].');
	END IF;
	IF pg_catalog.jsonb_typeof(rules) <> 'array' OR pg_catalog.jsonb_array_length(rules) NOT BETWEEN 1 AND (lim ->> 'max_rules')::int THEN
		PERFORM cdp_internal._match_fail('$.blocking', pg_catalog.format('The blocking rules must be an array of 1 to %s rules.', lim ->> 'max_rules'));
	END IF;
	SELECT pg_catalog.array_agg(c ->> 'attr') INTO cols FROM pg_catalog.jsonb_array_elements(comps) c;
	FOR i IN 0 .. pg_catalog.jsonb_array_length(rules) - 1 LOOP
		rule := rules -> i;
		nf := CASE WHEN pg_catalog.jsonb_typeof(rule) = 'array' AND (rule ->> 0) = 'any_order' THEN 1 ELSE 0 END;
		IF pg_catalog.jsonb_typeof(rule) <> 'array' OR pg_catalog.jsonb_array_length(rule) - nf NOT BETWEEN 1 + nf AND (lim ->> 'max_rule_keys')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s]', i),
				pg_catalog.format('A blocking rule must be an array of 1 to %s keys.', lim ->> 'max_rule_keys'));
		END IF;
		FOR j IN nf .. pg_catalog.jsonb_array_length(rule) - 1 LOOP
			item := rule ->> j;
			IF item IS NULL OR pg_catalog.split_part(item, '.', 2) NOT IN ('', 'key', 'year', 'month_day', 'initial', 'last7', 'prefix3', 'phonetic')
			   OR NOT (cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1)) = ANY (cols)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j),
					pg_catalog.format('The blocking key "%s" does not name a compared attr with a known transform.', COALESCE(item, 'null')),
					'A key is "attr" or "attr.key", "attr.phonetic", "attr.year", "attr.month_day", "attr.initial", "attr.last7", "attr.prefix3", where attr is compared.');
			END IF;
			IF pg_catalog.split_part(item, '.', 2) IN ('key', 'phonetic')
			   AND (SELECT c ->> 'comparator' FROM pg_catalog.jsonb_array_elements(comps) c WHERE c ->> 'attr' = cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1))) <> 'name' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j), 'The ".key" and ".phonetic" transforms need an attr with the "name" comparator.');
			END IF;
		END LOOP;
	END LOOP;

	link := COALESCE((s ->> 'link_threshold')::float8, (d ->> 'link_threshold')::float8);
	review := COALESCE((s ->> 'review_threshold')::float8, (d ->> 'review_threshold')::float8);
	IF s ? 'link_threshold' AND pg_catalog.jsonb_typeof(s -> 'link_threshold') <> 'number' OR NOT (link > 0 AND link < 1) THEN
		PERFORM cdp_internal._match_fail('$.link_threshold', 'The link threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF s ? 'review_threshold' AND pg_catalog.jsonb_typeof(s -> 'review_threshold') <> 'number' OR NOT (review > 0 AND review < 1) THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', 'The review threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF review > link THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', pg_catalog.format('The review threshold %s is above the link threshold %s.', review, link));
	END IF;

	-- deterministic rules name compared attrs of comparator id
	IF s ? 'rules' THEN
		IF pg_catalog.jsonb_typeof(s -> 'rules') <> 'object' THEN
			PERFORM cdp_internal._match_fail('$.rules', 'The rules must be an object with "same_id_match" and "different_id_never" lists.');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(s -> 'rules') LOOP
			IF k NOT IN ('same_id_match', 'different_id_never', 'disagree_never') OR pg_catalog.jsonb_typeof(s -> 'rules' -> k) <> 'array' THEN
				PERFORM cdp_internal._match_fail('$.rules.' || k, 'Rules are "same_id_match", "different_id_never" and "disagree_never", each a list of compared attrs.');
			END IF;
			FOR j IN 0 .. pg_catalog.jsonb_array_length(s -> 'rules' -> k) - 1 LOOP
				IF NOT (cdp_internal._match_attr_column(s -> 'rules' -> k ->> j) = ANY (cols)) THEN
					PERFORM cdp_internal._match_fail(pg_catalog.format('$.rules.%s[%s]', k, j),
						pg_catalog.format('The attr "%s" is not compared.', s -> 'rules' -> k ->> j));
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	FOREACH k IN ARRAY ARRAY['suspicious_min_persons', 'max_block_size'] LOOP
		IF s ? k AND NOT (pg_catalog.jsonb_typeof(s -> k) = 'number' AND (s ->> k)::float8 >= 2 AND (s ->> k)::float8 <= 1000000) THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The %s must be a number from 2 to 1000000.', k));
		END IF;
	END LOOP;
	IF s ? 'max_person_records' AND NOT (pg_catalog.jsonb_typeof(s -> 'max_person_records') = 'number'
	   AND (s ->> 'max_person_records')::float8 = pg_catalog.trunc((s ->> 'max_person_records')::float8)
	   AND (s ->> 'max_person_records')::float8 BETWEEN 0 AND 1000000) THEN
		PERFORM cdp_internal._match_fail('$.max_person_records', 'The max_person_records must be a whole number from 0 (no bound) to 1000000.');
	END IF;
	IF s ? 'person_support' AND NOT (pg_catalog.jsonb_typeof(s -> 'person_support') = 'number'
	   AND (s ->> 'person_support')::float8 BETWEEN 0 AND 1) THEN
		PERFORM cdp_internal._match_fail('$.person_support', 'The person_support must be a share from 0 (off) to 1.');
	END IF;
	IF s ? 'review_limit' AND NOT (pg_catalog.jsonb_typeof(s -> 'review_limit') = 'number'
	   AND (s ->> 'review_limit')::float8 = pg_catalog.trunc((s ->> 'review_limit')::float8)
	   AND (s ->> 'review_limit')::float8 BETWEEN 0 AND 100000000) THEN
		PERFORM cdp_internal._match_fail('$.review_limit', 'The review_limit must be a whole number from 0 to 100000000.');
	END IF;
	IF s ? 'evidence_floor' AND pg_catalog.jsonb_typeof(s -> 'evidence_floor') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.evidence_floor', 'The evidence_floor flag must be true or false.');
	END IF;
	IF s ? 'max_rule_pairs' AND NOT (pg_catalog.jsonb_typeof(s -> 'max_rule_pairs') = 'number'
	   AND (s ->> 'max_rule_pairs')::float8 = pg_catalog.trunc((s ->> 'max_rule_pairs')::float8)
	   AND (s ->> 'max_rule_pairs')::float8 BETWEEN 0 AND 1e15) THEN
		PERFORM cdp_internal._match_fail('$.max_rule_pairs', 'The max_rule_pairs must be a whole number, 0 for the automatic bound (20 pairs per record, at least 1000000).');
	END IF;
	IF s ? 'lambda' AND NOT (pg_catalog.jsonb_typeof(s -> 'lambda') = 'number' AND (s ->> 'lambda')::float8 > 0 AND (s ->> 'lambda')::float8 < 1) THEN
		PERFORM cdp_internal._match_fail('$.lambda', 'The lambda (prior match probability of a random pair) must be strictly between 0 and 1.');
	END IF;
	IF s ? 'name_roles' AND pg_catalog.jsonb_typeof(s -> 'name_roles') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.name_roles', 'The name_roles flag must be true or false.');
	END IF;
	IF s ? 'placeholder_names' AND pg_catalog.jsonb_typeof(s -> 'placeholder_names') <> 'array' THEN
		PERFORM cdp_internal._match_fail('$.placeholder_names', 'The placeholder names must be an array of strings.');
	END IF;

	RETURN pg_catalog.jsonb_build_object(
		'comparisons', comps,
		'blocking', rules,
		'link_threshold', link,
		'review_threshold', review,
		'rules', CASE WHEN s ? 'rules' THEN s -> 'rules'
		              WHEN s ? 'comparisons' THEN '{}'::jsonb
		              ELSE (SELECT pg_catalog.jsonb_build_object(
		                       'same_id_match', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a IN ('snils', 'oms')), '[]'),
		                       'different_id_never', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a = 'snils'), '[]'),
		                       'disagree_never', '[]'::jsonb)
		                     FROM pg_catalog.unnest(cols) a) END,
		'placeholder_names', COALESCE(s -> 'placeholder_names', d -> 'placeholder_names'),
		'suspicious_min_persons', COALESCE(s -> 'suspicious_min_persons', d -> 'suspicious_min_persons'),
		'max_block_size', COALESCE(s -> 'max_block_size', d -> 'max_block_size'),
		'max_person_records', COALESCE(s -> 'max_person_records', d -> 'max_person_records'),
		'person_support', COALESCE(s -> 'person_support', d -> 'person_support'),
		'review_limit', COALESCE(s -> 'review_limit', d -> 'review_limit'),
		'max_rule_pairs', COALESCE(s -> 'max_rule_pairs', d -> 'max_rule_pairs'),
		'evidence_floor', COALESCE(s -> 'evidence_floor', d -> 'evidence_floor'),
		'lambda', COALESCE(s -> 'lambda', '0.0001'::jsonb),
		'name_roles', COALESCE(s -> 'name_roles', d -> 'name_roles', 'false'::jsonb));
END $$;
COMMENT ON FUNCTION cdp_internal._match_expand(jsonb) IS 'internal: validates a matching settings document (22023 naming the JSON path) and returns it complete';

-- stored documents get the coherence keys' defaults (what a run read for them anyway), and every
-- program is compiled again with the evidence classes of its comparisons (the evidence floor)
UPDATE cdp_internal.match_settings s
   SET settings = (SELECT pg_catalog.jsonb_object_agg(d.key, d.value)
                     FROM pg_catalog.jsonb_each(cdp_internal._match_default_settings()) d
                    WHERE d.key IN ('max_person_records', 'person_support', 'review_limit', 'max_rule_pairs', 'evidence_floor')) || s.settings;
UPDATE cdp_internal.match_settings s SET program = cdp_internal._match_program(s.settings, s.params);

-- _match_rule_pair_bound: the most candidate pairs one blocking rule may yield (max_rule_pairs,
-- or when 0 twenty per record and at least a million)
CREATE FUNCTION cdp_internal._match_rule_pair_bound(s jsonb) RETURNS bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN CASE WHEN COALESCE((s ->> 'max_rule_pairs')::bigint, 0) > 0 THEN (s ->> 'max_rule_pairs')::bigint
	            ELSE GREATEST(1000000, 20 * (SELECT pg_catalog.count(*) FROM @extschema@.record)) END;
COMMENT ON FUNCTION cdp_internal._match_rule_pair_bound(jsonb) IS
	'internal: the most candidate pairs one blocking rule may yield before it is skipped (fields-only settings) or warned about';

-- _match_rule_pairs: the candidate pairs each blocking rule of a document yields on the stored
-- records (features computed on the fly, nothing stored)
CREATE FUNCTION cdp_internal._match_rule_pairs(s jsonb)
	RETURNS TABLE (rule int, pairs bigint, new_pairs bigint, skipped_pairs bigint)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT w.rule, pg_catalog.sum(w.n)::bigint, pg_catalog.sum(w.n_new)::bigint, pg_catalog.sum(w.weight)::bigint
	  FROM cdp_internal._match_walk_all('count', cdp_internal._match_feature_query(s, '@extschema@.record r'),
	                                   cdp_internal._match_program(s, NULL), 0, 0, (s ->> 'max_block_size')::int, 0,
	                                   cdp_internal._match_nparts()) w
	 GROUP BY w.rule
$$;
COMMENT ON FUNCTION cdp_internal._match_rule_pairs(jsonb) IS
	'internal: per blocking rule of a settings document the candidate pairs, the new ones and those of blocks over max_block_size, on the stored records';

REVOKE ALL ON FUNCTION cdp_internal._match_rule_pair_bound(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._match_rule_pairs(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.configure_matching(settings jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	full_doc jsonb := cdp_internal._match_expand(settings);
	v int;
	bound bigint;
	x record;
	skip int[] := '{}';
BEGIN
	-- the blocking rules generated for a fields-only document (every pair of the first fields) are
	-- checked on the stored records: one that yields more candidate pairs than the bound (a frequent
	-- given name with a place such as «london») is left out with a warning (rules written by hand
	-- are only warned about, by blocking_report)
	IF settings ? 'fields' AND NOT settings ? 'blocking' AND EXISTS (SELECT 1 FROM @extschema@.record) THEN
		bound := cdp_internal._match_rule_pair_bound(full_doc);
		FOR x IN SELECT * FROM cdp_internal._match_rule_pairs(full_doc) p ORDER BY p.rule LOOP
			IF x.pairs > bound AND pg_catalog.jsonb_array_length(full_doc -> 'blocking') - pg_catalog.cardinality(skip) > 1 THEN
				RAISE WARNING 'blocking rule % yields % candidate pairs, more than %: it is left out', full_doc -> 'blocking' -> x.rule, x.pairs, bound
					USING HINT = 'Name fewer or more selective fields, or give "blocking" rules; see cdp.blocking_report().';
				skip := skip || x.rule;
				full_doc := pg_catalog.jsonb_set(full_doc, '{skipped_blocking}',
					COALESCE(full_doc -> 'skipped_blocking', '[]') || pg_catalog.jsonb_build_array(
						pg_catalog.jsonb_build_object('rule', full_doc -> 'blocking' -> x.rule, 'pairs', x.pairs)));
			END IF;
		END LOOP;
		IF pg_catalog.cardinality(skip) > 0 THEN
			full_doc := pg_catalog.jsonb_set(full_doc, '{blocking}',
				(SELECT pg_catalog.jsonb_agg(r ORDER BY o) FROM pg_catalog.jsonb_array_elements(full_doc -> 'blocking') WITH ORDINALITY e(r, o)
				  WHERE NOT (o::int - 1 = ANY (skip))));
		END IF;
	END IF;
	UPDATE cdp_internal.match_settings SET active = false WHERE active;
	INSERT INTO cdp_internal.match_settings (settings, program, active)
		VALUES (full_doc, cdp_internal._match_program(full_doc, NULL), true) RETURNING version INTO v;
	RETURN v;
END $$;
COMMENT ON FUNCTION @extschema@.configure_matching(jsonb) IS
	'validates a matching settings document, stores it as a new active version and returns the version (a generated blocking rule yielding more pairs than max_rule_pairs is left out with a warning); e.g. configure_matching(''{"fields":["surname","given_name","date_of_birth"]}'')';
REVOKE ALL ON FUNCTION @extschema@.configure_matching(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.blocking_report(settings jsonb DEFAULT NULL)
	RETURNS TABLE (rule text, pairs bigint, new_pairs bigint, skipped_pairs bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	s jsonb := CASE WHEN settings IS NULL THEN a.settings ELSE cdp_internal._match_expand(settings) END;
	q text;
	nparts int := 1;
	bound bigint := cdp_internal._match_rule_pair_bound(s);
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
			RAISE WARNING 'blocking rule % yields % candidate pairs, more than %', s -> 'blocking' -> x.rule, x.n, bound
				USING HINT = 'A fields-only document leaves such a rule out when saved; give "blocking" rules or "max_rule_pairs".';
		END IF;
		rule := (s -> 'blocking' -> x.rule)::text;
		pairs := x.n;
		new_pairs := x.n_new;
		skipped_pairs := x.skipped;
		RETURN NEXT;
	END LOOP;
	-- the rules configure_matching left out, with the pairs they yielded then
	FOR x IN SELECT e.r FROM pg_catalog.jsonb_array_elements(s -> 'skipped_blocking') e(r) LOOP
		rule := (x.r -> 'rule')::text;
		pairs := (x.r ->> 'pairs')::bigint;
		new_pairs := 0;
		skipped_pairs := (x.r ->> 'pairs')::bigint;
		RETURN NEXT;
	END LOOP;
END $$;
COMMENT ON FUNCTION @extschema@.blocking_report(jsonb) IS
	'cost of blocking before running: per rule the candidate pairs, the pairs no earlier rule yields, and the pairs of blocks over max_block_size (not scored); a rule yielding more pairs than max_rule_pairs is warned about, and the rules configure_matching left out for it are listed with all their pairs skipped; e.g. SELECT * FROM blocking_report()';

CREATE OR REPLACE FUNCTION @extschema@.explain_match(record_a bigint, record_b bigint)
	RETURNS TABLE (attr text, value_a text, value_b text, level text, weight float8, running_total float8, probability float8)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and pair flags of src/match.h */
	prm jsonb;
	fa text[];
	fb text[];
	pr record;
	l record;
	c jsonb;
	lev int;
	nl int;
	w float8;
	total float8;
	lam float8;
	adj float8;
BEGIN
	IF record_a IS NULL OR record_b IS NULL THEN
		RAISE EXCEPTION 'record ids must not be null' USING ERRCODE = '22004';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record r WHERE r.record_id IN (record_a, record_b)) <> 2 AND record_a <> record_b THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', record_a, record_b USING ERRCODE = '22023';
	END IF;
	prm := cdp_internal._match_params(a.settings, a.params);
	-- features computed now from the records, so the explanation is never stale
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_a;
	fa := pr.feat;
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_b;
	fb := pr.feat;
	SELECT w2.levels, w2.weight, w2.flags INTO pr
	  FROM cdp_internal._match_walk('cross',
	         cdp_internal._match_feature_query(a.settings, pg_catalog.format('@extschema@.record r WHERE r.record_id IN (%s, %s)', record_a, record_b)),
	         a.program, a.version, 0, 0, 0, NULL) w2;
	lam := (prm ->> 'lambda')::float8;
	total := pg_catalog.log(2.0, (lam / (1 - lam))::numeric)::float8;
	attr := '(prior)'; value_a := NULL; value_b := NULL; level := 'априорная вероятность '	/* in percent, two significant digits, for people (issue 17) */
		|| pg_catalog.trim_scale(pg_catalog.round((lam * 100)::numeric, (1 - pg_catalog.floor(pg_catalog.log(lam * 100)))::int)) || ' %';
	weight := total; running_total := total; probability := 1 / (1 + pg_catalog.power(2::float8, -total));
	RETURN NEXT;
	FOR l IN SELECT * FROM cdp_internal._match_layout(a.settings) LOOP
		c := a.settings -> 'comparisons' -> l.comp;
		nl := pg_catalog.jsonb_array_length(c -> 'levels');
		lev := pr.levels[l.comp + 1];
		attr := l.attr;
		value_a := pg_catalog.replace(fa[l.fpos], kc ->> 'value_sep', ', ');
		value_b := pg_catalog.replace(fb[l.fpos], kc ->> 'value_sep', ', ');
		level := cdp_internal._match_level_label(c -> 'levels', nl, lev);
		IF lev < 0 THEN
			w := 0;
		ELSE
			w := pg_catalog.log(2.0, (GREATEST((prm -> 'm' -> l.comp ->> lev)::float8, 1e-6)
			                          / GREATEST((prm -> 'u' -> l.comp ->> lev)::float8, 1e-6))::numeric)::float8;
			IF lev = 0 AND (c ->> 'tf')::boolean THEN
				SELECT LEAST(pg_catalog.log(2.0, (GREATEST((prm -> 'u' -> l.comp ->> 0)::float8, 1e-6) / t.freq)::numeric)::float8, 3)
				  INTO adj FROM cdp_internal.match_tf t
				 WHERE t.version = a.version AND t.comp = l.comp AND t.value IN (pg_catalog.left(fa[l.fpos], (kc ->> 'tf_value_len')::int), '')
				 ORDER BY t.value DESC LIMIT 1;
				IF adj IS NOT NULL THEN
					w := w + adj;
					level := level || pg_catalog.format(' (частота значения: %s бит)', pg_catalog.round(adj::numeric, 2));
				END IF;
			END IF;
		END IF;
		weight := w;
		total := total + w;
		running_total := total;
		probability := 1 / (1 + pg_catalog.power(2::float8, -GREATEST(LEAST(total, 60), -60)));
		RETURN NEXT;
	END LOOP;
	attr := '(итог)'; value_a := NULL; value_b := NULL; weight := NULL;
	level := cdp_internal._match_summary(a.settings, pr.levels)
		|| CASE WHEN pr.flags & (kc ->> 'pair_forced')::int <> 0 THEN '; совпал идентификатор (правило)' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_veto')::int <> 0 THEN '; разные идентификаторы, имя или дата рождения: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_placeholder')::int <> 0 THEN '; запись-заглушка: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_name_only')::int <> 0
		        THEN '; совпали только имена (нет даты рождения, идентификатора, контакта или адреса): автоматическое объединение запрещено' ELSE '' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION @extschema@.explain_match(bigint, bigint) IS
	'why two records do or do not match: one row per compared attr (values, level, weight, running total, probability), then a summary in Russian; e.g. SELECT * FROM explain_match(1, 2)';

CREATE OR REPLACE VIEW @extschema@.review_queue WITH (security_invoker = true) AS
	SELECT x.pair_id, x.record_a, x.record_b, x.score,
	       cdp_internal._match_summary(s.settings, x.levels)
	         || CASE WHEN x.reason IS NOT NULL THEN '; ' || x.reason ELSE '' END AS summary,
	       pg_catalog.now() - x.created_at AS age,
	       x.priority, x.person_a, x.person_b, x.pairs
	  FROM (SELECT DISTINCT ON (LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id))
	               q.*, LEAST(ra.golden_id, rb.golden_id) AS person_a, GREATEST(ra.golden_id, rb.golden_id) AS person_b
	          FROM cdp_internal.match_review q
	          JOIN @extschema@.record ra ON ra.record_id = q.record_a
	          JOIN @extschema@.record rb ON rb.record_id = q.record_b
	         WHERE q.status = 'open'
	           -- a pair whose records were joined since (by another link or a person) needs no decision
	           AND ra.golden_id <> rb.golden_id
	         ORDER BY LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	                  q.priority DESC NULLS LAST, q.score DESC, q.pair_id) x
	  LEFT JOIN cdp_internal.match_settings s ON s.version = x.version
	 ORDER BY x.priority DESC NULLS LAST, x.score DESC, x.pair_id;
COMMENT ON VIEW @extschema@.review_queue IS 'the review work list: one open entry per pair of persons still apart, most important first (priority: probability times the records the decision moves), with score, Russian summary, age, the two persons and how many record pairs the entry stands for; decide with cdp.review_decide';

-- the link plan gains the coherence arguments and names the persons of each pair
DROP FUNCTION cdp_internal._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[]);

CREATE FUNCTION cdp_internal._match_link_plan(record_a bigint[], record_b bigint[], probability float8[], flags int[],
		records bigint[], goldens bigint[], dob text[], never text[], nnever int,
		no_match_a bigint[], no_match_b bigint[], relation_a bigint[], relation_b bigint[],
		link_threshold float8, review_threshold float8, reasons text[],
		max_person_records int, person_support float8)
	RETURNS TABLE (ord int, action "char", reason text, person_a bigint, person_b bigint, person_records int)
	AS 'MODULE_PATHNAME', 'cdp_match_link_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[], int, float8) IS
	'internal: links, holds and review decisions of a run''s scored pairs by union-find with per-person constraint summaries (no_match decisions, relations, birth dates, different_id_never ids and sex) and cluster coherence (person size bound, support across the two persons); name-only pairs are never linked; each row names the two persons it joins at the end';

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
		           FROM pg_catalog.unnest(never_attr) WITH ORDINALITY y(x, n) ORDER BY y.n);
COMMENT ON FUNCTION cdp_internal._match_plan_reasons(text[]) IS
	'internal: the Russian reasons of _match_link_plan, in its order, for the given person-level never attrs';

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

REVOKE ALL ON FUNCTION cdp_internal._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[], int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._match_plan_reasons(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._match_never_attrs(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION cdp_internal._match_run(mode text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kc jsonb := cdp_internal._match_constants();	/* pair flags of src/match.h */
	pair_forced int := (kc ->> 'pair_forced')::int;
	pair_name_only int := (kc ->> 'pair_name_only')::int;
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
	review_room bigint;
	max_records int;
	support float8;
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
		link_t, review_t, cdp_internal._match_plan_reasons(never_attr),
		max_records, support) lp;
	-- the evidence floor: pairs agreeing on names only are never linked (to review when they score
	-- over the link threshold)
	SELECT pg_catalog.count(*) INTO name_only FROM _cdp_todo t WHERE t.flags & pair_name_only <> 0;
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
	-- the review queue is a work list: one entry per pair of persons still apart (the strongest of
	-- their record pairs, in decision order), none for a pair of persons that has an open entry
	-- already, ordered by priority (probability times the records the decision moves; a hundredth of
	-- that for a name-only pair), at most review_limit open entries; the rest are counted
	CREATE TEMP TABLE _cdp_rev ON COMMIT DROP AS
	SELECT DISTINCT ON (r.person_a, r.person_b) r.ord, r.reason, r.person_a, r.person_b, r.person_records,
	       pg_catalog.count(*) OVER (PARTITION BY r.person_a, r.person_b)::int AS pairs
	  FROM (SELECT lp.ord, lp.reason, lp.person_a, lp.person_b, lp.person_records FROM _cdp_plan lp WHERE lp.action IN ('h', 'r')
	        UNION ALL
	        SELECT x.o, 'решение «не совпадают» между этими людьми', LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	               (SELECT pg_catalog.count(*) FROM @extschema@.record rr WHERE rr.golden_id IN (ra.golden_id, rb.golden_id))::int
	          FROM pg_catalog.unnest(refused) x(o) JOIN _cdp_todo t ON t.ord = x.o
	          JOIN @extschema@.record ra ON ra.record_id = t.record_a JOIN @extschema@.record rb ON rb.record_id = t.record_b) r
	 WHERE r.person_a <> r.person_b
	 ORDER BY r.person_a, r.person_b, r.ord;
	SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(v.pairs), 0) INTO review_persons, review_pairs FROM _cdp_rev v;
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
		  FROM _cdp_rev v JOIN _cdp_todo t ON t.ord = v.ord
		 WHERE NOT EXISTS (SELECT 1 FROM _cdp_open o WHERE o.person_a = v.person_a AND o.person_b = v.person_b
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
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'name_only', name_only,
		'review_pairs', review_pairs, 'review_persons', review_persons, 'review_over_limit', review_over, 'times', times);
	INSERT INTO cdp_internal.match_run (mode, finished_at, result) VALUES (mode, pg_catalog.clock_timestamp(), result);
	RETURN result;
END $$;
COMMENT ON FUNCTION cdp_internal._match_run(text) IS
	'internal: the body of run_matching (keys, scoring, decisions in memory, links in one batch, review queue)';
REVOKE ALL ON FUNCTION cdp_internal._match_run(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.match_record(record_id bigint)
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
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.record_id = match_record.record_id AND k.version = a.version)
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_queue q WHERE q.record_id = match_record.record_id) THEN
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
	          FROM cdp_internal._match_walk('score', cdp_internal._match_query(ARRAY[record_id], false), a.program,
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
	 -- view calls no internal function, so a caller without rights on the tables is refused by them)
	 CROSS JOIN (SELECT COALESCE((SELECT (s.settings ->> 'max_person_records')::int FROM cdp_internal.match_settings s WHERE s.active),
	                             20) AS max_person_records) b
	 WHERE b.max_person_records > 0
	 GROUP BY r.golden_id, b.max_person_records
	HAVING pg_catalog.count(*) >= b.max_person_records;
COMMENT ON VIEW @extschema@.oversize_persons IS
	'the oversize alarm: persons holding max_person_records records or more (matching no longer links more records to them automatically; the next candidates go to review)';

/* the clinic default, installed as version 1 */

/* ==== end of section: matching ==== */


/* ==== section: consent, offers and segments (issue 13) ==== */

/*
 * sql/parts/80_consent.sql: layer 8, the consent registry (issue 13).  See doc/consent.md.
 *
 * Every statement is an event (consent.granted / consent.withdrawn) appended by cdp.set_consents;
 * the tables below are its projections, and cdp.rebuild_consent() replays the log into the same
 * rows.  A statement is stored against the source records its person held when it was given, one
 * row per record x purpose x channel, never against a golden id that a merge or unmerge could
 * move: the person's consent is read through cdp.record.golden_id at read time, so merges and
 * unmerges carry consent with the records and need no hook in the golden family.
 *
 *   - after a merge the person holds every member's rows: latest statement wins per purpose x
 *     channel, a withdrawal wins a tie;
 *   - a grant counts only while every record it was given for still belongs to the person reading
 *     it: after an unmerge a grant given while the two were one person counts for neither side
 *     (it may have been the other person's), a withdrawal counts for both;
 *   - a withdrawal that names an address puts the address on the suppression list for that
 *     purpose: no person who carries it may be contacted through it, whichever record brought it.
 */

/* ------------------------------------------------------------------ vocabulary */

/* The purposes, their defaults, and the channels: the one place that names them. */
CREATE FUNCTION @extschema@.consent_purposes(OUT purpose text, OUT default_granted boolean, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('treatment', true, 'results ready, appointment and re-test reminders from a doctor (allowed unless withdrawn)'),
	       ('marketing', false, 'offers and promotions (denied unless granted)'),
	       ('analytics', false, 'de-identified use in analytics (denied unless granted)'),
	       ('partner_sharing', false, 'transfer to partners (denied unless granted)'),
	       ('state_exchange', true, 'transfer to the state health information system, a legal duty (allowed unless withdrawn)')
$$;
COMMENT ON FUNCTION @extschema@.consent_purposes() IS
	'the consent purposes and their defaults: treatment and state_exchange allowed unless withdrawn, marketing, analytics and partner_sharing denied unless granted';

CREATE FUNCTION @extschema@.consent_channels(OUT channel text, OUT address_kind text, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('email', 'emails', 'e-mail'),
	       ('sms', 'phones', 'text message'),
	       ('messenger', 'phones', 'telegram, whatsapp, viber (by phone number)'),
	       ('social', 'handles', 'social network (vk)'),
	       ('call', 'phones', 'phone call'),
	       ('post', 'address', 'letter to the postal address')
$$;
COMMENT ON FUNCTION @extschema@.consent_channels() IS
	'the contact channels and which profile field holds their addresses (phones, emails, handles, address)';

/*
 * Checks a purpose and a channel list ('*' = every channel); returns the channels.  22023 with
 * the accepted values in the hint.
 */
CREATE FUNCTION cdp_internal.consent_check(purposes text[], channels text[]) RETURNS text[]
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	text;
	c	text;
	all_ch	text[] := ARRAY(SELECT x.channel FROM @extschema@.consent_channels() x);
BEGIN
	IF purposes IS NULL OR pg_catalog.cardinality(purposes) = 0 THEN
		RAISE EXCEPTION 'a consent statement needs a purpose' USING ERRCODE = '22023',
			HINT = 'Use treatment, marketing, analytics, partner_sharing or state_exchange.';
	END IF;
	FOREACH p IN ARRAY purposes LOOP
		IF p IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_purposes() x WHERE x.purpose = p) THEN
			RAISE EXCEPTION 'unknown consent purpose "%"', p USING ERRCODE = '22023',
				HINT = 'Use treatment, marketing, analytics, partner_sharing or state_exchange.';
		END IF;
	END LOOP;
	IF channels IS NULL OR pg_catalog.cardinality(channels) = 0 THEN
		RAISE EXCEPTION 'a consent statement needs a channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call, post, or * for all of them.';
	END IF;
	IF '*' = ANY (channels) THEN
		RETURN all_ch;
	END IF;
	FOREACH c IN ARRAY channels LOOP
		IF c IS NULL OR NOT c = ANY (all_ch) THEN
			RAISE EXCEPTION 'unknown consent channel "%"', c USING ERRCODE = '22023',
				HINT = 'Use email, sms, messenger, social, call, post, or * for all of them.';
		END IF;
	END LOOP;
	RETURN ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(channels) x ORDER BY 1);
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_check(text[], text[]) IS
	'validates consent purposes and channels (* = all); returns the channel list (internal)';

/*
 * The canonical form of an address: a phone in E.164, an e-mail as cdp.email prints it, anything
 * else (a vk handle, a postal address) trimmed and lower-cased.
 */
CREATE FUNCTION @extschema@.consent_address_key(address text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(@extschema@.phone_e164(@extschema@.try_phone(address)),
	                (@extschema@.try_email(address))::text,
	                pg_catalog.lower(pg_catalog.btrim(address)))
$$;
COMMENT ON FUNCTION @extschema@.consent_address_key(text) IS
	'canonical key of a contact address for the suppression list: E.164 phone, canonical e-mail, else trimmed lower case';

/* ------------------------------------------------------------------ projections */

CREATE TABLE @extschema@.consent_statement (
	record_id	bigint NOT NULL,
	purpose		text NOT NULL,
	channel		text NOT NULL,
	event_id	bigint NOT NULL,
	granted		boolean NOT NULL,
	at			timestamptz NOT NULL,
	given_for	bigint NOT NULL,
	records		bigint[] NOT NULL,
	address		text,
	evidence	text,
	PRIMARY KEY (record_id, purpose, channel, event_id)
);
COMMENT ON TABLE @extschema@.consent_statement IS
	'consent statements, one row per source record x purpose x channel they cover (projection of consent.granted / consent.withdrawn events)';
ALTER TABLE @extschema@.consent_statement ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.consent_statement FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.consent_suppression (
	address_key	text NOT NULL,
	purpose		text NOT NULL,
	suppressed	boolean NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	given_for	bigint NOT NULL,
	records		bigint[] NOT NULL,
	PRIMARY KEY (address_key, purpose)
);
COMMENT ON TABLE @extschema@.consent_suppression IS
	'suppression list: addresses withdrawn from a purpose, for every person who carries them (projection of consent events naming an address)';
ALTER TABLE @extschema@.consent_suppression ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.consent_suppression FORCE ROW LEVEL SECURITY;

/* Applies one consent event's payload to the projections (the live path and the replay). */
CREATE FUNCTION cdp_internal.consent_apply(ev bigint, kind text, at timestamptz, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		boolean := kind = 'consent.granted';
	recs	bigint[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(payload -> 'records')::bigint);
	p		text;
BEGIN
	INSERT INTO @extschema@.consent_statement
		(record_id, purpose, channel, event_id, granted, at, given_for, records, address, evidence)
	SELECT r, p2, c, ev, g, consent_apply.at, (payload ->> 'given_for')::bigint, recs,
	       payload ->> 'address', payload ->> 'evidence'
	  FROM pg_catalog.unnest(recs) r,
	       pg_catalog.jsonb_array_elements_text(payload -> 'purposes') p2,
	       pg_catalog.jsonb_array_elements_text(payload -> 'channels') c
	ON CONFLICT DO NOTHING;
	IF payload ->> 'address_key' IS NOT NULL THEN
		FOR p IN SELECT pg_catalog.jsonb_array_elements_text(payload -> 'purposes') LOOP
			/*
			 * The latest withdrawal suppresses; only a later grant naming the address and given
			 * for one of the records that withdrew it lifts it (a duplicate record of someone else
			 * cannot).  Compared by record ids, not golden ids, so a replay after later merges
			 * decides the same.
			 */
			INSERT INTO @extschema@.consent_suppression AS s (address_key, purpose, suppressed, at, event_id, given_for, records)
			VALUES (payload ->> 'address_key', p, NOT g, consent_apply.at, ev, (payload ->> 'given_for')::bigint, recs)
			ON CONFLICT (address_key, purpose) DO UPDATE
			   SET suppressed = excluded.suppressed, at = excluded.at, event_id = excluded.event_id,
			       given_for = excluded.given_for, records = excluded.records
			 WHERE (s.at, s.event_id) < (excluded.at, excluded.event_id)
			   AND (excluded.suppressed OR NOT s.suppressed OR s.records OPERATOR(pg_catalog.&&) excluded.records);
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_apply(bigint, text, timestamptz, jsonb) IS
	'applies one consent event to consent_statement and consent_suppression (internal)';

/*
 * Does a statement row count for person g?  A withdrawal always does; a grant only while every
 * record it was given for still belongs to g (after an unmerge a grant given while merged may
 * have been the other person's).  The one place that rule is written (consent_now, may_contact,
 * the segments' set form).
 */
CREATE FUNCTION cdp_internal.consent_counts(granted boolean, records bigint[], g bigint) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT NOT $1 OR NOT EXISTS (SELECT 1 FROM pg_catalog.unnest($2) x JOIN @extschema@.record r ON r.record_id = x
	                              WHERE r.golden_id <> $3)
$$;
COMMENT ON FUNCTION cdp_internal.consent_counts(boolean, bigint[], bigint) IS
	'whether a consent statement row counts for a person: withdrawals always, grants while all their records belong to the person (internal)';

/* ------------------------------------------------------------------ statements */

/*
 * Records one consent statement covering purposes x channels for a person (a golden id, followed
 * through merges): one event, rows for every record the person holds now.  Returns the event id.
 */
CREATE FUNCTION @extschema@.set_consents(golden_id bigint, purposes text[], channels text[], granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		bigint;
	ch		text[];
	recs	bigint[];
	ev		bigint;
	payload	jsonb;
BEGIN
	IF set_consents.golden_id IS NULL OR set_consents.granted IS NULL OR set_consents.at IS NULL THEN
		RAISE EXCEPTION 'golden_id, granted and at must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.octet_length(evidence) > 1000 OR pg_catalog.octet_length(address) > 1000 THEN
		RAISE EXCEPTION 'consent evidence and address are at most 1000 bytes' USING ERRCODE = '22023';
	END IF;
	ch := cdp_internal.consent_check(purposes, channels);
	g := @extschema@.resolve_patient(set_consents.golden_id);
	IF g IS NULL THEN
		RAISE EXCEPTION 'patient "%" does not exist', set_consents.golden_id
			USING ERRCODE = 'P0002',
			DETAIL = pg_catalog.format('No golden record has id %s, nor was it merged into one.', set_consents.golden_id),
			HINT = 'Pass a golden_id of cdp.patient.';
	END IF;
	/* the person's records, locked against a concurrent merge or unmerge moving them meanwhile */
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id) INTO recs
	  FROM (SELECT r.record_id FROM @extschema@.record r WHERE r.golden_id = g ORDER BY r.record_id FOR KEY SHARE) r;
	payload := pg_catalog.jsonb_build_object('given_for', g, 'purposes', pg_catalog.to_jsonb(ARRAY(
	               SELECT DISTINCT x FROM pg_catalog.unnest(purposes) x ORDER BY 1)),
	           'channels', pg_catalog.to_jsonb(ch), 'records', pg_catalog.to_jsonb(recs),
	           'at', set_consents.at, 'evidence', evidence, 'address', address,
	           'address_key', @extschema@.consent_address_key(address));
	ev := cdp_internal.append_event(CASE WHEN set_consents.granted THEN 'consent.granted' ELSE 'consent.withdrawn' END,
	                                g, g, payload);
	PERFORM cdp_internal.consent_apply(ev, CASE WHEN set_consents.granted THEN 'consent.granted' ELSE 'consent.withdrawn' END,
	                                   set_consents.at, payload);
	RETURN ev;
END
$$;
COMMENT ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement covering several purposes x channels (* = all channels), e.g. a framework consent document; returns the event id';

CREATE FUNCTION @extschema@.set_consent(golden_id bigint, purpose text, channel text, granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@.set_consents($1, ARRAY[$2], ARRAY[$3], $4, $5, $6, $7) $$;
COMMENT ON FUNCTION @extschema@.set_consent(bigint, text, text, boolean, timestamptz, text, text) IS
	'grants or withdraws consent of a person for one purpose and channel (* = all channels); returns the event id; e.g. set_consent(42, ''marketing'', ''sms'', false)';

/* ------------------------------------------------------------------ reading */

/*
 * The state of one person per purpose x channel with the statement behind it (NULL event_id: the
 * default).  The fold of every statement row of the person's records: a grant counts only while
 * all the records it was given for belong to the person; latest wins, a withdrawal wins a tie.
 */
CREATE FUNCTION @extschema@.consent_now(golden_id bigint)
	RETURNS TABLE (purpose text, channel text, granted boolean, at timestamptz, event_id bigint,
	               evidence text, address text, is_default boolean)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH g AS (SELECT @extschema@.resolve_patient($1) AS g),
	rows AS (
		SELECT DISTINCT ON (s.purpose, s.channel) s.purpose, s.channel, s.granted, s.at, s.event_id, s.evidence, s.address
		  FROM g JOIN @extschema@.record r ON r.golden_id = g.g
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		 WHERE cdp_internal.consent_counts(s.granted, s.records, g.g)
		 ORDER BY s.purpose, s.channel, s.at DESC, s.granted, s.event_id DESC)
	SELECT p.purpose, c.channel, coalesce(rows.granted, p.default_granted), rows.at, rows.event_id,
	       rows.evidence, rows.address, rows.event_id IS NULL
	  FROM g, @extschema@.consent_purposes() p CROSS JOIN @extschema@.consent_channels() c
	  LEFT JOIN rows ON rows.purpose = p.purpose AND rows.channel = c.channel
	 WHERE g.g IS NOT NULL
	 ORDER BY p.purpose, c.channel
$$;
COMMENT ON FUNCTION @extschema@.consent_now(bigint) IS
	'consent of a person per purpose x channel now, with the statement behind each (is_default when none)';

/*
 * The addresses of a person for a channel, from the golden profile (canonical keys).
 */
CREATE FUNCTION cdp_internal.consent_addresses(p @extschema@.patient, channel text) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
	  WHEN channel = 'email' THEN
	    ARRAY(SELECT @extschema@.consent_address_key(x ->> 'value') FROM pg_catalog.jsonb_array_elements(p.emails) x)
	  WHEN channel IN ('sms', 'messenger', 'call') THEN
	    ARRAY(SELECT @extschema@.consent_address_key(x ->> 'value') FROM pg_catalog.jsonb_array_elements(p.phones) x)
	  WHEN channel = 'social' THEN
	    ARRAY(SELECT @extschema@.consent_address_key(x ->> 'value') FROM pg_catalog.jsonb_array_elements(p.handles) x
	           WHERE x ->> 'network' = 'vk')
	  WHEN channel = 'post' THEN
	    ARRAY(SELECT @extschema@.consent_address_key(p.address) WHERE p.address IS NOT NULL)
	  END
$$;
COMMENT ON FUNCTION cdp_internal.consent_addresses(@extschema@.patient, text) IS
	'canonical addresses of a golden profile for a contact channel (internal)';

/* Is an address on the suppression list for a purpose? */
CREATE FUNCTION @extschema@.is_suppressed(address text, purpose text) RETURNS boolean
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                WHERE s.address_key = @extschema@.consent_address_key($1) AND s.purpose = $2 AND s.suppressed)
$$;
COMMENT ON FUNCTION @extschema@.is_suppressed(text, text) IS
	'true when the address was withdrawn from the purpose by anyone (suppression list); campaigns check the address they send to';

/*
 * May the person be contacted for the purpose through the channel?  The person's consent (the
 * fold of consent_now, defaults included), and, when the person has addresses for the channel,
 * at least one of them not suppressed for the purpose.  Unknown persons: false.
 */
CREATE FUNCTION @extschema@.may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		bigint;
	p		@extschema@.patient;
	ok		boolean;
	addrs	text[];
BEGIN
	IF may_contact.golden_id IS NULL THEN
		RETURN false;
	END IF;
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[channel]);
	IF channel = '*' THEN
		RAISE EXCEPTION 'may_contact asks about one channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call or post.';
	END IF;
	g := @extschema@.resolve_patient(may_contact.golden_id);
	IF g IS NULL THEN
		RETURN false;
	END IF;
	SELECT s.granted INTO ok
	  FROM @extschema@.record r
	  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
	       AND s.purpose = may_contact.purpose AND s.channel = may_contact.channel
	 WHERE r.golden_id = g
	   AND cdp_internal.consent_counts(s.granted, s.records, g)
	 ORDER BY s.at DESC, s.granted, s.event_id DESC
	 LIMIT 1;
	IF NOT FOUND THEN
		SELECT x.default_granted INTO ok FROM @extschema@.consent_purposes() x WHERE x.purpose = may_contact.purpose;
	END IF;
	IF NOT ok THEN
		RETURN false;
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = g;
	addrs := cdp_internal.consent_addresses(p, channel);
	IF pg_catalog.cardinality(addrs) > 0
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                    WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                       WHERE s.address_key = a AND s.purpose = may_contact.purpose AND s.suppressed)) THEN
		RETURN false;
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.may_contact(bigint, text, text) IS
	'true when the person may be contacted for the purpose through the channel: consent (defaults included) and not every address of the channel suppressed; e.g. may_contact(42, ''marketing'', ''sms'')';

/* ------------------------------------------------------------------ replay */

/*
 * Rebuilds the consent projections from the log: the rows equal the live ones (test/pgtap).
 * Returns the number of consent events replayed.
 */
CREATE FUNCTION @extschema@.rebuild_consent() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e		record;
	n		bigint := 0;
BEGIN
	LOCK TABLE @extschema@.consent_statement, @extschema@.consent_suppression IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.consent_statement;
	DELETE FROM @extschema@.consent_suppression;
	FOR e IN SELECT x.event_id, x.kind, x.payload FROM @extschema@.event x
	          WHERE x.kind IN ('consent.granted', 'consent.withdrawn') ORDER BY x.event_id LOOP
		PERFORM cdp_internal.consent_apply(e.event_id, e.kind, (e.payload ->> 'at')::timestamptz, e.payload);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_consent() IS
	'replays the consent events of cdp.event into consent_statement and consent_suppression; returns how many';

REVOKE ALL ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_consent(bigint, text, text, boolean, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rebuild_consent() FROM PUBLIC;

/*
 * sql/parts/81_offer.sql: layer 8, offers with contraindications (issue 13).  See doc/consent.md.
 *
 * An offer is a JSON document validated on save (cdp_internal.offer_check), kept in versions; the
 * current version and status are a projection of offer.created / offer.edited / offer.archived /
 * offer.restored events.  cdp.offer_block_reason(golden_id, offer_id) names the first rule that
 * keeps a person from an offer; segments apply it to every member as their last guard.
 */

/* ------------------------------------------------------------------ ICD-10 ranges */

/*
 * Parses one ICD-10 code or range ("C61", "E11.9", "N40-N42", "O00-O99") into its bounds.  A code
 * covers itself and every code under it (C61 covers C61.0); a range covers every code whose
 * prefix of the bound's length lies between the bounds.  22023 naming the value otherwise.
 */
CREATE FUNCTION cdp_internal.icd10_range(spec text, path text, OUT lo text, OUT hi text)
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m	text[];
BEGIN
	m := pg_catalog.regexp_match(pg_catalog.upper(pg_catalog.btrim(coalesce(spec, ''))),
	        '^([A-Z][0-9]{2}(?:\.[0-9]{1,2})?)(?:\s*-\s*([A-Z][0-9]{2}(?:\.[0-9]{1,2})?))?$');
	IF m IS NULL OR (m[2] IS NOT NULL AND m[2] COLLATE "C" < m[1] COLLATE "C") THEN
		RAISE EXCEPTION 'invalid ICD-10 code or range "%"', pg_catalog.left(coalesce(spec, 'null'), 64)
			USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path),
			HINT = 'Use a code like "C61" or "E11.9", or a range like "N40-N42" (low end first).';
	END IF;
	lo := m[1];
	hi := coalesce(m[2], m[1]);
END
$$;
COMMENT ON FUNCTION cdp_internal.icd10_range(text, text) IS
	'bounds of an ICD-10 code or range such as N40-N42; 22023 naming the JSON path when malformed (internal)';

/* Does an ICD-10 code fall within the bounds of cdp_internal.icd10_range? */
CREATE FUNCTION cdp_internal.icd10_in(code text, lo text, hi text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.left(code, pg_catalog.length(lo)) COLLATE "C" >= lo COLLATE "C"
	   AND pg_catalog.left(code, pg_catalog.length(hi)) COLLATE "C" <= hi COLLATE "C"
$$;
COMMENT ON FUNCTION cdp_internal.icd10_in(text, text, text) IS
	'true when an ICD-10 code lies within a code range (prefix comparison, C collation) (internal)';

/* ------------------------------------------------------------------ offers */

CREATE SEQUENCE @extschema@.offer_id_seq;
COMMENT ON SEQUENCE @extschema@.offer_id_seq IS 'ids of cdp.offer';

CREATE TABLE @extschema@.offer (
	offer_id	bigint PRIMARY KEY,
	version		int NOT NULL,
	name		text NOT NULL,
	status		text NOT NULL CHECK (status IN ('active', 'archived')),
	doc			jsonb NOT NULL,
	created_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL
);
COMMENT ON TABLE @extschema@.offer IS
	'offers: the current version of each, with its status (projection of offer.* events)';
ALTER TABLE @extschema@.offer ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.offer FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.offer_version (
	offer_id	bigint NOT NULL,
	version		int NOT NULL,
	doc			jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	PRIMARY KEY (offer_id, version)
);
COMMENT ON TABLE @extschema@.offer_version IS
	'every version of every offer document (projection of offer.created / offer.edited events)';
ALTER TABLE @extschema@.offer_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.offer_version FORCE ROW LEVEL SECURITY;

/*
 * Validates an offer document and returns it normalised: exclude_icd10 as a list of
 * {"spec", "lo", "hi"}.  Unknown keys, wrong types, an empty name, an age range out of order or
 * valid_to before valid_from: 22023 with the JSON path in the detail and an accepted form in the hint.
 */
CREATE FUNCTION cdp_internal.offer_check(doc jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k		text;
	v		jsonb;
	r		record;
	ex		jsonb := '[]';
	i		int := 0;
	allowed	constant text[] := ARRAY['name', 'service', 'sex', 'age', 'exclude_icd10', 'exclude_pregnant',
	                                 'requires_service', 'requires_lab', 'valid_from', 'valid_to', 'description'];
	example	constant text := 'Accepted: {"name": "...", "service": "urology", "sex": "M", "age": [40, 75], "exclude_icd10": ["C61", "N40-N42"], "exclude_pregnant": false, "requires_lab": "PSA", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}.';
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION 'an offer must be a JSON object' USING ERRCODE = '22023', DETAIL = 'At $.', HINT = example;
	END IF;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(doc) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown offer key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', pg_catalog.left(k, 64)),
				HINT = 'Known keys: ' || pg_catalog.array_to_string(allowed, ', ') || '.';
		END IF;
		IF k IN ('name', 'service', 'sex', 'requires_service', 'requires_lab', 'valid_from', 'valid_to', 'description')
		   AND pg_catalog.jsonb_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'offer key "%" must be a string', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s: found %s.', k, pg_catalog.jsonb_typeof(v)), HINT = example;
		END IF;
		IF pg_catalog.jsonb_typeof(v) = 'string' AND pg_catalog.octet_length(v #>> '{}') > 1000 THEN
			RAISE EXCEPTION 'offer key "%" is longer than 1000 bytes', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k);
		END IF;
	END LOOP;
	IF coalesce(pg_catalog.btrim(doc ->> 'name'), '') = '' THEN
		RAISE EXCEPTION 'an offer needs a name' USING ERRCODE = '22023', DETAIL = 'At $.name.', HINT = example;
	END IF;
	IF doc ? 'sex' AND NOT (doc ->> 'sex') IN ('M', 'F') THEN
		RAISE EXCEPTION 'invalid offer sex "%"', pg_catalog.left(doc ->> 'sex', 64) USING ERRCODE = '22023',
			DETAIL = 'At $.sex.', HINT = 'Use "M" or "F", or leave the key out for both.';
	END IF;
	IF doc ? 'age' THEN
		v := doc -> 'age';
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) <> 2
		   OR pg_catalog.jsonb_typeof(v -> 0) <> 'number' OR pg_catalog.jsonb_typeof(v -> 1) <> 'number'
		   OR (v ->> 0)::numeric <> pg_catalog.trunc((v ->> 0)::numeric) OR (v ->> 1)::numeric <> pg_catalog.trunc((v ->> 1)::numeric)
		   OR (v ->> 0)::numeric < 0 OR (v ->> 1)::numeric > 150 OR (v ->> 0)::numeric > (v ->> 1)::numeric THEN
			RAISE EXCEPTION 'invalid offer age range' USING ERRCODE = '22023',
				DETAIL = 'At $.age.', HINT = 'Use [lowest, highest] in whole years, for example [40, 75].';
		END IF;
	END IF;
	IF doc ? 'exclude_pregnant' AND pg_catalog.jsonb_typeof(doc -> 'exclude_pregnant') <> 'boolean' THEN
		RAISE EXCEPTION 'offer key "exclude_pregnant" must be true or false' USING ERRCODE = '22023',
			DETAIL = 'At $.exclude_pregnant.';
	END IF;
	IF doc ? 'exclude_icd10' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'exclude_icd10') <> 'array' THEN
			RAISE EXCEPTION 'offer key "exclude_icd10" must be an array' USING ERRCODE = '22023',
				DETAIL = 'At $.exclude_icd10.', HINT = 'Use ["C61", "N40-N42"].';
		END IF;
		FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(doc -> 'exclude_icd10') LOOP
			IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
				RAISE EXCEPTION 'invalid ICD-10 code or range' USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.exclude_icd10[%s].', i), HINT = 'Use ["C61", "N40-N42"].';
			END IF;
			r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('$.exclude_icd10[%s]', i));
			ex := ex || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('spec', v #>> '{}', 'lo', r.lo, 'hi', r.hi));
			i := i + 1;
		END LOOP;
		doc := doc || pg_catalog.jsonb_build_object('exclude_ranges', ex);
	END IF;
	FOREACH k IN ARRAY ARRAY['valid_from', 'valid_to'] LOOP
		IF doc ? k AND NOT (doc ->> k) ~ '^\d{4}-\d{2}-\d{2}$' THEN
			RAISE EXCEPTION 'invalid offer date "%"', pg_catalog.left(doc ->> k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use an ISO date, for example "2026-12-31".';
		END IF;
		IF doc ? k THEN
			BEGIN
				PERFORM (doc ->> k)::date;
			EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
				RAISE EXCEPTION 'invalid offer date "%"', doc ->> k USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use an ISO date, for example "2026-12-31".';
			END;
		END IF;
	END LOOP;
	IF (doc ->> 'valid_to')::date < (doc ->> 'valid_from')::date THEN
		RAISE EXCEPTION 'offer valid_to is before valid_from' USING ERRCODE = '22023', DETAIL = 'At $.valid_to.';
	END IF;
	RETURN doc;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_check(jsonb) IS
	'validates an offer document and returns it with parsed exclude ranges; 22023 with the JSON path (internal)';

/* Applies one offer event to the projections (live path and replay). */
CREATE FUNCTION cdp_internal.offer_apply(ev bigint, kind text, at timestamptz, id bigint, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IN ('offer.created', 'offer.edited') THEN
		INSERT INTO @extschema@.offer_version (offer_id, version, doc, at, event_id)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc', at, ev);
		INSERT INTO @extschema@.offer AS o (offer_id, version, name, status, doc, created_at, updated_at)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc' ->> 'name', 'active', payload -> 'doc', at, at)
		ON CONFLICT (offer_id) DO UPDATE SET version = excluded.version, name = excluded.name, doc = excluded.doc,
			updated_at = excluded.updated_at;
	ELSE
		UPDATE @extschema@.offer o SET status = CASE kind WHEN 'offer.archived' THEN 'archived' ELSE 'active' END,
		       updated_at = at
		 WHERE o.offer_id = id;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_apply(bigint, text, timestamptz, bigint, jsonb) IS
	'applies one offer event to cdp.offer and cdp.offer_version (internal)';

/* Creates an offer from a validated document; returns its id. */
CREATE FUNCTION @extschema@.create_offer(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id		bigint;
	d		jsonb := cdp_internal.offer_check(doc);
	ev		bigint;
	payload	jsonb;
BEGIN
	id := pg_catalog.nextval('@extschema@.offer_id_seq');
	payload := pg_catalog.jsonb_build_object('version', 1, 'doc', d);
	ev := cdp_internal.append_event('offer.created', id, NULL, payload);
	PERFORM cdp_internal.offer_apply(ev, 'offer.created', (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), id, payload);
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_offer(jsonb) IS
	'creates an offer (service, sex, age range, excluded ICD-10 codes and ranges, pregnancy, required prior service or lab, validity); returns its id';

/* The current row of an offer, locked, or P0002. */
CREATE FUNCTION cdp_internal.offer_get(id bigint, lock boolean) RETURNS @extschema@.offer
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o	@extschema@.offer;
BEGIN
	IF lock THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = id FOR UPDATE;
	ELSE
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = id;
	END IF;
	IF o.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
	RETURN o;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_get(bigint, boolean) IS
	'the current row of an offer (optionally locked); P0002 when unknown (internal)';

/* Saves a new version of an offer; the old versions stay readable in cdp.offer_version. */
CREATE FUNCTION @extschema@.edit_offer(offer_id bigint, doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o		@extschema@.offer := cdp_internal.offer_get(edit_offer.offer_id, true);
	d		jsonb := cdp_internal.offer_check(doc);
	ev		bigint;
	payload	jsonb := pg_catalog.jsonb_build_object('version', o.version + 1, 'doc', d);
BEGIN
	ev := cdp_internal.append_event('offer.edited', o.offer_id, NULL, payload);
	PERFORM cdp_internal.offer_apply(ev, 'offer.edited', (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), o.offer_id, payload);
	RETURN o.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_offer(bigint, jsonb) IS
	'saves a new version of an offer document; returns the version number';

/* Archives (true) or restores (false) an offer. */
CREATE FUNCTION @extschema@.archive_offer(offer_id bigint, archived boolean DEFAULT true) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	o		@extschema@.offer := cdp_internal.offer_get(archive_offer.offer_id, true);
	k		text := CASE WHEN archived THEN 'offer.archived' ELSE 'offer.restored' END;
	ev		bigint;
BEGIN
	IF archived IS NULL OR (o.status = 'archived') = archived THEN
		RETURN;
	END IF;
	ev := cdp_internal.append_event(k, o.offer_id, NULL, '{}');
	PERFORM cdp_internal.offer_apply(ev, k, (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), o.offer_id, '{}');
END
$$;
COMMENT ON FUNCTION @extschema@.archive_offer(bigint, boolean) IS
	'archives an offer (archived => false restores it); an archived offer blocks every person';

/*
 * The first reason that keeps a person (a profile row) from an offer document on a day, or NULL.
 * Order: validity of the offer, sex, age, contraindication (the person's first excluded diagnosis
 * code, ever), pregnancy (Z33 or O00-O99 within 10 months before the day, or a record flagged
 * "pregnant": true), then the required prior service or lab test.  A restriction the person's data
 * cannot confirm (sex or birth date unknown) blocks.
 */
CREATE FUNCTION cdp_internal.offer_reason(p @extschema@.patient, o @extschema@.offer, on_day date) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d		jsonb := o.doc;
	code	text;
	age		int;
BEGIN
	IF p.golden_id IS NULL THEN
		RETURN 'unknown_patient';
	ELSIF p.status <> 'active' THEN
		RETURN 'archived_patient';
	ELSIF o.status <> 'active' THEN
		RETURN 'offer_archived';
	ELSIF on_day < (d ->> 'valid_from')::date THEN
		RETURN 'not_yet_valid';
	ELSIF on_day > (d ->> 'valid_to')::date THEN
		RETURN 'expired';
	END IF;
	IF d ? 'sex' AND p.sex IS DISTINCT FROM (d ->> 'sex') THEN
		RETURN 'sex';
	END IF;
	IF d ? 'age' THEN
		age := EXTRACT(year FROM pg_catalog.age(on_day, p.birth_date))::int;
		IF age IS NULL OR age < (d -> 'age' ->> 0)::int OR age > (d -> 'age' ->> 1)::int THEN
			RETURN 'age';
		END IF;
	END IF;
	IF d ? 'exclude_ranges' THEN
		SELECT c.icd10 INTO code
		  FROM @extschema@.clinical_event c
		  JOIN pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x ON cdp_internal.icd10_in(c.icd10, x ->> 'lo', x ->> 'hi')
		 WHERE c.golden_id = p.golden_id AND c.kind = 'diagnosis'
		 ORDER BY c.at, c.event_id
		 LIMIT 1;
		IF code IS NOT NULL THEN
			RETURN 'contraindication:' || code;
		END IF;
	END IF;
	IF (d ->> 'exclude_pregnant')::boolean THEN
		IF EXISTS (SELECT 1 FROM @extschema@.clinical_event c
		            WHERE c.golden_id = p.golden_id AND c.kind = 'diagnosis'
		              AND c.at >= on_day - interval '10 months' AND c.at < on_day + 1
		              AND (cdp_internal.icd10_in(c.icd10, 'Z33', 'Z33') OR cdp_internal.icd10_in(c.icd10, 'O00', 'O99')))
		   OR EXISTS (SELECT 1 FROM @extschema@.record r
		               WHERE r.golden_id = p.golden_id AND r.extra ->> 'pregnant' = 'true') THEN
			RETURN 'pregnancy';
		END IF;
	END IF;
	IF d ? 'requires_service' AND NOT EXISTS (
			SELECT 1 FROM @extschema@.clinical_event c
			 WHERE c.golden_id = p.golden_id AND c.kind = 'visit' AND c.specialty = d ->> 'requires_service'
			   AND c.visit_status IN ('came', 'in_appointment', 'done')) THEN
		RETURN 'requires:' || (d ->> 'requires_service');
	END IF;
	IF d ? 'requires_lab' AND NOT EXISTS (
			SELECT 1 FROM @extschema@.clinical_event c
			 WHERE c.golden_id = p.golden_id AND c.kind = 'lab_test' AND c.lab_code = d ->> 'requires_lab') THEN
		RETURN 'requires:' || (d ->> 'requires_lab');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_reason(@extschema@.patient, @extschema@.offer, date) IS
	'the first reason a profile is kept from an offer on a day, or NULL (internal; shared by offer_block_reason and segments)';

/*
 * Why may the person not get the offer today?  NULL when nothing blocks it, else the first
 * reason: offer_archived, not_yet_valid, expired, sex, age, contraindication:<code>, pregnancy,
 * requires:<service or lab>; unknown_patient / archived_patient for the person.
 */
CREATE FUNCTION @extschema@.offer_block_reason(golden_id bigint, offer_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	@extschema@.patient;
	o	@extschema@.offer;
BEGIN
	IF offer_block_reason.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = offer_block_reason.offer_id;
	IF o.offer_id IS NULL THEN
		RAISE EXCEPTION 'offer "%" does not exist', offer_block_reason.offer_id USING ERRCODE = 'P0002',
			HINT = 'Pass an offer_id returned by cdp.create_offer.';
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = @extschema@.resolve_patient(offer_block_reason.golden_id);
	RETURN cdp_internal.offer_reason(p, o, CURRENT_DATE);
END
$$;
COMMENT ON FUNCTION @extschema@.offer_block_reason(bigint, bigint) IS
	'NULL when the person may get the offer today, else the first reason: sex, age, contraindication:N40, pregnancy, expired, ...; e.g. offer_block_reason(42, 1)';

/* Replays the offer events into the projections; returns how many. */
CREATE FUNCTION @extschema@.rebuild_offers() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e	record;
	n	bigint := 0;
BEGIN
	LOCK TABLE @extschema@.offer, @extschema@.offer_version IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.offer_version;
	DELETE FROM @extschema@.offer;
	FOR e IN SELECT x.event_id, x.kind, x.at, x.subject, x.payload FROM @extschema@.event x
	          WHERE x.kind LIKE 'offer.%' ORDER BY x.event_id LOOP
		PERFORM cdp_internal.offer_apply(e.event_id, e.kind, e.at, e.subject, e.payload);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_offers() IS
	'replays the offer events of cdp.event into cdp.offer and cdp.offer_version; returns how many';

REVOKE ALL ON FUNCTION @extschema@.create_offer(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.edit_offer(bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.archive_offer(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.rebuild_offers() FROM PUBLIC;

/*
 * sql/parts/82_segment_rules.sql: layer 8, the segment rule language (issue 13): sensitive
 * categories, validation and compilation.  See doc/segments.md.
 *
 * A rule is a JSON tree of all / any / not over leaves (profile attributes, clinical events,
 * other segments).  cdp_internal.seg_compile validates it and turns every leaf into two SQL
 * statements: "gen" (the golden ids meeting the leaf, read through an index or one scan) and
 * "filter" (those of a candidate set $1 meeting it, one index probe per candidate).  Nothing of
 * the input is pasted into SQL: attribute, event and column names come from the fixed catalogue
 * in this file, every value is checked against its type and written as a literal quoted by
 * format('%L') with a cast.  Errors are 22023 with the JSON path of the clause in the detail and
 * an accepted form in the hint.  The evaluator (83_segment_eval.sql) decides which of the two
 * statements to run and in which order.
 */

/* ------------------------------------------------------------------ sensitive categories */

CREATE TABLE @extschema@.sensitive_category (
	code_range	text PRIMARY KEY,
	lo			text NOT NULL,
	hi			text NOT NULL,
	label		text NOT NULL
);
COMMENT ON TABLE @extschema@.sensitive_category IS
	'the configured ICD-10 ranges a marketing segment may not reference; empty means the built-in list (cdp.sensitive_categories())';
ALTER TABLE @extschema@.sensitive_category ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.sensitive_category FORCE ROW LEVEL SECURITY;

/*
 * The sensitive ranges in force: the configured ones, or the built-in list while none is
 * configured (the table is installed empty, so a dump's rows restore into it without a clash).
 */
CREATE FUNCTION @extschema@.sensitive_categories(OUT code_range text, OUT lo text, OUT hi text, OUT label text)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT s.code_range, s.lo, s.hi, s.label FROM @extschema@.sensitive_category s
	UNION ALL
	SELECT * FROM (VALUES
		('B20-B24', 'B20', 'B24', 'HIV disease'),
		('Z21', 'Z21', 'Z21', 'asymptomatic HIV infection'),
		('F00-F99', 'F00', 'F99', 'mental and behavioural disorders (substance use F10-F19 included)'),
		('C00-D48', 'C00', 'D48', 'neoplasms'),
		('A50-A64', 'A50', 'A64', 'infections with a predominantly sexual mode of transmission'),
		('O04', 'O04', 'O04', 'medical abortion'),
		('Z30', 'Z30', 'Z30', 'contraceptive management'),
		('X60-X84', 'X60', 'X84', 'intentional self-harm')) d(code_range, lo, hi, label)
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.sensitive_category)
$$;
COMMENT ON FUNCTION @extschema@.sensitive_categories() IS
	'the sensitive ICD-10 ranges in force: the configured list, else the built-in one (HIV, mental health, neoplasms, STIs, abortion, contraception, self-harm)';

/* Replaces the list of sensitive ranges: {"B20-B24": "HIV disease", ...}; returns how many. */
CREATE FUNCTION @extschema@.configure_sensitive_categories(doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k	text;
	v	jsonb;
	r	record;
	n	int := 0;
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' OR doc = '{}' THEN
		RAISE EXCEPTION 'sensitive categories must be a non-empty JSON object' USING ERRCODE = '22023',
			DETAIL = 'At $.', HINT = 'Use {"B20-B24": "HIV disease", "F00-F99": "mental disorders"}.';
	END IF;
	DELETE FROM @extschema@.sensitive_category;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(doc) LOOP
		r := cdp_internal.icd10_range(k, '$."' || pg_catalog.left(k, 32) || '"');
		INSERT INTO @extschema@.sensitive_category VALUES (pg_catalog.upper(k), r.lo, r.hi, coalesce(v #>> '{}', ''));
		n := n + 1;
	END LOOP;
	PERFORM cdp_internal.append_event('segment.sensitive_configured', NULL, NULL, pg_catalog.jsonb_build_object('categories', doc));
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_sensitive_categories(jsonb) IS
	'replaces the sensitive ICD-10 ranges, e.g. configure_sensitive_categories(''{"B20-B24": "HIV disease"}'')';

/*
 * May the current role save or preview a treatment segment that references a sensitive
 * category?  Until the access issue adds roles: members of a role named cdp_doctor when it
 * exists, else superusers and the owner of schema cdp only.
 */
CREATE FUNCTION cdp_internal.seg_may_use_sensitive() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_doctor')
	            THEN pg_catalog.pg_has_role(CURRENT_USER, 'cdp_doctor', 'MEMBER')
	            ELSE (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
	                 OR pg_catalog.pg_has_role(CURRENT_USER,
	                        (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = '@extschema@'), 'MEMBER')
	       END
$$;
COMMENT ON FUNCTION cdp_internal.seg_may_use_sensitive() IS
	'true when the current role may target sensitive diagnoses in a treatment segment: member of cdp_doctor if that role exists, else superuser or owner (internal)';

/*
 * The sensitive categories an ICD-10 range [lo, hi] overlaps (3-character categories compared),
 * as text, or NULL.  SECURITY DEFINER: the check must not depend on what the caller may read of
 * the list (row-level security would hide it and let the rule through).
 */
CREATE FUNCTION cdp_internal.seg_sensitive(lo text, hi text) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(s.code_range || ' ' || s.label, '; ' ORDER BY s.lo)
	  FROM @extschema@.sensitive_categories() s
	 WHERE pg_catalog.left($1, 3) COLLATE "C" <= pg_catalog.left(s.hi, 3) COLLATE "C"
	   AND pg_catalog.left($2, 3) COLLATE "C" >= pg_catalog.left(s.lo, 3) COLLATE "C"
$$;
COMMENT ON FUNCTION cdp_internal.seg_sensitive(text, text) IS
	'the sensitive categories an ICD-10 range overlaps, or NULL; reads the list with the owner''s rights (internal)';

/* ------------------------------------------------------------------ small parsers */

/* An interval such as "14 days", "11 months", "2 years"; 22023 naming the path otherwise. */
CREATE FUNCTION cdp_internal.seg_interval(v jsonb, path text) RETURNS interval
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m	text[];
BEGIN
	IF v IS NOT NULL AND pg_catalog.jsonb_typeof(v) = 'string' THEN
		m := pg_catalog.regexp_match(v #>> '{}', '^\s*([0-9]{1,4})\s*(day|days|week|weeks|month|months|year|years)\s*$');
	END IF;
	IF m IS NULL THEN
		RAISE EXCEPTION 'invalid interval %', pg_catalog.left(coalesce(v::text, 'null'), 64) USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path),
			HINT = 'Use a whole number and a unit (days, weeks, months, years), for example "11 months" or "14 days".';
	END IF;
	RETURN pg_catalog.make_interval(
		days => CASE WHEN m[2] LIKE 'day%' THEN m[1]::int WHEN m[2] LIKE 'week%' THEN 7 * m[1]::int ELSE 0 END,
		months => CASE WHEN m[2] LIKE 'month%' THEN m[1]::int ELSE 0 END,
		years => CASE WHEN m[2] LIKE 'year%' THEN m[1]::int ELSE 0 END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_interval(jsonb, text) IS
	'parses a rule interval such as "11 months"; 22023 with the JSON path otherwise (internal)';

/* The number in a lab result ("5,4" and "5.4"), NULL when the result is not a plain number. */
CREATE FUNCTION cdp_internal.seg_num(t text) RETURNS numeric
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN t ~ '^\s*-?[0-9]{1,12}([.,][0-9]{1,12})?\s*$' THEN pg_catalog.replace(pg_catalog.btrim(t), ',', '.')::numeric END
$$;
COMMENT ON FUNCTION cdp_internal.seg_num(text) IS
	'the numeric value of a lab result, NULL when it is not a plain number (internal)';

/* Raises the rule error of the language: 22023, message, the JSON path, an accepted form. */
CREATE FUNCTION cdp_internal.seg_fail(msg text, path text, hint text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION '%', msg USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path), HINT = hint;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_fail(text, text, text) IS
	'raises a segment rule error: 22023, the JSON path in the detail, an accepted form in the hint (internal)';

/*
 * A scalar value checked against a catalogue type and written as a quoted, cast SQL literal.
 * Types: text (at most 200 bytes), int, date (ISO), boolean.
 */
CREATE FUNCTION cdp_internal.seg_literal(v jsonb, typ text, path text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t	text := pg_catalog.jsonb_typeof(v);
BEGIN
	IF typ = 'text' AND t = 'string' AND pg_catalog.octet_length(v #>> '{}') <= 200 THEN
		RETURN pg_catalog.format('%L::text', v #>> '{}');
	ELSIF typ = 'int' AND t = 'number' AND (v #>> '{}')::numeric = pg_catalog.trunc((v #>> '{}')::numeric)
	      AND pg_catalog.abs((v #>> '{}')::numeric) < 100000 THEN
		RETURN pg_catalog.format('%L::int', (v #>> '{}')::numeric::int);
	ELSIF typ = 'numeric' AND t = 'number' THEN
		RETURN pg_catalog.format('%L::numeric', (v #>> '{}')::numeric);
	ELSIF typ = 'boolean' AND t = 'boolean' THEN
		RETURN pg_catalog.format('%L::boolean', (v #>> '{}')::boolean);
	ELSIF typ = 'date' AND t = 'string' AND (v #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$' THEN
		BEGIN
			RETURN pg_catalog.format('%L::date', (v #>> '{}')::date);
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM cdp_internal.seg_fail(pg_catalog.format('a segment value must be of type %s', typ), path,
		CASE typ WHEN 'text' THEN 'Use a JSON string of at most 200 bytes, for example "Москва".'
		         WHEN 'int' THEN 'Use a whole JSON number, for example 35.'
		         WHEN 'numeric' THEN 'Use a JSON number, for example 5.6.'
		         WHEN 'boolean' THEN 'Use true or false.'
		         ELSE 'Use an ISO date string, for example "2026-01-31".' END);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_literal(jsonb, text, text) IS
	'checks a rule value against a catalogue type and returns it as a quoted, cast SQL literal (internal)';

/* ------------------------------------------------------------------ the catalogue */

/*
 * The profile attributes a rule may name: SQL over the profile row "p", and the value type.
 * Fixed here; a name not in this list is refused.
 */
CREATE FUNCTION @extschema@.segment_attributes(OUT attr text, OUT typ text, OUT ops text[], OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('sex', 'text', ARRAY['=', '!=', 'in', 'is_null'], 'M or F'),
	       ('age', 'int', ARRAY['=', '!=', '<', '<=', '>', '>=', 'between', 'in', 'is_null'], 'whole years at the evaluation date'),
	       ('birth_date', 'date', ARRAY['=', '!=', '<', '<=', '>', '>=', 'between', 'is_null'], 'date of birth'),
	       ('city', 'text', ARRAY['=', '!=', 'in', 'not in', 'is_null'], 'city of the golden profile'),
	       ('status', 'text', ARRAY['='], 'active (archived patients never appear)'),
	       ('registered_on', 'date', ARRAY['=', '<', '<=', '>', '>=', 'between', 'is_null'], 'first registration date'),
	       ('last_visit', 'date', ARRAY['<', '<=', '>', '>=', 'between', 'is_null'], 'date of the last visit the patient came to'),
	       ('validated', 'boolean', ARRAY['='], 'the profile has a validated record'),
	       ('source_kind', 'text', ARRAY['=', 'in'], 'a record comes from a source of this kind (internal, partner)'),
	       ('source', 'text', ARRAY['=', 'in'], 'a record comes from this source (by name)'),
	       ('reachable', 'text', ARRAY['=', 'in'], 'the profile has an address for this channel (email, sms, messenger, social, call, post)')
$$;
COMMENT ON FUNCTION @extschema@.segment_attributes() IS
	'the profile attributes a segment rule may use, their value type and operators';

/* The SQL expression over profile row p of a catalogue attribute (the evaluation day d is a literal). */
CREATE FUNCTION cdp_internal.seg_attr_sql(attr text, d date) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE attr
	  WHEN 'sex' THEN 'p.sex'
	  WHEN 'age' THEN pg_catalog.format('EXTRACT(year FROM pg_catalog.age(%L::date, p.birth_date))::int', d)
	  WHEN 'birth_date' THEN 'p.birth_date'
	  WHEN 'city' THEN 'p.city'
	  WHEN 'status' THEN 'p.status'
	  WHEN 'registered_on' THEN 'p.registered_on'
	  WHEN 'last_visit' THEN '(p.last_visit)::date'
	  WHEN 'validated' THEN 'p.validated'
	  END
$$;
COMMENT ON FUNCTION cdp_internal.seg_attr_sql(text, date) IS
	'the fixed SQL expression of a catalogue attribute over the profile row p (internal)';

/* ------------------------------------------------------------------ compiler */

/*
 * Compiles one attribute leaf {"attr", "op", "value"} into its predicate over profile row p.
 */
CREATE FUNCTION cdp_internal.seg_compile_attr(node jsonb, d date, path text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a		record;
	op		text := node ->> 'op';
	v		jsonb := node -> 'value';
	k		text;
	x		text;
	lits	text[];
	expr	text;
	i		int := 0;
	form	constant text := 'Use {"attr": "age", "op": "between", "value": [35, 55]} or {"attr": "city", "op": "in", "value": ["Москва"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('attr', 'op', 'value') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an attribute clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF pg_catalog.jsonb_typeof(node -> 'attr') <> 'string' THEN
		PERFORM cdp_internal.seg_fail('a segment attribute must be a string', path || '.attr', form);
	END IF;
	SELECT * INTO a FROM @extschema@.segment_attributes() s WHERE s.attr = node ->> 'attr';
	IF a.attr IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown segment attribute "%s"', pg_catalog.left(node ->> 'attr', 64)), path || '.attr',
			'Known attributes: ' || (SELECT pg_catalog.string_agg(s.attr, ', ') FROM @extschema@.segment_attributes() s) || '.');
	END IF;
	IF op IS NULL OR pg_catalog.jsonb_typeof(node -> 'op') <> 'string' OR NOT op = ANY (a.ops) THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s is not allowed for attribute "%s"',
			pg_catalog.left(coalesce((node -> 'op')::text, 'null'), 32), a.attr), path || '.op',
			pg_catalog.format('Operators of %s: %s.', a.attr, pg_catalog.array_to_string(a.ops, ', ')));
	END IF;
	IF NOT node ? 'value' THEN
		PERFORM cdp_internal.seg_fail('an attribute clause needs a value', path || '.value', form);
	END IF;
	IF op = 'is_null' THEN
		PERFORM cdp_internal.seg_literal(v, 'boolean', path || '.value');
	ELSIF op IN ('between', 'in', 'not in') THEN
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) = 0
		   OR (op = 'between' AND pg_catalog.jsonb_array_length(v) <> 2) OR pg_catalog.jsonb_array_length(v) > 1000 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s needs %s', op,
				CASE op WHEN 'between' THEN 'an array of two values' ELSE 'a non-empty array of at most 1000 values' END),
				path || '.value', form);
		END IF;
		FOR x IN SELECT e::text FROM pg_catalog.jsonb_array_elements(v) e LOOP
			lits := lits || cdp_internal.seg_literal(x::jsonb, a.typ, pg_catalog.format('%s.value[%s]', path, i));
			i := i + 1;
		END LOOP;
	ELSE
		lits := ARRAY[cdp_internal.seg_literal(v, a.typ, path || '.value')];
	END IF;
	IF a.attr IN ('source_kind', 'source') THEN
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.%s IN (%s))',
			CASE a.attr WHEN 'source_kind' THEN 'kind' ELSE 'name' END, pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'reachable' THEN
		FOR x IN SELECT e #>> '{}' FROM pg_catalog.jsonb_array_elements(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e LOOP
			IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = x) THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel "%s"', pg_catalog.left(x, 64)), path || '.value',
					'Use email, sms, messenger, social, call or post.');
			END IF;
		END LOOP;
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM pg_catalog.unnest(ARRAY[%s]) ch(c) WHERE pg_catalog.cardinality(cdp_internal.consent_addresses(p, ch.c)) > 0)',
			pg_catalog.array_to_string(lits, ', '));
	END IF;
	expr := cdp_internal.seg_attr_sql(a.attr, d);
	RETURN CASE op
		WHEN 'is_null' THEN pg_catalog.format('((%s) IS NULL) = %s', expr, cdp_internal.seg_literal(v, 'boolean', path))
		WHEN 'between' THEN pg_catalog.format('(%s) BETWEEN %s AND %s', expr, lits[1], lits[2])
		WHEN 'in' THEN pg_catalog.format('(%s) IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN 'not in' THEN pg_catalog.format('(%s) NOT IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN '!=' THEN pg_catalog.format('(%s) <> %s', expr, lits[1])
		ELSE pg_catalog.format('(%s) %s %s', expr, op, lits[1]) END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_attr(jsonb, date, text) IS
	'compiles an attribute clause into a predicate over the profile row p from the fixed catalogue (internal)';

/*
 * Compiles one event leaf into {"conds": [SQL over clinical_event e], "count": "op n" or null,
 * "indexed": the conds use the (kind, code, at) index, "sensitive": path or null}.
 */
CREATE FUNCTION cdp_internal.seg_compile_event(node jsonb, d date, path text) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind	text := node ->> 'event';
	w		jsonb := coalesce(node -> 'where', '{}');
	conds	text[];
	k		text;
	v		jsonb;
	codes	text[];
	r		record;
	i		int;
	far		interval;
	near	interval;
	cnt		text;
	indexed	boolean := false;
	sens	text;
	allowed	text[];
	codex	constant text := '(COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C")';
	form	constant text := 'Use {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["13 months", "11 months"]} or {"event": "diagnosis", "where": {"code": "E10-E14"}, "count": {">=": 2}}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('event', 'where', 'within', 'ago', 'count', 'due_within') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an event clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF kind IS NULL OR pg_catalog.jsonb_typeof(node -> 'event') <> 'string'
	   OR NOT kind IN ('visit', 'lab_test', 'diagnosis', 'recommendation', 'sick_leave') THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown event "%s"', pg_catalog.left(coalesce(node ->> 'event', 'null'), 64)), path || '.event',
			'Events: visit, lab_test, diagnosis, recommendation, sick_leave.');
	END IF;
	conds := ARRAY[pg_catalog.format('e.kind = %L', kind)];
	IF pg_catalog.jsonb_typeof(w) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('"where" must be an object', path || '.where', form);
	END IF;
	allowed := CASE kind WHEN 'visit' THEN ARRAY['specialty', 'status', 'type', 'doctor']
	                     WHEN 'lab_test' THEN ARRAY['code', 'value', 'out_of_range']
	                     WHEN 'diagnosis' THEN ARRAY['code']
	                     ELSE '{}'::text[] END;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(w) LOOP
		IF NOT k = ANY (allowed) THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown filter "%s" for event %s', pg_catalog.left(k, 64), kind),
				path || '.where.' || pg_catalog.left(k, 64),
				CASE WHEN allowed = '{}' THEN pg_catalog.format('Event %s takes no filter.', kind)
				     ELSE 'Filters of ' || kind || ': ' || pg_catalog.array_to_string(allowed, ', ') || '.' END);
		END IF;
		IF k IN ('specialty', 'status', 'type', 'doctor') OR (k = 'code' AND kind = 'lab_test') THEN
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				codes := codes || cdp_internal.seg_literal(v, 'text', pg_catalog.format('%s.where.%s', path, k));
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('filter "%s" needs a value', k), path || '.where.' || k, form);
			END IF;
			IF k IN ('specialty', 'code') THEN
				conds := conds || pg_catalog.format('%s IN (%s)', codex, pg_catalog.array_to_string(codes, ', '));
				indexed := true;
			ELSE
				conds := conds || pg_catalog.format('e.%s IN (%s)', CASE k WHEN 'status' THEN 'visit_status' WHEN 'type' THEN 'visit_type' ELSE 'doctor' END,
					pg_catalog.array_to_string(codes, ', '));
			END IF;
		ELSIF k = 'code' THEN
			/* diagnosis: codes and ranges, index range scans; sensitive ranges are remembered */
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
					PERFORM cdp_internal.seg_fail('an ICD-10 code must be a string', pg_catalog.format('%s.where.code', path), 'Use "E11" or "E10-E14".');
				END IF;
				r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('%s.where.code', path));
				codes := codes || pg_catalog.format('(%s >= %L AND %s <= %L)', codex, r.lo, codex, r.hi || '~');
				IF sens IS NULL AND cdp_internal.seg_sensitive(r.lo, r.hi) IS NOT NULL THEN
					sens := pg_catalog.format('%s.where.code (%s: %s)', path, v #>> '{}', cdp_internal.seg_sensitive(r.lo, r.hi));
				END IF;
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail('filter "code" needs a value', path || '.where.code', 'Use "E11" or ["E10-E14", "O24"].');
			END IF;
			conds := conds || ('(' || pg_catalog.array_to_string(codes, ' OR ') || ')');
			indexed := true;
		ELSIF k = 'value' THEN
			IF pg_catalog.jsonb_typeof(v) <> 'object' OR v = '{}' THEN
				PERFORM cdp_internal.seg_fail('filter "value" must be an object of comparisons', path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
			END IF;
			FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(v) LOOP
				IF NOT k IN ('=', '<', '<=', '>', '>=') THEN
					PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown comparison "%s"', pg_catalog.left(k, 16)), path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
				END IF;
				conds := conds || pg_catalog.format('cdp_internal.seg_num(e.lab_result) %s %s', k,
					cdp_internal.seg_literal(v, 'numeric', pg_catalog.format('%s.where.value."%s"', path, k)));
			END LOOP;
		ELSIF k = 'out_of_range' THEN
			conds := conds || pg_catalog.format('(cdp_internal.seg_num(e.lab_result) < e.ref_low OR cdp_internal.seg_num(e.lab_result) > e.ref_high) = %s',
				cdp_internal.seg_literal(v, 'boolean', path || '.where.out_of_range'));
		END IF;
	END LOOP;
	IF kind = 'visit' AND NOT w ? 'status' THEN
		conds := conds || 'e.visit_status IN (''came'', ''in_appointment'', ''done'')'::text;
	END IF;
	IF (node ? 'within')::int + (node ? 'ago')::int + (node ? 'due_within')::int > 1 THEN
		PERFORM cdp_internal.seg_fail('an event clause takes one of "within", "ago", "due_within"', path, form);
	END IF;
	IF node ? 'within' THEN
		far := cdp_internal.seg_interval(node -> 'within', path || '.within');
		conds := conds || pg_catalog.format('e.at >= %L::timestamptz', (d - far)::timestamptz);
	ELSIF node ? 'ago' THEN
		IF pg_catalog.jsonb_typeof(node -> 'ago') <> 'array' OR pg_catalog.jsonb_array_length(node -> 'ago') <> 2 THEN
			PERFORM cdp_internal.seg_fail('"ago" needs two intervals, the farther first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		far := cdp_internal.seg_interval(node -> 'ago' -> 0, path || '.ago[0]');
		near := cdp_internal.seg_interval(node -> 'ago' -> 1, path || '.ago[1]');
		IF d - far > d - near THEN
			PERFORM cdp_internal.seg_fail('"ago" needs the farther interval first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		conds := conds || pg_catalog.format('e.at >= %L::timestamptz AND e.at < %L::timestamptz', (d - far)::timestamptz, (d - near + interval '1 day')::timestamptz);
	ELSIF node ? 'due_within' THEN
		IF kind <> 'recommendation' THEN
			PERFORM cdp_internal.seg_fail('"due_within" applies to recommendations only', path || '.due_within', 'Use {"event": "recommendation", "due_within": "14 days"}.');
		END IF;
		far := cdp_internal.seg_interval(node -> 'due_within', path || '.due_within');
		conds := conds || pg_catalog.format('e.due_date >= %L::date AND e.due_date <= %L::date', d, (d + far)::date);
		indexed := true;
	END IF;
	IF node ? 'count' THEN
		v := node -> 'count';
		IF pg_catalog.jsonb_typeof(v) <> 'object' OR (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(v)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"count" needs one comparison', path || '.count', 'Use {">=": 2}.');
		END IF;
		SELECT x.key, x.value INTO k, v FROM pg_catalog.jsonb_each(node -> 'count') x;
		IF NOT k IN ('>=', '>', '=') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('count comparison "%s" is not allowed', pg_catalog.left(k, 16)), path || '.count',
				'Use >=, > or = with at least one event ({">=": 2}); for "none" use {"not": ...}.');
		END IF;
		cnt := k || ' ' || cdp_internal.seg_literal(v, 'int', path || '.count."' || k || '"');
		IF (v #>> '{}')::numeric < (CASE k WHEN '>' THEN 0 ELSE 1 END) THEN
			PERFORM cdp_internal.seg_fail('a count must ask for at least one event', path || '.count', 'Use {">=": 1} or more; for "none" use {"not": ...}.');
		END IF;
	END IF;
	RETURN pg_catalog.jsonb_build_object('conds', pg_catalog.to_jsonb(conds), 'count', cnt, 'indexed', indexed,
		'sensitive', sens,
		/* a visit in the last N with the default statuses and no other filter is the profile's last_visit */
		'last_visit', CASE WHEN kind = 'visit' AND w = '{}' AND node ? 'within' AND cnt IS NULL
		                   THEN pg_catalog.format('p.last_visit >= %L::timestamptz', (d - far)::timestamptz) END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_event(jsonb, date, text) IS
	'compiles a clinical-event clause into conditions over clinical_event e from the fixed catalogue (internal)';

/*
 * Compiles a rule tree for the evaluation day d into a plan: {"t": "all"|"any"|"not"|"leaf",
 * "kids" | "kid", "class", "path"}; a leaf carries "gen" and "filter" SQL and "sensitive" (the
 * path and category of a sensitive diagnosis it names, or null).  Classes order the clauses of an
 * "all" (0 indexed events and segments, 1 profile attributes, 2 other events, 3 nested all/any,
 * 4 not).  At most 20 levels and 200 clauses.
 */
CREATE FUNCTION cdp_internal.seg_compile(node jsonb, d date, path text DEFAULT '$', depth int DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op		text;
	kids	jsonb := '[]';
	kid		jsonb;
	i		int := 0;
	ev		jsonb;
	pred	text;
	sid		bigint;
	sens	text;
	form	constant text := 'A clause is {"all": [...]}, {"any": [...]}, {"not": {...}}, {"attr": ...}, {"event": ...} or {"segment": <id>}.';
BEGIN
	IF depth > 20 THEN
		PERFORM cdp_internal.seg_fail('a segment rule is nested deeper than 20 levels', path, 'Flatten the rule.');
	END IF;
	IF node IS NULL OR pg_catalog.jsonb_typeof(node) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('a segment clause must be a JSON object', path, form);
	END IF;
	IF node ?| ARRAY['all', 'any', 'not'] THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"all", "any" and "not" stand alone in their object', path, form);
		END IF;
		op := (SELECT k FROM pg_catalog.jsonb_object_keys(node) k);
		IF op = 'not' THEN
			kid := cdp_internal.seg_compile(node -> 'not', d, path || '.not', depth + 1);
			RETURN pg_catalog.jsonb_build_object('t', 'not', 'kid', kid, 'class', 4, 'path', path, 'sensitive', kid -> 'sensitive');
		END IF;
		IF pg_catalog.jsonb_typeof(node -> op) <> 'array' OR pg_catalog.jsonb_array_length(node -> op) = 0 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" needs a non-empty array of clauses', op), path || '.' || op, form);
		END IF;
		IF pg_catalog.jsonb_array_length(node -> op) > 200 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" has more than 200 clauses', op), path || '.' || op, 'Split the rule into segments and reference them.');
		END IF;
		FOR kid IN SELECT * FROM pg_catalog.jsonb_array_elements(node -> op) LOOP
			kid := cdp_internal.seg_compile(kid, d, pg_catalog.format('%s.%s[%s]', path, op, i), depth + 1);
			sens := coalesce(sens, kid ->> 'sensitive');
			kids := kids || pg_catalog.jsonb_build_array(kid);
			i := i + 1;
		END LOOP;
		RETURN pg_catalog.jsonb_build_object('t', op, 'kids', kids, 'class', 3, 'path', path, 'sensitive', sens);
	ELSIF node ? 'attr' THEN
		pred := cdp_internal.seg_compile_attr(node, d, path);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path,
			'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
			'filter', pg_catalog.format('SELECT p.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id WHERE %s', pred));
	ELSIF node ? 'event' THEN
		ev := cdp_internal.seg_compile_event(node, d, path);
		IF ev ->> 'last_visit' IS NOT NULL THEN
			pred := ev ->> 'last_visit';
			RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path,
				'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
				'filter', pg_catalog.format('SELECT p.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id WHERE %s', pred));
		END IF;
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.jsonb_array_elements_text(ev -> 'conds') x);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN (ev ->> 'indexed')::boolean THEN 0 ELSE 2 END,
			'path', path, 'sensitive', ev -> 'sensitive',
			'gen', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s', pred)
			            ELSE pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s GROUP BY e.golden_id HAVING pg_catalog.count(*) %s', pred, ev ->> 'count') END,
			'filter', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE EXISTS (SELECT 1 FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s)', pred)
			            ELSE pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT pg_catalog.count(*) FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s) %s', pred, ev ->> 'count') END);
	ELSIF node ? 'segment' THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 OR pg_catalog.jsonb_typeof(node -> 'segment') <> 'number'
		   OR (node ->> 'segment')::numeric <> pg_catalog.trunc((node ->> 'segment')::numeric) OR (node ->> 'segment')::numeric NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a segment clause is {"segment": <segment id>}', path, 'Use {"segment": 12}.');
		END IF;
		sid := (node ->> 'segment')::numeric::bigint;
		SELECT CASE WHEN s.sensitive THEN pg_catalog.format('%s (segment %s targets a sensitive category)', path, sid) ELSE '' END INTO sens
		  FROM @extschema@.segment s WHERE s.segment_id = sid;
		IF sens IS NULL THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('segment %s does not exist', sid), path || '.segment', 'Use the id returned by cdp.create_segment.');
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 0, 'path', path, 'segment', sid, 'sensitive', NULLIF(sens, ''),
			'gen', pg_catalog.format('SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = %L::bigint', sid),
			'filter', pg_catalog.format('SELECT m.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.segment_member m ON m.segment_id = %L::bigint AND m.golden_id = c.id', sid));
	END IF;
	PERFORM cdp_internal.seg_fail('a segment clause needs one of all, any, not, attr, event, segment', path, form);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile(jsonb, date, text, int) IS
	'validates a segment rule and compiles it into a plan of gen/filter SQL per clause for a day; 22023 with the JSON path (internal)';

/*
 * The plan of a rule for a purpose, with the sensitive-category policy applied: a rule that names
 * a sensitive diagnosis (or a segment that does) is refused unless the purpose is treatment and
 * the current role may (cdp_internal.seg_may_use_sensitive).  22023 (another purpose) or 42501
 * (a role that may not) names the clause.
 */
CREATE FUNCTION cdp_internal.seg_prepare(rules jsonb, purpose text, d date) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
BEGIN
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY['*']);
	plan := cdp_internal.seg_compile(rules, d);
	IF plan ->> 'sensitive' IS NOT NULL THEN
		IF purpose <> 'treatment' THEN
			RAISE EXCEPTION 'a % segment may not target a sensitive category', purpose USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At %s.', plan ->> 'sensitive'),
				HINT = 'Remove the clause; only a treatment segment saved by a doctor may target it.';
		ELSIF NOT cdp_internal.seg_may_use_sensitive() THEN
			RAISE EXCEPTION 'role "%" may not target a sensitive category', CURRENT_USER USING ERRCODE = '42501',
				DETAIL = pg_catalog.format('At %s.', plan ->> 'sensitive'),
				HINT = 'A member of role cdp_doctor (or, while that role does not exist, the owner of cdp) may save it.';
		END IF;
	END IF;
	RETURN plan;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_prepare(jsonb, text, date) IS
	'compiles a rule for a purpose and applies the sensitive-category policy (42501 naming the clause) (internal)';

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
	PRIMARY KEY (golden_id, segment_id, list)
);
COMMENT ON TABLE @extschema@.segment_list IS
	'manual include and exclude lists, by the golden id given; read through cdp.resolve_patient, so they follow merges';
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

CREATE TABLE cdp_internal.seg_salt (
	salt		text NOT NULL,
	created_at	timestamptz NOT NULL
);
COMMENT ON TABLE cdp_internal.seg_salt IS
	'the secret behind the analysts'' pseudonyms (one row, made by the first create_segment; the oldest wins after a restore)';
ALTER TABLE cdp_internal.seg_salt ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.seg_salt FORCE ROW LEVEL SECURITY;

/*
 * The analysts' pseudonym of a golden id: 'p' and 16 hex digits of md5(salt, id).  SECURITY
 * DEFINER: it reads the salt with the owner's rights, so whoever may see pseudonyms never needs
 * (and must never get) the salt, which would let them recompute the pseudonym of any id.
 */
CREATE FUNCTION cdp_internal.seg_pseudonym(golden_id bigint) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT 'p' || pg_catalog.left(pg_catalog.md5(t.salt || ':' || $1), 16)
	  FROM cdp_internal.seg_salt t ORDER BY t.created_at LIMIT 1
$$;
COMMENT ON FUNCTION cdp_internal.seg_pseudonym(bigint) IS
	'the stable pseudonym of a golden id for analysts (keyed hash with a secret salt read with the owner''s rights) (internal)';

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
 * diagnosis range N40-N42 is the index range ['N40', 'N42~'].
 */
CREATE INDEX clinical_event_seg_code_idx ON @extschema@.clinical_event
	(kind, (COALESCE(lab_code, icd10, specialty) COLLATE "C"), at);
CREATE INDEX clinical_event_seg_due_idx ON @extschema@.clinical_event (due_date) WHERE kind = 'recommendation';

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
 */
CREATE FUNCTION cdp_internal.seg_probe_size(plan jsonb, cand bigint[]) RETURNS bigint
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	IF cand IS NOT NULL OR plan ->> 't' <> 'leaf' OR (plan ->> 'class')::int <> 0 THEN
		RETURN 0;
	END IF;
	EXECUTE 'SELECT pg_catalog.count(*) FROM (' || (plan ->> 'gen') || ' LIMIT 20000) x' INTO n;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_probe_size(jsonb, bigint[]) IS
	'how many ids an indexed clause yields, counted up to 20,000, to start an "all" with the most selective one (internal)';

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
	kid		jsonb;
	n		bigint := pg_catalog.cardinality(cand);
	probe	boolean;
BEGIN
	IF n = 0 THEN
		RETURN '{}';
	END IF;
	IF plan ->> 't' = 'leaf' THEN
		IF cand IS NULL THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			RETURN r;
		END IF;
		/* probe id by id while that is cheaper than the clause's whole set (true sizes, no estimates) */
		probe := CASE (plan ->> 'class')::int WHEN 0 THEN n * 20 <= n_all WHEN 1 THEN n * 10 <= n_all ELSE n * 2 <= n_all END;
		IF probe THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'filter') || '))' INTO r USING cand;
		ELSE
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			r := cdp_internal.seg_and(cand, r);
		END IF;
		RETURN r;
	ELSIF plan ->> 't' = 'all' THEN
		r := cand;
		FOR kid IN SELECT x.k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') WITH ORDINALITY x(k, i)
		            ORDER BY (x.k ->> 'class')::int, cdp_internal.seg_probe_size(x.k, cand), x.i LOOP
			r := cdp_internal.seg_eval(kid, r, n_all);
			EXIT WHEN pg_catalog.cardinality(r) = 0;
		END LOOP;
		RETURN r;
	ELSIF plan ->> 't' = 'any' THEN
		r := '{}';
		FOR kid IN SELECT k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k LOOP
			r := cdp_internal.seg_or(r, cdp_internal.seg_eval(kid, cand, n_all));
		END LOOP;
		RETURN r;
	ELSE
		r := coalesce(cand, cdp_internal.seg_universe());
		RETURN cdp_internal.seg_minus(r, cdp_internal.seg_eval(plan -> 'kid', r, n_all));
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_eval(jsonb, bigint[], bigint) IS
	'the golden ids meeting a compiled rule node, within a candidate set (NULL = all) (internal)';

/*
 * The ids of a set that may be contacted for a purpose: through the channel, or through at least
 * one channel when channel is NULL.  The set-based form of cdp.may_contact (same fold, same
 * defaults, same suppression rule; test/pgtap/82_segment_rules.sql compares them).
 */
CREATE FUNCTION cdp_internal.seg_consent_ok(ids bigint[], purpose text, channel text) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	dflt	boolean := (SELECT x.default_granted FROM @extschema@.consent_purposes() x WHERE x.purpose = seg_consent_ok.purpose);
	chans	text[] := CASE WHEN channel IS NULL THEN ARRAY(SELECT x.channel FROM @extschema@.consent_channels() x) ELSE ARRAY[channel] END;
	sup		boolean := EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                            WHERE s.purpose = seg_consent_ok.purpose AND s.suppressed);
BEGIN
	RETURN (
	WITH st AS MATERIALIZED (
		SELECT DISTINCT ON (r.golden_id, s.channel) r.golden_id AS id, s.channel, s.granted
		  FROM pg_catalog.unnest(ids) c(id)
		  JOIN @extschema@.record r ON r.golden_id = c.id
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id AND s.purpose = seg_consent_ok.purpose
		       AND s.channel = ANY (chans)
		 WHERE cdp_internal.consent_counts(s.granted, s.records, r.golden_id)
		 ORDER BY r.golden_id, s.channel, s.at DESC, s.granted, s.event_id DESC),
	allowed AS (
		SELECT st.id, st.channel FROM st WHERE st.granted AND NOT dflt
		UNION ALL
		SELECT c.id, ch.c FROM pg_catalog.unnest(ids) c(id), pg_catalog.unnest(chans) ch(c)
		 WHERE dflt AND NOT EXISTS (SELECT 1 FROM st WHERE st.id = c.id AND st.channel = ch.c AND NOT st.granted))
	SELECT cdp_internal.seg_set(ARRAY(
		SELECT a.id FROM allowed a
		 WHERE NOT sup
		    OR NOT EXISTS (SELECT 1 FROM @extschema@.patient p
		                    CROSS JOIN LATERAL (SELECT cdp_internal.consent_addresses(p, a.channel) AS ads) x
		                    WHERE p.golden_id = a.id AND pg_catalog.cardinality(x.ads) > 0
		                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(x.ads) ad
		                                       WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
		                                                          WHERE s.address_key = ad AND s.purpose = seg_consent_ok.purpose
		                                                            AND s.suppressed))))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_consent_ok(bigint[], text, text) IS
	'the ids of a set that may be contacted for a purpose (through a channel, or any when NULL): may_contact for a set (internal)';

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
	AS $$
DECLARE
	n_all	bigint;
	r		bigint[];
	act		bigint[];
	kept	bigint[];
	ok		bigint[];
	o		@extschema@.offer;
BEGIN
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	r := cdp_internal.seg_eval(plan, cand, n_all);
	r := cdp_internal.seg_or(r, CASE WHEN cand IS NULL THEN include ELSE cdp_internal.seg_and(include, cand) END);
	act := cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM pg_catalog.unnest(r) c(id)
	                                  JOIN @extschema@.patient p ON p.golden_id = c.id WHERE p.status = 'active'));
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
	RETURN QUERY SELECT p.golden_id, cdp_internal.offer_reason(p, o, d)
	  FROM pg_catalog.unnest(ok) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id;
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

/* Refuses a rule whose segment references lead back to the segment itself. */
CREATE FUNCTION cdp_internal.seg_check_cycle(id bigint, rules jsonb) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF id IS NOT NULL AND EXISTS (
		WITH RECURSIVE refs(sid, depth) AS (
			SELECT (x #>> '{}')::bigint, 1 FROM pg_catalog.jsonb_path_query(rules, 'strict $.**.segment') x
			UNION
			SELECT (x #>> '{}')::bigint, r.depth + 1
			  FROM refs r JOIN @extschema@.segment s ON s.segment_id = r.sid
			 CROSS JOIN LATERAL pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x
			 WHERE r.depth < 50)
		SELECT 1 FROM refs WHERE refs.sid = id) THEN
		RAISE EXCEPTION 'segment % would reference itself', id USING ERRCODE = '22023',
			DETAIL = 'At $ (a {"segment": ...} clause leads back to this segment).', HINT = 'Remove the circular reference.';
	END IF;
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
	IF id IS NULL THEN
		id := pg_catalog.nextval('@extschema@.segment_id_seq');
		INSERT INTO cdp_internal.seg_salt SELECT pg_catalog.md5(pg_catalog.gen_random_uuid()::text || pg_catalog.clock_timestamp()::text), at
		 WHERE NOT EXISTS (SELECT 1 FROM cdp_internal.seg_salt);
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
	INSERT INTO @extschema@.segment_list SELECT l.golden_id, id, l.list, pg_catalog.clock_timestamp()
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

/* Adds (or with remove, removes) persons to a segment's include or exclude list. */
CREATE FUNCTION @extschema@.segment_list_set(segment_id bigint, list text, golden_ids bigint[], remove boolean DEFAULT false)
	RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s	@extschema@.segment := cdp_internal.seg_get(segment_list_set.segment_id);
	g	bigint;
	n	int := 0;
BEGIN
	IF list IS NULL OR NOT list IN ('include', 'exclude') THEN
		RAISE EXCEPTION 'invalid segment list "%"', list USING ERRCODE = '22023', HINT = 'Use include or exclude.';
	END IF;
	FOR g IN SELECT DISTINCT x FROM pg_catalog.unnest(golden_ids) x WHERE x IS NOT NULL LOOP
		IF NOT remove AND @extschema@.resolve_patient(g) IS NULL THEN
			RAISE EXCEPTION 'patient "%" does not exist', g USING ERRCODE = 'P0002';
		END IF;
		IF remove THEN
			DELETE FROM @extschema@.segment_list l WHERE l.segment_id = s.segment_id AND l.list = segment_list_set.list
			   AND l.golden_id = g;
		ELSE
			INSERT INTO @extschema@.segment_list VALUES (g, s.segment_id, list, pg_catalog.clock_timestamp()) ON CONFLICT DO NOTHING;
		END IF;
		IF FOUND THEN
			/* golden_id on the event: the next incremental refresh re-evaluates the person */
			PERFORM cdp_internal.append_event('segment.listed', s.segment_id, g,
				pg_catalog.jsonb_build_object('list', list, 'removed', remove));
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_list_set(bigint, text, bigint[], boolean) IS
	'adds persons to (remove => true: removes them from) a segment''s include or exclude list; returns how many changed';

/* The include or exclude list of a segment as a set of current golden ids (merges followed). */
CREATE FUNCTION cdp_internal.seg_list_ids(id bigint, list text) RETURNS bigint[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT cdp_internal.seg_set(ARRAY(SELECT @extschema@.resolve_patient(l.golden_id) FROM @extschema@.segment_list l
	                                   WHERE l.segment_id = id AND l.list = seg_list_ids.list))
$$;
COMMENT ON FUNCTION cdp_internal.seg_list_ids(bigint, text) IS 'a segment''s list resolved to current golden ids (internal)';

/* ------------------------------------------------------------------ membership */

/*
 * Makes the members of a segment within scope (NULL: everyone) equal keep: members who are not in
 * keep leave, ids of keep who are not members enter, and every member of keep gets the channels
 * it may be contacted through now.  History rows carry the refresh event ev.  Returns
 * {"entered": n, "left": n}.
 */
CREATE FUNCTION cdp_internal.seg_apply(s @extschema@.segment, keep bigint[], ev bigint, scope bigint[] DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cur		bigint[];
	gone	bigint[];
	came	bigint[];
	at		timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF scope IS NULL THEN
		cur := cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = s.segment_id));
	ELSE
		cur := cdp_internal.seg_set(ARRAY(SELECT m.golden_id FROM pg_catalog.unnest(scope) c(id)
		          JOIN @extschema@.segment_member m ON m.segment_id = s.segment_id AND m.golden_id = c.id));
		keep := cdp_internal.seg_and(keep, scope);
	END IF;
	gone := cdp_internal.seg_minus(cur, keep);
	came := cdp_internal.seg_minus(keep, cur);
	DELETE FROM @extschema@.segment_member m USING pg_catalog.unnest(gone) g(id)
	 WHERE m.segment_id = s.segment_id AND m.golden_id = g.id;
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
	RETURN pg_catalog.jsonb_build_object('entered', pg_catalog.cardinality(came), 'left', pg_catalog.cardinality(gone));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_apply(@extschema@.segment, bigint[], bigint, bigint[]) IS
	'makes a segment''s members within a scope equal a set, with history and channels (internal)';

/*
 * The persons the log names between two positions (lo, hi], as current golden ids: everything
 * that can change a person's evaluation (their records, clinical events, consent, archive, merges
 * and unmerges, a segment list, an address suppressed, a move in a segment this one references).
 * NULL when an event changes everyone (survivorship rules, a source's trust or kind): then the
 * refresh is full.
 */
CREATE FUNCTION cdp_internal.seg_changed(s @extschema@.segment, lo bigint, hi bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids		bigint[];
	refs	bigint[] := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x);
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi
	            AND e.kind IN ('survivorship.configured', 'source.updated')) THEN
		RETURN NULL;
	END IF;
	WITH e AS MATERIALIZED (SELECT * FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi),
	ids AS (
		SELECT e.golden_id AS id FROM e WHERE e.golden_id IS NOT NULL
		UNION ALL SELECT e.subject FROM e WHERE e.kind = 'patient.merged'
		UNION ALL SELECT (e.payload ->> 'from')::bigint FROM e WHERE e.kind = 'patient.unmerged'
		UNION ALL SELECT r.golden_id FROM e JOIN @extschema@.record r ON r.record_id = e.subject WHERE e.kind LIKE 'record.%'
		UNION ALL SELECT r.golden_id FROM e CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(e.payload -> 'records') x
		            JOIN @extschema@.record r ON r.record_id = x::bigint WHERE e.kind LIKE 'consent.%'
		UNION ALL SELECT p.golden_id FROM e JOIN @extschema@.patient p
		            ON p.phones @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR p.emails @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR p.handles @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR pg_catalog.lower(pg_catalog.btrim(p.address)) = e.payload ->> 'address_key'
		           WHERE e.kind LIKE 'consent.%' AND e.payload ->> 'address_key' IS NOT NULL
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.entered_event > lo AND h.entered_event <= hi
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.left_event > lo AND h.left_event <= hi)
	SELECT cdp_internal.seg_set(ARRAY(SELECT ids.id FROM ids)) INTO ids;
	/* ids merged away since: their survivors too (only ids without a profile need resolving) */
	RETURN cdp_internal.seg_or(ids, cdp_internal.seg_set(ARRAY(
		SELECT @extschema@.resolve_patient(x) FROM pg_catalog.unnest(ids) x
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = x))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_changed(@extschema@.segment, bigint, bigint) IS
	'the golden ids whose evaluation the log changed between two event ids; NULL when everyone''s did (internal)';

/*
 * Waits until every transaction that has appended to the log and not ended yet has ended, so that
 * every event up to a position read before the call is committed (or gone) before the refresh
 * reads; without it an event committed late with a smaller id would be skipped by the next
 * incremental refresh.  The wait is a lock: SHARE on cdp.event conflicts with the ROW EXCLUSIVE
 * lock each writer holds until it ends.  Taken in a subtransaction that is rolled back at once,
 * so the lock is released at once; meanwhile new writers queue behind it only until the writers
 * before it end.  At most 10 seconds (lock_timeout), then 55P03: a long bulk load is running, the
 * next scheduled refresh will try again.
 */
CREATE FUNCTION cdp_internal.seg_wait_writers() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	BEGIN
		PERFORM pg_catalog.set_config('lock_timeout', '10s', true);
		LOCK TABLE @extschema@.event IN SHARE MODE;
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
	plan := cdp_internal.seg_compile(s.rules, d);
	SELECT cdp_internal.seg_set(ARRAY(SELECT x.golden_id FROM cdp_internal.seg_evaluate(plan, s.purpose, s.channel, s.offer_id, d,
	           cdp_internal.seg_list_ids(s.segment_id, 'include'), cdp_internal.seg_list_ids(s.segment_id, 'exclude'),
	           CASE WHEN m = 'full' THEN NULL ELSE cand END) x WHERE x.reason IS NULL))
	  INTO keep;
	res := cdp_internal.seg_apply(s, keep, ev, CASE WHEN m = 'full' THEN NULL ELSE cand END);
	UPDATE @extschema@.segment x SET last_refresh_at = pg_catalog.clock_timestamp(), last_refresh_mode = m,
	       refresh_mark = GREATEST(mark, s.refresh_mark), refresh_stamp = stamp
	 WHERE x.segment_id = s.segment_id;
	RETURN res || pg_catalog.jsonb_build_object('mode', m,
		'evaluated', CASE WHEN m = 'full' THEN NULL ELSE pg_catalog.cardinality(cand) END,
		'size', (SELECT pg_catalog.count(*) FROM @extschema@.segment_member x WHERE x.segment_id = s.segment_id));
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
	       pg_catalog.count(*) FILTER (WHERE 'email' = ANY (x.channels)) AS email,
	       pg_catalog.count(*) FILTER (WHERE 'sms' = ANY (x.channels)) AS sms,
	       pg_catalog.count(*) FILTER (WHERE 'messenger' = ANY (x.channels)) AS messenger,
	       pg_catalog.count(*) FILTER (WHERE 'social' = ANY (x.channels)) AS social,
	       pg_catalog.count(*) FILTER (WHERE 'call' = ANY (x.channels)) AS call,
	       pg_catalog.count(*) FILTER (WHERE 'post' = ANY (x.channels)) AS post
	  FROM @extschema@.segment_member x WHERE x.segment_id = s.segment_id) m ON true;
COMMENT ON VIEW @extschema@.segment_summary IS
	'per segment: version, status, size, reachable size per channel (consent and suppression as of the last refresh), created, updated, last refresh';

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

/* cdp.run_maintenance also refreshes the segments that are due (one line added in sql/parts/75_golden_archive.sql) */
CREATE OR REPLACE PROCEDURE @extschema@.run_maintenance(batch_size int DEFAULT 1000)
	LANGUAGE plpgsql
	AS $$
DECLARE
	lo		bigint;
	hi		bigint;
	top		bigint;
	ids		bigint[];
	lock_key constant bigint := 7307770001;
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(lock_key) THEN
		RAISE NOTICE 'cdp.run_maintenance is already running in another session';
		RETURN;
	END IF;
	IF pg_catalog.to_regprocedure('@extschema@.run_matching(text)') IS NOT NULL THEN
		EXECUTE 'SELECT @extschema@.run_matching($1)' USING 'incremental';
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END IF;
	SELECT coalesce(pg_catalog.max(e.event_id), 0) INTO top FROM @extschema@.event e;
	LOOP
		SELECT s.last_event_id INTO lo FROM cdp_internal.golden_state s;
		EXIT WHEN lo >= top;
		hi := least(lo + batch_size, top);
		SELECT pg_catalog.array_agg(DISTINCT x) INTO ids FROM (
			SELECT e.golden_id AS x FROM @extschema@.event e
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.golden_id IS NOT NULL
			UNION
			SELECT r.golden_id FROM @extschema@.event e JOIN @extschema@.record r ON r.record_id = e.subject
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.kind IN ('record.created', 'record.updated')) t;
		PERFORM cdp_internal.refresh_patients(ids);
		UPDATE cdp_internal.golden_state SET last_event_id = hi;
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END LOOP;
	PERFORM @extschema@.refresh_due_segments();	/* segments due for their automatic refresh (issue 13, doc/segments.md) */
	PERFORM pg_catalog.pg_advisory_unlock(lock_key);
END
$$;

/* cdp_internal functions of this section: no EXECUTE for PUBLIC (as sql/parts/90_privileges.sql does at install) */
DO $privileges$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace
		   AND (p.proname OPERATOR(pg_catalog.~) '^(consent|offer|icd10|seg)_')
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$privileges$;

/* every table and sequence of this section is dumped whole (as sql/parts/95_dump.sql does at install) */
DO $dump$
DECLARE
	r	regclass;
BEGIN
	FOR r IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@'::regnamespace, 'cdp_internal'::regnamespace])
		   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'S']::"char"[])
		   AND (c.relname OPERATOR(pg_catalog.~) '^(consent|offer|segment|seg)_' OR c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['offer', 'segment', 'sensitive_category']))
		 ORDER BY c.relname
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(r, '');
	END LOOP;
END
$dump$;

/* ==== end of section: consent, offers and segments ==== */


/* ==== section: campaigns (issue 14) ==== */
/* ---- from sql/parts/85_campaign.sql ---- */

/* ------------------------------------------------------------------ catalogues */

/*
 * The placeholders a template may use, what each renders, and which campaigns may carry it: a
 * clinical fact (the test a doctor recommended, its due date) only in a treatment message, an
 * offer's terms only when the campaign has an offer.  The renderer knows exactly these names.
 */
CREATE FUNCTION @extschema@.campaign_placeholders(OUT placeholder text, OUT needs text, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('given_name', NULL, 'the patient''s given name'),
	       ('patronymic', NULL, 'the patient''s patronymic'),
	       ('family_name', NULL, 'the patient''s family name'),
	       ('offer_name', 'offer', 'the offer''s name'),
	       ('offer_until', 'offer', 'the last day of the offer, DD.MM.YYYY'),
	       ('due_date', 'treatment', 'the date the doctor set for the re-test, DD.MM.YYYY (reminders only)'),
	       ('test', 'treatment', 'the service or test code the doctor recommended (reminders only)')
$$;
COMMENT ON FUNCTION @extschema@.campaign_placeholders() IS
	'the placeholders a campaign template may use ({given_name}, {offer_until}, ...), with what each needs: an offer, or a treatment purpose';

/*
 * Time zone of a city (the patient's local time for send windows); NULL when unknown, and the
 * campaign's zone (default the clinic's, Europe/Moscow) applies.  The cities of Russia's eleven
 * zones that clinics name most.
 */
CREATE FUNCTION cdp_internal.campaign_city_tz(city text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT t.tz FROM (VALUES
	('москва', 'Europe/Moscow'), ('химки', 'Europe/Moscow'), ('санкт-петербург', 'Europe/Moscow'),
	('казань', 'Europe/Moscow'), ('нижний новгород', 'Europe/Moscow'), ('ростов-на-дону', 'Europe/Moscow'),
	('воронеж', 'Europe/Moscow'), ('краснодар', 'Europe/Moscow'), ('калининград', 'Europe/Kaliningrad'),
	('самара', 'Europe/Samara'), ('ижевск', 'Europe/Samara'), ('екатеринбург', 'Asia/Yekaterinburg'),
	('челябинск', 'Asia/Yekaterinburg'), ('уфа', 'Asia/Yekaterinburg'), ('пермь', 'Asia/Yekaterinburg'),
	('тюмень', 'Asia/Yekaterinburg'), ('омск', 'Asia/Omsk'), ('новосибирск', 'Asia/Novosibirsk'),
	('томск', 'Asia/Tomsk'), ('барнаул', 'Asia/Barnaul'), ('красноярск', 'Asia/Krasnoyarsk'),
	('кемерово', 'Asia/Novokuznetsk'), ('иркутск', 'Asia/Irkutsk'), ('чита', 'Asia/Chita'),
	('якутск', 'Asia/Yakutsk'), ('хабаровск', 'Asia/Vladivostok'), ('владивосток', 'Asia/Vladivostok'),
	('магадан', 'Asia/Magadan'), ('южно-сахалинск', 'Asia/Sakhalin'),
	('петропавловск-камчатский', 'Asia/Kamchatka')) t(city, tz)
	 WHERE t.city = pg_catalog.lower(pg_catalog.btrim(pg_catalog.regexp_replace($1, '^(г\.|город)\s*', '', 'i')))
$$;
COMMENT ON FUNCTION cdp_internal.campaign_city_tz(text) IS
	'IANA time zone of a Russian city (any case, "г." allowed), NULL when not known (internal)';

/* ------------------------------------------------------------------ projections */

CREATE SEQUENCE @extschema@.campaign_id_seq;
COMMENT ON SEQUENCE @extschema@.campaign_id_seq IS 'ids of cdp.campaign';

CREATE TABLE @extschema@.campaign (
	campaign_id	bigint PRIMARY KEY,
	version		int NOT NULL,
	name		text NOT NULL,
	status		text NOT NULL CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'archived')),
	doc			jsonb NOT NULL,
	created_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL
);
COMMENT ON TABLE @extschema@.campaign IS
	'campaigns: the current version of each document and its status (projection of campaign.* events)';
ALTER TABLE @extschema@.campaign ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.campaign_version (
	campaign_id	bigint NOT NULL,
	version		int NOT NULL,
	doc			jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL,
	PRIMARY KEY (campaign_id, version)
);
COMMENT ON TABLE @extschema@.campaign_version IS
	'every version of every campaign document (projection of campaign.created / campaign.edited events)';
ALTER TABLE @extschema@.campaign_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_version FORCE ROW LEVEL SECURITY;

/* ------------------------------------------------------------------ validation */

/* An interval given as text at a JSON path, or 22023 naming the path. */
CREATE FUNCTION cdp_internal.campaign_interval(v jsonb, path text) RETURNS interval
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	i	interval;
BEGIN
	IF v IS NULL OR pg_catalog.jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'campaign % must be an interval written as text', path USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "30 days" or "3 days".';
	END IF;
	BEGIN
		i := (v #>> '{}')::interval;
	EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
		RAISE EXCEPTION 'invalid interval "%" in a campaign', pg_catalog.left(v #>> '{}', 64) USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "30 days", "11 months" or "3 days".';
	END;
	IF i <= interval '0' THEN
		RAISE EXCEPTION 'campaign % must be positive', path USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s: "%s".', path, v #>> '{}'), HINT = 'Write it like "30 days".';
	END IF;
	RETURN i;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_interval(jsonb, text) IS
	'a positive interval from a JSON string; 22023 naming the JSON path otherwise (internal)';

/* A timestamptz given as text at a JSON path, or 22023 naming the path. */
CREATE FUNCTION cdp_internal.campaign_time(v jsonb, path text) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF v IS NULL OR pg_catalog.jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'campaign % must be a time written as text', path USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "2026-03-01T00:00:00+03".';
	END IF;
	RETURN (v #>> '{}')::timestamptz;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
	RAISE EXCEPTION 'invalid time "%" in a campaign', pg_catalog.left(v #>> '{}', 64) USING ERRCODE = '22023',
		DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write it like "2026-03-01T00:00:00+03".';
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_time(jsonb, text) IS
	'a timestamptz from a JSON string; 22023 naming the JSON path otherwise (internal)';

/*
 * Checks a template: every {placeholder} is known, and allowed for the campaign (offer terms need
 * an offer; a due date or a test name only in a treatment reminder).  22023 naming the path.
 */
CREATE FUNCTION cdp_internal.campaign_template_check(tpl text, path text, has_offer boolean, purpose text,
                                                     reminder boolean) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ph		text;
	needs	text;
BEGIN
	IF tpl IS NULL OR pg_catalog.btrim(tpl) = '' THEN
		RAISE EXCEPTION 'campaign template must not be empty' USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Write the message text, e.g. "{given_name}, ...".';
	END IF;
	IF pg_catalog.length(tpl) > 4000 THEN
		RAISE EXCEPTION 'campaign template is longer than 4000 characters' USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('At %s.', path), HINT = 'Shorten the message.';
	END IF;
	FOR ph IN SELECT m[1] FROM pg_catalog.regexp_matches(tpl, '\{([^{}]*)\}', 'g') m LOOP
		SELECT x.needs INTO needs FROM @extschema@.campaign_placeholders() x WHERE x.placeholder = ph;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'unknown placeholder "{%}" in a campaign template', pg_catalog.left(ph, 64)
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path),
				HINT = 'Use {given_name}, {patronymic}, {family_name}, {offer_name}, {offer_until}, {due_date} or {test} (see cdp.campaign_placeholders()).';
		END IF;
		IF needs = 'offer' AND NOT has_offer THEN
			RAISE EXCEPTION 'placeholder "{%}" needs an offer', ph USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At %s; the campaign has no "offer".', path),
				HINT = 'Add "offer": <offer_id> or remove the placeholder.';
		END IF;
		IF needs = 'treatment' AND (purpose <> 'treatment' OR NOT reminder) THEN
			RAISE EXCEPTION 'placeholder "{%}" carries clinical data and may only be used in a treatment reminder', ph
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('At %s.', path),
				HINT = 'Use it in a campaign with "purpose": "treatment" and a "trigger" of kind "recommendation".';
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_template_check(text, text, boolean, text, boolean) IS
	'refuses unknown placeholders and those the campaign''s purpose or offer does not allow (internal)';

/*
 * Validates a campaign document and returns it normalised (defaults filled in).  Unknown keys,
 * wrong types, an unknown channel, a template missing for a channel or using a placeholder that
 * does not exist, a window ending before it starts, a cap of zero, an end before the start, a
 * holdout outside [0, 0.9], arms that do not add up: 22023 with the JSON path in the detail and an
 * accepted form in the hint.  A segment or offer that does not exist: P0002; an archived one: 55000.
 */
CREATE FUNCTION cdp_internal.campaign_check(doc jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k			text;
	d			jsonb := '{}';
	purpose		text;
	chans		text[];
	ch			text;
	tpls		jsonb;
	trig		jsonb;
	reminder	boolean := false;
	has_offer	boolean;
	w			jsonb;
	hrs			jsonb;
	days		jsonb;
	cap			jsonb;
	arms		jsonb;
	share		numeric;
	total		numeric := 0;
	st			timestamptz;
	en			timestamptz;
	seg_status	text;
BEGIN
	IF doc IS NULL OR pg_catalog.jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION 'a campaign must be a JSON object' USING ERRCODE = '22023',
			HINT = 'See doc/campaigns.md: {"name": "...", "segment": 3, "channels": ["sms"], "templates": {"sms": "..."}}.';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(doc) LOOP
		IF NOT k = ANY (ARRAY['name', 'segment', 'trigger', 'offer', 'purpose', 'channels', 'templates',
		                      'offer_templates', 'window', 'cap', 'holdout', 'arms', 'start', 'end', 'timezone',
		                      'description']) THEN
			RAISE EXCEPTION 'unknown campaign key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', pg_catalog.left(k, 64)),
				HINT = 'Use name, segment or trigger, offer, purpose, channels, templates, offer_templates, window, cap, holdout, arms, start, end, timezone, description.';
		END IF;
	END LOOP;
	/* name */
	IF pg_catalog.jsonb_typeof(doc -> 'name') IS DISTINCT FROM 'string' OR pg_catalog.btrim(doc ->> 'name') = '' THEN
		RAISE EXCEPTION 'a campaign needs a name' USING ERRCODE = '22023', DETAIL = 'At $.name.',
			HINT = 'Add "name": "Весенний чек-ап".';
	END IF;
	d := d || pg_catalog.jsonb_build_object('name', pg_catalog.btrim(doc ->> 'name'));
	IF doc ? 'description' THEN
		d := d || pg_catalog.jsonb_build_object('description', doc ->> 'description');
	END IF;
	/* purpose */
	purpose := coalesce(doc ->> 'purpose', 'marketing');
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY['sms']);
	IF purpose NOT IN ('marketing', 'treatment') THEN
		RAISE EXCEPTION 'a campaign''s purpose is marketing or treatment, not "%"', purpose USING ERRCODE = '22023',
			DETAIL = 'At $.purpose.', HINT = 'Use "marketing" (promotions) or "treatment" (reminders from a doctor).';
	END IF;
	d := d || pg_catalog.jsonb_build_object('purpose', purpose);
	/* audience: a segment or a trigger, not both */
	IF (doc ? 'segment') = (doc ? 'trigger') THEN
		RAISE EXCEPTION 'a campaign has either a "segment" or a "trigger"' USING ERRCODE = '22023',
			DETAIL = 'At $.segment / $.trigger.',
			HINT = 'Add "segment": <segment_id>, or "trigger": {"kind": "recommendation", "days_before": 7}.';
	END IF;
	IF doc ? 'segment' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'segment') IS DISTINCT FROM 'number' OR (doc ->> 'segment') !~ '^[0-9]+$' THEN
			RAISE EXCEPTION 'campaign "segment" must be a segment id' USING ERRCODE = '22023', DETAIL = 'At $.segment.',
				HINT = 'Use the id cdp.create_segment returned, e.g. "segment": 3.';
		END IF;
		SELECT s.status INTO seg_status FROM @extschema@.segment s WHERE s.segment_id = (doc ->> 'segment')::bigint;
		IF seg_status IS NULL THEN
			RAISE EXCEPTION 'segment "%" does not exist', doc ->> 'segment' USING ERRCODE = 'P0002',
				DETAIL = 'At $.segment.', HINT = 'Use the id cdp.create_segment returned.';
		ELSIF seg_status = 'archived' THEN
			RAISE EXCEPTION 'segment "%" is archived', doc ->> 'segment' USING ERRCODE = '55000',
				DETAIL = 'At $.segment.', HINT = 'Restore the segment first, or choose another.';
		END IF;
		d := d || pg_catalog.jsonb_build_object('segment', (doc ->> 'segment')::bigint);
	ELSE
		trig := doc -> 'trigger';
		IF pg_catalog.jsonb_typeof(trig) IS DISTINCT FROM 'object' THEN
			RAISE EXCEPTION 'campaign "trigger" must be an object' USING ERRCODE = '22023', DETAIL = 'At $.trigger.',
				HINT = 'Use {"kind": "recommendation", "days_before": 7}, {"kind": "after_event", "event": "lab_test", "code": "MAMMO", "after": "11 months"} or {"kind": "birthday"}.';
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(trig) LOOP
			IF NOT k = ANY (ARRAY['kind', 'days_before', 'event', 'code', 'after']) THEN
				RAISE EXCEPTION 'unknown trigger key "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.trigger.%s.', pg_catalog.left(k, 64)),
					HINT = 'Use kind, days_before, event, code, after.';
			END IF;
		END LOOP;
		IF NOT coalesce(trig ->> 'kind', '') IN ('recommendation', 'after_event', 'birthday') THEN
			RAISE EXCEPTION 'unknown trigger kind "%"', pg_catalog.left(coalesce(trig ->> 'kind', 'null'), 64)
				USING ERRCODE = '22023', DETAIL = 'At $.trigger.kind.', HINT = 'Use recommendation, after_event or birthday.';
		END IF;
		IF trig ? 'days_before' AND (pg_catalog.jsonb_typeof(trig -> 'days_before') <> 'number'
		                             OR (trig ->> 'days_before') !~ '^[0-9]+$' OR (trig ->> 'days_before')::int > 366) THEN
			RAISE EXCEPTION 'trigger "days_before" must be a whole number of days from 0 to 366' USING ERRCODE = '22023',
				DETAIL = 'At $.trigger.days_before.', HINT = 'Use e.g. "days_before": 7.';
		END IF;
		IF trig ->> 'kind' = 'after_event' THEN
			IF NOT coalesce(trig ->> 'event', '') IN ('visit', 'lab_test', 'diagnosis') THEN
				RAISE EXCEPTION 'trigger "event" must be visit, lab_test or diagnosis' USING ERRCODE = '22023',
					DETAIL = 'At $.trigger.event.', HINT = 'Use e.g. {"kind": "after_event", "event": "lab_test", "code": "MAMMO", "after": "11 months"}.';
			END IF;
			PERFORM cdp_internal.campaign_interval(trig -> 'after', '$.trigger.after');
		ELSIF trig ? 'after' OR trig ? 'event' THEN
			RAISE EXCEPTION 'trigger keys "event" and "after" belong to kind after_event' USING ERRCODE = '22023',
				DETAIL = 'At $.trigger.', HINT = 'Remove them, or use "kind": "after_event".';
		END IF;
		IF trig ? 'code' AND pg_catalog.jsonb_typeof(trig -> 'code') <> 'string' THEN
			RAISE EXCEPTION 'trigger "code" must be text' USING ERRCODE = '22023', DETAIL = 'At $.trigger.code.',
				HINT = 'Use e.g. "code": "MAMMO".';
		END IF;
		reminder := trig ->> 'kind' = 'recommendation';
		d := d || pg_catalog.jsonb_build_object('trigger',
			pg_catalog.jsonb_build_object('kind', trig ->> 'kind', 'days_before', coalesce((trig ->> 'days_before')::int, 0))
			|| pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('event', trig ->> 'event', 'code', trig ->> 'code',
			                                                              'after', trig ->> 'after')));
	END IF;
	/* offer */
	has_offer := doc ? 'offer';
	IF has_offer THEN
		IF pg_catalog.jsonb_typeof(doc -> 'offer') IS DISTINCT FROM 'number' OR (doc ->> 'offer') !~ '^[0-9]+$' THEN
			RAISE EXCEPTION 'campaign "offer" must be an offer id' USING ERRCODE = '22023', DETAIL = 'At $.offer.',
				HINT = 'Use the id cdp.create_offer returned, e.g. "offer": 1.';
		END IF;
		PERFORM cdp_internal.offer_get((doc ->> 'offer')::bigint, false);
		d := d || pg_catalog.jsonb_build_object('offer', (doc ->> 'offer')::bigint);
	END IF;
	/* channels, in priority order */
	IF pg_catalog.jsonb_typeof(doc -> 'channels') IS DISTINCT FROM 'array' OR pg_catalog.jsonb_array_length(doc -> 'channels') = 0 THEN
		RAISE EXCEPTION 'a campaign needs "channels", a non-empty list in priority order' USING ERRCODE = '22023',
			DETAIL = 'At $.channels.', HINT = 'Use e.g. "channels": ["messenger", "sms", "email"].';
	END IF;
	SELECT pg_catalog.array_agg(x ORDER BY n) INTO chans FROM pg_catalog.jsonb_array_elements_text(doc -> 'channels') WITH ORDINALITY t(x, n);
	FOR ch IN SELECT pg_catalog.unnest(chans) LOOP
		IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = ch) THEN
			RAISE EXCEPTION 'unknown channel "%"', pg_catalog.left(ch, 64) USING ERRCODE = '22023',
				DETAIL = 'At $.channels.', HINT = 'Use email, sms, messenger, social, call or post.';
		END IF;
	END LOOP;
	IF pg_catalog.cardinality(chans) <> (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.unnest(chans) x) THEN
		RAISE EXCEPTION 'a channel is listed twice' USING ERRCODE = '22023', DETAIL = 'At $.channels.',
			HINT = 'List each channel once, in priority order.';
	END IF;
	d := d || pg_catalog.jsonb_build_object('channels', pg_catalog.to_jsonb(chans));
	/* templates: one per channel */
	FOR k IN SELECT x FROM pg_catalog.unnest(ARRAY['templates', 'offer_templates']) x LOOP
		IF NOT doc ? k THEN
			CONTINUE;
		END IF;
		tpls := doc -> k;
		IF pg_catalog.jsonb_typeof(tpls) <> 'object' THEN
			RAISE EXCEPTION 'campaign "%" must be an object of channel: text', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.%s.', k), HINT = 'Use e.g. {"sms": "{given_name}, ..."}.';
		END IF;
		FOR ch IN SELECT pg_catalog.jsonb_object_keys(tpls) LOOP
			IF NOT ch = ANY (chans) THEN
				RAISE EXCEPTION 'template for channel "%" which the campaign does not use', pg_catalog.left(ch, 64)
					USING ERRCODE = '22023', DETAIL = pg_catalog.format('At $.%s.%s.', k, pg_catalog.left(ch, 64)),
					HINT = 'Give templates only for the channels listed in "channels".';
			END IF;
			IF pg_catalog.jsonb_typeof(tpls -> ch) <> 'string' THEN
				RAISE EXCEPTION 'a template must be text' USING ERRCODE = '22023',
					DETAIL = pg_catalog.format('At $.%s.%s.', k, ch), HINT = 'Use e.g. "{given_name}, ...".';
			END IF;
			PERFORM cdp_internal.campaign_template_check(tpls ->> ch, pg_catalog.format('$.%s.%s', k, ch),
				has_offer, purpose, reminder);
		END LOOP;
	END LOOP;
	FOR ch IN SELECT pg_catalog.unnest(chans) LOOP
		IF NOT coalesce(doc -> 'templates', '{}') ? ch THEN
			RAISE EXCEPTION 'no template for channel "%"', ch USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.templates.%s.', ch), HINT = 'Give one template per channel in "templates".';
		END IF;
	END LOOP;
	IF doc ? 'offer_templates' AND NOT (reminder AND has_offer) THEN
		RAISE EXCEPTION '"offer_templates" belong to a reminder with an offer' USING ERRCODE = '22023',
			DETAIL = 'At $.offer_templates.',
			HINT = 'A promotion carries its offer in "templates"; a reminder shows the benefit through "offer_templates".';
	END IF;
	d := d || pg_catalog.jsonb_build_object('templates', doc -> 'templates');
	IF doc ? 'offer_templates' THEN
		d := d || pg_catalog.jsonb_build_object('offer_templates', doc -> 'offer_templates');
	END IF;
	/* time zone, start, end */
	IF doc ? 'timezone' THEN
		IF pg_catalog.jsonb_typeof(doc -> 'timezone') <> 'string'
		   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = doc ->> 'timezone') THEN
			RAISE EXCEPTION 'unknown time zone "%"', pg_catalog.left(doc ->> 'timezone', 64) USING ERRCODE = '22023',
				DETAIL = 'At $.timezone.', HINT = 'Use an IANA name such as "Europe/Moscow".';
		END IF;
	END IF;
	d := d || pg_catalog.jsonb_build_object('timezone', coalesce(doc ->> 'timezone', 'Europe/Moscow'));
	IF doc ? 'start' THEN
		st := cdp_internal.campaign_time(doc -> 'start', '$.start');
		d := d || pg_catalog.jsonb_build_object('start', st);
	END IF;
	IF doc ? 'end' THEN
		en := cdp_internal.campaign_time(doc -> 'end', '$.end');
		IF st IS NOT NULL AND en <= st THEN
			RAISE EXCEPTION 'campaign ends before it starts' USING ERRCODE = '22023', DETAIL = 'At $.end.',
				HINT = 'Make "end" later than "start".';
		END IF;
		d := d || pg_catalog.jsonb_build_object('end', en);
	END IF;
	/* window: local hours [from, to) and ISO days of week (1 = Monday) */
	w := coalesce(doc -> 'window', '{"hours": [9, 21], "days": [1, 2, 3, 4, 5, 6, 7]}');
	IF pg_catalog.jsonb_typeof(w) <> 'object' OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(w) x WHERE x NOT IN ('hours', 'days')) THEN
		RAISE EXCEPTION 'campaign "window" must be {"hours": [from, to], "days": [...]}' USING ERRCODE = '22023',
			DETAIL = 'At $.window.', HINT = 'Use e.g. {"hours": [9, 20], "days": [1, 2, 3, 4, 5]}.';
	END IF;
	hrs := coalesce(w -> 'hours', '[9, 21]');
	IF pg_catalog.jsonb_typeof(hrs) <> 'array' OR pg_catalog.jsonb_array_length(hrs) <> 2
	   OR (hrs ->> 0) !~ '^[0-9]+$' OR (hrs ->> 1) !~ '^[0-9]+$' OR (hrs ->> 1)::int > 24 THEN
		RAISE EXCEPTION 'window "hours" must be two whole hours [from, to] between 0 and 24' USING ERRCODE = '22023',
			DETAIL = 'At $.window.hours.', HINT = 'Use e.g. [9, 20]: from 09:00 to 20:00 local time.';
	END IF;
	IF (hrs ->> 1)::int <= (hrs ->> 0)::int THEN
		RAISE EXCEPTION 'window ends before it starts: hours [%, %]', hrs ->> 0, hrs ->> 1 USING ERRCODE = '22023',
			DETAIL = 'At $.window.hours.', HINT = 'Give the start hour first, e.g. [9, 20].';
	END IF;
	days := coalesce(w -> 'days', '[1, 2, 3, 4, 5, 6, 7]');
	IF pg_catalog.jsonb_typeof(days) <> 'array' OR pg_catalog.jsonb_array_length(days) = 0
	   OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements_text(days) x WHERE x !~ '^[1-7]$') THEN
		RAISE EXCEPTION 'window "days" must be ISO days of week 1 (Monday) to 7 (Sunday)' USING ERRCODE = '22023',
			DETAIL = 'At $.window.days.', HINT = 'Use e.g. [1, 2, 3, 4, 5] for weekdays.';
	END IF;
	d := d || pg_catalog.jsonb_build_object('window', pg_catalog.jsonb_build_object('hours', hrs,
		'days', (SELECT pg_catalog.jsonb_agg(DISTINCT x::int) FROM pg_catalog.jsonb_array_elements_text(days) x)));
	/* cap: at most max marketing messages per period across campaigns, and a quiet period */
	IF doc ? 'cap' THEN
		cap := doc -> 'cap';
		IF pg_catalog.jsonb_typeof(cap) <> 'object' OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(cap) x WHERE x NOT IN ('max', 'per', 'quiet')) THEN
			RAISE EXCEPTION 'campaign "cap" must be {"max": n, "per": "30 days", "quiet": "3 days"}' USING ERRCODE = '22023',
				DETAIL = 'At $.cap.', HINT = 'Use e.g. {"max": 2, "per": "30 days", "quiet": "3 days"}.';
		END IF;
		IF cap ? 'max' AND (pg_catalog.jsonb_typeof(cap -> 'max') <> 'number' OR (cap ->> 'max') !~ '^[0-9]+$' OR (cap ->> 'max')::int < 1) THEN
			RAISE EXCEPTION 'cap "max" must be a whole number of messages, at least 1' USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.cap.max: %s.', cap -> 'max'),
				HINT = 'A cap of zero would send nothing: pause the campaign instead, or use e.g. "max": 2.';
		END IF;
		IF (cap ? 'max') <> (cap ? 'per') THEN
			RAISE EXCEPTION 'cap "max" and "per" go together' USING ERRCODE = '22023', DETAIL = 'At $.cap.',
				HINT = 'Use e.g. {"max": 2, "per": "30 days"}.';
		END IF;
		IF cap ? 'per' THEN
			PERFORM cdp_internal.campaign_interval(cap -> 'per', '$.cap.per');
		END IF;
		IF cap ? 'quiet' THEN
			PERFORM cdp_internal.campaign_interval(cap -> 'quiet', '$.cap.quiet');
		END IF;
		d := d || pg_catalog.jsonb_build_object('cap', cap);
	END IF;
	/* holdout and arms */
	IF doc ? 'holdout' AND (pg_catalog.jsonb_typeof(doc -> 'holdout') <> 'number'
	                        OR (doc ->> 'holdout')::numeric < 0 OR (doc ->> 'holdout')::numeric > 0.9) THEN
		RAISE EXCEPTION 'campaign "holdout" must be a share from 0 to 0.9' USING ERRCODE = '22023',
			DETAIL = 'At $.holdout.', HINT = 'Use e.g. "holdout": 0.1 to keep 10% of the members as a control group.';
	END IF;
	d := d || pg_catalog.jsonb_build_object('holdout', coalesce((doc ->> 'holdout')::numeric, 0));
	arms := coalesce(doc -> 'arms', '{"A": 1}');
	IF pg_catalog.jsonb_typeof(arms) <> 'object' OR arms = '{}' THEN
		RAISE EXCEPTION 'campaign "arms" must be an object of arm: share' USING ERRCODE = '22023', DETAIL = 'At $.arms.',
			HINT = 'Use e.g. {"A": 0.5, "B": 0.5}.';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(arms) LOOP
		IF k !~ '^[A-Za-z0-9_]{1,32}$' OR k = 'holdout' THEN
			RAISE EXCEPTION 'invalid arm name "%"', pg_catalog.left(k, 64) USING ERRCODE = '22023',
				DETAIL = 'At $.arms.', HINT = 'Use short names of letters and digits, such as "A" and "B".';
		END IF;
		IF pg_catalog.jsonb_typeof(arms -> k) <> 'number' OR (arms ->> k)::numeric <= 0 THEN
			RAISE EXCEPTION 'arm "%" needs a positive share', k USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At $.arms.%s.', k), HINT = 'Use e.g. {"A": 0.5, "B": 0.5}.';
		END IF;
		total := total + (arms ->> k)::numeric;
	END LOOP;
	IF pg_catalog.abs(total - 1) > 0.0001 THEN
		RAISE EXCEPTION 'arm shares add up to %, not 1', total USING ERRCODE = '22023', DETAIL = 'At $.arms.',
			HINT = 'Make the shares of the arms add up to 1 (the holdout is taken before the arms).';
	END IF;
	d := d || pg_catalog.jsonb_build_object('arms', arms);
	RETURN d;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_check(jsonb) IS
	'validates a campaign document and returns it normalised; 22023 with the JSON path of the bad key (internal)';

/* ------------------------------------------------------------------ events and API */

/* Applies one campaign event to the projections (the live path and the replay). */
CREATE FUNCTION cdp_internal.campaign_apply(ev bigint, kind text, at timestamptz, id bigint, payload jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IN ('campaign.created', 'campaign.edited') THEN
		INSERT INTO @extschema@.campaign_version (campaign_id, version, doc, at, event_id)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc', at, ev);
		INSERT INTO @extschema@.campaign AS c (campaign_id, version, name, status, doc, created_at, updated_at)
		VALUES (id, (payload ->> 'version')::int, payload -> 'doc' ->> 'name', 'draft', payload -> 'doc', at, at)
		ON CONFLICT (campaign_id) DO UPDATE SET version = excluded.version, name = excluded.name, doc = excluded.doc,
			updated_at = excluded.updated_at;
	ELSIF kind = 'campaign.status' THEN
		UPDATE @extschema@.campaign c SET status = payload ->> 'status', updated_at = at WHERE c.campaign_id = id;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_apply(bigint, text, timestamptz, bigint, jsonb) IS
	'applies one campaign event to cdp.campaign and cdp.campaign_version (internal)';

/* Appends a campaign event and applies it. */
CREATE FUNCTION cdp_internal.campaign_event(kind text, id bigint, payload jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ev	bigint := cdp_internal.append_event(kind, id, NULL, payload);
BEGIN
	PERFORM cdp_internal.campaign_apply(ev, kind, (SELECT e.at FROM @extschema@.event e WHERE e.event_id = ev), id, payload);
	RETURN ev;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_event(text, bigint, jsonb) IS
	'appends a campaign.* event to cdp.event and applies it to the projections (internal)';

/* The current row of a campaign, locked, or P0002. */
CREATE FUNCTION cdp_internal.campaign_get(id bigint, lock boolean) RETURNS @extschema@.campaign
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign;
BEGIN
	IF lock THEN
		SELECT * INTO c FROM @extschema@.campaign x WHERE x.campaign_id = id FOR UPDATE;
	ELSE
		SELECT * INTO c FROM @extschema@.campaign x WHERE x.campaign_id = id;
	END IF;
	IF c.campaign_id IS NULL THEN
		RAISE EXCEPTION 'campaign "%" does not exist', id USING ERRCODE = 'P0002',
			HINT = 'Pass a campaign_id returned by cdp.create_campaign.';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_get(bigint, boolean) IS
	'the current row of a campaign (optionally locked); P0002 when unknown (internal)';

/* Creates a campaign (status draft) from a validated document; returns its id. */
CREATE FUNCTION @extschema@.create_campaign(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d	jsonb := cdp_internal.campaign_check(doc);
	id	bigint := pg_catalog.nextval('@extschema@.campaign_id_seq');
BEGIN
	PERFORM cdp_internal.campaign_event('campaign.created', id, pg_catalog.jsonb_build_object('version', 1, 'doc', d));
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.create_campaign(jsonb) IS
	'creates a campaign (draft) from a document: name, segment or trigger, offer, purpose, channels in priority order, templates, window, cap, holdout, arms, start, end; returns its id';

/* Saves a new version of a campaign; rows already listed keep the version they were built from. */
CREATE FUNCTION @extschema@.edit_campaign(campaign_id bigint, doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(edit_campaign.campaign_id, true);
	d	jsonb := cdp_internal.campaign_check(doc);
BEGIN
	IF c.status IN ('done', 'archived') THEN
		RAISE EXCEPTION 'campaign "%" is %', c.campaign_id, c.status USING ERRCODE = '55000',
			HINT = 'Copy it with cdp.copy_campaign and edit the copy.';
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.edited', c.campaign_id,
		pg_catalog.jsonb_build_object('version', c.version + 1, 'doc', d));
	RETURN c.version + 1;
END
$$;
COMMENT ON FUNCTION @extschema@.edit_campaign(bigint, jsonb) IS
	'saves a new version of a campaign document (the old versions stay in cdp.campaign_version); returns the version number';

/* Copies a campaign's current document into a new draft, optionally renamed. */
CREATE FUNCTION @extschema@.copy_campaign(campaign_id bigint, name text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(copy_campaign.campaign_id, false);
	d	jsonb := c.doc;
BEGIN
	d := d || pg_catalog.jsonb_build_object('name', coalesce(copy_campaign.name, (d ->> 'name') || ' (копия)'));
	RETURN @extschema@.create_campaign(d);
END
$$;
COMMENT ON FUNCTION @extschema@.copy_campaign(bigint, text) IS
	'creates a new draft campaign from another''s current document (named "<name> (копия)" unless a name is given); returns its id';

/*
 * Moves a campaign to a status: draft, scheduled, running, paused, done, archived.  Archived
 * campaigns are restored to paused (archived => 'paused').  Pausing, finishing or archiving
 * cancels the campaign's unsent rows; an archived or finished campaign cannot be run again.
 */
CREATE FUNCTION @extschema@.set_campaign_status(campaign_id bigint, status text) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(set_campaign_status.campaign_id, true);
BEGIN
	IF status IS NULL OR NOT status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'archived') THEN
		RAISE EXCEPTION 'unknown campaign status "%"', pg_catalog.left(coalesce(status, 'null'), 64) USING ERRCODE = '22023',
			HINT = 'Use draft, scheduled, running, paused, done or archived.';
	END IF;
	IF c.status = status THEN
		RETURN status;
	END IF;
	IF c.status = 'done' AND status <> 'archived' OR c.status = 'archived' AND status NOT IN ('paused', 'draft') THEN
		RAISE EXCEPTION 'campaign "%" is % and cannot become %', c.campaign_id, c.status, status USING ERRCODE = '55000',
			HINT = 'Restore an archived campaign to paused; copy a finished one with cdp.copy_campaign.';
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.status', c.campaign_id,
		pg_catalog.jsonb_build_object('status', status, 'from', c.status));
	IF status IN ('paused', 'done', 'archived') THEN
		UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'campaign_' || status, refused_at = pg_catalog.now()
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'due';
	END IF;
	RETURN status;
END
$$;
COMMENT ON FUNCTION @extschema@.set_campaign_status(bigint, text) IS
	'moves a campaign to draft, scheduled, running, paused, done or archived (restore: archived -> paused); pausing, finishing or archiving cancels its unsent rows';

/* Archives (true) or restores (false, to paused) a campaign. */
CREATE FUNCTION @extschema@.archive_campaign(campaign_id bigint, archived boolean DEFAULT true) RETURNS text
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT @extschema@.set_campaign_status($1, CASE WHEN $2 THEN 'archived' ELSE 'paused' END)
$$;
COMMENT ON FUNCTION @extschema@.archive_campaign(bigint, boolean) IS
	'archives a campaign (archived => false restores it, paused); returns the new status';

/* Replays the campaign events into the projections; returns how many. */
CREATE FUNCTION @extschema@.rebuild_campaigns() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e	record;
	n	bigint := 0;
BEGIN
	LOCK TABLE @extschema@.campaign IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.campaign_version;
	DELETE FROM @extschema@.campaign;
	FOR e IN SELECT x.event_id, x.kind, x.at, x.subject, x.payload FROM @extschema@.event x
	          WHERE x.kind LIKE 'campaign.%' ORDER BY x.event_id LOOP
		PERFORM cdp_internal.campaign_apply(e.event_id, e.kind, e.at, e.subject, e.payload);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_campaigns() IS
	'replays the campaign.* events of cdp.event into cdp.campaign and cdp.campaign_version; returns the number of events';

/* ---- from sql/parts/86_campaign_send.sql ---- */

/* ------------------------------------------------------------------ tables */

CREATE SEQUENCE @extschema@.campaign_send_id_seq;
COMMENT ON SEQUENCE @extschema@.campaign_send_id_seq IS 'ids of send rows (cdp.send_list.send_id); gaps are normal';

CREATE TABLE @extschema@.campaign_send (
	send_id			bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.campaign_send_id_seq'),
	campaign_id		bigint NOT NULL,
	golden_id		bigint NOT NULL,
	trigger_key		text NOT NULL DEFAULT '',
	purpose			text NOT NULL,
	status			text NOT NULL CHECK (status IN ('due', 'sent', 'refused', 'cancelled', 'holdout', 'skipped')),
	reason			text,
	channel			text,
	address			text,
	arm				text,
	due_at			timestamptz,
	built_at		timestamptz NOT NULL,
	sent_at			timestamptz,
	sent_day		date,
	refused_at		timestamptz,
	message			text,
	provenance		jsonb NOT NULL DEFAULT '{}',
	delivered_at	timestamptz,
	opened_at		timestamptz,
	clicked_at		timestamptz,
	converted_at	timestamptz,
	revenue			numeric NOT NULL DEFAULT 0,
	bounced			text,
	unsubscribed_at	timestamptz,
	complained_at	timestamptz,
	returned_at		timestamptz
);
COMMENT ON TABLE @extschema@.campaign_send IS
	'send lists: one row per campaign, person and trigger key: a due, sent, refused or cancelled message on one channel, or the reason a member gets none; delivery outcomes folded in';
CREATE UNIQUE INDEX campaign_send_once_idx ON @extschema@.campaign_send (campaign_id, golden_id, trigger_key);
CREATE INDEX campaign_send_due_idx ON @extschema@.campaign_send (campaign_id, due_at) WHERE status = 'due';
CREATE INDEX campaign_send_golden_idx ON @extschema@.campaign_send (golden_id, status);
CREATE INDEX campaign_send_sent_idx ON @extschema@.campaign_send (campaign_id, sent_day) WHERE status = 'sent';
ALTER TABLE @extschema@.campaign_send ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_send FORCE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.campaign_address_block (
	address_key	text PRIMARY KEY,
	reason		text NOT NULL CHECK (reason IN ('hard_bounce', 'complaint')),
	at			timestamptz NOT NULL,
	send_id		bigint
);
COMMENT ON TABLE cdp_internal.campaign_address_block IS
	'addresses no campaign may use again: a hard bounce or a spam complaint (canonical address keys)';
ALTER TABLE cdp_internal.campaign_address_block ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.campaign_address_block FORCE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.campaign_preference (
	golden_id	bigint PRIMARY KEY,
	channel		text NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL
);
COMMENT ON TABLE cdp_internal.campaign_preference IS
	'the channel a person prefers for messages (projection of contact.preferred events)';
ALTER TABLE cdp_internal.campaign_preference ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.campaign_preference FORCE ROW LEVEL SECURITY;

/* ------------------------------------------------------------------ helpers */

/* A deterministic number in [0, 1) for a person in a campaign: holdout and arms. */
CREATE FUNCTION cdp_internal.campaign_hash(campaign_id bigint, golden_id bigint) RETURNS float8
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT (pg_catalog.hashtextextended($1::text || ':' || $2::text, 0)::float8 + 9223372036854775808.0)
	       / 18446744073709551616.0
$$;
COMMENT ON FUNCTION cdp_internal.campaign_hash(bigint, bigint) IS
	'a stable number in [0, 1) from the campaign and golden ids: the holdout and the A/B arms are cut from it (internal)';

/* The arm of a person: holdout below the holdout share, then the arms in name order by share. */
CREATE FUNCTION cdp_internal.campaign_arm(doc jsonb, h float8) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN h < (doc ->> 'holdout')::float8 THEN 'holdout' ELSE
	       coalesce((SELECT a.k FROM (SELECT x.key AS k,
	                                         pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	                                    FROM pg_catalog.jsonb_each(doc -> 'arms') x) a
	                  WHERE (h - (doc ->> 'holdout')::float8) / (1 - (doc ->> 'holdout')::float8) < a.upto
	                  ORDER BY a.upto LIMIT 1),
	                (SELECT pg_catalog.max(x) FROM pg_catalog.jsonb_object_keys(doc -> 'arms') x)) END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_arm(jsonb, float8) IS
	'holdout or the A/B arm of a hash value under a campaign document (internal)';

/* The time zone of a person: the city's, else the campaign's. */
CREATE FUNCTION cdp_internal.campaign_tz(city text, fallback text) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(cdp_internal.campaign_city_tz($1), $2, 'Europe/Moscow')
$$;
COMMENT ON FUNCTION cdp_internal.campaign_tz(text, text) IS
	'IANA time zone of a city, or the fallback (the campaign''s zone) (internal)';

/*
 * The first moment at or after t inside the window (local hours [from, to) on the listed ISO days)
 * in the zone tz; looks 8 days ahead, so a non-empty window always has one.
 */
CREATE FUNCTION cdp_internal.campaign_next_slot(t timestamptz, tz text, win jsonb) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	l		timestamp := t AT TIME ZONE tz;
	hf		int := (win -> 'hours' ->> 0)::int;
	ht		int := (win -> 'hours' ->> 1)::int;
	dd		date;
	c		timestamp;
BEGIN
	FOR i IN 0..8 LOOP
		dd := l::date + i;
		IF (win -> 'days') @> pg_catalog.to_jsonb(pg_catalog.date_part('isodow', dd)::int) THEN
			c := GREATEST(CASE WHEN i = 0 THEN l ELSE dd::timestamp END, dd + pg_catalog.make_interval(hours => hf));
			IF c < dd + pg_catalog.make_interval(hours => ht) THEN
				RETURN c AT TIME ZONE tz;
			END IF;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_next_slot(timestamptz, text, jsonb) IS
	'the next moment at or after t inside a send window in a time zone (internal)';

/* Canonical addresses of a person for a channel that a campaign may use: reachable, not blocked. */
CREATE FUNCTION cdp_internal.campaign_addresses(p @extschema@.patient, channel text, purpose text) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(pg_catalog.array_agg(a ORDER BY n), '{}') FROM (
		SELECT a, n FROM pg_catalog.unnest(cdp_internal.consent_addresses(p, channel)) WITH ORDINALITY u(a, n)
		 WHERE a IS NOT NULL
		   /* sms and messengers need a mobile number */
		   AND (channel NOT IN ('sms', 'messenger')
		        OR @extschema@.phone_kind(@extschema@.try_phone(a)) = 'mobile')
		   AND NOT EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = a)
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
		                    WHERE s.address_key = a AND s.purpose = campaign_addresses.purpose AND s.suppressed)) x
$$;
COMMENT ON FUNCTION cdp_internal.campaign_addresses(@extschema@.patient, text, text) IS
	'a person''s addresses for a channel that a campaign may use: mobile numbers for sms and messengers, not hard-bounced or complained about, not suppressed for the purpose (internal)';

/* Replaces the known {placeholders} of a template; values are text, never re-parsed. */
CREATE FUNCTION cdp_internal.campaign_render(tpl text, vals jsonb) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	out		text := '';
	rest	text := tpl;
	m		text[];
BEGIN
	LOOP
		m := pg_catalog.regexp_match(rest, '^(.*?)\{([a-z_]+)\}(.*)$', 's');
		EXIT WHEN m IS NULL;
		out := out || m[1] || coalesce(vals ->> m[2], '');
		rest := m[3];
	END LOOP;
	RETURN out || rest;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_render(text, jsonb) IS
	'renders a template: each {placeholder} replaced by its value once (a value containing braces is not expanded again) (internal)';

/*
 * Why a person may not get a marketing message at t: the cap of the campaign document counted
 * over every other marketing campaign's rows (sent, or due in the period), or NULL.
 */
CREATE FUNCTION cdp_internal.campaign_cap_reason(golden_id bigint, campaign_id bigint, doc jsonb, t timestamptz,
                                                 only_sent boolean) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN doc ->> 'purpose' = 'marketing' AND doc -> 'cap' ? 'max'
	             AND (SELECT pg_catalog.count(*) FROM @extschema@.campaign_send s
	                   WHERE s.golden_id = $1 AND s.campaign_id <> $2 AND s.purpose = 'marketing'
	                     AND (s.status = 'sent' AND s.sent_at > t - (doc -> 'cap' ->> 'per')::interval
	                          OR NOT only_sent AND s.status = 'due'
	                             AND s.due_at > t - (doc -> 'cap' ->> 'per')::interval
	                             AND s.due_at < t + (doc -> 'cap' ->> 'per')::interval))
	                 >= (doc -> 'cap' ->> 'max')::int
	            THEN 'capped' END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_cap_reason(bigint, bigint, jsonb, timestamptz, boolean) IS
	'capped when the person already has the campaign''s cap of marketing messages from other campaigns in the period (internal)';

/* The end of the quiet period after the person's last message of any campaign (or t). */
CREATE FUNCTION cdp_internal.campaign_quiet_until(golden_id bigint, campaign_id bigint, doc jsonb, t timestamptz)
	RETURNS timestamptz
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN doc -> 'cap' ? 'quiet' THEN
	       GREATEST(t, (SELECT pg_catalog.max(s.sent_at) FROM @extschema@.campaign_send s
	                     WHERE s.golden_id = $1 AND s.campaign_id <> $2 AND s.status = 'sent')
	                   + (doc -> 'cap' ->> 'quiet')::interval)
	       ELSE t END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_quiet_until(bigint, bigint, jsonb, timestamptz) IS
	'the first moment after the quiet period that follows the person''s last message (internal)';

/* Has a re-test recommended on a recommendation event been done since (a lab test of its code)? */
CREATE FUNCTION cdp_internal.campaign_retest_done(golden_id bigint, code text, since timestamptz) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT code IS NOT NULL AND EXISTS (
		SELECT 1 FROM @extschema@.clinical_event e
		 WHERE e.golden_id = $1 AND e.kind = 'lab_test' AND pg_catalog.upper(e.lab_code) = pg_catalog.upper($2)
		   AND e.at >= $3)
$$;
COMMENT ON FUNCTION cdp_internal.campaign_retest_done(bigint, text, timestamptz) IS
	'true when a lab test of the recommended code was taken at or after the recommendation (internal)';

/*
 * The decision for one member: a due message (channel, address, time, text) or the reason there
 * is none.  ctx carries the trigger's facts (due_date, test, since).  The guards, in order:
 * archived or erased; holdout; offer (validity on the day, sex, age, contraindications,
 * pregnancy); channel (the person's preference first if the campaign lists it, then the
 * campaign's order: consent for the purpose, a usable address); cap; quiet period and window
 * (within the campaign's end).
 */
CREATE FUNCTION cdp_internal.campaign_decide(c @extschema@.campaign, p @extschema@.patient, ctx jsonb, t timestamptz,
                                             OUT status text, OUT reason text, OUT channel text, OUT address text,
                                             OUT arm text, OUT due_at timestamptz, OUT message text, OUT provenance jsonb)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d			jsonb := c.doc;
	purpose		text := d ->> 'purpose';
	o			@extschema@.offer;
	why			text;
	chans		text[];
	pref		text;
	ch			text;
	addrs		text[];
	consented	boolean := false;
	reachable	boolean := false;
	tz			text;
	t0			timestamptz;
	day			date;
	benefit		boolean := false;
	tpl			text;
	vals		jsonb;
BEGIN
	provenance := pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}');
	IF p.golden_id IS NULL THEN
		status := 'skipped'; reason := 'erased'; RETURN;
	END IF;
	IF p.status = 'archived' THEN
		status := 'skipped'; reason := 'archived'; RETURN;
	END IF;
	arm := cdp_internal.campaign_arm(d, cdp_internal.campaign_hash(c.campaign_id, p.golden_id));
	IF arm = 'holdout' THEN
		status := 'holdout'; reason := 'holdout';
		due_at := GREATEST(t, (d ->> 'start')::timestamptz);
		RETURN;
	END IF;
	t0 := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	IF d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN
		status := 'skipped'; reason := 'campaign_ended'; RETURN;
	END IF;
	/* the offer: a promotion's offer must admit the person; a reminder only shows it when it does */
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		day := coalesce((ctx ->> 'due_date')::date, (t0 AT TIME ZONE (d ->> 'timezone'))::date);
		why := cdp_internal.offer_reason(p, o, day);
		provenance := provenance || pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version);
		IF d ? 'trigger' THEN
			benefit := why IS NULL;
		ELSIF why IS NOT NULL THEN
			status := 'skipped';
			reason := CASE WHEN why IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || why ELSE why END;
			RETURN;
		END IF;
	END IF;
	/* one channel: the preferred one if listed, then the campaign's priority */
	SELECT x.channel INTO pref FROM cdp_internal.campaign_preference x WHERE x.golden_id = p.golden_id;
	SELECT pg_catalog.array_agg(v ORDER BY (v = pref) DESC, n) INTO chans
	  FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(v, n);
	FOREACH ch IN ARRAY chans LOOP
		IF NOT @extschema@.may_contact(p.golden_id, purpose, ch) THEN
			CONTINUE;
		END IF;
		consented := true;
		IF pg_catalog.cardinality(cdp_internal.consent_addresses(p, ch)) > 0 THEN
			reachable := true;
		END IF;
		addrs := cdp_internal.campaign_addresses(p, ch, purpose);
		IF pg_catalog.cardinality(addrs) > 0 THEN
			channel := ch;
			address := addrs[1];
			EXIT;
		END IF;
	END LOOP;
	IF channel IS NULL THEN
		status := 'skipped';
		reason := CASE WHEN NOT consented THEN 'no_consent' WHEN NOT reachable THEN 'no_address' ELSE 'suppressed' END;
		RETURN;
	END IF;
	provenance := provenance || pg_catalog.jsonb_build_object('channel_rule',
		CASE WHEN channel = pref THEN 'preferred' ELSE 'priority' END, 'channels', chans);
	/* a reminder shows the offer's benefit only with marketing consent on that channel */
	IF benefit THEN
		benefit := d ? 'offer_templates' AND d -> 'offer_templates' ? channel
		           AND @extschema@.may_contact(p.golden_id, 'marketing', channel);
	END IF;
	/* cap, quiet period, window */
	reason := cdp_internal.campaign_cap_reason(p.golden_id, c.campaign_id, d, t0, false);
	IF reason IS NOT NULL THEN
		status := 'skipped'; channel := NULL; address := NULL; RETURN;
	END IF;
	tz := cdp_internal.campaign_tz(p.city, d ->> 'timezone');
	due_at := cdp_internal.campaign_next_slot(cdp_internal.campaign_quiet_until(p.golden_id, c.campaign_id, d, t0), tz, d -> 'window');
	IF d ->> 'end' IS NOT NULL AND due_at > (d ->> 'end')::timestamptz THEN
		status := 'skipped'; reason := 'outside_window'; channel := NULL; address := NULL; due_at := NULL; RETURN;
	END IF;
	/* the text */
	tpl := CASE WHEN benefit THEN d -> 'offer_templates' ->> channel ELSE d -> 'templates' ->> channel END;
	vals := pg_catalog.jsonb_build_object('given_name', p.given_name, 'patronymic', p.patronymic,
	                                      'family_name', p.family_name);
	IF o.offer_id IS NOT NULL AND (benefit OR NOT d ? 'trigger') THEN
		vals := vals || pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	IF purpose = 'treatment' THEN
		vals := vals || pg_catalog.jsonb_build_object('due_date', pg_catalog.to_char((ctx ->> 'due_date')::date, 'DD.MM.YYYY'),
		                                              'test', ctx ->> 'test');
	END IF;
	message := cdp_internal.campaign_render(tpl, vals);
	provenance := provenance || pg_catalog.jsonb_build_object('benefit', benefit, 'timezone', tz,
		'consent', (SELECT pg_catalog.jsonb_build_object('event_id', s.event_id, 'at', s.at, 'default', s.event_id IS NULL)
		              FROM (SELECT NULL::bigint AS event_id, NULL::timestamptz AS at) z
		              LEFT JOIN LATERAL (SELECT cs.event_id, cs.at FROM @extschema@.record r
		                                   JOIN @extschema@.consent_statement cs ON cs.record_id = r.record_id
		                                  WHERE r.golden_id = p.golden_id AND cs.purpose = (d ->> 'purpose') AND cs.channel = campaign_decide.channel
		                                  ORDER BY cs.at DESC, cs.event_id DESC LIMIT 1) s ON true));
	status := 'due';
	reason := NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_decide(@extschema@.campaign, @extschema@.patient, jsonb, timestamptz) IS
	'the send-list decision for one member: due on one channel, address and time with its text, or the reason none is sent (internal)';

/* Counts of a campaign's rows by status, and of the rows not sent by reason. */
CREATE FUNCTION cdp_internal.campaign_counts(campaign_id bigint, t timestamptz) RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_build_object('campaign_id', $1, 'at', $2,
	         'due', pg_catalog.count(*) FILTER (WHERE s.status = 'due'),
	         'sent', pg_catalog.count(*) FILTER (WHERE s.status = 'sent'),
	         'holdout', pg_catalog.count(*) FILTER (WHERE s.status = 'holdout'),
	         'not_sent', coalesce((SELECT pg_catalog.jsonb_object_agg(r.reason, r.n ORDER BY r.reason)
	                                 FROM (SELECT s2.reason, pg_catalog.count(*) AS n FROM @extschema@.campaign_send s2
	                                        WHERE s2.campaign_id = $1 AND s2.status IN ('skipped', 'refused', 'cancelled')
	                                        GROUP BY s2.reason) r), '{}'))
	  FROM @extschema@.campaign_send s WHERE s.campaign_id = $1
$$;
COMMENT ON FUNCTION cdp_internal.campaign_counts(bigint, timestamptz) IS
	'a campaign''s rows: due, sent, holdout, and the rows not sent by reason (internal)';

/*
 * Lists candidates (golden id, trigger key, context) of a campaign at t: persons already listed
 * for the key keep their row; skipped rows are decided again.  Returns counts by status and
 * reason.  Two rows of one campaign never go to one address: the later is skipped
 * (duplicate_address).  Wakes the senders with NOTIFY cdp_send_list.
 */
CREATE FUNCTION cdp_internal.campaign_list(c @extschema@.campaign, cand jsonb, t timestamptz) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM @extschema@.campaign_send s
	 WHERE s.campaign_id = c.campaign_id AND s.status = 'skipped'
	   AND (s.golden_id, s.trigger_key) IN (SELECT (x ->> 'g')::bigint, coalesce(x ->> 'k', '')
	                                          FROM pg_catalog.jsonb_array_elements(cand) x);
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	SELECT c.campaign_id, m.g, m.k, c.doc ->> 'purpose', d.status, d.reason, d.channel, d.address, d.arm, d.due_at,
	       t, d.message, d.provenance
	  FROM (SELECT DISTINCT ON (g, k) g, k, x -> 'ctx' AS ctx
	          FROM (SELECT coalesce(@extschema@.resolve_patient((x ->> 'g')::bigint), (x ->> 'g')::bigint) AS g,
	                       coalesce(x ->> 'k', '') AS k, x
	                  FROM pg_catalog.jsonb_array_elements(cand) x) y
	         ORDER BY g, k) m
	  LEFT JOIN @extschema@.patient p ON p.golden_id = m.g
	  CROSS JOIN LATERAL cdp_internal.campaign_decide(c, p, m.ctx, t) d
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send o
	                    WHERE o.campaign_id = c.campaign_id AND o.golden_id = m.g AND o.trigger_key = m.k)
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
	RETURN cdp_internal.campaign_after_list(c);
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list(@extschema@.campaign, jsonb, timestamptz) IS
	'writes the send-list rows of candidates (golden id, trigger key, context) one decision at a time and returns counts by status and reason (internal)';

/*
 * After a listing: one message per address per campaign (duplicate records of one person not
 * merged yet: the later row is skipped as duplicate_address), senders woken, counts returned.
 */
CREATE FUNCTION cdp_internal.campaign_after_list(c @extschema@.campaign) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res		jsonb;
BEGIN
	/* one message per address per campaign: duplicate records of one person not merged yet */
	WITH dup AS MATERIALIZED (
		SELECT x.send_id FROM (
			SELECT s2.send_id, s2.status, pg_catalog.row_number() OVER (PARTITION BY s2.trigger_key, s2.address
			                                                             ORDER BY s2.status <> 'sent', s2.send_id) AS rn
			  FROM @extschema@.campaign_send s2
			 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')) x
		 WHERE x.rn > 1 AND x.status = 'due')
	UPDATE @extschema@.campaign_send s SET status = 'skipped', reason = 'duplicate_address', channel = NULL,
	       address = NULL, message = NULL, due_at = NULL
	  FROM dup
	 WHERE s.send_id = dup.send_id;
	res := cdp_internal.campaign_counts(c.campaign_id, pg_catalog.now());
	IF (res ->> 'due')::bigint > 0 THEN
		PERFORM pg_catalog.pg_notify('cdp_send_list', c.campaign_id::text);
	END IF;
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_after_list(@extschema@.campaign) IS
	'after a listing: one message per address per campaign, NOTIFY cdp_send_list, counts by status and reason (internal)';

/*
 * The set-based form of campaign_list for a segment's members (build_send_list): the same
 * decisions as cdp_internal.campaign_decide for every member at once.  Consent per channel is the
 * segment's: its refresh (incremental, just before) records the channels each member may be
 * contacted through for its purpose, with the consent family's set form of cdp.may_contact; addresses
 * are the consent family's canonical keys (cdp.consent_address_key, written out here so that no
 * function call is made per address); counts of other campaigns' messages and the last message of
 * each person come from one pass each, the time zone from one lookup per city, the send window
 * from one computation per zone, the text from a fixed chain of replacements (braces in values
 * are masked first, so a value cannot expand).  test/pgtap/85_campaign.sql compares it with the
 * per-member path on random fixtures.
 */
CREATE FUNCTION cdp_internal.campaign_list_set(c @extschema@.campaign, sg @extschema@.segment, t timestamptz) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* the listing's cost estimates (fresh rows, no statistics) would start a JIT compile of seconds */
	AS $$
DECLARE
	d			jsonb := c.doc;
	purp		text := d ->> 'purpose';
	chans		text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(x, n) ORDER BY n);
	hold		float8 := (d ->> 'holdout')::float8;
	arm_names	text[];
	arm_upto	float8[];
	arm_lo		float8[];
	ids			bigint[];
	o			@extschema@.offer;
	offer_why	text;
	per_member	boolean := false;
	t0			timestamptz := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	day			date := (t0 AT TIME ZONE (d ->> 'timezone'))::date;
	vals_offer	jsonb := '{}';
	ctx			jsonb := pg_catalog.jsonb_build_object('segment', sg.segment_id, 'segment_version', sg.version);
BEGIN
	SELECT pg_catalog.array_agg(a.key ORDER BY a.key), pg_catalog.array_agg(a.upto ORDER BY a.key)
	  INTO arm_names, arm_upto
	  FROM (SELECT x.key, pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	          FROM pg_catalog.jsonb_each(d -> 'arms') x) a;
	/* lower bounds of the arms: arm i holds [arm_lo[i], arm_lo[i + 1]) of the hash, as in campaign_arm */
	arm_lo := ARRAY[0::float8] || arm_upto[1:pg_catalog.cardinality(arm_upto) - 1];
	SELECT coalesce(pg_catalog.array_agg(DISTINCT u.g), '{}') INTO ids
	  FROM @extschema@.segment_member sm CROSS JOIN LATERAL (SELECT sm.golden_id AS g) u
	 WHERE sm.segment_id = sg.segment_id AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x
	                    WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status <> 'skipped');
	DELETE FROM @extschema@.campaign_send x USING pg_catalog.unnest(ids) u(g)
	 WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status = 'skipped';
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		/* the segment already applied its offer's rules to its members; the validity is the day's */
		IF sg.offer_id IS DISTINCT FROM o.offer_id THEN
			per_member := true;
		ELSIF o.status <> 'active' THEN
			offer_why := 'offer_archived';
		ELSIF day < (o.doc ->> 'valid_from')::date THEN
			offer_why := 'offer_not_yet_valid';
		ELSIF day > (o.doc ->> 'valid_to')::date THEN
			offer_why := 'offer_expired';
		END IF;
		vals_offer := pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	IF pg_catalog.to_regclass('pg_temp.cdp_campaign_ok') IS NOT NULL THEN
		DROP TABLE pg_temp.cdp_campaign_ok;
	END IF;
	CREATE TEMP TABLE cdp_campaign_ok (g bigint, ch text, n int) ON COMMIT DROP;
	/* the channels each member may be contacted through, as the segment's refresh found them */
	INSERT INTO pg_temp.cdp_campaign_ok
	SELECT sm.golden_id, ch.ch, ch.n
	  FROM pg_catalog.unnest(ids) u(g)
	  JOIN @extschema@.segment_member sm ON sm.segment_id = sg.segment_id AND sm.golden_id = u.g
	 CROSS JOIN LATERAL pg_catalog.unnest(chans) WITH ORDINALITY ch(ch, n)
	 WHERE ch.ch = ANY (sm.channels);
	ANALYZE pg_temp.cdp_campaign_ok;
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	WITH m0 AS MATERIALIZED (
		SELECT p, u.g,
		       (pg_catalog.hashtextextended(c.campaign_id::text || ':' || u.g::text, 0)::float8 + 9223372036854775808.0)
		       / 18446744073709551616.0 AS h,
		       (SELECT x.channel FROM cdp_internal.campaign_preference x WHERE x.golden_id = u.g) AS pref
		  FROM pg_catalog.unnest(ids) u(g) LEFT JOIN @extschema@.patient p ON p.golden_id = u.g),
	tzs AS MATERIALIZED (
		SELECT z.city, cdp_internal.campaign_tz(z.city, d ->> 'timezone') AS tz
		  FROM (SELECT DISTINCT (m0.p).city FROM m0) z),
	m AS MATERIALIZED (
		SELECT m0.p, m0.g, m0.pref, tzs.tz,
		       CASE WHEN m0.h < hold THEN 'holdout'
		            ELSE arm_names[LEAST(pg_catalog.width_bucket((m0.h - hold) / (1 - hold), arm_lo), pg_catalog.cardinality(arm_names))]
		       END AS arm
		  FROM m0 LEFT JOIN tzs ON tzs.city IS NOT DISTINCT FROM (m0.p).city),
	other AS MATERIALIZED (
		SELECT x.golden_id AS g,
		       pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing'
		           AND (x.status = 'sent' AND x.sent_at > t0 - (d -> 'cap' ->> 'per')::interval
		                OR x.status = 'due' AND x.due_at > t0 - (d -> 'cap' ->> 'per')::interval
		                   AND x.due_at < t0 + (d -> 'cap' ->> 'per')::interval)) AS n_cap,
		       pg_catalog.max(x.sent_at) FILTER (WHERE x.status = 'sent') AS last_sent
		  FROM pg_catalog.unnest(ids) u(g)
		  JOIN @extschema@.campaign_send x ON x.golden_id = u.g
		 WHERE d ? 'cap' AND x.campaign_id <> c.campaign_id AND x.status IN ('sent', 'due')
		 GROUP BY x.golden_id),
	addr AS MATERIALIZED (
		SELECT m.g, ok.ch, ok.n, a.o, a.k,
		       (ok.ch NOT IN ('sms', 'messenger') OR @extschema@.phone_kind(@extschema@.try_phone(a.k)) = 'mobile')
		       AND NOT EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = a.k)
		       AND NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression su
		                        WHERE su.address_key = a.k AND su.purpose = purp AND su.suppressed) AS usable
		  FROM m
		  JOIN pg_temp.cdp_campaign_ok ok ON ok.g = m.g
		  CROSS JOIN LATERAL (
			SELECT a.o, coalesce(@extschema@.phone_e164(@extschema@.try_phone(a.v)), (@extschema@.try_email(a.v))::text, pg_catalog.lower(pg_catalog.btrim(a.v))) AS k
			  FROM (SELECT x ->> 'value' AS v, e.o
			          FROM pg_catalog.jsonb_array_elements(CASE WHEN ok.ch = 'email' THEN (m.p).emails
			                                                    WHEN ok.ch IN ('sms', 'messenger', 'call') THEN (m.p).phones
			                                                    WHEN ok.ch = 'social' THEN (m.p).handles END) WITH ORDINALITY e(x, o)
			         WHERE ok.ch <> 'social' OR x ->> 'network' = 'vk'
			        UNION ALL
			        SELECT (m.p).address, 1 WHERE ok.ch = 'post' AND (m.p).address IS NOT NULL) a
			 WHERE a.v IS NOT NULL) a
		 WHERE m.arm <> 'holdout'),
	best AS (
		SELECT DISTINCT ON (a.g) a.g, a.ch, a.k
		  FROM addr a JOIN m ON m.g = a.g
		 WHERE a.usable
		 ORDER BY a.g, (a.ch = m.pref) DESC, a.n, a.o),
	cnt AS (
		SELECT ok.g, pg_catalog.count(*) AS n_ok FROM pg_temp.cdp_campaign_ok ok GROUP BY ok.g),
	reach AS (
		SELECT a.g, pg_catalog.count(*) AS n_reach FROM addr a GROUP BY a.g),
	decided AS (
		SELECT m.*, b.ch, b.k AS addr,
		       CASE WHEN d -> 'cap' ? 'quiet' THEN GREATEST(t0, ot.last_sent + (d -> 'cap' ->> 'quiet')::interval) ELSE t0 END AS not_before,
		       CASE WHEN (m.p).golden_id IS NULL THEN 'erased'
		            WHEN (m.p).status = 'archived' THEN 'archived'
		            WHEN m.arm = 'holdout' THEN 'holdout'
		            WHEN d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN 'campaign_ended'
		            WHEN offer_why IS NOT NULL THEN offer_why
		            WHEN ofr.w IS NOT NULL THEN
		                 CASE WHEN ofr.w IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || ofr.w ELSE ofr.w END
		            WHEN b.ch IS NULL THEN CASE WHEN coalesce(ct.n_ok, 0) = 0 THEN 'no_consent' WHEN coalesce(rc.n_reach, 0) = 0 THEN 'no_address' ELSE 'suppressed' END
		            WHEN purp = 'marketing' AND d -> 'cap' ? 'max' AND coalesce(ot.n_cap, 0) >= (d -> 'cap' ->> 'max')::int THEN 'capped'
		       END AS why
		  FROM m
		  LEFT JOIN other ot ON ot.g = m.g
		  LEFT JOIN best b ON b.g = m.g
		  LEFT JOIN cnt ct ON ct.g = m.g
		  LEFT JOIN reach rc ON rc.g = m.g
		  /* the offer's rules for this member, asked once (only when the segment did not apply them) */
		  CROSS JOIN LATERAL (SELECT CASE WHEN per_member THEN cdp_internal.offer_reason(m.p, o, day) END AS w) ofr),
	slots AS (
		SELECT z.tz, z.nb, cdp_internal.campaign_next_slot(z.nb, z.tz, d -> 'window') AS due
		  FROM (SELECT DISTINCT x.tz, x.not_before AS nb FROM decided x WHERE x.why IS NULL) z),
	fin AS (
		SELECT x.*, sl.due, x.why IS NULL AND (d ->> 'end' IS NULL OR sl.due <= (d ->> 'end')::timestamptz) AS ok
		  FROM decided x LEFT JOIN slots sl ON sl.tz = x.tz AND sl.nb = x.not_before)
	SELECT c.campaign_id, x.g, '', purp,
	       CASE WHEN x.why = 'holdout' THEN 'holdout' WHEN x.ok THEN 'due' ELSE 'skipped' END,
	       CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END,
	       CASE WHEN x.ok THEN x.ch END,
	       CASE WHEN x.ok THEN x.addr END,
	       CASE WHEN x.why IN ('archived', 'erased') THEN NULL ELSE x.arm END,
	       CASE WHEN x.why = 'holdout' THEN t0 WHEN x.ok THEN x.due END,
	       t,
	       CASE WHEN x.ok THEN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(d -> 'templates' ->> x.ch,
			         '{given_name}', pg_catalog.replace(coalesce((x.p).given_name, ''), '{', U&'\FFF0')),
			         '{patronymic}', pg_catalog.replace(coalesce((x.p).patronymic, ''), '{', U&'\FFF0')),
			         '{family_name}', pg_catalog.replace(coalesce((x.p).family_name, ''), '{', U&'\FFF0')),
			         '{offer_name}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_name', ''), '{', U&'\FFF0')),
			         '{offer_until}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_until', ''), '{', U&'\FFF0')), U&'\FFF0', '{') END,
	       pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}')
	         || CASE WHEN o.offer_id IS NOT NULL THEN pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version) ELSE '{}' END
	         || CASE WHEN x.ok THEN pg_catalog.jsonb_build_object('channel_rule',
	                   CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans, 'benefit', false,
	                   'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t, 'event_id',
	                   (SELECT cs.event_id FROM @extschema@.record r
	                      JOIN @extschema@.consent_statement cs ON cs.record_id = r.record_id
	                     WHERE r.golden_id = x.g AND cs.purpose = purp AND cs.channel = x.ch
	                     ORDER BY cs.at DESC, cs.event_id DESC LIMIT 1)))
	                 ELSE '{}' END
	  FROM fin x
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
	DROP TABLE pg_temp.cdp_campaign_ok;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list_set(@extschema@.campaign, @extschema@.segment, timestamptz) IS
	'writes the send-list rows of a segment''s members in one pass: the set form of campaign_decide (internal)';

/* ------------------------------------------------------------------ API: lists */

/*
 * Builds (or tops up) the send list of a segment campaign at t: every current member of the
 * segment gets one row.  Idempotent: a person already listed keeps the row (due, sent, refused,
 * cancelled or holdout); a person skipped before is decided again.  A draft or scheduled campaign
 * becomes running.  Returns {"due", "sent", "holdout", "not_sent": {reason: n}}.
 */
CREATE FUNCTION @extschema@.build_send_list(campaign bigint, at timestamptz DEFAULT pg_catalog.now()) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c		@extschema@.campaign := cdp_internal.campaign_get(campaign, true);
	sg		@extschema@.segment;
	cand	jsonb;
	res		jsonb;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = '22004';
	END IF;
	IF c.status IN ('paused', 'done', 'archived') THEN
		RAISE EXCEPTION 'campaign "%" is %', c.campaign_id, c.status USING ERRCODE = '55000',
			HINT = 'Set it running with cdp.set_campaign_status(id, ''running'') (an archived one is restored to paused first).';
	END IF;
	IF c.doc ? 'trigger' THEN
		RAISE EXCEPTION 'campaign "%" is triggered per patient', c.campaign_id USING ERRCODE = '55000',
			HINT = 'Its rows are written by cdp.run_campaigns() (run_maintenance calls it).';
	END IF;
	SELECT * INTO sg FROM @extschema@.segment s WHERE s.segment_id = (c.doc ->> 'segment')::bigint;
	IF sg.status IS DISTINCT FROM 'active' THEN
		RAISE EXCEPTION 'segment "%" of campaign "%" is %', c.doc ->> 'segment', c.campaign_id, coalesce(sg.status, 'missing')
			USING ERRCODE = '55000', HINT = 'Restore the segment, or edit the campaign to use another.';
	END IF;
	IF c.status IN ('draft', 'scheduled') THEN
		PERFORM @extschema@.set_campaign_status(c.campaign_id, 'running');
	END IF;
	/* the members as of now: the segment's incremental refresh first (withdrawals since the last one) */
	PERFORM @extschema@.refresh_segment(sg.segment_id, 'incremental');
	IF sg.purpose = c.doc ->> 'purpose' THEN
		PERFORM cdp_internal.campaign_list_set(c, sg, at);
		res := cdp_internal.campaign_after_list(c);
	ELSE
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', m.golden_id, 'ctx',
		         pg_catalog.jsonb_build_object('segment', m.segment_id, 'segment_version', m.version))), '[]')
		  INTO cand
		  FROM @extschema@.segment_member m
		 WHERE m.segment_id = sg.segment_id;
		res := cdp_internal.campaign_list(c, cand, at);
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.list_built', c.campaign_id, res);
	/* the send-list build is audited with the patients it listed (doc/security.md) */
	PERFORM cdp_internal.acc_audit('campaign.send_list_built',
		ARRAY(SELECT x.golden_id FROM @extschema@.campaign_send x
		       WHERE x.campaign_id = c.campaign_id AND x.built_at = at AND x.status = 'due' ORDER BY x.golden_id),
		c.doc ->> 'purpose', res || pg_catalog.jsonb_build_object('campaign', c.name));
	RETURN res;
END
$$;
COMMENT ON FUNCTION @extschema@.build_send_list(bigint, timestamptz) IS
	'materialises who gets what, on which channel and address, and when, for every member of a campaign''s segment (idempotent); returns counts and the reasons of those not sent; e.g. build_send_list(1)';

/* Records a person's preferred channel (an event); NULL clears it. */
CREATE FUNCTION @extschema@.set_contact_preference(golden_id bigint, channel text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g	bigint := @extschema@.resolve_patient(set_contact_preference.golden_id);
	ev	bigint;
BEGIN
	IF g IS NULL THEN
		RAISE EXCEPTION 'patient "%" does not exist', set_contact_preference.golden_id USING ERRCODE = 'P0002';
	END IF;
	IF channel IS NOT NULL THEN
		PERFORM cdp_internal.consent_check(ARRAY['treatment'], ARRAY[channel]);
		IF channel = '*' THEN
			RAISE EXCEPTION 'a preference names one channel' USING ERRCODE = '22023',
				HINT = 'Use email, sms, messenger, social, call or post.';
		END IF;
	END IF;
	ev := cdp_internal.append_event('contact.preferred', NULL, g, pg_catalog.jsonb_build_object('channel', channel));
	DELETE FROM cdp_internal.campaign_preference x WHERE x.golden_id = g;
	IF channel IS NOT NULL THEN
		INSERT INTO cdp_internal.campaign_preference (golden_id, channel, at, event_id)
		VALUES (g, channel, pg_catalog.now(), ev);
	END IF;
	RETURN ev;
END
$$;
COMMENT ON FUNCTION @extschema@.set_contact_preference(bigint, text) IS
	'records the channel a person prefers (campaigns that list it choose it first); NULL clears it; returns the event id';

/*
 * The triggered campaigns' candidates at t, by kind:
 *   recommendation  a doctor's recommendation (with the trigger's code, if given) whose due date
 *                   falls within days_before days from t's day, due on or after it; key rec:<event>:<due>
 *   after_event     the person's latest event of the kind (and code) is "after" old, or older by
 *                   at most days_before + 1 days; key after:<event>
 *   birthday        the birthday falls within days_before days; key birthday:<year>
 */
CREATE FUNCTION cdp_internal.campaign_trigger_candidates(c @extschema@.campaign, t timestamptz) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	tr		jsonb := c.doc -> 'trigger';
	today	date := (t AT TIME ZONE (c.doc ->> 'timezone'))::date;
	ahead	int := coalesce((tr ->> 'days_before')::int, 0);
	res		jsonb;
BEGIN
	IF tr ->> 'kind' = 'recommendation' THEN
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', e.golden_id,
		         'k', 'rec:' || e.event_id || ':' || e.due_date,
		         'ctx', pg_catalog.jsonb_build_object('recommendation', e.event_id, 'due_date', e.due_date,
		                                              'test', coalesce(e.lab_code, e.specialty), 'since', e.at))), '[]')
		  INTO res
		  FROM @extschema@.clinical_event e
		 WHERE e.kind = 'recommendation' AND e.due_date BETWEEN today AND today + ahead
		   AND (tr ->> 'code' IS NULL OR pg_catalog.upper(e.lab_code) = pg_catalog.upper(tr ->> 'code'));
	ELSIF tr ->> 'kind' = 'after_event' THEN
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', x.golden_id, 'k', 'after:' || x.event_id,
		         'ctx', pg_catalog.jsonb_build_object('event', x.event_id, 'event_at', x.at))), '[]')
		  INTO res
		  FROM (SELECT DISTINCT ON (e.golden_id) e.golden_id, e.event_id, e.at
		          FROM @extschema@.clinical_event e
		         WHERE e.kind = tr ->> 'event'
		           AND (tr ->> 'code' IS NULL OR pg_catalog.upper(coalesce(e.lab_code, e.icd10, e.specialty)) = pg_catalog.upper(tr ->> 'code'))
		         ORDER BY e.golden_id, e.at DESC, e.event_id DESC) x
		 WHERE (x.at + (tr ->> 'after')::interval)::date BETWEEN today - 1 - ahead AND today + ahead;
	ELSE
		SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('g', p.golden_id,
		         'k', 'birthday:' || pg_catalog.date_part('year', today + ahead)::int,
		         'ctx', pg_catalog.jsonb_build_object('birthday', p.birth_date))), '[]')
		  INTO res
		  FROM @extschema@.patient p
		 WHERE p.status = 'active' AND p.birth_date IS NOT NULL
		   AND EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, ahead) i
		                WHERE pg_catalog.to_char(today + i, 'MM-DD') = pg_catalog.to_char(p.birth_date, 'MM-DD'));
	END IF;
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_trigger_candidates(@extschema@.campaign, timestamptz) IS
	'the persons a triggered campaign fires for at a time, each with its trigger key and facts (internal)';

/*
 * Runs every running triggered campaign at t (run_maintenance calls it): new candidates are
 * listed once per trigger key, so a due date never fires twice; a reminder whose re-test was
 * already done is skipped (already_done).  Campaigns past their end become done.  Returns the
 * counts per campaign.
 */
CREATE FUNCTION @extschema@.run_campaigns(at timestamptz DEFAULT pg_catalog.now()) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c		@extschema@.campaign;
	res		jsonb := '{}';
	cand	jsonb;
BEGIN
	FOR c IN SELECT * FROM @extschema@.campaign x WHERE x.status = 'running' ORDER BY x.campaign_id FOR UPDATE LOOP
		IF c.doc ->> 'end' IS NOT NULL AND (c.doc ->> 'end')::timestamptz < at THEN
			PERFORM @extschema@.set_campaign_status(c.campaign_id, 'done');
			CONTINUE;
		END IF;
		PERFORM @extschema@.refresh_campaign_metrics(c.campaign_id, 30);
		IF NOT c.doc ? 'trigger' OR (c.doc ->> 'start')::timestamptz > at THEN
			CONTINUE;
		END IF;
		cand := cdp_internal.campaign_trigger_candidates(c, at);
		res := res || pg_catalog.jsonb_build_object(c.campaign_id::text, cdp_internal.campaign_list(c, cand, at));
		/* a re-test done since the recommendation: nothing to remind */
		UPDATE @extschema@.campaign_send s SET status = 'skipped', reason = 'already_done', channel = NULL,
		       address = NULL, message = NULL, due_at = NULL
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'due' AND s.provenance ? 'recommendation'
		   AND cdp_internal.campaign_retest_done(s.golden_id, s.provenance ->> 'test', (s.provenance ->> 'since')::timestamptz);
	END LOOP;
	RETURN res;
END
$$;
COMMENT ON FUNCTION @extschema@.run_campaigns(timestamptz) IS
	'runs the triggered campaigns (re-test reminders, after-visit, birthdays) at a time and finishes campaigns past their end; run_maintenance calls it; returns counts per campaign';

/* Due rows for external senders: what to send, to which address, from when. */
CREATE VIEW @extschema@.send_list WITH (security_invoker = true, security_barrier = true) AS
	SELECT s.send_id, s.campaign_id, s.golden_id, s.channel, s.address, s.status, s.due_at, s.message, s.arm
	  FROM @extschema@.campaign_send s
	 WHERE s.status = 'due';
COMMENT ON VIEW @extschema@.send_list IS
	'messages due to be sent (status due): send_id, campaign, person, channel, address, due_at (send at or after), text, arm; senders call cdp.mark_sent(send_id)';

/* ---- from sql/parts/87_campaign_delivery.sql ---- */

/* ------------------------------------------------------------------ sending */

/*
 * Marks a due row sent after asking everything again: the campaign still running, the person
 * neither archived nor erased nor already sent this campaign under another id, consent for the
 * purpose and channel, the address still the person's and not blocked or suppressed, the offer
 * still admitting the person, a reminder's re-test not done yet, the cap.  Returns 'sent', or the
 * reason it refused (the row becomes refused).  Outside the window or inside a quiet period it
 * returns 'outside_window' or 'quiet_period' and the row stays due at the next allowed moment.
 * The row is locked first, so a withdrawal committing meanwhile is seen (it cancels the row).
 */
CREATE FUNCTION cdp_internal.campaign_mark(send_id bigint, now_ timestamptz) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	c		@extschema@.campaign;
	p		@extschema@.patient;
	o		@extschema@.offer;
	g		bigint;
	why		text;
	tz		text;
	nxt		timestamptz;
BEGIN
	IF campaign_mark.send_id IS NULL OR now_ IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = campaign_mark.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		RAISE EXCEPTION 'send "%" does not exist', campaign_mark.send_id USING ERRCODE = 'P0002',
			HINT = 'Pass a send_id read from cdp.send_list.';
	END IF;
	IF s.status = 'sent' THEN
		RETURN 'already_sent';
	ELSIF s.status <> 'due' THEN
		RETURN coalesce(s.reason, s.status);
	END IF;
	c := cdp_internal.campaign_get(s.campaign_id, false);
	g := @extschema@.resolve_patient(s.golden_id);
	IF g IS NOT NULL THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = g;
	END IF;
	IF c.status <> 'running' THEN
		why := 'campaign_' || c.status;
	ELSIF p.golden_id IS NULL OR EXISTS (SELECT 1 FROM @extschema@.event e
	                                      WHERE e.golden_id IN (s.golden_id, g) AND e.kind = 'patient.erased') THEN
		why := 'erased';
	ELSIF p.status = 'archived' THEN
		why := 'archived';
	ELSIF EXISTS (SELECT 1 FROM @extschema@.campaign_send x
	               WHERE x.campaign_id = s.campaign_id AND x.trigger_key = s.trigger_key AND x.status = 'sent'
	                 AND x.golden_id = ANY (ARRAY[g] || coalesce(cdp_internal.golden_absorbed(g), '{}'))) THEN
		why := 'duplicate';
	ELSIF NOT @extschema@.may_contact(g, s.purpose, s.channel) THEN
		why := 'no_consent';
	ELSIF EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = s.address) THEN
		why := 'address_invalid';
	ELSIF @extschema@.is_suppressed(s.address, s.purpose) THEN
		why := 'suppressed';
	ELSIF NOT s.address = ANY (cdp_internal.consent_addresses(p, s.channel)) THEN
		why := 'no_address';
	ELSIF s.provenance ? 'recommendation'
	      AND cdp_internal.campaign_retest_done(g, s.provenance ->> 'test', (s.provenance ->> 'since')::timestamptz) THEN
		why := 'already_done';
	ELSE
		why := cdp_internal.campaign_cap_reason(g, s.campaign_id, c.doc, now_, true);
	END IF;
	IF why IS NULL AND c.doc ? 'offer' AND (NOT c.doc ? 'trigger' OR (s.provenance ->> 'benefit')::boolean) THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (c.doc ->> 'offer')::bigint;
		why := cdp_internal.offer_reason(p, o, (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date);
		IF why IN ('expired', 'not_yet_valid', 'archived') THEN
			why := 'offer_' || why;
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE @extschema@.campaign_send x SET status = 'refused', reason = why, refused_at = now_
		 WHERE x.send_id = s.send_id;
		RETURN why;
	END IF;
	/* not now: the quiet period after the last message, or outside the window */
	tz := coalesce(s.provenance ->> 'timezone', cdp_internal.campaign_tz(p.city, c.doc ->> 'timezone'));
	nxt := cdp_internal.campaign_quiet_until(g, s.campaign_id, c.doc, now_);
	IF nxt > now_ THEN
		UPDATE @extschema@.campaign_send x SET due_at = cdp_internal.campaign_next_slot(nxt, tz, c.doc -> 'window')
		 WHERE x.send_id = s.send_id;
		RETURN 'quiet_period';
	END IF;
	nxt := cdp_internal.campaign_next_slot(now_, tz, c.doc -> 'window');
	IF nxt > now_ THEN
		UPDATE @extschema@.campaign_send x SET due_at = nxt WHERE x.send_id = s.send_id;
		RETURN 'outside_window';
	END IF;
	UPDATE @extschema@.campaign_send x SET status = 'sent', sent_at = now_,
	       sent_day = (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date
	 WHERE x.send_id = s.send_id;
	RETURN 'sent';
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_mark(bigint, timestamptz) IS
	'cdp.mark_sent at a given moment (tests and replays fix the clock) (internal)';

/* Marks a due row sent now; see cdp_internal.campaign_mark. */
CREATE FUNCTION @extschema@.mark_sent(send_id bigint) RETURNS text
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT cdp_internal.campaign_mark($1, pg_catalog.now())
$$;
COMMENT ON FUNCTION @extschema@.mark_sent(bigint) IS
	'marks a send row sent after re-checking consent, archive, erasure, contraindication, offer validity, cap and window at that moment; returns ''sent'' or the reason it refused; e.g. mark_sent(17)';

/* ------------------------------------------------------------------ cancellations */

/* A withdrawal cancels the unsent rows of the persons it concerns, for that purpose and channel. */
CREATE FUNCTION cdp_internal.campaign_on_consent() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'no_consent', refused_at = pg_catalog.now()
	  FROM (SELECT DISTINCT r.golden_id, n.purpose, n.channel
	          FROM consent_new n JOIN @extschema@.record r ON r.record_id = n.record_id
	         WHERE NOT n.granted) w
	 WHERE s.status = 'due' AND s.golden_id = w.golden_id AND s.purpose = w.purpose AND s.channel = w.channel
	   AND NOT @extschema@.may_contact(s.golden_id, s.purpose, s.channel);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_on_consent() IS
	'trigger: consent withdrawals cancel the unsent campaign rows they forbid (internal)';
CREATE TRIGGER campaign_on_consent AFTER INSERT ON @extschema@.consent_statement
	REFERENCING NEW TABLE AS consent_new FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_on_consent();
ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER campaign_on_consent;

/* An address suppressed for a purpose cancels the unsent rows to it. */
CREATE FUNCTION cdp_internal.campaign_on_suppression() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NEW.suppressed THEN
		UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'suppressed', refused_at = pg_catalog.now()
		 WHERE s.status = 'due' AND s.address = NEW.address_key AND s.purpose = NEW.purpose;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_on_suppression() IS
	'trigger: a suppressed address cancels the unsent campaign rows to it (internal)';
CREATE TRIGGER campaign_on_suppression AFTER INSERT OR UPDATE OF suppressed ON @extschema@.consent_suppression
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.campaign_on_suppression();
ALTER TABLE @extschema@.consent_suppression ENABLE ALWAYS TRIGGER campaign_on_suppression;

/* An archived patient's unsent rows are cancelled. */
CREATE FUNCTION cdp_internal.campaign_on_archive() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'archived', refused_at = pg_catalog.now()
	 WHERE s.status = 'due' AND s.golden_id = NEW.golden_id;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_on_archive() IS
	'trigger: archiving a patient cancels the unsent campaign rows of that patient (internal)';
CREATE TRIGGER campaign_on_archive AFTER UPDATE OF status ON @extschema@.patient
	FOR EACH ROW WHEN (NEW.status = 'archived' AND OLD.status IS DISTINCT FROM 'archived')
	EXECUTE FUNCTION cdp_internal.campaign_on_archive();
ALTER TABLE @extschema@.patient ENABLE ALWAYS TRIGGER campaign_on_archive;

/* ------------------------------------------------------------------ delivery events */

CREATE TABLE @extschema@.campaign_delivery (
	golden_id	bigint NOT NULL,
	send_id		bigint NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted',
	                                      'unsubscribed', 'complained')),
	at			timestamptz NOT NULL,
	event_key	text NOT NULL,
	detail		jsonb NOT NULL DEFAULT '{}',
	amount		numeric,
	recorded_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (send_id, event_key)
);
COMMENT ON TABLE @extschema@.campaign_delivery IS
	'delivery events from the gateways, once each (keyed by the provider''s event id, else kind and time)';
CREATE INDEX campaign_delivery_golden_idx ON @extschema@.campaign_delivery (golden_id);
ALTER TABLE @extschema@.campaign_delivery ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_delivery FORCE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.delivery_event_staging (
	send_id				bigint,
	kind				text,
	at					timestamptz,
	provider_event_id	text,
	detail				jsonb
);
COMMENT ON TABLE @extschema@.delivery_event_staging IS
	'COPY delivery events here, then call cdp.ingest_delivery_events() (bulk path of cdp.record_delivery_event)';
ALTER TABLE @extschema@.delivery_event_staging ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.delivery_event_staging FORCE ROW LEVEL SECURITY;

/*
 * Checks one delivery event and returns its key and amount; 22023 naming the field otherwise.
 * where names the event in messages (the staged row for the bulk path).
 */
CREATE FUNCTION cdp_internal.campaign_delivery_check(kind text, at timestamptz, detail jsonb, provider_id text, where_ text,
                                                     OUT event_key text, OUT amount numeric)
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IS NULL OR NOT kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted', 'unsubscribed', 'complained') THEN
		RAISE EXCEPTION 'unknown delivery event kind "%"', pg_catalog.left(coalesce(kind, 'null'), 64) USING ERRCODE = '22023',
			DETAIL = where_, HINT = 'Use sent, delivered, bounced, opened, clicked, converted, unsubscribed or complained.';
	END IF;
	IF at IS NULL THEN
		RAISE EXCEPTION 'a delivery event needs its time' USING ERRCODE = '22004', DETAIL = where_;
	END IF;
	IF detail IS NULL OR pg_catalog.jsonb_typeof(detail) <> 'object' THEN
		RAISE EXCEPTION 'delivery event detail must be a JSON object' USING ERRCODE = '22023', DETAIL = where_,
			HINT = 'Use e.g. {"event_id": "prov-123", "type": "hard"}.';
	END IF;
	IF kind = 'bounced' AND NOT coalesce(detail ->> 'type', '') IN ('hard', 'soft') THEN
		RAISE EXCEPTION 'a bounce is hard or soft' USING ERRCODE = '22023', DETAIL = where_ || ' (detail.type)',
			HINT = 'Give {"type": "hard"} for a permanent failure, {"type": "soft"} for a temporary one.';
	END IF;
	IF detail ? 'amount' THEN
		IF pg_catalog.jsonb_typeof(detail -> 'amount') <> 'number' OR (detail ->> 'amount')::numeric < 0 THEN
			RAISE EXCEPTION 'delivery event amount must be a number, 0 or more' USING ERRCODE = '22023',
				DETAIL = where_ || ' (detail.amount)', HINT = 'Use e.g. {"kind": "paid", "amount": 4500}.';
		END IF;
		amount := (detail ->> 'amount')::numeric;
	END IF;
	event_key := coalesce(provider_id, detail ->> 'event_id', kind || '@' || pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'));
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_delivery_check(text, timestamptz, jsonb, text, text) IS
	'validates a delivery event and gives its idempotency key (provider id, else kind and time) and amount (internal)';

/*
 * Folds new delivery events (rows of cdp.campaign_delivery just inserted) into their send rows and
 * feeds back: hard bounces and complaints block the address, unsubscribes withdraw the channel's
 * marketing consent (an event of the consent registry, which also suppresses the address).
 */
CREATE FUNCTION cdp_internal.campaign_delivery_fold(evs @extschema@.campaign_delivery[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	u	record;
BEGIN
	UPDATE @extschema@.campaign_send s SET
	       delivered_at = LEAST(s.delivered_at, a.delivered, a.opened),
	       opened_at = LEAST(s.opened_at, a.opened),
	       clicked_at = LEAST(s.clicked_at, a.clicked),
	       converted_at = LEAST(s.converted_at, a.converted),
	       revenue = s.revenue + a.revenue,
	       bounced = CASE WHEN a.hard THEN 'hard' WHEN a.soft AND s.bounced IS NULL THEN 'soft' ELSE s.bounced END,
	       unsubscribed_at = LEAST(s.unsubscribed_at, a.unsubscribed),
	       complained_at = LEAST(s.complained_at, a.complained)
	  FROM (SELECT e.send_id,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'delivered') AS delivered,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'opened') AS opened,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'clicked') AS clicked,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'converted') AS converted,
	               coalesce(pg_catalog.sum(e.amount) FILTER (WHERE e.kind = 'converted'), 0) AS revenue,
	               pg_catalog.bool_or(e.kind = 'bounced' AND e.detail ->> 'type' = 'hard') AS hard,
	               pg_catalog.bool_or(e.kind = 'bounced' AND e.detail ->> 'type' = 'soft') AS soft,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'unsubscribed') AS unsubscribed,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'complained') AS complained
	          FROM pg_catalog.unnest(evs) e GROUP BY e.send_id) a
	 WHERE s.send_id = a.send_id;
	INSERT INTO cdp_internal.campaign_address_block (address_key, reason, at, send_id)
	SELECT DISTINCT ON (s.address) s.address,
	       CASE WHEN e.kind = 'complained' THEN 'complaint' ELSE 'hard_bounce' END, e.at, e.send_id
	  FROM pg_catalog.unnest(evs) e JOIN @extschema@.campaign_send s ON s.send_id = e.send_id
	 WHERE (e.kind = 'complained' OR e.kind = 'bounced' AND e.detail ->> 'type' = 'hard') AND s.address IS NOT NULL
	 ORDER BY s.address, e.at
	ON CONFLICT (address_key) DO NOTHING;
	FOR u IN SELECT DISTINCT ON (s.golden_id, s.channel) s.golden_id, s.channel, s.address, e.at, e.send_id
	           FROM pg_catalog.unnest(evs) e JOIN @extschema@.campaign_send s ON s.send_id = e.send_id
	          WHERE e.kind = 'unsubscribed'
	          ORDER BY s.golden_id, s.channel, e.at LOOP
		PERFORM @extschema@.set_consent(u.golden_id, 'marketing', u.channel, false, u.at,
		                                'unsubscribe: send ' || u.send_id, u.address);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_delivery_fold(@extschema@.campaign_delivery[]) IS
	'folds new delivery events into their send rows; hard bounces and complaints block the address; unsubscribes withdraw marketing consent (internal)';

/*
 * Records one delivery event of a sent row: sent, delivered, bounced ({"type": "hard"|"soft"}),
 * opened, clicked, converted ({"kind": "booked"|"paid", "amount": n}), unsubscribed, complained.
 * Idempotent: the same event again (same detail.event_id, or same kind and time) returns
 * 'duplicate' and changes nothing.  An unknown send id: P0002; a row never marked sent: 55000.
 */
CREATE FUNCTION @extschema@.record_delivery_event(send_id bigint, kind text, at timestamptz, detail jsonb DEFAULT '{}')
	RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	k		record;
	ev		@extschema@.campaign_delivery;
BEGIN
	IF record_delivery_event.send_id IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	k := cdp_internal.campaign_delivery_check(kind, at, coalesce(detail, '{}'), NULL,
	                                          pg_catalog.format('Delivery event "%s" of send %s.', kind, record_delivery_event.send_id));
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = record_delivery_event.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		RAISE EXCEPTION 'send "%" does not exist', record_delivery_event.send_id USING ERRCODE = 'P0002',
			HINT = 'Delivery events name a send_id read from cdp.send_list.';
	END IF;
	IF s.status <> 'sent' THEN
		RAISE EXCEPTION 'send "%" was not sent (it is %)', s.send_id, s.status USING ERRCODE = '55000',
			HINT = 'Call cdp.mark_sent(send_id) before handing the message to the gateway.';
	END IF;
	INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
	VALUES (s.golden_id, s.send_id, kind, at, k.event_key, coalesce(detail, '{}'), k.amount)
	ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
	RETURNING * INTO ev;
	IF ev.send_id IS NULL THEN
		RETURN 'duplicate';
	END IF;
	PERFORM cdp_internal.campaign_delivery_fold(ARRAY[ev]);
	RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION @extschema@.record_delivery_event(bigint, text, timestamptz, jsonb) IS
	'records a delivery event of a sent message once (webhook retries count once); returns ''recorded'' or ''duplicate''; e.g. record_delivery_event(17, ''delivered'', now())';

/*
 * The bulk path: every row COPYed into cdp.delivery_event_staging is checked (one bad row: 22023 or
 * P0002 naming it, and nothing is written), recorded once, folded, and removed from the staging
 * table.  Returns {"staged", "recorded", "duplicates"}.
 */
CREATE FUNCTION @extschema@.ingest_delivery_events() RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n_staged	bigint;
	evs			@extschema@.campaign_delivery[];
	bad			record;
BEGIN
	LOCK TABLE @extschema@.delivery_event_staging IN EXCLUSIVE MODE;
	SELECT pg_catalog.count(*) INTO n_staged FROM @extschema@.delivery_event_staging;
	SELECT x.send_id, x.kind, x.rn INTO bad
	  FROM (SELECT st.send_id, st.kind, pg_catalog.row_number() OVER () AS rn, s.status
	          FROM @extschema@.delivery_event_staging st
	          LEFT JOIN @extschema@.campaign_send s ON s.send_id = st.send_id) x
	 WHERE x.status IS DISTINCT FROM 'sent' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'staged delivery event for a send that % (send_id %)',
			CASE WHEN bad.send_id IS NULL THEN 'is not named' ELSE 'does not exist or was not sent' END, bad.send_id
			USING ERRCODE = 'P0002', DETAIL = pg_catalog.format('Staged row %s (kind "%s").', bad.rn, bad.kind),
			HINT = 'Fix or delete the row in cdp.delivery_event_staging and call cdp.ingest_delivery_events() again; nothing was recorded.';
	END IF;
	/* the first row campaign_delivery_check would refuse, checked by it (its message names the row) */
	PERFORM cdp_internal.campaign_delivery_check(x.kind, x.at, coalesce(x.detail, '{}'), x.provider_event_id,
	                                             pg_catalog.format('Staged row %s (send %s).', x.rn, x.send_id))
	   FROM (SELECT t.*, pg_catalog.row_number() OVER () AS rn FROM @extschema@.delivery_event_staging t) x
	  WHERE x.kind IS NULL OR x.kind NOT IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted', 'unsubscribed', 'complained')
	     OR x.at IS NULL OR (x.detail IS NOT NULL AND pg_catalog.jsonb_typeof(x.detail) <> 'object')
	     OR x.kind = 'bounced' AND NOT coalesce(x.detail ->> 'type', '') IN ('hard', 'soft')
	     OR x.detail ? 'amount' AND CASE WHEN pg_catalog.jsonb_typeof(x.detail -> 'amount') = 'number'
	                                     THEN (x.detail ->> 'amount')::numeric < 0 ELSE true END
	  LIMIT 1;
	/* every row is valid: recorded once each (the same key as campaign_delivery_check's, written out) */
	WITH ins AS (
		INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
		SELECT DISTINCT ON (st.send_id, st.k) s.golden_id, st.send_id, st.kind, st.at, st.k, coalesce(st.detail, '{}'),
		       (st.detail ->> 'amount')::numeric
		  FROM (SELECT t.*, coalesce(t.provider_event_id, t.detail ->> 'event_id',
		                             t.kind || '@' || pg_catalog.to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')) AS k
		          FROM @extschema@.delivery_event_staging t) st
		  JOIN @extschema@.campaign_send s ON s.send_id = st.send_id
		 ORDER BY st.send_id, st.k, st.at
		ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
		RETURNING d.*)
	SELECT pg_catalog.array_agg(ins) INTO evs FROM ins;
	IF evs IS NOT NULL THEN
		PERFORM cdp_internal.campaign_delivery_fold(evs);
	END IF;
	DELETE FROM @extschema@.delivery_event_staging;
	RETURN pg_catalog.jsonb_build_object('staged', n_staged, 'recorded', coalesce(pg_catalog.cardinality(evs), 0),
	                                     'duplicates', n_staged - coalesce(pg_catalog.cardinality(evs), 0));
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_delivery_events() IS
	'records every delivery event COPYed into cdp.delivery_event_staging (all or nothing; duplicates counted once) and empties it; returns counts';

/* ------------------------------------------------------------------ metrics */

/*
 * Marks the sent and holdout rows whose person came back for a visit within `days` days after the
 * message (after the planned moment, for the holdout); run_campaigns refreshes the running and
 * recent campaigns.  Returns the rows marked.
 */
CREATE FUNCTION @extschema@.refresh_campaign_metrics(campaign_id bigint DEFAULT NULL, days int DEFAULT 30) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	IF days IS NULL OR days < 1 OR days > 366 THEN
		RAISE EXCEPTION 'days must be between 1 and 366' USING ERRCODE = '22023';
	END IF;
	UPDATE @extschema@.campaign_send s SET returned_at = v.at
	  FROM (SELECT s2.send_id, pg_catalog.min(e.at) AS at
	          FROM @extschema@.campaign_send s2
	          JOIN @extschema@.clinical_event e ON e.golden_id = s2.golden_id AND e.kind = 'visit'
	               AND e.at > coalesce(s2.sent_at, s2.due_at)
	               AND e.at <= coalesce(s2.sent_at, s2.due_at) + pg_catalog.make_interval(days => refresh_campaign_metrics.days)
	         WHERE (refresh_campaign_metrics.campaign_id IS NULL OR s2.campaign_id = refresh_campaign_metrics.campaign_id)
	           AND s2.status IN ('sent', 'holdout') AND s2.returned_at IS NULL
	         GROUP BY s2.send_id) v
	 WHERE s.send_id = v.send_id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_campaign_metrics(bigint, int) IS
	'marks the messages (and holdout rows) after which the person came back for a visit within N days (the "returning" metric); returns the rows marked';

/* Per campaign, day sent (the campaign's time zone), channel and arm: the delivery funnel and its rates. */
CREATE VIEW @extschema@.campaign_metrics WITH (security_invoker = true) AS
	SELECT s.campaign_id, s.sent_day AS day, s.channel, s.arm,
	       pg_catalog.count(*) AS sent,
	       pg_catalog.count(s.delivered_at) AS delivered,
	       pg_catalog.round(pg_catalog.count(s.delivered_at)::numeric / pg_catalog.count(*), 4) AS deliverability,
	       pg_catalog.count(s.opened_at) AS opened,
	       pg_catalog.count(s.clicked_at) AS clicked,
	       pg_catalog.round(pg_catalog.count(s.clicked_at)::numeric / NULLIF(pg_catalog.count(s.delivered_at), 0), 4) AS ctr,
	       pg_catalog.round(pg_catalog.count(s.clicked_at)::numeric / NULLIF(pg_catalog.count(s.opened_at), 0), 4) AS click_to_open,
	       pg_catalog.count(s.converted_at) AS converted,
	       pg_catalog.round(pg_catalog.count(s.converted_at)::numeric / NULLIF(pg_catalog.count(s.delivered_at), 0), 4) AS conversion_rate,
	       pg_catalog.sum(s.revenue) AS revenue,
	       pg_catalog.count(s.bounced) AS bounced,
	       pg_catalog.count(*) FILTER (WHERE s.bounced = 'hard') AS hard_bounced,
	       pg_catalog.count(s.unsubscribed_at) AS unsubscribed,
	       pg_catalog.count(s.complained_at) AS complained,
	       pg_catalog.count(s.returned_at) AS returned
	  FROM @extschema@.campaign_send s
	 WHERE s.status = 'sent'
	 GROUP BY s.campaign_id, s.sent_day, s.channel, s.arm;
COMMENT ON VIEW @extschema@.campaign_metrics IS
	'by campaign, day sent, channel and arm: sent, delivered, deliverability, opened, clicked, CTR (clicked/delivered), click-to-open, converted, conversion rate (converted/delivered), revenue, bounces, unsubscribes, complaints, returning patients';

/* The funnel per campaign and channel: sent -> delivered -> opened -> clicked -> converted. */
CREATE VIEW @extschema@.campaign_funnel WITH (security_invoker = true) AS
	SELECT m.campaign_id, m.channel, f.step, f.stage, f.n,
	       pg_catalog.round(f.n::numeric / NULLIF(m.sent, 0), 4) AS share_of_sent
	  FROM (SELECT x.campaign_id, x.channel, pg_catalog.sum(x.sent) AS sent, pg_catalog.sum(x.delivered) AS delivered,
	               pg_catalog.sum(x.opened) AS opened, pg_catalog.sum(x.clicked) AS clicked, pg_catalog.sum(x.converted) AS converted
	          FROM @extschema@.campaign_metrics x GROUP BY x.campaign_id, x.channel) m
	 CROSS JOIN LATERAL (VALUES (1, 'sent', m.sent), (2, 'delivered', m.delivered), (3, 'opened', m.opened),
	                            (4, 'clicked', m.clicked), (5, 'converted', m.converted)) f(step, stage, n);
COMMENT ON VIEW @extschema@.campaign_funnel IS
	'the funnel of each campaign and channel: sent, delivered, opened, clicked, converted, with the share of sent';

/*
 * Uplift of each arm against the holdout on the "returning" metric (a visit within the days of
 * cdp.refresh_campaign_metrics after the message, or after the planned moment for the holdout):
 * the difference of the two shares with a 95% Wald confidence interval.  Needs both groups.
 */
CREATE FUNCTION @extschema@.campaign_uplift(campaign_id bigint)
	RETURNS TABLE (arm text, members bigint, returned bigint, rate float8, holdout_members bigint,
	               holdout_returned bigint, holdout_rate float8, uplift float8, ci_low float8, ci_high float8)
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH g AS (
		SELECT s.arm, pg_catalog.count(*) AS n, pg_catalog.count(s.returned_at) AS r
		  FROM @extschema@.campaign_send s
		 WHERE s.campaign_id = $1 AND s.status IN ('sent', 'holdout')
		 GROUP BY s.arm),
	h AS (SELECT g.n, g.r, g.r::float8 / g.n AS p FROM g WHERE g.arm = 'holdout')
	SELECT g.arm, g.n, g.r, g.r::float8 / g.n, h.n, h.r, h.p,
	       g.r::float8 / g.n - h.p,
	       g.r::float8 / g.n - h.p - 1.959964 * pg_catalog.sqrt((g.r::float8 / g.n) * (1 - g.r::float8 / g.n) / g.n + h.p * (1 - h.p) / h.n),
	       g.r::float8 / g.n - h.p + 1.959964 * pg_catalog.sqrt((g.r::float8 / g.n) * (1 - g.r::float8 / g.n) / g.n + h.p * (1 - h.p) / h.n)
	  FROM g CROSS JOIN h
	 WHERE g.arm <> 'holdout'
	 ORDER BY g.arm
$$;
COMMENT ON FUNCTION @extschema@.campaign_uplift(bigint) IS
	'uplift of each arm over the holdout in the share of returning patients, with a 95% confidence interval; e.g. SELECT * FROM campaign_uplift(1)';

/* recommendations gain an optional lab code or service, so a reminder can name the test (sql/parts/74_golden_clinical.sql) */
/*
 * Validates a clinical event of a given kind and returns its typed columns as JSON (keys named
 * like the columns of cdp.clinical_event).  Unknown keys are refused.
 */
CREATE OR REPLACE FUNCTION cdp_internal.golden_clinical_columns(kind text, attrs jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	allowed		text[];
	k			text;
	c			jsonb;
	rng			text[];
	code		text;
BEGIN
	allowed := CASE kind
		WHEN 'visit' THEN ARRAY['at', 'type', 'status', 'doctor', 'specialty']
		WHEN 'lab_test' THEN ARRAY['code', 'result', 'unit', 'reference_range', 'ref_low', 'ref_high', 'taken_at']
		WHEN 'diagnosis' THEN ARRAY['code', 'at']
		WHEN 'sick_leave' THEN ARRAY['number', 'from', 'to']
		WHEN 'recommendation' THEN ARRAY['text', 'due_date', 'due_in', 'at', 'code', 'service']
		END || ARRAY['record_source_id', 'patient_source_id', 'note'];
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'clinical event attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(attrs) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown attribute "%" for clinical event kind "%"', k, kind
				USING ERRCODE = '22023',
				HINT = pg_catalog.format('Use some of: %s.', pg_catalog.array_to_string(allowed, ', '));
		END IF;
	END LOOP;
	IF kind = 'visit' THEN
		c := pg_catalog.jsonb_build_object(
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz,
			'visit_type', cdp_internal.golden_attr(attrs, 'type', 'text', false),
			'visit_status', coalesce(cdp_internal.golden_attr(attrs, 'status', 'text', false), 'booked'),
			'doctor', cdp_internal.golden_attr(attrs, 'doctor', 'text', false),
			'specialty', cdp_internal.golden_attr(attrs, 'specialty', 'text', false));
		IF NOT coalesce(c ->> 'visit_type', 'first') IN ('first', 'repeat') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "type": "%"', c ->> 'visit_type'
				USING ERRCODE = '22P02', HINT = 'Use first or repeat.';
		END IF;
		IF NOT (c ->> 'visit_status') IN ('booked', 'came', 'in_appointment', 'done') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "status": "%"', c ->> 'visit_status'
				USING ERRCODE = '22P02', HINT = 'Use booked, came, in_appointment or done.';
		END IF;
	ELSIF kind = 'lab_test' THEN
		c := pg_catalog.jsonb_build_object(
			'lab_code', cdp_internal.golden_attr(attrs, 'code', 'text', true),
			'lab_result', cdp_internal.golden_attr(attrs, 'result', 'text', true),
			'lab_unit', cdp_internal.golden_attr(attrs, 'unit', 'text', false),
			'at', cdp_internal.golden_attr(attrs, 'taken_at', 'timestamptz', true)::timestamptz,
			'ref_low', cdp_internal.golden_attr(attrs, 'ref_low', 'numeric', false)::numeric,
			'ref_high', cdp_internal.golden_attr(attrs, 'ref_high', 'numeric', false)::numeric,
			'ref_text', cdp_internal.golden_attr(attrs, 'reference_range', 'text', false));
		IF c ->> 'ref_text' IS NOT NULL AND c ->> 'ref_low' IS NULL AND c ->> 'ref_high' IS NULL THEN
			rng := pg_catalog.regexp_match(c ->> 'ref_text', '^\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*[-–]\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*$');
			IF rng IS NOT NULL THEN
				c := c || pg_catalog.jsonb_build_object('ref_low', pg_catalog.replace(rng[1], ',', '.')::numeric,
				                                        'ref_high', pg_catalog.replace(rng[2], ',', '.')::numeric);
			END IF;
		END IF;
		IF (c ->> 'ref_low')::numeric > (c ->> 'ref_high')::numeric THEN
			RAISE EXCEPTION 'clinical event reference range is empty: "ref_low" % is above "ref_high" %',
				c ->> 'ref_low', c ->> 'ref_high' USING ERRCODE = '22023';
		END IF;
	ELSIF kind = 'diagnosis' THEN
		code := pg_catalog.upper(pg_catalog.btrim(cdp_internal.golden_attr(attrs, 'code', 'text', true)));
		IF code !~ '^[A-Z][0-9]{2}(\.[0-9]{1,2})?$' THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "code": "%"', attrs ->> 'code'
				USING ERRCODE = '22P02',
				DETAIL = 'A diagnosis code is an ICD-10 code: a letter, two digits, and optionally a dot and one or two digits.',
				HINT = 'Use a code such as E11 or E11.9.';
		END IF;
		c := pg_catalog.jsonb_build_object('icd10', code,
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz);
	ELSIF kind = 'sick_leave' THEN
		c := pg_catalog.jsonb_build_object(
			'sick_leave_number', cdp_internal.golden_attr(attrs, 'number', 'text', true),
			'sick_from', cdp_internal.golden_attr(attrs, 'from', 'date', true)::date,
			'sick_to', cdp_internal.golden_attr(attrs, 'to', 'date', true)::date);
		IF (c ->> 'sick_to')::date < (c ->> 'sick_from')::date THEN
			RAISE EXCEPTION 'clinical event attribute "to" (%) is before "from" (%)', c ->> 'sick_to', c ->> 'sick_from'
				USING ERRCODE = '22023';
		END IF;
		c := c || pg_catalog.jsonb_build_object('at', (c ->> 'sick_from')::date::timestamp AT TIME ZONE 'UTC');
	ELSIF kind = 'recommendation' THEN
		c := pg_catalog.jsonb_build_object(
			'recommendation', cdp_internal.golden_attr(attrs, 'text', 'text', true),
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', false)::timestamptz,
			-- the lab code or service to re-test (issue 14: reminders name the test)
			'lab_code', pg_catalog.upper(pg_catalog.btrim(cdp_internal.golden_attr(attrs, 'code', 'text', false))),
			'specialty', cdp_internal.golden_attr(attrs, 'service', 'text', false),
			'due_date', cdp_internal.golden_attr(attrs, 'due_date', 'date', false)::date);
		IF attrs ? 'due_in' THEN
			IF c ->> 'due_date' IS NOT NULL OR c ->> 'at' IS NULL THEN
				RAISE EXCEPTION 'clinical event attribute "due_in" needs "at" and excludes "due_date"'
					USING ERRCODE = '22023',
					HINT = 'Give {"at": "2024-03-01T10:00:00+03:00", "due_in": "3 months"} or {"due_date": "2024-06-01"}.';
			END IF;
			c := c || pg_catalog.jsonb_build_object('due_date',
				(((c ->> 'at')::timestamptz AT TIME ZONE 'UTC')
				 + cdp_internal.golden_attr(attrs, 'due_in', 'interval', true)::interval)::date);
		END IF;
	ELSE
		RAISE EXCEPTION 'invalid clinical event kind "%"', kind
			USING ERRCODE = '22023', HINT = 'Use visit, lab_test, diagnosis, sick_leave or recommendation.';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_clinical_columns(text, jsonb) IS
	'validates a clinical event''s attrs for its kind and returns its typed columns as JSON (internal)';

/* cdp.run_maintenance runs its steps through cdp.maintenance_step, as the owner, so that cdp_scheduler may
   call it; it also runs the triggered campaigns (sql/parts/75_golden_archive.sql); replaces the segments section's version */
/*
 * One step of cdp.run_maintenance, in the caller's transaction, with the owner's rights (the steps
 * read and write the private schema, which no clinic role may; EXECUTE is the role check:
 * cdp_scheduler and cdp_admin):
 *   matching   an incremental matching run
 *   golden     one batch of batch_size events of the golden projections' catch-up
 * Returns the events the golden catch-up still has to read (0 for the other steps).
 *   segments   the segments due for their automatic refresh (issue 13)
 *   campaigns  the triggered campaigns, finished campaigns and their metrics (issue 14)
 */
CREATE FUNCTION @extschema@.maintenance_step(step text, batch_size int DEFAULT 1000) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	lo		bigint;
	hi		bigint;
	top		bigint;
	ids		bigint[];
BEGIN
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	CASE step
	WHEN 'matching' THEN
		PERFORM @extschema@.run_matching('incremental');
		RETURN 0;
	WHEN 'golden' THEN
		SELECT coalesce(pg_catalog.max(e.event_id), 0) INTO top FROM @extschema@.event e;
		SELECT s.last_event_id INTO lo FROM cdp_internal.golden_state s;
		IF lo >= top THEN
			RETURN 0;
		END IF;
		hi := least(lo + batch_size, top);
		SELECT pg_catalog.array_agg(DISTINCT x) INTO ids FROM (
			SELECT e.golden_id AS x FROM @extschema@.event e
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.golden_id IS NOT NULL
			UNION
			SELECT r.golden_id FROM @extschema@.event e JOIN @extschema@.record r ON r.record_id = e.subject
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.kind IN ('record.created', 'record.updated')) t;
		PERFORM cdp_internal.refresh_patients(ids);
		UPDATE cdp_internal.golden_state SET last_event_id = hi;
		RETURN top - hi;
	WHEN 'segments' THEN
		PERFORM @extschema@.refresh_due_segments();	/* segments due for their automatic refresh (issue 13, doc/segments.md) */
		RETURN 0;
	WHEN 'campaigns' THEN
		PERFORM @extschema@.run_campaigns(pg_catalog.now());	/* re-test reminders and other triggers, finished campaigns, metrics (issue 14) */
		RETURN 0;
	ELSE
		RAISE EXCEPTION 'unknown maintenance step "%"', pg_catalog.left(coalesce(step, 'null'), 64) USING ERRCODE = '22023',
			HINT = 'Use matching, golden, segments or campaigns.';
	END CASE;
END
$$;
COMMENT ON FUNCTION @extschema@.maintenance_step(text, int) IS
	'one step of cdp.run_maintenance (matching, golden, segments, campaigns) in the caller''s transaction, as the owner; returns the events the golden catch-up has left';

CREATE OR REPLACE PROCEDURE @extschema@.run_maintenance(batch_size int DEFAULT 1000)
	LANGUAGE plpgsql
	AS $$
DECLARE
	lock_key constant bigint := 7307770001;
	left_	bigint;
	rounds	bigint;
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(lock_key) THEN
		RAISE NOTICE 'cdp.run_maintenance is already running in another session';
		RETURN;
	END IF;
	PERFORM @extschema@.maintenance_step('matching', batch_size);
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	/* the events there were at the start, batch by batch (events arriving meanwhile wait for the next run) */
	left_ := @extschema@.maintenance_step('golden', batch_size);
	rounds := left_ / batch_size + 1;
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	WHILE left_ > 0 AND rounds > 0 LOOP
		left_ := @extschema@.maintenance_step('golden', batch_size);
		rounds := rounds - 1;
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END LOOP;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	PERFORM @extschema@.maintenance_step('segments', batch_size);
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	PERFORM @extschema@.maintenance_step('campaigns', batch_size);
	COMMIT;
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	PERFORM pg_catalog.pg_advisory_unlock(lock_key);
END
$$;
COMMENT ON PROCEDURE @extschema@.run_maintenance(int) IS
	'matching increment plus golden projection catch-up, in short committed batches under an advisory lock; schedule with pg_cron';

REVOKE ALL ON PROCEDURE @extschema@.run_maintenance(int) FROM PUBLIC;

/* cdp_internal functions of this section: no EXECUTE for PUBLIC (as sql/parts/90_privileges.sql does at install) */
DO $privileges$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace
		   AND p.proname OPERATOR(pg_catalog.~) '^campaign_'
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$privileges$;

/* every table and sequence of this section is dumped whole (as sql/parts/95_dump.sql does at install) */
DO $dump$
DECLARE
	r	regclass;
BEGIN
	FOR r IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@'::regnamespace, 'cdp_internal'::regnamespace])
		   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'S']::"char"[])
		   AND (c.relname OPERATOR(pg_catalog.~) '^campaign' OR c.relname OPERATOR(pg_catalog.=) 'delivery_event_staging')
		 ORDER BY c.relname
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(r, '');
	END LOOP;
END
$dump$;

/* ==== end of section: campaigns ==== */


/* ==== section: access (issue 15) ==== */

/* -- from sql/parts/90_privileges.sql -- */
/*
 * sql/parts/90_privileges.sql: least privilege, and the access family's grant matrix (issue 15).
 *
 * Every function of the private schema cdp_internal is revoked from PUBLIC (the schema grants no
 * USAGE either; the revoke keeps a later GRANT USAGE from opening them), and so is every SECURITY
 * DEFINER function of the API.  cdp_internal.acc_lock_down() does it from the catalog, so a function
 * added by any family is covered without a list here; it runs here and again at the end of the
 * access parts (94_acc_audit.sql), which create functions of their own.
 * test/sql/00_install.sql lists every SECURITY DEFINER function PUBLIC can execute (none) and every
 * table without row-level security (only ones without personal data).
 *
 * The clinic's roles (cdp_admin, cdp_registrar, ...; created by cdp.setup_roles(), 91_acc_roles.sql)
 * get privileges on the documented API in schema cdp only, never on cdp_internal.  What each role
 * gets is the table cdp_internal.acc_privilege below, one row per (role, object, privilege): the
 * single source of truth that cdp.setup_roles() applies and that doc/security.md lists (a TAP test,
 * test/t/056_access_docs.pl, compares the document with what each role can use).
 */
CREATE FUNCTION cdp_internal.acc_lock_down(spare regprocedure[] DEFAULT '{}') RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure
		  FROM pg_catalog.pg_proc p
		 WHERE ((p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::regnamespace AND p.prosecdef)
				OR p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace)
		   AND p.oid OPERATOR(pg_catalog.<>) ALL (COALESCE(spare, '{}')::oid[])
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_lock_down(regprocedure[]) IS
	'revokes from PUBLIC every function of cdp_internal and every SECURITY DEFINER function of cdp but the spared ones (install, update, setup_roles)';
/*
 * In a fresh install cdp_internal._restore_replace_installed is created by sql/parts/95_dump.sql,
 * after the access parts revoke every internal function from PUBLIC, so it keeps PUBLIC's EXECUTE
 * there (harmless: a trigger function cannot be called but as a trigger; cdp.setup_roles() revokes
 * it).  The update spares it so that an updated catalog equals a fresh one.
 */
SELECT cdp_internal.acc_lock_down(ARRAY['cdp_internal._restore_replace_installed()']::pg_catalog.regprocedure[]);

/* a reviewer's free-text note may name people */
ALTER TABLE @extschema@.pair_decision ENABLE ROW LEVEL SECURITY;

/*
 * The grant matrix.  kind is 'function' (object = a regprocedure's text, privilege EXECUTE) or
 * 'table' (object = a regclass's text, privilege SELECT, INSERT, UPDATE or DELETE).  Rows name
 * objects of schema cdp only (a CHECK refuses cdp_internal).  Row-level security decides which rows
 * a table privilege shows (92_acc_policies.sql).
 */
CREATE TABLE cdp_internal.acc_privilege (
	role		text NOT NULL
		CONSTRAINT acc_privilege_role_check CHECK (role OPERATOR(pg_catalog.~) '^cdp_[a-z]+$'),
	kind		text NOT NULL
		CONSTRAINT acc_privilege_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'table'])),
	object		text NOT NULL
		CONSTRAINT acc_privilege_api_only CHECK (object OPERATOR(pg_catalog.~~) 'cdp.%'),
	privilege	text NOT NULL
		CONSTRAINT acc_privilege_privilege_check
		CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['EXECUTE', 'SELECT', 'INSERT', 'UPDATE', 'DELETE'])),
	PRIMARY KEY (role, kind, object, privilege)
);
COMMENT ON TABLE cdp_internal.acc_privilege IS
	'the grant matrix of the clinic roles but cdp_admin (which gets every function and table of schema cdp): role, privilege, object (applied by cdp.setup_roles)';

/*
 * A restore copies the dumped rows of the access family's tables (95_dump.sql dumps every table)
 * over the rows CREATE EXTENSION (or cdp.setup_roles) installed: a row with the key of an existing
 * one replaces it, so the dumped matrix, registry and pseudonym key win, as in
 * cdp_internal._restore_replace_installed.  In normal use no insert meets an existing key.
 */
CREATE FUNCTION cdp_internal.acc_restore_replace() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_privilege' THEN
		DELETE FROM cdp_internal.acc_privilege p
		 WHERE p.role OPERATOR(pg_catalog.=) NEW.role AND p.kind OPERATOR(pg_catalog.=) NEW.kind
		   AND p.object OPERATOR(pg_catalog.=) NEW.object AND p.privilege OPERATOR(pg_catalog.=) NEW.privilege;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_table' THEN
		DELETE FROM cdp_internal.acc_table t WHERE t.tbl OPERATOR(pg_catalog.=) NEW.tbl;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_key' THEN
		DELETE FROM cdp_internal.acc_key k WHERE k.one OPERATOR(pg_catalog.=) NEW.one;
	ELSE
		RAISE EXCEPTION 'cdp_internal.acc_restore_replace is not a trigger of table "%"', TG_TABLE_NAME
			USING ERRCODE = 'wrong_object_type';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_restore_replace() IS
	'internal trigger: a row copied in by a restore replaces the installed one (acc_privilege, acc_table, acc_key)';
CREATE TRIGGER acc_privilege_restore BEFORE INSERT ON cdp_internal.acc_privilege
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_privilege ENABLE ALWAYS TRIGGER acc_privilege_restore;

/* -- from sql/parts/91_acc_roles.sql -- */
/*
 * sql/parts/91_acc_roles.sql: the clinic's roles (issue 15, item 1).
 *
 * Eight NOLOGIN group roles, created by cdp.setup_roles() when the DBA decides (roles are
 * cluster-wide objects, so CREATE EXTENSION creates none); logins are mapped to them by
 * cdp.grant_role(login, role, scope) and cdp.revoke_role(login, role), both audited.  A SECURITY
 * DEFINER function of the access family checks its caller's role with cdp_internal.acc_require():
 * the caller is the role the session acts as (SET ROLE) or else its login, never the function's
 * owner.  doc/security.md says what each role may do and lists every privilege.
 */

/* The roles and what each may do (the documented list; doc/security.md repeats it). */
CREATE FUNCTION cdp_internal.acc_roles(OUT role text, OUT capability text) RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES
	('cdp_admin', 'administers cdp: every API function, reads every table of schema cdp, maps logins to roles'),
	('cdp_registrar', 'reception and call centre: finds, creates and edits patients and contacts; no diagnoses, no lab results'),
	('cdp_doctor', 'clinical data of the patients in the scope of its grant (specialties or patients), recommendations with due dates'),
	('cdp_marketer', 'pseudonymous, masked profiles and counts; a contact address only for a patient who consented to the channel'),
	('cdp_analyst', 'aggregates with groups under 5 suppressed and pseudonymous, masked profiles without contacts'),
	('cdp_dpo', 'data protection officer: the audit log and its report, legal holds, erasure, full profiles on request'),
	('cdp_scheduler', 'runs scheduled maintenance (run_matching) from pg_cron'),
	('cdp_sender', 'a sending gateway: reads the contact address of a consented patient for a send, nothing else')
$$;
COMMENT ON FUNCTION cdp_internal.acc_roles() IS 'the clinic roles of cdp and what each may do';

/* Which login holds which role, with its scope (a doctor's specialties or patients). */
CREATE TABLE cdp_internal.acc_grant (
	login		text NOT NULL,
	role		text NOT NULL,
	scope		jsonb,
	granted_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	granted_by	text NOT NULL,
	PRIMARY KEY (login, role)
);
COMMENT ON TABLE cdp_internal.acc_grant IS
	'logins mapped to clinic roles by cdp.grant_role, with the scope of each grant (e.g. a doctor''s specialties)';

/*
 * The role a call acts for.  Inside a SECURITY DEFINER function current_user is the function's
 * owner; the session's SET ROLE (the GUC role, which a definer function does not change) or else
 * the login (session_user) is who called.  Setting role is checked for membership by PostgreSQL,
 * so it cannot name a role the session may not act as.
 */
CREATE FUNCTION cdp_internal.acc_caller() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN pg_catalog.current_setting('role') OPERATOR(pg_catalog.=) 'none'
				THEN SESSION_USER::text ELSE pg_catalog.current_setting('role') END
$$;
COMMENT ON FUNCTION cdp_internal.acc_caller() IS
	'the role the calling session acts as (SET ROLE, else the login), also inside SECURITY DEFINER functions';

/* Does the caller act as a superuser or as a member of one of roles? Never raises. */
CREATE FUNCTION cdp_internal.acc_is(roles text[]) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles c
					WHERE c.rolname OPERATOR(pg_catalog.=) cdp_internal.acc_caller()
					  AND (c.rolsuper OR EXISTS (
						  SELECT 1 FROM pg_catalog.pg_roles g
						   WHERE g.rolname OPERATOR(pg_catalog.=) ANY (roles)
							 AND pg_catalog.pg_has_role(c.oid, g.oid, 'MEMBER'))))
$$;
COMMENT ON FUNCTION cdp_internal.acc_is(text[]) IS
	'true when the caller is a superuser or a member of one of the given roles';

/* Raises insufficient_privilege unless the caller holds one of roles (or is a superuser). */
CREATE FUNCTION cdp_internal.acc_require(roles text[], action text) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT cdp_internal.acc_is(roles) THEN
		RAISE EXCEPTION 'permission denied for %', action
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" is not a member of %s.', cdp_internal.acc_caller(),
											 pg_catalog.array_to_string(roles, ' or ')),
				  HINT = 'An admin maps logins to roles with cdp.grant_role(login, role).';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_require(text[], text) IS
	'raises 42501 unless the caller is a superuser or a member of one of the given roles';

/*
 * setup_roles: creates the missing roles, then (re)applies the grant matrix, the pseudonym key and
 * the row-level security policies; idempotent.  It runs with its caller's rights: it refuses a
 * caller without CREATEROLE, and one that is neither a superuser nor the owner of cdp's objects
 * (who alone can grant on them).  An existing role of the same name that is a superuser or
 * bypasses row-level security is refused rather than used.
 */
CREATE FUNCTION @extschema@.setup_roles() RETURNS TABLE (role text, action text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	r			record;
	v_me		pg_catalog.pg_roles;
BEGIN
	SELECT * INTO v_me FROM pg_catalog.pg_roles m WHERE m.rolname OPERATOR(pg_catalog.=) CURRENT_USER;
	IF NOT (v_me.rolsuper OR v_me.rolcreaterole) THEN
		RAISE EXCEPTION 'permission denied to set up the cdp roles'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" has no CREATEROLE attribute.', CURRENT_USER),
				  HINT = 'Run cdp.setup_roles() as a superuser or as the owner of extension cdp with CREATEROLE.';
	END IF;
	IF NOT v_me.rolsuper AND NOT pg_catalog.pg_has_role(CURRENT_USER,
			(SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) '@extschema@.patient'::pg_catalog.regclass),
			'MEMBER') THEN
		RAISE EXCEPTION 'permission denied to set up the cdp roles'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" does not own the objects of extension cdp, so it cannot grant on them.', CURRENT_USER),
				  HINT = 'Run cdp.setup_roles() as a superuser.';
	END IF;

	FOR r IN SELECT a.role, a.capability, g.rolsuper, g.rolbypassrls, g.oid IS NOT NULL AS present
			   FROM cdp_internal.acc_roles() a LEFT JOIN pg_catalog.pg_roles g ON g.rolname OPERATOR(pg_catalog.=) a.role
			  ORDER BY a.role
	LOOP
		IF r.present AND (r.rolsuper OR r.rolbypassrls) THEN
			RAISE EXCEPTION 'role "%" exists and is not safe for cdp', r.role
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'It is a superuser or bypasses row-level security; cdp''s group roles must be neither.',
					  HINT = pg_catalog.format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS, or drop it, then run cdp.setup_roles() again.', r.role);
		END IF;
		IF NOT r.present THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', r.role);
			role := r.role; action := 'created';
		ELSE
			role := r.role; action := 'updated';
		END IF;
		EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', r.role, 'cdp: ' OPERATOR(pg_catalog.||) r.capability);
		/* exactly the matrix: what an earlier version granted and this one does not is taken back */
		EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM %I', r.role);
		EXECUTE pg_catalog.format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM %I', r.role);
		EXECUTE pg_catalog.format('REVOKE ALL ON ALL PROCEDURES IN SCHEMA @extschema@ FROM %I', r.role);
		EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA @extschema@ TO %I', r.role);
		RETURN NEXT;
	END LOOP;
	/* functions created after the install's own lock-down (later parts, later updates) too */
	PERFORM cdp_internal.acc_lock_down();
	PERFORM cdp_internal.acc_apply_privileges();
	PERFORM cdp_internal.acc_ensure_key();
	PERFORM cdp_internal.acc_apply_policies();
END
$$;
COMMENT ON FUNCTION @extschema@.setup_roles() IS
	'creates the clinic roles (cdp_admin, cdp_registrar, ...) if missing and applies their grants and policies; idempotent; needs CREATEROLE';

/*
 * Applies cdp_internal.acc_privilege to the roles that exist, and gives cdp_admin EXECUTE on every
 * function and procedure of the API and SELECT on every table and view of it (row-level security
 * still decides its rows: no clinical data).
 */
CREATE FUNCTION cdp_internal.acc_apply_privileges() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	record;
BEGIN
	FOR p IN SELECT a.* FROM cdp_internal.acc_privilege a
			  WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) a.role)
			  ORDER BY a.role, a.kind, a.object, a.privilege
	LOOP
		IF p.kind OPERATOR(pg_catalog.=) 'function' THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %I', p.object::pg_catalog.regprocedure, p.role);
		ELSE
			EXECUTE pg_catalog.format('GRANT %s ON TABLE %s TO %I', p.privilege, p.object::pg_catalog.regclass, p.role);
		END IF;
	END LOOP;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) 'cdp_admin') THEN
		GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ TO cdp_admin;
		GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA @extschema@ TO cdp_admin;
		GRANT SELECT ON ALL TABLES IN SCHEMA @extschema@ TO cdp_admin;
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_apply_privileges() IS 'grants what cdp_internal.acc_privilege lists to the roles that exist';

/*
 * grant_role / revoke_role: map a login to a clinic role (GRANT role TO login) with a scope, and
 * back; each is an event (access.role_granted / access.role_revoked) and an audit row, in the same
 * transaction.  For cdp_admin only.  The login must exist and may not be a superuser (which would
 * see everything anyway: say so rather than pretend).
 */
CREATE FUNCTION @extschema@.grant_role(login text, role text, scope jsonb DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin'], 'cdp.grant_role');
	PERFORM cdp_internal.acc_check_grant(login, role, scope);
	EXECUTE pg_catalog.format('GRANT %I TO %I', role, login);
	INSERT INTO cdp_internal.acc_grant AS g (login, role, scope, granted_by)
	VALUES (login, role, scope, cdp_internal.acc_caller())
	ON CONFLICT ON CONSTRAINT acc_grant_pkey DO UPDATE
	   SET scope = EXCLUDED.scope, granted_at = EXCLUDED.granted_at, granted_by = EXCLUDED.granted_by;
	PERFORM cdp_internal.append_event('access.role_granted', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role, 'scope', scope));
	PERFORM cdp_internal.acc_audit('role.granted', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role, 'scope', scope));
END
$$;
COMMENT ON FUNCTION @extschema@.grant_role(text, text, jsonb) IS
	'maps a login to a clinic role with an optional scope (e.g. {"specialties": ["кардиолог"]} for a doctor); audited; cdp_admin only';

CREATE FUNCTION @extschema@.revoke_role(login text, role text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_had	boolean;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin'], 'cdp.revoke_role');
	PERFORM cdp_internal.acc_check_grant(login, role, NULL);
	EXECUTE pg_catalog.format('REVOKE %I FROM %I', role, login);
	DELETE FROM cdp_internal.acc_grant g
	 WHERE g.login OPERATOR(pg_catalog.=) revoke_role.login AND g.role OPERATOR(pg_catalog.=) revoke_role.role;
	v_had := FOUND;
	PERFORM cdp_internal.append_event('access.role_revoked', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role));
	PERFORM cdp_internal.acc_audit('role.revoked', NULL, NULL,
		pg_catalog.jsonb_build_object('login', login, 'role', role, 'was_granted', v_had));
	RETURN v_had;
END
$$;
COMMENT ON FUNCTION @extschema@.revoke_role(text, text) IS
	'takes a clinic role back from a login; audited; returns whether cdp had granted it; cdp_admin only';

/* The checks grant_role and revoke_role share; raises naming what is wrong. */
CREATE FUNCTION cdp_internal.acc_check_grant(login text, role text, scope jsonb) RETURNS void
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_login		pg_catalog.pg_roles;
BEGIN
	IF login IS NULL OR role IS NULL THEN
		RAISE EXCEPTION 'login and role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.acc_roles() a WHERE a.role OPERATOR(pg_catalog.=) acc_check_grant.role) THEN
		RAISE EXCEPTION 'unknown cdp role: "%"', pg_catalog.left(role, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use one of cdp_admin, cdp_registrar, cdp_doctor, cdp_marketer, cdp_analyst, cdp_dpo, cdp_scheduler, cdp_sender.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) acc_check_grant.role) THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object', HINT = 'Run cdp.setup_roles() first.';
	END IF;
	SELECT * INTO v_login FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) acc_check_grant.login;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', pg_catalog.left(login, 100)
			USING ERRCODE = 'undefined_object', HINT = 'Create the login first (CREATE ROLE ... LOGIN).';
	END IF;
	IF v_login.rolsuper OR v_login.rolbypassrls OR login OPERATOR(pg_catalog.~) '^cdp_' THEN
		RAISE EXCEPTION 'role "%" cannot be given a cdp role', login
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'It is a superuser, bypasses row-level security or is one of cdp''s group roles.';
	END IF;
	IF scope IS NOT NULL AND (pg_catalog.jsonb_typeof(scope) OPERATOR(pg_catalog.<>) 'object'
			OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(scope) k
						WHERE k OPERATOR(pg_catalog.<>) ALL (ARRAY['all', 'specialties', 'golden_ids']))) THEN
		RAISE EXCEPTION 'invalid scope for role "%"', role
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A scope is an object with keys all (boolean), specialties (array of text) and golden_ids (array of ids).';
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_check_grant(text, text, jsonb) IS
	'validates the arguments of cdp.grant_role / cdp.revoke_role';

/* -- from sql/parts/92_acc_policies.sql -- */
/*
 * sql/parts/92_acc_policies.sql: row-level security on every table holding personal data (issue
 * 15, item 3).
 *
 * Every such table is registered once with its kind, by one line:
 *     SELECT cdp_internal.acc_protect('cdp.some_table', 'patient');
 * which enables and forces row-level security on it at once and gives it the policy set of its kind
 * as soon as the roles exist (cdp.setup_roles() applies every registered table's set again).  FORCE
 * makes the policies hold for the table's owner too when it is not a superuser.  The kinds:
 *
 *   patient    profiles, source records, memberships: admin, registrar and dpo see every row, a
 *              doctor the patients in its care (cdp.in_care); marketers and analysts no row
 *   clinical   visits, labs, diagnoses, recommendations: a doctor, for the patients in its care; no
 *              other role (the admin included)
 *   log        the event log: admin and dpo read every event but the clinical ones (kinds clinical.*,
 *              told apart by byte order, whose operators are LEAKPROOF, where LIKE's are not)
 *   audit      the audit log: admin and dpo read it; nobody writes it but cdp
 *   marketing  segment members, send lists, delivery details (families to come): admin, marketer and
 *              dpo read them; erasure deletes a patient's rows (94_acc_audit.sql)
 *   sending    send lists (issue 14): as marketing, and the gateway's role cdp_sender reads the rows
 *              due to be sent (status due; it marks them through cdp.mark_sent); erasure deletes them
 *   registry   the consent registry and suppression list (issue 13): admin, registrar and dpo
 *   review     a reviewer's notes about record pairs: admin only
 *   internal   tables of cdp_internal: no policy, so only the extension's owner reads them
 *
 * The only function a policy calls, cdp.in_care, is LEAKPROOF (it never raises and has no side
 * effect) and is a documented API function a doctor may execute: a policy runs with the querying
 * role's rights.  A role's own functions in a WHERE clause run after the policy's qual unless they
 * are LEAKPROOF, which only a superuser can declare (the f_leak probe of test/pgtap/90_access.sql).
 */

CREATE TABLE cdp_internal.acc_table (
	tbl		pg_catalog.regclass PRIMARY KEY,
	kind	text NOT NULL
		CONSTRAINT acc_table_kind_check
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['patient', 'clinical', 'log', 'audit', 'marketing', 'sending', 'registry', 'review', 'internal']))
);
COMMENT ON TABLE cdp_internal.acc_table IS
	'every table holding personal data, with the kind whose row-level security policies it gets (cdp_internal.acc_protect)';
CREATE TRIGGER acc_table_restore BEFORE INSERT ON cdp_internal.acc_table
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_table ENABLE ALWAYS TRIGGER acc_table_restore;

/* The policy set of a kind: one SELECT policy per role, with its USING expression. */
CREATE FUNCTION cdp_internal.acc_kind_policies(kind text, OUT role text, OUT using_sql text) RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT p.role, p.using_sql FROM (VALUES
		('patient', 'cdp_admin', 'true'),
		('patient', 'cdp_registrar', 'true'),
		('patient', 'cdp_dpo', 'true'),
		('patient', 'cdp_doctor', '@extschema@.in_care(golden_id)'),
		('clinical', 'cdp_doctor', '@extschema@.in_care(golden_id)'),
		('log', 'cdp_admin', '(kind COLLATE "C" OPERATOR(pg_catalog.<) ''clinical.'' OR kind COLLATE "C" OPERATOR(pg_catalog.>=) ''clinical/'')'),
		('log', 'cdp_dpo', '(kind COLLATE "C" OPERATOR(pg_catalog.<) ''clinical.'' OR kind COLLATE "C" OPERATOR(pg_catalog.>=) ''clinical/'')'),
		('audit', 'cdp_admin', 'true'),
		('audit', 'cdp_dpo', 'true'),
		('marketing', 'cdp_admin', 'true'),
		('marketing', 'cdp_marketer', 'true'),
		('marketing', 'cdp_dpo', 'true'),
		('sending', 'cdp_admin', 'true'),
		('sending', 'cdp_marketer', 'true'),
		('sending', 'cdp_dpo', 'true'),
		('sending', 'cdp_sender', 'status OPERATOR(pg_catalog.=) ''due'''),
		('registry', 'cdp_admin', 'true'),
		('registry', 'cdp_registrar', 'true'),
		('registry', 'cdp_dpo', 'true'),
		('review', 'cdp_admin', 'true')) p(kind, role, using_sql)
	 WHERE p.kind OPERATOR(pg_catalog.=) $1
$$;
COMMENT ON FUNCTION cdp_internal.acc_kind_policies(text) IS
	'the row-level security policies (role, USING expression) every table of a kind gets';

/* (Re)creates the policies of one registered table for the roles that exist. */
CREATE FUNCTION cdp_internal.acc_apply_table_policies(tbl pg_catalog.regclass, kind text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p	record;
BEGIN
	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
	EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
	FOR p IN SELECT pol.polname FROM pg_catalog.pg_policy pol
			  WHERE pol.polrelid OPERATOR(pg_catalog.=) tbl AND pol.polname OPERATOR(pg_catalog.~~) 'acc\_%'
	LOOP
		EXECUTE pg_catalog.format('DROP POLICY %I ON %s', p.polname, tbl);
	END LOOP;
	FOR p IN SELECT k.role, k.using_sql FROM cdp_internal.acc_kind_policies(kind) k
			  WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) k.role)
	LOOP
		EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS PERMISSIVE FOR SELECT TO %I USING (%s)',
								  'acc_' OPERATOR(pg_catalog.||) pg_catalog.substr(p.role, 5), tbl, p.role, p.using_sql);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_apply_table_policies(pg_catalog.regclass, text) IS
	'forces row-level security on a table and (re)creates the policies of its kind for the roles that exist';

/*
 * Registers a table holding personal data: the one line a family adds for each new table.
 * Idempotent; a second call with another kind changes the kind.
 */
CREATE FUNCTION cdp_internal.acc_protect(tbl pg_catalog.regclass, kind text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	INSERT INTO cdp_internal.acc_table AS t (tbl, kind) VALUES (tbl, kind)
	ON CONFLICT ON CONSTRAINT acc_table_pkey DO UPDATE SET kind = EXCLUDED.kind;
	PERFORM cdp_internal.acc_apply_table_policies(tbl, kind);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_protect(pg_catalog.regclass, text) IS
	'registers a table holding personal data with its kind (patient, clinical, log, audit, marketing, registry, review, internal): forced RLS and the kind''s policies';

/* setup_roles: every registered table's policies again. */
CREATE FUNCTION cdp_internal.acc_apply_policies() RETURNS void
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.count(cdp_internal.acc_apply_table_policies(t.tbl, t.kind)) FROM cdp_internal.acc_table t;
$$;
COMMENT ON FUNCTION cdp_internal.acc_apply_policies() IS 'applies the policies of every registered table (cdp.setup_roles)';

/*
 * Is the patient in the care of the calling doctor?  The grant of the session's login (a login
 * acting through SET ROLE is still that login) to cdp_doctor carries the scope: all, a list of
 * golden ids (care relationships), or a list of specialties (the patient has a clinical event of
 * one).  LEAKPROOF: it raises no error and reveals nothing but its answer, so the planner may use it
 * in a policy without a security barrier of its own.  SECURITY DEFINER so that it can read the
 * grants and the clinical events whatever the doctor may see; it returns only a yes or no about one
 * patient the caller names.
 */
CREATE FUNCTION @extschema@.in_care(golden_id bigint) RETURNS boolean
	LANGUAGE sql STABLE LEAKPROOF PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (
		SELECT 1 FROM cdp_internal.acc_grant g
		 WHERE g.login OPERATOR(pg_catalog.=) SESSION_USER AND g.role OPERATOR(pg_catalog.=) 'cdp_doctor'
		   AND (g.scope OPERATOR(pg_catalog.@>) '{"all": true}'::jsonb
				OR (g.scope OPERATOR(pg_catalog.->) 'golden_ids') OPERATOR(pg_catalog.@>) pg_catalog.to_jsonb($1)
				OR EXISTS (SELECT 1 FROM @extschema@.clinical_event c
							WHERE c.golden_id OPERATOR(pg_catalog.=) $1
							  AND c.specialty OPERATOR(pg_catalog.=) ANY (
								  SELECT pg_catalog.jsonb_array_elements_text(
									  CASE WHEN pg_catalog.jsonb_typeof(g.scope OPERATOR(pg_catalog.->) 'specialties') OPERATOR(pg_catalog.=) 'array'
										   THEN g.scope OPERATOR(pg_catalog.->) 'specialties' ELSE '[]'::jsonb END)))))
$$;
COMMENT ON FUNCTION @extschema@.in_care(bigint) IS
	'true when the patient is in the care of the calling doctor (scope of its cdp_doctor grant); the doctor policies call it';

SELECT cdp_internal.acc_protect(t.tbl, t.kind) FROM (VALUES
	('@extschema@.record'::pg_catalog.regclass, 'patient'),
	('@extschema@.patient', 'patient'),
	('@extschema@.patient_member', 'patient'),
	('@extschema@.clinical_event', 'clinical'),
	('@extschema@.event', 'log'),
	('@extschema@.pair_decision', 'review'),
	('cdp_internal.match_key', 'internal'),
	('cdp_internal.match_block', 'internal'),
	('cdp_internal.match_tf', 'internal'),
	('cdp_internal.match_suspicious', 'internal'),
	('cdp_internal.match_review', 'internal'),
	('cdp_internal.match_part', 'internal'),
	('cdp_internal.household', 'internal'),
	('cdp_internal.acc_grant', 'internal')) t(tbl, kind);

/* the consent family's tables (issue 13), when it is installed before this part */
SELECT cdp_internal.acc_protect(t.tbl::pg_catalog.regclass, 'registry')
  FROM (VALUES ('@extschema@.consent_statement'), ('@extschema@.consent_suppression')) t(tbl)
 WHERE pg_catalog.to_regclass(t.tbl) IS NOT NULL;

/* -- from sql/parts/93_acc_mask.sql -- */
/*
 * sql/parts/93_acc_mask.sql: what each role reads of a patient (issue 15, items 4 and 5).
 *
 * Masking functions (phone +7 916 ***-**-67, e-mail i***@mail.ru, birth date to an age band,
 * SNILS to its last 3 digits), the keyed pseudonym of a patient (HMAC-SHA-256 of the golden id,
 * src/acc_pseudonym.c, under a key in cdp_internal.acc_key that only the extension's owner reads),
 * and the SECURITY DEFINER functions through which the roles without table access read: each checks
 * its caller's role first and returns no more than that role may see, and each read of a full profile
 * or of a contact address is written to cdp.audit_log in the same transaction (94_acc_audit.sql).
 */

/* ------------------------------------------------------------------ masking */

/* C (src/acc_mask.c): a list masks every row, and the same rules as regular expressions cost 30 times more */
CREATE FUNCTION @extschema@.mask_phone(phone text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_mask_phone'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.mask_phone(text) IS
	'a phone number with all but the country code, operator code and last two digits hidden: +7 916 ***-**-67';

CREATE FUNCTION @extschema@.mask_email(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_mask_email'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.mask_email(text) IS
	'an e-mail address with its local part reduced to the first character: i***@mail.ru';

CREATE FUNCTION @extschema@.mask_snils(snils text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_mask_snils'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.mask_snils(text) IS 'a SNILS with only its last 3 digits shown: ***-***-**5 95';

/* an SQL-standard body (names bound at creation), one expression, so the planner inlines it */
CREATE FUNCTION @extschema@.age_band(birth_date date, at date DEFAULT CURRENT_DATE) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE WHEN birth_date > at THEN NULL
				ELSE (ARRAY['0-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+'])[
						pg_catalog.width_bucket(pg_catalog.date_part('year', pg_catalog.age(at, birth_date)),
												ARRAY[18, 25, 35, 45, 55, 65]::float8[]) + 1] END;
COMMENT ON FUNCTION @extschema@.age_band(date, date) IS
	'the age band of a birth date on a day (0-17, 18-24, 25-34, 35-44, 45-54, 55-64, 65+)';

/* ------------------------------------------------------------------ pseudonym */

CREATE TABLE cdp_internal.acc_key (
	one			boolean PRIMARY KEY DEFAULT true CONSTRAINT acc_key_one CHECK (one),
	key			bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cdp_internal.acc_key IS
	'the secret key of cdp.pseudonym (32 random bytes, made by cdp.setup_roles); only the extension''s owner reads it';
CREATE TRIGGER acc_key_restore BEFORE INSERT ON cdp_internal.acc_key
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_key ENABLE ALWAYS TRIGGER acc_key_restore;

CREATE FUNCTION cdp_internal.acc_hmac(key bytea, message text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_acc_hmac'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.acc_hmac(bytea, text) IS 'HMAC-SHA-256 of a message under a 32-byte key';

CREATE FUNCTION cdp_internal.acc_new_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_acc_new_key'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.acc_new_key() IS '32 bytes from the server''s strong random source';

/* Makes the pseudonym key once (cdp.setup_roles); a restored dump brings its own key along. */
CREATE FUNCTION cdp_internal.acc_ensure_key() RETURNS void
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO cdp_internal.acc_key (key) VALUES (cdp_internal.acc_new_key()) ON CONFLICT (one) DO NOTHING
$$;
COMMENT ON FUNCTION cdp_internal.acc_ensure_key() IS 'creates the pseudonym key if there is none';

/* The pseudonym of a golden id under a key: p + 20 hex digits of HMAC-SHA-256 (inlined by the planner). */
CREATE FUNCTION cdp_internal.acc_pseudonym_of(key bytea, golden_id bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN 'p' OPERATOR(pg_catalog.||) pg_catalog.encode(pg_catalog.substr(
		cdp_internal.acc_hmac(key, 'golden:' OPERATOR(pg_catalog.||) golden_id::text), 1, 10), 'hex');
COMMENT ON FUNCTION cdp_internal.acc_pseudonym_of(bytea, bigint) IS 'the keyed pseudonym of a golden id under a key';

/* The pseudonym without the role check, for the functions below (which check first). */
CREATE FUNCTION cdp_internal.acc_pseudonym(golden_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_key	bytea;
BEGIN
	SELECT k.key INTO v_key FROM cdp_internal.acc_key k;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the pseudonym key does not exist yet'
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Run cdp.setup_roles() first.';
	END IF;
	RETURN cdp_internal.acc_pseudonym_of(v_key, golden_id);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_pseudonym(bigint) IS 'the keyed pseudonym of a golden id (no role check)';

CREATE FUNCTION @extschema@.pseudonym(golden_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	/*
	 * Not for marketers and analysts: golden ids are sequential, so whoever may turn any id into its
	 * pseudonym can map every pseudonym of masked_patients back to its golden id.
	 */
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.pseudonym');
	RETURN cdp_internal.acc_pseudonym(golden_id);
END
$$;
COMMENT ON FUNCTION @extschema@.pseudonym(bigint) IS
	'the stable keyed pseudonym of a patient (p + 20 hex digits of HMAC-SHA-256 of its golden id); admin and dpo only';

/* ------------------------------------------------------------------ reads for roles without table access */

/*
 * Pseudonymous, masked profiles: a marketer sees masked contacts, an analyst none; neither sees
 * names, exact birth dates or SNILS digits beyond the last three.  Active patients only.
 */
CREATE FUNCTION @extschema@.masked_patients()
	RETURNS TABLE (pseudonym text, sex text, age_band text, city text, last_visit date,
				   phone text, email text, snils text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_contacts	boolean;
	v_key		bytea;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst', 'cdp_dpo'], 'cdp.masked_patients');
	v_contacts := cdp_internal.acc_is(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_dpo']);
	/* the key once (acc_pseudonym raises when there is none yet), not once per row */
	PERFORM cdp_internal.acc_pseudonym(0);
	SELECT k.key INTO v_key FROM cdp_internal.acc_key k;
	RETURN QUERY
	SELECT cdp_internal.acc_pseudonym_of(v_key, p.golden_id), p.sex, @extschema@.age_band(p.birth_date), p.city,
		   p.last_visit::date,
		   CASE WHEN v_contacts THEN @extschema@.mask_phone(p.phones OPERATOR(pg_catalog.#>>) '{0,value}') END,
		   CASE WHEN v_contacts THEN @extschema@.mask_email(p.emails OPERATOR(pg_catalog.#>>) '{0,value}') END,
		   @extschema@.mask_snils(p.snils::text)
	  FROM @extschema@.patient p
	 WHERE p.status OPERATOR(pg_catalog.=) 'active'
	 ORDER BY 1;
END
$$;
COMMENT ON FUNCTION @extschema@.masked_patients() IS
	'pseudonymous, masked profiles of active patients (contacts masked for marketers, absent for analysts)';

/* Counts by age band, sex and city; a group of fewer than 5 patients is not shown. */
CREATE FUNCTION @extschema@.patient_counts()
	RETURNS TABLE (age_band text, sex text, city text, patients bigint)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst', 'cdp_dpo'], 'cdp.patient_counts');
	RETURN QUERY
	SELECT @extschema@.age_band(p.birth_date) AS b, p.sex, p.city, pg_catalog.count(*)
	  FROM @extschema@.patient p
	 WHERE p.status OPERATOR(pg_catalog.=) 'active'
	 GROUP BY 1, 2, 3
	HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>=) 5
	 ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_counts() IS
	'active patients counted by age band, sex and city; groups under 5 patients suppressed';

/*
 * May cdp contact the patient for the consent purpose through the channel?  The consent family
 * answers it with cdp.may_contact(golden_id, purpose, channel) (issue 13); until that function is
 * installed nobody may be contacted.  Every contact read of the access family asks here, so the
 * consent registry is reached through this one function.
 */
CREATE FUNCTION cdp_internal.acc_may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_ok	boolean;
BEGIN
	IF pg_catalog.to_regprocedure('@extschema@.may_contact(bigint,text,text)') IS NULL THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT @extschema@.may_contact($1, $2, $3)' INTO v_ok USING golden_id, purpose, channel;
	RETURN COALESCE(v_ok, false);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_may_contact(bigint, text, text) IS
	'whether the patient may be contacted for the purpose through the channel (cdp.may_contact of the consent family; false without it)';

/*
 * The contact address of a patient for a send: channel email, sms, messenger, call (a phone),
 * social (a handle) or post (the address), for the consent purpose marketing (a marketer may ask
 * for no other) or treatment; only for a patient who may be contacted so, else NULL; audited
 * either way (contact.read, with the purpose, the channel and whether an address was given).
 */
CREATE FUNCTION @extschema@.contact_address(golden_id bigint, channel text, purpose text) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g		bigint;
	v_addr	text;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_sender'], 'cdp.contact_address');
	IF channel IS NULL OR channel OPERATOR(pg_catalog.<>) ALL (ARRAY['email', 'sms', 'messenger', 'call', 'social', 'post']) THEN
		RAISE EXCEPTION 'invalid channel: "%"', pg_catalog.left(channel, 20)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use email, sms, messenger, call, social or post.';
	END IF;
	IF purpose IS NULL OR purpose OPERATOR(pg_catalog.<>) ALL (ARRAY['marketing', 'treatment']) THEN
		RAISE EXCEPTION 'invalid purpose for a contact address: "%"', pg_catalog.left(purpose, 20)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use marketing or treatment.';
	END IF;
	IF purpose OPERATOR(pg_catalog.<>) 'marketing' AND NOT cdp_internal.acc_is(ARRAY['cdp_admin', 'cdp_sender']) THEN
		RAISE EXCEPTION 'permission denied for cdp.contact_address for purpose "%"', purpose
			USING ERRCODE = 'insufficient_privilege', DETAIL = 'A marketer reads addresses for marketing only.';
	END IF;
	v_g := @extschema@.resolve_patient(golden_id);
	IF v_g IS NOT NULL AND cdp_internal.acc_may_contact(v_g, purpose, channel) THEN
		SELECT CASE channel WHEN 'email' THEN p.emails OPERATOR(pg_catalog.#>>) '{0,value}'
							WHEN 'social' THEN p.handles OPERATOR(pg_catalog.#>>) '{0,value}'
							WHEN 'post' THEN p.address
							ELSE p.phones OPERATOR(pg_catalog.#>>) '{0,value}' END
		  INTO v_addr
		  FROM @extschema@.patient p WHERE p.golden_id OPERATOR(pg_catalog.=) v_g AND p.status OPERATOR(pg_catalog.=) 'active';
	END IF;
	PERFORM cdp_internal.acc_audit('contact.read', ARRAY[COALESCE(v_g, golden_id)], purpose,
		pg_catalog.jsonb_build_object('channel', channel, 'given', v_addr IS NOT NULL));
	RETURN v_addr;
END
$$;
COMMENT ON FUNCTION @extschema@.contact_address(bigint, text, text) IS
	'the address of a patient for a send on a channel, only if the patient may be contacted for the purpose (marketing, treatment) there (else NULL); audited';

/*
 * The full profile of one patient for the roles that work with named patients: registrar, doctor
 * (only a patient in its care, with that patient's clinical events), dpo and admin (without clinical
 * events).  Audited (profile.read, with the purpose) in the same transaction, found or not.
 */
CREATE FUNCTION @extschema@.patient_profile(golden_id bigint, purpose text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g			bigint;
	v_doc		jsonb;
	v_doctor	boolean;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_registrar', 'cdp_doctor', 'cdp_dpo'], 'cdp.patient_profile');
	v_g := @extschema@.resolve_patient(golden_id);
	/* a doctor who is nothing else reads only the patients in its care */
	v_doctor := cdp_internal.acc_is(ARRAY['cdp_doctor']);
	IF v_g IS NOT NULL AND v_doctor AND NOT cdp_internal.acc_is(ARRAY['cdp_admin', 'cdp_registrar', 'cdp_dpo'])
	   AND NOT @extschema@.in_care(v_g) THEN
		v_g := NULL;
	END IF;
	IF v_g IS NOT NULL THEN
		SELECT pg_catalog.to_jsonb(p.*) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('records',
				 (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('record_id', r.record_id,
						  'source', s.name, 'source_id', r.source_key) ORDER BY r.record_id), '[]'::jsonb)
					FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
				   WHERE r.golden_id OPERATOR(pg_catalog.=) v_g))
		  INTO v_doc
		  FROM @extschema@.patient p WHERE p.golden_id OPERATOR(pg_catalog.=) v_g;
		IF v_doctor AND @extschema@.in_care(v_g) THEN
			v_doc := v_doc OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('clinical',
				(SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c.*) OPERATOR(pg_catalog.-) 'attrs'
												  ORDER BY c.at, c.event_id), '[]'::jsonb)
				   FROM @extschema@.clinical_event c WHERE c.golden_id OPERATOR(pg_catalog.=) v_g));
		END IF;
	END IF;
	PERFORM cdp_internal.acc_audit('profile.read', ARRAY[COALESCE(v_g, golden_id)], purpose,
		pg_catalog.jsonb_build_object('found', v_doc IS NOT NULL));
	RETURN v_doc;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_profile(bigint, text) IS
	'the full profile of a patient (with clinical events for the doctor in whose care it is); audited; NULL when not visible';

/* -- from sql/parts/94_acc_audit.sql -- */
/*
 * sql/parts/94_acc_audit.sql: the audit log, legal holds and erasure (issue 15, items 5 and 6), and
 * the grant matrix of the clinic roles.
 *
 * cdp.audit_log is append-only: no role has a privilege to write it, and a trigger that fires
 * always refuses UPDATE, DELETE and TRUNCATE even for its owner.  Rows are written by
 * cdp_internal.acc_audit() inside the function whose act they record, so the row commits or rolls
 * back with the read, export, send-list build, role change, consent change or erasure itself.
 */

/* ------------------------------------------------------------------ audit log */

CREATE TABLE @extschema@.audit_log (
	audit_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	actor		text NOT NULL DEFAULT SESSION_USER,
	role		text NOT NULL,
	action		text NOT NULL
		CONSTRAINT audit_log_action_format CHECK (action OPERATOR(pg_catalog.~) '^[a-z_]+\.[a-z_]+$'),
	golden_ids	bigint[],
	purpose		text,
	detail		jsonb NOT NULL DEFAULT '{}'::jsonb,
	client_addr	inet DEFAULT pg_catalog.inet_client_addr(),
	txid		bigint NOT NULL DEFAULT pg_catalog.txid_current()
);
CREATE INDEX audit_log_at_idx ON @extschema@.audit_log (at);
COMMENT ON TABLE @extschema@.audit_log IS
	'append-only audit of full-profile reads, contact reads, exports, send-list builds, role changes, consent changes and erasures';

CREATE FUNCTION cdp_internal.acc_refuse_change() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'cdp.audit_log is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s on cdp.audit_log was refused.', TG_OP);
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_refuse_change() IS
	'trigger: refuses UPDATE, DELETE and TRUNCATE on cdp.audit_log for every role';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON @extschema@.audit_log
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON @extschema@.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.acc_refuse_change();
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

/*
 * Writes one audit row (for cdp's own functions: the access family's, and the campaign family's
 * send-list builds and exports, which call it with action 'send_list.built' or 'export.made').
 * detail must not hold personal values: ids, counts, channels, flags.
 */
CREATE FUNCTION cdp_internal.acc_audit(action text, golden_ids bigint[], purpose text, detail jsonb)
	RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.audit_log (role, action, golden_ids, purpose, detail)
	VALUES (cdp_internal.acc_caller(), $1, $2, $3, COALESCE($4, '{}'::jsonb))
	RETURNING audit_id
$$;
COMMENT ON FUNCTION cdp_internal.acc_audit(text, bigint[], text, jsonb) IS
	'appends one row to cdp.audit_log in the caller''s transaction (for cdp families: reads, exports, send lists, consent)';

CREATE FUNCTION @extschema@.audit_report("from" timestamptz, "to" timestamptz)
	RETURNS TABLE (at timestamptz, actor text, role text, action text, golden_ids bigint[], purpose text,
				   detail jsonb, client_addr inet)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.audit_report');
	IF "from" IS NULL OR "to" IS NULL THEN
		RAISE EXCEPTION 'from and to must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM cdp_internal.acc_audit('audit.reported', NULL, NULL,
		pg_catalog.jsonb_build_object('from', "from", 'to', "to"));
	RETURN QUERY
	SELECT a.at, a.actor, a.role, a.action, a.golden_ids, a.purpose, a.detail, a.client_addr
	  FROM @extschema@.audit_log a
	 WHERE a.at OPERATOR(pg_catalog.>=) "from" AND a.at OPERATOR(pg_catalog.<) "to"
	 ORDER BY a.audit_id;
END
$$;
COMMENT ON FUNCTION @extschema@.audit_report(timestamptz, timestamptz) IS
	'the audit log between two moments (from inclusive, to exclusive), for the DPO; the report itself is audited';

/* ------------------------------------------------------------------ legal holds */

CREATE TABLE cdp_internal.acc_legal_hold (
	golden_id	bigint PRIMARY KEY,
	reason		text NOT NULL,
	set_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	set_by		text NOT NULL
);
COMMENT ON TABLE cdp_internal.acc_legal_hold IS
	'patients whose data must not be erased (a court case, an investigation): cdp.erase_patient refuses them';

CREATE FUNCTION @extschema@.set_legal_hold(golden_id bigint, reason text, hold boolean DEFAULT true) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g		bigint;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.set_legal_hold');
	IF golden_id IS NULL OR hold IS NULL OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'golden_id, reason and hold must be given' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	v_g := COALESCE(@extschema@.resolve_patient(golden_id), golden_id);
	IF hold THEN
		INSERT INTO cdp_internal.acc_legal_hold AS h (golden_id, reason, set_by)
		VALUES (v_g, reason, cdp_internal.acc_caller())
		ON CONFLICT ON CONSTRAINT acc_legal_hold_pkey DO UPDATE SET reason = EXCLUDED.reason;
	ELSE
		DELETE FROM cdp_internal.acc_legal_hold h WHERE h.golden_id OPERATOR(pg_catalog.=) v_g;
	END IF;
	PERFORM cdp_internal.acc_audit(CASE WHEN hold THEN 'legal_hold.set' ELSE 'legal_hold.released' END,
								   ARRAY[v_g], reason, '{}'::jsonb);
	RETURN hold;
END
$$;
COMMENT ON FUNCTION @extschema@.set_legal_hold(bigint, text, boolean) IS
	'puts a patient under a legal hold (hold = false releases it); erasure is refused while it holds; audited';

/* ------------------------------------------------------------------ erasure */

/*
 * A JSON document with every string that is one of the erased contacts replaced by "[erased]":
 * a string whose last 10 digits are those of an erased phone (whatever its format), or that
 * contains an erased e-mail address or equals an erased handle (case-insensitively); and without
 * the keys named in drop (at any depth).
 */
CREATE FUNCTION cdp_internal.acc_scrub(doc jsonb, drop text[], phones text[], texts text[]) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE pg_catalog.jsonb_typeof(doc)
		WHEN 'object' THEN (SELECT COALESCE(pg_catalog.jsonb_object_agg(e.k, cdp_internal.acc_scrub(e.v, drop, phones, texts)), '{}'::jsonb)
							  FROM pg_catalog.jsonb_each(doc) e(k, v)
							 WHERE e.k OPERATOR(pg_catalog.<>) ALL (COALESCE(drop, '{}')))
		WHEN 'array' THEN (SELECT COALESCE(pg_catalog.jsonb_agg(cdp_internal.acc_scrub(e.v, drop, phones, texts) ORDER BY e.o), '[]'::jsonb)
							 FROM pg_catalog.jsonb_array_elements(doc) WITH ORDINALITY e(v, o))
		WHEN 'string' THEN CASE
			WHEN pg_catalog.right(pg_catalog.regexp_replace(doc OPERATOR(pg_catalog.#>>) '{}', '[^0-9]', '', 'g'), 10)
				 OPERATOR(pg_catalog.=) ANY (phones)
			  OR EXISTS (SELECT 1 FROM pg_catalog.unnest(texts) t
						  WHERE pg_catalog.strpos(pg_catalog.lower(doc OPERATOR(pg_catalog.#>>) '{}'), t) OPERATOR(pg_catalog.>) 0)
			THEN '"[erased]"'::jsonb ELSE doc END
		ELSE doc END
$$;
COMMENT ON FUNCTION cdp_internal.acc_scrub(jsonb, text[], text[], text[]) IS
	'a JSON document with the erased contacts replaced by "[erased]" and the named keys removed (erasure)';

/*
 * erase_patient: the right to be forgotten (152-FZ art. 21) for the data used to contact and market
 * to a patient.  Erased: every phone, e-mail address and messenger handle, and every free-text field
 * (the keys a source sent that cdp does not know, kept in extra), from the source records, their raw
 * documents, the golden profile, the payloads of the patient's events, the clinical events' raw
 * documents, reviewers' notes, the matching keys, and every row of the marketing tables (segments,
 * send lists, delivery details).  Kept, because medical record-keeping law requires them for the
 * retention period of the medical record (name, sex, birth date, address, SNILS, OMS policy; the
 * clinical events): see doc/security.md.  The event log is append-only; erasure rewrites the payloads
 * of the patient's events in place (its trigger is set aside for this transaction only, under a lock
 * that holds every other writer of the log until the end) and appends a patient.erased event without
 * personal data, and an audit row with the reason.  Refused for a patient under a legal hold.
 */
CREATE FUNCTION @extschema@.erase_patient(golden_id bigint, reason text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_g			bigint;
	v_ids		bigint[];
	v_recs		bigint[];
	v_phones	text[];
	v_texts		text[];
	v_drop		text[];
	v_nev		bigint;
	v_nmk		bigint := 0;
	t			record;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_dpo'], 'cdp.erase_patient');
	IF golden_id IS NULL OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'golden_id and reason must be given' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	v_g := @extschema@.resolve_patient(golden_id);
	IF v_g IS NULL THEN
		RAISE EXCEPTION 'unknown patient: %', golden_id USING ERRCODE = 'invalid_parameter_value';
	END IF;
	/*
	 * The log first (the lock that setting its trigger aside takes below), then the person: writers
	 * of the log wait for the erasure to commit instead of running beside it.  A writer already
	 * holding one of the patient's rows while it waits for the log can still deadlock with it;
	 * PostgreSQL then cancels one of the two, and erasure can be called again.
	 */
	LOCK TABLE @extschema@.event IN SHARE ROW EXCLUSIVE MODE;
	PERFORM cdp_internal.golden_lock(ARRAY[v_g]);
	v_ids := ARRAY[v_g] OPERATOR(pg_catalog.||) COALESCE(cdp_internal.golden_absorbed(v_g), '{}');
	IF EXISTS (SELECT 1 FROM cdp_internal.acc_legal_hold h WHERE h.golden_id OPERATOR(pg_catalog.=) ANY (v_ids)) THEN
		RAISE EXCEPTION 'patient % is under a legal hold', v_g
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'The hold must be released (cdp.set_legal_hold(golden_id, reason, false)) before erasure.';
	END IF;

	SELECT pg_catalog.array_agg(DISTINCT r.record_id) INTO v_recs
	  FROM @extschema@.record r
	 WHERE r.golden_id OPERATOR(pg_catalog.=) ANY (v_ids)
		OR r.record_id OPERATOR(pg_catalog.=) ANY (SELECT m.record_id FROM @extschema@.patient_member m
													WHERE m.golden_id OPERATOR(pg_catalog.=) ANY (v_ids));
	v_recs := COALESCE(v_recs, '{}');

	/* the values to find anywhere: phones by their last 10 digits, e-mails and handles in lower case */
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT pg_catalog.right(pg_catalog.regexp_replace(
				pg_catalog.split_part(ph::text, ';', 1), '[^0-9]', '', 'g'), 10)), '{}')
	  INTO v_phones
	  FROM @extschema@.record r, pg_catalog.unnest(r.phones) ph
	 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs);
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT pg_catalog.lower(x.v)) FILTER (WHERE pg_catalog.length(x.v) OPERATOR(pg_catalog.>=) 3), '{}')
	  INTO v_texts
	  FROM (SELECT em::text AS v FROM @extschema@.record r, pg_catalog.unnest(r.emails) em
			 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs)
			UNION ALL
			SELECT h #>> '{}' FROM @extschema@.record r, pg_catalog.jsonb_path_query(r.handles, 'strict $.**') h
			 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs) AND pg_catalog.jsonb_typeof(h) OPERATOR(pg_catalog.=) 'string'
			   AND NOT (h #>> '{}') OPERATOR(pg_catalog.=) ANY (ARRAY['telegram', 'whatsapp', 'viber', 'vk', 'max'])) x;
	/* free text: the keys of extra, and the normalised contact keys */
	SELECT ARRAY['phones', 'emails', 'handles', 'extra'] OPERATOR(pg_catalog.||)
		   COALESCE(pg_catalog.array_agg(DISTINCT k), '{}')
	  INTO v_drop
	  FROM @extschema@.record r, pg_catalog.jsonb_object_keys(CASE WHEN pg_catalog.jsonb_typeof(r.extra) OPERATOR(pg_catalog.=) 'object'
																   THEN r.extra ELSE '{}' END) k
	 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs);

	UPDATE @extschema@.record r
	   SET phones = NULL, emails = NULL, handles = NULL, extra = NULL,
		   raw = cdp_internal.acc_scrub(r.raw, v_drop, v_phones, v_texts)
	 WHERE r.record_id OPERATOR(pg_catalog.=) ANY (v_recs);
	UPDATE @extschema@.clinical_event c
	   SET attrs = cdp_internal.acc_scrub(c.attrs, NULL, v_phones, v_texts)
	 WHERE c.golden_id OPERATOR(pg_catalog.=) ANY (v_ids);
	UPDATE @extschema@.pair_decision d SET note = NULL
	 WHERE d.note IS NOT NULL AND (d.record_a OPERATOR(pg_catalog.=) ANY (v_recs) OR d.record_b OPERATOR(pg_catalog.=) ANY (v_recs));
	/* the consent registry (issue 13) keeps the statements as proof, without their free text */
	IF pg_catalog.to_regclass('@extschema@.consent_statement') IS NOT NULL THEN
		EXECUTE 'UPDATE @extschema@.consent_statement s SET address = NULL, evidence = NULL
				  WHERE s.record_id OPERATOR(pg_catalog.=) ANY ($1) AND (s.address IS NOT NULL OR s.evidence IS NOT NULL)'
		  USING v_recs;
	END IF;
	UPDATE cdp_internal.match_review m SET note = NULL
	 WHERE m.note IS NOT NULL AND (m.record_a OPERATOR(pg_catalog.=) ANY (v_recs) OR m.record_b OPERATOR(pg_catalog.=) ANY (v_recs));

	/* the log: the patient's events rewritten in place, this transaction only */
	ALTER TABLE @extschema@.event DISABLE TRIGGER event_append_only;
	/* the subject of record.*, decision.* and link events is a record id; other subjects are only
	   rewritten when the scrub finds an erased value in them */
	UPDATE @extschema@.event e SET payload = s.doc
	  FROM (SELECT x.event_id, cdp_internal.acc_scrub(x.payload, v_drop, v_phones, v_texts) AS doc
			  FROM @extschema@.event x
			 WHERE x.golden_id OPERATOR(pg_catalog.=) ANY (v_ids) OR x.subject OPERATOR(pg_catalog.=) ANY (v_recs)) s
	 WHERE e.event_id OPERATOR(pg_catalog.=) s.event_id AND e.payload OPERATOR(pg_catalog.<>) s.doc;
	GET DIAGNOSTICS v_nev = ROW_COUNT;
	ALTER TABLE @extschema@.event ENABLE ALWAYS TRIGGER event_append_only;

	/* projections and keys from the erased records */
	PERFORM cdp_internal.refresh_patients(ARRAY[v_g]);
	IF pg_catalog.cardinality(v_recs) OPERATOR(pg_catalog.>) 0 THEN
		v_nmk := cdp_internal._match_refresh_keys(v_recs);
	END IF;
	DELETE FROM cdp_internal.match_tf f
	 WHERE pg_catalog.right(pg_catalog.regexp_replace(f.value, '[^0-9]', '', 'g'), 10) OPERATOR(pg_catalog.=) ANY (v_phones)
		OR pg_catalog.lower(f.value) OPERATOR(pg_catalog.=) ANY (v_texts);
	DELETE FROM cdp_internal.match_suspicious s
	 WHERE pg_catalog.right(pg_catalog.regexp_replace(s.value, '[^0-9]', '', 'g'), 10) OPERATOR(pg_catalog.=) ANY (v_phones)
		OR pg_catalog.lower(s.value) OPERATOR(pg_catalog.=) ANY (v_texts);
	/* marketing tables: the patient's rows go */
	/* marketing tables keyed by patient (campaign and segment definitions have no golden_id) */
	FOR t IN SELECT a.tbl FROM cdp_internal.acc_table a
			  WHERE a.kind OPERATOR(pg_catalog.=) ANY (ARRAY['marketing', 'sending'])
				AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute c
							 WHERE c.attrelid OPERATOR(pg_catalog.=) a.tbl AND c.attname OPERATOR(pg_catalog.=) 'golden_id'
							   AND NOT c.attisdropped)
			  ORDER BY a.tbl::text LOOP
		EXECUTE pg_catalog.format('DELETE FROM %s WHERE golden_id OPERATOR(pg_catalog.=) ANY ($1)', t.tbl) USING v_ids;
	END LOOP;

	PERFORM cdp_internal.append_event('patient.erased', NULL, v_g,
		pg_catalog.jsonb_build_object('records', pg_catalog.cardinality(v_recs), 'events', v_nev));
	PERFORM cdp_internal.acc_audit('patient.erased', v_ids, reason,
		pg_catalog.jsonb_build_object('records', pg_catalog.cardinality(v_recs), 'events', v_nev));
	RETURN pg_catalog.jsonb_build_object('golden_id', v_g, 'records', pg_catalog.cardinality(v_recs),
										 'events', v_nev, 'match_keys', v_nmk);
END
$$;
COMMENT ON FUNCTION @extschema@.erase_patient(bigint, text) IS
	'erases a patient''s contacts and free text everywhere, keeping what medical record-keeping law requires; refused under a legal hold; audited';

/* ------------------------------------------------------------------ registration, privileges */

SELECT cdp_internal.acc_protect(t.tbl, t.kind) FROM (VALUES
	('@extschema@.audit_log'::pg_catalog.regclass, 'audit'),
	('cdp_internal.acc_key', 'internal'),
	('cdp_internal.acc_legal_hold', 'internal')) t(tbl, kind);

/*
 * API functions written before the roles existed that run with their caller's rights but read or
 * write the private schema (the ingest queue, the event log, the matching state), so that no role
 * but the extension's owner could call them.  They now run as the owner; EXECUTE is their role
 * check: it is revoked from PUBLIC (cdp_internal.acc_lock_down below) and granted by the matrix to
 * the roles whose data they touch (cdp_admin for most; cdp_registrar for ingest).  None returns more
 * than that role may see: ids, counts, actions, settings, and to cdp_admin (who reads every profile)
 * profile history without clinical data.
 */
DO $definer$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'@extschema@.register_source(text,text,integer)',
		'@extschema@.upsert_records(text,text[],jsonb[],boolean)',
		'@extschema@.record_pair_decision(bigint,bigint,text,text)',
		'@extschema@.matching_settings()',
		'@extschema@.link_records(bigint,bigint,jsonb)',
		'@extschema@.link_records_many(bigint[],bigint[],jsonb[])',
		'@extschema@.unmerge(bigint,text)',
		'@extschema@.upsert_clinical_event(text,text,text,jsonb)',
		'@extschema@.configure_survivorship(jsonb)',
		'@extschema@.rebuild_patients()',
		'@extschema@.archive_candidates(interval)',
		'@extschema@.archive_patients(bigint[],text,boolean)',
		'@extschema@.restore_patients(bigint[],text,boolean)',
		'@extschema@.patient_as_of(bigint,timestamp with time zone)',
		'@extschema@.patient_as_of_event(bigint,bigint)',
		'@extschema@.patient_history(bigint)',
		'@extschema@.patient_lineage(bigint)']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f::pg_catalog.regprocedure);
	END LOOP;
END
$definer$;

/* The grant matrix (90_privileges.sql); doc/security.md lists the same rows. */
INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT m.role, m.kind, m.object, m.privilege FROM (VALUES
	('cdp_registrar', 'function', 'cdp.find_patient(jsonb,integer)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.upsert_record(text,text,jsonb,boolean)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.upsert_records(text,text[],jsonb[],boolean)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.patient_profile(bigint,text)', 'EXECUTE'),
	('cdp_registrar', 'table', 'cdp.patient', 'SELECT'),
	('cdp_registrar', 'table', 'cdp.record', 'SELECT'),
	('cdp_registrar', 'table', 'cdp.source', 'SELECT'),
	('cdp_registrar', 'table', 'cdp.patient_redirect', 'SELECT'),
	('cdp_doctor', 'function', 'cdp.patient_profile(bigint,text)', 'EXECUTE'),
	('cdp_doctor', 'function', 'cdp.in_care(bigint)', 'EXECUTE'),
	('cdp_doctor', 'table', 'cdp.patient', 'SELECT'),
	('cdp_doctor', 'table', 'cdp.clinical_event', 'SELECT'),
	('cdp_doctor', 'table', 'cdp.patient_redirect', 'SELECT'),
	('cdp_marketer', 'function', 'cdp.masked_patients()', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.patient_counts()', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.contact_address(bigint,text,text)', 'EXECUTE'),
	('cdp_analyst', 'function', 'cdp.masked_patients()', 'EXECUTE'),
	('cdp_analyst', 'function', 'cdp.patient_counts()', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.audit_report(timestamp with time zone,timestamp with time zone)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.erase_patient(bigint,text)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.set_legal_hold(bigint,text,boolean)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.patient_profile(bigint,text)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.masked_patients()', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.patient_counts()', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.pseudonym(bigint)', 'EXECUTE'),
	('cdp_dpo', 'table', 'cdp.audit_log', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.event', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.patient', 'SELECT'),
	('cdp_scheduler', 'function', 'cdp.run_matching(text)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.contact_address(bigint,text,text)', 'EXECUTE')) m(role, kind, object, privilege);

/*
 * In a fresh install cdp_internal._restore_replace_installed is created by sql/parts/95_dump.sql,
 * after the access parts revoke every internal function from PUBLIC, so it keeps PUBLIC's EXECUTE
 * there (harmless: a trigger function cannot be called but as a trigger; cdp.setup_roles() revokes
 * it).  The update spares it so that an updated catalog equals a fresh one.
 */
SELECT cdp_internal.acc_lock_down(ARRAY['cdp_internal._restore_replace_installed()']::pg_catalog.regprocedure[]);

/* -- as sql/parts/95_dump.sql does for every table at install: the access family's tables are dumped -- */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_audit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_privilege', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_grant', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_table', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_key', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.acc_legal_hold', '');

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

/* ---------------------------------------------------------------- tables */

CREATE TABLE cdp_internal.import_batch (
	batch_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source		text NOT NULL,
	kind		text NOT NULL
		CONSTRAINT import_batch_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'clinical_events'])),
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

/* The columns of each kind: name, spellings accepted besides it, example value, what it is. */
CREATE FUNCTION cdp_internal._import_kind_columns(kind text)
	RETURNS TABLE (ord integer, name text, spellings text[], example text, required boolean)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c.ord::integer, c.name, c.spellings, c.example, c.required
	  FROM (VALUES
		('patients', 1, 'source_id', ARRAY['id', 'код', 'идентификатор'], 'P-1001', true),
		('patients', 2, 'family_name', ARRAY['last_name', 'surname', 'фамилия'], 'Иванова', false),
		('patients', 3, 'given_name', ARRAY['first_name', 'имя'], 'Мария', false),
		('patients', 4, 'patronymic', ARRAY['middle_name', 'отчество'], 'Петровна', false),
		('patients', 5, 'birth_date', ARRAY['dob', 'date_of_birth', 'birthday', 'дата_рождения'], '14.03.1985', false),
		('patients', 6, 'sex', ARRAY['gender', 'пол'], 'Ж', false),
		('patients', 7, 'phone', ARRAY['mobile', 'tel', 'телефон'], '+7 916 123-45-67', false),
		('patients', 8, 'email', ARRAY['e_mail', 'e-mail'], 'ivanova@example.ru', false),
		('patients', 9, 'snils', ARRAY['снилс'], '112-233-445 95', false),
		('patients', 10, 'oms', ARRAY['polis', 'полис'], '', false),
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
		('clinical_events', 22, 'note', ARRAY[]::text[], 'повторный приём через месяц', false)
	  ) AS c(kind, ord, name, spellings, example, required)
	 WHERE c.kind OPERATOR(pg_catalog.=) $1
	 ORDER BY c.ord
$$;
COMMENT ON FUNCTION cdp_internal._import_kind_columns(text) IS
	'the template columns of an import kind: name, other spellings, example value, required';

/* The example's OMS number is computed, so it always passes the type's checksum. */
CREATE FUNCTION @extschema@.import_template(kind text) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_head	text;
	v_ex	text;
BEGIN
	IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['patients', 'clinical_events']) THEN
		RAISE EXCEPTION 'unknown import kind: "%"', pg_catalog.left(kind, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use patients or clinical_events.';
	END IF;
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
	'the CSV header and an example row of an import kind (patients, clinical_events), ";"-delimited, UTF-8';

/*
 * Maps a file's header to attrs keys.  A name is compared trimmed, lower-case, with spaces as
 * underscores.  For patients every column ingest knows is accepted under every spelling ingest
 * accepts (asked of cdp.normalize_attrs itself: a key it keeps in extra is unknown), so the
 * list of spellings is ingest's; for clinical events the template's names.  Unknown columns are an
 * error unless options.extra_columns (patients: kept in the record's extra) or listed in
 * options.ignore_columns.
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
	v_seen		text[] := ARRAY[]::text[];
	i			integer;
BEGIN
	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.replace(pg_catalog.lower(pg_catalog.btrim(e)), ' ', '_')), ARRAY[]::text[])
	  INTO v_ignore FROM pg_catalog.jsonb_array_elements_text(COALESCE(options -> 'ignore_columns', '[]'::jsonb)) e;
	keys := ARRAY[]::text[];
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
			CONTINUE;
		END IF;
		SELECT c.name INTO v_key FROM cdp_internal._import_kind_columns(kind) c
		 WHERE v_norm OPERATOR(pg_catalog.=) c.name OR v_norm OPERATOR(pg_catalog.=) ANY (c.spellings);
		IF v_key OPERATOR(pg_catalog.=) 'source_id' THEN
			IF key_col IS NOT NULL THEN
				bad_col := header[i];
				why := pg_catalog.format('Column "%s" is a second source id column.', header[i]);
				RETURN;
			END IF;
			key_col := i;
			keys := keys OPERATOR(pg_catalog.||) NULL::text;
			CONTINUE;
		END IF;
		IF v_key IS NULL AND kind OPERATOR(pg_catalog.=) 'patients'
		   AND NOT COALESCE((@extschema@.normalize_attrs(pg_catalog.jsonb_build_object(v_norm, '0'), true) -> 'extra')
							 OPERATOR(pg_catalog.?) v_norm, false) THEN
			v_key := v_norm;		/* a spelling ingest knows */
		END IF;
		IF v_key IS NULL THEN
			IF v_extra AND kind OPERATOR(pg_catalog.=) 'patients' THEN
				v_key := v_norm;
			ELSE
				bad_col := header[i];
				why := pg_catalog.format('Column "%s" is not a column of %s.', header[i], kind);
				RETURN;
			END IF;
		END IF;
		keys := keys OPERATOR(pg_catalog.||) v_key;
	END LOOP;
	IF key_col IS NULL THEN
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
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_opt		jsonb := COALESCE(options, '{}'::jsonb);
	v_bad		text;
	v_id		bigint;
	v_enc		text;
	v_delim		text;
	v_chunk		integer;
BEGIN
	IF source IS NULL OR kind IS NULL THEN
		RAISE EXCEPTION 'source and kind must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['patients', 'clinical_events']) THEN
		RAISE EXCEPTION 'unknown import kind: "%"', pg_catalog.left(kind, 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use patients or clinical_events.';
	END IF;
	IF pg_catalog.jsonb_typeof(v_opt) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'import options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT k INTO v_bad FROM pg_catalog.jsonb_object_keys(v_opt) k
	 WHERE k OPERATOR(pg_catalog.<>) ALL (ARRAY['encoding', 'delimiter', 'ignore_columns', 'extra_columns', 'matching', 'chunk_rows'])
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown import option: "%"', pg_catalog.left(v_bad, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Options are encoding, delimiter, ignore_columns, extra_columns, matching and chunk_rows.';
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

	INSERT INTO cdp_internal.import_batch (source, kind, options)
	VALUES (source, kind, v_opt || pg_catalog.jsonb_build_object('encoding', v_enc, 'delimiter', v_delim,
		'matching', COALESCE(v_opt ->> 'matching', 'later'), 'chunk_rows', COALESCE(v_chunk, 10000)))
	RETURNING batch_id INTO v_id;
	PERFORM pg_catalog.set_config('cdp.import_batch', v_id::text, false);
	RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.import_begin(text, text, jsonb) IS
	'opens an import batch of a source and kind (patients, clinical_events); COPY the file into cdp.import_staging (line) next, in the same session';

/* The advisory lock a running commit holds: (this number, batch id), so cdp.import_status finds its backend. */
CREATE FUNCTION cdp_internal._import_lock_key() RETURNS integer
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN 1667526678;
COMMENT ON FUNCTION cdp_internal._import_lock_key() IS
	'first key of the advisory lock (key, batch_id) a running import commit holds';

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
	v_msg		text;
	v_detail	text;
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
		/* ingest's own rules, every invalid key of every row named */
		WITH bad AS (
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			SELECT batch, rows[r.ord], lines[r.ord], keys[r.ord],
				   COALESCE(header[pg_catalog.array_position(hkeys, inv.key)], inv.key),
				   inv.val ->> 'value', inv.val ->> 'reason', attrs[r.ord]
			  FROM pg_catalog.unnest(cdp_internal.normalize_records(keys, attrs, pg_catalog.array_fill(NULL::text, ARRAY[n]), true)) r
			 CROSS JOIN LATERAL pg_catalog.jsonb_each(r.extra -> '_invalid') AS inv(key, val)
			RETURNING row_no
		)
		SELECT pg_catalog.array_agg(DISTINCT pg_catalog.array_position(rows, bad.row_no)) INTO v_bad FROM bad;
		IF v_bad IS NOT NULL THEN
			rejected := pg_catalog.cardinality(v_bad);
			v_good := ARRAY(SELECT g FROM pg_catalog.unnest(v_good) g WHERE g OPERATOR(pg_catalog.<>) ALL (v_bad) ORDER BY g);
		END IF;
		IF pg_catalog.cardinality(v_good) OPERATOR(pg_catalog.=) 0 THEN
			RETURN;
		END IF;
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
			SELECT created OPERATOR(pg_catalog.+) u.created, updated OPERATOR(pg_catalog.+) u.updated,
				   unchanged OPERATOR(pg_catalog.+) u.unchanged
			  INTO created, updated, unchanged
			  FROM cdp_internal._import_upsert(source, ARRAY[keys[i]], ARRAY[attrs[i]], lenient) u;
		EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			VALUES (batch, rows[i], lines[i], keys[i], NULL, NULL,
					v_msg OPERATOR(pg_catalog.||) COALESCE(': ' OPERATOR(pg_catalog.||) NULLIF(v_detail, ''), ''), attrs[i]);
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
					COALESCE(header[pg_catalog.array_position(hkeys, v_col)], v_col),
					attrs[i] ->> v_col,
					v_msg OPERATOR(pg_catalog.||) COALESCE(': ' OPERATOR(pg_catalog.||) NULLIF(v_detail, ''), ''), attrs[i]);
			rejected := rejected OPERATOR(pg_catalog.+) 1;
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal._import_load_clinical(bigint, text, integer[], integer[], text[], jsonb[], text[], text[]) IS
	'loads a chunk of clinical event rows with cdp.upsert_clinical_event, quarantining refusals (internal to import_commit)';

/*
 * import_commit: reads the batch's lines in chunks (src/imp_sql.c), quarantines unreadable rows
 * and repeated source ids, loads the rest through ingest, and in all_or_nothing rolls everything
 * back (a subtransaction) when any row was refused, keeping the list of refusals.  One
 * transaction: a commit killed half-way leaves nothing.  Progress is shown in
 * pg_stat_activity.query (cdp.import_status).
 */
CREATE FUNCTION @extschema@.import_commit(batch bigint, mode text DEFAULT 'all_or_nothing') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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
	IF v_b.status OPERATOR(pg_catalog.=) 'committed' THEN
		/* idempotent: a committed batch is not loaded twice */
		RETURN v_b.result OPERATOR(pg_catalog.||) '{"repeated": true}'::jsonb;
	END IF;
	IF mode OPERATOR(pg_catalog.=) 'lenient' AND v_b.kind OPERATOR(pg_catalog.<>) 'patients' THEN
		RAISE EXCEPTION 'lenient mode is for patients only'
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
		/* the source ids seen so far: a temporary table, so memory stays flat in the file's size */
		IF pg_catalog.to_regclass('pg_temp.cdp_import_seen') IS NULL THEN
			CREATE TEMP TABLE cdp_import_seen (source_key text PRIMARY KEY, row_no integer) ON COMMIT DROP;
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

				/* a source id seen on an earlier row of the file: the later rows are refused */
				WITH ins AS (
					INSERT INTO pg_temp.cdp_import_seen (source_key, row_no)
					SELECT u.k, u.r FROM unnest(v_p.keys, v_p.rows) AS u(k, r) ORDER BY u.r
					ON CONFLICT (source_key) DO NOTHING
					RETURNING row_no
				)
				SELECT pg_catalog.array_agg(u.o ORDER BY u.o) INTO v_dups
				  FROM pg_catalog.unnest(v_p.rows) WITH ORDINALITY AS u(r, o)
				 WHERE u.r NOT IN (SELECT ins.row_no FROM ins);
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

				/* the rows through ingest */
				IF v_b.kind OPERATOR(pg_catalog.=) 'patients' THEN
					v_c := cdp_internal._import_load_patients(batch, v_b.source, mode OPERATOR(pg_catalog.=) 'lenient', NOT v_dirty,
						v_p.rows, v_p.lines, v_p.keys, v_p.attrs, v_sniff.header, v_hkeys);
				ELSE
					v_c := cdp_internal._import_load_clinical(batch, v_b.source,
						v_p.rows, v_p.lines, v_p.keys, v_p.attrs, v_sniff.header, v_hkeys);
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
		END;
	END IF;

	IF v_status OPERATOR(pg_catalog.=) 'committed' THEN
		DELETE FROM @extschema@.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) batch;
		IF v_b.options ->> 'matching' OPERATOR(pg_catalog.=) 'now' AND v_b.kind OPERATOR(pg_catalog.=) 'patients' THEN
			v_match := @extschema@.run_matching('incremental');
		END IF;
	END IF;
	SELECT pg_catalog.format('row %s%s: %s', r.row_no,
							 COALESCE(pg_catalog.format(', column "%s"', r.column_name), ''), r.reason)
	  INTO v_first
	  FROM cdp_internal.import_reject r WHERE r.batch_id OPERATOR(pg_catalog.=) batch ORDER BY r.row_no LIMIT 1;
	v_result := pg_catalog.jsonb_build_object(
		'batch', batch, 'source', v_b.source, 'kind', v_b.kind, 'mode', mode, 'status', v_status,
		'rows', v_nrows, 'loaded', v_created OPERATOR(pg_catalog.+) v_updated OPERATOR(pg_catalog.+) v_unchanged,
		'created', v_created, 'updated', v_updated, 'unchanged', v_unchanged, 'rejected', v_nbad,
		'encoding', v_sniff.encoding, 'delimiter', v_sniff.delimiter, 'bom', v_sniff.bom,
		'first_error', v_first, 'matching', COALESCE(v_match, pg_catalog.to_jsonb(v_b.options ->> 'matching')),
		'seconds', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0)::numeric, 3));
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
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT r.row_no, r.line_no, r.source_key, r.column_name, r.value, r.reason, r.attrs
	  FROM cdp_internal.import_reject r
	 WHERE r.batch_id OPERATOR(pg_catalog.=) $1
	 ORDER BY r.row_no, r.column_name
$$;
COMMENT ON FUNCTION @extschema@.import_errors(bigint) IS
	'the rows of an import batch that were not loaded: row (spreadsheet numbering, header = 1), line, source id, column, value, reason, the row as read';

CREATE FUNCTION @extschema@.import_status(batch bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH run AS (
		SELECT a.pid, a.query, a.xact_start
		  FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
		 WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
		   AND l.classid OPERATOR(pg_catalog.=) cdp_internal._import_lock_key()::oid
		   AND l.objid OPERATOR(pg_catalog.=) ($1 OPERATOR(pg_catalog.%) 2147483647)::oid
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
			'batch', $1, 'status', 'running', 'pid', num.pid, 'since', num.xact_start,
			'mode', num.m[2], 'lines', num.m[3]::bigint, 'validated', COALESCE(num.m[4]::bigint, 0),
			'loaded', COALESCE(num.m[5]::bigint, 0), 'rejected', COALESCE(num.m[6]::bigint, 0))
		WHEN b.batch_id IS NOT NULL THEN pg_catalog.jsonb_build_object(
			'batch', b.batch_id, 'status', b.status, 'source', b.source, 'kind', b.kind, 'opened_by', b.opened_by,
			'opened_at', b.opened_at, 'finished_at', b.finished_at,
			'lines', CASE WHEN b.status OPERATOR(pg_catalog.<>) 'committed'
						  THEN (SELECT pg_catalog.count(*) FROM @extschema@.import_staging s WHERE s.batch_id OPERATOR(pg_catalog.=) $1) END)
			OPERATOR(pg_catalog.||) COALESCE(b.result, '{}'::jsonb) OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('status', b.status)
		END
	  FROM (SELECT 1) one
	  LEFT JOIN num ON true
	  LEFT JOIN cdp_internal.import_batch b ON b.batch_id OPERATOR(pg_catalog.=) $1
$$;
COMMENT ON FUNCTION @extschema@.import_status(bigint) IS
	'an import batch''s state: while its commit runs (any session) the rows validated, loaded and rejected so far; then its result';

/* The one-call path: the file as text (already in the database encoding) or as bytes (encoding detected). */
CREATE FUNCTION @extschema@.import_csv(source text, kind text, data bytea, mode text DEFAULT 'all_or_nothing',
									   options jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	/* text is already in the database's encoding: its UTF-8 bytes, declared so */
	RETURN @extschema@.import_csv(source, kind, pg_catalog.convert_to(data, 'UTF8'), mode,
								  COALESCE(options, '{}'::jsonb) OPERATOR(pg_catalog.||) '{"encoding": "utf8"}'::jsonb);
COMMENT ON FUNCTION @extschema@.import_csv(text, text, text, text, jsonb) IS
	'imports a whole CSV file given as text in one call (import_begin, the lines, import_commit); returns the commit''s counts and batch id';

/* ---------------------------------------------------------------- data quality */

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
					  FROM @extschema@.record r2 CROSS JOIN LATERAL pg_catalog.jsonb_object_keys(r2.extra -> '_invalid') AS e(key)
					 WHERE r2.source_id OPERATOR(pg_catalog.=) s.source_id AND r2.extra ? '_invalid'
					 GROUP BY e.key) k) AS invalid_rate,
		   pg_catalog.round(a.duplicate_rate, 4) AS duplicate_rate,
		   (SELECT pg_catalog.max(b.finished_at) FROM cdp_internal.import_batch b
			 WHERE b.source OPERATOR(pg_catalog.=) s.name AND b.status OPERATOR(pg_catalog.=) 'committed') AS last_import,
		   (SELECT pg_catalog.count(*) FROM cdp_internal.import_reject j JOIN cdp_internal.import_batch b USING (batch_id)
			 WHERE b.source OPERATOR(pg_catalog.=) s.name) AS rows_quarantined
	  FROM @extschema@.source s LEFT JOIN agg a ON a.source_id OPERATOR(pg_catalog.=) s.source_id;
COMMENT ON VIEW @extschema@.source_quality IS
	'per source: records, completeness per field, invalid rate per key (lenient loads), duplicate rate (records sharing a person with another record of the source), last import, rows quarantined';

/* writers are for the owner until the access family grants them (readers follow the tables' RLS) */
REVOKE ALL ON FUNCTION @extschema@.import_begin(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.import_commit(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.import_csv(text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.import_csv(text, text, bytea, text, jsonb) FROM PUBLIC;

/* cdp_internal functions are closed to PUBLIC (the install does it in 90_privileges.sql) */
REVOKE ALL ON FUNCTION cdp_internal._import_sniff(text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_parse(text[], boolean, text, text, text[], text[], integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_progress(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_kind_columns(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_header(text, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_split(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_lock_key() FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_upsert(text, text[], jsonb[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_load_patients(bigint, text, boolean, boolean, integer[], integer[], text[], jsonb[], text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal._import_load_clinical(bigint, text, integer[], integer[], text[], jsonb[], text[], text[]) FROM PUBLIC;

/* dumped whole, as the install's 95_dump.sql marks every table and sequence */
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.import_batch', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.import_batch_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.import_staging', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.import_staging_line_no_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.import_reject', '');
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
-- CREATE OR REPLACE resets SECURITY DEFINER: the access section made upsert_records run as the owner
ALTER FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) SECURITY DEFINER;

/* ==== end of section: import ==== */


/* ==== section: matching views under access control (issues 12 + 15) ==== */
/* The review queue and the run log are read through SECURITY DEFINER functions (EXECUTE is the role
   check, cdp_admin); suspicious_values and oversize_persons read the settings through
   cdp.matching_settings(), so a role that may read cdp.record may read them. */
CREATE FUNCTION @extschema@.review_queue_entries()
	RETURNS TABLE (pair_id bigint, record_a bigint, record_b bigint, score float8, summary text, age interval,
	               priority float8, person_a bigint, person_b bigint, pairs int)
	LANGUAGE sql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT x.pair_id, x.record_a, x.record_b, x.score,
	       cdp_internal._match_summary(s.settings, x.levels)
	         || CASE WHEN x.reason IS NOT NULL THEN '; ' || x.reason ELSE '' END AS summary,
	       pg_catalog.now() - x.created_at AS age,
	       x.priority, x.person_a, x.person_b, x.pairs
	  FROM (SELECT DISTINCT ON (LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id))
	               q.*, LEAST(ra.golden_id, rb.golden_id) AS person_a, GREATEST(ra.golden_id, rb.golden_id) AS person_b
	          FROM cdp_internal.match_review q
	          JOIN @extschema@.record ra ON ra.record_id = q.record_a
	          JOIN @extschema@.record rb ON rb.record_id = q.record_b
	         WHERE q.status = 'open'
	           -- a pair whose records were joined since (by another link or a person) needs no decision
	           AND ra.golden_id <> rb.golden_id
	         ORDER BY LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	                  q.priority DESC NULLS LAST, q.score DESC, q.pair_id) x
	  LEFT JOIN cdp_internal.match_settings s ON s.version = x.version
	 ORDER BY x.priority DESC NULLS LAST, x.score DESC, x.pair_id
$$;
COMMENT ON FUNCTION @extschema@.review_queue_entries() IS
	'the rows of cdp.review_queue, read as the owner; EXECUTE is the role check';

CREATE OR REPLACE VIEW @extschema@.review_queue WITH (security_invoker = true) AS
	SELECT e.pair_id, e.record_a, e.record_b, e.score, e.summary, e.age, e.priority, e.person_a, e.person_b, e.pairs
	  FROM @extschema@.review_queue_entries() e;

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

CREATE OR REPLACE VIEW @extschema@.matching_progress WITH (security_invoker = true) AS
	SELECT r.run_id, r.mode, r.started_at, r.finished_at, r.result, r.waiting_in_queue
	  FROM @extschema@.matching_runs() r;

CREATE OR REPLACE VIEW @extschema@.suspicious_values WITH (security_invoker = true) AS
	SELECT 'phones'::text AS attr, pg_catalog.regexp_replace(p::text, '\D', '', 'g') AS value,
	       pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))::int AS persons,
	       pg_catalog.count(*)::int AS records
	  FROM @extschema@.record r, pg_catalog.unnest(r.phones) p
	 GROUP BY 2
	HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))
	       >= COALESCE((@extschema@.matching_settings() ->> 'suspicious_min_persons')::int, 5)
	UNION ALL
	SELECT 'emails', pg_catalog.lower(pg_catalog.btrim(e::text)),
	       pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))::int,
	       pg_catalog.count(*)::int
	  FROM @extschema@.record r, pg_catalog.unnest(r.emails) e
	 GROUP BY 2
	HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))
	       >= COALESCE((@extschema@.matching_settings() ->> 'suspicious_min_persons')::int, 5);

CREATE OR REPLACE VIEW @extschema@.oversize_persons WITH (security_invoker = true) AS
	SELECT r.golden_id, pg_catalog.count(*) AS records, b.max_person_records
	  FROM @extschema@.record r
	 -- (20 is the shipped default of _match_default_settings, for settings saved before 0.3.0; the
	 -- settings in force come from cdp.matching_settings(), as the owner, so a role that may read
	 -- cdp.record may read this view)
	 CROSS JOIN (SELECT COALESCE((@extschema@.matching_settings() ->> 'max_person_records')::int, 20) AS max_person_records) b
	 WHERE b.max_person_records > 0
	 GROUP BY r.golden_id, b.max_person_records
	HAVING pg_catalog.count(*) >= b.max_person_records;

REVOKE ALL ON FUNCTION @extschema@.review_queue_entries() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.matching_runs() FROM PUBLIC;
/* ==== end of section: matching views under access control ==== */

/* ==== section: campaigns under access control (issues 14 + 15) ==== */
/* sql/parts/96_campaign_access.sql */
DO $definer$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'@extschema@.create_campaign(jsonb)',
		'@extschema@.edit_campaign(bigint,jsonb)',
		'@extschema@.copy_campaign(bigint,text)',
		'@extschema@.set_campaign_status(bigint,text)',
		'@extschema@.build_send_list(bigint,timestamp with time zone)',
		'@extschema@.set_contact_preference(bigint,text)',
		'@extschema@.run_campaigns(timestamp with time zone)',
		'@extschema@.mark_sent(bigint)',
		'@extschema@.record_delivery_event(bigint,text,timestamp with time zone,jsonb)',
		'@extschema@.ingest_delivery_events()',
		'@extschema@.refresh_campaign_metrics(bigint,integer)',
		'@extschema@.rebuild_campaigns()']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER', f::pg_catalog.regprocedure);
	END LOOP;
END
$definer$;
SELECT cdp_internal.acc_lock_down();

ALTER TABLE @extschema@.delivery_event_staging NO FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.delivery_event_staging DISABLE ROW LEVEL SECURITY;

SELECT cdp_internal.acc_protect(t.tbl, t.kind) FROM (VALUES
	('@extschema@.campaign_send'::pg_catalog.regclass, 'sending'),
	('@extschema@.campaign_delivery', 'marketing'),
	('@extschema@.campaign', 'marketing'),
	('@extschema@.campaign_version', 'marketing'),
	('cdp_internal.campaign_preference', 'internal'),
	('cdp_internal.campaign_address_block', 'internal')) t(tbl, kind);

INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT m.role, m.kind, m.object, m.privilege FROM (VALUES
	('cdp_marketer', 'function', 'cdp.create_campaign(jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.edit_campaign(bigint,jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.copy_campaign(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.set_campaign_status(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.build_send_list(bigint,timestamp with time zone)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.refresh_campaign_metrics(bigint,integer)', 'EXECUTE'),
	('cdp_marketer', 'table', 'cdp.campaign', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_version', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_send', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_delivery', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_metrics', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.campaign_funnel', 'SELECT'),
	('cdp_registrar', 'function', 'cdp.set_contact_preference(bigint,text)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.mark_sent(bigint)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.record_delivery_event(bigint,text,timestamp with time zone,jsonb)', 'EXECUTE'),
	('cdp_sender', 'function', 'cdp.ingest_delivery_events()', 'EXECUTE'),
	('cdp_sender', 'table', 'cdp.send_list', 'SELECT'),
	('cdp_sender', 'table', 'cdp.campaign_send', 'SELECT'),
	('cdp_sender', 'table', 'cdp.delivery_event_staging', 'INSERT'),
	('cdp_scheduler', 'function', 'cdp.run_campaigns(timestamp with time zone)', 'EXECUTE'),
	('cdp_scheduler', 'function', 'cdp.run_maintenance(integer)', 'EXECUTE'),
	('cdp_scheduler', 'function', 'cdp.maintenance_step(text,integer)', 'EXECUTE'),
	('cdp_dpo', 'table', 'cdp.campaign', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.campaign_send', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.campaign_delivery', 'SELECT')) m(role, kind, object, privilege);
/* ==== end of section: campaigns under access control ==== */


/* ==== section: segments under access control (issues 13 + 15) ==== */
/*
 * As sql/parts/97_seg_access.sql: the consent, offer and segment API runs as the owner with EXECUTE
 * granted by the matrix, consent changes are audited, the marketer's preview folds the clinical
 * guards, membership tables are registered as marketing data.  After every other section.
 */

/* ------------------------------------------------------------------ definer functions */

DO $definer$
DECLARE
	f	text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'@extschema@.set_consent(bigint,text,text,boolean,timestamp with time zone,text,text)',
		'@extschema@.consent_now(bigint)',
		'@extschema@.may_contact(bigint,text,text)',
		'@extschema@.rebuild_consent()',
		'@extschema@.create_offer(jsonb)',
		'@extschema@.edit_offer(bigint,jsonb)',
		'@extschema@.archive_offer(bigint,boolean)',
		'@extschema@.rebuild_offers()',
		'@extschema@.configure_sensitive_categories(jsonb)',
		'@extschema@.create_segment(text,jsonb,text,bigint,text)',
		'@extschema@.edit_segment(bigint,jsonb,text,text,bigint,text)',
		'@extschema@.copy_segment(bigint,text)',
		'@extschema@.archive_segment(bigint,boolean)',
		'@extschema@.segment_list_set(bigint,text,bigint[],boolean)',
		'@extschema@.refresh_segment(bigint,text)',
		'@extschema@.set_segment_refresh(bigint,interval)',
		'@extschema@.refresh_due_segments()',
		'@extschema@.segment_compare(bigint,bigint)',
		'@extschema@.segment_split(bigint,jsonb)']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f::pg_catalog.regprocedure);
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f::pg_catalog.regprocedure);
	END LOOP;
END
$definer$;

/*
 * Who may target a sensitive category in a treatment segment: the caller (SET ROLE, else the
 * login), not CURRENT_USER, which inside the definer functions above is the owner (a superuser,
 * member of every role).  A member of cdp_doctor, or a superuser; before cdp.setup_roles() also
 * the owner of schema cdp, as 82_segment_rules.sql had it.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_may_use_sensitive() RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT cdp_internal.acc_is(ARRAY['cdp_doctor'])
	    OR (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'cdp_doctor')
	        AND pg_catalog.pg_has_role(cdp_internal.acc_caller(),
	                (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@'), 'MEMBER'))
$$;
COMMENT ON FUNCTION cdp_internal.seg_may_use_sensitive() IS
	'true when the calling role may target sensitive diagnoses in a treatment segment: member of cdp_doctor or superuser (before setup_roles: the owner) (internal)';

/*
 * saved_by of a segment and its versions: the calling role, not the owner the definer functions
 * run as (seg_save writes CURRENT_USER).  Only a value equal to CURRENT_USER is replaced, so rows
 * a restore copies in keep who saved them.  BEFORE INSERT is enough: seg_save's ON CONFLICT DO
 * UPDATE takes saved_by from the proposed row, which the trigger has set.
 */
CREATE FUNCTION cdp_internal.seg_saved_by() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	NEW.saved_by := cdp_internal.acc_caller();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_saved_by() IS
	'trigger: saved_by of cdp.segment and cdp.segment_version is the calling role, not the definer function''s owner';
CREATE TRIGGER segment_saved_by BEFORE INSERT ON @extschema@.segment
	FOR EACH ROW WHEN (NEW.saved_by OPERATOR(pg_catalog.=) CURRENT_USER) EXECUTE FUNCTION cdp_internal.seg_saved_by();
CREATE TRIGGER segment_version_saved_by BEFORE INSERT ON @extschema@.segment_version
	FOR EACH ROW WHEN (NEW.saved_by OPERATOR(pg_catalog.=) CURRENT_USER) EXECUTE FUNCTION cdp_internal.seg_saved_by();
/* always, like every trigger of cdp (doc/security.md): it only ever puts the caller for CURRENT_USER */
ALTER TABLE @extschema@.segment ENABLE ALWAYS TRIGGER segment_saved_by;
ALTER TABLE @extschema@.segment_version ENABLE ALWAYS TRIGGER segment_version_saved_by;

/*
 * Consent changes are audited (issue 15, item 5): the family's cdp.set_consents moves to
 * cdp_internal (same name, same body) and cdp.set_consents, which cdp.set_consent calls, records
 * the statement through it and writes the audit row in the same transaction: the person, the
 * purposes, the channels, granted or withdrawn, the event; not the evidence or the address, which
 * are personal.  A wrapper rather than a trigger: a trigger on the log or the projections would
 * fire again for the rows a restore copies in (every trigger of cdp fires always), while the
 * audit rows come back with the dump; rebuild_consent appends nothing and is not a change.
 */
ALTER FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) SET SCHEMA cdp_internal;
COMMENT ON FUNCTION cdp_internal.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement (the consent family''s set_consents; internal to cdp.set_consents, which audits it)';

CREATE FUNCTION @extschema@.set_consents(golden_id bigint, purposes text[], channels text[], granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ev	bigint;
	e	record;
BEGIN
	ev := cdp_internal.set_consents(golden_id, purposes, channels, granted, at, evidence, address);
	SELECT x.golden_id, x.kind, x.payload INTO e FROM @extschema@.event x WHERE x.event_id OPERATOR(pg_catalog.=) ev;
	PERFORM cdp_internal.acc_audit('consent.changed', ARRAY[e.golden_id],
		pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(e.payload OPERATOR(pg_catalog.->) 'purposes')), ','),
		pg_catalog.jsonb_build_object('event_id', ev, 'granted', e.kind OPERATOR(pg_catalog.=) 'consent.granted',
			'channels', e.payload OPERATOR(pg_catalog.->) 'channels', 'address_given', address IS NOT NULL));
	RETURN ev;
END
$$;
COMMENT ON FUNCTION @extschema@.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement covering several purposes x channels (* = all channels), e.g. a framework consent document; audited (consent.changed); returns the event id';

/* ------------------------------------------------------------------ preview without diagnoses */

/*
 * segment_preview's "dropped" names the offer guard that removed people: contraindication:C61 or
 * pregnancy, which for a narrow rule says what diagnosis a patient has.  The family's function
 * becomes cdp_internal.seg_preview_detail, and cdp.segment_preview gives a caller who is not a
 * doctor (nor a superuser) those guards folded into one count, "clinical" (contraindication:*,
 * pregnancy, requires:*).  The sample is golden ids only, as before.
 */
ALTER FUNCTION @extschema@.segment_preview(jsonb, bigint, text, text) SET SCHEMA cdp_internal;
ALTER FUNCTION cdp_internal.segment_preview(jsonb, bigint, text, text) RENAME TO seg_preview_detail;
COMMENT ON FUNCTION cdp_internal.seg_preview_detail(jsonb, bigint, text, text) IS
	'segment_preview with every guard by name, contraindication codes included (internal to cdp.segment_preview)';

CREATE FUNCTION @extschema@.segment_preview(rules jsonb, offer bigint DEFAULT NULL, purpose text DEFAULT 'marketing',
	channel text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r	jsonb;
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer'], 'cdp.segment_preview');
	r := cdp_internal.seg_preview_detail(rules, offer, purpose, channel);
	IF cdp_internal.acc_is(ARRAY['cdp_doctor']) THEN
		RETURN r;
	END IF;
	RETURN pg_catalog.jsonb_set(r, '{dropped}', coalesce((
		SELECT pg_catalog.jsonb_object_agg(x.k, x.n)
		  FROM (SELECT CASE WHEN d.key OPERATOR(pg_catalog.~~) 'contraindication:%' OR d.key OPERATOR(pg_catalog.~~) 'requires:%'
		                         OR d.key OPERATOR(pg_catalog.=) 'pregnancy' THEN 'clinical' ELSE d.key END AS k,
		               pg_catalog.sum((d.value #>> '{}')::bigint) AS n
		          FROM pg_catalog.jsonb_each(r OPERATOR(pg_catalog.->) 'dropped') d GROUP BY 1) x), '{}'::jsonb));
END
$$;
COMMENT ON FUNCTION @extschema@.segment_preview(jsonb, bigint, text, text) IS
	'who a rule would reach today, without saving: {"count", "dropped": {guard: n}, "sample": [golden ids]}; clinical guards folded into "clinical" unless the caller is a doctor; e.g. segment_preview(''{"attr": "sex", "op": "=", "value": "F"}'')';

/* ------------------------------------------------------------------ BI reads for the roles */

/*
 * The BI views stay security_invoker (every view of cdp is): they read segment_member and patient,
 * which marketers and analysts cannot.  These two functions read them as the owner for the roles
 * allowed: sizes and reach per segment (marketer, analyst, dpo), and members as pseudonym, age band, sex and city with
 * groups under 5 left out.
 */
CREATE FUNCTION @extschema@.segment_summary_report()
	RETURNS SETOF @extschema@.segment_summary
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst', 'cdp_dpo'], 'cdp.segment_summary_report');
	RETURN QUERY SELECT * FROM @extschema@.segment_summary s ORDER BY s.segment_id;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_summary_report() IS
	'the rows of cdp.segment_summary (size and reach per channel of every segment) for marketers, analysts and the dpo';

CREATE FUNCTION @extschema@.segment_member_pseudonyms(segment_id bigint DEFAULT NULL)
	RETURNS SETOF @extschema@.segment_member_pseudonymous
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.acc_require(ARRAY['cdp_admin', 'cdp_marketer', 'cdp_analyst'], 'cdp.segment_member_pseudonyms');
	RETURN QUERY SELECT * FROM @extschema@.segment_member_pseudonymous m
	  WHERE segment_member_pseudonyms.segment_id IS NULL OR m.segment_id OPERATOR(pg_catalog.=) segment_member_pseudonyms.segment_id
	  ORDER BY m.segment_id, m.pseudonym;
END
$$;
COMMENT ON FUNCTION @extschema@.segment_member_pseudonyms(bigint) IS
	'the rows of cdp.segment_member_pseudonymous (pseudonym, age band, sex, city; groups under 5 left out) of one segment or all, for marketers, analysts and the dpo';

/* ------------------------------------------------------------------ tables */

/* membership and lists name patients: marketing kind (admin, marketer, dpo read; erasure deletes) */
SELECT cdp_internal.acc_protect(t.tbl, 'marketing') FROM (VALUES
	('@extschema@.segment_member'::pg_catalog.regclass),
	('@extschema@.segment_member_history'),
	('@extschema@.segment_list')) t(tbl);

/*
 * Definitions hold no personal data (rules, offer documents, the sensitive ranges): one policy
 * shows every row, and the table privilege of the matrix decides who reads them.
 */
CREATE POLICY seg_definitions ON @extschema@.segment FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.segment_version FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.offer FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.offer_version FOR SELECT USING (true);
CREATE POLICY seg_definitions ON @extschema@.sensitive_category FOR SELECT USING (true);

/* ------------------------------------------------------------------ the grant matrix */

INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
SELECT m.role, m.kind, m.object, m.privilege FROM (VALUES
	('cdp_registrar', 'function', 'cdp.set_consent(bigint,text,text,boolean,timestamp with time zone,text,text)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.set_consents(bigint,text[],text[],boolean,timestamp with time zone,text,text)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.consent_now(bigint)', 'EXECUTE'),
	('cdp_registrar', 'function', 'cdp.may_contact(bigint,text,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.may_contact(bigint,text,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.create_offer(jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.edit_offer(bigint,jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.archive_offer(bigint,boolean)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_preview(jsonb,bigint,text,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.create_segment(text,jsonb,text,bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.edit_segment(bigint,jsonb,text,text,bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.copy_segment(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.archive_segment(bigint,boolean)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_list_set(bigint,text,bigint[],boolean)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.refresh_segment(bigint,text)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.set_segment_refresh(bigint,interval)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_compare(bigint,bigint)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_split(bigint,jsonb)', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_summary_report()', 'EXECUTE'),
	('cdp_marketer', 'function', 'cdp.segment_member_pseudonyms(bigint)', 'EXECUTE'),
	('cdp_marketer', 'table', 'cdp.segment', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.segment_version', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.offer', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.offer_version', 'SELECT'),
	('cdp_marketer', 'table', 'cdp.sensitive_category', 'SELECT'),
	('cdp_analyst', 'function', 'cdp.segment_summary_report()', 'EXECUTE'),
	('cdp_analyst', 'function', 'cdp.segment_member_pseudonyms(bigint)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.consent_now(bigint)', 'EXECUTE'),
	('cdp_dpo', 'function', 'cdp.segment_summary_report()', 'EXECUTE'),
	('cdp_dpo', 'table', 'cdp.consent_statement', 'SELECT'),
	('cdp_dpo', 'table', 'cdp.consent_suppression', 'SELECT'),
	('cdp_scheduler', 'function', 'cdp.refresh_due_segments()', 'EXECUTE')) m(role, kind, object, privilege);

/*
 * the new functions of this section are revoked from PUBLIC too; sparing nothing, as 97_seg_access
 * does after 95_dump.sql at install, so cdp_internal._restore_replace_installed is revoked in both
 */
SELECT cdp_internal.acc_lock_down();

/* ==== end of section: segments under access control ==== */

/* ==== section: specialties (demo review; issue 15 follow-up, session 21) ==== */
/* A doctor's grant names specialties in any spelling: «кардиолог» covers a visit recorded as
 * "cardiology".  cdp.in_care compares the codes of cdp_internal.specialty_code. */
/*
 * One vocabulary of medical specialties.  Sources write a specialty as they please (a visit's
 * «кардиолог», a lab system's «Кардиология», an English export's "cardiology"); a doctor's grant
 * names specialties in any of those spellings.  The code of a spelling is the canonical English
 * name of the specialty; a spelling the vocabulary does not know is its own code (lower case, spaces
 * folded), so an exact spelling always matches itself.  IMMUTABLE: the list is fixed per release.
 */
CREATE FUNCTION cdp_internal.specialty_code(spelling text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT v.code FROM (VALUES
			('cardiology', ARRAY['cardiology', 'cardiologist', 'кардиология', 'кардиолог']),
			('therapy', ARRAY['therapy', 'therapist', 'general practice', 'general practitioner', 'gp', 'internal medicine',
							  'терапия', 'терапевт', 'врач общей практики', 'общая практика']),
			('urology', ARRAY['urology', 'urologist', 'урология', 'уролог']),
			('gynecology', ARRAY['gynecology', 'gynaecology', 'gynecologist', 'gynaecologist', 'гинекология', 'гинеколог',
								 'акушерство и гинекология', 'акушер-гинеколог']),
			('dermatology', ARRAY['dermatology', 'dermatologist', 'дерматология', 'дерматолог', 'дерматовенеролог',
								  'дерматовенерология']),
			('neurology', ARRAY['neurology', 'neurologist', 'неврология', 'невролог', 'невропатолог']),
			('ophthalmology', ARRAY['ophthalmology', 'ophthalmologist', 'офтальмология', 'офтальмолог', 'окулист']),
			('otorhinolaryngology', ARRAY['otorhinolaryngology', 'ent', 'оториноларингология', 'оториноларинголог', 'лор']),
			('endocrinology', ARRAY['endocrinology', 'endocrinologist', 'эндокринология', 'эндокринолог']),
			('gastroenterology', ARRAY['gastroenterology', 'gastroenterologist', 'гастроэнтерология', 'гастроэнтеролог']),
			('pediatrics', ARRAY['pediatrics', 'paediatrics', 'pediatrician', 'педиатрия', 'педиатр']),
			('surgery', ARRAY['surgery', 'surgeon', 'хирургия', 'хирург']),
			('oncology', ARRAY['oncology', 'oncologist', 'онкология', 'онколог']),
			('mammology', ARRAY['mammology', 'mammologist', 'маммология', 'маммолог']),
			('psychiatry', ARRAY['psychiatry', 'psychiatrist', 'психиатрия', 'психиатр']),
			('dentistry', ARRAY['dentistry', 'dentist', 'стоматология', 'стоматолог']),
			('traumatology', ARRAY['traumatology', 'orthopedics', 'травматология', 'травматолог', 'травматолог-ортопед',
								   'ортопедия', 'ортопед'])
		) v(code, spellings)
		 WHERE pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim($1)), '\s+', ' ', 'g') OPERATOR(pg_catalog.=) ANY (v.spellings)),
		pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim($1)), '\s+', ' ', 'g'))
$$;
COMMENT ON FUNCTION cdp_internal.specialty_code(text) IS
	'the canonical code of a medical specialty however a source spells it (кардиолог, Кардиология, cardiology: cardiology); an unknown spelling is its own code';

CREATE OR REPLACE FUNCTION @extschema@.in_care(golden_id bigint) RETURNS boolean
	LANGUAGE sql STABLE LEAKPROOF PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (
		SELECT 1 FROM cdp_internal.acc_grant g
		 WHERE g.login OPERATOR(pg_catalog.=) SESSION_USER AND g.role OPERATOR(pg_catalog.=) 'cdp_doctor'
		   AND (g.scope OPERATOR(pg_catalog.@>) '{"all": true}'::jsonb
				OR (g.scope OPERATOR(pg_catalog.->) 'golden_ids') OPERATOR(pg_catalog.@>) pg_catalog.to_jsonb($1)
				OR EXISTS (SELECT 1 FROM @extschema@.clinical_event c
							WHERE c.golden_id OPERATOR(pg_catalog.=) $1
							  AND cdp_internal.specialty_code(c.specialty) OPERATOR(pg_catalog.=) ANY (
								  SELECT cdp_internal.specialty_code(pg_catalog.jsonb_array_elements_text(
									  CASE WHEN pg_catalog.jsonb_typeof(g.scope OPERATOR(pg_catalog.->) 'specialties') OPERATOR(pg_catalog.=) 'array'
										   THEN g.scope OPERATOR(pg_catalog.->) 'specialties' ELSE '[]'::jsonb END))))))
$$;
COMMENT ON FUNCTION @extschema@.in_care(bigint) IS
	'true when the patient is in the care of the calling doctor (scope of its cdp_doctor grant); the doctor policies call it';

SELECT cdp_internal.acc_lock_down();
/* ==== end of section: specialties ==== */

/* ==== section: seg (issue 13, session 21) ==== */
/*
 * Segments: a campaign-history clause in the rule language ({"campaign": ...}), with the table
 * cdp_internal.seg_touch and triggers on cdp.campaign_send for the incremental refresh; an "all"
 * evaluates its profile clauses in one pass and an "any" each clause on what is left; the
 * analysts' pseudonym is the access layer's keyed pseudonym (cdp_internal.seg_salt goes); the
 * sensitive-category refusal names the calling role and the role required; may_contact asks less.
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
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.seg_touch', '');

/*
 * May the person be contacted for the purpose through the channel?  The person's consent (the
 * fold of consent_now, defaults included), and, when the person has addresses for the channel,
 * at least one of them not suppressed for the purpose.  Unknown persons: false.  Campaigns ask
 * it for every message (cdp.mark_sent), so it asks little: the purpose's default (which also
 * checks the purpose), the profile by its id (resolve_patient only for an id merged away: a
 * golden id with a profile is never redirected), one query for the latest statement, and the
 * addresses only when consent allows.
 */
CREATE OR REPLACE FUNCTION @extschema@.may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p		@extschema@.patient;
	ok		boolean;
	addrs	text[];
BEGIN
	IF may_contact.golden_id IS NULL THEN
		RETURN false;
	END IF;
	ok := (SELECT x.default_granted FROM @extschema@.consent_purposes() x WHERE x.purpose = may_contact.purpose);
	IF ok IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() x WHERE x.channel = may_contact.channel) THEN
		/* an unknown purpose or channel, or '*': consent_check says which */
		PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[channel]);
		RAISE EXCEPTION 'may_contact asks about one channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call or post.';
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = may_contact.golden_id;
	IF NOT FOUND THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = @extschema@.resolve_patient(may_contact.golden_id);
		IF NOT FOUND THEN
			RETURN false;
		END IF;
	END IF;
	ok := coalesce((
		SELECT s.granted
		  FROM @extschema@.record r
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		       AND s.purpose = may_contact.purpose AND s.channel = may_contact.channel
		 WHERE r.golden_id = p.golden_id
		   AND cdp_internal.consent_counts(s.granted, s.records, p.golden_id)
		 ORDER BY s.at DESC, s.granted, s.event_id DESC
		 LIMIT 1), ok);
	IF NOT ok THEN
		RETURN false;
	END IF;
	addrs := cdp_internal.consent_addresses(p, channel);
	RETURN NOT (pg_catalog.cardinality(addrs) > 0
	            AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                             WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                WHERE s.address_key = a AND s.purpose = may_contact.purpose AND s.suppressed)));
END
$$;
COMMENT ON FUNCTION @extschema@.may_contact(bigint, text, text) IS
	'true when the person may be contacted for the purpose through the channel: consent (defaults included) and not every address of the channel suppressed; e.g. may_contact(42, ''marketing'', ''sms'')';

/*
 * The time window of a clause over the timestamp column col (a fixed name from the compiler):
 * "within": "11 months" (since d minus the interval) or "ago": ["13 months", "11 months"] (the
 * farther first, whole days).  NULL when the clause has neither; 22023 with the path otherwise.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_window(node jsonb, d date, path text, col text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	far		interval;
	near	interval;
BEGIN
	IF node ? 'within' AND node ? 'ago' THEN
		PERFORM cdp_internal.seg_fail('a clause takes one of "within" and "ago"', path, 'Use "within": "11 months" or "ago": ["13 months", "11 months"].');
	ELSIF node ? 'within' THEN
		far := cdp_internal.seg_interval(node -> 'within', path || '.within');
		RETURN pg_catalog.format('%s >= %L::timestamptz', col, (d - far)::timestamptz);
	ELSIF node ? 'ago' THEN
		IF pg_catalog.jsonb_typeof(node -> 'ago') <> 'array' OR pg_catalog.jsonb_array_length(node -> 'ago') <> 2 THEN
			PERFORM cdp_internal.seg_fail('"ago" needs two intervals, the farther first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		far := cdp_internal.seg_interval(node -> 'ago' -> 0, path || '.ago[0]');
		near := cdp_internal.seg_interval(node -> 'ago' -> 1, path || '.ago[1]');
		IF d - far > d - near THEN
			PERFORM cdp_internal.seg_fail('"ago" needs the farther interval first', path || '.ago', 'Use ["13 months", "11 months"].');
		END IF;
		RETURN pg_catalog.format('%s >= %L::timestamptz AND %s < %L::timestamptz', col, (d - far)::timestamptz,
			col, (d - near + interval '1 day')::timestamptz);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_window(jsonb, date, text, text) IS
	'the "within" / "ago" window of a rule clause over a timestamp column, NULL when it has none; 22023 with the JSON path (internal)';

/*
 * Compiles one attribute leaf {"attr", "op", "value"} into its predicate over profile row p.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_compile_attr(node jsonb, d date, path text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a		record;
	op		text := node ->> 'op';
	v		jsonb := node -> 'value';
	k		text;
	x		text;
	lits	text[];
	expr	text;
	i		int := 0;
	form	constant text := 'Use {"attr": "age", "op": "between", "value": [35, 55]} or {"attr": "city", "op": "in", "value": ["Москва"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('attr', 'op', 'value') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an attribute clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF pg_catalog.jsonb_typeof(node -> 'attr') <> 'string' THEN
		PERFORM cdp_internal.seg_fail('a segment attribute must be a string', path || '.attr', form);
	END IF;
	SELECT * INTO a FROM @extschema@.segment_attributes() s WHERE s.attr = node ->> 'attr';
	IF a.attr IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown segment attribute "%s"', pg_catalog.left(node ->> 'attr', 64)), path || '.attr',
			'Known attributes: ' || (SELECT pg_catalog.string_agg(s.attr, ', ') FROM @extschema@.segment_attributes() s) || '.');
	END IF;
	IF op IS NULL OR pg_catalog.jsonb_typeof(node -> 'op') <> 'string' OR NOT op = ANY (a.ops) THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s is not allowed for attribute "%s"',
			pg_catalog.left(coalesce((node -> 'op')::text, 'null'), 32), a.attr), path || '.op',
			pg_catalog.format('Operators of %s: %s.', a.attr, pg_catalog.array_to_string(a.ops, ', ')));
	END IF;
	IF NOT node ? 'value' THEN
		PERFORM cdp_internal.seg_fail('an attribute clause needs a value', path || '.value', form);
	END IF;
	IF op = 'is_null' THEN
		PERFORM cdp_internal.seg_literal(v, 'boolean', path || '.value');
	ELSIF op IN ('between', 'in', 'not in') THEN
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) = 0
		   OR (op = 'between' AND pg_catalog.jsonb_array_length(v) <> 2) OR pg_catalog.jsonb_array_length(v) > 1000 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s needs %s', op,
				CASE op WHEN 'between' THEN 'an array of two values' ELSE 'a non-empty array of at most 1000 values' END),
				path || '.value', form);
		END IF;
		FOR x IN SELECT e::text FROM pg_catalog.jsonb_array_elements(v) e LOOP
			lits := lits || cdp_internal.seg_literal(x::jsonb, a.typ, pg_catalog.format('%s.value[%s]', path, i));
			i := i + 1;
		END LOOP;
	ELSE
		lits := ARRAY[cdp_internal.seg_literal(v, a.typ, path || '.value')];
	END IF;
	IF a.attr IN ('source_kind', 'source') THEN
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.%s IN (%s))',
			CASE a.attr WHEN 'source_kind' THEN 'kind' ELSE 'name' END, pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'reachable' THEN
		FOR x IN SELECT e #>> '{}' FROM pg_catalog.jsonb_array_elements(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e LOOP
			IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = x) THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel "%s"', pg_catalog.left(x, 64)), path || '.value',
					'Use email, sms, messenger, social, call or post.');
			END IF;
		END LOOP;
		/*
		 * the profile holds an address for one of the channels: the field consent_addresses reads
		 * (80_consent.sql), tested directly (no address is canonicalised just to be counted)
		 */
		RETURN '(' || (SELECT pg_catalog.string_agg(DISTINCT CASE c.address_kind
		                 WHEN 'emails' THEN 'pg_catalog.jsonb_array_length(coalesce(p.emails, ''[]'')) > 0'
		                 WHEN 'phones' THEN 'pg_catalog.jsonb_array_length(coalesce(p.phones, ''[]'')) > 0'
		                 WHEN 'handles' THEN 'coalesce(p.handles, ''[]'') @> ''[{"network": "vk"}]'''
		                 ELSE 'p.address IS NOT NULL' END, ' OR ')
		                 FROM pg_catalog.jsonb_array_elements_text(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e
		                 JOIN @extschema@.consent_channels() c ON c.channel = e) || ')';
	END IF;
	expr := cdp_internal.seg_attr_sql(a.attr, d);
	RETURN CASE op
		WHEN 'is_null' THEN pg_catalog.format('((%s) IS NULL) = %s', expr, cdp_internal.seg_literal(v, 'boolean', path))
		WHEN 'between' THEN pg_catalog.format('(%s) BETWEEN %s AND %s', expr, lits[1], lits[2])
		WHEN 'in' THEN pg_catalog.format('(%s) IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN 'not in' THEN pg_catalog.format('(%s) NOT IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN '!=' THEN pg_catalog.format('(%s) <> %s', expr, lits[1])
		ELSE pg_catalog.format('(%s) %s %s', expr, op, lits[1]) END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_attr(jsonb, date, text) IS
	'compiles an attribute clause into a predicate over the profile row p from the fixed catalogue (internal)';

/*
 * Compiles one event leaf into {"conds": [SQL over clinical_event e], "count": "op n" or null,
 * "indexed": the conds use the (kind, code, at) index, "sensitive": path or null}.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_compile_event(node jsonb, d date, path text) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind	text := node ->> 'event';
	w		jsonb := coalesce(node -> 'where', '{}');
	conds	text[];
	k		text;
	v		jsonb;
	codes	text[];
	r		record;
	i		int;
	far		interval;
	cnt		text;
	indexed	boolean := false;
	sens	text;
	allowed	text[];
	codex	constant text := '(COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C")';
	form	constant text := 'Use {"event": "lab_test", "where": {"code": "MAMMO"}, "ago": ["13 months", "11 months"]} or {"event": "diagnosis", "where": {"code": "E10-E14"}, "count": {">=": 2}}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('event', 'where', 'within', 'ago', 'count', 'due_within') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an event clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF kind IS NULL OR pg_catalog.jsonb_typeof(node -> 'event') <> 'string'
	   OR NOT kind IN ('visit', 'lab_test', 'diagnosis', 'recommendation', 'sick_leave') THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown event "%s"', pg_catalog.left(coalesce(node ->> 'event', 'null'), 64)), path || '.event',
			'Events: visit, lab_test, diagnosis, recommendation, sick_leave.');
	END IF;
	conds := ARRAY[pg_catalog.format('e.kind = %L', kind)];
	IF pg_catalog.jsonb_typeof(w) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('"where" must be an object', path || '.where', form);
	END IF;
	allowed := CASE kind WHEN 'visit' THEN ARRAY['specialty', 'status', 'type', 'doctor']
	                     WHEN 'lab_test' THEN ARRAY['code', 'value', 'out_of_range']
	                     WHEN 'diagnosis' THEN ARRAY['code']
	                     ELSE '{}'::text[] END;
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(w) LOOP
		IF NOT k = ANY (allowed) THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown filter "%s" for event %s', pg_catalog.left(k, 64), kind),
				path || '.where.' || pg_catalog.left(k, 64),
				CASE WHEN allowed = '{}' THEN pg_catalog.format('Event %s takes no filter.', kind)
				     ELSE 'Filters of ' || kind || ': ' || pg_catalog.array_to_string(allowed, ', ') || '.' END);
		END IF;
		IF k IN ('specialty', 'status', 'type', 'doctor') OR (k = 'code' AND kind = 'lab_test') THEN
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				codes := codes || cdp_internal.seg_literal(v, 'text', pg_catalog.format('%s.where.%s', path, k));
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('filter "%s" needs a value', k), path || '.where.' || k, form);
			END IF;
			IF k IN ('specialty', 'code') THEN
				conds := conds || pg_catalog.format('%s IN (%s)', codex, pg_catalog.array_to_string(codes, ', '));
				indexed := true;
			ELSE
				conds := conds || pg_catalog.format('e.%s IN (%s)', CASE k WHEN 'status' THEN 'visit_status' WHEN 'type' THEN 'visit_type' ELSE 'doctor' END,
					pg_catalog.array_to_string(codes, ', '));
			END IF;
		ELSIF k = 'code' THEN
			/* diagnosis: codes and ranges, index range scans; sensitive ranges are remembered */
			codes := NULL;
			i := 0;
			FOR v IN SELECT * FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v) = 'array' THEN v ELSE pg_catalog.jsonb_build_array(v) END) LOOP
				IF pg_catalog.jsonb_typeof(v) <> 'string' THEN
					PERFORM cdp_internal.seg_fail('an ICD-10 code must be a string', pg_catalog.format('%s.where.code', path), 'Use "E11" or "E10-E14".');
				END IF;
				r := cdp_internal.icd10_range(v #>> '{}', pg_catalog.format('%s.where.code', path));
				codes := codes || pg_catalog.format('(%s >= %L AND %s <= %L)', codex, r.lo, codex, r.hi || '~');
				IF sens IS NULL AND cdp_internal.seg_sensitive(r.lo, r.hi) IS NOT NULL THEN
					sens := pg_catalog.format('%s.where.code (%s: %s)', path, v #>> '{}', cdp_internal.seg_sensitive(r.lo, r.hi));
				END IF;
				i := i + 1;
			END LOOP;
			IF codes IS NULL THEN
				PERFORM cdp_internal.seg_fail('filter "code" needs a value', path || '.where.code', 'Use "E11" or ["E10-E14", "O24"].');
			END IF;
			conds := conds || ('(' || pg_catalog.array_to_string(codes, ' OR ') || ')');
			indexed := true;
		ELSIF k = 'value' THEN
			IF pg_catalog.jsonb_typeof(v) <> 'object' OR v = '{}' THEN
				PERFORM cdp_internal.seg_fail('filter "value" must be an object of comparisons', path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
			END IF;
			FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(v) LOOP
				IF NOT k IN ('=', '<', '<=', '>', '>=') THEN
					PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown comparison "%s"', pg_catalog.left(k, 16)), path || '.where.value', 'Use {">=": 5.6, "<": 7}.');
				END IF;
				conds := conds || pg_catalog.format('cdp_internal.seg_num(e.lab_result) %s %s', k,
					cdp_internal.seg_literal(v, 'numeric', pg_catalog.format('%s.where.value."%s"', path, k)));
			END LOOP;
		ELSIF k = 'out_of_range' THEN
			conds := conds || pg_catalog.format('(cdp_internal.seg_num(e.lab_result) < e.ref_low OR cdp_internal.seg_num(e.lab_result) > e.ref_high) = %s',
				cdp_internal.seg_literal(v, 'boolean', path || '.where.out_of_range'));
		END IF;
	END LOOP;
	IF kind = 'visit' AND NOT w ? 'status' THEN
		conds := conds || 'e.visit_status IN (''came'', ''in_appointment'', ''done'')'::text;
	END IF;
	IF (node ? 'within')::int + (node ? 'ago')::int + (node ? 'due_within')::int > 1 THEN
		PERFORM cdp_internal.seg_fail('an event clause takes one of "within", "ago", "due_within"', path, form);
	END IF;
	IF node ?| ARRAY['within', 'ago'] THEN
		conds := conds || cdp_internal.seg_window(node, d, path, 'e.at');
	ELSIF node ? 'due_within' THEN
		IF kind <> 'recommendation' THEN
			PERFORM cdp_internal.seg_fail('"due_within" applies to recommendations only', path || '.due_within', 'Use {"event": "recommendation", "due_within": "14 days"}.');
		END IF;
		far := cdp_internal.seg_interval(node -> 'due_within', path || '.due_within');
		conds := conds || pg_catalog.format('e.due_date >= %L::date AND e.due_date <= %L::date', d, (d + far)::date);
		indexed := true;
	END IF;
	IF node ? 'count' THEN
		v := node -> 'count';
		IF pg_catalog.jsonb_typeof(v) <> 'object' OR (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(v)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"count" needs one comparison', path || '.count', 'Use {">=": 2}.');
		END IF;
		SELECT x.key, x.value INTO k, v FROM pg_catalog.jsonb_each(node -> 'count') x;
		IF NOT k IN ('>=', '>', '=') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('count comparison "%s" is not allowed', pg_catalog.left(k, 16)), path || '.count',
				'Use >=, > or = with at least one event ({">=": 2}); for "none" use {"not": ...}.');
		END IF;
		cnt := k || ' ' || cdp_internal.seg_literal(v, 'int', path || '.count."' || k || '"');
		IF (v #>> '{}')::numeric < (CASE k WHEN '>' THEN 0 ELSE 1 END) THEN
			PERFORM cdp_internal.seg_fail('a count must ask for at least one event', path || '.count', 'Use {">=": 1} or more; for "none" use {"not": ...}.');
		END IF;
	END IF;
	RETURN pg_catalog.jsonb_build_object('conds', pg_catalog.to_jsonb(conds), 'count', cnt, 'indexed', indexed,
		'sensitive', sens,
		/* a visit in the last N with the default statuses and no other filter is the profile's last_visit */
		'last_visit', CASE WHEN kind = 'visit' AND w = '{}' AND node ? 'within' AND cnt IS NULL
		                   THEN pg_catalog.format('p.last_visit >= %L::timestamptz',
		                                          (d - cdp_internal.seg_interval(node -> 'within', path || '.within'))::timestamptz) END);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_event(jsonb, date, text) IS
	'compiles a clinical-event clause into conditions over clinical_event e from the fixed catalogue (internal)';

/*
 * The campaign statuses a rule may ask about: the condition on a send row s (cdp.campaign_send,
 * sql/parts/86_campaign_send.sql) and the time column a window applies to.  Fixed here.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_campaign_statuses(OUT status text, OUT cond text, OUT at_col text, OUT description text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	VALUES ('sent', 's.status = ''sent''', 's.sent_at', 'the message was sent'),
	       ('delivered', 's.delivered_at IS NOT NULL', 's.delivered_at', 'the gateway reported it delivered'),
	       ('opened', 's.opened_at IS NOT NULL', 's.opened_at', 'opened'),
	       ('clicked', 's.clicked_at IS NOT NULL', 's.clicked_at', 'a link was clicked'),
	       ('converted', 's.converted_at IS NOT NULL', 's.converted_at', 'booked or paid after it'),
	       ('unsubscribed', 's.unsubscribed_at IS NOT NULL', 's.unsubscribed_at', 'unsubscribed through it'),
	       ('complained', 's.complained_at IS NOT NULL', 's.complained_at', 'marked it as spam'),
	       ('bounced', 's.bounced IS NOT NULL', 's.sent_at', 'it bounced (the window applies to the send time)'),
	       ('returned', 's.returned_at IS NOT NULL', 's.returned_at', 'came back for a visit after it'),
	       ('holdout', 's.status = ''holdout''', 's.built_at', 'kept out of the campaign as its control group (the window applies to the listing time)')
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_statuses() IS
	'the campaign statuses of the rule language: the condition on a send row and its time column (internal)';

/*
 * Compiles a campaign-history leaf {"campaign": <id> | "any", "status": ..., "channel": ...,
 * "within" | "ago": ...} into conditions over cdp.campaign_send s.  Send rows keep the golden id
 * they were listed under; the evaluator follows merges (see seg_compile).
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_compile_campaign(node jsonb, d date, path text) RETURNS text[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k		text;
	st		record;
	cid		numeric;
	conds	text[];
	win		text;
	form	constant text := 'Use {"campaign": 3, "status": "clicked", "within": "30 days"} or {"campaign": "any", "status": "sent", "ago": ["60 days", "30 days"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('campaign', 'status', 'channel', 'within', 'ago') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in a campaign clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF node -> 'campaign' = '"any"' THEN
		conds := '{}';
	ELSIF pg_catalog.jsonb_typeof(node -> 'campaign') = 'number' THEN
		cid := (node ->> 'campaign')::numeric;
		IF cid <> pg_catalog.trunc(cid) OR cid NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a campaign is its id or "any"', path || '.campaign', form);
		END IF;
		IF NOT EXISTS (SELECT 1 FROM @extschema@.campaign c WHERE c.campaign_id = cid::bigint) THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('campaign %s does not exist', cid), path || '.campaign',
				'Use the id returned by cdp.create_campaign, or "any".');
		END IF;
		conds := ARRAY[pg_catalog.format('s.campaign_id = %L::bigint', cid::bigint)];
	ELSE
		PERFORM cdp_internal.seg_fail('a campaign is its id or "any"', path || '.campaign', form);
	END IF;
	IF NOT node ? 'status' THEN
		SELECT * INTO st FROM cdp_internal.seg_campaign_statuses() x WHERE x.status = 'sent';
	ELSIF pg_catalog.jsonb_typeof(node -> 'status') = 'string' THEN
		SELECT * INTO st FROM cdp_internal.seg_campaign_statuses() x WHERE x.status = node ->> 'status';
	END IF;
	IF st.status IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown campaign status %s', pg_catalog.left((node -> 'status')::text, 64)), path || '.status',
			'Statuses: ' || (SELECT pg_catalog.string_agg(x.status, ', ') FROM cdp_internal.seg_campaign_statuses() x) || '.');
	END IF;
	conds := conds || st.cond;
	IF node ? 'channel' THEN
		IF pg_catalog.jsonb_typeof(node -> 'channel') <> 'string'
		   OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = node ->> 'channel') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel %s', pg_catalog.left((node -> 'channel')::text, 64)), path || '.channel',
				'Use email, sms, messenger, social, call or post.');
		END IF;
		conds := conds || pg_catalog.format('s.channel = %L', node ->> 'channel');
	END IF;
	win := cdp_internal.seg_window(node, d, path, st.at_col);
	IF win IS NOT NULL THEN
		conds := conds || win;
	END IF;
	RETURN conds;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_campaign(jsonb, date, text) IS
	'compiles a campaign-history clause into conditions over cdp.campaign_send s from the fixed status list (internal)';

/*
 * A leaf over the profile (class 1) from its predicate over row p of cdp.patient: "gen" reads
 * every profile, "filter" probes the candidates $1 by id; "pred" lets an "all" join its profile
 * leaves into one.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_profile_leaf(pred text, path text) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path, 'pred', pred,
		'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
		'filter', pg_catalog.format('SELECT p.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.patient p ON p.golden_id = c.id WHERE %s', pred))
$$;
COMMENT ON FUNCTION cdp_internal.seg_profile_leaf(text, text) IS
	'the plan leaf of a profile predicate: gen, filter and the predicate itself (internal)';

/*
 * Compiles a rule tree for the evaluation day d into a plan: {"t": "all"|"any"|"not"|"leaf",
 * "kids" | "kid", "class", "path"}; a leaf carries "gen" and "filter" SQL and "sensitive" (the
 * path and category of a sensitive diagnosis it names, or null).  Classes order the clauses of an
 * "all" (0 indexed events and segments, 1 profile attributes, 2 other events, 3 nested all/any,
 * 4 not).  At most 20 levels and 200 clauses.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_compile(node jsonb, d date, path text DEFAULT '$', depth int DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op		text;
	kids	jsonb := '[]';
	kid		jsonb;
	i		int := 0;
	ev		jsonb;
	pred	text;
	sid		bigint;
	sens	text;
	form	constant text := 'A clause is {"all": [...]}, {"any": [...]}, {"not": {...}}, {"attr": ...}, {"event": ...}, {"campaign": ...} or {"segment": <id>}.';
BEGIN
	IF depth > 20 THEN
		PERFORM cdp_internal.seg_fail('a segment rule is nested deeper than 20 levels', path, 'Flatten the rule.');
	END IF;
	IF node IS NULL OR pg_catalog.jsonb_typeof(node) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('a segment clause must be a JSON object', path, form);
	END IF;
	IF node ?| ARRAY['all', 'any', 'not'] THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"all", "any" and "not" stand alone in their object', path, form);
		END IF;
		op := (SELECT k FROM pg_catalog.jsonb_object_keys(node) k);
		IF op = 'not' THEN
			kid := cdp_internal.seg_compile(node -> 'not', d, path || '.not', depth + 1);
			RETURN pg_catalog.jsonb_build_object('t', 'not', 'kid', kid, 'class', 4, 'path', path, 'sensitive', kid -> 'sensitive');
		END IF;
		IF pg_catalog.jsonb_typeof(node -> op) <> 'array' OR pg_catalog.jsonb_array_length(node -> op) = 0 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" needs a non-empty array of clauses', op), path || '.' || op, form);
		END IF;
		IF pg_catalog.jsonb_array_length(node -> op) > 200 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" has more than 200 clauses', op), path || '.' || op, 'Split the rule into segments and reference them.');
		END IF;
		FOR kid IN SELECT * FROM pg_catalog.jsonb_array_elements(node -> op) LOOP
			kid := cdp_internal.seg_compile(kid, d, pg_catalog.format('%s.%s[%s]', path, op, i), depth + 1);
			sens := coalesce(sens, kid ->> 'sensitive');
			kids := kids || pg_catalog.jsonb_build_array(kid);
			i := i + 1;
		END LOOP;
		/*
		 * the profile predicates of an "all" are one clause: one pass over cdp.patient (or one
		 * probe per candidate) instead of one per attribute
		 */
		IF op = 'all' AND (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(kids) k WHERE k ? 'pred') > 1 THEN
			kids := coalesce((SELECT pg_catalog.jsonb_agg(k) FROM pg_catalog.jsonb_array_elements(kids) k WHERE NOT k ? 'pred'), '[]')
			     || pg_catalog.jsonb_build_array(cdp_internal.seg_profile_leaf(
			            (SELECT pg_catalog.string_agg('(' || (k ->> 'pred') || ')', ' AND ') FROM pg_catalog.jsonb_array_elements(kids) k WHERE k ? 'pred'),
			            path || '.' || op));
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', op, 'kids', kids, 'class', 3, 'path', path, 'sensitive', sens);
	ELSIF node ? 'attr' THEN
		RETURN cdp_internal.seg_profile_leaf(cdp_internal.seg_compile_attr(node, d, path), path);
	ELSIF node ? 'event' THEN
		ev := cdp_internal.seg_compile_event(node, d, path);
		IF ev ->> 'last_visit' IS NOT NULL THEN
			RETURN cdp_internal.seg_profile_leaf(ev ->> 'last_visit', path);
		END IF;
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.jsonb_array_elements_text(ev -> 'conds') x);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN (ev ->> 'indexed')::boolean THEN 0 ELSE 2 END,
			'path', path, 'sensitive', ev -> 'sensitive',
			'gen', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s', pred)
			            ELSE pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s GROUP BY e.golden_id HAVING pg_catalog.count(*) %s', pred, ev ->> 'count') END,
			'filter', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE EXISTS (SELECT 1 FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s)', pred)
			            ELSE pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT pg_catalog.count(*) FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s) %s', pred, ev ->> 'count') END);
	ELSIF node ? 'campaign' THEN
		/*
		 * Send rows keep the golden id they were listed under: gen resolves an id merged away
		 * since to its survivor; filter looks under the candidate's id, and under the ids merged
		 * into it only when it absorbed some.
		 */
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.unnest(cdp_internal.seg_compile_campaign(node, d, path)) x);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN node -> 'campaign' = '"any"' THEN 2 ELSE 0 END, 'path', path,
			'gen', pg_catalog.format('SELECT coalesce(p.golden_id, @extschema@.resolve_patient(s.golden_id)) FROM @extschema@.campaign_send s'
			                         ' LEFT JOIN @extschema@.patient p ON p.golden_id = s.golden_id WHERE %s', pred),
			'filter', pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id)'
			          ' WHERE EXISTS (SELECT 1 FROM @extschema@.campaign_send s WHERE s.golden_id = c.id AND %s)'
			          ' OR (EXISTS (SELECT 1 FROM @extschema@.patient_redirect r WHERE r.new_id = c.id)'
			          ' AND EXISTS (SELECT 1 FROM @extschema@.campaign_send s WHERE s.golden_id = ANY (cdp_internal.golden_absorbed(c.id)) AND %s))', pred, pred));
	ELSIF node ? 'segment' THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 OR pg_catalog.jsonb_typeof(node -> 'segment') <> 'number'
		   OR (node ->> 'segment')::numeric <> pg_catalog.trunc((node ->> 'segment')::numeric) OR (node ->> 'segment')::numeric NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a segment clause is {"segment": <segment id>}', path, 'Use {"segment": 12}.');
		END IF;
		sid := (node ->> 'segment')::numeric::bigint;
		SELECT CASE WHEN s.sensitive THEN pg_catalog.format('%s (segment %s targets a sensitive category)', path, sid) ELSE '' END INTO sens
		  FROM @extschema@.segment s WHERE s.segment_id = sid;
		IF sens IS NULL THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('segment %s does not exist', sid), path || '.segment', 'Use the id returned by cdp.create_segment.');
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 0, 'path', path, 'segment', sid, 'sensitive', NULLIF(sens, ''),
			'gen', pg_catalog.format('SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = %L::bigint', sid),
			'filter', pg_catalog.format('SELECT m.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.segment_member m ON m.segment_id = %L::bigint AND m.golden_id = c.id', sid));
	END IF;
	PERFORM cdp_internal.seg_fail('a segment clause needs one of all, any, not, attr, event, campaign, segment', path, form);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile(jsonb, date, text, int) IS
	'validates a segment rule and compiles it into a plan of gen/filter SQL per clause for a day; 22023 with the JSON path (internal)';

/*
 * The plan of a rule for a purpose, with the sensitive-category policy applied: a rule that names
 * a sensitive diagnosis (or a segment that does) is refused unless the purpose is treatment and
 * the calling role may (cdp_internal.seg_may_use_sensitive).  22023 (another purpose) or 42501
 * (a role that may not) names the clause; the 42501 names the calling role and the role required.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_prepare(rules jsonb, purpose text, d date) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan	jsonb;
	need	text;
BEGIN
	PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY['*']);
	plan := cdp_internal.seg_compile(rules, d);
	IF plan ->> 'sensitive' IS NOT NULL THEN
		IF purpose <> 'treatment' THEN
			RAISE EXCEPTION 'a % segment may not target a sensitive category', purpose USING ERRCODE = '22023',
				DETAIL = pg_catalog.format('At %s.', plan ->> 'sensitive'),
				HINT = 'Remove the clause; only a treatment segment saved by a doctor may target it.';
		ELSIF NOT cdp_internal.seg_may_use_sensitive() THEN
			/* the role required: cdp_doctor, or before cdp.setup_roles() made it, the owner of schema cdp */
			need := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_doctor') THEN 'cdp_doctor'
			             ELSE (SELECT n.nspowner::regrole::text FROM pg_catalog.pg_namespace n WHERE n.nspname = '@extschema@') END;
			RAISE EXCEPTION 'role "%" may not target a sensitive category: a treatment segment that does needs role %',
				cdp_internal.acc_caller(), need USING ERRCODE = '42501',
				DETAIL = pg_catalog.format('At %s. Required role: %s (or a superuser).', plan ->> 'sensitive', need),
				HINT = pg_catalog.format('Ask a member of %s to save the segment, or remove the clause.', need);
		END IF;
	END IF;
	RETURN plan;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_prepare(jsonb, text, date) IS
	'compiles a rule for a purpose and applies the sensitive-category policy (42501 naming the clause) (internal)';

/*
 * The analysts' pseudonym of a golden id: the access family's keyed pseudonym (HMAC-SHA-256
 * under the secret key of cdp_internal.acc_key, sql/parts/93_acc_mask.sql), so a segment's
 * pseudonyms are those of cdp.masked_patients: one scheme.  SECURITY DEFINER: it reads the key
 * with the owner's rights, so whoever may see pseudonyms never needs (and must never get) the
 * key.  create_segment makes the key when there is none yet (cdp_internal.acc_ensure_key).
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_pseudonym(golden_id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN cdp_internal.acc_pseudonym(golden_id);
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_pseudonym(bigint) IS
	'the stable pseudonym of a golden id for analysts: the access family''s keyed pseudonym, read with the owner''s rights (internal)';

/*
 * The golden ids meeting a plan node, within cand when it is not NULL (NULL: everyone).  The
 * result holds archived patients too; the caller drops them (and counts them).
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_eval(plan jsonb, cand bigint[], n_all bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r		bigint[];
	kid		jsonb;
	n		bigint := pg_catalog.cardinality(cand);
	probe	boolean;
BEGIN
	IF n = 0 THEN
		RETURN '{}';
	END IF;
	IF plan ->> 't' = 'leaf' THEN
		IF cand IS NULL THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			RETURN r;
		END IF;
		/* probe id by id while that is cheaper than the clause's whole set (true sizes, no estimates) */
		probe := CASE (plan ->> 'class')::int WHEN 0 THEN n * 20 <= n_all WHEN 1 THEN n * 10 <= n_all ELSE n * 2 <= n_all END;
		IF probe THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'filter') || '))' INTO r USING cand;
		ELSE
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			r := cdp_internal.seg_and(cand, r);
		END IF;
		RETURN r;
	ELSIF plan ->> 't' = 'all' THEN
		r := cand;
		FOR kid IN SELECT x.k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') WITH ORDINALITY x(k, i)
		            ORDER BY (x.k ->> 'class')::int, cdp_internal.seg_probe_size(x.k, cand), x.i LOOP
			r := cdp_internal.seg_eval(kid, r, n_all);
			EXIT WHEN pg_catalog.cardinality(r) = 0;
		END LOOP;
		RETURN r;
	ELSIF plan ->> 't' = 'any' THEN
		/* within candidates, each clause sees only those no earlier clause took */
		r := '{}';
		FOR kid IN SELECT k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k LOOP
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
		RETURN cdp_internal.seg_minus(r, cdp_internal.seg_eval(plan -> 'kid', r, n_all));
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_eval(jsonb, bigint[], bigint) IS
	'the golden ids meeting a compiled rule node, within a candidate set (NULL = all) (internal)';

/* Saves a version (create when id is NULL); returns the segment id. */
CREATE OR REPLACE FUNCTION cdp_internal.seg_save(id bigint, name text, rules jsonb, purpose text, channel text, offer bigint)
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

/*
 * The persons the log names between two positions (lo, hi], as current golden ids: everything
 * that can change a person's evaluation (their records, clinical events, consent, archive, merges
 * and unmerges, a segment list, an address suppressed, a move in a segment this one references,
 * and, for a rule with a campaign clause, a change of their campaign history: seg_touch).
 * NULL when an event changes everyone (survivorship rules, a source's trust or kind): then the
 * refresh is full.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_changed(s @extschema@.segment, lo bigint, hi bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids		bigint[];
	refs	bigint[] := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x);
	camp	boolean := pg_catalog.jsonb_path_exists(s.rules, 'strict $.**.campaign');
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi
	            AND e.kind IN ('survivorship.configured', 'source.updated')) THEN
		RETURN NULL;
	END IF;
	WITH e AS MATERIALIZED (SELECT * FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi),
	ids AS (
		SELECT e.golden_id AS id FROM e WHERE e.golden_id IS NOT NULL
		UNION ALL SELECT e.subject FROM e WHERE e.kind = 'patient.merged'
		UNION ALL SELECT (e.payload ->> 'from')::bigint FROM e WHERE e.kind = 'patient.unmerged'
		UNION ALL SELECT r.golden_id FROM e JOIN @extschema@.record r ON r.record_id = e.subject WHERE e.kind LIKE 'record.%'
		UNION ALL SELECT r.golden_id FROM e CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(e.payload -> 'records') x
		            JOIN @extschema@.record r ON r.record_id = x::bigint WHERE e.kind LIKE 'consent.%'
		UNION ALL SELECT p.golden_id FROM e JOIN @extschema@.patient p
		            ON p.phones @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR p.emails @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR p.handles @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', e.payload ->> 'address_key'))
		            OR pg_catalog.lower(pg_catalog.btrim(p.address)) = e.payload ->> 'address_key'
		           WHERE e.kind LIKE 'consent.%' AND e.payload ->> 'address_key' IS NOT NULL
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.entered_event > lo AND h.entered_event <= hi
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.left_event > lo AND h.left_event <= hi
		UNION ALL SELECT t.golden_id FROM cdp_internal.seg_touch t WHERE camp AND t.pos > lo AND t.pos <= hi)
	SELECT cdp_internal.seg_set(ARRAY(SELECT ids.id FROM ids)) INTO ids;
	/* ids merged away since: their survivors too (only ids without a profile need resolving) */
	RETURN cdp_internal.seg_or(ids, cdp_internal.seg_set(ARRAY(
		SELECT @extschema@.resolve_patient(x) FROM pg_catalog.unnest(ids) x
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = x))));
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
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_campaign_touched() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids	bigint[];
	pos	bigint;
BEGIN
	IF TG_OP = 'INSERT' THEN
		ids := ARRAY(SELECT DISTINCT n.golden_id FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		ids := ARRAY(SELECT DISTINCT o.golden_id FROM old_rows o);
	ELSE
		ids := ARRAY(
			SELECT DISTINCT x.g FROM new_rows n JOIN old_rows o ON o.send_id = n.send_id
			 CROSS JOIN LATERAL (VALUES (n.golden_id), (o.golden_id)) x(g)
			 WHERE (o.golden_id, o.status, o.channel, o.built_at, o.sent_at, o.delivered_at, o.opened_at, o.clicked_at,
			        o.converted_at, o.unsubscribed_at, o.complained_at, o.bounced, o.returned_at)
			       IS DISTINCT FROM
			       (n.golden_id, n.status, n.channel, n.built_at, n.sent_at, n.delivered_at, n.opened_at, n.clicked_at,
			        n.converted_at, n.unsubscribed_at, n.complained_at, n.bounced, n.returned_at));
	END IF;
	IF pg_catalog.cardinality(ids) > 0 THEN
		LOCK TABLE cdp_internal.seg_touch IN ROW EXCLUSIVE MODE;
		pos := pg_catalog.nextval('@extschema@.event_event_id_seq');
		INSERT INTO cdp_internal.seg_touch (golden_id, pos) SELECT x, pos FROM pg_catalog.unnest(ids) x;
	END IF;
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
CREATE OR REPLACE FUNCTION cdp_internal.seg_wait_writers() RETURNS void
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
CREATE OR REPLACE FUNCTION @extschema@.refresh_segment(id bigint, mode text DEFAULT 'incremental') RETURNS jsonb
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
	plan := cdp_internal.seg_compile(s.rules, d);
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
		'evaluated', CASE WHEN m = 'full' THEN NULL ELSE pg_catalog.cardinality(cand) END,
		'size', (SELECT pg_catalog.count(*) FROM @extschema@.segment_member x WHERE x.segment_id = s.segment_id));
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_segment(bigint, text) IS
	'refreshes a segment''s members: full, or incremental (only persons the log changed since the last refresh); e.g. refresh_segment(3)';

/* the definer functions of 97_seg_access.sql stay definer functions */
ALTER FUNCTION @extschema@.may_contact(bigint, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.refresh_segment(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

/*
 * the pseudonyms' salt is gone: the access family's key serves (seg_save makes it); out of the
 * extension first, which also takes it off the tables pg_dump dumps (extconfig)
 */
ALTER EXTENSION cdp DROP TABLE cdp_internal.seg_salt;
DROP TABLE cdp_internal.seg_salt;

/* ------------------------------------------------------------------ campaign history */

/*
 * A segment rule may ask about campaign history ({"campaign": ...}, 82_segment_rules.sql), which
 * lives in cdp.campaign_send (86_campaign_send.sql: listed, sent, refused; delivery outcomes
 * folded in by 87_campaign_delivery.sql).  The campaign family appends no log event for a send or
 * a delivery report, so these triggers name the persons whose send rows changed in
 * cdp_internal.seg_touch for the incremental refresh (84_segment.sql).  Statement triggers with
 * transition tables: a send list of thousands of rows is one position.  Always, like every
 * trigger of cdp.
 */
CREATE TRIGGER seg_campaign_insert AFTER INSERT ON @extschema@.campaign_send
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.seg_campaign_touched();
CREATE TRIGGER seg_campaign_update AFTER UPDATE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.seg_campaign_touched();
CREATE TRIGGER seg_campaign_delete AFTER DELETE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.seg_campaign_touched();
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER seg_campaign_insert;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER seg_campaign_update;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER seg_campaign_delete;
SELECT cdp_internal.acc_protect('cdp_internal.seg_touch', 'internal');


/* the new functions of this section are revoked from PUBLIC too, as at install */
SELECT cdp_internal.acc_lock_down();

/* ==== end of section: seg ==== */

/* ==== section: imp (issue 16, session 21) ==== */

/*
 * The import kinds consents, partner_contacts and segment_list; reasons as sentences; source_quality
 * counts the rows quarantined by committed imports and the refused imports apart.  (The C reader's
 * _import_parse accepts key column 0: same symbol, nothing to declare.)
 */

ALTER TABLE cdp_internal.import_batch DROP CONSTRAINT import_batch_kind_check;
ALTER TABLE cdp_internal.import_batch ADD CONSTRAINT import_batch_kind_check
	CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['patients', 'clinical_events', 'consents', 'partner_contacts', 'segment_list']));

CREATE OR REPLACE FUNCTION cdp_internal._import_kinds() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN ARRAY['patients', 'clinical_events', 'consents', 'partner_contacts', 'segment_list'];
COMMENT ON FUNCTION cdp_internal._import_kinds() IS
	'the import kinds: patients, clinical_events, consents, partner_contacts, segment_list';

CREATE OR REPLACE FUNCTION cdp_internal._import_check_kind(kind text) RETURNS void
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

CREATE OR REPLACE FUNCTION cdp_internal._import_kind_columns(kind text)
	RETURNS TABLE (ord integer, name text, spellings text[], example text, required boolean)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c.ord::integer, c.name, c.spellings, c.example, c.required
	  FROM (VALUES
		('patients', 1, 'source_id', ARRAY['id', 'код', 'идентификатор'], 'P-1001', true),
		('patients', 2, 'family_name', ARRAY['last_name', 'surname', 'фамилия'], 'Иванова', false),
		('patients', 3, 'given_name', ARRAY['first_name', 'имя'], 'Мария', false),
		('patients', 4, 'patronymic', ARRAY['middle_name', 'отчество'], 'Петровна', false),
		('patients', 5, 'birth_date', ARRAY['dob', 'date_of_birth', 'birthday', 'дата_рождения'], '14.03.1985', false),
		('patients', 6, 'sex', ARRAY['gender', 'пол'], 'Ж', false),
		('patients', 7, 'phone', ARRAY['mobile', 'tel', 'телефон'], '+7 916 123-45-67', false),
		('patients', 8, 'email', ARRAY['e_mail', 'e-mail'], 'ivanova@example.ru', false),
		('patients', 9, 'snils', ARRAY['снилс'], '112-233-445 95', false),
		('patients', 10, 'oms', ARRAY['polis', 'полис'], '', false),
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

CREATE OR REPLACE FUNCTION @extschema@.import_template(kind text) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
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

CREATE OR REPLACE FUNCTION cdp_internal._import_header(kind text, header text[], options jsonb,
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
	i			integer;
BEGIN
	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.replace(pg_catalog.lower(pg_catalog.btrim(e)), ' ', '_')), ARRAY[]::text[])
	  INTO v_ignore FROM pg_catalog.jsonb_array_elements_text(COALESCE(options -> 'ignore_columns', '[]'::jsonb)) e;
	keys := ARRAY[]::text[];
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
			CONTINUE;
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
			CONTINUE;
		END IF;
		IF v_key IS NULL AND v_card
		   AND NOT COALESCE((@extschema@.normalize_attrs(pg_catalog.jsonb_build_object(v_norm, '0'), true) -> 'extra')
							 OPERATOR(pg_catalog.?) v_norm, false) THEN
			v_key := v_norm;		/* a spelling ingest knows */
		END IF;
		IF v_key IS NULL THEN
			IF v_extra AND v_card THEN
				v_key := v_norm;
			ELSE
				bad_col := header[i];
				why := pg_catalog.format('Column "%s" is not a column of %s.', header[i], kind);
				RETURN;
			END IF;
		END IF;
		keys := keys OPERATOR(pg_catalog.||) v_key;
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

CREATE OR REPLACE FUNCTION @extschema@.import_begin(source text, kind text, options jsonb DEFAULT '{}'::jsonb)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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

	INSERT INTO cdp_internal.import_batch (source, kind, options)
	VALUES (source, kind, v_opt || pg_catalog.jsonb_build_object('encoding', v_enc, 'delimiter', v_delim,
		'matching', COALESCE(v_opt ->> 'matching', 'later'), 'chunk_rows', COALESCE(v_chunk, 10000)))
	RETURNING batch_id INTO v_id;
	PERFORM pg_catalog.set_config('cdp.import_batch', v_id::text, false);
	RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.import_begin(text, text, jsonb) IS
	'opens an import batch of a source and kind (patients, clinical_events, consents, partner_contacts, segment_list); COPY the file into cdp.import_staging (line) next, in the same session';

CREATE OR REPLACE FUNCTION cdp_internal._import_reason(msg text, detail text, hint text) RETURNS text
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

CREATE OR REPLACE FUNCTION cdp_internal._import_load_patients(batch bigint, source text, lenient boolean, try_whole boolean,
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
	v_msg		text;
	v_detail	text;
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
		/* ingest's own rules, every invalid key of every row named */
		WITH bad AS (
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			SELECT batch, rows[r.ord], lines[r.ord], keys[r.ord],
				   COALESCE(header[pg_catalog.array_position(hkeys, inv.key)], inv.key),
				   inv.val ->> 'value', inv.val ->> 'reason', attrs[r.ord]
			  FROM pg_catalog.unnest(cdp_internal.normalize_records(keys, attrs, pg_catalog.array_fill(NULL::text, ARRAY[n]), true)) r
			 CROSS JOIN LATERAL pg_catalog.jsonb_each(r.extra -> '_invalid') AS inv(key, val)
			RETURNING row_no
		)
		SELECT pg_catalog.array_agg(DISTINCT pg_catalog.array_position(rows, bad.row_no)) INTO v_bad FROM bad;
		IF v_bad IS NOT NULL THEN
			rejected := pg_catalog.cardinality(v_bad);
			v_good := ARRAY(SELECT g FROM pg_catalog.unnest(v_good) g WHERE g OPERATOR(pg_catalog.<>) ALL (v_bad) ORDER BY g);
		END IF;
		IF pg_catalog.cardinality(v_good) OPERATOR(pg_catalog.=) 0 THEN
			RETURN;
		END IF;
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
			SELECT created OPERATOR(pg_catalog.+) u.created, updated OPERATOR(pg_catalog.+) u.updated,
				   unchanged OPERATOR(pg_catalog.+) u.unchanged
			  INTO created, updated, unchanged
			  FROM cdp_internal._import_upsert(source, ARRAY[keys[i]], ARRAY[attrs[i]], lenient) u;
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

CREATE OR REPLACE FUNCTION cdp_internal._import_load_clinical(batch bigint, source text,
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

CREATE OR REPLACE FUNCTION cdp_internal._import_identify(source text, attrs jsonb[])
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

CREATE OR REPLACE FUNCTION cdp_internal._import_word(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.translate(pg_catalog.lower(pg_catalog.btrim(v)), 'ё', 'е'),
													  '[[:space:].-]+', '_', 'g'), '_');
COMMENT ON FUNCTION cdp_internal._import_word(text) IS
	'a value of an import file folded for comparison with the accepted spellings (internal)';

CREATE OR REPLACE FUNCTION cdp_internal._import_consent_words(OUT col text, OUT word text, OUT value text)
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

CREATE OR REPLACE FUNCTION cdp_internal._import_consent_list(col text, v text) RETURNS text[]
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

CREATE OR REPLACE FUNCTION cdp_internal._import_moment(v text) RETURNS timestamptz
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

CREATE OR REPLACE FUNCTION cdp_internal._import_load_consents(batch bigint, source text,
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

CREATE OR REPLACE FUNCTION cdp_internal._import_load_segment_list(batch bigint, source text, segment bigint, list text,
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

CREATE OR REPLACE FUNCTION @extschema@.import_commit(batch bigint, mode text DEFAULT 'all_or_nothing') RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
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
		/* the source ids seen so far: a temporary table, so memory stays flat in the file's size */
		IF pg_catalog.to_regclass('pg_temp.cdp_import_seen') IS NULL THEN
			CREATE TEMP TABLE cdp_import_seen (source_key text PRIMARY KEY, row_no integer) ON COMMIT DROP;
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

				/* a source id seen on an earlier row of the file: the later rows are refused */
				v_dups := NULL;
				IF v_keycol OPERATOR(pg_catalog.>) 0 THEN
				WITH ins AS (
					INSERT INTO pg_temp.cdp_import_seen (source_key, row_no)
					SELECT u.k, u.r FROM unnest(v_p.keys, v_p.rows) AS u(k, r) ORDER BY u.r
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
							 COALESCE(pg_catalog.format(', column "%s"', r.column_name), ''), r.reason)
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

CREATE OR REPLACE VIEW @extschema@.source_quality WITH (security_invoker = true) AS
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
					  FROM @extschema@.record r2 CROSS JOIN LATERAL pg_catalog.jsonb_object_keys(r2.extra -> '_invalid') AS e(key)
					 WHERE r2.source_id OPERATOR(pg_catalog.=) s.source_id AND r2.extra ? '_invalid'
					 GROUP BY e.key) k) AS invalid_rate,
		   pg_catalog.round(a.duplicate_rate, 4) AS duplicate_rate,
		   (SELECT pg_catalog.max(b.finished_at) FROM cdp_internal.import_batch b
			 WHERE b.source OPERATOR(pg_catalog.=) s.name AND b.status OPERATOR(pg_catalog.=) 'committed') AS last_import,
		   /* rows set aside by committed imports; a refused file loaded nothing, so quarantined nothing */
		   (SELECT pg_catalog.count(*) FROM cdp_internal.import_reject j JOIN cdp_internal.import_batch b USING (batch_id)
			 WHERE b.source OPERATOR(pg_catalog.=) s.name AND b.status OPERATOR(pg_catalog.=) 'committed') AS rows_quarantined,
		   (SELECT pg_catalog.count(*) FROM cdp_internal.import_batch b
			 WHERE b.source OPERATOR(pg_catalog.=) s.name AND b.status OPERATOR(pg_catalog.=) 'failed') AS imports_refused
	  FROM @extschema@.source s LEFT JOIN agg a ON a.source_id OPERATOR(pg_catalog.=) s.source_id;
COMMENT ON VIEW @extschema@.source_quality IS
	'per source: records, completeness per field, invalid rate per key (lenient loads), duplicate rate (records sharing a person with another record of the source), last import, rows quarantined by committed imports, imports refused';

/* the new functions of this section are revoked from PUBLIC, as 90_privileges.sql does at install */
SELECT cdp_internal.acc_lock_down();

/* ==== end of section: imp ==== */

/* ==== section: lookup (issue 18, session 21) ==== */
-- find_patient reads every record born on the probe's date (or with day and month exchanged), and,
-- when no such record (nor one sharing an identifier) has a similar name, the records whose name
-- keys begin like the probe's; a birth date one digit off or with day and month exchanged agrees
-- too; initials agree with a given name.
-- _find_date_ranges: the ranges of cdp_internal.match_block keys holding the records born on a date
-- (or on the date with day and month exchanged): for every blocking rule of settings whose first
-- key is the plain birth date, the prefix r<rule>:<YYYYMMDD> (find_patient reads the keys from the
-- prefix up to the prefix and U+10FFFF, in "C" order).  The date is written as
-- _match_feature_query writes a birth date key (to_char YYYYMMDD).  Empty when no rule starts with
-- the date.
CREATE FUNCTION cdp_internal._find_date_ranges(settings jsonb, d date) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT pg_catalog.format('r%s:%s', r.o - 1, dd.v)
		  FROM pg_catalog.jsonb_array_elements(settings -> 'blocking') WITH ORDINALITY r(rule, o)
		 CROSS JOIN LATERAL (SELECT pg_catalog.to_char(d, 'YYYYMMDD') AS v
		                     UNION
		                     SELECT pg_catalog.to_char(pg_catalog.make_date(pg_catalog.date_part('year', d)::int,
		                                                  pg_catalog.date_part('day', d)::int, pg_catalog.date_part('month', d)::int), 'YYYYMMDD')
		                      WHERE pg_catalog.date_part('day', d) <= 12) dd
		 WHERE d IS NOT NULL AND r.rule ->> 0 = 'birth_date'
		 ORDER BY 1);
COMMENT ON FUNCTION cdp_internal._find_date_ranges(jsonb, date) IS
	'internal: the match_block key prefixes of the records born on a date or on it with day and month exchanged (blocking rules starting with the plain birth date)';

-- _find_name_ranges: the probe's own keys (bk, by rule position) of the blocking rules of two name
-- keys (["family_name.key", "given_name.key"]: "r<rule>:<key 1>|<key 2>").  find_patient reads
-- the keys from the first to the first two letters of the second (every Павлов(а) whose given name
-- begins with "na" for «Павлова Натшлья»), and keeps those whose second key is at most two edits
-- from the probe's (Наталья, not Надежда).
CREATE FUNCTION cdp_internal._find_name_ranges(settings jsonb, bk text[]) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT bk[r.o]
		  FROM pg_catalog.jsonb_array_elements(settings -> 'blocking') WITH ORDINALITY r(rule, o)
		 WHERE pg_catalog.jsonb_array_length(r.rule) = 2
		   AND r.rule ->> 0 IN ('family_name.key', 'given_name.key', 'patronymic.key')
		   AND r.rule ->> 1 IN ('family_name.key', 'given_name.key', 'patronymic.key')
		   AND pg_catalog.strpos(bk[r.o], '|') > 0
		 ORDER BY 1);
COMMENT ON FUNCTION cdp_internal._find_name_ranges(jsonb, text[]) IS
	'internal: the probe''s keys of the blocking rules of two name keys (find_patient reads the records whose first key is the probe''s and whose second is near it)';

CREATE OR REPLACE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	-- a generic plan: re-planning the ranking query at every call was a third of a lookup
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
	min_prob float8 := 0.01 * (a.settings ->> 'review_threshold')::float8;
	dates text[];
	names text[];
	pname text;
	pinit text[];
	fuzzy boolean := false;
	min_sim real;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	pname := pg_catalog.concat_ws(' ', probe.family_name, probe.given_name, probe.patronymic);
	-- the probe's initials: given name, patronymic, and '1' when its given name is only an initial
	pinit := ARRAY[pg_catalog.left(@extschema@.name_key(probe.given_name), 1), pg_catalog.left(@extschema@.name_key(probe.patronymic), 1),
	               (pg_catalog.length(pg_catalog.regexp_replace(probe.given_name, '[^[:alpha:]]', '', 'g')) = 1)::int::text];
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- (the library is loaded by name_key above, so its setting exists)
	min_sim := pg_catalog.current_setting('cdp.name_similarity_threshold')::real;
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- Candidates: the probe's block mates, and with a birth date every record born that day or on the
	-- day with day and month exchanged, whatever its name (a maiden name, initials, a name written
	-- so that no name block meets it).  Every candidate is scored (no probability floor in the walk).
	dates := cdp_internal._find_date_ranges(a.settings, probe.birth_date);
	-- Unless a record born that day, or one sharing an identifier the probe gives (the keys of the
	-- one-attr rules: phone, SNILS, ...), has a name similar to the probe's (cdp.%), the truth may
	-- carry no date and a name written otherwise: then also the records whose name keys begin like
	-- the probe's (_find_name_ranges).
	-- (each record is read by its id: the generic plan's range estimates once chose a merge join
	-- over the whole record table)
	IF NOT EXISTS (SELECT 1 FROM (SELECT m.record_id FROM pg_catalog.unnest(dates) d(p)
	                                JOIN cdp_internal.match_block m ON m.bk >= d.p AND m.bk < d.p || pg_catalog.chr(1114111)
	                              UNION ALL
	                              SELECT m.record_id FROM cdp_internal.match_block m
	                               WHERE m.bk = ANY (ARRAY(SELECT f.bk[r.o] FROM pg_catalog.jsonb_array_elements(a.settings -> 'blocking') WITH ORDINALITY r(rule, o)
	                                                        WHERE pg_catalog.jsonb_array_length(r.rule) = 1))) c
	                CROSS JOIN LATERAL (SELECT r.family_name, r.given_name, r.patronymic FROM @extschema@.record r
	                                     WHERE r.record_id = c.record_id LIMIT 1) r
	                WHERE @extschema@.name_similar(pg_catalog.concat_ws(' ', r.family_name, r.given_name, r.patronymic), pname)) THEN
		names := cdp_internal._find_name_ranges(a.settings, f.bk);
		fuzzy := true;
	END IF;
	-- What the desk gave beside the name decides first: a person whose record agrees on the birth
	-- date (also with day and month exchanged or one digit off), a phone or the SNILS given, and
	-- whose name is compatible with the probe's (below), comes before namesakes that only score
	-- well; then the rows at or above the review floor, then, when the name ranges were read, the
	-- rows under it whose name is as similar as cdp.name_similarity_threshold asks (a typo the
	-- comparison levels call a disagreement), by name similarity.  Within the last two tiers a
	-- record whose birth date contradicts the probe's comes after those that do not; the
	-- probability orders the rest.  The summary is written for the rows returned only.
	RETURN QUERY
	SELECT t.g, t.probability, t.rid, cdp_internal._match_summary(a.settings, t.levels) FROM (
	SELECT z.g, z.probability, z.rid, z.levels, z.agree, z.ns, z.dc FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels, x.agree, x.ns, x.dc
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels,
	               -- the last tier: a name similar enough, a contradicting birth date last
	               CASE WHEN fuzzy AND e.n = 0 AND y.probability < min_prob
	                    THEN @extschema@.name_similarity(pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) END AS ns,
	               e.dl IS NOT DISTINCT FROM 'different' AS dc,
	               -- the cheap checks first; the names are compared only for the rows they keep
	               -- a compatible name: it meets the probe's in a word, or one side gives the given
	               -- name as an initial and the initials agree («Полякова Н. С.» for «Филиппова Нина
	               -- Сергеевна»: a maiden name and initials), the patronymic's too when both give one
	               CASE WHEN e.n > 0 AND (@extschema@.name_similarity(
	                             pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) > 0
	                         OR (pg_catalog.left(@extschema@.name_key(rc.given_name), 1) = pinit[1]
	                             AND (pinit[3] = '1' OR pg_catalog.length(pg_catalog.regexp_replace(rc.given_name, '[^[:alpha:]]', '', 'g')) = 1)
	                             AND (rc.patronymic IS NULL OR pinit[2] IS NULL
	                                  OR pg_catalog.left(@extschema@.name_key(rc.patronymic), 1) = pinit[2])))
	                    THEN e.n ELSE 0 END AS agree
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         -- each candidate's keys are read by its id (a nested loop: the range
	                         -- estimates once made the planner hash the whole match_key table)
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM ('
	                                           'SELECT DISTINCT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (%L::text[])%s) i '
	                                           'CROSS JOIN LATERAL (SELECT * FROM cdp_internal.match_key k WHERE k.record_id = i.record_id LIMIT 1) k',
	                                           f.flags, f.feat, f.bk, f.bk,
	                                           pg_catalog.concat((SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                       ' UNION SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L',
	                                                       d.p, d.p || pg_catalog.chr(1114111)), '')
	                                              FROM pg_catalog.unnest(dates) d(p)),
	                                                  (SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                       ' UNION SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L'
	                                                       ' AND @extschema@.osa_distance(pg_catalog.substr(m.bk, %s), %L, 2) <= 2',
	                                                       x.lo, x.lo || pg_catalog.chr(1114111), x.bar + 1, pg_catalog.substr(x.k, x.bar + 1)), '')
	                                                 FROM pg_catalog.unnest(names) n(k)
	                                                CROSS JOIN LATERAL (SELECT n.k, pg_catalog.strpos(n.k, '|') AS bar,
	                                                                           pg_catalog.left(n.k, pg_catalog.strpos(n.k, '|') + 2) AS lo) x))),
	                         a.program, a.version, 0::float8, 0, 0, ARRAY[-1]::bigint[]) w) y
	          -- block mates are read without golden ids; the pairs kept read theirs, one by one
	          -- (LIMIT 1 keeps the planner from hashing the whole record table for a few rows)
	         CROSS JOIN LATERAL (SELECT r.golden_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
	                                    r.phones, r.snils
	                               FROM @extschema@.record r WHERE r.record_id = y.rid LIMIT 1) rc
	         CROSS JOIN LATERAL (SELECT CASE WHEN probe.birth_date IS NULL OR rc.birth_date IS NULL THEN NULL
	                                         WHEN rc.birth_date = probe.birth_date THEN 'exact'
	                                         WHEN @extschema@.date_level(rc.birth_date, probe.birth_date) IN ('day_month_swapped', 'one_digit') THEN 'near'
	                                         ELSE 'different' END AS dl) d
	         CROSS JOIN LATERAL (SELECT d.dl, (d.dl IS NOT NULL AND d.dl <> 'different')::int
	                                  + (probe.phones IS NOT NULL AND rc.phones OPERATOR(pg_catalog.&&) probe.phones)::int
	                                  + (probe.snils IS NOT NULL AND rc.snils OPERATOR(@extschema@.=) probe.snils)::int AS n) e) x
	 WHERE x.agree > 0 OR x.probability >= min_prob OR x.ns >= min_sim
	 ORDER BY x.g, x.agree DESC, x.probability DESC) z
	 ORDER BY z.agree DESC, z.probability >= min_prob DESC, z.dc, z.ns DESC NULLS FIRST, z.probability DESC, z.g
	 LIMIT max_results) t
	 ORDER BY t.agree DESC, t.probability >= min_prob DESC, t.dc, t.ns DESC NULLS FIRST, t.probability DESC, t.g;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; with a birth date also every record born that day (or day and month exchanged); persons agreeing on a birth date (or one digit off), phone or SNILS given come first; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';

SELECT cdp_internal.acc_lock_down();
-- % also needs the anchor's cover (the C library); the comments say so
COMMENT ON FUNCTION @extschema@.name_similar(text, text) IS
	'true when name_similarity(a, b) > 0 and >= cdp.name_similarity_threshold and, if two or more words pair, one word is equal and another begins alike (the anchor) and the anchor with the words beginning alike reaches the threshold by itself (the cover); the function of the % operator';
COMMENT ON OPERATOR CLASS @extschema@.name_gin_ops USING gin IS
	'GIN index of names by the word keys and anchored pair keys of their cross-script name key; supports cdp.%';
/* ==== end of section: lookup ==== */

/* ==== section: matchperf (issue 12, session 21) ==== */

-- Counted in two hash aggregates over one scan of the records (value and name, then value), with
-- the threshold read once: count(DISTINCT) per group sorted every value and called
-- matching_settings() per group, several seconds at 200k records (issue 12, speed)
CREATE OR REPLACE VIEW @extschema@.suspicious_values WITH (security_invoker = true) AS
	SELECT x.attr, x.value, pg_catalog.count(*)::int AS persons, pg_catalog.sum(x.n)::int AS records
	  FROM (SELECT v.attr, v.value, v.person, pg_catalog.count(*) AS n
	          FROM (SELECT 'phones'::text AS attr, pg_catalog.regexp_replace(pg_catalog.unnest(r.phones)::text, '\D', '', 'g') AS value,
	                       pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')) AS person
	                  FROM @extschema@.record r
	                UNION ALL
	                SELECT 'emails'::text, pg_catalog.lower(pg_catalog.btrim(pg_catalog.unnest(r.emails)::text)),
	                       pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, ''))
	                  FROM @extschema@.record r) v
	         GROUP BY v.attr, v.value, v.person) x
	 GROUP BY x.attr, x.value
	HAVING pg_catalog.count(*) >= (SELECT COALESCE((@extschema@.matching_settings() ->> 'suspicious_min_persons')::int, 5));

-- _match_run: the body of run_matching: keys, blocking and scoring, then every decision in memory
-- (_match_link_plan), the links in one link_records_many call and the review queue in one insert
CREATE OR REPLACE FUNCTION cdp_internal._match_run(mode text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kc jsonb := cdp_internal._match_constants();	/* pair flags of src/match.h */
	pair_forced int := (kc ->> 'pair_forced')::int;
	pair_name_only int := (kc ->> 'pair_name_only')::int;
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
	review_room bigint;
	max_records int;
	support float8;
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
	t_a bigint[];
	t_b bigint[];
	t_prob float8[];
	t_flags int[];
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
		-- the settings version, the set of suspicious values, or records never keyed
		-- (and when a fifth of the records or more are queued, as after a bulk load: one set-based
		-- re-key with its indexes built after it costs less than re-keying them one index entry at a
		-- time, and gives the same keys; issue 12)
		IF cdp_internal._match_refresh_suspicious()
		   OR EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
		   OR (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record)
		   OR COALESCE(pg_catalog.cardinality(q_ids), 0) > 0.2 * (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) THEN
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
	-- every record of every person a pair touches, with the features the constraints read (taken
	-- out of match_key before the join, OFFSET 0: the hash then holds a few values per record, not
	-- every feature; at 1M records that hash spilled to disk, issue 12)
	EXECUTE pg_catalog.format(
		'SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id), %s, %s
		   FROM (SELECT DISTINCT r.golden_id
		           FROM (SELECT t.record_a FROM _cdp_todo t UNION SELECT t.record_b FROM _cdp_todo t) x(id)
		           JOIN @extschema@.record r ON r.record_id = x.id) g
		   JOIN @extschema@.record r ON r.golden_id = g.golden_id
		   LEFT JOIN (SELECT k.record_id, %s AS dob, %s AS never FROM cdp_internal.match_key k OFFSET 0) k ON k.record_id = r.record_id',
		CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE 'pg_catalog.array_agg(k.dob)' END,
		CASE WHEN never_pos IS NULL THEN 'NULL::text[]' ELSE 'pg_catalog.array_agg(k.never)' END,
		CASE WHEN dob_pos IS NULL THEN 'NULL::text' ELSE pg_catalog.format('k.feat[%s]', dob_pos) END,
		CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
		     ELSE 'ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
		                       FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[]' END)
	  INTO u_rec, u_gold, u_dob, u_never;
	-- the pairs in decision order, read in one sorted pass (not one sort per column)
	SELECT pg_catalog.array_agg(t.record_a), pg_catalog.array_agg(t.record_b), pg_catalog.array_agg(t.probability),
	       pg_catalog.array_agg(t.flags)
	  INTO t_a, t_b, t_prob, t_flags
	  FROM (SELECT t.record_a, t.record_b, t.probability, t.flags FROM _cdp_todo t ORDER BY t.ord) t;
	CREATE TEMP TABLE _cdp_plan ON COMMIT DROP AS
	SELECT lp.* FROM cdp_internal._match_link_plan(t_a, t_b, t_prob, t_flags,
		u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
		(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		link_t, review_t, cdp_internal._match_plan_reasons(never_attr),
		max_records, support) lp;
	-- the evidence floor: pairs agreeing on names only are never linked (to review when they score
	-- over the link threshold)
	SELECT pg_catalog.count(*) INTO name_only FROM _cdp_todo t WHERE t.flags & pair_name_only <> 0;
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
	-- the review queue is a work list: one entry per pair of persons still apart (the strongest of
	-- their record pairs, in decision order), none for a pair of persons that has an open entry
	-- already, ordered by priority (probability times the records the decision moves; a hundredth of
	-- that for a name-only pair), at most review_limit open entries; the rest are counted
	CREATE TEMP TABLE _cdp_rev ON COMMIT DROP AS
	SELECT DISTINCT ON (r.person_a, r.person_b) r.ord, r.reason, r.person_a, r.person_b, r.person_records,
	       pg_catalog.count(*) OVER (PARTITION BY r.person_a, r.person_b)::int AS pairs
	  FROM (SELECT lp.ord, lp.reason, lp.person_a, lp.person_b, lp.person_records FROM _cdp_plan lp WHERE lp.action IN ('h', 'r')
	        UNION ALL
	        SELECT x.o, 'решение «не совпадают» между этими людьми', LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	               (SELECT pg_catalog.count(*) FROM @extschema@.record rr WHERE rr.golden_id IN (ra.golden_id, rb.golden_id))::int
	          FROM pg_catalog.unnest(refused) x(o) JOIN _cdp_todo t ON t.ord = x.o
	          JOIN @extschema@.record ra ON ra.record_id = t.record_a JOIN @extschema@.record rb ON rb.record_id = t.record_b) r
	 WHERE r.person_a <> r.person_b
	 ORDER BY r.person_a, r.person_b, r.ord;
	SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(v.pairs), 0) INTO review_persons, review_pairs FROM _cdp_rev v;
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
		  FROM _cdp_rev v JOIN _cdp_todo t ON t.ord = v.ord
		 WHERE NOT EXISTS (SELECT 1 FROM _cdp_open o WHERE o.person_a = v.person_a AND o.person_b = v.person_b
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
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'name_only', name_only,
		'review_pairs', review_pairs, 'review_persons', review_persons, 'review_over_limit', review_over, 'times', times);
	INSERT INTO cdp_internal.match_run (mode, finished_at, result) VALUES (mode, pg_catalog.clock_timestamp(), result);
	RETURN result;
END $$;
COMMENT ON FUNCTION cdp_internal._match_run(text) IS
	'internal: the body of run_matching (keys, scoring, decisions in memory, links in one batch, review queue)';
REVOKE ALL ON FUNCTION cdp_internal._match_run(text) FROM PUBLIC;

-- _match_lookup_query: the kernel's record query for one record's lookup (match_record): the record
-- and its block mates, the rarest keys whole: each key gives at most 256 mates, and of those the
-- 256 sharing the most keys with the record are read.  A record of a common name (Иванова Татьяна
-- among a million records: thousands of mates through the family + given name blocks) then reads a
-- few hundred feature rows, not thousands (issue 12, speed); a true match shares the birth-date,
-- phone and identifier keys too, so it ranks first.  With fewer mates than that, the query reads
-- every mate, as _match_query does.
CREATE FUNCTION cdp_internal._match_lookup_query(record_id bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.format(
		'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k'
		' WHERE k.record_id IN (SELECT %1$s::bigint UNION ALL'
		' (SELECT x.record_id FROM (SELECT m.record_id FROM cdp_internal.match_key f'
		'   CROSS JOIN LATERAL pg_catalog.unnest(f.bk) b(bk)'
		'   CROSS JOIN LATERAL (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = b.bk AND m.record_id <> %1$s LIMIT 256) m'
		'  WHERE f.record_id = %1$s AND b.bk IS NOT NULL) x'
		' GROUP BY x.record_id ORDER BY pg_catalog.count(*) DESC, x.record_id LIMIT 256))', record_id);
COMMENT ON FUNCTION cdp_internal._match_lookup_query(bigint) IS
	'internal: the kernel''s record query of match_record: the record and at most 256 block mates (at most 256 per key, those sharing the most keys first)';
REVOKE ALL ON FUNCTION cdp_internal._match_lookup_query(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.match_record(record_id bigint)
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
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.record_id = match_record.record_id AND k.version = a.version)
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_queue q WHERE q.record_id = match_record.record_id) THEN
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

/* ==== end of section: matchperf ==== */

/* ==== section: partner contacts need partner_sharing (issues 13 + 16, session 21) ==== */
/* A person known only through partner sources gets marketing only with partner_sharing consent
 * too: cdp.may_contact and its set form cdp_internal.seg_consent_ok. */
CREATE OR REPLACE FUNCTION @extschema@.may_contact(golden_id bigint, purpose text, channel text) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p		@extschema@.patient;
	ok		boolean;
	addrs	text[];
BEGIN
	IF may_contact.golden_id IS NULL THEN
		RETURN false;
	END IF;
	ok := (SELECT x.default_granted FROM @extschema@.consent_purposes() x WHERE x.purpose = may_contact.purpose);
	IF ok IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() x WHERE x.channel = may_contact.channel) THEN
		/* an unknown purpose or channel, or '*': consent_check says which */
		PERFORM cdp_internal.consent_check(ARRAY[purpose], ARRAY[channel]);
		RAISE EXCEPTION 'may_contact asks about one channel' USING ERRCODE = '22023',
			HINT = 'Use email, sms, messenger, social, call or post.';
	END IF;
	SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = may_contact.golden_id;
	IF NOT FOUND THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = @extschema@.resolve_patient(may_contact.golden_id);
		IF NOT FOUND THEN
			RETURN false;
		END IF;
	END IF;
	ok := coalesce((
		SELECT s.granted
		  FROM @extschema@.record r
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		       AND s.purpose = may_contact.purpose AND s.channel = may_contact.channel
		 WHERE r.golden_id = p.golden_id
		   AND cdp_internal.consent_counts(s.granted, s.records, p.golden_id)
		 ORDER BY s.at DESC, s.granted, s.event_id DESC
		 LIMIT 1), ok);
	IF NOT ok THEN
		RETURN false;
	END IF;
	/* a person known only through partner bases gets marketing only with partner_sharing consent too */
	IF may_contact.purpose = 'marketing'
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id
	                    WHERE r.golden_id = p.golden_id AND s.kind = 'internal')
	   AND NOT @extschema@.may_contact(p.golden_id, 'partner_sharing', channel) THEN
		RETURN false;
	END IF;
	addrs := cdp_internal.consent_addresses(p, channel);
	RETURN NOT (pg_catalog.cardinality(addrs) > 0
	            AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(addrs) a
	                             WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                WHERE s.address_key = a AND s.purpose = may_contact.purpose AND s.suppressed)));
END
$$;
COMMENT ON FUNCTION @extschema@.may_contact(bigint, text, text) IS
	'true when the person may be contacted for the purpose through the channel: consent (defaults included) and not every address of the channel suppressed; e.g. may_contact(42, ''marketing'', ''sms'')';

ALTER FUNCTION @extschema@.may_contact(bigint, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION cdp_internal.seg_consent_ok(ids bigint[], purpose text, channel text) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	dflt	boolean := (SELECT x.default_granted FROM @extschema@.consent_purposes() x WHERE x.purpose = seg_consent_ok.purpose);
	chans	text[] := CASE WHEN channel IS NULL THEN ARRAY(SELECT x.channel FROM @extschema@.consent_channels() x) ELSE ARRAY[channel] END;
	sup		boolean := EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                            WHERE s.purpose = seg_consent_ok.purpose AND s.suppressed);
	partner_only	bigint[];
BEGIN
	/* persons known only through partner bases: marketing needs their partner_sharing consent too (as may_contact) */
	IF purpose = 'marketing' THEN
		ids := cdp_internal.seg_set(ids);
		partner_only := cdp_internal.seg_set(ARRAY(
			SELECT c.id FROM pg_catalog.unnest(ids) c(id)
			 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id
			                    WHERE r.golden_id = c.id AND s.kind = 'internal')));
		IF pg_catalog.cardinality(partner_only) > 0 THEN
			ids := cdp_internal.seg_minus(ids, cdp_internal.seg_minus(partner_only,
			           cdp_internal.seg_consent_ok(partner_only, 'partner_sharing', channel)));
		END IF;
	END IF;
	RETURN (
	WITH st AS MATERIALIZED (
		SELECT DISTINCT ON (r.golden_id, s.channel) r.golden_id AS id, s.channel, s.granted
		  FROM pg_catalog.unnest(ids) c(id)
		  JOIN @extschema@.record r ON r.golden_id = c.id
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id AND s.purpose = seg_consent_ok.purpose
		       AND s.channel = ANY (chans)
		 WHERE cdp_internal.consent_counts(s.granted, s.records, r.golden_id)
		 ORDER BY r.golden_id, s.channel, s.at DESC, s.granted, s.event_id DESC),
	allowed AS (
		SELECT st.id, st.channel FROM st WHERE st.granted AND NOT dflt
		UNION ALL
		SELECT c.id, ch.c FROM pg_catalog.unnest(ids) c(id), pg_catalog.unnest(chans) ch(c)
		 WHERE dflt AND NOT EXISTS (SELECT 1 FROM st WHERE st.id = c.id AND st.channel = ch.c AND NOT st.granted))
	SELECT cdp_internal.seg_set(ARRAY(
		SELECT a.id FROM allowed a
		 WHERE NOT sup
		    OR NOT EXISTS (SELECT 1 FROM @extschema@.patient p
		                    CROSS JOIN LATERAL (SELECT cdp_internal.consent_addresses(p, a.channel) AS ads) x
		                    WHERE p.golden_id = a.id AND pg_catalog.cardinality(x.ads) > 0
		                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(x.ads) ad
		                                       WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
		                                                          WHERE s.address_key = ad AND s.purpose = seg_consent_ok.purpose
		                                                            AND s.suppressed))))));
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_consent_ok(bigint[], text, text) IS
	'the ids of a set that may be contacted for a purpose (through a channel, or any when NULL): may_contact for a set (internal)';

SELECT cdp_internal.acc_lock_down();
/* ==== end of section: partner contacts need partner_sharing ==== */

/* ==== section: camp (issue 14, session 21) ==== */
/*
 * Campaign figures: the set-based listing over flat columns (sql/parts/86_campaign_send.sql),
 * mark_sent asking each check once and cdp.mark_sent(send_id, at) for past sends, the bulk path of
 * delivery events in one statement, the fold of delivery events given plain arrays
 * (sql/parts/87_campaign_delivery.sql, 96_campaign_access.sql).
 */
DROP FUNCTION cdp_internal.campaign_delivery_fold(@extschema@.campaign_delivery[]);
CREATE OR REPLACE FUNCTION cdp_internal.campaign_list_set(c @extschema@.campaign, sg @extschema@.segment, t timestamptz) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* the listing's cost estimates (fresh rows, no statistics) would start a JIT compile of seconds */
	AS $$
DECLARE
	d			jsonb := c.doc;
	purp		text := d ->> 'purpose';
	chans		text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(x, n) ORDER BY n);
	hold		float8 := (d ->> 'holdout')::float8;
	arm_names	text[];
	arm_upto	float8[];
	arm_lo		float8[];
	ids			bigint[];
	o			@extschema@.offer;
	offer_why	text;
	per_member	boolean := false;
	t0			timestamptz := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	day			date := (t0 AT TIME ZONE (d ->> 'timezone'))::date;
	vals_offer	jsonb := '{}';
	ctx			jsonb := pg_catalog.jsonb_build_object('segment', sg.segment_id, 'segment_version', sg.version);
BEGIN
	SELECT pg_catalog.array_agg(a.key ORDER BY a.key), pg_catalog.array_agg(a.upto ORDER BY a.key)
	  INTO arm_names, arm_upto
	  FROM (SELECT x.key, pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	          FROM pg_catalog.jsonb_each(d -> 'arms') x) a;
	/* lower bounds of the arms: arm i holds [arm_lo[i], arm_lo[i + 1]) of the hash, as in campaign_arm */
	arm_lo := ARRAY[0::float8] || arm_upto[1:pg_catalog.cardinality(arm_upto) - 1];
	/* the members to decide: not listed yet, or skipped before (decided again) */
	SELECT coalesce(pg_catalog.array_agg(sm.golden_id), '{}') INTO ids
	  FROM @extschema@.segment_member sm
	 WHERE sm.segment_id = sg.segment_id
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x
	                    WHERE x.campaign_id = c.campaign_id AND x.golden_id = sm.golden_id AND x.trigger_key = ''
	                      AND x.status <> 'skipped');
	DELETE FROM @extschema@.campaign_send x USING pg_catalog.unnest(ids) u(g)
	 WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status = 'skipped';
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		/* the segment already applied its offer's rules to its members; the validity is the day's */
		IF sg.offer_id IS DISTINCT FROM o.offer_id THEN
			per_member := true;
		ELSIF o.status <> 'active' THEN
			offer_why := 'offer_archived';
		ELSIF day < (o.doc ->> 'valid_from')::date THEN
			offer_why := 'offer_not_yet_valid';
		ELSIF day > (o.doc ->> 'valid_to')::date THEN
			offer_why := 'offer_expired';
		END IF;
		vals_offer := pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	WITH m AS MATERIALIZED (
		/* the members with the columns the decision reads (no whole-row values), holdout and arm by hash */
		SELECT u.g, p.golden_id AS pid, p.status AS pstatus, p.city, p.given_name, p.patronymic, p.family_name,
		       p.emails, p.phones, p.handles, p.address, sm.channels AS okch, pr.channel AS pref,
		       CASE WHEN hh.h < hold THEN 'holdout'
		            ELSE arm_names[LEAST(pg_catalog.width_bucket((hh.h - hold) / (1 - hold), arm_lo), pg_catalog.cardinality(arm_names))]
		       END AS arm
		  FROM pg_catalog.unnest(ids) u(g)
		  JOIN @extschema@.segment_member sm ON sm.segment_id = sg.segment_id AND sm.golden_id = u.g
		  LEFT JOIN @extschema@.patient p ON p.golden_id = u.g
		  LEFT JOIN cdp_internal.campaign_preference pr ON pr.golden_id = u.g
		 CROSS JOIN LATERAL (SELECT (pg_catalog.hashtextextended(c.campaign_id::text || ':' || u.g::text, 0)::float8
		                             + 9223372036854775808.0) / 18446744073709551616.0 AS h) hh),
	/* every address of the members who may get a message, on a source of a channel they consented to */
	raw AS (
		SELECT m.g, m.okch, m.pref, a.src, a.o, a.v
		  FROM m CROSS JOIN LATERAL (
			SELECT 'email' AS src, e.o, e.x ->> 'value' AS v
			  FROM pg_catalog.jsonb_array_elements(m.emails) WITH ORDINALITY e(x, o)
			 WHERE 'email' = ANY (m.okch)
			UNION ALL
			SELECT 'phone', e.o, e.x ->> 'value'
			  FROM pg_catalog.jsonb_array_elements(m.phones) WITH ORDINALITY e(x, o)
			 WHERE m.okch && ARRAY['sms', 'messenger', 'call']
			UNION ALL
			SELECT 'vk', e.o, e.x ->> 'value'
			  FROM pg_catalog.jsonb_array_elements(m.handles) WITH ORDINALITY e(x, o)
			 WHERE 'social' = ANY (m.okch) AND e.x ->> 'network' = 'vk'
			UNION ALL
			SELECT 'post', 1, m.address WHERE 'post' = ANY (m.okch)) a
		 WHERE m.arm <> 'holdout' AND m.okch && chans AND a.v IS NOT NULL),
	/* each address keyed once and checked once against the blocked addresses and the suppression list */
	keyed AS MATERIALIZED (
		SELECT r.g, r.okch, r.pref, r.src, r.o, r.k,
		       (r.src <> 'phone' OR @extschema@.phone_kind(@extschema@.try_phone(r.k)) = 'mobile') AS mobile,
		       b.address_key IS NULL AND su.address_key IS NULL AS clean
		  FROM (SELECT raw.*, coalesce(@extschema@.phone_e164(@extschema@.try_phone(raw.v)), (@extschema@.try_email(raw.v))::text,
		                               pg_catalog.lower(pg_catalog.btrim(raw.v))) AS k
		          FROM raw) r
		  LEFT JOIN cdp_internal.campaign_address_block b ON b.address_key = r.k
		  LEFT JOIN @extschema@.consent_suppression su ON su.address_key = r.k AND su.purpose = purp AND su.suppressed),
	/* per member the first usable address in the campaign's order (the preferred channel first), or
	   the first unusable one (the member has addresses, none usable: suppressed) */
	pick AS (
		SELECT DISTINCT ON (k.g) k.g, cc.ch, k.k, coalesce((cc.ch NOT IN ('sms', 'messenger') OR k.mobile) AND k.clean, false) AS usable
		  FROM keyed k
		  JOIN (SELECT x.ch, x.n, CASE WHEN x.ch = 'email' THEN 'email' WHEN x.ch IN ('sms', 'messenger', 'call') THEN 'phone'
		                               WHEN x.ch = 'social' THEN 'vk' WHEN x.ch = 'post' THEN 'post' END AS src
		          FROM pg_catalog.unnest(chans) WITH ORDINALITY x(ch, n)) cc ON cc.src = k.src
		 WHERE cc.ch = ANY (k.okch)
		 ORDER BY k.g, coalesce((cc.ch NOT IN ('sms', 'messenger') OR k.mobile) AND k.clean, false) DESC, (cc.ch = k.pref) DESC, cc.n, k.o),
	other AS (
		SELECT x.golden_id AS g,
		       pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing'
		           AND (x.status = 'sent' AND x.sent_at > t0 - (d -> 'cap' ->> 'per')::interval
		                OR x.status = 'due' AND x.due_at > t0 - (d -> 'cap' ->> 'per')::interval
		                   AND x.due_at < t0 + (d -> 'cap' ->> 'per')::interval)) AS n_cap,
		       pg_catalog.max(x.sent_at) FILTER (WHERE x.status = 'sent') AS last_sent
		  FROM pg_catalog.unnest(ids) u(g)
		  JOIN @extschema@.campaign_send x ON x.golden_id = u.g
		 WHERE d ? 'cap' AND x.campaign_id <> c.campaign_id AND x.status IN ('sent', 'due')
		 GROUP BY x.golden_id),
	decided AS MATERIALIZED (
		SELECT m.g, m.city, m.given_name, m.patronymic, m.family_name, m.pref, m.arm,
		       CASE WHEN pk.usable THEN pk.ch END AS ch, CASE WHEN pk.usable THEN pk.k END AS addr,
		       CASE WHEN d -> 'cap' ? 'quiet' THEN GREATEST(t0, ot.last_sent + (d -> 'cap' ->> 'quiet')::interval) ELSE t0 END AS not_before,
		       CASE WHEN m.pid IS NULL THEN 'erased'
		            WHEN m.pstatus = 'archived' THEN 'archived'
		            WHEN m.arm = 'holdout' THEN 'holdout'
		            WHEN d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN 'campaign_ended'
		            WHEN offer_why IS NOT NULL THEN offer_why
		            WHEN ofr.w IS NOT NULL THEN
		                 CASE WHEN ofr.w IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || ofr.w ELSE ofr.w END
		            WHEN NOT coalesce(pk.usable, false) THEN
		                 CASE WHEN NOT m.okch && chans THEN 'no_consent' WHEN pk.g IS NULL THEN 'no_address' ELSE 'suppressed' END
		            WHEN purp = 'marketing' AND d -> 'cap' ? 'max' AND coalesce(ot.n_cap, 0) >= (d -> 'cap' ->> 'max')::int THEN 'capped'
		       END AS why
		  FROM m
		  LEFT JOIN other ot ON ot.g = m.g
		  LEFT JOIN pick pk ON pk.g = m.g
		  /* the offer's rules for this member (only when the segment did not apply them) */
		  LEFT JOIN LATERAL (SELECT cdp_internal.offer_reason(p, o, day) AS w
		                       FROM @extschema@.patient p WHERE per_member AND p.golden_id = m.g) ofr ON true),
	/* the time zone once per city, the next moment inside the window once per zone and start */
	slots AS (
		SELECT z.city, z.nb, z.tz, cdp_internal.campaign_next_slot(z.nb, z.tz, d -> 'window') AS due
		  FROM (SELECT y.city, y.nb, cdp_internal.campaign_tz(y.city, d ->> 'timezone') AS tz
		          FROM (SELECT DISTINCT x.city, x.not_before AS nb FROM decided x WHERE x.why IS NULL) y) z),
	fin AS MATERIALIZED (
		SELECT x.*, sl.tz, sl.due, x.why IS NULL AND (d ->> 'end' IS NULL OR sl.due <= (d ->> 'end')::timestamptz) AS ok
		  FROM decided x
		  LEFT JOIN slots sl ON coalesce(sl.city, '') = coalesce(x.city, '') AND (sl.city IS NULL) = (x.city IS NULL)
		       AND sl.nb = x.not_before AND x.why IS NULL),
	/* the statement behind each message: the latest of the person's records for the purpose and channel */
	stmt AS (
		SELECT DISTINCT ON (f.g) f.g, cs.event_id
		  FROM fin f
		  JOIN @extschema@.record r ON r.golden_id = f.g
		  JOIN @extschema@.consent_statement cs ON cs.record_id = r.record_id AND cs.purpose = purp AND cs.channel = f.ch
		 WHERE f.ok
		 ORDER BY f.g, cs.at DESC, cs.event_id DESC)
	SELECT c.campaign_id, x.g, '', purp,
	       CASE WHEN x.why = 'holdout' THEN 'holdout' WHEN x.ok THEN 'due' ELSE 'skipped' END,
	       CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END,
	       CASE WHEN x.ok THEN x.ch END,
	       CASE WHEN x.ok THEN x.addr END,
	       CASE WHEN x.why IN ('archived', 'erased') THEN NULL ELSE x.arm END,
	       CASE WHEN x.why = 'holdout' THEN t0 WHEN x.ok THEN x.due END,
	       t,
	       CASE WHEN x.ok THEN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(d -> 'templates' ->> x.ch,
			         '{given_name}', pg_catalog.replace(coalesce(x.given_name, ''), '{', U&'\FFF0')),
			         '{patronymic}', pg_catalog.replace(coalesce(x.patronymic, ''), '{', U&'\FFF0')),
			         '{family_name}', pg_catalog.replace(coalesce(x.family_name, ''), '{', U&'\FFF0')),
			         '{offer_name}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_name', ''), '{', U&'\FFF0')),
			         '{offer_until}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_until', ''), '{', U&'\FFF0')), U&'\FFF0', '{') END,
	       pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}')
	         || CASE WHEN o.offer_id IS NOT NULL THEN pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version) ELSE '{}' END
	         || CASE WHEN x.ok THEN pg_catalog.jsonb_build_object('channel_rule',
	                   CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans, 'benefit', false,
	                   'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t, 'event_id', st.event_id))
	                 ELSE '{}' END
	  FROM fin x LEFT JOIN stmt st ON st.g = x.g
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list_set(@extschema@.campaign, @extschema@.segment, timestamptz) IS
	'writes the send-list rows of a segment''s members in one pass: the set form of campaign_decide (internal)';
CREATE OR REPLACE FUNCTION cdp_internal.campaign_mark(send_id bigint, now_ timestamptz) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	c		@extschema@.campaign;
	p		@extschema@.patient;
	o		@extschema@.offer;
	g		bigint;
	why		text;
	tz		text;
	nxt		timestamptz;
	n_cap	bigint;
	last	timestamptz;
BEGIN
	IF campaign_mark.send_id IS NULL OR now_ IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = campaign_mark.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		RAISE EXCEPTION 'send "%" does not exist', campaign_mark.send_id USING ERRCODE = 'P0002',
			HINT = 'Pass a send_id read from cdp.send_list.';
	END IF;
	IF s.status = 'sent' THEN
		RETURN 'already_sent';
	ELSIF s.status <> 'due' THEN
		RETURN coalesce(s.reason, s.status);
	END IF;
	c := cdp_internal.campaign_get(s.campaign_id, false);
	g := @extschema@.resolve_patient(s.golden_id);
	IF g IS NOT NULL THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = g;
	END IF;
	IF c.status <> 'running' THEN
		why := 'campaign_' || c.status;
	ELSIF p.golden_id IS NULL OR EXISTS (SELECT 1 FROM @extschema@.event e
	                                      WHERE e.golden_id IN (s.golden_id, g) AND e.kind = 'patient.erased') THEN
		why := 'erased';
	ELSIF p.status = 'archived' THEN
		why := 'archived';
	ELSIF EXISTS (SELECT 1 FROM @extschema@.campaign_send x
	               WHERE x.campaign_id = s.campaign_id AND x.trigger_key = s.trigger_key AND x.status = 'sent'
	                 AND x.golden_id = ANY (CASE WHEN EXISTS (SELECT 1 FROM @extschema@.patient_redirect d WHERE d.new_id = g)
	                                             THEN cdp_internal.golden_absorbed(g) ELSE ARRAY[g] END)) THEN
		why := 'duplicate';
	ELSIF NOT @extschema@.may_contact(g, s.purpose, s.channel) THEN
		why := 'no_consent';
	ELSIF EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = s.address) THEN
		why := 'address_invalid';
	ELSIF EXISTS (SELECT 1 FROM @extschema@.consent_suppression x
	               WHERE x.address_key = s.address AND x.purpose = s.purpose AND x.suppressed) THEN
		why := 'suppressed';
	ELSIF NOT EXISTS (
		/* cdp_internal.consent_addresses(p, s.channel) holds s.address (its keys written out) */
		SELECT 1
		  FROM (SELECT e.x ->> 'value' AS v
		          FROM pg_catalog.jsonb_array_elements(CASE WHEN s.channel = 'email' THEN p.emails
		                                                    WHEN s.channel IN ('sms', 'messenger', 'call') THEN p.phones
		                                                    WHEN s.channel = 'social' THEN p.handles END) e(x)
		         WHERE s.channel <> 'social' OR e.x ->> 'network' = 'vk'
		        UNION ALL
		        SELECT p.address WHERE s.channel = 'post') a
		 WHERE coalesce(@extschema@.phone_e164(@extschema@.try_phone(a.v)), (@extschema@.try_email(a.v))::text,
		                pg_catalog.lower(pg_catalog.btrim(a.v))) = s.address) THEN
		why := 'no_address';
	ELSIF s.provenance ? 'recommendation'
	      AND cdp_internal.campaign_retest_done(g, s.provenance ->> 'test', (s.provenance ->> 'since')::timestamptz) THEN
		why := 'already_done';
	ELSIF c.doc -> 'cap' IS NOT NULL THEN
		/* the person's other messages: the cap (marketing, in the period) and the last one (quiet period) */
		SELECT pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing' AND x.sent_at > now_ - (c.doc -> 'cap' ->> 'per')::interval),
		       pg_catalog.max(x.sent_at)
		  INTO n_cap, last
		  FROM @extschema@.campaign_send x
		 WHERE x.golden_id = g AND x.campaign_id <> s.campaign_id AND x.status = 'sent';
		IF c.doc ->> 'purpose' = 'marketing' AND c.doc -> 'cap' ? 'max' AND n_cap >= (c.doc -> 'cap' ->> 'max')::int THEN
			why := 'capped';
		END IF;
	END IF;
	IF why IS NULL AND c.doc ? 'offer' AND (NOT c.doc ? 'trigger' OR (s.provenance ->> 'benefit')::boolean) THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (c.doc ->> 'offer')::bigint;
		why := cdp_internal.offer_reason(p, o, (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date);
		IF why IN ('expired', 'not_yet_valid', 'archived') THEN
			why := 'offer_' || why;
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE @extschema@.campaign_send x SET status = 'refused', reason = why, refused_at = now_
		 WHERE x.send_id = s.send_id;
		RETURN why;
	END IF;
	/* not now: the quiet period after the last message, or outside the window */
	tz := coalesce(s.provenance ->> 'timezone', cdp_internal.campaign_tz(p.city, c.doc ->> 'timezone'));
	nxt := CASE WHEN c.doc -> 'cap' ? 'quiet' THEN GREATEST(now_, last + (c.doc -> 'cap' ->> 'quiet')::interval) ELSE now_ END;
	IF nxt > now_ THEN
		UPDATE @extschema@.campaign_send x SET due_at = cdp_internal.campaign_next_slot(nxt, tz, c.doc -> 'window')
		 WHERE x.send_id = s.send_id;
		RETURN 'quiet_period';
	END IF;
	nxt := cdp_internal.campaign_next_slot(now_, tz, c.doc -> 'window');
	IF nxt > now_ THEN
		UPDATE @extschema@.campaign_send x SET due_at = nxt WHERE x.send_id = s.send_id;
		RETURN 'outside_window';
	END IF;
	UPDATE @extschema@.campaign_send x SET status = 'sent', sent_at = now_,
	       sent_day = (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date
	 WHERE x.send_id = s.send_id;
	RETURN 'sent';
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_mark(bigint, timestamptz) IS
	'cdp.mark_sent at a given moment, any moment (tests fix the clock) (internal)';
CREATE FUNCTION cdp_internal.campaign_delivery_fold(send_ids bigint[], kinds text[], ats timestamptz[], bounces text[],
                                                    amounts numeric[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	u	record;
BEGIN
	UPDATE @extschema@.campaign_send s SET
	       delivered_at = LEAST(s.delivered_at, a.delivered, a.opened),
	       opened_at = LEAST(s.opened_at, a.opened),
	       clicked_at = LEAST(s.clicked_at, a.clicked),
	       converted_at = LEAST(s.converted_at, a.converted),
	       revenue = s.revenue + a.revenue,
	       bounced = CASE WHEN a.hard THEN 'hard' WHEN a.soft AND s.bounced IS NULL THEN 'soft' ELSE s.bounced END,
	       unsubscribed_at = LEAST(s.unsubscribed_at, a.unsubscribed),
	       complained_at = LEAST(s.complained_at, a.complained)
	  FROM (SELECT e.send_id,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'delivered') AS delivered,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'opened') AS opened,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'clicked') AS clicked,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'converted') AS converted,
	               coalesce(pg_catalog.sum(e.amount) FILTER (WHERE e.kind = 'converted'), 0) AS revenue,
	               pg_catalog.bool_or(e.kind = 'bounced' AND e.bounce = 'hard') AS hard,
	               pg_catalog.bool_or(e.kind = 'bounced' AND e.bounce = 'soft') AS soft,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'unsubscribed') AS unsubscribed,
	               pg_catalog.min(e.at) FILTER (WHERE e.kind = 'complained') AS complained
	          FROM ROWS FROM (pg_catalog.unnest(send_ids), pg_catalog.unnest(kinds), pg_catalog.unnest(ats), pg_catalog.unnest(bounces),
	                          pg_catalog.unnest(amounts)) e(send_id, kind, at, bounce, amount) GROUP BY e.send_id) a
	 WHERE s.send_id = a.send_id;
	INSERT INTO cdp_internal.campaign_address_block (address_key, reason, at, send_id)
	SELECT DISTINCT ON (s.address) s.address,
	       CASE WHEN e.kind = 'complained' THEN 'complaint' ELSE 'hard_bounce' END, e.at, e.send_id
	  FROM ROWS FROM (pg_catalog.unnest(send_ids), pg_catalog.unnest(kinds), pg_catalog.unnest(ats), pg_catalog.unnest(bounces),
	                          pg_catalog.unnest(amounts)) e(send_id, kind, at, bounce, amount) JOIN @extschema@.campaign_send s ON s.send_id = e.send_id
	 WHERE (e.kind = 'complained' OR e.kind = 'bounced' AND e.bounce = 'hard') AND s.address IS NOT NULL
	 ORDER BY s.address, e.at
	ON CONFLICT (address_key) DO NOTHING;
	FOR u IN SELECT DISTINCT ON (s.golden_id, s.channel) s.golden_id, s.channel, s.address, e.at, e.send_id
	           FROM ROWS FROM (pg_catalog.unnest(send_ids), pg_catalog.unnest(kinds), pg_catalog.unnest(ats), pg_catalog.unnest(bounces),
	                          pg_catalog.unnest(amounts)) e(send_id, kind, at, bounce, amount) JOIN @extschema@.campaign_send s ON s.send_id = e.send_id
	          WHERE e.kind = 'unsubscribed'
	          ORDER BY s.golden_id, s.channel, e.at LOOP
		PERFORM @extschema@.set_consent(u.golden_id, 'marketing', u.channel, false, u.at,
		                                'unsubscribe: send ' || u.send_id, u.address);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_delivery_fold(bigint[], text[], timestamptz[], text[], numeric[]) IS
	'folds new delivery events into their send rows; hard bounces and complaints block the address; unsubscribes withdraw marketing consent (internal)';
CREATE OR REPLACE FUNCTION @extschema@.record_delivery_event(send_id bigint, kind text, at timestamptz, detail jsonb DEFAULT '{}')
	RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	k		record;
	ev		@extschema@.campaign_delivery;
BEGIN
	IF record_delivery_event.send_id IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	k := cdp_internal.campaign_delivery_check(kind, at, coalesce(detail, '{}'), NULL,
	                                          pg_catalog.format('Delivery event "%s" of send %s.', kind, record_delivery_event.send_id));
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = record_delivery_event.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		RAISE EXCEPTION 'send "%" does not exist', record_delivery_event.send_id USING ERRCODE = 'P0002',
			HINT = 'Delivery events name a send_id read from cdp.send_list.';
	END IF;
	IF s.status <> 'sent' THEN
		RAISE EXCEPTION 'send "%" was not sent (it is %)', s.send_id, s.status USING ERRCODE = '55000',
			HINT = 'Call cdp.mark_sent(send_id) before handing the message to the gateway.';
	END IF;
	INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
	VALUES (s.golden_id, s.send_id, kind, at, k.event_key, coalesce(detail, '{}'), k.amount)
	ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
	RETURNING * INTO ev;
	IF ev.send_id IS NULL THEN
		RETURN 'duplicate';
	END IF;
	PERFORM cdp_internal.campaign_delivery_fold(ARRAY[ev.send_id], ARRAY[ev.kind], ARRAY[ev.at], ARRAY[ev.detail ->> 'type'],
	                                            ARRAY[ev.amount]);
	RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION @extschema@.record_delivery_event(bigint, text, timestamptz, jsonb) IS
	'records a delivery event of a sent message once (webhook retries count once); returns ''recorded'' or ''duplicate''; e.g. record_delivery_event(17, ''delivered'', now())';
CREATE OR REPLACE FUNCTION @extschema@.ingest_delivery_events() RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* a COPY-sized batch would otherwise start a JIT compile costing more than it saves */
	AS $$
DECLARE
	n_staged	bigint;
	n_bad		bigint;
	n_rec		bigint;
	e_send		bigint[];
	e_kind		text[];
	e_at		timestamptz[];
	e_bounce	text[];
	e_amount	numeric[];
	bad			record;
BEGIN
	LOCK TABLE @extschema@.delivery_event_staging IN EXCLUSIVE MODE;
	WITH st AS MATERIALIZED (
		SELECT t.send_id, t.kind, t.at, coalesce(t.detail, '{}') AS detail, s.golden_id,
		       coalesce(t.provider_event_id, t.detail ->> 'event_id',
		                t.kind || '@' || pg_catalog.to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')) AS k,
		       s.status IS NOT DISTINCT FROM 'sent'
		       AND t.kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted', 'unsubscribed', 'complained')
		       AND t.at IS NOT NULL
		       AND (t.detail IS NULL OR pg_catalog.jsonb_typeof(t.detail) = 'object')
		       AND (t.kind <> 'bounced' OR coalesce(t.detail ->> 'type', '') IN ('hard', 'soft'))
		       AND (t.detail IS NULL OR NOT t.detail ? 'amount'
		            OR pg_catalog.jsonb_typeof(t.detail -> 'amount') = 'number' AND (t.detail ->> 'amount')::numeric >= 0) AS valid
		  FROM @extschema@.delivery_event_staging t
		  LEFT JOIN @extschema@.campaign_send s ON s.send_id = t.send_id),
	ins AS (
		INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
		SELECT DISTINCT ON (st.send_id, st.k) st.golden_id, st.send_id, st.kind, st.at, st.k, st.detail,
		       (st.detail ->> 'amount')::numeric
		  FROM st
		 WHERE st.valid AND NOT EXISTS (SELECT 1 FROM st b WHERE NOT b.valid)
		 ORDER BY st.send_id, st.k, st.at
		ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
		RETURNING d.send_id, d.kind, d.at, d.detail ->> 'type' AS bounce, d.amount)
	SELECT (SELECT pg_catalog.count(*) FROM st), (SELECT pg_catalog.count(*) FROM st WHERE NOT st.valid), x.*
	  FROM (SELECT pg_catalog.count(*), pg_catalog.array_agg(i.send_id), pg_catalog.array_agg(i.kind), pg_catalog.array_agg(i.at),
	               pg_catalog.array_agg(i.bounce), pg_catalog.array_agg(i.amount)
	          FROM ins i) x
	  INTO n_staged, n_bad, n_rec, e_send, e_kind, e_at, e_bounce, e_amount;
	IF n_bad > 0 THEN
		/* name the first bad row, as the one-event path would: its send first, then its fields */
		SELECT x.send_id, x.kind, x.rn INTO bad
		  FROM (SELECT st.send_id, st.kind, pg_catalog.row_number() OVER () AS rn, s.status
		          FROM @extschema@.delivery_event_staging st
		          LEFT JOIN @extschema@.campaign_send s ON s.send_id = st.send_id) x
		 WHERE x.status IS DISTINCT FROM 'sent' LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'staged delivery event for a send that % (send_id %)',
				CASE WHEN bad.send_id IS NULL THEN 'is not named' ELSE 'does not exist or was not sent' END, bad.send_id
				USING ERRCODE = 'P0002', DETAIL = pg_catalog.format('Staged row %s (kind "%s").', bad.rn, bad.kind),
				HINT = 'Fix or delete the row in cdp.delivery_event_staging and call cdp.ingest_delivery_events() again; nothing was recorded.';
		END IF;
		PERFORM cdp_internal.campaign_delivery_check(x.kind, x.at, coalesce(x.detail, '{}'), x.provider_event_id,
		                                             pg_catalog.format('Staged row %s (send %s).', x.rn, x.send_id))
		   FROM (SELECT t.*, pg_catalog.row_number() OVER () AS rn FROM @extschema@.delivery_event_staging t) x;
		RAISE EXCEPTION 'a staged delivery event is not valid' USING ERRCODE = '22023',
			HINT = 'Check the rows of cdp.delivery_event_staging against cdp.record_delivery_event; nothing was recorded.';
	END IF;
	IF n_rec > 0 THEN
		PERFORM cdp_internal.campaign_delivery_fold(e_send, e_kind, e_at, e_bounce, e_amount);
	END IF;
	/* the staged rows are all read (the table is locked against new ones until commit) */
	TRUNCATE @extschema@.delivery_event_staging;
	RETURN pg_catalog.jsonb_build_object('staged', n_staged, 'recorded', n_rec, 'duplicates', n_staged - n_rec);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_delivery_events() IS
	'records every delivery event COPYed into cdp.delivery_event_staging (all or nothing; duplicates counted once) and empties it; returns counts';
CREATE FUNCTION @extschema@.mark_sent(send_id bigint, at timestamptz) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = '22004',
			HINT = 'Call cdp.mark_sent(send_id) to mark it sent now.';
	END IF;
	IF at > pg_catalog.now() THEN
		RAISE EXCEPTION 'a send cannot be marked at a future moment (%)', at USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('Send %s; the database''s time is %s.', mark_sent.send_id, pg_catalog.now()),
			HINT = 'Pass the moment the message was actually sent, or call cdp.mark_sent(send_id).';
	END IF;
	IF at < (SELECT x.built_at FROM @extschema@.campaign_send x WHERE x.send_id = mark_sent.send_id) THEN
		RAISE EXCEPTION 'a send cannot be marked before its row was listed (%)', at USING ERRCODE = '22023',
			DETAIL = pg_catalog.format('Send %s was listed at %s.', mark_sent.send_id,
			                           (SELECT x.built_at FROM @extschema@.campaign_send x WHERE x.send_id = mark_sent.send_id)),
			HINT = 'Pass the moment the message was actually sent.';
	END IF;
	RETURN cdp_internal.campaign_mark(mark_sent.send_id, at);
END
$$;
COMMENT ON FUNCTION @extschema@.mark_sent(bigint, timestamptz) IS
	'marks a send row sent at the past moment it was actually sent (a gateway back-filling, a simulated gateway), re-checking everything as of that moment; a moment in the future or before the row was listed is refused; e.g. mark_sent(17, ''2026-03-02 10:15+03'')';
/* sql/parts/96_campaign_access.sql: the gateway's mark at a past moment runs as the owner, EXECUTE for cdp_sender */
ALTER FUNCTION @extschema@.mark_sent(bigint, timestamptz) SECURITY DEFINER;
SELECT cdp_internal.acc_lock_down();
INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
VALUES ('cdp_sender', 'function', 'cdp.mark_sent(bigint,timestamp with time zone)', 'EXECUTE');
/* ==== end of section: camp ==== */

/* ==== section: matchacc (issue 12, session 21) ==== */
/* Matching accuracy (issue 12): fields-only settings compare exchanged family and given names
   (_match_expand); explain_match names a rare full name; review entries say why they wait (cdp.review_queue.reason,
   _match_reason_codes); pairs the evidence floor holds are counted, not queued (_match_run).
   The kernel's rare-full-name evidence and nameless records are C (src/match_score.c). */
CREATE OR REPLACE FUNCTION cdp_internal._match_expand(s jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d jsonb := cdp_internal._match_default_settings();
	lim jsonb := cdp_internal._match_constants();
	out jsonb;
	comps jsonb := '[]';
	comp jsonb;
	lv jsonb;
	lvs jsonb;
	k text;
	i int;
	j int;
	attr text;
	cmpname text;
	attrs text[] := '{}';
	cols text[] := '{}';
	rules jsonb := '[]';
	rule jsonb;
	item text;
	link float8;
	review float8;
	nf int;
BEGIN
	IF s IS NULL OR pg_catalog.jsonb_typeof(s) <> 'object' THEN
		PERFORM cdp_internal._match_fail('$', 'The settings must be a JSON object.');
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(s) LOOP
		IF k NOT IN ('fields', 'comparisons', 'blocking', 'link_threshold', 'review_threshold', 'rules',
		             'placeholder_names', 'suspicious_min_persons', 'max_block_size', 'lambda', 'name_roles',
		             'max_person_records', 'person_support', 'review_limit', 'max_rule_pairs', 'skipped_blocking', 'evidence_floor') THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The key "%s" is not a settings key.', k),
				'Known keys: fields, comparisons, blocking, link_threshold, review_threshold, rules, placeholder_names, suspicious_min_persons, max_block_size, lambda, name_roles, max_person_records, person_support, review_limit, max_rule_pairs, evidence_floor.');
		END IF;
	END LOOP;
	IF s ? 'fields' AND s ? 'comparisons' THEN
		PERFORM cdp_internal._match_fail('$.fields', 'Give either "fields" or "comparisons", not both.');
	END IF;
	IF NOT (s ? 'fields' OR s ? 'comparisons') THEN
		PERFORM cdp_internal._match_fail('$', 'The settings name no fields to compare.',
			'Add "fields": ["surname", "given_name", ...] or a "comparisons" list.');
	END IF;

	-- fields-only: one comparison per field, comparator from the column or guessed from the data
	IF s ? 'fields' THEN
		IF pg_catalog.jsonb_typeof(s -> 'fields') <> 'array' OR pg_catalog.jsonb_array_length(s -> 'fields') = 0 THEN
			PERFORM cdp_internal._match_fail('$.fields', 'The fields must be a non-empty array of attr names.');
		END IF;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'fields') - 1 LOOP
			IF pg_catalog.jsonb_typeof(s -> 'fields' -> i) <> 'string' OR (s -> 'fields' ->> i) = '' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.fields[%s]', i), 'A field must be a non-empty string.');
			END IF;
			attr := cdp_internal._match_attr_column(s -> 'fields' ->> i);
			cmpname := COALESCE(cdp_internal._match_clinic_comparator(attr), cdp_internal._match_guess_comparator(attr));
			comps := comps || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'attr', attr, 'comparator', cmpname, 'tf', cmpname IN ('name', 'string')));
		END LOOP;
		-- a family and a given name both compared as names: each also agrees when the two are
		-- exchanged («Hall Isla» / «Isla Hall», a form read in the other order; issue 12), the level
		-- after "key" as in the shipped default
		IF comps @> '[{"attr": "family_name", "comparator": "name"}]' AND comps @> '[{"attr": "given_name", "comparator": "name"}]' THEN
			lvs := cdp_internal._match_default_levels('name');
			SELECT pg_catalog.jsonb_agg(CASE WHEN x.c ->> 'attr' IN ('family_name', 'given_name')
			         THEN x.c || pg_catalog.jsonb_build_object('levels',
			                pg_catalog.jsonb_build_array(lvs -> 0, lvs -> 1,
			                  pg_catalog.jsonb_build_object('if', 'swapped', 'with',
			                    CASE x.c ->> 'attr' WHEN 'family_name' THEN 'given_name' ELSE 'family_name' END))
			                || ((lvs - 0) - 0))
			         ELSE x.c END ORDER BY x.o)
			  INTO comps FROM pg_catalog.jsonb_array_elements(comps) WITH ORDINALITY x(c, o);
		END IF;
	ELSE
		comps := s -> 'comparisons';
		IF pg_catalog.jsonb_typeof(comps) <> 'array' OR pg_catalog.jsonb_array_length(comps) = 0 THEN
			PERFORM cdp_internal._match_fail('$.comparisons', 'The comparisons must be a non-empty array.');
		END IF;
	END IF;
	IF pg_catalog.jsonb_array_length(comps) > (lim ->> 'max_comparisons')::int THEN
		PERFORM cdp_internal._match_fail('$.comparisons', pg_catalog.format('At most %s comparisons are supported.', lim ->> 'max_comparisons'));
	END IF;

	out := '[]';
	FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
		comp := comps -> i;
		IF pg_catalog.jsonb_typeof(comp) <> 'object' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s]', i), 'A comparison must be an object with "attr" and "comparator".');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(comp) LOOP
			IF k NOT IN ('attr', 'comparator', 'levels', 'tf', 'label') THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].%s', i, k), pg_catalog.format('The key "%s" is not a comparison key.', k),
					'Known keys: attr, comparator, levels, tf, label.');
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_typeof(comp -> 'attr') IS DISTINCT FROM 'string' OR (comp ->> 'attr') !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), 'The attr must be a name of letters, digits and underscores.');
		END IF;
		attr := cdp_internal._match_attr_column(comp ->> 'attr');
		IF attr = ANY (attrs) THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), pg_catalog.format('The attr "%s" is compared twice.', attr));
		END IF;
		attrs := attrs || attr;
		cmpname := COALESCE(comp ->> 'comparator', cdp_internal._match_clinic_comparator(attr));
		IF cmpname IS NULL OR cmpname NOT IN ('name', 'string', 'date', 'phone', 'email', 'id', 'exact') THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].comparator', i),
				pg_catalog.format('The comparator "%s" is unknown.', COALESCE(cmpname, 'null')),
				'Use one of name, string, date, phone, email, id, exact.');
		END IF;
		IF comp ? 'tf' AND pg_catalog.jsonb_typeof(comp -> 'tf') <> 'boolean' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].tf', i), 'The tf flag must be true or false.');
		END IF;
		lvs := COALESCE(comp -> 'levels', cdp_internal._match_default_levels(cmpname));
		IF pg_catalog.jsonb_typeof(lvs) <> 'array' OR pg_catalog.jsonb_array_length(lvs) NOT BETWEEN 1 AND (lim ->> 'max_levels')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels', i),
				pg_catalog.format('The levels must be an array of 1 to %s levels ("else" is implicit).', lim ->> 'max_levels'));
		END IF;
		FOR j IN 0 .. pg_catalog.jsonb_array_length(lvs) - 1 LOOP
			lv := lvs -> j;
			IF pg_catalog.jsonb_typeof(lv) = 'string' THEN
				lv := pg_catalog.jsonb_build_object('if', lv #>> '{}');
				lvs := pg_catalog.jsonb_set(lvs, ARRAY[j::text], lv);
			END IF;
			IF pg_catalog.jsonb_typeof(lv) <> 'object' OR cdp_internal._match_op_code(lv ->> 'if', cmpname) IS NULL THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s]', i, j),
					pg_catalog.format('The level "%s" is unknown or not allowed for comparator "%s".', COALESCE(lv ->> 'if', lv::text), cmpname),
					'Levels: exact, key (name), swapped or cross with "with" (name), jw with "ge", osa with "le", day_month_swapped, same_year (date), last7 (phone), initial, prefix with "n".');
			END IF;
			IF (lv ->> 'if') = 'jw' AND NOT (pg_catalog.jsonb_typeof(lv -> 'ge') = 'number' AND (lv ->> 'ge')::float8 > 0 AND (lv ->> 'ge')::float8 <= 1) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].ge', i, j), 'A jw level needs "ge", a number in (0, 1].');
			END IF;
			IF (lv ->> 'if') = 'osa' AND NOT (pg_catalog.jsonb_typeof(lv -> 'le') = 'number' AND (lv ->> 'le')::float8 BETWEEN 0 AND (lim ->> 'max_osa')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].le', i, j),
					pg_catalog.format('An osa level needs "le", an edit distance from 0 to %s.', lim ->> 'max_osa'));
			END IF;
			IF (lv ->> 'if') IN ('swapped', 'cross') AND NOT (pg_catalog.jsonb_typeof(lv -> 'with') = 'string'
			   AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(comps) x
			                WHERE cdp_internal._match_attr_column(x ->> 'attr') = cdp_internal._match_attr_column(lv ->> 'with')
			                  AND COALESCE(x ->> 'comparator', cdp_internal._match_clinic_comparator(x ->> 'attr')) = 'name'
			                  AND cdp_internal._match_attr_column(x ->> 'attr') <> attr)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].with', i, j),
					pg_catalog.format('A %s level needs "with", another compared attr of comparator "name".', lv ->> 'if'));
			END IF;
			IF (lv ->> 'if') = 'prefix' AND NOT (pg_catalog.jsonb_typeof(lv -> 'n') = 'number' AND (lv ->> 'n')::float8 BETWEEN 1 AND (lim ->> 'max_prefix')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].n', i, j),
					pg_catalog.format('A prefix level needs "n", a length from 1 to %s.', lim ->> 'max_prefix'));
			END IF;
		END LOOP;
		out := out || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'attr', attr, 'comparator', cmpname, 'levels', lvs,
			'tf', COALESCE((comp ->> 'tf')::boolean, false))
			|| CASE WHEN comp ? 'label' THEN pg_catalog.jsonb_build_object('label', comp -> 'label') ELSE '{}' END);
	END LOOP;
	comps := out;

	-- blocking: given, or for fields-only documents pairs of the first five fields plus every date/id field
	IF s ? 'blocking' THEN
		rules := s -> 'blocking';
	ELSIF s ? 'fields' THEN
		-- names block on their name key, so spelling variants and transliterations share a block
		nf := LEAST(pg_catalog.jsonb_array_length(comps), 5);
		FOR i IN 0 .. nf - 1 LOOP
			FOR j IN i + 1 .. nf - 1 LOOP
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(
					(comps -> i ->> 'attr') || CASE WHEN comps -> i ->> 'comparator' = 'name' THEN '.key' ELSE '' END,
					(comps -> j ->> 'attr') || CASE WHEN comps -> j ->> 'comparator' = 'name' THEN '.key' ELSE '' END));
			END LOOP;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
			IF comps -> i ->> 'comparator' IN ('date', 'id', 'phone', 'email') AND pg_catalog.jsonb_array_length(rules) < (lim ->> 'max_rules')::int THEN
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> i ->> 'attr'));
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_array_length(rules) = 0 THEN
			rules := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> 0 ->> 'attr'));
		END IF;
		rules := (SELECT pg_catalog.jsonb_agg(r) FROM (SELECT r FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY e(r, o) ORDER BY o LIMIT (lim ->> 'max_rules')::int) x);
	ELSE
		PERFORM cdp_internal._match_fail('$.blocking', 'A settings document with "comparisons" needs "blocking" rules.',
			'Example: "blocking": [["family_name.key", "birth_date.year"], ["phones"]].');
	END IF;
	IF pg_catalog.jsonb_typeof(rules) <> 'array' OR pg_catalog.jsonb_array_length(rules) NOT BETWEEN 1 AND (lim ->> 'max_rules')::int THEN
		PERFORM cdp_internal._match_fail('$.blocking', pg_catalog.format('The blocking rules must be an array of 1 to %s rules.', lim ->> 'max_rules'));
	END IF;
	SELECT pg_catalog.array_agg(c ->> 'attr') INTO cols FROM pg_catalog.jsonb_array_elements(comps) c;
	FOR i IN 0 .. pg_catalog.jsonb_array_length(rules) - 1 LOOP
		rule := rules -> i;
		nf := CASE WHEN pg_catalog.jsonb_typeof(rule) = 'array' AND (rule ->> 0) = 'any_order' THEN 1 ELSE 0 END;
		IF pg_catalog.jsonb_typeof(rule) <> 'array' OR pg_catalog.jsonb_array_length(rule) - nf NOT BETWEEN 1 + nf AND (lim ->> 'max_rule_keys')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s]', i),
				pg_catalog.format('A blocking rule must be an array of 1 to %s keys.', lim ->> 'max_rule_keys'));
		END IF;
		FOR j IN nf .. pg_catalog.jsonb_array_length(rule) - 1 LOOP
			item := rule ->> j;
			IF item IS NULL OR pg_catalog.split_part(item, '.', 2) NOT IN ('', 'key', 'year', 'month_day', 'initial', 'last7', 'prefix3', 'phonetic')
			   OR NOT (cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1)) = ANY (cols)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j),
					pg_catalog.format('The blocking key "%s" does not name a compared attr with a known transform.', COALESCE(item, 'null')),
					'A key is "attr" or "attr.key", "attr.phonetic", "attr.year", "attr.month_day", "attr.initial", "attr.last7", "attr.prefix3", where attr is compared.');
			END IF;
			IF pg_catalog.split_part(item, '.', 2) IN ('key', 'phonetic')
			   AND (SELECT c ->> 'comparator' FROM pg_catalog.jsonb_array_elements(comps) c WHERE c ->> 'attr' = cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1))) <> 'name' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j), 'The ".key" and ".phonetic" transforms need an attr with the "name" comparator.');
			END IF;
		END LOOP;
	END LOOP;

	link := COALESCE((s ->> 'link_threshold')::float8, (d ->> 'link_threshold')::float8);
	review := COALESCE((s ->> 'review_threshold')::float8, (d ->> 'review_threshold')::float8);
	IF s ? 'link_threshold' AND pg_catalog.jsonb_typeof(s -> 'link_threshold') <> 'number' OR NOT (link > 0 AND link < 1) THEN
		PERFORM cdp_internal._match_fail('$.link_threshold', 'The link threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF s ? 'review_threshold' AND pg_catalog.jsonb_typeof(s -> 'review_threshold') <> 'number' OR NOT (review > 0 AND review < 1) THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', 'The review threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF review > link THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', pg_catalog.format('The review threshold %s is above the link threshold %s.', review, link));
	END IF;

	-- deterministic rules name compared attrs of comparator id
	IF s ? 'rules' THEN
		IF pg_catalog.jsonb_typeof(s -> 'rules') <> 'object' THEN
			PERFORM cdp_internal._match_fail('$.rules', 'The rules must be an object with "same_id_match" and "different_id_never" lists.');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(s -> 'rules') LOOP
			IF k NOT IN ('same_id_match', 'different_id_never', 'disagree_never') OR pg_catalog.jsonb_typeof(s -> 'rules' -> k) <> 'array' THEN
				PERFORM cdp_internal._match_fail('$.rules.' || k, 'Rules are "same_id_match", "different_id_never" and "disagree_never", each a list of compared attrs.');
			END IF;
			FOR j IN 0 .. pg_catalog.jsonb_array_length(s -> 'rules' -> k) - 1 LOOP
				IF NOT (cdp_internal._match_attr_column(s -> 'rules' -> k ->> j) = ANY (cols)) THEN
					PERFORM cdp_internal._match_fail(pg_catalog.format('$.rules.%s[%s]', k, j),
						pg_catalog.format('The attr "%s" is not compared.', s -> 'rules' -> k ->> j));
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	FOREACH k IN ARRAY ARRAY['suspicious_min_persons', 'max_block_size'] LOOP
		IF s ? k AND NOT (pg_catalog.jsonb_typeof(s -> k) = 'number' AND (s ->> k)::float8 >= 2 AND (s ->> k)::float8 <= 1000000) THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The %s must be a number from 2 to 1000000.', k));
		END IF;
	END LOOP;
	IF s ? 'max_person_records' AND NOT (pg_catalog.jsonb_typeof(s -> 'max_person_records') = 'number'
	   AND (s ->> 'max_person_records')::float8 = pg_catalog.trunc((s ->> 'max_person_records')::float8)
	   AND (s ->> 'max_person_records')::float8 BETWEEN 0 AND 1000000) THEN
		PERFORM cdp_internal._match_fail('$.max_person_records', 'The max_person_records must be a whole number from 0 (no bound) to 1000000.');
	END IF;
	IF s ? 'person_support' AND NOT (pg_catalog.jsonb_typeof(s -> 'person_support') = 'number'
	   AND (s ->> 'person_support')::float8 BETWEEN 0 AND 1) THEN
		PERFORM cdp_internal._match_fail('$.person_support', 'The person_support must be a share from 0 (off) to 1.');
	END IF;
	IF s ? 'review_limit' AND NOT (pg_catalog.jsonb_typeof(s -> 'review_limit') = 'number'
	   AND (s ->> 'review_limit')::float8 = pg_catalog.trunc((s ->> 'review_limit')::float8)
	   AND (s ->> 'review_limit')::float8 BETWEEN 0 AND 100000000) THEN
		PERFORM cdp_internal._match_fail('$.review_limit', 'The review_limit must be a whole number from 0 to 100000000.');
	END IF;
	IF s ? 'evidence_floor' AND pg_catalog.jsonb_typeof(s -> 'evidence_floor') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.evidence_floor', 'The evidence_floor flag must be true or false.');
	END IF;
	IF s ? 'max_rule_pairs' AND NOT (pg_catalog.jsonb_typeof(s -> 'max_rule_pairs') = 'number'
	   AND (s ->> 'max_rule_pairs')::float8 = pg_catalog.trunc((s ->> 'max_rule_pairs')::float8)
	   AND (s ->> 'max_rule_pairs')::float8 BETWEEN 0 AND 1e15) THEN
		PERFORM cdp_internal._match_fail('$.max_rule_pairs', 'The max_rule_pairs must be a whole number, 0 for the automatic bound (20 pairs per record, at least 1000000).');
	END IF;
	IF s ? 'lambda' AND NOT (pg_catalog.jsonb_typeof(s -> 'lambda') = 'number' AND (s ->> 'lambda')::float8 > 0 AND (s ->> 'lambda')::float8 < 1) THEN
		PERFORM cdp_internal._match_fail('$.lambda', 'The lambda (prior match probability of a random pair) must be strictly between 0 and 1.');
	END IF;
	IF s ? 'name_roles' AND pg_catalog.jsonb_typeof(s -> 'name_roles') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.name_roles', 'The name_roles flag must be true or false.');
	END IF;
	IF s ? 'placeholder_names' AND pg_catalog.jsonb_typeof(s -> 'placeholder_names') <> 'array' THEN
		PERFORM cdp_internal._match_fail('$.placeholder_names', 'The placeholder names must be an array of strings.');
	END IF;

	RETURN pg_catalog.jsonb_build_object(
		'comparisons', comps,
		'blocking', rules,
		'link_threshold', link,
		'review_threshold', review,
		'rules', CASE WHEN s ? 'rules' THEN s -> 'rules'
		              WHEN s ? 'comparisons' THEN '{}'::jsonb
		              ELSE (SELECT pg_catalog.jsonb_build_object(
		                       'same_id_match', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a IN ('snils', 'oms')), '[]'),
		                       'different_id_never', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a = 'snils'), '[]'),
		                       'disagree_never', '[]'::jsonb)
		                     FROM pg_catalog.unnest(cols) a) END,
		'placeholder_names', COALESCE(s -> 'placeholder_names', d -> 'placeholder_names'),
		'suspicious_min_persons', COALESCE(s -> 'suspicious_min_persons', d -> 'suspicious_min_persons'),
		'max_block_size', COALESCE(s -> 'max_block_size', d -> 'max_block_size'),
		'max_person_records', COALESCE(s -> 'max_person_records', d -> 'max_person_records'),
		'person_support', COALESCE(s -> 'person_support', d -> 'person_support'),
		'review_limit', COALESCE(s -> 'review_limit', d -> 'review_limit'),
		'max_rule_pairs', COALESCE(s -> 'max_rule_pairs', d -> 'max_rule_pairs'),
		'evidence_floor', COALESCE(s -> 'evidence_floor', d -> 'evidence_floor'),
		'lambda', COALESCE(s -> 'lambda', '0.0001'::jsonb),
		'name_roles', COALESCE(s -> 'name_roles', d -> 'name_roles', 'false'::jsonb));
END $$;
COMMENT ON FUNCTION cdp_internal._match_expand(jsonb) IS 'internal: validates a matching settings document (22023 naming the JSON path) and returns it complete';

CREATE OR REPLACE FUNCTION @extschema@.explain_match(record_a bigint, record_b bigint)
	RETURNS TABLE (attr text, value_a text, value_b text, level text, weight float8, running_total float8, probability float8)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and pair flags of src/match.h */
	prm jsonb;
	fa text[];
	fb text[];
	pr record;
	l record;
	c jsonb;
	lev int;
	nl int;
	w float8;
	total float8;
	lam float8;
	adj float8;
BEGIN
	IF record_a IS NULL OR record_b IS NULL THEN
		RAISE EXCEPTION 'record ids must not be null' USING ERRCODE = '22004';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record r WHERE r.record_id IN (record_a, record_b)) <> 2 AND record_a <> record_b THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', record_a, record_b USING ERRCODE = '22023';
	END IF;
	prm := cdp_internal._match_params(a.settings, a.params);
	-- features computed now from the records, so the explanation is never stale
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_a;
	fa := pr.feat;
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_b;
	fb := pr.feat;
	SELECT w2.levels, w2.weight, w2.flags INTO pr
	  FROM cdp_internal._match_walk('cross',
	         cdp_internal._match_feature_query(a.settings, pg_catalog.format('@extschema@.record r WHERE r.record_id IN (%s, %s)', record_a, record_b)),
	         a.program, a.version, 0, 0, 0, NULL) w2;
	lam := (prm ->> 'lambda')::float8;
	total := pg_catalog.log(2.0, (lam / (1 - lam))::numeric)::float8;
	attr := '(prior)'; value_a := NULL; value_b := NULL; level := 'априорная вероятность '	/* in percent, two significant digits, for people (issue 17) */
		|| pg_catalog.trim_scale(pg_catalog.round((lam * 100)::numeric, (1 - pg_catalog.floor(pg_catalog.log(lam * 100)))::int)) || ' %';
	weight := total; running_total := total; probability := 1 / (1 + pg_catalog.power(2::float8, -total));
	RETURN NEXT;
	FOR l IN SELECT * FROM cdp_internal._match_layout(a.settings) LOOP
		c := a.settings -> 'comparisons' -> l.comp;
		nl := pg_catalog.jsonb_array_length(c -> 'levels');
		lev := pr.levels[l.comp + 1];
		attr := l.attr;
		value_a := pg_catalog.replace(fa[l.fpos], kc ->> 'value_sep', ', ');
		value_b := pg_catalog.replace(fb[l.fpos], kc ->> 'value_sep', ', ');
		level := cdp_internal._match_level_label(c -> 'levels', nl, lev);
		IF lev < 0 THEN
			w := 0;
		ELSE
			w := pg_catalog.log(2.0, (GREATEST((prm -> 'm' -> l.comp ->> lev)::float8, 1e-6)
			                          / GREATEST((prm -> 'u' -> l.comp ->> lev)::float8, 1e-6))::numeric)::float8;
			IF lev = 0 AND (c ->> 'tf')::boolean THEN
				SELECT LEAST(pg_catalog.log(2.0, (GREATEST((prm -> 'u' -> l.comp ->> 0)::float8, 1e-6) / t.freq)::numeric)::float8, 3)
				  INTO adj FROM cdp_internal.match_tf t
				 WHERE t.version = a.version AND t.comp = l.comp AND t.value IN (pg_catalog.left(fa[l.fpos], (kc ->> 'tf_value_len')::int), '')
				 ORDER BY t.value DESC LIMIT 1;
				IF adj IS NOT NULL THEN
					w := w + adj;
					level := level || pg_catalog.format(' (частота значения: %s бит)', pg_catalog.round(adj::numeric, 2));
				END IF;
			END IF;
		END IF;
		weight := w;
		total := total + w;
		running_total := total;
		probability := 1 / (1 + pg_catalog.power(2::float8, -GREATEST(LEAST(total, 60), -60)));
		RETURN NEXT;
	END LOOP;
	attr := '(итог)'; value_a := NULL; value_b := NULL; weight := NULL;
	level := cdp_internal._match_summary(a.settings, pr.levels)
		|| CASE WHEN pr.flags & (kc ->> 'pair_forced')::int <> 0 THEN '; совпал идентификатор (правило)' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_veto')::int <> 0 THEN '; разные идентификаторы, имя или дата рождения: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_placeholder')::int <> 0 THEN '; запись-заглушка: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_name_only')::int <> 0
		        THEN '; совпали только имена (нет даты рождения, идентификатора, контакта или адреса): автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_name_rare')::int <> 0
		        THEN '; совпало только редкое полное имя: объединяется, если оно указывает на одного человека' ELSE '' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION @extschema@.explain_match(bigint, bigint) IS
	'why two records do or do not match: one row per compared attr (values, level, weight, running total, probability), then a summary in Russian; e.g. SELECT * FROM explain_match(1, 2)';

/*
 * _match_reason_codes: why a review entry waits, as a code a program can read, for each Russian
 * reason of _match_link_plan under settings s (the codes in the order of _match_plan_reasons, whose
 * wording lives in 67_match_run.sql; plpgsql, so that it may name that later function), and the code
 * of an entry without a reason (a score between the review and the link threshold).
 */
CREATE FUNCTION cdp_internal._match_reason_codes(s jsonb)
	RETURNS TABLE (reason text, code text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	never text[] := ARRAY(SELECT y.attr FROM cdp_internal._match_never_attrs(s) y ORDER BY y.n);
BEGIN
	RETURN QUERY
	SELECT x.r, x.c
	  FROM ROWS FROM (pg_catalog.unnest(cdp_internal._match_plan_reasons(never)),
	                  pg_catalog.unnest(ARRAY['placeholder', 'rule_veto', 'decided_no_match', 'relation',
	                                          'contradiction:birth_date', 'oversize', 'support', 'evidence_floor']
	                                    || ARRAY(SELECT 'contradiction:' || y.x FROM pg_catalog.unnest(never) WITH ORDINALITY y(x, n) ORDER BY y.n))) x(r, c)
	UNION ALL
	SELECT NULL, 'score_band';
END $$;
COMMENT ON FUNCTION cdp_internal._match_reason_codes(jsonb) IS
	'internal: the code of each review reason of _match_link_plan under the settings (placeholder, rule_veto, decided_no_match, relation, contradiction:<attr>, oversize, support, evidence_floor; score_band for an entry without one)';
REVOKE ALL ON FUNCTION cdp_internal._match_reason_codes(jsonb) FROM PUBLIC;

DROP VIEW @extschema@.review_queue;
DROP FUNCTION @extschema@.review_queue_entries();
/*
 * The rows of cdp.review_queue: the private review table read as the owner (record and person ids,
 * scores, why the entry waits and a summary of the comparisons, no values); EXECUTE is the role check
 * (cdp_admin).
 */
CREATE FUNCTION @extschema@.review_queue_entries()
	RETURNS TABLE (pair_id bigint, record_a bigint, record_b bigint, score float8, summary text, age interval,
	               priority float8, person_a bigint, person_b bigint, pairs int, reason text)
	LANGUAGE sql STABLE PARALLEL SAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT x.pair_id, x.record_a, x.record_b, x.score,
	       cdp_internal._match_summary(s.settings, x.levels)
	         || CASE WHEN x.reason IS NOT NULL THEN '; ' || x.reason ELSE '' END AS summary,
	       pg_catalog.now() - x.created_at AS age,
	       x.priority, x.person_a, x.person_b, x.pairs,
	       COALESCE(c.code, 'other') AS reason
	  FROM (SELECT DISTINCT ON (LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id))
	               q.*, LEAST(ra.golden_id, rb.golden_id) AS person_a, GREATEST(ra.golden_id, rb.golden_id) AS person_b
	          FROM cdp_internal.match_review q
	          JOIN @extschema@.record ra ON ra.record_id = q.record_a
	          JOIN @extschema@.record rb ON rb.record_id = q.record_b
	         WHERE q.status = 'open'
	           -- a pair whose records were joined since (by another link or a person) needs no decision
	           AND ra.golden_id <> rb.golden_id
	         ORDER BY LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	                  q.priority DESC NULLS LAST, q.score DESC, q.pair_id) x
	  LEFT JOIN cdp_internal.match_settings s ON s.version = x.version
	  -- the codes of the reasons, once per settings version the entries name
	  LEFT JOIN (SELECT v.version, rc.reason, rc.code
	               FROM cdp_internal.match_settings v, cdp_internal._match_reason_codes(v.settings) rc
	              WHERE v.version IN (SELECT DISTINCT q.version FROM cdp_internal.match_review q WHERE q.status = 'open')) c
	    ON c.version = x.version AND c.reason IS NOT DISTINCT FROM x.reason
	 ORDER BY x.priority DESC NULLS LAST, x.score DESC, x.pair_id
$$;
COMMENT ON FUNCTION @extschema@.review_queue_entries() IS
	'the rows of cdp.review_queue, read as the owner; EXECUTE is the role check';
CREATE VIEW @extschema@.review_queue WITH (security_invoker = true) AS
	SELECT e.pair_id, e.record_a, e.record_b, e.score, e.summary, e.age, e.priority, e.person_a, e.person_b, e.pairs, e.reason
	  FROM @extschema@.review_queue_entries() e;
COMMENT ON VIEW @extschema@.review_queue IS 'the review work list: one open entry per pair of persons still apart, most important first (priority: probability times the records the decision moves), with score, Russian summary, age, the two persons, how many record pairs the entry stands for and why it waits (reason: score_band, contradiction:<attr>, support, oversize, rule_veto, placeholder, relation, decided_no_match, evidence_floor); decide with cdp.review_decide';
REVOKE ALL ON FUNCTION @extschema@.review_queue_entries() FROM PUBLIC;
-- the clinic roles, when they exist, get back what setup_roles gave on the recreated objects
SELECT cdp_internal.acc_apply_privileges();

CREATE OR REPLACE FUNCTION cdp_internal._match_run(mode text) RETURNS jsonb
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
	review_room bigint;
	max_records int;
	support float8;
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
	t_a bigint[];
	t_b bigint[];
	t_prob float8[];
	t_flags int[];
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
		-- the settings version, the set of suspicious values, or records never keyed
		-- (and when a fifth of the records or more are queued, as after a bulk load: one set-based
		-- re-key with its indexes built after it costs less than re-keying them one index entry at a
		-- time, and gives the same keys; issue 12)
		IF cdp_internal._match_refresh_suspicious()
		   OR EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
		   OR (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record)
		   OR COALESCE(pg_catalog.cardinality(q_ids), 0) > 0.2 * (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) THEN
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
	-- every record of every person a pair touches, with the features the constraints read (taken
	-- out of match_key before the join, OFFSET 0: the hash then holds a few values per record, not
	-- every feature; at 1M records that hash spilled to disk, issue 12)
	EXECUTE pg_catalog.format(
		'SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id), %s, %s
		   FROM (SELECT DISTINCT r.golden_id
		           FROM (SELECT t.record_a FROM _cdp_todo t UNION SELECT t.record_b FROM _cdp_todo t) x(id)
		           JOIN @extschema@.record r ON r.record_id = x.id) g
		   JOIN @extschema@.record r ON r.golden_id = g.golden_id
		   LEFT JOIN (SELECT k.record_id, %s AS dob, %s AS never FROM cdp_internal.match_key k OFFSET 0) k ON k.record_id = r.record_id',
		CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE 'pg_catalog.array_agg(k.dob)' END,
		CASE WHEN never_pos IS NULL THEN 'NULL::text[]' ELSE 'pg_catalog.array_agg(k.never)' END,
		CASE WHEN dob_pos IS NULL THEN 'NULL::text' ELSE pg_catalog.format('k.feat[%s]', dob_pos) END,
		CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
		     ELSE 'ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
		                       FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[]' END)
	  INTO u_rec, u_gold, u_dob, u_never;
	-- the pairs in decision order, read in one sorted pass (not one sort per column)
	SELECT pg_catalog.array_agg(t.record_a), pg_catalog.array_agg(t.record_b), pg_catalog.array_agg(t.probability),
	       pg_catalog.array_agg(t.flags)
	  INTO t_a, t_b, t_prob, t_flags
	  FROM (SELECT t.record_a, t.record_b, t.probability, t.flags FROM _cdp_todo t ORDER BY t.ord) t;
	CREATE TEMP TABLE _cdp_plan ON COMMIT DROP AS
	SELECT lp.* FROM cdp_internal._match_link_plan(t_a, t_b, t_prob, t_flags,
		u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
		(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		link_t, review_t, cdp_internal._match_plan_reasons(never_attr),
		max_records, support) lp;
	-- the evidence floor: pairs agreeing on names only are never linked (to review when they score
	-- over the link threshold)
	SELECT pg_catalog.count(*) INTO name_only FROM _cdp_todo t WHERE t.flags & pair_name_only <> 0;
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
	-- the review queue is a work list: one entry per pair of persons still apart (the strongest of
	-- their record pairs, in decision order), none for a pair of persons that has an open entry
	-- already, ordered by priority (probability times the records the decision moves; a hundredth of
	-- that for a name-only pair), at most review_limit open entries; the rest are counted
	CREATE TEMP TABLE _cdp_rev ON COMMIT DROP AS
	SELECT DISTINCT ON (r.person_a, r.person_b) r.ord, r.reason, r.person_a, r.person_b, r.person_records,
	       pg_catalog.count(*) OVER (PARTITION BY r.person_a, r.person_b)::int AS pairs
	  FROM (SELECT lp.ord, lp.reason, lp.person_a, lp.person_b, lp.person_records FROM _cdp_plan lp
	          JOIN _cdp_todo t ON t.ord = lp.ord
	         -- a pair the evidence floor holds (name-only, no rule or placeholder) is not queued but
	         -- counted (review_undecidable): a reviewer has nothing to check but the names the
	         -- matcher compared already (issue 12)
	         WHERE lp.action IN ('h', 'r') AND t.flags & (pair_name_only | pair_held) <> pair_name_only
	        UNION ALL
	        SELECT x.o, 'решение «не совпадают» между этими людьми', LEAST(ra.golden_id, rb.golden_id), GREATEST(ra.golden_id, rb.golden_id),
	               (SELECT pg_catalog.count(*) FROM @extschema@.record rr WHERE rr.golden_id IN (ra.golden_id, rb.golden_id))::int
	          FROM pg_catalog.unnest(refused) x(o) JOIN _cdp_todo t ON t.ord = x.o
	          JOIN @extschema@.record ra ON ra.record_id = t.record_a JOIN @extschema@.record rb ON rb.record_id = t.record_b) r
	 WHERE r.person_a <> r.person_b
	 ORDER BY r.person_a, r.person_b, r.ord;
	SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(v.pairs), 0) INTO review_persons, review_pairs FROM _cdp_rev v;
	SELECT pg_catalog.count(*) INTO review_undecidable
	  FROM _cdp_plan lp JOIN _cdp_todo t ON t.ord = lp.ord
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
		  FROM _cdp_rev v JOIN _cdp_todo t ON t.ord = v.ord
		 WHERE NOT EXISTS (SELECT 1 FROM _cdp_open o WHERE o.person_a = v.person_a AND o.person_b = v.person_b
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
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'name_only', name_only,
		'review_pairs', review_pairs, 'review_persons', review_persons, 'review_over_limit', review_over,
		'review_undecidable', review_undecidable, 'times', times);
	INSERT INTO cdp_internal.match_run (mode, finished_at, result) VALUES (mode, pg_catalog.clock_timestamp(), result);
	RETURN result;
END $$;
COMMENT ON FUNCTION cdp_internal._match_run(text) IS
	'internal: the body of run_matching (keys, scoring, decisions in memory, links in one batch, review queue)';
REVOKE ALL ON FUNCTION cdp_internal._match_run(text) FROM PUBLIC;
/* ==== end of section: matchacc ==== */

/* ==== section: golden (issue 16, session 21) ==== */

/*
 * The projection row of one person from its fold, in C (src/golden_row.c): as PL/pgSQL it cost
 * about 40 us a call, most of writing a new person's profile at ingest and of every re-fold.
 * CREATE OR REPLACE keeps the function's privileges; its SET search_path goes with the PL/pgSQL
 * body (a C function reads no names).
 */
CREATE OR REPLACE FUNCTION cdp_internal.golden_row(golden_id bigint, fold jsonb, status text, status_at timestamptz,
	last_visit timestamptz, rules_version int) RETURNS @extschema@.patient
	AS 'MODULE_PATHNAME', 'cdp_golden_row'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_row(bigint, jsonb, text, timestamptz, timestamptz, int) IS
	'the cdp.patient row of one person from its survivorship fold, status and last visit';

/*
 * The document of a record for the live fold, from its columns (src/golden_fold.c), and its two
 * callers: the re-fold (golden_compute) and ingest's profiles of new persons (upsert_records).
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
REVOKE ALL ON FUNCTION cdp_internal.golden_record_doc_of(bigint, int, int, text, text, text, date, text, @extschema@.phone[],
	@extschema@.email[], @extschema@.snils, @extschema@.oms, text, text, jsonb, jsonb, timestamptz, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION cdp_internal.golden_compute(ids bigint[]) RETURNS SETOF @extschema@.patient
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
		       /* each record's document from its columns (golden_record_doc_of), not its row's JSON */
		       pg_catalog.jsonb_agg(cdp_internal.golden_record_doc_of(r.record_id, r.source_id, s.trust,
		           r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils,
		           r.oms, r.address, r.city, r.handles, r.extra, r.created_at, r.updated_at) ORDER BY r.record_id) AS docs
		  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
		  JOIN @extschema@.record r ON r.golden_id = g.i
		  LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	SELECT row.*
	  FROM recs CROSS JOIN rl
	  LEFT JOIN @extschema@.patient p ON p.golden_id = recs.golden_id
	  CROSS JOIN LATERAL cdp_internal.golden_row(recs.golden_id, @extschema@.golden_fold(recs.docs, rl.rules, false),
	           p.status, p.status_at,
	           (SELECT pg_catalog.max(c.at) FROM @extschema@.clinical_event c
	             WHERE c.golden_id = recs.golden_id AND c.kind = 'visit'
	               AND c.visit_status IN ('came', 'in_appointment', 'done')),
	           rl.version) row;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_compute(bigint[]) IS
	'profiles of the given golden ids folded from the live records (internal to refresh_patients)';

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
-- CREATE OR REPLACE resets SECURITY DEFINER: the access section made upsert_records run as the owner
ALTER FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) SECURITY DEFINER;

/* ==== end of section: golden ==== */

/* ==== section: namesel (issue 18, session 21) ==== */
-- The restriction estimator of cdp.% (sql/parts/40_index.sql, src/idx_name_sel.c): matchingsel's
-- fraction of matching histogram bounds made the planner expect 1 % of a name-dense table.
CREATE FUNCTION cdp_internal.name_similar_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'cdp_name_similar_sel'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.name_similar_sel(internal, oid, internal, integer) IS
	'restriction selectivity of cdp.%: exact on the most common values, a prior-weighted count of matching histogram bounds on the rest';
REVOKE ALL ON FUNCTION cdp_internal.name_similar_sel(internal, oid, internal, integer) FROM PUBLIC;
ALTER OPERATOR @extschema@.% (text, text) SET (RESTRICT = cdp_internal.name_similar_sel);
/* ==== end of section: namesel ==== */

/* ==== section: segidx (issue 13, session 21) ==== */
-- the segment indexes carry the golden id (and the columns the code expression reads): index-only
-- clause scans (doc/segments.md, Performance)
DROP INDEX @extschema@.clinical_event_seg_code_idx;
CREATE INDEX clinical_event_seg_code_idx ON @extschema@.clinical_event
	(kind, (COALESCE(lab_code, icd10, specialty) COLLATE "C"), at)
	INCLUDE (golden_id, lab_code, icd10, specialty, visit_status);
DROP INDEX @extschema@.clinical_event_seg_due_idx;
CREATE INDEX clinical_event_seg_due_idx ON @extschema@.clinical_event (due_date) INCLUDE (golden_id)
	WHERE kind = 'recommendation';
/* ==== end of section: segidx ==== */

/* ==== section: campmark (issue 14, session 22) ==== */
-- campaigns (issue 14): the metrics read a per-day roll-up kept by triggers on the send rows;
-- mark_sent probes the duplicate check by the send rows' unique key; the bulk delivery path;
-- set_campaign_status no longer fails on its own parameter name when it cancels due rows
/*
 * The roll-up behind the metrics: per campaign, day sent (the campaign's time zone), channel and
 * arm, the counters of the sent rows (cdp.campaign_send with status 'sent').  Kept by the
 * statement triggers below on every insert, update and delete of send rows, so whoever writes a
 * send row (cdp.mark_sent, the one-event and bulk delivery folds, cdp.refresh_campaign_metrics,
 * an erasure, a restore) keeps it equal to the counts over the send rows, in the same
 * transaction.  A metrics query reads days x channels x arms rows of it, never the send rows.
 * NULLS NOT DISTINCT: a row without an arm (a campaign without A/B arms) is a group, as in GROUP BY.
 * Derived data: not dumped (95_dump.sql); a restore rebuilds it as the send rows are copied in.
 */
CREATE TABLE @extschema@.campaign_rollup (
	campaign_id		bigint NOT NULL,
	day				date,
	channel			text,
	arm				text,
	sent			bigint NOT NULL DEFAULT 0,
	delivered		bigint NOT NULL DEFAULT 0,
	opened			bigint NOT NULL DEFAULT 0,
	clicked			bigint NOT NULL DEFAULT 0,
	converted		bigint NOT NULL DEFAULT 0,
	revenue			numeric NOT NULL DEFAULT 0,
	bounced			bigint NOT NULL DEFAULT 0,
	hard_bounced	bigint NOT NULL DEFAULT 0,
	unsubscribed	bigint NOT NULL DEFAULT 0,
	complained		bigint NOT NULL DEFAULT 0,
	returned		bigint NOT NULL DEFAULT 0,
	CONSTRAINT campaign_rollup_key UNIQUE NULLS NOT DISTINCT (campaign_id, day, channel, arm)
);
COMMENT ON TABLE @extschema@.campaign_rollup IS
	'per campaign, day sent, channel and arm: the counters of the sent rows behind cdp.campaign_metrics, kept by triggers on cdp.campaign_send';
ALTER TABLE @extschema@.campaign_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.campaign_rollup FORCE ROW LEVEL SECURITY;

/*
 * Trigger of cdp.campaign_send (INSERT: new rows, UPDATE: old and new, DELETE: old): the roll-up
 * follows every statement on the send rows, so whoever writes them (cdp.mark_sent, the one-event
 * and bulk delivery folds, cdp.refresh_campaign_metrics, an erasure, a restore) keeps it equal to
 * the counts over the send rows, in the same transaction.  Each sent row counts +1 as it is after
 * the statement (news) and -1 as it was before (olds), each as a narrow roll-up row of its own
 * (copying the wide send rows would cost more than the rest); a statement with none (a list build, a
 * refusal, a due row moved to its slot) writes nothing.  The transition table a trigger lacks is
 * never read: PL/pgSQL plans a statement when it first runs it.  The sums per key are added to the
 * roll-up rows in key order, so that two writers lock the rows they share in the same order (a
 * bulk fold touches many keys, cdp.mark_sent one); ON CONFLICT adds to the row as the writer
 * before committed it (it waits for that writer), so concurrent statements add up.  Keys whose
 * counters do not change are not written.  SECURITY DEFINER: the roll-up is the owner's to write.
 */
CREATE FUNCTION cdp_internal.campaign_rollup_apply() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	news	@extschema@.campaign_rollup[] := '{}';
	olds	@extschema@.campaign_rollup[] := '{}';
BEGIN
	/* each sent row as a roll-up row of its own (a narrow copy: never the whole wide send row) */
	IF TG_OP <> 'DELETE' THEN
		news := ARRAY(SELECT ROW(n.campaign_id, n.sent_day, n.channel, n.arm, 1, (n.delivered_at IS NOT NULL)::int,
		                         (n.opened_at IS NOT NULL)::int, (n.clicked_at IS NOT NULL)::int, (n.converted_at IS NOT NULL)::int,
		                         n.revenue, (n.bounced IS NOT NULL)::int, (n.bounced IS NOT DISTINCT FROM 'hard')::int,
		                         (n.unsubscribed_at IS NOT NULL)::int, (n.complained_at IS NOT NULL)::int, (n.returned_at IS NOT NULL)::int)
		                FROM new_rows n WHERE n.status = 'sent');
	END IF;
	IF TG_OP <> 'INSERT' THEN
		olds := ARRAY(SELECT ROW(o.campaign_id, o.sent_day, o.channel, o.arm, 1, (o.delivered_at IS NOT NULL)::int,
		                         (o.opened_at IS NOT NULL)::int, (o.clicked_at IS NOT NULL)::int, (o.converted_at IS NOT NULL)::int,
		                         o.revenue, (o.bounced IS NOT NULL)::int, (o.bounced IS NOT DISTINCT FROM 'hard')::int,
		                         (o.unsubscribed_at IS NOT NULL)::int, (o.complained_at IS NOT NULL)::int, (o.returned_at IS NOT NULL)::int)
		                FROM old_rows o WHERE o.status = 'sent');
	END IF;
	IF pg_catalog.cardinality(news) + pg_catalog.cardinality(olds) = 0 THEN
		RETURN NULL;
	END IF;
	INSERT INTO @extschema@.campaign_rollup AS r
	SELECT d.*
	  FROM (SELECT x.campaign_id, x.day, x.channel, x.arm, pg_catalog.sum(x.w * x.sent) AS sent,
	               pg_catalog.sum(x.w * x.delivered) AS delivered, pg_catalog.sum(x.w * x.opened) AS opened,
	               pg_catalog.sum(x.w * x.clicked) AS clicked, pg_catalog.sum(x.w * x.converted) AS converted,
	               pg_catalog.sum(x.w * x.revenue) AS revenue, pg_catalog.sum(x.w * x.bounced) AS bounced,
	               pg_catalog.sum(x.w * x.hard_bounced) AS hard_bounced, pg_catalog.sum(x.w * x.unsubscribed) AS unsubscribed,
	               pg_catalog.sum(x.w * x.complained) AS complained, pg_catalog.sum(x.w * x.returned) AS returned
	          FROM (SELECT 1 AS w, n.* FROM pg_catalog.unnest(news) n UNION ALL SELECT -1, o.* FROM pg_catalog.unnest(olds) o) x
	         GROUP BY x.campaign_id, x.day, x.channel, x.arm) d
	 WHERE (d.sent, d.delivered, d.opened, d.clicked, d.converted, d.revenue, d.bounced, d.hard_bounced, d.unsubscribed,
	        d.complained, d.returned) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	 ORDER BY d.campaign_id, d.day, d.channel, d.arm
	ON CONFLICT ON CONSTRAINT campaign_rollup_key DO UPDATE SET
	       sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered, opened = r.opened + EXCLUDED.opened,
	       clicked = r.clicked + EXCLUDED.clicked, converted = r.converted + EXCLUDED.converted, revenue = r.revenue + EXCLUDED.revenue,
	       bounced = r.bounced + EXCLUDED.bounced, hard_bounced = r.hard_bounced + EXCLUDED.hard_bounced,
	       unsubscribed = r.unsubscribed + EXCLUDED.unsubscribed, complained = r.complained + EXCLUDED.complained,
	       returned = r.returned + EXCLUDED.returned;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_rollup_apply() IS
	'trigger: statements on cdp.campaign_send keep cdp.campaign_rollup equal to the counts of the sent rows (internal)';
CREATE TRIGGER campaign_rollup_insert AFTER INSERT ON @extschema@.campaign_send
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_apply();
CREATE TRIGGER campaign_rollup_update AFTER UPDATE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_apply();
CREATE TRIGGER campaign_rollup_delete AFTER DELETE ON @extschema@.campaign_send
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_apply();
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_insert;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_update;
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_delete;

/*
 * TRUNCATE of the send rows empties the roll-up (statement triggers with transition tables do not
 * see a TRUNCATE).
 */
CREATE FUNCTION cdp_internal.campaign_rollup_truncate() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	TRUNCATE @extschema@.campaign_rollup;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_rollup_truncate() IS
	'trigger: truncating cdp.campaign_send empties cdp.campaign_rollup (internal)';
CREATE TRIGGER campaign_rollup_truncate AFTER TRUNCATE ON @extschema@.campaign_send
	FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.campaign_rollup_truncate();
ALTER TABLE @extschema@.campaign_send ENABLE ALWAYS TRIGGER campaign_rollup_truncate;

/*
 * Per campaign, day sent (the campaign's time zone), channel and arm: the delivery funnel and its
 * rates, read from the roll-up (days x channels x arms rows per campaign, whatever its size).
 */
CREATE OR REPLACE VIEW @extschema@.campaign_metrics WITH (security_invoker = true) AS
	SELECT r.campaign_id, r.day, r.channel, r.arm, r.sent, r.delivered,
	       pg_catalog.round(r.delivered::numeric / r.sent, 4) AS deliverability,
	       r.opened, r.clicked,
	       pg_catalog.round(r.clicked::numeric / NULLIF(r.delivered, 0), 4) AS ctr,
	       pg_catalog.round(r.clicked::numeric / NULLIF(r.opened, 0), 4) AS click_to_open,
	       r.converted,
	       pg_catalog.round(r.converted::numeric / NULLIF(r.delivered, 0), 4) AS conversion_rate,
	       r.revenue, r.bounced, r.hard_bounced, r.unsubscribed, r.complained, r.returned
	  FROM @extschema@.campaign_rollup r
	 WHERE r.sent > 0;
COMMENT ON VIEW @extschema@.campaign_metrics IS
	'by campaign, day sent, channel and arm: sent, delivered, deliverability, opened, clicked, CTR (clicked/delivered), click-to-open, converted, conversion rate (converted/delivered), revenue, bounces, unsubscribes, complaints, returning patients';
-- the send rows already sent count in the roll-up from the start
INSERT INTO @extschema@.campaign_rollup AS r
SELECT s.campaign_id, s.sent_day, s.channel, s.arm, pg_catalog.count(*), pg_catalog.count(s.delivered_at), pg_catalog.count(s.opened_at),
       pg_catalog.count(s.clicked_at), pg_catalog.count(s.converted_at), pg_catalog.sum(s.revenue), pg_catalog.count(s.bounced),
       pg_catalog.count(*) FILTER (WHERE s.bounced = 'hard'), pg_catalog.count(s.unsubscribed_at), pg_catalog.count(s.complained_at),
       pg_catalog.count(s.returned_at)
  FROM @extschema@.campaign_send s
 WHERE s.status = 'sent'
 GROUP BY s.campaign_id, s.sent_day, s.channel, s.arm;
CREATE OR REPLACE FUNCTION @extschema@.set_campaign_status(campaign_id bigint, status text) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(set_campaign_status.campaign_id, true);
BEGIN
	IF status IS NULL OR NOT status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'archived') THEN
		RAISE EXCEPTION 'unknown campaign status "%"', pg_catalog.left(coalesce(status, 'null'), 64) USING ERRCODE = '22023',
			HINT = 'Use draft, scheduled, running, paused, done or archived.';
	END IF;
	IF c.status = status THEN
		RETURN status;
	END IF;
	IF c.status = 'done' AND status <> 'archived' OR c.status = 'archived' AND status NOT IN ('paused', 'draft') THEN
		RAISE EXCEPTION 'campaign "%" is % and cannot become %', c.campaign_id, c.status, status USING ERRCODE = '55000',
			HINT = 'Restore an archived campaign to paused; copy a finished one with cdp.copy_campaign.';
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.status', c.campaign_id,
		pg_catalog.jsonb_build_object('status', status, 'from', c.status));
	IF status IN ('paused', 'done', 'archived') THEN
		UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'campaign_' || set_campaign_status.status, refused_at = pg_catalog.now()
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'due';
	END IF;
	RETURN status;
END
$$;
COMMENT ON FUNCTION @extschema@.set_campaign_status(bigint, text) IS
	'moves a campaign to draft, scheduled, running, paused, done or archived (restore: archived -> paused); pausing, finishing or archiving cancels its unsent rows';
CREATE OR REPLACE FUNCTION cdp_internal.campaign_mark(send_id bigint, now_ timestamptz) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s		@extschema@.campaign_send;
	c		@extschema@.campaign;
	p		@extschema@.patient;
	o		@extschema@.offer;
	g		bigint;
	why		text;
	tz		text;
	nxt		timestamptz;
	n_cap	bigint;
	last	timestamptz;
BEGIN
	IF campaign_mark.send_id IS NULL OR now_ IS NULL THEN
		RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO s FROM @extschema@.campaign_send x WHERE x.send_id = campaign_mark.send_id FOR UPDATE;
	IF s.send_id IS NULL THEN
		RAISE EXCEPTION 'send "%" does not exist', campaign_mark.send_id USING ERRCODE = 'P0002',
			HINT = 'Pass a send_id read from cdp.send_list.';
	END IF;
	IF s.status = 'sent' THEN
		RETURN 'already_sent';
	ELSIF s.status <> 'due' THEN
		RETURN coalesce(s.reason, s.status);
	END IF;
	c := cdp_internal.campaign_get(s.campaign_id, false);
	g := @extschema@.resolve_patient(s.golden_id);
	IF g IS NOT NULL THEN
		SELECT * INTO p FROM @extschema@.patient x WHERE x.golden_id = g;
	END IF;
	IF c.status <> 'running' THEN
		why := 'campaign_' || c.status;
	ELSIF p.golden_id IS NULL OR EXISTS (SELECT 1 FROM @extschema@.event e
	                                      WHERE e.golden_id IN (s.golden_id, g) AND e.kind = 'patient.erased') THEN
		why := 'erased';
	ELSIF p.status = 'archived' THEN
		why := 'archived';
	ELSIF EXISTS (SELECT 1 FROM pg_catalog.unnest(CASE WHEN EXISTS (SELECT 1 FROM @extschema@.patient_redirect d WHERE d.new_id = g)
	                                                  THEN cdp_internal.golden_absorbed(g) ELSE ARRAY[g] END) i(g)
	                JOIN @extschema@.campaign_send x ON x.campaign_id = s.campaign_id AND x.golden_id = i.g AND x.trigger_key = s.trigger_key
	               WHERE x.status = 'sent') THEN
		why := 'duplicate';
	ELSIF NOT @extschema@.may_contact(g, s.purpose, s.channel) THEN
		why := 'no_consent';
	ELSIF EXISTS (SELECT 1 FROM cdp_internal.campaign_address_block b WHERE b.address_key = s.address) THEN
		why := 'address_invalid';
	ELSIF EXISTS (SELECT 1 FROM @extschema@.consent_suppression x
	               WHERE x.address_key = s.address AND x.purpose = s.purpose AND x.suppressed) THEN
		why := 'suppressed';
	ELSIF NOT EXISTS (
		/* cdp_internal.consent_addresses(p, s.channel) holds s.address (its keys written out) */
		SELECT 1
		  FROM (SELECT e.x ->> 'value' AS v
		          FROM pg_catalog.jsonb_array_elements(CASE WHEN s.channel = 'email' THEN p.emails
		                                                    WHEN s.channel IN ('sms', 'messenger', 'call') THEN p.phones
		                                                    WHEN s.channel = 'social' THEN p.handles END) e(x)
		         WHERE s.channel <> 'social' OR e.x ->> 'network' = 'vk'
		        UNION ALL
		        SELECT p.address WHERE s.channel = 'post') a
		 WHERE coalesce(@extschema@.phone_e164(@extschema@.try_phone(a.v)), (@extschema@.try_email(a.v))::text,
		                pg_catalog.lower(pg_catalog.btrim(a.v))) = s.address) THEN
		why := 'no_address';
	ELSIF s.provenance ? 'recommendation'
	      AND cdp_internal.campaign_retest_done(g, s.provenance ->> 'test', (s.provenance ->> 'since')::timestamptz) THEN
		why := 'already_done';
	ELSIF c.doc -> 'cap' IS NOT NULL THEN
		/* the person's other messages: the cap (marketing, in the period) and the last one (quiet period) */
		SELECT pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing' AND x.sent_at > now_ - (c.doc -> 'cap' ->> 'per')::interval),
		       pg_catalog.max(x.sent_at)
		  INTO n_cap, last
		  FROM @extschema@.campaign_send x
		 WHERE x.golden_id = g AND x.campaign_id <> s.campaign_id AND x.status = 'sent';
		IF c.doc ->> 'purpose' = 'marketing' AND c.doc -> 'cap' ? 'max' AND n_cap >= (c.doc -> 'cap' ->> 'max')::int THEN
			why := 'capped';
		END IF;
	END IF;
	IF why IS NULL AND c.doc ? 'offer' AND (NOT c.doc ? 'trigger' OR (s.provenance ->> 'benefit')::boolean) THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (c.doc ->> 'offer')::bigint;
		why := cdp_internal.offer_reason(p, o, (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date);
		IF why IN ('expired', 'not_yet_valid', 'archived') THEN
			why := 'offer_' || why;
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE @extschema@.campaign_send x SET status = 'refused', reason = why, refused_at = now_
		 WHERE x.send_id = s.send_id;
		RETURN why;
	END IF;
	/* not now: the quiet period after the last message, or outside the window */
	tz := coalesce(s.provenance ->> 'timezone', cdp_internal.campaign_tz(p.city, c.doc ->> 'timezone'));
	nxt := CASE WHEN c.doc -> 'cap' ? 'quiet' THEN GREATEST(now_, last + (c.doc -> 'cap' ->> 'quiet')::interval) ELSE now_ END;
	IF nxt > now_ THEN
		UPDATE @extschema@.campaign_send x SET due_at = cdp_internal.campaign_next_slot(nxt, tz, c.doc -> 'window')
		 WHERE x.send_id = s.send_id;
		RETURN 'quiet_period';
	END IF;
	nxt := cdp_internal.campaign_next_slot(now_, tz, c.doc -> 'window');
	IF nxt > now_ THEN
		UPDATE @extschema@.campaign_send x SET due_at = nxt WHERE x.send_id = s.send_id;
		RETURN 'outside_window';
	END IF;
	UPDATE @extschema@.campaign_send x SET status = 'sent', sent_at = now_,
	       sent_day = (now_ AT TIME ZONE (c.doc ->> 'timezone'))::date
	 WHERE x.send_id = s.send_id;
	RETURN 'sent';
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_mark(bigint, timestamptz) IS
	'cdp.mark_sent at a given moment, any moment (tests fix the clock) (internal)';
CREATE OR REPLACE FUNCTION @extschema@.mark_sent(send_id bigint) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN cdp_internal.campaign_mark(mark_sent.send_id, pg_catalog.now());
END
$$;
COMMENT ON FUNCTION @extschema@.mark_sent(bigint) IS
	'marks a send row sent after re-checking consent, archive, erasure, contraindication, offer validity, cap and window at that moment; returns ''sent'' or the reason it refused; e.g. mark_sent(17)';
CREATE OR REPLACE FUNCTION @extschema@.ingest_delivery_events() RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* a COPY-sized batch would otherwise start a JIT compile costing more than it saves */
	AS $$
DECLARE
	n_staged	bigint;
	n_bad		bigint;
	n_rec		bigint;
	e_send		bigint[];
	e_kind		text[];
	e_at		timestamptz[];
	e_bounce	text[];
	e_amount	numeric[];
	bad			record;
BEGIN
	LOCK TABLE @extschema@.delivery_event_staging IN EXCLUSIVE MODE;
	SELECT pg_catalog.count(*),
	       pg_catalog.count(*) FILTER (WHERE NOT (
	           s.status IS NOT DISTINCT FROM 'sent'
	           AND t.kind IN ('sent', 'delivered', 'bounced', 'opened', 'clicked', 'converted', 'unsubscribed', 'complained')
	           AND t.at IS NOT NULL
	           AND (t.detail IS NULL OR pg_catalog.jsonb_typeof(t.detail) = 'object')
	           AND (t.kind <> 'bounced' OR coalesce(t.detail ->> 'type', '') IN ('hard', 'soft'))
	           AND (t.detail IS NULL OR NOT t.detail ? 'amount'
	                OR pg_catalog.jsonb_typeof(t.detail -> 'amount') = 'number' AND (t.detail ->> 'amount')::numeric >= 0)))
	  INTO n_staged, n_bad
	  FROM @extschema@.delivery_event_staging t
	  LEFT JOIN @extschema@.campaign_send s ON s.send_id = t.send_id;
	IF n_bad > 0 THEN
		/* name the first bad row, as the one-event path would: its send first, then its fields */
		SELECT x.send_id, x.kind, x.rn INTO bad
		  FROM (SELECT st.send_id, st.kind, pg_catalog.row_number() OVER () AS rn, s.status
		          FROM @extschema@.delivery_event_staging st
		          LEFT JOIN @extschema@.campaign_send s ON s.send_id = st.send_id) x
		 WHERE x.status IS DISTINCT FROM 'sent' LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'staged delivery event for a send that % (send_id %)',
				CASE WHEN bad.send_id IS NULL THEN 'is not named' ELSE 'does not exist or was not sent' END, bad.send_id
				USING ERRCODE = 'P0002', DETAIL = pg_catalog.format('Staged row %s (kind "%s").', bad.rn, bad.kind),
				HINT = 'Fix or delete the row in cdp.delivery_event_staging and call cdp.ingest_delivery_events() again; nothing was recorded.';
		END IF;
		PERFORM cdp_internal.campaign_delivery_check(x.kind, x.at, coalesce(x.detail, '{}'), x.provider_event_id,
		                                             pg_catalog.format('Staged row %s (send %s).', x.rn, x.send_id))
		   FROM (SELECT t.*, pg_catalog.row_number() OVER () AS rn FROM @extschema@.delivery_event_staging t) x;
		RAISE EXCEPTION 'a staged delivery event is not valid' USING ERRCODE = '22023',
			HINT = 'Check the rows of cdp.delivery_event_staging against cdp.record_delivery_event; nothing was recorded.';
	END IF;
	WITH ins AS (
		INSERT INTO @extschema@.campaign_delivery AS d (golden_id, send_id, kind, at, event_key, detail, amount)
		SELECT DISTINCT ON (t.send_id, t.k) s.golden_id, t.send_id, t.kind, t.at, t.k, coalesce(t.detail, '{}'),
		       (t.detail ->> 'amount')::numeric
		  FROM (SELECT x.*, coalesce(x.provider_event_id, x.detail ->> 'event_id',
		                             x.kind || '@' || pg_catalog.to_char(x.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')) AS k
		          FROM @extschema@.delivery_event_staging x) t
		  JOIN @extschema@.campaign_send s ON s.send_id = t.send_id AND s.status = 'sent'
		 ORDER BY t.send_id, t.k, t.at
		ON CONFLICT ON CONSTRAINT campaign_delivery_pkey DO NOTHING
		RETURNING d.send_id, d.kind, d.at, d.detail ->> 'type' AS bounce, d.amount)
	SELECT pg_catalog.count(*), pg_catalog.array_agg(i.send_id), pg_catalog.array_agg(i.kind), pg_catalog.array_agg(i.at),
	       pg_catalog.array_agg(i.bounce), pg_catalog.array_agg(i.amount)
	  INTO n_rec, e_send, e_kind, e_at, e_bounce, e_amount
	  FROM ins i;
	IF n_rec > 0 THEN
		PERFORM cdp_internal.campaign_delivery_fold(e_send, e_kind, e_at, e_bounce, e_amount);
	END IF;
	/* the staged rows are all read (the table is locked against new ones until commit) */
	TRUNCATE @extschema@.delivery_event_staging;
	RETURN pg_catalog.jsonb_build_object('staged', n_staged, 'recorded', n_rec, 'duplicates', n_staged - n_rec);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_delivery_events() IS
	'records every delivery event COPYed into cdp.delivery_event_staging (all or nothing; duplicates counted once) and empties it; returns counts';
SELECT cdp_internal.acc_protect('@extschema@.campaign_rollup', 'marketing');
INSERT INTO cdp_internal.acc_privilege (role, kind, object, privilege)
VALUES ('cdp_marketer', 'table', 'cdp.campaign_rollup', 'SELECT');
SELECT cdp_internal.acc_lock_down();
SELECT cdp_internal.acc_apply_privileges();
/* ==== end of section: campmark ==== */

/* ==== section: impfast (issue 16, session 22) ==== */
-- Ingest's fast path for records new to their source (sql/parts/50_ingest.sql, doc/ingest.md): two
-- new internal functions, upsert_records taking it, and the import handing its lenient
-- normalisation to it (sql/parts/88_import.sql, doc/import.md).  The setting cdp.ingest_fast_path
-- is registered by the library (src/imp_sql.c).  The fast path writes new persons' profiles with
-- the new C function golden_new_person_row (src/golden_single.c); golden_compute and golden_replay
-- expand the profile row by field instead of calling golden_row in FROM (sql/parts/71, 72).
CREATE FUNCTION cdp_internal.golden_new_person_row(golden_id bigint, rules jsonb, rules_version int, record_id bigint,
	family_name text, given_name text, patronymic text, birth_date date, sex text, phones @extschema@.phone[],
	emails @extschema@.email[], snils @extschema@.snils, oms @extschema@.oms, address text, city text, handles jsonb,
	extra jsonb, created_at timestamptz, updated_at timestamptz) RETURNS @extschema@.patient
	AS 'MODULE_PATHNAME', 'cdp_golden_new_person_row'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.golden_new_person_row(bigint, jsonb, int, bigint, text, text, text, date, text, @extschema@.phone[],
	@extschema@.email[], @extschema@.snils, @extschema@.oms, text, text, jsonb, jsonb, timestamptz, timestamptz) IS
	'the cdp.patient row of a person with one source record, from the record''s columns (ingest''s fast path)';
REVOKE ALL ON FUNCTION cdp_internal.golden_new_person_row(bigint, jsonb, int, bigint, text, text, text, date, text, @extschema@.phone[],
	@extschema@.email[], @extschema@.snils, @extschema@.oms, text, text, jsonb, jsonb, timestamptz, timestamptz) FROM PUBLIC;

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
REVOKE ALL ON FUNCTION cdp_internal.ingest_fast_path_ok() FROM PUBLIC;

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
REVOKE ALL ON FUNCTION cdp_internal.ingest_insert_new(integer, text, cdp_internal.ingest_row[], boolean) FROM PUBLIC;

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
	v_rows := cdp_internal.normalize_records(source_ids, attrs, v_old, lenient);

	/*
	 * A batch of source ids the source has none of (the first day of a clinic, a new file) takes
	 * the fast path when this session may (cdp_internal.ingest_fast_path_ok): the same rows written
	 * with plain INSERTs.  A source id another session wrote since the lookup above makes it raise
	 * unique_violation; the subtransaction undoes the attempt and the general path below runs.
	 */
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(v_oldid) AS o(id) WHERE o.id IS NOT NULL)
	   AND cdp_internal.ingest_fast_path_ok() THEN
		BEGIN
			v_ids := cdp_internal.ingest_insert_new(v_src.source_id, v_src.name, v_rows);
			RETURN QUERY
			SELECT u.sid, u.id, 'created'::text
			  FROM unnest(source_ids, v_ids) WITH ORDINALITY AS u(sid, id, ord)
			 ORDER BY u.ord;
			RETURN;
		EXCEPTION WHEN unique_violation THEN
			NULL;				/* a concurrent writer: the general path */
		END;
	END IF;

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
-- CREATE OR REPLACE resets SECURITY DEFINER: the access section made upsert_records run as the owner
ALTER FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) SECURITY DEFINER;

CREATE OR REPLACE FUNCTION cdp_internal._import_load_patients(batch bigint, source text, lenient boolean, try_whole boolean,
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
		/* ingest's own rules, every invalid key of every row named */
		v_norm := cdp_internal.normalize_records(keys, attrs, pg_catalog.array_fill(NULL::text, ARRAY[n]), true);
		WITH bad AS (
			INSERT INTO cdp_internal.import_reject (batch_id, row_no, line_no, source_key, column_name, value, reason, attrs)
			SELECT batch, rows[r.ord], lines[r.ord], keys[r.ord],
				   COALESCE(header[pg_catalog.array_position(hkeys, inv.key)], inv.key),
				   inv.val ->> 'value', inv.val ->> 'reason', attrs[r.ord]
			  FROM pg_catalog.unnest(v_norm) r
			 CROSS JOIN LATERAL pg_catalog.jsonb_each(r.extra -> '_invalid') AS inv(key, val)
			RETURNING row_no
		)
		SELECT pg_catalog.array_agg(DISTINCT pg_catalog.array_position(rows, bad.row_no)) INTO v_bad FROM bad;
		IF v_bad IS NOT NULL THEN
			rejected := pg_catalog.cardinality(v_bad);
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
			* ones out, and never wrong: a known or malformed id sends the chunk the general way);
			* unnest, not keys[i], which walks the array from its start for every i
			*/
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(keys) k
							WHERE k IS NULL OR pg_catalog.btrim(k) OPERATOR(pg_catalog.=) ''
							   OR pg_catalog.octet_length(k) OPERATOR(pg_catalog.>) 200)
		   /* each id looked up by itself in the unique index (OFFSET 0, as in upsert_records) */
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(keys) k
							CROSS JOIN LATERAL (SELECT 1 FROM @extschema@.record r
												 WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id
												   AND r.source_key OPERATOR(pg_catalog.=) k OFFSET 0) r) THEN
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
			SELECT created OPERATOR(pg_catalog.+) u.created, updated OPERATOR(pg_catalog.+) u.updated,
				   unchanged OPERATOR(pg_catalog.+) u.unchanged
			  INTO created, updated, unchanged
			  FROM cdp_internal._import_upsert(source, ARRAY[keys[i]], ARRAY[attrs[i]], lenient) u;
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
REVOKE ALL ON FUNCTION cdp_internal._import_load_patients(bigint, text, boolean, boolean, integer[], integer[], text[], jsonb[], text[], text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION cdp_internal.golden_compute(ids bigint[]) RETURNS SETOF @extschema@.patient
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
		       /* each record's document from its columns (golden_record_doc_of), not its row's JSON */
		       pg_catalog.jsonb_agg(cdp_internal.golden_record_doc_of(r.record_id, r.source_id, s.trust,
		           r.family_name, r.given_name, r.patronymic, r.birth_date, r.sex, r.phones, r.emails, r.snils,
		           r.oms, r.address, r.city, r.handles, r.extra, r.created_at, r.updated_at) ORDER BY r.record_id) AS docs
		  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
		  JOIN @extschema@.record r ON r.golden_id = g.i
		  LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	/*
	 * The row as a value expanded by field (OFFSET 0: one call per person), not a function in
	 * FROM, which puts each call's one row through a tuplestore of its own.
	 */
	SELECT (x.row).*
	  FROM (SELECT cdp_internal.golden_row(recs.golden_id, @extschema@.golden_fold(recs.docs, rl.rules, false),
	                   p.status, p.status_at,
	                   (SELECT pg_catalog.max(c.at) FROM @extschema@.clinical_event c
	                     WHERE c.golden_id = recs.golden_id AND c.kind = 'visit'
	                       AND c.visit_status IN ('came', 'in_appointment', 'done')),
	                   rl.version) AS row
	          FROM recs CROSS JOIN rl
	          LEFT JOIN @extschema@.patient p ON p.golden_id = recs.golden_id
	        OFFSET 0) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_compute(bigint[]) IS
	'profiles of the given golden ids folded from the live records (internal to refresh_patients)';

CREATE OR REPLACE FUNCTION cdp_internal.golden_replay(at timestamptz, upto bigint, members jsonb) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of(at, upto)),
	m AS (SELECT (x ->> 0)::bigint AS golden_id, (x ->> 1)::bigint AS record_id
	        FROM pg_catalog.jsonb_array_elements(members) x),
	/*
	 * The newest logged version of each member record, of each visit and of the status: one
	 * LATERAL lookup by subject (event_subject_idx, newest first) each, so the plan is
	 * index-driven whatever the statistics of cdp.event say (with those of a small log, a
	 * semi-join read the whole log at every patient_as_of).  The subject in the ORDER BY is
	 * constant there; it makes the (subject, event_id) index the only one giving that order, so
	 * a backward scan of the primary key "until a row of this subject turns up" is never chosen.
	 */
	ver AS (
		SELECT r.record_id, v.rec, v.source
		  FROM (SELECT DISTINCT m.record_id FROM m) r
		 CROSS JOIN LATERAL (
		       SELECT e.payload -> 'record' AS rec, e.payload ->> 'source' AS source
		         FROM @extschema@.event e
		        WHERE e.subject = r.record_id
		          AND e.kind IN ('record.created', 'record.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v),
	docs AS (
		SELECT m.golden_id,
		       pg_catalog.jsonb_agg(@extschema@.golden_record_doc(
		           ver.rec || pg_catalog.jsonb_build_object('record_id', m.record_id, 'source_id', s.source_id),
		           s.trust) ORDER BY m.record_id) AS docs
		  FROM m JOIN ver ON ver.record_id = m.record_id
		  LEFT JOIN @extschema@.source s ON s.name = ver.source
		 GROUP BY m.golden_id),
	visits AS (
		/* only the fields read below */
		SELECT v.record_id, v.kind, v.visit_status, v.at
		  FROM @extschema@.clinical_event c
		 CROSS JOIN LATERAL (
		       SELECT (e.payload -> 'clinical' ->> 'record_id')::bigint AS record_id,
		              e.payload -> 'clinical' ->> 'kind' AS kind,
		              e.payload -> 'clinical' ->> 'visit_status' AS visit_status,
		              e.payload -> 'clinical' ->> 'at' AS at
		         FROM @extschema@.event e
		        WHERE e.subject = c.event_id
		          AND e.kind IN ('clinical.created', 'clinical.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v
		 WHERE c.record_id IN (SELECT m.record_id FROM m)
		   /*
		    * only events that are or ever were visits: one never updated (version 1) has had
		    * its current kind all along, so most lab tests and diagnoses are skipped
		    */
		   AND (c.kind = 'visit' OR c.version > 1)),
	last_visit AS (
		SELECT m.golden_id, pg_catalog.max(v.at::timestamptz) AS at
		  FROM visits v JOIN m ON m.record_id = v.record_id
		 WHERE v.kind = 'visit' AND v.visit_status IN ('came', 'in_appointment', 'done')
		 GROUP BY m.golden_id),
	status AS (
		SELECT d.golden_id, x.status, x.at
		  FROM docs d
		 CROSS JOIN LATERAL (
		       SELECT CASE e.kind WHEN 'patient.archived' THEN 'archived' ELSE 'active' END AS status, e.at
		         FROM @extschema@.event e
		        WHERE e.subject = d.golden_id
		          AND e.kind IN ('patient.archived', 'patient.restored')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) x)
	/* the row as a value expanded by field (OFFSET 0: one call per person), as golden_compute */
	SELECT (x.row).*
	  FROM (SELECT cdp_internal.golden_row(d.golden_id, @extschema@.golden_fold(d.docs, rl.rules, false),
	                   st.status, st.at, lv.at, rl.version) AS row
	          FROM docs d CROSS JOIN rl
	          LEFT JOIN status st ON st.golden_id = d.golden_id
	          LEFT JOIN last_visit lv ON lv.golden_id = d.golden_id
	        OFFSET 0) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_replay(timestamptz, bigint, jsonb) IS
	'profiles replayed from the log as of a time and log position for the given (golden_id, record_id) memberships (internal)';
/* ==== end of section: impfast ==== */

/* ==== section: lookup (issue 18, session 22) ==== */
-- find_patient: a record whose birth date contradicts the probe's ranks after every record that
-- does not, whatever its probability (after the persons agreeing on a given attr).
CREATE OR REPLACE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	-- a generic plan: re-planning the ranking query at every call was a third of a lookup
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
	min_prob float8 := 0.01 * (a.settings ->> 'review_threshold')::float8;
	dates text[];
	names text[];
	pname text;
	pinit text[];
	fuzzy boolean := false;
	min_sim real;
BEGIN
	probe := cdp_internal._find_probe(attrs);
	pname := pg_catalog.concat_ws(' ', probe.family_name, probe.given_name, probe.patronymic);
	-- the probe's initials: given name, patronymic, and '1' when its given name is only an initial
	pinit := ARRAY[pg_catalog.left(@extschema@.name_key(probe.given_name), 1), pg_catalog.left(@extschema@.name_key(probe.patronymic), 1),
	               (pg_catalog.length(pg_catalog.regexp_replace(probe.given_name, '[^[:alpha:]]', '', 'g')) = 1)::int::text];
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- (the library is loaded by name_key above, so its setting exists)
	min_sim := pg_catalog.current_setting('cdp.name_similarity_threshold')::real;
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- Candidates: the probe's block mates, and with a birth date every record born that day or on the
	-- day with day and month exchanged, whatever its name (a maiden name, initials, a name written
	-- so that no name block meets it).  Every candidate is scored (no probability floor in the walk).
	dates := cdp_internal._find_date_ranges(a.settings, probe.birth_date);
	-- Unless a record born that day, or one sharing an identifier the probe gives (the keys of the
	-- one-attr rules: phone, SNILS, ...), has a name similar to the probe's (cdp.%), the truth may
	-- carry no date and a name written otherwise: then also the records whose name keys begin like
	-- the probe's (_find_name_ranges).
	-- (each record is read by its id: the generic plan's range estimates once chose a merge join
	-- over the whole record table)
	IF NOT EXISTS (SELECT 1 FROM (SELECT m.record_id FROM pg_catalog.unnest(dates) d(p)
	                                JOIN cdp_internal.match_block m ON m.bk >= d.p AND m.bk < d.p || pg_catalog.chr(1114111)
	                              UNION ALL
	                              SELECT m.record_id FROM cdp_internal.match_block m
	                               WHERE m.bk = ANY (ARRAY(SELECT f.bk[r.o] FROM pg_catalog.jsonb_array_elements(a.settings -> 'blocking') WITH ORDINALITY r(rule, o)
	                                                        WHERE pg_catalog.jsonb_array_length(r.rule) = 1))) c
	                CROSS JOIN LATERAL (SELECT r.family_name, r.given_name, r.patronymic FROM @extschema@.record r
	                                     WHERE r.record_id = c.record_id LIMIT 1) r
	                WHERE @extschema@.name_similar(pg_catalog.concat_ws(' ', r.family_name, r.given_name, r.patronymic), pname)) THEN
		names := cdp_internal._find_name_ranges(a.settings, f.bk);
		fuzzy := true;
	END IF;
	-- What the desk gave beside the name decides first: a person whose record agrees on the birth
	-- date (also with day and month exchanged or one digit off), a phone or the SNILS given, and
	-- whose name is compatible with the probe's (below), comes before namesakes that only score
	-- well; then the rows at or above the review floor, then, when the name ranges were read, the
	-- rows under it whose name is as similar as cdp.name_similarity_threshold asks (a typo the
	-- comparison levels call a disagreement), by name similarity.  After the agreeing persons, a
	-- record whose birth date contradicts the probe's comes after every record that does not,
	-- whatever its probability: a record of the person without a birth date (or with the date
	-- near the probe's) outranks a namesake born on another day (session 22); the probability
	-- orders the rest.  The summary is written for the rows returned only.
	RETURN QUERY
	SELECT t.g, t.probability, t.rid, cdp_internal._match_summary(a.settings, t.levels) FROM (
	SELECT z.g, z.probability, z.rid, z.levels, z.agree, z.ns, z.dc FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels, x.agree, x.ns, x.dc
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels,
	               -- the last tier: a name similar enough, a contradicting birth date last
	               CASE WHEN fuzzy AND e.n = 0 AND y.probability < min_prob
	                    THEN @extschema@.name_similarity(pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) END AS ns,
	               e.dl IS NOT DISTINCT FROM 'different' AS dc,
	               -- the cheap checks first; the names are compared only for the rows they keep
	               -- a compatible name: it meets the probe's in a word, or one side gives the given
	               -- name as an initial and the initials agree («Полякова Н. С.» for «Филиппова Нина
	               -- Сергеевна»: a maiden name and initials), the patronymic's too when both give one
	               CASE WHEN e.n > 0 AND (@extschema@.name_similarity(
	                             pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) > 0
	                         OR (pg_catalog.left(@extschema@.name_key(rc.given_name), 1) = pinit[1]
	                             AND (pinit[3] = '1' OR pg_catalog.length(pg_catalog.regexp_replace(rc.given_name, '[^[:alpha:]]', '', 'g')) = 1)
	                             AND (rc.patronymic IS NULL OR pinit[2] IS NULL
	                                  OR pg_catalog.left(@extschema@.name_key(rc.patronymic), 1) = pinit[2])))
	                    THEN e.n ELSE 0 END AS agree
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         -- each candidate's keys are read by its id (a nested loop: the range
	                         -- estimates once made the planner hash the whole match_key table)
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM ('
	                                           'SELECT DISTINCT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (%L::text[])%s) i '
	                                           'CROSS JOIN LATERAL (SELECT * FROM cdp_internal.match_key k WHERE k.record_id = i.record_id LIMIT 1) k',
	                                           f.flags, f.feat, f.bk, f.bk,
	                                           pg_catalog.concat((SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                       ' UNION SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L',
	                                                       d.p, d.p || pg_catalog.chr(1114111)), '')
	                                              FROM pg_catalog.unnest(dates) d(p)),
	                                                  (SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                       ' UNION SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L'
	                                                       ' AND @extschema@.osa_distance(pg_catalog.substr(m.bk, %s), %L, 2) <= 2',
	                                                       x.lo, x.lo || pg_catalog.chr(1114111), x.bar + 1, pg_catalog.substr(x.k, x.bar + 1)), '')
	                                                 FROM pg_catalog.unnest(names) n(k)
	                                                CROSS JOIN LATERAL (SELECT n.k, pg_catalog.strpos(n.k, '|') AS bar,
	                                                                           pg_catalog.left(n.k, pg_catalog.strpos(n.k, '|') + 2) AS lo) x))),
	                         a.program, a.version, 0::float8, 0, 0, ARRAY[-1]::bigint[]) w) y
	          -- block mates are read without golden ids; the pairs kept read theirs, one by one
	          -- (LIMIT 1 keeps the planner from hashing the whole record table for a few rows)
	         CROSS JOIN LATERAL (SELECT r.golden_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
	                                    r.phones, r.snils
	                               FROM @extschema@.record r WHERE r.record_id = y.rid LIMIT 1) rc
	         CROSS JOIN LATERAL (SELECT CASE WHEN probe.birth_date IS NULL OR rc.birth_date IS NULL THEN NULL
	                                         WHEN rc.birth_date = probe.birth_date THEN 'exact'
	                                         WHEN @extschema@.date_level(rc.birth_date, probe.birth_date) IN ('day_month_swapped', 'one_digit') THEN 'near'
	                                         ELSE 'different' END AS dl) d
	         CROSS JOIN LATERAL (SELECT d.dl, (d.dl IS NOT NULL AND d.dl <> 'different')::int
	                                  + (probe.phones IS NOT NULL AND rc.phones OPERATOR(pg_catalog.&&) probe.phones)::int
	                                  + (probe.snils IS NOT NULL AND rc.snils OPERATOR(@extschema@.=) probe.snils)::int AS n) e) x
	 WHERE x.agree > 0 OR x.probability >= min_prob OR x.ns >= min_sim
	 ORDER BY x.g, x.agree DESC, x.probability DESC) z
	 ORDER BY z.agree DESC, z.dc, z.probability >= min_prob DESC, z.ns DESC NULLS FIRST, z.probability DESC, z.g
	 LIMIT max_results) t
	 ORDER BY t.agree DESC, t.dc, t.probability >= min_prob DESC, t.ns DESC NULLS FIRST, t.probability DESC, t.g;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; with a birth date also every record born that day (or day and month exchanged); persons agreeing on a birth date (or one digit off), phone or SNILS given come first; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';
-- % also needs the anchor's cover (the C library); the comments say so
COMMENT ON FUNCTION @extschema@.name_similar(text, text) IS
	'true when name_similarity(a, b) > 0 and >= cdp.name_similarity_threshold and, if two or more words pair, one word is equal and another begins alike (the anchor) and the anchor with the words beginning alike reaches the threshold by itself (the cover); the function of the % operator';
COMMENT ON OPERATOR CLASS @extschema@.name_gin_ops USING gin IS
	'GIN index of names by the word keys and anchored pair keys of their cross-script name key; supports cdp.%';
/* ==== end of section: lookup ==== */

/* ==== section: segpreview (issue 13, session 22) ==== */

CREATE INDEX clinical_event_seg_patient_idx ON @extschema@.clinical_event
	(golden_id, kind, (COALESCE(lab_code, icd10, specialty) COLLATE "C"), at)
	INCLUDE (lab_code, icd10, specialty, visit_status);

CREATE FUNCTION cdp_internal.offer_code_sql(ranges jsonb) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT '(' || coalesce(pg_catalog.string_agg(pg_catalog.format(
	           '((COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C") >= %L AND (COALESCE(e.lab_code, e.icd10, e.specialty) COLLATE "C") <= %L)',
	           x ->> 'lo', (x ->> 'hi') || '~'), ' OR '), 'false') || ')'
	  FROM pg_catalog.jsonb_array_elements(ranges) x
$$;
COMMENT ON FUNCTION cdp_internal.offer_code_sql(jsonb) IS
	'the index condition over clinical_event e of a list of ICD-10 ranges, bounds quoted (internal)';

REVOKE ALL ON FUNCTION cdp_internal.offer_code_sql(jsonb) FROM PUBLIC;

CREATE FUNCTION cdp_internal.offer_reasons(ids bigint[], o @extschema@.offer, on_day date)
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d		jsonb := o.doc;
	rest	bigint[];
	bid		bigint[];
	bwhy	text[];
	n_all	bigint;
	probe	boolean;
	preg	constant jsonb := '[{"lo": "Z33", "hi": "Z33"}, {"lo": "O00", "hi": "O99"}]';
BEGIN
	ids := cdp_internal.seg_set(ids);
	IF pg_catalog.cardinality(ids) = 0 THEN
		RETURN;
	END IF;
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	/* the profile's own reasons, in offer_reason's order */
	SELECT coalesce(pg_catalog.array_agg(x.id) FILTER (WHERE x.why IS NULL), '{}'),
	       pg_catalog.array_agg(x.id) FILTER (WHERE x.why IS NOT NULL),
	       pg_catalog.array_agg(x.why) FILTER (WHERE x.why IS NOT NULL)
	  INTO rest, bid, bwhy
	  FROM (SELECT c.id, CASE
	            WHEN p.golden_id IS NULL THEN 'unknown_patient'
	            WHEN p.status <> 'active' THEN 'archived_patient'
	            WHEN o.status <> 'active' THEN 'offer_archived'
	            WHEN on_day < (d ->> 'valid_from')::date THEN 'not_yet_valid'
	            WHEN on_day > (d ->> 'valid_to')::date THEN 'expired'
	            WHEN d ? 'sex' AND p.sex IS DISTINCT FROM (d ->> 'sex') THEN 'sex'
	            WHEN d ? 'age' AND coalesce(EXTRACT(year FROM pg_catalog.age(on_day, p.birth_date))::int
	                                            NOT BETWEEN (d -> 'age' ->> 0)::int AND (d -> 'age' ->> 1)::int, true) THEN 'age'
	            END AS why
	          FROM pg_catalog.unnest(ids) c(id)
	          LEFT JOIN @extschema@.patient p ON p.golden_id = c.id) x;
	RETURN QUERY SELECT x.id, x.why FROM ROWS FROM (pg_catalog.unnest(bid), pg_catalog.unnest(bwhy)) x(id, why);
	rest := cdp_internal.seg_set(rest);
	probe := pg_catalog.cardinality(rest) * 20 <= n_all;
	/* the first excluded diagnosis, ever (by time, then event id) */
	IF d ? 'exclude_ranges' AND pg_catalog.cardinality(rest) > 0 THEN
		/* who has one: probes or the ranges read, over the segment indexes (index-only) */
		IF probe THEN
			bid := cdp_internal.seg_probe(pg_catalog.format(
				'SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.clinical_event e'
				' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s LIMIT 1)', cdp_internal.offer_code_sql(d -> 'exclude_ranges')), rest);
		ELSE
			EXECUTE pg_catalog.format('SELECT cdp_internal.seg_set(ARRAY(SELECT e.golden_id FROM @extschema@.clinical_event e'
				' WHERE e.kind = ''diagnosis'' AND %s))', cdp_internal.offer_code_sql(d -> 'exclude_ranges')) INTO bid;
			bid := cdp_internal.seg_and(rest, bid);
		END IF;
		/* and which code comes first, for those few, with offer_reason's own condition */
		RETURN QUERY SELECT c.id, 'contraindication:' || f.icd10
		  FROM pg_catalog.unnest(bid) c(id)
		 CROSS JOIN LATERAL (SELECT e.icd10 FROM @extschema@.clinical_event e
		                      WHERE e.golden_id = c.id AND e.kind = 'diagnosis'
		                        AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x
		                                     WHERE cdp_internal.icd10_in(e.icd10, x ->> 'lo', x ->> 'hi'))
		                      ORDER BY e.at, e.event_id LIMIT 1) f;
		rest := cdp_internal.seg_minus(rest, bid);
	END IF;
	/* pregnancy: Z33 or O00-O99 within 10 months before the day, or a record flagged pregnant */
	IF (d ->> 'exclude_pregnant')::boolean AND pg_catalog.cardinality(rest) > 0 THEN
		IF probe THEN
			bid := cdp_internal.seg_probe(pg_catalog.format(
				'SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.clinical_event e'
				' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s AND e.at >= %L::date - interval ''10 months'' AND e.at < %L::date + 1 LIMIT 1)',
				cdp_internal.offer_code_sql(preg), on_day, on_day), rest);
		ELSE
			EXECUTE pg_catalog.format('SELECT cdp_internal.seg_set(ARRAY(SELECT e.golden_id FROM @extschema@.clinical_event e'
				' WHERE e.kind = ''diagnosis'' AND %s AND e.at >= %L::date - interval ''10 months'' AND e.at < %L::date + 1))',
				cdp_internal.offer_code_sql(preg), on_day, on_day) INTO bid;
			bid := cdp_internal.seg_and(rest, bid);
		END IF;
		bid := cdp_internal.seg_or(bid, cdp_internal.seg_set(ARRAY(
			SELECT c.id FROM pg_catalog.unnest(cdp_internal.seg_minus(rest, bid)) c(id)
			 WHERE EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = c.id AND r.extra ->> 'pregnant' = 'true'))));
		RETURN QUERY SELECT x, 'pregnancy'::text FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, bid);
	END IF;
	/* the required prior service (a visit the person came to) or lab test */
	IF d ? 'requires_service' AND pg_catalog.cardinality(rest) > 0 THEN
		bid := ARRAY(SELECT c.id FROM pg_catalog.unnest(rest) c(id)
		              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.clinical_event e
		                                 WHERE e.golden_id = c.id AND e.kind = 'visit' AND e.specialty = d ->> 'requires_service'
		                                   AND e.visit_status IN ('came', 'in_appointment', 'done')));
		RETURN QUERY SELECT x, 'requires:' || (d ->> 'requires_service') FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, cdp_internal.seg_set(bid));
	END IF;
	IF d ? 'requires_lab' AND pg_catalog.cardinality(rest) > 0 THEN
		bid := ARRAY(SELECT c.id FROM pg_catalog.unnest(rest) c(id)
		              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.clinical_event e
		                                 WHERE e.golden_id = c.id AND e.kind = 'lab_test' AND e.lab_code = d ->> 'requires_lab'));
		RETURN QUERY SELECT x, 'requires:' || (d ->> 'requires_lab') FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, cdp_internal.seg_set(bid));
	END IF;
	RETURN QUERY SELECT x, NULL::text FROM pg_catalog.unnest(rest) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_reasons(bigint[], @extschema@.offer, date) IS
	'offer_reason for a set of golden ids in set-based passes: each id with its first reason or NULL (internal)';

REVOKE ALL ON FUNCTION cdp_internal.offer_reasons(bigint[], @extschema@.offer, date) FROM PUBLIC;

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

REVOKE ALL ON FUNCTION cdp_internal.seg_probe(text, bigint[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION cdp_internal.seg_eval(plan jsonb, cand bigint[], n_all bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r		bigint[];
	kid		jsonb;
	n		bigint := pg_catalog.cardinality(cand);
	probe	boolean;
BEGIN
	IF n = 0 THEN
		RETURN '{}';
	END IF;
	IF plan ->> 't' = 'leaf' THEN
		IF cand IS NULL THEN
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			RETURN r;
		END IF;
		/* probe id by id while that is cheaper than the clause's whole set (true sizes, no estimates) */
		probe := CASE (plan ->> 'class')::int WHEN 0 THEN n * 20 <= n_all WHEN 1 THEN n * 10 <= n_all ELSE n * 2 <= n_all END;
		IF probe THEN
			r := cdp_internal.seg_probe(plan ->> 'filter', cand);
		ELSE
			EXECUTE 'SELECT cdp_internal.seg_set(ARRAY(' || (plan ->> 'gen') || '))' INTO r;
			r := cdp_internal.seg_and(cand, r);
		END IF;
		RETURN r;
	ELSIF plan ->> 't' = 'all' THEN
		r := cand;
		FOR kid IN SELECT x.k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') WITH ORDINALITY x(k, i)
		            ORDER BY (x.k ->> 'class')::int, cdp_internal.seg_probe_size(x.k, cand), x.i LOOP
			r := cdp_internal.seg_eval(kid, r, n_all);
			EXIT WHEN pg_catalog.cardinality(r) = 0;
		END LOOP;
		RETURN r;
	ELSIF plan ->> 't' = 'any' THEN
		/* within candidates, each clause sees only those no earlier clause took */
		r := '{}';
		FOR kid IN SELECT k FROM pg_catalog.jsonb_array_elements(plan -> 'kids') k LOOP
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
		RETURN cdp_internal.seg_minus(r, cdp_internal.seg_eval(plan -> 'kid', r, n_all));
	END IF;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_eval(jsonb, bigint[], bigint) IS
	'the golden ids meeting a compiled rule node, within a candidate set (NULL = all) (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.seg_evaluate(plan jsonb, purpose text, channel text, offer bigint, d date,
	include bigint[], exclude bigint[], cand bigint[] DEFAULT NULL)
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n_all	bigint;
	r		bigint[];
	act		bigint[];
	kept	bigint[];
	ok		bigint[];
	o		@extschema@.offer;
BEGIN
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	r := cdp_internal.seg_eval(plan, cand, n_all);
	r := cdp_internal.seg_or(r, CASE WHEN cand IS NULL THEN include ELSE cdp_internal.seg_and(include, cand) END);
	act := cdp_internal.seg_set(ARRAY(SELECT p.golden_id FROM pg_catalog.unnest(r) c(id)
	                                  JOIN @extschema@.patient p ON p.golden_id = c.id WHERE p.status = 'active'));
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
	/* set-based: offer_reason of every survivor in a few passes, not one call each */
	RETURN QUERY SELECT x.golden_id, x.reason FROM cdp_internal.offer_reasons(ok, o, d) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_evaluate(jsonb, text, text, bigint, date, bigint[], bigint[], bigint[]) IS
	'evaluates a compiled rule with the include list and the guards (archived, excluded, no_consent, offer reasons) (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.seg_compile(node jsonb, d date, path text DEFAULT '$', depth int DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op		text;
	kids	jsonb := '[]';
	kid		jsonb;
	i		int := 0;
	ev		jsonb;
	pred	text;
	sid		bigint;
	sens	text;
	form	constant text := 'A clause is {"all": [...]}, {"any": [...]}, {"not": {...}}, {"attr": ...}, {"event": ...}, {"campaign": ...} or {"segment": <id>}.';
BEGIN
	IF depth > 20 THEN
		PERFORM cdp_internal.seg_fail('a segment rule is nested deeper than 20 levels', path, 'Flatten the rule.');
	END IF;
	IF node IS NULL OR pg_catalog.jsonb_typeof(node) <> 'object' THEN
		PERFORM cdp_internal.seg_fail('a segment clause must be a JSON object', path, form);
	END IF;
	IF node ?| ARRAY['all', 'any', 'not'] THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 THEN
			PERFORM cdp_internal.seg_fail('"all", "any" and "not" stand alone in their object', path, form);
		END IF;
		op := (SELECT k FROM pg_catalog.jsonb_object_keys(node) k);
		IF op = 'not' THEN
			kid := cdp_internal.seg_compile(node -> 'not', d, path || '.not', depth + 1);
			RETURN pg_catalog.jsonb_build_object('t', 'not', 'kid', kid, 'class', 4, 'path', path, 'sensitive', kid -> 'sensitive');
		END IF;
		IF pg_catalog.jsonb_typeof(node -> op) <> 'array' OR pg_catalog.jsonb_array_length(node -> op) = 0 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" needs a non-empty array of clauses', op), path || '.' || op, form);
		END IF;
		IF pg_catalog.jsonb_array_length(node -> op) > 200 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('"%s" has more than 200 clauses', op), path || '.' || op, 'Split the rule into segments and reference them.');
		END IF;
		FOR kid IN SELECT * FROM pg_catalog.jsonb_array_elements(node -> op) LOOP
			kid := cdp_internal.seg_compile(kid, d, pg_catalog.format('%s.%s[%s]', path, op, i), depth + 1);
			sens := coalesce(sens, kid ->> 'sensitive');
			kids := kids || pg_catalog.jsonb_build_array(kid);
			i := i + 1;
		END LOOP;
		/*
		 * the profile predicates of an "all" are one clause: one pass over cdp.patient (or one
		 * probe per candidate) instead of one per attribute
		 */
		IF op = 'all' AND (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(kids) k WHERE k ? 'pred') > 1 THEN
			kids := coalesce((SELECT pg_catalog.jsonb_agg(k) FROM pg_catalog.jsonb_array_elements(kids) k WHERE NOT k ? 'pred'), '[]')
			     || pg_catalog.jsonb_build_array(cdp_internal.seg_profile_leaf(
			            (SELECT pg_catalog.string_agg('(' || (k ->> 'pred') || ')', ' AND ') FROM pg_catalog.jsonb_array_elements(kids) k WHERE k ? 'pred'),
			            path || '.' || op));
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', op, 'kids', kids, 'class', 3, 'path', path, 'sensitive', sens);
	ELSIF node ? 'attr' THEN
		RETURN cdp_internal.seg_profile_leaf(cdp_internal.seg_compile_attr(node, d, path), path);
	ELSIF node ? 'event' THEN
		ev := cdp_internal.seg_compile_event(node, d, path);
		IF ev ->> 'last_visit' IS NOT NULL THEN
			RETURN cdp_internal.seg_profile_leaf(ev ->> 'last_visit', path);
		END IF;
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.jsonb_array_elements_text(ev -> 'conds') x);
		/*
		 * filter: one probe per candidate, written as a scalar subquery (never turned into a join
		 * that reads the clause's whole set: the evaluator chose probes by the true sizes), an
		 * index-only descent of clinical_event_seg_patient_idx
		 */
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN (ev ->> 'indexed')::boolean THEN 0 ELSE 2 END,
			'path', path, 'sensitive', ev -> 'sensitive',
			'gen', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s', pred)
			            ELSE pg_catalog.format('SELECT e.golden_id FROM @extschema@.clinical_event e WHERE %s GROUP BY e.golden_id HAVING pg_catalog.count(*) %s', pred, ev ->> 'count') END,
			'filter', CASE WHEN ev ->> 'count' IS NULL
			            THEN pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s LIMIT 1)', pred)
			            ELSE pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT pg_catalog.count(*) FROM @extschema@.clinical_event e WHERE e.golden_id = c.id AND %s) %s', pred, ev ->> 'count') END);
	ELSIF node ? 'campaign' THEN
		/*
		 * Send rows keep the golden id they were listed under: gen resolves an id merged away
		 * since to its survivor; filter looks under the candidate's id, and under the ids merged
		 * into it only when it absorbed some.
		 */
		pred := (SELECT pg_catalog.string_agg(x, ' AND ') FROM pg_catalog.unnest(cdp_internal.seg_compile_campaign(node, d, path)) x);
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', CASE WHEN node -> 'campaign' = '"any"' THEN 2 ELSE 0 END, 'path', path,
			'gen', pg_catalog.format('SELECT coalesce(p.golden_id, @extschema@.resolve_patient(s.golden_id)) FROM @extschema@.campaign_send s'
			                         ' LEFT JOIN @extschema@.patient p ON p.golden_id = s.golden_id WHERE %s', pred),
			'filter', pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id)'
			          ' WHERE EXISTS (SELECT 1 FROM @extschema@.campaign_send s WHERE s.golden_id = c.id AND %s)'
			          ' OR (EXISTS (SELECT 1 FROM @extschema@.patient_redirect r WHERE r.new_id = c.id)'
			          ' AND EXISTS (SELECT 1 FROM @extschema@.campaign_send s WHERE s.golden_id = ANY (cdp_internal.golden_absorbed(c.id)) AND %s))', pred, pred));
	ELSIF node ? 'segment' THEN
		IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(node)) <> 1 OR pg_catalog.jsonb_typeof(node -> 'segment') <> 'number'
		   OR (node ->> 'segment')::numeric <> pg_catalog.trunc((node ->> 'segment')::numeric) OR (node ->> 'segment')::numeric NOT BETWEEN 1 AND 9e18 THEN
			PERFORM cdp_internal.seg_fail('a segment clause is {"segment": <segment id>}', path, 'Use {"segment": 12}.');
		END IF;
		sid := (node ->> 'segment')::numeric::bigint;
		SELECT CASE WHEN s.sensitive THEN pg_catalog.format('%s (segment %s targets a sensitive category)', path, sid) ELSE '' END INTO sens
		  FROM @extschema@.segment s WHERE s.segment_id = sid;
		IF sens IS NULL THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('segment %s does not exist', sid), path || '.segment', 'Use the id returned by cdp.create_segment.');
		END IF;
		RETURN pg_catalog.jsonb_build_object('t', 'leaf', 'class', 0, 'path', path, 'segment', sid, 'sensitive', NULLIF(sens, ''),
			'gen', pg_catalog.format('SELECT m.golden_id FROM @extschema@.segment_member m WHERE m.segment_id = %L::bigint', sid),
			'filter', pg_catalog.format('SELECT m.golden_id FROM pg_catalog.unnest($1) c(id) JOIN @extschema@.segment_member m ON m.segment_id = %L::bigint AND m.golden_id = c.id', sid));
	END IF;
	PERFORM cdp_internal.seg_fail('a segment clause needs one of all, any, not, attr, event, campaign, segment', path, form);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile(jsonb, date, text, int) IS
	'validates a segment rule and compiles it into a plan of gen/filter SQL per clause for a day; 22023 with the JSON path (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.seg_profile_leaf(pred text, path text) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_build_object('t', 'leaf', 'class', 1, 'path', path, 'pred', pred,
		'gen', pg_catalog.format('SELECT p.golden_id FROM @extschema@.patient p WHERE %s', pred),
		'filter', pg_catalog.format('SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.patient p WHERE p.golden_id = c.id AND %s)', pred))
$$;
COMMENT ON FUNCTION cdp_internal.seg_profile_leaf(text, text) IS
	'the plan leaf of a profile predicate: gen, filter and the predicate itself (internal)';

/* ==== end of section: segpreview ==== */

/* ==== section: camplist (issue 14, session 22) ==== */
/*
 * The send list's contact candidates in C (src/campaign_contact.c) and the listing that calls them
 * once per member; the duplicate-address pass over the addresses listed twice only.
 */
CREATE FUNCTION cdp_internal.campaign_contacts(chans text[], okch text[], pref text, emails jsonb, phones jsonb,
                                               handles jsonb, address text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_campaign_contacts' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_contacts(text[], text[], text, jsonb, jsonb, jsonb, text) IS
	'a member''s reachable contact candidates for a campaign in decision order, as {channel, key, ...}; NULL when the member has no address on a consented channel (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.campaign_list_set(c @extschema@.campaign, sg @extschema@.segment, t timestamptz) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* the listing's cost estimates (fresh rows, no statistics) would start a JIT compile of seconds */
	SET enable_mergejoin = off	/* the estimates of the steps are rough: sorting 200k wide rows for a merge costs more than hashing */
	AS $$
DECLARE
	d			jsonb := c.doc;
	purp		text := d ->> 'purpose';
	chans		text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(x, n) ORDER BY n);
	hold		float8 := (d ->> 'holdout')::float8;
	arm_names	text[];
	arm_upto	float8[];
	arm_lo		float8[];
	ids			bigint[];
	o			@extschema@.offer;
	offer_why	text;
	per_member	boolean := false;
	t0			timestamptz := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	day			date := (t0 AT TIME ZONE (d ->> 'timezone'))::date;
	vals_offer	jsonb := '{}';
	ctx			jsonb := pg_catalog.jsonb_build_object('segment', sg.segment_id, 'segment_version', sg.version);
	base		jsonb;
BEGIN
	SELECT pg_catalog.array_agg(a.key ORDER BY a.key), pg_catalog.array_agg(a.upto ORDER BY a.key)
	  INTO arm_names, arm_upto
	  FROM (SELECT x.key, pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	          FROM pg_catalog.jsonb_each(d -> 'arms') x) a;
	/* lower bounds of the arms: arm i holds [arm_lo[i], arm_lo[i + 1]) of the hash, as in campaign_arm */
	arm_lo := ARRAY[0::float8] || arm_upto[1:pg_catalog.cardinality(arm_upto) - 1];
	/* the members to decide: not listed yet, or skipped before (decided again) */
	SELECT coalesce(pg_catalog.array_agg(sm.golden_id), '{}') INTO ids
	  FROM @extschema@.segment_member sm
	 WHERE sm.segment_id = sg.segment_id
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x
	                    WHERE x.campaign_id = c.campaign_id AND x.golden_id = sm.golden_id AND x.trigger_key = ''
	                      AND x.status <> 'skipped');
	DELETE FROM @extschema@.campaign_send x USING pg_catalog.unnest(ids) u(g)
	 WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status = 'skipped';
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		/* the segment already applied its offer's rules to its members; the validity is the day's */
		IF sg.offer_id IS DISTINCT FROM o.offer_id THEN
			per_member := true;
		ELSIF o.status <> 'active' THEN
			offer_why := 'offer_archived';
		ELSIF day < (o.doc ->> 'valid_from')::date THEN
			offer_why := 'offer_not_yet_valid';
		ELSIF day > (o.doc ->> 'valid_to')::date THEN
			offer_why := 'offer_expired';
		END IF;
		vals_offer := pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	/* the provenance every row of this listing shares */
	base := pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}')
	        || CASE WHEN o.offer_id IS NOT NULL THEN pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version) ELSE '{}' END;
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	WITH m AS MATERIALIZED (
		/* the members with the columns the decision reads (no whole-row values), holdout and arm by hash,
		   and the contact candidates of those who may get a message */
		SELECT u.g, p.golden_id AS pid, p.status AS pstatus, p.city, p.given_name, p.patronymic, p.family_name,
		       sm.channels AS okch, pr.channel AS pref,
		       CASE WHEN hh.h < hold THEN 'holdout'
		            ELSE arm_names[LEAST(pg_catalog.width_bucket((hh.h - hold) / (1 - hold), arm_lo), pg_catalog.cardinality(arm_names))]
		       END AS arm,
		       CASE WHEN hh.h >= hold AND sm.channels && chans
		            THEN cdp_internal.campaign_contacts(chans, sm.channels, pr.channel, p.emails, p.phones, p.handles, p.address) END AS cand
		  FROM pg_catalog.unnest(ids) u(g)
		  JOIN @extschema@.segment_member sm ON sm.segment_id = sg.segment_id AND sm.golden_id = u.g
		  /* a look-up by key per member (OFFSET 0 keeps it one): hashing a million wide profile rows costs more */
		  LEFT JOIN LATERAL (SELECT x.golden_id, x.status, x.city, x.given_name, x.patronymic, x.family_name, x.emails,
		                            x.phones, x.handles, x.address
		                       FROM @extschema@.patient x WHERE x.golden_id = u.g OFFSET 0) p ON true
		  LEFT JOIN cdp_internal.campaign_preference pr ON pr.golden_id = u.g
		 CROSS JOIN LATERAL (SELECT (pg_catalog.hashtextextended(c.campaign_id::text || ':' || u.g::text, 0)::float8
		                             + 9223372036854775808.0) / 18446744073709551616.0 AS h) hh),
	/* the keys no message may go to: blocked (hard bounce, complaint) or suppressed for the purpose */
	bad AS (
		SELECT b.address_key AS k FROM cdp_internal.campaign_address_block b
		UNION
		SELECT su.address_key FROM @extschema@.consent_suppression su WHERE su.purpose = purp AND su.suppressed),
	/* the members whose first candidate is bad: their first clean candidate further down */
	alt AS (
		SELECT DISTINCT ON (m.g) m.g, m.cand[2 * i - 1] AS ch, m.cand[2 * i] AS k
		  FROM m JOIN bad b1 ON b1.k = m.cand[2]
		 CROSS JOIN LATERAL pg_catalog.generate_series(2, pg_catalog.cardinality(m.cand) / 2) i
		 WHERE NOT EXISTS (SELECT 1 FROM bad b WHERE b.k = m.cand[2 * i])
		 ORDER BY m.g, i),
	other AS (
		SELECT x.golden_id AS g,
		       pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing'
		           AND (x.status = 'sent' AND x.sent_at > t0 - (d -> 'cap' ->> 'per')::interval
		                OR x.status = 'due' AND x.due_at > t0 - (d -> 'cap' ->> 'per')::interval
		                   AND x.due_at < t0 + (d -> 'cap' ->> 'per')::interval)) AS n_cap,
		       pg_catalog.max(x.sent_at) FILTER (WHERE x.status = 'sent') AS last_sent
		  FROM pg_catalog.unnest(ids) u(g)
		  JOIN @extschema@.campaign_send x ON x.golden_id = u.g
		 WHERE d ? 'cap' AND x.campaign_id <> c.campaign_id AND x.status IN ('sent', 'due')
		 GROUP BY x.golden_id),
	/* the channel and address: the first candidate when it is clean, else the first clean one */
	chosen AS (
		SELECT m.*, ot.n_cap, ot.last_sent,
		       CASE WHEN b1.k IS NULL THEN m.cand[1] ELSE al.ch END AS ch,
		       CASE WHEN b1.k IS NULL THEN m.cand[2] ELSE al.k END AS addr
		  FROM m
		  LEFT JOIN other ot ON ot.g = m.g
		  LEFT JOIN bad b1 ON b1.k = m.cand[2]
		  LEFT JOIN alt al ON al.g = m.g),
	decided AS MATERIALIZED (
		SELECT m.g, m.city, m.given_name, m.patronymic, m.family_name, m.pref, m.arm, m.ch, m.addr,
		       CASE WHEN d -> 'cap' ? 'quiet' THEN GREATEST(t0, m.last_sent + (d -> 'cap' ->> 'quiet')::interval) ELSE t0 END AS not_before,
		       CASE WHEN m.pid IS NULL THEN 'erased'
		            WHEN m.pstatus = 'archived' THEN 'archived'
		            WHEN m.arm = 'holdout' THEN 'holdout'
		            WHEN d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN 'campaign_ended'
		            WHEN offer_why IS NOT NULL THEN offer_why
		            WHEN ofr.w IS NOT NULL THEN
		                 CASE WHEN ofr.w IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || ofr.w ELSE ofr.w END
		            WHEN m.ch IS NULL THEN
		                 CASE WHEN NOT m.okch && chans THEN 'no_consent' WHEN m.cand IS NULL THEN 'no_address' ELSE 'suppressed' END
		            WHEN purp = 'marketing' AND d -> 'cap' ? 'max' AND coalesce(m.n_cap, 0) >= (d -> 'cap' ->> 'max')::int THEN 'capped'
		       END AS why
		  FROM chosen m
		  /* the offer's rules for this member (only when the segment did not apply them) */
		  LEFT JOIN LATERAL (SELECT cdp_internal.offer_reason(p, o, day) AS w
		                       FROM @extschema@.patient p WHERE per_member AND p.golden_id = m.g) ofr ON true),
	/* the time zone once per city, the next moment inside the window once per zone and start */
	slots AS (
		SELECT z.city, z.nb, z.tz, cdp_internal.campaign_next_slot(z.nb, z.tz, d -> 'window') AS due
		  FROM (SELECT y.city, y.nb, cdp_internal.campaign_tz(y.city, d ->> 'timezone') AS tz
		          FROM (SELECT DISTINCT x.city, x.not_before AS nb FROM decided x WHERE x.why IS NULL) y) z),
	fin AS MATERIALIZED (
		SELECT x.*, sl.tz, sl.due, x.why IS NULL AND (d ->> 'end' IS NULL OR sl.due <= (d ->> 'end')::timestamptz) AS ok
		  FROM decided x
		  LEFT JOIN slots sl ON coalesce(sl.city, '') = coalesce(x.city, '') AND (sl.city IS NULL) = (x.city IS NULL)
		       AND sl.nb = x.not_before AND x.why IS NULL),
	/* the statement behind each message: the latest of the person's records for the purpose and channel */
	stmt AS (
		SELECT DISTINCT ON (f.g) f.g, cs.event_id
		  FROM fin f
		  JOIN @extschema@.record r ON r.golden_id = f.g
		  JOIN @extschema@.consent_statement cs ON cs.record_id = r.record_id AND cs.purpose = purp AND cs.channel = f.ch
		 WHERE f.ok
		 ORDER BY f.g, cs.at DESC, cs.event_id DESC)
	SELECT c.campaign_id, x.g, '', purp,
	       CASE WHEN x.why = 'holdout' THEN 'holdout' WHEN x.ok THEN 'due' ELSE 'skipped' END,
	       CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END,
	       CASE WHEN x.ok THEN x.ch END,
	       CASE WHEN x.ok THEN x.addr END,
	       CASE WHEN x.why IN ('archived', 'erased') THEN NULL ELSE x.arm END,
	       CASE WHEN x.why = 'holdout' THEN t0 WHEN x.ok THEN x.due END,
	       t,
	       CASE WHEN x.ok THEN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(d -> 'templates' ->> x.ch,
			         '{given_name}', pg_catalog.replace(coalesce(x.given_name, ''), '{', U&'\FFF0')),
			         '{patronymic}', pg_catalog.replace(coalesce(x.patronymic, ''), '{', U&'\FFF0')),
			         '{family_name}', pg_catalog.replace(coalesce(x.family_name, ''), '{', U&'\FFF0')),
			         '{offer_name}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_name', ''), '{', U&'\FFF0')),
			         '{offer_until}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_until', ''), '{', U&'\FFF0')), U&'\FFF0', '{') END,
	       CASE WHEN x.ok THEN base || pg_catalog.jsonb_build_object('channel_rule',
	                 CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans, 'benefit', false,
	                 'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t, 'event_id', st.event_id))
	            ELSE base END
	  FROM fin x LEFT JOIN stmt st ON st.g = x.g
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list_set(@extschema@.campaign, @extschema@.segment, timestamptz) IS
	'writes the send-list rows of a segment''s members in one pass: the set form of campaign_decide (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.campaign_after_list(c @extschema@.campaign) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res		jsonb;
BEGIN
	/* one message per address per campaign: duplicate records of one person not merged yet; the
	   window runs over the rows of the addresses listed more than once only (due and sent rows
	   always carry an address) */
	WITH twice AS (
		SELECT s2.trigger_key, s2.address
		  FROM @extschema@.campaign_send s2
		 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')
		 GROUP BY s2.trigger_key, s2.address
		HAVING pg_catalog.count(*) > 1),
	dup AS MATERIALIZED (
		SELECT x.send_id FROM (
			SELECT s2.send_id, s2.status, pg_catalog.row_number() OVER (PARTITION BY s2.trigger_key, s2.address
			                                                             ORDER BY s2.status <> 'sent', s2.send_id) AS rn
			  FROM @extschema@.campaign_send s2
			  JOIN twice w ON w.trigger_key = s2.trigger_key AND w.address = s2.address
			 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')) x
		 WHERE x.rn > 1 AND x.status = 'due')
	UPDATE @extschema@.campaign_send s SET status = 'skipped', reason = 'duplicate_address', channel = NULL,
	       address = NULL, message = NULL, due_at = NULL
	  FROM dup
	 WHERE s.send_id = dup.send_id;
	res := cdp_internal.campaign_counts(c.campaign_id, pg_catalog.now());
	IF (res ->> 'due')::bigint > 0 THEN
		PERFORM pg_catalog.pg_notify('cdp_send_list', c.campaign_id::text);
	END IF;
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_after_list(@extschema@.campaign) IS
	'after a listing: one message per address per campaign, NOTIFY cdp_send_list, counts by status and reason (internal)';

/* set_campaign_status: the cancel reason named the parameter ambiguously (pause, finish, archive failed) */
CREATE OR REPLACE FUNCTION @extschema@.set_campaign_status(campaign_id bigint, status text) RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c	@extschema@.campaign := cdp_internal.campaign_get(set_campaign_status.campaign_id, true);
BEGIN
	IF status IS NULL OR NOT status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'archived') THEN
		RAISE EXCEPTION 'unknown campaign status "%"', pg_catalog.left(coalesce(status, 'null'), 64) USING ERRCODE = '22023',
			HINT = 'Use draft, scheduled, running, paused, done or archived.';
	END IF;
	IF c.status = status THEN
		RETURN status;
	END IF;
	IF c.status = 'done' AND status <> 'archived' OR c.status = 'archived' AND status NOT IN ('paused', 'draft') THEN
		RAISE EXCEPTION 'campaign "%" is % and cannot become %', c.campaign_id, c.status, status USING ERRCODE = '55000',
			HINT = 'Restore an archived campaign to paused; copy a finished one with cdp.copy_campaign.';
	END IF;
	PERFORM cdp_internal.campaign_event('campaign.status', c.campaign_id,
		pg_catalog.jsonb_build_object('status', status, 'from', c.status));
	IF status IN ('paused', 'done', 'archived') THEN
		UPDATE @extschema@.campaign_send s SET status = 'cancelled', reason = 'campaign_' || set_campaign_status.status, refused_at = pg_catalog.now()
		 WHERE s.campaign_id = c.campaign_id AND s.status = 'due';
	END IF;
	RETURN status;
END
$$;
COMMENT ON FUNCTION @extschema@.set_campaign_status(bigint, text) IS
	'moves a campaign to draft, scheduled, running, paused, done or archived (restore: archived -> paused); pausing, finishing or archiving cancels its unsent rows';

ALTER FUNCTION @extschema@.set_campaign_status(bigint, text) SECURITY DEFINER;
SELECT cdp_internal.acc_lock_down();
/* ==== end of section: camplist ==== */

/* ==== section: lead (issue 13, session 22) ==== */
-- seg_changed: the holders of a suppressed address are read only when the log names an address
-- (a one-time filter); the former join planned the events inside a scan of every profile at 1M
CREATE OR REPLACE FUNCTION cdp_internal.seg_changed(s @extschema@.segment, lo bigint, hi bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	-- the address branch's estimate (a scan of every profile, rarely run) must not start a JIT compile
	SET jit = off
	AS $$
DECLARE
	ids		bigint[];
	refs	bigint[] := ARRAY(SELECT DISTINCT (x #>> '{}')::bigint FROM pg_catalog.jsonb_path_query(s.rules, 'strict $.**.segment') x);
	camp	boolean := pg_catalog.jsonb_path_exists(s.rules, 'strict $.**.campaign');
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi
	            AND e.kind IN ('survivorship.configured', 'source.updated')) THEN
		RETURN NULL;
	END IF;
	WITH e AS MATERIALIZED (SELECT * FROM @extschema@.event e WHERE e.event_id > lo AND e.event_id <= hi),
	ids AS (
		SELECT e.golden_id AS id FROM e WHERE e.golden_id IS NOT NULL
		UNION ALL SELECT e.subject FROM e WHERE e.kind = 'patient.merged'
		UNION ALL SELECT (e.payload ->> 'from')::bigint FROM e WHERE e.kind = 'patient.unmerged'
		UNION ALL SELECT r.golden_id FROM e JOIN @extschema@.record r ON r.record_id = e.subject WHERE e.kind LIKE 'record.%'
		UNION ALL SELECT r.golden_id FROM e CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(e.payload -> 'records') x
		            JOIN @extschema@.record r ON r.record_id = x::bigint WHERE e.kind LIKE 'consent.%'
		-- the holders of an address suppressed or restored: the keys first, and the profiles are
		-- read only when there are any (a one-time filter; joined to the events, a nested loop
		-- with the profiles outside rescanned the events once per profile: 74 s at 1M patients)
		UNION ALL SELECT p.golden_id
		            FROM (SELECT ARRAY(SELECT DISTINCT e.payload ->> 'address_key' FROM e
		                                WHERE e.kind LIKE 'consent.%' AND e.payload ->> 'address_key' IS NOT NULL) AS k) a,
		                 @extschema@.patient p
		           WHERE pg_catalog.cardinality(a.k) > 0
		             AND EXISTS (SELECT 1 FROM pg_catalog.unnest(a.k) u(key)
		                          WHERE p.phones @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', u.key))
		                             OR p.emails @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', u.key))
		                             OR p.handles @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('value', u.key))
		                             OR pg_catalog.lower(pg_catalog.btrim(p.address)) = u.key)
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.entered_event > lo AND h.entered_event <= hi
		UNION ALL SELECT h.golden_id FROM pg_catalog.unnest(refs) r(sid)
		            JOIN @extschema@.segment_member_history h ON h.segment_id = r.sid AND h.left_event > lo AND h.left_event <= hi
		UNION ALL SELECT t.golden_id FROM cdp_internal.seg_touch t WHERE camp AND t.pos > lo AND t.pos <= hi)
	SELECT cdp_internal.seg_set(ARRAY(SELECT ids.id FROM ids)) INTO ids;
	/* ids merged away since: their survivors too (only ids without a profile need resolving) */
	RETURN cdp_internal.seg_or(ids, cdp_internal.seg_set(ARRAY(
		SELECT @extschema@.resolve_patient(x) FROM pg_catalog.unnest(ids) x
		 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = x))));
END
$$;
/* ==== end of section: lead ==== */

/* ==== section: sendlist (issue 14, session 23) ==== */
/*
 * The listing at 1M patients: no campaign touches while no segment can read them, every member on
 * a campaign's first listing without an anti-join, the listing's steps in memory, the consent
 * statements from the decided members, the provenance built once per message.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_campaign_touched() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids	bigint[];
	pos	bigint;
BEGIN
	LOCK TABLE cdp_internal.seg_touch IN ROW EXCLUSIVE MODE;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.segment x
	                WHERE x.status = 'active' AND pg_catalog.jsonb_path_exists(x.rules, 'strict $.**.campaign'))
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
	                    WHERE l.locktype = 'relation' AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
	                                                                      WHERE d.datname = pg_catalog.current_database())
	                      AND l.relation = '@extschema@.segment'::regclass
	                      AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
	                      AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()) THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		ids := ARRAY(SELECT DISTINCT n.golden_id FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		ids := ARRAY(SELECT DISTINCT o.golden_id FROM old_rows o);
	ELSE
		ids := ARRAY(
			SELECT DISTINCT x.g FROM new_rows n JOIN old_rows o ON o.send_id = n.send_id
			 CROSS JOIN LATERAL (VALUES (n.golden_id), (o.golden_id)) x(g)
			 WHERE (o.golden_id, o.status, o.channel, o.built_at, o.sent_at, o.delivered_at, o.opened_at, o.clicked_at,
			        o.converted_at, o.unsubscribed_at, o.complained_at, o.bounced, o.returned_at)
			       IS DISTINCT FROM
			       (n.golden_id, n.status, n.channel, n.built_at, n.sent_at, n.delivered_at, n.opened_at, n.clicked_at,
			        n.converted_at, n.unsubscribed_at, n.complained_at, n.bounced, n.returned_at));
	END IF;
	IF pg_catalog.cardinality(ids) > 0 THEN
		pos := pg_catalog.nextval('@extschema@.event_event_id_seq');
		INSERT INTO cdp_internal.seg_touch (golden_id, pos) SELECT x, pos FROM pg_catalog.unnest(ids) x;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_campaign_touched() IS
	'trigger: the persons whose campaign history changed go to seg_touch for incremental segment refreshes (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.campaign_list_set(c @extschema@.campaign, sg @extschema@.segment, t timestamptz) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* the listing's cost estimates (fresh rows, no statistics) would start a JIT compile of seconds */
	SET enable_mergejoin = off	/* the estimates of the steps are rough: sorting 200k wide rows for a merge costs more than hashing */
	SET work_mem = '256MB'	/* the members' steps and the INSERT's transition table (the segment and metrics triggers) stay in memory: 200k rows spilled about 170 MB to temporary files */
	AS $$
DECLARE
	d			jsonb := c.doc;
	purp		text := d ->> 'purpose';
	chans		text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(x, n) ORDER BY n);
	hold		float8 := (d ->> 'holdout')::float8;
	arm_names	text[];
	arm_upto	float8[];
	arm_lo		float8[];
	ids			bigint[];
	everyone	boolean := false;
	o			@extschema@.offer;
	offer_why	text;
	per_member	boolean := false;
	t0			timestamptz := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	day			date := (t0 AT TIME ZONE (d ->> 'timezone'))::date;
	vals_offer	jsonb := '{}';
	ctx			jsonb := pg_catalog.jsonb_build_object('segment', sg.segment_id, 'segment_version', sg.version);
	base		jsonb;
	chans_j		jsonb := pg_catalog.to_jsonb(chans);
	t_j			jsonb := pg_catalog.to_jsonb(t);
BEGIN
	SELECT pg_catalog.array_agg(a.key ORDER BY a.key), pg_catalog.array_agg(a.upto ORDER BY a.key)
	  INTO arm_names, arm_upto
	  FROM (SELECT x.key, pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	          FROM pg_catalog.jsonb_each(d -> 'arms') x) a;
	/* lower bounds of the arms: arm i holds [arm_lo[i], arm_lo[i + 1]) of the hash, as in campaign_arm */
	arm_lo := ARRAY[0::float8] || arm_upto[1:pg_catalog.cardinality(arm_upto) - 1];
	/* the members to decide: not listed yet, or skipped before (decided again); on the first
	   listing of the campaign every member (no anti-join against rows that do not exist: its
	   estimate, an empty table, made it a scan per member) */
	IF NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x WHERE x.campaign_id = c.campaign_id AND x.trigger_key = '') THEN
		everyone := true;
	ELSE
		SELECT coalesce(pg_catalog.array_agg(sm.golden_id), '{}') INTO ids
		  FROM @extschema@.segment_member sm
		 WHERE sm.segment_id = sg.segment_id
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x
		                    WHERE x.campaign_id = c.campaign_id AND x.golden_id = sm.golden_id AND x.trigger_key = ''
		                      AND x.status <> 'skipped');
		DELETE FROM @extschema@.campaign_send x USING pg_catalog.unnest(ids) u(g)
		 WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status = 'skipped';
	END IF;
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		/* the segment already applied its offer's rules to its members; the validity is the day's */
		IF sg.offer_id IS DISTINCT FROM o.offer_id THEN
			per_member := true;
		ELSIF o.status <> 'active' THEN
			offer_why := 'offer_archived';
		ELSIF day < (o.doc ->> 'valid_from')::date THEN
			offer_why := 'offer_not_yet_valid';
		ELSIF day > (o.doc ->> 'valid_to')::date THEN
			offer_why := 'offer_expired';
		END IF;
		vals_offer := pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	/* the provenance every row of this listing shares */
	base := pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}')
	        || CASE WHEN o.offer_id IS NOT NULL THEN pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version) ELSE '{}' END;
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	WITH m AS MATERIALIZED (
		/* the members with the columns the decision reads (no whole-row values), holdout and arm by hash,
		   and the contact candidates of those who may get a message */
		SELECT sm.golden_id AS g, p.golden_id AS pid, p.status AS pstatus, p.city, p.given_name, p.patronymic, p.family_name,
		       sm.channels AS okch, pr.channel AS pref,
		       CASE WHEN hh.h < hold THEN 'holdout'
		            ELSE arm_names[LEAST(pg_catalog.width_bucket((hh.h - hold) / (1 - hold), arm_lo), pg_catalog.cardinality(arm_names))]
		       END AS arm,
		       CASE WHEN hh.h >= hold AND sm.channels && chans
		            THEN cdp_internal.campaign_contacts(chans, sm.channels, pr.channel, p.emails, p.phones, p.handles, p.address) END AS cand
		  FROM @extschema@.segment_member sm
		  /* a look-up by key per member (OFFSET 0 keeps it one): hashing a million wide profile rows costs more */
		  LEFT JOIN LATERAL (SELECT x.golden_id, x.status, x.city, x.given_name, x.patronymic, x.family_name, x.emails,
		                            x.phones, x.handles, x.address
		                       FROM @extschema@.patient x WHERE x.golden_id = sm.golden_id OFFSET 0) p ON true
		  LEFT JOIN cdp_internal.campaign_preference pr ON pr.golden_id = sm.golden_id
		 CROSS JOIN LATERAL (SELECT (pg_catalog.hashtextextended(c.campaign_id::text || ':' || sm.golden_id::text, 0)::float8
		                             + 9223372036854775808.0) / 18446744073709551616.0 AS h) hh
		 WHERE sm.segment_id = sg.segment_id AND (everyone OR sm.golden_id = ANY (ids))),
	/* the keys no message may go to: blocked (hard bounce, complaint) or suppressed for the purpose */
	bad AS (
		SELECT b.address_key AS k FROM cdp_internal.campaign_address_block b
		UNION
		SELECT su.address_key FROM @extschema@.consent_suppression su WHERE su.purpose = purp AND su.suppressed),
	/* the members whose first candidate is bad: their first clean candidate further down */
	alt AS (
		SELECT DISTINCT ON (m.g) m.g, m.cand[2 * i - 1] AS ch, m.cand[2 * i] AS k
		  FROM m JOIN bad b1 ON b1.k = m.cand[2]
		 CROSS JOIN LATERAL pg_catalog.generate_series(2, pg_catalog.cardinality(m.cand) / 2) i
		 WHERE NOT EXISTS (SELECT 1 FROM bad b WHERE b.k = m.cand[2 * i])
		 ORDER BY m.g, i),
	other AS (
		SELECT x.golden_id AS g,
		       pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing'
		           AND (x.status = 'sent' AND x.sent_at > t0 - (d -> 'cap' ->> 'per')::interval
		                OR x.status = 'due' AND x.due_at > t0 - (d -> 'cap' ->> 'per')::interval
		                   AND x.due_at < t0 + (d -> 'cap' ->> 'per')::interval)) AS n_cap,
		       pg_catalog.max(x.sent_at) FILTER (WHERE x.status = 'sent') AS last_sent
		  FROM m
		  JOIN @extschema@.campaign_send x ON x.golden_id = m.g
		 WHERE d ? 'cap' AND x.campaign_id <> c.campaign_id AND x.status IN ('sent', 'due')
		 GROUP BY x.golden_id),
	/* the channel and address: the first candidate when it is clean, else the first clean one */
	chosen AS (
		SELECT m.*, ot.n_cap, ot.last_sent,
		       CASE WHEN b1.k IS NULL THEN m.cand[1] ELSE al.ch END AS ch,
		       CASE WHEN b1.k IS NULL THEN m.cand[2] ELSE al.k END AS addr
		  FROM m
		  LEFT JOIN other ot ON ot.g = m.g
		  LEFT JOIN bad b1 ON b1.k = m.cand[2]
		  LEFT JOIN alt al ON al.g = m.g),
	decided AS MATERIALIZED (
		SELECT m.g, m.city, m.given_name, m.patronymic, m.family_name, m.pref, m.arm, m.ch, m.addr,
		       CASE WHEN d -> 'cap' ? 'quiet' THEN GREATEST(t0, m.last_sent + (d -> 'cap' ->> 'quiet')::interval) ELSE t0 END AS not_before,
		       CASE WHEN m.pid IS NULL THEN 'erased'
		            WHEN m.pstatus = 'archived' THEN 'archived'
		            WHEN m.arm = 'holdout' THEN 'holdout'
		            WHEN d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN 'campaign_ended'
		            WHEN offer_why IS NOT NULL THEN offer_why
		            WHEN ofr.w IS NOT NULL THEN
		                 CASE WHEN ofr.w IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || ofr.w ELSE ofr.w END
		            WHEN m.ch IS NULL THEN
		                 CASE WHEN NOT m.okch && chans THEN 'no_consent' WHEN m.cand IS NULL THEN 'no_address' ELSE 'suppressed' END
		            WHEN purp = 'marketing' AND d -> 'cap' ? 'max' AND coalesce(m.n_cap, 0) >= (d -> 'cap' ->> 'max')::int THEN 'capped'
		       END AS why
		  FROM chosen m
		  /* the offer's rules for this member (only when the segment did not apply them) */
		  LEFT JOIN LATERAL (SELECT cdp_internal.offer_reason(p, o, day) AS w
		                       FROM @extschema@.patient p WHERE per_member AND p.golden_id = m.g) ofr ON true),
	/* the time zone once per city, the next moment inside the window once per zone and start */
	slots AS (
		SELECT z.city, z.nb, z.tz, cdp_internal.campaign_next_slot(z.nb, z.tz, d -> 'window') AS due
		  FROM (SELECT y.city, y.nb, cdp_internal.campaign_tz(y.city, d ->> 'timezone') AS tz
		          FROM (SELECT DISTINCT x.city, x.not_before AS nb FROM decided x WHERE x.why IS NULL) y) z),
	fin AS (
		SELECT x.*, sl.tz, sl.due, x.why IS NULL AND (d ->> 'end' IS NULL OR sl.due <= (d ->> 'end')::timestamptz) AS ok
		  FROM decided x
		  LEFT JOIN slots sl ON coalesce(sl.city, '') = coalesce(x.city, '') AND (sl.city IS NULL) = (x.city IS NULL)
		       AND sl.nb = x.not_before AND x.why IS NULL),
	/* the statement behind each message: the latest of the person's records for the purpose and
	   channel, for every member decided to get one (a few of them fall outside the window: their
	   statement is not used), so that fin is read once and need not be stored */
	stmt AS (
		SELECT DISTINCT ON (f.g) f.g, cs.event_id
		  FROM decided f
		  JOIN @extschema@.record r ON r.golden_id = f.g
		  JOIN @extschema@.consent_statement cs ON cs.record_id = r.record_id AND cs.purpose = purp AND cs.channel = f.ch
		 WHERE f.why IS NULL
		 ORDER BY f.g, cs.at DESC, cs.event_id DESC)
	SELECT c.campaign_id, x.g, '', purp,
	       CASE WHEN x.why = 'holdout' THEN 'holdout' WHEN x.ok THEN 'due' ELSE 'skipped' END,
	       CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END,
	       CASE WHEN x.ok THEN x.ch END,
	       CASE WHEN x.ok THEN x.addr END,
	       CASE WHEN x.why IN ('archived', 'erased') THEN NULL ELSE x.arm END,
	       CASE WHEN x.why = 'holdout' THEN t0 WHEN x.ok THEN x.due END,
	       t,
	       CASE WHEN x.ok THEN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(d -> 'templates' ->> x.ch,
			         '{given_name}', pg_catalog.replace(coalesce(x.given_name, ''), '{', U&'\FFF0')),
			         '{patronymic}', pg_catalog.replace(coalesce(x.patronymic, ''), '{', U&'\FFF0')),
			         '{family_name}', pg_catalog.replace(coalesce(x.family_name, ''), '{', U&'\FFF0')),
			         '{offer_name}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_name', ''), '{', U&'\FFF0')),
			         '{offer_until}', pg_catalog.replace(coalesce(vals_offer ->> 'offer_until', ''), '{', U&'\FFF0')), U&'\FFF0', '{') END,
	       /* one object per message, built once (no concatenation), from values converted once */
	       CASE WHEN NOT x.ok THEN base
	            WHEN o.offer_id IS NULL THEN
	                 pg_catalog.jsonb_build_object('campaign_version', c.version, 'segment', sg.segment_id, 'segment_version', sg.version,
	                     'channel_rule', CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans_j,
	                     'benefit', false, 'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t_j, 'event_id', st.event_id))
	            ELSE pg_catalog.jsonb_build_object('campaign_version', c.version, 'segment', sg.segment_id, 'segment_version', sg.version,
	                     'offer', o.offer_id, 'offer_version', o.version,
	                     'channel_rule', CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans_j,
	                     'benefit', false, 'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t_j, 'event_id', st.event_id))
	       END
	  FROM fin x LEFT JOIN stmt st ON st.g = x.g
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list_set(@extschema@.campaign, @extschema@.segment, timestamptz) IS
	'writes the send-list rows of a segment''s members in one pass: the set form of campaign_decide (internal)';
/* ==== end of section: sendlist ==== */

/* ==== section: lookup (issue 18, session 23) ==== */
-- _find_dates_usual: the ranges of _find_date_ranges that hold at most cap match_block keys (a day
-- carried by more records is a placeholder such as 01.01 or a system's default date: find_patient
-- does not read it whole).  Counts at most cap + 1 keys per range.
CREATE FUNCTION cdp_internal._find_dates_usual(dates text[], cap int) RETURNS text[]
	LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(
		SELECT d.p FROM pg_catalog.unnest(dates) WITH ORDINALITY d(p, o)
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp_internal.match_block m
		                                          WHERE m.bk >= d.p AND m.bk < d.p || pg_catalog.chr(1114111) LIMIT cap + 1) c) <= cap
		 ORDER BY d.o);
COMMENT ON FUNCTION cdp_internal._find_dates_usual(text[], int) IS
	'internal: the birth-date key ranges (of _find_date_ranges) holding at most cap records; a fuller day is a placeholder find_patient does not read whole';
REVOKE ALL ON FUNCTION cdp_internal._find_dates_usual(text[], int) FROM PUBLIC;

-- find_patient: with a birth date (and no phone or SNILS) the candidates without a date or with
-- one near the probe's are scored first, the others only when those give fewer than max_results
-- persons (the same ranking, without scoring a common name's thousand namesakes); a placeholder
-- birth date (a day of more than 1 000 records) is not read whole; the candidates' keys are read
-- in one index scan
CREATE OR REPLACE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	-- a generic plan: re-planning the ranking query at every call was a third of a lookup
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
	min_prob float8 := 0.01 * (a.settings ->> 'review_threshold')::float8;
	dates text[];
	names text[];
	pname text;
	pinit text[];
	fuzzy boolean := false;
	min_sim real;
	dfilter text;
	gs bigint[];
	ps float8[];
	rids bigint[];
	lvls text[];
	g2 bigint[];
	p2 float8[];
	r2 bigint[];
	l2 text[];
BEGIN
	probe := cdp_internal._find_probe(attrs);
	pname := pg_catalog.concat_ws(' ', probe.family_name, probe.given_name, probe.patronymic);
	-- the probe's initials: given name, patronymic, and '1' when its given name is only an initial
	pinit := ARRAY[pg_catalog.left(@extschema@.name_key(probe.given_name), 1), pg_catalog.left(@extschema@.name_key(probe.patronymic), 1),
	               (pg_catalog.length(pg_catalog.regexp_replace(probe.given_name, '[^[:alpha:]]', '', 'g')) = 1)::int::text];
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- (the library is loaded by name_key above, so its setting exists)
	min_sim := pg_catalog.current_setting('cdp.name_similarity_threshold')::real;
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- Candidates: the probe's block mates, and with a birth date every record born that day or on the
	-- day with day and month exchanged, whatever its name (a maiden name, initials, a name written
	-- so that no name block meets it).  Every candidate is scored (no probability floor in the walk).
	dates := cdp_internal._find_date_ranges(a.settings, probe.birth_date);
	-- A day carried by more than 1 000 records (per rule) is a placeholder, not a birth date (at
	-- 1M name-dense records 2007-01-06 has 7 322, an ordinary day about 35): its range is not read
	-- whole (scoring it took 0.5-1 s a lookup); the records born that day whose name meets the
	-- probe's blocks are still candidates through those blocks (session 23).
	dates := cdp_internal._find_dates_usual(dates, 1000);
	-- Unless a record born that day, or one sharing an identifier the probe gives (the keys of the
	-- one-attr rules: phone, SNILS, ...), has a name similar to the probe's (cdp.%), the truth may
	-- carry no date and a name written otherwise: then also the records whose name keys begin like
	-- the probe's (_find_name_ranges).
	-- (each record is read by its id: the generic plan's range estimates once chose a merge join
	-- over the whole record table)
	IF NOT EXISTS (SELECT 1 FROM (SELECT m.record_id FROM pg_catalog.unnest(dates) d(p)
	                                JOIN cdp_internal.match_block m ON m.bk >= d.p AND m.bk < d.p || pg_catalog.chr(1114111)
	                              UNION ALL
	                              SELECT m.record_id FROM cdp_internal.match_block m
	                               WHERE m.bk = ANY (ARRAY(SELECT f.bk[r.o] FROM pg_catalog.jsonb_array_elements(a.settings -> 'blocking') WITH ORDINALITY r(rule, o)
	                                                        WHERE pg_catalog.jsonb_array_length(r.rule) = 1))) c
	                CROSS JOIN LATERAL (SELECT r.family_name, r.given_name, r.patronymic FROM @extschema@.record r
	                                     WHERE r.record_id = c.record_id LIMIT 1) r
	                WHERE @extschema@.name_similar(pg_catalog.concat_ws(' ', r.family_name, r.given_name, r.patronymic), pname)) THEN
		names := cdp_internal._find_name_ranges(a.settings, f.bk);
		fuzzy := true;
	END IF;
	-- What the desk gave beside the name decides first: a person whose record agrees on the birth
	-- date (also with day and month exchanged or one digit off), a phone or the SNILS given, and
	-- whose name is compatible with the probe's (below), comes before namesakes that only score
	-- well; then the rows at or above the review floor, then, when the name ranges were read, the
	-- rows under it whose name is as similar as cdp.name_similarity_threshold asks (a typo the
	-- comparison levels call a disagreement), by name similarity.  After the agreeing persons, a
	-- record whose birth date contradicts the probe's comes after every record that does not,
	-- whatever its probability: a record of the person without a birth date (or with the date
	-- near the probe's) outranks a namesake born on another day (session 22); the probability
	-- orders the rest; a person is represented by its best record in that order (agreeing, then
	-- not contradicting the date, then by probability).  The summary is written for the rows
	-- returned only.
	-- Two passes (session 23): when the desk gave a birth date and neither a phone nor a SNILS, a
	-- record whose date contradicts the probe's can neither agree nor come before any record that
	-- does not contradict it.  So the first pass scores only the candidates without a birth date
	-- or with one near the probe's (cdp.date_level exact, day_month_swapped, one_digit), read from
	-- the keys' date feature before the walk: of the thousand namesakes of a common name at 1M,
	-- the fifth that carry no date.  Only when that pass finds fewer than max_results persons does
	-- the second score the others (the contradicting ones), whose persons follow.  Both together
	-- are exactly the one-pass ranking (test/pgtap/68_find_patient.sql compares them).
	IF probe.birth_date IS NOT NULL AND probe.phones IS NULL AND probe.snils IS NULL THEN
		SELECT pg_catalog.format('NULLIF(pg_catalog.split_part(k.feat[%s], %L, 1), %L) IS NULL'
		                         ' OR @extschema@.date_level(pg_catalog.split_part(k.feat[%s], %L, 1)::date, %L::date)'
		                         ' IN (%L, %L, %L)',
		                         l.fpos, cdp_internal._match_constants() ->> 'value_sep', '', l.fpos,
		                         cdp_internal._match_constants() ->> 'value_sep', probe.birth_date,
		                         'exact', 'day_month_swapped', 'one_digit')
		  INTO dfilter
		  FROM cdp_internal._match_layout(a.settings) l WHERE l.attr = 'birth_date' AND l.comparator = 'date' LIMIT 1;
	END IF;
	FOR pass IN 1 .. 2 LOOP
	SELECT pg_catalog.array_agg(t.g ORDER BY t.o), pg_catalog.array_agg(t.probability ORDER BY t.o),
	       pg_catalog.array_agg(t.rid ORDER BY t.o), pg_catalog.array_agg(t.levels::text ORDER BY t.o)
	  INTO g2, p2, r2, l2
	  FROM (
	SELECT z.g, z.probability, z.rid, z.levels,
	       pg_catalog.row_number() OVER (ORDER BY z.agree DESC, z.dc, z.probability >= min_prob DESC, z.ns DESC NULLS FIRST, z.probability DESC, z.g) AS o
	  FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels, x.agree, x.ns, x.dc
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels,
	               -- the last tier: a name similar enough, a contradicting birth date last
	               CASE WHEN fuzzy AND e.n = 0 AND y.probability < min_prob
	                    THEN @extschema@.name_similarity(pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) END AS ns,
	               e.dl IS NOT DISTINCT FROM 'different' AS dc,
	               -- the cheap checks first; the names are compared only for the rows they keep
	               -- a compatible name: it meets the probe's in a word, or one side gives the given
	               -- name as an initial and the initials agree («Полякова Н. С.» for «Филиппова Нина
	               -- Сергеевна»: a maiden name and initials), the patronymic's too when both give one
	               CASE WHEN e.n > 0 AND (@extschema@.name_similarity(
	                             pg_catalog.concat_ws(' ', rc.family_name, rc.given_name, rc.patronymic), pname) > 0
	                         OR (pg_catalog.left(@extschema@.name_key(rc.given_name), 1) = pinit[1]
	                             AND (pinit[3] = '1' OR pg_catalog.length(pg_catalog.regexp_replace(rc.given_name, '[^[:alpha:]]', '', 'g')) = 1)
	                             AND (rc.patronymic IS NULL OR pinit[2] IS NULL
	                                  OR pg_catalog.left(@extschema@.name_key(rc.patronymic), 1) = pinit[2])))
	                    THEN e.n ELSE 0 END AS agree
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         -- the candidates' keys are read by their ids, as one index scan over
	                         -- the array of ids (no join: the range estimates once made the planner
	                         -- hash the whole match_key table; a nested loop of one-row scans cost
	                         -- four times as much at a thousand namesakes, session 23)
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k '
	                                           'WHERE k.record_id = ANY (ARRAY(SELECT DISTINCT m.record_id FROM cdp_internal.match_block m '
	                                           'WHERE m.bk = ANY (%L::text[])%s))%s',
	                                           f.flags, f.feat, f.bk, f.bk,
	                                           pg_catalog.concat((SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                       ' UNION SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L',
	                                                       d.p, d.p || pg_catalog.chr(1114111)), '')
	                                              FROM pg_catalog.unnest(dates) d(p)),
	                                                  (SELECT pg_catalog.string_agg(pg_catalog.format(
	                                                       ' UNION SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk >= %L AND m.bk < %L'
	                                                       ' AND @extschema@.osa_distance(pg_catalog.substr(m.bk, %s), %L, 2) <= 2',
	                                                       x.lo, x.lo || pg_catalog.chr(1114111), x.bar + 1, pg_catalog.substr(x.k, x.bar + 1)), '')
	                                                 FROM pg_catalog.unnest(names) n(k)
	                                                CROSS JOIN LATERAL (SELECT n.k, pg_catalog.strpos(n.k, '|') AS bar,
	                                                                           pg_catalog.left(n.k, pg_catalog.strpos(n.k, '|') + 2) AS lo) x)),
	                                           CASE WHEN dfilter IS NULL THEN '' WHEN pass = 1 THEN ' AND (' || dfilter || ')'
	                                                ELSE ' AND NOT (' || dfilter || ')' END),
	                         a.program, a.version, 0::float8, 0, 0, ARRAY[-1]::bigint[]) w) y
	          -- block mates are read without golden ids; the pairs kept read theirs, one by one
	          -- (LIMIT 1 keeps the planner from hashing the whole record table for a few rows)
	         CROSS JOIN LATERAL (SELECT r.golden_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
	                                    r.phones, r.snils
	                               FROM @extschema@.record r WHERE r.record_id = y.rid LIMIT 1) rc
	         CROSS JOIN LATERAL (SELECT CASE WHEN probe.birth_date IS NULL OR rc.birth_date IS NULL THEN NULL
	                                         WHEN rc.birth_date = probe.birth_date THEN 'exact'
	                                         WHEN @extschema@.date_level(rc.birth_date, probe.birth_date) IN ('day_month_swapped', 'one_digit') THEN 'near'
	                                         ELSE 'different' END AS dl) d
	         CROSS JOIN LATERAL (SELECT d.dl, (d.dl IS NOT NULL AND d.dl <> 'different')::int
	                                  + (probe.phones IS NOT NULL AND rc.phones OPERATOR(pg_catalog.&&) probe.phones)::int
	                                  + (probe.snils IS NOT NULL AND rc.snils OPERATOR(@extschema@.=) probe.snils)::int AS n) e) x
	 WHERE x.agree > 0 OR x.probability >= min_prob OR x.ns >= min_sim
	 ORDER BY x.g, x.agree DESC, x.dc, x.probability DESC) z
	 ORDER BY o
	 LIMIT max_results) t;
	IF pass = 1 THEN
		gs := g2; ps := p2; rids := r2; lvls := l2;
		g2 := NULL; p2 := NULL; r2 := NULL; l2 := NULL;
	END IF;
	EXIT WHEN dfilter IS NULL OR COALESCE(pg_catalog.cardinality(gs), 0) >= max_results;
	END LOOP;
	-- the first pass's persons, then the second's that the first did not list
	RETURN QUERY
	SELECT v.g, v.p, v.r, cdp_internal._match_summary(a.settings, v.s::smallint[]) FROM (
	SELECT w.g, w.p, w.r, w.s, w.o FROM (
	SELECT u.g, u.p, u.r, u.s, u.o FROM ROWS FROM (pg_catalog.unnest(gs), pg_catalog.unnest(ps), pg_catalog.unnest(rids), pg_catalog.unnest(lvls)) WITH ORDINALITY u(g, p, r, s, o)
	UNION ALL
	SELECT u.g, u.p, u.r, u.s, max_results + u.o FROM ROWS FROM (pg_catalog.unnest(g2), pg_catalog.unnest(p2), pg_catalog.unnest(r2), pg_catalog.unnest(l2)) WITH ORDINALITY u(g, p, r, s, o)
	 WHERE u.g <> ALL (COALESCE(gs, '{}'))) w
	 ORDER BY w.o LIMIT max_results) v
	 ORDER BY v.o;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; with a birth date also every record born that day (or day and month exchanged); persons agreeing on a birth date (or one digit off), phone or SNILS given come first; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';
/* ==== end of section: lookup ==== */

/* ==== section: matchrec (issue 12, session 23) ==== */

-- match_record reads at most 64 block mates, the rarest keys first (67_match_run.sql)
CREATE OR REPLACE FUNCTION cdp_internal._match_lookup_query(record_id bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.format(
		'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k'
		' WHERE k.record_id IN (SELECT %1$s::bigint UNION ALL'
		' (SELECT x.record_id FROM (SELECT m.record_id, pg_catalog.count(*) OVER (PARTITION BY b.bk) AS n'
		'   FROM cdp_internal.match_key f'
		'   CROSS JOIN LATERAL pg_catalog.unnest(f.bk) b(bk)'
		'   CROSS JOIN LATERAL (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = b.bk AND m.record_id <> %1$s LIMIT 128) m'
		'  WHERE f.record_id = %1$s AND b.bk IS NOT NULL) x'
		' GROUP BY x.record_id ORDER BY pg_catalog.sum(pg_catalog.ln(256.0::float8 / x.n)) DESC, x.record_id LIMIT 64))', record_id);
COMMENT ON FUNCTION cdp_internal._match_lookup_query(bigint) IS
	'internal: the kernel''s record query of match_record: the record and at most 64 block mates (at most 128 per key, the rarest keys first: each mate weighs the sum of ln(256 / mates) of the keys it shares)';

-- the block index carries the record ids (index-only lookups of block mates; 60_match_tables.sql),
-- and a full re-key builds it so (63_match_features.sql)
DROP INDEX IF EXISTS cdp_internal.match_block_bk;
CREATE INDEX match_block_bk ON cdp_internal.match_block (bk) INCLUDE (record_id);
-- _match_refresh_keys: (re)computes match_key for the given records (NULL: every record).
CREATE OR REPLACE FUNCTION cdp_internal._match_refresh_keys(ids bigint[]) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
	n bigint;
BEGIN
	IF ids IS NULL THEN
		-- every record: the block index is built after the load (one sorted build, not a row at a time)
		TRUNCATE cdp_internal.match_key, cdp_internal.match_block;
		DROP INDEX IF EXISTS cdp_internal.match_block_bk;
		DROP INDEX IF EXISTS cdp_internal.match_block_record;
		EXECUTE pg_catalog.format('INSERT INTO cdp_internal.match_key (record_id, version, flags, feat, bk) SELECT f.record_id, %s, f.flags, f.feat, f.bk FROM (%s) f',
			a.version, cdp_internal._match_feature_query(a.settings, '@extschema@.record r'));
		GET DIAGNOSTICS n = ROW_COUNT;
		INSERT INTO cdp_internal.match_block (bk, record_id)
		SELECT b, k.record_id FROM cdp_internal.match_key k, pg_catalog.unnest(k.bk) b WHERE b IS NOT NULL;
		CREATE INDEX match_block_bk ON cdp_internal.match_block (bk) INCLUDE (record_id);
		CREATE INDEX match_block_record ON cdp_internal.match_block (record_id);
	ELSE
		-- Two sessions may re-key one record at once (match_record at two desks, or beside a run):
		-- the key row is upserted, so the second waits for the first and then updates its row
		-- (a plain insert failed with a duplicate key); the block rows are replaced after that, by
		-- statements that see the first session's rows.
		DELETE FROM cdp_internal.match_key WHERE record_id = ANY (ids);
		EXECUTE pg_catalog.format('INSERT INTO cdp_internal.match_key (record_id, version, flags, feat, bk) SELECT f.record_id, %s, f.flags, f.feat, f.bk FROM (%s) f'
			' ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, flags = excluded.flags, feat = excluded.feat, bk = excluded.bk',
			a.version, cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = ANY ($1)')) USING ids;
		GET DIAGNOSTICS n = ROW_COUNT;
		DELETE FROM cdp_internal.match_block WHERE record_id = ANY (ids);
		INSERT INTO cdp_internal.match_block (bk, record_id)
		SELECT b, k.record_id FROM cdp_internal.match_key k, pg_catalog.unnest(k.bk) b
		 WHERE k.record_id = ANY (ids) AND b IS NOT NULL;
	END IF;
	IF ids IS NULL OR n > 10000 THEN
		-- the lookups go through the indexes of match_block: give the planner fresh statistics
		ANALYZE cdp_internal.match_key;
		ANALYZE cdp_internal.match_block;
	END IF;
	RETURN n;
END $$;
COMMENT ON FUNCTION cdp_internal._match_refresh_keys(bigint[]) IS 'internal: recomputes the features and blocking keys of some records (NULL: all)';

/* ==== end of section: matchrec ==== */

/* ==== section: ingest (issue 16, session 23) ==== */

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
REVOKE ALL ON FUNCTION cdp_internal.ingest_write_new(integer, text, cdp_internal.ingest_row[], boolean, jsonb, integer) FROM PUBLIC;

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
CREATE OR REPLACE FUNCTION cdp_internal.ingest_insert_new(src_id integer, src_name text, new_rows cdp_internal.ingest_row[],
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

/* ==== end of section: ingest ==== */

/* ==== section: preview (issue 13, session 23) ==== */

/*
 * The per-person consent summary (sql/parts/80_consent.sql): the table, its functions and the
 * triggers on cdp.record and cdp.source; set_consents keeps it, rebuild_consent recomputes it,
 * the segments' consent filter and source_kind clause read it.  Filled from the existing
 * statements, records and sources at the end.
 */
/* ------------------------------------------------------------------ per-person summary */

/*
 * The segments' consent filter reads one row per person instead of folding the statements of the
 * person's records (session 23, doc/consent.md "Performance"): cdp_internal.consent_summary holds,
 * per golden id that holds a record, the fold of consent_now as a bitmask (bit = the purpose's
 * position in consent_purposes() * 8 + the channel's position in consent_channels(), 0-based,
 * set = granted, defaults included) and the kinds of the sources of the person's records (internal:
 * the clinic's own, so no partner rule; partner).  The segments' source_kind clause reads the
 * kinds too (82_segment_rules.sql).  Suppressed addresses are not in it (they depend on the profile's addresses: read at the time).
 * Kept exact by the paths that change its inputs, in the writer's transaction (triggers below):
 * statement rows inserted (set_consents, a bulk loader), a record moved (merge, unmerge, replay),
 * re-sourced or deleted, a source's kind changed; cdp.rebuild_consent() recomputes it whole.
 * A person without a row (new since, with no statement and no merge) has no statement that
 * counts: the defaults; the readers take such a person's source kinds from the records.
 */
CREATE TABLE cdp_internal.consent_summary (
	golden_id		bigint PRIMARY KEY,
	allowed			bigint NOT NULL,
	internal		boolean NOT NULL,
	partner			boolean NOT NULL
);
COMMENT ON TABLE cdp_internal.consent_summary IS
	'per person: the purposes x channels consent now allows (bitmask, defaults included) and whether a record comes from an internal, a partner source; projection of consent_statement, record and source (internal)';
ALTER TABLE cdp_internal.consent_summary ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp_internal.consent_summary FORCE ROW LEVEL SECURITY;

/* The bit of a purpose x channel in consent_summary.allowed; NULL for an unknown one. */
CREATE FUNCTION cdp_internal.consent_bit(purpose text, channel text) RETURNS integer
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT ((p.i - 1) * 8 + (c.i - 1))::integer
	  FROM @extschema@.consent_purposes() WITH ORDINALITY p(purpose, default_granted, description, i),
	       @extschema@.consent_channels() WITH ORDINALITY c(channel, address_kind, description, i)
	 WHERE p.purpose = $1 AND c.channel = $2
$$;
COMMENT ON FUNCTION cdp_internal.consent_bit(text, text) IS
	'the bit of a purpose x channel in consent_summary.allowed: purpose position * 8 + channel position (internal)';

/* The mask of the defaults: every channel of the purposes allowed unless withdrawn. */
CREATE FUNCTION cdp_internal.consent_default_mask() RETURNS bigint
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(pg_catalog.bit_or((1::bigint) OPERATOR(pg_catalog.<<) cdp_internal.consent_bit(p.purpose, c.channel)), 0)
	  FROM @extschema@.consent_purposes() p, @extschema@.consent_channels() c
	 WHERE p.default_granted
$$;
COMMENT ON FUNCTION cdp_internal.consent_default_mask() IS
	'consent_summary.allowed of a person with no statement (internal)';

/*
 * The summary rows of persons (NULL: everyone who holds a record), computed from their records'
 * statements with consent_now's fold (a grant counts while all its records belong to the person,
 * latest wins, a withdrawal wins a tie) and their records' sources.  Persons holding no record
 * get no row.
 */
CREATE FUNCTION cdp_internal.consent_summary_of(ids bigint[])
	RETURNS TABLE (golden_id bigint, allowed bigint, internal boolean, partner boolean)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	-- the vocabulary functions' default estimates (1,000 rows each) must not start a JIT compile
	-- (28 ms of a writer's 31 ms at 1M patients)
	SET jit = off
	AS $$
BEGIN
	/*
	 * planned for the ids given (EXECUTE): a writer's few persons are index probes (a plan made
	 * for "every record" read all 3.6M statement rows at 1M patients: 2.5 s a statement), the
	 * rebuild's everyone is a few hash joins
	 */
	RETURN QUERY EXECUTE pg_catalog.format($q$
	WITH recs AS MATERIALIZED (%s),
	pc AS MATERIALIZED (SELECT p.purpose, c.channel, cdp_internal.consent_bit(p.purpose, c.channel) AS b
	         FROM @extschema@.consent_purposes() p, @extschema@.consent_channels() c),
	st AS (
		SELECT DISTINCT ON (r.golden_id, s.purpose, s.channel) r.golden_id AS id, s.purpose, s.channel, s.granted
		  FROM recs r
		  JOIN @extschema@.consent_statement s ON s.record_id = r.record_id
		 WHERE cdp_internal.consent_counts(s.granted, s.records, r.golden_id)
		 ORDER BY r.golden_id, s.purpose, s.channel, s.at DESC, s.granted, s.event_id DESC),
	folded AS (
		SELECT st.id,
		       pg_catalog.bit_or((1::bigint) OPERATOR(pg_catalog.<<) pc.b) FILTER (WHERE st.granted) AS plus,
		       pg_catalog.bit_or((1::bigint) OPERATOR(pg_catalog.<<) pc.b) FILTER (WHERE NOT st.granted) AS minus
		  FROM st JOIN pc ON pc.purpose = st.purpose AND pc.channel = st.channel
		 GROUP BY st.id),
	holders AS (
		SELECT r.golden_id AS id, coalesce(pg_catalog.bool_or(s.kind = 'internal'), false) AS internal,
		       coalesce(pg_catalog.bool_or(s.kind = 'partner'), false) AS partner
		  FROM recs r JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	SELECT h.id,
	       (d.m OPERATOR(pg_catalog.&) OPERATOR(pg_catalog.~) coalesce(f.minus, 0)) OPERATOR(pg_catalog.|) coalesce(f.plus, 0),
	       h.internal, h.partner
	  FROM (SELECT cdp_internal.consent_default_mask() AS m) d
	 CROSS JOIN holders h LEFT JOIN folded f ON f.id = h.id$q$,
		CASE WHEN ids IS NULL THEN 'SELECT r.record_id, r.golden_id, r.source_id FROM @extschema@.record r'
		     ELSE 'SELECT r.record_id, r.golden_id, r.source_id FROM (SELECT DISTINCT x FROM pg_catalog.unnest($1) x) c(id)
		             JOIN @extschema@.record r ON r.golden_id = c.id' END)
	USING ids;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_of(bigint[]) IS
	'the consent_summary rows of persons (NULL = everyone holding a record), computed from statements, records and sources (internal)';

/*
 * Brings the summary rows of persons up to date in the writer's transaction: ids, and the current
 * holders of recs (the records a statement was stored against).  The rows are locked first (a
 * placeholder inserted for a new person), in id order, and computed by a later statement, which
 * in READ COMMITTED sees every transaction that held them before: two writers touching one person
 * (a statement and a merge) cannot leave the row of the one that committed first.  The holders of
 * recs are read again after the lock until no new one appears (a merge that moved a record
 * meanwhile).  Under REPEATABLE READ a concurrent change is a serialization error instead.
 */
CREATE FUNCTION cdp_internal.consent_summary_sync(ids bigint[], recs bigint[] DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	held	bigint[] := '{}';
	more	bigint[];
BEGIN
	more := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(ids) x WHERE x IS NOT NULL
	              UNION SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = ANY (recs));
	WHILE pg_catalog.cardinality(more) > 0 LOOP
		INSERT INTO cdp_internal.consent_summary AS s (golden_id, allowed, internal, partner)
		SELECT x, 0, false, false FROM pg_catalog.unnest(more) x ORDER BY x
		ON CONFLICT (golden_id) DO UPDATE SET allowed = s.allowed;
		held := held || more;
		more := ARRAY(SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = ANY (recs)
		              EXCEPT SELECT x FROM pg_catalog.unnest(held) x);
	END LOOP;
	DELETE FROM cdp_internal.consent_summary s WHERE s.golden_id = ANY (held);
	INSERT INTO cdp_internal.consent_summary (golden_id, allowed, internal, partner)
	SELECT x.golden_id, x.allowed, x.internal, x.partner FROM cdp_internal.consent_summary_of(held) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_sync(bigint[], bigint[]) IS
	'recomputes the consent_summary rows of persons and of the holders of records, under their row locks (internal)';

/* Recomputes the whole summary (cdp.rebuild_consent, the update script, a bulk load). */
CREATE FUNCTION cdp_internal.consent_summary_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	LOCK TABLE cdp_internal.consent_summary IN EXCLUSIVE MODE;
	DELETE FROM cdp_internal.consent_summary;
	INSERT INTO cdp_internal.consent_summary (golden_id, allowed, internal, partner)
	SELECT x.golden_id, x.allowed, x.internal, x.partner FROM cdp_internal.consent_summary_of(NULL) x;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_rebuild() IS
	'recomputes cdp_internal.consent_summary for everyone; returns the number of rows (internal)';

/*
 * Statement triggers on cdp.record and cdp.source: the persons whose records left, moved (merge,
 * unmerge, replay) or changed source, and the holders of a source whose kind changed.  Not on
 * insert: a record is inserted for a new person (a fresh golden id: ingest, import, the
 * generators), who has no row until a statement, a merge or a rebuild (readers take the kinds of
 * a person without a row from the records), and an insert trigger would turn off the ingest's
 * bulk writer (src/ingest_write.c writes only when record has no insert trigger but its foreign
 * key).
 * SECURITY DEFINER: the summary is the owner's, whoever writes the records.
 */
CREATE FUNCTION cdp_internal.consent_summary_records() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids		bigint[];
BEGIN
	IF TG_OP = 'DELETE' THEN
		ids := ARRAY(SELECT o.golden_id FROM old_rows o);
	ELSE
		ids := ARRAY(SELECT x FROM old_rows o JOIN new_rows n ON n.record_id = o.record_id
		              CROSS JOIN LATERAL (VALUES (o.golden_id), (n.golden_id)) v(x)
		             WHERE o.golden_id <> n.golden_id OR o.source_id <> n.source_id);
	END IF;
	IF pg_catalog.cardinality(ids) > 0 THEN
		PERFORM cdp_internal.consent_summary_sync(ids);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_records() IS
	'trigger on cdp.record: recomputes the consent summary of the persons whose records left, moved or changed source (internal)';

CREATE FUNCTION cdp_internal.consent_summary_sources() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids		bigint[];
BEGIN
	ids := ARRAY(SELECT DISTINCT r.golden_id FROM old_rows o JOIN new_rows n ON n.source_id = o.source_id
	              JOIN @extschema@.record r ON r.source_id = n.source_id
	             WHERE o.kind IS DISTINCT FROM n.kind);
	IF pg_catalog.cardinality(ids) > 0 THEN
		PERFORM cdp_internal.consent_summary_sync(ids);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_sources() IS
	'trigger on cdp.source: recomputes the consent summary of the holders of a source whose kind changed (internal)';

/*
 * Statement trigger on cdp.consent_statement: the holders of the records the new statement rows
 * were stored against (set_consents, and any loader that writes statement rows directly, like the
 * benchmark generators).  cdp.rebuild_consent() replays every statement with the trigger
 * disabled in its transaction and recomputes the summary once.
 */
CREATE FUNCTION cdp_internal.consent_summary_statements() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.consent_summary_sync('{}', ARRAY(SELECT DISTINCT n.record_id FROM new_rows n));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdp_internal.consent_summary_statements() IS
	'trigger on cdp.consent_statement: recomputes the consent summary of the holders of the records new statement rows name (internal)';

CREATE TRIGGER consent_summary_statement AFTER INSERT ON @extschema@.consent_statement
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_statements();
ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER consent_summary_statement;
CREATE TRIGGER consent_summary_update AFTER UPDATE ON @extschema@.record
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_records();
CREATE TRIGGER consent_summary_delete AFTER DELETE ON @extschema@.record
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_records();
CREATE TRIGGER consent_summary_source AFTER UPDATE ON @extschema@.source
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.consent_summary_sources();
ALTER TABLE @extschema@.record ENABLE ALWAYS TRIGGER consent_summary_update;
ALTER TABLE @extschema@.record ENABLE ALWAYS TRIGGER consent_summary_delete;
ALTER TABLE @extschema@.source ENABLE ALWAYS TRIGGER consent_summary_source;

/*
 * Has the person addresses for the channel, every one of them suppressed for the purpose?  (Then
 * may_contact is false whatever the consent.)  False for a person without a profile.
 */
CREATE FUNCTION cdp_internal.consent_all_suppressed(golden_id bigint, channel text, purpose text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT 1 FROM @extschema@.patient p
	                CROSS JOIN LATERAL (SELECT cdp_internal.consent_addresses(p, $2) AS ads) x
	                WHERE p.golden_id = $1 AND pg_catalog.cardinality(x.ads) > 0
	                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(x.ads) ad
	                                   WHERE NOT EXISTS (SELECT 1 FROM @extschema@.consent_suppression s
	                                                      WHERE s.address_key = ad AND s.purpose = $3 AND s.suppressed)))
$$;
COMMENT ON FUNCTION cdp_internal.consent_all_suppressed(bigint, text, text) IS
	'true when the person has addresses for the channel and all of them are suppressed for the purpose (internal)';

/*
 * Records one consent statement covering purposes x channels for a person (a golden id, followed
 * through merges): one event, rows for every record the person holds now.  Returns the event id.
 */
CREATE OR REPLACE FUNCTION cdp_internal.set_consents(golden_id bigint, purposes text[], channels text[], granted boolean,
	at timestamptz DEFAULT now(), evidence text DEFAULT NULL, address text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g		bigint;
	ch		text[];
	recs	bigint[];
	ev		bigint;
	payload	jsonb;
BEGIN
	IF set_consents.golden_id IS NULL OR set_consents.granted IS NULL OR set_consents.at IS NULL THEN
		RAISE EXCEPTION 'golden_id, granted and at must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.octet_length(evidence) > 1000 OR pg_catalog.octet_length(address) > 1000 THEN
		RAISE EXCEPTION 'consent evidence and address are at most 1000 bytes' USING ERRCODE = '22023';
	END IF;
	ch := cdp_internal.consent_check(purposes, channels);
	g := @extschema@.resolve_patient(set_consents.golden_id);
	IF g IS NULL THEN
		RAISE EXCEPTION 'patient "%" does not exist', set_consents.golden_id
			USING ERRCODE = 'P0002',
			DETAIL = pg_catalog.format('No golden record has id %s, nor was it merged into one.', set_consents.golden_id),
			HINT = 'Pass a golden_id of cdp.patient.';
	END IF;
	/* the person's records, locked against a concurrent merge or unmerge moving them meanwhile */
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id) INTO recs
	  FROM (SELECT r.record_id FROM @extschema@.record r WHERE r.golden_id = g ORDER BY r.record_id FOR KEY SHARE) r;
	payload := pg_catalog.jsonb_build_object('given_for', g, 'purposes', pg_catalog.to_jsonb(ARRAY(
	               SELECT DISTINCT x FROM pg_catalog.unnest(purposes) x ORDER BY 1)),
	           'channels', pg_catalog.to_jsonb(ch), 'records', pg_catalog.to_jsonb(recs),
	           'at', set_consents.at, 'evidence', evidence, 'address', address,
	           'address_key', @extschema@.consent_address_key(address));
	ev := cdp_internal.append_event(CASE WHEN set_consents.granted THEN 'consent.granted' ELSE 'consent.withdrawn' END,
	                                g, g, payload);
	PERFORM cdp_internal.consent_apply(ev, CASE WHEN set_consents.granted THEN 'consent.granted' ELSE 'consent.withdrawn' END,
	                                   set_consents.at, payload);
	RETURN ev;
END
$$;
COMMENT ON FUNCTION cdp_internal.set_consents(bigint, text[], text[], boolean, timestamptz, text, text) IS
	'records one consent statement (the consent family''s set_consents; internal to cdp.set_consents, which audits it)';

/*
 * Rebuilds the consent projections from the log: the rows equal the live ones (test/pgtap).
 * Returns the number of consent events replayed.
 */
CREATE OR REPLACE FUNCTION @extschema@.rebuild_consent() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e		record;
	n		bigint := 0;
BEGIN
	LOCK TABLE @extschema@.consent_statement, @extschema@.consent_suppression, cdp_internal.consent_summary IN EXCLUSIVE MODE;
	/*
	 * the statement trigger's per-event work is replaced by the one recomputation at the end (a
	 * table-level switch in this transaction, not a setting a session could set)
	 */
	ALTER TABLE @extschema@.consent_statement DISABLE TRIGGER consent_summary_statement;
	DELETE FROM @extschema@.consent_statement;
	DELETE FROM @extschema@.consent_suppression;
	FOR e IN SELECT x.event_id, x.kind, x.payload FROM @extschema@.event x
	          WHERE x.kind IN ('consent.granted', 'consent.withdrawn') ORDER BY x.event_id LOOP
		PERFORM cdp_internal.consent_apply(e.event_id, e.kind, (e.payload ->> 'at')::timestamptz, e.payload);
		n := n + 1;
	END LOOP;
	ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER consent_summary_statement;
	PERFORM cdp_internal.consent_summary_rebuild();
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_consent() IS
	'replays the consent events of cdp.event into consent_statement and consent_suppression, and recomputes the per-person summary; returns how many';

/*
 * Compiles one attribute leaf {"attr", "op", "value"} into its predicate over profile row p.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_compile_attr(node jsonb, d date, path text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a		record;
	op		text := node ->> 'op';
	v		jsonb := node -> 'value';
	k		text;
	x		text;
	lits	text[];
	expr	text;
	i		int := 0;
	form	constant text := 'Use {"attr": "age", "op": "between", "value": [35, 55]} or {"attr": "city", "op": "in", "value": ["Москва"]}.';
BEGIN
	FOR k IN SELECT pg_catalog.jsonb_object_keys(node) LOOP
		IF NOT k IN ('attr', 'op', 'value') THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown key "%s" in an attribute clause', pg_catalog.left(k, 64)), path || '.' || pg_catalog.left(k, 64), form);
		END IF;
	END LOOP;
	IF pg_catalog.jsonb_typeof(node -> 'attr') <> 'string' THEN
		PERFORM cdp_internal.seg_fail('a segment attribute must be a string', path || '.attr', form);
	END IF;
	SELECT * INTO a FROM @extschema@.segment_attributes() s WHERE s.attr = node ->> 'attr';
	IF a.attr IS NULL THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown segment attribute "%s"', pg_catalog.left(node ->> 'attr', 64)), path || '.attr',
			'Known attributes: ' || (SELECT pg_catalog.string_agg(s.attr, ', ') FROM @extschema@.segment_attributes() s) || '.');
	END IF;
	IF op IS NULL OR pg_catalog.jsonb_typeof(node -> 'op') <> 'string' OR NOT op = ANY (a.ops) THEN
		PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s is not allowed for attribute "%s"',
			pg_catalog.left(coalesce((node -> 'op')::text, 'null'), 32), a.attr), path || '.op',
			pg_catalog.format('Operators of %s: %s.', a.attr, pg_catalog.array_to_string(a.ops, ', ')));
	END IF;
	IF NOT node ? 'value' THEN
		PERFORM cdp_internal.seg_fail('an attribute clause needs a value', path || '.value', form);
	END IF;
	IF op = 'is_null' THEN
		PERFORM cdp_internal.seg_literal(v, 'boolean', path || '.value');
	ELSIF op IN ('between', 'in', 'not in') THEN
		IF pg_catalog.jsonb_typeof(v) <> 'array' OR pg_catalog.jsonb_array_length(v) = 0
		   OR (op = 'between' AND pg_catalog.jsonb_array_length(v) <> 2) OR pg_catalog.jsonb_array_length(v) > 1000 THEN
			PERFORM cdp_internal.seg_fail(pg_catalog.format('operator %s needs %s', op,
				CASE op WHEN 'between' THEN 'an array of two values' ELSE 'a non-empty array of at most 1000 values' END),
				path || '.value', form);
		END IF;
		FOR x IN SELECT e::text FROM pg_catalog.jsonb_array_elements(v) e LOOP
			lits := lits || cdp_internal.seg_literal(x::jsonb, a.typ, pg_catalog.format('%s.value[%s]', path, i));
			i := i + 1;
		END LOOP;
	ELSE
		lits := ARRAY[cdp_internal.seg_literal(v, a.typ, path || '.value')];
	END IF;
	IF a.attr = 'source_kind' THEN
		/*
		 * the kinds of the person's sources, one row of the consent summary (80_consent.sql: kept
		 * with every record move and source change) instead of the person's records and their
		 * sources, which only a person without a row (new since) still reads; the kinds are those
		 * source_kind_check allows (50_ingest.sql)
		 */
		RETURN pg_catalog.format('coalesce((SELECT (cs.internal AND ''internal'' IN (%1$s)) OR (cs.partner AND ''partner'' IN (%1$s))'
			' FROM cdp_internal.consent_summary cs WHERE cs.golden_id = p.golden_id),'
			' EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.kind IN (%1$s)))', pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'source' THEN
		RETURN pg_catalog.format('EXISTS (SELECT 1 FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id = r.source_id'
			' WHERE r.golden_id = p.golden_id AND s.name IN (%s))', pg_catalog.array_to_string(lits, ', '));
	ELSIF a.attr = 'reachable' THEN
		FOR x IN SELECT e #>> '{}' FROM pg_catalog.jsonb_array_elements(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e LOOP
			IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_channels() c WHERE c.channel = x) THEN
				PERFORM cdp_internal.seg_fail(pg_catalog.format('unknown channel "%s"', pg_catalog.left(x, 64)), path || '.value',
					'Use email, sms, messenger, social, call or post.');
			END IF;
		END LOOP;
		/*
		 * the profile holds an address for one of the channels: the field consent_addresses reads
		 * (80_consent.sql), tested directly (no address is canonicalised just to be counted)
		 */
		RETURN '(' || (SELECT pg_catalog.string_agg(DISTINCT CASE c.address_kind
		                 WHEN 'emails' THEN 'pg_catalog.jsonb_array_length(coalesce(p.emails, ''[]'')) > 0'
		                 WHEN 'phones' THEN 'pg_catalog.jsonb_array_length(coalesce(p.phones, ''[]'')) > 0'
		                 WHEN 'handles' THEN 'coalesce(p.handles, ''[]'') @> ''[{"network": "vk"}]'''
		                 ELSE 'p.address IS NOT NULL' END, ' OR ')
		                 FROM pg_catalog.jsonb_array_elements_text(CASE WHEN op = 'in' THEN v ELSE pg_catalog.jsonb_build_array(v) END) e
		                 JOIN @extschema@.consent_channels() c ON c.channel = e) || ')';
	END IF;
	expr := cdp_internal.seg_attr_sql(a.attr, d);
	RETURN CASE op
		WHEN 'is_null' THEN pg_catalog.format('((%s) IS NULL) = %s', expr, cdp_internal.seg_literal(v, 'boolean', path))
		WHEN 'between' THEN pg_catalog.format('(%s) BETWEEN %s AND %s', expr, lits[1], lits[2])
		WHEN 'in' THEN pg_catalog.format('(%s) IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN 'not in' THEN pg_catalog.format('(%s) NOT IN (%s)', expr, pg_catalog.array_to_string(lits, ', '))
		WHEN '!=' THEN pg_catalog.format('(%s) <> %s', expr, lits[1])
		ELSE pg_catalog.format('(%s) %s %s', expr, op, lits[1]) END;
END
$$;
COMMENT ON FUNCTION cdp_internal.seg_compile_attr(jsonb, date, text) IS
	'compiles an attribute clause into a predicate over the profile row p from the fixed catalogue (internal)';

/*
 * cdp_internal.offer_reason for a set of golden ids at once: every id with its first reason or
 * NULL, the same reasons in the same order, in a few set-based passes instead of one function
 * call per person.  First the profile's own reasons (one pass over the ids through the primary
 * key), then, for those left, the first excluded diagnosis, pregnancy, the required service or
 * lab test.  Each diagnosis pass finds who has such a code either by probing the persons left
 * (clinical_event_seg_patient_idx, index-only) or by reading the codes' range of
 * clinical_event_seg_code_idx, whichever the true number of persons left makes cheaper (as
 * cdp_internal.seg_eval chooses); the code named is then looked up for those few with
 * offer_reason's own condition.  test/pgtap/83_offer_set.sql proves it equal to offer_reason
 * person by person.
 */
CREATE OR REPLACE FUNCTION cdp_internal.offer_reasons(ids bigint[], o @extschema@.offer, on_day date)
	RETURNS TABLE (golden_id bigint, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d		jsonb := o.doc;
	rest	bigint[];
	bid		bigint[];
	bwhy	text[];
	n_all	bigint;
	probe	boolean;
	preg	constant jsonb := '[{"lo": "Z33", "hi": "Z33"}, {"lo": "O00", "hi": "O99"}]';
BEGIN
	ids := cdp_internal.seg_set(ids);
	IF pg_catalog.cardinality(ids) = 0 THEN
		RETURN;
	END IF;
	SELECT GREATEST(c.reltuples::bigint, 1) INTO n_all FROM pg_catalog.pg_class c
	 WHERE c.oid = '@extschema@.patient'::regclass;
	probe := pg_catalog.cardinality(ids) * 20 <= n_all;
	/* the profile's own reasons, in offer_reason's order */
	SELECT coalesce(pg_catalog.array_agg(x.id) FILTER (WHERE x.why IS NULL), '{}'),
	       pg_catalog.array_agg(x.id) FILTER (WHERE x.why IS NOT NULL),
	       pg_catalog.array_agg(x.why) FILTER (WHERE x.why IS NOT NULL)
	  INTO rest, bid, bwhy
	  FROM (SELECT p.id, CASE
	            WHEN p.golden_id IS NULL THEN 'unknown_patient'
	            WHEN p.status <> 'active' THEN 'archived_patient'
	            WHEN o.status <> 'active' THEN 'offer_archived'
	            WHEN on_day < (d ->> 'valid_from')::date THEN 'not_yet_valid'
	            WHEN on_day > (d ->> 'valid_to')::date THEN 'expired'
	            WHEN d ? 'sex' AND p.sex IS DISTINCT FROM (d ->> 'sex') THEN 'sex'
	            WHEN d ? 'age' AND coalesce(EXTRACT(year FROM pg_catalog.age(on_day, p.birth_date))::int
	                                            NOT BETWEEN (d -> 'age' ->> 0)::int AND (d -> 'age' ->> 1)::int, true) THEN 'age'
	            END AS why
	          /*
	           * the profiles: probes by primary key for a set small beside the clinic (OFFSET 0 keeps
	           * them probes: a hash join read every profile, 1.2 s at 1M for 17k ids), else one join
	           */
	          FROM (SELECT c.id, y.golden_id, y.status, y.sex, y.birth_date
	                  FROM pg_catalog.unnest(ids) c(id)
	                  LEFT JOIN LATERAL (SELECT z.golden_id, z.status, z.sex, z.birth_date FROM @extschema@.patient z
	                                      WHERE z.golden_id = c.id OFFSET 0) y ON true
	                 WHERE probe
	                UNION ALL
	                SELECT c.id, y.golden_id, y.status, y.sex, y.birth_date
	                  FROM pg_catalog.unnest(ids) c(id)
	                  LEFT JOIN @extschema@.patient y ON y.golden_id = c.id
	                 WHERE NOT probe) p) x;
	RETURN QUERY SELECT x.id, x.why FROM ROWS FROM (pg_catalog.unnest(bid), pg_catalog.unnest(bwhy)) x(id, why);
	rest := cdp_internal.seg_set(rest);
	probe := pg_catalog.cardinality(rest) * 20 <= n_all;
	/* the first excluded diagnosis, ever (by time, then event id) */
	IF d ? 'exclude_ranges' AND pg_catalog.cardinality(rest) > 0 THEN
		/* who has one: probes or the ranges read, over the segment indexes (index-only) */
		IF probe THEN
			bid := cdp_internal.seg_probe(pg_catalog.format(
				'SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.clinical_event e'
				' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s LIMIT 1)', cdp_internal.offer_code_sql(d -> 'exclude_ranges')), rest);
		ELSE
			EXECUTE pg_catalog.format('SELECT cdp_internal.seg_set(ARRAY(SELECT e.golden_id FROM @extschema@.clinical_event e'
				' WHERE e.kind = ''diagnosis'' AND %s))', cdp_internal.offer_code_sql(d -> 'exclude_ranges')) INTO bid;
			bid := cdp_internal.seg_and(rest, bid);
		END IF;
		/* and which code comes first, for those few, with offer_reason's own condition */
		RETURN QUERY SELECT c.id, 'contraindication:' || f.icd10
		  FROM pg_catalog.unnest(bid) c(id)
		 CROSS JOIN LATERAL (SELECT e.icd10 FROM @extschema@.clinical_event e
		                      WHERE e.golden_id = c.id AND e.kind = 'diagnosis'
		                        AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(d -> 'exclude_ranges') x
		                                     WHERE cdp_internal.icd10_in(e.icd10, x ->> 'lo', x ->> 'hi'))
		                      ORDER BY e.at, e.event_id LIMIT 1) f;
		rest := cdp_internal.seg_minus(rest, bid);
	END IF;
	/* pregnancy: Z33 or O00-O99 within 10 months before the day, or a record flagged pregnant */
	IF (d ->> 'exclude_pregnant')::boolean AND pg_catalog.cardinality(rest) > 0 THEN
		IF probe THEN
			bid := cdp_internal.seg_probe(pg_catalog.format(
				'SELECT c.id FROM pg_catalog.unnest($1) c(id) WHERE (SELECT true FROM @extschema@.clinical_event e'
				' WHERE e.golden_id = c.id AND e.kind = ''diagnosis'' AND %s AND e.at >= %L::date - interval ''10 months'' AND e.at < %L::date + 1 LIMIT 1)',
				cdp_internal.offer_code_sql(preg), on_day, on_day), rest);
		ELSE
			EXECUTE pg_catalog.format('SELECT cdp_internal.seg_set(ARRAY(SELECT e.golden_id FROM @extschema@.clinical_event e'
				' WHERE e.kind = ''diagnosis'' AND %s AND e.at >= %L::date - interval ''10 months'' AND e.at < %L::date + 1))',
				cdp_internal.offer_code_sql(preg), on_day, on_day) INTO bid;
			bid := cdp_internal.seg_and(rest, bid);
		END IF;
		bid := cdp_internal.seg_or(bid, cdp_internal.seg_set(ARRAY(
			SELECT c.id FROM pg_catalog.unnest(cdp_internal.seg_minus(rest, bid)) c(id)
			 WHERE EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = c.id AND r.extra ->> 'pregnant' = 'true'))));
		RETURN QUERY SELECT x, 'pregnancy'::text FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, bid);
	END IF;
	/* the required prior service (a visit the person came to) or lab test */
	IF d ? 'requires_service' AND pg_catalog.cardinality(rest) > 0 THEN
		bid := ARRAY(SELECT c.id FROM pg_catalog.unnest(rest) c(id)
		              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.clinical_event e
		                                 WHERE e.golden_id = c.id AND e.kind = 'visit' AND e.specialty = d ->> 'requires_service'
		                                   AND e.visit_status IN ('came', 'in_appointment', 'done')));
		RETURN QUERY SELECT x, 'requires:' || (d ->> 'requires_service') FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, cdp_internal.seg_set(bid));
	END IF;
	IF d ? 'requires_lab' AND pg_catalog.cardinality(rest) > 0 THEN
		bid := ARRAY(SELECT c.id FROM pg_catalog.unnest(rest) c(id)
		              WHERE NOT EXISTS (SELECT 1 FROM @extschema@.clinical_event e
		                                 WHERE e.golden_id = c.id AND e.kind = 'lab_test' AND e.lab_code = d ->> 'requires_lab'));
		RETURN QUERY SELECT x, 'requires:' || (d ->> 'requires_lab') FROM pg_catalog.unnest(bid) x;
		rest := cdp_internal.seg_minus(rest, cdp_internal.seg_set(bid));
	END IF;
	RETURN QUERY SELECT x, NULL::text FROM pg_catalog.unnest(rest) x;
END
$$;
COMMENT ON FUNCTION cdp_internal.offer_reasons(bigint[], @extschema@.offer, date) IS
	'offer_reason for a set of golden ids in set-based passes: each id with its first reason or NULL (internal)';

/*
 * The ids of a set that may be contacted for a purpose: through the channel, or through at least
 * one channel when channel is NULL (the union of may_contact over the channels).  The set-based
 * form of cdp.may_contact (same fold, same defaults, same partner and suppression rules;
 * test/pgtap/80_consent_summary.sql and 82_segment_rules.sql compare them): the fold and the
 * partner flag are one row per person of cdp_internal.consent_summary (80_consent.sql), read by
 * primary key or one pass; the suppression list is asked only when it holds an address for the
 * purpose, and then only for the persons consent allows.
 */
CREATE OR REPLACE FUNCTION cdp_internal.seg_consent_ok(ids bigint[], purpose text, channel text) RETURNS bigint[]
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
	 * the ids' rows: probes by primary key for a set small beside the clinic (the lateral
	 * subquery with OFFSET 0 stays a probe per id), else one hash join over the summary
	 */
	st AS MATERIALIZED (
		SELECT c.id, coalesce(s.allowed, dflt) AS allowed, viap AND NOT coalesce(s.internal, false) AS partner, s.allowed IS NULL AS norow
		  FROM pg_catalog.unnest(ids) c(id)
		  LEFT JOIN LATERAL (SELECT x.allowed, x.internal FROM cdp_internal.consent_summary x
		                      WHERE x.golden_id = c.id OFFSET 0) s ON true
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

SELECT cdp_internal.acc_protect('cdp_internal.consent_summary', 'internal');
SELECT pg_catalog.pg_extension_config_dump('cdp_internal.consent_summary', '');
SELECT cdp_internal.acc_lock_down();
REVOKE ALL ON FUNCTION @extschema@.rebuild_consent() FROM PUBLIC;
SELECT cdp_internal.consent_summary_rebuild();

/* ==== end of section: preview ==== */

/* ==== section: lead (issue 13, session 23) ==== */

/* rebuild_consent: a clear error when the calling statement reads cdp.consent_statement */
CREATE OR REPLACE FUNCTION @extschema@.rebuild_consent() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	e		record;
	n		bigint := 0;
BEGIN
	LOCK TABLE @extschema@.consent_statement, @extschema@.consent_suppression, cdp_internal.consent_summary IN EXCLUSIVE MODE;
	/*
	 * the statement trigger's per-event work is replaced by the one recomputation at the end (a
	 * table-level switch in this transaction, not a setting a session could set)
	 */
	BEGIN
		ALTER TABLE @extschema@.consent_statement DISABLE TRIGGER consent_summary_statement;
	EXCEPTION WHEN object_in_use THEN
		/* the calling statement itself reads cdp.consent_statement (a subquery beside the call) */
		RAISE EXCEPTION 'cdp.rebuild_consent() cannot run inside a statement that reads cdp.consent_statement'
			USING ERRCODE = 'object_in_use',
			      DETAIL = 'The replay switches the table''s summary trigger off for its transaction, which PostgreSQL refuses while this session has the table open.',
			      HINT = 'Call SELECT cdp.rebuild_consent(); as a statement of its own, then compare.';
	END;
	DELETE FROM @extschema@.consent_statement;
	DELETE FROM @extschema@.consent_suppression;
	FOR e IN SELECT x.event_id, x.kind, x.payload FROM @extschema@.event x
	          WHERE x.kind IN ('consent.granted', 'consent.withdrawn') ORDER BY x.event_id LOOP
		PERFORM cdp_internal.consent_apply(e.event_id, e.kind, (e.payload ->> 'at')::timestamptz, e.payload);
		n := n + 1;
	END LOOP;
	ALTER TABLE @extschema@.consent_statement ENABLE ALWAYS TRIGGER consent_summary_statement;
	PERFORM cdp_internal.consent_summary_rebuild();
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_consent() IS
	'replays the consent events of cdp.event into consent_statement and consent_suppression, and recomputes the per-person summary; returns how many';
REVOKE ALL ON FUNCTION @extschema@.rebuild_consent() FROM PUBLIC;

/* ==== end of section: lead ==== */

/* ==== section: sendlist (issue 14, session 24) ==== */

/*
 * The holdout/arm hash and the template renderer in C, one definition for the per-member path and
 * the set-based listing (campaign_list_set calls them instead of its inline copies); CREATE OR
 * REPLACE changes the language and drops the former SET search_path.
 */
CREATE OR REPLACE FUNCTION cdp_internal.campaign_hash(campaign_id bigint, golden_id bigint) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_campaign_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_hash(bigint, bigint) IS
	'a stable number in [0, 1) from the campaign and golden ids: the holdout and the A/B arms are cut from it (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.campaign_render(tpl text, vals jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_campaign_render' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_render(text, jsonb) IS
	'renders a template: each {placeholder} replaced by its value once (a value containing braces is not expanded again) (internal)';

CREATE FUNCTION cdp_internal.campaign_fill(tpl text, VARIADIC pairs text[]) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_campaign_fill' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.campaign_fill(text, text[]) IS
	'renders a template as campaign_render does, the values given as {name, value, ...} pairs (internal)';

/* the counts of a listing in one pass over the campaign's rows */
CREATE OR REPLACE FUNCTION cdp_internal.campaign_counts(campaign_id bigint, t timestamptz) RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	/* one pass over the campaign's rows (counts by status and reason), then the few groups */
	WITH g AS (
		SELECT s.status, s.reason, pg_catalog.count(*) AS n
		  FROM @extschema@.campaign_send s WHERE s.campaign_id = $1
		 GROUP BY s.status, s.reason)
	SELECT pg_catalog.jsonb_build_object('campaign_id', $1, 'at', $2,
	         'due', (SELECT coalesce(pg_catalog.sum(g.n), 0)::bigint FROM g WHERE g.status = 'due'),
	         'sent', (SELECT coalesce(pg_catalog.sum(g.n), 0)::bigint FROM g WHERE g.status = 'sent'),
	         'holdout', (SELECT coalesce(pg_catalog.sum(g.n), 0)::bigint FROM g WHERE g.status = 'holdout'),
	         'not_sent', coalesce((SELECT pg_catalog.jsonb_object_agg(r.reason, r.n ORDER BY r.reason)
	                                 FROM (SELECT g.reason, pg_catalog.sum(g.n)::bigint AS n FROM g
	                                        WHERE g.status IN ('skipped', 'refused', 'cancelled')
	                                        GROUP BY g.reason) r), '{}'))
$$;
COMMENT ON FUNCTION cdp_internal.campaign_counts(bigint, timestamptz) IS
	'a campaign''s rows: due, sent, holdout, and the rows not sent by reason (internal)';

/* the duplicate-address pass groups bytewise */
CREATE OR REPLACE FUNCTION cdp_internal.campaign_after_list(c @extschema@.campaign) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res		jsonb;
BEGIN
	/* one message per address per campaign: duplicate records of one person not merged yet; the
	   window runs over the rows of the addresses listed more than once only (due and sent rows
	   always carry an address) */
	WITH twice AS (
		/* bytewise grouping ("C": the same equality, a cheaper sort than the database's collation) */
		SELECT s2.trigger_key COLLATE "C" AS trigger_key, s2.address COLLATE "C" AS address
		  FROM @extschema@.campaign_send s2
		 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')
		 GROUP BY 1, 2
		HAVING pg_catalog.count(*) > 1),
	dup AS MATERIALIZED (
		SELECT x.send_id FROM (
			SELECT s2.send_id, s2.status, pg_catalog.row_number() OVER (PARTITION BY s2.trigger_key, s2.address
			                                                             ORDER BY s2.status <> 'sent', s2.send_id) AS rn
			  FROM @extschema@.campaign_send s2
			  JOIN twice w ON w.trigger_key = s2.trigger_key COLLATE "C" AND w.address = s2.address COLLATE "C"
			 WHERE s2.campaign_id = c.campaign_id AND s2.status IN ('due', 'sent')) x
		 WHERE x.rn > 1 AND x.status = 'due')
	UPDATE @extschema@.campaign_send s SET status = 'skipped', reason = 'duplicate_address', channel = NULL,
	       address = NULL, message = NULL, due_at = NULL
	  FROM dup
	 WHERE s.send_id = dup.send_id;
	res := cdp_internal.campaign_counts(c.campaign_id, pg_catalog.now());
	IF (res ->> 'due')::bigint > 0 THEN
		PERFORM pg_catalog.pg_notify('cdp_send_list', c.campaign_id::text);
	END IF;
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_after_list(@extschema@.campaign) IS
	'after a listing: one message per address per campaign, NOTIFY cdp_send_list, counts by status and reason (internal)';

CREATE OR REPLACE FUNCTION cdp_internal.campaign_list_set(c @extschema@.campaign, sg @extschema@.segment, t timestamptz) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	SET jit = off	/* the listing's cost estimates (fresh rows, no statistics) would start a JIT compile of seconds */
	SET enable_mergejoin = off	/* the estimates of the steps are rough: sorting 200k wide rows for a merge costs more than hashing */
	SET work_mem = '256MB'	/* the members' steps and the INSERT's transition table (the segment and metrics triggers) stay in memory: 200k rows spilled about 170 MB to temporary files */
	AS $$
DECLARE
	d			jsonb := c.doc;
	purp		text := d ->> 'purpose';
	chans		text[] := ARRAY(SELECT x FROM pg_catalog.jsonb_array_elements_text(d -> 'channels') WITH ORDINALITY e(x, n) ORDER BY n);
	hold		float8 := (d ->> 'holdout')::float8;
	arm_names	text[];
	arm_upto	float8[];
	arm_lo		float8[];
	ids			bigint[];
	everyone	boolean := false;
	o			@extschema@.offer;
	offer_why	text;
	per_member	boolean := false;
	t0			timestamptz := GREATEST(t, coalesce((d ->> 'start')::timestamptz, t));
	day			date := (t0 AT TIME ZONE (d ->> 'timezone'))::date;
	vals_offer	jsonb := '{}';
	ctx			jsonb := pg_catalog.jsonb_build_object('segment', sg.segment_id, 'segment_version', sg.version);
	base		jsonb;
	chans_j		jsonb := pg_catalog.to_jsonb(chans);
	t_j			jsonb := pg_catalog.to_jsonb(t);
BEGIN
	SELECT pg_catalog.array_agg(a.key ORDER BY a.key), pg_catalog.array_agg(a.upto ORDER BY a.key)
	  INTO arm_names, arm_upto
	  FROM (SELECT x.key, pg_catalog.sum(x.value::text::float8) OVER (ORDER BY x.key) AS upto
	          FROM pg_catalog.jsonb_each(d -> 'arms') x) a;
	/* lower bounds of the arms: arm i holds [arm_lo[i], arm_lo[i + 1]) of the hash, as in campaign_arm */
	arm_lo := ARRAY[0::float8] || arm_upto[1:pg_catalog.cardinality(arm_upto) - 1];
	/* the members to decide: not listed yet, or skipped before (decided again); on the first
	   listing of the campaign every member (no anti-join against rows that do not exist: its
	   estimate, an empty table, made it a scan per member) */
	IF NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x WHERE x.campaign_id = c.campaign_id AND x.trigger_key = '') THEN
		everyone := true;
	ELSE
		SELECT coalesce(pg_catalog.array_agg(sm.golden_id), '{}') INTO ids
		  FROM @extschema@.segment_member sm
		 WHERE sm.segment_id = sg.segment_id
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.campaign_send x
		                    WHERE x.campaign_id = c.campaign_id AND x.golden_id = sm.golden_id AND x.trigger_key = ''
		                      AND x.status <> 'skipped');
		DELETE FROM @extschema@.campaign_send x USING pg_catalog.unnest(ids) u(g)
		 WHERE x.campaign_id = c.campaign_id AND x.golden_id = u.g AND x.trigger_key = '' AND x.status = 'skipped';
	END IF;
	IF d ? 'offer' THEN
		SELECT * INTO o FROM @extschema@.offer x WHERE x.offer_id = (d ->> 'offer')::bigint;
		/* the segment already applied its offer's rules to its members; the validity is the day's */
		IF sg.offer_id IS DISTINCT FROM o.offer_id THEN
			per_member := true;
		ELSIF o.status <> 'active' THEN
			offer_why := 'offer_archived';
		ELSIF day < (o.doc ->> 'valid_from')::date THEN
			offer_why := 'offer_not_yet_valid';
		ELSIF day > (o.doc ->> 'valid_to')::date THEN
			offer_why := 'offer_expired';
		END IF;
		vals_offer := pg_catalog.jsonb_build_object('offer_name', o.name,
			'offer_until', pg_catalog.to_char((o.doc ->> 'valid_to')::date, 'DD.MM.YYYY'));
	END IF;
	/* the provenance every row of this listing shares */
	base := pg_catalog.jsonb_build_object('campaign_version', c.version) || coalesce(ctx, '{}')
	        || CASE WHEN o.offer_id IS NOT NULL THEN pg_catalog.jsonb_build_object('offer', o.offer_id, 'offer_version', o.version) ELSE '{}' END;
	INSERT INTO @extschema@.campaign_send AS s (campaign_id, golden_id, trigger_key, purpose, status, reason, channel,
	                                             address, arm, due_at, built_at, message, provenance)
	WITH m AS MATERIALIZED (
		/* the members with the columns the decision reads (no whole-row values), holdout and arm by hash,
		   and the contact candidates of those who may get a message */
		SELECT sm.golden_id AS g, p.golden_id AS pid, p.status AS pstatus, p.city, p.given_name, p.patronymic, p.family_name,
		       sm.channels AS okch, pr.channel AS pref,
		       CASE WHEN hh.h < hold THEN 'holdout'
		            ELSE arm_names[LEAST(pg_catalog.width_bucket((hh.h - hold) / (1 - hold), arm_lo), pg_catalog.cardinality(arm_names))]
		       END AS arm,
		       CASE WHEN hh.h >= hold AND sm.channels && chans
		            THEN cdp_internal.campaign_contacts(chans, sm.channels, pr.channel, p.emails, p.phones, p.handles, p.address) END AS cand
		  FROM @extschema@.segment_member sm
		  /* a look-up by key per member (OFFSET 0 keeps it one): hashing a million wide profile rows costs more */
		  LEFT JOIN LATERAL (SELECT x.golden_id, x.status, x.city, x.given_name, x.patronymic, x.family_name, x.emails,
		                            x.phones, x.handles, x.address
		                       FROM @extschema@.patient x WHERE x.golden_id = sm.golden_id OFFSET 0) p ON true
		  LEFT JOIN cdp_internal.campaign_preference pr ON pr.golden_id = sm.golden_id
		 CROSS JOIN LATERAL (SELECT cdp_internal.campaign_hash(c.campaign_id, sm.golden_id) AS h) hh
		 WHERE sm.segment_id = sg.segment_id AND (everyone OR sm.golden_id = ANY (ids))),
	/* the keys no message may go to: blocked (hard bounce, complaint) or suppressed for the purpose */
	bad AS (
		SELECT b.address_key AS k FROM cdp_internal.campaign_address_block b
		UNION
		SELECT su.address_key FROM @extschema@.consent_suppression su WHERE su.purpose = purp AND su.suppressed),
	/* the members whose first candidate is bad: their first clean candidate further down */
	alt AS (
		SELECT DISTINCT ON (m.g) m.g, m.cand[2 * i - 1] AS ch, m.cand[2 * i] AS k
		  FROM m JOIN bad b1 ON b1.k = m.cand[2]
		 CROSS JOIN LATERAL pg_catalog.generate_series(2, pg_catalog.cardinality(m.cand) / 2) i
		 WHERE NOT EXISTS (SELECT 1 FROM bad b WHERE b.k = m.cand[2 * i])
		 ORDER BY m.g, i),
	other AS (
		SELECT x.golden_id AS g,
		       pg_catalog.count(*) FILTER (WHERE x.purpose = 'marketing'
		           AND (x.status = 'sent' AND x.sent_at > t0 - (d -> 'cap' ->> 'per')::interval
		                OR x.status = 'due' AND x.due_at > t0 - (d -> 'cap' ->> 'per')::interval
		                   AND x.due_at < t0 + (d -> 'cap' ->> 'per')::interval)) AS n_cap,
		       pg_catalog.max(x.sent_at) FILTER (WHERE x.status = 'sent') AS last_sent
		  FROM m
		  JOIN @extschema@.campaign_send x ON x.golden_id = m.g
		 WHERE d ? 'cap' AND x.campaign_id <> c.campaign_id AND x.status IN ('sent', 'due')
		 GROUP BY x.golden_id),
	/* the channel and address: the first candidate when it is clean, else the first clean one */
	chosen AS (
		SELECT m.*, ot.n_cap, ot.last_sent,
		       CASE WHEN b1.k IS NULL THEN m.cand[1] ELSE al.ch END AS ch,
		       CASE WHEN b1.k IS NULL THEN m.cand[2] ELSE al.k END AS addr
		  FROM m
		  LEFT JOIN other ot ON ot.g = m.g
		  LEFT JOIN bad b1 ON b1.k = m.cand[2]
		  LEFT JOIN alt al ON al.g = m.g),
	decided AS MATERIALIZED (
		SELECT m.g, m.city, m.given_name, m.patronymic, m.family_name, m.pref, m.arm, m.ch, m.addr,
		       CASE WHEN d -> 'cap' ? 'quiet' THEN GREATEST(t0, m.last_sent + (d -> 'cap' ->> 'quiet')::interval) ELSE t0 END AS not_before,
		       CASE WHEN m.pid IS NULL THEN 'erased'
		            WHEN m.pstatus = 'archived' THEN 'archived'
		            WHEN m.arm = 'holdout' THEN 'holdout'
		            WHEN d ->> 'end' IS NOT NULL AND t0 > (d ->> 'end')::timestamptz THEN 'campaign_ended'
		            WHEN offer_why IS NOT NULL THEN offer_why
		            WHEN ofr.w IS NOT NULL THEN
		                 CASE WHEN ofr.w IN ('expired', 'not_yet_valid', 'archived') THEN 'offer_' || ofr.w ELSE ofr.w END
		            WHEN m.ch IS NULL THEN
		                 CASE WHEN NOT m.okch && chans THEN 'no_consent' WHEN m.cand IS NULL THEN 'no_address' ELSE 'suppressed' END
		            WHEN purp = 'marketing' AND d -> 'cap' ? 'max' AND coalesce(m.n_cap, 0) >= (d -> 'cap' ->> 'max')::int THEN 'capped'
		       END AS why
		  FROM chosen m
		  /* the offer's rules for this member (only when the segment did not apply them) */
		  LEFT JOIN LATERAL (SELECT cdp_internal.offer_reason(p, o, day) AS w
		                       FROM @extschema@.patient p WHERE per_member AND p.golden_id = m.g) ofr ON true),
	/* the time zone once per city, the next moment inside the window once per zone and start */
	slots AS (
		SELECT z.city, z.nb, z.tz, cdp_internal.campaign_next_slot(z.nb, z.tz, d -> 'window') AS due
		  FROM (SELECT y.city, y.nb, cdp_internal.campaign_tz(y.city, d ->> 'timezone') AS tz
		          FROM (SELECT DISTINCT x.city, x.not_before AS nb FROM decided x WHERE x.why IS NULL) y) z),
	fin AS (
		SELECT x.*, sl.tz, sl.due, x.why IS NULL AND (d ->> 'end' IS NULL OR sl.due <= (d ->> 'end')::timestamptz) AS ok
		  FROM decided x
		  LEFT JOIN slots sl ON coalesce(sl.city, '') = coalesce(x.city, '') AND (sl.city IS NULL) = (x.city IS NULL)
		       AND sl.nb = x.not_before AND x.why IS NULL),
	/* the statement behind each message: the latest of the person's records for the purpose and
	   channel, for every member decided to get one (a few of them fall outside the window: their
	   statement is not used), so that fin is read once and need not be stored */
	stmt AS (
		SELECT DISTINCT ON (f.g) f.g, cs.event_id
		  FROM decided f
		  JOIN @extschema@.record r ON r.golden_id = f.g
		  /* keyed by record, purpose and channel (OFFSET 0 keeps the channel in the index condition:
		     the planner filtered a record's three statements after reading each) */
		  CROSS JOIN LATERAL (SELECT x.at, x.event_id FROM @extschema@.consent_statement x
		                       WHERE x.record_id = r.record_id AND x.purpose = purp AND x.channel = f.ch OFFSET 0) cs
		 WHERE f.why IS NULL
		 ORDER BY f.g, cs.at DESC, cs.event_id DESC)
	SELECT c.campaign_id, x.g, '', purp,
	       CASE WHEN x.why = 'holdout' THEN 'holdout' WHEN x.ok THEN 'due' ELSE 'skipped' END,
	       CASE WHEN x.why IS NULL AND NOT x.ok THEN 'outside_window' ELSE x.why END,
	       CASE WHEN x.ok THEN x.ch END,
	       CASE WHEN x.ok THEN x.addr END,
	       CASE WHEN x.why IN ('archived', 'erased') THEN NULL ELSE x.arm END,
	       CASE WHEN x.why = 'holdout' THEN t0 WHEN x.ok THEN x.due END,
	       t,
	       CASE WHEN x.ok THEN cdp_internal.campaign_fill(d -> 'templates' ->> x.ch, 'given_name', x.given_name,
	                'patronymic', x.patronymic, 'family_name', x.family_name,
	                'offer_name', vals_offer ->> 'offer_name', 'offer_until', vals_offer ->> 'offer_until') END,
	       /* one object per message, built once (no concatenation), from values converted once */
	       CASE WHEN NOT x.ok THEN base
	            WHEN o.offer_id IS NULL THEN
	                 pg_catalog.jsonb_build_object('campaign_version', c.version, 'segment', sg.segment_id, 'segment_version', sg.version,
	                     'channel_rule', CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans_j,
	                     'benefit', false, 'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t_j, 'event_id', st.event_id))
	            ELSE pg_catalog.jsonb_build_object('campaign_version', c.version, 'segment', sg.segment_id, 'segment_version', sg.version,
	                     'offer', o.offer_id, 'offer_version', o.version,
	                     'channel_rule', CASE WHEN x.ch = x.pref THEN 'preferred' ELSE 'priority' END, 'channels', chans_j,
	                     'benefit', false, 'timezone', x.tz, 'consent', pg_catalog.jsonb_build_object('checked_at', t_j, 'event_id', st.event_id))
	       END
	  FROM fin x LEFT JOIN stmt st ON st.g = x.g
	ON CONFLICT (campaign_id, golden_id, trigger_key) DO NOTHING;
END
$$;
COMMENT ON FUNCTION cdp_internal.campaign_list_set(@extschema@.campaign, @extschema@.segment, timestamptz) IS
	'writes the send-list rows of a segment''s members in one pass: the set form of campaign_decide (internal)';

REVOKE ALL ON FUNCTION cdp_internal.campaign_hash(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.campaign_render(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.campaign_fill(text, text[]) FROM PUBLIC;

/* ==== end of section: sendlist ==== */
