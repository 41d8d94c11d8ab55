# test/t/013_first_hour.pl: what a DBA meets in the first hour (issue 17).
#
# Item 4, operators without cdp on the search path: in a fresh session whose search path lacks cdp,
# the bare = on cdp types fails, OPERATOR(cdp.=) works; after ALTER DATABASE ... SET search_path
# = "$user", public, cdp (the README's install step) the bare operators work in new sessions.
#
# Item 6, what an update does to profiles folded by 0.2.0: contact flag "valid" becomes "confirmed"
# and e-mail values show the domain in Unicode, exactly what a refold gives.
#
# Item 3, cdp's settings (GUCs).
# With cdp in shared_preload_libraries (or session_preload_libraries), every cdp.* setting exists in
# a fresh session before any cdp function runs, a bad value given with ALTER DATABASE is refused at
# once with a clear error, a good one is honoured in the next session, and a bad value in
# postgresql.conf is named in the server log at start and the default is used.  Without preloading,
# the documented failure mode holds: the setting is unknown until cdp loads, a value set beforehand
# is taken when it loads, and a bad one is reported as a WARNING and replaced by the default.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $guc = 'cdp.name_similarity_threshold';

# ---- without preloading (what a plain CREATE EXTENSION gives)
my $plain = PostgreSQL::Test::Cluster->new('guc_plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE DATABASE clinic');
$plain->safe_psql('clinic', 'CREATE EXTENSION cdp');
my ($ret, $out, $err) = $plain->psql('clinic', "SHOW $guc");
isnt($ret, 0, 'not preloaded: the setting is unknown in a fresh session');
like($err, qr/unrecognized configuration parameter/, 'not preloaded: and the error says so');
is($plain->safe_psql('clinic', "SELECT cdp.library_version() IS NOT NULL; SHOW $guc"), "t\n0.55",
	'not preloaded: it exists once cdp is loaded (default 0.55)');
$plain->safe_psql('clinic', "ALTER DATABASE clinic SET $guc = 0.6");
is($plain->safe_psql('clinic', "SELECT cdp.name_similarity('a', 'b') IS NOT NULL; SHOW $guc"), "t\n0.6",
	'not preloaded: a value set with ALTER DATABASE is honoured when cdp loads');
$plain->safe_psql('clinic', "ALTER DATABASE clinic SET $guc = 7");
($ret, $out, $err) = $plain->psql('clinic', "SELECT cdp.library_version() IS NOT NULL; SHOW $guc");
is($out, "t\n0.55", 'not preloaded: a bad value is replaced by the default when cdp loads');
like($err, qr/WARNING:.*7 is outside the valid range for parameter "\Q$guc\E"/,
	'not preloaded: and the bad value is reported');
# session_preload_libraries per database: no restart, the same as preloading for new sessions
$plain->safe_psql('clinic', "ALTER DATABASE clinic RESET $guc");
$plain->safe_psql('clinic', "ALTER DATABASE clinic SET session_preload_libraries = 'cdp'");
is($plain->safe_psql('clinic', "SHOW $guc"), '0.55',
	'session_preload_libraries: the setting exists in a fresh session before any cdp call');
($ret, $out, $err) = $plain->psql('clinic', "ALTER DATABASE clinic SET $guc = 7");
like($err, qr/ERROR:  7 is outside the valid range for parameter "\Q$guc\E"/,
	'session_preload_libraries: ALTER DATABASE refuses an out-of-range value');
$plain->stop;

# ---- item 4: operators and the search path
$plain->start;
$plain->safe_psql('postgres', 'CREATE DATABASE ops');
$plain->safe_psql('ops', 'CREATE EXTENSION cdp');
my $eq = q{SELECT '8 (916) 123-45-67'::cdp.phone = '+7 916 1234567'::cdp.phone};
($ret, $out, $err) = $plain->psql('ops', $eq);
like($err, qr/operator does not exist: cdp\.phone = cdp\.phone/,
	'search path without cdp: the bare operator is not found');
is($plain->safe_psql('ops', q{SELECT '8 (916) 123-45-67'::cdp.phone OPERATOR(cdp.=) '+7 916 1234567'::cdp.phone,
	'8 916 123 45 67'::cdp.phone OPERATOR(cdp.=) '+79161234567', 'Maria@Mail.RU'::cdp.email OPERATOR(cdp.<>) 'maria@mail.ru'}),
	't|t|f', 'search path without cdp: OPERATOR(cdp.=) works (doc/types.md)');
$plain->safe_psql('ops', q{ALTER DATABASE ops SET search_path = "$user", public, cdp});
is($plain->safe_psql('ops', "$eq; SHOW search_path"), "t\n\"\$user\", public, cdp",
	'ALTER DATABASE ... SET search_path (README install step): the bare operator works in a new session');

