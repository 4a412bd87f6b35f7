# 020_election.pl: leader election on 3 and on 5 real servers.
#
# For each size: one leader, named by every node; the leader's term is > 0
# and every node reports it; a transaction submitted on each node (leader
# and followers alike: followers route to the leader) is ordered; every
# node ends with the same verified chain.  With 5 nodes, the leader and one
# follower are then killed: the 3 survivors (a quorum of 5) elect a new
# leader and keep ordering.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

sub check_election
{
	my ($oc, $channel, $names) = @_;
	my @names = @$names;
	my $n = scalar @names;

	my ($leader, $term) = $oc->wait_for_leader($channel, \@names);
	ok(defined $leader, "$n nodes: a leader is elected and agreed by all")
	  or die "no leader on $n nodes; giving up";
	ok((grep { $_ eq $leader } @names), "$n nodes: the leader ($leader) is a consenter");
	cmp_ok($term, '>', 0, "$n nodes: the leader's term ($term) is > 0");

	# Exactly one node believes it leads; everybody is in the leader's term
	# (followers adopt it with the first heartbeat).
	my %st;
	$oc->wait_until("every node in the leader's term", undef, sub {
		%st = map { ($_ => $oc->status($_, $channel)) } @names;
		return !grep { !$st{$_} || ($st{$_}{term} // -1) != $term } @names;
	});
	my @leaders = grep { $st{$_} && $st{$_}{is_leader} } @names;
	is_deeply(\@leaders, [$leader], "$n nodes: exactly one node has is_leader");
	for my $name (@names)
	{
		is($st{$name}{term}, $term, "$n nodes: $name is in term $term");
		is($st{$name}{leader}, $leader, "$n nodes: $name names $leader as leader");
		is($st{$name}{node}, $name, "$n nodes: status of $name says node = $name")
		  if exists $st{$name}{node};
		if (defined $st{$name}{role})
		{
			like($st{$name}{role}, $name eq $leader ? qr/leader/i : qr/follower/i,
				"$n nodes: role of $name");
		}
	}

	# Every node can submit, and gets its place back.
	my @acked;
	for my $name (@names)
	{
		my $r = $oc->submit($name, $channel, "election test payload from $name",
			"$channel-from-$name");
		ok($r->{ok}, "$n nodes: submit_tx on $name ("
			  . ($name eq $leader ? 'leader' : 'follower') . ")")
		  or diag("$r->{sqlstate}: $r->{message}");
		next unless $r->{ok};
		is($r->{tx_id}, "$channel-from-$name", "$n nodes: tx_id returned on $name");
		cmp_ok($r->{block_number}, '>', 0, "$n nodes: ordered into a block after genesis");
		push @acked, $r;
	}

	# Resubmitting the same id returns where it already is.
	my $again = $oc->submit($names[-1], $channel, "election test payload from $names[0]",
		"$channel-from-$names[0]");
	ok($again->{ok}, "$n nodes: resubmitting an ordered id succeeds");
	is_deeply([ @{$again}{qw(tx_id block_number position)} ],
		[ @{ $acked[0] }{qw(tx_id block_number position)} ],
		"$n nodes: resubmitting returns the original place")
	  if $again->{ok} && @acked;

	$oc->assert_chains_identical_and_verified(\@names, $channel);
	$oc->assert_acknowledged_present(\@names, $channel, \@acked);
	return $leader;
}

# --- 3 nodes
{
	my $oc = OrderingCluster->new(nodes => 3, prefix => 'three_');
	my @names = $oc->names;
	$oc->create_channel('elect3', \@names, { batch_timeout => 50 });
	my $leader = check_election($oc, 'elect3', \@names);

	# An operator moves the leadership to a chosen follower.
	my ($target) = $oc->followers($leader, \@names);
	my $tr = $oc->admin('elect3', \@names,
		"SELECT ordering.transfer_leadership('elect3', '$target')");
	ok($tr->{ok}, "transfer_leadership to $target") or diag("$tr->{sqlstate}: $tr->{message}");
	my $moved;
	$oc->wait_until("$target leads elect3", 30, sub {
		$moved = $oc->wait_for_leader('elect3', \@names, 10);
		return defined $moved && $moved eq $target;
	});
	is($moved, $target, "after transfer_leadership, all nodes agree $target leads");
	my $r = $oc->submit($leader, 'elect3', 'after the transfer', 'elect3-after-transfer');
	ok($r->{ok}, 'ordering continues after the transfer, submitting on the old leader')
	  or diag("$r->{sqlstate}: $r->{message}");
	$oc->assert_chains_identical_and_verified(\@names, 'elect3');

	# Chains that differ are reported at their first differing block: a
	# payload changed on one node (and changed back).
	my $where = "channel = 'elect3' AND tx_id = 'elect3-after-transfer'";
	my $block = $oc->safe_query($target,
		"SELECT block_number FROM ordering.transactions WHERE $where");
	chomp $block;
	$oc->safe_query($target,
		"UPDATE ordering.transactions SET payload = payload || '\\x00'::bytea WHERE $where");
	like($oc->first_difference('elect3', $leader, $target),
		qr/first differing block is $block: its transactions differ/,
		"a transaction changed on $target is reported at block $block");
	$oc->safe_query($target,
		"UPDATE ordering.transactions SET payload = substring(payload FROM 1 FOR length(payload) - 1) WHERE $where");
	like($oc->first_difference('elect3', $leader, $target), qr/every block agrees/,
		"$target agrees with $leader again");
	$oc->stop_node($_, 'fast') for @names;
}

# --- 5 nodes
{
	my $oc = OrderingCluster->new(nodes => 5, prefix => 'five_');
	my @names = $oc->names;
	$oc->create_channel('elect5', \@names, { batch_timeout => 50 });
	my $leader = check_election($oc, 'elect5', \@names);

	# 5 survive 2: kill the leader and one follower.
	my ($follower) = $oc->followers($leader, \@names);
	$oc->kill9_node($leader);
	$oc->kill9_node($follower);
	my @alive = grep { $_ ne $leader && $_ ne $follower } @names;
	my ($new_leader, $new_term) = $oc->wait_for_leader('elect5', \@alive);
	ok(defined $new_leader, "5 nodes, 2 killed: the 3 survivors elect a leader")
	  or die "no leader among @alive";
	isnt($new_leader, $leader, "5 nodes, 2 killed: the new leader is not the killed one");
	my $r = $oc->submit($alive[0], 'elect5', 'after two crashes', 'elect5-after-crash');
	ok($r->{ok}, "5 nodes, 2 killed: ordering continues")
	  or diag("$r->{sqlstate}: $r->{message}");

	# The two come back and catch up.
	$oc->start_node($_) for ($leader, $follower);
	$oc->assert_chains_identical_and_verified(\@names, 'elect5');
	$oc->assert_acknowledged_present(\@names, 'elect5', [$r]) if $r->{ok};
	my $after = $oc->wait_for_leader('elect5', \@names);
	ok(defined $after, "5 nodes: all five agree on a leader after the restart");
}

done_testing();
