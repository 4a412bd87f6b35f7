
# Copyright: the ordering extension's authors.
#
# 098_quiet_leader_proposes.pl: a quiet leader that orders a transaction
# goes quiet again with its followers, and keeps its leadership.
#
# Six channels of three servers, all led by one node, go quiet; then one
# transaction is submitted on each, on the leader, one after the other.
# Each append wakes the followers, which tick towards an election until
# they hear the leader go quiet again.  A quiet leader that proposed and
# committed between two of its ticks stayed quiet and never told them
# (its keep-alives were not due while it sent the other channels'
# appends): they elected other leaders.  Now every channel ends quiet
# again in the same term, under the same leader.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my @channels = map { "calm$_" } 1 .. 6;

$oc->create_channel($channels[0], \@names, {});
my $leader = $oc->wait_for_leader($channels[0], \@names);
ok(defined $leader, "$channels[0] has a leader") or die;
for my $ch (@channels[ 1 .. $#channels ])
{
	$oc->create_channel($ch, \@names, {});
	my $l = $oc->wait_for_leader($ch, \@names);
	ok(defined $l, "$ch has a leader") or die;
	next if $l eq $leader;
	$oc->safe_query($l, "SELECT ordering.transfer_leadership('$ch', '$leader')");
	ok( $oc->wait_until(
			"$ch led by $leader",
			$OrderingCluster::DEFAULT_TIMEOUT,
			sub { ($oc->wait_for_leader($ch, \@names) // '') eq $leader }),
		"$ch is led by $leader");
}

# Every node: each channel's term, leader and commit index, and whether
# all six are quiet.
sub view
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT string_agg(channel || ' term ' || term || ' leader ' || leader"
		  . " || ' commit ' || commit_index, ', ' ORDER BY channel)"
		  . " FROM ordering.status WHERE channel LIKE 'calm%'");
}

sub all_quiet { return $oc->all_quiet(\@channels, \@names); }

ok($oc->wait_until('all quiet', $OrderingCluster::DEFAULT_TIMEOUT, \&all_quiet),
	'the six channels are quiet on every node');
my %before = map { ($_ => view($_)) } @names;

for my $ch (@channels)
{
	my $r = $oc->submit($leader, $ch, "one more on $ch");
	ok($r->{ok}, "a transaction is ordered on quiet $ch") or diag($r->{message});
}

# Quiet again once every node's commit index moved past the new entries.
my %after;
ok( $oc->wait_until(
		'all quiet again after the new transactions',
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub {
			return 0 unless all_quiet();
			%after = map { ($_ => view($_)) } @names;
			return !grep { $after{$_} eq $before{$_} } @names;
		}),
	'every node has the new transactions and the channels are quiet again');

for my $n (@names)
{
	(my $expected = $before{$n}) =~ s/commit (\d+)/'commit ' . ($1 + 1)/ge;
	is($after{$n}, $expected,
		"$n: every channel in the same term under $leader, one entry further");
}

$oc->assert_cluster_sound($channels[0], \@names, $oc->health);
done_testing();
