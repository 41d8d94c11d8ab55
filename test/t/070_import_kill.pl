# test/t/070_import_kill.pl: an import killed with kill -9 in the middle of its commit leaves no
# row of its batch (issue 16).  While the commit runs, cdp.import_status in another session shows
# its counts growing; then the committing backend gets SIGKILL, the server restarts, and the batch
# is still open with its staging lines, no record, no event, and a second commit loads it whole.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('import_kill');
$node->init;
# the test harness turns this off; the crash below is meant to be recovered from
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('old_his', 'internal', 50);
	SELECT cdp.import_begin('old_his', 'patients', '{"chunk_rows": 500}');
	INSERT INTO cdp.import_staging (batch_id, line) VALUES (1, 'source_id;family_name;given_name;birth_date');
	INSERT INTO cdp.import_staging (batch_id, line)
	SELECT 1, concat_ws(';', 'H-' || i, 'Фамилия' || i, 'Анна', to_char(date '1950-01-01' + i % 20000, 'DD.MM.YYYY'))
	  FROM generate_series(1, 20000) i ORDER BY i;
});
my $events_before = $node->safe_psql('postgres', q{SELECT count(*) FROM cdp.event});

my ($out, $err) = ('', '');
my $commit = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', q{SELECT cdp.import_commit(1)} ],
	'>', \$out, '2>', \$err);

# the commit is visibly alive: its counts, read from another session, grow
$node->poll_query_until('postgres', q{
	SELECT cdp.import_status(1) ->> 'status' = 'running' AND (cdp.import_status(1) ->> 'loaded')::int >= 1000})
  or die 'the commit never showed progress';
my $status = $node->safe_psql('postgres', q{SELECT cdp.import_status(1)});
like($status, qr/"lines": 20001/, 'import_status sees the running commit and its lines');
my ($loaded) = $status =~ /"loaded": (\d+)/;
ok($loaded >= 1000 && $loaded < 20000, "the commit was in the middle ($loaded rows loaded)");

my $pid = $node->safe_psql('postgres', q{SELECT cdp.import_status(1) ->> 'pid'});
kill 'KILL', $pid;
$commit->finish;
like($err, qr/server closed the connection|terminating connection/, 'the committing backend was killed');

# the postmaster restarts every backend after a crash; wait until it accepts connections again
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';

is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.record}), '0', 'no record of the batch survived');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.event}), $events_before, 'no event of the batch survived');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.patient}), '0', 'no golden profile of the batch survived');
is($node->safe_psql('postgres', q{SELECT cdp.import_status(1) ->> 'status'}), 'open', 'the batch is still open');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.import_staging WHERE batch_id = 1}), '20001',
	'with all its lines');

is($node->safe_psql('postgres', q{SELECT cdp.import_commit(1) ->> 'created'}), '20000', 'a second commit loads it whole');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.record}), '20000', 'once');

$node->stop;
done_testing();
