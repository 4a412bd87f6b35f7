# 080_trust_identity.pl: a node speaks only for itself, and no term from the
# wire poisons a server (README.md, "Securing the cluster").
#
# Three servers; each node logs in to its peers as its own role
# (orderer_n1..n3, each holding only ordering_peer).  The attacker holds
# n3's credential (for one removal forgery, the leader's) and crafts what it
# delivers with OrderingWire:
#   1. deliver() claiming to be another node: 42501;
#   2. Raft messages in n3's own envelope that claim the leader's raft id
#      (a leader transfer, a forced vote, a heartbeat, an append, a
#      snapshot): dropped and counted, nothing changes on the target;
#   3. "you are no longer a consenter" (a GENESIS without the target), from a
#      follower and from the leader's own role: the target stays a consenter
#      (on a channel of its own, untouched by the forgeries before);
#   4. a node removed while it was down learns it after its restart
#      (eviction detection), and only once a majority of the voters of its
#      last configuration confirm the block that removes it;
#   5. heartbeats of term 2^64-1, 2^63 and 2^62 from a member: every server
#      and worker stays up, no term jumps.
# Each part ends with the servers unharmed, a new transaction ordered and
# the chains identical and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use OrderingCluster;
use OrderingWire qw(:all);
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my $ch = 'ch1';
my $lit = \&OrderingCluster::lit;

# Elections take 2 to 4 s here, so that the leader and term stay put unless a
# forgery moves them.
$oc->create_channel($ch, \@names, { batch_timeout => 50, election_tick => 40 });
ok(defined $oc->wait_for_leader($ch, \@names), "$ch has a leader") or BAIL_OUT('no leader');
my %id = %{ $oc->raft_ids('n1', $ch) };

# The leader, and a target that is neither the leader nor the attacker n3
# (which is made to hand leadership over when it leads).  Asked again before
# each forgery, so that on a node that lets a forgery through the next one
# still aims at a follower.
my ($leader, $target);

sub pick_roles
{
	my ($channel) = @_;
	$channel //= $ch;
	my $l = $oc->wait_for_leader($channel, \@names);
	if (defined $l && $l eq 'n3')
	{
		$oc->admin($channel, \@names, "SELECT ordering.transfer_leadership('$channel', 'n1')");
		$oc->wait_until('a leader other than n3', undef, sub {
			$l = $oc->wait_for_leader($channel, \@names);
			return defined $l && $l ne 'n3';
		});
	}
	$leader = $l // 'n1';
	($target) = grep { $_ ne $leader && $_ ne 'n3' } @names;
	note("leader $leader, target $target, attacker n3");
	return;
}
pick_roles();

sub membership
{
	my ($n, $channel) = @_;
	my $r = $oc->query($n,
		"SELECT coalesce(membership, '') FROM ordering.status WHERE channel = "
		  . $lit->($channel));
	return $r->{ok} ? $r->{stdout} : undef;
}

# ordering.status.rejected_records of a node's channel, or undef without it.
sub rejected
{
	my ($n, $channel) = @_;
	my $r = $oc->query($n,
		"SELECT rejected_records FROM ordering.status WHERE channel = "
		  . $lit->($channel));
	return $r->{ok} && $r->{stdout} =~ /^\d+$/ ? $r->{stdout} : undef;
}

# --- 1. deliver() as another node ---------------------------------------

my $health = $oc->health;
for my $on (@names)
{
	for my $claimed (grep { $_ ne 'n3' } @names)
	{
		my $env = envelope($claimed,
			[ $ch, 'RAFT', raft_message(type => 'HEARTBEAT', from => $id{$claimed},
				to => $id{$on}, term => 1) ]);
		my $r = $oc->deliver_as($on, 'orderer_n3', $claimed, $env);
		is($r->{sqlstate}, '42501', "on $on, orderer_n3 may not deliver as $claimed: 42501");
		like($r->{message} // '',
			qr/role "orderer_n3" may not deliver messages as node "$claimed"/,
			'... and the message says who may not speak as whom')
		  if $on eq $target && $claimed eq $leader;
	}
}
my $r = $oc->deliver_as($target, 'orderer_n3', 'n3',
	envelope('n3', [ 'nosuch', 'RAFT', raft_message(type => 'HEARTBEAT', from => 3, to => 1, term => 1) ]));
ok($r->{ok}, 'orderer_n3 may deliver as n3 (a record for a channel nobody serves: dropped by the worker)')
  or diag($r->{stderr});
