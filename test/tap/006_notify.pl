
# Copyright: the ordering extension's authors.
#
# 006_notify.pl: one node; every new block is announced with NOTIFY on
# channel ordering_blocks, payload "channel:number", so clients can follow
# the chain like Fabric's Deliver service; and wait_for_block() returns as
# soon as the block exists, false on timeout.

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
ordering.tick_interval = 50ms
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION ordering');
my $conninfo = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=orderer';
$node->safe_psql('postgres',
	qq{SELECT ordering.create_channel('feed', '{"n1": "$conninfo"}', '{"batch_timeout": 10, "max_message_count": 1}')});
ok( $node->poll_query_until(
		'postgres',
		"SELECT role = 'leader' FROM ordering.status WHERE channel = 'feed'"),
	'the channel has a leader');

# One session listens, then submits three transactions (one per block, as
# max_message_count is 1); psql prints each notification it receives.
my ($ret, $stdout, $stderr) = $node->psql(
	'postgres', q{
LISTEN ordering_blocks;
SELECT block_number FROM ordering.submit_tx('feed', 'a'::bytea);
SELECT block_number FROM ordering.submit_tx('feed', 'b'::bytea);
SELECT block_number FROM ordering.submit_tx('feed', 'c'::bytea);
SELECT 'done';
});
is($ret, 0, 'listening session ran');
my @payloads = ($stdout . $stderr) =~
  /Asynchronous notification "ordering_blocks" with payload "([^"]*)"/g;
is_deeply([ sort @payloads ], [ 'feed:1', 'feed:2', 'feed:3' ],
	'one notification per block, with payload channel:number');

# wait_for_block: an existing block at once, a future one when it appears,
# false when the timeout passes first.
is($node->safe_psql('postgres', "SELECT ordering.wait_for_block('feed', 3, 1000)"),
	't', 'wait_for_block finds an existing block');
is($node->safe_psql('postgres', "SELECT ordering.wait_for_block('feed', 50, 200)"),
	'f', 'wait_for_block returns false on timeout');

# A waiter started before block 4 exists returns true once it is written.
my ($out, $err) = ('', '');
my $waiter = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'),
		'-c', "SELECT ordering.wait_for_block('feed', 4, 60000)"
	],
	'>', \$out, '2>', \$err);
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%wait_for_block(''feed'', 4%' AND pid <> pg_backend_pid()"),
	'the waiter is waiting');
$node->safe_psql('postgres', "SELECT ordering.submit_tx_async('feed', 'd'::bytea)");
$waiter->finish;
is($out, "t\n", 'wait_for_block returned true when block 4 was written');

$node->stop;
done_testing();
