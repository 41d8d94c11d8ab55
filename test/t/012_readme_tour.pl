# test/t/012_readme_tour.pl: the README's five-minute tour tells the truth (issue 17, items 1, 4, 6, 7).
#
# The ```sql block under "## A five-minute tour" is read from README.md, cut into statements (a
# statement ends with a line whose code ends in ";"), and run statement by statement in one psql
# session in a fresh database, as a reader pastes it.  Every statement must run without error, and
# the statements whose comments promise a result are checked against that promise: the untrained
# engine links the two records that share phone, name and birth date, and sends the twin's pairs
# to a person; review_decide empties the queue; unmerge returns the new golden id; a lenient bulk
# load keeps the bad e-mail aside and the per-source query lists it; e-mails read in Unicode; the
# profile says "confirmed", not "valid".  Then the README's install step for the search path is
# taken verbatim and checked in a new session, and explain_match's prior is rounded for people.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename;

my $readme = slurp_file(dirname(__FILE__) . '/../../README.md');
my ($tour) = $readme =~ /^## A five-minute tour\n.*?^```sql\n(.*?)^```$/ms;
ok(defined $tour, 'README.md has the tour as an sql block');
$tour //= '';

# statements: a line whose code (before a trailing -- comment) ends with ";" closes one
my (@stmts, $cur);
for my $line (split /\n/, $tour)
{
	next if !defined $cur && $line =~ /^\s*(--.*)?$/;
	$cur = defined $cur ? "$cur\n$line" : $line;
	if ($line =~ /;\s*(--.*)?$/)
	{
		push @stmts, $cur;
		undef $cur;
	}
}
is($cur, undef, 'the tour ends with a complete statement');
cmp_ok(scalar @stmts, '>=', 25, 'the tour has its statements (' . scalar(@stmts) . ')');

my $node = PostgreSQL::Test::Cluster->new('tour');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE clinic');

