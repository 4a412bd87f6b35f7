# 050_membership.pl: consenter set changes on real servers.
#
# A channel on n1..n3; then
#   - add_consenter n4: n4 catches up as a learner and is promoted; every
#     node's ordering.consenters shows it as a voter, it agrees on the
#     leader and can submit; one configuration block per step;
#   - a second change while one is pending is refused (55000): n5 is added
#     while its server is down (so it stays a learner that cannot catch up)
#     and a removal is attempted at once; then n5 starts and is promoted;
#   - remove_consenter of a follower;
#   - remove_consenter of the current leader: leadership moves, ordering
#     continues; asked on the leader, then on a follower (relayed);
#   - removing an unknown node is refused with SQLSTATE 42704, adding an
#     existing one with 42710, and neither adds a block.
# After each step the members' chains are identical and verified, and the
# configuration blocks are exactly one per change, in order.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use JSON::PP;
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 5);
my $ch = 'members';
my @members = qw(n1 n2 n3);
$oc->create_channel($ch, \@members, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@members);
ok(defined $leader, 'leader elected on n1..n3') or die 'no leader';

my @acked;
my $seq = 0;
sub submit_ok
{
	my ($on, $what) = @_;
	$seq++;
	return $oc->submit_ok($on, $ch, "membership payload $seq", "m-$seq", \@acked, $what);
}
submit_ok($_, 'before any change') for @members;

my @expected_changes = ('genesis');

# Is $node a voter (present, not a learner) of the channel, as $on sees it?
sub consenter_state
{
	my ($on, $node) = @_;
	my $r = $oc->query($on,
		"SELECT CASE WHEN is_learner THEN 'learner' ELSE 'voter' END FROM ordering.consenters WHERE channel = '$ch' AND node = '$node'");
	return undef unless $r->{ok};
	return $r->{stdout} eq '' ? 'absent' : $r->{stdout};
}

