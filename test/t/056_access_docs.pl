# test/t/056_access_docs.pl: doc/security.md says exactly what the access family does (issue 15).
#
#  1. The probe table lists the same probes, roles and positive controls as the suites'
#     descriptions ("Pnn role: ..." and "Pnn+ role: ..." in test/pgtap/90_access.sql and
#     test/t/054_access_probes.pl), in both directions.
#  2. The privilege table lists exactly what each clinic role can use in schema cdp beyond what
#     PUBLIC can (has_function_privilege, has_table_privilege after cdp.setup_roles()), cdp_admin
#     can use every function and table of schema cdp, and no role can use anything of cdp_internal.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename;

my $root = dirname(__FILE__) . '/../..';

sub slurp_utf8
{
	my $f = shift;
	open my $fh, '<:encoding(UTF-8)', $f or die "$f: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

my $doc = slurp_utf8("$root/doc/security.md");

# ---------------------------------------------------------------- 1. probes
my (%doc_probe, %doc_positive);
for my $line (split /\n/, $doc)
{
	next unless $line =~ /^\| (P\d\d) \| ([^|]+) \| [^|]+ \| [^|]+ \| ([^|]+) \|$/;
	my ($id, $roles, $positive) = ($1, $2, $3);
	$doc_probe{"$id $_"} = 1 for split /,\s*/, $roles =~ s/\s+$//r;
	$doc_positive{"$id " . ((split " ", $positive)[0] =~ s/[^a-z_]//gr)} = 1;
}
ok(scalar(keys %doc_probe) >= 30, 'the probe table of doc/security.md was read');

my (%suite_probe, %suite_positive);
for my $f ("$root/test/pgtap/90_access.sql", "$root/test/t/054_access_probes.pl")
{
	my $text = slurp_utf8($f);
	while ($text =~ /'(P\d\d)(\+?) ([a-z_]+): /g)
	{
		if ($2) { $suite_positive{"$1 $3"} = 1 }
		else { $suite_probe{"$1 $3"} = 1 }
	}
}
is_deeply([ sort keys %doc_probe ], [ sort keys %suite_probe ],
	'every probe and role of doc/security.md is in the suites, and every one of the suites is in the table');
is_deeply([ sort keys %doc_positive ], [ sort keys %suite_positive ],
	'every positive control of the table is in the suites with the same role, and back');
my %ids = map { (split ' ')[0] => 1 } keys %suite_probe;
my %pos = map { (split ' ')[0] => 1 } keys %suite_positive;
is_deeply([ sort keys %ids ], [ sort keys %pos ], 'every probe has a positive control');

# ---------------------------------------------------------------- 2. privileges
my %doc_priv;
for my $line (split /\n/, $doc)
{
	next unless $line =~ /^\| (cdp_[a-z]+) \| (EXECUTE|SELECT|INSERT|UPDATE|DELETE) \| ([^|]+?) \|$/;
	$doc_priv{"$1 $2 $3"} = 1;
}
ok(scalar(keys %doc_priv) >= 20, 'the privilege table of doc/security.md was read');

my $node = PostgreSQL::Test::Cluster->new('access_docs');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cdp; SELECT count(*) FROM cdp.setup_roles();');

# what each role can use beyond PUBLIC, one line per privilege
my $actual = $node->safe_psql('postgres', q{
	WITH r AS (SELECT rolname FROM pg_roles WHERE rolname LIKE 'cdp\_%' AND rolname <> 'cdp_admin'),
	f AS (SELECT p.oid, p.oid::regprocedure::text AS name FROM pg_proc p WHERE p.pronamespace = 'cdp'::regnamespace),
	t AS (SELECT c.oid, c.oid::regclass::text AS name FROM pg_class c
	       WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p'))
	SELECT r.rolname || ' EXECUTE ' || f.name FROM r, f
	 WHERE has_function_privilege(r.rolname, f.oid, 'EXECUTE') AND NOT has_function_privilege('public', f.oid, 'EXECUTE')
	UNION ALL
	SELECT r.rolname || ' ' || pr || ' ' || t.name FROM r, t, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) pr
	 WHERE has_table_privilege(r.rolname, t.oid, pr)
	ORDER BY 1});
my %doc_nonadmin = map { $_ => 1 } grep { !/^cdp_admin / } keys %doc_priv;
is_deeply([ sort split /\n/, $actual ], [ sort keys %doc_nonadmin ],
	'each role can use exactly what the privilege table of doc/security.md lists');

ok($doc_priv{'cdp_admin EXECUTE every function and procedure of schema cdp'}
	  && $doc_priv{'cdp_admin SELECT every table and view of schema cdp'}, 'the table says what cdp_admin gets');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'cdp'::regnamespace AND NOT has_function_privilege('cdp_admin', p.oid, 'EXECUTE')}),
	'0', 'cdp_admin can execute every function and procedure of schema cdp');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
	   AND NOT has_table_privilege('cdp_admin', c.oid, 'SELECT')}),
	'0', 'cdp_admin can read every table and view of schema cdp');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class c, pg_roles r WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'p')
	   AND r.rolname LIKE 'cdp\_%'
	   AND NOT (r.rolname = 'cdp_sender' AND c.relname = 'delivery_event_staging')	-- the gateway's COPY target (doc/security.md)
	   AND (has_table_privilege(r.rolname, c.oid, 'INSERT') OR has_table_privilege(r.rolname, c.oid, 'UPDATE')
	        OR has_table_privilege(r.rolname, c.oid, 'DELETE') OR has_table_privilege(r.rolname, c.oid, 'TRUNCATE'))}),
	'0', 'no clinic role can write a table directly (but the gateway its staging table)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_roles r WHERE r.rolname LIKE 'cdp\_%' AND (has_schema_privilege(r.rolname, 'cdp_internal', 'USAGE')
	    OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'cdp_internal'::regnamespace
	               AND has_function_privilege(r.rolname, p.oid, 'EXECUTE'))
	    OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'cdp_internal'::regnamespace AND c.relkind IN ('r', 'v', 'S')
	               AND has_table_privilege(r.rolname, c.oid, 'SELECT')))}),
	'0', 'no clinic role can use anything of cdp_internal');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'cdp'::regnamespace AND p.prosecdef
	   AND has_function_privilege('public', p.oid, 'EXECUTE')}),
	'0', 'no SECURITY DEFINER function of cdp is executable by PUBLIC');

# item 7: the access parts replace nothing and create nothing in public
my @parts = map { slurp_utf8($_) } glob("$root/sql/parts/9[0-4]_*.sql");
is(scalar(grep { /CREATE\s+OR\s+REPLACE/i } @parts), 0, 'no access part uses CREATE OR REPLACE');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_depend d
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'cdp' AND d.refclassid = 'pg_extension'::regclass
	 WHERE (d.classid = 'pg_proc'::regclass AND (SELECT pronamespace FROM pg_proc WHERE oid = d.objid) = 'public'::regnamespace)
	    OR (d.classid = 'pg_class'::regclass AND (SELECT relnamespace FROM pg_class WHERE oid = d.objid) = 'public'::regnamespace)
	    OR (d.classid = 'pg_type'::regclass AND (SELECT typnamespace FROM pg_type WHERE oid = d.objid) = 'public'::regnamespace)}),
	'0', 'the extension has no object in schema public');

$node->stop;
done_testing();
