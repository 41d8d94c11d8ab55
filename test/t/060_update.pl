# test/t/060_update.pl: ALTER EXTENSION cdp UPDATE keeps a clinic's data and gives exactly the
# extension a fresh CREATE EXTENSION gives (doc/upgrading.md).
#
# The versions come from the installed extension directory (pg_available_extension_versions).
# Every version older than the default must reach it by update scripts; released install scripts
# are frozen, so every change of the SQL surface ships sql/cdp--A--B.sql, and a missing one fails
# here, as does a C symbol that an installed script names and the library lacks.
#
# The walk: in one database, CREATE EXTENSION cdp VERSION '<oldest>' and a small clinic through
# that version's API (three sources, twins matching sends to review, a full run with trained
# settings, a link and an unmerge, a pair decision and a review decision, related people, clinical
# events, survivorship rules, an archived patient); then, for each consecutive pair of versions up
# to the default, one update script at a time:
#   a fingerprint of the data; ALTER EXTENSION cdp UPDATE TO 'next'; the fingerprint again: equal;
#   the API of 'next' works (and adds records through it); the catalog description
#   (test/sql_lib/catalog_description.sql) equals that of a fresh CREATE EXTENSION cdp VERSION
#   'next' in another database; a mismatch prints a unified diff (bounded) and leaves both
#   descriptions in the test's data directory.
# The jump: when the chain has more than one step, the same from the oldest version to the default
# in one ALTER EXTENSION, as a DBA who skipped releases runs it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use File::Spec;

my $description_sql = slurp_file(File::Spec->catfile($FindBin::Bin, '..', 'sql_lib', 'catalog_description.sql'));
my $diff_lines_max = 150;

# How a version's API is used to fill a clinic; the entry for the greatest version not above the one
# installed applies.  A release that changes a signature used here adds an entry for itself.
my %fill_sql = (
	'0.1.0' => [
		q{
		SELECT cdp.register_source('reception', 'internal', 80);
		SELECT cdp.register_source('lab', 'internal', 60);
		SELECT cdp.register_source('call_centre', 'internal', 30);
		-- 200 persons at reception, two in three at the lab with a variant of the name, every fourth
		-- called the call centre (about 400 records)
		SELECT count(cdp.upsert_record('reception', 'r' || i, jsonb_build_object(
			'family_name', (ARRAY['Иванова', 'Смирнова', 'Кузнецова', 'Попова', 'Соколова'])[1 + i % 5] || i,
			'given_name', (ARRAY['Мария', 'Анна', 'Елена', 'Ольга'])[1 + i % 4], 'patronymic', 'Петровна',
			'birth_date', (date '1960-01-01' + i * 37)::text, 'sex', 'F',
			'phones', jsonb_build_array('+7916' || lpad((1000000 + i)::text, 7, '0')))))
		  FROM generate_series(1, 200) i;
		SELECT count(*) FROM cdp.upsert_records('lab',
			ARRAY(SELECT 'l' || i FROM generate_series(1, 200) i WHERE i % 3 <> 0 ORDER BY i),
			ARRAY(SELECT jsonb_build_object(
				'full_name', upper((ARRAY['Иванова', 'Смирнова', 'Кузнецова', 'Попова', 'Соколова'])[1 + i % 5] || i)
				             || ' ' || left((ARRAY['Мария', 'Анна', 'Елена', 'Ольга'])[1 + i % 4], 1) || '.П.',
				'birth_date', (date '1960-01-01' + i * 37)::text,
				'phones', jsonb_build_array('8 (916) ' || lpad((1000000 + i)::text, 7, '0')))
			      FROM generate_series(1, 200) i WHERE i % 3 <> 0 ORDER BY i));
		SELECT count(cdp.upsert_record('call_centre', 'c' || i, jsonb_build_object(
			'full_name', (ARRAY['Мария', 'Анна', 'Елена', 'Ольга'])[1 + i % 4] || ' '
			             || (ARRAY['Иванова', 'Смирнова', 'Кузнецова', 'Попова', 'Соколова'])[1 + i % 5] || i,
			'phones', jsonb_build_array('89' || lpad((161000000 + i)::text, 9, '0')))))
		  FROM generate_series(4, 200, 4) i;
		-- twin sisters of every tenth: same surname, patronymic, birth date and family phone, another
		-- given name; matching must not link them but queue them for review
		SELECT count(cdp.upsert_record('reception', 't' || i, jsonb_build_object(
			'family_name', (ARRAY['Иванова', 'Смирнова', 'Кузнецова', 'Попова', 'Соколова'])[1 + i % 5] || i,
			'given_name', (ARRAY['Мария', 'Анна', 'Елена', 'Ольга'])[1 + (i + 1) % 4], 'patronymic', 'Петровна',
			'birth_date', (date '1960-01-01' + i * 37)::text, 'sex', 'F',
			'phones', jsonb_build_array('+7916' || lpad((1000000 + i)::text, 7, '0')))))
		  FROM generate_series(7, 200, 10) i;
		SELECT count(cdp.upsert_clinical_event('reception', 'v' || i, 'visit', jsonb_build_object(
			'record_source_id', 'r' || i, 'at', '2024-02-01T10:00:00+03:00', 'status', 'done',
			'type', 'first', 'doctor', 'Сидоров', 'specialty', 'терапевт')))
		  FROM generate_series(1, 30) i;
		},
		q{
		SELECT cdp.configure_matching((SELECT settings FROM cdp.match_settings WHERE active) || '{"review_threshold": 0.2}');
		SELECT cdp.train_matching();
		SELECT cdp.run_matching('full');
		},
		q{
		SELECT cdp.link_records((SELECT record_id FROM cdp.record WHERE source_key = 'r3'),
		                        (SELECT record_id FROM cdp.record WHERE source_key = 'r6'), '{"by": "060_update"}');
		SELECT cdp.unmerge((SELECT record_id FROM cdp.record WHERE source_key = 'r6'), 'not the same woman');
		SELECT cdp.record_pair_decision((SELECT record_id FROM cdp.record WHERE source_key = 'r9'),
		                                (SELECT record_id FROM cdp.record WHERE source_key = 'r12'), 'no_match', 'sisters');
		SELECT count(cdp.review_decide(pair_id, 'no_match', 'twins'))
		  FROM (SELECT pair_id FROM cdp.match_review WHERE status = 'open' ORDER BY pair_id LIMIT 1) q;
		SELECT cdp.relate_records((SELECT record_id FROM cdp.record WHERE source_key = 'r17'),
		                          (SELECT record_id FROM cdp.record WHERE source_key = 't17'), 'twin');
		SELECT cdp.configure_survivorship('{"city": ["recent"]}');
		SELECT count(*) FROM cdp.archive_patients(ARRAY[cdp.golden_id('reception', 'r15')], 'moved away', false);
		CALL cdp.run_maintenance(5);
		},
	],
);

