/*
 * sql/parts/40_index.sql: the fuzzy-name index (layer 4): name similarity on cross-script name
 * keys, the operators cdp.% and cdp.<->, and the GIN operator class cdp.name_gin_ops.
 * C: src/idx_name_keys.c, src/idx_name_gin.c; strategy and support numbers: src/idx.h.
 *
 *   CREATE INDEX ON people USING gin (name cdp.name_gin_ops);
 *   SELECT * FROM people WHERE name OPERATOR(cdp.%) 'Ivanova Mariia'
 *    ORDER BY name OPERATOR(cdp.<->) 'Ivanova Mariia' LIMIT 10;
 */

CREATE FUNCTION @extschema@.name_similarity(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'cdp_name_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION @extschema@.name_similarity(text, text) IS
	'Jaccard similarity (0..1) of the trigram sets of two names'' cross-script name keys';

CREATE FUNCTION @extschema@.name_distance(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'cdp_name_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION @extschema@.name_distance(text, text) IS
	'1 - name_similarity(a, b); the function of the <-> operator';

-- STABLE, not IMMUTABLE: the result depends on the GUC cdp.name_similarity_threshold
-- (as pg_trgm's similarity_op depends on pg_trgm.similarity_threshold).
-- COST 100 (the three name functions): a call builds both names' keys through ICU, 10 to 20 us, not
-- the default one operator's worth; with COST 1 the planner took a sequential scan of 20 000 names
-- (400 ms) for cheaper than the index (4 ms).
CREATE FUNCTION @extschema@.name_similar(text, text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_name_similar'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION @extschema@.name_similar(text, text) IS
	'true when name_similarity(a, b) > 0 and >= cdp.name_similarity_threshold and, if two or more words pair, one word is equal and another begins alike (the anchor) and the anchor with the words beginning alike reaches the threshold by itself (the cover); the function of the % operator';

CREATE FUNCTION @extschema@.name_index_keys(text) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'cdp_name_index_keys'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_index_keys(text) IS
	'the sorted int4 keys (packed or hashed trigrams of the name key) that name_gin_ops stores for a name';

-- The restriction estimator of % (issue 18): matchingsel's fraction of matching histogram bounds
-- cannot tell 1 % from 0.02 %, and on a name-dense column one matching bound made the planner
-- expect 10 000 rows of 1M (184 came) and take a parallel bitmap heap scan.  See src/idx_name_sel.c.
CREATE FUNCTION cdp_internal.name_similar_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'cdp_name_similar_sel'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.name_similar_sel(internal, oid, internal, integer) IS
	'restriction selectivity of cdp.%: exact on the most common values, a prior-weighted count of matching histogram bounds on the rest';

CREATE OPERATOR @extschema@.% (
	LEFTARG = text,
	RIGHTARG = text,
	FUNCTION = @extschema@.name_similar,
	COMMUTATOR = OPERATOR(@extschema@.%),
	RESTRICT = cdp_internal.name_similar_sel,
	JOIN = pg_catalog.matchingjoinsel
);
COMMENT ON OPERATOR @extschema@.% (text, text) IS
	'names are similar: name_similarity at or above cdp.name_similarity_threshold, anchored on an equal word (indexable by name_gin_ops)';

CREATE OPERATOR @extschema@.<-> (
	LEFTARG = text,
	RIGHTARG = text,
	FUNCTION = @extschema@.name_distance,
	COMMUTATOR = OPERATOR(@extschema@.<->)
);
COMMENT ON OPERATOR @extschema@.<-> (text, text) IS
	'name distance: 1 - name_similarity; ORDER BY it to rank the rows found with %';

CREATE FUNCTION @extschema@.name_gin_extract_value(text, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'cdp_name_gin_extract_value'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_gin_extract_value(text, internal) IS
	'GIN support function 2 of name_gin_ops: the keys of an indexed name';

-- STABLE: a query of two or more words asks for the single keys only when cdp.name_similarity_threshold
-- lets a one-word name pass.
CREATE FUNCTION @extschema@.name_gin_extract_query(text, internal, int2, internal, internal, internal, internal)
	RETURNS internal
	AS 'MODULE_PATHNAME', 'cdp_name_gin_extract_query'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_gin_extract_query(text, internal, int2, internal, internal, internal, internal) IS
	'GIN support function 3 of name_gin_ops: the keys of a query name';

-- STABLE: the answer depends on cdp.name_similarity_threshold.
CREATE FUNCTION @extschema@.name_gin_consistent(internal, int2, text, int4, internal, internal, internal, internal)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_name_gin_consistent'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_gin_consistent(internal, int2, text, int4, internal, internal, internal, internal) IS
	'GIN support function 4 of name_gin_ops: may a row with these shared keys reach the threshold';

CREATE FUNCTION @extschema@.name_gin_triconsistent(internal, int2, text, int4, internal, internal, internal)
	RETURNS "char"
	AS 'MODULE_PATHNAME', 'cdp_name_gin_triconsistent'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_gin_triconsistent(internal, int2, text, int4, internal, internal, internal) IS
	'GIN support function 6 of name_gin_ops: ternary form of name_gin_consistent';

-- Strategy and support numbers: src/idx.h (IDX_SIMILAR_STRATEGY, IDX_GIN_*_PROC).
CREATE OPERATOR CLASS @extschema@.name_gin_ops FOR TYPE text USING gin AS
	OPERATOR 1 @extschema@.% (text, text),
	FUNCTION 1 pg_catalog.btint4cmp(int4, int4),
	FUNCTION 2 @extschema@.name_gin_extract_value(text, internal),
	FUNCTION 3 @extschema@.name_gin_extract_query(text, internal, int2, internal, internal, internal, internal),
	FUNCTION 4 @extschema@.name_gin_consistent(internal, int2, text, int4, internal, internal, internal, internal),
	FUNCTION 6 @extschema@.name_gin_triconsistent(internal, int2, text, int4, internal, internal, internal),
	STORAGE int4;
COMMENT ON OPERATOR CLASS @extschema@.name_gin_ops USING gin IS
	'GIN index of names by the word keys and anchored pair keys of their cross-script name key; supports cdp.%';
