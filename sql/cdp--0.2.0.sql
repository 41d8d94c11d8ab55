/* cdp--0.2.0.sql: released install script of cdp 0.2.0 (frozen; generated from sql/parts at the 0.2.0 release, never edited) */
\echo Use "CREATE EXTENSION cdp" to load this file. \quit

/* ---- sql/parts/00_schema.sql ---- */
/*
 * sql/parts/00_schema.sql: schema-wide set-up shared by every family.
 *
 * Conventions for every part: qualify every name with @extschema@ or pg_catalog, state volatility,
 * STRICT and PARALLEL for every function, give every object a COMMENT, SET search_path on every
 * SECURITY DEFINER function, and revoke administrative functions from PUBLIC.
 */

/*
 * The schema must be one nobody but a superuser controls.  cdp.control names it (schema = cdp)
 * and CREATE EXTENSION creates it only when it does not exist: an existing schema cdp is used as
 * it is, with what it holds and whoever may change it.  The database owner (in PostgreSQL 15 it
 * also owns public) may create schemas, so it could prepare schema cdp with an overload that the
 * install's own calls prefer (register_source calls append_event with an integer subject: a
 * planted cdp.append_event(text, integer, bigint, jsonb) beats the real one), or rename the schema
 * after the install and put a fake cdp.upsert_record in its place; either runs with the rights of
 * the superuser who next calls cdp.  pg_cron refuses an existing schema by creating its own in its
 * script; cdp's is the extension schema itself, so this first statement checks it instead.  It
 * must be
 *  - owned by a superuser: the installer when CREATE EXTENSION has just created it, or the
 *    superuser who restores a dump (pg_dump writes CREATE SCHEMA cdp, then ALTER SCHEMA cdp
 *    OWNER TO the original owner, before CREATE EXTENSION ... WITH SCHEMA cdp, in other
 *    transactions, so "created by this transaction" would refuse every restore);
 *  - closed: no role but its owner or a superuser holds CREATE on it (PUBLIC included);
 *  - empty: no object depends on it but the extension being created.
 * Anything else raises insufficient_privilege before any object is created.
 * test/t/051_schema_attack.pl tries each attack; doc/security.md says what a DBA must not grant
 * afterwards.
 */
DO $schema_check$
DECLARE
	v_nsp		oid := '@extschema@'::pg_catalog.regnamespace;
	v_name		text;
	v_owner		text;
	v_super		boolean;
	v_grantee	text;
	v_object	text;
BEGIN
	SELECT n.nspname, r.rolname, r.rolsuper INTO v_name, v_owner, v_super
	  FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	 WHERE n.oid OPERATOR(pg_catalog.=) v_nsp;
	IF NOT COALESCE(v_super, false) THEN
		RAISE EXCEPTION 'schema "%" is not safe for extension "cdp"', v_name
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Schema "%s" is owned by role "%s", which is not a superuser: that role '
											 'could add objects to it or rename it, and they would run with the rights of '
											 'whoever calls cdp''s functions.', v_name, v_owner),
				  HINT = pg_catalog.format('Drop the schema (DROP SCHEMA %s) and let CREATE EXTENSION cdp create it.',
										   pg_catalog.quote_ident(v_name));
	END IF;

	SELECT COALESCE(r.rolname, 'PUBLIC') INTO v_grantee
	  FROM pg_catalog.pg_namespace n
	 CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
	  LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
	 WHERE n.oid OPERATOR(pg_catalog.=) v_nsp AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
	   AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner AND NOT COALESCE(r.rolsuper, false)
	 ORDER BY 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'schema "%" is not safe for extension "cdp"', v_name
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Role "%s" may create objects in it: an object it created there could '
											 'take the place of one of cdp''s.', v_grantee),
				  HINT = pg_catalog.format('Revoke it (REVOKE CREATE ON SCHEMA %s FROM %s), or drop the schema (DROP SCHEMA %s) '
										   'and let CREATE EXTENSION cdp create it.', pg_catalog.quote_ident(v_name),
										   CASE WHEN v_grantee OPERATOR(pg_catalog.=) 'PUBLIC' THEN v_grantee
												ELSE pg_catalog.quote_ident(v_grantee) END,
										   pg_catalog.quote_ident(v_name));
	END IF;

	SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) INTO v_object
	  FROM pg_catalog.pg_depend d
	 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
	   AND d.refobjid OPERATOR(pg_catalog.=) v_nsp
	   AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass
	 ORDER BY 1 LIMIT 1;
	IF NOT FOUND THEN
		/* belt and braces: every object records that dependency, but look in the main catalogs too */
		SELECT x.what INTO v_object FROM (
			SELECT pg_catalog.format('relation %s', c.relname) AS what FROM pg_catalog.pg_class c
			 WHERE c.relnamespace OPERATOR(pg_catalog.=) v_nsp
			UNION ALL
			SELECT pg_catalog.format('function %s', p.proname) FROM pg_catalog.pg_proc p
			 WHERE p.pronamespace OPERATOR(pg_catalog.=) v_nsp
			UNION ALL
			SELECT pg_catalog.format('type %s', t.typname) FROM pg_catalog.pg_type t
			 WHERE t.typnamespace OPERATOR(pg_catalog.=) v_nsp
			UNION ALL
			SELECT pg_catalog.format('operator %s', o.oprname) FROM pg_catalog.pg_operator o
			 WHERE o.oprnamespace OPERATOR(pg_catalog.=) v_nsp) x
		 ORDER BY 1 LIMIT 1;
	END IF;
	IF v_object IS NOT NULL THEN
		RAISE EXCEPTION 'schema "%" is not safe for extension "cdp"', v_name
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = pg_catalog.format('Schema "%s" already holds objects (%s): one the install did not create '
											 'could take the place of one of cdp''s.', v_name, v_object),
				  HINT = pg_catalog.format('Drop the schema (DROP SCHEMA %s CASCADE, after checking what it holds) and let '
										   'CREATE EXTENSION cdp create it.', pg_catalog.quote_ident(v_name));
	END IF;
END
$schema_check$;

/*
 * Two schemas, as TimescaleDB keeps _timescaledb_functions apart from its API: @extschema@ (cdp)
 * holds exactly what doc/reference.md documents, the API that the clinic's roles are granted on;
 * cdp_internal holds work tables, compilers and helpers, with no privilege for anyone but the
 * owner.  CREATE SCHEMA fails if a schema of that name exists, so nobody can plant objects in it
 * before the install.
 */
CREATE SCHEMA cdp_internal;
COMMENT ON SCHEMA cdp_internal IS 'cdp internals: work tables, compilers and helpers; no privileges for anyone but the owner, not an API';
REVOKE ALL ON SCHEMA cdp_internal FROM PUBLIC;

COMMENT ON SCHEMA @extschema@ IS 'cdp: patient identity, matching, golden records and engagement for clinics';

CREATE FUNCTION @extschema@.library_version() RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_library_version'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.library_version() IS 'version of the loaded cdp shared library';

/* ---- sql/parts/10_types.sql ---- */
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

/* ---- sql/parts/20_text.sql ---- */
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

/* ---- sql/parts/22_text_roles.sql ---- */
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

/* ---- sql/parts/25_phonetic.sql ---- */
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

/* ---- sql/parts/30_compare.sql ---- */
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

/* ---- sql/parts/35_compare_types.sql ---- */
/*
 * sql/parts/35_compare_types.sql: the phone and e-mail comparators for the cdp identifier types.
 *
 * The comparators (30_compare.sql) work on text so they run on any data; these overloads let a
 * query compare typed columns directly. They compare the canonical forms (E.164 digits for phones,
 * the address with a lower-cased, punycoded domain for e-mails), so "8 (916) 123-45-67" and
 * "+7 916 1234567" are already equal before any comparison. Plain SQL, inlined by the planner.
 */
CREATE FUNCTION @extschema@.phone_level(a @extschema@.phone, b @extschema@.phone) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN @extschema@.phone_level(@extschema@.phone_e164(a), @extschema@.phone_e164(b));
COMMENT ON FUNCTION @extschema@.phone_level(@extschema@.phone, @extschema@.phone) IS
	'phone_level of two cdp.phone values (extensions ignored): exact, same_last7, one_digit or different';

CREATE FUNCTION @extschema@.phone_similarity(a @extschema@.phone, b @extschema@.phone) RETURNS float8
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN @extschema@.phone_similarity(@extschema@.phone_e164(a), @extschema@.phone_e164(b));
COMMENT ON FUNCTION @extschema@.phone_similarity(@extschema@.phone, @extschema@.phone) IS
	'phone_similarity of two cdp.phone values (extensions ignored)';

CREATE FUNCTION @extschema@.email_level(a @extschema@.email, b @extschema@.email) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@.email_level($1::text, $2::text) $$;
COMMENT ON FUNCTION @extschema@.email_level(@extschema@.email, @extschema@.email) IS
	'email_level of two cdp.email values: exact, typo, same_local or different';

CREATE FUNCTION @extschema@.email_similarity(a @extschema@.email, b @extschema@.email) RETURNS float8
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@.email_similarity($1::text, $2::text) $$;
COMMENT ON FUNCTION @extschema@.email_similarity(@extschema@.email, @extschema@.email) IS
	'email_similarity of two cdp.email values';

/* ---- sql/parts/40_index.sql ---- */
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
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_similarity(text, text) IS
	'Jaccard similarity (0..1) of the trigram sets of two names'' cross-script name keys';

