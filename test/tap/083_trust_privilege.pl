# 083_trust_privilege.pl: least privilege that works, and SQL that no
# planted function can hijack (README.md, "Securing the cluster").
#
# Four servers with per-node roles (orderer_n1..n4) holding only
# ordering_peer, and clients with only ordering_admin, ordering_writer or
# ordering_reader.
#   1. Planted functions: in schema public, functions that the extension's
#      unqualified SQL would pick over pg_catalog's (public.unnest(text[]),
#      public.convert_from(bytea, text), public.convert_to(text, text)); and
#      in a schema first on the peer roles' search_path (ALTER ROLE ... SET
#      search_path), exact copies of the functions and operators the
#      extension's SQL uses (encode, decode, convert_from, sha256, jsonb_*,
#      unnest, =, <=, >=, ||).  Each records its calls.  Then submits in all
#      three forms, reads, admin calls, a relayed admin call, an explicit
#      join and catch-up through a snapshot: nothing is recorded.
#   2. Least privilege: with those roles, a follower that fell behind the
#      leader's snapshot catches up (pulling blocks through
#      ordering.peer_blocks), and an admin call on a follower is relayed to
#      the leader and succeeds; roles without ordering_peer (admin, writer,
#      reader) may not call peer_blocks, peer_block_hash, peer_term or
#      relay_admin (42501), nor may a node's role read a channel its node
#      is no member of.
# It ends with the servers unharmed, a new transaction ordered and the chains
# identical and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 4, roles => 'per-node');
my @all = $oc->names;
my @names = qw(n1 n2 n3);
my $ch = 'chp';
my $lit = \&OrderingCluster::lit;

# --- Planting ---------------------------------------------------------------

my $plant = <<'SQL';
CREATE TABLE public.planted_calls (fn text, by_role text, application text,
	at timestamptz DEFAULT clock_timestamp());
