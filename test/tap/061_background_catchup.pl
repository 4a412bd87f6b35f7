# 061_background_catchup.pl: a long snapshot catch-up runs in a background
# worker of its own, and the node's other channels go on meanwhile.
#
# A follower is cut off (the other nodes' roles may not log in to it) while
# channel "big" grows well past its snapshot interval; channel "side" is
# left alone.  When the follower is reachable again, the leader of "big"
# sends it a snapshot more than 64 blocks ahead of its chain: its worker
# hands the pull to an "ordering catch-up" background worker and parks the
# channel (ordering.status shows membership "catchup", ordering.catchups
# the request).  The test holds the catch-up (ordering.debug_hold_catchups),
# so the pull waits for as long as the test likes: meanwhile "side" orders new
# transactions submitted on that very node.  A catch-up worker killed
# meanwhile is replaced at the leader's next snapshot.  Released, the catch-up
# installs the blocks and the snapshot, the worker rebuilds "big", and it
# replicates and takes submissions again.  Last, with no background worker
# slot free, the same catch-up is done inline.  The chains are identical
# and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The catch-up's lock was pg_advisory_xact_lock(28525, hashtext(channel))
# (ORDERING_CATCHUP_LOCK_CLASS, src/common/limits.h), open to any login
# role: one that held it kept the node from ever catching the channel up
# (found by hostile testing).  A role with no grants holds that lock
# through the whole catch-up below, which must finish all the same.
my $CATCHUP_LOCK_CLASS = 28525;

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my %settings = (batch_timeout => 50, max_message_count => 1,
	snapshot_interval_bytes => 5000);
$oc->create_channel('big', \@names, \%settings);
$oc->create_channel('side', \@names, { batch_timeout => 50 });

my $leader = $oc->wait_for_leader('big', \@names);
ok(defined $leader, 'big has a leader') or die 'no leader';
ok(defined $oc->wait_for_leader('side', \@names), 'side has a leader')
  or die 'no leader';
my ($lagger) = $oc->followers($leader, \@names);
my @others = grep { $_ ne $lagger } @names;
my @acked;
my @side_acked;

ok($oc->fill_to($leader, 'big', 20, leader => $leader, acked => \@acked),
	'big ordered up to block 20');
ok($oc->wait_for_block('big', \@names, 20), 'every node has block 20 of big');
my $side_before = $oc->last_block($leader, 'side');
ok($oc->wait_for_block('side', \@names, $side_before),
	"every node has block $side_before of side");

# --- cut the follower off while big grows far past its log --------------
my $lag_block = $oc->leave_behind($leader, $lagger, \@others, 'big', \@acked);
is($oc->last_block($lagger, 'big'), $lag_block,
	"$lagger is still at block $lag_block of big");

# --- hold the catch-up, then let the peers in again ---------------------
sub hold_catchups
{
	my ($on) = @_;
	$oc->safe_query($lagger, "ALTER SYSTEM SET ordering.debug_hold_catchups = $on");
	$oc->safe_query($lagger, 'SELECT pg_reload_conf()');
}
hold_catchups('on');
$oc->safe_query($lagger, 'CREATE ROLE squatter LOGIN');
my $squatter = $oc->node($lagger)->background_psql('postgres',
	extra_params => [ '-U', 'squatter' ]);
$squatter->query_safe(
	"SELECT pg_advisory_lock($CATCHUP_LOCK_CLASS, hashtext('big'))");
$oc->let_in($lagger, \@others);

my $st;
ok( $oc->wait_until(
		"big on $lagger is parked for a catch-up",
		90,
		sub {
			$st = $oc->status($lagger, 'big');
			return $st && $st->{membership} eq 'catchup';
		}),
	"ordering.status on $lagger shows big with membership catchup");
