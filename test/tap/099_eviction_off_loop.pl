
# Copyright: the ordering extension's authors.
#
# 099_eviction_off_loop.pl: a channel without a leader looks for this
# node's removal without stopping the node's other channels.
#
# Three servers share six quiet channels.  The node leading most of them
# also creates three channels "stranded1..3", whose two other consenters
# point at a port that accepts connections and never answers (peers cut
# off mid-network): they never elect a leader, and after ten election
# timeouts the node looks in their members' chains for a block that
# removed it, in at most two background workers at a time (more would
# take the slots catch-ups need).  The look waits on those
# peers until its deadline.  It ran in the worker's loop: the node's worker
# stood still for 20 s, its submits waited, and the other nodes elected new
# leaders for its quiet channels.  Now it runs in a background worker of
# its own: a submit on each quiet channel, made once the look has begun, is
# ordered within 10 s, and every channel keeps its leader and its term.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IO::Socket::INET;
use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my @channels = map { "steady$_" } 1 .. 6;

my $leader = $oc->quiet_neighbours(\@channels, \@names);
my $node = $oc->node($leader);
my $before = $oc->leadership('steady%', \@names);
my $health = $oc->health;

# A listener that never accepts: the kernel completes each connection, and
# the startup packet is never answered.
my $hole = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto => 'tcp',
	Listen => 64)
  or die "cannot listen: $!";
my $hole_conninfo = sprintf('host=127.0.0.1 port=%d dbname=postgres user=%s',
	$hole->sockport, $oc->role_of($leader));

# The look is logged at DEBUG1 where it begins.
$node->append_conf('postgresql.conf', 'log_min_messages = debug1');
$node->reload;
my $offset = -s $node->logfile;
for my $i (1 .. 3)
{
	$oc->safe_query($leader,
		    "SELECT ordering.create_channel('stranded$i', '{\"$leader\": \""
		  . $oc->conninfo($leader)
		  . "\", \"ghost1\": \"$hole_conninfo\", \"ghost2\": \"$hole_conninfo\"}')");
}
$node->wait_for_log(qr/channel "stranded\d": no leader for a long time; looking for a removal/,
	$offset);
pass('the node looks for its removal from a stranded channel');

# Two looks at a time: the third channel's waits for a slot.
my $looks = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering eviction check'";
ok($oc->wait_until('two looks run', 60, sub { $oc->safe_query($leader, $looks) eq '2' }),
	'two looks run at once');
my $most = 0;
for (1 .. 30)
{
	my $n = $oc->safe_query($leader, $looks);
	$most = $n if $n > $most;
	$oc->safe_query($leader, 'SELECT pg_sleep(0.1)');
}
is($most, 2, 'no third look starts while two wait on their peers (sampled for 3 s)');

for my $ch (@channels)
{
	my $r = $oc->query($leader,
		"SET ordering.submit_timeout = 10000; SELECT * FROM ordering.submit_tx('$ch', 'while stranded')");
	ok($r->{ok}, "meanwhile a submit on $ch through $leader is ordered within 10 s")
	  or diag("$r->{sqlstate}: $r->{message}");
}
is($oc->leadership('steady%', \@names), $before,
	'no channel changed term or leader on any node meanwhile');

$node->append_conf('postgresql.conf', 'log_min_messages = warning');
$node->reload;
close $hole;
$oc->assert_cluster_sound('steady1', \@names, $health);
done_testing();