# After each update: the API of the version updated to still works.  The last line each entry prints
# must read 'ok'.  %STEP% is the number of the update in the walk (1-9), so that each step adds
# another person.
my %smoke_sql = (
	'0.1.0' => q{
		SELECT cdp.upsert_record('reception', 'new-1-%STEP%', '{"family_name": "Петров%STEP%", "given_name": "Олег",
			"patronymic": "Игоревич", "birth_date": "19%STEP%5-0%STEP%-2%STEP%", "phones": ["+7916111223%STEP%"]}');
		SELECT cdp.upsert_record('lab', 'new-2-%STEP%', '{"full_name": "ПЕТРОВ%STEP% О.И.", "birth_date": "19%STEP%5-0%STEP%-2%STEP%",
			"phones": ["8 916 111-22-3%STEP%"]}');
		SELECT cdp.upsert_clinical_event('reception', 'v-new-%STEP%', 'visit', '{"record_source_id": "new-1-%STEP%",
			"at": "2024-03-01T10:00:00+03:00", "status": "done", "type": "first"}');
		SELECT cdp.run_matching('incremental');
		CALL cdp.run_maintenance(5);
		SELECT CASE
			WHEN cdp.golden_id('reception', 'new-1-%STEP%') IS DISTINCT FROM cdp.golden_id('lab', 'new-2-%STEP%')
				THEN 'the new pair was not linked'
			WHEN cdp.golden_id('reception', 'new-1-%STEP%') IS DISTINCT FROM
			     (SELECT f.golden_id FROM cdp.find_patient('{"family_name": "Петров%STEP%", "given_name": "Олег",
			         "birth_date": "19%STEP%5-0%STEP%-2%STEP%"}') f ORDER BY f.probability DESC LIMIT 1)
				THEN 'find_patient does not find the new patient'
			WHEN NOT EXISTS (SELECT 1 FROM cdp.patient_history(cdp.golden_id('reception', 'new-1-%STEP%')))
				THEN 'the new patient has no history'
			WHEN cdp.resolve_patient(cdp.golden_id('reception', 'r6')) IS NULL
				THEN 'an old patient does not resolve'
			ELSE 'ok' END;
	},
);

# Tables whose rows an update transforms on purpose, by "from to" and table name, with the reason:
# their fingerprints are not compared for that update (the smoke entry should check the result).
my %transformed = (
	# '0.2.0 0.3.0' => { match_settings => 'settings documents gain the "x" key' },
);

# version strings compare by their numeric parts
sub version_cmp
{
	my ($v1, $v2) = @_;
	my @p1 = split /[.]/, $v1;
	my @p2 = split /[.]/, $v2;
	while (@p1 || @p2)
	{
		my ($x, $y) = (shift(@p1) // 0, shift(@p2) // 0);
		my $c = ($x =~ /^\d+$/ && $y =~ /^\d+$/) ? $x <=> $y : $x cmp $y;
		return $c if $c;
	}
	return 0;
}

# the entry of a version-keyed hash for a version: the greatest key not above it
sub for_version
{
	my ($h, $v) = @_;
	my ($k) = sort { version_cmp($b, $a) } grep { version_cmp($_, $v) <= 0 } keys %$h;
	die "no entry for version $v" unless defined $k;
	return $h->{$k};
}

my $node = PostgreSQL::Test::Cluster->new('update');
$node->init;
$node->start;

my $sharedir = $node->config_data('--sharedir');
my $default = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'cdp'});
my @versions = sort { version_cmp($a, $b) } split /\n/, $node->safe_psql('postgres',
	q{SELECT version FROM pg_available_extension_versions WHERE name = 'cdp'});
