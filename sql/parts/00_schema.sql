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
