# 004_join_and_routing.pl: the worker's multi-node plumbing.
#
#   - admin requests made on a follower run on the leader (routed over
#     libpq): update_channel_config, transfer_leadership, add_consenter
#     (the new node joins by itself), remove_consenter; the remote SQLSTATE
#     of a refused request is kept;
#   - a removed node shows membership 'none', stops running Raft for the
#     channel, and drop_channel removes its rows;
#   - ordering.join_channel creates the channel from a peer's block 0; with
#     an expected genesis hash that does not match it creates nothing (22023);
#   - a removal that would leave no quorum of active voters is refused.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 4);
my $ch = 'route';
my @members = qw(n1 n2 n3);
$oc->create_channel($ch, \@members, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@members);
ok(defined $leader, 'leader elected') or die;
my ($f1, $f2) = $oc->followers($leader, \@members);

sub config_count
{
	my ($on) = @_;
	return $oc->safe_query($on,
		"SELECT count(*) FROM ordering.blocks WHERE channel = '$ch' AND is_config");
}

# --- update_channel_config on a follower
my $r = $oc->query($f1, "SELECT ordering.update_channel_config('$ch', '{\"max_message_count\": 7}')");
ok($r->{ok}, "update_channel_config on follower $f1 is carried out by the leader")
  or diag("$r->{sqlstate}: $r->{message}");
like($r->{stdout}, qr/^\d+$/, 'it returns the configuration block');
$oc->wait_for_same_head($ch, \@members);
is($oc->safe_query($_, "SELECT config->>'max_message_count' FROM ordering.channels WHERE channel = '$ch'"),
	'7', "the new setting is in effect on $_") for @members;

# --- a refused request keeps the leader's SQLSTATE
$r = $oc->query($f1, "SELECT ordering.add_consenter('$ch', '$f2', 'host=127.0.0.1 user=x')");
is($r->{sqlstate}, '42710', 'adding an existing consenter on a follower: 42710 from the leader')
  or diag($r->{stderr});

# --- transfer_leadership on a follower
$r = $oc->query($f1, "SELECT ordering.transfer_leadership('$ch', '$f2')");
ok($r->{ok}, "transfer_leadership to $f2 asked on $f1") or diag("$r->{sqlstate}: $r->{message}");
ok($oc->wait_until("$f2 leads", 30, sub { my $l = $oc->wait_for_leader($ch, \@members, 5); return defined $l && $l eq $f2; }),
	"$f2 leads after the routed transfer");
$leader = $f2;
my @fol = $oc->followers($leader, \@members);

# --- add_consenter n4 on a follower: n4 joins and is promoted by itself
$r = $oc->query($fol[0], "SELECT ordering.add_consenter('$ch', 'n4', '" . $oc->conninfo('n4') . "')");
ok($r->{ok}, "add_consenter n4 on follower $fol[0]") or diag("$r->{sqlstate}: $r->{message}");
ok($oc->wait_until('n4 is a voter everywhere', 60, sub {
	for my $n (@members, 'n4')
	{
		my $q = $oc->query($n, "SELECT is_learner FROM ordering.consenters WHERE channel = '$ch' AND node = 'n4'");
		return 0 unless $q->{ok} && $q->{stdout} eq 'f';
	}
	return 1;
}), 'n4 joined, caught up and was promoted');
@members = (@members, 'n4');
my $s = $oc->submit('n4', $ch, 'from n4', 'route-n4');
ok($s->{ok}, 'n4 can submit') or diag("$s->{sqlstate}: $s->{message}");
$oc->assert_chains_identical_and_verified(\@members, $ch);

