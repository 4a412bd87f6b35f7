# 093_pg_dump.pl: pg_dump keeps the ledger, and a restored copy is an
# archive that leaves its cluster alone.
#
# Issue 10: the chain's tables (channels, consenters, blocks, transactions)
# are marked with pg_extension_config_dump, so pg_dump of the database
# holds them; the Raft state, log and peer records are not dumped (they are
# this server's place in its cluster).  Restored with pg_restore into a new
# server that even has the same node name, the copy verifies
# (ordering.verify_chain and plain SQL), holds the same blocks and
# transactions, and is an archive: ordering.status says 'archive' (also in
# a second database of the source server), its
# worker runs no Raft for it and sends nothing, so the cluster it came from
# is undisturbed (same leader and term, no record rejected, no new peer).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'ledger';
$oc->create_channel($ch, \@names, { batch_timeout => 50, max_message_count => 5 });
my ($leader, $term) = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my @acked;
ok($oc->fill_to($leader, $ch, 30, acked => \@acked), 'ordered up to block 30') or die;
ok($oc->wait_for_block($ch, \@names, 30), 'every node has block 30');

my $digest = "SELECT (SELECT count(*) || ':' || md5(string_agg(number || ':' || encode(hash, 'hex'), ',' ORDER BY number)) FROM ordering.blocks WHERE channel = '$ch')"
  . " || '/' || (SELECT count(*) || ':' || md5(string_agg(tx_id || ':' || encode(sha256(payload), 'hex'), ',' ORDER BY block_number, position)) FROM ordering.transactions WHERE channel = '$ch')";
my $quiet = "SELECT coalesce(sum(rejected_records), 0) || '|' || (SELECT unknown_channel_records + refused_deliveries FROM ordering.transport_stats()) FROM ordering.status";
my %quiet_before = map { ($_ => $oc->safe_query($_, $quiet)) } @names;

# --- dump the database of a follower (any node holds the whole chain)
my ($source) = $oc->followers($leader, \@names);
my $dump = $oc->{tmp}->dirname . '/ordering.dump';
my $source_digest = $oc->safe_query($source, $digest);
ok(run_log([ 'pg_dump', '-Fc', '-f', $dump, '-d', $oc->node($source)->connstr('postgres') ]),
	"pg_dump of $source");
my ($list_out, $list_err) = ('', '');
IPC::Run::run([ 'pg_restore', '-l', $dump ], '>', \$list_out, '2>', \$list_err);
like($list_out, qr/TABLE DATA ordering $_ /, "the dump holds the data of ordering.$_")
  for qw(channels consenters blocks transactions);
unlike($list_out, qr/TABLE DATA ordering (raft_state|log|raft_peers) /,
	'and not the Raft state, log or peer records');

# --- restore into a new server with the same node name as the source
my $copy = OrderingCluster->new(nodes => 1, prefix => 'copy_', create_extension => 0);
$copy->node('n1')->append_conf('postgresql.conf', "ordering.node_name = '$source'\n");
$copy->node('n1')->restart;
my ($restore_out, $restore_err) = ('', '');
my $restored = IPC::Run::run(
	[ 'pg_restore', '--exit-on-error', '-d', $copy->node('n1')->connstr('postgres'), $dump ],
	'>', \$restore_out, '2>', \$restore_err);
ok($restored, 'pg_restore into a new server, foreign keys holding, without an error')
  or diag($restore_err);

is($copy->safe_query('n1', $digest), $source_digest, 'the copy holds the same blocks and transactions');
is($copy->safe_query('n1', "SELECT ok FROM ordering.verify_chain('$ch')"), 't',
	'ordering.verify_chain on the copy: ok');
is($copy->query('n1', OrderingCluster::verify_chain_sql($ch))->{stdout}, '',
	'the chain on the copy verifies in plain SQL');
is($copy->safe_query('n1', "SELECT count(*) FROM ordering.raft_state"), '0',
	'the copy has no Raft state');

my $st;

# --- restore beside the live database, on the source server itself: the
# worker runs in "postgres" only, and its channels are not the copy's.
# Before, ordering.status and list_channels there showed the live
# worker's membership and role for the same channel names.
$oc->safe_query($source, 'CREATE DATABASE restored');
my $beside = $oc->node($source)->connstr('restored');
($restore_out, $restore_err) = ('', '');
ok(IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $beside, $dump ],
		'>', \$restore_out, '2>', \$restore_err),
	"pg_restore into a second database on $source")
  or diag($restore_err);
is($oc->node($source)->safe_psql('restored',
		"SELECT membership || '|' || coalesce(role, '-') FROM ordering.status WHERE channel = '$ch'"),
	'archive|-', "ordering.status there: membership 'archive', no role");
is($oc->node($source)->safe_psql('restored',
		"SELECT membership FROM ordering.list_channels() WHERE channel = '$ch'"),
	'archive', "ordering.list_channels() there: 'archive'");
is($oc->node($source)->safe_psql('restored', 'SELECT count(*) FROM ordering.peers'),
	'0', 'ordering.peers there: empty');
is($oc->safe_query($source,
		"SELECT membership FROM ordering.list_channels() WHERE channel = '$ch'"),
	'consenter', "in postgres, $source is still a consenter");
ok($copy->wait_until('the copy shows an archive', 60,
		sub { $st = $copy->status('n1', $ch); return $st && ($st->{membership} // '') eq 'archive'; }),
	"ordering.status on the copy: membership 'archive'");
ok(!defined $st->{role} || $st->{role} eq 'stopped', '... running no Raft');
my $r = $copy->query('n1', "SELECT ordering.submit_tx('$ch', 'on the copy'::bytea)");
is($r->{sqlstate}, '55000', 'submit_tx on the archive is refused (55000)');
like($r->{message} // '', qr/is an archive on this node/, '... saying it is an archive');
my $copy_node = $copy->node('n1');
ok($copy->wait_until("the copy's log names the archive", 60,
		sub { $copy_node->log_contains(qr/channel "$ch" has no Raft state on this node: serving it read-only as an archive/) }),
	"the copy's log says it serves the channel as an archive");

# --- the cluster it came from goes on, undisturbed
ok($oc->fill_to($leader, $ch, 40, acked => \@acked), 'the cluster orders on to block 40');
my ($leader_after, $term_after) = $oc->wait_for_leader($ch, \@names);
is($leader_after, $leader, 'the same leader');
is($term_after, $term, 'in the same term');
is($oc->safe_query($_, $quiet), $quiet_before{$_}, "$_ rejected nothing and saw no unknown channel")
  for @names;
is($oc->safe_query($leader, "SELECT count(*) FROM ordering.peers WHERE channel = '$ch'"), '3',
	'the leader still has the same three peers');
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
is($copy->safe_query('n1', "SELECT max(number) FROM ordering.blocks WHERE channel = '$ch'"), '30',
	'the copy took none of the new blocks: it is not a member');

done_testing();
