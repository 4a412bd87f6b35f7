
# Copyright: the ordering extension's authors.
#
# 070_lost_forward.pl: a transaction that a follower forwarded to a healthy
# leader, in an envelope that was lost, is forwarded again and ordered: the
# submitter does not wait for a leader change that never comes.
#
# To lose the envelope without a leader change, the leader's processes are
# frozen (SIGSTOP) for longer than the transport's 5 s call timeout but far
# less than the channel's election timeout (election_tick 400 x 50 ms).
# The follower's forward hangs, is given up, and its batch dropped.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;
use Time::HiRes qw(time);

my $oc = OrderingCluster->new(nodes => 3);
my @names = qw(n1 n2 n3);
my $ch = 'lost';
$oc->create_channel($ch, \@names,
	{ batch_timeout => 20, election_tick => 400, heartbeat_tick => 2 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'the channel has a leader') or die 'no leader';
my ($follower) = grep { $_ ne $leader } @names;
my $term = $oc->safe_query($leader, "SELECT term FROM ordering.status WHERE channel = '$ch'");

my $r = $oc->submit($follower, $ch, 'before', 'before');
ok($r->{ok}, 'a submit through the follower works') or diag($r->{message});

# Freeze the leader: its postmaster and every child.
my $pid = $oc->node($leader)->{_pid};
my @frozen = ($pid, OrderingCluster::_children_of($pid));
kill 'STOP', @frozen;

# The fault lasts 7 s: longer than the transport's 5 s limit on a call
# that makes no progress, far shorter than an election timeout.  The first
# forward (of 'primer') goes out and hangs; 'lost' is queued behind it;
# when the follower gives the hung call up, it drops what was queued.
# ('primer' itself sits in the frozen server's socket buffer and arrives.)
my $thaw_at = time() + 7;
$oc->safe_query($follower, "SELECT ordering.submit_tx_async('$ch', 'primer'::bytea, 'primer')");
my $second_at = time() + 1;
Time::HiRes::usleep(100_000) while time() < $second_at;
$oc->safe_query($follower, "SELECT ordering.submit_tx_async('$ch', 'lost'::bytea, 'lost')");
Time::HiRes::usleep(100_000) while time() < $thaw_at;
kill 'CONT', @frozen;

ok( $oc->wait_until(
		'the lost transaction is ordered',
		20,
		sub {
			$oc->safe_query($follower,
				"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'lost'"
			) eq '1';
		}),
	'the transaction whose forward was lost is ordered');
is($oc->safe_query($leader, "SELECT leader FROM ordering.status WHERE channel = '$ch'"),
	$leader, 'without a leader change');
is($oc->safe_query($leader, "SELECT term FROM ordering.status WHERE channel = '$ch'"),
	$term, 'in the same term');
$oc->assert_chains_identical_and_verified(\@names, $ch);

# Part 2: the follower keeps its copy for as long as the submitter's own
# session waits, not the server's default ordering.submit_timeout.  The
# worker used its own setting (here 1 s, so copies went after 6 s): a
# session that waits longer lost a forward dropped after that for good.
# The leader stops at once; the others elect a new one only after an
# election timeout (at least 20 s), and every forward of 'kept' to the
# stopped leader meanwhile is lost.  The worker sweeps old copies every
# 10 s, so a sweep falls between the copy's 6th second and the election.
my $fnode = $oc->node($follower);
$fnode->append_conf('postgresql.conf', "ordering.submit_timeout = '1s'\n");
$fnode->reload;
ok($oc->wait_until("$follower reloaded", 10,
		sub { $oc->safe_query($follower, 'SHOW ordering.submit_timeout') eq '1s' }),
	"$follower runs with ordering.submit_timeout 1s");
$leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader && $leader ne $follower, "$follower still follows") or die 'no leader';

$oc->stop_node($leader, 'immediate');
my $stopped_at = time();
Time::HiRes::usleep(100_000) while time() < $stopped_at + 1;
$oc->safe_query($follower, "SELECT ordering.submit_tx_async('$ch', 'kept'::bytea, 'kept')",
	set => { 'ordering.submit_timeout' => '120s' });
my @left = grep { $_ ne $leader } @names;
my $new_leader = $oc->wait_for_leader($ch, \@left, 90);
ok(defined $new_leader, "$ch elects a new leader among @left");
cmp_ok(time() - $stopped_at, '>', 11,
	'after a sweep of old copies (this part needs the election to take > 11 s)');
ok( $oc->wait_until(
		'the transaction of a session that waits 120 s is ordered',
		30,
		sub {
			$oc->safe_query($follower,
				"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'kept'"
			) eq '1';
		}),
	"a transaction whose forwards were lost for an election timeout is sent again: its copy lives as long as its session waits, not ${follower}'s 1 s");
$fnode->append_conf('postgresql.conf', "ordering.submit_timeout = '30s'\n");
$fnode->reload;
$oc->start_node($leader);
ok(defined $oc->wait_for_same_head($ch, \@names), 'every node has the same head');
$oc->assert_chains_identical_and_verified(\@names, $ch);

done_testing();
