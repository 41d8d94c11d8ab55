# test/t/011_docs.pl: every SQL object of the extension (function, procedure, table, view, type,
# operator class) is named in doc/ (doc/reference.md points to the family pages), so the reference
# cannot silently fall behind the code.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename;

my $root = dirname(__FILE__) . '/../..';
my $docs = '';
for my $f (glob("$root/doc/*.md"), "$root/README.md")
{
	open my $fh, '<:encoding(UTF-8)', $f or die "$f: $!";
	local $/;
	$docs .= <$fh>;
	close $fh;
}
ok(length($docs) > 0, 'read doc/');

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cdp');
my $names = $node->safe_psql('postgres', q{
	SELECT DISTINCT n FROM (
	  SELECT p.proname::text AS n FROM pg_proc p
	   WHERE p.pronamespace = 'cdp'::regnamespace
	     AND NOT EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = p.pronamespace
	                     AND p.oid IN (t.typinput, t.typoutput, t.typreceive, t.typsend))
	     AND p.proname !~ '^(_|.*_(cmp|eq|ne|lt|le|gt|ge|hash|hash_extended)$)'
	     AND NOT EXISTS (SELECT 1 FROM pg_amproc a WHERE a.amproc = p.oid)
	  UNION SELECT c.relname::text FROM pg_class c
	   WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'S')
	     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
	                     AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
	  UNION SELECT t.typname::text FROM pg_type t
	   WHERE t.typnamespace = 'cdp'::regnamespace AND t.typtype IN ('b', 'd', 'e')
	     AND t.typelem = 0 ) x
	ORDER BY 1});
my @missing = grep { $docs !~ /\b\Q$_\E\b/ } split /\n/, $names;
is(join(', ', @missing), '', 'every SQL object of schema cdp is documented in doc/');
$node->stop;
done_testing();
