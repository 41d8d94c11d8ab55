# test/t/022_link_read_visible.pl: cdp_internal.golden_link_read (link_records_many's check and
# first reading of the persons in C, issue 16, session 35) reads a record's golden id from the
# index entry when the record's table page is all visible, as an index-only scan does, and from
# the table otherwise.  test/pgtap/73_golden_link_read.sql runs inside a transaction, where no page
# is all visible; here VACUUM sets the visibility map, and the C reading is compared with the SQL
# statement it stands in for in three states: every page all visible; after merges moved records
# to other persons (new row versions, old index entries pointing at dead ones, pages no longer
# all visible); and after a second VACUUM.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('link_read_visible');
$node->init;
$node->append_conf('postgresql.conf', 'autovacuum = off');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdp;
	CREATE EXTENSION pg_visibility;
	SELECT count(cdp.register_source(s)) FROM unnest(ARRAY['reg', 'lab']) s;
	SELECT count(cdp.upsert_record((ARRAY['reg','lab'])[1 + k % 2], 'r' || k,
	         jsonb_build_object('family_name', (ARRAY['Иванов','Смирнов','Попов'])[1 + k % 3],
	                            'given_name', 'Иван', 'birth_date', (date '1960-01-01' + k * 3)::text)))
	  FROM generate_series(1, 3000) k;
	-- the statement golden_link_read stands in for, and the C reading, as comparable text
	CREATE FUNCTION ref(a bigint[], b bigint[]) RETURNS text LANGUAGE sql AS $$
		SELECT concat_ws(' ', x.bad, x.ga::text, x.gb::text)
		  FROM (SELECT min(x.i) FILTER (WHERE x.ra IS NULL OR x.rb IS NULL OR x.ra = x.rb
		                                      OR ra.record_id IS NULL OR rb.record_id IS NULL) AS bad,
		               coalesce(array_agg(ra.golden_id ORDER BY x.i), '{}') AS ga,
		               coalesce(array_agg(rb.golden_id ORDER BY x.i), '{}') AS gb
		          FROM ROWS FROM (unnest(a), unnest(b)) WITH ORDINALITY x(ra, rb, i)
		          LEFT JOIN cdp.record ra ON ra.record_id = x.ra
		          LEFT JOIN cdp.record rb ON rb.record_id = x.rb) x
	$$;
	CREATE FUNCTION c(a bigint[], b bigint[]) RETURNS text LANGUAGE sql AS $$
		SELECT CASE WHEN r.done THEN concat_ws(' ', r.bad, r.golden_a::text, r.golden_b::text) ELSE 'not done' END
		  FROM cdp_internal.golden_link_read(a, b, NULL) r
	$$;
	-- 40 batches of 200 links between random records, one of them with a missing record
	CREATE TABLE batches AS
	SELECT t, array_agg(r.ids[1 + floor(random() * r.n)::int] ORDER BY i) AS a,
	       array_agg(CASE WHEN t = 7 AND i = 150 THEN -1 ELSE r.ids[1 + floor(random() * r.n)::int] END ORDER BY i) AS b
	  FROM (SELECT array_agg(record_id) AS ids, count(*)::int AS n FROM cdp.record) r,
	       generate_series(1, 40) t, generate_series(1, 200) i
	 GROUP BY t;
});
$node->safe_psql('postgres', 'VACUUM cdp.record');

my $differ = q{SELECT count(*) FROM batches WHERE c(a, b) IS DISTINCT FROM ref(a, b)};
my $visible = q{SELECT count(*) FILTER (WHERE all_visible) || ' of ' || count(*) FROM pg_visibility_map('cdp.record')};

my ($v, $n) = split / of /, $node->safe_psql('postgres', $visible);
ok($v > 0 && $v == $n, "after VACUUM every page of cdp.record is all visible ($v of $n)");
is($node->safe_psql('postgres', $differ), '0', 'all visible: the C reading equals the statement in all 40 batches');
is($node->safe_psql('postgres', q{SELECT c(a, b) ~ '^[0-9]+ ' FROM batches WHERE t = 7}), 't',
	'the batch with a missing record has a bad element (others may have a random self-link)');

# merges move records: new row versions, their pages no longer all visible
$node->safe_psql('postgres', q{
	SELECT count(cdp.link_records(a[i], b[i], NULL))
	  FROM batches, generate_series(1, 60) i
	 WHERE t <= 3 AND a[i] <> b[i] AND b[i] > 0});
($v, $n) = split / of /, $node->safe_psql('postgres', $visible);
ok($v < $n, "after the merges some pages are no longer all visible ($v of $n)");
is($node->safe_psql('postgres', q{SELECT count(DISTINCT golden_id) < count(*) FROM cdp.record}), 't',
	'the merges put records together');
is($node->safe_psql('postgres', $differ), '0',
	'after the merges: the C reading equals the statement (the moved records at their new persons)');

$node->safe_psql('postgres', 'VACUUM cdp.record');
($v, $n) = split / of /, $node->safe_psql('postgres', $visible);
ok($v == $n, "after a second VACUUM every page is all visible again ($v of $n)");
is($node->safe_psql('postgres', $differ), '0', 'and the C reading still equals the statement');

$node->stop;
done_testing();
