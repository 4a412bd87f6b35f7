
# Copyright: the ordering extension's authors.
#
# 063_catchup_resumes.pl: a follower that finished a catch-up in the
# background replicates again at once, not after the leader's snapshot
# timeout.
#
# A follower is cut off while its channel grows 200 blocks past it, then
# let in: the leader sends it a snapshot, and a background worker pulls the
# blocks and installs it, in well under a second here.  The answer the
# follower's Raft node gave the snapshot was dropped when the channel was
# parked for the pull, so the leader, still waiting for it, sent the
# follower nothing more until its snapshot timeout (5 s after sending)
# gave up on it.  Now the rebuilt channel steps the snapshot's message
# again, and its answer tells the leader to go on.  The test measures from
# the install (logged) to the follower holding a block ordered after it:
# 2.5 s at most, half the leader's timeout (here the old build took 5.0 s
# twice, the new one 0.4 to 0.5 s).  This is the one timing assertion of the suite's catch-up tests:
# the property is how soon, and the margin either side is seconds.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;
use Time::HiRes qw(time);

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
$oc->create_channel('big', \@names,
	{ batch_timeout => 50, max_message_count => 1,
	  snapshot_interval_bytes => 5000 });
my $leader = $oc->wait_for_leader('big', \@names);
ok(defined $leader, 'big has a leader') or die 'no leader';
my ($lagger) = $oc->followers($leader, \@names);
my @others = grep { $_ ne $lagger } @names;
my @acked;

ok($oc->fill_to($leader, 'big', 10, leader => $leader, acked => \@acked),
	'big ordered up to block 10');
ok($oc->wait_for_block('big', \@names, 10), 'every node has block 10');

my $lag_block = $oc->leave_behind($leader, $lagger, \@others, 'big', \@acked);
my $lag_node = $oc->node($lagger);
my $offset = -s $lag_node->logfile;
$oc->let_in($lagger, \@others);

ok( $lag_node->wait_for_log(
		qr/channel "big": installed the snapshot at index \d+ \(block \d+\) in the background/,
		$offset),
	"$lagger installed the leader's snapshot in a background worker");
my $installed_at = time;

my $r = $oc->submit($leader, 'big', 'after the catch-up');
ok($r->{ok}, 'a transaction is ordered after the install')
  or diag($r->{message});
push @acked, $r if $r->{ok};
my $block = $r->{block_number} // 0;
my $held_at;
ok( $oc->wait_until(
		"$lagger has block $block",
		30,
		sub {
			my $b = $oc->last_block($lagger, 'big');
			$held_at = time;
			return defined $b && $b >= $block;
		}),
	"$lagger replicates block $block");
my $elapsed = $held_at - $installed_at;
cmp_ok($elapsed, '<', 2.5,
	sprintf("$lagger had it %.2f s after the install (the leader's snapshot timeout is 5 s)",
		$elapsed));

$oc->assert_chains_identical_and_verified(\@names, 'big');
$oc->assert_acknowledged_present(\@names, 'big', \@acked);
is($oc->crashes($_), '', "no server process of $_ crashed") for @names;

done_testing();
