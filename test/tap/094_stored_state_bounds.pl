# 094_stored_state_bounds.pl: Raft identity read back from the tables is
# bounded; a value out of range stops that channel with an error naming the
# remedy, never a crash, and the channel runs again once the value is sane.
#
# A follower's ordering.raft_state.boot is set to 2^32 - 1 (the counter
# would pass the core's limit) and, separately, a peer record with a term of
# 2^62 is planted in ordering.raft_peers; each time the server is restarted.
# The channel's ordering.status shows the error, the log gives the remedy
# (drop the channel on this node and let it join again), the other channels
# and the server keep running; after the value is repaired the node rejoins
# the same verified chain.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'bounded';
$oc->create_channel($ch, \@names, { batch_timeout => 50 });
$oc->create_channel('bystander', \@names, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($victim) = $oc->followers($leader, \@names);
my @acked;
ok($oc->fill_to($leader, $ch, 10, acked => \@acked), 'ordered up to block 10') or die;
ok($oc->wait_for_block($ch, \@names, 10), 'every node has block 10');
my $node = $oc->node($victim);

sub broken_then_repaired
{
	my ($what, $break, $repair, $message) = @_;
	my $log_at = -s $node->logfile;
	# The worker rewrites these columns only when they change: the channel
	# is idle, so the planted value stays until the restart reads it.
	$oc->safe_query($victim, $break);
	$oc->stop_node($victim, 'fast');
	$oc->start_node($victim);
	my $st;
	ok($oc->wait_until("$what: the channel on $victim shows the error", 60,
			sub { $st = $oc->status($victim, $ch); return $st && ($st->{last_error} // '') =~ $message; }),
		"$what: ordering.status on $victim shows the error")
	  or diag(explain($st));
	is($st->{role}, 'stopped', "$what: no Raft node runs for the channel");
	ok($node->log_contains(qr/HINT:  Drop the channel on this node with ordering.drop_channel\(\) and let it join again/, $log_at),
		"$what: the log names the remedy");
	ok(defined $oc->wait_for_leader('bystander', \@names), "$what: the other channel still runs on $victim");
	$oc->safe_query($victim, $repair);
	ok($oc->wait_until("$what: the channel runs again on $victim", 90,
			sub { $st = $oc->status($victim, $ch); return $st && ($st->{role} // '') eq 'follower' && !defined $st->{last_error}; }),
		"$what: repaired, the channel runs again on $victim")
	  or diag(explain($st));
	is($oc->crashes($victim, $log_at), '', "$what: no server process of $victim crashed");
}

broken_then_repaired('boot counter at its limit',
	"UPDATE ordering.raft_state SET boot = 4294967295 WHERE channel = '$ch'",
	"UPDATE ordering.raft_state SET boot = 7 WHERE channel = '$ch'",
	qr/raft state of channel "$ch" is out of range: the boot counter/);
broken_then_repaired('a peer record with a term of 2^62',
	"INSERT INTO ordering.raft_peers VALUES ('$ch', 99, 1, 1, 4611686018427387904)",
	"DELETE FROM ordering.raft_peers WHERE channel = '$ch' AND raft_id = 99",
	qr/raft state of channel "$ch" is out of range: a peer record/);

ok($oc->fill_to($leader, $ch, 20, acked => \@acked), 'ordered on to block 20');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

done_testing();
