
# Copyright: the ordering extension's authors.
#
# 002_worker_restart.pl: the ordering worker comes back after it dies, and
# does not hold up a shutdown.
#
#  - SIGTERM to the worker: it exits, and the postmaster starts it again
#    after bgw_restart_time; ordering resumes.
#  - SIGKILL to the worker: the postmaster treats it as a crash, restarts
#    every process and recovers; the chain is intact and ordering resumes.
#  - A query cancel (pg_cancel_backend) is ignored: the same worker orders
#    on.  It used to end the worker, and ordering stopped on its node.
#  - lock_timeout set for every session does not reach the worker: it waits
#    for a lock a user holds on ordering.blocks, with no error.  Its writes
#    used to fail after lock_timeout, and the channel reloaded again and
#    again while the lock was held.
#  - SIGTERM to the postmaster (smart shutdown) with the worker idle: the
#    server stops promptly.
#  - A damaged raft_state row (a snapshot index without snapshot data) does
#    not crash the worker when it loads the channel.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $port = ($ENV{ORDERING_TEST_PORT_BASE} // 55421) + 1;

my $node = PostgreSQL::Test::Cluster->new('n1', port => $port);
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'ordering'
ordering.node_name = 'n1'
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION ordering');
my $conninfo = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=orderer';
$node->safe_psql('postgres',
	qq{SELECT ordering.create_channel('ch1', '{"n1": "$conninfo"}', '{"batch_timeout": 10}')});

my $worker_pid_sql =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering worker'";

sub wait_leader
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT role = 'leader' FROM ordering.status WHERE channel = 'ch1'"),
		"leader $what");
}

sub submit
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT block_number > 0 FROM ordering.submit_tx('ch1', convert_to('$id', 'UTF8'), '$id')"
	);
}

wait_leader('at start');
is(submit('a1'), 't', 'submit works at start');

# SIGTERM: the worker exits on its own and the postmaster restarts it.
my $pid = $node->safe_psql('postgres', $worker_pid_sql);
like($pid, qr/^\d+$/, 'worker is running');
kill 'TERM', $pid;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ordering worker' AND pid <> $pid"
	),
	'worker restarted after SIGTERM');
wait_leader('after the worker restarted');
is(submit('a2'), 't', 'submit works after SIGTERM restart');

# SIGKILL: crash and recovery of the whole server.
$pid = $node->safe_psql('postgres', $worker_pid_sql);
kill 'KILL', $pid;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ordering worker' AND pid <> $pid"
	),
	'worker back after SIGKILL (crash restart)');
wait_leader('after crash recovery');
is(submit('a3'), 't', 'submit works after crash recovery');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM ordering.transactions WHERE tx_id IN ('a1', 'a2', 'a3')"),
	'3',
	'all acknowledged transactions survived');
is( $node->safe_psql('postgres',
		"SELECT ok FROM ordering.verify_chain('ch1')"),
	't', 'chain verifies');

# A query cancel: the worker runs no client's statement, so it ignores it.
# "Cancel every active query" scripts send one (pg_stat_activity shows the
# worker active); its ERROR used to end the worker.
$pid = $node->safe_psql('postgres', $worker_pid_sql);
my $log_offset = -s $node->logfile;
for my $i (1 .. 5)
{
	is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"),
		't', "query cancel $i sent to the worker");
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT block_number > 0 FROM ordering.submit_tx('ch1', '\\x01', 'c$i')");
	is($out, 't', "submit works after query cancel $i") or diag($err);
}
is($node->safe_psql('postgres', $worker_pid_sql),
	$pid, 'the same worker after five query cancels');
unlike(
	slurp_file($node->logfile, $log_offset),
	qr/canceling statement/,
	'no statement of the worker was canceled');

# lock_timeout for every session: the worker still waits for a lock a user
# holds.  Its writes used to fail after 1 ms, reloading the channel each
# time, for as long as the lock was held.
$node->append_conf('postgresql.conf', "lock_timeout = '1ms'");
$node->reload;
$log_offset = -s $node->logfile;
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE ordering.blocks IN SHARE MODE');
my $submitter = $node->background_psql('postgres');
$submitter->query_until(qr/submitting/,
	"\\echo submitting\nSELECT 'placed ' || block_number FROM ordering.submit_tx('ch1', '\\x02', 'locked');\n"
);
my $waits = 0;
my $deadline = time + 60;
while (time < $deadline)
{
	$waits = $node->safe_psql('postgres',
		"SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
		  . " WHERE a.backend_type = 'ordering worker'"
		  . " AND l.relation = 'ordering.blocks'::regclass AND NOT l.granted") eq 't';
	last if $waits || slurp_file($node->logfile, $log_offset) =~ /lock timeout/;
	usleep(50_000);
}
ok($waits, 'the worker waits for the lock on ordering.blocks');
$holder->query_safe('COMMIT');
$holder->quit;
$submitter->quit;
like($submitter->{stdout}, qr/placed \d+/,
	'the submit is ordered once the lock is released');
unlike(
	slurp_file($node->logfile, $log_offset),
	qr/lock timeout|reloaded after an error/,
	'the worker neither timed out nor reloaded the channel');
$node->append_conf('postgresql.conf', "lock_timeout = 0");
$node->reload;

# Smart shutdown (SIGTERM to the postmaster) must not wait on the worker.
my $start = time;
$node->stop('smart');
my $elapsed = time - $start;
cmp_ok($elapsed, '<', 10, sprintf('smart shutdown took %.1f s', $elapsed));

# Fast shutdown while submissions are waiting does not hang either.
$node->start;
wait_leader('after start');
$start = time;
$node->stop('fast');
$elapsed = time - $start;
cmp_ok($elapsed, '<', 10, sprintf('fast shutdown took %.1f s', $elapsed));

# A raft_state row that claims a snapshot but holds no snapshot data.  The
# loader used to test the null flag of the next column and detoast NULL:
# the worker died of SIGSEGV on every start, and the server with it.
$node->start;
wait_leader('before damaging raft_state');
$node->safe_psql('postgres',
	"UPDATE ordering.raft_state SET snapshot_index = 1, snapshot_term = 1, snapshot_data = NULL WHERE channel = 'ch1'"
);
$log_offset = -s $node->logfile;
$node->restart;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM ordering.status WHERE channel = 'ch1' AND updated_at IS NOT NULL"
	),
	'the worker loads a channel whose raft_state lacks its snapshot data');
unlike(
	slurp_file($node->logfile, $log_offset),
	qr/terminated by signal/,
	'no process crashed loading the damaged raft_state');
$node->stop('fast');

done_testing();
