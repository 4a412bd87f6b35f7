
# Copyright: the ordering extension's authors.
#
# 095_worker_memory.pl: the ordering worker gives back the memory a burst of
# large transactions took.  Three nodes order 36 MB in 3 MB payloads; then
# every node's worker must come back to within 32 MiB of its private memory
# (RssAnon) before the burst, and a snapshot must cover the burst on every
# node.  Before: the freed pages of the worker's C heap stayed resident
# (worker/heap_trim.c), its inbox buffer stayed at 16 MiB, and the leader,
# which writes its entries before applying them, counted those written
# past its first snapshot as 0 bytes, so 33 MB stayed in its log and in
# memory: 50 to 190 MiB more, for good.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $SLACK_KIB = 32 * 1024;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
# A small snapshot interval: the log the burst adds is compacted soon, so
# what stays in use afterwards is small.
$oc->create_channel('big', \@names,
	{ snapshot_interval_bytes => 1024 * 1024, batch_timeout => 20 });
my $leader = $oc->wait_for_leader('big', \@names);
ok(defined $leader, 'channel big has a leader');

sub worker_pid
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering worker'"
	);
}

sub rss_anon_kib
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	my ($kib) = map { /^RssAnon:\s+(\d+) kB/ ? $1 : () } <$fh>;
	close $fh;
	return $kib;
}

my %pid;

# On failure: the worker's largest memory contexts, from its server log.
sub diag_memory_contexts
{
	my ($n) = @_;
	my $offset = -s $oc->node($n)->logfile;
	$oc->safe_query($n, "SELECT pg_log_backend_memory_contexts($pid{$n})");
	my @lines;
	$oc->wait_until(
		"$n: the worker logs its memory contexts",
		10,
		sub {
			my $log = slurp_file($oc->node($n)->logfile, $offset);
			@lines = $log =~ /level: \d+; (.*? (\d+) total in .*)$/mg;
			return $log =~ /Grand total/;
		});
	my %total;
	for (my $i = 0; $i < @lines; $i += 2) { $total{ $lines[$i] } = $lines[ $i + 1 ]; }
	diag($_) for (sort { $total{$b} <=> $total{$a} } keys %total)[ 0 .. 4 ];
	diag(slurp_file($oc->node($n)->logfile, $offset) =~ /(Grand total.*)/);
}

%pid = map { $_ => worker_pid($_) } @names;
my %before = map { $_ => rss_anon_kib($pid{$_}) } @names;
for my $n (@names)
{
	ok(defined $before{$n}, "$n: the worker's RssAnon is readable ($before{$n} kB)");
}

# Twelve 3 MB payloads: each is a batch of its own (over preferred_max_bytes),
# replicated to both followers.
my $r = $oc->query(
	$leader,
	q{SELECT count(*) FROM ordering.submit_txs('big',
		ARRAY(SELECT decode(repeat(md5(i::text || random()::text), 187500), 'hex')
			  FROM generate_series(1, 12) i))},
	timeout => 120);
ok($r->{ok}, 'twelve 3 MB transactions are ordered')
  or diag($r->{message});
ok($oc->wait_for_same_head('big', \@names), 'every node has them');

for my $n (@names)
{
	my $last;
	my $back = $oc->wait_until(
		"$n: the worker's private memory falls back",
		30,
		sub {
			$last = rss_anon_kib($pid{$n});
			return defined $last && $last <= $before{$n} + $SLACK_KIB;
		});
	ok($back,
		"$n: the worker's RssAnon is back within 32 MiB of before ($before{$n} kB before, $last kB now)"
	) or diag_memory_contexts($n);
	is(worker_pid($n), $pid{$n}, "$n: the same worker throughout");
}

# Snapshots cover the burst on every node, the leader included: it writes
# its entries before applying them, and its first snapshot after the burst
# once counted the rest as 0 bytes, leaving 33 MB in its log and memory.
for my $n (@names)
{
	my $bytes;
	ok( $oc->wait_until(
			"$n: the log of big is compacted",
			30,
			sub {
				$bytes = $oc->safe_query($n,
					"SELECT coalesce(sum(octet_length(data)), 0) FROM ordering.log WHERE channel = 'big'"
				);
				return $bytes < 4 * 1024 * 1024;
			}),
		"$n: a snapshot covers the burst (the log holds $bytes bytes)");
}

$oc->assert_chains_identical_and_verified(\@names, 'big');
done_testing();
