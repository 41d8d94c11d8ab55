# test/t/052_view_rls.pl: a SELECT grant on a view of the extension shows no more than the
# grantee may read in the tables under it.
#
# A view checks the tables it reads with its owner's rights unless it is security_invoker, and
# the owner of the extension's views is the superuser who installed it: row-level security does
# not apply to the owner of cdp.record.  So a role granted SELECT on cdp.suspicious_values or
# cdp.review_queue read names, phones and pairs that row-level security hides from it in
# cdp.record and cdp_internal.match_review.  Every view of the extension is now security_invoker
# (test/sql/00_install.sql lists any that is not).  See doc/security.md.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('view_rls');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('reception', 'internal', 80);
	SELECT cdp.register_source('lab', 'internal', 60);
	-- twelve differently named people at reception share one phone (a suspicious value), and
	-- two lab records look alike: a pair for review
	SELECT count(cdp.upsert_record('reception', 'r' || i, jsonb_build_object(
		'family_name', 'Фамилия' || i, 'given_name', 'Имя' || i, 'phones', jsonb_build_array('+79161234567'))))
	  FROM generate_series(1, 12) i;
	SELECT cdp.upsert_record('lab', 'l1', '{"family_name": "Иванова", "given_name": "Мария", "birth_date": "1980-02-03"}');
	SELECT cdp.upsert_record('lab', 'l2', '{"family_name": "Иванова", "given_name": "Марья", "birth_date": "1980-03-02"}');
	INSERT INTO cdp_internal.match_review (record_a, record_b, score, levels, version)
	SELECT min(record_id), max(record_id), 0.5, NULL, 1 FROM cdp.record WHERE source_key IN ('l1', 'l2');
	CREATE ROLE analyst;
	GRANT USAGE ON SCHEMA cdp TO analyst;
});
my @views = split /\n/, $node->safe_psql('postgres', q{
	SELECT c.oid::regclass FROM pg_class c WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind = 'v' ORDER BY 1});
cmp_ok(scalar(@views), '>=', 3, 'the extension has views: ' . join(', ', @views));
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.suspicious_values}), '1', 'the owner sees the shared phone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.review_queue}), '1', 'and the pair for review');

# 1. a grant on the view alone: the tables under it stay closed
for my $v (@views)
{
	$node->safe_psql('postgres', "GRANT SELECT ON $v TO analyst");
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE analyst; SELECT * FROM $v");
	is($out, '', "SELECT on $v alone returns no row");
	# the matching family's views read private tables through functions only cdp_admin may execute
	like($err, qr/permission denied for (?:table|function)/, "$v reads its tables with the caller's rights");
}

# 2. SELECT on the tables too, row-level security with no policy: no row of a person shows
$node->safe_psql('postgres', q{GRANT SELECT ON cdp.record, cdp_internal.match_review, cdp_internal.match_settings, cdp.source TO analyst;
	GRANT EXECUTE ON FUNCTION cdp.matching_settings() TO analyst});
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT count(*) FROM cdp.record}), '0',
	'row-level security hides every record from the analyst');
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT count(*) FROM cdp.suspicious_values}), '0',
	'so cdp.suspicious_values shows no phone');
# the review queue and the run log are read through owner-rights functions: EXECUTE is their
# role check (cdp_admin), not the tables' policies
my ($rq_ret, $rq_out, $rq_err) = $node->psql('postgres', q{SET ROLE analyst; SELECT count(*) FROM cdp.review_queue});
like($rq_err, qr/permission denied for function review_queue_entries/, 'and cdp.review_queue is refused without EXECUTE on its function');

# 3. a policy that shows the analyst the lab's records and the review pairs: the view follows it
$node->safe_psql('postgres', q{
	CREATE POLICY analyst_lab ON cdp.record FOR SELECT TO analyst
		USING (source_id = (SELECT s.source_id FROM cdp.source s WHERE s.name = 'lab'));
	CREATE POLICY analyst_review ON cdp_internal.match_review FOR SELECT TO analyst USING (true);
});
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT count(*) FROM cdp.record}), '2',
	'the policy shows the analyst the two lab records');
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT count(*) FROM cdp.suspicious_values}), '0',
	'the reception phone stays hidden in cdp.suspicious_values');
$node->safe_psql('postgres', q{GRANT EXECUTE ON FUNCTION cdp.review_queue_entries() TO analyst});
is($node->safe_psql('postgres', q{SET ROLE analyst; SELECT count(*) FROM cdp.review_queue}), '1',
	'with EXECUTE granted, cdp.review_queue shows the pairs (as the owner reads them: a role check, not a row filter)');

$node->stop;
done_testing();
