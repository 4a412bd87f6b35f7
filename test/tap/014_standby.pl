
# Copyright: the ordering extension's authors.
#
# 014_standby.pl: a streaming standby of an ordering node, the usual
# PostgreSQL read replica.
#
# It replays the primary's tables, so it holds the same chain and answers
# where an ordered transaction is; it runs no ordering worker (that starts
# only once recovery has finished), so it must refuse what only a worker
# could do, at once and saying why: submitting a new transaction, creating
# a channel, an admin call.  Before, a submit failed with "ordering worker
# is not running ... the worker restarts on its own", and create_channel
# with "cannot execute DELETE in a read-only transaction".
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 1,
	conf => "wal_level = replica\nmax_wal_senders = 4\n");
my $ch = 'replicated';
$oc->create_channel($ch, ['n1'], { batch_timeout => 20 });
ok(defined $oc->wait_for_leader($ch, ['n1']), "n1 leads $ch");
my $first = $oc->submit('n1', $ch, 'before the standby', 'tx-1');
ok($first->{ok}, 'a transaction is ordered on the primary');

my $primary = $oc->node('n1');
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
ok($oc->submit('n1', $ch, 'after the standby', 'tx-2')->{ok}, 'another one after the backup');
$primary->wait_for_catchup($standby, 'replay');

my $sql = sub { $standby->safe_psql('postgres', shift) };
is($sql->(q{SELECT pg_is_in_recovery()}), 't', 'the standby is in recovery');
is($sql->(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering worker'}),
	'0', 'it runs no ordering worker');
is($sql->(OrderingCluster::verify_chain_sql($ch)), '', "its copy of $ch verifies");
is($sql->(qq{SELECT max(number) FROM ordering.blocks WHERE channel = '$ch'}),
	$oc->last_block('n1', $ch), "it has the primary's last block");
is($sql->(qq{SELECT block_number FROM ordering.submit_tx('$ch', 'after the standby', 'tx-2')}),
	$oc->safe_query('n1', "SELECT block_number FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'tx-2'"),
	'submitting an ordered transaction again answers its place');

sub refused
{
	my ($query, $what) = @_;
	my ($ret, $stdout, $stderr) = $standby->psql('postgres', $query,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "$what is refused");
	like($stderr, qr/25006: ordering does not run on a server in recovery/,
		"... with 25006, saying why");
}
refused(qq{SELECT * FROM ordering.submit_tx('$ch', 'new on the standby')}, 'a new transaction');
refused(qq{SELECT ordering.submit_tx_async('$ch', 'new, async')}, 'an asynchronous one');
refused(qq{SELECT ordering.create_channel('other', } . OrderingCluster::lit($oc->consenters_json('n1')) . ')',
	'create_channel');
refused(qq{SELECT ordering.update_channel_config('$ch', '{"batch_timeout": 30}')}, 'an admin call');

ok($oc->submit('n1', $ch, 'the primary goes on', 'tx-3')->{ok}, 'the primary still orders');
$primary->wait_for_catchup($standby, 'replay');
is($sql->(OrderingCluster::verify_chain_sql($ch)), '', "the standby's copy still verifies");
$standby->stop;

done_testing();
