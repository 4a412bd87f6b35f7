
# Copyright: the ordering extension's authors.
#
# 017_logical_replication.pl: a channel's chain published with PostgreSQL's
# logical replication to a server without the extension, as a reporting
# copy.
#
# A follower publishes ordering.blocks and ordering.transactions; a plain
# server subscribes into tables of the same columns.  Blocks ordered before
# the subscription (the initial copy), single submits, a submit_txs batch
# (rows the worker writes through the table AM, store/direct.c, not by
# INSERT) and a configuration block all arrive; the copy holds the same
# blocks and transactions as the follower, and verifies with the plain-SQL
# verifier (test/verify_chain.sql), which needs nothing but those tables.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(
	nodes => 3,
	conf => "wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n");
my @names = qw(n1 n2 n3);
my $ch = 'rep';
$oc->create_channel($ch, \@names);
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'a leader on n1..n3') or die 'no leader';
my ($follower) = $oc->followers($leader, \@names);

my @acked;
$oc->submit_ok($_, $ch, "before the subscription on $_", "pre-$_", \@acked,
	'before the subscription')
  for @names;

$oc->safe_query($follower,
	'CREATE PUBLICATION chain FOR TABLE ordering.blocks, ordering.transactions');

my $copy = PostgreSQL::Test::Cluster->new('reporting');
$copy->init;
$copy->start;
$copy->safe_psql(
	'postgres', q{
CREATE SCHEMA ordering;
CREATE TABLE ordering.blocks (
	channel text, number bigint, previous_hash bytea, data_hash bytea,
	hash bytea, tx_count int, is_config boolean, config bytea,
	raft_index bigint, raft_term bigint, created_at timestamptz,
	PRIMARY KEY (channel, number));
CREATE TABLE ordering.transactions (
	channel text, block_number bigint, position int, tx_id text,
	payload bytea, PRIMARY KEY (channel, block_number, position));
});
my $publisher = $oc->node($follower)->connstr('postgres');
$copy->safe_psql('postgres',
	'CREATE SUBSCRIPTION s CONNECTION '
	  . OrderingCluster::lit($publisher)
	  . ' PUBLICATION chain');

for my $i (1 .. 6)
{
	my $n = $names[ $i % 3 ];
	$oc->submit_ok($n, $ch, "after the subscription $i", "post-$i", \@acked,
		"after the subscription ($i)");
}
my $many = $oc->submit_many($leader, $ch,
	[ map { "batch payload $_" } 1 .. 200 ]);
ok($many->{ok} && @{ $many->{rows} } == 200,
	'a submit_txs batch of 200 is ordered')
  or diag($many->{message});
my $r = $oc->admin($ch, \@names,
	"SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 20}')");
ok($r->{ok}, 'a settings change adds a configuration block')
  or diag($r->{message});
$oc->submit_ok($leader, $ch, 'after the settings change', 'post-config',
	\@acked, 'after the settings change');
$oc->assert_chains_identical_and_verified(\@names, $ch);

my $digest_sql =
  "SELECT (SELECT count(*) || ':' || md5(coalesce(string_agg(number || ':' || encode(hash, 'hex'), ',' ORDER BY number), ''))"
  . " FROM ordering.blocks WHERE channel = '$ch') || '|' ||"
  . " (SELECT count(*) || ':' || md5(coalesce(string_agg(block_number || ':' || position || ':' || tx_id || ':' || encode(sha256(payload), 'hex'), ',' ORDER BY block_number, position), ''))"
  . " FROM ordering.transactions WHERE channel = '$ch')";
my $want = $oc->safe_query($follower, $digest_sql);
my $got = '';
ok( $oc->wait_until(
		'the reporting copy has every block and transaction', undef,
		sub { $got = $copy->safe_psql('postgres', $digest_sql); $got eq $want }),
	"the copy holds the follower's blocks and transactions ($want)")
  or diag("copy: $got");
is( $copy->safe_psql('postgres', OrderingCluster::verify_chain_sql($ch)),
	'', 'the copy verifies with the plain-SQL verifier');
is( $copy->safe_psql('postgres',
		"SELECT count(*) FROM ordering.blocks WHERE channel = '$ch' AND is_config AND number > 0"),
	'1',
	'the configuration block arrived too');

$copy->stop;
done_testing();
