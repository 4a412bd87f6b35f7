
# Copyright: the ordering extension's authors.
#
# 013_extension_recreated.pl: DROP EXTENSION ordering under a running
# worker, and CREATE EXTENSION again.
#
# The worker keeps its channels in memory; the drop takes the tables away
# and tells it nothing.  It used to go on with its old channels: a channel
# created again under the same name on that node got the old channel's
# next block after its new block 0 (block 2, block 1 missing), and a
# member's worker wrote its peers' traffic into the new tables.  Now the
# worker's first transaction after the drop ends it (FATAL, logged), and
# the postmaster starts it again on what the tables hold.
#
#  1. One node, one-member channel: drop, create, create_channel under the
#     same name, in one session: the next transaction is in block 1 and
#     the chain verifies.
#  2. A follower of a three-node channel drops the extension and creates
#     it again: it comes back as a node that lost its data does (the
#     leader's push, recovering, caught up), with the others' chain.
#  3. A drop alone: the worker ends and waits for the extension; once it
#     is created again the node orders again.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my %log_at = map { ($_ => -s $oc->node($_)->logfile) } @names;
my $ended = qr/terminating ordering worker: extension "ordering" was dropped/;

sub worker_pid
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering worker'");
}

# --- 1. a one-member channel created again under its name
my $solo = 'solo';
$oc->create_channel($solo, ['n1'], { batch_timeout => 20 });
ok(defined $oc->wait_for_leader($solo, ['n1']), "n1 leads $solo");
is($oc->submit('n1', $solo, 'first', 'solo-1')->{block_number}, 1, 'the first transaction is in block 1');
my $pid = worker_pid('n1');
my $consenters = OrderingCluster::lit($oc->consenters_json('n1'));
$oc->safe_query('n1',
	"DROP EXTENSION ordering; CREATE EXTENSION ordering; "
	  . "SELECT ordering.create_channel('$solo', $consenters, '{\"batch_timeout\": 20}')");
ok($oc->logged('n1', $ended, $log_at{n1}, 60), "n1's worker ends, saying why");
ok($oc->wait_until('a new worker on n1', 60,
		sub { my $p = worker_pid('n1'); $p ne '' && $p ne $pid }),
	'the postmaster starts a new worker');
ok(defined $oc->wait_for_leader($solo, ['n1']), "n1 leads the new $solo");
is($oc->submit('n1', $solo, 'again', 'solo-2')->{block_number}, 1,
	"the new ${solo}'s first transaction is in block 1");
is($oc->safe_query('n1', OrderingCluster::verify_chain_sql($solo)), '', "the new $solo verifies");
is($oc->safe_query('n1', "SELECT count(*) FROM ordering.transactions WHERE channel = '$solo'"),
	'1', 'and holds only its own transaction');

# --- 2. a follower of a three-node channel, extension created again
my $ch = 'trio';
$oc->create_channel($ch, \@names, { batch_timeout => 20, max_message_count => 5 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, "$ch has a leader") or die;
my ($victim) = $oc->followers($leader, \@names);
my @acked;
ok($oc->fill_to($leader, $ch, 20, acked => \@acked), "$ch ordered up to block 20");
ok($oc->wait_for_block($ch, \@names, 20), 'every node has block 20');
my $victim_at = -s $oc->node($victim)->logfile;
$oc->safe_query($victim, 'DROP EXTENSION ordering; CREATE EXTENSION ordering');
ok($oc->logged($victim, $ended, $victim_at, 60), "${victim}'s worker ends, saying why");
ok($oc->wait_for_channel($ch, [$victim]), "$victim gets $ch back from its peers");
ok($oc->logged($victim, qr/channel "$ch": this node has caught up and votes again/, $victim_at, 90),
	"$victim recovers and catches up, as a node that lost its data");
ok($oc->fill_to($leader, $ch, 30, acked => \@acked), "$ch ordered on to block 30");
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

# --- 3. a drop alone
my $n3_at = -s $oc->node('n3')->logfile;
$oc->safe_query('n3', 'DROP EXTENSION ordering');
ok($oc->logged('n3', $ended, $n3_at, 60), "n3's worker ends after a drop alone");
ok($oc->logged('n3', qr/ordering worker waiting for the extension to be created/, $n3_at, 60),
	'its successor waits for the extension');
$oc->safe_query('n3', 'CREATE EXTENSION ordering');
ok($oc->logged('n3', qr/ordering worker started as node "n3"/, $n3_at, 60),
	'and starts once it exists again');
ok($oc->wait_for_channel($ch, ['n3']), "n3 gets $ch back from its peers");
ok($oc->fill_to($leader, $ch, 40, acked => \@acked), "$ch ordered on to block 40");
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

is($oc->crashes($_, $log_at{$_}), '', "no server process of $_ crashed") for @names;

done_testing();
