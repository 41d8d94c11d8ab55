/*
 * sql/parts/64_match_program.sql: matching: parameters, the kernel program, and evidence that is no evidence.
 */

/* ---------------------------------------------------------------- parameters and program */

-- _match_params: trained parameters of the active version, or untrained defaults: per comparison
-- m and u (one per level, "else" last) and lambda.
CREATE FUNCTION cdp_internal._match_params(s jsonb, p jsonb) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(p, pg_catalog.jsonb_build_object(
		'lambda', s -> 'lambda',
		'trained', false,
		'm', (SELECT pg_catalog.jsonb_agg(
				(SELECT pg_catalog.jsonb_agg(CASE WHEN l = nl THEN 0.02 ELSE 0.98 * pg_catalog.power(0.25, l) * 0.75 END ORDER BY l)
				   FROM pg_catalog.generate_series(0, nl) l) ORDER BY o)
			  FROM (SELECT o, pg_catalog.jsonb_array_length(c -> 'levels') AS nl
			          FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)) x),
		'u', (SELECT pg_catalog.jsonb_agg(
				(SELECT pg_catalog.jsonb_agg(CASE WHEN l = nl THEN 0.9 ELSE 0.01 * (l + 1) END ORDER BY l)
				   FROM pg_catalog.generate_series(0, nl) l) ORDER BY o)
			  FROM (SELECT o, pg_catalog.jsonb_array_length(c -> 'levels') AS nl
			          FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)) x)))
$$;
COMMENT ON FUNCTION cdp_internal._match_params(jsonb, jsonb) IS 'internal: trained m, u and lambda, or untrained defaults';

-- _match_compile_program: compiles expanded settings and their parameters (as _match_params
-- returns them) into the packed float8[] the kernel decodes, in C from the constants the kernel
-- reads it with (src/match_compile.c MatchCompileProgram; layout in src/match.h).
CREATE FUNCTION cdp_internal._match_compile_program(s jsonb, params jsonb) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'cdp_match_compile_program'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_compile_program(jsonb, jsonb) IS
	'internal: the kernel''s program of expanded settings and parameters (C)';

-- _match_program: the kernel program of settings s with trained parameters p (NULL: the untrained
-- defaults of _match_params).
CREATE FUNCTION cdp_internal._match_program(s jsonb, p jsonb) RETURNS float8[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN cdp_internal._match_compile_program(s, cdp_internal._match_params(s, p));
COMMENT ON FUNCTION cdp_internal._match_program(jsonb, jsonb) IS 'internal: compiles settings and parameters into the kernel''s program';

-- _match_query: the kernel's record query over match_key (optionally only records sharing a
-- blocking key with the focus records, through the index on match_block's keys; the keys of the
-- rules a walk pairs by only: a lookup_blocking rule's key, "r<n>:..." with n past
-- _match_walked_rules, finds no pair, so its block mates are not read; issue 12, session 40).
-- with_golden false: no join to cdp.record for the golden ids (the walk reports each record as its
-- own person), for a lookup that reads the golden ids of the few pairs it keeps.
CREATE FUNCTION cdp_internal._match_query(focus bigint[], with_golden boolean DEFAULT true) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE WHEN with_golden IS DISTINCT FROM false
	            THEN 'SELECT k.record_id, r.golden_id, k.flags, k.feat, k.bk FROM cdp_internal.match_key k JOIN @extschema@.record r USING (record_id)'
	            ELSE 'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k' END
		|| CASE WHEN focus IS NULL THEN ''
		        ELSE pg_catalog.format(' WHERE k.record_id IN (SELECT pg_catalog.unnest(%1$L::bigint[]) UNION SELECT m.record_id FROM cdp_internal.match_block f'
		                               ' JOIN cdp_internal.match_block m ON m.bk = f.bk WHERE f.record_id = ANY (%1$L::bigint[])'
		                               ' AND pg_catalog.substr(f.bk, 2, pg_catalog.strpos(f.bk, '':'') - 2)::int'
		                               ' < (SELECT cdp_internal._match_walked_rules(s.settings) FROM cdp_internal.match_settings s WHERE s.active))', focus) END;
COMMENT ON FUNCTION cdp_internal._match_query(bigint[], boolean) IS 'internal: the kernel''s record query, all records or the focus records and their block mates';

