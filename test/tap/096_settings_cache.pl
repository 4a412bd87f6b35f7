
# Copyright: the ordering extension's authors.
#
# 096_settings_cache.pl: a backend keeps the settings of the channels it
# submits to (src/sql/settings_cache.c), and never submits under settings
# that changed.  One session (A) submits after each change another
# session (B) or A itself makes to ordering.channels: through the worker
# (update_channel_config), by direct UPDATE, under session_replication_role
# = replica, with the change trigger disabled, rolled back, during and
# after a REPEATABLE READ transaction, prepared, and a dropped channel.  Each refusal's detail names the absolute_max_bytes
# A used, so a stale copy shows as the wrong number.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use Test::More;

my $oc = OrderingCluster->new(nodes => 1,
	conf => "max_prepared_transactions = 2");
my $node = $oc->node('n1');
my $ch = 'cached';
$oc->create_channel($ch, ['n1'],
	{ batch_timeout => 20, preferred_max_bytes => 100 });
ok(defined $oc->wait_for_leader($ch, ['n1']), "$ch has a leader");
my $health = $oc->health;
my $original = $oc->safe_query('n1',
	"SELECT config::text FROM ordering.channels WHERE channel = '$ch'");

my $a = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('\set VERBOSITY verbose');
my $n = 0;

# A submits a payload of $bytes (async: it never waits for the worker).
sub a_submit
{
	my ($bytes) = @_;
	$n++;
	my ($out, $failed) = $a->query(
		"SELECT ordering.submit_tx_async('$ch', convert_to(rpad('$n-', $bytes, 'x'), 'UTF8'))"
	);
	my $err = $a->{stderr};
	$a->{stderr} = '';    # BackgroundPsql keeps it across queries
	return $failed ? $err : 'ok';
}

sub set_limit_sql
{
	my ($limit) = @_;
	return "UPDATE ordering.channels SET config = config || "
	  . "'{\"absolute_max_bytes\": $limit}' WHERE channel = '$ch'";
}

sub refused_at
{
	my ($limit, $what) = @_;
	like(a_submit(1000),
		qr/54000.*exceeds the limit.*absolute_max_bytes is $limit\./s, $what);
}

is(a_submit(1000), 'ok', 'A submits 1000 bytes (its copy of the settings is kept)');

# The worker writes the new settings when it applies the configuration block.
$oc->safe_query('n1',
	"SELECT ordering.update_channel_config('$ch', '{\"absolute_max_bytes\": 900}')");
ok( $oc->wait_until(
		'the worker applied the new settings',
		$OrderingCluster::DEFAULT_TIMEOUT,
		sub {
			$oc->safe_query('n1',
				"SELECT config->>'absolute_max_bytes' FROM ordering.channels WHERE channel = '$ch'"
			) eq '900';
		}),
	'update_channel_config reaches ordering.channels');
refused_at(900, 'A sees the settings the worker wrote');

$oc->safe_query('n1', set_limit_sql(800));
refused_at(800, 'A sees a direct UPDATE by another session');

$oc->safe_query('n1',
	"SET session_replication_role = replica; " . set_limit_sql(700));
refused_at(700, '... and one made under session_replication_role = replica');

# Without the trigger nothing moves the generation: A reads every time.
$oc->safe_query('n1',
	'ALTER TABLE ordering.channels DISABLE TRIGGER channels_changed');
refused_at(700, 'with the trigger disabled, A reads the settings again');
$oc->safe_query('n1', set_limit_sql(600));
refused_at(600, '... and sees a change the trigger did not count');
$oc->safe_query('n1',
	'ALTER TABLE ordering.channels ENABLE ALWAYS TRIGGER channels_changed');
refused_at(600, 'the trigger enabled again, A reads once more');

# A's own change, seen at once and forgotten when rolled back.
$a->query_safe('BEGIN');
$a->query_safe('SAVEPOINT s');
$a->query_safe(set_limit_sql(500));
refused_at(500, "A sees its own uncommitted change");
$a->query_safe('ROLLBACK TO SAVEPOINT s');
refused_at(600, '... and not once it is rolled back to a savepoint');
$a->query_safe('ROLLBACK');
refused_at(600, '... nor after the transaction rolled back');

# Under REPEATABLE READ a submit reads as of its transaction's snapshot,
# and keeps nothing: what it read may be older than the generation.
$a->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$a->query_safe('SELECT 1');    # takes the transaction's snapshot
$oc->safe_query('n1', set_limit_sql(550));
refused_at(600,
	'A in a REPEATABLE READ transaction reads the settings as of its snapshot');
$a->query_safe('ROLLBACK');
refused_at(550, '... and after it, the settings as they are');

my $r = $oc->query('n1',
	"BEGIN; " . set_limit_sql(400) . "; PREPARE TRANSACTION 'cached'");
is($r->{sqlstate}, '0A000', 'a change to ordering.channels cannot be prepared');
like($r->{message}, qr/cannot PREPARE a transaction that changed ordering\.channels/,
	'... saying why');
is($oc->safe_query('n1', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', '... and nothing was prepared');
refused_at(550, 'the settings stayed as they were');

# Back to what the worker knows, then a submit that fits.
$oc->safe_query('n1',
	"UPDATE ordering.channels SET config = '$original' WHERE channel = '$ch'");
is(a_submit(1000), 'ok', 'A submits 1000 bytes under the original settings');

$oc->safe_query('n1', "SELECT ordering.drop_channel('$ch')");
like(a_submit(10), qr/42704.*channel "$ch" does not exist/s,
	'A sees that the channel was dropped');

$a->quit;
$oc->assert_unharmed($health);
done_testing();
