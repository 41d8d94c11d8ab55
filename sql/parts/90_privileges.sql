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
