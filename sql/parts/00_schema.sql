/*
 * sql/parts/00_schema.sql: schema-wide set-up shared by every family.
 *
 * Conventions for every part: qualify every name with @extschema@ or pg_catalog, state volatility,
 * STRICT and PARALLEL for every function, give every object a COMMENT, SET search_path on every
 * SECURITY DEFINER function, and revoke administrative functions from PUBLIC.
 */

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
