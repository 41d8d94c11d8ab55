/*
 * sql/parts/90_privileges.sql: least privilege, and the access family's grant matrix (issue 15).
 *
 * Every function of the private schema cdp_internal is revoked from PUBLIC (the schema grants no
 * USAGE either; the revoke keeps a later GRANT USAGE from opening them), and so is every SECURITY
 * DEFINER function of the API.  cdp_internal.acc_lock_down() does it from the catalog, so a function
 * added by any family is covered without a list here; it runs here and again at the end of the
 * access parts (94_acc_audit.sql), which create functions of their own.
 * test/sql/00_install.sql lists every SECURITY DEFINER function PUBLIC can execute (none) and every
 * table without row-level security (only ones without personal data).
 *
 * The clinic's roles (cdp_admin, cdp_registrar, ...; created by cdp.setup_roles(), 91_acc_roles.sql)
 * get privileges on the documented API in schema cdp only, never on cdp_internal.  What each role
 * gets is the table cdp_internal.acc_privilege below, one row per (role, object, privilege): the
 * single source of truth that cdp.setup_roles() applies and that doc/security.md lists (a TAP test,
 * test/t/056_access_docs.pl, compares the document with what each role can use).
 */
CREATE FUNCTION cdp_internal.acc_lock_down(spare regprocedure[] DEFAULT '{}') RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	f	regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure
		  FROM pg_catalog.pg_proc p
		 WHERE ((p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::regnamespace AND p.prosecdef)
				OR p.pronamespace OPERATOR(pg_catalog.=) 'cdp_internal'::regnamespace)
		   AND p.oid OPERATOR(pg_catalog.<>) ALL (COALESCE(spare, '{}')::oid[])
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_lock_down(regprocedure[]) IS
	'revokes from PUBLIC every function of cdp_internal and every SECURITY DEFINER function of cdp but the spared ones (install, update, setup_roles)';
SELECT cdp_internal.acc_lock_down();

/* a reviewer's free-text note may name people */
ALTER TABLE @extschema@.pair_decision ENABLE ROW LEVEL SECURITY;

/*
 * The grant matrix.  kind is 'function' (object = a regprocedure's text, privilege EXECUTE) or
 * 'table' (object = a regclass's text, privilege SELECT, INSERT, UPDATE or DELETE).  Rows name
 * objects of schema cdp only (a CHECK refuses cdp_internal).  Row-level security decides which rows
 * a table privilege shows (92_acc_policies.sql).
 */
CREATE TABLE cdp_internal.acc_privilege (
	role		text NOT NULL
		CONSTRAINT acc_privilege_role_check CHECK (role OPERATOR(pg_catalog.~) '^cdp_[a-z]+$'),
	kind		text NOT NULL
		CONSTRAINT acc_privilege_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'table'])),
	object		text NOT NULL
		CONSTRAINT acc_privilege_api_only CHECK (object OPERATOR(pg_catalog.~~) 'cdp.%'),
	privilege	text NOT NULL
		CONSTRAINT acc_privilege_privilege_check
		CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['EXECUTE', 'SELECT', 'INSERT', 'UPDATE', 'DELETE'])),
	PRIMARY KEY (role, kind, object, privilege)
);
COMMENT ON TABLE cdp_internal.acc_privilege IS
	'the grant matrix of the clinic roles but cdp_admin (which gets every function and table of schema cdp): role, privilege, object (applied by cdp.setup_roles)';

/*
 * A restore copies the dumped rows of the access family's tables (95_dump.sql dumps every table)
 * over the rows CREATE EXTENSION (or cdp.setup_roles) installed: a row with the key of an existing
 * one replaces it, so the dumped matrix, registry and pseudonym key win, as in
 * cdp_internal._restore_replace_installed.  In normal use no insert meets an existing key.
 */
CREATE FUNCTION cdp_internal.acc_restore_replace() RETURNS trigger
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_privilege' THEN
		DELETE FROM cdp_internal.acc_privilege p
		 WHERE p.role OPERATOR(pg_catalog.=) NEW.role AND p.kind OPERATOR(pg_catalog.=) NEW.kind
		   AND p.object OPERATOR(pg_catalog.=) NEW.object AND p.privilege OPERATOR(pg_catalog.=) NEW.privilege;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_table' THEN
		DELETE FROM cdp_internal.acc_table t WHERE t.tbl OPERATOR(pg_catalog.=) NEW.tbl;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'acc_key' THEN
		DELETE FROM cdp_internal.acc_key k WHERE k.one OPERATOR(pg_catalog.=) NEW.one;
	ELSE
		RAISE EXCEPTION 'cdp_internal.acc_restore_replace is not a trigger of table "%"', TG_TABLE_NAME
			USING ERRCODE = 'wrong_object_type';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cdp_internal.acc_restore_replace() IS
	'internal trigger: a row copied in by a restore replaces the installed one (acc_privilege, acc_table, acc_key)';
CREATE TRIGGER acc_privilege_restore BEFORE INSERT ON cdp_internal.acc_privilege
	FOR EACH ROW EXECUTE FUNCTION cdp_internal.acc_restore_replace();
ALTER TABLE cdp_internal.acc_privilege ENABLE ALWAYS TRIGGER acc_privilege_restore;
