
# Copyright: the ordering extension's authors.
#
# 003_channel_isolation.pl: an ERROR while the worker applies one channel's
# entries must not stop the other channels.  A trigger on ordering.blocks
# makes every normal block of channel "bad" fail; channel "good" keeps
# ordering, "bad" reports the error in ordering.status and recovers, with
# nothing lost, once the cause is gone.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $port = ($ENV{ORDERING_TEST_PORT_BASE} // 55421) + 2;

my $node = PostgreSQL::Test::Cluster->new('n1', port => $port);
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'ordering'
ordering.node_name = 'n1'
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION ordering');
my $conninfo = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=orderer';
for my $ch ('good', 'bad')
{
	$node->safe_psql('postgres',
		qq{SELECT ordering.create_channel('$ch', '{"n1": "$conninfo"}', '{"batch_timeout": 10}')}
	);
}
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 2 FROM ordering.status WHERE role = 'leader'"),
	'both channels have a leader');

$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'boom in block %', NEW.number;
END $$;
CREATE TRIGGER boom BEFORE INSERT ON ordering.blocks
	FOR EACH ROW WHEN (NEW.channel = 'bad' AND NOT NEW.is_config)
	EXECUTE FUNCTION public.boom();
});

$node->safe_psql('postgres',
	"SELECT ordering.submit_tx_async('bad', 'doomed for now'::bytea, 'bad1')");
ok( $node->poll_query_until(
		'postgres',
		"SELECT last_error LIKE '%boom in block%' FROM ordering.status WHERE channel = 'bad'"
	),
	'the failing channel reports its error');

is( $node->safe_psql('postgres',
		"SELECT block_number FROM ordering.submit_tx('good', 'fine'::bytea, 'good1')"),
	'1',
	'the other channel keeps ordering');
is( $node->safe_psql('postgres',
		"SELECT coalesce(last_error, '') FROM ordering.status WHERE channel = 'good'"),
	'', 'the other channel has no error');

$node->safe_psql('postgres', 'DROP TRIGGER boom ON ordering.blocks');
is( $node->safe_psql('postgres',
		"SELECT block_number FROM ordering.submit_tx('bad', 'doomed for now'::bytea, 'bad1')"),
	'1',
	'the failed channel recovers and orders the transaction once');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM ordering.transactions WHERE channel = 'bad'"),
	'1', 'exactly once');
ok( $node->poll_query_until(
		'postgres',
		"SELECT role = 'leader' AND coalesce(last_error, '') = '' FROM ordering.status WHERE channel = 'bad'"
	),
	'the recovered channel is leader again');
is($node->safe_psql('postgres', "SELECT bool_and(ok) FROM ordering.channels c, ordering.verify_chain(c.channel)"),
	't', 'both chains verify');

$node->stop;
done_testing();
