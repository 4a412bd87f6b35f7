# 092_wiped_leader.pl: the leader loses its data directory while down.
#
# Issue 10: the leader is stopped and its data directory recreated (initdb,
# same node name, CREATE EXTENSION).  Meanwhile the other two elect a new
# leader and order on.  The old leader gets the channel back from them as a
# recovering follower.  While only one other node runs, the group has no
# quorum of nodes that may vote (the recovering node grants no vote), so it
# stays recovering, waiting for a target, and ordering.status says so:
# membership 'recovering', no target yet, and why.  Once the third node is
# back, a leader is elected without it, gives it a target, and it catches
# up: consenter again, the same verified chain everywhere, every
# acknowledged transaction present exactly once, and no server crashed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'wipedlead';
$oc->create_channel($ch, \@names, { batch_timeout => 50, max_message_count => 5 });
my $old_leader = $oc->wait_for_leader($ch, \@names);
ok(defined $old_leader, 'leader elected') or die 'no leader';
my ($a, $b) = $oc->followers($old_leader, \@names);
my %log_at = map { ($_ => -s $oc->node($_)->logfile) } @names;

my @acked;
ok($oc->fill_to($old_leader, $ch, 50, acked => \@acked), 'ordered up to block 50') or die;
ok($oc->wait_for_block($ch, \@names, 50), 'every node has block 50');

# --- the leader goes down; the others elect another and order on
$oc->stop_node($old_leader, 'fast');
my $leader = $oc->wait_for_leader($ch, [ $a, $b ]);
ok(defined $leader, "$a and $b elect a new leader ($leader)") or die;
ok($oc->fill_to($leader, $ch, 80, acked => \@acked), 'the new leader orders on to block 80');
ok($oc->wait_for_block($ch, [ $a, $b ], 80), "$a and $b have block 80");

# --- with only one other node up, the wiped leader comes back
my ($down) = grep { $_ ne $leader } ($a, $b);
$oc->stop_node($down, 'fast');
# Alone, the new leader steps down (check-quorum): nobody may lead now.
ok($oc->wait_until("$leader steps down alone", 60,
		sub { my $s = $oc->status($leader, $ch); return $s && $s->{role} ne 'leader'; }),
	"$leader, alone, steps down");
my $old_log_at = -s $oc->node($old_leader)->logfile;
$oc->recreate_node($old_leader);
ok($oc->wait_for_channel($ch, [$old_leader]), "$old_leader, recreated, gets the channel back");
my $st;
ok($oc->wait_until("$old_leader shows recovering in ordering.status", 60,
		sub { $st = $oc->status($old_leader, $ch); return $st && ($st->{membership} // '') eq 'recovering'; }),
	"ordering.status on $old_leader: membership 'recovering'");
like($st->{recovery} // '', qr/already had an election/, '... and says why');
ok(!defined $st->{recovery_target}, '... with no recovery target yet (no leader it may help elect)');
is($st->{role}, 'follower', '... as a follower');
my $node = $oc->node($old_leader);
ok($node->log_contains(qr/channel "$ch": this node may hold less than it once acknowledged; it recovers/, $old_log_at),
	"${old_leader}'s log says it recovers");
is($oc->safe_query($old_leader, "SELECT recovering FROM ordering.raft_state WHERE channel = '$ch'"),
	't', 'raft_state.recovering is set');

# --- the third node is back: a leader without the old one, which catches up
$oc->start_node($down);
my $final = $oc->wait_for_leader($ch, \@names);
ok(defined $final, "a leader of all three ($final)") or die;
isnt($final, $old_leader, 'the old leader does not lead again while it recovers');
ok($oc->wait_until("${old_leader}'s log says it caught up", 60,
		sub { $node->log_contains(qr/channel "$ch": this node has caught up and votes again/, $old_log_at) }),
	"${old_leader}'s log says it has caught up");
$st = $oc->status($old_leader, $ch);
is($st->{membership}, 'consenter', "$old_leader is a consenter again");
ok($oc->fill_to($final, $ch, 100, acked => \@acked), 'ordered on to block 100');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

is($oc->crashes($_, $_ eq $old_leader ? $old_log_at : $log_at{$_}), '', "no server process of $_ crashed")
  for @names;

done_testing();
