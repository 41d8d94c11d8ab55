/*
 * sql/parts/22_text_roles.sql: name roles (layer 2, src/text_roles.c, doc/ingest.md).
 *
 * Which of three name parts is the family name, the given name and the patronymic, by what the words
 * are.  Ingest applies it when it splits a full name itself; the rules are those of the matching
 * family's _match_name_roles.  Not STRICT: a missing part is NULL.  Each part over 64 kB
 * (CDP_MAX_TEXT_BYTES) is refused with SQLSTATE 54000.
 */

CREATE FUNCTION @extschema@.name_roles(family text, given text, patronymic text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'cdp_name_roles'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_roles(text, text, text) IS
	'the three name parts (as given) in the order family, given, patronymic by what the words are; e.g. name_roles(''Мария'', ''Петровна'', ''Иванова'') = {Иванова,Мария,Петровна}';