my $request = $oc->safe_query($lagger,
	"SELECT from_block || ' ' || to_block || ' ' || (last_error IS NULL) FROM ordering.catchups WHERE channel = 'big'"
);
my ($from, $to, $no_error) = split / /, $request // '';
is($from, $lag_block + 1, 'ordering.catchups: the pull starts after the follower\'s last block');
cmp_ok($to // 0, '>', $lag_block + 64, 'ordering.catchups: up to the snapshot\'s last block');
is($no_error, 'true', 'ordering.catchups: no error recorded');
ok( $oc->wait_until(
		"an ordering catch-up worker waits on $lagger",
		60,
		sub {
			$oc->safe_query($lagger,
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering catch-up' AND wait_event = 'Extension'"
			) eq '1';
		}),
	'the pull runs in its own background worker (held by the test)');

# --- meanwhile the node's other channel orders, submitted on that node --
for my $i (1 .. 5)
{
	my $r = $oc->submit($lagger, 'side', "side while catching up $i");
	ok($r->{ok}, "submit_tx on $lagger to side while big catches up ($i)")
	  or diag($r->{message});
	push @side_acked, $r if $r->{ok};
}
my $side_now = $oc->last_block($leader, 'side');
ok($oc->wait_for_block('side', [$lagger], $side_now),
	"$lagger applied side's block $side_now while big waited");
is($oc->status($lagger, 'big')->{membership}, 'catchup',
	'big was parked all along');
is($oc->last_block($lagger, 'big'), $lag_block,
	'big has no pulled block before the catch-up commits');

# --- a catch-up worker that dies leaves nothing behind: the channel is
# rebuilt, and the leader's next snapshot starts another one -------------
my $catchup_pid = $oc->safe_query($lagger,
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering catch-up'");
$oc->safe_query($lagger, "SELECT pg_terminate_backend($catchup_pid)");
ok( $oc->wait_until(
		"another catch-up worker waits on $lagger",
		90,
		sub {
			my $pid = $oc->safe_query($lagger,
				"SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering catch-up' AND wait_event = 'Extension'"
			);
			return $pid ne '' && $pid ne $catchup_pid;
		}),
	'a killed catch-up worker is replaced on the next snapshot');
is($oc->last_block($lagger, 'big'), $lag_block,
	'the killed catch-up left no block behind');

# --- released: the catch-up installs, big replicates again --------------
# (the squatter's advisory lock still held)
hold_catchups('off');
ok(defined $oc->wait_for_same_head('big', \@names, 120),
	"$lagger catches up big with the others");
ok( $oc->wait_until(
		"big on $lagger is a consenter again",
		60,
		sub {
			$st = $oc->status($lagger, 'big');
			return $st && $st->{membership} eq 'consenter';
		}),
	'ordering.status shows big as a consenter again');
$squatter->quit;
is($oc->safe_query($lagger, "SELECT count(*) FROM ordering.catchups"),
	'0', 'the request was deleted with the install');
cmp_ok($oc->safe_query($lagger,
	"SELECT snapshot_index FROM ordering.raft_state WHERE channel = 'big'"),
	'>', 0, "$lagger installed a snapshot of big");

my $last = $oc->last_block($leader, 'big');
ok($oc->fill_to($lagger, 'big', $last + 5, leader => $leader,
		acked => \@acked),
	"submitting to big on $lagger after the catch-up");
ok(defined $oc->wait_for_same_head('big', \@names, 60),
	'every node has the new blocks of big');
# --- no background worker slot: the pull is done inline, as before ------
# The logical replication launcher and the ordering worker take both slots.
my $lag_node = $oc->node($lagger);
$oc->stop_node($lagger, 'fast');
$lag_node->append_conf('postgresql.conf', "max_worker_processes = 2\n");
my $stopped_at = $oc->last_block($leader, 'big');
ok($oc->fill_to($leader, 'big', $stopped_at + 150, leader => $leader,
		acked => \@acked),
	"big ordered 150 more blocks while $lagger was down");
my $log_offset = -s $lag_node->logfile;
$oc->start_node($lagger);
ok(defined $oc->wait_for_same_head('big', \@names, 120),
	"$lagger catches up big without a background worker slot");
ok($lag_node->wait_for_log(qr/no background worker slot is free for the catch-up; pulling inline/,
		$log_offset),
	'it said so, and pulled inline');
unlike(slurp_file($lag_node->logfile, $log_offset), qr/installed the snapshot at index \d+ \(block \d+\) in the background/,
	'no catch-up worker ran');

$oc->assert_chains_identical_and_verified(\@names, 'big');
$oc->assert_chains_identical_and_verified(\@names, 'side');
$oc->assert_acknowledged_present(\@names, 'big', \@acked);
$oc->assert_acknowledged_present(\@names, 'side', \@side_acked);

done_testing();
