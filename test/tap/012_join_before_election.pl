
# Copyright: the ordering extension's authors.
#
# 012_join_before_election.pl: join_channel on the other consenters of a
# channel that had no election yet, and of one that had.
#
# n1 founds "fresh" with n2 and n3 while those two refuse n1's role, so
# n1's worker cannot push the genesis to them; each joins with
# join_channel from n1.  join_channel used to join as recovering, always:
# such a node votes only once a leader has brought it up to date, and with
# two of three recovering no leader could ever be elected.  Now it asks
# the peer's term (ordering.peer_term): at term 0 the channel had no
# election, the joiner cannot have voted in one, and it joins as a voter,
# as the worker's genesis push already did.  A leader is elected and a
# transaction ordered.
#
# "elected" had its election.  n3, its leader, cut off from n1 and n2,
# drops it and joins it again with join_channel: it may have voted in that
# election and forgotten it, so it recovers.  The channel was quiet: n1
# and n2 followed n3 without ticking, and n3's server kept talking to
# theirs, so nothing woke them and no new leader was elected.  A node that
# recovers and knows no leader now sends its term to the members (QUIESCE)
# once an election timeout, and a quiet follower that follows it in
# another term wakes: n1 and n2 elect a leader, n3 catches up and votes.
#
# Then n1, a follower of "fresh" (quiet under n3), drops it and joins it
# again: it recovers and asks, and the quiet leader, seeing another term,
# wakes and gives it a leader without any transaction submitted.
#
# Last, n3, leader of "elected" again and quiet, drops it and stays away:
# it tells the members (QUIESCE of no term), they wake and elect another
# leader, whose genesis push brings n3 back.  Before, they kept following
# n3, which no longer ran the channel.  And a follower of the quiet
# "fresh" drops it: its leader, told so, sends it the genesis (a quiet
# leader pushed none).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my $join = sub {
	my ($on, $ch, $from) = @_;
	# the peer's address (n1's by default), logging in as the joiner's role
	my $peer = $oc->conninfo($from // 'n1') =~ s/user=\S+/'user=' . $oc->role_of($on)/er;
	return $oc->query($on,
		"SELECT ordering.join_channel('$ch', " . OrderingCluster::lit($peer) . ')');
};
my $membership = sub {
	my ($on, $ch) = @_;
	return $oc->safe_query($on,
		"SELECT membership || ' ' || coalesce(recovery, '') FROM ordering.status WHERE channel = '$ch'");
};
# Waits until node $on is a voter of $ch again (caught up): a test.
my $votes_again = sub {
	my ($on, $ch, $what) = @_;
	ok($oc->wait_until("$on has caught up on $ch", undef,
			sub { $membership->($on, $ch) =~ /^consenter/ }),
		$what);
};

# --- a channel that had no election: the joiners vote at once
ok($oc->cut_off($_, ['n1']), "$_ refuses n1's role") for qw(n2 n3);
$oc->safe_query('n1',
	"SELECT ordering.create_channel('fresh', "
	  . OrderingCluster::lit($oc->consenters_json(@names))
	  . ", '{\"batch_timeout\": 50}')");
is($oc->query_as('n1', $oc->role_of('n2'), "SELECT ordering.peer_term('fresh')")->{stdout},
	'0', "n1's term of the new channel is 0 (peer_term, as n2's role)");
