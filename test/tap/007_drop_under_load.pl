
# Copyright: the ordering extension's authors.
#
# 007_drop_under_load.pl: drop_channel while the worker is writing blocks
# of that channel.  drop_channel deletes the channels row and cascades to
# raft_state, log and blocks, then deletes the transactions; the worker
# updates raft_state and inserts rows whose foreign keys lock the channels
# row.  In opposite orders the two deadlocked, and drop_channel failed with
# 40P01.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('n1');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'ordering'
ordering.node_name = 'n1'
ordering.tick_interval = 20ms
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ordering');
my $conninfo = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=orderer';

my $rounds = 15;
for my $round (1 .. $rounds)
{
	my $ch = "drop$round";
	$node->safe_psql('postgres',
		qq{SELECT ordering.create_channel('$ch', '{"n1": "$conninfo"}', '{"batch_timeout": 1, "max_message_count": 1}')});
	$node->poll_query_until('postgres',
		"SELECT role = 'leader' FROM ordering.status WHERE channel = '$ch'")
	  or die "no leader for $ch";

	# A stream of submissions keeps the worker writing this channel.
	my $load = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
			"SELECT count(ordering.submit_tx_async('$ch', convert_to(g::text, 'UTF8'))) FROM generate_series(1, 3000) g"
		],
		'>', \my $out, '2>', \my $err);
	$node->poll_query_until('postgres',
		"SELECT count(*) >= 20 FROM ordering.blocks WHERE channel = '$ch'")
	  or die "no blocks for $ch";

	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', "SELECT ordering.drop_channel('$ch')");
	is($ret, 0, "round $round: drop_channel under load succeeds")
	  or diag($stderr);
	$load->finish;
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM ordering.blocks WHERE channel = '$ch'"),
		'0', "round $round: no block of the dropped channel is left");
	# Transactions are deleted by drop_channel itself (no foreign key
	# cascades to them), after the worker's last ready committed.
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch'"),
		'0', "round $round: no transaction of the dropped channel is left");
	# The worker writes log and state rows without a foreign key check
	# (src/store/direct.c): its lock on the channel's row must still
	# order those writes before the cascade.
	is($node->safe_psql('postgres',
			"SELECT (SELECT count(*) FROM ordering.log WHERE channel = '$ch')"
			  . " + (SELECT count(*) FROM ordering.raft_state WHERE channel = '$ch')"),
		'0', "round $round: no log or state row of the dropped channel is left");
}

# The worker still serves a new channel afterwards.
$node->safe_psql('postgres',
	qq{SELECT ordering.create_channel('after', '{"n1": "$conninfo"}', '{"batch_timeout": 1}')});
$node->poll_query_until('postgres',
	"SELECT role = 'leader' FROM ordering.status WHERE channel = 'after'")
  or die 'no leader for after';
is($node->safe_psql('postgres',
		"SELECT block_number FROM ordering.submit_tx('after', 'x'::bytea)"),
	'1', 'the worker orders a new channel after the drops');

$node->stop;
done_testing();
