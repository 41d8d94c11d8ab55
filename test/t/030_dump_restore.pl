# test/t/030_dump_restore.pl: a clinic's cdp data survives pg_dump and pg_restore (custom format)
# and a plain SQL dump replayed by psql.  Builds a small clinic with every kind of state (records,
# clinical events, links and an unmerge, a no-match decision, an archived person, new matching
# settings trained, survivorship rules, the review queue, the maintenance checkpoint), dumps it,
# restores it into new databases and checks that every table of the extension holds the same
# rows, every sequence goes on from the same value, and the restored clinic keeps working.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CdpTest;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->start;
my $bindir = $node->config_data('--bindir');

$node->safe_psql('postgres', 'CREATE DATABASE clinic');
$node->safe_psql('clinic', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('reception', 'internal', 80);
	SELECT cdp.register_source('lab', 'internal', 60);
	-- 300 persons, each at reception and (two in three) at the lab with a variant of the name
	SELECT count(cdp.upsert_record('reception', 'r' || i, jsonb_build_object(
		'family_name', 'Иванова' || i, 'given_name', 'Мария', 'patronymic', 'Петровна',
		'birth_date', (date '1960-01-01' + i * 37)::text, 'sex', 'F',
		'phones', jsonb_build_array('+7916' || lpad((1000000 + i)::text, 7, '0')))))
	  FROM generate_series(1, 300) i;
	SELECT count(cdp.upsert_record('lab', 'l' || i, jsonb_build_object(
		'full_name', 'ИВАНОВА' || i || ' М.П.', 'birth_date', (date '1960-01-01' + i * 37)::text,
		'phones', jsonb_build_array('8 (916) ' || lpad((1000000 + i)::text, 7, '0')))))
	  FROM generate_series(1, 300) i WHERE i % 3 <> 0;
	SELECT cdp.upsert_clinical_event('reception', 'v' || i, 'visit', jsonb_build_object(
		'record_source_id', 'r' || i, 'at', '2024-02-01T10:00:00+03:00', 'status', 'done',
		'type', 'first', 'doctor', 'Сидоров', 'specialty', 'терапевт'))
	  FROM generate_series(1, 50) i;
});
# new settings (version 2), trained, then a full run: links and a review queue
$node->safe_psql('clinic', q{
	SELECT cdp.configure_matching((SELECT settings FROM cdp_internal.match_settings WHERE active) || '{"review_threshold": 0.2}');
	SELECT cdp.train_matching();
	SELECT cdp.run_matching('full');
});
$node->safe_psql('clinic', q{
	-- a manual link, then one record taken out again
	SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'r3'),
	                        (SELECT record_id FROM cdp.record WHERE source_key = 'r6'), '{"by": "test"}');
	SELECT cdp.unmerge((SELECT record_id FROM cdp.record WHERE source_key = 'r6'), 'not the same woman');
	SELECT cdp.record_pair_decision((SELECT record_id FROM cdp.record WHERE source_key = 'r9'),
	                                (SELECT record_id FROM cdp.record WHERE source_key = 'r12'), 'no_match', 'sisters');
	SELECT count(*) FROM cdp.archive_patients(ARRAY[(SELECT golden_id FROM cdp.record WHERE source_key = 'r15')],
	                                          'moved away', false);
	CALL cdp.run_maintenance(5);
});

my $links = $node->safe_psql('clinic', q{SELECT count(*) FROM cdp.patient_redirect});
cmp_ok($links, '>', 100, "the clinic has merges to keep ($links)");
is($node->safe_psql('clinic', q{SELECT count(*) FROM cdp_internal.match_settings}), '2',
	'two settings versions, the installed one and a trained one');

