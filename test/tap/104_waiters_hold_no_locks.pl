
# Copyright: the ordering extension's authors.
#
# 104_waiters_hold_no_locks.pl: a session that waits for the worker
# (wait_for_block, submit_tx) holds no lock on the ordering tables while it
# waits, so routine maintenance that needs ACCESS EXCLUSIVE (VACUUM FULL,
# CLUSTER, ALTER TABLE) does not stop the node.
#
# Found by hostile testing: the waiter kept AccessShareLock on the tables
# it had read, the maintenance command queued behind it, the worker's next
# lock queued behind that, and the waiter waited for the worker: a cycle
# through a latch, which no deadlock detector sees.  Every channel of the
# node stopped until the waiter gave up, and wait_for_block without a
# timeout never gives up.
#
# Also a join_channel that joins nothing, left in an open transaction.
#
# No timing: each waiter is seen waiting in pg_stat_activity before the
# maintenance command starts; then transactions submitted with a submit
# timeout of 30 s must be ordered.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 1);
my $node = $oc->node('n1');
$oc->create_channel('w', ['n1'], { batch_timeout => 20 });
ok(defined $oc->wait_for_leader('w', ['n1']), 'w has a leader');
# A channel without a quorum (two of its three consenters do not exist):
# a submit there waits until its timeout.
my $nowhere = 'host=127.0.0.1 port=1 dbname=postgres user=' . $oc->role_of('n1');
$oc->safe_query('n1',
	"SELECT ordering.create_channel('stuck', "
	  . OrderingCluster::lit('{"n1": "' . $oc->conninfo('n1') . "\", \"n2\": \"$nowhere\", \"n3\": \"$nowhere\"}")
	  . ')');
my $r = $oc->submit('n1', 'w', 'first', 'first');
ok($r->{ok}, 'w orders') or diag($r->{message});

# Starts a session that runs $sql and waits in it; returns it once
# pg_stat_activity shows it waiting on the worker.
sub start_waiter
{
	my ($what, $sql) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_until(qr/waiting/, "\\echo waiting\n$sql;\n");
	ok( $oc->wait_until("$what waits", $OrderingCluster::DEFAULT_TIMEOUT,
			sub {
				$oc->safe_query('n1', "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid")
				  eq 'Extension';
			}),
		"$what waits for the worker");
	return ($s, $pid);
}

# Runs a maintenance command in the background while the node must go on.
sub maintenance_while_waiting
{
	my ($what, $command) = @_;
	my $m = $node->background_psql('postgres');
	my $mpid = $m->query_safe('SELECT pg_backend_pid()');
	$m->query_until(qr/started/, "\\echo started\n$command;\n\\echo done\n");
	# Asked: it is done, or waits for a lock (the waiter's, before).
	ok( $oc->wait_until("$command is under way", $OrderingCluster::DEFAULT_TIMEOUT,
			sub {
				$oc->safe_query('n1',
					"SELECT count(*) FROM pg_stat_activity WHERE pid = $mpid"
					  . " AND query ~ '^(VACUUM|CLUSTER)'"
					  . " AND (state <> 'active' OR wait_event_type = 'Lock')"
				) eq '1';
			}),
		"$command is asked while $what waits");
	for my $i (1 .. 3)
	{
		my $r = $oc->submit('n1', 'w', "$what, $command, $i", undef, submit_timeout => '30s');
		ok($r->{ok}, "with $what waiting and $command asked, submit_tx $i is ordered")
		  or diag("$r->{sqlstate}: $r->{message}");
	}
	ok( $oc->wait_until("$command finishes", $OrderingCluster::DEFAULT_TIMEOUT,
			sub {
				$oc->safe_query('n1', "SELECT count(*) FROM pg_stat_activity WHERE pid = $mpid AND state = 'active'")
				  eq '0';
			}),
		"$command finished while $what still waits");
	$m->quit;
}

# --- wait_for_block without a timeout, and VACUUM FULL of the blocks ------
my $far = $oc->last_block('n1', 'w') + 100;
my ($waiter, $wpid) = start_waiter('wait_for_block', "SELECT ordering.wait_for_block('w', $far)");
maintenance_while_waiting('wait_for_block', 'VACUUM FULL ordering.blocks');
$oc->safe_query('n1', "SELECT pg_cancel_backend($wpid)");
eval { $waiter->quit };

# --- submit_tx in a fresh session (its first read of the channel's row),
# and VACUUM FULL, then CLUSTER, of the channels ----------------------------
($waiter, $wpid) = start_waiter('submit_tx on a channel without quorum',
	"SET ordering.submit_timeout = '10min';\nSELECT * FROM ordering.submit_tx('stuck', 'never'::bytea)");
maintenance_while_waiting('submit_tx', 'VACUUM FULL ordering.channels');
maintenance_while_waiting('submit_tx', 'CLUSTER ordering.transactions USING transactions_pkey');
$oc->safe_query('n1', "SELECT pg_cancel_backend($wpid)");
eval { $waiter->quit };

# --- join_channel of a channel already joined, left in an open
# transaction: it locked ordering.channels SHARE ROW EXCLUSIVE until the
# caller ended the transaction, though it joined nothing ------------------
my $joiner = $node->background_psql('postgres');
$joiner->query_safe('SET client_min_messages = warning');
$joiner->query_safe('BEGIN');
$joiner->query_safe("SELECT ordering.join_channel('w', " . OrderingCluster::lit($oc->conninfo('n1')) . ')');
# A configuration block updates ordering.channels, which the lock held up.
$r = $oc->query('n1', "SELECT ordering.update_channel_config('w', '{\"batch_timeout\": 30}')",
	set => { 'ordering.submit_timeout' => '30s' });
ok($r->{ok}, 'with join_channel of a joined channel in an open transaction, update_channel_config is applied')
  or diag("$r->{sqlstate}: $r->{message}");
for my $i (1 .. 3)
{
	my $r = $oc->submit('n1', 'w', "beside an open join_channel, $i", undef, submit_timeout => '30s');
	ok($r->{ok}, "with join_channel of a joined channel in an open transaction, submit_tx $i is ordered")
	  or diag("$r->{sqlstate}: $r->{message}");
}
$joiner->query_safe('COMMIT');
$joiner->quit;

$oc->assert_chains_identical_and_verified(['n1'], 'w');

done_testing();
