# 085_peer_roles.pl: least privilege that works, with one role per node.
#
# Every node logs in to its peers as its own role (orderer_n1, ...), which
# holds ordering_peer and nothing else, authenticated by SCRAM through the
# password file ordering.peer_passfile names.  With those roles:
#   - each worker is connected to its peers as its own role;
#   - a role calling deliver() as another node is refused (42501), and
#     cannot read the tables;
#   - admin calls made on a follower are relayed to the leader as the
#     follower's role (ordering.relay_admin), which holds no ordering_admin:
#     update_channel_config, and add_consenter of a fourth node that then
#     joins (genesis push) and is promoted; the leader cannot tell such a
#     call from one the role makes alone, and with
#     ordering.accept_relayed_admin off it takes none (42501);
#   - a follower that fell behind the leader's snapshot catches up, reading
#     the blocks through ordering.peer_blocks();
#   - a follower whose password the leader changed backs off its logins
#     there, however often the leader's heartbeats reach it; one whose
#     role the leader dropped and created again logs in afresh;
#   - functions planted in public, on a search_path the peer roles are
#     given (ALTER ROLE ... SET search_path), are never called by any
#     session of the extension (remote sessions pin their search_path);
# and at the end the chains are identical and verified.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my $ch = 'roles';

# --- planted functions, on a search_path the peer roles get -------------

my $plant = q{
	CREATE TABLE public.planted_calls (name text, session_role text,
									   application_name text, backend_type text);
	CREATE FUNCTION public.planted(name text) RETURNS void
	LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
		INSERT INTO public.planted_calls
		SELECT name, session_user, current_setting('application_name'),
			   (SELECT backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid())
	$$;
	GRANT EXECUTE ON FUNCTION public.planted(text) TO PUBLIC;
	CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$
		SELECT public.planted('unnest(text[])');
		SELECT x FROM pg_catalog.unnest($1) x
	$$;
	CREATE FUNCTION public.unnest(bytea[]) RETURNS SETOF bytea LANGUAGE sql AS $$
		SELECT public.planted('unnest(bytea[])');
		SELECT x FROM pg_catalog.unnest($1) x
	$$;
	CREATE FUNCTION public.convert_from(bytea, name) RETURNS text LANGUAGE sql AS $$
		SELECT public.planted('convert_from(bytea, name)');
		SELECT pg_catalog.convert_from($1, $2)
	$$;
};
# Plants on $n, and gives every node's role that search_path everywhere.
sub plant_on
{
	my ($n) = @_;
	$oc->safe_query($n, $plant);
	for my $on ($oc->up_names)
	{
		$oc->safe_query($on, "ALTER ROLE " . $oc->role_of($_) . " SET search_path = public, pg_catalog")
		  for $oc->names;
	}
}
plant_on($_) for @names;

# The extension's sessions: the workers, the peers' sessions, relays.
sub planted_calls
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT coalesce(string_agg(name || ' by ' || session_role || ' (' || application_name || ', ' || coalesce(backend_type, '?') || ')', '; '), '')"
		  . " FROM public.planted_calls"
		  . " WHERE application_name LIKE 'ordering%' OR session_role LIKE 'orderer%'"
		  . " OR backend_type IS DISTINCT FROM 'client backend'");
}

# --- the roles hold ordering_peer only ----------------------------------

for my $n (@names)
{
	is($oc->safe_query($n,
			"SELECT string_agg(b.rolname, ',' ORDER BY b.rolname) FROM pg_auth_members m"
			  . " JOIN pg_roles r ON r.oid = m.member JOIN pg_roles b ON b.oid = m.roleid"
			  . " WHERE r.rolname = '" . $oc->role_of('n2') . "'"),
		'ordering_peer', "on $n, " . $oc->role_of('n2') . ' is a member of ordering_peer only');
}

