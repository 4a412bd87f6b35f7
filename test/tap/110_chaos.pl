# 110_chaos.pl: random faults under load on 3 real servers, then the
# end-to-end checks.
#
# Submitters run on every node for two channels: 'ca' with small blocks and
# a small snapshot interval (so crashes land among snapshots and catch-ups)
# and 'cb' with the defaults (adaptive cutting, quiet when idle).  Each
# round does one fault, at random (CHAOS_SEED, printed; CHAOS_ROUNDS rounds,
# default 7):
#   kill9      SIGKILL to a node's postmaster and all its processes, restart
#   stop       an immediate stop, restart
#   pause      SIGSTOP to every process of a node for longer than an
#              election timeout, then SIGCONT
#   transfer   transfer_leadership of a channel to a follower
#   drop       drop_channel on a follower that is still a consenter: the
#              channel comes back by itself and catches up
#   cutoff     a node's peers may not log in to it for a while (their roles
#              NOLOGIN there), then may again
#   rejoin     remove_consenter of a follower, drop_channel there,
#              add_consenter again: it catches up as a learner and votes
# Every kind comes once in a seeded order, then again in another (so 7
# rounds try each once).  The default seed is fixed so that CI runs the same
# faults every time; other seeds soak: CHAOS_SEED=random picks one from the
# clock.  After each fault, every running node must agree on a leader of
# each channel and the load must be acknowledged again within a bounded
# wait.
# At the end: every node up, identical chains verified in plain SQL, every
# acknowledged transaction on every node exactly once where it was
# acknowledged, no server process crashed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use List::Util qw(shuffle sum0);
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $seed = $ENV{CHAOS_SEED} // 1;
$seed = (time() ^ $$) % 100000 if $seed eq 'random';
my $rounds = $ENV{CHAOS_ROUNDS} // 7;
note("CHAOS_SEED=$seed CHAOS_ROUNDS=$rounds");
srand($seed);

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my %config = (
	ca => { batch_timeout => 20, max_message_count => 5, snapshot_interval_bytes => 8192 },
	cb => {});
$oc->create_channel($_, \@names, $config{$_}) for sort keys %config;
for my $ch (sort keys %config)
{
	ok(defined $oc->wait_for_leader($ch, \@names), "$ch has a leader")
	  or die "$ch: no leader";
}

my %offset = map { ($_ => -s $oc->node($_)->logfile) } @names;
my @loads;
my @acked;
my $generation = 0;

sub start_loads
{
	$generation++;
	for my $n (@names)
	{
		push @loads,
		  $oc->start_load($n, $_, prefix => "$_-$n-g$generation", submit_timeout => 5000)
		  for sort keys %config;
	}
}

sub acked_count { return sum0(map { scalar($oc->load_acked($_)) } @loads); }

# Acknowledgements go on, on the given channels (all by default).
sub load_moves
{
	my ($what, @channels) = @_;
	@channels = sort keys %config unless @channels;
	for my $ch (@channels)
	{
		my @mine = grep { $_->{prefix} =~ /^\Q$ch\E-/ } @loads;
		my $n = sum0(map { scalar($oc->load_acked($_)) } @mine);
		ok($oc->wait_for_acked(\@mine, $n + 5, 90), "$what: $ch orders again")
		  or return 0;
	}
	return 1;
}

sub agreed_leaders
{
	my ($what) = @_;
	my $all = 1;
	for my $ch (sort keys %config)
	{
		my $l = $oc->wait_for_leader($ch, \@names, 90);
		ok(defined $l, "$what: every node agrees on a leader of $ch") or $all = 0;
	}
	return $all;
}

sub processes_of
{
	my ($n) = @_;
	my $pid = $oc->node($n)->{_pid};
	my @all = ($pid);
	my @todo = ($pid);
	while (my $p = shift @todo)
	{
		my @kids = OrderingCluster::_children_of($p);
		push @all, @kids;
		push @todo, @kids;
	}
	return @all;
}

sub pick { return $_[ int(rand(scalar @_)) ]; }

