
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
# again, and its answer tells the leader to go on.  The test waits for the
# follower to say it answered, then for it to hold a block ordered after
# the install, and checks the leader's log: from the install on, it never
# gave up on its snapshot to the follower (it logs when it does, and the
# old build had it do so for every catch-up in the background).  No
# timing: the order of events is the property.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;
use PostgreSQL::Test::Utils;

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

my $leader_node = $oc->node($leader);
ok( $oc->logged(
		$lagger,
		qr/channel "big": installed the snapshot at index \d+ \(block \d+\) in the background/,
		$offset, 120),
	"$lagger installed the leader's snapshot in a background worker");
my $leader_offset = -s $leader_node->logfile;
ok( $oc->logged(
		$lagger,
		qr/channel "big": answered the snapshot at index \d+ installed in the background/,
		$offset, 60),
	"$lagger answers the leader's snapshot once it is installed");

my $r = $oc->submit($leader, 'big', 'after the catch-up');
ok($r->{ok}, 'a transaction is ordered after the install')
  or diag($r->{message});
push @acked, $r if $r->{ok};
my $block = $r->{block_number} // 0;
ok($oc->wait_for_block('big', [$lagger], $block, 60),
	"$lagger replicates block $block");
unlike(slurp_file($leader_node->logfile, $leader_offset),
	qr/channel "big": the snapshot sent to node "$lagger" is unanswered/,
	"the leader $leader did not give up on its snapshot to $lagger after the install");

$oc->assert_chains_identical_and_verified(\@names, 'big');
$oc->assert_acknowledged_present(\@names, 'big', \@acked);
is($oc->crashes($_), '', "no server process of $_ crashed") for @names;

done_testing();