$r = $oc->deliver_as($target, 'orderer_n3', 'n9',
	envelope('n9', [ 'nosuch', 'JOIN_REQUEST', '' ]));
ok($r->{ok}, 'a node unknown to the target is passed on to the worker, which checks the record')
  or diag($r->{stderr});
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-deliver-as');

# --- 2. Raft messages of n3 that claim the leader's raft id ---------------

$health = $oc->health;
my %rejected_before = map { ($_ => rejected($_, $ch)) } @names;
my ($st, $term);

# Delivers one Raft message in n3's envelope, from the leader's raft id to the
# target's; returns once the target handled it (fence).
sub forge_from_n3
{
	my ($what, %msg) = @_;
	my $env = envelope('n3', [ $ch, 'RAFT',
		raft_message(from => $id{$leader}, to => $id{$target}, %msg) ]);
	my $r = $oc->deliver_as($target, 'orderer_n3', 'n3', $env);
	note("deliver of the forged $what: " . ($r->{ok} ? 'accepted' : "$r->{sqlstate} $r->{message}"));
	return $oc->fence($ch, \@names, "forged-$what", timeout => 30);
}

# An append of a batch of one transaction, right after the target's log.
pick_roles();
$st = $oc->raft_state($target, $ch);
note("$target before the forgeries: " . encode_json($st));
my $forged_batch = batch([ 'forged-append', "appended by n3 in the leader's name" ]);
forge_from_n3('append', type => 'APP', term => $st->{term},
	log_term => $st->{last_term}, index => $st->{last_index},
	commit => $st->{last_index} + 1,
	entries => [ { term => $st->{term}, index => $st->{last_index} + 1,
		type => 0, data => $forged_batch } ]);
for my $n (@names)
{
	is($oc->safe_query($n,
			"SELECT count(*) FROM ordering.transactions WHERE tx_id = 'forged-append'"),
		'0', "the forged append's transaction is not ordered on $n");
}
is($oc->safe_query($target,
		'SELECT count(*) FROM ordering.log WHERE data = ' . bytea_literal($forged_batch)),
	'0', "the forged entry is not in ${target}'s log");

# A snapshot far ahead, whose data names the target's own head (nothing to
# pull): installing it would move the target's log 100000 entries on.
pick_roles();
$st = $oc->raft_state($target, $ch);
my $forged_index = $st->{last_index} + 100_000;
my $config_doc = $oc->safe_query($target,
	"SELECT convert_from(config, 'UTF8') FROM ordering.blocks WHERE channel = '$ch' AND is_config ORDER BY number DESC LIMIT 1");
forge_from_n3('snapshot', type => 'SNAP', term => $st->{term},
	snapshot => { index => $forged_index, term => $st->{term},
		voters => [ sort { $a <=> $b } values %id ],
		data => sprintf('{"last_block": %d, "last_hash": "%s", "config": %s}',
			$st->{head}, $st->{head_hash}, $config_doc) });
$st = $oc->raft_state($target, $ch);
cmp_ok($st->{snapshot_index}, '<', $forged_index,
	"a SNAP in the leader's name at index $forged_index is not installed");
cmp_ok($st->{applied_index}, '<', $forged_index, "... $target did not apply up to it");

# Votes and heartbeats of a much higher term (the vote a forced one, as in a
# leader transfer, so that no lease protects the target).
for my $type (qw(VOTE HEARTBEAT))
{
	pick_roles();
	$term = $oc->raft_state($target, $ch)->{term};
	forge_from_n3(lc $type, type => $type, term => $term + 1000,
		log_term => $term + 1000, index => 1_000_000,
		context => $type eq 'VOTE' ? CAMPAIGN_TRANSFER_CONTEXT : 0);
	my $t = $oc->raft_state($target, $ch)->{term};
	ok($t >= $term && $t < $term + 1000,
		"a $type of term " . ($term + 1000) . " in the leader's name is dropped (${target}'s term $t)");
}

# A leader transfer: "campaign now".
pick_roles();
$term = $oc->raft_state($target, $ch)->{term};
my $leader_before = $leader;
forge_from_n3('timeout-now', type => 'TIMEOUT_NOW', term => $term);
is($oc->wait_for_leader($ch, \@names), $leader_before,
	"a TIMEOUT_NOW from n3 with the leader's id does not make $target campaign: $leader_before still leads");
is($oc->raft_state($target, $ch)->{term}, $term, "... ${target}'s term is still $term");