# --- remove a follower, asked on another follower
$leader = $oc->wait_for_leader($ch, \@members);
my ($victim, $asker) = $oc->followers($leader, \@members);
$r = $oc->query($asker, "SELECT ordering.remove_consenter('$ch', '$victim')");
ok($r->{ok}, "remove_consenter $victim asked on $asker") or diag("$r->{sqlstate}: $r->{message}");
my @left = grep { $_ ne $victim } @members;
ok($oc->wait_until("$victim shows membership none", 30, sub {
	my $st = $oc->status($victim, $ch);
	return $st && ($st->{membership} // '') eq 'none';
}), "$victim shows membership 'none'");
my $st = $oc->status($victim, $ch);
isnt($st->{role} // '', 'leader', "$victim does not run Raft for the channel (role " . ($st->{role} // 'NULL') . ')');
$s = $oc->submit($asker, $ch, 'after removal', 'route-after-removal');
ok($s->{ok}, 'ordering goes on without it') or diag("$s->{sqlstate}: $s->{message}");
$oc->assert_chains_identical_and_verified(\@left, $ch);

# drop_channel on the removed node deletes its rows; the name is free again.
$r = $oc->query($victim, "SELECT ordering.drop_channel('$ch')");
ok($r->{ok}, "drop_channel on the removed node $victim") or diag($r->{stderr});
is($oc->safe_query($victim, "SELECT count(*) FROM ordering.blocks WHERE channel = '$ch'"),
	'0', 'its blocks are gone');
ok($oc->wait_until("$victim no longer lists $ch", 20, sub {
	return $oc->safe_query($victim, "SELECT count(*) FROM ordering.status WHERE channel = '$ch'") eq '0';
}), 'and its status row');

# --- a removal that leaves no quorum of active voters is refused
$leader = $oc->wait_for_leader($ch, \@left);
my @lf = $oc->followers($leader, \@left);
$oc->stop_node($lf[0], 'immediate');
$oc->stop_node($lf[1], 'immediate') if @lf > 2;
# The leader counts a voter as active if it heard from it within an
# election timeout: wait until it no longer counts the stopped ones.
my @stopped = @lf > 2 ? @lf[0, 1] : ($lf[0]);
ok( $oc->wait_until(
		'the leader sees the stopped voters as inactive',
		30,
		sub {
			my $list = join(',', map { "'$_'" } @stopped);
			return $oc->safe_query($leader,
				"SELECT count(*) FROM ordering.peers WHERE channel = '$ch'"
				  . " AND node IN ($list) AND NOT recent_active") eq scalar(@stopped);
		}),
	'the leader no longer counts the stopped voters as active');
$r = $oc->query($leader, "SELECT ordering.remove_consenter('$ch', '$lf[-1]')");
ok(!$r->{ok}, 'removing an active voter while others are down is refused');
is($r->{sqlstate}, '55000', 'with 55000') or diag($r->{message});
like($r->{message} // '', qr/quorum/, 'the message says why') or diag($r->{message});

# --- join_channel: a node without the extension's worker running yet
$oc->{create_extension} = 0;
$oc->add_node('n5');
$r = $oc->query($leader, "SELECT ordering.create_channel('solo', '{\"$leader\": \"" . $oc->conninfo($leader)
	  . "\"}'::jsonb, '{\"batch_timeout\": 50}'::jsonb)");
ok($r->{ok}, 'a one-node channel') or diag($r->{stderr});
$r = $oc->query($leader, "SELECT ordering.add_consenter('solo', 'n5', '" . $oc->conninfo('n5') . "')");
ok($r->{ok}, 'add n5 to it') or diag("$r->{sqlstate}: $r->{message}");
$r = $oc->query('n5', "CREATE EXTENSION ordering; SELECT ordering.join_channel('solo', '" . $oc->conninfo($leader) . "')");
ok($r->{ok}, 'join_channel on n5') or diag($r->{stderr});
is($oc->safe_query('n5', "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = 'solo' AND number = 0"),
	$oc->safe_query($leader, "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = 'solo' AND number = 0"),
	'block 0 is identical');
# The worker may already have joined by itself (the leader pushes the
# genesis): joining the same channel again is a no-op with a notice.
$r = $oc->query('n5', "SELECT ordering.join_channel('solo', '" . $oc->conninfo($leader) . "')");
ok($r->{ok}, 'joining twice succeeds') or diag($r->{stderr});
like($r->{stderr}, qr/already joined/, 'with a notice that it is already joined');
$oc->assert_chains_identical_and_verified([ $leader, 'n5' ], 'solo');

# --- join_channel with an expected genesis hash.  n6 is a consenter of
# 'pinned' only, at an address where nobody listens, so no member can push
# the genesis to it: only join_channel can create the channel there.
$oc->{create_extension} = 1;
$oc->add_node('n6');
my $nowhere = $oc->conninfo('n6') =~ s/port=\d+/port=1/r;
$r = $oc->query($leader, "SELECT ordering.create_channel('pinned', '{\"$leader\": \"" . $oc->conninfo($leader)
	  . "\", \"n6\": \"$nowhere\"}'::jsonb)");
ok($r->{ok}, 'a channel with n6 unreachable') or diag($r->{stderr});
my $genesis = $oc->safe_query($leader,
	"SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = 'pinned' AND number = 0");
my $join = "SELECT ordering.join_channel('pinned', '" . $oc->conninfo($leader) . "', %s)";
my $pinned_rows = "SELECT (SELECT count(*) FROM ordering.channels WHERE channel = 'pinned')"
  . " + (SELECT count(*) FROM ordering.blocks WHERE channel = 'pinned')"
  . " + (SELECT count(*) FROM ordering.consenters WHERE channel = 'pinned')";
$r = $oc->query('n6', sprintf($join, "sha256('another genesis')"));
is($r->{sqlstate}, '22023', 'join_channel with a wrong expected genesis hash: 22023')
  or diag($r->{stderr});
like($r->{message} // '', qr/does not have the expected hash/, '... saying so');
like($r->{stderr}, qr/\\x$genesis/, '... with the hash it found');
$r = $oc->query('n6', sprintf($join, "'\\x00'::bytea"));
is($r->{sqlstate}, '22023', 'an expected hash that is not 32 bytes: 22023') or diag($r->{stderr});
is($oc->safe_query('n6', $pinned_rows), '0', 'nothing of the channel was created on n6');
$r = $oc->query('n6', sprintf($join, "decode('$genesis', 'hex')"));
ok($r->{ok}, 'join_channel with the right expected hash') or diag($r->{stderr});
is($oc->safe_query('n6', "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = 'pinned' AND number = 0"),
	$genesis, 'n6 has block 0 with that hash');
$r = $oc->query('n6', sprintf($join, "sha256('another genesis')"));
is($r->{sqlstate}, '22023', 'the hash is checked also when the channel is already joined');
$oc->safe_query($_, "SELECT ordering.drop_channel('pinned')") for ($leader, 'n6');

done_testing();