CREATE FUNCTION @extschema@.name_distance(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'cdp_name_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_distance(text, text) IS
	'1 - name_similarity(a, b); the function of the <-> operator';

-- STABLE, not IMMUTABLE: the result depends on the GUC cdp.name_similarity_threshold
-- (as pg_trgm's similarity_op depends on pg_trgm.similarity_threshold).
CREATE FUNCTION @extschema@.name_similar(text, text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'cdp_name_similar'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_similar(text, text) IS
	'true when name_similarity(a, b) > 0 and >= cdp.name_similarity_threshold; the function of the % operator';

CREATE FUNCTION @extschema@.name_index_keys(text) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'cdp_name_index_keys'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_index_keys(text) IS
	'the sorted int4 keys (packed or hashed trigrams of the name key) that name_gin_ops stores for a name';

CREATE OPERATOR @extschema@.% (
	LEFTARG = text,
	RIGHTARG = text,
	FUNCTION = @extschema@.name_similar,
	COMMUTATOR = OPERATOR(@extschema@.%),
	RESTRICT = pg_catalog.matchingsel,
	JOIN = pg_catalog.matchingjoinsel
);
COMMENT ON OPERATOR @extschema@.% (text, text) IS
	'names are similar: name_similarity at or above cdp.name_similarity_threshold (indexable by name_gin_ops)';

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

CREATE FUNCTION @extschema@.name_gin_extract_query(text, internal, int2, internal, internal, internal, internal)
	RETURNS internal
	AS 'MODULE_PATHNAME', 'cdp_name_gin_extract_query'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
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
	'GIN index of names by the trigrams of their cross-script name key; supports cdp.%';

/* ---- sql/parts/50_ingest.sql ---- */
/*
 * sql/parts/50_ingest.sql: sources, source records, the append-only event log, decisions made by
 * people about record pairs, and the queue of records matching has not seen yet.
 *
 * Every write here appends to cdp.event in the same transaction, so the log stays the truth and the
 * tables stay projections of it.  Personal data (record, event) is under row-level security: with no
 * policy yet, only the owner (the admin who created the extension) and BYPASSRLS roles see rows; the
 * access family adds per-role policies.
 */

/* ---------------------------------------------------------------- sequences */

CREATE SEQUENCE @extschema@.golden_id_seq AS bigint;
COMMENT ON SEQUENCE @extschema@.golden_id_seq IS
	'golden (person) ids; never assumed gap-free: a conflicting upsert may burn a value';

/* ---------------------------------------------------------------- sources */

CREATE TABLE @extschema@.source (
	source_id	integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE
		CONSTRAINT source_name_format CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
	kind		text NOT NULL
		CONSTRAINT source_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['internal', 'partner'])),
	trust		smallint NOT NULL
		CONSTRAINT source_trust_range CHECK (trust OPERATOR(pg_catalog.>=) 0 AND trust OPERATOR(pg_catalog.<=) 100),
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.source IS
	'source systems that send patient records (reception, lab, ...); trust 0-100 feeds survivorship';

/* ---------------------------------------------------------------- event log */

CREATE TABLE @extschema@.event (
	event_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	actor		text NOT NULL DEFAULT SESSION_USER,
	kind		text NOT NULL
		CONSTRAINT event_kind_format CHECK (kind OPERATOR(pg_catalog.~) '^[a-z_]+\.[a-z_]+$'),
	subject		bigint,
	golden_id	bigint,
	payload		jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX event_subject_idx ON @extschema@.event (subject, event_id);
CREATE INDEX event_golden_idx ON @extschema@.event (golden_id, event_id);
COMMENT ON TABLE @extschema@.event IS
	'append-only log of every change (kind family.verb); projections are rebuilt from it';
ALTER TABLE @extschema@.event ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION cdp_internal.event_refuse_change() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'cdp.event is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = pg_catalog.format('%s on cdp.event was refused.', TG_OP),
			  HINT = 'Record a correction as a new event instead.';
END
$$;
COMMENT ON FUNCTION cdp_internal.event_refuse_change() IS
	'trigger: refuses UPDATE, DELETE and TRUNCATE on cdp.event for every role';
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON @extschema@.event
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.event_refuse_change();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON @extschema@.event
	FOR EACH STATEMENT EXECUTE FUNCTION cdp_internal.event_refuse_change();
/*
 * ALWAYS: an ordinary trigger does not fire in a session with session_replication_role = replica
 * (a superuser's setting, which PostgreSQL 15 lets be granted), which would let the log be
 * rewritten without a trace.  test/t/053_replica_triggers.pl.
 */
ALTER TABLE @extschema@.event ENABLE ALWAYS TRIGGER event_append_only;
ALTER TABLE @extschema@.event ENABLE ALWAYS TRIGGER event_no_truncate;

CREATE FUNCTION cdp_internal.append_event(kind text, subject bigint, golden_id bigint, payload jsonb)
	RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
	VALUES ($1, $2, $3, COALESCE($4, '{}'::jsonb))
	RETURNING event_id
$$;
COMMENT ON FUNCTION cdp_internal.append_event(text, bigint, bigint, jsonb) IS
	'appends one event to cdp.event and returns its id (for cdp families; not for applications)';
REVOKE ALL ON FUNCTION cdp_internal.append_event(text, bigint, bigint, jsonb) FROM PUBLIC;

/* ---------------------------------------------------------------- records */

CREATE TABLE @extschema@.record (
	record_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source_id	integer NOT NULL REFERENCES @extschema@.source (source_id),
	source_key	text NOT NULL,
	golden_id	bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.golden_id_seq'::pg_catalog.regclass),
	raw			jsonb NOT NULL,
	family_name	text,
	given_name	text,
	patronymic	text,
	birth_date	date,
	sex			text CONSTRAINT record_sex_check CHECK (sex OPERATOR(pg_catalog.=) ANY (ARRAY['M', 'F'])),
	phones		@extschema@.phone[],
	emails		@extschema@.email[],
	snils		@extschema@.snils,
	oms			@extschema@.oms,
	address		text,
	city		text,
	handles		jsonb,
	extra		jsonb,
	attrs_hash	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	version		integer NOT NULL DEFAULT 1,
	CONSTRAINT record_source_key_unique UNIQUE (source_id, source_key)
);
CREATE INDEX record_golden_idx ON @extschema@.record (golden_id);
COMMENT ON TABLE @extschema@.record IS
	'source records: raw attrs as received plus typed, normalised columns; golden_id = the person';
ALTER TABLE @extschema@.record ENABLE ROW LEVEL SECURITY;

/* ---------------------------------------------------------------- decisions and queue */

CREATE TABLE @extschema@.pair_decision (
	record_a	bigint NOT NULL REFERENCES @extschema@.record (record_id),
	record_b	bigint NOT NULL REFERENCES @extschema@.record (record_id),
	decision	text NOT NULL
		CONSTRAINT pair_decision_check CHECK (decision OPERATOR(pg_catalog.=) ANY (ARRAY['match', 'no_match'])),
	actor		text NOT NULL DEFAULT SESSION_USER,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	note		text,
	event_id	bigint NOT NULL,
	PRIMARY KEY (record_a, record_b),
	CONSTRAINT pair_decision_order CHECK (record_a OPERATOR(pg_catalog.<) record_b)
);
CREATE INDEX pair_decision_b_idx ON @extschema@.pair_decision (record_b);
COMMENT ON TABLE @extschema@.pair_decision IS
	'current decision of a person about a record pair (match / no_match); history is in cdp.event';

CREATE TABLE cdp_internal.match_queue (
	record_id	bigint PRIMARY KEY,	/* no foreign key: a per-row check would double the queue's cost */
	queued_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cdp_internal.match_queue IS
	'records created or changed since matching last processed them';

/* ---------------------------------------------------------------- functions */

CREATE FUNCTION @extschema@.register_source(name text, kind text DEFAULT 'internal', trust integer DEFAULT 50)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_id		integer;
	v_old		@extschema@.source;
BEGIN
	IF name IS NULL OR kind IS NULL OR trust IS NULL THEN
		RAISE EXCEPTION 'source name, kind and trust must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid source name: "%"', pg_catalog.left(name, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A source name is 1 to 63 characters: a lower-case Latin letter, then letters, digits or underscores.',
				  HINT = 'For example: reception, lab_invitro.';
	END IF;
	IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['internal', 'partner']) THEN
		RAISE EXCEPTION 'invalid source kind: "%"', pg_catalog.left(kind, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use internal or partner.';
	END IF;
	IF trust OPERATOR(pg_catalog.<) 0 OR trust OPERATOR(pg_catalog.>) 100 THEN
		RAISE EXCEPTION 'source trust out of range: %', trust
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Trust is an integer from 0 (least) to 100 (most trusted).';
	END IF;

	SELECT s.* INTO v_old FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) register_source.name FOR UPDATE;
	IF FOUND THEN
		IF v_old.kind OPERATOR(pg_catalog.=) register_source.kind AND v_old.trust OPERATOR(pg_catalog.=) register_source.trust
		   AND v_old.active THEN
			RETURN v_old.source_id;
		END IF;
		UPDATE @extschema@.source s SET kind = register_source.kind, trust = register_source.trust, active = true
		 WHERE s.source_id OPERATOR(pg_catalog.=) v_old.source_id;
		PERFORM cdp_internal.append_event('source.updated', v_old.source_id, NULL,
			pg_catalog.jsonb_build_object('name', name, 'kind', kind, 'trust', trust,
										  'old', pg_catalog.jsonb_build_object('kind', v_old.kind, 'trust', v_old.trust, 'active', v_old.active)));
		RETURN v_old.source_id;
	END IF;

	INSERT INTO @extschema@.source (name, kind, trust) VALUES (name, kind, trust)
	ON CONFLICT ON CONSTRAINT source_name_key DO NOTHING
	RETURNING source_id INTO v_id;
	IF v_id IS NULL THEN
		/* a concurrent session registered it first */
		RETURN @extschema@.register_source(name, kind, trust);
	END IF;
	PERFORM cdp_internal.append_event('source.registered', v_id, NULL,
		pg_catalog.jsonb_build_object('name', name, 'kind', kind, 'trust', trust));
	RETURN v_id;
END
$$;
COMMENT ON FUNCTION @extschema@.register_source(text, text, integer) IS
	'registers a source system (or updates its kind and trust); idempotent; returns its id';
REVOKE ALL ON FUNCTION @extschema@.register_source(text, text, integer) FROM PUBLIC;

/*
 * The normaliser: one C function turns an attrs document into the typed, normalised record
 * (src/ingest_attrs.c).  It raises with the offending key (and the record's label) named, or with
 * lenient = true moves invalid values into extra._invalid.
 */
CREATE FUNCTION @extschema@.normalize_attrs(attrs jsonb, lenient boolean DEFAULT false, label text DEFAULT NULL)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_normalize_attrs'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_attrs(jsonb, boolean, text) IS
	'validates an attrs document and returns its normalised form (keys of cdp.record); raises naming the bad key';

/* One row of a batch as cdp.normalize_records returns it: the input, its hash and its typed columns. */
CREATE TYPE cdp_internal.ingest_row AS (
	ord			integer,
	source_key	text,
	attrs_hash	text,
	raw			jsonb,
	norm		jsonb,
	family_name	text,
	given_name	text,
	patronymic	text,
	birth_date	date,
	sex			text,
	phones		@extschema@.phone[],
	emails		@extschema@.email[],
	snils		@extschema@.snils,
	oms			@extschema@.oms,
	address		text,
	city		text,
	handles		jsonb,
	extra		jsonb
);
COMMENT ON TYPE cdp_internal.ingest_row IS
	'one new or changed row of an ingest batch: position, source_id, md5 of attrs, raw and normalised attrs, typed columns';

/*
 * The batch normaliser behind upsert_records (src/ingest_attrs.c): hashes every attrs document
 * (md5 of its canonical text), skips the rows whose hash equals the stored one, normalises the
 * others and returns them with their typed columns.  Errors name the row's source_id.
 */
CREATE FUNCTION cdp_internal.normalize_records(source_ids text[], attrs jsonb[], old_hashes text[], lenient boolean DEFAULT false)
	RETURNS cdp_internal.ingest_row[]
	AS 'MODULE_PATHNAME', 'cdp_normalize_records'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.normalize_records(text[], jsonb[], text[], boolean) IS
	'normalises the new or changed rows of an ingest batch (internal to upsert_records); raises naming the row and key';

/*
 * The payload of a record.created / record.updated event (src/ingest_attrs.c), built in one pass:
 * the same document as jsonb_build_object('source', source, 'source_id', source_id, 'version',
 * version, 'raw', raw, 'record', norm || jsonb_build_object('created_at', created_at,
 * 'updated_at', updated_at)).  STABLE: timestamps are written in the session's time zone.
 */
CREATE FUNCTION cdp_internal.record_event_payload(source text, source_id text, version integer, raw jsonb, norm jsonb,
												 created_at timestamptz, updated_at timestamptz)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_record_event_payload'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal.record_event_payload(text, text, integer, jsonb, jsonb, timestamptz, timestamptz) IS
	'the payload of a record.created / record.updated event (internal to upsert_records)';

/*
 * upsert_records: the set-based ingest path.  One statement per table for the whole batch (records,
 * events, queue), so a COPY-loaded staging table goes in at bulk speed; upsert_record is its
 * one-row case.  The whole batch is one transaction: any bad row rejects it, naming the row.
 */
CREATE FUNCTION @extschema@.upsert_records(source text, source_ids text[], attrs jsonb[], lenient boolean DEFAULT false)
	RETURNS TABLE (source_id text, record_id bigint, action text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	v_src		@extschema@.source;
	v_bad		record;
	v_goldens	bigint[];
	v_sids		text[];
	v_ids		bigint[];
	v_actions	text[];
	v_nlogged	bigint;
	v_nqueued	bigint;
	v_old		text[];
	v_rows		cdp_internal.ingest_row[];
BEGIN
	IF source IS NULL OR source_ids IS NULL OR attrs IS NULL THEN
		RAISE EXCEPTION 'source, source_id and attrs must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  DETAIL = pg_catalog.format('source %s, source_id %s, attrs %s.',
					  CASE WHEN source IS NULL THEN 'is null' ELSE 'is given' END,
					  CASE WHEN source_ids IS NULL THEN 'is null' ELSE 'is given' END,
					  CASE WHEN attrs IS NULL THEN 'is null' ELSE 'is given' END);
	END IF;
	SELECT s.* INTO v_src FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) upsert_records.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown source: "%"', pg_catalog.left(source, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Register it first with cdp.register_source(name, kind, trust).';
	END IF;
	IF NOT v_src.active THEN
		RAISE EXCEPTION 'source "%" is not active', source
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF pg_catalog.cardinality(source_ids) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(attrs) THEN
		RAISE EXCEPTION 'source_ids and attrs differ in length'
			USING ERRCODE = 'array_subscript_error',
				  DETAIL = pg_catalog.format('%s source ids, %s attrs documents.',
					  pg_catalog.cardinality(source_ids), pg_catalog.cardinality(attrs));
	END IF;

	/* row checks, naming the first bad row */
	SELECT u.ord, u.sid, u.a INTO v_bad
	  FROM unnest(source_ids, attrs) WITH ORDINALITY AS u(sid, a, ord)
	 WHERE u.sid IS NULL OR u.a IS NULL OR pg_catalog.btrim(u.sid) OPERATOR(pg_catalog.=) ''
	    OR pg_catalog.octet_length(u.sid) OPERATOR(pg_catalog.>) 200
	 ORDER BY u.ord LIMIT 1;
	IF FOUND THEN
		IF v_bad.sid IS NULL OR v_bad.a IS NULL THEN
			RAISE EXCEPTION 'source, source_id and attrs must not be null'
				USING ERRCODE = 'null_value_not_allowed',
					  DETAIL = pg_catalog.format('Row %s: source_id %s, attrs %s.', v_bad.ord,
						  CASE WHEN v_bad.sid IS NULL THEN 'is null' ELSE 'is given' END,
						  CASE WHEN v_bad.a IS NULL THEN 'is null' ELSE 'is given' END);
		END IF;
		RAISE EXCEPTION 'invalid source_id: "%"', pg_catalog.left(v_bad.sid, 100)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Row %s: source_id is %s bytes long.', v_bad.ord, pg_catalog.octet_length(v_bad.sid)),
				  HINT = 'A source_id is the id of the record in its source system: 1 to 200 bytes, not blank.';
	END IF;
	SELECT u.sid, pg_catalog.count(*) AS n INTO v_bad
	  FROM unnest(source_ids) AS u(sid) GROUP BY u.sid HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'source_id "%" appears % times in one batch', pg_catalog.left(v_bad.sid, 100), v_bad.n
			USING ERRCODE = 'unique_violation',
				  HINT = 'Send each record once per batch; send a later version in a later batch.';
	END IF;

	/*
	 * Normalise what is new or changed (the same input again costs one lookup), in one C call for
	 * the batch (cdp.normalize_records), made as a plain assignment so that an error's context is
	 * the record and the key, not this function's SQL.
	 */
	/*
	 * Existing records of the batch are locked first, in record-id order: the order in which a
	 * matching run's link batch (cdp.link_records_many) locks them, so the two cannot deadlock
	 * whatever order the batch lists them in.
	 */
	PERFORM 1 FROM @extschema@.record r
	  WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id AND r.source_key OPERATOR(pg_catalog.=) ANY (source_ids)
	  ORDER BY r.record_id FOR NO KEY UPDATE OF r;
	/*
	 * Each key looked up by itself (LATERAL, OFFSET 0 so the planner keeps it a per-key index
	 * lookup instead of turning it back into a join): a plan cached while the table looked empty (a fresh
	 * clinic, or one long transaction that autovacuum cannot analyze) otherwise hashed every
	 * record of the source for each call, so per-row loads in one transaction grew quadratic.
	 */
	SELECT pg_catalog.array_agg(r.attrs_hash ORDER BY u.ord) INTO v_old
	  FROM pg_catalog.unnest(source_ids) WITH ORDINALITY AS u(sid, ord)
	  LEFT JOIN LATERAL (SELECT r.attrs_hash FROM @extschema@.record r
	                      WHERE r.source_id OPERATOR(pg_catalog.=) v_src.source_id
	                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true;
	v_rows := cdp_internal.normalize_records(source_ids, attrs, v_old, lenient);

	/* one statement writes records, events and queue entries for the whole batch */
	WITH input AS (
		SELECT u.sid, u.ord FROM unnest(source_ids) WITH ORDINALITY AS u(sid, ord)
	), norm AS (
		SELECT * FROM pg_catalog.unnest(v_rows)
	), written AS (
		INSERT INTO @extschema@.record AS r
			(source_id, source_key, raw, family_name, given_name, patronymic, birth_date, sex, phones, emails,
			 snils, oms, address, city, handles, extra, attrs_hash)
		SELECT v_src.source_id, norm.source_key, norm.raw, norm.family_name, norm.given_name, norm.patronymic,
			   norm.birth_date, norm.sex, norm.phones, norm.emails, norm.snils, norm.oms, norm.address, norm.city,
			   norm.handles, norm.extra, norm.attrs_hash
		  FROM norm
		 ORDER BY norm.ord
		ON CONFLICT ON CONSTRAINT record_source_key_unique DO UPDATE
		   SET raw = EXCLUDED.raw, family_name = EXCLUDED.family_name, given_name = EXCLUDED.given_name,
			   patronymic = EXCLUDED.patronymic, birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex,
			   phones = EXCLUDED.phones, emails = EXCLUDED.emails, snils = EXCLUDED.snils, oms = EXCLUDED.oms,
			   address = EXCLUDED.address, city = EXCLUDED.city, handles = EXCLUDED.handles, extra = EXCLUDED.extra,
			   attrs_hash = EXCLUDED.attrs_hash, updated_at = pg_catalog.clock_timestamp(),
			   version = r.version OPERATOR(pg_catalog.+) 1
		 WHERE r.attrs_hash OPERATOR(pg_catalog.<>) EXCLUDED.attrs_hash
		RETURNING r.record_id, r.source_key, r.golden_id, r.version, r.created_at, r.updated_at
	), logged AS (
		INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
		SELECT CASE WHEN w.version OPERATOR(pg_catalog.=) 1 THEN 'record.created' ELSE 'record.updated' END,
			   w.record_id, w.golden_id,
			   cdp_internal.record_event_payload(v_src.name, w.source_key, w.version, norm.raw, norm.norm,
				   w.created_at, w.updated_at)
		  FROM written w JOIN norm ON norm.source_key OPERATOR(pg_catalog.=) w.source_key
		 ORDER BY norm.ord
		RETURNING subject
	), queued AS (
		INSERT INTO cdp_internal.match_queue (record_id)
		SELECT w.record_id FROM written w
		ON CONFLICT (record_id) DO UPDATE SET queued_at = EXCLUDED.queued_at
		RETURNING record_id
	)
	SELECT pg_catalog.array_agg(i.sid ORDER BY i.ord),
		   pg_catalog.array_agg(w.record_id ORDER BY i.ord),
		   pg_catalog.array_agg(CASE WHEN w.record_id IS NULL THEN 'unchanged'
									 WHEN w.version OPERATOR(pg_catalog.=) 1 THEN 'created' ELSE 'updated' END ORDER BY i.ord),
		   pg_catalog.array_agg(DISTINCT w.golden_id) FILTER (WHERE w.golden_id IS NOT NULL),
		   (SELECT pg_catalog.count(*) FROM logged), (SELECT pg_catalog.count(*) FROM queued)
	  INTO v_sids, v_ids, v_actions, v_goldens, v_nlogged, v_nqueued
	  FROM input i LEFT JOIN written w ON w.source_key OPERATOR(pg_catalog.=) i.sid;

	/* the golden profiles of every written record, in one call */
	IF v_goldens IS NOT NULL THEN
		PERFORM cdp_internal.refresh_patients(v_goldens);
	END IF;

	/*
	 * Unchanged rows (and rows a concurrent session wrote first) are looked up in a new statement,
	 * so a row committed by another session while we waited is seen.
	 */
	RETURN QUERY
	SELECT u.sid, COALESCE(u.id, r.record_id), u.act
	  FROM unnest(v_sids, v_ids, v_actions) WITH ORDINALITY AS u(sid, id, act, ord)
	  LEFT JOIN LATERAL (SELECT r.record_id FROM @extschema@.record r
	                      WHERE u.id IS NULL AND r.source_id OPERATOR(pg_catalog.=) v_src.source_id
	                        AND r.source_key OPERATOR(pg_catalog.=) u.sid OFFSET 0) r ON true
	 ORDER BY u.ord;
END
$$;
COMMENT ON FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) IS
	'ingests a batch of source records of one source in one statement per table; all or nothing';
REVOKE ALL ON FUNCTION @extschema@.upsert_records(text, text[], jsonb[], boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.upsert_record(source text, source_id text, attrs jsonb, lenient boolean DEFAULT false)
	RETURNS bigint
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT u.record_id FROM @extschema@.upsert_records($1, ARRAY[$2], ARRAY[$3], $4) u
$$;
COMMENT ON FUNCTION @extschema@.upsert_record(text, text, jsonb, boolean) IS
	'ingests one source record: validates, stores raw + normalised, logs an event; idempotent on (source, source_id)';
REVOKE ALL ON FUNCTION @extschema@.upsert_record(text, text, jsonb, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.golden_id(source text, source_id text) RETURNS bigint
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT r.golden_id
	  FROM @extschema@.record r JOIN @extschema@.source s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
	 WHERE s.name OPERATOR(pg_catalog.=) $1 AND r.source_key OPERATOR(pg_catalog.=) $2
$$;
COMMENT ON FUNCTION @extschema@.golden_id(text, text) IS
	'the golden (person) id a source record belongs to, or NULL when the record is unknown';

CREATE FUNCTION @extschema@.record_pair_decision(record_a bigint, record_b bigint, decision text, note text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v_a		bigint := LEAST(record_a, record_b);
	v_b		bigint := GREATEST(record_a, record_b);
	v_event	bigint;
	v_n		integer;
BEGIN
	IF record_a IS NULL OR record_b IS NULL OR decision IS NULL THEN
		RAISE EXCEPTION 'record_a, record_b and decision must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF decision OPERATOR(pg_catalog.<>) ALL (ARRAY['match', 'no_match']) THEN
		RAISE EXCEPTION 'invalid decision: "%"', pg_catalog.left(decision, 100)
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use match or no_match.';
	END IF;
	IF v_a OPERATOR(pg_catalog.=) v_b THEN
		RAISE EXCEPTION 'a record cannot be paired with itself'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('Both records are %s.', v_a);
	END IF;
	SELECT pg_catalog.count(*) INTO v_n FROM @extschema@.record r WHERE r.record_id OPERATOR(pg_catalog.=) ANY (ARRAY[v_a, v_b]);
	IF v_n OPERATOR(pg_catalog.<>) 2 THEN
		RAISE EXCEPTION 'unknown record in pair (%, %)', v_a, v_b
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Both ids must be record_id values of cdp.record.';
	END IF;
	v_event := cdp_internal.append_event('decision.recorded', v_a, NULL,
		pg_catalog.jsonb_build_object('record_a', v_a, 'record_b', v_b, 'decision', decision, 'note', note));
	INSERT INTO @extschema@.pair_decision AS d (record_a, record_b, decision, note, event_id)
	VALUES (v_a, v_b, decision, note, v_event)
	ON CONFLICT ON CONSTRAINT pair_decision_pkey DO UPDATE
	   SET decision = EXCLUDED.decision, note = EXCLUDED.note, actor = EXCLUDED.actor,
		   at = EXCLUDED.at, event_id = EXCLUDED.event_id;
	RETURN v_event;
END
$$;
COMMENT ON FUNCTION @extschema@.record_pair_decision(bigint, bigint, text, text) IS
	'records a person''s decision (match / no_match) about two records; an event; matching obeys it';
REVOKE ALL ON FUNCTION @extschema@.record_pair_decision(bigint, bigint, text, text) FROM PUBLIC;

/* ---- sql/parts/60_match_tables.sql ---- */
/*
 * sql/parts/60_match_tables.sql: probabilistic patient matching (layer 6, issue 6).
 *
 * Settings are a versioned JSON document (cdp.match_settings), expanded and validated on save and
 * compiled into a flat float8[] program for the C kernel (src/match_walk.c), which loads the
 * pre-normalised features of cdp.match_key once, walks the blocks of every blocking rule and scores
 * each candidate pair in one C call.  Training (u from random pairs, m and lambda by EM over blocked
 * pairs) stores its parameters with the settings version.  A run decides its links in memory
 * (src/match_link.c) and applies them in one cdp.link_records_many call (golden); people's
 * decisions go through cdp.record_pair_decision (ingest).  See doc/matching.md.
 */

/* ---------------------------------------------------------------- tables */

CREATE TABLE cdp_internal.match_settings (
	version    serial PRIMARY KEY,
	settings   jsonb NOT NULL,
	params     jsonb,
	program    float8[],
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	active     boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX match_settings_one_active ON cdp_internal.match_settings (active) WHERE active;
COMMENT ON TABLE cdp_internal.match_settings IS
	'versioned matching settings (expanded JSON document) with the parameters trained for each version and their compiled kernel program; one is active';

CREATE TABLE cdp_internal.match_key (
	record_id bigint PRIMARY KEY,
	version   int NOT NULL,
	flags     int NOT NULL DEFAULT 0,
	feat      text[],
	bk        text[]
);
COMMENT ON TABLE cdp_internal.match_key IS
	'per record: the pre-normalised comparison values (feat) and blocking keys (bk, "r<rule>:<key>") of the settings version that computed them';
ALTER TABLE cdp_internal.match_key ENABLE ROW LEVEL SECURITY;

-- The blocking keys again, one row per key, for the lookups that find a record's block mates
-- (match_record, incremental runs, find_patient).  A B-tree on these rows builds 2 to 4 times faster
-- than a GIN index on match_key.bk after a full re-key, and a lookup never reads a GIN pending list.
CREATE TABLE cdp_internal.match_block (
	bk        text COLLATE "C" NOT NULL,
	record_id bigint NOT NULL
);
CREATE INDEX match_block_bk ON cdp_internal.match_block (bk);
CREATE INDEX match_block_record ON cdp_internal.match_block (record_id);
COMMENT ON TABLE cdp_internal.match_block IS
	'one row per blocking key of each record of cdp.match_key (kept with it): the index the lookups find block mates through';
ALTER TABLE cdp_internal.match_block ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_tf (
	version int NOT NULL,
	comp    int NOT NULL,
	value   text NOT NULL,
	freq    float8 NOT NULL,
	PRIMARY KEY (version, comp, value)
);
COMMENT ON TABLE cdp_internal.match_tf IS
	'term frequencies of the tf-adjusted comparisons, per settings version (value '''' = the frequency of a value seen once)';
ALTER TABLE cdp_internal.match_tf ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_suspicious (
	attr    text NOT NULL,
	value   text NOT NULL,
	persons int NOT NULL,
	PRIMARY KEY (attr, value)
);
COMMENT ON TABLE cdp_internal.match_suspicious IS
	'snapshot of cdp.suspicious_values taken by a full run or training: these values are not evidence';
ALTER TABLE cdp_internal.match_suspicious ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_review (
	pair_id    bigserial PRIMARY KEY,
	record_a   bigint NOT NULL,
	record_b   bigint NOT NULL,
	score      float8 NOT NULL,
	weight     float8,
	levels     smallint[],
	flags      int NOT NULL DEFAULT 0,
	version    int,
	reason     text,
	status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'match', 'no_match')),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	decided_at timestamptz,
	note       text,
	CHECK (record_a < record_b),
	UNIQUE (record_a, record_b)
);
COMMENT ON TABLE cdp_internal.match_review IS
	'pairs scored between the review and link thresholds (or held back by a rule), waiting for a person''s decision';
ALTER TABLE cdp_internal.match_review ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.household (
	record_a   bigint NOT NULL,
	record_b   bigint NOT NULL,
	relation   text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (record_a, record_b, relation),
	CHECK (record_a < record_b)
);
COMMENT ON TABLE cdp_internal.household IS
	'related but different people (spouses, parent and child, twins): never a merge, and the pair is not linked automatically';
ALTER TABLE cdp_internal.household ENABLE ROW LEVEL SECURITY;

CREATE TABLE cdp_internal.match_run (
	run_id      bigserial PRIMARY KEY,
	mode        text NOT NULL,
	started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	finished_at timestamptz,
	result      jsonb
);
COMMENT ON TABLE cdp_internal.match_run IS 'one row per finished cdp.run_matching call, with its counts and step times';

/* ---- sql/parts/61_match_kernel.sql ---- */
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
	'internal: the matching kernel (modes score, count, patterns, sample, cross) over the rows of query';
REVOKE ALL ON FUNCTION cdp_internal._match_walk(text, text, float8[], int, float8, int, bigint, bigint[]) FROM PUBLIC;

-- One part of a walk: only the blocks whose key hash is part modulo nparts.  PARALLEL SAFE (it only
-- reads), so _match_walk_all runs one call per part in the parallel workers of a Gather node.
CREATE FUNCTION cdp_internal._match_walk_part(part int, nparts int, mode text, query text, program float8[],
		tf_version int, min_prob float8, max_block int, sample bigint, focus bigint[],
		OUT record_a bigint, OUT record_b bigint, OUT golden_a bigint, OUT golden_b bigint,
		OUT rule int, OUT weight float8, OUT probability float8, OUT flags int,
		OUT levels smallint[], OUT n bigint, OUT n_new bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp_match_walk_part'
	LANGUAGE C VOLATILE PARALLEL SAFE COST 1000000 ROWS 100000;
COMMENT ON FUNCTION cdp_internal._match_walk_part(int, int, text, text, float8[], int, float8, int, bigint, bigint[]) IS
	'internal: the matching kernel over the blocks of one part (key hash modulo nparts), for parallel workers';
REVOKE ALL ON FUNCTION cdp_internal._match_walk_part(int, int, text, text, float8[], int, float8, int, bigint, bigint[]) FROM PUBLIC;

-- The parts a parallel walk is cut into: one row per page (fillfactor 10, a 1000-byte pad), so that
-- a parallel sequential scan hands each process its own part.
CREATE TABLE cdp_internal.match_part (
	part int PRIMARY KEY,
	pad  text NOT NULL
) WITH (fillfactor = 10, parallel_workers = 7);
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
	RETURN QUERY SELECT w.* FROM cdp_internal.match_part p
	  CROSS JOIN LATERAL cdp_internal._match_walk_part(p.part, nparts, mode, query, program, tf_version,
	                                                  min_prob, max_block, sample, NULL) w
	 WHERE p.part < nparts;
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

/* ---- sql/parts/62_match_settings.sql ---- */
/*
 * sql/parts/62_match_settings.sql: matching: the settings document, expanded and validated on save.
 */

/* ---------------------------------------------------------------- settings */

CREATE FUNCTION cdp_internal._match_default_settings() RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN $json${
	"comparisons": [
		{"attr": "family_name", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "swapped", "with": "given_name"}, {"if": "cross", "with": "given_name"},
		            {"if": "jw", "ge": 0.92}, {"if": "jw", "ge": 0.8}]},
		{"attr": "given_name", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "swapped", "with": "family_name"}, {"if": "cross", "with": "patronymic"},
		            {"if": "jw", "ge": 0.92}, {"if": "jw", "ge": 0.8}, {"if": "initial"}]},
		{"attr": "patronymic", "comparator": "name", "tf": true,
		 "levels": [{"if": "exact"}, {"if": "key"}, {"if": "cross", "with": "family_name"}, {"if": "cross", "with": "given_name"},
		            {"if": "jw", "ge": 0.9}, {"if": "initial"}]},
		{"attr": "birth_date", "comparator": "date",
		 "levels": [{"if": "exact"}, {"if": "day_month_swapped"}, {"if": "osa", "le": 1}]},
		{"attr": "sex", "comparator": "exact"},
		{"attr": "phones", "comparator": "phone", "levels": [{"if": "exact"}, {"if": "last7"}]},
		{"attr": "emails", "comparator": "email", "levels": [{"if": "exact"}, {"if": "jw", "ge": 0.95}]},
		{"attr": "snils", "comparator": "id", "levels": [{"if": "exact"}, {"if": "osa", "le": 1}]},
		{"attr": "oms", "comparator": "id", "levels": [{"if": "exact"}, {"if": "osa", "le": 1}]},
		{"attr": "address", "comparator": "string", "levels": [{"if": "exact"}, {"if": "jw", "ge": 0.9}]},
		{"attr": "city", "comparator": "string", "tf": true, "levels": [{"if": "exact"}]},
		{"attr": "vk", "comparator": "id", "levels": [{"if": "exact"}]},
		{"attr": "telegram", "comparator": "id", "levels": [{"if": "exact"}]}
	],
	"blocking": [
		["family_name.key", "birth_date.year"],
		["given_name.key", "birth_date"],
		["family_name.key", "given_name.key"],
		["birth_date", "patronymic.key"],
		["birth_date", "given_name.initial"],
		["any_order", "family_name.key", "given_name.key"],
		["any_order", "family_name.key", "given_name.key", "patronymic.key"],
		["phones"],
		["emails"],
		["snils"],
		["oms"],
		["vk"],
		["telegram"]
	],
	"link_threshold": 0.9,
	"review_threshold": 0.8,
	"rules": {"same_id_match": ["snils", "oms", "phones"], "different_id_never": ["snils"],
	          "disagree_never": ["given_name", "patronymic", "birth_date"]},
	"name_roles": true,
	"placeholder_names": ["неизвестный", "неизвестная", "неизвестно", "аноним", "анонимно", "анонимный",
		"тест", "тестов", "тестова", "тестович", "тестовна", "тестовый", "test", "unknown", "noname", "нет"],
	"suspicious_min_persons": 10,
	"max_block_size": 5000
}$json$::jsonb;
COMMENT ON FUNCTION cdp_internal._match_default_settings() IS 'internal: the settings document installed as version 1 (clinic fields)';

-- _match_fail: raises the configuration error 22023 naming the JSON path.
CREATE FUNCTION cdp_internal._match_fail(path text, message text, hint text DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'invalid matching settings at "%"', path
		USING ERRCODE = '22023', DETAIL = message,
		      HINT = COALESCE(hint, 'See doc/matching.md for the settings document.');
END $$;
COMMENT ON FUNCTION cdp_internal._match_fail(text, text, text) IS 'internal: raises 22023 for a bad settings document, naming the JSON path';

-- _match_attr_column: the cdp.record column (or handles/extra key) an attrs key lands in.  Mirrors
-- the alias table of ingest (src/ingest_attrs.c, attr_aliases) so that settings may name fields as
-- the CSV header does; the compilers of src/match_compile.c resolve references with the same table.
CREATE FUNCTION cdp_internal._match_attr_column(attr text) RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_match_attr_column'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_attr_column(text) IS 'internal: the cdp.record column an attrs alias lands in (ingest''s aliases), or the key itself (C)';

-- _match_constants: the constants of src/match.h that SQL needs, so that none is written here:
-- the limits a settings document must keep (max_comparisons, max_levels per comparison, max_rules,
-- max_rule_keys per rule, max_features, max_osa for "le", max_prefix for "n"), the placeholder flag of a record (record_placeholder) and
-- the separator of a multi-valued feature (value_sep).
CREATE FUNCTION cdp_internal._match_constants() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'cdp_match_constants'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_constants() IS 'internal: limits and codes of the matching kernel, from its C header (C)';

CREATE FUNCTION cdp_internal._match_clinic_comparator(col text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE col
		WHEN 'family_name' THEN 'name' WHEN 'given_name' THEN 'name' WHEN 'patronymic' THEN 'name'
		WHEN 'birth_date' THEN 'date' WHEN 'sex' THEN 'exact' WHEN 'phones' THEN 'phone'
		WHEN 'emails' THEN 'email' WHEN 'snils' THEN 'id' WHEN 'oms' THEN 'id'
		WHEN 'address' THEN 'string' WHEN 'city' THEN 'string' END;
COMMENT ON FUNCTION cdp_internal._match_clinic_comparator(text) IS 'internal: the comparator of a cdp.record column (NULL for extra/handles keys)';

-- _match_default_levels: the levels a comparator gets when the document gives none.
CREATE FUNCTION cdp_internal._match_default_levels(comparator text) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE comparator
		WHEN 'name' THEN '[{"if":"exact"},{"if":"key"},{"if":"jw","ge":0.92},{"if":"jw","ge":0.8}]'
		WHEN 'string' THEN '[{"if":"exact"},{"if":"jw","ge":0.92},{"if":"jw","ge":0.8}]'
		WHEN 'date' THEN '[{"if":"exact"},{"if":"day_month_swapped"},{"if":"osa","le":1},{"if":"same_year"}]'
		WHEN 'phone' THEN '[{"if":"exact"},{"if":"last7"}]'
		WHEN 'email' THEN '[{"if":"exact"},{"if":"jw","ge":0.95}]'
		WHEN 'id' THEN '[{"if":"exact"},{"if":"osa","le":1}]'
		WHEN 'exact' THEN '[{"if":"exact"}]' END::jsonb;
COMMENT ON FUNCTION cdp_internal._match_default_levels(text) IS 'internal: default comparison levels of each comparator';

-- _match_op_code: level predicate name -> C op code (src/match.h MATCH_OP_*), NULL when the
-- comparator does not allow it; the table is match_ops of src/match_compile.c.
CREATE FUNCTION cdp_internal._match_op_code(op text, comparator text) RETURNS int
	AS 'MODULE_PATHNAME', 'cdp_match_op_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_op_code(text, text) IS 'internal: C op code of a level predicate allowed for a comparator (NULL when not allowed) (C)';

-- _match_guess_comparator: for a settings document that only names fields, the comparator of an
-- extra/handles key guessed from up to 2000 stored values (dates, digit ids, or names/strings).
CREATE FUNCTION cdp_internal._match_guess_comparator(key text) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n int; ndate int; ndigit int; avglen float8;
BEGIN
	SELECT pg_catalog.count(*),
	       pg_catalog.count(*) FILTER (WHERE cdp_internal._match_date(v) IS NOT NULL),
	       pg_catalog.count(*) FILTER (WHERE v ~ '^[\s\d-]+$'),
	       pg_catalog.avg(pg_catalog.length(v))
	  INTO n, ndate, ndigit, avglen
	  FROM (SELECT COALESCE(r.extra ->> key, r.handles ->> key) AS v
	          FROM @extschema@.record r
	         WHERE r.extra ? key OR r.handles ? key
	         LIMIT 2000) s
	 WHERE v IS NOT NULL AND v <> '';
	IF n = 0 THEN
		RETURN 'string';
	ELSIF ndate >= 0.8 * n AND key ~* '(date|dob|birth|born)' THEN
		RETURN 'date';
	ELSIF ndigit >= 0.8 * n THEN
		RETURN 'id';
	ELSIF avglen <= 20 THEN
		RETURN 'name';
	END IF;
	RETURN 'string';
END $$;
COMMENT ON FUNCTION cdp_internal._match_guess_comparator(text) IS 'internal: comparator guessed from the stored values of an extra key';

-- _match_expand: validates a settings document and returns it complete (fields-only documents
-- expanded, default levels and thresholds filled in).  Every error is 22023 naming the JSON path.
CREATE FUNCTION cdp_internal._match_expand(s jsonb) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d jsonb := cdp_internal._match_default_settings();
	lim jsonb := cdp_internal._match_constants();
	out jsonb;
	comps jsonb := '[]';
	comp jsonb;
	lv jsonb;
	lvs jsonb;
	k text;
	i int;
	j int;
	attr text;
	cmpname text;
	attrs text[] := '{}';
	cols text[] := '{}';
	rules jsonb := '[]';
	rule jsonb;
	item text;
	link float8;
	review float8;
	nf int;
BEGIN
	IF s IS NULL OR pg_catalog.jsonb_typeof(s) <> 'object' THEN
		PERFORM cdp_internal._match_fail('$', 'The settings must be a JSON object.');
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(s) LOOP
		IF k NOT IN ('fields', 'comparisons', 'blocking', 'link_threshold', 'review_threshold', 'rules',
		             'placeholder_names', 'suspicious_min_persons', 'max_block_size', 'lambda', 'name_roles') THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The key "%s" is not a settings key.', k),
				'Known keys: fields, comparisons, blocking, link_threshold, review_threshold, rules, placeholder_names, suspicious_min_persons, max_block_size, lambda, name_roles.');
		END IF;
	END LOOP;
	IF s ? 'fields' AND s ? 'comparisons' THEN
		PERFORM cdp_internal._match_fail('$.fields', 'Give either "fields" or "comparisons", not both.');
	END IF;
	IF NOT (s ? 'fields' OR s ? 'comparisons') THEN
		PERFORM cdp_internal._match_fail('$', 'The settings name no fields to compare.',
			'Add "fields": ["surname", "given_name", ...] or a "comparisons" list.');
	END IF;

	-- fields-only: one comparison per field, comparator from the column or guessed from the data
	IF s ? 'fields' THEN
		IF pg_catalog.jsonb_typeof(s -> 'fields') <> 'array' OR pg_catalog.jsonb_array_length(s -> 'fields') = 0 THEN
			PERFORM cdp_internal._match_fail('$.fields', 'The fields must be a non-empty array of attr names.');
		END IF;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'fields') - 1 LOOP
			IF pg_catalog.jsonb_typeof(s -> 'fields' -> i) <> 'string' OR (s -> 'fields' ->> i) = '' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.fields[%s]', i), 'A field must be a non-empty string.');
			END IF;
			attr := cdp_internal._match_attr_column(s -> 'fields' ->> i);
			cmpname := COALESCE(cdp_internal._match_clinic_comparator(attr), cdp_internal._match_guess_comparator(attr));
			comps := comps || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'attr', attr, 'comparator', cmpname, 'tf', cmpname IN ('name', 'string')));
		END LOOP;
	ELSE
		comps := s -> 'comparisons';
		IF pg_catalog.jsonb_typeof(comps) <> 'array' OR pg_catalog.jsonb_array_length(comps) = 0 THEN
			PERFORM cdp_internal._match_fail('$.comparisons', 'The comparisons must be a non-empty array.');
		END IF;
	END IF;
	IF pg_catalog.jsonb_array_length(comps) > (lim ->> 'max_comparisons')::int THEN
		PERFORM cdp_internal._match_fail('$.comparisons', pg_catalog.format('At most %s comparisons are supported.', lim ->> 'max_comparisons'));
	END IF;

	out := '[]';
	FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
		comp := comps -> i;
		IF pg_catalog.jsonb_typeof(comp) <> 'object' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s]', i), 'A comparison must be an object with "attr" and "comparator".');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(comp) LOOP
			IF k NOT IN ('attr', 'comparator', 'levels', 'tf', 'label') THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].%s', i, k), pg_catalog.format('The key "%s" is not a comparison key.', k),
					'Known keys: attr, comparator, levels, tf, label.');
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_typeof(comp -> 'attr') IS DISTINCT FROM 'string' OR (comp ->> 'attr') !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), 'The attr must be a name of letters, digits and underscores.');
		END IF;
		attr := cdp_internal._match_attr_column(comp ->> 'attr');
		IF attr = ANY (attrs) THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].attr', i), pg_catalog.format('The attr "%s" is compared twice.', attr));
		END IF;
		attrs := attrs || attr;
		cmpname := COALESCE(comp ->> 'comparator', cdp_internal._match_clinic_comparator(attr));
		IF cmpname IS NULL OR cmpname NOT IN ('name', 'string', 'date', 'phone', 'email', 'id', 'exact') THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].comparator', i),
				pg_catalog.format('The comparator "%s" is unknown.', COALESCE(cmpname, 'null')),
				'Use one of name, string, date, phone, email, id, exact.');
		END IF;
		IF comp ? 'tf' AND pg_catalog.jsonb_typeof(comp -> 'tf') <> 'boolean' THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].tf', i), 'The tf flag must be true or false.');
		END IF;
		lvs := COALESCE(comp -> 'levels', cdp_internal._match_default_levels(cmpname));
		IF pg_catalog.jsonb_typeof(lvs) <> 'array' OR pg_catalog.jsonb_array_length(lvs) NOT BETWEEN 1 AND (lim ->> 'max_levels')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels', i),
				pg_catalog.format('The levels must be an array of 1 to %s levels ("else" is implicit).', lim ->> 'max_levels'));
		END IF;
		FOR j IN 0 .. pg_catalog.jsonb_array_length(lvs) - 1 LOOP
			lv := lvs -> j;
			IF pg_catalog.jsonb_typeof(lv) = 'string' THEN
				lv := pg_catalog.jsonb_build_object('if', lv #>> '{}');
				lvs := pg_catalog.jsonb_set(lvs, ARRAY[j::text], lv);
			END IF;
			IF pg_catalog.jsonb_typeof(lv) <> 'object' OR cdp_internal._match_op_code(lv ->> 'if', cmpname) IS NULL THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s]', i, j),
					pg_catalog.format('The level "%s" is unknown or not allowed for comparator "%s".', COALESCE(lv ->> 'if', lv::text), cmpname),
					'Levels: exact, key (name), swapped or cross with "with" (name), jw with "ge", osa with "le", day_month_swapped, same_year (date), last7 (phone), initial, prefix with "n".');
			END IF;
			IF (lv ->> 'if') = 'jw' AND NOT (pg_catalog.jsonb_typeof(lv -> 'ge') = 'number' AND (lv ->> 'ge')::float8 > 0 AND (lv ->> 'ge')::float8 <= 1) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].ge', i, j), 'A jw level needs "ge", a number in (0, 1].');
			END IF;
			IF (lv ->> 'if') = 'osa' AND NOT (pg_catalog.jsonb_typeof(lv -> 'le') = 'number' AND (lv ->> 'le')::float8 BETWEEN 0 AND (lim ->> 'max_osa')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].le', i, j),
					pg_catalog.format('An osa level needs "le", an edit distance from 0 to %s.', lim ->> 'max_osa'));
			END IF;
			IF (lv ->> 'if') IN ('swapped', 'cross') AND NOT (pg_catalog.jsonb_typeof(lv -> 'with') = 'string'
			   AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(comps) x
			                WHERE cdp_internal._match_attr_column(x ->> 'attr') = cdp_internal._match_attr_column(lv ->> 'with')
			                  AND COALESCE(x ->> 'comparator', cdp_internal._match_clinic_comparator(x ->> 'attr')) = 'name'
			                  AND cdp_internal._match_attr_column(x ->> 'attr') <> attr)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].with', i, j),
					pg_catalog.format('A %s level needs "with", another compared attr of comparator "name".', lv ->> 'if'));
			END IF;
			IF (lv ->> 'if') = 'prefix' AND NOT (pg_catalog.jsonb_typeof(lv -> 'n') = 'number' AND (lv ->> 'n')::float8 BETWEEN 1 AND (lim ->> 'max_prefix')::int) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.comparisons[%s].levels[%s].n', i, j),
					pg_catalog.format('A prefix level needs "n", a length from 1 to %s.', lim ->> 'max_prefix'));
			END IF;
		END LOOP;
		out := out || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'attr', attr, 'comparator', cmpname, 'levels', lvs,
			'tf', COALESCE((comp ->> 'tf')::boolean, false))
			|| CASE WHEN comp ? 'label' THEN pg_catalog.jsonb_build_object('label', comp -> 'label') ELSE '{}' END);
	END LOOP;
	comps := out;

	-- blocking: given, or for fields-only documents pairs of the first five fields plus every date/id field
	IF s ? 'blocking' THEN
		rules := s -> 'blocking';
	ELSIF s ? 'fields' THEN
		-- names block on their name key, so spelling variants and transliterations share a block
		nf := LEAST(pg_catalog.jsonb_array_length(comps), 5);
		FOR i IN 0 .. nf - 1 LOOP
			FOR j IN i + 1 .. nf - 1 LOOP
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(
					(comps -> i ->> 'attr') || CASE WHEN comps -> i ->> 'comparator' = 'name' THEN '.key' ELSE '' END,
					(comps -> j ->> 'attr') || CASE WHEN comps -> j ->> 'comparator' = 'name' THEN '.key' ELSE '' END));
			END LOOP;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(comps) - 1 LOOP
			IF comps -> i ->> 'comparator' IN ('date', 'id', 'phone', 'email') AND pg_catalog.jsonb_array_length(rules) < (lim ->> 'max_rules')::int THEN
				rules := rules || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> i ->> 'attr'));
			END IF;
		END LOOP;
		IF pg_catalog.jsonb_array_length(rules) = 0 THEN
			rules := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(comps -> 0 ->> 'attr'));
		END IF;
		rules := (SELECT pg_catalog.jsonb_agg(r) FROM (SELECT r FROM pg_catalog.jsonb_array_elements(rules) WITH ORDINALITY e(r, o) ORDER BY o LIMIT (lim ->> 'max_rules')::int) x);
	ELSE
		PERFORM cdp_internal._match_fail('$.blocking', 'A settings document with "comparisons" needs "blocking" rules.',
			'Example: "blocking": [["family_name.key", "birth_date.year"], ["phones"]].');
	END IF;
	IF pg_catalog.jsonb_typeof(rules) <> 'array' OR pg_catalog.jsonb_array_length(rules) NOT BETWEEN 1 AND (lim ->> 'max_rules')::int THEN
		PERFORM cdp_internal._match_fail('$.blocking', pg_catalog.format('The blocking rules must be an array of 1 to %s rules.', lim ->> 'max_rules'));
	END IF;
	SELECT pg_catalog.array_agg(c ->> 'attr') INTO cols FROM pg_catalog.jsonb_array_elements(comps) c;
	FOR i IN 0 .. pg_catalog.jsonb_array_length(rules) - 1 LOOP
		rule := rules -> i;
		nf := CASE WHEN pg_catalog.jsonb_typeof(rule) = 'array' AND (rule ->> 0) = 'any_order' THEN 1 ELSE 0 END;
		IF pg_catalog.jsonb_typeof(rule) <> 'array' OR pg_catalog.jsonb_array_length(rule) - nf NOT BETWEEN 1 + nf AND (lim ->> 'max_rule_keys')::int THEN
			PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s]', i),
				pg_catalog.format('A blocking rule must be an array of 1 to %s keys.', lim ->> 'max_rule_keys'));
		END IF;
		FOR j IN nf .. pg_catalog.jsonb_array_length(rule) - 1 LOOP
			item := rule ->> j;
			IF item IS NULL OR pg_catalog.split_part(item, '.', 2) NOT IN ('', 'key', 'year', 'month_day', 'initial', 'last7', 'prefix3', 'phonetic')
			   OR NOT (cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1)) = ANY (cols)) THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j),
					pg_catalog.format('The blocking key "%s" does not name a compared attr with a known transform.', COALESCE(item, 'null')),
					'A key is "attr" or "attr.key", "attr.phonetic", "attr.year", "attr.month_day", "attr.initial", "attr.last7", "attr.prefix3", where attr is compared.');
			END IF;
			IF pg_catalog.split_part(item, '.', 2) IN ('key', 'phonetic')
			   AND (SELECT c ->> 'comparator' FROM pg_catalog.jsonb_array_elements(comps) c WHERE c ->> 'attr' = cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1))) <> 'name' THEN
				PERFORM cdp_internal._match_fail(pg_catalog.format('$.blocking[%s][%s]', i, j), 'The ".key" and ".phonetic" transforms need an attr with the "name" comparator.');
			END IF;
		END LOOP;
	END LOOP;

	link := COALESCE((s ->> 'link_threshold')::float8, (d ->> 'link_threshold')::float8);
	review := COALESCE((s ->> 'review_threshold')::float8, (d ->> 'review_threshold')::float8);
	IF s ? 'link_threshold' AND pg_catalog.jsonb_typeof(s -> 'link_threshold') <> 'number' OR NOT (link > 0 AND link < 1) THEN
		PERFORM cdp_internal._match_fail('$.link_threshold', 'The link threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF s ? 'review_threshold' AND pg_catalog.jsonb_typeof(s -> 'review_threshold') <> 'number' OR NOT (review > 0 AND review < 1) THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', 'The review threshold must be a probability strictly between 0 and 1.');
	END IF;
	IF review > link THEN
		PERFORM cdp_internal._match_fail('$.review_threshold', pg_catalog.format('The review threshold %s is above the link threshold %s.', review, link));
	END IF;

	-- deterministic rules name compared attrs of comparator id
	IF s ? 'rules' THEN
		IF pg_catalog.jsonb_typeof(s -> 'rules') <> 'object' THEN
			PERFORM cdp_internal._match_fail('$.rules', 'The rules must be an object with "same_id_match" and "different_id_never" lists.');
		END IF;
		FOR k IN SELECT pg_catalog.jsonb_object_keys(s -> 'rules') LOOP
			IF k NOT IN ('same_id_match', 'different_id_never', 'disagree_never') OR pg_catalog.jsonb_typeof(s -> 'rules' -> k) <> 'array' THEN
				PERFORM cdp_internal._match_fail('$.rules.' || k, 'Rules are "same_id_match", "different_id_never" and "disagree_never", each a list of compared attrs.');
			END IF;
			FOR j IN 0 .. pg_catalog.jsonb_array_length(s -> 'rules' -> k) - 1 LOOP
				IF NOT (cdp_internal._match_attr_column(s -> 'rules' -> k ->> j) = ANY (cols)) THEN
					PERFORM cdp_internal._match_fail(pg_catalog.format('$.rules.%s[%s]', k, j),
						pg_catalog.format('The attr "%s" is not compared.', s -> 'rules' -> k ->> j));
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	FOREACH k IN ARRAY ARRAY['suspicious_min_persons', 'max_block_size'] LOOP
		IF s ? k AND NOT (pg_catalog.jsonb_typeof(s -> k) = 'number' AND (s ->> k)::float8 >= 2 AND (s ->> k)::float8 <= 1000000) THEN
			PERFORM cdp_internal._match_fail('$.' || k, pg_catalog.format('The %s must be a number from 2 to 1000000.', k));
		END IF;
	END LOOP;
	IF s ? 'lambda' AND NOT (pg_catalog.jsonb_typeof(s -> 'lambda') = 'number' AND (s ->> 'lambda')::float8 > 0 AND (s ->> 'lambda')::float8 < 1) THEN
		PERFORM cdp_internal._match_fail('$.lambda', 'The lambda (prior match probability of a random pair) must be strictly between 0 and 1.');
	END IF;
	IF s ? 'name_roles' AND pg_catalog.jsonb_typeof(s -> 'name_roles') <> 'boolean' THEN
		PERFORM cdp_internal._match_fail('$.name_roles', 'The name_roles flag must be true or false.');
	END IF;
	IF s ? 'placeholder_names' AND pg_catalog.jsonb_typeof(s -> 'placeholder_names') <> 'array' THEN
		PERFORM cdp_internal._match_fail('$.placeholder_names', 'The placeholder names must be an array of strings.');
	END IF;

	RETURN pg_catalog.jsonb_build_object(
		'comparisons', comps,
		'blocking', rules,
		'link_threshold', link,
		'review_threshold', review,
		'rules', CASE WHEN s ? 'rules' THEN s -> 'rules'
		              WHEN s ? 'comparisons' THEN '{}'::jsonb
		              ELSE (SELECT pg_catalog.jsonb_build_object(
		                       'same_id_match', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a IN ('snils', 'oms')), '[]'),
		                       'different_id_never', COALESCE(pg_catalog.jsonb_agg(a) FILTER (WHERE a = 'snils'), '[]'),
		                       'disagree_never', '[]'::jsonb)
		                     FROM pg_catalog.unnest(cols) a) END,
		'placeholder_names', COALESCE(s -> 'placeholder_names', d -> 'placeholder_names'),
		'suspicious_min_persons', COALESCE(s -> 'suspicious_min_persons', d -> 'suspicious_min_persons'),
		'max_block_size', COALESCE(s -> 'max_block_size', d -> 'max_block_size'),
		'lambda', COALESCE(s -> 'lambda', '0.0001'::jsonb),
		'name_roles', COALESCE(s -> 'name_roles', d -> 'name_roles', 'false'::jsonb));
END $$;
COMMENT ON FUNCTION cdp_internal._match_expand(jsonb) IS 'internal: validates a matching settings document (22023 naming the JSON path) and returns it complete';

CREATE FUNCTION @extschema@.configure_matching(settings jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	full_doc jsonb := cdp_internal._match_expand(settings);
	v int;
BEGIN
	UPDATE cdp_internal.match_settings SET active = false WHERE active;
	INSERT INTO cdp_internal.match_settings (settings, program, active)
		VALUES (full_doc, cdp_internal._match_program(full_doc, NULL), true) RETURNING version INTO v;
	RETURN v;
END $$;
COMMENT ON FUNCTION @extschema@.configure_matching(jsonb) IS
	'validates a matching settings document, stores it as a new active version and returns the version; e.g. configure_matching(''{"fields":["surname","given_name","date_of_birth"]}'')';
REVOKE ALL ON FUNCTION @extschema@.configure_matching(jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.matching_settings() RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT s.settings || pg_catalog.jsonb_build_object('version', s.version, 'trained', s.params IS NOT NULL)
	          FROM cdp_internal.match_settings s WHERE s.active);
COMMENT ON FUNCTION @extschema@.matching_settings() IS 'the matching settings document in force, with its version and whether it is trained';

/* ---- sql/parts/63_match_features.sql ---- */
/*
 * sql/parts/63_match_features.sql: matching: comparison features and the per-record key table.
 */

/* ---------------------------------------------------------------- features */

-- _match_name_roles: the family, given and patronymic name of a record by what the words are, not
-- by the field they came in (a whole name typed «Имя Фамилия» or «Имя Отчество Фамилия» into a form
-- puts a given name in the family field).  The rules are cdp.name_roles (src/text_roles.c, layer 2),
-- which ingest also applies when it splits a full name; see doc/ingest.md.
CREATE FUNCTION cdp_internal._match_name_roles(family text, given text, patronymic text) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN @extschema@.name_roles(family, given, patronymic);
COMMENT ON FUNCTION cdp_internal._match_name_roles(text, text, text) IS
	'internal: family, given and patronymic name by what the words are (cdp.name_roles), as an array of three';

-- _match_value_sql: SQL expression of the raw value(s) of attr for record alias r, multi-values
-- joined with the kernel's separator (U+001F, value_sep of _match_constants).
CREATE FUNCTION cdp_internal._match_value_sql(attr text, comparator text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE
		WHEN attr IN ('family_name', 'given_name', 'patronymic', 'address', 'city') THEN
			CASE comparator WHEN 'date' THEN pg_catalog.format('cdp_internal._match_date(r.%I)', attr)
			                WHEN 'id' THEN pg_catalog.format('pg_catalog.upper(pg_catalog.regexp_replace(r.%I, ''[\s-]'', '''', ''g''))', attr)
			                ELSE pg_catalog.format('cdp_internal._match_norm(r.%I)', attr) END
		WHEN attr = 'sex' THEN 'pg_catalog.upper(pg_catalog.left(r.sex, 1))'
		WHEN attr = 'birth_date' THEN 'pg_catalog.to_char(r.birth_date, ''YYYYMMDD'')'
		WHEN attr IN ('phones', 'emails') THEN pg_catalog.format(
			'NULLIF(pg_catalog.array_to_string(ARRAY(SELECT x FROM (SELECT %s AS x FROM pg_catalog.unnest(r.%I) WITH ORDINALITY u(v, o) ORDER BY o) y'
			' WHERE x <> '''' AND NOT EXISTS (SELECT 1 FROM cdp_internal.match_suspicious s WHERE s.attr = %L AND s.value = y.x)), %L), '''')',
			CASE attr WHEN 'phones' THEN 'pg_catalog.regexp_replace(v::text, ''\D'', '''', ''g'')' ELSE 'pg_catalog.lower(pg_catalog.btrim(v::text))' END,
			attr, attr, cdp_internal._match_constants() ->> 'value_sep')
		WHEN attr IN ('snils', 'oms') THEN pg_catalog.format('NULLIF(pg_catalog.regexp_replace(r.%I::text, ''\D'', '''', ''g''), '''')', attr)
		ELSE (SELECT CASE comparator
			WHEN 'date' THEN pg_catalog.format('cdp_internal._match_date(%s)', e)
			WHEN 'phone' THEN pg_catalog.format('NULLIF(pg_catalog.regexp_replace(%s, ''\D'', '''', ''g''), '''')', e)
			WHEN 'email' THEN pg_catalog.format('NULLIF(pg_catalog.lower(pg_catalog.btrim(%s)), '''')', e)
			WHEN 'id' THEN pg_catalog.format('NULLIF(pg_catalog.upper(pg_catalog.regexp_replace(%s, ''[\s-]'', '''', ''g'')), '''')', e)
			WHEN 'exact' THEN pg_catalog.format('NULLIF(pg_catalog.btrim(%s), '''')', e)
			ELSE pg_catalog.format('cdp_internal._match_norm(%s)', e) END
			FROM (SELECT pg_catalog.format('COALESCE(r.extra ->> %L, r.handles ->> %L)', attr, attr) AS e) x)
		END;
COMMENT ON FUNCTION cdp_internal._match_value_sql(text, text) IS 'internal: SQL expression reading and normalising an attr of cdp.record r';

-- _match_layout: the feature columns of a settings document: one per comparison, two for "name"
-- (value, key); returns per comparison its 1-based feature position (src/match_compile.c
-- MatchDocLayout, the layout the kernel program is compiled with).
CREATE FUNCTION cdp_internal._match_layout(s jsonb, OUT comp int, OUT attr text, OUT comparator text, OUT fpos int)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'cdp_match_layout'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 24;
COMMENT ON FUNCTION cdp_internal._match_layout(jsonb) IS 'internal: feature column position of each comparison (C)';

-- _match_features: one record's features in one C call (src/match_features.c), the values the SQL
-- expressions below compute; _match_feature_program compiles a settings document for it.
CREATE FUNCTION cdp_internal._match_features(kinds int[], rules text[], ph_pos int[], ph_names text[],
		raw text[], phones text[], emails text[], susp_phones text[], susp_emails text[],
		OUT flags int, OUT feat text[], OUT bk text[])
	AS 'MODULE_PATHNAME', 'cdp_match_features'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_features(int[], text[], int[], text[], text[], text[], text[], text[], text[]) IS
	'internal: the match_key features, blocking keys and placeholder flag of one record (C); see _match_feature_program';

-- _match_feature_program: the program of _match_features for settings s, compiled in C
-- (src/match_compile.c, MatchCompileFeatures, from the MATCH_FEAT_* and MATCH_TR_* codes of
-- src/match.h): per comparison a kind and the SQL expression of its raw value over record alias r;
-- per blocking rule "A" (any_order) or "N" then ";<0-based feature column>:<transform>" per item; the
-- placeholder name columns and names.  Every column NULL when s uses what only the SQL form computes
-- (a date comparator on a text attr, a "name" comparator outside the name attrs, a phonetic key) or
-- the database is not UTF-8.  STABLE: the answer depends on the database encoding.
CREATE FUNCTION cdp_internal._match_feature_program(s jsonb, OUT kinds int[], OUT raws text[], OUT rules text[],
		OUT ph_pos int[], OUT ph_names text[])
	AS 'MODULE_PATHNAME', 'cdp_match_feature_program'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_feature_program(jsonb) IS
	'internal: compiles settings for the C feature builder (_match_features), NULL kinds when only the SQL form applies (C)';

-- _match_feature_query: a query over from_sql (which must define alias r with cdp.record's
-- columns) returning (record_id, golden_id, flags, feat, bk) under settings s.  Each feature is
-- computed once in an inner query; blocking keys and flags are read from the features.
CREATE FUNCTION cdp_internal._match_feature_query(s jsonb, from_sql text, use_sql boolean DEFAULT false) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	feat text[] := '{}';
	bk text[] := '{}';
	l record;
	v text;
	i int;
	j int;
	item text;
	battr text;
	tr text;
	parts text[];
	e text;
	names text;
	pos_f int;
	pos_g int;
	pos_p int;
	flags text := '0';
	fp record;
	c_form boolean := false;
	cols text;
	k jsonb := cdp_internal._match_constants();
BEGIN
	-- one C call per record when the settings compile for it (the SQL form below is the reference)
	IF NOT use_sql THEN
		fp := cdp_internal._match_feature_program(s);
		c_form := fp.kinds IS NOT NULL;
	END IF;
	IF c_form THEN
		cols := pg_catalog.array_to_string(fp.raws, ', ');
	ELSE
		FOR l IN SELECT * FROM cdp_internal._match_layout(s) LOOP
			v := cdp_internal._match_value_sql(l.attr, l.comparator);
			feat := feat || v;
			IF l.comparator = 'name' THEN
				-- the key of the raw value: name_base_key normalises by itself
				feat := feat || pg_catalog.replace(v, 'cdp_internal._match_norm(', 'cdp_internal._match_name_key(');
			END IF;
		END LOOP;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(s -> 'blocking') - 1 LOOP
			parts := '{}';
			pos_g := CASE WHEN s -> 'blocking' -> i ->> 0 = 'any_order' THEN 1 ELSE 0 END;
			FOR j IN pos_g .. pg_catalog.jsonb_array_length(s -> 'blocking' -> i) - 1 LOOP
				item := s -> 'blocking' -> i ->> j;
				battr := cdp_internal._match_attr_column(pg_catalog.split_part(item, '.', 1));
				tr := pg_catalog.split_part(item, '.', 2);
				SELECT CASE WHEN tr = 'key' THEN y.fpos + 1 ELSE y.fpos END INTO pos_f
				  FROM cdp_internal._match_layout(s) y WHERE y.attr = battr;
				e := pg_catalog.format('pg_catalog.split_part(q.feat[%s], %L, 1)', pos_f, k ->> 'value_sep');
				e := CASE tr
					WHEN 'year' THEN pg_catalog.format('pg_catalog.left(%s, 4)', e)
					WHEN 'month_day' THEN pg_catalog.format('pg_catalog.substr(%s, 5, 4)', e)
					WHEN 'initial' THEN pg_catalog.format('pg_catalog.left(%s, 1)', e)
					WHEN 'last7' THEN pg_catalog.format('pg_catalog.right(%s, 7)', e)
					WHEN 'prefix3' THEN pg_catalog.format('pg_catalog.left(%s, 3)', e)
					WHEN 'phonetic' THEN pg_catalog.format('@extschema@.phonetic_ru(%s)', e)
					ELSE e END;
				parts := parts || pg_catalog.format('NULLIF(%s, '''')', e);
			END LOOP;
			-- NULL when any part is missing: a rule never blocks on nothing; an "any_order" rule sorts its
			-- parts, so Иванов Пётр and Пётр Иванов (given and family name exchanged) share its key
			IF s -> 'blocking' -> i ->> 0 = 'any_order' THEN
				bk := bk || pg_catalog.format('(%L || (SELECT pg_catalog.string_agg(x, ''|'' ORDER BY x COLLATE "C") FROM pg_catalog.unnest(ARRAY[%s]) x HAVING pg_catalog.count(x) = %s))',
					'r' || i || ':', pg_catalog.array_to_string(parts, ', '), pg_catalog.cardinality(parts));
			ELSE
				bk := bk || pg_catalog.format('(%L || %s)', 'r' || i || ':', pg_catalog.array_to_string(parts, ' || ''|'' || '));
			END IF;
		END LOOP;
		-- placeholder records: no name at all, or a name from placeholder_names
		SELECT y.fpos INTO pos_f FROM cdp_internal._match_layout(s) y WHERE y.attr = 'family_name' AND y.comparator = 'name';
		SELECT y.fpos INTO pos_g FROM cdp_internal._match_layout(s) y WHERE y.attr = 'given_name' AND y.comparator = 'name';
		SELECT y.fpos INTO pos_p FROM cdp_internal._match_layout(s) y WHERE y.attr = 'patronymic' AND y.comparator = 'name';
		IF pos_f IS NOT NULL OR pos_g IS NOT NULL THEN
			SELECT pg_catalog.string_agg(pg_catalog.quote_literal(cdp_internal._match_norm(n)), ', ') INTO names
			  FROM pg_catalog.jsonb_array_elements_text(s -> 'placeholder_names') n;
			names := pg_catalog.format('ARRAY[%s]::text[]', COALESCE(names, '''-'''));
			flags := pg_catalog.format('CASE WHEN %2$s IS NULL AND %3$s IS NULL THEN %1$s WHEN %4$s OR %5$s OR %6$s THEN %1$s ELSE 0 END',
				k ->> 'record_placeholder', COALESCE('q.feat[' || pos_f || ']', 'NULL'), COALESCE('q.feat[' || pos_g || ']', 'NULL'),
				COALESCE('q.feat[' || pos_f || '] = ANY (' || names || ')', 'false'),
				COALESCE('q.feat[' || pos_g || '] = ANY (' || names || ')', 'false'),
				COALESCE('q.feat[' || pos_p || '] = ANY (' || names || ')', 'false'));
		END IF;
		cols := pg_catalog.array_to_string(feat, ', ');
	END IF;
	-- name_roles: names read by what the words are (_match_name_roles), computed once per record,
	-- in either form
	IF COALESCE((s ->> 'name_roles')::boolean, false) THEN
		cols := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(cols,
			'r.family_name', 'nr.n[1]'), 'r.given_name', 'nr.n[2]'), 'r.patronymic', 'nr.n[3]');
		from_sql := pg_catalog.format('(SELECT r.* FROM %s) r CROSS JOIN LATERAL (SELECT cdp_internal._match_name_roles(r.family_name, r.given_name, r.patronymic) AS n OFFSET 0) nr', from_sql);
	END IF;
	IF c_form THEN
		RETURN pg_catalog.format('SELECT q.record_id, q.golden_id, (q.f).flags, (q.f).feat, (q.f).bk'
			' FROM (SELECT r.record_id, r.golden_id, cdp_internal._match_features(%L::int[], %L::text[], %L::int[], %L::text[],'
			' ARRAY[%s]::text[], r.phones::text[], r.emails::text[], (SELECT pg_catalog.array_agg(x.value) FROM cdp_internal.match_suspicious x WHERE x.attr = ''phones''),'
			' (SELECT pg_catalog.array_agg(x.value) FROM cdp_internal.match_suspicious x WHERE x.attr = ''emails'')) AS f'
			' FROM %s OFFSET 0) q',
			fp.kinds, fp.rules, fp.ph_pos, fp.ph_names, cols, from_sql);
	END IF;
	RETURN pg_catalog.format('SELECT q.record_id, q.golden_id, (%s)::int AS flags, q.feat, ARRAY[%s]::text[] AS bk'
		' FROM (SELECT r.record_id, r.golden_id, ARRAY[%s]::text[] AS feat FROM %s OFFSET 0) q',
		flags, pg_catalog.array_to_string(bk, ', '), cols, from_sql);
END $$;
COMMENT ON FUNCTION cdp_internal._match_feature_query(jsonb, text, boolean) IS
	'internal: query computing record_id, golden_id, flags, features and blocking keys of the records of from_sql (alias r)';

CREATE FUNCTION cdp_internal._match_active(OUT version int, OUT settings jsonb, OUT params jsonb, OUT program float8[])
	LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	SELECT s.version, s.settings, s.params, s.program INTO version, settings, params, program
	  FROM cdp_internal.match_settings s WHERE s.active;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no matching settings are active' USING ERRCODE = '55000',
			HINT = 'Call cdp.configure_matching(settings) first.';
	END IF;
END $$;
COMMENT ON FUNCTION cdp_internal._match_active() IS 'internal: the active settings version, document, trained parameters and compiled program';

-- _match_refresh_keys: (re)computes match_key for the given records (NULL: every record).
CREATE FUNCTION cdp_internal._match_refresh_keys(ids bigint[]) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
	n bigint;
BEGIN
	IF ids IS NULL THEN
		-- every record: the block index is built after the load (one sorted build, not a row at a time)
		TRUNCATE cdp_internal.match_key, cdp_internal.match_block;
		DROP INDEX IF EXISTS cdp_internal.match_block_bk;
		DROP INDEX IF EXISTS cdp_internal.match_block_record;
		EXECUTE pg_catalog.format('INSERT INTO cdp_internal.match_key (record_id, version, flags, feat, bk) SELECT f.record_id, %s, f.flags, f.feat, f.bk FROM (%s) f',
			a.version, cdp_internal._match_feature_query(a.settings, '@extschema@.record r'));
		GET DIAGNOSTICS n = ROW_COUNT;
		INSERT INTO cdp_internal.match_block (bk, record_id)
		SELECT b, k.record_id FROM cdp_internal.match_key k, pg_catalog.unnest(k.bk) b WHERE b IS NOT NULL;
		CREATE INDEX match_block_bk ON cdp_internal.match_block (bk);
		CREATE INDEX match_block_record ON cdp_internal.match_block (record_id);
	ELSE
		-- Two sessions may re-key one record at once (match_record at two desks, or beside a run):
		-- the key row is upserted, so the second waits for the first and then updates its row
		-- (a plain insert failed with a duplicate key); the block rows are replaced after that, by
		-- statements that see the first session's rows.
		DELETE FROM cdp_internal.match_key WHERE record_id = ANY (ids);
		EXECUTE pg_catalog.format('INSERT INTO cdp_internal.match_key (record_id, version, flags, feat, bk) SELECT f.record_id, %s, f.flags, f.feat, f.bk FROM (%s) f'
			' ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, flags = excluded.flags, feat = excluded.feat, bk = excluded.bk',
			a.version, cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = ANY ($1)')) USING ids;
		GET DIAGNOSTICS n = ROW_COUNT;
		DELETE FROM cdp_internal.match_block WHERE record_id = ANY (ids);
		INSERT INTO cdp_internal.match_block (bk, record_id)
		SELECT b, k.record_id FROM cdp_internal.match_key k, pg_catalog.unnest(k.bk) b
		 WHERE k.record_id = ANY (ids) AND b IS NOT NULL;
	END IF;
	IF ids IS NULL OR n > 10000 THEN
		-- the lookups go through the indexes of match_block: give the planner fresh statistics
		ANALYZE cdp_internal.match_key;
		ANALYZE cdp_internal.match_block;
	END IF;
	RETURN n;
END $$;
COMMENT ON FUNCTION cdp_internal._match_refresh_keys(bigint[]) IS 'internal: recomputes the features and blocking keys of some records (NULL: all)';

/* ---- sql/parts/64_match_program.sql ---- */
/*
 * sql/parts/64_match_program.sql: matching: parameters, the kernel program, and evidence that is no evidence.
 */

/* ---------------------------------------------------------------- parameters and program */

-- _match_params: trained parameters of the active version, or untrained defaults: per comparison
-- m and u (one per level, "else" last) and lambda.
CREATE FUNCTION cdp_internal._match_params(s jsonb, p jsonb) RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(p, pg_catalog.jsonb_build_object(
		'lambda', s -> 'lambda',
		'trained', false,
		'm', (SELECT pg_catalog.jsonb_agg(
				(SELECT pg_catalog.jsonb_agg(CASE WHEN l = nl THEN 0.02 ELSE 0.98 * pg_catalog.power(0.25, l) * 0.75 END ORDER BY l)
				   FROM pg_catalog.generate_series(0, nl) l) ORDER BY o)
			  FROM (SELECT o, pg_catalog.jsonb_array_length(c -> 'levels') AS nl
			          FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)) x),
		'u', (SELECT pg_catalog.jsonb_agg(
				(SELECT pg_catalog.jsonb_agg(CASE WHEN l = nl THEN 0.9 ELSE 0.01 * (l + 1) END ORDER BY l)
				   FROM pg_catalog.generate_series(0, nl) l) ORDER BY o)
			  FROM (SELECT o, pg_catalog.jsonb_array_length(c -> 'levels') AS nl
			          FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)) x)))
$$;
COMMENT ON FUNCTION cdp_internal._match_params(jsonb, jsonb) IS 'internal: trained m, u and lambda, or untrained defaults';

-- _match_compile_program: compiles expanded settings and their parameters (as _match_params
-- returns them) into the packed float8[] the kernel decodes, in C from the constants the kernel
-- reads it with (src/match_compile.c MatchCompileProgram; layout in src/match.h).
CREATE FUNCTION cdp_internal._match_compile_program(s jsonb, params jsonb) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'cdp_match_compile_program'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp_internal._match_compile_program(jsonb, jsonb) IS
	'internal: the kernel''s program of expanded settings and parameters (C)';

-- _match_program: the kernel program of settings s with trained parameters p (NULL: the untrained
-- defaults of _match_params).
CREATE FUNCTION cdp_internal._match_program(s jsonb, p jsonb) RETURNS float8[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN cdp_internal._match_compile_program(s, cdp_internal._match_params(s, p));
COMMENT ON FUNCTION cdp_internal._match_program(jsonb, jsonb) IS 'internal: compiles settings and parameters into the kernel''s program';

-- _match_query: the kernel's record query over match_key (optionally only records sharing a
-- blocking key with the focus records, through the GIN index on bk).  with_golden false: no join
-- to cdp.record for the golden ids (the walk reports each record as its own person), for a
-- lookup that reads the golden ids of the few pairs it keeps.
CREATE FUNCTION cdp_internal._match_query(focus bigint[], with_golden boolean DEFAULT true) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE WHEN with_golden IS DISTINCT FROM false
	            THEN 'SELECT k.record_id, r.golden_id, k.flags, k.feat, k.bk FROM cdp_internal.match_key k JOIN @extschema@.record r USING (record_id)'
	            ELSE 'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k' END
		|| CASE WHEN focus IS NULL THEN ''
		        ELSE pg_catalog.format(' WHERE k.record_id IN (SELECT pg_catalog.unnest(%1$L::bigint[]) UNION SELECT m.record_id FROM cdp_internal.match_block f'
		                               ' JOIN cdp_internal.match_block m ON m.bk = f.bk WHERE f.record_id = ANY (%1$L::bigint[]))', focus) END;
COMMENT ON FUNCTION cdp_internal._match_query(bigint[], boolean) IS 'internal: the kernel''s record query, all records or the focus records and their block mates';

-- _match_pairs: scored candidate pairs of the active settings (all, or involving focus records).
CREATE FUNCTION cdp_internal._match_pairs(focus bigint[], min_prob float8)
	RETURNS TABLE (record_a bigint, record_b bigint, golden_a bigint, golden_b bigint, rule int,
	               weight float8, probability float8, flags int, levels smallint[])
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
BEGIN
	IF focus IS NULL AND cdp_internal._match_nparts() > 1 THEN
		-- every record, many pairs per record: the blocks are scored by parallel workers
		RETURN QUERY SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
		  FROM cdp_internal._match_walk_all('score', cdp_internal._match_query(NULL), a.program,
		                                   a.version, min_prob, (a.settings ->> 'max_block_size')::int, 0,
		                                   cdp_internal._match_nparts()) w;
		RETURN;
	END IF;
	RETURN QUERY SELECT w.record_a, w.record_b, w.golden_a, w.golden_b, w.rule, w.weight, w.probability, w.flags, w.levels
	  FROM cdp_internal._match_walk('score', cdp_internal._match_query(focus), a.program,
	                               a.version, min_prob, (a.settings ->> 'max_block_size')::int, 0, focus) w;
END $$;
COMMENT ON FUNCTION cdp_internal._match_pairs(bigint[], float8) IS 'internal: scored candidate pairs (probability >= min_prob, or forced by a rule)';

/* ---------------------------------------------------------------- evidence that is no evidence */

CREATE VIEW @extschema@.suspicious_values WITH (security_invoker = true) AS
	SELECT 'phones'::text AS attr, pg_catalog.regexp_replace(p::text, '\D', '', 'g') AS value,
	       pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))::int AS persons,
	       pg_catalog.count(*)::int AS records
	  FROM @extschema@.record r, pg_catalog.unnest(r.phones) p
	 GROUP BY 2
	HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))
	       >= COALESCE((SELECT (s.settings ->> 'suspicious_min_persons')::int FROM cdp_internal.match_settings s WHERE s.active), 5)
	UNION ALL
	SELECT 'emails', pg_catalog.lower(pg_catalog.btrim(e::text)),
	       pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))::int,
	       pg_catalog.count(*)::int
	  FROM @extschema@.record r, pg_catalog.unnest(r.emails) e
	 GROUP BY 2
	HAVING pg_catalog.count(DISTINCT pg_catalog.lower(COALESCE(r.family_name, '') || ' ' || COALESCE(r.given_name, '')))
	       >= COALESCE((SELECT (s.settings ->> 'suspicious_min_persons')::int FROM cdp_internal.match_settings s WHERE s.active), 5);
