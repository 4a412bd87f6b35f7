# 086_eviction.pl: a node removed while it was down learns it from the chain.
#
# Nobody tells a removed node that it was removed (a message saying so
# would be a forgery anybody with a peer credential could send).  Three
# nodes with per-node roles; n3 is stopped, removed, and the others order
# on.  When n3 comes back it hears no leader (the members drop its
# messages: it is no longer one of them, which they count); after ten
# election timeouts it pulls the chain beyond its own last block through
# ordering.peer_blocks (a former member may read up to the block that
# removed it), finds the configuration block without it, and asks the
# voters of its last known configuration for that block's hash.  While
# only one of the three can answer it stays a consenter; once a majority
# confirms, it records its removal, without installing the pulled blocks.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my $ch = 'evict';
$oc->create_channel($ch, \@names, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';

# n3 is the one removed; make sure it does not lead.
if ($leader eq 'n3')
{
	$oc->safe_query('n3', "SELECT ordering.transfer_leadership('$ch', 'n1')");
	$leader = $oc->wait_until('n3 hands leadership over', 30, sub {
			my $l = $oc->wait_for_leader($ch, \@names, 5);
			return defined $l && $l ne 'n3' ? $l : undef;
		});
}
ok(defined $leader && $leader ne 'n3', "the leader is $leader, not n3") or die;
my $other = (grep { $_ ne $leader && $_ ne 'n3' } @names)[0];

my @acked;
for my $i (1 .. 3)
{
	my $r = $oc->submit($other, $ch, "before $i", "before-$i");
	ok($r->{ok}, "transaction before-$i ordered") or diag($r->{message});
	push @acked, $r;
}
ok(defined $oc->wait_for_same_head($ch, \@names), 'n3 has the chain so far');
my $n3_last = $oc->last_block('n3', $ch);

# --- n3 is removed while it is down --------------------------------------

$oc->stop_node('n3', 'fast');
my $r = $oc->admin($ch, [ $leader, $other ], "SELECT ordering.remove_consenter('$ch', 'n3')");
ok($r->{ok}, 'n3 removed while it is down') or diag("$r->{sqlstate}: $r->{message}");
my $removal_block = $r->{stdout};
for my $i (1 .. 3)
{
	$r = $oc->submit($leader, $ch, "after $i", "after-$i");
	ok($r->{ok}, "transaction after-$i ordered without n3") or diag($r->{message});
	push @acked, $r;
}

# --- only one voter of n3's last configuration can answer: no removal ----

$oc->stop_node($other, 'fast');
# A leader still in office would tell n3 of its removal itself.
ok($oc->wait_until("$leader steps down without a quorum", undef,
		sub { my $st = $oc->status($leader, $ch); $st && !$st->{is_leader} }),
	"$leader steps down once $other is gone");
my $log_offset = -s $oc->node('n3')->logfile;
$oc->start_node('n3');
ok($oc->node('n3')->wait_for_log(
		qr/channel "$ch": 1 of the 3 voters of its last known configuration report block $removal_block, which removes this node/,
		$log_offset),
	"n3 finds block $removal_block without it, but only $leader confirms it");
my $st = $oc->status('n3', $ch);
is($st->{membership}, 'consenter', 'so n3 stays a consenter (a majority has not confirmed)');
ok($oc->wait_until("$leader counts records of n3 dropped", 30, sub {
			$oc->safe_query($leader,
				"SELECT rejected_records FROM ordering.status WHERE channel = '$ch'") > 0;
		}),
	"$leader drops (and counts) the records of n3, which is no member");

# --- a majority can answer: n3 records its removal -----------------------

$oc->start_node($other);
ok($oc->node('n3')->wait_for_log(
		qr/channel "$ch": this node was removed from the consenters by block $removal_block \(found by eviction detection\)/,
		$log_offset),
	'once a majority confirms, n3 records its removal');
ok($oc->wait_until('n3 shows it is no longer a consenter', 30, sub {
			my $s = $oc->status('n3', $ch);
			return $s && ($s->{membership} // '') eq 'none';
		}),
	'ordering.status on n3: membership none');
is($oc->safe_query('n3', "SELECT removed FROM ordering.raft_state WHERE channel = '$ch'"),
	't', 'raft_state.removed is set on n3');
is($oc->last_block('n3', $ch), $n3_last, 'n3 installed none of the blocks it pulled');
is($oc->query('n3', "SELECT * FROM ordering.verify_chain('$ch')")->{stdout} =~ /^t\|/ ? 1 : 0,
	1, "n3's own chain still verifies");

# --- the others go on -----------------------------------------------------

$r = $oc->submit($leader, $ch, 'last', 'last');
ok($r->{ok}, 'the channel still orders') or diag($r->{message});
push @acked, $r;
$oc->assert_chains_identical_and_verified([ $leader, $other ], $ch);
$oc->assert_acknowledged_present([ $leader, $other ], $ch, \@acked);

done_testing();
