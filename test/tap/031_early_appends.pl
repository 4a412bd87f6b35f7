# 031_early_appends.pl: a leader sends its appends before its own write of
# the entries commits (Raft thesis 10.2.1); crashing it in between loses no
# acknowledged transaction and moves none.
#
# Three servers, the channel with the default settings (adaptive cutting,
# so the leader has a block in flight nearly all the time under load).
# Submitters run on every node, the leader included.  Three rounds: the
# leader is killed (SIGKILL to the postmaster and every process under it)
# or stopped in immediate mode while the load runs, a new leader must be
# elected, ordering must go on, and the old leader comes back.  At the end
# every acknowledged transaction is on every node exactly once, at the
# block and position it was acknowledged with, and the chains are
# identical and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use List::Util qw(sum0);
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'early';
$oc->create_channel($ch, \@names);

my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'initial leader elected') or die 'no leader';

sub acked_count
{
	my ($loads) = @_;
	return sum0(map { scalar($oc->load_acked($_)) } @$loads);
}

my @acked;
for my $round (1 .. 3)
{
	my @loads;
	for my $n (@names)
	{
		push @loads, $oc->start_load($n, $ch, prefix => "r$round-$n-$_", submit_timeout => 5000)
		  for 1 .. 2;
	}
	ok($oc->wait_for_acked(\@loads, 30), "round $round: load is ordered before the crash")
	  or die 'the load never got going';

	my $how = $round == 2 ? 'immediate stop' : 'kill -9';
	if ($round == 2)
	{
		$oc->stop_node($leader, 'immediate');
	}
	else
	{
		$oc->kill9_node($leader);
	}
	note("round $round: $how of leader $leader with " . acked_count(\@loads) . ' acknowledged');

	my @survivors = grep { $_ ne $leader } @names;
	my $new_leader = $oc->wait_for_leader($ch, \@survivors, 30);
	ok(defined $new_leader, "round $round: a new leader after the $how") or die 'no new leader';

	my @live = grep { $_->{node} ne $leader } @loads;
	my $n0 = acked_count(\@live);
	ok($oc->wait_for_acked(\@live, $n0 + 20, 60), "round $round: ordering goes on");

	push @acked, map { $oc->stop_load($_) } @loads;
	$oc->start_node($leader);
	$leader = $oc->wait_for_leader($ch, \@names);
	ok(defined $leader, "round $round: a leader once the old one is back") or die 'no leader';
}

note(scalar(@acked) . ' transactions acknowledged in all');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
for my $n (@names)
{
	is($oc->safe_query($n,
		"SELECT count(*) - count(DISTINCT payload) FROM ordering.transactions WHERE channel = '$ch'"),
		'0', "no transaction ordered twice on $n");
}

done_testing();
