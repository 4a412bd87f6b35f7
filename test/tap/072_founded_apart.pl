
# Copyright: the ordering extension's authors.
#
# 072_founded_apart.pl: a node that founded a channel apart from the
# others (create_channel with other arguments, while they were down) does
# not take part in their channel, and nothing is ordered onto its chain.
#
# n1 founds "apart" while n2 is down, and n3 joins it.  Then, with n1 and
# n3 down, n2 founds "apart" with other settings: its block 0 differs.  All
# three are started.  Raft records carried only the channel's name, so the
# three ran one Raft group over two chains: every transaction went into
# blocks of both, each chain verified on its own, and nothing was
# rejected.  Now every record names the hash of its channel's block 0, and
# a node drops records naming another one (rejected_records, and a log line
# naming the remedy).  n1 and n3 order without n2; n2 orders nothing
# (a submit there times out) and keeps its block 0 alone.  Dropping the
# channel on n2 lets it join from the genesis its members push, and then
# every node holds the same verified chain.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'apart';
my $doc = OrderingCluster::lit($oc->consenters_json(@names));
my @acked;

$oc->stop_node('n2', 'fast');
$oc->safe_query('n1',
	"SELECT ordering.create_channel('$ch', $doc, '{\"batch_timeout\": 50}')");
ok($oc->wait_for_channel($ch, [ 'n1', 'n3' ]), 'n3 joins the channel n1 founded');
$oc->stop_node($_, 'fast') for qw(n1 n3);
$oc->start_node('n2');
$oc->safe_query('n2',
	"SELECT ordering.create_channel('$ch', $doc, '{\"batch_timeout\": 60}')");
$oc->start_node($_) for qw(n1 n3);

sub block0 { $oc->safe_query($_[0], "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$ch' AND number = 0") }
isnt(block0('n2'), block0('n1'), 'n2 founded the channel with another block 0');
is(block0('n3'), block0('n1'), 'n3 has the block 0 of n1');

my $leader = $oc->wait_for_leader($ch, [ 'n1', 'n3' ]);
ok(defined $leader && $leader ne 'n2', 'n1 and n3 elect a leader among themselves')
  or diag('leader: ' . ($leader // 'none'));
for my $n (qw(n1 n3))
{
	for my $i (1 .. 3)
	{
		my $r = $oc->submit($n, $ch, "on $n $i");
		ok($r->{ok}, "a submit on $n is ordered ($i)") or diag($r->{message});
		push @acked, $r if $r->{ok};
	}
}
my $r = $oc->submit('n2', $ch, 'on n2', undef, submit_timeout => 3000);
ok(!$r->{ok}, 'a submit on n2 is not ordered')
  or diag("n2 ordered it into block $r->{block_number}");
is($r->{sqlstate}, '57014', 'it times out') unless $r->{ok};
is($oc->last_block('n2', $ch), 0, 'n2 has nothing past its own block 0');
ok( $oc->wait_until(
		'n2 counts rejected records',
		30,
		sub { ($oc->status('n2', $ch)->{rejected_records} // 0) > 0 }),
	'n2 rejects the records of the others (ordering.status)');
cmp_ok($oc->status($leader, $ch)->{rejected_records} // 0,
	'>', 0, "the leader $leader rejects n2's records");
ok($oc->node('n2')->log_contains(qr/record for another block 0 of the channel/),
	'n2 logs why, with the remedy');
$oc->assert_chains_identical_and_verified([ 'n1', 'n3' ], $ch);

# The remedy: drop it on n2, which joins from the members' genesis push.
$oc->safe_query('n2', "SELECT ordering.drop_channel('$ch')");
ok( $oc->wait_until(
		'n2 holds the block 0 of n1',
		60,
		sub {
			my $h = $oc->query('n2',
				"SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$ch' AND number = 0"
			);
			return $h->{ok} && $h->{stdout} eq block0('n1');
		}),
	'dropped on n2, the channel comes back with the members\' block 0');
$r = $oc->submit('n2', $ch, 'on n2 after the drop');
ok($r->{ok}, 'a submit on n2 is ordered now') or diag($r->{message});
push @acked, $r if $r->{ok};
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
is($oc->crashes($_), '', "no server process of $_ crashed") for @names;

done_testing();
