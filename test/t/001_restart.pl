# test/t/001_restart.pl: cdp survives an immediate shutdown (crash) and restart; committed
# work stays, and the library loads again in new backends.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cdp');
my $v = $node->safe_psql('postgres', 'SELECT cdp.library_version()');
ok($v ne '', 'library loads');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT cdp.library_version()'), $v, 'library loads after a crash restart');
$node->stop;
done_testing();
