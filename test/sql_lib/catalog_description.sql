/*
 * test/sql_lib/catalog_description.sql: a text description of everything extension cdp owns in
 * the current database, one line per fact, in a fixed order.  Two databases holding the same
 * extension objects give the same text whatever their history: test/t/060_update.pl compares a
 * database updated by ALTER EXTENSION cdp UPDATE with a fresh CREATE EXTENSION cdp.
 *
 * What is described: every object that is a member of the extension (pg_depend deptype 'e'),
 * by schema-qualified name and full definition, and what hangs off a member without being one
 * (columns, constraints, indexes, triggers, policies, rules, operator family members); comments
 * on all of them; privileges; the schemas; pg_init_privs (what pg_dump takes as the extension's
 * own privileges); extconfig and its conditions; the rows of member tables that pg_dump does not
 * keep (written by the install script, like cdp_internal.match_part's); and objects in the extension's
 * schemas that are not members (left behind by an update).
 * What is not: OIDs, sequence values, statistics, owner names (every object belongs to the role
 * that ran CREATE or ALTER EXTENSION; a grant to the owner is written OWNER), and the column option
 * pg_attver, which some PostgreSQL builds set on every column to a value that differs per table.
 *
 * Each line is "<object> | <fact>"; a multi-line definition (function, view) gives one line per
 * line of the definition, so a diff of two descriptions names the object of every differing line.
 * Run with psql -XAtq; it sets search_path to pg_catalog for the session so that every name it
 * prints is schema-qualified, and defines three functions in pg_temp.
 */
SET search_path = pg_catalog, pg_temp;

/* an ACL as sorted grantee:privilege items; NULL means the default ACL of the object kind */
CREATE FUNCTION pg_temp.cdp_acl(acl aclitem[], owner oid, kind "char") RETURNS text
	LANGUAGE sql STABLE
	AS $$
	SELECT coalesce(string_agg(item, ',' ORDER BY item), '(none)')
	  FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
	                    WHEN a.grantee = owner THEN 'OWNER'
	                    ELSE quote_ident(r.rolname) END
	               || ':' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS item
	          FROM aclexplode(coalesce(acl, acldefault(kind, owner))) a
	          LEFT JOIN pg_roles r ON r.oid = a.grantee) x
$$;

/* a collation by schema-qualified name, '-' for none */
CREATE FUNCTION pg_temp.cdp_collation(coll oid) RETURNS text
	LANGUAGE sql STABLE
	AS $$
	SELECT coalesce((SELECT quote_ident(n.nspname) || '.' || quote_ident(c.collname)
	                   FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
	                  WHERE c.oid = coll), '-')
$$;

/*
 * The rows of a table that pg_dump does not keep, so that are the install script's own (all of a
 * member table that is no configuration table; of a configuration table, the rows its condition
 * leaves out): count and md5 of their text in order.
 */
CREATE FUNCTION pg_temp.cdp_installed_rows(rel regclass, cond text) RETURNS text
	LANGUAGE plpgsql STABLE
	AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SELECT count(*) || '' '' || coalesce(md5(string_agg(r, E''\n'' ORDER BY r)), ''-'')'
	               ' FROM (SELECT x::text AS r FROM %s x %s) t', rel,
	               CASE WHEN cond IS NULL THEN ''
	                    ELSE format('EXCEPT ALL SELECT y::text FROM %s y %s', rel, cond) END)
	  INTO result;
	RETURN result;
END
$$;

/* role names of a policy's roles (0 is PUBLIC), sorted */
CREATE FUNCTION pg_temp.cdp_roles(roles oid[]) RETURNS text
	LANGUAGE sql STABLE
	AS $$
	SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(r::regrole::text) END, ',' ORDER BY 1)
	  FROM unnest(roles) r
$$;