my @chain = grep { version_cmp($_, $default) <= 0 } @versions;
my $oldest = $chain[0];
note "versions: @versions; default $default; oldest $oldest";
ok(scalar(@chain) >= 2, "there is a version older than the default $default to update from (versions: @versions)");

# 1. every C symbol an installed script names exists in the library
my @scripts = sort glob("$sharedir/extension/cdp--*.sql");
my %symbols;
for my $script (@scripts)
{
	my $text = slurp_file($script);
	(my $base = $script) =~ s{.*/}{};
	$symbols{$1}{$base} = 1 while $text =~ /AS\s+'(?:MODULE_PATHNAME|\$libdir\/cdp)'\s*,\s*'(\w+)'/g;
}
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.cdp_missing_symbols(symbols text[]) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE
		s text;
		missing text[] := '{}';
	BEGIN
		FOREACH s IN ARRAY symbols LOOP
			BEGIN
				EXECUTE format('CREATE FUNCTION pg_temp.cdp_symbol_probe() RETURNS void AS %L, %L LANGUAGE c',
				               '$libdir/cdp', s);
				DROP FUNCTION pg_temp.cdp_symbol_probe();
			EXCEPTION WHEN OTHERS THEN
				missing := missing || s;
			END;
		END LOOP;
		RETURN array_to_string(missing, ' ');
	END $$});
my $missing = $node->safe_psql('postgres',
	"SELECT public.cdp_missing_symbols(ARRAY[" . join(',', map { "'$_'" } sort keys %symbols) . "]::text[])");
is($missing, '', 'every C symbol named by an installed script is in the library (' . scalar(keys %symbols) . ' symbols)')
  or diag("missing from cdp.so: "
	  . join('; ', map { "$_ (named by " . join(', ', sort keys %{ $symbols{$_} }) . ")" } split / /, $missing)
	  . "\nreleased scripts are frozen: the library must keep every entry point they name (doc/upgrading.md)");

# 2. every older version reaches the default by update scripts
my %path;
for my $row (split /\n/, $node->safe_psql('postgres',
	q{SELECT source || ' ' || target || ' ' || coalesce(path, '-') FROM pg_extension_update_paths('cdp')}))
{
	my ($s, $t, $p) = split / /, $row, 3;
	$path{"$s $t"} = $p;
}
for my $v (@chain[0 .. $#chain - 1])
{
	my $p = $path{"$v $default"} // '-';
	isnt($p, '-', "an update path leads from $v to the default $default")
	  or diag("no update path from $v to $default: every change of the SQL surface ships an update script "
		  . "(sql/cdp--$v--$default.sql, or a chain of them); released install scripts are frozen. "
		  . "Scripts installed: " . join(' ', map { s{.*/}{}r } @scripts));
}

# 3. the walk through every update script, then the jump over all of them
my %fresh;    # catalog description of a fresh install, by version
walk('walk', @chain) if @chain >= 2;
walk('jump', $oldest, $default) if @chain > 2;

# psql that returns (ok, stdout, stderr) instead of dying
sub try_psql
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, on_error_stop => 1);
	return ($ret == 0, $out, $err);
}

