
# Copyright: the ordering extension's authors.
#
# 001_durability.pl: one node; a stream of submit_tx from several sessions,
# an immediate (crash) stop in the middle of it, a restart.  Every
# transaction whose submit_tx returned must be in its block exactly once,
# the chain must verify with plain SQL (test/verify_chain.sql), and submitting must
# work again.  Small batches and a small snapshot interval make the crash
# land among many blocks, log rows and snapshots.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $port = $ENV{ORDERING_TEST_PORT_BASE} // 55421;
my $clients = 4;
my $per_client = 3000;

my $node = PostgreSQL::Test::Cluster->new('n1', port => $port);
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
$node->safe_psql(
	'postgres', qq{
SELECT ordering.create_channel('ch1', '{"n1": "$conninfo"}',
	'{"batch_timeout": 10, "max_message_count": 7, "snapshot_interval_bytes": 4096}')
});

ok( $node->poll_query_until(
		'postgres',
		"SELECT role = 'leader' FROM ordering.status WHERE channel = 'ch1'"),
	'single node becomes leader of its channel');

my ($one) = $node->safe_psql('postgres',
	"SELECT block_number FROM ordering.submit_tx('ch1', 'first'::bytea, 'first')");
is($one, '1', 'first transaction lands in block 1');

# Several sessions submit a stream of transactions; each prints the
# transactions whose submit_tx returned.
my $script_dir = PostgreSQL::Test::Utils::tempdir;
my @runs;
for my $c (1 .. $clients)
{
	my $file = "$script_dir/client$c.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	for my $i (1 .. $per_client)
	{
		print $fh "SELECT tx_id, block_number, position FROM ordering.submit_tx("
		  . "'ch1', convert_to('payload $c-$i', 'UTF8'), 'c$c-$i');\n";
	}
	close $fh;

	my $out = '';
	my $err = '';
	my $h = IPC::Run::start(
		[
			'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', $file
		],
		'>', \$out, '2>', \$err);
	push @runs, { handle => $h, out => \$out, err => \$err };
}

# Crash in the middle of the stream.
ok( $node->poll_query_until(
		'postgres', 'SELECT count(*) >= 400 FROM ordering.transactions'),
	'the stream is under way');
$node->stop('immediate');

my %returned;
for my $run (@runs)
{
	$run->{handle}->finish;
	for my $line (split /\n/, ${ $run->{out} })
	{
		my ($tx_id, $block, $position) = split /\|/, $line;
		next unless defined $position;
		$returned{$tx_id} = [ $block, $position ];
	}
}
my $n_returned = scalar keys %returned;
cmp_ok($n_returned, '>=', 100, "submit_tx returned for $n_returned transactions before the crash");
cmp_ok($n_returned, '<', $clients * $per_client, 'the crash interrupted the stream');

$node->start;
ok( $node->poll_query_until(
		'postgres',
		"SELECT role = 'leader' FROM ordering.status WHERE channel = 'ch1'"),
	'leader again after the restart');

# Every acknowledged transaction is where submit_tx said, exactly once.
my $expected = join(',',
	map { "('$_', $returned{$_}[0], $returned{$_}[1])" } sort keys %returned);
my $missing = $node->safe_psql(
	'postgres', qq{
SELECT count(*) FROM (VALUES $expected) AS e(tx_id, block_number, position)
WHERE (SELECT count(*) FROM ordering.transactions t
	   WHERE t.channel = 'ch1' AND t.tx_id = e.tx_id
		 AND t.block_number = e.block_number AND t.position = e.position) <> 1
});
is($missing, '0', 'every acknowledged transaction is present exactly once');

my $dups = $node->safe_psql('postgres',
	"SELECT count(*) FROM (SELECT payload FROM ordering.transactions GROUP BY channel, payload HAVING count(*) > 1) d"
);
is($dups, '0', 'no payload was ordered twice');

is($node->safe_psql('postgres', OrderingCluster::verify_chain_sql('ch1')),
	'', 'the chain verifies with plain SQL');

my $snapshots = $node->safe_psql('postgres',
	"SELECT snapshot_index > 0 FROM ordering.raft_state WHERE channel = 'ch1'");
is($snapshots, 't', 'snapshots were taken (and survived the crash)');

# Submitting works after the restart, and a resubmission is answered in place.
my $after = $node->safe_psql('postgres',
	"SELECT block_number > 0 FROM ordering.submit_tx('ch1', 'after restart'::bytea, 'after')");
is($after, 't', 'submit_tx works after the restart');
my ($some_id) = sort keys %returned;
(my $some_payload = $some_id) =~ s/^c/payload /;
my $again = $node->safe_psql('postgres',
	"SELECT block_number || ',' || position FROM ordering.submit_tx('ch1', convert_to('$some_payload', 'UTF8'), '$some_id')");
is($again, "$returned{$some_id}[0],$returned{$some_id}[1]",
	'resubmitting an ordered transaction returns its place');
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT ordering.submit_tx('ch1', 'another payload'::bytea, '$some_id')");
like($err, qr/transaction id "\Q$some_id\E" is already ordered on channel "ch1" with another payload/,
	'its id with another payload is refused');

my $status = $node->safe_psql('postgres',
	"SELECT last_block = (SELECT max(number) FROM ordering.blocks WHERE channel = 'ch1') AND coalesce(last_error, '') = '' FROM ordering.status WHERE channel = 'ch1'");
is($status, 't', 'status shows the last block and no error');

is($node->safe_psql('postgres', OrderingCluster::verify_chain_sql('ch1')),
	'', 'the chain still verifies');

$node->stop;
done_testing();
