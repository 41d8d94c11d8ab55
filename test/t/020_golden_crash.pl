# test/t/020_golden_crash.pl: kill -9 the server in the middle of cdp.run_maintenance and of a bulk
# link job, restart, and check that the golden projections still equal a replay of the log: no
# orphaned membership, no lost event, and a later maintenance run finishes the catch-up (issue 5).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CdpTest;

my $node = PostgreSQL::Test::Cluster->new('golden_crash');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('his', 'internal', 80);
	SELECT count(cdp.upsert_record('his', 'r' || i,
		jsonb_build_object('family_name', 'Иванов' || (i / 2), 'given_name', 'Иван',
		                   'phones', jsonb_build_array('+7916' || lpad((1000000 + i / 2)::text, 7, '0')))))
	  FROM generate_series(1, 2000) i;
	-- the checkpoint back to the start: maintenance re-folds every person, batch by batch
	UPDATE cdp_internal.golden_state SET last_event_id = 0;
	-- nothing for maintenance's matching increment: the pairs share name and phone, and the default
	-- settings would link them, waiting on the held row before any golden batch is committed
	DELETE FROM cdp_internal.match_queue;
});

# live projections compared with a replay of the whole log (CdpTest)
is($node->safe_psql('postgres', $projections_differ_sql), '0', 'before: projections equal the replay');

# A third session holds one person's row, so maintenance is certainly in the middle when we kill.
my $middle = $node->safe_psql('postgres',
	q{SELECT golden_id FROM cdp.patient ORDER BY golden_id OFFSET 600 LIMIT 1});
my ($in, $out, $err) = ('', '', '');
my $holder = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN; SELECT 1 FROM cdp.patient WHERE golden_id = $middle FOR UPDATE; SELECT 'held';\n";
$holder->pump until $out =~ /held/;

my ($mout, $merr) = ('', '');
my $maint = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'CALL cdp.run_maintenance(5)' ],
	'>', \$mout, '2>', \$merr);
# a bulk link job beside it, committing every link
my ($lout, $lerr) = ('', '');
my $links = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', q{
	DO $$ DECLARE i int; BEGIN
	  FOR i IN 1..999 BY 2 LOOP
	    PERFORM cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'r' || i),
	                             (SELECT record_id FROM cdp.record WHERE source_key = 'r' || (i + 1)), '{"test": "crash"}');
	    COMMIT;
	  END LOOP; END $$} ],
	'>', \$lout, '2>', \$lerr);

$node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity
	 WHERE wait_event_type = 'Lock' AND (query LIKE 'CALL cdp.run_maintenance%' OR query LIKE '%link_records%')})
  or die 'maintenance and the link job never reached the held row';
my $done_before = $node->safe_psql('postgres', 'SELECT last_event_id FROM cdp_internal.golden_state');
ok($done_before > 0, 'maintenance committed some batches before the crash');

$node->stop('immediate');
$maint->finish;
$links->finish;
$holder->kill_kill;
$node->start;

my ($ckpt, $top) = split /\|/, $node->safe_psql('postgres',
	'SELECT last_event_id, (SELECT max(event_id) FROM cdp.event) FROM cdp_internal.golden_state');
ok($ckpt >= $done_before && $ckpt < $top, 'the crash interrupted the catch-up; committed batches stayed');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.event WHERE kind = 'patient.merged'}) > 0,
	'links committed before the crash are in the log');
is($node->safe_psql('postgres', $projections_differ_sql), '0', 'after the crash: projections equal the replay');

$node->safe_psql('postgres', 'CALL cdp.run_maintenance(100)');
is($node->safe_psql('postgres',
	'SELECT last_event_id = (SELECT max(event_id) FROM cdp.event) FROM cdp_internal.golden_state'), 't',
	'the next maintenance run finishes the catch-up');
is($node->safe_psql('postgres', $projections_differ_sql), '0', 'and the projections still equal the replay');

$node->safe_psql('postgres', q{
	CREATE TABLE live AS SELECT * FROM cdp.patient;
	SELECT cdp.rebuild_patients();
});
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM (SELECT * FROM live EXCEPT SELECT * FROM cdp.patient) x)
	     + (SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM live) x)}), '0',
	'a full rebuild from the log gives the same profiles');

$node->stop;
done_testing();
