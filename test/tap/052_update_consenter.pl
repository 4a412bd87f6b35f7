# 052_update_consenter.pl: a consenter's address changes in place.
#
# A channel on n1..n3, each node logging in as its own role; then
#   - update_consenter is refused while a membership change is pending
#     (a learner that cannot catch up: 55000), with a conninfo naming
#     another role (22023), and for an unknown node (42704); none adds a
#     configuration block;
#   - that learner, n4, added with a wrong address, is given its right
#     one: it catches up and is promoted (then removed again);
#   - n3 moves to another port.  The others cannot reach it: it falls
#     behind while the channel goes on ordering without it;
#   - update_consenter, called on a follower (relayed to the leader), gives
#     n3's new address: one configuration block,
#     applied on every node (the same raft id, the new conninfo in
#     ordering.consenters and in the block's document); the leader reaches
#     n3 at its new address, n3 catches up and submits again;
#   - after a restart of n1 and n2, which read the address from their
#     tables, n3 still follows;
#   - the leader given a dead port of its own: the update commits, every
#     member closes its connection to it and cannot connect again, so it
#     can no longer hear its followers and loses leadership (CheckQuorum);
#     another node leads, and the right address given there brings it
#     back;
#   - a second channel led by the same node, both under load, and a
#     follower that moves again: given its new port in one channel only
#     (the other still names the dead one), it gets the blocks of both.
# Every acknowledged transaction is in every chain, and the chains are
# identical and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use OrderingCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 4, roles => 'per-node');
my $ch = 'moving';
my @members = qw(n1 n2 n3);
$oc->create_channel($ch, \@members, { batch_timeout => 50 });
ok(defined $oc->wait_for_leader($ch, \@members), 'leader elected on n1..n3')
  or die 'no leader';

my @acked;
my $seq = 0;
sub submit_ok
{
	my ($on, $what) = @_;
	$seq++;
	return $oc->submit_ok($on, $ch, "moving payload $seq", "mv-$seq", \@acked, $what);
}
submit_ok($_, 'before any change') for @members;

sub changes_on
{
	my ($n) = @_;
	return join(',', map { $_->[1] } @{ $oc->config_changes($n, $ch) });
}

sub conninfo_of_n3_on
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT raft_id || ' ' || conninfo FROM ordering.consenters WHERE channel = '$ch' AND node = 'n3'");
}

my $changes_before = changes_on('n1');
my $n3_before = conninfo_of_n3_on('n1');
my ($n3_id) = split / /, $n3_before;

# --- refusals: nothing is ordered
my $conninfo_n3 = $oc->conninfo('n3');
(my $with_role_of_n2 = $conninfo_n3) =~ s/user=\S+/'user=' . $oc->role_of('n2')/e;
my $r = $oc->admin($ch, \@members,
	"SELECT ordering.update_consenter('$ch', 'n3', '$with_role_of_n2')");
is($r->{sqlstate}, '22023', 'a new conninfo naming another role is refused (22023)')
  or diag($r->{message});
like($r->{message}, qr/must name the role it logs in as/, '... saying the role must stay');
$r = $oc->admin($ch, \@members,
	"SELECT ordering.update_consenter('$ch', 'n9', '$conninfo_n3')");
is($r->{sqlstate}, '42704', 'updating a node that is not a consenter is refused (42704)');

# A learner that never catches up keeps a membership change pending.
$r = $oc->admin($ch, \@members,
	"SELECT ordering.add_consenter('$ch', 'n4', 'host=127.0.0.1 port=1 dbname=postgres user=orderer_n4')");
ok($r->{ok}, 'add_consenter of an unreachable n4 (a learner that stays one)')
  or diag("$r->{sqlstate}: $r->{message}");
$r = $oc->admin($ch, \@members,
	"SELECT ordering.update_consenter('$ch', 'n3', '$conninfo_n3')");
is($r->{sqlstate}, '55000', 'update_consenter while a learner is pending is refused (55000)');
like($r->{message}, qr/membership change is already in progress/, '... as a change in progress');

# The learner's own address may be given again: that is how a wrong one
# given to add_consenter is mended.  n4 then catches up and is promoted.
$r = $oc->admin($ch, \@members,
	"SELECT ordering.update_consenter('$ch', 'n4', '" . $oc->conninfo('n4') . "')");
ok($r->{ok}, 'update_consenter gives the stuck learner n4 its right address')
  or diag("$r->{sqlstate}: $r->{message}");