COMMENT ON VIEW @extschema@.suspicious_values IS
	'phone numbers and e-mails shared by suspicious_min_persons or more differently named people (a reception phone, test@test.ru): not evidence for matching';

CREATE FUNCTION cdp_internal._match_refresh_suspicious() RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	changed boolean;
BEGIN
	CREATE TEMP TABLE _cdp_susp ON COMMIT DROP AS
		SELECT v.attr, v.value, v.persons FROM @extschema@.suspicious_values v WHERE v.value <> '';
	SELECT EXISTS (SELECT attr, value FROM _cdp_susp EXCEPT SELECT attr, value FROM cdp_internal.match_suspicious)
	    OR EXISTS (SELECT attr, value FROM cdp_internal.match_suspicious EXCEPT SELECT attr, value FROM _cdp_susp)
	  INTO changed;
	IF changed THEN
		DELETE FROM cdp_internal.match_suspicious;
		INSERT INTO cdp_internal.match_suspicious (attr, value, persons) SELECT * FROM _cdp_susp;
	END IF;
	DROP TABLE _cdp_susp;
	RETURN changed;
END $$;
COMMENT ON FUNCTION cdp_internal._match_refresh_suspicious() IS 'internal: snapshots cdp.suspicious_values into cdp.match_suspicious; true when the set changed';

