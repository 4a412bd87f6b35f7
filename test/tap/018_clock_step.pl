
# Copyright: the ordering extension's authors.
#
# 018_clock_step.pl: a wall clock stepped back holds no deadline.
#
# The workers computed every deadline (Raft ticks, so heartbeats and
# election timeouts; back-offs) on the wall clock.  Stepped back by an hour
# (date -s, or NTP stepping a large offset), a worker ticked no channel for
# that hour: when the leader then died, its followers never timed out and
# the channel had no leader.  Deadlines now run on a monotonic clock
# (src/common/clock.c).
#
# Three nodes; every node's wall clock, as the extension reads it, is set
# back an hour with the test aid ordering.debug_clock_offset; a transaction
# is ordered; the leader is killed: the two others elect a leader within
# seconds and order again; the old leader comes back and follows, with the
# same verified chain.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = qw(n1 n2 n3);
my $ch = 'clk';
$oc->create_channel($ch, \@names);
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'a leader on n1..n3') or die 'no leader';
my @acked;
$oc->submit_ok($_, $ch, "before the step on $_", "before-$_", \@acked,
	'before the step')
  for @names;

for my $n (@names)
{
	$oc->safe_query($n,
		"ALTER SYSTEM SET ordering.debug_clock_offset = '-1h'; SELECT pg_reload_conf()"
	);
}
ok( $oc->wait_until(
		'every node reads its clock an hour back', undef,
		sub {
			!grep {
				$oc->safe_query($_,
					"SELECT setting FROM pg_settings WHERE name = 'ordering.debug_clock_offset'"
				) ne '-3600000'
			} @names;
		}),
	'the clocks are set back an hour');
# The workers take the setting at their next pass (50 ms ticks here).
my $after;
ok( $oc->wait_until(
		'an ordered transaction after the step', undef,
		sub {
			$after = $oc->submit($leader, $ch, 'after the step', 'after-step');
			$after->{ok};
		}),
	'a transaction is ordered after the step');
push @acked, $after if $after->{ok};

$oc->kill9_node($leader);
my @others = grep { $_ ne $leader } @names;
my $new = $oc->wait_for_leader($ch, \@others, 20);
ok(defined $new, "the others elect a leader after $leader is killed");
$oc->submit_ok($_, $ch, "after the kill on $_", "after-kill-$_", \@acked,
	'after the kill')
  for @others;

$oc->start_node($leader);
$oc->submit_ok($leader, $ch, 'the old leader back', 'back', \@acked,
	'once the old leader is back');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
is($oc->crashes($_), '', "no process of $_ crashed") for @others;

done_testing();