-- _match_pairs: scored candidate pairs of the active settings (all, or involving focus records).
CREATE FUNCTION cdp_internal._match_pairs(focus bigint[], min_prob float8)
	RETURNS TABLE (record_a bigint, record_b bigint, golden_a bigint, golden_b bigint, rule int,
	               weight float8, probability float8, flags int, levels smallint[])
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
BEGIN
	IF focus IS NULL AND cdp_internal._match_nparts() > 1 THEN
		-- every record, many pairs per record: the blocks are scored by parallel workers
		RETURN QUERY SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
		  FROM cdp_internal._match_walk_all('score', cdp_internal._match_query(NULL), a.program,
		                                   a.version, min_prob, (a.settings ->> 'max_block_size')::int, 0,
		                                   cdp_internal._match_nparts()) w;
		RETURN;
	END IF;
	RETURN QUERY SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
	  FROM cdp_internal._match_walk('score', cdp_internal._match_query(focus), a.program,
	                               a.version, min_prob, (a.settings ->> 'max_block_size')::int, 0, focus) w;
END $$;
COMMENT ON FUNCTION cdp_internal._match_pairs(bigint[], float8) IS 'internal: scored candidate pairs (probability >= min_prob, or forced by a rule)';

/* ---------------------------------------------------------------- evidence that is no evidence */

-- Counted in hash aggregates, with the threshold read once: count(DISTINCT) per group sorted every
-- value and called matching_settings() per group, several seconds at 200k records (issue 12, speed).
-- A value left by N persons is in N records or more, so the persons are counted only for the values
-- in as many records as the threshold: the values and names are read once (the CTE), counted by value,
-- and only the rows of the few frequent values are grouped by person and lowercased (a NULL element
-- is a value as in a GROUP BY; issue 12, session 31: at 1M records 854k phones and e-mails made 697k
-- value-person groups)
CREATE VIEW @extschema@.suspicious_values WITH (security_invoker = true) AS
	WITH v AS MATERIALIZED (
	        SELECT 'phones'::text AS attr, pg_catalog.regexp_replace(pg_catalog.unnest(r.phones)::text, '\D', '', 'g') AS value,
	               r.family_name, r.given_name
	          FROM @extschema@.record r
	        UNION ALL
	        SELECT 'emails'::text, pg_catalog.lower(pg_catalog.btrim(pg_catalog.unnest(r.emails)::text)), r.family_name, r.given_name
	          FROM @extschema@.record r),
	     t AS (SELECT COALESCE((@extschema@.matching_settings() ->> 'suspicious_min_persons')::int, 5) AS min_persons)
	SELECT x.attr, x.value, pg_catalog.count(*)::int AS persons, pg_catalog.sum(x.n)::int AS records
	  FROM (SELECT v.attr, v.value, pg_catalog.lower(COALESCE(v.family_name, '') || ' ' || COALESCE(v.given_name, '')) AS person,
	               pg_catalog.count(*) AS n
	          FROM v
	         WHERE (v.attr, COALESCE(v.value, ''), v.value IS NULL)
	               IN (SELECT f.attr, COALESCE(f.value, ''), f.value IS NULL FROM v f GROUP BY f.attr, f.value
	                    HAVING pg_catalog.count(*) >= (SELECT t.min_persons FROM t))
	         GROUP BY v.attr, v.value, 3) x
	 GROUP BY x.attr, x.value
	HAVING pg_catalog.count(*) >= (SELECT t.min_persons FROM t)
	UNION ALL
	-- the birth dates that are no evidence (issue 12, session 39): a clinic's placeholder day
	-- (01.01.1900, the day the system went live, a default the form filled in) is carried by hundreds
	-- of people, and matching read any agreeing birth date as strong evidence.  A date is suspicious
	-- when the differently named people carrying it (persons as for a phone) are at least the
	-- threshold and at least ten times (SUSP_DATE_FACTOR, src/match_suspicious.c) the median
	-- number of records a birth date of the population has (percentile_disc): the population's own
	-- distribution, so a small clinic (median 1) needs the threshold, and at 1M records (median 22
	-- records a day; the most of an ordinary day 50-110, the day and month exchanged of a
	-- placeholder included) 220, where the generator's placeholder day has 4,400 names.  Twins, a
	-- family and one person's many records are far under it.  No fixed list of "classic"
	-- placeholder days: 01.01.1970 is a real birthday of real people, and a placeholder in use is
	-- found by its count.  The records are counted per date first (a hash aggregate); the names
	-- are read only for the dates over the threshold in records (a date has no more persons than
	-- records).  The value is to_char(date, 'YYYY-MM-DD').
	(WITH d AS MATERIALIZED (
	         SELECT r.birth_date AS d, pg_catalog.count(*) AS n
	           FROM @extschema@.record r
	          WHERE r.birth_date IS NOT NULL
	          GROUP BY r.birth_date),
	      t AS (SELECT GREATEST(COALESCE((@extschema@.matching_settings() ->> 'suspicious_min_persons')::int, 5)::bigint,
	                            10 * pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY d.n)) AS m FROM d)
	 SELECT 'birth_date'::text, pg_catalog.to_char(x.birth_date, 'YYYY-MM-DD'),
	        pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(x.family_name, '') || ' ' || COALESCE(x.given_name, '')))::int,
	        pg_catalog.count(*)::int
	   FROM @extschema@.record x
	  WHERE x.birth_date IN (SELECT d.d FROM d, t WHERE d.n >= t.m)
	  GROUP BY x.birth_date
	 HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(x.family_name, '') || ' ' || COALESCE(x.given_name, '')))
	        >= (SELECT t.m FROM t));
