# 040_quorum_loss.pl: 2 of 3 servers down.
#
# Without a quorum the channel orders nothing: submit_tx fails after its
# timeout (ordering.submit_timeout) with SQLSTATE 57014 and a clear
# message, the survivor (the old leader) steps down (check-quorum), and
# reads of the committed chain keep working on it.  When one node returns,
# a leader is elected and ordering resumes; the ids that timed out, when
# resubmitted, are ordered at most once; finally all three have identical,
# verified chains.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $ch = 'quorum';
$oc->create_channel($ch, \@names, { batch_timeout => 50 });

my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'leader elected') or die 'no leader';
my @followers = $oc->followers($leader, \@names);

my @acked;
for my $i (1 .. 5)
{
	my $r = $oc->submit($names[ $i % 3 ], $ch, "before $i", "before-$i");
	ok($r->{ok}, "submit before-$i with a quorum")
	  or diag("$r->{sqlstate}: $r->{message}");
	push @acked, $r if $r->{ok};
}
my $head = $oc->wait_for_same_head($ch, \@names);
ok(defined $head, "all three at block $head") or die 'nodes do not converge';
my $blocks_before = $oc->safe_query($leader,
	"SELECT count(*) FROM ordering.blocks WHERE channel = '$ch'");

# --- lose the quorum: stop both followers; the old leader survives.
$oc->stop_node($_, 'immediate') for @followers;
my $survivor = $leader;

ok( $oc->wait_until("$survivor steps down without a quorum", 30, sub {
			my $st = $oc->status($survivor, $ch);
			return $st && !$st->{is_leader};
		}),
	'the survivor steps down when it cannot reach a quorum (check-quorum)');

# submit_tx fails after its timeout with a clear error.
my @timed_out_ids;
for my $on ($survivor)
{
	my $r = $oc->submit($on, $ch, 'no quorum 1', 'noquorum-1', submit_timeout => 2000);
	ok(!$r->{ok}, 'submit_tx without a quorum fails');
	is($r->{sqlstate}, '57014', 'with SQLSTATE 57014 (query_canceled)')
	  or diag("message: $r->{message}\n$r->{stderr}");
	like($r->{message}, qr/noquorum-1.*not ordered within 2000 ms/,
		'the message names the transaction and the timeout');
	like($r->{hint} // '', qr/resubmit/i, 'the hint says resubmitting is safe');
	push @timed_out_ids, 'noquorum-1';
}

# submit_txs likewise.
my $rs = $oc->submit_many($survivor, $ch, [ 'no quorum batch a', 'no quorum batch b' ],
	submit_timeout => 2000);
ok(!$rs->{ok}, 'submit_txs without a quorum fails');
is($rs->{sqlstate}, '57014', 'with SQLSTATE 57014') or diag($rs->{message});

# Reads keep working on the survivor.
is($oc->safe_query($survivor, "SELECT count(*) FROM ordering.blocks WHERE channel = '$ch'"),
	$blocks_before, 'blocks are still readable on the survivor, and no block was added');
my $bad = $oc->safe_query($survivor, OrderingCluster::verify_chain_sql($ch));
is($bad, '', 'the survivor\'s chain still verifies');
is($oc->safe_query($survivor,
	"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id LIKE 'before-%'"),
	'5', 'transactions are readable on the survivor');
my $st = $oc->status($survivor, $ch);
ok($st, 'ordering.status is readable on the survivor');

# --- one node returns: ordering resumes.
my $back = $followers[0];
$oc->start_node($back);
my @up = ($survivor, $back);
my $new_leader = $oc->wait_for_leader($ch, \@up, 60);
ok(defined $new_leader, 'with one node back, a leader is elected') or die 'no leader';

my $r = $oc->submit($back, $ch, 'after quorum returns', 'after-1');
ok($r->{ok}, 'ordering resumes when the quorum is back')
  or diag("$r->{sqlstate}: $r->{message}");
push @acked, $r if $r->{ok};

# The timed-out ids, resubmitted, are ordered at most once (exactly once,
# now that they have been submitted with a quorum).
for my $id (@timed_out_ids)
{
	my $again = $oc->submit($survivor, $ch, 'no quorum 1', $id);
	ok($again->{ok}, "resubmitting $id succeeds")
	  or diag("$again->{sqlstate}: $again->{message}");
	push @acked, $again if $again->{ok};
	my $again2 = $oc->submit($back, $ch, 'no quorum 1', $id);
	is_deeply([ @{$again2}{qw(ok tx_id block_number position)} ],
		[ @{$again}{qw(ok tx_id block_number position)} ],
		"resubmitting $id once more returns the same place");
}
for my $n (@up)
{
	is($oc->safe_query($n,
		"SELECT count(*) FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'noquorum-1'"),
		'1', "noquorum-1 ordered exactly once on $n");
	# the batch that timed out has no ids of its own: its default ids are
	# the payloads' hashes; each is ordered at most once.
	is($oc->safe_query($n,
		"SELECT count(*) <= 1 FROM ordering.transactions WHERE channel = '$ch' AND tx_id = encode(sha256('no quorum batch a'::bytea), 'hex')"),
		't', "the timed-out batch's transaction is ordered at most once on $n");
}

# --- the last node returns too.
$oc->start_node($followers[1]);
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);
ok(defined $oc->wait_for_leader($ch, \@names), 'all three agree on a leader');

done_testing();
