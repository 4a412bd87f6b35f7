# 091_rolled_back_follower.pl: a follower restored from an older copy of its
# own data directory rejoins.
#
# Issue 10: the copy is taken while the follower is stopped; the follower
# then runs on, acknowledges more entries and votes in a newer term (the
# leader is stopped and the other two elect one); then its data directory
# is replaced by the old copy and it starts again.  Its host cannot tell
# (same PostgreSQL cluster, same timeline): its peers do, from the records
# they persisted of it (a life whose boot counter they already saw, a term
# below one it sent), and tell it to recover.  The log says so once, then
# that it has caught up; every node ends with the same verified chain,
# every acknowledged transaction in it exactly once, and no server crashed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'rolled';
$oc->create_channel($ch, \@names, { batch_timeout => 50, max_message_count => 5 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($victim, $other) = $oc->followers($leader, \@names);
my %log_at = map { ($_ => -s $oc->node($_)->logfile) } @names;
my $state = "SELECT term || '|' || boot FROM ordering.raft_state WHERE channel = '$ch'";

my @acked;
ok($oc->fill_to($leader, $ch, 40, acked => \@acked), 'ordered up to block 40') or die;
ok($oc->wait_for_block($ch, \@names, 40), 'every node has block 40');

# --- a copy of the follower, taken while it is stopped
$oc->stop_node($victim, 'fast');
my $copy = $oc->copy_datadir($victim);
$oc->start_node($victim);
ok($oc->wait_for_block($ch, [$victim], 40), "$victim runs again");

# --- it acknowledges more and votes in a newer term
ok($oc->fill_to($leader, $ch, 70, acked => \@acked), 'ordered on to block 70');
ok($oc->wait_for_block($ch, \@names, 70), 'every node has block 70');
my ($term_before) = split /\|/, $oc->safe_query($victim, $state);
$oc->stop_node($leader, 'fast');
my $new_leader = $oc->wait_for_leader($ch, [ $victim, $other ]);
ok(defined $new_leader, "$victim and $other elect a leader: $victim voted in a newer term") or die;
$oc->start_node($leader);
ok($oc->fill_to($new_leader, $ch, 100, acked => \@acked), 'ordered on to block 100');
ok($oc->wait_for_block($ch, \@names, 100), 'every node has block 100');
my ($term_after) = split /\|/, $oc->safe_query($victim, $state);
cmp_ok($term_after, '>', $term_before, "$victim is in a newer term ($term_after) than before ($term_before)");

# --- restore the old copy and start it
$oc->stop_node($victim, 'fast');
$oc->restore_datadir($victim, $copy);
my $victim_log_at = -s $oc->node($victim)->logfile;
$oc->start_node($victim);

my $node = $oc->node($victim);
ok($oc->wait_until("${victim}'s log says it recovers", 60,
		sub { $node->log_contains(qr/channel "$ch": this node may hold less than it once acknowledged; it recovers/, $victim_log_at) }),
	"${victim}'s log says it recovers");
ok($node->log_contains(qr/Why: a peer found its state older than it had shown before/, $victim_log_at),
	'... because a peer found it behind (its own host could not tell)');
ok($oc->wait_until("${victim}'s log says it caught up", 60,
		sub { $node->log_contains(qr/channel "$ch": this node has caught up and votes again/, $victim_log_at) }),
	"${victim}'s log says it has caught up");
my $st = $oc->status($victim, $ch);
is($st->{membership}, 'consenter', "$victim is a consenter again in ordering.status");

ok($oc->fill_to($new_leader, $ch, 110, acked => \@acked), 'ordered on to block 110');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

is($oc->crashes($_, $_ eq $victim ? $victim_log_at : $log_at{$_}), '', "no server process of $_ crashed")
  for @names;

done_testing();