CREATE FUNCTION @extschema@.relate_records(a bigint, b bigint, relation text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF a IS NULL OR b IS NULL OR relation IS NULL THEN
		RAISE EXCEPTION 'record ids and relation must not be null' USING ERRCODE = '22004';
	END IF;
	IF a = b THEN
		RAISE EXCEPTION 'a record cannot be related to itself' USING ERRCODE = '22023';
	END IF;
	IF relation NOT IN ('household', 'spouse', 'parent', 'child', 'sibling', 'twin', 'guardian', 'other') THEN
		RAISE EXCEPTION 'unknown relation "%"', relation USING ERRCODE = '22023',
			HINT = 'Use household, spouse, parent, child, sibling, twin, guardian or other.';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record WHERE record_id IN (a, b)) <> 2 THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', a, b USING ERRCODE = '22023';
	END IF;
	INSERT INTO cdp_internal.household (record_a, record_b, relation) VALUES (LEAST(a, b), GREATEST(a, b), relation)
		ON CONFLICT DO NOTHING;
	PERFORM cdp_internal.append_event('record.related', LEAST(a, b), NULL,
		pg_catalog.jsonb_build_object('record_a', LEAST(a, b), 'record_b', GREATEST(a, b), 'relation', relation));
END $$;
COMMENT ON FUNCTION @extschema@.relate_records(bigint, bigint, text) IS
	'records two records as related different people (household, spouse, twin ...): never merged, never linked automatically; e.g. relate_records(1, 2, ''twin'')';

/* ---- sql/parts/65_match_review.sql ---- */
/*
 * sql/parts/65_match_review.sql: matching: explanations and the review queue.
 */

/* ---------------------------------------------------------------- explanations */

CREATE FUNCTION cdp_internal._match_attr_label(attr text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE attr WHEN 'family_name' THEN 'фамилия' WHEN 'given_name' THEN 'имя' WHEN 'patronymic' THEN 'отчество'
		WHEN 'birth_date' THEN 'дата рождения' WHEN 'sex' THEN 'пол' WHEN 'phones' THEN 'телефон' WHEN 'emails' THEN 'e-mail'
		WHEN 'snils' THEN 'СНИЛС' WHEN 'oms' THEN 'полис ОМС' WHEN 'address' THEN 'адрес' WHEN 'city' THEN 'город'
		WHEN 'vk' THEN 'ВКонтакте' WHEN 'telegram' THEN 'Telegram' ELSE attr END;
COMMENT ON FUNCTION cdp_internal._match_attr_label(text) IS 'internal: Russian label of a compared attr';

CREATE FUNCTION cdp_internal._match_level_label(lv jsonb, nlev int, level int) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE
		WHEN level IS NULL OR level < 0 THEN 'нет данных'
		WHEN level >= nlev THEN 'не совпадает'
		ELSE CASE lv -> level ->> 'if'
			WHEN 'exact' THEN 'совпадает'
			WHEN 'key' THEN 'совпадает с точностью до написания'
			WHEN 'jw' THEN 'похоже (Джаро-Винклер ≥ ' || (lv -> level ->> 'ge') || ')'
			WHEN 'osa' THEN 'отличается не более чем на ' || (lv -> level ->> 'le') || ' знак'
			WHEN 'day_month_swapped' THEN 'день и месяц переставлены'
			WHEN 'same_year' THEN 'тот же год'
			WHEN 'last7' THEN 'совпадают последние 7 цифр'
			WHEN 'initial' THEN 'совпадает инициал'
			WHEN 'prefix' THEN 'совпадает начало'
			WHEN 'swapped' THEN 'имя и фамилия переставлены'
			WHEN 'cross' THEN 'записано в другом поле ФИО'
			ELSE lv -> level ->> 'if' END END;
COMMENT ON FUNCTION cdp_internal._match_level_label(jsonb, int, int) IS 'internal: Russian label of a comparison level';

-- _match_summary: «совпали: телефон, e-mail; дата рождения: день и месяц переставлены; не совпали: имя»
CREATE FUNCTION cdp_internal._match_summary(s jsonb, levels smallint[]) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.array_to_string(ARRAY[
		'совпали: ' || pg_catalog.string_agg(cdp_internal._match_attr_label(c ->> 'attr'), ', ' ORDER BY o) FILTER (WHERE levels[o] = 0),
		pg_catalog.string_agg(cdp_internal._match_attr_label(c ->> 'attr') || ': ' || cdp_internal._match_level_label(c -> 'levels', pg_catalog.jsonb_array_length(c -> 'levels'), levels[o]), '; ' ORDER BY o)
			FILTER (WHERE levels[o] > 0 AND levels[o] < pg_catalog.jsonb_array_length(c -> 'levels')),
		'не совпали: ' || pg_catalog.string_agg(cdp_internal._match_attr_label(c ->> 'attr'), ', ' ORDER BY o) FILTER (WHERE levels[o] >= pg_catalog.jsonb_array_length(c -> 'levels'))
	], '; ')
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
$$;
COMMENT ON FUNCTION cdp_internal._match_summary(jsonb, smallint[]) IS 'internal: Russian one-line summary of a pair''s comparison levels';

CREATE FUNCTION @extschema@.explain_match(record_a bigint, record_b bigint)
	RETURNS TABLE (attr text, value_a text, value_b text, level text, weight float8, running_total float8, probability float8)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and pair flags of src/match.h */
	prm jsonb;
	fa text[];
	fb text[];
	pr record;
	l record;
	c jsonb;
	lev int;
	nl int;
	w float8;
	total float8;
	lam float8;
	adj float8;
BEGIN
	IF record_a IS NULL OR record_b IS NULL THEN
		RAISE EXCEPTION 'record ids must not be null' USING ERRCODE = '22004';
	END IF;
	IF (SELECT pg_catalog.count(*) FROM @extschema@.record r WHERE r.record_id IN (record_a, record_b)) <> 2 AND record_a <> record_b THEN
		RAISE EXCEPTION 'record "%" or "%" does not exist', record_a, record_b USING ERRCODE = '22023';
	END IF;
	prm := cdp_internal._match_params(a.settings, a.params);
	-- features computed now from the records, so the explanation is never stale
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_a;
	fa := pr.feat;
	EXECUTE cdp_internal._match_feature_query(a.settings, '@extschema@.record r WHERE r.record_id = $1') INTO pr USING record_b;
	fb := pr.feat;
	SELECT w2.levels, w2.weight, w2.flags INTO pr
	  FROM cdp_internal._match_walk('cross',
	         cdp_internal._match_feature_query(a.settings, pg_catalog.format('@extschema@.record r WHERE r.record_id IN (%s, %s)', record_a, record_b)),
	         a.program, a.version, 0, 0, 0, NULL) w2;
	lam := (prm ->> 'lambda')::float8;
	total := pg_catalog.log(2.0, (lam / (1 - lam))::numeric)::float8;
	attr := '(prior)'; value_a := NULL; value_b := NULL; level := 'априорная вероятность ' || lam;
	weight := total; running_total := total; probability := 1 / (1 + pg_catalog.power(2::float8, -total));
	RETURN NEXT;
	FOR l IN SELECT * FROM cdp_internal._match_layout(a.settings) LOOP
		c := a.settings -> 'comparisons' -> l.comp;
		nl := pg_catalog.jsonb_array_length(c -> 'levels');
		lev := pr.levels[l.comp + 1];
		attr := l.attr;
		value_a := pg_catalog.replace(fa[l.fpos], kc ->> 'value_sep', ', ');
		value_b := pg_catalog.replace(fb[l.fpos], kc ->> 'value_sep', ', ');
		level := cdp_internal._match_level_label(c -> 'levels', nl, lev);
		IF lev < 0 THEN
			w := 0;
		ELSE
			w := pg_catalog.log(2.0, (GREATEST((prm -> 'm' -> l.comp ->> lev)::float8, 1e-6)
			                          / GREATEST((prm -> 'u' -> l.comp ->> lev)::float8, 1e-6))::numeric)::float8;
			IF lev = 0 AND (c ->> 'tf')::boolean THEN
				SELECT LEAST(pg_catalog.log(2.0, (GREATEST((prm -> 'u' -> l.comp ->> 0)::float8, 1e-6) / t.freq)::numeric)::float8, 3)
				  INTO adj FROM cdp_internal.match_tf t
				 WHERE t.version = a.version AND t.comp = l.comp AND t.value IN (pg_catalog.left(fa[l.fpos], (kc ->> 'tf_value_len')::int), '')
				 ORDER BY t.value DESC LIMIT 1;
				IF adj IS NOT NULL THEN
					w := w + adj;
					level := level || pg_catalog.format(' (частота значения: %s бит)', pg_catalog.round(adj::numeric, 2));
				END IF;
			END IF;
		END IF;
		weight := w;
		total := total + w;
		running_total := total;
		probability := 1 / (1 + pg_catalog.power(2::float8, -GREATEST(LEAST(total, 60), -60)));
		RETURN NEXT;
	END LOOP;
	attr := '(итог)'; value_a := NULL; value_b := NULL; weight := NULL;
	level := cdp_internal._match_summary(a.settings, pr.levels)
		|| CASE WHEN pr.flags & (kc ->> 'pair_forced')::int <> 0 THEN '; совпал идентификатор (правило)' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_veto')::int <> 0 THEN '; разные идентификаторы, имя или дата рождения: автоматическое объединение запрещено' ELSE '' END
		|| CASE WHEN pr.flags & (kc ->> 'pair_placeholder')::int <> 0 THEN '; запись-заглушка: автоматическое объединение запрещено' ELSE '' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION @extschema@.explain_match(bigint, bigint) IS
	'why two records do or do not match: one row per compared attr (values, level, weight, running total, probability), then a summary in Russian; e.g. SELECT * FROM explain_match(1, 2)';

/* ---------------------------------------------------------------- review queue */

CREATE VIEW @extschema@.review_queue WITH (security_invoker = true) AS
	SELECT q.pair_id, q.record_a, q.record_b, q.score,
	       cdp_internal._match_summary(s.settings, q.levels)
	         || CASE WHEN q.reason IS NOT NULL THEN '; ' || q.reason ELSE '' END AS summary,
	       pg_catalog.now() - q.created_at AS age
	  FROM cdp_internal.match_review q
	  LEFT JOIN cdp_internal.match_settings s ON s.version = q.version
	 WHERE q.status = 'open'
	   -- a pair whose records were joined since (by another link or a person) needs no decision
	   AND (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = q.record_a)
	       IS DISTINCT FROM (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = q.record_b);
COMMENT ON VIEW @extschema@.review_queue IS 'open pairs waiting for a person''s decision: score, Russian summary, age; decide with cdp.review_decide';

CREATE FUNCTION @extschema@.review_decide(pair_id bigint, decision text, note text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record;
	g bigint;
BEGIN
	IF pair_id IS NULL OR decision IS NULL THEN
		RAISE EXCEPTION 'pair_id and decision must not be null' USING ERRCODE = '22004';
	END IF;
	IF decision NOT IN ('match', 'no_match') THEN
		RAISE EXCEPTION 'invalid review decision "%"', decision USING ERRCODE = '22023',
			HINT = 'Use ''match'' or ''no_match''.';
	END IF;
	SELECT * INTO q FROM cdp_internal.match_review m WHERE m.pair_id = review_decide.pair_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'review pair "%" does not exist', pair_id USING ERRCODE = '22023';
	END IF;
	IF q.status <> 'open' THEN
		RAISE EXCEPTION 'review pair "%" is already decided as "%"', pair_id, q.status USING ERRCODE = '55000';
	END IF;
	PERFORM @extschema@.record_pair_decision(q.record_a, q.record_b, decision, note);
	IF decision = 'match' THEN
		g := @extschema@.link_records(q.record_a, q.record_b,
			pg_catalog.jsonb_build_object('by', 'review', 'pair_id', pair_id, 'score', q.score, 'note', note));
	END IF;
	UPDATE cdp_internal.match_review m SET status = decision, decided_at = pg_catalog.now(), note = review_decide.note
	 WHERE m.pair_id = review_decide.pair_id;
	RETURN g;
END $$;
COMMENT ON FUNCTION @extschema@.review_decide(bigint, text, text) IS
	'decides a review pair: ''match'' links the records (cdp.link_records), ''no_match'' records a decision that matching never overrides; both are events; e.g. review_decide(7, ''no_match'', ''twins'')';

/* ---- sql/parts/66_match_train.sql ---- */
/*
 * sql/parts/66_match_train.sql: matching: training (u sampling, EM) and blocking reports.
 */

/* ---------------------------------------------------------------- training */

-- _match_pattern_em: EM over level-vector counts, returns m (9 per comparison, flat) then lambda
CREATE FUNCTION cdp_internal._match_fit(pat jsonb, s jsonb, u float8[], m float8[], lambda float8, iterations int, fixed boolean[], update_m boolean)
	RETURNS float8[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	lev smallint[];
	cnt float8[];
	nlev int[];
BEGIN
	SELECT pg_catalog.array_agg(pg_catalog.jsonb_array_length(c -> 'levels') ORDER BY o) INTO nlev
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o);
	IF pat IS NULL OR pg_catalog.jsonb_array_length(pat) = 0 THEN
		RETURN m || lambda;
	END IF;
	SELECT pg_catalog.array_agg(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(x -> 'l')::smallint) ORDER BY o),
	       pg_catalog.array_agg((x ->> 'n')::float8 ORDER BY o)
	  INTO lev, cnt FROM pg_catalog.jsonb_array_elements(pat) WITH ORDINALITY e(x, o);
	RETURN cdp_internal._match_em(lev, cnt, nlev, u, m, lambda, iterations, fixed, update_m);
END $$;
COMMENT ON FUNCTION cdp_internal._match_fit(jsonb, jsonb, float8[], float8[], float8, int, boolean[], boolean) IS 'internal: runs EM over a JSON list of {l: levels, n: count}';

-- _match_flat: a params matrix (jsonb array per comparison) as the kernel's flat 9-per-comparison array
CREATE FUNCTION cdp_internal._match_flat(mat jsonb) RETURNS float8[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.array_agg(COALESCE((mat -> c ->> l)::float8, 1e-6) ORDER BY c, l)
	  FROM pg_catalog.generate_series(0, pg_catalog.jsonb_array_length(mat) - 1) c, pg_catalog.generate_series(0, 8) l
$$;
COMMENT ON FUNCTION cdp_internal._match_flat(jsonb) IS 'internal: per-comparison parameter lists as a flat array of 9 per comparison';

-- _match_unflat: the inverse, keeping nlev + 1 values per comparison
CREATE FUNCTION cdp_internal._match_unflat(s jsonb, v float8[]) RETURNS jsonb
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_agg((SELECT pg_catalog.jsonb_agg(pg_catalog.round(v[(o - 1) * 9 + l + 1]::numeric, 8) ORDER BY l)
	                               FROM pg_catalog.generate_series(0, pg_catalog.jsonb_array_length(c -> 'levels')) l) ORDER BY o)
	  FROM pg_catalog.jsonb_array_elements(s -> 'comparisons') WITH ORDINALITY e(c, o)
$$;
COMMENT ON FUNCTION cdp_internal._match_unflat(jsonb, float8[]) IS 'internal: flat parameters back to one list per comparison';

CREATE FUNCTION @extschema@.train_matching(sample_pairs int DEFAULT 1000000, em_iterations int DEFAULT 25) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	kc jsonb := cdp_internal._match_constants();	/* value separator and tf value length of src/match.h */
	prog float8[];
	q text;
	ncomp int := pg_catalog.jsonb_array_length(a.settings -> 'comparisons');
	nrules int := pg_catalog.jsonb_array_length(a.settings -> 'blocking');
	nrec bigint;
	u float8[];
	m0 float8[];
	m float8[];
	msum float8[];
	mw float8[];
	res float8[];
	pat jsonb;
	fixed boolean[];
	battrs text[];
	r int;
	c int;
	i int;
	rule_pairs float8;
	total_pairs float8;
	lam_blocked float8;
	lam_id float8;
	lam float8;
	per_rule jsonb := '[]';
	p jsonb;
	t0 timestamptz := pg_catalog.clock_timestamp();
	t1 timestamptz;
	times jsonb := '{}';
BEGIN
	IF sample_pairs IS NULL OR sample_pairs < 1000 OR sample_pairs > 100000000 THEN
		RAISE EXCEPTION 'sample_pairs must be between 1000 and 100000000' USING ERRCODE = '22023';
	END IF;
	IF em_iterations IS NULL OR em_iterations < 1 OR em_iterations > 1000 THEN
		RAISE EXCEPTION 'em_iterations must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- the same lock as run_matching: training rewrites the features it reads
	PERFORM pg_catalog.pg_advisory_xact_lock(1668440176, 6);
	-- features are recomputed only when something they depend on changed (as run_matching('full')
	-- does): the settings version, the set of suspicious values, or records never keyed; otherwise
	-- only the queued (changed) records
	IF cdp_internal._match_refresh_suspicious()
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
	   OR (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
		PERFORM cdp_internal._match_refresh_keys(NULL);
	ELSE
		PERFORM cdp_internal._match_refresh_keys(ARRAY(SELECT mq.record_id FROM cdp_internal.match_queue mq));
	END IF;
	SELECT pg_catalog.count(*) INTO nrec FROM cdp_internal.match_key;
	IF nrec < 2 THEN
		RAISE EXCEPTION 'too few records to train matching' USING ERRCODE = '55000',
			DETAIL = pg_catalog.format('%s records are loaded.', nrec);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- term frequencies of the tf-adjusted comparisons: values seen more than once, and one row with
	-- value '' holding the frequency of a value seen once
	DELETE FROM cdp_internal.match_tf WHERE version = a.version;
	INSERT INTO cdp_internal.match_tf (version, comp, value, freq)
	SELECT a.version, x.comp, x.v, x.n::float8 / x.total
	  FROM (SELECT y.comp, pg_catalog.left(pg_catalog.split_part(k.feat[y.fpos], kc ->> 'value_sep', 1), (kc ->> 'tf_value_len')::int) AS v, pg_catalog.count(*) AS n,
	               pg_catalog.sum(pg_catalog.count(*)) OVER (PARTITION BY y.comp) AS total
	          FROM cdp_internal._match_layout(a.settings) y
	          JOIN cdp_internal.match_key k ON (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean
	         WHERE k.feat[y.fpos] IS NOT NULL
	         GROUP BY 1, 2) x
	 WHERE x.n > 1 OR x.v = '';
	INSERT INTO cdp_internal.match_tf (version, comp, value, freq)
	SELECT a.version, y.comp, '', 1.0 / GREATEST(pg_catalog.count(*), 1)
	  FROM cdp_internal._match_layout(a.settings) y
	  JOIN cdp_internal.match_key k ON (a.settings -> 'comparisons' -> y.comp ->> 'tf')::boolean
	 WHERE k.feat[y.fpos] IS NOT NULL
	 GROUP BY y.comp
	ON CONFLICT (version, comp, value) DO UPDATE SET freq = excluded.freq;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('tf_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- u: level frequencies among random pairs, which are almost all non-matches (+0.5 smoothing)
	prog := cdp_internal._match_program(a.settings, NULL);
	q := cdp_internal._match_query(NULL, false);
	SELECT pg_catalog.array_agg(x.uv ORDER BY x.comp, x.l) INTO u
	  FROM (SELECT c.comp, l.l,
	               (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] = l.l), 0) + 0.5)
	               / (COALESCE(pg_catalog.sum(w.n) FILTER (WHERE w.levels[c.comp + 1] >= 0), 0) + 4.5) AS uv
	          FROM pg_catalog.generate_series(0, ncomp - 1) c(comp)
	         CROSS JOIN pg_catalog.generate_series(0, 8) l(l)
	         CROSS JOIN cdp_internal._match_walk('sample', q, prog, a.version, 0, 0, sample_pairs, NULL) w
	         GROUP BY c.comp, l.l) x;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('u_sample_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- level vectors of the blocked pairs, per rule: a uniform sample of at most sample_pairs of them
	-- (counts scaled back; one serial walk: the sample bounds the scoring)
	CREATE TEMP TABLE _cdp_patterns ON COMMIT DROP AS
		SELECT w.rule, w.levels, pg_catalog.sum(w.n)::bigint AS n, pg_catalog.sum(w.n_new)::bigint AS n_new
		  FROM cdp_internal._match_walk_all('patterns', q, prog, a.version, 0,
			(a.settings ->> 'max_block_size')::int, sample_pairs, 1) w
		 GROUP BY w.rule, w.levels;
	SELECT COALESCE(pg_catalog.sum(n_new), 0) INTO total_pairs FROM _cdp_patterns;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('patterns_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	-- m: EM per blocking rule with the comparisons it blocks on held fixed (every pair of the rule
	-- agrees on them), averaged over the rules that leave a comparison free, weighted by pairs
	m0 := cdp_internal._match_flat(cdp_internal._match_params(a.settings, NULL) -> 'm');
	msum := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	mw := pg_catalog.array_fill(0::float8, ARRAY[ncomp]);
	FOR r IN 0 .. nrules - 1 LOOP
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n)), COALESCE(pg_catalog.sum(t.n), 0)
		  INTO pat, rule_pairs FROM _cdp_patterns t WHERE t.rule = r;
		CONTINUE WHEN rule_pairs = 0;
		-- an "any_order" rule's attrs are held too: its pairs agree on them, directly or crossed
		SELECT pg_catalog.array_agg(cdp_internal._match_attr_column(pg_catalog.split_part(it, '.', 1))) INTO battrs
		  FROM pg_catalog.jsonb_array_elements_text(a.settings -> 'blocking' -> r) it
		 WHERE it <> 'any_order';
		SELECT pg_catalog.array_agg(COALESCE(y.attr = ANY (battrs), false) ORDER BY y.comp) INTO fixed FROM cdp_internal._match_layout(a.settings) y;
		res := cdp_internal._match_fit(pat, a.settings, u, m0, 0.05, em_iterations, fixed, true);
		FOR c IN 0 .. ncomp - 1 LOOP
			CONTINUE WHEN fixed[c + 1];
			FOR i IN 1 .. 9 LOOP
				msum[c * 9 + i] := msum[c * 9 + i] + res[c * 9 + i] * rule_pairs;
			END LOOP;
			mw[c + 1] := mw[c + 1] + rule_pairs;
		END LOOP;
		per_rule := per_rule || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'rule', a.settings -> 'blocking' -> r, 'pairs', rule_pairs, 'lambda', pg_catalog.round(res[ncomp * 9 + 1]::numeric, 6)));
	END LOOP;
	-- comparisons every rule blocks on: EM over the distinct pairs with nothing fixed
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.levels, 'n', t.n_new)) INTO pat FROM _cdp_patterns t WHERE t.n_new > 0;
	res := cdp_internal._match_fit(pat, a.settings, u, m0, 0.05, em_iterations, pg_catalog.array_fill(false, ARRAY[ncomp]), true);
	m := pg_catalog.array_fill(0::float8, ARRAY[ncomp * 9]);
	FOR c IN 0 .. ncomp - 1 LOOP
		FOR i IN 1 .. 9 LOOP
			m[c * 9 + i] := CASE WHEN mw[c + 1] > 0 THEN msum[c * 9 + i] / mw[c + 1] ELSE res[c * 9 + i] END;
		END LOOP;
	END LOOP;
	-- a swapped or crossed name is no stronger evidence than the same name spelled differently: its
	-- m/u is capped at the lowest m/u of the levels above it (u of a swap is tiny, and exchanged names
	-- are not term-frequency adjusted, so an uncapped weight links namesakes who share nothing else)
	FOR c IN 0 .. ncomp - 1 LOOP
		lam_id := NULL;
		FOR i IN 0 .. pg_catalog.jsonb_array_length(a.settings -> 'comparisons' -> c -> 'levels') - 1 LOOP
			IF a.settings -> 'comparisons' -> c -> 'levels' -> i ->> 'if' IN ('swapped', 'cross') THEN
				IF lam_id IS NOT NULL THEN
					m[c * 9 + i + 1] := LEAST(m[c * 9 + i + 1], lam_id * u[c * 9 + i + 1]);
				END IF;
			ELSE
				lam_id := LEAST(COALESCE(lam_id, 'Infinity'::float8), m[c * 9 + i + 1] / GREATEST(u[c * 9 + i + 1], 1e-6));
			END IF;
		END LOOP;
	END LOOP;
	lam_id := NULL;
	-- lambda: the match share of the blocked pairs (m and u fixed), scaled to all pairs
	res := cdp_internal._match_fit(pat, a.settings, u, m, 0.05, em_iterations, pg_catalog.array_fill(false, ARRAY[ncomp]), false);
	lam_blocked := res[ncomp * 9 + 1];
	-- EM takes households (shared surname, address, phone) for matches and over-estimates the match
	-- share of blocked pairs; where a same_id_match attr (SNILS, OMS) is filled on both sides of
	-- enough blocked pairs, the share of those pairs agreeing on it exactly is a direct estimate
	SELECT x.share INTO lam_id
	  FROM (SELECT pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] = 0)::float8
	               / pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] >= 0) AS share,
	               pg_catalog.sum(t.n_new) FILTER (WHERE t.levels[y.comp + 1] >= 0) AS n
	          FROM cdp_internal._match_layout(a.settings) y
	          CROSS JOIN _cdp_patterns t
	         WHERE t.n_new > 0 AND a.settings -> 'rules' -> 'same_id_match' ? y.attr AND y.comparator = 'id'
	         GROUP BY y.comp) x
	 WHERE x.n >= 1000 AND x.share > 0
	 ORDER BY x.n DESC LIMIT 1;
	IF lam_id IS NOT NULL THEN
		lam_blocked := lam_id;
	END IF;
	lam := LEAST(GREATEST(lam_blocked * total_pairs / (nrec::float8 * (nrec - 1) / 2), 1e-12), 0.5);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('em_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	p := pg_catalog.jsonb_build_object(
		'trained', true,
		'trained_at', pg_catalog.now(),
		'records', nrec,
		'sample_pairs', sample_pairs,
		'blocked_pairs', total_pairs,
		'lambda_blocked', lam_blocked,
		'lambda', lam,
		'expected_matches', pg_catalog.round((lam_blocked * total_pairs)::numeric),
		'm', cdp_internal._match_unflat(a.settings, m),
		'u', cdp_internal._match_unflat(a.settings, u),
		'per_rule', per_rule,
		'times', times);
	UPDATE cdp_internal.match_settings SET params = p, program = cdp_internal._match_program(a.settings, p) WHERE version = a.version;
	DROP TABLE _cdp_patterns;
	RETURN p;
