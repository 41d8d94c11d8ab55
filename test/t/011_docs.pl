# test/t/011_docs.pl: every SQL object of the extension (function, procedure, table, view, type,
# operator class) is named in doc/ (doc/reference.md points to the family pages), so the reference
# cannot silently fall behind the code; and every relative link between the pages (README.md and
# doc/*.md) names a file that exists and, with #anchor, a heading of that file (GitHub's anchors:
# lower case, punctuation dropped, spaces as hyphens, -1, -2 for repeats; fenced code skipped).
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

# the anchors of a page, as GitHub makes them from its headings
sub anchors
{
	my ($f) = @_;
	my (%seen, %a);
	open my $fh, '<:encoding(UTF-8)', $f or return undef;
	my $code = 0;
	while (my $l = <$fh>)
	{
		$code = !$code if $l =~ /^```/;
		next if $code || $l !~ /^#{1,6} (.*?)\s*$/;
		my $s = lc $1;
		$s =~ s/[^\w\- ]//g;
		$s =~ s/ /-/g;
		my $n = $seen{$s}++;
		$a{ $n ? "$s-$n" : $s } = 1;
	}
	close $fh;
	return \%a;
}
my (%anchors, @broken);
for my $f (glob("$root/doc/*.md"), "$root/README.md")
{
	open my $fh, '<:encoding(UTF-8)', $f or die "$f: $!";
	my $code = 0;
	my $dir = dirname($f);
	while (my $l = <$fh>)
	{
		$code = !$code if $l =~ /^```/;
		next if $code;
		while ($l =~ /\]\(([^)\s#:]*)(?:#([^)\s]+))?\)/g)
		{
			my ($target, $anchor) = ($1, $2);
			next if $target eq '' && !defined $anchor;
			my $path = $target eq '' ? $f : "$dir/$target";
			(my $name = $f) =~ s{^.*/}{};
			if (!-e $path) { push @broken, "$name: $target"; next; }
			next if !defined $anchor || $path !~ /\.md$/;
			$anchors{$path} //= anchors($path);
			push @broken, "$name: $target#$anchor" unless $anchors{$path}{$anchor};
		}
	}
	close $fh;
}
is(join(', ', @broken), '', 'every relative link of doc/ and README.md finds its file and heading');

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
