
# Copyright: the ordering extension's authors.
#
# 009_submit_waits.pl: the shared-memory table where waiting submitters
# register the ids they wait for (ordering.max_submit_waits slots) is
# bounded, says so clearly when full, and gets its slots back when a wait
# ends by cancel or by the backend's death.  A wait whose channel is
# dropped ends at once, with an error that says so.
#
# No timing: a session waits on channel "stuck", which has no quorum (two
# of its three consenters do not exist), until it is cancelled or killed;
# the test goes on once pg_stat_activity shows it waiting, and checks the
# slots it holds by what another session can still register.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 1,
	conf => "ordering.max_submit_waits = 16");
my $node = $oc->node('n1');
$oc->create_channel('w', ['n1']);
ok(defined $oc->wait_for_leader('w', ['n1']), 'w has a leader');
my $nowhere = 'host=127.0.0.1 port=1 dbname=postgres user=' . $oc->role_of('n1');
my $consenters = '{"n1": "' . $oc->conninfo('n1')
  . "\", \"n2\": \"$nowhere\", \"n3\": \"$nowhere\"}";
$oc->safe_query('n1',
	"SELECT ordering.create_channel('stuck', " . OrderingCluster::lit($consenters) . ')');

# submit_txs of n distinct payloads named by tag on a channel.
sub submit_sql
{
	my ($ch, $tag, $n) = @_;
	return "SELECT count(*) FROM ordering.submit_txs('$ch', "
	  . "ARRAY(SELECT convert_to('$tag-' || i, 'UTF8') FROM generate_series(1, $n) i))";
}

is($oc->safe_query('n1', submit_sql('w', 'all', 16)), '16',
	'16 transactions may be awaited at once');
my $r = $oc->query('n1', submit_sql('w', 'over', 17));
is($r->{sqlstate}, '53000', 'waiting for 17 fails with 53000');
like($r->{message}, qr/too many transactions are awaited/, '... saying why');
like($r->{hint} // '', qr/ordering\.max_submit_waits/, '... and which setting to raise');

# A session waits for 10 transactions on the channel without a quorum.
sub start_waiter
{
	my ($tag) = @_;
	my $s = $node->background_psql('postgres');
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_until(qr/waiting/,
		"SET ordering.submit_timeout = '10min';\n\\set VERBOSITY verbose\n\\echo waiting\n"
		  . submit_sql('stuck', $tag, 10) . ";\n");
	ok( $oc->wait_until(
			"session $pid waits",
			$OrderingCluster::DEFAULT_TIMEOUT,
			sub {
				$oc->safe_query('n1',
					"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid"
				) eq 'Extension';
			}),
		"a session waits for 10 transactions on a channel without quorum");
	return ($s, $pid);
}

for my $end (qw(cancel terminate))
{
	my ($s, $pid) = start_waiter($end);
	$r = $oc->query('n1', submit_sql('w', "$end-before", 10));
	is($r->{sqlstate}, '53000', "while it waits only 6 slots are free ($end)");
	$oc->safe_query('n1', "SELECT pg_${end}_backend($pid)");
	ok( $oc->wait_until(
			"session $pid stops waiting",
			$OrderingCluster::DEFAULT_TIMEOUT,
			sub {
				$oc->safe_query('n1',
					"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND wait_event_type = 'Extension'"
				) eq '0';
			}),
		"the waiting session is ${end}ed");
	# A terminated backend frees its slots at exit: wait until it is gone.
	if ($end eq 'terminate')
	{
		ok( $oc->wait_until(
				"session $pid exits",
				$OrderingCluster::DEFAULT_TIMEOUT,
				sub {
					$oc->safe_query('n1',
						"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
				}),
			'the terminated session is gone');
	}
	is($oc->safe_query('n1', submit_sql('w', "$end-after", 16)), '16',
		"after $end its slots are free again");
	eval { $s->quit };
}

# The channel dropped under a waiter: the wait ends at once with an error
# that says so.  Before, the worker forgot the channel and the waiter sat
# out its whole submit_timeout (10 min here), then heard that its
# transaction "may still be ordered".
my ($s, $pid) = start_waiter('drop');
$oc->safe_query('n1', "SELECT ordering.drop_channel('stuck')");
ok( $oc->wait_until(
		"session $pid fails",
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub { eval { $s->{run}->pump_nb }; $s->{stderr} =~ /ERROR/; }),
	'the waiter on a dropped channel fails at once');
like($s->{stderr}, qr/ERROR:  55000: channel "stuck" was dropped on this node while transaction \S+ waited/,
	'... with 55000, naming the channel and a transaction');
like($s->{stderr}, qr/HINT:  .*resubmitting the same id is safe/, '... and a hint');
eval { $s->quit };
is($oc->safe_query('n1', submit_sql('w', 'after-drop', 16)), '16',
	'after the drop its slots are free again');

done_testing();
