
# Copyright: the ordering extension's authors.
#
# 008_submit_shares.pl: fair shares of the submit ring.  One channel may
# hold at most 256 kB of ordering.submit_queue_size (half of a smaller
# ring) and one backend at most half of that, so a channel flooded by
# several sessions cannot keep another channel's submit from being
# enqueued, nor run far ahead of the worker (the ring here is 1 MB: a
# channel held half of it, 512 kB, before the cap).
#
# No timing: the worker is kept from draining the ring by a lock on
# ordering.log (it blocks writing the Raft log of a first transaction), and
# the test goes on once pg_stat_activity shows it waiting.  Until the lock
# is released nothing leaves the ring, so what gets in is decided by the
# shares alone; the flooders' short ordering.submit_timeout only ends their
# wait for room that cannot come.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $ring_bytes = 1024 * 1024;
my $channel_share = $ring_bytes / 2 < 256 * 1024 ? $ring_bytes / 2 : 256 * 1024;
my $payload_bytes = 16 * 1024 - 64;
my $oc = OrderingCluster->new(nodes => 1,
	conf => "ordering.submit_queue_size = '1MB'");
my $node = $oc->node('n1');
for my $ch (qw(flood quiet))
{
	$oc->create_channel($ch, ['n1'], { batch_timeout => 20 });
	ok(defined $oc->wait_for_leader($ch, ['n1']), "$ch has a leader");
}

# flood(channel, who): submit_tx_async of payload_bytes until the ring
# refuses (53000 after the session's submit_timeout); returns how many got in.
$oc->safe_query('n1', <<"SQL");
CREATE FUNCTION public.flood(ch text, who text) RETURNS int
LANGUAGE plpgsql AS \$\$
DECLARE
	n int := 0;
BEGIN
	LOOP
		PERFORM ordering.submit_tx_async(ch,
			convert_to(rpad(who, $payload_bytes, '.'), 'UTF8'), who || '-' || lpad(n::text, 4, '0'));
		n := n + 1;
		EXIT WHEN n >= 1000;
	END LOOP;
	RETURN n;
EXCEPTION WHEN insufficient_resources THEN
	RETURN n;
END
\$\$;
SQL

# Sessions that stay connected, each with its own BackendId (a backend's
# share is counted by its id).
my %session = map { $_ => $node->background_psql('postgres') } qw(lock f1 f2 f3);
$session{$_}->query_safe('SET ordering.submit_timeout = 200') for qw(f1 f2 f3);

$session{lock}->query_safe('BEGIN; LOCK TABLE ordering.log IN EXCLUSIVE MODE');
$oc->safe_query('n1', "SELECT ordering.submit_tx_async('flood', 'first'::bytea, 'first')");
ok( $oc->wait_until(
		'the worker waits for the lock on ordering.log',
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub {
			$oc->safe_query('n1',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering worker' AND wait_event_type = 'Lock'"
			) eq '1';
		}),
	'the worker is stopped before it drains the ring again');

my %in;
$in{$_} = $session{$_}->query_safe("SELECT public.flood('flood', '$_')") for qw(f1 f2 f3);
note("flood: f1 $in{f1}, f2 $in{f2}, f3 $in{f3} transactions enqueued");
my $session_max = int($channel_share / 2 / $payload_bytes);
ok($in{f1} >= 1 && $in{f1} <= $session_max,
	"one session enqueues at most half of its channel's share ($in{f1} of at most $session_max)");
is($in{f2}, $in{f1}, 'a second session on the channel gets as far');
ok($in{f1} + $in{f2} + $in{f3} <= 2 * $session_max,
	"the channel holds at most its share of the ring, however many sessions flood it ($channel_share bytes)");

my $r = $oc->query('n1', "SET ordering.submit_timeout = 200;"
	  . " SELECT ordering.submit_tx_async('quiet', 'quiet'::bytea, 'quiet')");
ok($r->{ok}, 'another channel still gets its submit enqueued')
  or diag("$r->{sqlstate}: $r->{message}");
$r = $oc->query('n1', "SET ordering.submit_timeout = 200;"
	  . " SELECT ordering.submit_tx_async('flood', convert_to(rpad('one more', $payload_bytes, '.'), 'UTF8'), 'one more')");
is($r->{sqlstate}, '53000', 'while the flooded channel refuses one more of its size')
  or diag($r->{stderr});

$session{lock}->query_safe('COMMIT');
my $flooded = 1 + $in{f1} + $in{f2} + $in{f3};
ok( $oc->wait_until(
		'everything enqueued is ordered',
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub {
			$oc->safe_query('n1',
				"SELECT (SELECT count(*) FROM ordering.transactions WHERE channel = 'flood') = $flooded"
				  . " AND EXISTS (SELECT 1 FROM ordering.transactions WHERE channel = 'quiet' AND tx_id = 'quiet')"
			) eq 't';
		}),
	"once the worker drains the ring, all $flooded flood transactions and the quiet one are ordered");
$_->quit for values %session;
$oc->assert_chains_identical_and_verified(['n1'], $_) for qw(flood quiet);

done_testing();
