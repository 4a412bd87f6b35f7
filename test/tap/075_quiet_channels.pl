# 075_quiet_channels.pl: idle channels go quiet (no Raft ticks, no
# heartbeats) and wake for work and for failures, on 3 real servers.
#
# Six channels with the default settings: once each has ordered a
# transaction and every member holds it, every node reports every channel
# quiesced, and the channels stay quiet (same term, same commit index, no
# leader change) while nothing happens.  A submit on a follower and on the
# leader of a quiet channel is ordered, and so are a leadership transfer
# and a settings change.  Then the node leading the most
# channels is killed with SIGKILL: every channel it led elects a new leader
# among the survivors (their followers notice that the leader's node went
# silent), the others keep ordering, and after the node is back the chains
# are identical and verified and the channels go quiet again.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my @channels = map { "quiet$_" } 1 .. 6;

$oc->create_channel($_, \@names, {}) for @channels;
for my $ch (@channels)
{
	ok(defined $oc->wait_for_leader($ch, \@names), "$ch has a leader")
	  or die "no leader for $ch";
	my $r = $oc->submit($names[0], $ch, "first $ch");
	ok($r->{ok}, "a first transaction is ordered on $ch")
	  or diag($r->{message});
}

# How many channels a node reports quiesced, and its view of them.
sub quiet_count
{
	my ($n) = @_;
	return $oc->safe_query($n,
		'SELECT count(*) FROM ordering.status WHERE quiesced');
}

sub snapshot_of
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT string_agg(channel || ':' || term || ':' || commit_index || ':'"
		  . " || leader_changes || ':' || quiesced, ' ' ORDER BY channel)"
		  . ' FROM ordering.status');
}

sub wait_all_quiet
{
	my ($nodes, $what) = @_;
	for my $n (@$nodes)
	{
		ok( $oc->wait_until(
				"every channel quiesced on $n",
				60, sub { quiet_count($n) == scalar(@channels) }),
			"$what: every channel is quiet on $n")
		  or diag(snapshot_of($n));
	}
}

wait_all_quiet(\@names, 'idle');

# Quiet stays quiet: nothing moves for three seconds on any node.
my %before = map { ($_ => snapshot_of($_)) } @names;
my $still = 1;
for (1 .. 30)
{
	usleep(100_000);
	for my $n (@names)
	{
		next if snapshot_of($n) eq $before{$n};
		$still = 0;
		diag("$n moved: $before{$n} -> " . snapshot_of($n));
	}
	last unless $still;
}
ok($still, 'quiet channels keep their term, commit index and leader');

# Work wakes a quiet channel, from a follower and on the leader.
my $ch = $channels[0];
my $leader = $oc->wait_for_leader($ch, \@names);
my ($follower) = $oc->followers($leader, \@names);
for my $n ($follower, $leader)
{
	my $r = $oc->submit($n, $ch, "wake from $n", undef, submit_timeout => 10000);
	ok($r->{ok}, "a submit on $n is ordered on the quiet channel")
	  or diag($r->{message});
}
wait_all_quiet(\@names, 'after the submits');

# Admin calls wake a quiet channel too: a leadership transfer asked of
# its leader, and a settings change asked of a follower (relayed).
my $moved = $channels[1];
my $from = $oc->wait_for_leader($moved, \@names);
my ($to) = $oc->followers($from, \@names);
my $r = $oc->admin($moved, \@names,
	"SELECT ordering.transfer_leadership('$moved', '$to')");
ok($r->{ok}, "transfer_leadership is taken on the quiet channel $moved")
  or diag($r->{message});
ok( $oc->wait_until(
		"$to leads $moved", 30,
		sub { ($oc->wait_for_leader($moved, \@names, 5) // '') eq $to }),
	"the quiet channel $moved hands its leadership to $to");
my $changed = $channels[2];
my ($asked) =
  $oc->followers(scalar $oc->wait_for_leader($changed, \@names), \@names);
$r = $oc->query($asked,
	"SELECT ordering.update_channel_config('$changed', '{\"batch_timeout\": 150}')");
ok($r->{ok}, "a settings change asked of $asked is ordered on the quiet channel $changed")
  or diag($r->{message});
wait_all_quiet(\@names, 'after the admin calls');

# Kill the node that leads the most channels.
my %led;
for my $c (@channels)
{
	my $l = $oc->wait_for_leader($c, \@names);
	push @{ $led{$l} }, $c;
}
my ($victim) = sort { @{ $led{$b} } <=> @{ $led{$a} } } keys %led;
my @survivors = grep { $_ ne $victim } @names;
note("killing $victim, leader of @{ $led{$victim} }");
$oc->kill9_node($victim);

for my $c (@channels)
{
	my $l = $oc->wait_for_leader($c, \@survivors, 30);
	ok(defined $l && $l ne $victim,
		"$c has a leader among the survivors after the kill");
	my $r = $oc->submit($survivors[0], $c, "after kill $c", undef,
		submit_timeout => 20000);
	ok($r->{ok}, "$c orders a transaction without $victim")
	  or diag($r->{message});
}

$oc->start_node($victim);
$oc->assert_chains_identical_and_verified(\@names, $_) for @channels;
wait_all_quiet(\@names, 'after the restart');

done_testing();
