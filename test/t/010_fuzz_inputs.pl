# test/t/010_fuzz_inputs.pl: mutation fuzzing of every C entry point that takes text.
#
# The functions are found in the catalog, so every family's new function is fuzzed without editing
# this file: every IMMUTABLE function of schema cdp whose arguments are all text (1 or 2 of them),
# the input function of every cdp base type (through a cast from text), and cdp.normalize_attrs,
# cdp_internal.golden_check_rules, cdp.golden_fold's rules check, cdp_internal.golden_fold_docs's record documents and
# cdp_internal.golden_fold_row's record columns and rules keys, cdp_internal.golden_link_read's ids and evidence with mutated JSON and text.  Inputs are seeds (real names, phones, e-mails, ids) and their mutations at
# the code-point level: inserted emoji, combining marks, zero-width and control characters, mixed
# scripts, truncation, duplication, and 10 kB / 100 kB repeats.
#
# A finding is a crash (the backend dies) or an internal error (SQLSTATE XX000/XX001): user errors
# (22xxx, 54000, ...) are the defined answer to bad input.  Reproducible: CDP_FUZZ_SEED picks the
# seed (printed), CDP_FUZZ_ROUNDS the number of mutated inputs (default 400, bounded for CI).
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{CDP_FUZZ_SEED} // time();
my $rounds = $ENV{CDP_FUZZ_ROUNDS} // 400;
srand($seed);
note("fuzz seed $seed, $rounds rounds");

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cdp');

my @seeds = (
	'Иванова Мария Петровна', 'ИВАНОВА М.П.', 'Ivanova Mariia', 'Римский-Корсаков', "O'Brien",
	'Достоевская', 'Петровича', 'Щукин', 'Schmidt', 'Jackson', 'Ёлкина Алёна',
	'8 (916) 123-45-67', '+7 916 1234567', '+7-916-123-45-67 доб. 12', '+44 20 7946 0958',
	'ivanova@mail.ru', 'Иванов@почта.рф', 'a@b', '123-456-789 64', '12345678964',
	'1234567890123456', '1980-02-29', '29.02.1980', '', ' ', '.', '-', '@', '+', '0',
);
my @alphabet = (
	'а', 'я', 'ё', 'й', 'ъ', 'Ж', 'q', 'Z', '0', '9', ' ', '-', '.', "'", '@', '+', '(', ')',
	"\x{0301}", "\x{200B}", "\x{FEFF}", "\x{1F600}", "\x{1F468}\x{200D}\x{1F469}", "\x{0130}",
	"\x{00DF}", "\x{FB01}", "\x{0000}", "\t", "\n", "\x{7F}", "\x{10FFFF}", "\x{0410}\x{0306}",
	'ß', 'İ', 'Ǆ', 'ﬀ', '①', 'Ⅻ', '°', '№', "\\", '"', '{', '}', '[', ']', ',', ':',
);

