-- test/oracles/match_pairwise.sql: the per-pair path of a matching run, the oracle of the batch
-- path of cdp.run_matching (cdp_internal._match_run: _match_link_plan in C, then one link_records_many
-- call and one review insert).  It decides the scored pairs one at a time, strongest evidence
-- first: a person's decision wins; a pair already in one person is counted; placeholders and
-- the different-ids rule go to review; a pair over the link threshold (or forced) is checked by
-- _match_cannot_link (no_match decision between the persons, a household relation, wholly
-- different birth dates when birth_date is a disagree_never attr, different different_id_never
-- ids) and linked by cdp.link_records, else held and queued for review; a pair over the review
-- threshold is queued.  This was the product's first implementation (_match_run(mode, true));
-- it is test code now, created in schema cdp_test by the tests and benchmarks that use it:
--   test/pgtap/65_link_batch.sql        \ir ../oracles/match_pairwise.sql
--   test/bench/link_equivalence.sql     \ir ../oracles/match_pairwise.sql
-- Loading twice is harmless (IF NOT EXISTS, OR REPLACE).  Needs the cdp extension in schema cdp.
CREATE SCHEMA IF NOT EXISTS cdp_test;
COMMENT ON SCHEMA cdp_test IS 'test oracles of cdp (test/oracles/); never part of the extension';

-- _match_cannot_link: why the persons of records a and b must not be joined automatically (NULL:
-- they may).  never_pos: feature positions of the different_id_never attrs; the decision and
-- relation checks are skipped when the caller knows those tables are empty.
CREATE OR REPLACE FUNCTION cdp_test._match_cannot_link(a bigint, b bigint, never_pos int[], never_attr text[],
		check_decisions boolean, check_relations boolean, dob_pos int) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	ga bigint;
	gb bigint;
	i int;
BEGIN
	SELECT r.golden_id INTO ga FROM cdp.record r WHERE r.record_id = a;
	SELECT r.golden_id INTO gb FROM cdp.record r WHERE r.record_id = b;
	IF check_decisions AND EXISTS (
		SELECT 1 FROM cdp.record ra JOIN cdp.pair_decision d ON d.record_a = ra.record_id OR d.record_b = ra.record_id
		         JOIN cdp.record rb ON rb.record_id = CASE WHEN d.record_a = ra.record_id THEN d.record_b ELSE d.record_a END
		 WHERE ra.golden_id = ga AND rb.golden_id = gb AND d.decision = 'no_match') THEN
		RETURN 'решение «не совпадают» между этими людьми';
	END IF;
	IF check_relations AND EXISTS (
		SELECT 1 FROM cdp.record ra JOIN cdp_internal.household h ON h.record_a = ra.record_id OR h.record_b = ra.record_id
		         JOIN cdp.record rb ON rb.record_id = CASE WHEN h.record_a = ra.record_id THEN h.record_b ELSE h.record_a END
		 WHERE ra.golden_id = ga AND rb.golden_id = gb) THEN
		RETURN 'записаны как родственники';
	END IF;
	-- two persons whose birth dates are wholly different (not a swap, a slip of one digit or the same
	-- year) are different people, whatever identifier a record of one of them carries
	IF dob_pos IS NOT NULL AND EXISTS (
		SELECT 1 FROM cdp.record ra JOIN cdp_internal.match_key ka ON ka.record_id = ra.record_id,
		              cdp.record rb JOIN cdp_internal.match_key kb ON kb.record_id = rb.record_id
		 WHERE ra.golden_id = ga AND rb.golden_id = gb
		   AND pg_catalog.left(ka.feat[dob_pos], 4) <> pg_catalog.left(kb.feat[dob_pos], 4)
		   AND cdp.osa_distance(ka.feat[dob_pos], kb.feat[dob_pos], 1) > 1) THEN
		RETURN 'у этих людей разные даты рождения';
	END IF;
	FOR i IN 1 .. COALESCE(pg_catalog.cardinality(never_pos), 0) LOOP
		IF EXISTS (SELECT 1 FROM cdp.record ra JOIN cdp_internal.match_key ka ON ka.record_id = ra.record_id,
		                         cdp.record rb JOIN cdp_internal.match_key kb ON kb.record_id = rb.record_id
		            WHERE ra.golden_id = ga AND rb.golden_id = gb
		              AND ka.feat[never_pos[i]] <> kb.feat[never_pos[i]]) THEN
			RETURN 'у этих людей разные ' || cdp_internal._match_attr_label(never_attr[i]);
		END IF;
	END LOOP;
	RETURN NULL;
