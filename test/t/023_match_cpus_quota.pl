# test/t/023_match_cpus_quota.pl: cdp_internal._match_cpus() under a container's CPU quota (issue
# 12, session 32; this test session 36).  test/pgtap/69_match_cpus.sql compares the function with
# an oracle on whatever cgroup the server runs in, which on most machines has no quota, so the quota
# branch (src/match_cpus.c, MatchCpuQuota) went untested.  Here the server's postmaster is moved
# into cgroups (v1 cpu controller) whose quotas the test sets, and each new backend, which starts
# in its postmaster's cgroup, must count the processors the quota grants: the quota over the
# period rounded up, the smallest over the cgroup and its ancestors, never more than are online.
#
# The cgroup comes from `make check` run as root (test/scripts/lib.sh, cdp_drop_root): a directory
# of the v1 cpu hierarchy owned by postgres, named in CDP_CGROUP_CPU.  Without one (installcheck by
# a user, a machine with cgroup v2 only) the test is skipped and says why.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $cg = $ENV{CDP_CGROUP_CPU} // '';
plan skip_all => 'no cgroup (v1 cpu controller) handed to this user: CDP_CGROUP_CPU is set by `make check` run as root'
  unless $cg ne '' && -w "$cg/cgroup.procs";

# write a value into a cgroup file
sub put
{
	my ($file, $value) = @_;
	open(my $fh, '>', $file) or die "cannot open $file: $!";
	print $fh "$value\n" or die "cannot write $file: $!";
	close($fh) or die "cannot write $value to $file: $!";
}

my $node = PostgreSQL::Test::Cluster->new('match_cpus_quota');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cdp');
my $cpus = sub { $node->safe_psql('postgres', 'SELECT cdp_internal._match_cpus()') };

my $pm = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
my $online = $cpus->();
ok($online >= 1, "outside the test's cgroups the server counts $online processor(s)");

# two nested cgroups: outer (quota set below) holds inner, where the postmaster runs
mkdir "$cg/outer" or die "cannot create $cg/outer: $!";
mkdir "$cg/outer/inner" or die "cannot create $cg/outer/inner: $!";
put("$cg/outer/inner/cgroup.procs", $pm);

is($cpus->(), $online, 'no quota on the cgroup or its ancestors: the processors online');

put("$cg/outer/inner/cpu.cfs_period_us", 100000);
put("$cg/outer/inner/cpu.cfs_quota_us", 50000);
is($cpus->(), 1, 'a quota of half a processor on the server\'s cgroup: 1 (at least one)');

put("$cg/outer/inner/cpu.cfs_quota_us", -1);
put("$cg/outer/cpu.cfs_period_us", 100000);
put("$cg/outer/cpu.cfs_quota_us", 100000);
is($cpus->(), 1, 'a quota of one processor on an ancestor of the server\'s cgroup: 1');

SKIP:
{
	skip "one processor online: a larger quota cannot be told from none", 3 if $online < 2;

	put("$cg/outer/cpu.cfs_quota_us", 150000);
	is($cpus->(), 2, 'a quota of 1.5 processors: rounded up to 2');

	# the smaller of the two quotas wins, whichever level holds it
	put("$cg/outer/inner/cpu.cfs_period_us", 200000);
	put("$cg/outer/inner/cpu.cfs_quota_us", 100000);
	is($cpus->(), 1, 'half a processor on the cgroup under 1.5 on its ancestor: 1 (the quota over its own period)');

	put("$cg/outer/cpu.cfs_quota_us", 100000 * ($online + 2));
	put("$cg/outer/inner/cpu.cfs_quota_us", -1);
	is($cpus->(), $online, 'a quota above the processors online: the processors online');
}

# back to the handed cgroup, so that it can be removed after the server stops
put("$cg/cgroup.procs", $pm);
is($cpus->(), $online, 'back outside the quota: the processors online again');
$node->stop;
rmdir "$cg/outer/inner";
rmdir "$cg/outer";

done_testing();
