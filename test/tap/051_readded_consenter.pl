# 051_readded_consenter.pl: a consenter removed and added again under the
# same name, on 4 real servers.
#
# add_consenter gives the node a new raft id: ids are never reused.  The
# node's own tables may still name it with the old one: its block 0 (after
# drop_channel, a new server with an old name, or a lost disk) or the
# configuration it last applied (it was down while it was removed and added
# again).  Running as the removed member, it hears no leader; eviction
# detection has a majority confirm that removal, and the next genesis push
# gives it the new id, as which it catches up and votes.  (Found by TAP
# 110: the node took its old id from its tables again after the push, so
# it found the old removal again, dropped its state, was pushed the channel
# again, and so on for good.)
#
#   1. a follower is removed, drops the channel and is added again: it
#      joins from the genesis push, catches up and votes
#   2. a follower is stopped, removed and added again while down; started,
#      it catches up under its new id and votes
#   3. while a member added again leads, another node loses its data
#      directory: it joins from block 0, which names that leader with its
#      old id, and must hear it under the new one (the pushed book's)
#   4. that node is down while a member is removed, added again and
#      made leader: back, it must hear that leader too (its configuration
#      names the old id; the leader's push gives it the new one)
#   5. a follower removed refuses a submit (55000) and drops what
#      submit_tx_async left; added again, neither is ordered
# Each time a submit on it is ordered, and every node holds the same
# verified chain with every acknowledged transaction.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 4);
my @names = $oc->names;
my $ch = 'readd';
$oc->create_channel($ch, \@names,
	{ batch_timeout => 20, snapshot_interval_bytes => 4096 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'a leader is elected') or die 'no leader';

my @acked;
sub submit_ok
{
	my ($n, $what) = @_;
	my $r = $oc->submit($n, $ch, "payload $what", $what, submit_timeout => 20000);
	ok($r->{ok}, "$what: ordered on $n") or diag($r->{message});
	push @acked, $r if $r->{ok};
	return $r->{ok};
}
submit_ok($leader, "before-$_") for 1 .. 20;

# As the leader knows it (after an admin call, it has applied the change).
sub raft_id_of
{
	my ($n) = @_;
	my $at = $oc->wait_for_leader($ch, [ grep { $oc->is_up($_) } @names ]);
	return $oc->safe_query($at,
		"SELECT raft_id FROM ordering.consenters WHERE channel = '$ch' AND node = '$n'");
}

sub votes_again
{
	my ($n, $what) = @_;
	ok( $oc->wait_for_membership(
			$n, $ch,
			sub {
				$_[0] && $_[0]{membership} eq 'consenter'
				  && defined $_[0]{leader} && $_[0]{leader} ne '';
			},
			90),
		"$what: $n catches up and votes again");
}

my $round = 0;

sub remove_and_add
{
	my ($n, $between) = @_;
	my $old_id = raft_id_of($n);
	my $r = $oc->admin($ch, [ grep { $oc->is_up($_) } @names ],
		"SELECT ordering.remove_consenter('$ch', '$n')");
	ok($r->{ok}, "remove_consenter($n)") or diag($r->{message});
	$between->() if $between;
	my @others = grep { $_ ne $n && $oc->is_up($_) } @names;
	$leader = $oc->wait_for_leader($ch, \@others);
	$round++;
	submit_ok($leader, "without-$n-r$round-$_") for 1 .. 10;
	$r = $oc->admin($ch, \@others,
		"SELECT ordering.add_consenter('$ch', '$n', "
		  . OrderingCluster::lit($oc->conninfo($n)) . ")");
	ok($r->{ok}, "add_consenter($n) again") or diag($r->{message});
	my $new_id = raft_id_of($n);
	cmp_ok($new_id, '>', $old_id, "$n has a new raft id ($old_id, then $new_id)");
	return $new_id;
}

# --- 1. removed, channel dropped, added again
my ($f) = $oc->followers($leader, \@names);
my $offset = -s $oc->node($f)->logfile;
my $f_id = remove_and_add(
	$f,
	sub {
		ok( $oc->wait_for_membership(
				$f, $ch, sub { $_[0] && $_[0]{membership} ne 'consenter' }, 60),
			"$f learns it was removed");
		$oc->safe_query($f, "SELECT ordering.drop_channel('$ch')");
	});
votes_again($f, 'dropped and added again');
submit_ok($f, "readded-$f");
like(slurp_file($oc->node($f)->logfile, $offset),
	qr/this node was removed and added again; it runs as raft id $f_id, no longer/,
	"$f runs as its new raft id");

# --- 2. removed and added again while it was down
$leader = $oc->wait_for_leader($ch, \@names);
my ($g) = grep { $_ ne $f } $oc->followers($leader, \@names);
$oc->stop_node($g, 'fast');
$offset = -s $oc->node($g)->logfile;
my $g_id = remove_and_add($g);
$oc->start_node($g);
votes_again($g, 'added again while down');
submit_ok($g, "readded-$g");
like(slurp_file($oc->node($g)->logfile, $offset),
	qr/this node was removed and added again; it runs as raft id $g_id, no longer/,
	"$g runs as its new raft id");

# The others hear a member added again only under its new id, which their
# own configuration may not know yet: the leader's book tells them.
sub lead
{
	my ($n) = @_;
	my $r = $oc->admin($ch, [ grep { $oc->is_up($_) } @names ],
		"SELECT ordering.transfer_leadership('$ch', '$n')");
	ok($r->{ok}, "transfer_leadership to $n") or diag($r->{message});
	ok( $oc->wait_until(
			"$n leads $ch", 60,
			sub { ($oc->wait_for_leader($ch, [ grep { $oc->is_up($_) } @names ]) // '') eq $n }
		),
		"$n leads $ch");
}
my ($h) = grep { $_ ne $f && $_ ne $g } @names;   # the fourth one stays

# --- 3. another node's data directory is lost while an added-again
# member leads: block 0 names that leader with its old id
lead($f);
$oc->recreate_node($h);
votes_again($h, "wiped while $f (added again) leads");
submit_ok($h, "wiped-$h");

# --- 4. that node is down while a member is removed and added again
# and then leads: its configuration names that member with the old id
$oc->stop_node($h, 'fast');
remove_and_add($g);
lead($g);
$oc->start_node($h);
votes_again($h, "back while $g (added again) leads");
submit_ok($h, "back-$h");

# --- 5. what a removed node refused stays refused once it is added again.
# Before, submit_tx's transaction (told 55000, "cannot order") and what
# submit_tx_async left were kept as pending and routed again when a leader
# was known after the add: both were ordered seconds later.
$leader = $oc->wait_for_leader($ch, \@names);
my ($k) = $oc->followers($leader, \@names);
remove_and_add(
	$k,
	sub {
		ok( $oc->wait_for_membership(
				$k, $ch, sub { $_[0] && $_[0]{membership} ne 'consenter' }, 60),
			"$k learns it was removed");
		my $r = $oc->submit($k, $ch, 'refused payload', "refused-$k");
		is($r->{sqlstate}, '55000', "submit_tx on the removed $k: 55000")
		  or diag($r->{message});
		$oc->safe_query($k,
			"SELECT ordering.submit_tx_async('$ch', 'refused async', 'refused-async-$k')");
	});
votes_again($k, 'removed and added again, not dropped');
submit_ok($k, "readded-again-$k");
my $refused_sql = "SELECT count(*) FROM ordering.transactions WHERE channel = '$ch'"
  . " AND tx_id IN ('refused-$k', 'refused-async-$k')";
ok( !$oc->wait_until("a refused transaction ordered", 10,
		sub { $oc->safe_query($leader, $refused_sql) ne '0' }),
	"what $k refused while removed is not ordered after it is added again");

$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
is($oc->crashes($_), '', "no server process of $_ crashed") for @names;

done_testing();