sub wait_consenter_state
{
	my ($node, $state, $on_nodes, $timeout) = @_;
	my %seen;
	my $ok = $oc->wait_until("$node $state on @$on_nodes", $timeout, sub {
		%seen = map { ($_ => consenter_state($_, $node)) } @$on_nodes;
		return !grep { ($seen{$_} // '') ne $state } @$on_nodes;
	});
	diag('  ' . join(', ', map { "$_: " . ($seen{$_} // 'no answer') } @$on_nodes))
	  unless $ok;
	return $ok;
}

# The consenters of the last configuration block, and ordering.consenters,
# agree on every member.
sub check_config_documents
{
	my ($on_nodes, $what) = @_;
	for my $n (@$on_nodes)
	{
		my $doc = $oc->safe_query($n,
			"SELECT convert_from(config, 'UTF8') FROM ordering.blocks WHERE channel = '$ch' AND is_config ORDER BY number DESC LIMIT 1");
		my $d = eval { decode_json($doc) } // {};
		my $in_doc = join(',', map { $_ . (($d->{consenters}{$_}{learner} // JSON::PP::false) ? '(learner)' : '') }
			  sort keys %{ $d->{consenters} // {} });
		my $in_table = $oc->safe_query($n,
			"SELECT string_agg(node || CASE WHEN is_learner THEN '(learner)' ELSE '' END, ',' ORDER BY node) FROM ordering.consenters WHERE channel = '$ch'");
		is($in_doc, $in_table, "$what: last configuration block of $n matches its ordering.consenters ($in_table)");
	}
}

sub check_changes
{
	my ($on_nodes, $what) = @_;
	for my $n (@$on_nodes)
	{
		my @changes = map { $_->[1] } @{ $oc->config_changes($n, $ch) };
		is_deeply(\@changes, \@expected_changes,
			"$what: configuration blocks on $n are one per change: @expected_changes")
		  or diag("got: @changes");
	}
}

# --- add n4
my $r = $oc->admin($ch, \@members,
	"SELECT ordering.add_consenter('$ch', 'n4', '" . $oc->conninfo('n4') . "')");
ok($r->{ok}, 'add_consenter n4') or diag("$r->{sqlstate}: $r->{message}");
like($r->{stdout}, qr/^\d+$/, 'add_consenter returns a block number');
my $add_block = $r->{stdout};
push @expected_changes, 'add_consenter n4', 'promote n4';

ok(wait_consenter_state('n4', 'voter', [ @members, 'n4' ], 60),
	'n4 catches up and is promoted to a voter, as every node sees it');
@members = qw(n1 n2 n3 n4);
ok($oc->wait_for_channel($ch, ['n4']), 'n4 has the channel and a status row');
my $changes = $oc->config_changes($leader, $ch);
my ($add) = grep { $_->[1] eq 'add_consenter n4' } @$changes;
is($add && $add->[0], $add_block, 'the block add_consenter returned is the add_consenter n4 configuration block');

$leader = $oc->wait_for_leader($ch, \@members);
ok(defined $leader, 'n1..n4 agree on a leader') or die 'no leader on n1..n4';
my $st4 = $oc->status('n4', $ch);
ok($st4 && defined $st4->{term} && $st4->{term} > 0, 'n4 reports the channel in its ordering.status');
submit_ok('n4', 'after it joined');
$oc->assert_chains_identical_and_verified(\@members, $ch);
check_changes(\@members, 'after adding n4');
check_config_documents(\@members, 'after adding n4');

# On the leader, ordering.peers lists the other members (and perhaps itself).
my $peers = $oc->safe_query($leader,
	"SELECT string_agg(node, ',' ORDER BY node) FROM ordering.peers WHERE channel = '$ch' AND node <> '$leader'");
is($peers, join(',', grep { $_ ne $leader } @members), 'ordering.peers on the leader lists its peers');

# --- a second change while one is pending is refused
$oc->stop_node('n5', 'immediate');
my $add5_sql = "SET ordering.submit_timeout = 5000; SELECT ordering.add_consenter('$ch', 'n5', '"
  . $oc->conninfo('n5') . "')";
my ($out5, $err5) = ('', '');
my $h5 = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
	  '-d', $oc->node($leader)->connstr('postgres'), '-c', $add5_sql ],
	'<', \undef, '>', \$out5, '2>', \$err5, IPC::Run::timeout(120));
# Right away, while the add of n5 is in flight or n5 is still a learner
# that cannot catch up (its server is down), try another change.
my $victim = (grep { $_ ne $leader } @members)[0];
$oc->wait_until('n5 added as a learner, or its request in flight', 10, sub {
	my $s = consenter_state($leader, 'n5');
	return defined $s && $s ne 'absent';
});
my $second = $oc->query($leader, "SELECT ordering.remove_consenter('$ch', '$victim')");
ok(!$second->{ok}, 'a second membership change while one is pending is refused');
is($second->{sqlstate}, '55000', 'with SQLSTATE 55000') or diag($second->{message});
like($second->{message} // '', qr/in progress|pending/i, 'the message says a change is in progress')
  or diag($second->{message});
is(consenter_state($leader, $victim), 'voter', "$victim is still a voter");
eval { $h5->finish; 1 } or $h5->kill_kill;
note("add_consenter n5 while n5 is down: " . ($out5 ne '' ? "block $out5" : $err5));

$oc->start_node('n5');
ok(wait_consenter_state('n5', 'voter', [ @members, 'n5' ], 90),
	'once n5 is up, it catches up and is promoted');
push @expected_changes, 'add_consenter n5', 'promote n5';
@members = qw(n1 n2 n3 n4 n5);
$leader = $oc->wait_for_leader($ch, \@members);
ok(defined $leader, 'n1..n5 agree on a leader') or die 'no leader on n1..n5';
submit_ok('n5', 'after it joined');
$oc->assert_chains_identical_and_verified(\@members, $ch);
check_changes(\@members, 'after adding n5');

# --- remove a follower
my ($follower) = grep { $_ ne $leader } @members;
$r = $oc->admin($ch, \@members, "SELECT ordering.remove_consenter('$ch', '$follower')");
ok($r->{ok}, "remove_consenter of follower $follower") or diag("$r->{sqlstate}: $r->{message}");
like($r->{stdout}, qr/^\d+$/, 'remove_consenter returns a block number');
push @expected_changes, "remove_consenter $follower";
@members = grep { $_ ne $follower } @members;
ok(wait_consenter_state($follower, 'absent', \@members, 60),
	"$follower is gone from ordering.consenters on every member");
$leader = $oc->wait_for_leader($ch, \@members);
ok(defined $leader, 'the remaining members agree on a leader') or die 'no leader';
submit_ok((grep { $_ ne $leader } @members)[0], "after removing $follower");
$oc->assert_chains_identical_and_verified(\@members, $ch);
check_changes(\@members, "after removing $follower");
check_config_documents(\@members, "after removing $follower");

# A removed node keeps its rows but runs no Raft for the channel, also after
# a restart (it may have learned of its removal from the leader only).
my $membership_of = sub {
	return $oc->safe_query($follower,
		"SELECT coalesce(membership, '') FROM ordering.status WHERE channel = '$ch'");
};
ok($oc->wait_until("$follower shows membership none", 30,
		sub { $membership_of->() eq 'none' }),
	"$follower shows membership none");
$oc->stop_node($follower, 'fast');
$oc->start_node($follower);
ok($oc->wait_until("$follower reloads the channel", 30,
		sub { $membership_of->() ne '' }),
	"$follower reloads the channel after a restart");
is($membership_of->(), 'none', "$follower is still out of the channel after a restart");

# Submitting there: nothing will order it, and the submitter is told so at
# once (it waited for its whole timeout and heard it "may still be
# ordered"); a transaction its chain holds still gets its place.
$r = $oc->submit($follower, $ch, 'on a removed node', 'removed-1', submit_timeout => 5000);
is($r->{sqlstate} // 'ordered', '55000', "a submit on the removed $follower is refused (55000)");
like($r->{message} // '', qr/no longer a consenter of channel "$ch"/, '... saying why');
is($oc->safe_query($follower,
		"SELECT s.block_number = t.block_number FROM (SELECT * FROM ordering.transactions"
		  . " WHERE channel = '$ch' ORDER BY block_number DESC LIMIT 1) t,"
		  . " ordering.submit_tx(t.channel, t.payload, t.tx_id) s"),
	't', "a transaction in ${follower}'s chain, submitted again there, gets its place");
$r = $oc->query($follower, "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 30}')");
is($r->{sqlstate} // 'done', '55000', "an admin call on the removed $follower is refused (55000)");
like($r->{message} // '', qr/no longer a consenter of channel $ch/, '... saying why, not "no leader"');
my $failures = sub {
	$oc->safe_query($follower,
		"SELECT proposal_failures FROM ordering.status WHERE channel = '$ch'");
};
my $failures_before = $failures->();
$oc->safe_query($follower, "SELECT ordering.submit_tx_async('$ch', 'async on a removed node')");
ok($oc->wait_until('the dropped asynchronous submit is counted', 30,
		sub { $failures->() > $failures_before }),
	"what submit_tx_async left on $follower is dropped and counted in proposal_failures");

# --- remove the leader
my $old_leader = $leader;
my $old_term = $oc->safe_query($old_leader,
	"SELECT term FROM ordering.status WHERE channel = '$ch'");
$r = $oc->admin($ch, \@members, "SELECT ordering.remove_consenter('$ch', '$old_leader')");
ok($r->{ok}, "remove_consenter of the leader $old_leader") or diag("$r->{sqlstate}: $r->{message}");
push @expected_changes, "remove_consenter $old_leader";
@members = grep { $_ ne $old_leader } @members;
$leader = $oc->wait_for_leader($ch, \@members, 60);
ok(defined $leader, 'leadership moves to a remaining member') or die 'no new leader';
isnt($leader, $old_leader, "the new leader ($leader) is not the removed one");
# The leader hands leadership off first: the removal is then proposed by
# the next leader, in a later term, and the channel is never leaderless
# for an election timeout.
my $removal_term;
$oc->wait_until(
	"the removal block on $leader",
	30,
	sub {
		$removal_term = $oc->safe_query($leader,
			"SELECT raft_term FROM ordering.blocks WHERE channel = '$ch' AND is_config"
			  . " AND convert_from(config, 'UTF8')::jsonb->>'change' = 'remove_consenter $old_leader'");
		return $removal_term ne '';
	});
cmp_ok($removal_term, '>', $old_term,
	"the removal of $old_leader was proposed after it handed leadership off");
ok(wait_consenter_state($old_leader, 'absent', \@members, 60),
	"$old_leader is gone from ordering.consenters on every member");
submit_ok($_, "after removing the leader $old_leader") for @members;
$oc->assert_chains_identical_and_verified(\@members, $ch);
check_changes(\@members, "after removing the leader $old_leader");
check_config_documents(\@members, "after removing the leader $old_leader");
$oc->assert_acknowledged_present(\@members, $ch, \@acked);

# --- remove the leader, asked on a follower: the call is relayed to the
# leader, which hands its leadership on before removing itself and answers
# "not the leader".  The follower asks the new leader then (perhaps
# itself).  Before, that answer was the caller's error, and leadership had
# moved all the same.
$old_leader = $leader;
my ($asker) = grep { $_ ne $old_leader } @members;
# The new leader, elected a moment ago, may not have heard from a quorum
# of the voters left yet: the request waits for them (before, it was
# refused "fewer than a quorum").
$r = $oc->query($asker, "SELECT ordering.remove_consenter('$ch', '$old_leader')");
ok($r->{ok}, "remove_consenter of the leader $old_leader, asked on $asker")
  or diag("$r->{sqlstate}: $r->{message}");
like($r->{stdout} // '', qr/^\d+$/, '... returns the configuration block');
push @expected_changes, "remove_consenter $old_leader";
@members = grep { $_ ne $old_leader } @members;
$leader = $oc->wait_for_leader($ch, \@members, 60);
ok(defined $leader, 'leadership moves to a remaining member') or die 'no new leader';
ok(wait_consenter_state($old_leader, 'absent', \@members, 60),
	"$old_leader is gone from ordering.consenters on every member");
submit_ok($_, "after removing the leader $old_leader from a follower") for @members;
check_changes(\@members, "after removing the leader $old_leader from a follower");

# --- bad requests change nothing
my $blocks = $oc->safe_query($leader, "SELECT count(*) FROM ordering.blocks WHERE channel = '$ch'");
my $bad = $oc->query($leader, "SELECT ordering.remove_consenter('$ch', 'nosuch')");
ok(!$bad->{ok}, 'removing an unknown node is refused');
is($bad->{sqlstate}, '42704', 'with SQLSTATE 42704 (undefined_object)') or diag($bad->{message});
like($bad->{message} // '', qr/nosuch/, 'the message names the node');
my $dup = $oc->query($leader,
	"SELECT ordering.add_consenter('$ch', '$members[0]', '" . $oc->conninfo($members[0]) . "')");
ok(!$dup->{ok}, 'adding an existing consenter is refused');
is($dup->{sqlstate}, '42710', 'with SQLSTATE 42710 (duplicate_object)') or diag($dup->{message});
my $badconn = $oc->query($leader, "SELECT ordering.add_consenter('$ch', 'n9', 'host=127.0.0.1 no_such_option=1')");
ok(!$badconn->{ok}, 'adding a node with a malformed conninfo is refused')
  or diag($badconn->{stdout});
$oc->wait_for_same_head($ch, \@members);
is($oc->safe_query($leader, "SELECT count(*) FROM ordering.blocks WHERE channel = '$ch'"),
	$blocks, 'refused requests added no block');
check_changes(\@members, 'at the end');

done_testing();
