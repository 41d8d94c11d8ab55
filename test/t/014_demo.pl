# test/t/014_demo.pl: the demo runs whole and reads right (issue 17; doc/demo.md).
#
# `make demo` builds its own cluster, so `make check` never ran it: in session 23 a change broke
# the demo (an error in its consent section) while every suite passed.  This script runs the
# demo's own driver, test/demo/run.sh, against a fresh cluster of this install, exactly as
# `make demo` does after its set-up, and feeds the transcript to test/demo/check_transcript.py
# (one language, rounded figures, no ERROR or WARNING, ...).  With gnuplot on the PATH the two
# campaign charts must be PNG files; without it the demo says so and the data stays in CSV.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename;
use File::Temp qw(tempdir);

my $top = dirname(__FILE__) . '/../..';
plan skip_all => 'python3 is not installed (the demo generates its clinic with it)'
  unless system('command -v python3 >/dev/null 2>&1') == 0;

my $node = PostgreSQL::Test::Cluster->new('demo');
$node->init;
$node->start;

my $out = tempdir(CLEANUP => 1);
local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'postgres';
local $ENV{CDP_DEMO_OUT} = $out;

my $transcript = `bash $top/test/demo/run.sh 2>&1`;
my $status = $? >> 8;
is($status, 0, 'test/demo/run.sh ends without error');
diag(join("\n", grep { /ERROR|FATAL/ } split /\n/, $transcript)) if $status;

my $tfile = "$out/transcript.txt";
open(my $fh, '>', $tfile) or die "cannot write $tfile: $!";
print $fh $transcript;
close($fh);
my $checks = `python3 $top/test/demo/check_transcript.py < $tfile`;
is($? >> 8, 0, 'check_transcript.py: every check of the transcript passes');
like($checks, qr/^ok: nothing that looks like an error/m, 'the checker looked for errors');
diag($checks) if $checks =~ /FAILED/;

like($transcript, qr/=== .*cdp/, 'the transcript has the demo title');
SKIP:
{
	skip 'gnuplot is not installed: the demo keeps the chart data in CSV', 2
	  unless system('command -v gnuplot >/dev/null 2>&1') == 0;
	for my $png ('campaign_funnel.png', 'campaign_by_day.png')
	{
		my $head = -s "$out/$png" ? substr(slurp_file("$out/$png"), 1, 3) : '';
		is($head, 'PNG', "the chart $png is a PNG file");
	}
}

$node->stop;
done_testing();