# The data of every table and sequence of the extension, by relation name (tables may change schema
# in an update): table -> columns, key columns, and "count md5" of the rows in key order;
# sequence -> last value and is_called.  With $columns (from an earlier call) the same columns are
# read, so a column an update adds does not count as a change; a column it drops does.
sub fingerprint
{
	my ($db, $columns) = @_;
	my %fp;
	my %seen;
	for my $row (split /\n/, $node->safe_psql($db, q{
		SELECT c.relname, c.oid::regclass, c.relkind,
		       (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum) FROM pg_attribute a
		         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
		       coalesce((SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.n)
		                   FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
		                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
		                  WHERE i.indrelid = c.oid AND i.indisprimary), '-')
		  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
		 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
		   AND d.refclassid = 'pg_extension'::regclass
		   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cdp')
		   AND c.relkind IN ('r', 'p', 'S')
		 ORDER BY 1}))
	{
		my ($relname, $qualified, $kind, $cols, $key) = split /\|/, $row;
		die "two relations of the extension are named $relname" if $seen{$relname}++;
		if ($kind eq 'S')
		{
			$fp{"sequence $relname"} = $node->safe_psql($db, "SELECT last_value || ' ' || is_called FROM $qualified");
			next;
		}
		if ($columns && $columns->{$relname})
		{
			($cols, $key) = @{ $columns->{$relname} };
		}
		my $order = $key eq '-' ? 't::text' : "$key, t::text";
		my ($ok, $out, $err) = try_psql($db,
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY $order)), '-') "
			  . "FROM (SELECT $cols FROM $qualified) t");
		$fp{"table $relname"} = $ok ? $out : 'cannot read the columns it had: ' . (split /\n/, $err)[0];
		$fp{columns}{$relname} = [ $cols, $key ];
	}
	return \%fp;
}

# the catalog description of the extension in a database
sub describe
{
	my ($db) = @_;
	return $node->safe_psql($db, $description_sql);
}

# Compares two descriptions; on a difference prints the start of a unified diff and keeps both.
sub descriptions_equal
{
	my ($got, $expected, $name, $label_got, $label_expected) = @_;
	if ($got eq $expected)
	{
		pass($name);
		return;
	}
	my $dir = $node->basedir;
	(my $tag = $name) =~ s/\W+/_/g;
	my ($file_got, $file_expected) = ("$dir/$tag.updated.txt", "$dir/$tag.fresh.txt");
	append_to_file($file_got, "$got\n");
	append_to_file($file_expected, "$expected\n");
	my ($stdout, $stderr);
	eval {
		IPC::Run::run([ 'diff', '-U0', '--label', $label_expected, '--label', $label_got, $file_expected, $file_got ],
			'>', \$stdout, '2>', \$stderr);
	};
	my @diff = grep { !/^@@/ } split /\n/, $stdout // '';
	if (!@diff)
	{
		# no diff program: the lines of each that the other lacks, in order
		my (%in_got, %in_expected);
		$in_got{$_}++ for split /\n/, $got;
		$in_expected{$_}++ for split /\n/, $expected;
		@diff = ("--- $label_expected", "+++ $label_got",
			(map { "-$_" } grep { !($in_got{$_} && $in_got{$_}--) } split /\n/, $expected),
			(map { "+$_" } grep { !($in_expected{$_} && $in_expected{$_}--) } split /\n/, $got));
	}
	my $removed = grep { /^-(?!--)/ } @diff;
	my $added = grep { /^\+(?!\+\+)/ } @diff;
	my @shown = @diff > $diff_lines_max
	  ? (@diff[0 .. $diff_lines_max - 1], '... (' . (@diff - $diff_lines_max) . ' more lines)')
	  : @diff;
	fail($name);
	diag("$removed line(s) only in $label_expected (-), $added only in $label_got (+); "
		  . "whole descriptions: $file_expected, $file_got\n" . join("\n", @shown));
}