END $$;
COMMENT ON FUNCTION cdp_test._match_cannot_link(bigint, bigint, int[], text[], boolean, boolean, int) IS
	'test oracle: the cannot-link constraint between the persons of two records (no_match decision, relation, wholly different birth dates when dob_pos is given, different ids), or NULL';

-- _match_to_review: puts a pair in the review queue (a decided pair stays decided)
CREATE OR REPLACE FUNCTION cdp_test._match_to_review(v int, p record, reason text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	inserted boolean;
BEGIN
	INSERT INTO cdp_internal.match_review AS q (record_a, record_b, score, weight, levels, flags, version, reason)
	VALUES (p.record_a, p.record_b, p.probability, p.weight, p.levels, p.flags, v, reason)
	ON CONFLICT (record_a, record_b) DO UPDATE
	   SET score = excluded.score, weight = excluded.weight, levels = excluded.levels, flags = excluded.flags,
	       version = excluded.version, reason = excluded.reason
	 WHERE q.status = 'open'
	RETURNING q.xmax = 0 INTO inserted;
	RETURN COALESCE(inserted, false);
END $$;
COMMENT ON FUNCTION cdp_test._match_to_review(int, record, text) IS 'test oracle: queues a pair for review unless a person already decided it; true when the pair is new to the queue';

/*
 * match_run_pairwise('full'): what cdp.run_matching('full') does, with the per-pair decisions.
 * Keys and scores come from the product (_match_refresh_keys, _match_pairs): every record is
 * re-keyed, which gives the keys a full run keeps or recomputes.  It returns the counts the run
 * returns (without "times") and, unlike the run, neither takes the run's advisory lock nor
 * empties cdp_internal.match_queue nor writes cdp_internal.match_run: the tests compare events, records,
 * redirects, membership, profiles and the review queue, which those do not touch.
 */
CREATE OR REPLACE FUNCTION cdp_test.match_run_pairwise(mode text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
	a record;
	p record;
	why text;
	i bigint := 0;
	-- the counts run_matching returns
	processed bigint; candidates bigint := 0; already bigint := 0; decided bigint := 0;
	linked bigint := 0; held bigint := 0; queued bigint := 0;
	-- thresholds and the constraint features: positions of the different_id_never attrs and of
	-- a disagree_never birth date in the feature vector
	link_t float8; review_t float8; never_pos int[]; never_attr text[]; dob_pos int;
	has_decisions boolean := EXISTS (SELECT 1 FROM cdp.pair_decision d WHERE d.decision = 'no_match');
	has_relations boolean := EXISTS (SELECT 1 FROM cdp_internal.household);
BEGIN
	IF mode IS DISTINCT FROM 'full' THEN
		RAISE EXCEPTION 'cdp_test.match_run_pairwise runs mode "full" only' USING ERRCODE = '22023';
	END IF;
	a := cdp_internal._match_active();
	link_t := (a.settings ->> 'link_threshold')::float8;
	review_t := (a.settings ->> 'review_threshold')::float8;
	SELECT array_agg(y.fpos ORDER BY y.comp), array_agg(y.attr ORDER BY y.comp) INTO never_pos, never_attr
	  FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr IN (SELECT cdp_internal._match_attr_column(x) FROM jsonb_array_elements_text(a.settings -> 'rules' -> 'different_id_never') x);
	dob_pos := (SELECT y.fpos FROM cdp_internal._match_layout(a.settings) y
	             WHERE y.attr = 'birth_date' AND y.comparator = 'date' AND a.settings -> 'rules' -> 'disagree_never' ? 'birth_date');
	PERFORM cdp_internal._match_refresh_suspicious();
	PERFORM cdp_internal._match_refresh_keys(NULL);
	processed := (SELECT count(*) FROM cdp_internal.match_key);
	CREATE TEMP TABLE _cdp_test_scored ON COMMIT DROP AS SELECT * FROM cdp_internal._match_pairs(NULL, review_t);
	SELECT count(*), count(*) FILTER (WHERE s.golden_a = s.golden_b) INTO candidates, already FROM _cdp_test_scored s;

	-- strongest evidence first, so a weak pair never decides before a strong one
	FOR p IN SELECT s.* FROM _cdp_test_scored s WHERE s.golden_a <> s.golden_b
	          ORDER BY (s.flags & 256 <> 0) DESC, s.probability DESC, s.record_a, s.record_b LOOP
		i := i + 1;
		IF i % 50000 = 0 THEN
			RAISE NOTICE 'run_matching: % of % pairs decided (% linked, % queued)', i, candidates - already, linked, queued;
		END IF;
		-- a person's decision wins, both ways
		IF EXISTS (SELECT 1 FROM cdp.pair_decision d WHERE d.record_a = p.record_a AND d.record_b = p.record_b) THEN
			decided := decided + 1;
			CONTINUE;
		END IF;
		IF (SELECT r.golden_id FROM cdp.record r WHERE r.record_id = p.record_a)
		   = (SELECT r.golden_id FROM cdp.record r WHERE r.record_id = p.record_b) THEN
			already := already + 1;
			CONTINUE;
		END IF;
		why := NULL;
		IF p.flags & 1024 <> 0 THEN
			why := 'запись-заглушка';
		ELSIF p.flags & 512 <> 0 THEN
			-- a vetoed pair that only a shared phone or id argues for is not queued (issue 12)
			IF p.flags & 8192 <> 0 THEN
				CONTINUE;
			END IF;
			why := 'правило: разные идентификаторы, имя или дата рождения';
		ELSIF p.probability >= link_t OR p.flags & 256 <> 0 THEN
			why := cdp_test._match_cannot_link(p.record_a, p.record_b, never_pos, never_attr, has_decisions, has_relations, dob_pos);
			IF why IS NULL THEN
				-- link_records returns NULL when a person's no_match decision forbids the join
				IF cdp.link_records(p.record_a, p.record_b, pg_catalog.jsonb_build_object(
					'by', 'run_matching', 'record_a', p.record_a, 'record_b', p.record_b, 'probability', p.probability, 'weight', pg_catalog.round(p.weight::numeric, 3),
					'rule', a.settings -> 'blocking' -> p.rule, 'forced', p.flags & 256 <> 0,
					'levels', p.levels, 'settings_version', a.version)) IS NOT NULL THEN
					linked := linked + 1;
					CONTINUE;
				END IF;
				why := 'решение «не совпадают» между этими людьми';
			END IF;
			held := held + 1;
		END IF;
		IF p.probability >= review_t OR why IS NOT NULL THEN
			IF cdp_test._match_to_review(a.version, p, why) THEN
				queued := queued + 1;
			END IF;
		END IF;
	END LOOP;
	DROP TABLE _cdp_test_scored;
	RETURN jsonb_build_object('mode', mode, 'settings_version', a.version, 'trained', a.params IS NOT NULL,
		'processed', processed, 'candidates', candidates, 'already_same_person', already, 'linked', linked,
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided);
END $$;
COMMENT ON FUNCTION cdp_test.match_run_pairwise(text) IS
	'test oracle: run_matching(''full'') deciding and linking pair by pair (_match_cannot_link, link_records, _match_to_review)';
