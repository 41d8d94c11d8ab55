# test/t/040_pg_cron.pl: the DBA's schedule from the README, run by pg_cron itself.  A server with
# pg_cron preloaded, cdp ingesting pairs of duplicate records, and the job
#   SELECT cron.schedule('cdp-maintenance', '* * * * *', 'CALL cdp.run_maintenance()')
# left to fire (pg_cron's finest schedule here is a minute, so the test waits for the next minute).
# Checks that the job succeeds, links the pairs, empties the matching queue and leaves the golden
# projections equal to a replay of the log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CdpTest;

my $node = PostgreSQL::Test::Cluster->new('cron');
# pg_cron is a separate package (postgresql-15-cron, installed by make check); an installcheck
# against a server without it skips this test
my $sharedir = $node->config_data('--sharedir');
plan skip_all => "pg_cron is not installed in $sharedir" unless -f "$sharedir/extension/pg_cron.control";
$node->init;
# jobs run in background workers: the test server listens on no TCP port for pg_cron to connect to
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('reception', 'internal', 80);
	SELECT cdp.register_source('lab', 'internal', 60);
	-- 40 persons, each at reception and at the lab under another spelling of the same name
	SELECT count(cdp.upsert_record('reception', 'r' || i, jsonb_build_object(
		'family_name', 'Соколова' || i, 'given_name', 'Анна', 'patronymic', 'Игоревна',
		'birth_date', (date '1970-01-01' + i * 101)::text, 'sex', 'F',
		'phones', jsonb_build_array('+7903' || lpad((2000000 + i)::text, 7, '0')))))
	  FROM generate_series(1, 40) i;
	SELECT count(cdp.upsert_record('lab', 'l' || i, jsonb_build_object(
		'full_name', 'СОКОЛОВА' || i || ' АННА', 'birth_date', (date '1970-01-01' + i * 101)::text,
		'phones', jsonb_build_array('8 903 ' || lpad((2000000 + i)::text, 7, '0')))))
	  FROM generate_series(1, 40) i;
});

my $pairs_linked = q{
	SELECT count(*) FROM generate_series(1, 40) i
	  JOIN cdp.record a ON a.source_key = 'r' || i
	  JOIN cdp.record b ON b.source_key = 'l' || i
	 WHERE a.golden_id = b.golden_id
};
is($node->safe_psql('postgres', $pairs_linked), '0', 'before the job: no pair is linked');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM cdp_internal.match_queue'), '>=', 80,
	'before the job: the new records wait in the matching queue');

# the schedule exactly as README.md gives it
$node->safe_psql('postgres',
	q{SELECT cron.schedule('cdp-maintenance', '* * * * *', 'CALL cdp.run_maintenance()')});

# wait for a finished run (the next minute, and the run itself; at most three minutes)
sub finished_runs
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE status = 'succeeded') || ' ' || count(*) FILTER (WHERE status = 'failed')
		  FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'cdp-maintenance'});
}
my ($ok, $failed) = (0, 0);
for (my $i = 0; $i < 180 && $ok == 0 && $failed == 0; $i++)
{
	($ok, $failed) = split / /, finished_runs();
	sleep 1 if $ok == 0 && $failed == 0;
}
is($failed, '0', 'the scheduled maintenance did not fail')
  or diag($node->safe_psql('postgres', q{SELECT string_agg(return_message, E'\n') FROM cron.job_run_details}));
cmp_ok($ok, '>=', 1, 'pg_cron ran the scheduled maintenance to the end');

is($node->safe_psql('postgres', $pairs_linked), '40', 'the job linked every pair of duplicates');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cdp_internal.match_queue'), '0', 'and emptied the matching queue');
is($node->safe_psql('postgres', $projections_differ_sql), '0',
	'the golden projections equal a replay of the log');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.patient WHERE family_name LIKE 'Соколова%'}), '40',
	'one golden profile per person');

$node->safe_psql('postgres', q{SELECT cron.unschedule('cdp-maintenance')});
$node->stop;
done_testing();
