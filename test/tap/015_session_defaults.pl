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

# --- settings a database may carry that the workers must not take --------
# Found by hostile testing, each on one node:
# - role: the worker ran as that role, was refused on its own schema, and
#   the node ran no channel; the peers' sessions there ran as it too;
# - exit_on_error: one channel's error became FATAL and took the worker,
#   every channel of the node with it, again and again;
# - a trigger on ordering.blocks calling submit_tx: it runs inside the
#   worker, which waited for itself for the whole submit_timeout (here a
#   minute), every channel of the node with it.
# Now the worker and the peers' sessions pin role and exit_on_error, and
# submit_tx in the worker fails at once: only that channel stops there.
$oc->safe_query($_, 'ALTER DATABASE postgres RESET ALL',
	set => { default_transaction_read_only => 'off' }) for @names;
my $second = 'second';
$oc->create_channel($second, \@names);
my $leader = $oc->wait_for_leader($second, \@names);
ok(defined $leader, "$second has a leader") or die 'no leader';
my ($odd) = grep { $_ ne $leader } @names;
$oc->safe_query($odd, $_) for (
	'CREATE ROLE app LOGIN',
	"CREATE FUNCTION public.mirror_block() RETURNS trigger LANGUAGE plpgsql
	   SET ordering.submit_timeout = '60s' AS \$\$
	 BEGIN
	   IF NEW.channel = '$ch' THEN
	     PERFORM * FROM ordering.submit_tx('$second', convert_to('mirror ' || NEW.number, 'UTF8'));
	   END IF;
	   RETURN NEW;
	 END \$\$",
	'CREATE TRIGGER mirror_block AFTER INSERT ON ordering.blocks FOR EACH ROW EXECUTE FUNCTION public.mirror_block()',
	'ALTER DATABASE postgres SET exit_on_error = on',
	"ALTER DATABASE postgres SET role = 'app'");
$oc->node($odd)->restart;
my $as_admin = { role => 'none' };
is($oc->safe_query($odd, 'SELECT current_user', set => {}), 'app',
	"a new session on $odd runs as app");
my $st_of = sub {
	my ($channel) = @_;
	return $oc->safe_query($odd,
		"SELECT coalesce(last_block, -1) || '|' || coalesce(last_error, '') FROM ordering.status WHERE channel = '$channel'",
		set => $as_admin);
};
submit_on($leader, "on $leader while $odd carries them");
$r = $oc->submit($leader, $second, 'second while the odd node carries them');
ok($r->{ok}, "submit_tx to $second on $leader") or diag($r->{message});
my $second_head = $oc->last_block($leader, $second);
my $seen;
ok($oc->wait_until("$odd applies $second up to block $second_head", 60,
		sub { $seen = $st_of->($second); return (split /\|/, $seen)[0] >= $second_head; }),
	"$odd, under role and exit_on_error of its database, orders $second (block $second_head)")
  or diag($seen);
ok($oc->wait_until("$ch stops on $odd, naming why", 30,
		sub { $seen = $st_of->($ch); return $seen =~ /cannot wait inside the ordering worker/; }),
	"the trigger's submit_tx fails at once inside the worker of $odd, and only $ch stops there")
  or diag($seen);
$r = $oc->submit($leader, $second, 'second after the refusal');
ok($r->{ok}, "$second still orders") or diag($r->{message});

# A relayed admin call with the largest submit_timeout (it wrapped to a
# statement_timeout of 1 ms on the leader).
my ($relay) = grep { $_ ne $leader && $_ ne $odd } @names;
$r = $oc->query($relay, "SELECT ordering.update_channel_config('$second', '{\"batch_timeout\": 60}')",
	set => { 'ordering.submit_timeout' => '2147483647' });
ok($r->{ok}, "update_channel_config from follower $relay with submit_timeout 2147483647")
  or diag("$r->{sqlstate}: $r->{message}");

$oc->safe_query($odd, $_, set => $as_admin) for (
	'DROP TRIGGER mirror_block ON ordering.blocks',
	'ALTER DATABASE postgres RESET role',
	'ALTER DATABASE postgres RESET exit_on_error');
$oc->node($odd)->restart;
ok(defined $oc->wait_for_same_head($ch, \@names, 60), "$odd catches $ch up once the trigger is gone");
$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_chains_identical_and_verified(\@names, $second);

done_testing();
