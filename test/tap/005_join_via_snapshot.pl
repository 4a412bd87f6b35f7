# 005_join_via_snapshot.pl: a node added long after genesis, when the
# leader's log no longer starts at index 1, joins through a snapshot: it
# gets the genesis from a peer, installs the leader's snapshot, pulls the
# blocks the snapshot covers with SQL, verifies them, and follows by Raft.
# Then its worker restarts before anything else happens, and it keeps up.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 4);
my $ch = 'late';
my @members = qw(n1 n2 n3);
$oc->create_channel($ch, \@members,
	{ batch_timeout => 20, max_message_count => 1, snapshot_interval_bytes => 2000 });
my $leader = $oc->wait_for_leader($ch, \@members);
ok(defined $leader, 'leader elected') or die;

my @acked;
for my $i (1 .. 6)
{
	my $r = $oc->submit_many($leader, $ch,
		[ map { sprintf('late %03d %03d ', $i, $_) . ('y' x 150) } 1 .. 10 ]);
	ok($r->{ok}, "batch $i ordered") or diag("$r->{sqlstate}: $r->{message}");
	push @acked, @{ $r->{rows} } if $r->{ok};
}
my $compacted = $oc->safe_query($leader,
	"SELECT snapshot_index FROM ordering.raft_state WHERE channel = '$ch'");
cmp_ok($compacted, '>', 1, "the leader's log was compacted (snapshot at $compacted)");
is($oc->safe_query($leader,
	"SELECT count(*) FROM ordering.log WHERE channel = '$ch' AND index <= $compacted"),
	'0', 'the entries the snapshot covers are gone from its log');

my $r = $oc->admin($ch, \@members,
	"SELECT ordering.add_consenter('$ch', 'n4', '" . $oc->conninfo('n4') . "')");
ok($r->{ok}, 'add_consenter n4') or diag("$r->{sqlstate}: $r->{message}");
@members = (@members, 'n4');
ok($oc->wait_until('n4 is a voter on every member', 60, sub {
	for my $n (@members)
	{
		my $q = $oc->query($n, "SELECT is_learner FROM ordering.consenters WHERE channel = '$ch' AND node = 'n4'");
		return 0 unless $q->{ok} && $q->{stdout} eq 'f';
	}
	return 1;
}), 'n4 joined through the snapshot and was promoted');
my $snap = $oc->safe_query('n4', "SELECT snapshot_index FROM ordering.raft_state WHERE channel = '$ch'");
cmp_ok($snap, '>', 0, "n4 installed a snapshot (index $snap)");
$oc->assert_chains_identical_and_verified(\@members, $ch);
$oc->assert_acknowledged_present(\@members, $ch, \@acked);

# n4 restarts and keeps up.
$oc->stop_node('n4', 'immediate');
$r = $oc->submit($leader, $ch, 'while n4 is down', 'late-down');
ok($r->{ok}, 'ordering goes on while n4 is down') or diag("$r->{sqlstate}: $r->{message}");
push @acked, $r if $r->{ok};
$oc->start_node('n4');
$r = $oc->submit('n4', $ch, 'from n4 after its restart', 'late-n4');
ok($r->{ok}, 'n4 submits after its restart') or diag("$r->{sqlstate}: $r->{message}");
push @acked, $r if $r->{ok};
$oc->assert_chains_identical_and_verified(\@members, $ch);
$oc->assert_acknowledged_present(\@members, $ch, \@acked);

done_testing();
