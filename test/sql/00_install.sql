-- test/sql/00_install.sql: the extension installs into schema cdp, its library loads, every
-- object it creates lives in schema cdp (the API) or cdp_internal (the rest) and carries a
-- comment, and the security checks hold
-- (doc/security.md).
CREATE EXTENSION cdp;
SELECT cdp.library_version() = extversion AS library_matches_sql
  FROM pg_extension WHERE extname = 'cdp';
SELECT nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'cdp';
-- every function of the extension lives in cdp or cdp_internal and has a COMMENT
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
   AND d.deptype = 'e'
   AND (p.pronamespace NOT IN ('cdp'::regnamespace, 'cdp_internal'::regnamespace) OR obj_description(p.oid, 'pg_proc') IS NULL)
 ORDER BY 1;
-- every table and view of the extension has a COMMENT
SELECT c.oid::regclass AS relation_without_comment
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
   AND c.relkind IN ('r', 'v', 'm', 'p')
   AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY 1;
-- every SECURITY DEFINER function pins its search_path
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace IN ('cdp'::regnamespace, 'cdp_internal'::regnamespace) AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;
-- no SECURITY DEFINER function is callable by PUBLIC (they would read past row-level security)
SELECT p.oid::regprocedure AS definer_open_to_public
  FROM pg_proc p
 WHERE p.pronamespace IN ('cdp'::regnamespace, 'cdp_internal'::regnamespace) AND p.prosecdef
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;
-- tables without row-level security: each must hold no personal data (ids, settings, bookkeeping)
SELECT c.oid::regclass AS table_without_rls
  FROM pg_class c
 WHERE c.relnamespace IN ('cdp'::regnamespace, 'cdp_internal'::regnamespace) AND c.relkind = 'r' AND NOT c.relrowsecurity
 ORDER BY 1;
-- and PUBLIC has no privilege on any table of the extension
SELECT c.oid::regclass AS table_open_to_public
  FROM pg_class c
 WHERE c.relnamespace IN ('cdp'::regnamespace, 'cdp_internal'::regnamespace) AND c.relkind IN ('r', 'v', 'm')
   AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
        OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE'))
 ORDER BY 1;
-- every SQL and PL/pgSQL function of the extension pins its search_path: to pg_catalog, pg_temp,
-- or to the private schema first (functions that read its tables by name); otherwise a name the
-- body leaves unqualified may resolve to an object planted in the caller's path (doc/security.md).
-- Two exceptions, each checked: an SQL-standard body (RETURN / BEGIN ATOMIC) binds its names when
-- it is created; a procedure that commits cannot carry a SET clause, so it must call
-- set_config('search_path', 'pg_catalog, pg_temp', true) at its start and after every COMMIT.
SELECT p.oid::regprocedure AS function_without_pinned_search_path
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
  JOIN pg_language l ON l.oid = p.prolang
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
   AND d.deptype = 'e'
   AND l.lanname IN ('sql', 'plpgsql')
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                    WHERE c ~ '^search_path=(pg_catalog, pg_temp|cdp_internal, (pg_catalog, )?pg_temp)$')
   AND p.prosqlbody IS NULL
   AND NOT (p.prokind = 'p'
            AND p.prosrc ~ '^\s*(DECLARE.*?)?BEGIN\s+PERFORM pg_catalog\.set_config\(''search_path'', ''pg_catalog, pg_temp'', true\);'
            AND regexp_count(p.prosrc, 'COMMIT;\s+PERFORM pg_catalog\.set_config\(''search_path'', ''pg_catalog, pg_temp'', true\);')
                = regexp_count(p.prosrc, '\mCOMMIT\M'))
 ORDER BY 1;
-- every view of the extension reads its tables with the caller's rights (security_invoker), so a
-- grant on the view shows no row that row-level security hides from the caller in the tables
SELECT c.oid::regclass AS view_without_security_invoker
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
   AND d.deptype = 'e'
   AND c.relkind = 'v'
   AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)
 ORDER BY 1;
-- every trigger of the extension fires always, session_replication_role = replica included
-- (an ordinary trigger does not fire then, and the event log's would stop keeping it append-only)
SELECT t.tgrelid::regclass AS "table", t.tgname AS trigger_not_always
  FROM pg_trigger t JOIN pg_depend d ON d.objid = t.tgrelid AND d.classid = 'pg_class'::regclass
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
   AND d.deptype = 'e'
   AND NOT t.tgisinternal AND t.tgenabled <> 'A'
 ORDER BY 1, 2;
