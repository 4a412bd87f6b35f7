
# Copyright: the ordering extension's authors.
#
# 089_raft_assertion.pl: a failed assertion in the Raft core, inside a live
# worker, costs its channel a rebuild and nothing else.
#
# Three servers serve two channels under load.  ordering.debug_break_channel
# makes the worker of ch1's leader break the core's contract once (a second
# raft_ready_get() without raft_advance()); the core's assertion fires.
# Then:
#  - the worker logs the assertion as an ERROR, discards ch1's node and
#    rebuilds ch1 from its tables; it never abort()s: same postmaster, same
#    worker, same checkpointer (a crash restart replaces every process),
#    no crash in any log;
#  - ch2 on the same worker is not touched, and keeps ordering;
#  - ch1 comes back and orders again on every node;
#  - no acknowledged transaction of either channel is lost; chains verify.
# Also: the core's memory of each channel is in that channel's own memory
# context ("ordering channel raft"), as the worker's memory context dump
# shows.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @all = qw(n1 n2 n3);
my $oc = OrderingCluster->new(nodes => 3);
for my $ch (qw(ch1 ch2))
{
	$oc->create_channel($ch, \@all, { batch_timeout => 50 });
}
my $leader = $oc->wait_for_leader('ch1', \@all);
ok(defined $leader, "ch1 has a leader");
ok(defined $oc->wait_for_leader('ch2', \@all), 'ch2 has a leader');
my $node = $oc->node($leader);

sub log_since
{
	my ($offset) = @_;
	my $log = slurp_file($node->logfile);
	return length $log >= $offset ? substr($log, $offset) : $log;
}

sub scalar_of
{
	my ($n, $sql) = @_;
	my $r = $oc->query($n, $sql);
	return $r->{ok} ? $r->{stdout} : undef;
}

my $checkpointer_sql =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'";
my $checkpointer = scalar_of($leader, $checkpointer_sql);
my $health = $oc->health(\@all);

# Load on both channels, submitted on every node, through the trip.
my @loads;
for my $n (@all)
{
	push @loads, map { $oc->start_load($n, $_, prefix => "$_-$n") } qw(ch1 ch2);
}
ok($oc->wait_for_acked(\@loads, 30), 'both channels order under load');

my $offset = -s $node->logfile;
$oc->safe_query($leader,
	"ALTER SYSTEM SET ordering.debug_break_channel = 'ch1'");
$oc->safe_query($leader, 'SELECT pg_reload_conf()');

ok( $oc->wait_until(
		"$leader discards ch1's Raft node",
		undef,
		sub {
			log_since($offset) =~
			  /channel "ch1": discarded its Raft node after a failed assertion/;
		}),
	"$leader: the failed core assertion discards ch1's node");
my $log = log_since($offset);
like(
	$log,
	qr/ERROR:  channel "ch1": the Raft core's assertion "!node->ready_outstanding" failed/,
	'the assertion is an ERROR naming the channel and the expression');
like($log, qr/DETAIL:  At [^\n]*ready\.c:\d+\./,
	'... and the file and line of the assertion');
like($log, qr/channel "ch1" will be reloaded after an error/,
	'ch1 is rebuilt from its tables');
unlike($log, qr/channel "ch2" will be reloaded/, 'ch2 is not touched');
unlike($log, qr/terminating any other active server processes/,
	'no crash restart');

$oc->safe_query($leader, 'ALTER SYSTEM RESET ordering.debug_break_channel');
$oc->safe_query($leader, 'SELECT pg_reload_conf()');

# ch2 orders on every node while ch1 comes back, then ch1 orders too.
$oc->fence('ch2', \@all, 'ch2 after the assertion', on => $leader);
ok( $oc->wait_until(
		"ch1 live again on $leader",
		undef,
		sub {
			my $s = $oc->status($leader, 'ch1');
			return $s && $s->{role} ne 'stopped' && ($s->{last_error} // '') eq '';
		}),
	"ch1 is live again on $leader, without an error");
$oc->fence('ch1', \@all, 'ch1 after the assertion', on => $leader);
my $acked_before_stop = 0;
$acked_before_stop += scalar($oc->load_acked($_)) for @loads;
ok($oc->wait_for_acked(\@loads, $acked_before_stop + 20),
	'the loads go on being acknowledged');

my %acked;
for my $l (@loads)
{
	my ($ch) = $l->{prefix} =~ /^(ch\d)/;
	push @{ $acked{$ch} }, $oc->stop_load($l);
}
for my $ch (qw(ch1 ch2))
{
	$oc->assert_acknowledged_present(\@all, $ch, $acked{$ch});
	$oc->assert_chains_identical_and_verified(\@all, $ch);
}

is(scalar_of($leader, $checkpointer_sql), $checkpointer,
	"$leader: the checkpointer started before is still running");
$oc->assert_unharmed($health);

# The core allocates each channel's node in that channel's context.
my $worker = scalar_of($leader,
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering worker'");
$offset = -s $node->logfile;
$oc->safe_query($leader, "SELECT pg_log_backend_memory_contexts($worker)");
my @raft_cxts;
ok( $oc->wait_until(
		'the worker logs its memory contexts',
		undef,
		sub {
			@raft_cxts = log_since($offset) =~
			  /ordering channel raft: (\d+) total in \d+ blocks; (\d+) free/g;
			return @raft_cxts >= 4;
		}),
	'the worker has a Raft context for each channel');
my @used;
while (my ($total, $free) = splice(@raft_cxts, 0, 2))
{
	push @used, $total - $free;
}
ok(!grep({ $_ < 4096 } @used),
	'each holds its channel\'s node and log (' . join(', ', @used) . ' bytes used)');

done_testing();
