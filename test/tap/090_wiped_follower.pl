# 090_wiped_follower.pl: a follower whose data directory is lost rejoins.
#
# Issue 10: a follower's data directory is deleted and recreated (initdb,
# same node name, CREATE EXTENSION).  Its worker gets the channel back from
# the others (GENESIS), under a new incarnation and recovering (it cannot
# tell a first join from a wiped disk once the channel has had an
# election): it neither votes nor campaigns until the leader's recovery
# target is committed on it, and the log says so, once, then that it has
# caught up.  Then every node holds the same verified chain, every
# acknowledged transaction is in it exactly once, no server crashed, and
# the rejoined node has a new incarnation and votes
# again (it takes part in electing a new leader).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'wiped';
$oc->create_channel($ch, \@names, { batch_timeout => 50, max_message_count => 5 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($victim, $other) = $oc->followers($leader, \@names);
my %log_at = map { ($_ => -s $oc->node($_)->logfile) } @names;

my @acked;
ok($oc->fill_to($leader, $ch, 60, acked => \@acked), 'ordered up to block 60') or die;
ok($oc->wait_for_block($ch, \@names, 60), 'every node has block 60');
my $identity = "SELECT incarnation || '|' || boot || '|' || recovering FROM ordering.raft_state WHERE channel = '$ch'";
my ($old_incarnation) = split /\|/, $oc->safe_query($victim, $identity);
ok($old_incarnation && $old_incarnation ne '0', "$victim has an incarnation ($old_incarnation)");
is($oc->safe_query($leader,
		"SELECT count(*) FROM ordering.raft_peers WHERE channel = '$ch'"),
	'2', "the leader persisted a record of each other member");

# --- lose the follower's disk; the others go on
$oc->stop_node($victim, 'fast');
ok($oc->fill_to($leader, $ch, 90, acked => \@acked), "the others order on to block 90 without $victim");
my $victim_log_at = -s $oc->node($victim)->logfile;
$oc->recreate_node($victim);
ok($oc->wait_for_channel($ch, [$victim]), "$victim, recreated, gets the channel back from its peers");

# --- it recovers, says so, and catches up
my $node = $oc->node($victim);
ok($oc->wait_until("${victim}'s log says it recovers", 60,
		sub { $node->log_contains(qr/channel "$ch": this node may hold less than it once acknowledged; it recovers/, $victim_log_at) }),
	"${victim}'s log says it recovers, and why");
ok($node->log_contains(qr/Why: joined a channel that already had an election/, $victim_log_at),
	'... because it joined a channel that already had an election');
ok($oc->wait_until("${victim}'s log says it caught up", 60,
		sub { $node->log_contains(qr/channel "$ch": this node has caught up and votes again/, $victim_log_at) }),
	"${victim}'s log says it has caught up");
my ($new_incarnation, $boot, $recovering) = split /\|/, $oc->safe_query($victim, $identity);
isnt($new_incarnation, $old_incarnation, "$victim came back under a new incarnation");
cmp_ok($boot, '>=', 1, 'its boot counter was raised before its node started');
is($recovering, 'false', 'it no longer recovers');
my $st = $oc->status($victim, $ch);
is($st->{membership}, 'consenter', "$victim is a consenter again in ordering.status");
ok(!defined $st->{recovery}, '... with no recovery reason');

ok($oc->fill_to($leader, $ch, 100, acked => \@acked), 'ordered on to block 100');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

# --- it votes again: with the old leader gone, it and the other elect one
$oc->stop_node($leader, 'fast');
my $new_leader = $oc->wait_for_leader($ch, [ $victim, $other ]);
ok(defined $new_leader, "$victim and $other elect a leader without $leader (it votes again)");
$oc->start_node($leader);
ok($oc->fill_to($new_leader, $ch, 110, acked => \@acked), 'ordered on to block 110');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

is($oc->crashes($_, $_ eq $victim ? $victim_log_at : $log_at{$_}), '', "no server process of $_ crashed")
  for @names;

done_testing();
