# test/t/053_replica_triggers.pl: session_replication_role = replica does not switch off the
# extension's triggers.
#
# An ordinary (ENABLE ORIGIN) trigger does not fire in a session with session_replication_role =
# replica, a setting a superuser has and PostgreSQL 15 lets a superuser grant (GRANT SET ON
# PARAMETER).  So the owner of cdp.event could delete and rewrite events of the append-only log
# without a trace.  Every trigger of the extension is now ENABLE ALWAYS (test/sql/00_install.sql
# lists any that is not): the append-only log's, and the restore triggers, so a dumped row
# copied in under replica (a logical-replication apply, a load with triggers "off") still
# replaces the installed one instead of colliding with it.  See doc/security.md.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('replica_triggers');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('reception', 'internal', 80);
	SELECT cdp.upsert_record('reception', 'r1', '{"family_name": "Иванова", "given_name": "Мария"}');
});
my $events = $node->safe_psql('postgres', q{SELECT count(*) || ' ' || md5(string_agg(e::text, '|' ORDER BY event_id)) FROM cdp.event e});
is($node->safe_psql('postgres', q{SELECT pg_get_userbyid(relowner) = current_user FROM pg_class WHERE oid = 'cdp.event'::regclass}),
	't', 'this session is the owner of cdp.event');

# the owner of the log, in replica mode
for my $stmt (q{UPDATE cdp.event SET payload = '{"rewritten": true}'},
	q{DELETE FROM cdp.event},
	q{TRUNCATE cdp.event})
{
	my ($ret, $out, $err) = $node->psql('postgres', "SET session_replication_role = replica; $stmt");
	isnt($ret, 0, "replica mode: $stmt fails");
	like($err, qr/ERROR:  cdp.event is append-only/, 'with the append-only error');
}

# a role that was granted the parameter and the table privileges fares no better
$node->safe_psql('postgres', q{
	CREATE ROLE loader;
	GRANT SET ON PARAMETER session_replication_role TO loader;
	GRANT USAGE ON SCHEMA cdp TO loader;
	GRANT SELECT, UPDATE, DELETE ON cdp.event TO loader;
	CREATE POLICY loader_all ON cdp.event TO loader USING (true);
});
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE loader; SET session_replication_role = replica; DELETE FROM cdp.event});
like($err, qr/ERROR:  cdp.event is append-only/, 'replica mode: a role granted DELETE still cannot delete an event');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || md5(string_agg(e::text, '|' ORDER BY event_id)) FROM cdp.event e}),
	$events, 'the log is as it was');

# the restore trigger also fires in replica mode: a dumped settings row replaces the installed one
($ret, $out, $err) = $node->psql('postgres', q{
	SET session_replication_role = replica;
	INSERT INTO cdp_internal.match_settings SELECT * FROM cdp_internal.match_settings WHERE version = 1;
});
is($err, '', 'replica mode: copying in a settings row with the installed key raises no error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp_internal.match_settings WHERE version = 1}), '1',
	'replica mode: a copied-in settings row replaces the installed one');

$node->stop;
done_testing();