# ---- item 6: profiles folded by 0.2.0 after ALTER EXTENSION UPDATE
$plain->safe_psql('postgres', 'CREATE DATABASE upd');
$plain->safe_psql('upd', q{
	CREATE EXTENSION cdp VERSION '0.2.0';
	SELECT cdp.register_source('a', 'internal', 50), cdp.register_source('b', 'internal', 50);
	SELECT cdp.upsert_record('a', '1', '{"fio": "Иванова Мария", "dob": "1985-03-12", "phone": "+79161234567", "email": "m@почта.рф"}');
	SELECT cdp.upsert_record('b', '2', '{"fio": "Петров Иван", "phone": "+79161234568", "email": "P@Mail.RU", "handles": {"telegram": "@petrov"}}');
	CREATE TABLE refold AS SELECT * FROM cdp.patient;
	-- what the 0.2.0 library wrote: "valid", and the domain in punycode
	UPDATE cdp.patient SET emails = replace(replace(emails::text, '"confirmed"', '"valid"'), 'почта.рф', 'xn--80a1acny.xn--p1ai')::jsonb,
	       phones = replace(phones::text, '"confirmed"', '"valid"')::jsonb, handles = replace(handles::text, '"confirmed"', '"valid"')::jsonb;
});
is($plain->safe_psql('upd', q{SELECT count(*) FROM cdp.patient WHERE emails::text LIKE '%"valid"%xn--%'}), '1',
	'update: a 0.2.0 profile has "valid" and a punycode domain');
$plain->safe_psql('upd', q{SELECT cdp.run_matching('full')});
is($plain->safe_psql('upd', q{SELECT count(*) FROM cdp_internal.match_key WHERE version = -1}), '0', 'update: keys are current before');
$plain->safe_psql('upd', q{ALTER EXTENSION cdp UPDATE TO '0.3.0'});
is($plain->safe_psql('upd', q{SELECT string_agg(r.source_key, ',') FROM cdp_internal.match_key k JOIN cdp.record r USING (record_id) WHERE k.version = -1}),
	'1', 'update: the matching keys of the record with an internationalised domain are marked stale');
$plain->safe_psql('upd', q{SELECT cdp.run_matching('full')});
is($plain->safe_psql('upd', q{SELECT count(*) FROM cdp_internal.match_key WHERE version = -1}), '0', 'update: and the next full run re-keys them');
is($plain->safe_psql('upd', q{SELECT (SELECT count(*) FROM (SELECT * FROM refold EXCEPT SELECT * FROM cdp.patient) x)
	+ (SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM refold) y)}), '0',
	'update: profiles equal what the 0.3.0 fold gives ("confirmed", Unicode domain)');
is($plain->safe_psql('upd', q{SELECT string_agg(x->>'value' || ' ' || (x->>'confirmed'), ', ' ORDER BY golden_id)
	FROM cdp.patient, jsonb_array_elements(emails) x}), 'm@почта.рф false, P@mail.ru false',
	'update: e-mails read in Unicode, flagged as not yet confirmed');
$plain->stop;

# ---- preloaded: shared_preload_libraries = 'cdp'
my $node = PostgreSQL::Test::Cluster->new('guc_preload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdp'");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE clinic');
$node->safe_psql('clinic', 'CREATE EXTENSION cdp');
is($node->safe_psql('clinic', "SHOW $guc"), '0.55',
	'preloaded: the setting exists in a fresh session before any cdp call');
($ret, $out, $err) = $node->psql('clinic', "ALTER DATABASE clinic SET $guc = 7");
isnt($ret, 0, 'preloaded: ALTER DATABASE refuses an out-of-range value');
like($err, qr/7 is outside the valid range for parameter "\Q$guc\E" \(0 \.\. 1\)/,
	'preloaded: with an error naming the setting and its range');
($ret, $out, $err) = $node->psql('clinic', "ALTER DATABASE clinic SET $guc = 'high'");
like($err, qr/invalid value for parameter "\Q$guc\E": "high"/, 'preloaded: a non-number is refused');
($ret, $out, $err) = $node->psql('clinic', "ALTER DATABASE clinic SET cdp.name_similarity_treshold = 0.5");
like($err, qr/invalid configuration parameter name "cdp.name_similarity_treshold"/,
	'preloaded: a misspelt cdp setting is refused (the cdp. prefix is reserved)');
$node->safe_psql('clinic', "ALTER DATABASE clinic SET $guc = 0.45");
is($node->safe_psql('clinic', "SHOW $guc"), '0.45', 'preloaded: ALTER DATABASE value honoured in a new session');
is($node->safe_psql('clinic', "SELECT 'Ivanova' OPERATOR(cdp.%) 'Ivanov'"),
	$node->safe_psql('clinic', "SELECT cdp.name_similarity('Ivanova', 'Ivanov') >= 0.45"),
	'preloaded: the % operator uses the database value');

# postgresql.conf: a good value is honoured; a bad one is reported in the server log when the
# server starts (as for any extension's setting) and the default is used
$node->append_conf('postgresql.conf', "$guc = 0.7");
$node->restart;
$node->safe_psql('clinic', "ALTER DATABASE clinic RESET $guc");
is($node->safe_psql('clinic', "SHOW $guc"), '0.7', 'preloaded: postgresql.conf value honoured');
$node->append_conf('postgresql.conf', "$guc = 1.5");
$node->restart;
like(slurp_file($node->logfile), qr/WARNING:  1\.5 is outside the valid range for parameter "\Q$guc\E"/,
	'preloaded: a bad postgresql.conf value is named in the server log');
is($node->safe_psql('clinic', "SHOW $guc"), '0.55', 'preloaded: and the default is used');
$node->stop;
done_testing();
