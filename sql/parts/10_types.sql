/*
 * sql/parts/10_types.sql: the identifier types of layer 1 (issue 3 item 4): cdp.phone, cdp.email,
 * cdp.snils and cdp.oms, each with text and binary I/O, casts to and from text, try_ and is_valid_
 * functions, and default btree and hash operator classes.  C code: src/type_*.c, src/types.h.
 * Documentation: doc/types.md.
 */

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

CREATE OPERATOR CLASS @extschema@.snils_ops DEFAULT FOR TYPE @extschema@.snils USING btree AS
	OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.snils_cmp(@extschema@.snils, @extschema@.snils),
	FUNCTION 2 pg_catalog.btint8sortsupport(internal);
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

CREATE OPERATOR CLASS @extschema@.oms_ops DEFAULT FOR TYPE @extschema@.oms USING btree AS
	OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.oms_cmp(@extschema@.oms, @extschema@.oms),
	FUNCTION 2 pg_catalog.btint8sortsupport(internal);
COMMENT ON OPERATOR CLASS @extschema@.oms_ops USING btree IS 'default btree operator class of oms';
CREATE OPERATOR CLASS @extschema@.oms_hash_ops DEFAULT FOR TYPE @extschema@.oms USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.oms_hash(@extschema@.oms),
	FUNCTION 2 @extschema@.oms_hash_extended(@extschema@.oms, bigint);
COMMENT ON OPERATOR CLASS @extschema@.oms_hash_ops USING hash IS 'default hash operator class of oms';