END $$;
COMMENT ON FUNCTION @extschema@.train_matching(int, int) IS
	'trains the active settings: term frequencies, u from random pairs, m by EM per blocking rule, lambda; stores and returns the parameters; e.g. train_matching(200000, 20)';
REVOKE ALL ON FUNCTION @extschema@.train_matching(int, int) FROM PUBLIC;

/* ---------------------------------------------------------------- blocking */

-- _match_ensure_keys: re-keys every record when match_key was computed by another settings version
CREATE FUNCTION cdp_internal._match_ensure_keys() RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record := cdp_internal._match_active();
BEGIN
	IF EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
	   OR (NOT EXISTS (SELECT 1 FROM cdp_internal.match_key) AND EXISTS (SELECT 1 FROM @extschema@.record)) THEN
		PERFORM cdp_internal._match_refresh_keys(NULL);
	END IF;
END $$;
COMMENT ON FUNCTION cdp_internal._match_ensure_keys() IS 'internal: recomputes all features when the settings version changed';

CREATE FUNCTION @extschema@.blocking_report(settings jsonb DEFAULT NULL)
	RETURNS TABLE (rule text, pairs bigint, new_pairs bigint, skipped_pairs bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	s jsonb := CASE WHEN settings IS NULL THEN a.settings ELSE cdp_internal._match_expand(settings) END;
	q text;
	nparts int := 1;
BEGIN
	-- the stored features when they are those of these settings and of every record (walked in
	-- parts when that pays); otherwise computed on the fly in one walk (nothing is stored)
	IF s = a.settings AND NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
	   AND (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) = (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
		q := cdp_internal._match_query(NULL, false);
		nparts := cdp_internal._match_nparts();
	ELSE
		q := cdp_internal._match_feature_query(s, '@extschema@.record r');
	END IF;
	RETURN QUERY
	SELECT (s -> 'blocking' -> w.rule)::text, pg_catalog.sum(w.n)::bigint, pg_catalog.sum(w.n_new)::bigint,
	       pg_catalog.sum(w.weight)::bigint
	  FROM cdp_internal._match_walk_all('count', q, cdp_internal._match_program(s, NULL), 0, 0,
	                                   (s ->> 'max_block_size')::int, 0, nparts) w
	 GROUP BY w.rule
	 ORDER BY w.rule;
END $$;
COMMENT ON FUNCTION @extschema@.blocking_report(jsonb) IS
	'cost of blocking before running: per rule the candidate pairs, the pairs no earlier rule yields, and the pairs of blocks over max_block_size (not scored); e.g. SELECT * FROM blocking_report()';

CREATE FUNCTION @extschema@.candidate_pairs()
	RETURNS TABLE (record_a bigint, record_b bigint)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
BEGIN
	PERFORM cdp_internal._match_ensure_keys();
	IF cdp_internal._match_nparts() > 1 THEN
		RETURN QUERY SELECT w.record_a, w.record_b
		  FROM cdp_internal._match_walk_all('score', cdp_internal._match_query(NULL, false), a.program,
		                                   a.version, -1, (a.settings ->> 'max_block_size')::int, 0,
		                                   cdp_internal._match_nparts()) w;
		RETURN;
	END IF;
	RETURN QUERY SELECT w.record_a, w.record_b
	  FROM cdp_internal._match_walk('score', cdp_internal._match_query(NULL, false), a.program,
	                               a.version, -1, (a.settings ->> 'max_block_size')::int, 0, NULL) w;
END $$;
COMMENT ON FUNCTION @extschema@.candidate_pairs() IS
	'the deduplicated candidate pairs (record_a < record_b) of the active settings'' blocking rules, e.g. to measure pairs completeness';

/* ---- sql/parts/67_match_run.sql ---- */
/*
 * sql/parts/67_match_run.sql: matching: a run, one record at once, and the patient lookup.
 */

/* ---------------------------------------------------------------- running */

-- _match_link_plan: the decisions of a run in memory (src/match_link.c): pairs in decision order,
-- every record of every person they touch with its birth-date and different_id_never features,
-- the no_match and relation edges; one row per pair that links ('l'), is already one person
-- ('a'), is held by a cannot-link constraint ('h') or goes to review ('r')
CREATE FUNCTION cdp_internal._match_link_plan(record_a bigint[], record_b bigint[], probability float8[], flags int[],
		records bigint[], goldens bigint[], dob text[], never text[], nnever int,
		no_match_a bigint[], no_match_b bigint[], relation_a bigint[], relation_b bigint[],
		link_threshold float8, review_threshold float8, reasons text[])
	RETURNS TABLE (ord int, action "char", reason text)
	AS 'MODULE_PATHNAME', 'cdp_match_link_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._match_link_plan(bigint[], bigint[], float8[], int[], bigint[], bigint[], text[], text[], int, bigint[], bigint[], bigint[], bigint[], float8, float8, text[]) IS
	'internal: links, holds and review decisions of a run''s scored pairs by union-find with per-person constraint summaries (no_match decisions, relations, birth dates, different_id_never ids)';

-- _match_run: the body of run_matching: keys, blocking and scoring, then every decision in memory
-- (_match_link_plan), the links in one link_records_many call and the review queue in one insert
CREATE FUNCTION cdp_internal._match_run(mode text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pair_forced int := (cdp_internal._match_constants() ->> 'pair_forced')::int;	/* pair flags of src/match.h */
	a record;
	focus bigint[];
	processed bigint;
	candidates bigint := 0;
	linked bigint := 0;
	queued bigint := 0;
	already bigint := 0;
	held bigint := 0;
	decided bigint := 0;
	link_t float8;
	review_t float8;
	never_pos int[];
	never_attr text[];
	dob_pos int;
	t0 timestamptz := pg_catalog.clock_timestamp();
	t1 timestamptz;
	times jsonb := '{}';
	result jsonb;
	t_link timestamptz;
	u_rec bigint[];
	u_gold bigint[];
	u_dob text[];
	u_never text[];
	link_ord int[];
	link_res bigint[];
	refused int[];
	q_ids bigint[];
	q_ats timestamptz[];
BEGIN
	IF mode IS NULL OR mode NOT IN ('incremental', 'full') THEN
		RAISE EXCEPTION 'invalid matching mode "%"', mode USING ERRCODE = '22023',
			HINT = 'Use ''incremental'' or ''full''.';
	END IF;
	-- one run at a time (key: "cdp" as int, 6 = matching); a second caller returns at once
	IF NOT pg_catalog.pg_try_advisory_xact_lock(1668440176, 6) THEN
		RETURN pg_catalog.jsonb_build_object('mode', mode, 'skipped', true,
			'note', 'another run_matching or train_matching is in progress; nothing was done');
	END IF;
	a := cdp_internal._match_active();
	link_t := (a.settings ->> 'link_threshold')::float8;
	review_t := (a.settings ->> 'review_threshold')::float8;
	SELECT pg_catalog.array_agg(y.fpos ORDER BY y.comp), pg_catalog.array_agg(y.attr ORDER BY y.comp) INTO never_pos, never_attr
	  FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr IN (SELECT cdp_internal._match_attr_column(x) FROM pg_catalog.jsonb_array_elements_text(a.settings -> 'rules' -> 'different_id_never') x);
	-- birth dates conflict between persons when birth_date is a disagree_never attr
	SELECT y.fpos INTO dob_pos FROM cdp_internal._match_layout(a.settings) y
	 WHERE y.attr = 'birth_date' AND y.comparator = 'date'
	   AND a.settings -> 'rules' -> 'disagree_never' ? 'birth_date';

	IF mode = 'full' THEN
		-- the queue as it is before any record is read: only these entries, unchanged since, are
		-- removed at the end (an ingest committing while the run works re-queues its record with a
		-- new queued_at, and keeps it queued for the next run)
		SELECT pg_catalog.array_agg(mq.record_id), pg_catalog.array_agg(mq.queued_at) INTO q_ids, q_ats
		  FROM cdp_internal.match_queue mq;
		-- features are recomputed for every record only when something they depend on changed:
		-- the settings version, the set of suspicious values, or records never keyed
		IF cdp_internal._match_refresh_suspicious()
		   OR EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.version <> a.version)
		   OR (SELECT pg_catalog.count(*) FROM cdp_internal.match_key) <> (SELECT pg_catalog.count(*) FROM @extschema@.record) THEN
			PERFORM cdp_internal._match_refresh_keys(NULL);
		ELSE
			PERFORM cdp_internal._match_refresh_keys(COALESCE(q_ids, '{}'));
		END IF;
		SELECT pg_catalog.count(*) INTO processed FROM cdp_internal.match_key;
		focus := NULL;
	ELSE
		SELECT pg_catalog.array_agg(q.record_id ORDER BY q.record_id) INTO focus
		  FROM (SELECT mq.record_id FROM cdp_internal.match_queue mq ORDER BY mq.record_id FOR UPDATE SKIP LOCKED) q;
		IF focus IS NULL THEN
			RETURN pg_catalog.jsonb_build_object('mode', mode, 'processed', 0, 'candidates', 0, 'linked', 0, 'queued', 0);
		END IF;
		PERFORM cdp_internal._match_ensure_keys();
		processed := cdp_internal._match_refresh_keys(focus);
	END IF;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('keys_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;

	CREATE TEMP TABLE _cdp_scored ON COMMIT DROP AS
		SELECT * FROM cdp_internal._match_pairs(focus, review_t);
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('block_score_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	t0 := t1;
	t_link := t1;
	SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE s.golden_a = s.golden_b) INTO candidates, already FROM _cdp_scored s;

	-- a person's decision wins, both ways: decided pairs never reach the plan
	SELECT pg_catalog.count(*) INTO decided
	  FROM _cdp_scored s JOIN @extschema@.pair_decision d ON d.record_a = s.record_a AND d.record_b = s.record_b
	 WHERE s.golden_a <> s.golden_b;
	-- strongest evidence first, so a weak pair never decides before a strong one
	CREATE TEMP TABLE _cdp_todo ON COMMIT DROP AS
		SELECT pg_catalog.row_number() OVER (ORDER BY (s.flags & pair_forced <> 0) DESC, s.probability DESC, s.record_a, s.record_b)::int AS ord, s.*
		  FROM _cdp_scored s
		 WHERE s.golden_a <> s.golden_b
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.pair_decision d WHERE d.record_a = s.record_a AND d.record_b = s.record_b);
	-- every record of every person a pair touches, with the features the constraints read
	EXECUTE pg_catalog.format(
		'SELECT pg_catalog.array_agg(r.record_id), pg_catalog.array_agg(r.golden_id), %s, %s
		   FROM (SELECT DISTINCT r.golden_id
		           FROM (SELECT t.record_a FROM _cdp_todo t UNION SELECT t.record_b FROM _cdp_todo t) x(id)
		           JOIN @extschema@.record r ON r.record_id = x.id) g
		   JOIN @extschema@.record r ON r.golden_id = g.golden_id
		   LEFT JOIN cdp_internal.match_key k ON k.record_id = r.record_id',
		CASE WHEN dob_pos IS NULL THEN 'NULL::text[]' ELSE pg_catalog.format('pg_catalog.array_agg(k.feat[%s])', dob_pos) END,
		CASE WHEN never_pos IS NULL THEN 'NULL::text[]'
		     ELSE 'pg_catalog.array_agg(ARRAY[' || (SELECT pg_catalog.string_agg(pg_catalog.format('k.feat[%s]', y.x), ', ' ORDER BY y.n)
		                                          FROM pg_catalog.unnest(never_pos) WITH ORDINALITY y(x, n)) || ']::text[])' END)
	  INTO u_rec, u_gold, u_dob, u_never;
	CREATE TEMP TABLE _cdp_plan ON COMMIT DROP AS
	SELECT lp.* FROM cdp_internal._match_link_plan(
		(SELECT pg_catalog.array_agg(t.record_a ORDER BY t.ord) FROM _cdp_todo t),
		(SELECT pg_catalog.array_agg(t.record_b ORDER BY t.ord) FROM _cdp_todo t),
		(SELECT pg_catalog.array_agg(t.probability ORDER BY t.ord) FROM _cdp_todo t),
		(SELECT pg_catalog.array_agg(t.flags ORDER BY t.ord) FROM _cdp_todo t),
		u_rec, u_gold, u_dob, u_never, COALESCE(pg_catalog.cardinality(never_pos), 0),
		(SELECT pg_catalog.array_agg(d.record_a) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(d.record_b) FROM @extschema@.pair_decision d WHERE d.decision = 'no_match'),
		(SELECT pg_catalog.array_agg(h.record_a ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		(SELECT pg_catalog.array_agg(h.record_b ORDER BY h.record_a, h.record_b) FROM cdp_internal.household h),
		link_t, review_t,
		ARRAY['запись-заглушка', 'правило: разные идентификаторы, имя или дата рождения',
		      'решение «не совпадают» между этими людьми', 'записаны как родственники',
		      'у этих людей разные даты рождения']
		|| ARRAY(SELECT 'у этих людей разные ' || cdp_internal._match_attr_label(y.x)
		           FROM pg_catalog.unnest(never_attr) WITH ORDINALITY y(x, n) ORDER BY y.n)) lp;
	SELECT already + pg_catalog.count(*) FILTER (WHERE lp.action = 'a'), pg_catalog.count(*) FILTER (WHERE lp.action = 'h')
	  INTO already, held FROM _cdp_plan lp;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('plan_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	-- every link at once, in decision order (golden applies them as link_records would one by one)
	SELECT pg_catalog.array_agg(t.ord ORDER BY t.ord), @extschema@.link_records_many(
	         COALESCE(pg_catalog.array_agg(t.record_a ORDER BY t.ord), '{}'), COALESCE(pg_catalog.array_agg(t.record_b ORDER BY t.ord), '{}'),
	         pg_catalog.array_agg(pg_catalog.jsonb_build_object(
	           'by', 'run_matching', 'record_a', t.record_a, 'record_b', t.record_b, 'probability', t.probability,
	           'weight', pg_catalog.round(t.weight::numeric, 3), 'rule', a.settings -> 'blocking' -> t.rule,
	           'forced', t.flags & pair_forced <> 0, 'levels', t.levels, 'settings_version', a.version) ORDER BY t.ord))
	  INTO link_ord, link_res
	  FROM _cdp_plan lp JOIN _cdp_todo t ON t.ord = lp.ord
	 WHERE lp.action = 'l';
	-- golden refuses a link only when a no_match decision appeared since the plan was made
	SELECT pg_catalog.count(*) FILTER (WHERE x.g IS NOT NULL), pg_catalog.array_agg(x.o) FILTER (WHERE x.g IS NULL)
	  INTO linked, refused
	  FROM ROWS FROM (pg_catalog.unnest(link_ord), pg_catalog.unnest(link_res)) x(o, g);
	held := held + COALESCE(pg_catalog.cardinality(refused), 0);
	t0 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('merge_s', pg_catalog.round(EXTRACT(epoch FROM t0 - t1), 3));
	-- the review queue, in decision order (a decided pair stays decided)
	WITH ins AS (
		INSERT INTO cdp_internal.match_review AS q (record_a, record_b, score, weight, levels, flags, version, reason)
		SELECT t.record_a, t.record_b, t.probability, t.weight, t.levels, t.flags, a.version, r.reason
		  FROM (SELECT lp.ord, lp.reason FROM _cdp_plan lp WHERE lp.action IN ('h', 'r')
		        UNION ALL
		        SELECT x.o, 'решение «не совпадают» между этими людьми' FROM pg_catalog.unnest(refused) x(o)) r
		  JOIN _cdp_todo t ON t.ord = r.ord
		 ORDER BY r.ord
		ON CONFLICT (record_a, record_b) DO UPDATE
		   SET score = excluded.score, weight = excluded.weight, levels = excluded.levels, flags = excluded.flags,
		       version = excluded.version, reason = excluded.reason
		 WHERE q.status = 'open'
		RETURNING q.xmax = 0 AS inserted)
	SELECT pg_catalog.count(*) FILTER (WHERE ins.inserted) INTO queued FROM ins;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('review_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));
	DROP TABLE _cdp_todo;
	DROP TABLE _cdp_plan;
	t0 := t_link;
	t1 := pg_catalog.clock_timestamp();
	times := times || pg_catalog.jsonb_build_object('link_s', pg_catalog.round(EXTRACT(epoch FROM t1 - t0), 3));

	IF mode = 'full' THEN
		DELETE FROM cdp_internal.match_queue q
		 USING ROWS FROM (pg_catalog.unnest(q_ids), pg_catalog.unnest(q_ats)) s(id, at), cdp_internal.match_key k
		 WHERE q.record_id = s.id AND q.queued_at = s.at AND k.record_id = q.record_id;
	ELSE
		DELETE FROM cdp_internal.match_queue q WHERE q.record_id = ANY (focus);
	END IF;
	DROP TABLE _cdp_scored;
	result := pg_catalog.jsonb_build_object('mode', mode, 'settings_version', a.version, 'trained', a.params IS NOT NULL,
		'processed', processed, 'candidates', candidates, 'already_same_person', already, 'linked', linked,
		'queued', queued, 'held_by_constraints', held, 'decided_by_people', decided, 'times', times);
	INSERT INTO cdp_internal.match_run (mode, finished_at, result) VALUES (mode, pg_catalog.clock_timestamp(), result);
	RETURN result;
END $$;
COMMENT ON FUNCTION cdp_internal._match_run(text) IS
	'internal: the body of run_matching (keys, scoring, decisions in memory, links in one batch, review queue)';
REVOKE ALL ON FUNCTION cdp_internal._match_run(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.run_matching(mode text DEFAULT 'incremental') RETURNS jsonb
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	RETURN cdp_internal._match_run(mode);
COMMENT ON FUNCTION @extschema@.run_matching(text) IS
	'matches the records in cdp.match_queue (''incremental'') or every record (''full''): decides every pair in memory (_match_link_plan), links those over the link threshold in one cdp.link_records_many call, queues unsure ones for review; returns counts and step times; a concurrent call returns at once with "skipped"';
REVOKE ALL ON FUNCTION @extschema@.run_matching(text) FROM PUBLIC;

CREATE VIEW @extschema@.matching_progress WITH (security_invoker = true) AS
	SELECT r.run_id, r.mode, r.started_at, r.finished_at, r.result,
	       (SELECT pg_catalog.count(*) FROM cdp_internal.match_queue) AS waiting_in_queue
	  FROM cdp_internal.match_run r
	 ORDER BY r.run_id DESC;
COMMENT ON VIEW @extschema@.matching_progress IS 'finished matching runs, newest first, with their counts and step times, and what is waiting in cdp.match_queue';

CREATE FUNCTION @extschema@.match_record(record_id bigint)
	RETURNS TABLE (candidate bigint, golden_id bigint, probability float8, weight float8, decision text, summary text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kc jsonb := cdp_internal._match_constants();	/* pair flags of src/match.h */
	pair_forced int := (kc ->> 'pair_forced')::int;
	pair_no_auto int := (kc ->> 'pair_veto')::int | (kc ->> 'pair_placeholder')::int;
	a record := cdp_internal._match_active();
	link_t float8 := (a.settings ->> 'link_threshold')::float8;
	g0 bigint;
BEGIN
	IF record_id IS NULL THEN
		RAISE EXCEPTION 'record_id must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.record_id = match_record.record_id) THEN
		RAISE EXCEPTION 'record "%" does not exist', record_id USING ERRCODE = '22023';
	END IF;
	-- a record changed since matching last saw it (still queued) is compared as it is now
	IF NOT EXISTS (SELECT 1 FROM cdp_internal.match_key k WHERE k.record_id = match_record.record_id AND k.version = a.version)
	   OR EXISTS (SELECT 1 FROM cdp_internal.match_queue q WHERE q.record_id = match_record.record_id) THEN
		PERFORM cdp_internal._match_refresh_keys(ARRAY[record_id]);
	END IF;
	-- the block mates are read without their golden ids (no join per mate); the few pairs kept
	-- read theirs
	g0 := (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = match_record.record_id);
	RETURN QUERY
	SELECT x.cand, rc.golden_id, x.probability, x.weight,
	       CASE WHEN rc.golden_id = g0 THEN 'same_person'
	            WHEN x.flags & pair_no_auto <> 0 THEN 'review'
	            WHEN x.probability >= link_t OR x.flags & pair_forced <> 0 THEN 'link'
	            ELSE 'review' END,
	       cdp_internal._match_summary(a.settings, x.levels)
	  FROM (SELECT CASE WHEN p.record_a = match_record.record_id THEN p.record_b ELSE p.record_a END AS cand,
	               p.probability, p.weight, p.flags, p.levels
	          FROM cdp_internal._match_walk('score', cdp_internal._match_query(ARRAY[record_id], false), a.program,
	                                       a.version, (a.settings ->> 'review_threshold')::float8, (a.settings ->> 'max_block_size')::int, 0,
	                                       ARRAY[record_id]) p) x
	  JOIN @extschema@.record rc ON rc.record_id = x.cand
	 ORDER BY x.probability DESC, 1;
END $$;
COMMENT ON FUNCTION @extschema@.match_record(bigint) IS
	'candidate matches of one record at once, without linking (for the reception desk): probability, link/review/same_person and a Russian summary; e.g. SELECT * FROM match_record(42)';

CREATE FUNCTION @extschema@.find_patient(attrs jsonb, max_results int DEFAULT 10)
	RETURNS TABLE (golden_id bigint, probability float8, record_id bigint, summary text)
	LANGUAGE plpgsql STABLE PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record := cdp_internal._match_active();
	probe @extschema@.record;
	f record;
BEGIN
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
		RAISE EXCEPTION 'max_results must be between 1 and 1000' USING ERRCODE = '22023';
	END IF;
	-- the probe as a record row, normalised by ingest's own normaliser (invalid values set aside)
	probe := pg_catalog.jsonb_populate_record(NULL::@extschema@.record,
		@extschema@.normalize_attrs(attrs, true) || '{"record_id": -1, "golden_id": -1}');
	EXECUTE cdp_internal._match_feature_query(a.settings, '(SELECT ($1).*) r') INTO f USING probe;
	-- the summary is written for the rows returned only
	RETURN QUERY
	SELECT t.g, t.probability, t.rid, cdp_internal._match_summary(a.settings, t.levels) FROM (
	SELECT z.g, z.probability, z.rid, z.levels FROM (
	SELECT DISTINCT ON (x.g) x.g, x.probability, x.rid, x.levels
	  FROM (SELECT rc.golden_id AS g, y.probability, y.rid, y.levels
	          FROM (SELECT w.probability, w.levels, CASE WHEN w.record_a = -1 THEN w.record_b ELSE w.record_a END AS rid
	                  FROM cdp_internal._match_walk('cross',
	                         pg_catalog.format('SELECT -1::bigint, -1::bigint, %s::int, %L::text[], %L::text[] UNION ALL '
	                                           'SELECT k.record_id, NULL::bigint, k.flags, k.feat, k.bk FROM cdp_internal.match_key k WHERE k.record_id IN (SELECT m.record_id FROM cdp_internal.match_block m WHERE m.bk = ANY (%L::text[]))',
	                                           f.flags, f.feat, f.bk, f.bk),
	                         a.program, a.version, 0.01 * (a.settings ->> 'review_threshold')::float8, 0, 0, ARRAY[-1]::bigint[]) w
	                 WHERE w.probability >= 0.01 * (a.settings ->> 'review_threshold')::float8) y
	          -- block mates are read without golden ids; the pairs kept read theirs
	          JOIN @extschema@.record rc ON rc.record_id = y.rid) x
	 ORDER BY x.g, x.probability DESC) z
	 ORDER BY z.probability DESC, z.g
	 LIMIT max_results) t
	 ORDER BY t.probability DESC, t.g;
END $$;
COMMENT ON FUNCTION @extschema@.find_patient(jsonb, int) IS
	'is this patient already with us? candidate persons for a set of attrs (stores nothing), best record per person with probability and a Russian summary; e.g. find_patient(''{"family_name":"Иванова","birth_date":"1980-03-05"}'')';

/* the clinic default, installed as version 1 */
INSERT INTO cdp_internal.match_settings (settings, program, active)
	SELECT d, cdp_internal._match_program(d, NULL), true
	  FROM (SELECT cdp_internal._match_expand(cdp_internal._match_default_settings()) AS d) x;

/* ---- sql/parts/70_golden_tables.sql ---- */
/*
 * sql/parts/70_golden_tables.sql: layer 7, golden patient records.
 *
 * Golden profiles (cdp.patient), membership (cdp.patient_member), redirects and clinical events
 * are projections of the append-only log cdp.event: every function here that changes them appends
 * its event through cdp.append_event in the same transaction, and cdp.rebuild_patients() replays
 * the log into the same rows.  The survivorship fold (cdp.golden_fold) is a pure function of the
 * records of one person and the rules; the live path feeds it from cdp.record, the replay path
 * from the record payloads in the log.  See doc/golden.md.
 */

/* ------------------------------------------------------------------ survivorship rules */

CREATE TABLE @extschema@.survivorship_rules (
	version		int PRIMARY KEY,
	rules		jsonb NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.survivorship_rules IS
	'versions of the survivorship rules (projection of survivorship.configured events); none means the built-in default';

/*
 * The rule names and the default rules come from the constants of src/golden_rules.c, the ones the
 * fold and golden_check_rules read.
 */
CREATE FUNCTION @extschema@.golden_default_rules() RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_default_rules';
COMMENT ON FUNCTION @extschema@.golden_default_rules() IS
	'built-in survivorship rules: for each single-valued attribute, the ordered list of rules that picks its value';

CREATE FUNCTION @extschema@.golden_rule_names() RETURNS text[]
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_rule_names';
COMMENT ON FUNCTION @extschema@.golden_rule_names() IS
	'names of the survivorship rules: validated (records flagged validated first), trusted (cdp.source.trust), recent (record updated_at), frequent (records sharing the value), complete (longest value)';

/*
 * The rules document as of a time: the newest configured version at or before it, else the
 * default (version 0).
 */
CREATE FUNCTION @extschema@.survivorship_rules_as_of(at timestamptz DEFAULT 'infinity',
	upto bigint DEFAULT 9223372036854775807, OUT version int, OUT rules jsonb)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	SELECT coalesce(s.version, 0), coalesce(s.rules, @extschema@.golden_default_rules())
	  INTO version, rules
	  FROM (SELECT 1) one
	  LEFT JOIN LATERAL (SELECT r.version, r.rules FROM @extschema@.survivorship_rules r
	                      WHERE r.at OPERATOR(pg_catalog.<=) survivorship_rules_as_of.at
	                        AND r.event_id OPERATOR(pg_catalog.<=) survivorship_rules_as_of.upto
	                      ORDER BY r.version DESC LIMIT 1) s ON true;
END
$$;
COMMENT ON FUNCTION @extschema@.survivorship_rules_as_of(timestamptz, bigint) IS
	'the survivorship rules in force at a time and log position (default: now) and their version (0 = built-in default)';

/*
 * Validates a rules document and returns it completed with the default for every attribute it
 * does not name (C, src/golden_rules.c: the checks the fold makes, plus known attributes, non-empty
 * lists and no rule twice).  Raises 22023 naming the attribute or rule at fault; a NULL document
 * is refused like any other that is not an object, so the function is not STRICT.
 */
CREATE FUNCTION cdp_internal.golden_check_rules(rules jsonb) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_check_rules';
COMMENT ON FUNCTION cdp_internal.golden_check_rules(jsonb) IS
	'validates a survivorship rules document and completes it with the default rules (22023 on error)';

/* ------------------------------------------------------------------ projections */

CREATE TABLE @extschema@.patient (
	golden_id		bigint PRIMARY KEY,
	status			text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
	status_at		timestamptz,
	registered_on	date,
	validated		boolean NOT NULL DEFAULT false,
	family_name		text,
	given_name		text,
	patronymic		text,
	sex				text,
	birth_date		date,
	phones			jsonb NOT NULL DEFAULT '[]',
	emails			jsonb NOT NULL DEFAULT '[]',
	handles			jsonb NOT NULL DEFAULT '[]',
	snils			@extschema@.snils,
	oms				@extschema@.oms,
	address			text,
	city			text,
	last_visit		timestamptz,
	record_count	int NOT NULL DEFAULT 0,
	updated_at		timestamptz,
	rules_version	int NOT NULL DEFAULT 0
);
COMMENT ON TABLE @extschema@.patient IS
	'golden patient profiles: one row per person, folded by survivorship from its source records (projection of cdp.event)';
CREATE INDEX patient_status_idx ON @extschema@.patient (status, golden_id);
ALTER TABLE @extschema@.patient ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.patient_member (
	record_id	bigint NOT NULL,
	golden_id	bigint NOT NULL,
	from_event	bigint NOT NULL,
	from_at		timestamptz NOT NULL,
	to_event	bigint,
	to_at		timestamptz,
	PRIMARY KEY (record_id, from_event)
);
COMMENT ON TABLE @extschema@.patient_member IS
	'membership history: which golden id each source record belonged to between two events (projection of cdp.event)';
CREATE INDEX patient_member_golden_idx ON @extschema@.patient_member (golden_id, from_at);
CREATE UNIQUE INDEX patient_member_open_idx ON @extschema@.patient_member (record_id) WHERE to_event IS NULL;
ALTER TABLE @extschema@.patient_member ENABLE ROW LEVEL SECURITY;

CREATE TABLE @extschema@.patient_redirect (
	old_id		bigint PRIMARY KEY,
	new_id		bigint NOT NULL,
	at			timestamptz NOT NULL,
	event_id	bigint NOT NULL
);
COMMENT ON TABLE @extschema@.patient_redirect IS
	'golden ids absorbed by a merge and the id that survived (projection of patient.merged events)';
CREATE INDEX patient_redirect_new_idx ON @extschema@.patient_redirect (new_id);

CREATE TABLE cdp_internal.golden_state (
	one				boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_event_id	bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE cdp_internal.golden_state IS
	'how far cdp.run_maintenance has caught the golden projections up with the log';
INSERT INTO cdp_internal.golden_state DEFAULT VALUES;

CREATE SEQUENCE @extschema@.clinical_event_id_seq;
COMMENT ON SEQUENCE @extschema@.clinical_event_id_seq IS 'ids of cdp.clinical_event';

CREATE TABLE @extschema@.clinical_event (
	event_id		bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.clinical_event_id_seq'),
	source_id		int NOT NULL,
	source_key		text NOT NULL,
	record_id		bigint NOT NULL,
	golden_id		bigint NOT NULL,
	kind			text NOT NULL CHECK (kind IN ('visit', 'lab_test', 'diagnosis', 'sick_leave', 'recommendation')),
	at				timestamptz,
	visit_type		text CHECK (visit_type IN ('first', 'repeat')),
	visit_status	text CHECK (visit_status IN ('booked', 'came', 'in_appointment', 'done')),
	doctor			text,
	specialty		text,
	lab_code		text,
	lab_result		text,
	lab_unit		text,
	ref_low			numeric,
	ref_high		numeric,
	ref_text		text,
	icd10			text CHECK (icd10 ~ '^[A-Z][0-9]{2}(\.[0-9]{1,2})?$'),
	sick_leave_number text,
	sick_from		date,
	sick_to			date,
	recommendation	text,
	due_date		date,
	attrs			jsonb NOT NULL,
	attrs_hash		text NOT NULL,
	created_at		timestamptz NOT NULL,
	updated_at		timestamptz NOT NULL,
	version			int NOT NULL DEFAULT 1,
	UNIQUE (source_id, source_key)
);
COMMENT ON TABLE @extschema@.clinical_event IS
	'clinical events (visits, lab tests, diagnoses, sick leave, recommendations) of source records, so of golden patients';
CREATE INDEX clinical_event_record_idx ON @extschema@.clinical_event (record_id);
CREATE INDEX clinical_event_golden_idx ON @extschema@.clinical_event (golden_id, kind, at);
ALTER TABLE @extschema@.clinical_event ENABLE ROW LEVEL SECURITY;

/* ---- sql/parts/71_golden_fold.sql ---- */
/*
 * sql/parts/71_golden_fold.sql: golden records: the survivorship fold and its live computation.
 */

/* ------------------------------------------------------------------ the fold (pure) */

/*
 * One source record reduced to what the fold reads, from a row of cdp.record (to_jsonb) or from
 * the "record" object of a record.created/record.updated payload, and the source's trust
 * (src/golden_fold.c).  Identifiers go through their types, so both paths give the types'
 * canonical text.
 */
CREATE FUNCTION @extschema@.golden_record_doc(rec jsonb, trust int) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_record_doc';
COMMENT ON FUNCTION @extschema@.golden_record_doc(jsonb, int) IS
	'reduces a source record (row JSON or log payload) and its source trust to the document the survivorship fold reads, identifiers in canonical form (C)';

/*
 * The survivorship fold (C, src/golden_fold.c): a pure function of the records of one person (an
 * array of golden_record_doc documents) and the rules.  Single-valued attributes: candidates are
 * the records with a non-empty value, ranked by the attribute's rules in order (each rule a score,
 * higher first), then by the smaller record id.  Multi-valued contacts keep every distinct value
 * with its source records, first/last seen and validity.  Returns the profile and, unless
 * with_lineage is false (the projection paths skip it), its lineage.  NULL arguments, recs that is
 * not an array of objects and rules that are not an object of rule-name arrays raise 22004 /
 * 22023.  test/pgtap/71_golden_fold.sql compares it with the SQL oracle in
 * test/oracles/golden_fold.sql on generated clusters.
 */
CREATE FUNCTION @extschema@.golden_fold(recs jsonb, rules jsonb, with_lineage boolean DEFAULT true) RETURNS jsonb
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'cdp_golden_fold';
COMMENT ON FUNCTION @extschema@.golden_fold(jsonb, jsonb, boolean) IS
	'survivorship fold (C): pure function of one person''s source records and the rules, returning the profile attributes, contacts and (unless with_lineage is false) lineage';

/* Builds the projection row of one person from its fold and its log-derived status and visits. */
CREATE FUNCTION cdp_internal.golden_row(golden_id bigint, fold jsonb, status text, status_at timestamptz,
	last_visit timestamptz, rules_version int) RETURNS @extschema@.patient
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN ROW(golden_id, coalesce(status, 'active'), status_at,
	       (fold ->> 'registered_on')::date, (fold ->> 'validated')::boolean,
	       fold -> 'attributes' ->> 'family_name', fold -> 'attributes' ->> 'given_name',
	       fold -> 'attributes' ->> 'patronymic', fold -> 'attributes' ->> 'sex',
	       (fold -> 'attributes' ->> 'birth_date')::date,
	       fold -> 'phones', fold -> 'emails', fold -> 'handles',
	       (fold -> 'attributes' ->> 'snils')::@extschema@.snils, (fold -> 'attributes' ->> 'oms')::@extschema@.oms,
	       fold -> 'attributes' ->> 'address', fold -> 'attributes' ->> 'city',
	       last_visit, (fold ->> 'record_count')::int, (fold ->> 'updated_at')::timestamptz,
	       rules_version)::@extschema@.patient;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_row(bigint, jsonb, text, timestamptz, timestamptz, int) IS
	'the cdp.patient row of one person from its survivorship fold, status and last visit';

/* ------------------------------------------------------------------ live computation */

/*
 * The profiles of the given golden ids computed from the live tables (cdp.record, cdp.source,
 * cdp.clinical_event, the stored status).  Ids without records yield nothing.
 * Plans: golden_compute, link_records and unmerge run with plan_cache_mode = force_generic_plan
 * (their nested calls inherit it).  Their parameters are JSON documents and short id arrays, for
 * which a custom plan is never better, and planning the fold's ranking query anew at every call
 * (when the fold was SQL) cost about 1 ms of the 1.5 ms a two-record fold took (see
 * doc/benchmarks-golden.md).  refresh_patients keeps the default: ingest passes it thousands of
 * ids at once, where a custom plan of its update pays off.
 * They also run with jit = off: a generic plan's cost estimate can pass jit_above_cost, and
 * compiling it at every merge made a matching run of 24,000 merges take over 12 minutes instead
 * of 48 seconds.
 */
CREATE FUNCTION cdp_internal.golden_compute(ids bigint[]) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of('infinity')),
	recs AS (
		SELECT r.golden_id,
		       /* only the columns golden_record_doc reads: raw (the source document, about half the
		          row) and the keys are left out, which makes a fold about 8 % cheaper */
		       pg_catalog.jsonb_agg(@extschema@.golden_record_doc(pg_catalog.to_jsonb((SELECT d FROM (
		           SELECT r.record_id, r.source_id, r.family_name, r.given_name, r.patronymic, r.birth_date,
		                  r.sex, r.phones, r.emails, r.snils, r.oms, r.address, r.city, r.handles, r.extra,
		                  r.created_at, r.updated_at) d)), s.trust) ORDER BY r.record_id) AS docs
		  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
		  JOIN @extschema@.record r ON r.golden_id = g.i
		  LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 GROUP BY r.golden_id)
	SELECT row.*
	  FROM recs CROSS JOIN rl
	  LEFT JOIN @extschema@.patient p ON p.golden_id = recs.golden_id
	  CROSS JOIN LATERAL cdp_internal.golden_row(recs.golden_id, @extschema@.golden_fold(recs.docs, rl.rules, false),
	           p.status, p.status_at,
	           (SELECT pg_catalog.max(c.at) FROM @extschema@.clinical_event c
	             WHERE c.golden_id = recs.golden_id AND c.kind = 'visit'
	               AND c.visit_status IN ('came', 'in_appointment', 'done')),
	           rl.version) row;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_compute(bigint[]) IS
	'profiles of the given golden ids folded from the live records (internal to refresh_patients)';

/*
 * Follows redirects from a golden id to the person it now belongs to; NULL when the id is
 * unknown.  Chains (a merged into b, b into c) are followed up to 1000 steps.
 */
CREATE FUNCTION @extschema@.resolve_patient(id bigint) RETURNS bigint
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cur		bigint := id;
	nxt		bigint;
BEGIN
	FOR depth IN 1..1000 LOOP
		SELECT d.new_id INTO nxt FROM @extschema@.patient_redirect d WHERE d.old_id = cur;
		EXIT WHEN NOT FOUND;
		cur := nxt;
	END LOOP;
	IF EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = cur) THEN
		RETURN cur;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_patient(bigint) IS
	'the golden id a (possibly merged-away) golden id now belongs to, following redirect chains; NULL if unknown';

/*
 * Opens a membership interval for every record of the given golden ids that has none yet (a
 * record ingest just created), starting at its record.created event.
 */
CREATE FUNCTION cdp_internal.golden_open_members(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at)
	SELECT r.record_id, r.golden_id, e.event_id, e.at
	  FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) g
	  JOIN @extschema@.record r ON r.golden_id = g.i
	  CROSS JOIN LATERAL (SELECT e.event_id, e.at FROM @extschema@.event e
	                       WHERE e.subject = r.record_id AND e.kind = 'record.created'
	                       ORDER BY e.event_id LIMIT 1) e
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient_member m
	                    WHERE m.record_id = r.record_id AND m.to_event IS NULL)
	ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_open_members(bigint[]) IS
	'starts the membership history of records new to the given golden ids (internal)';

/*
 * Re-folds the existing, already locked profile rows of the given golden ids (no redirects
 * followed, no rows created or removed); returns how many changed.  The shared last step of
 * refresh_patients and link_records.  golden_compute returns only rows of the given ids, so the
 * join needs no "= ANY (ids)" filter: tested on each joined row against the whole array, it
 * made a re-fold of n persons O(n^2) (100,000 persons: over 6 minutes).
 * enable_seqscan = off (inherited by golden_compute): the rows are reached by id, through the
 * indexes.  golden_compute's plan is generic and cached for the session; planned while the
 * tables looked empty (a fresh clinic, or one long transaction that autovacuum cannot analyze),
 * it hashed a sequential scan of every record and profile for each call, so one transaction of
 * per-row upserts took 13 ms a row at 15,000 rows instead of about 1 ms.  With statistics the
 * plan was index-driven already (the id list is estimated at 10 rows).
 */
CREATE FUNCTION cdp_internal.golden_refold(ids bigint[]) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET enable_seqscan = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	int;
BEGIN
	UPDATE @extschema@.patient p SET
		status = c.status, status_at = c.status_at, registered_on = c.registered_on, validated = c.validated,
		family_name = c.family_name, given_name = c.given_name, patronymic = c.patronymic, sex = c.sex,
		birth_date = c.birth_date, phones = c.phones, emails = c.emails, handles = c.handles,
		snils = c.snils, oms = c.oms, address = c.address, city = c.city, last_visit = c.last_visit,
		record_count = c.record_count, updated_at = c.updated_at, rules_version = c.rules_version
	  FROM cdp_internal.golden_compute(ids) c
	 WHERE p.golden_id = c.golden_id
	   AND (p.*) IS DISTINCT FROM (c.*);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_refold(bigint[]) IS
	're-folds the existing, locked profile rows of the given golden ids; returns how many changed (internal)';

/*
 * Re-folds the profiles of the given golden ids (following redirects) from their records:
 * creates the row of a new person, updates a changed one, removes one left without records.
 * Locks the patient rows in id order first, so concurrent refreshes and merges serialise and the
 * fold then reads committed records.  Called by ingest after every record change.
 * jit = off (inherited by golden_open_members, golden_refold, golden_compute): while a freshly
 * loaded table has no statistics, the estimate of a 5,000-id batch passed jit_above_cost and
 * every batch compiled its plans with LLVM.  For the same reason each statement here (and in
 * golden_open_members and golden_compute) starts from the id list (unnest joined to the id
 * index) rather than filtering a table with "= ANY (ids)": without statistics, or in a generic
 * plan, the latter became a sequential scan testing every row against the whole array, so
 * ingest of 100,000 records into a fresh database went from 0.5 s per batch of 5,000 to 2 s as
 * the tables grew.  enable_seqscan = off (inherited by the three): see golden_refold; the
 * statements here reach rows by id too.
 */
CREATE FUNCTION cdp_internal.refresh_patients(golden_ids bigint[]) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET jit = off
	SET enable_seqscan = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	todo	bigint[];
	n		int;
BEGIN
	IF golden_ids IS NULL THEN
		RETURN 0;
	END IF;
	SELECT pg_catalog.array_agg(DISTINCT x.g ORDER BY x.g) INTO todo
	  FROM (SELECT coalesce(@extschema@.resolve_patient(i), i) AS g
	          FROM pg_catalog.unnest(golden_ids) i WHERE i IS NOT NULL) x;
	IF todo IS NULL THEN
		RETURN 0;
	END IF;
	/* rows exist (placeholders for new persons), then lock them in id order */
	INSERT INTO @extschema@.patient (golden_id)
	SELECT g.i FROM pg_catalog.unnest(todo) g(i)
	 WHERE EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = g.i)
	ORDER BY 1
	ON CONFLICT (golden_id) DO NOTHING;
	PERFORM 1 FROM pg_catalog.unnest(todo) g(i) JOIN @extschema@.patient p ON p.golden_id = g.i
	 ORDER BY p.golden_id FOR UPDATE OF p;
	PERFORM cdp_internal.golden_open_members(todo);
	/* a new statement: sees what committed while we waited for the locks */
	n := cdp_internal.golden_refold(todo);
	DELETE FROM @extschema@.patient p
	 USING pg_catalog.unnest(todo) g(i)
	 WHERE p.golden_id = g.i
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = p.golden_id);
	RETURN n;
END
$$;
COMMENT ON FUNCTION cdp_internal.refresh_patients(bigint[]) IS
	're-folds the golden profiles of the given ids (after redirects) from their current records; returns how many rows changed';

/* ---- sql/parts/72_golden_replay.sql ---- */
/*
 * sql/parts/72_golden_replay.sql: golden records: replay from the log, as-of, history, lineage, survivorship configuration.
 */

/* ------------------------------------------------------------------ replay from the log */

/*
 * Membership intervals derived from the log alone: a record.created event puts a record into its
 * first golden id, patient.merged moves the listed records into the survivor, patient.unmerged
 * moves one record into its new id.  Each move ends the record's previous interval.
 */
CREATE FUNCTION cdp_internal.golden_membership_from_log()
	RETURNS TABLE (record_id bigint, golden_id bigint, from_event bigint, from_at timestamptz,
	               to_event bigint, to_at timestamptz)
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	/*
	 * one pass over the log: a patient.merged event gives one move per record it lists (none
	 * when the list is empty), the other two kinds one move each
	 */
	WITH moves AS (
		SELECT CASE e.kind WHEN 'record.created' THEN e.subject
		                   WHEN 'patient.merged' THEN m::bigint
		                   ELSE (e.payload ->> 'record_id')::bigint END AS record_id,
		       CASE e.kind WHEN 'record.created'
		                   THEN coalesce(e.golden_id, (e.payload -> 'record' ->> 'golden_id')::bigint)
		                   ELSE (e.payload ->> 'into')::bigint END AS golden_id,
		       e.event_id, e.at
		  FROM @extschema@.event e
		 CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(
		           CASE WHEN e.kind = 'patient.merged' THEN e.payload -> 'records' ELSE '[null]'::jsonb END) m
		 WHERE e.kind IN ('record.created', 'patient.merged', 'patient.unmerged'))
	SELECT m.record_id, m.golden_id, m.event_id, m.at,
	       pg_catalog.lead(m.event_id) OVER w, pg_catalog.lead(m.at) OVER w
	  FROM moves m
	WINDOW w AS (PARTITION BY m.record_id ORDER BY m.event_id)
	$$;
COMMENT ON FUNCTION cdp_internal.golden_membership_from_log() IS
	'membership intervals of every record, derived from the log alone (used by rebuild_patients)';

/*
 * Profiles replayed from the log as of a time: the records that were members then, each at its
 * newest version logged by then, the rules in force then, the status from the newest
 * archive/restore event by then, and the last visit from the clinical events logged by then.
 * members holds (golden_id, record_id) pairs as of that time.  jit = off: with the statistics
 * of a small log (a bulk load autovacuum has not analyzed yet) the cost estimate passed
 * jit_above_cost and every patient_as_of spent ~30-60 ms compiling its plan for a 0.2 ms replay.
 */
CREATE FUNCTION cdp_internal.golden_replay(at timestamptz, upto bigint, members jsonb) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH rl AS (SELECT * FROM @extschema@.survivorship_rules_as_of(at, upto)),
	m AS (SELECT (x ->> 0)::bigint AS golden_id, (x ->> 1)::bigint AS record_id
	        FROM pg_catalog.jsonb_array_elements(members) x),
	/*
	 * The newest logged version of each member record, of each visit and of the status: one
	 * LATERAL lookup by subject (event_subject_idx, newest first) each, so the plan is
	 * index-driven whatever the statistics of cdp.event say (with those of a small log, a
	 * semi-join read the whole log at every patient_as_of).  The subject in the ORDER BY is
	 * constant there; it makes the (subject, event_id) index the only one giving that order, so
	 * a backward scan of the primary key "until a row of this subject turns up" is never chosen.
	 */
	ver AS (
		SELECT r.record_id, v.rec, v.source
		  FROM (SELECT DISTINCT m.record_id FROM m) r
		 CROSS JOIN LATERAL (
		       SELECT e.payload -> 'record' AS rec, e.payload ->> 'source' AS source
		         FROM @extschema@.event e
		        WHERE e.subject = r.record_id
		          AND e.kind IN ('record.created', 'record.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v),
	docs AS (
		SELECT m.golden_id,
		       pg_catalog.jsonb_agg(@extschema@.golden_record_doc(
		           ver.rec || pg_catalog.jsonb_build_object('record_id', m.record_id, 'source_id', s.source_id),
		           s.trust) ORDER BY m.record_id) AS docs
		  FROM m JOIN ver ON ver.record_id = m.record_id
		  LEFT JOIN @extschema@.source s ON s.name = ver.source
		 GROUP BY m.golden_id),
	visits AS (
		/* only the fields read below */
		SELECT v.record_id, v.kind, v.visit_status, v.at
		  FROM @extschema@.clinical_event c
		 CROSS JOIN LATERAL (
		       SELECT (e.payload -> 'clinical' ->> 'record_id')::bigint AS record_id,
		              e.payload -> 'clinical' ->> 'kind' AS kind,
		              e.payload -> 'clinical' ->> 'visit_status' AS visit_status,
		              e.payload -> 'clinical' ->> 'at' AS at
		         FROM @extschema@.event e
		        WHERE e.subject = c.event_id
		          AND e.kind IN ('clinical.created', 'clinical.updated')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) v
		 WHERE c.record_id IN (SELECT m.record_id FROM m)
		   /*
		    * only events that are or ever were visits: one never updated (version 1) has had
		    * its current kind all along, so most lab tests and diagnoses are skipped
		    */
		   AND (c.kind = 'visit' OR c.version > 1)),
	last_visit AS (
		SELECT m.golden_id, pg_catalog.max(v.at::timestamptz) AS at
		  FROM visits v JOIN m ON m.record_id = v.record_id
		 WHERE v.kind = 'visit' AND v.visit_status IN ('came', 'in_appointment', 'done')
		 GROUP BY m.golden_id),
	status AS (
		SELECT d.golden_id, x.status, x.at
		  FROM docs d
		 CROSS JOIN LATERAL (
		       SELECT CASE e.kind WHEN 'patient.archived' THEN 'archived' ELSE 'active' END AS status, e.at
		         FROM @extschema@.event e
		        WHERE e.subject = d.golden_id
		          AND e.kind IN ('patient.archived', 'patient.restored')
		          AND e.at <= golden_replay.at AND e.event_id <= golden_replay.upto
		        ORDER BY e.subject DESC, e.event_id DESC LIMIT 1) x)
	SELECT row.*
	  FROM docs d CROSS JOIN rl
	  LEFT JOIN status st ON st.golden_id = d.golden_id
	  LEFT JOIN last_visit lv ON lv.golden_id = d.golden_id
	  CROSS JOIN LATERAL cdp_internal.golden_row(d.golden_id, @extschema@.golden_fold(d.docs, rl.rules, false),
	           st.status, st.at, lv.at, rl.version) row;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_replay(timestamptz, bigint, jsonb) IS
	'profiles replayed from the log as of a time and log position for the given (golden_id, record_id) memberships (internal)';

/*
 * Replays the whole log into the projections: membership history, the members' golden ids in
 * cdp.record, redirects, survivorship rules and every profile.  Returns the number of profiles.
 * The result equals the live projections (a test compares them both ways).
 */
CREATE FUNCTION @extschema@.rebuild_patients() RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n	bigint;
BEGIN
	/* one rebuild at a time, and no merge or refresh while the tables are replaced */
	LOCK TABLE @extschema@.patient, @extschema@.patient_member, @extschema@.patient_redirect,
	           @extschema@.survivorship_rules IN EXCLUSIVE MODE;
	DELETE FROM @extschema@.survivorship_rules;
	INSERT INTO @extschema@.survivorship_rules (version, rules, at, event_id)
	SELECT (e.payload ->> 'version')::int, e.payload -> 'rules', e.at, e.event_id
	  FROM @extschema@.event e WHERE e.kind = 'survivorship.configured';
	DELETE FROM @extschema@.patient_member;
	INSERT INTO @extschema@.patient_member SELECT * FROM cdp_internal.golden_membership_from_log();
	DELETE FROM @extschema@.patient_redirect;
	INSERT INTO @extschema@.patient_redirect (old_id, new_id, at, event_id)
	SELECT (e.payload ->> 'from')::bigint, (e.payload ->> 'into')::bigint, e.at, e.event_id
	  FROM @extschema@.event e WHERE e.kind = 'patient.merged';
	UPDATE @extschema@.record r SET golden_id = m.golden_id
	  FROM @extschema@.patient_member m
	 WHERE m.record_id = r.record_id AND m.to_event IS NULL AND r.golden_id IS DISTINCT FROM m.golden_id;
	UPDATE @extschema@.clinical_event c SET golden_id = r.golden_id
	  FROM @extschema@.record r
	 WHERE r.record_id = c.record_id AND c.golden_id IS DISTINCT FROM r.golden_id;
	DELETE FROM @extschema@.patient;
	INSERT INTO @extschema@.patient
	SELECT * FROM cdp_internal.golden_replay('infinity', 9223372036854775807,
		(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.golden_id, m.record_id)), '[]')
		   FROM @extschema@.patient_member m WHERE m.to_event IS NULL));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.rebuild_patients() IS
	'replays cdp.event into the golden projections (profiles, membership, redirects, rules); returns the number of profiles';
REVOKE ALL ON FUNCTION @extschema@.rebuild_patients() FROM PUBLIC;

/*
 * The golden id a given id stood for at a time: redirects logged by then are followed.
 */
CREATE FUNCTION cdp_internal.golden_resolve_as_of(id bigint, at timestamptz, upto bigint) RETURNS bigint
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cur		bigint := id;
	nxt		bigint;
BEGIN
	FOR depth IN 1..1000 LOOP
		SELECT d.new_id INTO nxt FROM @extschema@.patient_redirect d
		 WHERE d.old_id = cur AND d.at <= golden_resolve_as_of.at AND d.event_id <= golden_resolve_as_of.upto;
		EXIT WHEN NOT FOUND;
		cur := nxt;
	END LOOP;
	RETURN cur;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_resolve_as_of(bigint, timestamptz, bigint) IS
	'the golden id an id stood for at a time and log position, following only the redirects made by then';

/*
 * The profile of a golden id as it was at a time: the id is followed through the redirects made
 * by then, its members are those of the membership history at that time, each at its version
 * logged by then.  No row when the person did not exist then.
 */
CREATE FUNCTION cdp_internal.golden_as_of(id bigint, at timestamptz, upto bigint) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH g AS (SELECT cdp_internal.golden_resolve_as_of(id, at, upto) AS id)
	SELECT * FROM cdp_internal.golden_replay(at, upto,
		(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.golden_id, m.record_id)), '[]')
		   FROM @extschema@.patient_member m
		  WHERE m.golden_id = (SELECT g.id FROM g)
		    AND m.from_at <= golden_as_of.at AND m.from_event <= golden_as_of.upto
		    AND (m.to_event IS NULL OR m.to_at > golden_as_of.at OR m.to_event > golden_as_of.upto)));
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_as_of(bigint, timestamptz, bigint) IS
	'the golden profile of a person as of a time and a log position (internal)';

CREATE FUNCTION @extschema@.patient_as_of(golden_id bigint, at timestamptz) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM cdp_internal.golden_as_of(golden_id, at, 9223372036854775807);
END
$$;
COMMENT ON FUNCTION @extschema@.patient_as_of(bigint, timestamptz) IS
	'the golden profile of a person as it was at a time (events logged at or before it), replayed from the log';

CREATE FUNCTION @extschema@.patient_as_of_event(golden_id bigint, event_id bigint) RETURNS SETOF @extschema@.patient
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM cdp_internal.golden_as_of(golden_id, 'infinity', event_id);
END
$$;
COMMENT ON FUNCTION @extschema@.patient_as_of_event(bigint, bigint) IS
	'the golden profile of a person as it was right after a given event of the log, replayed from the log';

/*
 * Every golden id that is or was merged into the given one (itself included).
 */
CREATE FUNCTION cdp_internal.golden_absorbed(id bigint) RETURNS bigint[]
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN (WITH RECURSIVE chain(id, depth) AS (
		SELECT id, 0
		UNION ALL
		SELECT d.old_id, c.depth + 1 FROM chain c JOIN @extschema@.patient_redirect d ON d.new_id = c.id
		 WHERE c.depth < 1000)
	SELECT pg_catalog.array_agg(DISTINCT c.id) FROM chain c);
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_absorbed(bigint) IS
	'the golden id and every id merged into it, directly or through a chain';

/*
 * What happened to a person, newest first: events logged under its golden id or any id merged
 * into it, and record, unmerge and decision events of every record that ever belonged to them.
 */
CREATE FUNCTION @extschema@.patient_history(golden_id bigint)
	RETURNS TABLE (event_id bigint, at timestamptz, kind text, subject bigint, event_golden_id bigint,
	               actor text, payload jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH ids AS (SELECT pg_catalog.unnest(cdp_internal.golden_absorbed(
	                 coalesce(@extschema@.resolve_patient(patient_history.golden_id), patient_history.golden_id))) AS id),
	recs AS (SELECT DISTINCT m.record_id FROM @extschema@.patient_member m WHERE m.golden_id IN (SELECT id FROM ids)),
	ev AS (
		SELECT e.event_id FROM @extschema@.event e WHERE e.golden_id IN (SELECT id FROM ids)
		UNION
		SELECT e.event_id FROM @extschema@.event e
		 WHERE e.subject IN (SELECT record_id FROM recs)
		   AND (e.kind LIKE 'record.%' OR e.kind IN ('patient.unmerged', 'decision.recorded')))
	SELECT e.event_id, e.at, e.kind, e.subject, e.golden_id, e.actor, e.payload
	  FROM @extschema@.event e WHERE e.event_id IN (SELECT ev.event_id FROM ev)
	 ORDER BY e.event_id DESC;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_history(bigint) IS
	'the events of a person (merged ids and former records included), newest first';

/* ------------------------------------------------------------------ lineage */

/*
 * For every single-valued attribute of a person: the value, the source record and source that
 * gave it, the rule that decided, the records that agree, and the values that lost.
 */
CREATE FUNCTION @extschema@.patient_lineage(golden_id bigint)
	RETURNS TABLE (attribute text, value text, record_id bigint, source text, rule text,
	               agreeing_records bigint[], lost jsonb)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	WITH g AS (SELECT @extschema@.resolve_patient(patient_lineage.golden_id) AS id),
	f AS (
		SELECT @extschema@.golden_fold(
		           pg_catalog.jsonb_agg(@extschema@.golden_record_doc(pg_catalog.to_jsonb(r), s.trust) ORDER BY r.record_id),
		           (SELECT rl.rules FROM @extschema@.survivorship_rules_as_of('infinity') rl)) AS fold
		  FROM @extschema@.record r LEFT JOIN @extschema@.source s ON s.source_id = r.source_id
		 WHERE r.golden_id = (SELECT g.id FROM g))
	SELECT l.key, l.value ->> 'value', (l.value ->> 'record_id')::bigint, s.name, l.value ->> 'rule',
	       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(l.value -> 'agree')::bigint),
	       l.value -> 'lost'
	  FROM f, pg_catalog.jsonb_each(f.fold -> 'lineage') l
	  LEFT JOIN @extschema@.source s ON s.source_id = (l.value ->> 'source_id')::int
	 ORDER BY l.key;
END
$$;
COMMENT ON FUNCTION @extschema@.patient_lineage(bigint) IS
	'per attribute of a golden profile: winning value, source record and source, deciding rule, agreeing records, losing values';

/* ------------------------------------------------------------------ survivorship configuration */

/*
 * Validates and stores a new version of the survivorship rules (attributes not named keep the
 * default), appends survivorship.configured and re-folds every profile under the new rules.
 * Returns the new version.
 */
CREATE FUNCTION @extschema@.configure_survivorship(rules jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	full_rules	jsonb := cdp_internal.golden_check_rules(rules);
	v			int;
	ev			bigint;
	ids			bigint[];
BEGIN
	LOCK TABLE @extschema@.survivorship_rules IN EXCLUSIVE MODE;
	SELECT coalesce(pg_catalog.max(s.version), 0) + 1 INTO v FROM @extschema@.survivorship_rules s;
	ev := cdp_internal.append_event('survivorship.configured', v, NULL,
		pg_catalog.jsonb_build_object('version', v, 'rules', full_rules));
	INSERT INTO @extschema@.survivorship_rules (version, rules, at, event_id)
	SELECT v, full_rules, e.at, e.event_id FROM @extschema@.event e WHERE e.event_id = ev;
	SELECT pg_catalog.array_agg(p.golden_id ORDER BY p.golden_id) INTO ids FROM @extschema@.patient p;
	PERFORM cdp_internal.refresh_patients(ids);
	RETURN v;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_survivorship(jsonb) IS
	'validates and stores a new version of the survivorship rules (an event) and re-folds every profile; returns the version';
REVOKE ALL ON FUNCTION @extschema@.configure_survivorship(jsonb) FROM PUBLIC;

/* ---- sql/parts/73_golden_link.sql ---- */
/*
 * sql/parts/73_golden_link.sql: golden records: link, merge, unmerge.
 */

/* ------------------------------------------------------------------ link, merge, unmerge */

/* The golden id of a record, or a clear error naming it. */
CREATE FUNCTION cdp_internal.golden_of_record(rec bigint, argname text) RETURNS bigint
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g	bigint;
BEGIN
	IF rec IS NULL THEN
		RAISE EXCEPTION '% must not be null', argname USING ERRCODE = '22004';
	END IF;
	SELECT r.golden_id INTO g FROM @extschema@.record r WHERE r.record_id = rec;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'record "%" does not exist', rec
			USING ERRCODE = 'P0002',
			DETAIL = pg_catalog.format('No row of cdp.record has record_id %s (argument %s).', rec, argname),
			HINT = 'Pass the record_id returned by cdp.upsert_record.';
	END IF;
	RETURN g;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_of_record(bigint, text) IS
	'the golden id of a record; raises P0002 naming the record when it does not exist (internal)';

/* Makes sure the given persons have projection rows, then locks them in id order. */
CREATE FUNCTION cdp_internal.golden_lock(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.unnest(ids) i
	            WHERE NOT EXISTS (SELECT 1 FROM @extschema@.patient p WHERE p.golden_id = i)) THEN
		PERFORM cdp_internal.refresh_patients(ids);
	END IF;
	PERFORM 1 FROM @extschema@.patient p WHERE p.golden_id = ANY (ids) ORDER BY p.golden_id FOR UPDATE;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_lock(bigint[]) IS
	'locks the projection rows of the given persons in id order, creating missing ones (internal)';

/*
 * Links two source records.  When they already share a golden id, only record.linked is
 * appended.  Otherwise the two persons merge: the smaller golden id survives, every record and
 * clinical event of the other moves to it, a redirect remembers the old id, patient.merged is
 * appended and the survivor's profile is re-folded; the other profile row is removed.  Returns
 * the surviving golden id, or NULL (nothing done) when a no_match decision joins a record of one
 * person to a record of the other.
 */
CREATE FUNCTION @extschema@.link_records(a bigint, b bigint, evidence jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM cdp_internal.golden_of_record(a, 'a');
	PERFORM cdp_internal.golden_of_record(b, 'b');
	IF a = b THEN
		RAISE EXCEPTION 'cannot link record "%" to itself', a USING ERRCODE = '22023';
	END IF;
	IF evidence IS NOT NULL AND pg_catalog.jsonb_typeof(evidence) <> 'object' THEN
		RAISE EXCEPTION 'link evidence must be a JSON object'
			USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', evidence::text);
	END IF;
	/* one link is a batch of one: the same locks, plan and writes as link_records_many */
	RETURN (cdp_internal.golden_link_apply(ARRAY[a], ARRAY[b], ARRAY[evidence]))[1];
END
$$;
COMMENT ON FUNCTION @extschema@.link_records(bigint, bigint, jsonb) IS
	'links two source records, merging their persons (older golden id survives, the other redirects); returns the golden id, NULL if a no_match decision forbids it';

/*
 * The merge plan of a batch of links (src/match_link.c): for link i, between the persons
 * golden_a[i] and golden_b[i] as they were before the batch, whether they were one person by
 * then ('s'), a no_match decision between the grown persons refuses it ('n'), or gone merges into
 * keep ('m', the smaller id survives) taking the records of the original golden ids in absorbed;
 * restore: keep was archived and gone active.
 */
CREATE FUNCTION cdp_internal._golden_merge_plan(golden_a bigint[], golden_b bigint[],
		no_match_a bigint[], no_match_b bigint[], archived bigint[])
	RETURNS TABLE (ord int, outcome "char", keep bigint, gone bigint, restore boolean, absorbed bigint[])
	AS 'MODULE_PATHNAME', 'cdp_golden_merge_plan'
	LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION cdp_internal._golden_merge_plan(bigint[], bigint[], bigint[], bigint[], bigint[]) IS
	'the merges a list of links between golden ids makes when applied in order, by union-find (internal to link_records_many)';

/*
 * Applies links between records in the given order, with exactly the effect of calling
 * link_records for each in turn: one record.linked event for records already in one person,
 * otherwise one patient.merged event per merge (same payload: from, into, the moved records,
 * a, b, evidence), patient.restored when an archived survivor merges with an active person,
 * redirects, membership intervals, clinical events and records moved, absorbed rows removed.
 * The difference is the cost: the plan is computed in memory, every table is written by one
 * statement, and each surviving person is re-folded once.  Locks, in id order: the records and
 * clinical events of the persons involved (what ingest locks first), then their profile rows
 * (as refresh_patients, link_records and unmerge do).  Returns the surviving golden id of each
 * link, NULL where a no_match decision refused it.  The arguments are trusted (checked by the
 * callers link_records and link_records_many).  Plans: generic for a few links (planning would
 * cost more than the work), custom for more, so the planner sees the arrays as constants and sizes
 * the joins between them by their real length (a generic plan takes every unnest for 10 rows and
 * joins them by nested loops).
 */
CREATE FUNCTION cdp_internal.golden_link_apply(a bigint[], b bigint[], evidence jsonb[]) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids			bigint[];
	created		bigint[];
	tries		int := 0;
	pl_ord		int[];
	pl_out		"char"[];
	pl_keep		bigint[];
	pl_gone		bigint[];
	pl_rest		boolean[];
	ab_ord		int[];
	ab_g		bigint[];
	ev_id		bigint[];
	ev_at		timestamptz[];
	ev_kind		text[];
	ev_subj		bigint[];
	m_ord		int[];
	m_keep		bigint[];
	m_gone		bigint[];
	m_ev		bigint[];
	m_at		timestamptz[];
	mv_rec		bigint[];
	mv_ord		int[];
	mm_rec		bigint[];
	mm_keep		bigint[];
	mm_ev		bigint[];
	mm_at		timestamptz[];
	mm_nev		bigint[];
	mm_nat		timestamptz[];
	mm_first	boolean[];
	rs_id		bigint[];
	rs_at		timestamptz[];
	survivors	bigint[];
	res			bigint[];
	/* step times as DEBUG1 messages (profiling: SET client_min_messages = debug1) */
	tt			timestamptz := pg_catalog.clock_timestamp();
BEGIN
	IF pg_catalog.cardinality(a) = 0 THEN
		RETURN '{}';
	END IF;
	IF pg_catalog.cardinality(a) > 16 THEN
		/* local to this call: the function's own SET restores the generic mode on exit */
		PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
	END IF;
	/* lock the persons of the records; a concurrent merge or unmerge may move a record meanwhile */
	LOOP
		SELECT pg_catalog.array_agg(DISTINCT r.golden_id ORDER BY r.golden_id) INTO ids
		  FROM (SELECT pg_catalog.unnest(a) UNION SELECT pg_catalog.unnest(b)) x(id)
		  JOIN @extschema@.record r ON r.record_id = x.id;
		PERFORM 1 FROM @extschema@.record r JOIN pg_catalog.unnest(ids) g(id) ON r.golden_id = g.id
		 ORDER BY r.record_id FOR NO KEY UPDATE OF r;
		PERFORM 1 FROM @extschema@.clinical_event c JOIN pg_catalog.unnest(ids) g(id) ON c.golden_id = g.id
		 ORDER BY c.event_id FOR NO KEY UPDATE OF c;
		/* profile rows for persons that have none yet (folded at the end, as refresh_patients would) */
		WITH ins AS (
			INSERT INTO @extschema@.patient (golden_id)
			SELECT g.id FROM pg_catalog.unnest(ids) g(id) ORDER BY 1
			ON CONFLICT (golden_id) DO NOTHING
			RETURNING golden_id)
		SELECT pg_catalog.array_cat(created, pg_catalog.array_agg(ins.golden_id)) INTO created FROM ins;
		PERFORM 1 FROM @extschema@.patient p JOIN pg_catalog.unnest(ids) g(id) ON p.golden_id = g.id
		 ORDER BY p.golden_id FOR UPDATE OF p;
		/* a new statement: sees what committed while we waited */
		EXIT WHEN ids = (SELECT pg_catalog.array_agg(DISTINCT r.golden_id ORDER BY r.golden_id)
		                   FROM (SELECT pg_catalog.unnest(a) UNION SELECT pg_catalog.unnest(b)) x(id)
		                   JOIN @extschema@.record r ON r.record_id = x.id);
		tries := tries + 1;
		IF tries > 100 THEN
			RAISE EXCEPTION 'records keep moving between persons while they are linked'
				USING ERRCODE = '40001', HINT = 'Retry the transaction.';
		END IF;
	END LOOP;
	RAISE DEBUG 'golden_link_apply %: % ms', 'lock', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* the plan, from the persons as they are now */
	WITH p AS MATERIALIZED (
		SELECT p.*
		  /* every no_match decision: the plan ignores those outside these persons */
		  FROM (SELECT pg_catalog.array_agg(ra.golden_id) AS ga, pg_catalog.array_agg(rb.golden_id) AS gb
		          FROM @extschema@.pair_decision d
		          JOIN @extschema@.record ra ON ra.record_id = d.record_a
		          JOIN @extschema@.record rb ON rb.record_id = d.record_b
		         WHERE d.decision = 'no_match') nm,
		       cdp_internal._golden_merge_plan(
		         ARRAY(SELECT r.golden_id FROM pg_catalog.unnest(a) WITH ORDINALITY x(id, i)
		                 JOIN @extschema@.record r ON r.record_id = x.id ORDER BY x.i),
		         ARRAY(SELECT r.golden_id FROM pg_catalog.unnest(b) WITH ORDINALITY x(id, i)
		                 JOIN @extschema@.record r ON r.record_id = x.id ORDER BY x.i),
		         nm.ga, nm.gb,
		         ARRAY(SELECT q.golden_id FROM @extschema@.patient q JOIN pg_catalog.unnest(ids) g(id) ON q.golden_id = g.id
		                WHERE q.status = 'archived')) p)
	SELECT (SELECT pg_catalog.array_agg(p.ord ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.outcome ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.keep ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.gone ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.restore ORDER BY p.ord) FROM p),
	       (SELECT pg_catalog.array_agg(p.ord ORDER BY p.ord, x.g) FROM p, pg_catalog.unnest(p.absorbed) x(g)),
	       (SELECT pg_catalog.array_agg(x.g ORDER BY p.ord, x.g) FROM p, pg_catalog.unnest(p.absorbed) x(g))
	  INTO pl_ord, pl_out, pl_keep, pl_gone, pl_rest, ab_ord, ab_g;
	RAISE DEBUG 'golden_link_apply %: % ms', 'plan', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * new records' membership starts at their record.created event, as in refresh_patients; every
	 * original id a merge touches is the keep or gone of its first merge
	 */
	PERFORM cdp_internal.golden_open_members(ARRAY(
		SELECT DISTINCT x.g FROM pg_catalog.unnest(pl_keep || pl_gone || created) x(g)
		 WHERE x.g IS NOT NULL));
	RAISE DEBUG 'golden_link_apply %: % ms', 'open_members', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* every record each merge moves (the records of the original ids it absorbs), read once */
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id, x.ord), pg_catalog.array_agg(x.ord ORDER BY r.record_id, x.ord)
	  INTO mv_rec, mv_ord
	  FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
	  JOIN @extschema@.record r ON r.golden_id = x.g;
	RAISE DEBUG 'golden_link_apply %: % ms', 'moved_records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/*
	 * the events, in link order: record.linked, or patient.merged (then patient.restored); one pass
	 * over the links, each payload built once (a merge always moves records: its gone id has some)
	 */
	WITH p AS (
		SELECT l.ord, l.outcome, l.keep, l.gone, l.restore, x.ra, x.rb, x.ev
		  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep), pg_catalog.unnest(pl_gone), pg_catalog.unnest(pl_rest)) l(ord, outcome, keep, gone, restore)
		  JOIN ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b), pg_catalog.unnest(evidence)) WITH ORDINALITY x(ra, rb, ev, i) ON x.i = l.ord
		 WHERE l.outcome <> 'n'),
	mv AS (
		SELECT x.ord, pg_catalog.array_agg(x.rec ORDER BY x.rec) AS recs
		  FROM ROWS FROM (pg_catalog.unnest(mv_rec), pg_catalog.unnest(mv_ord)) x(rec, ord)
		 GROUP BY x.ord),
	ins AS (
		INSERT INTO @extschema@.event (kind, subject, golden_id, payload)
		SELECT e.kind, e.subject, p.keep, e.payload
		  FROM p LEFT JOIN mv ON mv.ord = p.ord
		 CROSS JOIN LATERAL (VALUES
		       (0, CASE p.outcome WHEN 'm' THEN 'patient.merged' ELSE 'record.linked' END,
		        CASE p.outcome WHEN 'm' THEN p.gone ELSE p.ra END,
		        CASE p.outcome
		          WHEN 'm' THEN pg_catalog.jsonb_build_object('from', p.gone, 'into', p.keep, 'records', pg_catalog.to_jsonb(mv.recs),
		                                                      'a', p.ra, 'b', p.rb, 'evidence', p.ev)
		          ELSE pg_catalog.jsonb_build_object('a', p.ra, 'b', p.rb, 'evidence', p.ev) END),
		       (1, 'patient.restored', p.keep,
		        CASE WHEN p.outcome = 'm' AND p.restore
		             THEN pg_catalog.jsonb_build_object('comment', pg_catalog.format('merged with active patient %s', p.gone)) END)
		       ) e(sub, kind, subject, payload)
		 WHERE e.sub = 0 OR (p.outcome = 'm' AND p.restore)
		 ORDER BY p.ord, e.sub
		RETURNING event_id, at, kind, subject)
	SELECT pg_catalog.array_agg(ins.event_id), pg_catalog.array_agg(ins.at), pg_catalog.array_agg(ins.kind),
	       pg_catalog.array_agg(ins.subject)
	  INTO ev_id, ev_at, ev_kind, ev_subj
	  FROM ins;
	RAISE DEBUG 'golden_link_apply %: % ms', 'events', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();

	/* each merge with its event (a gone id is absorbed once) */
	SELECT pg_catalog.array_agg(l.ord ORDER BY l.ord), pg_catalog.array_agg(l.keep ORDER BY l.ord),
	       pg_catalog.array_agg(l.gone ORDER BY l.ord), pg_catalog.array_agg(e.event_id ORDER BY l.ord),
	       pg_catalog.array_agg(e.at ORDER BY l.ord)
	  INTO m_ord, m_keep, m_gone, m_ev, m_at
	  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep), pg_catalog.unnest(pl_gone)) l(ord, outcome, keep, gone)
	  JOIN ROWS FROM (pg_catalog.unnest(ev_id), pg_catalog.unnest(ev_at), pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj)) e(event_id, at, kind, subject)
	    ON e.kind = 'patient.merged' AND e.subject = l.gone
	 WHERE l.outcome = 'm';
	RAISE DEBUG 'golden_link_apply %: % ms', 'merge_events', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();
	IF m_ord IS NOT NULL THEN
		/*
		 * every move of every moved record, in record then link order, read once: its person and
		 * event, the next move's event, whether it is the record's first move
		 */
		SELECT pg_catalog.array_agg(y.rec ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.keep ORDER BY y.rec, y.ord),
		       pg_catalog.array_agg(y.ev ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.at ORDER BY y.rec, y.ord),
		       pg_catalog.array_agg(y.nev ORDER BY y.rec, y.ord), pg_catalog.array_agg(y.nat ORDER BY y.rec, y.ord),
		       pg_catalog.array_agg(y.first ORDER BY y.rec, y.ord)
		  INTO mm_rec, mm_keep, mm_ev, mm_at, mm_nev, mm_nat, mm_first
		  FROM (SELECT x.rec, x.ord, m.keep, m.ev, m.at,
		               pg_catalog.lead(m.ev) OVER w AS nev, pg_catalog.lead(m.at) OVER w AS nat,
		               pg_catalog.row_number() OVER w = 1 AS first
		          FROM ROWS FROM (pg_catalog.unnest(mv_rec), pg_catalog.unnest(mv_ord)) x(rec, ord)
		          JOIN ROWS FROM (pg_catalog.unnest(m_ord), pg_catalog.unnest(m_keep), pg_catalog.unnest(m_ev), pg_catalog.unnest(m_at)) m(ord, keep, ev, at)
		            ON m.ord = x.ord
		        WINDOW w AS (PARTITION BY x.rec ORDER BY x.ord)) y;
		/* membership: the open interval of a moved record ends at its first move; one per move after */
		UPDATE @extschema@.patient_member pm SET to_event = f.ev, to_at = f.at
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_ev), pg_catalog.unnest(mm_at), pg_catalog.unnest(mm_first)) f(rec, ev, at, first)
		 WHERE f.first AND pm.record_id = f.rec AND pm.to_event IS NULL;
		RAISE DEBUG 'golden_link_apply %: % ms', 'member_close', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
		INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at, to_event, to_at)
		SELECT f.rec, f.keep, f.ev, f.at, f.nev, f.nat
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_ev), pg_catalog.unnest(mm_at),
		                  pg_catalog.unnest(mm_nev), pg_catalog.unnest(mm_nat)) f(rec, keep, ev, at, nev, nat);
		RAISE DEBUG 'golden_link_apply %: % ms', 'member_open', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		INSERT INTO @extschema@.patient_redirect (old_id, new_id, at, event_id)
		SELECT m.gone, m.keep, m.at, m.ev FROM ROWS FROM (pg_catalog.unnest(m_gone), pg_catalog.unnest(m_keep), pg_catalog.unnest(m_at), pg_catalog.unnest(m_ev)) m(gone, keep, at, ev);
		RAISE DEBUG 'golden_link_apply %: % ms', 'redirects', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		/* records and clinical events go to the person their original id ends in */
		UPDATE @extschema@.record r SET golden_id = f.keep
		  FROM ROWS FROM (pg_catalog.unnest(mm_rec), pg_catalog.unnest(mm_keep), pg_catalog.unnest(mm_nev)) f(rec, keep, nev)
		 WHERE f.nev IS NULL AND r.record_id = f.rec;
		RAISE DEBUG 'golden_link_apply %: % ms', 'records', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
		UPDATE @extschema@.clinical_event c SET golden_id = f.keep
		  FROM (SELECT DISTINCT ON (x.g) x.g, m.keep
		          FROM ROWS FROM (pg_catalog.unnest(ab_ord), pg_catalog.unnest(ab_g)) x(ord, g)
		          JOIN ROWS FROM (pg_catalog.unnest(m_ord), pg_catalog.unnest(m_keep)) m(ord, keep) ON m.ord = x.ord
		         ORDER BY x.g, x.ord DESC) f
		 WHERE c.golden_id = f.g;
		RAISE DEBUG 'golden_link_apply %: % ms', 'clinical', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();

		/*
		 * an archived person that merges with an active one is active again.  The few restored ids
		 * are picked out first: joined to every event of the batch, a profile table whose statistics
		 * said empty (rows created by this batch) got a nested loop rescanning the whole event list
		 * per profile row (100k records: 196 s instead of 0.1 s)
		 */
		SELECT pg_catalog.array_agg(e.subject), pg_catalog.array_agg(e.at) INTO rs_id, rs_at
		  FROM ROWS FROM (pg_catalog.unnest(ev_kind), pg_catalog.unnest(ev_subj), pg_catalog.unnest(ev_at)) e(kind, subject, at)
		 WHERE e.kind = 'patient.restored';
		IF rs_id IS NOT NULL THEN
			UPDATE @extschema@.patient p SET status = 'active', status_at = e.at
			  FROM ROWS FROM (pg_catalog.unnest(rs_id), pg_catalog.unnest(rs_at)) e(subject, at)
			 WHERE p.golden_id = e.subject;
		END IF;
		DELETE FROM @extschema@.patient p USING pg_catalog.unnest(m_gone) g(id) WHERE p.golden_id = g.id;
		RAISE DEBUG 'golden_link_apply %: % ms', 'restore_delete', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
		tt := pg_catalog.clock_timestamp();
	END IF;

	/* a new row whose person lost its records meanwhile goes, as in refresh_patients */
	DELETE FROM @extschema@.patient p USING pg_catalog.unnest(created) g(id)
	 WHERE p.golden_id = g.id
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.record r WHERE r.golden_id = p.golden_id);
	/* each surviving person (and each new row) is folded once */
	SELECT pg_catalog.array_agg(x.g ORDER BY x.g) INTO survivors
	  FROM (SELECT pg_catalog.unnest(m_keep) UNION SELECT pg_catalog.unnest(created)
	        EXCEPT SELECT pg_catalog.unnest(m_gone)) x(g)
	 WHERE x.g IS NOT NULL;
	IF survivors IS NOT NULL THEN
		PERFORM cdp_internal.golden_refold(survivors);
	END IF;
	RAISE DEBUG 'golden_link_apply %: % ms', 'refold', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - tt) * 1000, 1);
	tt := pg_catalog.clock_timestamp();
	SELECT pg_catalog.array_agg(CASE WHEN l.outcome = 'n' THEN NULL ELSE l.keep END ORDER BY l.ord) INTO res
	  FROM ROWS FROM (pg_catalog.unnest(pl_ord), pg_catalog.unnest(pl_out), pg_catalog.unnest(pl_keep)) l(ord, outcome, keep);
	RETURN res;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[]) IS
	'applies links between records in order as link_records would one by one, with set-based writes and one fold per survivor (internal)';

