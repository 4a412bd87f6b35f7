# 030_leader_failover.pl: kill -9 of the leader under load, then a follower
# restart under load, on 3 real servers.
#
# Concurrent submitters run on the followers and record every acknowledged
# transaction (its id, block and position).  The leader's postmaster and
# all its processes get SIGKILL: a new leader must be elected within a
# bounded wait, ordering must go on under the same load, the old leader
# comes back as a follower, and then every acknowledged transaction is on
# every node exactly once, where it was acknowledged, with identical,
# verified chains.  Then a follower is stopped (immediate) and restarted
# while load runs, with the same checks.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use List::Util qw(sum0);
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'failover';
$oc->create_channel($ch, \@names, { batch_timeout => 50, max_message_count => 10 });

my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'initial leader elected') or die 'no leader';
my @followers = $oc->followers($leader, \@names);

sub acked_count
{
	my ($loads) = @_;
	return sum0(map { scalar($oc->load_acked($_)) } @$loads);
}

# --- kill -9 of the leader under load
my @loads;
for my $f (@followers)
{
	push @loads, $oc->start_load($f, $ch, prefix => "a-$f-$_", submit_timeout => 5000)
	  for 1 .. 3;
}
ok($oc->wait_for_acked(\@loads, 20), 'load is ordered before the crash')
  or die 'the load never got going';

my $killed_at = $oc->kill9_node($leader);
my $acked_at_kill = acked_count(\@loads);
note("killed leader $leader with $acked_at_kill transactions acknowledged");

my ($new_leader, $new_term) = $oc->wait_for_leader($ch, \@followers, 30);
ok(defined $new_leader, 'a new leader is elected among the survivors within 30 s')
  or die 'no new leader';
note(sprintf('new leader %s in term %s, %.1f s after the kill',
		$new_leader, $new_term, time - $killed_at));
isnt($new_leader, $leader, 'the new leader is not the killed node');

# Ordering goes on under the same load.
my $acked_at_election = acked_count(\@loads);
ok($oc->wait_for_acked(\@loads, $acked_at_election + 30, 60),
	'transactions keep being acknowledged after the failover');

my @acked = map { $oc->stop_load($_) } @loads;
my @attempted = map { $oc->load_attempted($_) } @loads;
note(scalar(@acked) . ' acknowledged of ' . scalar(@attempted) . ' attempted');

# The old leader comes back.
$oc->start_node($leader);
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

# Nothing ordered twice: the chain check above finds an id in two rows;
# payloads ("payload <id>") are unique per submission too, so no duplicate
# payload either.
for my $n (@names)
{
	is($oc->safe_query($n,
		"SELECT count(*) - count(DISTINCT payload) FROM ordering.transactions WHERE channel = '$ch'"),
		'0', "no transaction ordered twice on $n");
}

# The rejoining node does not disrupt the healthy leader (pre-vote).
my ($after, $after_term) = $oc->wait_for_leader($ch, \@names);
is($after, $new_leader, "the restarted $leader rejoins as a follower; $new_leader still leads");
is($after_term, $new_term, 'and the term did not change');

# --- a follower restart under load
my ($f) = grep { $_ ne $leader } $oc->followers($new_leader, \@names);
my @others = grep { $_ ne $f } @names;
my @loads2 = map { $oc->start_load($_, $ch, prefix => "b-$_", submit_timeout => 5000) } @others;
ok($oc->wait_for_acked(\@loads2, 10), 'load runs before the follower restart');

$oc->stop_node($f, 'immediate');
my $n0 = acked_count(\@loads2);
ok($oc->wait_for_acked(\@loads2, $n0 + 20, 60), "ordering continues while follower $f is down");

$oc->start_node($f);
my $n1 = acked_count(\@loads2);
ok($oc->wait_for_acked(\@loads2, $n1 + 10, 60), "ordering continues after $f restarts");
my @acked2 = map { $oc->stop_load($_) } @loads2;

$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, [ @acked, @acked2 ]);
my $final = $oc->wait_for_leader($ch, \@names);
is($final, $new_leader, "the follower restart did not change the leader");

done_testing();
