/*
 * sql/parts/20_text.sql: layer 2, text family (src/text_*.c, doc/text.md).
 *
 * Pure functions of their argument: IMMUTABLE, STRICT, PARALLEL SAFE.  Their results depend only on
 * the built-in tables and on the Unicode normalisation data of the linked ICU (NFKC, case folding),
 * which changes only for characters new to Unicode; the same reasoning PostgreSQL itself applies to
 * normalize().  Every function accepts at most CDP_MAX_TEXT_BYTES (64 kB) of input.
 */

CREATE FUNCTION @extschema@.normalize_name(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_normalize_name'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_name(text) IS
	'canonical spelling of a name in its own script: NFKC, lower case, ё as е, no diacritics or punctuation, hyphens joined, single spaces';

CREATE FUNCTION @extschema@.name_tokens(text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_name_tokens'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_tokens(text) IS
	'tokens of the normalised name in order; a hyphenated token is followed by its parts (римский-корсаков, римский, корсаков)';

CREATE FUNCTION @extschema@.translit(text, scheme text DEFAULT 'icao') RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_translit'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.translit(text, text) IS
	'transliterates Cyrillic to Latin by scheme icao (ICAO 9303), gost_b (GOST 7.79-2000 B), bgn (BGN/PCGN 1947) or informal, or Latin to Cyrillic by lat2cyr, keeping the case style';

CREATE FUNCTION @extschema@.name_key(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_name_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_key(text) IS
	'one lower-case Latin key shared by the Cyrillic and the usual Latin spellings of a name (Юлия, Iuliia, Yulia, Julia -> iulia)';

CREATE FUNCTION @extschema@.name_base_key(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_name_base_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_base_key(text) IS
	'name key of the gender-neutral base of every token: given names canonical, patronymics and surnames masculine (Иванова Маша Петровна -> ivanov maria petrovich)';

CREATE FUNCTION @extschema@.surname_base(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_surname_base'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.surname_base(text) IS
	'normalised gender-neutral (masculine) base of a Russian surname, Cyrillic or Latin (Иванова -> иванов, Petrovskaya -> petrovskiy)';

CREATE FUNCTION @extschema@.patronymic_base(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_patronymic_base'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.patronymic_base(text) IS
	'normalised masculine nominative of a Russian patronymic in any case (Петровна, Петровича -> петрович; Ильинична -> ильич)';

CREATE FUNCTION @extschema@.name_sex_hint(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_name_sex_hint'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_sex_hint(text) IS
	'M or F when a surname, patronymic, given name or full name carries a sex, NULL when it does not or its parts disagree';

CREATE FUNCTION @extschema@.given_name_base(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_given_name_base'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.given_name_base(text) IS
	'canonical normalised form of every listed Russian given name, variant or diminutive (Маша, Марья, Maria -> мария); other words normalised';

CREATE FUNCTION @extschema@.given_name_bases(text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_given_name_bases'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.given_name_bases(text) IS
	'every canonical given name one name form may stand for (Саша -> {александр,александра}); empty when not listed';

CREATE FUNCTION @extschema@.russian_stem(text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_russian_stem'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.russian_stem(text) IS
	'Snowball Russian stem of every token of the normalised text, for declined names in free text';
