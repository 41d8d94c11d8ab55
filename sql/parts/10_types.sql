/*
 * sql/parts/10_types.sql: the identifier types of layer 1 (issue 3 item 4): cdp.phone, cdp.email,
 * cdp.snils and cdp.oms, each with text and binary I/O, casts to and from text, try_ and is_valid_
 * functions, and default btree and hash operator classes.  C code: src/type_*.c, src/types.h.
 * Documentation: doc/types.md.
 */

-- ---------------------------------------------------------------------------------------------
-- @extschema@.phone: telephone number in canonical E.164 form with an optional extension; 16 bytes
-- ---------------------------------------------------------------------------------------------
CREATE TYPE @extschema@.phone;

CREATE FUNCTION @extschema@.phone_in(cstring) RETURNS @extschema@.phone
	AS 'MODULE_PATHNAME', 'cdp_phone_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_in(cstring) IS 'text input of phone: Russian forms (8 (916) 123-45-67, +7 916 1234567, 9161234567) and international +44 20 7946 0958 or 00 44 ...; extension after доб., ext, x or #';
CREATE FUNCTION @extschema@.phone_out(@extschema@.phone) RETURNS cstring
	AS 'MODULE_PATHNAME', 'cdp_phone_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_out(@extschema@.phone) IS 'text output of phone in its canonical form';
CREATE FUNCTION @extschema@.phone_recv(internal) RETURNS @extschema@.phone
	AS 'MODULE_PATHNAME', 'cdp_phone_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_recv(internal) IS 'binary input of phone (int8 number, int4 extension, int4 reserved), validated exactly as text input';
CREATE FUNCTION @extschema@.phone_send(@extschema@.phone) RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_phone_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_send(@extschema@.phone) IS 'binary output of phone (int8 number, int4 extension, int4 reserved)';

CREATE TYPE @extschema@.phone (
	INPUT = @extschema@.phone_in, OUTPUT = @extschema@.phone_out, RECEIVE = @extschema@.phone_recv, SEND = @extschema@.phone_send,
	INTERNALLENGTH = 16, ALIGNMENT = double, STORAGE = plain
);
COMMENT ON TYPE @extschema@.phone IS 'telephone number in canonical E.164 form with an optional extension; 16 bytes';

CREATE CAST (text AS @extschema@.phone) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS @extschema@.phone) IS 'parses text as phone; raises an error for an invalid value';
CREATE CAST (@extschema@.phone AS text) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (@extschema@.phone AS text) IS 'canonical text form of phone';

CREATE FUNCTION @extschema@.try_phone(text) RETURNS @extschema@.phone
	AS 'MODULE_PATHNAME', 'cdp_try_phone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.try_phone(text) IS 'the phone in a text, or NULL when it is not valid (never raises)';
