# 081_trust_inputs.pl: what a peer credential or a client may not put into a
# node: channels, transactions, conninfos, someone else's transaction id
# (README.md, "Securing the cluster").
#
# Four servers with per-node roles (orderer_n1..n4, each holding only
# ordering_peer); channel ch1 runs on n1..n3, n4 is no member of it.
#   1. Fake genesis: GENESIS records from n3 that lie about who the channel's
#      members are create nothing; one for an existing channel with another
#      document changes nothing.  (A listed consenter may bring a node into
#      a new channel: the control case.)
#   2. Forward without membership: transactions forwarded to the leader by
#      n4 (valid role, no member), and by a member with an invalid id (bad
#      UTF-8, a NUL byte, 300 bytes) or a payload over absolute_max_bytes,
#      are not ordered.
#   3. Conninfo abuse: create_channel, add_consenter and join_channel refuse
#      keywords that name a file or a secret, Unix-socket hosts, dbnames that
#      libpq would expand, a missing user, and a second role for this node
#      (22023, nothing created or changed); GENESIS documents from a peer
#      carrying them are dropped.
#   4. One id, one transaction: an id ordered with another payload fails with
#      23505 naming it; with the same payload it returns the original place;
#      two submissions of one id with different payloads in flight at once
#      on two nodes: one wins, the other gets 23505.
# Each part ends with the servers unharmed, a new transaction ordered and
# the chains identical and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use JSON::PP;
use OrderingCluster;
use OrderingWire qw(:all);
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 4, roles => 'per-node');
my @names = qw(n1 n2 n3);
my $ch = 'ch1';
my $lit = \&OrderingCluster::lit;
my $json = JSON::PP->new->canonical(1);