COMMENT ON VIEW @extschema@.suspicious_values IS
	'phone numbers and e-mails shared by suspicious_min_persons or more differently named people (a reception phone, test@test.ru), and birth dates (YYYY-MM-DD) carried by far more people than a day of the population has (a placeholder date): not evidence for matching';

-- _match_suspicious_digest: the inputs of cdp.suspicious_values as they are now: the threshold, and
-- the count and an order-free digest (a sum of 64-bit hashes, each column hashed under its own
-- seed, a null as its seed) of the names, phones, e-mails and birth dates of the records that hold
-- a phone, an e-mail or a birth date (a record without any adds nothing to the view).  One scan, a
-- few times cheaper than the view's aggregates.  A date is hashed as its text under the session's
-- DateStyle: another DateStyle only makes the next refresh take the snapshot again.
CREATE FUNCTION cdp_internal._match_suspicious_digest(OUT min_persons int, OUT records bigint, OUT digest numeric)
	LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT (SELECT COALESCE((@extschema@.matching_settings() ->> 'suspicious_min_persons')::int, 5)),
	       pg_catalog.count(*),
	       COALESCE(pg_catalog.sum(COALESCE(pg_catalog.hashtextextended(r.family_name, 1), 1)
	                           OPERATOR(pg_catalog.#) COALESCE(pg_catalog.hashtextextended(r.given_name, 2), 2)
	                           OPERATOR(pg_catalog.#) COALESCE(pg_catalog.hashtextextended(r.phones::text, 3), 3)
	                           OPERATOR(pg_catalog.#) COALESCE(pg_catalog.hashtextextended(r.emails::text, 4), 4)
	                           OPERATOR(pg_catalog.#) COALESCE(pg_catalog.hashtextextended(r.birth_date::text, 5), 5)), 0)
	  FROM @extschema@.record r
	 WHERE r.phones IS NOT NULL OR r.emails IS NOT NULL OR r.birth_date IS NOT NULL
$$;
COMMENT ON FUNCTION cdp_internal._match_suspicious_digest() IS
	'internal: the threshold, count and digest of the records cdp.suspicious_values reads (names, phones, e-mails, birth dates)';

-- _match_suspicious_scan: the rows of cdp.suspicious_values with a value other than '' under the
-- threshold min_persons (the caller's reading of the view's own expression), from one scan of
-- cdp.record in C (src/match_suspicious.c; issue 12, session 37: the view took 5-9 s of the first
-- training at 1M records); the arrays hold the rows in (attr, value) order.  NULL when the scan
-- cannot stand in for the view (Citus, row-level security for the caller, no SELECT, another
-- table layout): the caller evaluates the view.
CREATE FUNCTION cdp_internal._match_suspicious_scan(min_persons int, OUT attrs text[], OUT vals text[], OUT persons int[])
	AS 'MODULE_PATHNAME', 'cdp_match_suspicious_scan'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal._match_suspicious_scan(int) IS
	'internal: the rows of cdp.suspicious_values (value <> '''') from one scan of the records (C); NULL when the view must be evaluated instead';
REVOKE ALL ON FUNCTION cdp_internal._match_suspicious_scan(int) FROM PUBLIC;

-- _match_refresh_suspicious: snapshots cdp.suspicious_values into match_suspicious; true when the
-- set changed.  The view is not evaluated again while the threshold and the digest of what it reads
-- (_match_suspicious_digest) are those the snapshot was taken under and the snapshot still has the
-- rows it had then (match_suspicious_source; erasure deletes rows): the view is a function of the
-- records it reads, so the snapshot is what it would compute, and a full run right after training
-- skips it (issue 12: 9.6 s of 1M records, twice).  The digest is read before the view
-- (a record committed between the two is in the snapshot but not in the digest, so the next call
-- sees another digest and takes the snapshot again: never a stale skip).  Callers hold the
-- matching lock (advisory 6).  jit = off: the view's plan over 1M records is priced far above the
-- JIT thresholds, and compiling it took 2.5-3 s in the backend and in each parallel worker (7-8 s
-- of CPU for a 5 s query; session 33).  The snapshot's rows come from _match_suspicious_scan (C,
-- session 37; birth dates since session 39), the view only when that returns NULL.
CREATE FUNCTION cdp_internal._match_refresh_suspicious() RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	changed boolean;
	d record := cdp_internal._match_suspicious_digest();
	sc record;
BEGIN
	IF EXISTS (SELECT 1 FROM cdp_internal.match_suspicious_source s
	            WHERE s.min_persons = d.min_persons AND s.records = d.records AND s.digest = d.digest
	              AND s.snapshot = (SELECT pg_catalog.count(*) FROM cdp_internal.match_suspicious)) THEN
		RETURN false;
	END IF;
	SELECT * INTO sc FROM cdp_internal._match_suspicious_scan(d.min_persons);
	CREATE TEMP TABLE _cdp_susp (attr text, value text, persons int) ON COMMIT DROP;
	IF sc.attrs IS NULL THEN
		INSERT INTO _cdp_susp (attr, value, persons)
		SELECT v.attr, v.value, v.persons FROM @extschema@.suspicious_values v WHERE v.value <> '';
	ELSE
		INSERT INTO _cdp_susp (attr, value, persons)
		SELECT u.attr, u.value, u.persons FROM ROWS FROM (pg_catalog.unnest(sc.attrs), pg_catalog.unnest(sc.vals), pg_catalog.unnest(sc.persons)) AS u(attr, value, persons);
	END IF;
	SELECT EXISTS (SELECT attr, value FROM _cdp_susp EXCEPT SELECT attr, value FROM cdp_internal.match_suspicious)
	    OR EXISTS (SELECT attr, value FROM cdp_internal.match_suspicious EXCEPT SELECT attr, value FROM _cdp_susp)
	  INTO changed;
	IF changed THEN
		DELETE FROM cdp_internal.match_suspicious;
		INSERT INTO cdp_internal.match_suspicious (attr, value, persons) SELECT * FROM _cdp_susp;
	END IF;
	DROP TABLE _cdp_susp;
	DELETE FROM cdp_internal.match_suspicious_source;
	INSERT INTO cdp_internal.match_suspicious_source (min_persons, records, digest, snapshot)
	VALUES (d.min_persons, d.records, d.digest, (SELECT pg_catalog.count(*) FROM cdp_internal.match_suspicious));
	RETURN changed;
END $$;
COMMENT ON FUNCTION cdp_internal._match_refresh_suspicious() IS 'internal: snapshots cdp.suspicious_values into cdp.match_suspicious (not again while the records it reads are the same); true when the set changed';

CREATE FUNCTION @extschema@.relate_records(a bigint, b bigint, relation text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF a IS NULL OR b IS NULL OR relation IS NULL THEN
		RAISE EXCEPTION 'record ids and relation must not be null' USING ERRCODE = '22004';
	END IF;
	IF a = b THEN
		RAISE EXCEPTION 'a record cannot be related to itself' USING ERRCODE = '22023';
	END IF;
	IF relation NOT IN ('household', 'spouse', 'parent', 'child', 'sibling', 'twin', 'guardian', 'other') THEN
		RAISE EXCEPTION 'unknown relation "%"', relation USING ERRCODE = '22023',
			HINT = 'Use household, spouse, parent, child, sibling, twin, guardian or other.';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record WHERE record_id IN (a, b)) <> 2 THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', a, b USING ERRCODE = '22023';
	END IF;
	INSERT INTO cdp_internal.household (record_a, record_b, relation) VALUES (LEAST(a, b), GREATEST(a, b), relation)
		ON CONFLICT DO NOTHING;
	PERFORM cdp_internal.append_event('record.related', LEAST(a, b), NULL,
		pg_catalog.jsonb_build_object('record_a', LEAST(a, b), 'record_b', GREATEST(a, b), 'relation', relation));
END $$;
COMMENT ON FUNCTION @extschema@.relate_records(bigint, bigint, text) IS
	'records two records as related different people (household, spouse, twin ...): never merged, never linked automatically; e.g. relate_records(1, 2, ''twin'')';
