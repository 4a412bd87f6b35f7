# 060_snapshot_catchup.pl: a follower catches up through a snapshot.
#
# Fabric's example: a follower stops at about block 100; the leader goes on
# to about block 196 with a small snapshot_interval_bytes, so the log entries
# the follower misses are compacted away on the leader.  When the follower
# restarts it receives the leader's snapshot, pulls the blocks it misses with
# SQL from a peer, verifies them, and continues with normal replication.
# Afterwards all chains are identical and verified.  Then once more, with
# the peers serving a block whose raft_index (not hashed) is past the
# snapshot's index: the follower refuses it until they serve the real one.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'snap';
# One transaction per block, so block numbers follow the submissions; a
# snapshot every ~5 kB of log, i.e. every ~15-20 blocks of 200-byte payloads.
$oc->create_channel($ch, \@names,
	{ batch_timeout => 50, max_message_count => 1, snapshot_interval_bytes => 5000 });

my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($lagger, $other) = $oc->followers($leader, \@names);

my @acked;

sub raft_state
{
	my ($on) = @_;
	my $out = $oc->safe_query($on,
		"SELECT row_to_json(x) FROM (SELECT r.term, r.commit_index, r.applied_index, r.snapshot_index, r.snapshot_term, convert_from(r.snapshot_data, 'UTF8') AS snapshot_data, (SELECT min(index) FROM ordering.log l WHERE l.channel = r.channel) AS first_log_index, (SELECT max(index) FROM ordering.log l WHERE l.channel = r.channel) AS last_log_index FROM ordering.raft_state r WHERE r.channel = '$ch') x");
	return decode_json($out);
}

# --- up to block ~100 with everybody
ok($oc->fill_to($leader, $ch, 100, leader => $leader, acked => \@acked), 'ordered up to block 100') or die;
ok($oc->wait_for_block($ch, \@names, 100), 'every node has block 100');
my $lag_block = $oc->last_block($lagger, $ch);
my $lag_state = raft_state($lagger);
my $lag_index = (sort { $b <=> $a } grep { defined }
	  ($lag_state->{last_log_index}, $lag_state->{snapshot_index}, $lag_state->{applied_index}))[0];
note("follower $lagger stops at block $lag_block, raft index $lag_index");

$oc->stop_node($lagger, 'fast');

# --- the others go on to ~196
ok($oc->fill_to($leader, $ch, 196, leader => $leader, acked => \@acked), 'the leader goes on to block 196 without the stopped follower');
ok($oc->wait_for_block($ch, [ $leader, $other ], 196), "$leader and $other have block 196");

my $ls;
ok( $oc->wait_until("the leader's snapshot covers the stopped follower's last index", 60,
		sub { $ls = raft_state($leader); return $ls->{snapshot_index} > $lag_index; }),
	"the leader's snapshot_index ($ls->{snapshot_index}) > the stopped follower's last index ($lag_index)");