/*
 * Links many pairs of source records in the given order: the same result, events and
 * projections as calling link_records(a[i], b[i], evidence[i]) for i = 1, 2, ..., in one pass
 * (golden_link_apply).  Returns the surviving golden id of each link, NULL where a no_match
 * decision between the persons refused it.  evidence may be NULL (no evidence for any link).
 */
CREATE FUNCTION @extschema@.link_records_many(a bigint[], b bigint[], evidence jsonb[] DEFAULT NULL) RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	bad		record;
BEGIN
	IF a IS NULL OR b IS NULL THEN
		RAISE EXCEPTION 'a and b must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.array_ndims(a) > 1 OR pg_catalog.array_ndims(b) > 1 OR pg_catalog.array_ndims(evidence) > 1
	   OR pg_catalog.cardinality(a) <> pg_catalog.cardinality(b)
	   OR (evidence IS NOT NULL AND pg_catalog.cardinality(evidence) <> pg_catalog.cardinality(a)) THEN
		RAISE EXCEPTION 'a, b and evidence must be one-dimensional arrays of the same length'
			USING ERRCODE = '2202E',
			DETAIL = pg_catalog.format('a has %s elements, b %s, evidence %s.', pg_catalog.cardinality(a),
			                           pg_catalog.cardinality(b), COALESCE(pg_catalog.cardinality(evidence)::text, 'none'));
	END IF;
	SELECT x.i, x.ra, x.rb, x.ev, ra.record_id IS NULL AS a_missing, rb.record_id IS NULL AS b_missing INTO bad
	  FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b), pg_catalog.unnest(evidence)) WITH ORDINALITY x(ra, rb, ev, i)
	  LEFT JOIN @extschema@.record ra ON ra.record_id = x.ra
	  LEFT JOIN @extschema@.record rb ON rb.record_id = x.rb
	 WHERE x.i <= pg_catalog.cardinality(a)
	   AND (x.ra IS NULL OR x.rb IS NULL OR x.ra = x.rb OR ra.record_id IS NULL OR rb.record_id IS NULL
	        OR (x.ev IS NOT NULL AND pg_catalog.jsonb_typeof(x.ev) <> 'object'))
	 ORDER BY x.i LIMIT 1;
	IF FOUND THEN
		IF bad.ra IS NULL OR bad.rb IS NULL THEN
			RAISE EXCEPTION 'element % of a and b must not be null', bad.i USING ERRCODE = '22004';
		ELSIF bad.a_missing OR bad.b_missing THEN
			RAISE EXCEPTION 'record "%" does not exist', CASE WHEN bad.a_missing THEN bad.ra ELSE bad.rb END
				USING ERRCODE = 'P0002',
				DETAIL = pg_catalog.format('No row of cdp.record has record_id %s (element %s of %s).',
				                           CASE WHEN bad.a_missing THEN bad.ra ELSE bad.rb END, bad.i,
				                           CASE WHEN bad.a_missing THEN 'a' ELSE 'b' END),
				HINT = 'Pass the record_id returned by cdp.upsert_record.';
		ELSIF bad.ra = bad.rb THEN
			RAISE EXCEPTION 'cannot link record "%" to itself', bad.ra
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Element %s of a and b names the same record.', bad.i);
		ELSE
			RAISE EXCEPTION 'link evidence must be a JSON object'
				USING ERRCODE = '22023', DETAIL = pg_catalog.format('Element %s of evidence is %s.', bad.i, bad.ev::text);
		END IF;
	END IF;
	RETURN cdp_internal.golden_link_apply(a, b, evidence);
