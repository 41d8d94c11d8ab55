# test/t/055_access_erase_dump.pl: after cdp.erase_patient, a data-only pg_dump of the clinic holds
# none of the erased values (issue 15, item 6), and the values kept for the medical record are still
# there.  The patient is merged from two sources first, has a free-text field, a reviewer's note, a
# clinical event and matching keys, so every place a contact travels to is exercised.  Positive
# control: the same dump before the erasure holds every one of the values.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('access_erase');
$node->init;
$node->start;
$node->safe_psql('postgres', q{CREATE DATABASE clinic});
$node->safe_psql('clinic', q{
	CREATE EXTENSION cdp;
	SELECT count(*) FROM cdp.setup_roles();
	SELECT cdp.register_source('reception', 'internal', 80);
	SELECT cdp.register_source('lab', 'partner', 60);
	SELECT cdp.upsert_record('reception', 'r1', '{"family_name": "Смирнова", "given_name": "Ольга", "birth_date": "1975-06-07",
		"phone": "+7 (926) 555-12-34", "email": "Olga.Smirnova@example.ru", "telegram": "@olga_smirnova_75",
		"snils": "112-233-445 95", "note_from_desk": "звонить после 18:00 на 926 555-12-34"}');
	SELECT cdp.upsert_record('lab', 'L1', '{"fio": "Смирнова Ольга", "birth_date": "1975-06-07", "tel": "89265551234",
		"email": "olga.smirnova@example.ru"}');
	SELECT cdp.upsert_record('reception', 'r2', '{"family_name": "Кузнецов", "birth_date": "1960-01-01", "phone": "+7 903 111-22-33"}');
	SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'r1'),
	                        (SELECT record_id FROM cdp.record WHERE source_key = 'L1'), '{"by": "test"}');
	SELECT cdp.record_pair_decision((SELECT record_id FROM cdp.record WHERE source_key = 'r1'),
	                                (SELECT record_id FROM cdp.record WHERE source_key = 'L1'), 'match', 'та же Смирнова, olga.smirnova@example.ru');
	SELECT cdp.upsert_clinical_event('lab', 'd1', 'diagnosis', '{"record_source_id": "L1", "at": "2024-03-01", "code": "E11"}');
	SELECT cdp.run_matching('full');
});
my $g = $node->safe_psql('clinic', q{SELECT cdp.golden_id('reception', 'r1')});

my @erased = ('555-12-34', '5551234', 'smirnova@example', 'Smirnova@example', 'olga_smirnova_75', 'звонить после');
my @kept = ('Смирнова', '1975-06-07', 'E11', 'Кузнецов', '903');

sub dump_data
{
	my $file = $node->basedir . '/' . shift;
	$node->command_ok([ 'pg_dump', '--data-only', '--no-owner', '-d', $node->connstr('clinic'), '-f', $file ],
		"pg_dump --data-only ($file)");
	return slurp_file($file);
}

my $before = dump_data('before.sql');
for my $v (@erased)
{
	like($before, qr/\Q$v\E/, "before the erasure the dump holds \"$v\" (positive control)");
}

is($node->safe_psql('clinic', qq{SELECT cdp.erase_patient($g, 'request 2026-17') ->> 'records'}), '2',
	'erase_patient erases both source records of the patient');

my $after = dump_data('after.sql');
for my $v (@erased)
{
	unlike($after, qr/\Q$v\E/, "after the erasure the dump holds no \"$v\"");
}
for my $v (@kept)
{
	like($after, qr/\Q$v\E/, "after the erasure the dump still holds \"$v\" (medical record, or another patient)");
}
is($node->safe_psql('clinic', qq{SELECT count(*) FROM cdp.event WHERE kind = 'patient.erased' AND golden_id = $g}), '1',
	'the erasure is an event');
is($node->safe_psql('clinic', q{SELECT detail ->> 'records' FROM cdp.audit_log WHERE action = 'patient.erased' AND purpose = 'request 2026-17'}),
	'2', 'and an audit row with the reason');

# the log stays append-only after the erasure
my ($rc, $out, $err) = $node->psql('clinic', q{UPDATE cdp.event SET payload = '{}' WHERE event_id = 1});
like($err, qr/append-only/, 'the event log refuses changes again once the erasure committed');

# a whole dump restores the access family: the same pseudonym key, grants and policies
my $dumpfile = $node->basedir . '/clinic.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('clinic'), '-f', $dumpfile ], 'pg_dump -Fc of the clinic');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dumpfile ], 'pg_restore into a new database');
my $state = q{SELECT cdp.pseudonym(1) || ' ' || (SELECT count(*) FROM pg_policy WHERE polname LIKE 'acc\_%')
	|| ' ' || (SELECT count(*) FROM cdp_internal.acc_privilege) || ' ' || (SELECT count(*) FROM cdp_internal.acc_table)
	|| ' ' || has_function_privilege('cdp_registrar', 'cdp.patient_profile(bigint,text)', 'EXECUTE')};
is($node->safe_psql('restored', $state), $node->safe_psql('clinic', $state),
	'the restored clinic has the same pseudonyms, policies, matrix, registry and grants');

$node->stop;
done_testing();
