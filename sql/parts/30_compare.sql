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

CREATE FUNCTION @extschema@.qgram_jaccard(a text, b text, q int DEFAULT 2) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_qgram_jaccard'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.qgram_jaccard(text, text, int) IS
	'Jaccard similarity of the multisets of character q-grams (q in 1..6), each string padded with q - 1 start and end markers';

CREATE FUNCTION @extschema@.qgram_cosine(a text, b text, q int DEFAULT 2) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_qgram_cosine'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.qgram_cosine(text, text, int) IS
	'cosine similarity of the count vectors of character q-grams (q in 1..6), each string padded with q - 1 start and end markers';

CREATE FUNCTION @extschema@.token_set_similarity(a text, b text) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_token_set_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.token_set_similarity(text, text) IS
	'similarity of two full names in [0, 1]: case- and order-insensitive, initials match words, a missing token costs a little';

CREATE FUNCTION @extschema@.date_level(a date, b date) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_date_level'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.date_level(date, date) IS
	'how two dates differ: exact, day_month_swapped, one_digit, year_off_by_one, same_year_month, same_year or different';

CREATE FUNCTION @extschema@.date_similarity(a date, b date) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_date_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.date_similarity(date, date) IS
	'score in [0, 1] of cdp.date_level(a, b): 1, 0.9, 0.85, 0.7, 0.5, 0.3, 0';

CREATE FUNCTION @extschema@.phone_level(a text, b text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_phone_level'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_level(text, text) IS
	'how the digits of two phone numbers differ: exact, same_last7, one_digit or different';

CREATE FUNCTION @extschema@.phone_similarity(a text, b text) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_phone_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_similarity(text, text) IS
	'score in [0, 1] of cdp.phone_level(a, b): 1, 0.8, 0.6, 0';

CREATE FUNCTION @extschema@.email_level(a text, b text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_email_level'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_level(text, text) IS
	'how two e-mail addresses differ, ignoring case: exact, typo, same_local or different';

CREATE FUNCTION @extschema@.email_similarity(a text, b text) RETURNS float8
	AS 'MODULE_PATHNAME', 'cdp_email_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_similarity(text, text) IS
	'score in [0, 1] of cdp.email_level(a, b): 1, 0.8, 0.5, 0';