# one session, a marker before each statement, so each result can be told apart
my $script = "\\set ON_ERROR_STOP 1\n";
for my $i (0 .. $#stmts)
{
	$script .= "\\echo \@\@stmt $i\n$stmts[$i]\n";
}
my ($stdout, $stderr) = ('', '');
my $ok = IPC::Run::run([ $node->installed_command('psql'), '-X', '-A', '-t', '-q', '-d', $node->connstr('clinic') ],
	'<', \$script, '>', \$stdout, '2>', \$stderr);
ok($ok, 'every statement of the tour runs without error') or diag($stderr);
is($stderr, '', 'and prints no warning');
my %out;
my $at;
for my $line (split /\n/, $stdout)
{
	if ($line =~ /^\@\@stmt (\d+)$/) { $at = $1; $out{$at} = []; next; }
	push @{ $out{$at} }, $line if defined $at;
}
is(scalar keys %out, scalar @stmts, 'every statement was reached');

# the result of the one statement whose text matches $re (and its index)
sub result_of
{
	my ($re) = @_;
	my @hits = grep { $stmts[$_] =~ $re } 0 .. $#stmts;
	if (@hits != 1)
	{
		fail("exactly one tour statement matches $re (found " . scalar(@hits) . ')');
		return (undef, -1);
	}
	return (join("\n", @{ $out{ $hits[0] } // [] }), $hits[0]);
}

my ($r, $i);
($r) = result_of(qr/'Maria\@Почта\.РФ'::cdp\.email/);
is($r, '+79161234567|mobile|Maria@почта.рф|112-233-445 95', 'identifier types: canonical, e-mail domain in Unicode');
($r) = result_of(qr/::cdp\.phone = '\+7 916 1234567'::cdp\.phone/);
is($r, 't', 'the = operator on phones (cdp on the search path, as the tour explains)');
($r) = result_of(qr/try_snils/);
is($r, '', 'try_snils: NULL for wrong check digits');
($r) = result_of(qr/cdp\.name_key\('Иванова Юлия'\)/);
is($r, 'ivanova iulia|ivanova iulia|ivanova iulia', 'one name key for every spelling');
($r) = result_of(qr/upsert_record\('reception', 'R-1'/);
is($r, '1', 'R-1 is record 1');
($r) = result_of(qr/upsert_record\('lab', 'L-77'/);
is($r, '2', 'L-77 is record 2');
($r) = result_of(qr/upsert_records\('call_centre'/);
is($r, "C-5|3|created\nC-6|4|created", 'the lenient bulk load creates both records, the dirty one too');
($r) = result_of(qr/extra -> '_invalid'/);
is($r, 'call_centre|email|1', 'what the lenient load set aside, per source and field');
my ($setaside) = $tour =~ /^(SELECT s\.name AS source, f\.field.*?;)/ms;
ok(defined $setaside && index(slurp_file(dirname(__FILE__) . '/../../doc/ingest.md'), $setaside) >= 0,
	'doc/ingest.md shows the same set-aside query as the tour');
is($node->safe_psql('clinic', q{SELECT extra #>> '{_invalid,email,value}' FROM cdp.record WHERE source_key = 'C-6'}),
	'ivan@@mail.ru', 'the bad e-mail is kept as received in extra._invalid');
($r) = result_of(qr/cdp\.run_matching\('full'\)/);
is($r, '1|1', 'untrained matching: one pair linked (shared phone, name, birth date), one pair of persons queued');
($r) = result_of(qr/FROM cdp\.explain_match\(1, 2\)/);
my @lines = split /\n/, $r // '';
is(scalar @lines, 15, 'explain_match: the prior, one row per compared attr, the summary');
like($lines[0] // '', qr/^\(prior\)\|\|\|априорная вероятность 0\.01 %\|/, 'explain_match: the prior, rounded');
like($lines[-1] // '', qr/^\(итог\)\|\|\|совпали: дата рождения, телефон;.*совпал идентификатор \(правило\)\|\|0\.979$/,
	'explain_match: linked by the identifier rule, probability 0.979');
($r) = result_of(qr/summary FROM cdp\.review_queue ORDER BY pair_id;/);
@lines = split /\n/, $r // '';
is(scalar @lines, 1, 'the review queue holds one entry for the twin and Maria (one per pair of persons)');
like(join(',', map { (split /\|/)[1] . '-' . (split /\|/)[2] } @lines), qr/^[12]-3$/, 'the entry stands for record 3 against Maria\'s records');
like($r, qr/не совпали: имя; правило: разные идентификаторы, имя или дата рождения/,
	'the summary says the given name differs and a rule held the pair back');
($r) = result_of(qr/review_decide\(pair_id, 'no_match'/);
is($r, '', 'review_decide decides the entry (a no_match links nothing: one NULL)');
is($node->safe_psql('clinic', 'SELECT count(*) FROM cdp.review_queue'), '0', 'and the queue is empty');
($r) = result_of(qr/AS same_person/);
is($r, 't|f', 'R-1 and L-77 are one person; the twin is not');
($r) = result_of(qr/FROM cdp\.patient ORDER BY golden_id/);
@lines = split /\n/, $r // '';
is(scalar @lines, 3, 'three golden records: Maria (2 records), Anna, Ivan');
like($lines[0] // '', qr/"value": "Maria\@mail\.ru", "sources": \[1\], "confirmed": false/,
	'a single-source e-mail is "confirmed": false');
unlike($r, qr/"valid"/, 'no "valid" flag in the profile');
my $u;
($u, $i) = result_of(qr/cdp\.unmerge\(2,/);
like($u, qr/^\d+$/, 'unmerge returns an id');
is($out{ $i + 1 } ? join("\n", @{ $out{ $i + 1 } }) : undef, $u, 'the statement after unmerge shows L-77 in the golden record unmerge returned');
like($stmts[ $i + 1 ], qr/golden_id\('lab', 'L-77'\)/, 'that statement asks for L-77\'s golden id');
($r) = result_of(qr/name % 'ИВАНОВА МАРИЯ'/);
is($r, "Ivanova Mariia\nИванова Мария Петровна", 'fuzzy lookup finds both spellings');

# item 4: the tour's one SET is explained right above it
like($tour, qr/search path[^\n]*\n(--[^\n]*\n)*SET search_path = "\$user", public, cdp;/,
	'the tour explains its SET search_path');
# the README's install step, verbatim, works for new sessions
my ($alter) = $readme =~ /^(ALTER DATABASE clinic SET search_path = [^;]+;)/m;
ok(defined $alter, 'the install steps show ALTER DATABASE ... SET search_path');
$node->safe_psql('clinic', $alter // 'SELECT 1');
is($node->safe_psql('clinic', q{SELECT '8 (916) 123-45-67'::cdp.phone = '+7 916 1234567'::cdp.phone}), 't',
	'after the install step a new session finds the operators without SET');

# item 2: a prior that is not round is shown rounded (the weight column keeps full precision)
$node->safe_psql('clinic', q{SELECT cdp.configure_matching(cdp.matching_settings() - 'version' - 'trained'
	|| '{"lambda": 0.0004137797416039673}')});
is($node->safe_psql('clinic', q{SELECT level FROM cdp.explain_match(1, 2) WHERE attr = '(prior)'}),
	'априорная вероятность 0.041 %', 'explain_match shows the prior rounded for people (percent)');
like($node->safe_psql('clinic', q{SELECT weight FROM cdp.explain_match(1, 2) WHERE attr = '(prior)'}),
	qr/^-11\.2\d{6,}/, 'and its weight column keeps full precision');
$node->stop;
done_testing();