CREATE FUNCTION @extschema@.is_valid_phone(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_is_valid_phone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_valid_phone(text) IS 'whether a text is a valid phone (never raises)';

CREATE FUNCTION @extschema@.phone_cmp(@extschema@.phone, @extschema@.phone) RETURNS integer
	AS 'MODULE_PATHNAME', 'cdp_phone_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_cmp(@extschema@.phone, @extschema@.phone) IS 'btree comparison of phone (-1, 0, 1)';
CREATE FUNCTION @extschema@.phone_eq(@extschema@.phone, @extschema@.phone) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_phone_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_eq(@extschema@.phone, @extschema@.phone) IS 'implementation of the phone = operator';
CREATE FUNCTION @extschema@.phone_ne(@extschema@.phone, @extschema@.phone) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_phone_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_ne(@extschema@.phone, @extschema@.phone) IS 'implementation of the phone <> operator';
CREATE FUNCTION @extschema@.phone_lt(@extschema@.phone, @extschema@.phone) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_phone_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_lt(@extschema@.phone, @extschema@.phone) IS 'implementation of the phone < operator';
CREATE FUNCTION @extschema@.phone_le(@extschema@.phone, @extschema@.phone) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_phone_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_le(@extschema@.phone, @extschema@.phone) IS 'implementation of the phone <= operator';
CREATE FUNCTION @extschema@.phone_gt(@extschema@.phone, @extschema@.phone) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_phone_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_gt(@extschema@.phone, @extschema@.phone) IS 'implementation of the phone > operator';
CREATE FUNCTION @extschema@.phone_ge(@extschema@.phone, @extschema@.phone) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_phone_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_ge(@extschema@.phone, @extschema@.phone) IS 'implementation of the phone >= operator';
CREATE FUNCTION @extschema@.phone_hash(@extschema@.phone) RETURNS integer
	AS 'MODULE_PATHNAME', 'cdp_phone_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_hash(@extschema@.phone) IS 'hash of phone for hash indexes, hash joins and hash aggregation';
CREATE FUNCTION @extschema@.phone_hash_extended(@extschema@.phone, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cdp_phone_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.phone_hash_extended(@extschema@.phone, bigint) IS '64-bit seeded hash of phone (hash partitioning)';
CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.phone, RIGHTARG = @extschema@.phone, FUNCTION = @extschema@.phone_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
COMMENT ON OPERATOR @extschema@.= (@extschema@.phone, @extschema@.phone) IS 'phone = phone';
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.phone, RIGHTARG = @extschema@.phone, FUNCTION = @extschema@.phone_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
COMMENT ON OPERATOR @extschema@.<> (@extschema@.phone, @extschema@.phone) IS 'phone <> phone';
CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.phone, RIGHTARG = @extschema@.phone, FUNCTION = @extschema@.phone_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
COMMENT ON OPERATOR @extschema@.< (@extschema@.phone, @extschema@.phone) IS 'phone < phone';
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.phone, RIGHTARG = @extschema@.phone, FUNCTION = @extschema@.phone_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
COMMENT ON OPERATOR @extschema@.<= (@extschema@.phone, @extschema@.phone) IS 'phone <= phone';
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.phone, RIGHTARG = @extschema@.phone, FUNCTION = @extschema@.phone_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
COMMENT ON OPERATOR @extschema@.> (@extschema@.phone, @extschema@.phone) IS 'phone > phone';
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.phone, RIGHTARG = @extschema@.phone, FUNCTION = @extschema@.phone_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
COMMENT ON OPERATOR @extschema@.>= (@extschema@.phone, @extschema@.phone) IS 'phone >= phone';

-- equal phones are equal bytes (reserved is always 0), so btequalimage lets btree deduplicate
CREATE OPERATOR CLASS @extschema@.phone_ops DEFAULT FOR TYPE @extschema@.phone USING btree AS
	OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.phone_cmp(@extschema@.phone, @extschema@.phone),
	FUNCTION 4 pg_catalog.btequalimage(oid);
COMMENT ON OPERATOR CLASS @extschema@.phone_ops USING btree IS 'default btree operator class of phone';
CREATE OPERATOR CLASS @extschema@.phone_hash_ops DEFAULT FOR TYPE @extschema@.phone USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.phone_hash(@extschema@.phone),
	FUNCTION 2 @extschema@.phone_hash_extended(@extschema@.phone, bigint);
COMMENT ON OPERATOR CLASS @extschema@.phone_hash_ops USING hash IS 'default hash operator class of phone';

CREATE FUNCTION @extschema@.phone_kind(@extschema@.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_phone_kind' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_kind(@extschema@.phone) IS 'line type from the numbering plan: mobile, landline or toll_free for +7 numbers, otherwise unknown';
CREATE FUNCTION @extschema@.phone_e164(@extschema@.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_phone_e164' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_e164(@extschema@.phone) IS 'the number as +<E.164 digits>, without the extension';
CREATE FUNCTION @extschema@.phone_extension(@extschema@.phone) RETURNS integer
	AS 'MODULE_PATHNAME', 'cdp_phone_extension' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_extension(@extschema@.phone) IS 'the extension, or NULL when there is none';
CREATE FUNCTION @extschema@.phone_national(@extschema@.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_phone_national' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_national(@extschema@.phone) IS 'the national significant number: the digits after the country code';

-- ---------------------------------------------------------------------------------------------
-- @extschema@.email: e-mail address: domain lower-cased and IDN-encoded (punycode), local part as written; compares case-insensitively
-- ---------------------------------------------------------------------------------------------
CREATE TYPE @extschema@.email;

CREATE FUNCTION @extschema@.email_in(cstring) RETURNS @extschema@.email
	AS 'MODULE_PATHNAME', 'cdp_email_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_in(cstring) IS 'text input of email: local@domain, surrounding spaces trimmed, domain lower-cased and converted to punycode';
CREATE FUNCTION @extschema@.email_out(@extschema@.email) RETURNS cstring
	AS 'MODULE_PATHNAME', 'cdp_email_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_out(@extschema@.email) IS 'text output of email in its canonical form';
CREATE FUNCTION @extschema@.email_recv(internal) RETURNS @extschema@.email
	AS 'MODULE_PATHNAME', 'cdp_email_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_recv(internal) IS 'binary input of email (the canonical address as text), validated exactly as text input';
CREATE FUNCTION @extschema@.email_send(@extschema@.email) RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_email_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_send(@extschema@.email) IS 'binary output of email (the canonical address as text)';

CREATE TYPE @extschema@.email (
	INPUT = @extschema@.email_in, OUTPUT = @extschema@.email_out, RECEIVE = @extschema@.email_recv, SEND = @extschema@.email_send,
	INTERNALLENGTH = VARIABLE, STORAGE = extended
);
COMMENT ON TYPE @extschema@.email IS 'e-mail address: domain lower-cased and IDN-encoded (punycode), local part as written; compares case-insensitively';

CREATE CAST (text AS @extschema@.email) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS @extschema@.email) IS 'parses text as email; raises an error for an invalid value';
CREATE CAST (@extschema@.email AS text) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (@extschema@.email AS text) IS 'canonical text form of email';

CREATE FUNCTION @extschema@.try_email(text) RETURNS @extschema@.email
	AS 'MODULE_PATHNAME', 'cdp_try_email' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.try_email(text) IS 'the email in a text, or NULL when it is not valid (never raises)';
CREATE FUNCTION @extschema@.is_valid_email(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_is_valid_email' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_valid_email(text) IS 'whether a text is a valid email (never raises)';

CREATE FUNCTION @extschema@.email_cmp(@extschema@.email, @extschema@.email) RETURNS integer
	AS 'MODULE_PATHNAME', 'cdp_email_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_cmp(@extschema@.email, @extschema@.email) IS 'btree comparison of email (-1, 0, 1)';
CREATE FUNCTION @extschema@.email_eq(@extschema@.email, @extschema@.email) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_email_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_eq(@extschema@.email, @extschema@.email) IS 'implementation of the email = operator';
CREATE FUNCTION @extschema@.email_ne(@extschema@.email, @extschema@.email) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_email_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_ne(@extschema@.email, @extschema@.email) IS 'implementation of the email <> operator';
CREATE FUNCTION @extschema@.email_lt(@extschema@.email, @extschema@.email) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_email_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_lt(@extschema@.email, @extschema@.email) IS 'implementation of the email < operator';
CREATE FUNCTION @extschema@.email_le(@extschema@.email, @extschema@.email) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_email_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_le(@extschema@.email, @extschema@.email) IS 'implementation of the email <= operator';
CREATE FUNCTION @extschema@.email_gt(@extschema@.email, @extschema@.email) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_email_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_gt(@extschema@.email, @extschema@.email) IS 'implementation of the email > operator';
CREATE FUNCTION @extschema@.email_ge(@extschema@.email, @extschema@.email) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_email_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_ge(@extschema@.email, @extschema@.email) IS 'implementation of the email >= operator';
CREATE FUNCTION @extschema@.email_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME', 'cdp_email_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_sortsupport(internal) IS 'btree sort support of email: direct comparator and abbreviated keys';
CREATE FUNCTION @extschema@.email_hash(@extschema@.email) RETURNS integer
	AS 'MODULE_PATHNAME', 'cdp_email_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_hash(@extschema@.email) IS 'hash of email for hash indexes, hash joins and hash aggregation';
CREATE FUNCTION @extschema@.email_hash_extended(@extschema@.email, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cdp_email_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_hash_extended(@extschema@.email, bigint) IS '64-bit seeded hash of email (hash partitioning)';
CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.email, RIGHTARG = @extschema@.email, FUNCTION = @extschema@.email_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
COMMENT ON OPERATOR @extschema@.= (@extschema@.email, @extschema@.email) IS 'email = email';
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.email, RIGHTARG = @extschema@.email, FUNCTION = @extschema@.email_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
COMMENT ON OPERATOR @extschema@.<> (@extschema@.email, @extschema@.email) IS 'email <> email';
CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.email, RIGHTARG = @extschema@.email, FUNCTION = @extschema@.email_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
COMMENT ON OPERATOR @extschema@.< (@extschema@.email, @extschema@.email) IS 'email < email';
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.email, RIGHTARG = @extschema@.email, FUNCTION = @extschema@.email_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
COMMENT ON OPERATOR @extschema@.<= (@extschema@.email, @extschema@.email) IS 'email <= email';
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.email, RIGHTARG = @extschema@.email, FUNCTION = @extschema@.email_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
COMMENT ON OPERATOR @extschema@.> (@extschema@.email, @extschema@.email) IS 'email > email';
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.email, RIGHTARG = @extschema@.email, FUNCTION = @extschema@.email_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
COMMENT ON OPERATOR @extschema@.>= (@extschema@.email, @extschema@.email) IS 'email >= email';

-- no btequalimage: equal addresses may differ in case, so btree must not deduplicate them
CREATE OPERATOR CLASS @extschema@.email_ops DEFAULT FOR TYPE @extschema@.email USING btree AS
	OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.email_cmp(@extschema@.email, @extschema@.email),
	FUNCTION 2 @extschema@.email_sortsupport(internal);
COMMENT ON OPERATOR CLASS @extschema@.email_ops USING btree IS 'default btree operator class of email';
CREATE OPERATOR CLASS @extschema@.email_hash_ops DEFAULT FOR TYPE @extschema@.email USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.email_hash(@extschema@.email),
	FUNCTION 2 @extschema@.email_hash_extended(@extschema@.email, bigint);
COMMENT ON OPERATOR CLASS @extschema@.email_hash_ops USING hash IS 'default hash operator class of email';

CREATE FUNCTION @extschema@.email_local(@extschema@.email) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_email_local' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_local(@extschema@.email) IS 'the local part (before @), as written';
CREATE FUNCTION @extschema@.email_domain(@extschema@.email) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_email_domain' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.email_domain(@extschema@.email) IS 'the domain (after @), lower case, IDN labels in punycode';

-- ---------------------------------------------------------------------------------------------
-- @extschema@.snils: Russian individual insurance account number (SNILS), 11 digits with a checked check number; stored as int8
-- ---------------------------------------------------------------------------------------------
CREATE TYPE @extschema@.snils;

CREATE FUNCTION @extschema@.snils_in(cstring) RETURNS @extschema@.snils
	AS 'MODULE_PATHNAME', 'cdp_snils_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.snils_in(cstring) IS 'text input of snils: 123-456-789 64, 123 456 789 64 or 12345678964';
CREATE FUNCTION @extschema@.snils_out(@extschema@.snils) RETURNS cstring
	AS 'MODULE_PATHNAME', 'cdp_snils_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.snils_out(@extschema@.snils) IS 'text output of snils in its canonical form';
CREATE FUNCTION @extschema@.snils_recv(internal) RETURNS @extschema@.snils
	AS 'MODULE_PATHNAME', 'cdp_snils_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.snils_recv(internal) IS 'binary input of snils (an int8), validated exactly as text input';
CREATE FUNCTION @extschema@.snils_send(@extschema@.snils) RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_snils_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.snils_send(@extschema@.snils) IS 'binary output of snils (an int8)';

CREATE TYPE @extschema@.snils (
	INPUT = @extschema@.snils_in, OUTPUT = @extschema@.snils_out, RECEIVE = @extschema@.snils_recv, SEND = @extschema@.snils_send,
	INTERNALLENGTH = 8, PASSEDBYVALUE, ALIGNMENT = double, STORAGE = plain
);
COMMENT ON TYPE @extschema@.snils IS 'Russian individual insurance account number (SNILS), 11 digits with a checked check number; stored as int8';

CREATE CAST (text AS @extschema@.snils) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS @extschema@.snils) IS 'parses text as snils; raises an error for an invalid value';
CREATE CAST (@extschema@.snils AS text) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (@extschema@.snils AS text) IS 'canonical text form of snils';

CREATE FUNCTION @extschema@.try_snils(text) RETURNS @extschema@.snils
	AS 'MODULE_PATHNAME', 'cdp_try_snils' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.try_snils(text) IS 'the snils in a text, or NULL when it is not valid (never raises)';
CREATE FUNCTION @extschema@.is_valid_snils(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_is_valid_snils' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_valid_snils(text) IS 'whether a text is a valid snils (never raises)';

-- comparison and hashing: the value is an int8, so the built-in int8 functions serve
CREATE FUNCTION @extschema@.snils_cmp(@extschema@.snils, @extschema@.snils) RETURNS integer
	AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_cmp(@extschema@.snils, @extschema@.snils) IS 'btree comparison of snils (-1, 0, 1)';
CREATE FUNCTION @extschema@.snils_eq(@extschema@.snils, @extschema@.snils) RETURNS boolean
	AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_eq(@extschema@.snils, @extschema@.snils) IS 'implementation of the snils = operator';
CREATE FUNCTION @extschema@.snils_ne(@extschema@.snils, @extschema@.snils) RETURNS boolean
	AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_ne(@extschema@.snils, @extschema@.snils) IS 'implementation of the snils <> operator';
CREATE FUNCTION @extschema@.snils_lt(@extschema@.snils, @extschema@.snils) RETURNS boolean
	AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_lt(@extschema@.snils, @extschema@.snils) IS 'implementation of the snils < operator';
CREATE FUNCTION @extschema@.snils_le(@extschema@.snils, @extschema@.snils) RETURNS boolean
	AS 'int8le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_le(@extschema@.snils, @extschema@.snils) IS 'implementation of the snils <= operator';
CREATE FUNCTION @extschema@.snils_gt(@extschema@.snils, @extschema@.snils) RETURNS boolean
	AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_gt(@extschema@.snils, @extschema@.snils) IS 'implementation of the snils > operator';
CREATE FUNCTION @extschema@.snils_ge(@extschema@.snils, @extschema@.snils) RETURNS boolean
	AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_ge(@extschema@.snils, @extschema@.snils) IS 'implementation of the snils >= operator';
CREATE FUNCTION @extschema@.snils_hash(@extschema@.snils) RETURNS integer
	AS 'hashint8' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_hash(@extschema@.snils) IS 'hash of snils for hash indexes, hash joins and hash aggregation';
CREATE FUNCTION @extschema@.snils_hash_extended(@extschema@.snils, bigint) RETURNS bigint
	AS 'hashint8extended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.snils_hash_extended(@extschema@.snils, bigint) IS '64-bit seeded hash of snils (hash partitioning)';
CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.snils, RIGHTARG = @extschema@.snils, FUNCTION = @extschema@.snils_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
COMMENT ON OPERATOR @extschema@.= (@extschema@.snils, @extschema@.snils) IS 'snils = snils';
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.snils, RIGHTARG = @extschema@.snils, FUNCTION = @extschema@.snils_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
COMMENT ON OPERATOR @extschema@.<> (@extschema@.snils, @extschema@.snils) IS 'snils <> snils';
CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.snils, RIGHTARG = @extschema@.snils, FUNCTION = @extschema@.snils_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
COMMENT ON OPERATOR @extschema@.< (@extschema@.snils, @extschema@.snils) IS 'snils < snils';
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.snils, RIGHTARG = @extschema@.snils, FUNCTION = @extschema@.snils_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
COMMENT ON OPERATOR @extschema@.<= (@extschema@.snils, @extschema@.snils) IS 'snils <= snils';
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.snils, RIGHTARG = @extschema@.snils, FUNCTION = @extschema@.snils_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
COMMENT ON OPERATOR @extschema@.> (@extschema@.snils, @extschema@.snils) IS 'snils > snils';
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.snils, RIGHTARG = @extschema@.snils, FUNCTION = @extschema@.snils_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
COMMENT ON OPERATOR @extschema@.>= (@extschema@.snils, @extschema@.snils) IS 'snils >= snils';

-- int8 values: equal means equal bytes, so btequalimage lets btree deduplicate
CREATE OPERATOR CLASS @extschema@.snils_ops DEFAULT FOR TYPE @extschema@.snils USING btree AS
	OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.snils_cmp(@extschema@.snils, @extschema@.snils),
	FUNCTION 2 pg_catalog.btint8sortsupport(internal),
	FUNCTION 4 pg_catalog.btequalimage(oid);
COMMENT ON OPERATOR CLASS @extschema@.snils_ops USING btree IS 'default btree operator class of snils';
CREATE OPERATOR CLASS @extschema@.snils_hash_ops DEFAULT FOR TYPE @extschema@.snils USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.snils_hash(@extschema@.snils),
	FUNCTION 2 @extschema@.snils_hash_extended(@extschema@.snils, bigint);
COMMENT ON OPERATOR CLASS @extschema@.snils_hash_ops USING hash IS 'default hash operator class of snils';

-- ---------------------------------------------------------------------------------------------
-- @extschema@.oms: Russian unified compulsory medical insurance (OMS) policy number, 16 digits with a checked check digit; stored as int8
-- ---------------------------------------------------------------------------------------------
CREATE TYPE @extschema@.oms;

CREATE FUNCTION @extschema@.oms_in(cstring) RETURNS @extschema@.oms
	AS 'MODULE_PATHNAME', 'cdp_oms_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.oms_in(cstring) IS 'text input of oms: 16 digits, optionally grouped by spaces or dashes';
CREATE FUNCTION @extschema@.oms_out(@extschema@.oms) RETURNS cstring
	AS 'MODULE_PATHNAME', 'cdp_oms_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.oms_out(@extschema@.oms) IS 'text output of oms in its canonical form';
CREATE FUNCTION @extschema@.oms_recv(internal) RETURNS @extschema@.oms
	AS 'MODULE_PATHNAME', 'cdp_oms_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.oms_recv(internal) IS 'binary input of oms (an int8), validated exactly as text input';
CREATE FUNCTION @extschema@.oms_send(@extschema@.oms) RETURNS bytea
	AS 'MODULE_PATHNAME', 'cdp_oms_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.oms_send(@extschema@.oms) IS 'binary output of oms (an int8)';

CREATE TYPE @extschema@.oms (
	INPUT = @extschema@.oms_in, OUTPUT = @extschema@.oms_out, RECEIVE = @extschema@.oms_recv, SEND = @extschema@.oms_send,
	INTERNALLENGTH = 8, PASSEDBYVALUE, ALIGNMENT = double, STORAGE = plain
);
COMMENT ON TYPE @extschema@.oms IS 'Russian unified compulsory medical insurance (OMS) policy number, 16 digits with a checked check digit; stored as int8';

CREATE CAST (text AS @extschema@.oms) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (text AS @extschema@.oms) IS 'parses text as oms; raises an error for an invalid value';
CREATE CAST (@extschema@.oms AS text) WITH INOUT AS ASSIGNMENT;
COMMENT ON CAST (@extschema@.oms AS text) IS 'canonical text form of oms';

CREATE FUNCTION @extschema@.try_oms(text) RETURNS @extschema@.oms
	AS 'MODULE_PATHNAME', 'cdp_try_oms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.try_oms(text) IS 'the oms in a text, or NULL when it is not valid (never raises)';
CREATE FUNCTION @extschema@.is_valid_oms(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_is_valid_oms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_valid_oms(text) IS 'whether a text is a valid oms (never raises)';

-- comparison and hashing: the value is an int8, so the built-in int8 functions serve
CREATE FUNCTION @extschema@.oms_cmp(@extschema@.oms, @extschema@.oms) RETURNS integer
	AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_cmp(@extschema@.oms, @extschema@.oms) IS 'btree comparison of oms (-1, 0, 1)';
CREATE FUNCTION @extschema@.oms_eq(@extschema@.oms, @extschema@.oms) RETURNS boolean
	AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_eq(@extschema@.oms, @extschema@.oms) IS 'implementation of the oms = operator';
CREATE FUNCTION @extschema@.oms_ne(@extschema@.oms, @extschema@.oms) RETURNS boolean
	AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_ne(@extschema@.oms, @extschema@.oms) IS 'implementation of the oms <> operator';
CREATE FUNCTION @extschema@.oms_lt(@extschema@.oms, @extschema@.oms) RETURNS boolean
	AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_lt(@extschema@.oms, @extschema@.oms) IS 'implementation of the oms < operator';
CREATE FUNCTION @extschema@.oms_le(@extschema@.oms, @extschema@.oms) RETURNS boolean
	AS 'int8le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_le(@extschema@.oms, @extschema@.oms) IS 'implementation of the oms <= operator';
CREATE FUNCTION @extschema@.oms_gt(@extschema@.oms, @extschema@.oms) RETURNS boolean
	AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_gt(@extschema@.oms, @extschema@.oms) IS 'implementation of the oms > operator';
CREATE FUNCTION @extschema@.oms_ge(@extschema@.oms, @extschema@.oms) RETURNS boolean
	AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_ge(@extschema@.oms, @extschema@.oms) IS 'implementation of the oms >= operator';
CREATE FUNCTION @extschema@.oms_hash(@extschema@.oms) RETURNS integer
	AS 'hashint8' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_hash(@extschema@.oms) IS 'hash of oms for hash indexes, hash joins and hash aggregation';
CREATE FUNCTION @extschema@.oms_hash_extended(@extschema@.oms, bigint) RETURNS bigint
	AS 'hashint8extended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.oms_hash_extended(@extschema@.oms, bigint) IS '64-bit seeded hash of oms (hash partitioning)';
CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.oms, RIGHTARG = @extschema@.oms, FUNCTION = @extschema@.oms_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES, MERGES
);
COMMENT ON OPERATOR @extschema@.= (@extschema@.oms, @extschema@.oms) IS 'oms = oms';
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.oms, RIGHTARG = @extschema@.oms, FUNCTION = @extschema@.oms_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = pg_catalog.neqsel, JOIN = pg_catalog.neqjoinsel
);
COMMENT ON OPERATOR @extschema@.<> (@extschema@.oms, @extschema@.oms) IS 'oms <> oms';
CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.oms, RIGHTARG = @extschema@.oms, FUNCTION = @extschema@.oms_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = pg_catalog.scalarltsel, JOIN = pg_catalog.scalarltjoinsel
);
COMMENT ON OPERATOR @extschema@.< (@extschema@.oms, @extschema@.oms) IS 'oms < oms';
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.oms, RIGHTARG = @extschema@.oms, FUNCTION = @extschema@.oms_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = pg_catalog.scalarlesel, JOIN = pg_catalog.scalarlejoinsel
);
COMMENT ON OPERATOR @extschema@.<= (@extschema@.oms, @extschema@.oms) IS 'oms <= oms';
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.oms, RIGHTARG = @extschema@.oms, FUNCTION = @extschema@.oms_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = pg_catalog.scalargtsel, JOIN = pg_catalog.scalargtjoinsel
);
COMMENT ON OPERATOR @extschema@.> (@extschema@.oms, @extschema@.oms) IS 'oms > oms';
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.oms, RIGHTARG = @extschema@.oms, FUNCTION = @extschema@.oms_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = pg_catalog.scalargesel, JOIN = pg_catalog.scalargejoinsel
);
COMMENT ON OPERATOR @extschema@.>= (@extschema@.oms, @extschema@.oms) IS 'oms >= oms';

-- int8 values: equal means equal bytes, so btequalimage lets btree deduplicate
CREATE OPERATOR CLASS @extschema@.oms_ops DEFAULT FOR TYPE @extschema@.oms USING btree AS
	OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.oms_cmp(@extschema@.oms, @extschema@.oms),
	FUNCTION 2 pg_catalog.btint8sortsupport(internal),
	FUNCTION 4 pg_catalog.btequalimage(oid);
COMMENT ON OPERATOR CLASS @extschema@.oms_ops USING btree IS 'default btree operator class of oms';
CREATE OPERATOR CLASS @extschema@.oms_hash_ops DEFAULT FOR TYPE @extschema@.oms USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.oms_hash(@extschema@.oms),
	FUNCTION 2 @extschema@.oms_hash_extended(@extschema@.oms, bigint);
COMMENT ON OPERATOR CLASS @extschema@.oms_hash_ops USING hash IS 'default hash operator class of oms';
