# 088_snapshot_config.pl: a snapshot that disagrees with the chain is refused.
#
# A snapshot carries the channel's configuration (consenters and settings)
# besides the chain's head.  The chain itself says what the configuration
# is: its last configuration block at or below the snapshot's last block.
# Here the snapshot the leaders hold is altered (max_message_count 1
# becomes 7, the chain's head untouched) before a follower that fell
# behind it comes back: the follower pulls and verifies the blocks, finds
# the snapshot's settings differ from the chain's configuration block, and
# refuses it; it keeps what it has.  Once the leaders hold a true snapshot
# again, it catches up and the chains are identical.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'snapcfg';
$oc->create_channel($ch, \@names,
	{ batch_timeout => 50, max_message_count => 1, snapshot_interval_bytes => 5000 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($lagger, $other) = $oc->followers($leader, \@names);
my @acked;
ok($oc->fill_to($leader, $ch, 20, acked => \@acked), 'ordered up to block 20');
ok($oc->wait_for_block($ch, \@names, 20), 'every node has block 20');

sub last_index
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT greatest(applied_index, snapshot_index, (SELECT coalesce(max(index), 0) FROM ordering.log WHERE channel = '$ch')) FROM ordering.raft_state WHERE channel = '$ch'");
}
my $lag_snapshot = $oc->safe_query($lagger,
	"SELECT snapshot_index FROM ordering.raft_state WHERE channel = '$ch'");
$oc->stop_node($lagger, 'fast');
# The stopped node's log is no longer than the others' are now.
my ($lag_index) = sort { $b <=> $a } map { last_index($_) } ($leader, $other);
ok($oc->fill_to($leader, $ch, 60, acked => \@acked), "the others go on without $lagger");
ok($oc->wait_until("the snapshots of $leader and $other cover ${lagger}'s last index", 60, sub {
			!grep {
				$oc->safe_query($_, "SELECT snapshot_index FROM ordering.raft_state WHERE channel = '$ch'") <= $lag_index
			} ($leader, $other);
		}),
	"the leaders' snapshots are past ${lagger}'s last raft index ($lag_index)");
ok(defined $oc->wait_for_same_head($ch, [ $leader, $other ]), "$leader and $other agree");

# --- the snapshot the others hold now claims other settings ------------

my %genuine;
for my $n ($leader, $other)
{
	$genuine{$n} = $oc->safe_query($n,
		"SELECT encode(snapshot_data, 'hex') FROM ordering.raft_state WHERE channel = '$ch'");
	$oc->safe_query($n,
		"UPDATE ordering.raft_state SET snapshot_data = convert_to(jsonb_set("
		  . "convert_from(snapshot_data, 'UTF8')::jsonb, '{config,config,max_message_count}', '7')::text, 'UTF8')"
		  . " WHERE channel = '$ch'");
	$oc->stop_node($n, 'fast');
}
$oc->start_node($_) for ($leader, $other);
ok(defined $oc->wait_for_leader($ch, [ $leader, $other ]), 'the others elect a leader again');

my $log_offset = -s $oc->node($lagger)->logfile;
$oc->start_node($lagger);
ok($oc->node($lagger)->wait_for_log(
		qr/channel "$ch": refused a snapshot whose consenters or settings differ from the chain's configuration at block \d+/,
		$log_offset),
	"$lagger refuses the snapshot whose settings differ from the chain's");
is($oc->safe_query($lagger, "SELECT config->>'max_message_count' FROM ordering.channels WHERE channel = '$ch'"),
	'1', "$lagger keeps the settings its chain says");
is($oc->safe_query($lagger, "SELECT snapshot_index FROM ordering.raft_state WHERE channel = '$ch'"),
	$lag_snapshot, "$lagger installed no snapshot");
my $bad = $oc->query($lagger, "SELECT * FROM ordering.verify_chain('$ch')");
like($bad->{stdout}, qr/^t\|/, "${lagger}'s chain still verifies");

# --- with true snapshots again, it catches up ---------------------------

for my $n ($leader, $other)
{
	$oc->safe_query($n,
		"UPDATE ordering.raft_state SET snapshot_data = '\\x$genuine{$n}'::bytea WHERE channel = '$ch'");
	$oc->stop_node($n, 'fast');
}
$oc->start_node($_) for ($leader, $other);
ok(defined $oc->wait_for_same_head($ch, \@names, 180), "$lagger catches up from a true snapshot");
is($oc->safe_query($lagger, "SELECT config->>'max_message_count' FROM ordering.channels WHERE channel = '$ch'"),
	'1', 'with the chain\'s settings');
$leader = $oc->wait_for_leader($ch, \@names);
ok($oc->fill_to($lagger, $ch, $oc->last_block($leader, $ch) + 3, leader => $leader, acked => \@acked),
	"$lagger orders again");
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

done_testing();