# mutate: one random code-point level mutation of a string
sub mutate
{
	my ($s) = @_;
	my @c = split //, $s;
	my $op = int(rand(7));
	if ($op == 0 || !@c) { splice(@c, int(rand(@c + 1)), 0, $alphabet[ rand @alphabet ]) }
	elsif ($op == 1) { splice(@c, int(rand(@c)), 1) }
	elsif ($op == 2) { $c[ rand @c ] = $alphabet[ rand @alphabet ] }
	elsif ($op == 3) { @c = @c[ 0 .. int(rand(@c)) ] }
	elsif ($op == 4) { @c = (@c, @c) }
	elsif ($op == 5) { @c = reverse @c }
	else { @c = (@c, split(//, $seeds[ rand @seeds ])) }
	return join '', grep { $_ ne "\x{0000}" } @c;
}

my @inputs = @seeds;
for (1 .. $rounds)
{
	my $s = $inputs[ rand @inputs ];
	$s = mutate($s) for 0 .. int(rand(3));
	push @inputs, $s;
}
push @inputs, ('Щ' x 5000), ('a' x 10240), ('Иванова ' x 12800);    # 10 kB, 10 kB, 100 kB

# dollar-quote safely
sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

$node->safe_psql('postgres',
	"CREATE TABLE fuzz_input(i serial, s text); CREATE TABLE fuzz_finding(fn text, i int, state text, msg text)");
my $copy = join("\n", map { my $s = $_; $s =~ s/\\/\\\\/g; $s =~ s/\t/\\t/g; $s =~ s/\n/\\n/g; $s =~ s/\r/\\r/g; $s } @inputs);
$node->safe_psql('postgres', "COPY fuzz_input(s) FROM STDIN;\n$copy\n\\.\n");

my $targets = $node->safe_psql('postgres', q{
	SELECT string_agg(t, E'\n' ORDER BY t) FROM (
	  SELECT format('%s(%s)', p.oid::regproc::text,
	                CASE p.pronargs WHEN 1 THEN '$1' ELSE '$1, $2' END) AS t
	    FROM pg_proc p
	   WHERE p.pronamespace = 'cdp'::regnamespace AND p.provolatile = 'i' AND p.prokind = 'f'
	     AND p.pronargs BETWEEN 1 AND 2 AND p.proretset = false
	     AND p.proargtypes::oid[] <@ ARRAY['text'::regtype::oid]
	  UNION ALL
	  SELECT format('$1::%s', t.oid::regtype::text)
	    FROM pg_type t
	   WHERE t.typnamespace = 'cdp'::regnamespace AND t.typtype = 'b'
	  UNION ALL SELECT 'cdp.normalize_attrs(jsonb_build_object(''family_name'', $1, ''phone'', $2, ''email'', $1, ''birth_date'', $2, ''snils'', $1, ''vk'', $2), true)'
	  UNION ALL SELECT 'cdp.normalize_attrs(jsonb_build_object(''full_name'', $1, ''oms'', $2, ''sex'', $1))'
	  UNION ALL SELECT 'cdp_internal.golden_check_rules(jsonb_build_object($1, jsonb_build_array($2, $1)))'
	  UNION ALL SELECT 'cdp.golden_fold(''[]'', jsonb_build_object(''city'', jsonb_build_array($1, $2)))'
	  UNION ALL SELECT 'cdp_internal.golden_row(1, jsonb_build_object(''attributes'', jsonb_build_object(''birth_date'', $1, ''snils'', $2, ''oms'', $1), ''registered_on'', $2, ''validated'', $1, ''record_count'', $2, ''updated_at'', $1, ''phones'', $2), $1, NULL, NULL, 0)'
	  UNION ALL SELECT 'cdp_internal.golden_record_doc_of(1, 1, 50, $1, $2, $1, NULL, $2, NULL, NULL, NULL, NULL, $1, $2, to_jsonb($1), jsonb_build_object(''validated'', $2), NULL, NULL)'
	  UNION ALL SELECT 'cdp_internal.golden_fold_docs(ARRAY[jsonb_build_object(''record_id'', 2, ''family_name'', $1, ''city'', $2, ''phones'', jsonb_build_array($1, $2)), jsonb_build_object(''record_id'', 1, ''family_name'', $2, ''validated'', $1, ''updated_at'', $2, ''handles'', jsonb_build_object($1, $2))], cdp.golden_default_rules())'
	  UNION ALL SELECT 'cdp_internal.golden_link_read(ARRAY[length($1), NULL, -length($2), length($1)]::bigint[], ARRAY[length($2), 1, length($2), length($1)]::bigint[], ARRAY[to_jsonb($1), jsonb_build_object($1, $2), NULL, jsonb_build_array($2)])'
	  UNION ALL SELECT 'cdp_internal.golden_fold_row(1, ARRAY[ROW(2, 1, 50, $1, $2, $1, NULL, $2, NULL, NULL, NULL, NULL, $1, $2, jsonb_build_object($1, $2), jsonb_build_object(''validated'', $2), now(), now())::cdp_internal.golden_fold_input, ROW(1, 2, 60, $2, $1, NULL, NULL, $1, NULL, NULL, NULL, NULL, $2, $1, to_jsonb($1), to_jsonb($2), NULL, NULL)::cdp_internal.golden_fold_input], jsonb_build_object(''city'', jsonb_build_array(''recent''), ''family_name'', ''[]''::jsonb, $1, ''[]''::jsonb), 1, $2, NULL, NULL)') x});
my @targets = split /\n/, $targets;
ok(scalar(@targets) >= 3, 'found ' . scalar(@targets) . ' fuzz targets');
note("targets: @targets");

for my $t (@targets)
{
	# a backend crash makes psql fail; internal errors are recorded as findings
	my ($ret, $stdout, $stderr) = $node->psql('postgres', qq{
	DO \$fuzz\$
	DECLARE r record; s2 text; st text; m text;
	BEGIN
	  FOR r IN SELECT i, s FROM fuzz_input ORDER BY i LOOP
	    s2 := (SELECT s FROM fuzz_input WHERE i = 1 + (r.i * 7919) % (SELECT max(i) FROM fuzz_input));
	    BEGIN
	      EXECUTE 'SELECT ' || ${\ lit($t) } USING r.s, s2;
	    EXCEPTION WHEN OTHERS THEN
	      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT;
	      IF st IN ('XX000', 'XX001', 'XX002') THEN
	        INSERT INTO fuzz_finding VALUES (${\ lit($t) }, r.i, st, m);
	      END IF;
	    END;
	  END LOOP;
	END \$fuzz\$;});
	is($ret, 0, "no crash in $t") or diag($stderr);
}

my $findings = $node->safe_psql('postgres',
	"SELECT string_agg(format('%s input %s: %s %s', fn, i, state, msg), E'\\n') FROM fuzz_finding");
is($findings, '', 'no internal errors (XX000) on any input');
$node->stop;
done_testing();
