/*
 * sql/parts/61_match_kernel.sql: matching: the C kernel's SQL entry points and value normalisation.
 */

/* ---------------------------------------------------------------- C kernel */

CREATE FUNCTION cdp_internal._match_walk(mode text, query text, program float8[], tf_version int,
		min_prob float8, max_block int, sample bigint, focus bigint[],
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp_match_walk'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cdp_internal._match_walk(text, text, float8[], int, float8, int, bigint, bigint[]) IS
	'internal: the matching kernel (modes score, run = score with the golden ids read from cdp.record, count, patterns, sample, train = sample then patterns, cross) over the rows of query';
REVOKE ALL ON FUNCTION cdp_internal._match_walk(text, text, float8[], int, float8, int, bigint, bigint[]) FROM PUBLIC;

-- One part of a walk: only the blocks whose key hash is part modulo nparts.  PARALLEL SAFE (it only
-- reads), so _match_walk_all runs one call per part in the parallel workers of a Gather node.  A
-- part from nparts to 63 walks nothing (the callers call it for every row of match_part).
CREATE FUNCTION cdp_internal._match_walk_part(part int, nparts int, mode text, query text, program float8[],
		tf_version int, min_prob float8, max_block int, sample bigint, focus bigint[],
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp_match_walk_part'
	LANGUAGE C VOLATILE PARALLEL SAFE COST 1000000 ROWS 100000;
COMMENT ON FUNCTION cdp_internal._match_walk_part(int, int, text, text, float8[], int, float8, int, bigint, bigint[]) IS
	'internal: the matching kernel over the blocks of one part (key hash modulo nparts; nothing for a part >= nparts), for parallel workers';
REVOKE ALL ON FUNCTION cdp_internal._match_walk_part(int, int, text, text, float8[], int, float8, int, bigint, bigint[]) FROM PUBLIC;

-- The parts a parallel walk is cut into: one row per page (fillfactor 10, a 1000-byte pad), so that
-- a parallel sequential scan hands each process its own part.  Up to 8 workers: a full run's 8
-- parts are walked by the workers alone (_match_run, issue 12, session 31).  A walk reads all eight
-- rows, those past its parts walking nothing: with a filter on part, an ANALYZE of this table (a
-- DBA's database-wide one) made the planner estimate one row and walk every part in one process,
-- 25.6 s against 15 s for the 1M full run's block and score step (issue 12, session 41).
CREATE TABLE cdp_internal.match_part (
	part int PRIMARY KEY,
	pad  text NOT NULL
) WITH (fillfactor = 10, parallel_workers = 8);
INSERT INTO cdp_internal.match_part SELECT p, pg_catalog.repeat('-', 1000) FROM pg_catalog.generate_series(0, 7) p;
COMMENT ON TABLE cdp_internal.match_part IS
	'internal: part numbers 0..7, one per page, that a parallel matching walk hands out to its workers (no personal data)';
ALTER TABLE cdp_internal.match_part ENABLE ROW LEVEL SECURITY;

-- _match_nparts: how many parts a whole walk is cut into.  Each part loads every record itself, so
-- parallel workers pay only when scoring outweighs loading: when the last training counted at least
-- 10 candidate pairs per record (1M generated records: 42; 100k: 5); then 1 +
-- max_parallel_workers_per_gather parts (at most 8), else 1.
CREATE FUNCTION cdp_internal._match_nparts() RETURNS int
	LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN COALESCE((s.params ->> 'blocked_pairs')::float8, 0)
	                 >= 10 * GREATEST(COALESCE((s.params ->> 'records')::float8, 0), 1)
	            THEN 1 + LEAST(GREATEST(pg_catalog.current_setting('max_parallel_workers_per_gather')::int, 0), 7)
	            ELSE 1 END
	  FROM cdp_internal.match_settings s WHERE s.active
$$;
COMMENT ON FUNCTION cdp_internal._match_nparts() IS
	'internal: parts of a whole matching walk (1 + max_parallel_workers_per_gather when the trained blocking yields >= 10 candidate pairs per record, else 1)';

-- _match_cpus: the processors the server may use: those online on its machine, fewer under a
-- container's CPU quota (cgroup v2 cpu.max, v1 cpu.cfs_quota_us; issue 12, session 32); NULL where
-- the system does not say.  A whole run cuts its walk into no more parts than this (_match_run):
-- each part loads every record, so a part beyond the cores repeats a load and scores no sooner
-- (issue 12, session 31).
CREATE FUNCTION cdp_internal._match_cpus() RETURNS int
	AS 'MODULE_PATHNAME', 'cdp_match_cpus'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_cpus() IS
	'internal: the processors the server may use (online processors, fewer under a cgroup CPU quota), or NULL; a full run walks in at most this many parts';

-- _match_walk_all: a whole walk (no focus) cut into nparts parts, one _match_walk_part call per part
-- under a Gather node: every core scores blocks.  Rows of the count and patterns modes come once
-- per part: the caller sums them.  nparts 1: the plain serial walk.
CREATE FUNCTION cdp_internal._match_walk_all(mode text, query text, program float8[], tf_version int,
		min_prob float8, max_block int, sample bigint, nparts int,
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET parallel_setup_cost = 0 SET parallel_tuple_cost = 0 SET min_parallel_table_scan_size = 0 SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF nparts IS NULL OR nparts <= 1 THEN
		RETURN QUERY SELECT w.* FROM cdp_internal._match_walk(mode, query, program, tf_version, min_prob,
		                                                     max_block, sample, NULL) w;
		RETURN;
	END IF;
	nparts := LEAST(nparts, 8);
	-- (every row of match_part, not WHERE p.part < nparts: see match_part)
	RETURN QUERY SELECT w.* FROM cdp_internal.match_part p
	  CROSS JOIN LATERAL cdp_internal._match_walk_part(p.part, nparts, mode, query, program, tf_version,
	                                                  min_prob, max_block, sample, NULL) w;
END $$;
COMMENT ON FUNCTION cdp_internal._match_walk_all(text, text, float8[], int, float8, int, bigint, int) IS
	'internal: the matching kernel over every record, cut into nparts parts walked by parallel processes';
REVOKE ALL ON FUNCTION cdp_internal._match_walk_all(text, text, float8[], int, float8, int, bigint, int) FROM PUBLIC;

CREATE FUNCTION cdp_internal._match_em(levels smallint[], counts float8[], nlev int[], u float8[],
		m float8[], lambda float8, iterations int, fixed boolean[], update_m boolean) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'cdp_match_em'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_em(smallint[], float8[], int[], float8[], float8[], float8, int, boolean[], boolean) IS
	'internal: EM of m (unless update_m is false) and lambda over level-vector counts with u fixed, comparisons marked fixed left out; returns m (9 per comparison) then lambda';

/* ---------------------------------------------------------------- normalisation */

-- The comparison form of names and strings is the text family's normalize_name (NFKC, lower case,
-- ё as е, no punctuation); the "key" level and ".key" blocking use its name_base_key (one Latin key
-- for any spelling, gender-neutral surname and patronymic, canonical given name: Маша = Мария).
CREATE FUNCTION cdp_internal._match_norm(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN NULLIF(@extschema@.normalize_name(v), '');
COMMENT ON FUNCTION cdp_internal._match_norm(text) IS 'internal: the comparison form of a text value (cdp.normalize_name, NULL when empty)';

CREATE FUNCTION cdp_internal._match_name_key(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN NULLIF(@extschema@.name_base_key(v), '');
COMMENT ON FUNCTION cdp_internal._match_name_key(text) IS 'internal: the name key compared by the "key" level (cdp.name_base_key, NULL when empty)';

CREATE FUNCTION cdp_internal._match_date(v text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE
		WHEN v ~ '^\s*\d{4}-?\d{2}-?\d{2}' THEN pg_catalog.substr(pg_catalog.regexp_replace(v, '\D', '', 'g'), 1, 8)
		WHEN v ~ '^\s*\d{1,2}[./]\d{1,2}[./]\d{4}\s*$' THEN
			pg_catalog.split_part(pg_catalog.regexp_replace(v, '\s', '', 'g'), pg_catalog.substr(pg_catalog.regexp_replace(v, '[\d\s]', '', 'g'), 1, 1), 3)
			|| pg_catalog.lpad(pg_catalog.split_part(pg_catalog.regexp_replace(v, '\s', '', 'g'), pg_catalog.substr(pg_catalog.regexp_replace(v, '[\d\s]', '', 'g'), 1, 1), 2), 2, '0')
			|| pg_catalog.lpad(pg_catalog.split_part(pg_catalog.regexp_replace(v, '\s', '', 'g'), pg_catalog.substr(pg_catalog.regexp_replace(v, '[\d\s]', '', 'g'), 1, 1), 1), 2, '0')
		ELSE NULL END;
COMMENT ON FUNCTION cdp_internal._match_date(text) IS 'internal: a date written YYYY-MM-DD, YYYYMMDD or DD.MM.YYYY as YYYYMMDD (NULL otherwise)';