ok( $oc->wait_until('n4 a voter on n1..n4', 60, sub {
		!grep {
			($oc->query($_, "SELECT is_learner FROM ordering.consenters WHERE channel = '$ch' AND node = 'n4'")->{stdout} // '') ne 'f'
		} @members, 'n4';
	}),
	'n4 catches up at its right address and is promoted, as every node sees it');
$r = $oc->admin($ch, [ @members, 'n4' ], "SELECT ordering.remove_consenter('$ch', 'n4')");
ok($r->{ok}, 'n4 is removed again') or diag("$r->{sqlstate}: $r->{message}");
ok($oc->wait_until('n4 gone from every member', 60, sub {
	!grep { $oc->safe_query($_, "SELECT count(*) FROM ordering.consenters WHERE channel = '$ch' AND node = 'n4'") ne '0' } @members;
}), 'every member applied the removal of n4');
is(changes_on('n1'),
	"$changes_before,add_consenter n4,update_consenter n4,promote n4,remove_consenter n4",
	'one configuration block per change; the refused updates added none');

# --- n3 moves to another port
my $n3 = $oc->node('n3');
$oc->stop_node('n3', 'fast');
my $new_port = PostgreSQL::Test::Cluster::get_free_port();
$n3->append_conf('postgresql.conf', "port = $new_port\n");
$n3->{_port} = $new_port;
$oc->start_node('n3');
my $new_conninfo = $oc->conninfo('n3');
like($new_conninfo, qr/port=$new_port /, "n3's conninfo names its new port $new_port");
ok(conninfo_of_n3_on('n1') ne "$n3_id $new_conninfo", 'the members still have the old address');

# The others cannot reach n3: it holds none of what is ordered meanwhile.
submit_ok('n1', 'while n3 is unreachable') for 1 .. 3;
my $gap_block = $acked[-1]{block_number};
my $n3_last = $oc->last_block('n3', $ch);
ok(defined $n3_last && $n3_last < $gap_block,
	"n3 at its new port has not received block $gap_block (has $n3_last)");

# --- the update, called on a follower: it relays the call to the leader
my $leader = $oc->wait_for_leader($ch, [qw(n1 n2)]);
ok(defined $leader && $leader ne 'n3', "n1 and n2 agree on a leader ($leader)")
  or die 'no leader among n1 and n2';
my ($follower) = grep { $_ ne $leader } qw(n1 n2);
$r = $oc->query($follower,
	"SELECT ordering.update_consenter('$ch', 'n3', '$new_conninfo')");
ok($r->{ok}, "update_consenter on the follower $follower gives n3 its new address")
  or diag("$r->{sqlstate}: $r->{message}");
like($r->{stdout}, qr/^\d+$/, 'update_consenter returns a block number');
my $update_block = $r->{stdout};

ok($oc->wait_for_block($ch, \@members, $update_block, 60),
	"every node, n3 too, has the configuration block $update_block");
for my $n (@members)
{
	is(conninfo_of_n3_on($n), "$n3_id $new_conninfo",
		"$n: n3 keeps raft id $n3_id and has its new conninfo in ordering.consenters");
	my ($block) = grep { $_->[0] == $update_block } @{ $oc->config_changes($n, $ch) };
	is($block && $block->[1], 'update_consenter n3',
		"$n: block $update_block is the update_consenter n3 configuration block");
	my $doc = decode_json($oc->safe_query($n,
		"SELECT convert_from(config, 'UTF8') FROM ordering.blocks WHERE channel = '$ch' AND number = $update_block"));
	is($doc->{consenters}{n3}{conninfo}, $new_conninfo, "$n: the block's document holds the new conninfo");
	ok(!$doc->{consenters}{n3}{learner}, "$n: n3 is still a voter in it");
}
ok($oc->wait_for_membership('n3', $ch, sub { $_[0]{membership} eq 'consenter' }, 60),
	'n3 is a consenter');
submit_ok('n3', 'after the update');
submit_ok('n1', 'after the update');
ok(defined $oc->wait_for_same_head($ch, \@members, 60), 'n3 caught up: same head everywhere');

# --- n1 and n2 restart with the address from their tables
for my $n (qw(n1 n2))
{
	$oc->stop_node($n, 'fast');
	$oc->start_node($n);
}
ok(defined $oc->wait_for_leader($ch, \@members), 'a leader after n1 and n2 restarted');
submit_ok('n1', 'after n1 and n2 restarted');
ok(defined $oc->wait_for_same_head($ch, \@members, 60), 'n3 follows after the restart');

# --- an operator's mistake: the leader's own address given wrong.  The
# update commits (the followers answer at the old address until they
# apply it); applying it, each closes its connection to the leader, and
# cannot connect again: the leader hears nobody, loses its quorum
# (CheckQuorum) and another node leads.  The right address, given on the
# new leader, brings the old one back.
my $wrong_leader = $oc->wait_for_leader($ch, \@members);
ok(defined $wrong_leader, "a leader ($wrong_leader) before its address is given wrong")
  or die 'no leader';
my $good = $oc->conninfo($wrong_leader);
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
(my $bad = $good) =~ s/port=\d+/port=$dead_port/;
$r = $oc->admin($ch, \@members,
	"SELECT ordering.update_consenter('$ch', '$wrong_leader', '$bad')");
ok($r->{ok}, "update_consenter gives the leader $wrong_leader a dead port")
  or diag("$r->{sqlstate}: $r->{message}");
my @others = grep { $_ ne $wrong_leader } @members;
ok( $oc->wait_until(
		"a leader other than $wrong_leader on @others",
		60,
		sub {
			my $l = $oc->wait_for_leader($ch, \@others, 5);
			return defined $l && $l ne $wrong_leader;
		}),
	"the others elect a new leader once $wrong_leader cannot hear them");
submit_ok($others[0], "while $wrong_leader has a wrong address");
$r = $oc->admin($ch, \@others,
	"SELECT ordering.update_consenter('$ch', '$wrong_leader', '$good')");
ok($r->{ok}, "update_consenter on the new leader gives $wrong_leader its address again")
  or diag("$r->{sqlstate}: $r->{message}");
ok(defined $oc->wait_for_same_head($ch, \@members, 60),
	"$wrong_leader catches up at its address");
submit_ok($wrong_leader, 'after its address was given right again');

# --- a node moves again, and the operator gives its new address to one
# channel first: the two channels name it differently, one by its old,
# dead port.  The leader of both sends for each on every tick and with
# every block; it must still get a connection through to the new port.
my $other = 'other';
$oc->create_channel($other, \@members, { batch_timeout => 50 });
my $lead = $oc->wait_for_leader($ch, \@members);
ok(defined $lead, "a leader of $ch ($lead)") or die 'no leader';
$oc->admin($other, \@members, "SELECT ordering.transfer_leadership('$other', '$lead')")
  unless ($oc->wait_for_leader($other, \@members) // '') eq $lead;
ok($oc->wait_until("$lead leads $other", 60,
		sub { ($oc->wait_for_leader($other, \@members, 5) // '') eq $lead }),
	"$lead leads both channels");
my ($target) = grep { $_ ne $lead } @members;
my ($third) = grep { $_ ne $lead && $_ ne $target } @members;
my @loads = map { $oc->start_load($lead, $_, prefix => "moved-$_") } ($ch, $other);
ok($oc->wait_for_acked(\@loads, 20, 60), "load on both channels, on $lead");
my $moved = $oc->node($target);
$oc->stop_node($target, 'fast');
my $moved_port = PostgreSQL::Test::Cluster::get_free_port();
$moved->append_conf('postgresql.conf', "port = $moved_port\n");
$moved->{_port} = $moved_port;
$oc->start_node($target);
my $moved_conninfo = $oc->conninfo($target);
$r = $oc->admin($ch, [ $lead, $third ],
	"SELECT ordering.update_consenter('$ch', '$target', '$moved_conninfo')");
ok($r->{ok}, "update_consenter gives $target its new port in $ch only")
  or diag("$r->{sqlstate}: $r->{message}");
my %mark = map { ($_ => $oc->last_block($lead, $_)) } ($ch, $other);
ok($oc->wait_for_block($_, [$target], $mark{$_} + 5, 60),
	"$target gets new blocks of $_ from $lead while $other names its old port")
  for ($ch, $other);
$r = $oc->admin($other, \@members,
	"SELECT ordering.update_consenter('$other', '$target', '$moved_conninfo')");
ok($r->{ok}, "update_consenter gives $target its new port in $other too")
  or diag("$r->{sqlstate}: $r->{message}");
my @acked_other;
for my $load (@loads)
{
	my @done = $oc->stop_load($load);
	if ($load->{prefix} eq "moved-$ch") { push @acked, @done; }
	else { push @acked_other, @done; }
}
$oc->assert_chains_identical_and_verified(\@members, $other);
$oc->assert_acknowledged_present(\@members, $other, \@acked_other);

$oc->assert_chains_identical_and_verified(\@members, $ch);
$oc->assert_acknowledged_present(\@members, $ch, \@acked);

done_testing();