# The control: the same TIMEOUT_NOW from the leader's own role is a leader
# transfer; the target takes over.  So what the forgeries carried was
# understood, and dropped for what it claimed.
pick_roles();
$term = $oc->raft_state($target, $ch)->{term};
$r = $oc->deliver_as($target, "orderer_$leader", $leader,
	envelope($leader, [ $ch, 'RAFT',
		raft_message(type => 'TIMEOUT_NOW', from => $id{$leader}, to => $id{$target}, term => $term) ]));
ok($r->{ok}, "deliver() takes a TIMEOUT_NOW from $leader as orderer_$leader") or diag($r->{stderr});
my $new_leader = $target;
ok($oc->wait_until("$new_leader leads $ch", 30,
		sub { ($oc->wait_for_leader($ch, \@names, 5) // '') eq $new_leader }),
	"... and $new_leader campaigns and leads: the crafted messages are understood");

my %rejected_after = map { ($_ => rejected($_, $ch)) } @names;
ok(defined $rejected_after{n1}, "ordering.status shows rejected_records of $ch");
my $rejected = 0;
$rejected += ($rejected_after{$_} // 0) - ($rejected_before{$_} // 0) for @names;
cmp_ok($rejected, '>=', 5, 'the 5 forged messages were counted as rejected records');
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-forged-raft');

# --- 3. "You are no longer a consenter" ---------------------------------

# On a channel of its own, which no earlier forgery touched.
my $rm = 'rm';
$oc->create_channel($rm, \@names, { batch_timeout => 50, election_tick => 40 });
$health = $oc->health;
pick_roles($rm);
my %rm_id = %{ $oc->raft_ids('n1', $rm) };
my $genesis = $oc->safe_query($target,
	"SELECT convert_from(config, 'UTF8') FROM ordering.blocks WHERE channel = '$rm' AND number = 0");
my $without_target = genesis_record($genesis,
	{ map { ($_ => { id => $rm_id{$_}, conninfo => $oc->conninfo($_) }) }
		  grep { $_ ne $target } @names });
# After each forgery the leader orders a marker; until the target has it,
# the target's membership is watched (a node told it was removed may be
# brought back later, when the leader misses it).
for my $sender ('n3', $leader)
{
	my $r = $oc->deliver_as($target, "orderer_$sender", $sender,
		envelope($sender, [ $rm, 'GENESIS', $without_target ]));
	note("GENESIS without $target from $sender: "
		  . ($r->{ok} ? 'accepted' : "$r->{sqlstate} $r->{message}"));
	my $marker = "removal-marker-$sender";
	$oc->safe_query($leader, "SELECT ordering.submit_tx_async('$rm', 'marker', '$marker')");
	my $shown = 'consenter';
	ok($oc->wait_until("$target has $marker", 30, sub {
				my $m = membership($target, $rm) // '';
				$shown = $m if $m ne 'consenter';
				return $oc->safe_query($target,
					"SELECT count(*) FROM ordering.transactions WHERE channel = '$rm' AND tx_id = '$marker'") eq '1';
			}),
		"$target goes on ordering $rm after a GENESIS without it from $sender");
	is($shown, 'consenter',
		"a GENESIS without $target, from $sender" . ($sender eq $leader ? ' (the leader\'s own role)' : '')
		  . ", leaves $target a consenter throughout");
	is($oc->safe_query($target, "SELECT removed FROM ordering.raft_state WHERE channel = '$rm'"),
		'f', "... not marked removed");
}
my $own = $oc->fence($rm, \@names, 'submit-on-target', on => $target);
ok($own, "$target still orders its own submissions");
$oc->assert_cluster_sound($rm, \@names, $health, tag => 'after-fake-removal');

# --- 4. Eviction detection ----------------------------------------------

my $ev = 'ev';
$oc->create_channel($ev, \@names, { batch_timeout => 50 });
ok(defined $oc->wait_for_leader($ev, \@names), "$ev has a leader");
# n3's sessions on n1 are logged: the test sees when n3 asks n1 to confirm.
$oc->safe_query('n1', "ALTER ROLE orderer_n3 SET log_statement = 'all'");
ok($oc->submit('n1', $ev, 'before the removal', 'ev-1')->{ok}, "a transaction on $ev");
my $n3_head = $oc->wait_for_same_head($ev, \@names);
ok(defined $n3_head, "every node has $ev up to block " . ($n3_head // '?'));

$health = $oc->health;
# n1 cannot deliver to n3 until n3 has recorded its removal: records n1
# queued for n3 while it was down (the removal entry, then a commit index
# past it) would otherwise reach it when it comes back within n1's
# backoff, and n3 would apply the removal by Raft, rightly, instead of
# going through eviction detection, which this part tests (seen once
# here, n3 down for 0.3 s).  n3 still reaches n1.
ok($oc->cut_off('n3', ['n1']), "n1's deliveries to n3 are refused");
$oc->stop_node('n3', 'fast');
$r = $oc->admin($ev, [qw(n1 n2)], "SELECT ordering.remove_consenter('$ev', 'n3')");
ok($r->{ok}, "n3 is removed from $ev while it is down") or diag($r->{stderr});
ok($oc->wait_until('n1 and n2 applied the removal', undef, sub {
			!grep {
				$oc->safe_query($_, "SELECT count(*) FROM ordering.consenters WHERE channel = '$ev' AND node = 'n3'") ne '0'
			} qw(n1 n2);
		}),
	'n1 and n2 no longer list n3');
ok($oc->submit('n1', $ev, "after the removal $_", "ev-after-$_")->{ok}, "$ev orders without n3 ($_)")
  for 1 .. 2;

# Only n1 answers: n3 cannot have a majority of {n1, n2, n3} confirm.
$oc->stop_node('n2', 'fast');
my $n1_log_offset = -s $oc->node('n1')->logfile;
my $hash_calls = sub {
	my $log = substr(slurp_file($oc->node('n1')->logfile), $n1_log_offset);
	my $n = () = $log =~ /peer_block_hash/g;
	return $n;
};
$oc->start_node('n3');
ok($oc->wait_until('n3 asks n1 for the hash of a block beyond its head', 90,
		sub { $hash_calls->() >= 1 }),
	'n3, hearing no leader, pulls the chain and asks n1 to confirm the block that removes it');
$oc->wait_until('n3 asks again, or records its removal', 30,
	sub { $hash_calls->() >= 2 || (membership('n3', $ev) // '') ne 'consenter' });
is(membership('n3', $ev), 'consenter',
	'with one voter of three confirming, n3 does not record its removal');

$oc->start_node('n2');
ok($oc->wait_until('n3 records its removal', 90,
		sub { my $m = membership('n3', $ev); defined $m && $m ne '' && $m ne 'consenter' }),
	'once n1 and n2 confirm, n3 records its removal (status: ' . (membership('n3', $ev) // 'no answer') . ')');
$oc->let_in('n3', ['n1']);
is($oc->last_block('n3', $ev), $n3_head, 'n3 did not install the blocks it pulled');
my $bad = $oc->query('n3', OrderingCluster::verify_chain_sql($ev));
ok($bad->{ok} && $bad->{stdout} eq '', "n3's chain of $ev still verifies") or diag($bad->{stdout});
$oc->safe_query('n1', 'ALTER ROLE orderer_n3 RESET log_statement');
$oc->assert_cluster_sound($ev, [qw(n1 n2)], $health, restarted => [qw(n2 n3)],
	tag => 'after-eviction');
$oc->assert_cluster_sound($ch, \@names, $oc->health, tag => 'ch1-after-eviction');

# --- 5. Huge terms from a member ----------------------------------------

$health = $oc->health;
my %term_before = map { ($_ => $oc->raft_state($_, $ch)->{term}) } @names;
for my $huge (U64_MAX, 1 << 63, 1 << 62)
{
	for my $to (grep { $_ ne 'n3' } @names)
	{
		my $r = $oc->deliver_as($to, 'orderer_n3', 'n3',
			envelope('n3', [ $ch, 'RAFT',
				raft_message(type => 'HEARTBEAT', from => $id{n3}, to => $id{$to}, term => $huge) ]));
		note("heartbeat of term $huge to $to: " . ($r->{ok} ? 'accepted' : "$r->{sqlstate} $r->{message}"));
	}
}
$oc->fence($ch, \@names, 'after-huge-terms', timeout => 30);
for my $n (@names)
{
	my $s = $oc->raft_state($n, $ch);
	my $t = $s ? $s->{term} : undef;
	ok(defined $t && $t >= $term_before{$n} && $t < $term_before{$n} + 1000,
		"$n: the term did not jump (was $term_before{$n}, now " . ($t // 'no answer') . ')');
}
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-huge-terms');

done_testing();