GRANT SELECT, INSERT ON public.planted_calls TO PUBLIC;
-- Records a call (also in the log: the insert is lost if the caller's
-- transaction aborts or is read-only).
CREATE FUNCTION public.planted_note(fn text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
	RAISE LOG 'planted function % called by % (%)', fn, session_user,
		current_setting('application_name');
	BEGIN
		INSERT INTO public.planted_calls (fn, by_role, application)
		VALUES (fn, session_user, current_setting('application_name'));
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
END $$;

-- Better matches than pg_catalog's for the extension's unqualified calls.
CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('public.unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.convert_from(b bytea, e text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('public.convert_from(bytea, text)'); RETURN pg_catalog.convert_from(b, e::name); END $$;
CREATE FUNCTION public.convert_to(t text, e text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('public.convert_to(text, text)'); RETURN pg_catalog.convert_to(t, e::name); END $$;

-- Exact copies, for sessions whose search_path puts this schema first.
CREATE SCHEMA planted_path;
GRANT USAGE ON SCHEMA planted_path TO PUBLIC;
CREATE FUNCTION planted_path.encode(b bytea, f text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.encode(bytea, text)'); RETURN pg_catalog.encode(b, f); END $$;
CREATE FUNCTION planted_path.decode(t text, f text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.decode(text, text)'); RETURN pg_catalog.decode(t, f); END $$;
CREATE FUNCTION planted_path.convert_from(b bytea, e name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.convert_from(bytea, name)'); RETURN pg_catalog.convert_from(b, e); END $$;
CREATE FUNCTION planted_path.convert_to(t text, e name) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.convert_to(text, name)'); RETURN pg_catalog.convert_to(t, e); END $$;
CREATE FUNCTION planted_path.sha256(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.sha256(bytea)'); RETURN pg_catalog.sha256(b); END $$;
CREATE FUNCTION planted_path.jsonb_each(j jsonb, OUT key text, OUT value jsonb) RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.jsonb_each(jsonb)'); RETURN QUERY SELECT * FROM pg_catalog.jsonb_each(j); END $$;
CREATE FUNCTION planted_path.jsonb_typeof(j jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.jsonb_typeof(jsonb)'); RETURN pg_catalog.jsonb_typeof(j); END $$;
CREATE FUNCTION planted_path.unnest(a anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.unnest(anyarray)'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION planted_path.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.=(text, text)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR planted_path.= (LEFTARG = text, RIGHTARG = text, FUNCTION = planted_path.text_eq);
CREATE FUNCTION planted_path.bytea_eq(a bytea, b bytea) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.=(bytea, bytea)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR planted_path.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = planted_path.bytea_eq);
CREATE FUNCTION planted_path.bytea_cat(a bytea, b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.||(bytea, bytea)'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR planted_path.|| (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = planted_path.bytea_cat);
CREATE FUNCTION planted_path.int8_eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.=(bigint, bigint)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR planted_path.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = planted_path.int8_eq);
CREATE FUNCTION planted_path.int8_ge(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.>=(bigint, bigint)'); RETURN a OPERATOR(pg_catalog.>=) b; END $$;
CREATE OPERATOR planted_path.>= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = planted_path.int8_ge);
CREATE FUNCTION planted_path.int8_le(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.planted_note('planted_path.<=(bigint, bigint)'); RETURN a OPERATOR(pg_catalog.<=) b; END $$;
CREATE OPERATOR planted_path.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = planted_path.int8_le);

-- Clients with one role each, on their default search_path ("$user", public).
CREATE ROLE admin1 LOGIN IN ROLE ordering_admin;
CREATE ROLE writer1 LOGIN IN ROLE ordering_writer;
CREATE ROLE reader1 LOGIN IN ROLE ordering_reader;
SQL
for my $n (@all)
{
	$oc->safe_query($n, $plant);
	$oc->safe_query($n, "ALTER ROLE orderer_$_ SET search_path = planted_path, pg_catalog, public")
	  for @all;
}

# The planted functions work, and record (checked once, then forgotten).
is($oc->safe_query('n1',
		"SET search_path = planted_path, pg_catalog, public; SELECT encode(sha256('x'::bytea), 'hex') = encode(sha256('x'::bytea), 'hex'); SELECT count(*) > 0 FROM public.planted_calls"),
	"t\nt", 'a planted function records its calls');
$oc->safe_query($_, 'TRUNCATE public.planted_calls') for @all;

for my $n (@all)
{
	is($oc->safe_query($n,
			"SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) || ' ' || bool_or(r.rolsuper) FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = 'orderer_$n'"),
		'ordering_peer false', "orderer_$n holds only ordering_peer");
}

my $logs = { map { ($_ => -s $oc->node($_)->logfile) } @all };

# --- Work of every kind -------------------------------------------------------

# One transaction a block; a snapshot every ~5 kB of log (~20 blocks of
# 200-byte payloads).
$oc->create_channel($ch, \@names,
	{ batch_timeout => 50, max_message_count => 1, snapshot_interval_bytes => 5000 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, "$ch has a leader") or BAIL_OUT('no leader');
my ($lagger, $other) = $oc->followers($leader, \@names);
my $health = $oc->health;

my @acked;

sub as_writer
{
	my ($n, $sql) = @_;
	return $oc->query_as($n, 'writer1', $sql);
}

my $r = as_writer($other, "SELECT tx_id, block_number, position FROM ordering.submit_tx('$ch', 'one', 'w-1')");
ok($r->{ok}, "writer1 submits on $other") or diag($r->{stderr});
$r = as_writer($lagger, "SELECT count(*) FROM ordering.submit_txs('$ch', ARRAY['two', 'three']::bytea[])");
is($r->{stdout}, '2', "writer1 submits two at once on $lagger") or diag($r->{stderr});
$r = as_writer($leader, "SELECT ordering.submit_tx_async('$ch', 'four', 'w-4')");
is($r->{stdout}, 'w-4', "writer1 submits asynchronously on $leader") or diag($r->{stderr});
ok($oc->wait_until('w-4 is ordered', undef, sub {
			$oc->safe_query($leader, "SELECT count(*) FROM ordering.transactions WHERE tx_id = 'w-4'") eq '1';
		}),
	'... and it is ordered');
for my $n (@names)
{
	$r = $oc->query_as($n, 'reader1',
		"SELECT (SELECT ok FROM ordering.verify_chain('$ch')), ordering.wait_for_block('$ch', 1, 10000), (SELECT count(*) > 0 FROM ordering.list_channels()), (SELECT count(*) FROM ordering.status)");
	is($r->{stdout}, 't|t|t|1', "reader1 verifies, waits and lists on $n") or diag($r->{stderr});
}

# Admin calls: on the leader, relayed from a follower, an explicit join.
$r = $oc->query_as($leader, 'admin1', "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 40}')");
ok($r->{ok}, "admin1 changes the settings on the leader $leader") or diag($r->{stderr});
$leader = $oc->wait_for_leader($ch, \@names);
my ($follower) = $oc->followers($leader, \@names);
$r = $oc->query_as($follower, 'admin1', "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 50}')");
ok($r->{ok}, "admin1 changes the settings on the follower $follower: relayed to the leader $leader, it succeeds")
  or diag($r->{stderr});
like($r->{stdout}, qr/^\d+$/, '... and returns the configuration block');
$r = $oc->admin($ch, \@names, "SELECT ordering.add_consenter('$ch', 'n4', " . $lit->($oc->conninfo('n4')) . ')');
ok($r->{ok}, 'n4 is added to the channel') or diag($r->{stderr});
ok($oc->wait_for_channel($ch, ['n4']), 'n4 joins by itself');
# The peer's address, and this node's own role (its credentials are its own).
my $peer = $oc->conninfo($leader) =~ s/user=\S+/user=orderer_n4/r;
$r = $oc->query_as('n4', 'admin1', "SELECT ordering.join_channel('$ch', " . $lit->($peer) . ')');
ok($r->{ok}, 'join_channel on n4, which has the channel already, is a no-op') or diag($r->{stderr});
my @members = (@names, 'n4');

# --- Catch-up through a snapshot, with peer roles holding only ordering_peer

sub fill_to
{
	my ($target) = @_;
	return $oc->fill_to($leader, $ch, $target, prefix => 'privilege test', acked => \@acked);
}

$leader = $oc->wait_for_leader($ch, \@members);
($lagger) = grep { $_ ne 'n4' } $oc->followers($leader, \@names);
ok(fill_to(20), 'ordered up to block 20');
ok($oc->wait_for_block($ch, \@members, 20), 'every node has block 20');
my $lag = $oc->raft_state($lagger, $ch);
$oc->stop_node($lagger, 'fast');
ok(fill_to(60), "the others go on to block 60 without $lagger");
# Every other member has compacted away what the lagger lacks: whoever leads
# can bring it back only with a snapshot.
my @up = grep { $_ ne $lagger } @members;
ok($oc->wait_until("the entries after ${lagger}'s last index ($lag->{last_index}) are compacted away on " . join(',', @up), 60,
		sub {
			!grep {
				my $first = $oc->safe_query($_, "SELECT coalesce(min(index), 0) FROM ordering.log WHERE channel = '$ch'");
				($oc->raft_state($_, $ch)->{snapshot_index} // 0) <= $lag->{last_index}
				  || ($first > 0 && $first <= $lag->{last_index} + 1);
			} @up;
		}),
	"${lagger}'s missing entries are in no member's log any more");
# Appends the leader queued for the lagger while it was down would spare it
# the snapshot: a restart of the leader drops them.
$oc->stop_node($leader, 'fast');
$oc->start_node($leader);
$oc->start_node($lagger);
ok(defined $oc->wait_for_same_head($ch, \@members, 120),
	"$lagger catches up through the snapshot, its role holding only ordering_peer");
cmp_ok($oc->raft_state($lagger, $ch)->{snapshot_index}, '>', $lag->{last_index},
	"$lagger installed a snapshot");
$oc->assert_acknowledged_present(\@members, $ch, \@acked);

# --- Nothing planted was called -----------------------------------------------

for my $n (@all)
{
	my $calls = $oc->safe_query($n,
		"SELECT coalesce(string_agg(DISTINCT fn || ' by ' || by_role || ' (' || application || ')', '; '), '') FROM public.planted_calls");
	is($calls, '', "no planted function was called on $n");
	my $log = substr(slurp_file($oc->node($n)->logfile), $logs->{$n});
	my @logged = $log =~ /(planted function [^\n]*)/g;
	ok(!@logged, "... and ${n}'s log shows none") or diag(join("\n", @logged[ 0 .. ($#logged < 4 ? $#logged : 4) ]));
}

# --- What a peer role, or a role without it, may call -------------------------

# The signature of relay_admin is the implementation's: call it with NULLs of
# its argument types.
my $relay_call = $oc->safe_query('n1',
	"SELECT 'SELECT ordering.relay_admin(' || string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY o) || ')' FROM pg_proc p, unnest(p.proargtypes) WITH ORDINALITY a(t, o) WHERE p.oid = (SELECT min(oid) FROM pg_proc WHERE proname = 'relay_admin' AND pronamespace = 'ordering'::regnamespace)");
ok($relay_call ne '', 'ordering.relay_admin exists');
for my $role (qw(reader1 writer1 admin1))
{
	for my $call ("SELECT * FROM ordering.peer_blocks('$ch', 0, 10)",
		"SELECT ordering.peer_block_hash('$ch', 0)",
		"SELECT ordering.peer_term('$ch')",
		$relay_call || 'SELECT ordering.relay_admin()')
	{
		my $r = $oc->query_as('n1', $role, $call);
		is($r->{sqlstate}, '42501', "$role (no ordering_peer): $call: 42501");
	}
}
for my $fn (qw(peer_blocks peer_block_hash peer_term relay_admin))
{
	is($oc->safe_query('n1',
			"SELECT string_agg(DISTINCT r.rolname, ',') FROM pg_proc p, pg_roles r WHERE p.proname = '$fn' AND p.pronamespace = 'ordering'::regnamespace AND NOT r.rolsuper AND r.rolname IN ('ordering_peer', 'ordering_admin', 'ordering_writer', 'ordering_reader', 'admin1', 'writer1', 'reader1') AND has_function_privilege(r.oid, p.oid, 'EXECUTE')"),
		'ordering_peer', "ordering.$fn: EXECUTE for ordering_peer only");
}

# A channel of n1 and n2: n3's role may not read it on n1, n2's may.
$oc->create_channel('chq', [qw(n1 n2)], { batch_timeout => 50 });
ok($oc->submit('n1', 'chq', 'on chq', 'q-1')->{ok}, 'chq orders');
$r = $oc->query_as('n1', 'orderer_n3', "SELECT count(*) FROM ordering.peer_blocks('chq', 0, 10)");
is($r->{sqlstate}, '42501', "orderer_n3 may not read chq (n3 is no member) through peer_blocks: 42501");
$r = $oc->query_as('n1', 'orderer_n3', "SELECT ordering.peer_block_hash('chq', 0)");
is($r->{sqlstate}, '42501', '... nor through peer_block_hash: 42501');
$r = $oc->query_as('n1', 'orderer_n3', "SELECT ordering.peer_term('chq')");
is($r->{sqlstate}, '42501', '... nor its term through peer_term: 42501');
$r = $oc->query_as('n1', 'orderer_n3', "SELECT count(*) FROM ordering.blocks");
is($r->{sqlstate}, '42501', '... nor the tables: 42501');
$r = $oc->query_as('n1', 'orderer_n2', "SELECT count(*) > 0 FROM ordering.peer_blocks('chq', 0, 10)");
is($r->{stdout}, 't', 'orderer_n2 reads chq (n2 is a member) through peer_blocks') or diag($r->{stderr});
$r = $oc->query_as('n1', 'orderer_n2', "SELECT ordering.peer_block_hash('chq', 0)");
is($r->{stdout},
	'\\x' . $oc->safe_query('n1', "SELECT encode(hash, 'hex') FROM ordering.blocks WHERE channel = 'chq' AND number = 0"),
	'... and peer_block_hash gives the hash of block 0') or diag($r->{stderr});
$r = $oc->query_as('n1', 'orderer_n2', "SELECT ordering.peer_term('chq') > 0");
is($r->{stdout}, 't', '... and peer_term its term, past 0 once it elected a leader') or diag($r->{stderr});

$oc->assert_cluster_sound($ch, \@members, $health, restarted => [ $lagger, $leader ]);
$oc->assert_cluster_sound('chq', [qw(n1 n2)], $oc->health([qw(n1 n2)]), tag => 'chq');

done_testing();
