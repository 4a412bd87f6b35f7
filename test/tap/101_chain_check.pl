# 101_chain_check.pl: a follower whose chain parts from the leader's stops
# the channel there, saying so, within a chain check's blocks.
#
# Entries carry transactions, and each node drops from a batch the ids its
# own tables hold.  A transaction row deleted by hand on a follower (below
# the head, where the restart's head check does not look) made the same id,
# submitted again, a block there and none on the others: from then on the
# follower's blocks had other numbers and hashes than its peers', its
# submitters were told other places, and nothing but verify_chain on that
# node said so.  Now the leader orders a chain check every 64 blocks (its
# last block after an index), and the follower, whose block there differs,
# stops the channel with XX001, naming both blocks and the remedy.  The
# leader and the other follower go on; the follower drops the channel,
# joins again, and has the same verified chain.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'checked';
$oc->create_channel($ch, \@names, { batch_timeout => 50 });
$oc->create_channel('bystander', \@names, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($victim, $other) = $oc->followers($leader, \@names);
my $node = $oc->node($victim);
my @acked;

my $first = $oc->submit_ok($leader, $ch, 'ordered once', 'once-1', \@acked, 'the id that is deleted');
ok($oc->fill_to($leader, $ch, 5, acked => \@acked), 'ordered up to block 5');
ok($oc->wait_for_block($ch, \@names, 5), 'every node has block 5');

# A chain check comes every 64 of the leader's blocks from its first: with
# these first blocks alone, none has come yet, and the chains agree.
$oc->assert_chains_identical_and_verified(\@names, $ch);

my $log_at = -s $node->logfile;
$oc->safe_query($victim,
	"DELETE FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'once-1'");
my $again = $oc->submit($leader, $ch, 'ordered once', 'once-1');
ok($again->{ok}, 'the id submitted again is answered');
is($again->{block_number}, $first->{block_number}, '... with its place in the chain');

my $head = $oc->last_block($leader, $ch);
ok($oc->fill_to($leader, $ch, $head + 70, acked => \@acked), 'the leader orders 70 blocks more');

my $st;
ok($oc->wait_until("the channel on $victim stops", 60,
		sub { $st = $oc->status($victim, $ch);
			  return $st && ($st->{last_error} // '') =~ /has block \d+ where its leader had block \d+ after raft index \d+/; }),
	"ordering.status on $victim shows that its chain parted from the leader's")
  or diag(explain($st));
ok($node->log_contains(qr/ERROR:  channel "$ch" has block \d+ where its leader had block \d+/, $log_at),
	'the log says so');
ok($node->log_contains(qr/HINT:  Run ordering.verify_chain\(\) on this node and on the leader; on the node whose chain is wrong: Drop the channel on this node/, $log_at),
	'... and names the remedy');
my $stopped_at = $oc->last_block($victim, $ch);
ok($oc->fill_to($leader, $ch, $oc->last_block($leader, $ch) + 3, acked => \@acked),
	"the leader and $other go on ordering");
is($oc->last_block($victim, $ch), $stopped_at, "$victim wrote no block since");
ok(defined $oc->wait_for_leader('bystander', \@names), "the other channel still runs on $victim");
$oc->assert_chains_identical_and_verified([ $leader, $other ], $ch);
like($oc->safe_query($victim, "SELECT detail FROM ordering.verify_chain('$ch')"),
	qr/tx_count of block $first->{block_number} is 1, not 0/,
	"verify_chain on $victim finds the deleted transaction");
is($oc->crashes($victim, $log_at), '', "no server process of $victim crashed");

# The remedy: drop the channel there; the leader pushes the genesis, and the
# node catches up as recovering.
$oc->safe_query($victim, "SELECT ordering.drop_channel('$ch')");
ok($oc->fill_to($leader, $ch, $oc->last_block($leader, $ch) + 3, acked => \@acked),
	'ordered on after the drop');
$oc->assert_chains_identical_and_verified(\@names, $ch, timeout => 120);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

done_testing();
