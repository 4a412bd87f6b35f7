# 015_session_defaults.pl: a database whose sessions default to
# read-only, SERIALIZABLE transactions in the replica replication role.
#
# A PostgreSQL shop may set such defaults for every session of a database
# (ALTER DATABASE ... SET, or postgresql.conf).  The workers are sessions
# of that database too: their writes are the channel's state, so they pin
# their own settings; and clients' single statements submit and wait for
# blocks as under READ COMMITTED.
#
# Three nodes order a few transactions; then every node's database gets
# the defaults and the servers restart, so that every process starts under
# them.  Submissions on each node are ordered, wait_for_block waits, and
# the chains are identical, verified, with every acknowledged transaction.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my $ch = 'defaults';
my @names = qw(n1 n2 n3);
$oc->create_channel($ch, \@names);
ok(defined $oc->wait_for_leader($ch, \@names), 'a leader on n1..n3') or die 'no leader';

my @acked;
my $seq = 0;
sub submit_on
{
	my ($n, $what) = @_;
	$seq++;
	return $oc->submit_ok($n, $ch, "defaults payload $seq", "d-$seq", \@acked, $what);
}
submit_on($_, 'before the defaults') for @names;

for my $n (@names)
{
	$oc->safe_query($n, $_) for (
		"ALTER DATABASE postgres SET default_transaction_isolation = 'serializable'",
		"ALTER DATABASE postgres SET session_replication_role = 'replica'",
		"ALTER DATABASE postgres SET default_transaction_read_only = on");
	$oc->node($n)->restart;
}
is($oc->safe_query('n1',
		"SELECT current_setting('default_transaction_read_only') || ' '"
		  . " || current_setting('transaction_isolation') || ' '"
		  . " || current_setting('session_replication_role')"),
	'on serializable replica', "a new session on n1 gets the database's defaults");
ok(defined $oc->wait_for_leader($ch, \@names, 60), 'a leader again after the restarts')
  or die 'no leader';

# Every node's worker writes: the submissions on each are ordered (and the
# submitting sessions are read-only and SERIALIZABLE themselves).
submit_on($_, 'under the defaults') for @names, @names;
my $next = $oc->last_block('n1', $ch) + 1;
my $r = $oc->query('n2',
	"SELECT ordering.submit_tx_async('$ch', 'async under the defaults', 'd-async')");
ok($r->{ok}, 'submit_tx_async on n2') or diag("$r->{sqlstate}: $r->{message}");
$r = $oc->query('n3', "SELECT ordering.wait_for_block('$ch', $next, 30000)");
is($r->{stdout}, 't', "wait_for_block on n3 waits for block $next as a single SERIALIZABLE statement")
  or diag("$r->{sqlstate}: $r->{message}");

$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

done_testing();
