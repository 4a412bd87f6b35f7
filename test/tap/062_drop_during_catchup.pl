
# Copyright: the ordering extension's authors.
#
# 062_drop_during_catchup.pl: drop_channel does not wait for a catch-up
# running in its background worker.
#
# A follower is cut off while channel "big" grows far past its snapshot
# interval, then let in again: its worker hands the pull to an "ordering
# catch-up" background worker.  The test holds ordering.transactions in
# SHARE mode on that node, so the catch-up stops at its first pulled
# block, inside its transaction: the block it inserted holds big's row in
# ordering.channels, as a pull of 100,000 blocks does for minutes (the
# background pull may take up to an hour).  drop_channel('big') waited for
# that transaction to end.  Now it ends the catch-up worker first: the
# worker is gone while the test still holds its lock, and once the lock
# is released drop_channel returns.  The other channel goes on.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
$oc->create_channel('big', \@names,
	{ batch_timeout => 50, max_message_count => 1, snapshot_interval_bytes => 5000 });
$oc->create_channel('side', \@names, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader('big', \@names);
ok(defined $leader, 'big has a leader') or die 'no leader';
ok(defined $oc->wait_for_leader('side', \@names), 'side has a leader') or die;
my ($lagger) = $oc->followers($leader, \@names);
my @others = grep { $_ ne $lagger } @names;
my @side_acked;

$oc->leave_behind($leader, $lagger, \@others, 'big', []);

my $node = $oc->node($lagger);
my $holder = $node->background_psql('postgres');
$holder->query_safe(
	'BEGIN; LOCK TABLE ordering.transactions IN SHARE MODE');
$oc->let_in($lagger, \@others);
ok( $oc->wait_until(
		"the catch-up worker on $lagger waits for the test's lock",
		90,
		sub {
			$oc->safe_query($lagger,
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering catch-up'"
				  . " AND wait_event_type = 'Lock' AND wait_event = 'relation'") eq '1';
		}),
	'the catch-up stopped at its first block, inside its transaction');
ok( $oc->safe_query($lagger,
		"SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
		  . " WHERE a.backend_type = 'ordering catch-up' AND l.relation = 'ordering.channels'::regclass"
		  . " AND l.granted") eq 't',
	'it holds a lock on ordering.channels (the row of big, by its block)');

my $dropper = $node->background_psql('postgres');
$dropper->query_until(qr/dropping/,
	"\\echo dropping\nSELECT 'drop ' || 'done' FROM (SELECT ordering.drop_channel('big')) d;\n");
ok( $oc->wait_until(
		"no catch-up worker left on $lagger",
		30,
		sub {
			$oc->safe_query($lagger,
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering catch-up'"
			) eq '0';
		}),
	'drop_channel ended the catch-up worker while the test held its lock');
$holder->query_safe('COMMIT');
$holder->quit;
$dropper->quit;
like($dropper->{stdout}, qr/drop done/,
	'drop_channel returned once the lock was released');

for my $i (1 .. 3)
{
	my $r = $oc->submit($lagger, 'side', "side after the drop $i");
	ok($r->{ok}, "submit_tx on $lagger to side after the drop ($i)")
	  or diag($r->{message});
	push @side_acked, $r if $r->{ok};
}
$oc->assert_chains_identical_and_verified(\@names, 'side');
$oc->assert_acknowledged_present(\@names, 'side', \@side_acked);
done_testing();