for my $n (qw(n2 n3))
{
	my $r = $join->($n, 'fresh');
	ok($r->{ok}, "join_channel on $n") or diag($r->{stderr});
}
ok($oc->wait_for_channel('fresh', \@names), 'the channel is on every node');
for my $n (qw(n2 n3))
{
	# The status row can be there before the worker has loaded the channel.
	my $m = '';
	$oc->wait_until("$n shows its membership of fresh", undef,
		sub { ($m = $membership->($n, 'fresh')) ne '' });
	like($m, qr/^consenter/,
		"$n joined a channel without an election as a voter, not recovering");
}
$oc->let_in($_, ['n1']) for qw(n2 n3);
my $leader = $oc->wait_for_leader('fresh', \@names);
ok(defined $leader, 'a leader of the joined channel is elected');
my $r = $oc->submit($leader // 'n1', 'fresh', 'after the joins', 'fresh-1');
ok($r->{ok}, 'a transaction is ordered') or diag($r->{message});

# --- a channel that had an election: the joiner recovers
$oc->create_channel('elected', \@names, { batch_timeout => 50 });
$leader = $oc->wait_for_leader('elected', \@names);
ok(defined $leader, 'elected has a leader') or die;
ok($oc->submit($leader, 'elected', "before n3 leaves $_", "e-$_")->{ok},
	"transaction $_ is ordered before n3 drops the channel")
  for 1 .. 3;
$oc->wait_for_same_head('elected', \@names);
# n3 leads both channels and they are quiet: n1 and n2 follow n3 without
# ticking, and n3's node keeps talking to theirs (QUIESCE for "fresh").
for my $ch (qw(fresh elected))
{
	my $l = $oc->wait_for_leader($ch, \@names) // 'n1';
	$oc->safe_query($l, "SELECT ordering.transfer_leadership('$ch', 'n3')") if $l ne 'n3';
	ok($oc->wait_until("n3 leads $ch", undef,
			sub { ($oc->wait_for_leader($ch, \@names, 5) // '') eq 'n3' }),
		"n3 leads $ch");
}
ok($oc->wait_until('both channels are quiet', undef,
		sub { $oc->all_quiet([qw(fresh elected)], \@names) }),
	'both channels are quiet on every node');
ok($oc->cut_off('n3', [qw(n1 n2)]), 'n3 refuses the roles of n1 and n2');
$oc->safe_query('n3', "SELECT ordering.drop_channel('elected')");
$r = $join->('n3', 'elected');
ok($r->{ok}, 'join_channel on n3 from n1') or diag($r->{stderr});
like($membership->('n3', 'elected'), qr/^recovering .*join_channel.*had an election/,
	'n3 joined a channel that had an election as recovering, saying why');
$oc->let_in('n3', [qw(n1 n2)]);
$votes_again->('n3', 'elected', 'let in, n3 catches up and is a voter again');
$leader = $oc->wait_for_leader('elected', \@names);
ok($oc->submit($leader // 'n1', 'elected', 'after the rejoin', 'e-4')->{ok},
	'a transaction is ordered after the rejoin');

# --- a follower of a quiet channel drops it and joins it again: it
# recovers and asks; its quiet leader wakes, and its heartbeats give it a
# leader.  (Before, it waited for the channel's next proposal.)
ok($oc->wait_until('fresh is quiet under n3', undef,
		sub { ((($oc->status('n1', 'fresh') // {})->{leader}) // '') eq 'n3'
			  && $oc->all_quiet(['fresh'], \@names) }),
	'fresh is quiet under n3');
ok($oc->cut_off('n1', [qw(n2 n3)]), 'n1 refuses the roles of n2 and n3');
$oc->safe_query('n1', "SELECT ordering.drop_channel('fresh')");
$r = $join->('n1', 'fresh', 'n3');
ok($r->{ok}, 'join_channel on n1 from n3') or diag($r->{stderr});
like($membership->('n1', 'fresh'), qr/^recovering /, 'n1 recovers');
$oc->let_in('n1', [qw(n2 n3)]);
$votes_again->('n1', 'fresh', 'let in, n1 catches up on fresh with nothing submitted');

# --- the leader of a quiet channel drops it: it tells the members, they
# elect another leader, and its push brings the node back (a consenter's
# drop is undone).  (Before, they followed the node that had dropped it.)
$leader = $oc->wait_for_leader('elected', \@names) // 'n1';
$oc->safe_query($leader, "SELECT ordering.transfer_leadership('elected', 'n3')") if $leader ne 'n3';
ok($oc->wait_until('elected is quiet under n3', undef,
		sub { ($oc->wait_for_leader('elected', \@names, 5) // '') eq 'n3'
			  && $oc->all_quiet(['elected'], \@names) }),
	'elected is quiet under n3 again');
my $n3_log = -s $oc->node('n3')->logfile;
$oc->safe_query('n3', "SELECT ordering.drop_channel('elected')");
ok($oc->logged('n3', qr/joined channel "elected" with its genesis from node "n[12]"/, $n3_log),
	'n3 gets the channel back from the genesis push of a new leader');
$votes_again->('n3', 'elected', 'n3 catches up and is a voter again');
$leader = $oc->wait_for_leader('elected', \@names);
ok($oc->submit($leader // 'n1', 'elected', 'after the drop', 'e-5')->{ok},
	'a transaction is ordered after the drop');

# --- a follower of a quiet channel drops it and stays away: its leader,
# told so, sends it the genesis.  (Before, a quiet leader pushed nothing,
# and the drop stood until the channel woke; the usual push goes only to
# members silent on the channel for 10 s.)  A transaction first, so that
# the leader has heard from the follower lately.
my $fresh_leader = $oc->wait_for_leader('fresh', \@names) // 'n3';
ok($oc->submit($fresh_leader, 'fresh', 'before a drop', 'fresh-2')->{ok},
	'a transaction is ordered on fresh');
ok($oc->wait_until('fresh is quiet', undef, sub { $oc->all_quiet(['fresh'], \@names) }),
	'fresh is quiet');
my ($dropper) = grep { $_ ne $fresh_leader } @names;
my $dropper_log = -s $oc->node($dropper)->logfile;
$oc->safe_query($dropper, "SELECT ordering.drop_channel('fresh')");
ok($oc->logged($dropper, qr/joined channel "fresh" with its genesis from node "\Q$fresh_leader\E"/,
		$dropper_log),
	"$dropper, a follower, gets fresh back from its leader's genesis");
$votes_again->($dropper, 'fresh', "$dropper catches up on fresh and is a voter again");

$oc->wait_for_same_head($_, \@names) for qw(fresh elected);
$oc->assert_chains_identical_and_verified(\@names, $_) for qw(fresh elected);

done_testing();