END
$$;
COMMENT ON FUNCTION @extschema@.link_records_many(bigint[], bigint[], jsonb[]) IS
	'links many record pairs in order with exactly the effect of link_records on each in turn (events, redirects, membership), each survivor folded once; returns the golden id per link, NULL where a no_match decision refused it; e.g. link_records_many(ARRAY[1,3], ARRAY[2,4], NULL)';

/*
 * Takes a record out of its person into a new golden id: both profiles are re-folded, no_match
 * decisions against every other record of the former person keep the matcher from re-linking it,
 * its clinical events follow it, and patient.unmerged is appended.  Returns the new golden id.
 */
CREATE FUNCTION @extschema@.unmerge(record_id bigint, reason text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET plan_cache_mode = force_generic_plan
	SET jit = off
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rec		bigint := unmerge.record_id;
	g		bigint;
	others	bigint[];
	newg	bigint;
	ev		bigint;
	ev_at	timestamptz;
	o		bigint;
BEGIN
	IF reason IS NULL OR pg_catalog.btrim(reason) = '' THEN
		RAISE EXCEPTION 'an unmerge needs a reason'
			USING ERRCODE = '22023', HINT = 'Say why the record is not the same person, for example ''twin sibling''.';
	END IF;
	g := cdp_internal.golden_of_record(rec, 'record_id');
	/* the record and its clinical events first, then the person: the lock order of ingest and links */
	PERFORM 1 FROM @extschema@.record r WHERE r.record_id = rec FOR NO KEY UPDATE;
	PERFORM 1 FROM @extschema@.clinical_event c WHERE c.record_id = rec ORDER BY c.event_id FOR NO KEY UPDATE;
	LOOP
		PERFORM cdp_internal.golden_lock(ARRAY[g]);
		EXIT WHEN (SELECT r.golden_id FROM @extschema@.record r WHERE r.record_id = rec) = g;
		g := cdp_internal.golden_of_record(rec, 'record_id');
	END LOOP;
	SELECT pg_catalog.array_agg(r.record_id ORDER BY r.record_id) INTO others
	  FROM @extschema@.record r WHERE r.golden_id = g AND r.record_id <> rec;
	IF others IS NULL THEN
		RAISE EXCEPTION 'record "%" is alone in patient "%"', rec, g
			USING ERRCODE = '55000',
			DETAIL = 'There is nothing to unmerge: the record is the only record of its golden record.';
	END IF;
	newg := pg_catalog.nextval('@extschema@.golden_id_seq');
	PERFORM cdp_internal.golden_open_members(ARRAY[g]);
	ev := cdp_internal.append_event('patient.unmerged', rec, newg,
		pg_catalog.jsonb_build_object('record_id', rec, 'from', g, 'into', newg, 'reason', reason,
		                              'others', pg_catalog.to_jsonb(others)));
	SELECT e.at INTO ev_at FROM @extschema@.event e WHERE e.event_id = ev;
	UPDATE @extschema@.record r SET golden_id = newg WHERE r.record_id = rec;
	UPDATE @extschema@.clinical_event c SET golden_id = newg WHERE c.record_id = rec;
	UPDATE @extschema@.patient_member m SET to_event = ev, to_at = ev_at
	 WHERE m.record_id = rec AND m.to_event IS NULL;
	INSERT INTO @extschema@.patient_member (record_id, golden_id, from_event, from_at) VALUES (rec, newg, ev, ev_at);
	FOREACH o IN ARRAY others LOOP
		PERFORM @extschema@.record_pair_decision(least(rec, o), greatest(rec, o),
			'no_match', reason);
	END LOOP;
	PERFORM cdp_internal.refresh_patients(ARRAY[g, newg]);
	RETURN newg;
END
$$;
COMMENT ON FUNCTION @extschema@.unmerge(bigint, text) IS
	'takes a source record out of its golden record into a new one, with no_match decisions against its former siblings; returns the new golden id';

/* ---- sql/parts/74_golden_clinical.sql ---- */
/*
 * sql/parts/74_golden_clinical.sql: golden records: clinical events.
 */

/* ------------------------------------------------------------------ clinical events */

/* A required or optional typed value of a clinical event's attrs, with an error naming the key. */
CREATE FUNCTION cdp_internal.golden_attr(attrs jsonb, key text, typ text, required boolean) RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v	text := attrs ->> key;
	ok	boolean;
BEGIN
	IF v IS NULL OR pg_catalog.btrim(v) = '' THEN
		IF required THEN
			RAISE EXCEPTION 'clinical event attribute "%" is required', key
				USING ERRCODE = '22023';
		END IF;
		RETURN NULL;
	END IF;
	IF pg_catalog.jsonb_typeof(attrs -> key) NOT IN ('string', 'number') THEN
		RAISE EXCEPTION 'invalid input syntax for clinical event attribute "%": "%"', key, attrs -> key
			USING ERRCODE = '22P02', HINT = 'Give a string or a number.';
	END IF;
	IF pg_catalog.octet_length(v) > 4096 THEN
		RAISE EXCEPTION 'clinical event attribute "%" is too long', key
			USING ERRCODE = '22001', DETAIL = pg_catalog.format('It has %s bytes; the limit is 4096.', pg_catalog.octet_length(v));
	END IF;
	IF typ = 'text' THEN
		RETURN v;
	END IF;
	BEGIN
		CASE typ
			WHEN 'date' THEN PERFORM v::date;
			WHEN 'timestamptz' THEN PERFORM v::timestamptz;
			WHEN 'interval' THEN PERFORM v::interval;
			ELSE PERFORM v::numeric;
		END CASE;
		ok := true;
	EXCEPTION WHEN data_exception THEN
		ok := false;			/* re-raised below with the key named */
	END;
	IF NOT ok THEN
		RAISE EXCEPTION 'invalid input syntax for clinical event attribute "%": "%"', key, v
			USING ERRCODE = '22P02',
			DETAIL = pg_catalog.format('The value is not a valid %s.', typ),
			HINT = CASE typ WHEN 'date' THEN 'Use an ISO date, for example 2024-03-01.'
			                WHEN 'timestamptz' THEN 'Use an ISO timestamp with its offset, for example 2024-03-01T09:30:00+03:00.'
			                WHEN 'interval' THEN 'Use an interval, for example 3 months.'
			                ELSE 'Use a plain number, for example 5.5.' END;
	END IF;
	RETURN v;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_attr(jsonb, text, text, boolean) IS
	'reads one typed attribute of a clinical event, raising 22023/22P02 errors naming the key (internal)';

/*
 * Validates a clinical event of a given kind and returns its typed columns as JSON (keys named
 * like the columns of cdp.clinical_event).  Unknown keys are refused.
 */
CREATE FUNCTION cdp_internal.golden_clinical_columns(kind text, attrs jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	allowed		text[];
	k			text;
	c			jsonb;
	rng			text[];
	code		text;
BEGIN
	allowed := CASE kind
		WHEN 'visit' THEN ARRAY['at', 'type', 'status', 'doctor', 'specialty']
		WHEN 'lab_test' THEN ARRAY['code', 'result', 'unit', 'reference_range', 'ref_low', 'ref_high', 'taken_at']
		WHEN 'diagnosis' THEN ARRAY['code', 'at']
		WHEN 'sick_leave' THEN ARRAY['number', 'from', 'to']
		WHEN 'recommendation' THEN ARRAY['text', 'due_date', 'due_in', 'at']
		END || ARRAY['record_source_id', 'patient_source_id', 'note'];
	IF attrs IS NULL OR pg_catalog.jsonb_typeof(attrs) <> 'object' THEN
		RAISE EXCEPTION 'clinical event attrs must be a JSON object' USING ERRCODE = '22023';
	END IF;
	FOR k IN SELECT pg_catalog.jsonb_object_keys(attrs) LOOP
		IF NOT k = ANY (allowed) THEN
			RAISE EXCEPTION 'unknown attribute "%" for clinical event kind "%"', k, kind
				USING ERRCODE = '22023',
				HINT = pg_catalog.format('Use some of: %s.', pg_catalog.array_to_string(allowed, ', '));
		END IF;
	END LOOP;
	IF kind = 'visit' THEN
		c := pg_catalog.jsonb_build_object(
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz,
			'visit_type', cdp_internal.golden_attr(attrs, 'type', 'text', false),
			'visit_status', coalesce(cdp_internal.golden_attr(attrs, 'status', 'text', false), 'booked'),
			'doctor', cdp_internal.golden_attr(attrs, 'doctor', 'text', false),
			'specialty', cdp_internal.golden_attr(attrs, 'specialty', 'text', false));
		IF NOT coalesce(c ->> 'visit_type', 'first') IN ('first', 'repeat') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "type": "%"', c ->> 'visit_type'
				USING ERRCODE = '22P02', HINT = 'Use first or repeat.';
		END IF;
		IF NOT (c ->> 'visit_status') IN ('booked', 'came', 'in_appointment', 'done') THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "status": "%"', c ->> 'visit_status'
				USING ERRCODE = '22P02', HINT = 'Use booked, came, in_appointment or done.';
		END IF;
	ELSIF kind = 'lab_test' THEN
		c := pg_catalog.jsonb_build_object(
			'lab_code', cdp_internal.golden_attr(attrs, 'code', 'text', true),
			'lab_result', cdp_internal.golden_attr(attrs, 'result', 'text', true),
			'lab_unit', cdp_internal.golden_attr(attrs, 'unit', 'text', false),
			'at', cdp_internal.golden_attr(attrs, 'taken_at', 'timestamptz', true)::timestamptz,
			'ref_low', cdp_internal.golden_attr(attrs, 'ref_low', 'numeric', false)::numeric,
			'ref_high', cdp_internal.golden_attr(attrs, 'ref_high', 'numeric', false)::numeric,
			'ref_text', cdp_internal.golden_attr(attrs, 'reference_range', 'text', false));
		IF c ->> 'ref_text' IS NOT NULL AND c ->> 'ref_low' IS NULL AND c ->> 'ref_high' IS NULL THEN
			rng := pg_catalog.regexp_match(c ->> 'ref_text', '^\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*[-–]\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*$');
			IF rng IS NOT NULL THEN
				c := c || pg_catalog.jsonb_build_object('ref_low', pg_catalog.replace(rng[1], ',', '.')::numeric,
				                                        'ref_high', pg_catalog.replace(rng[2], ',', '.')::numeric);
			END IF;
		END IF;
		IF (c ->> 'ref_low')::numeric > (c ->> 'ref_high')::numeric THEN
			RAISE EXCEPTION 'clinical event reference range is empty: "ref_low" % is above "ref_high" %',
				c ->> 'ref_low', c ->> 'ref_high' USING ERRCODE = '22023';
		END IF;
	ELSIF kind = 'diagnosis' THEN
		code := pg_catalog.upper(pg_catalog.btrim(cdp_internal.golden_attr(attrs, 'code', 'text', true)));
		IF code !~ '^[A-Z][0-9]{2}(\.[0-9]{1,2})?$' THEN
			RAISE EXCEPTION 'invalid input syntax for clinical event attribute "code": "%"', attrs ->> 'code'
				USING ERRCODE = '22P02',
				DETAIL = 'A diagnosis code is an ICD-10 code: a letter, two digits, and optionally a dot and one or two digits.',
				HINT = 'Use a code such as E11 or E11.9.';
		END IF;
		c := pg_catalog.jsonb_build_object('icd10', code,
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', true)::timestamptz);
	ELSIF kind = 'sick_leave' THEN
		c := pg_catalog.jsonb_build_object(
			'sick_leave_number', cdp_internal.golden_attr(attrs, 'number', 'text', true),
			'sick_from', cdp_internal.golden_attr(attrs, 'from', 'date', true)::date,
			'sick_to', cdp_internal.golden_attr(attrs, 'to', 'date', true)::date);
		IF (c ->> 'sick_to')::date < (c ->> 'sick_from')::date THEN
			RAISE EXCEPTION 'clinical event attribute "to" (%) is before "from" (%)', c ->> 'sick_to', c ->> 'sick_from'
				USING ERRCODE = '22023';
		END IF;
		c := c || pg_catalog.jsonb_build_object('at', (c ->> 'sick_from')::date::timestamp AT TIME ZONE 'UTC');
	ELSIF kind = 'recommendation' THEN
		c := pg_catalog.jsonb_build_object(
			'recommendation', cdp_internal.golden_attr(attrs, 'text', 'text', true),
			'at', cdp_internal.golden_attr(attrs, 'at', 'timestamptz', false)::timestamptz,
			'due_date', cdp_internal.golden_attr(attrs, 'due_date', 'date', false)::date);
		IF attrs ? 'due_in' THEN
			IF c ->> 'due_date' IS NOT NULL OR c ->> 'at' IS NULL THEN
				RAISE EXCEPTION 'clinical event attribute "due_in" needs "at" and excludes "due_date"'
					USING ERRCODE = '22023',
					HINT = 'Give {"at": "2024-03-01T10:00:00+03:00", "due_in": "3 months"} or {"due_date": "2024-06-01"}.';
			END IF;
			c := c || pg_catalog.jsonb_build_object('due_date',
				(((c ->> 'at')::timestamptz AT TIME ZONE 'UTC')
				 + cdp_internal.golden_attr(attrs, 'due_in', 'interval', true)::interval)::date);
		END IF;
	ELSE
		RAISE EXCEPTION 'invalid clinical event kind "%"', kind
			USING ERRCODE = '22023', HINT = 'Use visit, lab_test, diagnosis, sick_leave or recommendation.';
	END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_clinical_columns(text, jsonb) IS
	'validates a clinical event''s attrs for its kind and returns its typed columns as JSON (internal)';

/*
 * Stores a clinical event from a source, attached to the source record named by
 * attrs.record_source_id (or patient_source_id) of the same source, so to its golden record.
 * Same input twice changes nothing.  Every change appends clinical.created / clinical.updated
 * carrying the stored row; a visit re-derives the patient's last visit.  Returns the event id.
 */
CREATE FUNCTION @extschema@.upsert_clinical_event(source text, source_id text, kind text, attrs jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid		int;
	rkey	text;
	rec		bigint;
	g		bigint;
	cols	jsonb;
	hash	text;
	old		@extschema@.clinical_event;
	row		@extschema@.clinical_event;
BEGIN
	IF source IS NULL OR source_id IS NULL OR kind IS NULL OR attrs IS NULL THEN
		RAISE EXCEPTION 'upsert_clinical_event arguments must not be null' USING ERRCODE = '22004';
	END IF;
	IF pg_catalog.octet_length(source_id) > 256 OR pg_catalog.btrim(source_id) = '' THEN
		RAISE EXCEPTION 'invalid clinical event source_id "%"', pg_catalog.left(source_id, 64)
			USING ERRCODE = '22023', DETAIL = 'A source_id is 1 to 256 bytes.';
	END IF;
	cols := cdp_internal.golden_clinical_columns(kind, attrs);
	SELECT s.source_id INTO sid FROM @extschema@.source s WHERE s.name = upsert_clinical_event.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'source "%" does not exist', source
			USING ERRCODE = 'P0002', HINT = 'Register the source and its records before their clinical events.';
	END IF;
	rkey := coalesce(attrs ->> 'record_source_id', attrs ->> 'patient_source_id');
	IF rkey IS NULL THEN
		RAISE EXCEPTION 'clinical event attribute "record_source_id" is required'
			USING ERRCODE = '22023',
			DETAIL = 'A clinical event belongs to a source record of the same source.',
			HINT = 'Give "record_source_id" (or "patient_source_id"): the source_id the record was upserted with.';
	END IF;
	SELECT r.record_id, r.golden_id INTO rec, g FROM @extschema@.record r
	 WHERE r.source_id = sid AND r.source_key = rkey;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'record "%" of source "%" does not exist', rkey, source
			USING ERRCODE = 'P0002', HINT = 'Upsert the patient record before its clinical events.';
	END IF;
	hash := pg_catalog.md5(kind || ':' || attrs::text);
	SELECT * INTO old FROM @extschema@.clinical_event c
	 WHERE c.source_id = sid AND c.source_key = upsert_clinical_event.source_id FOR UPDATE;
	IF FOUND AND old.attrs_hash = hash THEN
		RETURN old.event_id;
	END IF;
	row := pg_catalog.jsonb_populate_record(NULL::@extschema@.clinical_event, cols || pg_catalog.jsonb_build_object(
		'event_id', coalesce(old.event_id, pg_catalog.nextval('@extschema@.clinical_event_id_seq')),
		'source_id', sid, 'source_key', upsert_clinical_event.source_id, 'record_id', rec, 'golden_id', g,
		'kind', kind, 'attrs', attrs, 'attrs_hash', hash,
		'created_at', coalesce(old.created_at, pg_catalog.now()), 'updated_at', pg_catalog.now(),
		'version', coalesce(old.version, 0) + 1));
	IF old.event_id IS NOT NULL THEN
		DELETE FROM @extschema@.clinical_event c WHERE c.event_id = old.event_id;
	END IF;
	INSERT INTO @extschema@.clinical_event SELECT row.*;
	PERFORM cdp_internal.append_event(CASE WHEN old.event_id IS NULL THEN 'clinical.created' ELSE 'clinical.updated' END,
		row.event_id, g, pg_catalog.jsonb_build_object('clinical', pg_catalog.to_jsonb(row) - 'golden_id'));
	IF kind = 'visit' OR old.kind = 'visit' THEN
		PERFORM cdp_internal.refresh_patients(ARRAY[g, old.golden_id]);
	END IF;
	RETURN row.event_id;
END
$$;
COMMENT ON FUNCTION @extschema@.upsert_clinical_event(text, text, text, jsonb) IS
	'stores (idempotently) a visit, lab test, diagnosis, sick leave or recommendation of a source record; returns its event id';

/* ---- sql/parts/75_golden_archive.sql ---- */
/*
 * sql/parts/75_golden_archive.sql: golden records: archive, restore, maintenance.
 */

/* ------------------------------------------------------------------ archive and restore */

/* Why a patient is (or is not) a candidate for archiving: when it was last seen. */
CREATE FUNCTION cdp_internal.golden_seen_reason(p @extschema@.patient) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('last seen %s (last visit %s, last record change %s)',
		coalesce(pg_catalog.to_char(greatest(p.last_visit, p.updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'never'),
		coalesce(pg_catalog.to_char(p.last_visit AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'none'),
		coalesce(pg_catalog.to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'none'))
	$$;
COMMENT ON FUNCTION cdp_internal.golden_seen_reason(@extschema@.patient) IS
	'a sentence saying when a patient was last seen (internal)';

/*
 * Active patients not seen (no visit and no record change) for the given interval, with the
 * reason.
 */
CREATE FUNCTION @extschema@.archive_candidates(not_seen interval)
	RETURNS TABLE (golden_id bigint, last_seen timestamptz, reason text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF not_seen IS NULL OR not_seen <= interval '0' THEN
		RAISE EXCEPTION 'not_seen must be a positive interval'
			USING ERRCODE = '22023', HINT = 'Use for example interval ''3 years''.';
	END IF;
	RETURN QUERY
	SELECT p.golden_id, greatest(p.last_visit, p.updated_at),
	       pg_catalog.format('not seen for %s: %s', not_seen, cdp_internal.golden_seen_reason(p))
	  FROM @extschema@.patient p
	 WHERE p.status = 'active'
	   AND greatest(p.last_visit, p.updated_at) < pg_catalog.now() - not_seen
	 ORDER BY p.golden_id;
END
$$;
COMMENT ON FUNCTION @extschema@.archive_candidates(interval) IS
	'active patients not seen (no visit, no record change) for the given interval, with the reason';

/* Shared body of archive_patients and restore_patients. */
CREATE FUNCTION cdp_internal.golden_set_status(ids bigint[], comment text, dry_run boolean, target text)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	verb	text := CASE target WHEN 'archived' THEN 'archive' ELSE 'restore' END;
	plan	record;
	ev		bigint;
	bad		text;
BEGIN
	IF ids IS NULL OR dry_run IS NULL THEN
		RAISE EXCEPTION 'ids and dry_run must not be null' USING ERRCODE = '22004';
	END IF;
	IF NOT dry_run AND (comment IS NULL OR pg_catalog.btrim(comment) = '') THEN
		RAISE EXCEPTION 'a comment is required to % patients', verb
			USING ERRCODE = '22023', HINT = 'Say why, for example ''not seen for 3 years''.';
	END IF;
	IF pg_catalog.to_regclass('pg_temp.golden_status_plan') IS NULL THEN
		CREATE TEMP TABLE golden_status_plan (asked bigint, golden_id bigint, action text, reason text) ON COMMIT DROP;
	END IF;
	TRUNCATE golden_status_plan;
	INSERT INTO golden_status_plan
	SELECT i, @extschema@.resolve_patient(i), NULL, NULL FROM (SELECT DISTINCT i FROM pg_catalog.unnest(ids) i) d;
	IF NOT dry_run THEN
		PERFORM 1 FROM @extschema@.patient p WHERE p.golden_id IN (SELECT x.golden_id FROM golden_status_plan x)
		 ORDER BY p.golden_id FOR UPDATE;
	END IF;
	UPDATE golden_status_plan x SET
		action = CASE WHEN p.status = target THEN 'skipped'
		              ELSE CASE target WHEN 'archived' THEN 'archive' ELSE 'restore' END END,
		reason = CASE WHEN p.status = target THEN pg_catalog.format('patient %s is already %s', p.golden_id, target)
		              ELSE cdp_internal.golden_seen_reason(p) END
	  FROM @extschema@.patient p
	 WHERE p.golden_id = x.golden_id;
	UPDATE golden_status_plan x SET action = 'skipped', reason = pg_catalog.format('unknown patient %s', x.asked)
	 WHERE x.action IS NULL;
	IF NOT dry_run THEN
		SELECT x.reason INTO bad FROM golden_status_plan x WHERE x.action = 'skipped' ORDER BY x.asked LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'cannot % patients: %', verb, bad
				USING ERRCODE = CASE WHEN bad LIKE 'unknown%' THEN 'P0002' ELSE '55000' END,
				DETAIL = 'Nothing was changed.',
				HINT = pg_catalog.format('Run cdp.%s_patients with dry_run => true to see every skipped patient.', verb);
		END IF;
		FOR plan IN SELECT DISTINCT x.golden_id FROM golden_status_plan x WHERE x.golden_id IS NOT NULL
		             ORDER BY x.golden_id LOOP
			ev := cdp_internal.append_event(CASE target WHEN 'archived' THEN 'patient.archived' ELSE 'patient.restored' END,
				plan.golden_id, plan.golden_id,
				pg_catalog.jsonb_build_object('comment', comment));
			UPDATE @extschema@.patient p SET status = target, status_at = e.at
			  FROM @extschema@.event e WHERE e.event_id = ev AND p.golden_id = plan.golden_id;
		END LOOP;
		UPDATE golden_status_plan x SET action = target;
	END IF;
	RETURN QUERY SELECT coalesce(x.golden_id, x.asked), x.action, x.reason
	  FROM golden_status_plan x ORDER BY x.asked;
END
$$;
COMMENT ON FUNCTION cdp_internal.golden_set_status(bigint[], text, boolean, text) IS
	'shared body of archive_patients and restore_patients (internal)';

CREATE FUNCTION @extschema@.archive_patients(ids bigint[], comment text, dry_run boolean DEFAULT true)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT * FROM cdp_internal.golden_set_status(ids, comment, dry_run, 'archived') $$;
COMMENT ON FUNCTION @extschema@.archive_patients(bigint[], text, boolean) IS
	'archives patients (dry run by default: lists what would be archived and why, and what is skipped); one patient.archived event each';
REVOKE ALL ON FUNCTION @extschema@.archive_patients(bigint[], text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.restore_patients(ids bigint[], comment text, dry_run boolean DEFAULT true)
	RETURNS TABLE (golden_id bigint, action text, reason text)
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT * FROM cdp_internal.golden_set_status(ids, comment, dry_run, 'active') $$;
COMMENT ON FUNCTION @extschema@.restore_patients(bigint[], text, boolean) IS
	'restores archived patients (dry run by default); one patient.restored event each';
REVOKE ALL ON FUNCTION @extschema@.restore_patients(bigint[], text, boolean) FROM PUBLIC;

/* ------------------------------------------------------------------ maintenance */

/*
 * Scheduled maintenance, safe from pg_cron every minute beside live traffic: one runner at a
 * time (session advisory lock; a second caller returns at once), a matching increment when the
 * matching layer is installed, then the golden projections caught up with the log in short
 * transactions of batch_size events (COMMIT between batches), so a crash loses at most the
 * batch in flight, which the next run redoes.  Must be CALLed outside an explicit transaction
 * block to commit between batches.
 */
-- A procedure that commits cannot carry a SET clause (PostgreSQL refuses transaction control
-- there), so it pins search_path itself: set_config(..., is_local => true) at the start and again
-- after every COMMIT, before any name is resolved.  test/sql/00_install.sql checks this.
CREATE PROCEDURE @extschema@.run_maintenance(batch_size int DEFAULT 1000)
	LANGUAGE plpgsql
	AS $$
DECLARE
	lo		bigint;
	hi		bigint;
	top		bigint;
	ids		bigint[];
	lock_key constant bigint := 7307770001;
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(lock_key) THEN
		RAISE NOTICE 'cdp.run_maintenance is already running in another session';
		RETURN;
	END IF;
	IF pg_catalog.to_regprocedure('@extschema@.run_matching(text)') IS NOT NULL THEN
		EXECUTE 'SELECT @extschema@.run_matching($1)' USING 'incremental';
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END IF;
	SELECT coalesce(pg_catalog.max(e.event_id), 0) INTO top FROM @extschema@.event e;
	LOOP
		SELECT s.last_event_id INTO lo FROM cdp_internal.golden_state s;
		EXIT WHEN lo >= top;
		hi := least(lo + batch_size, top);
		SELECT pg_catalog.array_agg(DISTINCT x) INTO ids FROM (
			SELECT e.golden_id AS x FROM @extschema@.event e
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.golden_id IS NOT NULL
			UNION
			SELECT r.golden_id FROM @extschema@.event e JOIN @extschema@.record r ON r.record_id = e.subject
			 WHERE e.event_id > lo AND e.event_id <= hi AND e.kind IN ('record.created', 'record.updated')) t;
		PERFORM cdp_internal.refresh_patients(ids);
		UPDATE cdp_internal.golden_state SET last_event_id = hi;
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	END LOOP;
	PERFORM pg_catalog.pg_advisory_unlock(lock_key);
END
$$;
COMMENT ON PROCEDURE @extschema@.run_maintenance(int) IS
	'matching increment plus golden projection catch-up, in short committed batches under an advisory lock; schedule with pg_cron';
REVOKE ALL ON PROCEDURE @extschema@.run_maintenance(int) FROM PUBLIC;

/* ------------------------------------------------------------------ privileges */

/* Writers are for the admin and the cdp families, like ingest's upsert_record. */
REVOKE ALL ON FUNCTION cdp_internal.refresh_patients(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.link_records(bigint, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.link_records_many(bigint[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_link_apply(bigint[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unmerge(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.upsert_clinical_event(text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_lock(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_refold(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_open_members(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION cdp_internal.golden_set_status(bigint[], text, boolean, text) FROM PUBLIC;

/* ---- sql/parts/90_privileges.sql ---- */
/*
 * sql/parts/90_privileges.sql: least privilege, applied last so it covers every family.
 *
 * Every function of the private schema cdp_internal is revoked from PUBLIC too (the schema grants
 * no USAGE either; the revoke keeps a later GRANT USAGE from opening them).
 *
 * A SECURITY DEFINER function runs with the owner's rights and so past row-level security: none may
 * be callable by PUBLIC. The clinic's roles (reception, doctors, marketers, analysts, admins) get
 * EXECUTE on what they need from the access family; until then only the owner calls them. The
 * catalog drives this, so a function added by any family later is covered without a list here.
 * A regression test (test/sql/00_install.sql) lists every SECURITY DEFINER function PUBLIC can execute
 * (none) and every table without row-level security (only ones without personal data).
 */
DO $privileges$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure
		  FROM pg_catalog.pg_proc p
		 WHERE (p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::regnamespace AND p.prosecdef)
		    OR p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$privileges$;

/* a reviewer's free-text note may name people */
ALTER TABLE @extschema@.pair_decision ENABLE ROW LEVEL SECURITY;

/* ---- sql/parts/95_dump.sql ---- */
/*
 * sql/parts/95_dump.sql: what pg_dump keeps.  Tables an extension creates are part of it, so
 * pg_dump writes only "CREATE EXTENSION cdp" for them and none of their rows, unless they are
 * marked as configuration tables.  Every table holding the clinic's data is marked here, with the
 * sequences behind its ids, so that pg_dump / pg_restore (and pg_dumpall, pg_upgrade's schema
 * dump aside) carry the records, the event log, the golden profiles and the matching state.
 * Applied after every family has created its tables.  Only cdp.match_part (eight fixed rows
 * describing how walks split into parts) is left out: the install script recreates it.
 *
 * Two tables get a row at install time: cdp.match_settings (the default settings, version 1,
 * later holding the parameters trained for it) and cdp.golden_state (the maintenance checkpoint).
 * A restore first runs CREATE EXTENSION, which inserts those rows, and then copies the dumped
 * rows in, which would collide with them.  A BEFORE INSERT trigger on each makes a row with the
 * same key replace the installed one, so the dumped state wins; in normal use no insert meets an
 * existing key and the triggers change nothing.  The test: test/t/030_dump_restore.pl.
 */

/*
 * A row inserted with the key of an existing one (a restore copying its dump over the row
 * CREATE EXTENSION installed) replaces it.  In match_settings an active version also deactivates
 * the others, since only one may be active; golden_state has one row.
 */
CREATE FUNCTION cdp_internal._restore_replace_installed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF TG_TABLE_NAME = 'match_settings' THEN
		DELETE FROM cdp_internal.match_settings s WHERE s.version = NEW.version;
		IF NEW.active THEN
			UPDATE cdp_internal.match_settings s SET active = false WHERE s.active;
		END IF;
	ELSIF TG_TABLE_NAME = 'golden_state' THEN
		DELETE FROM cdp_internal.golden_state s WHERE s.one = NEW.one;
	ELSE
		RAISE EXCEPTION 'cdp._restore_replace_installed is not a trigger of table "%"', TG_TABLE_NAME
			USING ERRCODE = 'wrong_object_type', HINT = 'It serves cdp.match_settings and cdp.golden_state only.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal._restore_replace_installed() IS
	'internal trigger: a row copied in by a restore replaces the one CREATE EXTENSION installed (match_settings, golden_state)';
CREATE TRIGGER match_settings_restore BEFORE INSERT ON cdp_internal.match_settings
	FOR EACH ROW EXECUTE FUNCTION cdp_internal._restore_replace_installed();
CREATE TRIGGER golden_state_restore BEFORE INSERT ON cdp_internal.golden_state
	FOR EACH ROW EXECUTE FUNCTION cdp_internal._restore_replace_installed();
/*
 * ALWAYS, like every trigger of the extension: rows copied in with session_replication_role =
 * replica (a logical-replication apply, a load run with triggers "off") must replace the
 * installed ones too, and keep one settings version active, rather than collide with them.
 */
ALTER TABLE cdp_internal.match_settings ENABLE ALWAYS TRIGGER match_settings_restore;
ALTER TABLE cdp_internal.golden_state ENABLE ALWAYS TRIGGER golden_state_restore;

/*
 * Every table of the extension but match_part, and every sequence of the extension (those behind
 * identity columns included), dumped whole.  Driven by the catalog, so a table a later family
 * adds is dumped unless it is named here; test/sql/00_install.sql lists what is not.
 */
DO $dump$
DECLARE
	r	regclass;
BEGIN
	FOR r IN
		SELECT c.oid::regclass
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@'::regnamespace, 'cdp_internal'::regnamespace])
		   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'S']::"char"[])
		   AND c.relname OPERATOR(pg_catalog.<>) 'match_part'
		 ORDER BY c.relname
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(r, '');
	END LOOP;
END
$dump$;