WITH ext AS (
	SELECT e.* FROM pg_extension e WHERE e.extname = 'cdp'
),
/* the members */
m AS (
	SELECT d.classid, d.objid
	  FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
/* schemas of the extension: its own and the ones it created */
nsp AS (
	SELECT n.* FROM pg_namespace n, ext
	 WHERE n.oid = ext.extnamespace
	    OR (n.oid IN (SELECT objid FROM m WHERE classid = 'pg_namespace'::regclass))
),
/* member relations and the relations behind member composite types */
rel AS (
	SELECT c.*, c.oid::regclass::text AS name
	  FROM pg_class c
	 WHERE c.oid IN (SELECT objid FROM m WHERE classid = 'pg_class'::regclass)
	    OR c.oid IN (SELECT t.typrelid FROM pg_type t JOIN m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid)
),
fn AS (
	SELECT p.*, p.oid::regprocedure::text AS name
	  FROM pg_proc p WHERE p.oid IN (SELECT objid FROM m WHERE classid = 'pg_proc'::regclass)
),
typ AS (
	SELECT t.*, t.oid::regtype::text AS name
	  FROM pg_type t WHERE t.oid IN (SELECT objid FROM m WHERE classid = 'pg_type'::regclass)
),
/* what hangs off a member without being one: for comments and pg_init_privs */
owned (classid, objid) AS (
	SELECT classid, objid FROM m
	UNION SELECT 'pg_namespace'::regclass, oid FROM nsp
	UNION SELECT 'pg_class'::regclass, oid FROM rel
	UNION SELECT 'pg_class'::regclass, indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM rel)
	UNION SELECT 'pg_constraint'::regclass, oid FROM pg_constraint
	       WHERE conrelid IN (SELECT oid FROM rel) OR contypid IN (SELECT oid FROM typ)
	UNION SELECT 'pg_trigger'::regclass, oid FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM rel)
	UNION SELECT 'pg_policy'::regclass, oid FROM pg_policy WHERE polrelid IN (SELECT oid FROM rel)
	UNION SELECT 'pg_rewrite'::regclass, oid FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM rel)
),
lines (o, s, n, line) AS (
	/* the extension itself */
	SELECT 'extension', '', 0::bigint,
	       format('version %s schema %s relocatable %s', extversion, extnamespace::regnamespace, extrelocatable)
	  FROM ext
	/* what pg_dump dumps: the configuration tables and sequences with their conditions */
	UNION ALL
	SELECT 'extconfig', c.cfg::regclass::text, 0,
	       format('%s %s condition %s', c.cfg::regclass, (SELECT relkind FROM pg_class WHERE oid = c.cfg),
	              quote_nullable(c.cond))
	  FROM ext, unnest(ext.extconfig, ext.extcondition) c(cfg, cond)
	/* every member by kind and identity */
	UNION ALL
	SELECT 'member', i.type || ' ' || i.identity, 0, i.type || ' ' || i.identity
	  FROM m, pg_identify_object(m.classid, m.objid, 0) i
	/* objects in the extension's schemas that are not members (left behind) */
	UNION ALL
	SELECT 'non-member', i.type || ' ' || i.identity, 0, i.type || ' ' || i.identity
	  FROM (SELECT 'pg_class'::regclass AS classid, c.oid AS objid FROM pg_class c
	         WHERE c.relnamespace IN (SELECT oid FROM nsp) AND c.relkind NOT IN ('i', 'I', 't', 'c')
	        UNION ALL
	        SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM nsp)
	        UNION ALL
	        SELECT 'pg_type'::regclass, t.oid FROM pg_type t
	         WHERE t.typnamespace IN (SELECT oid FROM nsp) AND t.typrelid = 0
	           AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)
	        UNION ALL
	        SELECT 'pg_operator'::regclass, o.oid FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM nsp)
	        UNION ALL
	        SELECT 'pg_opclass'::regclass, o.oid FROM pg_opclass o WHERE o.opcnamespace IN (SELECT oid FROM nsp)
	        UNION ALL
	        SELECT 'pg_opfamily'::regclass, o.oid FROM pg_opfamily o WHERE o.opfnamespace IN (SELECT oid FROM nsp)
	       ) x
	  CROSS JOIN LATERAL pg_identify_object(x.classid, x.objid, 0) i
	 WHERE (x.classid, x.objid) NOT IN (SELECT classid, objid FROM m)
	/* schemas */
	UNION ALL
	SELECT 'schema ' || quote_ident(nspname), '', 0, 'acl ' || pg_temp.cdp_acl(nspacl, nspowner, 'n')
	  FROM nsp
	/* comments on members and on what hangs off them (columns as sub-objects) */
	UNION ALL
	SELECT 'comment', i.type || ' ' || i.identity, 0,
	       format('%s %s: %s', i.type, i.identity, replace(d.description, E'\n', '\n'))
	  FROM pg_description d
	  JOIN owned o ON o.classid = d.classoid AND o.objid = d.objoid
	 CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) i
	/* the privileges pg_dump treats as the extension's own */
	UNION ALL
	SELECT 'init-privs', i.type || ' ' || i.identity, 0,
	       format('%s %s: %s %s', i.type, i.identity, p.privtype,
	              pg_temp.cdp_acl(p.initprivs, (SELECT extowner FROM ext), 'n'))
	  FROM pg_init_privs p
	  JOIN owned o ON o.classid = p.classoid AND o.objid = p.objoid
	 CROSS JOIN LATERAL pg_identify_object(p.classoid, p.objoid, p.objsubid) i
	/* functions and procedures: the whole definition, then the attributes one by one */
	UNION ALL
	SELECT 'function ' || f.name, '1 def', l.n, l.line
	  FROM fn f
	 CROSS JOIN LATERAL regexp_split_to_table(pg_get_functiondef(f.oid), E'\n') WITH ORDINALITY l(line, n)
	 WHERE f.prokind <> 'a'
	UNION ALL
	SELECT 'function ' || f.name, '2 attr', 0,
	       format('kind %s volatility %s parallel %s strict %s security_definer %s leakproof %s cost %s rows %s'
	              ' config %s support %s language %s returns %s',
	              f.prokind, f.provolatile, f.proparallel, f.proisstrict, f.prosecdef, f.proleakproof,
	              f.procost, f.prorows, coalesce(array_to_string(f.proconfig, ','), '-'),
	              f.prosupport::oid::regprocedure, (SELECT lanname FROM pg_language WHERE oid = f.prolang),
	              pg_get_function_result(f.oid))
	  FROM fn f
	UNION ALL
	SELECT 'function ' || f.name, '3 acl', 0, 'acl ' || pg_temp.cdp_acl(f.proacl, f.proowner, 'f')
	  FROM fn f
	/* aggregates */
	UNION ALL
	SELECT 'function ' || f.name, '1 def', 0,
	       format('aggregate (%s) kind %s direct %s transfn %s type %s space %s init %s finalfn %s extra %s modify %s'
	              ' combinefn %s serialfn %s deserialfn %s mtransfn %s minvtransfn %s mtype %s mspace %s minit %s'
	              ' mfinalfn %s mextra %s mmodify %s sortop %s',
	              pg_get_function_arguments(f.oid), a.aggkind, a.aggnumdirectargs, a.aggtransfn::oid::regprocedure,
	              a.aggtranstype::regtype, a.aggtransspace, quote_nullable(a.agginitval),
	              a.aggfinalfn::oid::regprocedure, a.aggfinalextra, a.aggfinalmodify,
	              a.aggcombinefn::oid::regprocedure, a.aggserialfn::oid::regprocedure,
	              a.aggdeserialfn::oid::regprocedure, a.aggmtransfn::oid::regprocedure,
	              a.aggminvtransfn::oid::regprocedure, a.aggmtranstype::regtype, a.aggmtransspace,
	              quote_nullable(a.aggminitval), a.aggmfinalfn::oid::regprocedure, a.aggmfinalextra,
	              a.aggmfinalmodify, a.aggsortop::regoperator)
	  FROM fn f JOIN pg_aggregate a ON a.aggfnoid = f.oid
	/* relations: kind and options, privileges */
	UNION ALL
	SELECT 'relation ' || r.name, '0 kind', 0,
	       format('kind %s persistence %s rls %s force_rls %s replica_identity %s options %s access_method %s'
	              ' partition_key %s partition_of %s',
	              r.relkind, r.relpersistence, r.relrowsecurity, r.relforcerowsecurity, r.relreplident,
	              coalesce((SELECT string_agg(o, ',' ORDER BY o) FROM unnest(r.reloptions) o), '-'),
	              coalesce((SELECT amname FROM pg_am WHERE oid = r.relam), '-'),
	              coalesce(pg_get_partkeydef(r.oid), '-'),
	              coalesce((SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)
	                          FROM pg_inherits i WHERE i.inhrelid = r.oid), '-')
	              || coalesce(' ' || pg_get_expr(r.relpartbound, r.oid), ''))
	  FROM rel r
	UNION ALL
	SELECT 'relation ' || r.name, '0 kind', 1,
	       'acl ' || pg_temp.cdp_acl(r.relacl, r.relowner, (CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END)::"char")
	  FROM rel r WHERE r.relkind <> 'c'
	/* the rows only the install script writes (a configuration table with an empty condition has none) */
	UNION ALL
	SELECT 'relation ' || r.name, '0 kind', 2,
	       'installed rows ' || pg_temp.cdp_installed_rows(r.oid, c.cond)
	  FROM rel r
	  LEFT JOIN (SELECT x.cfg, x.cond FROM ext, unnest(ext.extconfig, ext.extcondition) x(cfg, cond)) c
	    ON c.cfg = r.oid
	 WHERE r.relkind IN ('r', 'p') AND (c.cfg IS NULL OR c.cond <> '')
	/* columns in their order (no attnum: a dropped column leaves a gap a fresh install has not) */
	UNION ALL
	SELECT 'relation ' || r.name, '1 column', a.attnum,
	       format('column %I %s%s%s%s%s%s%s%s%s%s acl %s', a.attname, format_type(a.atttypid, a.atttypmod),
	              CASE WHEN a.attcollation <> t.typcollation
	                   THEN ' collate ' || pg_temp.cdp_collation(a.attcollation) ELSE '' END,
	              CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
	              CASE WHEN a.atthasdef AND a.attgenerated = ''
	                   THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END,
	              CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
	                                 WHEN 'd' THEN ' generated by default as identity' ELSE '' END,
	              CASE WHEN a.attgenerated = 's'
	                   THEN ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored' ELSE '' END,
	              CASE WHEN a.attstorage <> t.typstorage THEN ' storage ' || a.attstorage::text ELSE '' END,
	              CASE WHEN a.attstattarget <> -1 THEN ' statistics ' || a.attstattarget ELSE '' END,
	              coalesce(' options ' || (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(a.attoptions) o
	                                         WHERE o NOT LIKE 'pg\_attver=%'), ''),
	              CASE WHEN a.attcompression <> '' THEN ' compression ' || a.attcompression::text ELSE '' END,
	              coalesce(pg_temp.cdp_acl(a.attacl, r.relowner, 'c'), '-'))
	  FROM rel r
	  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	  JOIN pg_type t ON t.oid = a.atttypid
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	 WHERE r.relkind <> 'S'
	/* constraints of tables */
	UNION ALL
	SELECT 'relation ' || r.name, '2 constraint', 0,
	       format('constraint %I %s', c.conname, pg_get_constraintdef(c.oid))
	  FROM rel r JOIN pg_constraint c ON c.conrelid = r.oid
	/* indexes (the definition names the index, its table, method, columns, options and predicate) */
	UNION ALL
	SELECT 'relation ' || r.name, '3 index', 0,
	       pg_get_indexdef(i.indexrelid)
	       || CASE WHEN i.indisclustered THEN ' clustered' ELSE '' END
	       || CASE WHEN i.indisreplident THEN ' replica_identity' ELSE '' END
	       || CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END
	  FROM rel r JOIN pg_index i ON i.indrelid = r.oid
	/* triggers and whether they fire (O origin, D disabled, R replica, A always) */
	UNION ALL
	SELECT 'relation ' || r.name, '4 trigger', 0,
	       pg_get_triggerdef(g.oid) || ' enabled ' || g.tgenabled::text
	  FROM rel r JOIN pg_trigger g ON g.tgrelid = r.oid AND NOT g.tgisinternal
	/* row-level security policies */
	UNION ALL
	SELECT 'relation ' || r.name, '5 policy', 0,
	       format('policy %I %s for %s to %s using (%s) with check (%s)', p.polname,
	              CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, p.polcmd,
	              pg_temp.cdp_roles(p.polroles), coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
	              coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'))
	  FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
	/* rules other than a view's own */
	UNION ALL
	SELECT 'relation ' || r.name, '6 rule', 0,
	       format('rule %I enabled %s: %s', w.rulename, w.ev_enabled, pg_get_ruledef(w.oid))
	  FROM rel r JOIN pg_rewrite w ON w.ev_class = r.oid AND w.rulename <> '_RETURN'
	/* views: the query, line by line */
	UNION ALL
	SELECT 'relation ' || r.name, '7 view', l.n, l.line
	  FROM rel r
	 CROSS JOIN LATERAL regexp_split_to_table(pg_get_viewdef(r.oid), E'\n') WITH ORDINALITY l(line, n)
	 WHERE r.relkind IN ('v', 'm')
	/* sequences: the definition and the column that owns it, not the value */
	UNION ALL
	SELECT 'relation ' || r.name, '8 sequence', 0,
	       format('sequence type %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
	              s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
	              coalesce((SELECT string_agg(d.refobjid::regclass::text || '.' || quote_ident(a.attname)
	                                          || ' (' || d.deptype::text || ')', ',')
	                          FROM pg_depend d
	                          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
	                         WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
	                           AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
	                           AND d.deptype IN ('a', 'i')), '-'))
	  FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
	/* types */
	UNION ALL
	SELECT 'type ' || t.name, '0', 0,
	       format('type kind %s len %s byval %s align %s storage %s category %s preferred %s delim %s'
	              ' input %s output %s receive %s send %s typmodin %s typmodout %s analyze %s subscript %s'
	              ' element %s collation %s default %s notnull %s base %s relation %s acl %s',
	              t.typtype, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typcategory, t.typispreferred,
	              t.typdelim, t.typinput::oid::regprocedure, t.typoutput::oid::regprocedure,
	              t.typreceive::oid::regprocedure, t.typsend::oid::regprocedure, t.typmodin::oid::regprocedure,
	              t.typmodout::oid::regprocedure, t.typanalyze::oid::regprocedure,
	              t.typsubscript::oid::regprocedure, nullif(t.typelem, 0)::regtype, pg_temp.cdp_collation(t.typcollation),
	              quote_nullable(t.typdefault), t.typnotnull,
	              CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) END,
	              nullif(t.typrelid, 0)::regclass, pg_temp.cdp_acl(t.typacl, t.typowner, 'T'))
	  FROM typ t
	UNION ALL
	SELECT 'type ' || t.name, '1 constraint', 0, format('constraint %I %s', c.conname, pg_get_constraintdef(c.oid))
	  FROM typ t JOIN pg_constraint c ON c.contypid = t.oid
	UNION ALL
	SELECT 'type ' || t.name, '2 enum', 0,
	       'labels ' || (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
	                       FROM pg_enum e WHERE e.enumtypid = t.oid)
	  FROM typ t WHERE t.typtype = 'e'
	UNION ALL
	SELECT 'type ' || t.name, '3 range', 0,
	       format('range subtype %s collation %s opclass %s canonical %s subdiff %s multirange %s',
	              g.rngsubtype::regtype, pg_temp.cdp_collation(g.rngcollation),
	              (SELECT i.identity FROM pg_identify_object('pg_opclass'::regclass, g.rngsubopc, 0) i),
	              g.rngcanonical::oid::regprocedure, g.rngsubdiff::oid::regprocedure, g.rngmultitypid::regtype)
	  FROM typ t JOIN pg_range g ON g.rngtypid = t.oid
	/* operators */
	UNION ALL
	SELECT 'operator ' || o.oid::regoperator::text, '', 0,
	       format('operator result %s function %s restrict %s join %s commutator %s negator %s merges %s hashes %s',
	              o.oprresult::regtype, o.oprcode::oid::regprocedure, o.oprrest::oid::regprocedure,
	              o.oprjoin::oid::regprocedure, nullif(o.oprcom, 0)::regoperator,
	              nullif(o.oprnegate, 0)::regoperator, o.oprcanmerge, o.oprcanhash)
	  FROM pg_operator o WHERE o.oid IN (SELECT objid FROM m WHERE classid = 'pg_operator'::regclass)
	/* operator classes */
	UNION ALL
	SELECT 'operator class ' || i.identity, '', 0,
	       format('type %s default %s family %s storage %s', c.opcintype::regtype, c.opcdefault, f.identity,
	              nullif(c.opckeytype, 0)::regtype)
	  FROM pg_opclass c
	 CROSS JOIN LATERAL pg_identify_object('pg_opclass'::regclass, c.oid, 0) i
	 CROSS JOIN LATERAL pg_identify_object('pg_opfamily'::regclass, c.opcfamily, 0) f
	 WHERE c.oid IN (SELECT objid FROM m WHERE classid = 'pg_opclass'::regclass)
	/* operator families and their members (operators and support functions, wherever declared) */
	UNION ALL
	SELECT 'operator family ' || i.identity, '1 operator', o.amopstrategy,
	       format('operator %s %s purpose %s sort family %s', o.amopstrategy, o.amopopr::regoperator,
	              o.amoppurpose, coalesce((SELECT s.identity FROM pg_identify_object('pg_opfamily'::regclass,
	                                                      o.amopsortfamily, 0) s WHERE o.amopsortfamily <> 0), '-'))
	  FROM pg_opfamily f
	 CROSS JOIN LATERAL pg_identify_object('pg_opfamily'::regclass, f.oid, 0) i
	  JOIN pg_amop o ON o.amopfamily = f.oid
	 WHERE f.oid IN (SELECT objid FROM m WHERE classid = 'pg_opfamily'::regclass)
	UNION ALL
	SELECT 'operator family ' || i.identity, '2 function', p.amprocnum,
	       format('function %s (%s, %s) %s', p.amprocnum, p.amproclefttype::regtype, p.amprocrighttype::regtype,
	              p.amproc::oid::regprocedure)
	  FROM pg_opfamily f
	 CROSS JOIN LATERAL pg_identify_object('pg_opfamily'::regclass, f.oid, 0) i
	  JOIN pg_amproc p ON p.amprocfamily = f.oid
	 WHERE f.oid IN (SELECT objid FROM m WHERE classid = 'pg_opfamily'::regclass)
	/* casts */
	UNION ALL
	SELECT 'cast ' || i.identity, '', 0,
	       format('function %s context %s method %s', c.castfunc::regprocedure, c.castcontext, c.castmethod)
	  FROM pg_cast c
	 CROSS JOIN LATERAL pg_identify_object('pg_cast'::regclass, c.oid, 0) i
	 WHERE c.oid IN (SELECT objid FROM m WHERE classid = 'pg_cast'::regclass)
)
SELECT o || ' | ' || line FROM lines ORDER BY o COLLATE "C", s COLLATE "C", n, line COLLATE "C";
