
# Copyright: the ordering extension's authors.
#
# 103_pending_bound.pl: a node keeps a copy of each transaction submitted
# on it until it is ordered, so that one lost on the way to the leader is
# sent again.  The copies of a channel are bounded, by twice
# ordering.submit_queue_size of payload.  A transaction past the bound is
# refused at once with 53000 and never ordered.  Before, it was routed
# once without a copy: a forward of it that a busy leader or a full queue
# dropped was never sent again, and its submitter waited out its timeout
# (TAP 102 under load: one of eight payloads of 9 MiB never ordered).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

# A ring of 1 MB: at most 2 MiB (2,097,152 bytes) of copies a channel.
my $oc = OrderingCluster->new(nodes => 3, conf => "ordering.submit_queue_size = '1MB'\n");
my @names = $oc->names;
my $ch = 'bound';
$oc->create_channel($ch, \@names, { batch_timeout => 20 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($follower, $other) = $oc->followers($leader, \@names);

# Without its leader and the other follower, nothing submitted on the
# follower is ordered: its copies stay.
$oc->stop_node($_, 'fast') for ($leader, $other);

my $payload = sub { "convert_to(repeat('$_[0]', 400 * 1024), 'UTF8')" };
# Five of 409,600 bytes: 2,048,000, within the bound.
for my $i (1 .. 5)
{
	$oc->safe_query($follower, "SELECT ordering.submit_tx_async('$ch', " . $payload->('a') . ", 'a$i')");
}
# The sixth would make 2,457,600.  The ring is first in, first out: the
# worker has taken the five before it takes this one.
# Refused at once: waiting out the submit timeout would end in 57014.
my $r = $oc->query($follower,
	"SELECT * FROM ordering.submit_tx('$ch', " . $payload->('b') . ", 'b6')",
	set => { 'ordering.submit_timeout' => '20s' });
is($r->{sqlstate} // 'ok', '53000', 'past the bound, a submit is refused with 53000, not left to time out');
like($r->{message} // '', qr/holds too many unordered transactions of channel "bound"/,
	'the error says why');
like($r->{hint} // '', qr/Retry once earlier transactions are ordered/, 'and what to do');

$oc->start_node($_) for ($leader, $other);
ok( $oc->wait_until(
		'the five copies are ordered',
		90,
		sub {
			$oc->safe_query($follower,
				"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id LIKE 'a_'"
			) eq '5';
		}),
	'the five within the bound are ordered once a leader is back');
$leader = $oc->wait_for_leader($ch, \@names);
ok(defined $oc->wait_for_same_head($ch, \@names), 'every node has the same head');
is( $oc->safe_query($leader,
		"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'b6'"),
	'0', 'the refused transaction was not ordered');
cmp_ok(
	$oc->safe_query($follower, "SELECT proposal_failures FROM ordering.status WHERE channel = '$ch'"),
	'>=', 1, "the refusal is counted in $follower\'s proposal_failures");

# With the copies gone, the same id goes through.
$r = $oc->query($follower,
	"SELECT block_number FROM ordering.submit_tx('$ch', " . $payload->('b') . ", 'b6')",
	set => { 'ordering.submit_timeout' => '60s' });
ok($r->{ok}, 'submitted again once the others are ordered, it is ordered')
  or diag("$r->{sqlstate}: $r->{message}");

ok(defined $oc->wait_for_same_head($ch, \@names), 'every node has the same head');
$oc->assert_chains_identical_and_verified(\@names, $ch);

done_testing();
