/*
 * sql/parts/25_phonetic.sql: phonetic keys (layer 2, doc/phonetic.md).
 *
 * Pure functions of their text argument: IMMUTABLE, STRICT, PARALLEL SAFE.  Each refuses input over
 * 64 kB (CDP_MAX_TEXT_BYTES) with SQLSTATE 54000; an input with nothing to code gives an empty key.
 */

CREATE FUNCTION @extschema@.phonetic_ru(name text, fold_gender boolean DEFAULT true) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_phonetic_ru'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phonetic_ru(text, boolean) IS
	'Russian metaphone-style key of Cyrillic name text, one key per word joined by spaces; fold_gender keys Иванова like Иванов';