# A clinic at the first version given, updated to each next one in turn; after each update the
# data, the API and the catalog are checked.
sub walk
{
	my ($tag, @steps) = @_;
	my $first = $steps[0];
	my $db = $tag;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	my ($ok, $out, $err) = try_psql($db, "CREATE EXTENSION cdp VERSION '$first'");
	ok($ok, "$tag: CREATE EXTENSION cdp VERSION '$first'") or do { diag($err); return; };
	for my $sql (@{ for_version(\%fill_sql, $first) })
	{
		($ok, $out, $err) = try_psql($db, $sql);
		ok($ok, "$tag: a clinic through the $first API") or do { diag($err); return; };
	}
	my $start = fingerprint($db);
	my ($records) = ($start->{'table record'} // '0') =~ /^(\d+)/;
	cmp_ok($records, '>=', 300, "$tag: a few hundred records ($records)");
	note(join(', ', map { s/^table //r =~ s/ \S+$//r } grep { /^table / } map { "$_ " . $start->{$_} } sort keys %$start));
	my @empty = grep { ($start->{"table $_"} // '0') =~ /^0 / }
	  qw(record event patient patient_member patient_redirect clinical_event pair_decision match_review household
	  survivorship_rules);
	is("@empty", '', "$tag: the clinic has records, events, patients, links, clinical events, decisions, "
		  . "a review queue, related people and survivorship rules");

	for my $i (1 .. $#steps)
	{
		my ($from, $to) = @steps[ $i - 1, $i ];
		if (($path{"$from $to"} // '-') eq '-')
		{
			fail("$tag: no update path from $from to $to");
			return;
		}
		my $before = fingerprint($db);
		my $columns = delete $before->{columns};
		($ok, $out, $err) = try_psql($db, "ALTER EXTENSION cdp UPDATE TO '$to'");
		ok($ok, "$tag: ALTER EXTENSION cdp UPDATE TO '$to' from $from ($path{\"$from $to\"})")
		  or do { diag($err); return; };
		is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'cdp'}), $to,
			"$tag: the extension is at $to");

		# the data is intact: same tables, same rows, same sequence positions
		my $after = fingerprint($db, $columns);
		delete $after->{columns};
		my @diffs;
		my $skip = $transformed{"$from $to"} // {};
		for my $k (sort keys %{ { %$before, %$after } })
		{
			# a relation the update creates is new, not changed: the catalog comparison covers it
			next if !exists $before->{$k};
			my ($b, $a) = ($before->{$k} // '(absent)', $after->{$k} // '(absent)');
			if ($k =~ /^table (\w+)$/ && $skip->{$1})
			{
				note("$k: transformed by the update ($skip->{$1}): before $b, after $a");
				next;
			}
			# a relation the update creates holds no data before it: new and empty is intact
			if ($b eq '(absent)' && $a =~ /^(0 -|1 false)$/)
			{
				note("$k: new in $to, empty");
				next;
			}
			push @diffs, "$k: before $b, after $a" if $a ne $b;
		}
		is(scalar(@diffs), 0, "$tag: $from -> $to: every table and sequence of the extension holds the same data ("
			  . scalar(keys %$before) . ' relations)')
		  or diag(join("\n", @diffs));

		# the API of $to works, and adds records of its own (other keys and birth date at each step)
		my $smoke = for_version(\%smoke_sql, $to) =~ s/%STEP%/$i/gr;
		($ok, $out, $err) = try_psql($db, $smoke);
		is($ok ? (split /\n/, $out)[-1] : $err, 'ok',
			"$tag: $from -> $to: after the update, ingest, matching and patient lookup work");

		# and the extension is what a fresh install of $to is
		$fresh{$to} //= do {
			my $fresh_db = 'fresh_' . ($to =~ s/\W/_/gr);
			$node->safe_psql('postgres', "CREATE DATABASE $fresh_db");
			$node->safe_psql($fresh_db, "CREATE EXTENSION cdp VERSION '$to'");
			describe($fresh_db);
		};
		my $updated = describe($db);
		cmp_ok(scalar(split /\n/, $updated), '>', 1000, "$tag: $from -> $to: the catalog description has substance");
		descriptions_equal($updated, $fresh{$to}, "$tag: $from -> $to: catalog of the updated extension equals a fresh $to",
			"$first updated to $to", "fresh $to");
		if ($to eq $default)
		{
			is($node->safe_psql($db, 'SELECT cdp.library_version()'), $default,
				"$tag: the library and the updated SQL agree on the version");
		}
	}
	$node->safe_psql('postgres', "DROP DATABASE $db");
}

$node->stop;
done_testing();