ok(!defined $ls->{first_log_index} || $ls->{first_log_index} > $ls->{snapshot_index},
	'the leader deleted the log entries its snapshot covers (first log index '
	  . ($ls->{first_log_index} // 'none') . ')');
ok(!defined $ls->{first_log_index} || $ls->{first_log_index} > $lag_index + 1,
	'the entries the stopped follower needs are no longer in the leader\'s log');

# The snapshot's data names a block of the chain and its hash.
my $sd = eval { decode_json($ls->{snapshot_data} // '') };
ok($sd && defined $sd->{last_block}, 'the snapshot records the last block')
  or diag("snapshot_data: " . ($ls->{snapshot_data} // 'NULL'));
if ($sd && defined $sd->{last_block})
{
	cmp_ok($sd->{last_block}, '>', $lag_block, 'the snapshot is past the stopped follower\'s last block');
	is($sd->{last_hash},
		$oc->safe_query($leader,
			"SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$ch' AND number = $sd->{last_block}"),
		'the snapshot\'s last_hash is the hash of that block');
}
my $leader_snapshot_index = $ls->{snapshot_index};

# --- the follower restarts and catches up through the snapshot
$oc->start_node($lagger);
ok(defined $oc->wait_for_same_head($ch, \@names, 120),
	"$lagger catches up with the others");
my $fs = raft_state($lagger);
cmp_ok($fs->{snapshot_index}, '>=', $leader_snapshot_index,
	"$lagger installed a snapshot at least as recent as the leader's ($leader_snapshot_index)");
my $missing;
$oc->wait_until("$lagger has no gap in its chain", 60, sub {
	$missing = $oc->safe_query($lagger,
		"SELECT count(*) FROM generate_series(0, (SELECT max(number) FROM ordering.blocks WHERE channel = '$ch')) g(n) WHERE NOT EXISTS (SELECT 1 FROM ordering.blocks b WHERE b.channel = '$ch' AND b.number = g.n)");
	return $missing eq '0';
});
is($missing, '0', "$lagger has every block, the pulled ones (" . ($lag_block + 1) . '..) included');
is($oc->safe_query($lagger,
	"SELECT count(*) FROM ordering.blocks b WHERE channel = '$ch' AND number > $lag_block AND NOT is_config AND NOT EXISTS (SELECT 1 FROM ordering.transactions t WHERE t.channel = b.channel AND t.block_number = b.number)"),
	'0', "$lagger has the transactions of the pulled blocks");
$oc->assert_chains_identical_and_verified(\@names, $ch);

# --- and then it follows by normal replication (and can submit)
my $last = $oc->last_block($leader, $ch);
ok($oc->fill_to($lagger, $ch, $last + 5, leader => $leader, acked => \@acked), "submitting on $lagger after the catch-up");
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
my $st = $oc->status($lagger, $ch);
ok(($st->{snapshot_index} // 0) > 0, "ordering.status of $lagger shows its snapshot index")
  if $st && exists $st->{snapshot_index};

# --- a block's raft_index is not hashed: the peers serve one past the
# snapshot's index, and the follower refuses it (it used to insert it; a
# restart, which checks the last block's raft_index against the applied
# index, would then have stopped the channel there).
# The forged block must reach the follower by the pull.  It is the first
# one ten entries past the follower's log as read here (entries it holds it
# applies from its own log on restart), with the leader's snapshot and log
# past it.  Even so, under load the follower once got it in appends the
# leader had queued for it while it was down and delivered when it came
# back, and pulled nothing: then the round is run again, three at most.
my ($forged, $where, %real_index, $log_at, $refused);
for my $round (1 .. 3)
{
	ok(defined $oc->wait_for_same_head($ch, \@names), "round $round: every node has the same head");
	my $lag_now = raft_state($lagger);
	$lag_index = 10 + (sort { $b <=> $a } grep { defined }
		  ($lag_now->{last_log_index}, $lag_now->{snapshot_index}, $lag_now->{applied_index}))[0];
	$lag_block = $oc->last_block($lagger, $ch);
	$oc->stop_node($lagger, 'fast');
	ok($oc->fill_to($leader, $ch, $lag_block + 60, leader => $leader, acked => \@acked),
		"round $round: the others go on again without the stopped follower");
	ok( $oc->wait_until("the leader's snapshot and log are past the stopped follower's log again", 60,
			sub {
				my $ls = raft_state($leader);
				return $ls->{snapshot_index} > $lag_index + 5
				  && (!defined $ls->{first_log_index} || $ls->{first_log_index} > $lag_index + 1);
			}),
		"round $round: the leader's snapshot and log are past the stopped follower's log, ten entries on ($lag_index)");
	$forged = $oc->safe_query($leader,
		"SELECT min(number) FROM ordering.blocks WHERE channel = '$ch' AND raft_index > $lag_index");
	$where = "channel = '$ch' AND number = $forged";
	%real_index = map { $_ => $oc->safe_query($_, "SELECT raft_index FROM ordering.blocks WHERE $where") } ($leader, $other);
	$oc->safe_query($_, "UPDATE ordering.blocks SET raft_index = 9223372036854775807 WHERE $where") for ($leader, $other);
	$log_at = -s $oc->node($lagger)->logfile;
	$oc->start_node($lagger);
	my $pulled = 0;
	$oc->wait_until("$lagger refuses the forged raft_index, or has the block without a pull", 60,
		sub {
			$refused = $oc->node($lagger)->log_contains(qr/sent block $forged at raft index 9223372036854775807, past the snapshot's index/, $log_at);
			$pulled = $oc->node($lagger)->log_contains(qr/pull/, $log_at);
			return $refused || (!$pulled && ($oc->last_block($lagger, $ch) // -1) >= $forged);
		});
	last if $refused || $pulled;
	note("round $round: $lagger got block $forged in queued appends, without a pull; again");
	$oc->safe_query($_, "UPDATE ordering.blocks SET raft_index = $real_index{$_} WHERE $where") for ($leader, $other);
}
ok($refused, "$lagger refuses block $forged at a raft_index past the snapshot's index");
is($oc->safe_query($lagger, "SELECT count(*) FROM ordering.blocks WHERE $where"), '0',
	"$lagger did not insert block $forged");
$oc->safe_query($_, "UPDATE ordering.blocks SET raft_index = $real_index{$_} WHERE $where") for ($leader, $other);
ok(defined $oc->wait_for_same_head($ch, \@names, 120), "$lagger catches up once the peers serve the real raft_index");
is($oc->safe_query($lagger, "SELECT raft_index FROM ordering.blocks WHERE $where"), $real_index{$leader},
	"$lagger holds block $forged at its real raft_index");
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
is($oc->crashes($lagger, $log_at), '', "no server process of $lagger crashed");

done_testing();