$oc->create_channel($ch, \@names,
	{ batch_timeout => 50, election_tick => 40, absolute_max_bytes => 1000,
		preferred_max_bytes => 1000 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, "$ch has a leader") or BAIL_OUT('no leader');
my %id = %{ $oc->raft_ids('n1', $ch) };
my $settings = $oc->safe_query('n1', "SELECT config::text FROM ordering.channels WHERE channel = '$ch'");

sub count_of
{
	my ($n, $sql) = @_;
	my $r = $oc->query($n, $sql);
	return $r->{ok} ? $r->{stdout} : "error: $r->{stderr}";
}

sub channel_exists
{
	my ($n, $channel) = @_;
	return count_of($n, 'SELECT count(*) FROM ordering.channels WHERE channel = ' . $lit->($channel)) eq '1';
}

# A genesis document as create_channel writes it (jsonb's canonical text):
# %$consenters maps node to conninfo; raft ids 1..n in name order.
sub genesis_document
{
	my ($channel, $consenters) = @_;
	my $i = 0;
	my %doc = (channel => $channel, change => 'genesis',
		config => $json->decode($settings),
		consenters => { map { ($_ => { id => ++$i, conninfo => $consenters->{$_},
					learner => JSON::PP::false }) } sort keys %$consenters });
	return $oc->safe_query('n1', 'SELECT ' . $lit->($json->encode(\%doc)) . '::jsonb::text');
}

# The GENESIS record of that document; its address book names the same nodes.
sub genesis_of
{
	my ($channel, $consenters) = @_;
	my $doc = genesis_document($channel, $consenters);
	my $i = 0;
	return genesis_record($doc,
		{ map { ($_ => { id => ++$i, conninfo => $consenters->{$_} }) } sort keys %$consenters });
}

# --- 1. Fake genesis -----------------------------------------------------

my $health = $oc->health;
my $target = 'n1';
my %real = map { ($_ => $oc->conninfo($_)) } @names;
my @fakes = (
	[ 'fake-a', 'n3', 'orderer_n3', 'a channel of n1 and n2 only, pushed by n3',
		{ n1 => $real{n1}, n2 => $real{n2} } ],
	[ 'fake-b', 'n3', 'orderer_n3', "naming n3 with n2's role (a lie)",
		{ n1 => $real{n1}, n3 => $oc->conninfo('n3') =~ s/user=orderer_n3/user=orderer_n2/r } ],
	[ 'fake-c', 'n9', 'orderer_n3', 'from an unknown node n9 whose role would be orderer_n9',
		{ n1 => $real{n1}, n9 => 'host=127.0.0.1 port=1 dbname=postgres user=orderer_n9' } ],
);
for my $f (@fakes)
{
	my ($channel, $from, $role, $what, $consenters) = @$f;
	my $r = $oc->deliver_as($target, $role, $from,
		envelope($from, [ $channel, 'GENESIS', genesis_of($channel, $consenters) ]));
	note("GENESIS $channel ($what): " . ($r->{ok} ? 'accepted' : "$r->{sqlstate} $r->{message}"));
}
# The control: n3 brings n1 into a channel of n1 and n3.  Once n1 has it,
# n1's worker has handled the fakes delivered before.
my $r = $oc->deliver_as($target, 'orderer_n3', 'n3',
	envelope('n3', [ 'real-e', 'GENESIS', genesis_of('real-e', { n1 => $real{n1}, n3 => $real{n3} }) ]));
ok($r->{ok}, 'deliver() takes a GENESIS of n3 (as orderer_n3)') or diag($r->{stderr});
ok($oc->wait_until('n1 has channel real-e', 30, sub { channel_exists($target, 'real-e') }),
	'a GENESIS from n3 for a channel that names n3 with its role and n1 creates it on n1');
ok(!channel_exists($target, $_->[0]), "GENESIS $_->[0] ($_->[3]) created nothing on $target")
  for @fakes;

# An existing channel with another document: n3 says n2 lives on port 1.
my $block0 = count_of($target, "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$ch' AND number = 0");
my $consenters_before = count_of($target,
	"SELECT string_agg(node || '=' || conninfo, ' ' ORDER BY node) FROM ordering.consenters WHERE channel = '$ch'");
$r = $oc->deliver_as($target, 'orderer_n3', 'n3', envelope('n3', [ $ch, 'GENESIS',
	genesis_of($ch, { %real, n2 => 'host=127.0.0.1 port=1 dbname=postgres user=orderer_n2' }) ]));
$oc->fence($ch, \@names, 'other-genesis');
is(count_of($target, "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = '$ch' AND number = 0"),
	$block0, "a GENESIS for $ch with another document leaves block 0 as it was");
is(count_of($target,
		"SELECT string_agg(node || '=' || conninfo, ' ' ORDER BY node) FROM ordering.consenters WHERE channel = '$ch'"),
	$consenters_before, '... and the consenters as they were');
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-fake-genesis');

# --- 2. Forwarded transactions -------------------------------------------

$health = $oc->health;
$leader = $oc->wait_for_leader($ch, \@names);
my ($member) = grep { $_ ne $leader } @names;
note("leader $leader; member $member forwards");
my @bad_forwards = (
	[ 'n4', 'a valid role that is no member', [ 'fwd-nonmember', 'forward from n4' ] ],
	[ $member, 'an id that is not UTF-8', [ "fwd-bad-\xff\xfe", 'forward with a bad id' ] ],
	[ $member, 'an id with a NUL byte', [ "fwd-nul\x00x", 'forward with a NUL in its id' ] ],
	[ $member, 'an id of 300 bytes', [ 'fwd-long-' . ('x' x 291), 'forward with a long id' ] ],
	[ $member, 'a payload over absolute_max_bytes (1000)',
		[ 'fwd-oversized', 'forward oversized ' . ('x' x 2000) ] ],
);
for my $f (@bad_forwards)
{
	my ($from, $what, $tx) = @$f;
	my $r = $oc->deliver_as($leader, "orderer_$from", $from,
		envelope($from, [ $ch, 'FORWARD_TX', batch($tx) ]));
	note("forward from $from ($what): " . ($r->{ok} ? 'accepted' : "$r->{sqlstate} $r->{message}"));
}
# The control, delivered last: a member's valid forward is ordered.
$r = $oc->deliver_as($leader, "orderer_$member", $member,
	envelope($member, [ $ch, 'FORWARD_TX', batch([ 'fwd-valid', 'forward valid' ]) ]));
ok($oc->wait_until('the valid forward is ordered', 30, sub {
			count_of($leader, "SELECT count(*) FROM ordering.transactions WHERE tx_id = 'fwd-valid'") eq '1'
		}),
	"a valid transaction forwarded by $member is ordered");
$oc->fence($ch, \@names, 'after-forwards');
for my $f (@bad_forwards)
{
	my ($from, $what, $tx) = @$f;
	is(count_of($_, "SELECT count(*) FROM ordering.transactions WHERE payload = " . bytea_literal($tx->[1])),
		'0', "a transaction forwarded by $from with $what is not ordered on $_")
	  for @names;
}
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-forwards');

# --- 3. Conninfo abuse ----------------------------------------------------

$health = $oc->health;
my $port2 = $oc->node('n2')->port;
my $base = "host=127.0.0.1 port=$port2 dbname=postgres user=orderer_n2";
my @abuse = (
	[ 'passfile', "$base passfile=/etc/passwd", qr/conninfo keyword "passfile" is not allowed for node "n2"/ ],
	[ 'password', "$base password=secret" ],
	[ 'sslkey', "$base sslkey=/etc/ssl/private/node.key" ],
	[ 'sslcert', "$base sslcert=/etc/ssl/certs/node.crt" ],
	[ 'service', "$base service=ordering" ],
	[ 'options', "$base options='-c search_path=public'" ],
	[ 'a Unix socket host', "host=/tmp port=$port2 dbname=postgres user=orderer_n2" ],
	[ 'an abstract socket host', "host=\@ordering port=$port2 dbname=postgres user=orderer_n2" ],
	[ 'a socket in a host list', "host=127.0.0.1,/tmp port=$port2,$port2 dbname=postgres user=orderer_n2" ],
	[ 'a URI as dbname', "host=127.0.0.1 port=$port2 dbname=postgresql://127.0.0.1/postgres user=orderer_n2" ],
	[ 'a postgres:// URI as dbname', "host=127.0.0.1 port=$port2 dbname=postgres://127.0.0.1/postgres user=orderer_n2" ],
	[ 'a dbname with =', "host=127.0.0.1 port=$port2 dbname='host=/tmp dbname=postgres' user=orderer_n2" ],
	[ 'no user', "host=127.0.0.1 port=$port2 dbname=postgres" ],
);
my $i = 0;
for my $a (@abuse)
{
	my ($what, $conninfo, $message) = @$a;
	my $channel = 'abuse-' . ++$i;
	my $r = $oc->query('n1', sprintf('SELECT ordering.create_channel(%s, %s::jsonb)', $lit->($channel),
			$lit->($json->encode({ %real, n2 => $conninfo }))));
	is($r->{sqlstate}, '22023', "create_channel with $what in a conninfo: 22023");
	like($r->{message} // '', $message, '... naming the keyword and the node') if $message;
	ok(!channel_exists('n1', $channel), "... and no channel $channel");
}

$r = $oc->query('n1', sprintf('SELECT ordering.create_channel(%s, %s::jsonb)', $lit->('abuse-role'),
		$lit->($json->encode({ %real, n1 => $real{n1} =~ s/user=orderer_n1/user=orderer_n2/r }))));
is($r->{sqlstate}, '22023', "create_channel naming this node n1 with another role than in $ch: 22023");
ok(!channel_exists('n1', 'abuse-role'), '... and no channel abuse-role');

my $config_blocks = count_of('n1', "SELECT count(*) FROM ordering.blocks WHERE channel = '$ch' AND is_config");
my $consenters = count_of('n1', "SELECT count(*) FROM ordering.consenters WHERE channel = '$ch'");
$i = 0;
for my $a (@abuse)
{
	my ($what, $conninfo) = @$a;
	my $node = 'x' . ++$i;
	$conninfo =~ s/orderer_n2/orderer_$node/;
	my $r = $oc->admin($ch, \@names,
		"SELECT ordering.add_consenter('$ch', '$node', " . $lit->($conninfo) . ')');
	is($r->{sqlstate}, '22023', "add_consenter with $what in the conninfo: 22023");
}
is(count_of('n1', "SELECT count(*) FROM ordering.blocks WHERE channel = '$ch' AND is_config"),
	$config_blocks, "no configuration block was added to $ch");
is(count_of('n1', "SELECT count(*) FROM ordering.consenters WHERE channel = '$ch'"),
	$consenters, "$ch has the same consenters");

for my $a (@abuse[ 0, 6, 9, 12 ])
{
	my ($what, $conninfo) = @$a;
	$conninfo =~ s/orderer_n2/orderer_n1/;
	my $r = $oc->query('n4', "SELECT ordering.join_channel('$ch', " . $lit->($conninfo) . ')');
	is($r->{sqlstate}, '22023', "join_channel with $what in the peer's conninfo: 22023");
}

# The control: addressing and TLS-verification keywords are fine.
$r = $oc->query('n1', sprintf('SELECT ordering.create_channel(%s, %s::jsonb)', $lit->('good-tls'),
		$lit->($json->encode({ map { ($_ => "$real{$_} sslmode=disable channel_binding=disable") } @names }))));
ok($r->{ok}, 'create_channel with sslmode and channel_binding in the conninfos works') or diag($r->{stderr});

# The same conninfos in a GENESIS from n3, which names n3 and n1 correctly:
# dropped; the control (good conninfos) last.
$i = 0;
for my $a (@abuse)
{
	my ($what, $conninfo) = @$a;
	my $channel = 'peer-abuse-' . ++$i;
	$oc->deliver_as($target, 'orderer_n3', 'n3',
		envelope('n3', [ $channel, 'GENESIS', genesis_of($channel, { %real, n2 => $conninfo }) ]));
}
$oc->deliver_as($target, 'orderer_n3', 'n3',
	envelope('n3', [ 'peer-good', 'GENESIS', genesis_of('peer-good', \%real) ]));
ok($oc->wait_until('n1 has channel peer-good', 30, sub { channel_exists($target, 'peer-good') }),
	'a GENESIS from n3 with good conninfos creates its channel on n1');
$i = 0;
for my $a (@abuse)
{
	my $channel = 'peer-abuse-' . ++$i;
	ok(!channel_exists($target, $channel), "a GENESIS from n3 with $a->[0] in a conninfo created nothing");
}
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-conninfo-abuse');

# --- 4. One id, one transaction -------------------------------------------

$health = $oc->health;
my $first = $oc->submit('n1', $ch, 'claim payload A', 'claim-1');
ok($first->{ok}, 'claim-1 is ordered with payload A') or diag($first->{message});
$r = $oc->submit('n2', $ch, 'claim payload B', 'claim-1');
is($r->{sqlstate}, '23505', 'claim-1 again with payload B: 23505');
like($r->{message} // '', qr/transaction id "claim-1" is already ordered on channel "$ch" with another payload/,
	'... naming the id and the channel');
$r = $oc->submit('n3', $ch, 'claim payload A', 'claim-1');
ok($r->{ok} && $r->{block_number} == $first->{block_number} && $r->{position} == $first->{position},
	'claim-1 again with payload A returns its place')
  or diag(explain $r);

# Both in flight at once: the followers' workers are stopped, so the leader
# cannot commit and the follower cannot forward; both submissions wait.
$leader = $oc->wait_for_leader($ch, \@names);
my @followers = $oc->followers($leader, \@names);
my %worker = map { ($_ => $oc->health([$_])->{$_}{worker}) } @followers;
my $sql = "SET ordering.submit_timeout = 60000;\n"
  . "SELECT tx_id || '|' || block_number || '|' || position FROM ordering.submit_tx('$ch', convert_to(%s, 'UTF8'), 'race-1')";
my %race;
kill 'STOP', values %worker;
for my $side ([ $leader, 'race payload A' ], [ $followers[0], 'race payload B' ])
{
	my ($n, $payload) = @$side;
	my ($out, $err) = ('', '');
	$race{$n} = { payload => $payload, out => \$out, err => \$err,
		h => IPC::Run::start(
			[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $oc->node($n)->connstr('postgres'),
			  '-c', sprintf($sql, $lit->($payload)) ],
			'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(120)) };
}
ok($oc->wait_until('both submissions are waiting', 30, sub {
			!grep {
				count_of($_, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%submit_tx%race-1%' AND pid <> pg_backend_pid()") ne '1'
			} keys %race;
		}),
	"race-1 submitted on $leader (payload A) and on $followers[0] (payload B) at once");
kill 'CONT', values %worker;
my %outcome;
for my $n (keys %race)
{
	eval { $race{$n}{h}->finish; 1 } or $race{$n}{h}->kill_kill;
	my ($sqlstate) = ${ $race{$n}{err} } =~ /ERROR:\s+([0-9A-Z]{5}):/;
	$outcome{$n} = ${ $race{$n}{out} } ne '' ? 'ok' : ($sqlstate // 'failed: ' . ${ $race{$n}{err} });
	note("race-1 on $n ($race{$n}{payload}): $outcome{$n} ${ $race{$n}{out} }");
}
my @won = grep { $outcome{$_} eq 'ok' } keys %race;
my @lost = grep { $outcome{$_} eq '23505' } keys %race;
is(scalar @won, 1, 'one of the two submissions of race-1 is ordered');
is(scalar @lost, 1, 'the other gets 23505');
like(${ $race{ $lost[0] }{err} }, qr/transaction id "race-1" is already ordered/, '... naming the id')
  if @lost;
if (@won == 1)
{
	my ($tx_id, $block, $position) = split /\|/, ${ $race{ $won[0] }{out} };
	for my $n (@names)
	{
		is(count_of($n, "SELECT convert_from(payload, 'UTF8') FROM ordering.transactions WHERE channel = '$ch' AND tx_id = 'race-1' AND block_number = $block AND position = $position"),
			$race{ $won[0] }{payload}, "$n holds the winner's payload at the winner's place");
	}
}
$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-id-claims');

done_testing();
