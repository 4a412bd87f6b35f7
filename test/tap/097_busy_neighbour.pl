
# Copyright: the ordering extension's authors.
#
# 097_busy_neighbour.pl: a node that is busy ordering one channel keeps
# talking to its peers for its other channels.
#
# Three servers share six quiet channels; the node leading most of them
# also leads a one-member channel "busy", on which 64 pgbench clients
# call submit_tx with payloads of about 5 kB for 10 s (large enough that
# each pass of the worker's loop takes long: the latch is always set by
# the time it waits).
# Every submit sets the worker's latch, and WaitEventSetWait returns at
# once for a set latch without looking at the sockets: the answers of the
# worker's deliver() calls to its peers waited for a moment when the latch
# happened to be clear, up to 2 s, so its peers heard nothing from it for
# longer than an election timeout and elected new leaders for its quiet
# channels.  Now every channel keeps its leader and its term throughout,
# on every node.
#
# Then the same 64 clients flood "busy" with submit_tx_async, which waits
# for nothing but room in the submit ring.  One pass of the worker's loop
# took up to 100,000 queued transactions before it looked at its peers
# again, and with the ring holding that many the busy node went silent for
# more than an election timeout.  Now a pass takes a bounded share of the
# ring; the quiet channels keep their leaders, and every transaction of the
# flood is ordered.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

# The default tick (100 ms: elections after 1 to 2 s), not the tests' 50 ms:
# the claim is that a busy node keeps its quiet channels as shipped, and on
# a slow machine (one that ran `SELECT 1` through pgbench at a third of the
# usual rate) 64 flooding sessions kept the worker from its peers for more
# than the tests' 0.5 to 1 s even with the bounded passes.
my $oc = OrderingCluster->new(nodes => 3, conf => 'ordering.tick_interval = 100');
my @names = $oc->names;
my @channels = map { "steady$_" } 1 .. 6;

# The node leading the most of them (at least two of the six) gets busy.
my $leader = $oc->quiet_neighbours(\@channels, \@names);
my $before = $oc->leadership('steady%', \@names);
my $health = $oc->health;

$oc->safe_query($leader,
	"SELECT ordering.create_channel('busy', '{\"$leader\": \""
	  . $oc->conninfo($leader) . "\"}')");
ok(defined $oc->wait_for_leader('busy', [$leader]), "busy has a leader on $leader");

my $node = $oc->node($leader);
$node->pgbench(
	'--no-vacuum --client=64 --jobs=2 --time=10',
	0,
	[qr{processed: [1-9]}],
	[qr{^$}],
	'64 clients submit on busy for 10 s',
	{
		'097_busy' =>
		  "SELECT ordering.submit_tx('busy', convert_to(repeat(:client_id || '-' || random()::text, 256), 'UTF8'));\n"
	});

is($oc->leadership('steady%', \@names), $before,
	'meanwhile no channel of the busy node changed term or leader on any node');

# The flood: each client enqueues a fixed number of distinct transactions.
my $per_client = 2500;
my $ordered_before = $node->safe_psql('postgres',
	"SELECT count(*) FROM ordering.transactions WHERE channel = 'busy'");
$node->pgbench(
	"--no-vacuum --client=64 --jobs=2 --transactions=$per_client",
	0,
	[qr{processed: @{[64 * $per_client]}/}],
	[qr{^$}],
	'64 clients enqueue on busy with submit_tx_async',
	{
		'097_flood' =>
		  "SELECT ordering.submit_tx_async('busy', convert_to(:client_id || '-' || random()::text, 'UTF8'));\n"
	});
my $expected = $ordered_before + 64 * $per_client;
ok( $oc->wait_until(
		"all $expected transactions of busy are ordered",
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM ordering.transactions WHERE channel = 'busy'"
			) == $expected;
		}),
	'every transaction of the flood is ordered');
is($oc->leadership('steady%', \@names), $before,
	'through the flood no channel of the busy node changed term or leader on any node');

$oc->assert_cluster_sound('steady1', \@names, $health);
done_testing();
