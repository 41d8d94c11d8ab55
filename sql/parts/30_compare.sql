/*
 * sql/parts/30_compare.sql: layer 3 comparators (src/cmp_*.c, doc/compare.md).
 *
 * Pure functions of their arguments: IMMUTABLE, STRICT, PARALLEL SAFE.  The string comparators work
 * on Unicode code points of UTF-8 text, are case-sensitive (normalise first with the text family's
 * functions) except token_set_similarity and email_*, and refuse strings over 1000 characters.
 */

CREATE FUNCTION @extschema@.jaro(a text, b text) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_jaro'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.jaro(text, text) IS
	'Jaro similarity (Jaro 1989) of two strings, on code points, in [0, 1]';

CREATE FUNCTION @extschema@.jaro_winkler(a text, b text, prefix_scale float8 DEFAULT 0.1,
		boost_threshold float8 DEFAULT 0.7) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_jaro_winkler'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.jaro_winkler(text, text, float8, float8) IS
	'Jaro-Winkler similarity (Winkler 1990): Jaro plus a bonus for a common prefix of up to 4 characters when Jaro exceeds boost_threshold; prefix_scale in [0, 0.25]';

-- Two overloads rather than max_distance DEFAULT NULL: a STRICT function returns NULL for a NULL argument.
CREATE FUNCTION @extschema@.osa_distance(a text, b text) RETURNS int
	AS 'MODULE_PATHNAME', 'cdp_osa_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.osa_distance(text, text) IS
	'optimal string alignment distance (Damerau-Levenshtein without editing a substring twice) on code points';

CREATE FUNCTION @extschema@.osa_distance(a text, b text, max_distance int) RETURNS int
	AS 'MODULE_PATHNAME', 'cdp_osa_distance_max'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.osa_distance(text, text, int) IS
	'optimal string alignment distance, or max_distance + 1 as soon as it exceeds max_distance (faster)';

CREATE FUNCTION @extschema@.osa_similarity(a text, b text) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_osa_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.osa_similarity(text, text) IS
	'1 - osa_distance(a, b) / greatest(length(a), length(b)); 1 for two empty strings';