# A channel at random, a follower of its leader at random, and the leader;
# empty when no leader is agreed on.
sub random_follower
{
	my $ch = pick(sort keys %config);
	my $l = $oc->wait_for_leader($ch, \@names, 90) // return;
	return ($ch, pick($oc->followers($l, \@names)), $l);
}

# A status row of a voter.
sub votes { return $_[0] && $_[0]{membership} eq 'consenter'; }

my %faults = (
	kill9 => sub {
		my $n = pick(@names);
		$oc->kill9_node($n);
		load_moves("$n killed");
		$oc->start_node($n);
		return "kill -9 of $n";
	},
	stop => sub {
		my $n = pick(@names);
		$oc->stop_node($n, 'immediate');
		load_moves("$n stopped");
		$oc->start_node($n);
		return "immediate stop of $n";
	},
	pause => sub {
		my $n = pick(@names);
		my @p = processes_of($n);
		kill 'STOP', @p;
		# Two election timeouts at most (50 ms ticks, 10 to 20 of them).
		usleep(1_000_000 + int(rand(2_000_000)));
		kill 'CONT', @p;
		return "pause of $n";
	},
	transfer => sub {
		my ($ch, $to, $l) = random_follower() or return 'no leader';
		my $r = $oc->admin($ch, \@names,
			"SELECT ordering.transfer_leadership('$ch', '$to')");
		note("transfer_leadership: " . ($r->{ok} ? 'ok' : $r->{message}));
		return "transfer of $ch from $l to $to";
	},
	drop => sub {
		my ($ch, $n) = random_follower() or return 'no leader';
		$oc->safe_query($n, "SELECT ordering.drop_channel('$ch')");
		ok($oc->wait_for_channel($ch, [$n], 90), "$ch comes back to $n after drop_channel");
		ok($oc->wait_for_membership($n, $ch, \&votes, 90),
			"$n catches up and votes again in $ch");
		return "drop_channel of $ch on follower $n";
	},
	cutoff => sub {
		my $n = pick(@names);
		my @others = grep { $_ ne $n } @names;
		$oc->cut_off($n, \@others);
		usleep(1_000_000 + int(rand(2_000_000)));
		$oc->let_in($n, \@others);
		return "cut-off of $n";
	},
	rejoin => sub {
		my ($ch, $n) = random_follower() or return 'no leader';
		my $r = $oc->admin($ch, \@names,
			"SELECT ordering.remove_consenter('$ch', '$n')");
		ok($r->{ok}, "remove_consenter($ch, $n)") or diag($r->{message});
		ok($oc->wait_for_membership($n, $ch, sub { !votes($_[0]) }, 90),
			"$n learns it was removed from $ch");
		$oc->safe_query($n,
			"SELECT ordering.drop_channel('$ch') FROM ordering.channels WHERE channel = '$ch'");
		my $conninfo = OrderingCluster::lit($oc->conninfo($n));
		$r = $oc->admin($ch, [ grep { $_ ne $n } @names ],
			"SELECT ordering.add_consenter('$ch', '$n', $conninfo)");
		ok($r->{ok}, "add_consenter($ch, $n)") or diag($r->{message});
		ok($oc->wait_for_membership($n, $ch, \&votes, 120),
			"$n joins $ch again, catches up and is promoted");
		return "remove and add of $n in $ch";
	},
);
my @kinds = sort keys %faults;

start_loads();
ok($oc->wait_for_acked(\@loads, 20, 60), 'the load is ordered before any fault')
  or die 'the load never got going';

my @order;
for my $round (1 .. $rounds)
{
	@order = shuffle(@kinds) unless @order;
	my $kind = shift @order;
	my $what = $faults{$kind}->();
	note("round $round: $what");
	agreed_leaders("after $what") or last;
	load_moves("after $what") or last;
}

push @acked, map { $oc->stop_load($_) } @loads;
note(scalar(@acked) . ' transactions acknowledged');
for my $ch (sort keys %config)
{
	$oc->assert_chains_identical_and_verified(\@names, $ch);
	my @mine = grep { $_->{tx_id} =~ /^\Q$ch\E-/ } @acked;
	$oc->assert_acknowledged_present(\@names, $ch, \@mine);
}
is($oc->crashes($_, $offset{$_}), '', "no server process of $_ crashed") for @names;

done_testing();
