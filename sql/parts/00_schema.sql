/*
 * sql/parts/00_schema.sql: schema-wide set-up shared by every family.
 *
 * Conventions for every part: qualify every name with @extschema@ or pg_catalog, state volatility,
 * STRICT and PARALLEL for every function, give every object a COMMENT, SET search_path on every
 * SECURITY DEFINER function, and revoke administrative functions from PUBLIC.
 */

COMMENT ON SCHEMA @extschema@ IS 'cdp: patient identity, matching, golden records and engagement for clinics';

CREATE FUNCTION @extschema@.library_version() RETURNS text
	AS 'MODULE_PATHNAME', 'cdp_library_version'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.library_version() IS 'version of the loaded cdp shared library';
