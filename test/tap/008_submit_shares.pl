
# Copyright: the ordering extension's authors.
#
# 008_submit_shares.pl: fair shares of the submit ring.  One channel may
# hold at most half of ordering.submit_queue_size and one backend at most a
# quarter, so a channel flooded by several sessions cannot keep another
# channel's submit from being enqueued; and one channel at most 2,048
# transactions, one backend 1,024, however small, so that submitters
# cannot run far ahead of the worker (a flood of small ones filled half
# the ring before, and took the CPU from the worker).
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

my $ring_bytes = 256 * 1024;
my $payload_bytes = 16 * 1024 - 64;
my $oc = OrderingCluster->new(nodes => 1,
	conf => "ordering.submit_queue_size = '256kB'");
my $node = $oc->node('n1');
for my $ch (qw(flood many quiet))
{
	$oc->create_channel($ch, ['n1'], { batch_timeout => 20 });
	ok(defined $oc->wait_for_leader($ch, ['n1']), "$ch has a leader");
}

# flood(channel, who, bytes): submit_tx_async of payloads of bytes until
# the ring refuses (53000 after the session's submit_timeout), at most
# 5,000; returns how many got in.
$oc->safe_query('n1', <<"SQL");
CREATE FUNCTION public.flood(ch text, who text, bytes int) RETURNS int
LANGUAGE plpgsql AS \$\$
DECLARE
	n int := 0;
BEGIN
	LOOP
		PERFORM ordering.submit_tx_async(ch,
			convert_to(rpad(who, bytes, '.'), 'UTF8'), who || '-' || lpad(n::text, 4, '0'));
		n := n + 1;
		EXIT WHEN n >= 5000;
	END LOOP;
	RETURN n;
EXCEPTION WHEN insufficient_resources THEN
	RETURN n;
END
\$\$;
SQL

# Sessions that stay connected, each with its own BackendId (a backend's
# share is counted by its id).
my @flooders = qw(f1 f2 f3 s1 s2 s3);
my %session = map { $_ => $node->background_psql('postgres') } ('lock', @flooders);
$session{$_}->query_safe('SET ordering.submit_timeout = 200') for @flooders;

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
$in{$_} = $session{$_}->query_safe("SELECT public.flood('flood', '$_', $payload_bytes)") for qw(f1 f2 f3);
note("flood: f1 $in{f1}, f2 $in{f2}, f3 $in{f3} transactions enqueued");
my $quarter = int($ring_bytes / 4 / $payload_bytes);
ok($in{f1} >= 1 && $in{f1} <= $quarter,
	"one session enqueues at most a quarter of the ring ($in{f1} of at most $quarter)");
is($in{f2}, $in{f1}, 'a second session on the channel gets as far');
ok($in{f1} + $in{f2} + $in{f3} <= 2 * $quarter,
	'the channel holds at most half of the ring, however many sessions flood it');

# Transactions of 16 bytes: the record caps bind long before the bytes.
$in{$_} = $session{$_}->query_safe("SELECT public.flood('many', '$_', 16)") for qw(s1 s2 s3);
note("many: s1 $in{s1}, s2 $in{s2}, s3 $in{s3} transactions enqueued");
is($in{s1}, 1024, 'one session enqueues at most 1,024 small transactions');
is($in{s2}, 1024, 'a second session on the channel gets as far');
is($in{s3}, 0, 'a third finds the channel holding its 2,048');

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
my $many = $in{s1} + $in{s2} + $in{s3};
ok( $oc->wait_until(
		'everything enqueued is ordered',
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub {
			$oc->safe_query('n1',
				"SELECT (SELECT count(*) FROM ordering.transactions WHERE channel = 'flood') = $flooded"
				  . " AND (SELECT count(*) FROM ordering.transactions WHERE channel = 'many') = $many"
				  . " AND EXISTS (SELECT 1 FROM ordering.transactions WHERE channel = 'quiet' AND tx_id = 'quiet')"
			) eq 't';
		}),
	"once the worker drains the ring, all $flooded flood transactions, the $many small ones and the quiet one are ordered");
$_->quit for values %session;
$oc->assert_chains_identical_and_verified(['n1'], $_) for qw(flood many quiet);

done_testing();
