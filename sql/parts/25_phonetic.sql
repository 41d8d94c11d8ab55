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

CREATE FUNCTION @extschema@.dmetaphone(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_dmetaphone'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.dmetaphone(text) IS
	'primary Double Metaphone code (Philips 2000, at most 4 letters) of Latin-script text; accents folded first';

CREATE FUNCTION @extschema@.dmetaphone_alt(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_dmetaphone_alt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.dmetaphone_alt(text) IS
	'alternate Double Metaphone code (Philips 2000, at most 4 letters) of Latin-script text; accents folded first';

CREATE FUNCTION @extschema@.dmetaphone_keys(name text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_dmetaphone_keys'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.dmetaphone_keys(text) IS
	'distinct non-empty Double Metaphone codes (primary first, then alternate) of Latin-script text';

CREATE FUNCTION @extschema@.dm_soundex(name text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_dm_soundex'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.dm_soundex(text) IS
	'Daitch-Mokotoff soundex (1985): every 6-digit code of the name, distinct and sorted, at most 32';
