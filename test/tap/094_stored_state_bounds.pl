# 094_stored_state_bounds.pl: Raft identity read back from the tables is
# bounded; a value out of range stops that channel with an error naming the
# remedy, never a crash, and the channel runs again once the value is sane.
#
# A follower's ordering.raft_state.boot is set to 2^32 - 1 (the counter
# would pass the core's limit) and, separately, a peer record with a term of
# 2^62 is planted in ordering.raft_peers; each time the server is restarted.
# Then two of its raft_state columns are retyped (numeric for a bigint,
# integer for a text), each time with a restart; its last three blocks are
# deleted, then its last block's hash is rewritten, then its applied index
# is set back before its last (configuration) block, and its stored
# snapshot overwritten with what is not JSON, each time with a restart;
# and, in a transaction rolled back, the blocks' hash, read by
# peer_block_hash.
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
	my ($what, $break, $repair, $message, $hint, $every_channel) = @_;
	$hint //= qr/HINT:  Drop the channel on this node with ordering.drop_channel\(\) and let it join again/;
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
	ok($node->log_contains($hint, $log_at), "$what: the log names the remedy");
	if ($every_channel)
	{
		# A table's column is every channel's: the other one stops the same way.
		ok($oc->wait_until("$what: the other channel on $victim shows the error", 60,
				sub { my $b = $oc->status($victim, 'bystander'); return $b && ($b->{last_error} // '') =~ $message; }),
			"$what: the other channel on $victim stops with the same error");
	}
	else
	{
		ok(defined $oc->wait_for_leader('bystander', \@names), "$what: the other channel still runs on $victim");
	}
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

# A column retyped by its owner: read as the type the extension made, a
# numeric would have been taken for a bigint (a pointer's bits as the
# incarnation) and an integer for a text (a crash).
my $retyped = qr/HINT:  Restore the column's type as the extension created it/;
broken_then_repaired('incarnation retyped to numeric',
	"ALTER TABLE ordering.raft_state ALTER COLUMN incarnation TYPE numeric",
	"ALTER TABLE ordering.raft_state ALTER COLUMN incarnation TYPE bigint",
	qr/column "incarnation" read by ordering is of type numeric, not bigint/, $retyped, 1);
broken_then_repaired('recovery_reason retyped to integer',
	"ALTER TABLE ordering.raft_state ALTER COLUMN recovery_reason TYPE int USING 0",
	"ALTER TABLE ordering.raft_state ALTER COLUMN recovery_reason TYPE text USING NULL",
	qr/column "recovery_reason" read by ordering is of type integer, not text/, $retyped, 1);

# The blocks table changed apart from the Raft state: the chain's head saved
# with the applied index must still end the chain.  Before, the restarted
# worker took the blocks table's last row as its head, and the next
# entries became blocks numbered and linked from there: with the last three
# blocks deleted, the node wrote its next block as 8 where its peers had
# 11, and its chain parted from theirs with no error anywhere.
my $head = $oc->safe_query($victim, "SELECT max(number) FROM ordering.blocks WHERE channel = '$ch'");
my $cut = $head - 3;
broken_then_repaired('the last blocks deleted',
	"CREATE TABLE public.saved_blocks AS SELECT * FROM ordering.blocks WHERE channel = '$ch' AND number > $cut;
	 CREATE TABLE public.saved_txs AS SELECT * FROM ordering.transactions WHERE channel = '$ch' AND block_number > $cut;
	 DELETE FROM ordering.transactions WHERE channel = '$ch' AND block_number > $cut;
	 DELETE FROM ordering.blocks WHERE channel = '$ch' AND number > $cut",
	"INSERT INTO ordering.blocks SELECT * FROM public.saved_blocks;
	 INSERT INTO ordering.transactions SELECT * FROM public.saved_txs;
	 DROP TABLE public.saved_blocks, public.saved_txs",
	qr/channel "$ch" ends at block $cut where this node applied up to block $head/);
broken_then_repaired('the last block rewritten',
	"CREATE TABLE public.saved_hash AS SELECT hash FROM ordering.blocks WHERE channel = '$ch' AND number = $head;
	 UPDATE ordering.blocks SET hash = sha256(hash) WHERE channel = '$ch' AND number = $head",
	"UPDATE ordering.blocks SET hash = (SELECT hash FROM public.saved_hash) WHERE channel = '$ch' AND number = $head;
	 DROP TABLE public.saved_hash",
	qr/block $head of channel "$ch" is not the block this node applied/);

# An applied index set back by hand: the entries after it were applied
# again on restart, and a configuration change wrote its block a second
# time (block 8 at raft index 5 again, on one node): a chain parted from its
# peers', and verify_chain passed on it.  The last block's raft index must
# not be past the applied index.
my $config_block = $oc->safe_query($leader,
	"SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 60}')");
ok($oc->wait_for_block($ch, \@names, $config_block), "every node has configuration block $config_block");
broken_then_repaired('the applied index set back',
	"CREATE TABLE public.saved_applied AS SELECT applied_index FROM ordering.raft_state WHERE channel = '$ch';
	 UPDATE ordering.raft_state SET applied_index =
	   (SELECT raft_index - 1 FROM ordering.blocks WHERE channel = '$ch' AND number = $config_block)
	 WHERE channel = '$ch'",
	"UPDATE ordering.raft_state SET applied_index = (SELECT applied_index FROM public.saved_applied)
	 WHERE channel = '$ch';
	 DROP TABLE public.saved_applied",
	qr/block $config_block of channel "$ch" was applied at raft index \d+, past the applied index \d+/);

# The same in the functions peers call: a block's hash retyped to integer,
# read by peer_block_hash (catch-up and eviction checks call it), was
# taken for a pointer; the backend died and the postmaster restarted every
# process of the server.  Inside a transaction that is rolled back.
{
	my $log_at = -s $node->logfile;
	my $r = $oc->query($victim, qq{BEGIN;
ALTER TABLE ordering.blocks DROP CONSTRAINT blocks_hash_check;
ALTER TABLE ordering.blocks ALTER COLUMN hash TYPE integer USING 0;
SELECT ordering.peer_block_hash('$ch', 1);
ROLLBACK;});
	is($r->{sqlstate}, 'XX001', 'peer_block_hash with the hash column retyped to integer: XX001')
	  or diag($r->{stderr});
	like($r->{stderr}, qr/column "hash" read by ordering is of type integer, not bytea/,
		'... naming the column');
	is($oc->crashes($victim, $log_at), '', '... and no server process crashed');
}

# A stored snapshot overwritten with what is not JSON: the channel stopped
# with the JSON parser's bare "invalid input syntax for type json", and no
# word of which table or what to do.
my $snap_block = $oc->safe_query($leader,
	"SELECT ordering.update_channel_config('$ch', '{\"snapshot_interval_bytes\": 1024}')");
ok($oc->wait_for_block($ch, \@names, $snap_block), "every node has configuration block $snap_block");
ok( $oc->wait_until("$victim takes a snapshot", 60,
		sub {
			$oc->fill_to($leader, $ch, $oc->last_block($leader, $ch) + 2, acked => \@acked);
			$oc->safe_query($victim,
				"SELECT snapshot_index > 0 AND snapshot_data IS NOT NULL FROM ordering.raft_state WHERE channel = '$ch'"
			) eq 't';
		}),
	"$victim has a stored snapshot");
broken_then_repaired('the stored snapshot overwritten',
	"CREATE TABLE public.saved_snapshot AS SELECT snapshot_data FROM ordering.raft_state WHERE channel = '$ch';
	 UPDATE ordering.raft_state SET snapshot_data = convert_to('{\"config\": garbage', 'UTF8') WHERE channel = '$ch'",
	"UPDATE ordering.raft_state SET snapshot_data = (SELECT snapshot_data FROM public.saved_snapshot)
	 WHERE channel = '$ch';
	 DROP TABLE public.saved_snapshot",
	qr/the stored snapshot of channel "$ch" is not a JSON document/);

ok($oc->fill_to($leader, $ch, $oc->last_block($leader, $ch) + 5, acked => \@acked), 'ordered on');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

done_testing();
