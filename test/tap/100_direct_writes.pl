
# Copyright: the ordering extension's authors.
#
# 100_direct_writes.pl: the workers write their rows through the table AM
# (src/store/direct.c), not through SQL statements, while the tables are
# as the extension made them; and a table given a trigger of its owner's
# is written by SQL again, so that the trigger fires.
#
# pg_stat_statements (track = all) counts the statements every worker
# runs.  Twenty transactions ordered one by one on a three-node channel
# must not show one INSERT into ordering.log, ordering.blocks or
# ordering.transactions, nor one UPDATE of ordering.raft_state, on any
# node, and no statement on the leader may read ordering.transactions (the
# worker hands each waiting submitter its place).  The UPDATE of raft_state went through SQL on every ready from the
# day the settings caches' trigger (channels_changed, UPDATE OF channel)
# was put on the table, until direct writes stopped counting triggers that
# do not fire for the columns they replace.  Then a statement trigger on
# one follower's raft_state: that node's worker runs the UPDATE, the
# trigger fires, and the other nodes stay direct.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(
	nodes => 3,
	conf => "shared_preload_libraries = 'ordering, pg_stat_statements'\n"
	  . "pg_stat_statements.track = all");
my @names = $oc->names;
my $ch = 'direct';

$oc->safe_query($_, 'CREATE EXTENSION pg_stat_statements') for @names;
$oc->create_channel($ch, \@names, {});
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, "$ch has a leader") or die;
my ($follower) = grep { $_ ne $leader } @names;

# The worker's statements that write its per-ready rows, counted on $n.
sub sql_writes
{
	my ($n) = @_;
	my %calls = map { $_ => 0 } qw(log blocks transactions raft_state);
	my $out = $oc->safe_query(
		$n, q{
		SELECT t, sum(s.calls)
		FROM pg_stat_statements s,
			 (VALUES ('log'), ('blocks'), ('transactions'), ('raft_state')) v(t)
		WHERE s.query ~* ('^\s*(INSERT\s+INTO|UPDATE)\s+ordering\.' || t || '\M')
		GROUP BY t});
	for my $line (split /\n/, $out)
	{
		my ($t, $c) = split /\|/, $line;
		$calls{$t} = $c;
	}
	return \%calls;
}

sub order_some
{
	my ($count, $tag) = @_;
	my $last;
	for my $i (1 .. $count)
	{
		my $r = $oc->submit($leader, $ch, "$tag $i");
		ok($r->{ok}, "$tag $i ordered") or diag($r->{message});
		$last = $r->{block_number} if $r->{ok};
	}
	ok($oc->wait_for_block($ch, \@names, $last, 30),
		"every node applied block $last");
}

# Channel creation and joining may write by SQL; count from here.
$oc->safe_query($_, 'SELECT pg_stat_statements_reset()') for @names;
order_some(20, 'direct');
for my $n (@names)
{
	my $calls = sql_writes($n);
	is_deeply(
		$calls,
		{ log => 0, blocks => 0, transactions => 0, raft_state => 0 },
		"$n ("
		  . ($n eq $leader ? 'leader' : 'follower')
		  . "): no INSERT or UPDATE statement for the per-ready rows"
	) or diag(explain($calls));
}

# Nor does a submitter look its place up: the worker hands it over.
is( $oc->safe_query(
		$leader,
		q{SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
		  WHERE query ~* 'ordering\.transactions\M'}),
	'0',
	"$leader: no statement read ordering.transactions while submitters waited");

# A trigger of the table's owner: that node's worker writes by SQL again.
$oc->safe_query(
	$follower, q{
	CREATE TABLE public.state_updates (n int);
	CREATE FUNCTION public.count_state_update() RETURNS trigger
	LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.state_updates VALUES (1);
		RETURN NULL;
	END
	$$;
	CREATE TRIGGER count_state_update AFTER UPDATE ON ordering.raft_state
		FOR EACH STATEMENT EXECUTE FUNCTION public.count_state_update();});
$oc->safe_query($_, 'SELECT pg_stat_statements_reset()') for @names;
order_some(5, 'triggered');
my $fired =
  $oc->safe_query($follower, 'SELECT count(*) FROM public.state_updates');
cmp_ok($fired, '>=', 5,
	"$follower: the statement trigger on ordering.raft_state fired ($fired times)");
cmp_ok(sql_writes($follower)->{raft_state},
	'>=', $fired, "$follower: its worker updated raft_state by SQL");
for my $n (grep { $_ ne $follower } @names)
{
	is(sql_writes($n)->{raft_state}, 0, "$n: still direct");
}

# A DO INSTEAD NOTHING rule on a table the worker writes by SQL: its kept
# plan was rewritten to nothing and so depended on no table; dropping the
# rule did not invalidate it, and the channel failed on that node until
# the worker restarted (found by hostile testing).
$oc->safe_query($follower, 'ALTER TABLE ordering.transactions ADD COLUMN note text');
order_some(1, 'by SQL');
$oc->safe_query($follower, 'CREATE RULE swallow AS ON INSERT TO ordering.transactions DO INSTEAD NOTHING');
my $r = $oc->submit($leader, $ch, 'under the rule');
ok($r->{ok}, 'ordered on the others under the rule') or diag($r->{message});
my $st;
ok($oc->wait_until("$follower stops, naming a rule", 30,
		sub { $st = $oc->status($follower, $ch); return $st && ($st->{last_error} // '') =~ /SPI_OK_REWRITTEN/; }),
	"$follower: the rewritten insert stops the channel there")
  or diag(explain($st));
like(PostgreSQL::Test::Utils::slurp_file($oc->node($follower)->logfile),
	qr/HINT:  A rule on the table may have rewritten the statement/, '... and the log names the likely cause');
$oc->safe_query($follower, 'DROP RULE swallow ON ordering.transactions');
ok(defined $oc->wait_for_same_head($ch, \@names, 30),
	"$follower goes on once the rule is gone, without a restart");
$oc->safe_query($follower, 'ALTER TABLE ordering.transactions DROP COLUMN note');

$oc->assert_chains_identical_and_verified(\@names, $ch);
is($oc->crashes($_), '', "no server process of $_ crashed") for @names;

done_testing();