# One transaction per block; a snapshot every ~5 kB of log.
$oc->create_channel($ch, \@names,
	{ batch_timeout => 50, max_message_count => 1, snapshot_interval_bytes => 5000 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'a leader is elected over per-node roles') or die 'no leader';
my ($f1, $f2) = $oc->followers($leader, \@names);

# --- each worker is connected as its own role ---------------------------

for my $n (@names)
{
	for my $peer (grep { $_ ne $n } @names)
	{
		my $role = $oc->role_of($peer);
		ok($oc->wait_until("$peer connected to $n as $role", 30, sub {
					$oc->safe_query($n,
						"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ordering $peer' AND usename = '$role'")
					  eq '1';
				}),
			"${peer}'s worker is connected to $n as $role");
	}
}

# --- a role speaks for its own node only --------------------------------

my $r = $oc->query($leader, "SELECT ordering.deliver('$f1', '\\x01'::bytea)",
	user => $oc->role_of($f2));
is($r->{sqlstate}, '42501', "${f2}'s role calling deliver() as $f1: 42501")
  or diag($r->{stderr});
like($r->{message} // '', qr/may not deliver messages as node "$f1"/, '... naming the node');
$r = $oc->query($leader, "SELECT count(*) FROM ordering.blocks", user => $oc->role_of($f2));
is($r->{sqlstate}, '42501', "${f2}'s role cannot read the tables");
$r = $oc->query($leader, "SELECT ordering.update_channel_config('$ch', '{}')",
	user => $oc->role_of($f2));
is($r->{sqlstate}, '42501', "${f2}'s role cannot call admin functions itself");

# --- submissions, forwarded by followers --------------------------------

my @acked;

ok($oc->fill_to($f1, $ch, 20, leader => $leader, acked => \@acked), "transactions submitted on follower $f1 are ordered");

# --- relayed admin calls ------------------------------------------------

$r = $oc->query($f1, "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 40}')");
ok($r->{ok}, "update_channel_config on follower $f1 is relayed to the leader")
  or diag("$r->{sqlstate}: $r->{message}");
ok($oc->wait_until('the new setting on every node', 30, sub {
			!grep {
				$oc->safe_query($_, "SELECT config->>'batch_timeout' FROM ordering.channels WHERE channel = '$ch'") ne '40'
			} @names;
		}),
	'the relayed change is applied on every node');
is($oc->safe_query($leader,
		"SELECT count(*) FROM pg_roles r WHERE r.rolname LIKE 'orderer\\_%' AND pg_has_role(r.oid, 'ordering_admin', 'USAGE')"),
	'0', 'although no peer role holds ordering_admin');

# So a peer role alone may relay any admin call of its node: the leader
# cannot tell one from a call its node's admins made.  With
# ordering.accept_relayed_admin off there, the leader takes none, and admin
# calls are made on the leader itself.
sub batch_timeout_on
{
	my ($n) = @_;
	return $oc->safe_query($n, "SELECT config->>'batch_timeout' FROM ordering.channels WHERE channel = '$ch'");
}
sub relay_as_f2
{
	my ($ms) = @_;
	return $oc->query($leader,
		"SELECT ordering.relay_admin('$f2', '$ch', 'update_channel_config', NULL, '{\"batch_timeout\": $ms}')",
		user => $oc->role_of($f2));
}
sub set_relays
{
	my ($value) = @_;
	$oc->node($leader)->append_conf('postgresql.conf', "ordering.accept_relayed_admin = $value");
	$oc->node($leader)->reload;
	return $oc->wait_until("accept_relayed_admin $value on $leader", 30,
		sub { $oc->safe_query($leader, 'SHOW ordering.accept_relayed_admin') eq $value });
}
$r = relay_as_f2(41);
ok($r->{ok}, "${f2}'s role alone relays update_channel_config to the leader")
  or diag("$r->{sqlstate}: $r->{message}");
ok($oc->wait_until('batch_timeout 41 on the leader', 30, sub { batch_timeout_on($leader) eq '41' }),
	'... and the leader runs it');
ok(set_relays('off'), "ordering.accept_relayed_admin = off on the leader $leader");
$r = relay_as_f2(42);
is($r->{sqlstate}, '42501', "then ${f2}'s role relaying an admin call gets 42501")
  or diag($r->{stderr});
like($r->{message} // '', qr/node "$leader" takes no relayed admin requests/, '... saying why');
$r = $oc->query($f1, "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 43}')");
is($r->{sqlstate}, '42501', "and update_channel_config on follower $f1 gets 42501")
  or diag($r->{stderr});
like($r->{hint} // '', qr/on the leader itself/, '... with a hint to call the leader');
is(batch_timeout_on($leader), '41', 'the refused calls changed nothing');
$r = $oc->query($leader, "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 40}')");
ok($r->{ok}, 'the call made on the leader itself works') or diag("$r->{sqlstate}: $r->{message}");
ok(set_relays('on'), "ordering.accept_relayed_admin = on again on $leader");
ok($oc->wait_until('batch_timeout 40 on every node', 30,
		sub { !grep { batch_timeout_on($_) ne '40' } @names }),
	'batch_timeout is 40 on every node again');

$oc->add_node('n4');
plant_on('n4');
$r = $oc->query($f2, "SELECT ordering.add_consenter('$ch', 'n4', '" . $oc->conninfo('n4') . "')");
ok($r->{ok}, "add_consenter n4 on follower $f2 is relayed to the leader")
  or diag("$r->{sqlstate}: $r->{message}");
my @all = (@names, 'n4');
ok($oc->wait_for_channel($ch, ['n4']), 'n4 joins the channel by itself (genesis push)');
ok($oc->wait_until('n4 promoted to voter', 60, sub {
			my $st = $oc->status('n4', $ch);
			return $st && ($st->{membership} // '') eq 'consenter';
		}),
	'n4 catches up as a learner and is promoted');
ok($oc->fill_to($leader, $ch, 30, leader => $leader, acked => \@acked), 'ordering goes on with four nodes');
ok(defined $oc->wait_for_same_head($ch, \@all), 'n4 has the same chain');

# --- snapshot catch-up through ordering.peer_blocks ---------------------

$leader = $oc->wait_for_leader($ch, \@all);
my ($lagger) = grep { $_ ne $leader } @all;
ok($oc->wait_for_block($ch, [$lagger], $oc->last_block($leader, $ch)), "$lagger is up to date");
my $lag_block = $oc->last_block($lagger, $ch);
$oc->stop_node($lagger, 'fast');
# The stopped node's log is no longer than the leader's is now.
my $lag_index = $oc->safe_query($leader,
	"SELECT greatest(applied_index, snapshot_index, (SELECT coalesce(max(index), 0) FROM ordering.log WHERE channel = '$ch')) FROM ordering.raft_state WHERE channel = '$ch'");
my @up = grep { $_ ne $lagger } @all;
ok($oc->fill_to($leader, $ch, $lag_block + 40, leader => $leader, acked => \@acked), "the others go on without $lagger");
ok($oc->wait_until("the snapshots of the others cover ${lagger}'s last index and block", 60, sub {
			!grep {
				$oc->safe_query($_,
					"SELECT snapshot_index > $lag_index AND (convert_from(snapshot_data, 'UTF8')::jsonb->>'last_block')::bigint > $lag_block"
					  . " FROM ordering.raft_state WHERE channel = '$ch'") ne 't'
			} @up;
		}),
	"every other node's snapshot is past ${lagger}'s last raft index ($lag_index) and block ($lag_block)");
# The leader queued appends for the stopped node while it was away (a
# backing-off connection keeps its queue); a restart drops them, so that
# the node needs the snapshot.
$oc->stop_node($leader, 'fast');
$oc->start_node($leader);
ok(defined $oc->wait_for_leader($ch, \@up), 'the others elect a leader again');
my $log_offset = -s $oc->node($lagger)->logfile;
$oc->start_node($lagger);
ok(defined $oc->wait_for_same_head($ch, \@all, 120), "$lagger catches up through the snapshot");
my $lag_log = substr(slurp_file($oc->node($lagger)->logfile), $log_offset);
like($lag_log, qr/channel "$ch": pulled blocks \d+ to \d+ from node n\d/,
	"$lagger pulled the blocks the snapshot covers");
unlike($lag_log, qr/permission denied/, '... and nothing was refused for lack of privilege');
ok($oc->fill_to($lagger, $ch, $oc->last_block($leader, $ch) + 3, leader => $leader, acked => \@acked), "$lagger submits after the catch-up");

# --- a login refused: backoff, not a storm ------------------------------

# The leader changes a follower's password: the follower's logins there
# fail while the leader's heartbeats still reach it.  Each heartbeat used to
# reset the follower's reconnect backoff, and it tried about ten times a
# second, each a backend and a FATAL in the leader's log.  Now it backs off
# (100 ms doubling to 5 s, and at most one early try per 5 s when the peer
# calls).
$leader = $oc->wait_for_leader($ch, \@all);
my ($locked_out) = grep { $_ ne $leader } @all;
my $locked_role = $oc->role_of($locked_out);
my $leader_log_at = -s $oc->node($leader)->logfile;
$oc->safe_query($leader, "ALTER ROLE $locked_role PASSWORD 'not-the-one-in-its-passfile'");
# Its session there, made with the old password, must log in again.
$oc->safe_query($leader,
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ordering $locked_out'");
# The times of the refused logins, in seconds of the day, from the log.
sub refusal_times
{
	my $log = substr(slurp_file($oc->node($leader)->logfile), $leader_log_at);
	return map { /(\d\d):(\d\d):(\d\d\.\d+) \S+ \[\d+\].*FATAL:  password authentication failed for user "$locked_role"/ ? ($1 * 3600 + $2 * 60 + $3) : () }
	  split /\n/, $log;
}
my @times;
ok($oc->wait_until("five refused logins of $locked_out on $leader", 60,
		sub { @times = refusal_times(); return @times >= 5; }),
	"$locked_out can no longer log in to $leader");
# Backing off, the first five attempts span at least 100 + 200 + 400 ms
# (one gap may be cut short by the leader's call); a slow machine only
# spreads them further.  The storm made five in about half a second.
my $span = $times[4] - $times[0];
$span += 86400 if $span < 0;    # across midnight
cmp_ok($span, '>=', 0.7,
	sprintf('%s backs off: its first five refused logins span %.2f s', $locked_out, $span));
# Its status says why: before, it looked healthy (the leader's heartbeats
# arrive), and the reason was only in its server log.
my $link_error = sub {
	return $oc->safe_query($locked_out,
		"SELECT coalesce(leader_link_error, '') FROM ordering.status WHERE channel = '$ch'");
};
ok($oc->wait_until("$locked_out shows why it cannot reach $leader", 30,
		sub { $link_error->() =~ /password authentication failed for user "$locked_role"/ }),
	"ordering.status on $locked_out: leader_link_error names the refused login")
  or diag($link_error->());
$oc->safe_query($leader, "ALTER ROLE $locked_role PASSWORD " . OrderingCluster::lit($oc->password_of($locked_out)));
ok($oc->fill_to($locked_out, $ch, $oc->last_block($leader, $ch) + 2, leader => $leader, acked => \@acked),
	"with its password back, $locked_out submits again");
ok($oc->wait_until("the link error of $locked_out clears", 30, sub { $link_error->() eq '' }),
	"... and its leader_link_error is NULL again");

# --- a peer role dropped and created again ------------------------------

# A session keeps the role it logged in as.  The follower's role dropped on
# the leader and created again under its name: the follower's calls on its
# old session were refused for good ("permission denied for schema
# ordering") and it never logged in again.  Now a refused call closes the
# connection, and the next attempt logs in as the new role.
$leader = $oc->wait_for_leader($ch, \@all);
my ($recreated) = grep { $_ ne $leader } @all;
my $recreated_role = $oc->role_of($recreated);
$leader_log_at = -s $oc->node($leader)->logfile;
$oc->safe_query($leader, "DROP ROLE $recreated_role");
$oc->safe_query($leader,
	"CREATE ROLE $recreated_role LOGIN IN ROLE ordering_peer PASSWORD "
	  . OrderingCluster::lit($oc->password_of($recreated)));
ok($oc->fill_to($recreated, $ch, $oc->last_block($leader, $ch) + 2, leader => $leader, acked => \@acked),
	"with its role dropped and created again on $leader, $recreated submits again");
is($oc->safe_query($leader,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ordering $recreated' AND usesysid IS DISTINCT FROM (SELECT oid FROM pg_roles WHERE rolname = '$recreated_role')"),
	'0', "no session of $recreated on $leader is left under the dropped role");

# --- at the end ---------------------------------------------------------

is(planted_calls($_), '', "no planted function was called on $_ by the extension") for @all;
$oc->safe_query($_, 'DROP FUNCTION public.unnest(text[]), public.unnest(bytea[])') for @all;
$oc->assert_chains_identical_and_verified(\@all, $ch);
$oc->assert_acknowledged_present(\@all, $ch, \@acked);

done_testing();
