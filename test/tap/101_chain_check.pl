# 101_chain_check.pl: a node whose chain parts from the leader's says so
# within a chain check's blocks, and the channel keeps running.
#
# Entries carry transactions, and each node drops from a batch the ids its
# own tables hold.  A transaction row deleted by hand on one node (below
# the head, where the restart's head check does not look) made the same id,
# submitted again, a block there and none on the others: from then on that
# node's blocks had other numbers and hashes than its peers', its
# submitters were told other places, and nothing but verify_chain on that
# node said so.  Now the leader orders a chain check every 64 blocks (its
# last block after an index), and a member whose block there differs logs
# a WARNING naming both blocks and the remedy, and ordering.status shows
# it.
#
# First a follower's row is deleted: it warns, the others go on, and after
# drop_channel there it joins again with the same verified chain.  Then
# the leader's: both followers warn, and the channel still orders (a check
# that failed the apply would have stopped them for good, on an entry in
# their logs); after drop_channel on the leader, it joins again, the next
# checks agree and the followers' warnings are cleared.
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
my @acked;
ok($oc->fill_to($leader, $ch, 5, acked => \@acked), 'ordered up to block 5');
ok($oc->wait_for_block($ch, \@names, 5), 'every node has block 5');
# No check has come yet (one every 64 of the leader's blocks): the chains agree.
$oc->assert_chains_identical_and_verified(\@names, $ch);

my $parted = qr/has block \d+ where its leader had block \d+ after raft index \d+/;

# Deletes the row of a transaction ordered now on $tampered, submits its id
# again on the leader, and has the leader order 70 blocks more (their
# places pushed on @$acked).  Returns the transaction's block.
sub part_chain_of
{
	my ($tampered, $id, $acked) = @_;
	my $first = $oc->submit_ok($leader, $ch, "ordered once: $id", $id, \@acked, "$id, whose row is deleted");
	ok($oc->wait_for_block($ch, \@names, $first->{block_number}), "every node has $id");
	$oc->safe_query($tampered,
		"DELETE FROM ordering.transactions WHERE channel = '$ch' AND tx_id = '$id'");
	my $again = $oc->submit($leader, $ch, "ordered once: $id", $id);
	ok($again->{ok}, "$id submitted again is answered");
	my $head = $oc->last_block($leader, $ch);
	ok($oc->fill_to($leader, $ch, $head + 70, acked => $acked), 'the leader orders 70 blocks more');
	return $first->{block_number};
}

sub warns
{
	my ($n, $log_at, $what) = @_;
	my $st;
	ok($oc->wait_until("$n warns", 60,
			sub { $st = $oc->status($n, $ch); return $st && ($st->{last_error} // '') =~ $parted; }),
		"$what: ordering.status on $n shows that its chain parted from the leader's")
	  or diag(explain($st));
	ok($oc->node($n)->log_contains(qr/WARNING:  channel "$ch" $parted/, $log_at),
		"$what: the log of $n says so");
	ok($oc->node($n)->log_contains(
			qr/HINT:  Run ordering.verify_chain\(\) on this node and on the leader; on the node whose chain is wrong: Drop the channel on this node/,
			$log_at),
		"$what: ... and names the remedy");
}

# --- a follower's row deleted
my ($victim, $other) = $oc->followers($leader, \@names);
my $log_at = -s $oc->node($victim)->logfile;
my $block = part_chain_of($victim, 'once-1', \@acked);
warns($victim, $log_at, 'a follower parted');
is(($oc->status($leader, $ch) // {})->{last_error}, undef, 'the leader does not warn');
ok($oc->submit($leader, $ch, 'after the warning', 'after-1')->{ok}, 'the channel still orders');
ok(defined $oc->wait_for_leader('bystander', \@names), "the other channel runs on $victim");
$oc->assert_chains_identical_and_verified([ $leader, $other ], $ch);
like($oc->safe_query($victim, "SELECT detail FROM ordering.verify_chain('$ch')"),
	qr/tx_count of block $block is 1, not 0/,
	"verify_chain on $victim finds the deleted transaction");
is($oc->crashes($victim, $log_at), '', "no server process of $victim crashed");

$oc->safe_query($victim, "SELECT ordering.drop_channel('$ch')");
ok($oc->fill_to($leader, $ch, $oc->last_block($leader, $ch) + 3, acked => \@acked),
	"ordered on after the drop on $victim");
$oc->assert_chains_identical_and_verified(\@names, $ch, timeout => 120);

# --- the leader's row deleted: the followers warn and the channel runs on.
# The places the parted leader told its submitters are its own chain's,
# one block past the followers': these transactions are checked by id.
$leader = $oc->wait_for_leader($ch, \@names);
my @followers = $oc->followers($leader, \@names);
my %log_at = map { $_ => -s $oc->node($_)->logfile } @followers;
my @told_by_parted;
$block = part_chain_of($leader, 'once-2', \@told_by_parted);
warns($_, $log_at{$_}, 'the leader parted') for @followers;
ok($oc->submit($leader, $ch, 'after the warnings', 'after-2')->{ok}, 'the channel still orders');
$oc->assert_chains_identical_and_verified(\@followers, $ch);
like($oc->safe_query($leader, "SELECT detail FROM ordering.verify_chain('$ch')"),
	qr/tx_count of block $block is 1, not 0/,
	"verify_chain on the leader $leader finds the deleted transaction");

$oc->safe_query($leader, "SELECT ordering.drop_channel('$ch')");
my $new_leader;
ok($oc->wait_until('a follower leads', 60,
		sub { $new_leader = $oc->wait_for_leader($ch, \@followers, 5); return defined $new_leader; }),
	'one of the followers leads');
$oc->assert_chains_identical_and_verified(\@names, $ch, timeout => 120);
ok($oc->fill_to($new_leader, $ch, $oc->last_block($new_leader, $ch) + 70, acked => \@acked),
	'the new leader orders 70 blocks more');
for my $n (@followers)
{
	ok($oc->wait_until("$n no longer warns", 60,
			sub { my $st = $oc->status($n, $ch); return $st && !defined $st->{last_error}; }),
		"the next check agrees on $n and clears its warning");
}
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
my $ids = OrderingCluster::lit('{' . join(',', map { $_->{tx_id} } @told_by_parted) . '}');
for my $n (@names)
{
	is($oc->safe_query($n, "SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id = ANY (${ids}::text[])"),
		scalar(@told_by_parted),
		"the " . scalar(@told_by_parted) . " transactions the parted leader acknowledged are each on $n");
}

# verify_chain while blocks are applied: it read the head this node applied
# under a fresh snapshot and the blocks under the calling statement's older
# one, so blocks applied in between were "missing" (a false alarm to any
# monitor; found by hostile testing).  The statement's snapshot is taken
# before a sleep under load.
my $load = $oc->start_load($new_leader, 'bystander', prefix => 'verify-load');
my ($reader) = grep { $_ ne $new_leader } @names;
for my $try (1 .. 3)
{
	my $r = $oc->query($reader,
		"SELECT v.ok || '|' || coalesce(v.detail, '') FROM (SELECT pg_sleep(1.5)) s, LATERAL ordering.verify_chain('bystander') v");
	is($r->{stdout}, 'true|', "verify_chain on $reader under load, its statement 1.5 s old ($try)")
	  or diag($r->{stderr});
}
my @load_acked = $oc->stop_load($load);
ok(@load_acked > 0, 'the load was ordered meanwhile (' . scalar(@load_acked) . ' transactions)');

done_testing();