# Every table and sequence the extension marks for dumping, as one line each: name, row count and
# an md5 of the rows in a fixed order (sequences: last value and whether it was called).
sub dumped_state
{
	my ($db) = @_;
	my @lines;
	for my $rel (split /\n/, $node->safe_psql($db, q{
		SELECT c.oid::regclass::text || ' ' || c.relkind::text FROM pg_extension e CROSS JOIN LATERAL unnest(e.extconfig) t(oid)
		  JOIN pg_class c ON c.oid = t.oid WHERE e.extname = 'cdp' ORDER BY c.relname}))
	{
		my ($name, $kind) = split / /, $rel;
		my $q = $kind eq 'S'
		  ? "SELECT last_value || ' ' || is_called FROM $name"
		  : "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM $name x";
		push @lines, "$name " . $node->safe_psql($db, $q);
	}
	return join("\n", @lines);
}
my $before = dumped_state('clinic');
my @tables = split /\n/, $before;
cmp_ok(scalar(@tables), '>=', 25, 'the extension marks its tables and sequences for pg_dump');
unlike($before, qr/^cdp_internal.match_part /m, 'match_part (fixed rows the install creates) is not dumped');
like($before, qr/^cdp.record 500 /m, 'the 500 records are among what is dumped');

my $dumpfile = $node->basedir . '/clinic.dump';
command_ok([ "$bindir/pg_dump", '-Fc', '-d', $node->connstr('clinic'), '-f', $dumpfile ],
	'pg_dump -Fc of the clinic');

# custom format: pg_restore stops at the first error
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok([ "$bindir/pg_restore", '--exit-on-error', '-d', $node->connstr('restored'), $dumpfile ],
	'pg_restore --exit-on-error into a new database');
my $after = dumped_state('restored');
is($after, $before, 'every dumped table and sequence is restored as it was');

# plain format replayed by psql, stopping at the first error
my $sqlfile = $node->basedir . '/clinic.sql';
command_ok([ "$bindir/pg_dump", '-d', $node->connstr('clinic'), '-f', $sqlfile ], 'pg_dump, plain SQL');
$node->safe_psql('postgres', 'CREATE DATABASE replayed');
command_ok([ "$bindir/psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('replayed'), '-f', $sqlfile ],
	'the plain dump replays without an error');
is(dumped_state('replayed'), $before, 'and gives the same tables and sequences');

# the installed settings row was replaced by the dumped one, and exactly one version is active
is($node->safe_psql('restored', q{
	SELECT string_agg(format('%s:%s:%s', version, active, params IS NOT NULL), ',' ORDER BY version) FROM cdp_internal.match_settings}),
	$node->safe_psql('clinic', q{
	SELECT string_agg(format('%s:%s:%s', version, active, params IS NOT NULL), ',' ORDER BY version) FROM cdp_internal.match_settings}),
	'settings versions, the active one and the trained parameters come from the dump');

# the restored clinic keeps working: the projections equal a replay of the log (CdpTest), new ids do not collide,
# matching and maintenance run
is($node->safe_psql('restored', $projections_differ_sql), '0', 'restored: the live profiles equal a replay of the log');
my ($max_rec, $max_ev, $max_g) = split /\|/, $node->safe_psql('restored',
	q{SELECT (SELECT max(record_id) FROM cdp.record), (SELECT max(event_id) FROM cdp.event),
	         (SELECT max(golden_id) FROM cdp.record)});
my $rec = $node->safe_psql('restored', q{
	SELECT cdp.upsert_record('reception', 'new-1', '{"family_name": "Петров", "given_name": "Олег", "birth_date": "1990-05-05"}')});
my $g = $node->safe_psql('restored', "SELECT golden_id FROM cdp.record WHERE record_id = $rec");
cmp_ok($rec, '>', $max_rec, 'a new record gets an id after the restored ones');
cmp_ok($g, '>', $max_g, 'and a new golden id after the restored ones');
cmp_ok($node->safe_psql('restored', q{SELECT max(event_id) FROM cdp.event}), '>', $max_ev,
	'and its events go on after the restored log');
$node->safe_psql('restored', q{
	SELECT cdp.upsert_record('lab', 'new-2', '{"full_name": "ПЕТРОВ О.", "birth_date": "1990-05-05"}');
	SELECT cdp.run_matching('incremental');
	CALL cdp.run_maintenance(5);
});
is($node->safe_psql('restored', q{
	SELECT count(DISTINCT golden_id) FROM cdp.record WHERE source_key IN ('new-1', 'new-2')}), '1',
	'matching links a new pair in the restored clinic');
is($node->safe_psql('restored', $projections_differ_sql), '0', 'and the profiles still equal a replay of the log');
is($node->safe_psql('restored', q{SELECT count(*) FROM cdp_internal.match_settings WHERE active}), '1',
	'one active settings version');

$node->stop;
done_testing();
