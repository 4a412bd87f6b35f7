# 102_large_forwards.pl: a follower forwards large transactions to its
# leader in the order they were submitted, and loses none.
#
# A follower sent the forwards of one worker iteration as one record.  The
# leader's peer queue takes a record only while it and the bytes queued
# before it fit ordering.peer_buffer_size (16 MB), so eight payloads of
# 9 MiB in one submit_txs on a follower found no room behind the Raft
# answers queued before them: the record was dropped, its transactions
# were routed again later in the pending table's hash order, after newer
# ones, and one past the 64 MiB of pending copies was never sent again
# (found by hostile testing: payloads ordered out of the call's order, and
# a call that timed out).  Now forwards go in records of at most 4 MiB (or
# one transaction), wait in order for room in the queue, and pending
# transactions are routed again in the order they were submitted.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'large';
$oc->create_channel($ch, \@names, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my ($follower) = $oc->followers($leader, \@names);

for my $round (1 .. 3)
{
	# Eight payloads of 9 MiB (absolute_max_bytes is 10 MiB), made on the
	# server; their places in the order of the array.
	my $r = $oc->query($follower,
		"SELECT string_agg(block_number || ':' || position, ',' ORDER BY ord)"
		  . " FROM ordering.submit_txs('$ch', (SELECT array_agg(convert_to(repeat(chr(64 + i) || '$round', 9 * 512 * 1024), 'UTF8') ORDER BY i)"
		  . " FROM generate_series(1, 8) i)) WITH ORDINALITY AS t(tx_id, block_number, position, ord)",
		set => { 'ordering.submit_timeout' => '60s' },
		timeout => 120);
	ok($r->{ok}, "round $round: eight payloads of 9 MiB submitted on follower $follower are all ordered")
	  or diag("$r->{sqlstate}: $r->{message}");
	my @places = map { [ split /:/ ] } grep { $_ ne '' } split /,/, ($r->{stdout} // '');
	is(scalar @places, 8, "round $round: eight places");
	my $in_order = @places == 8;
	for my $i (1 .. $#places)
	{
		my ($b0, $p0) = @{ $places[ $i - 1 ] };
		my ($b1, $p1) = @{ $places[$i] };
		$in_order = 0 unless $b1 > $b0 || ($b1 == $b0 && $p1 > $p0);
	}
	ok($in_order, "round $round: in the order of the call ($r->{stdout})");
}

ok(defined $oc->wait_for_same_head($ch, \@names), 'every node has the same head');
$oc->assert_chains_identical_and_verified(\@names, $ch);

done_testing();
