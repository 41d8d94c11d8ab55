-- sql/00_install.sql: the extension installs into schema cdp, its library loads, and every
-- object it creates lives in schema cdp and carries a comment.
CREATE EXTENSION cdp;
SELECT cdp.library_version() = extversion AS library_matches_sql
  FROM pg_extension WHERE extname = 'cdp';
SELECT nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'cdp';
-- every function of the extension lives in cdp and has a COMMENT
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
   AND d.deptype = 'e'
   AND (p.pronamespace <> 'cdp'::regnamespace OR obj_description(p.oid, 'pg_proc') IS NULL)
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
 WHERE p.pronamespace = 'cdp'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;
