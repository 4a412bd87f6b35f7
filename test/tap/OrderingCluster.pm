
=pod

=head1 NAME

OrderingCluster - a group of real PostgreSQL servers running the ordering
extension, for the multi-server TAP tests

=head1 SYNOPSIS

  use lib 'test/tap';       # the Makefile's PROVE_FLAGS does this
  use OrderingCluster;

  my $oc = OrderingCluster->new(nodes => 3);          # n1, n2, n3, started
  $oc->create_channel('ch1', [qw(n1 n2 n3)], { batch_timeout => 50 });
  my $leader = $oc->wait_for_leader('ch1', [qw(n1 n2 n3)]);
  my $r = $oc->submit('n2', 'ch1', 'hello', 'tx-1');   # {ok, tx_id, ...}
  $oc->assert_chains_identical_and_verified([qw(n1 n2 n3)], 'ch1');
  $oc->assert_acknowledged_present([qw(n1 n2 n3)], 'ch1', [$r]);

=head1 DESCRIPTION

Each node is a L<PostgreSQL::Test::Cluster> with

  shared_preload_libraries = 'ordering'
  ordering.node_name = 'nI'
  ordering.database = 'postgres'
  ordering.tick_interval = 50
  listen_addresses = '127.0.0.1'

and C<CREATE EXTENSION ordering> in database postgres.  The test's own psql
calls use PostgreSQL::Test::Cluster's Unix socket; the workers reach each
other over TCP on 127.0.0.1 with the conninfo in the consenters document
(trust authentication, as initdb -A trust sets up).

Nodes are named by their ordering.node_name ('n1'...).  Every method that
takes a node accepts the name or the PostgreSQL::Test::Cluster object.

With roles => 'per-node', each node nI logs in to its peers as its own role
orderer_nI, which holds ordering_peer and nothing else, with a SCRAM password:
every server has every such role (created once the extension exists), a
pg_hba.conf line that requires scram-sha-256 from 127.0.0.1 for members of
ordering_peer, and a password file (mode 0600) holding its own role's
password, named by ordering.peer_passfile.  Conninfos then carry
user=orderer_nI.  The default, roles => 'shared', is the development setup:
every node connects as the operating system user (a superuser), with trust.

Every wait is bounded (a deadline, polling every 100 ms); nothing waits for a
fixed time.  Waits return false on timeout and print what they saw last.

=cut

package OrderingCluster;

use strict;
use warnings;

use Carp;
use File::Basename ();
use File::Path ();
use File::Spec;
use File::Temp ();
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

# Default bound of every wait, in seconds (PG_TEST_TIMEOUT_DEFAULT is 180 in
# PostgreSQL's own tests; ours are shorter so that a broken build fails fast,
# but can be raised with ORDERING_TEST_TIMEOUT on a slow machine).
our $DEFAULT_TIMEOUT = $ENV{ORDERING_TEST_TIMEOUT} // 60;

my $json = JSON::PP->new->canonical(1)->allow_nonref(1);

=pod

=head2 OrderingCluster->new(nodes => N, prefix => 'x', start => 1, conf => '...', roles => 'shared', conninfo_extra => '')

Creates nodes n1..nN (the PostgreSQL::Test::Cluster names are
"${prefix}n1"... so that one test file can build several clusters), starts
them (unless start => 0) and creates the extension on each (unless
create_extension => 0).  conf is appended to every node's postgresql.conf;
so is $ENV{ORDERING_TAP_EXTRA_CONF}.  roles is 'shared' or 'per-node' (see
above); conninfo_extra is appended to every node's conninfo (e.g.
"sslmode=verify-full sslrootcert=...").

=cut

sub new
{
	my ($class, %p) = @_;
	my $self = bless {
		prefix => $p{prefix} // '',
		conf => $p{conf} // '',
		nodes => [],       # names in creation order
		node => {},        # name => PostgreSQL::Test::Cluster
		tmp => File::Temp->newdir('ordering_tap_XXXX', TMPDIR => 1),
		loads => [],
		create_extension => $p{create_extension} // 1,
		roles => $p{roles} // 'shared',
		conninfo_extra => $p{conninfo_extra} // '',
	}, $class;
	croak "roles must be 'shared' or 'per-node', not '$self->{roles}'"
	  unless $self->{roles} =~ /^(shared|per-node)$/;
	my $n = $p{nodes} // 3;
	for my $i (1 .. $n)
	{
		$self->add_node("n$i", start => $p{start} // 1);
	}
	return $self;
}

=pod

=head2 $oc->add_node($name, start => 1, initdb => [...])

Creates (and by default starts, and creates the extension on) one more node;
initdb lists extra initdb arguments (e.g. ['--encoding=LATIN1', '--locale=C']).

=cut

sub add_node
{
	my ($self, $name, %p) = @_;
	croak "node $name exists" if $self->{node}{$name};
	my $node = PostgreSQL::Test::Cluster->new($self->{prefix} . $name);
	$node->init(extra => $p{initdb} // []);
	$node->{ordering_name} = $name;
	$self->{node}{$name} = $node;
	push @{ $self->{nodes} }, $name;
	$self->_configure($name);
	if ($p{start} // 1)
	{
		$node->start;
		$node->safe_psql('postgres', 'CREATE EXTENSION ordering')
		  if $self->{create_extension};
		$self->ensure_roles($_) for $self->up_names;
	}
	return $node;
}

# The settings of an ordering node, and its peer role's (after initdb).
sub _configure
{
	my ($self, $name) = @_;
	my $node = $self->node($name);
	my $extra = $ENV{ORDERING_TAP_EXTRA_CONF} // '';
	$node->append_conf('postgresql.conf', <<"CONF");
# ordering (OrderingCluster.pm)
shared_preload_libraries = 'ordering'
ordering.node_name = '$name'
ordering.database = 'postgres'
ordering.tick_interval = 50
listen_addresses = '127.0.0.1'
# PostgreSQL::Test::Cluster logs every statement; the transport's deliver()
# calls would drown the log.
log_statement = 'none'
log_min_messages = 'info'
max_connections = 120
$self->{conf}
$extra
CONF
	$self->_setup_peer_role($name) if $self->{roles} eq 'per-node';
	return;
}

# Per-node roles: the node's password file and settings, and a pg_hba.conf
# line (before initdb's trust lines) requiring SCRAM of ordering_peer's
# members over TCP.
sub _setup_peer_role
{
	my ($self, $name) = @_;
	my $node = $self->node($name);
	my $passfile = $self->passfile_of($name);
	open(my $fh, '>', $passfile) or die "$passfile: $!";
	print $fh '127.0.0.1:*:*:' . $self->role_of($name) . ':'
	  . $self->password_of($name) . "\n";
	close $fh;
	chmod(0600, $passfile) or die "chmod $passfile: $!";
	$node->append_conf('postgresql.conf',
		"ordering.peer_passfile = '$passfile'\n");
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $old = PostgreSQL::Test::Utils::slurp_file($hba);
	open(my $out, '>', $hba) or die "$hba: $!";
	print $out "# node roles (OrderingCluster.pm): SCRAM for ordering_peer's members\n"
	  . "host all +ordering_peer 127.0.0.1/32 scram-sha-256\n" . $old;
	close $out;
	return;
}

=pod

=head2 Roles

role_of($name) - the role node $name logs in to its peers as (orderer_nI
with per-node roles, else the operating system user); password_of($name)
and passfile_of($name) - its password and password file (per-node roles).

ensure_roles($node) - with per-node roles, creates on $node (if it runs and
has the extension) every node's role that it lacks; add_node, start_node
and create_channel call it.

=cut

sub role_of
{
	my ($self, $n) = @_;
	my $name = $self->name_of($n);
	return "orderer_$name" if $self->{roles} eq 'per-node';
	return getpwuid($<) // 'postgres';
}

sub password_of
{
	my ($self, $n) = @_;
	return 'secret-of-' . $self->role_of($n);
}

sub passfile_of
{
	my ($self, $n) = @_;
	return File::Spec->catfile($self->{tmp}->dirname,
		$self->name_of($n) . '.pgpass');
}

sub ensure_roles
{
	my ($self, $n) = @_;
	return unless $self->{roles} eq 'per-node' && $self->is_up($n);
	my $has = $self->query($n,
		"SELECT count(*) FROM pg_roles WHERE rolname = 'ordering_peer'");
	return unless $has->{ok} && $has->{stdout} eq '1';
	my $sql = '';
	for my $name ($self->names)
	{
		my $role = $self->role_of($name);
		$sql .= "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
		  . lit($role)
		  . ") THEN CREATE ROLE $role LOGIN PASSWORD "
		  . lit($self->password_of($name))
		  . " IN ROLE ordering_peer; END IF; END \$\$;\n";
	}
	$self->safe_query($n, $sql);
	return;
}

=pod

=head2 Accessors

node($name) - the PostgreSQL::Test::Cluster; names() - every node name;
name_of($node) - the ordering name of a node; is_up($name) - whether this
helper believes the server runs.

=cut

sub node
{
	my ($self, $n) = @_;
	return $n if ref $n;
	my $node = $self->{node}{$n};
	croak "no node named $n" unless $node;
	return $node;
}

sub name_of
{
	my ($self, $n) = @_;
	return ref $n ? $n->{ordering_name} : $n;
}

sub names { return @{ $_[0]->{nodes} }; }

sub is_up
{
	my ($self, $n) = @_;
	return defined $self->node($n)->{_pid};
}

sub up_names
{
	my ($self) = @_;
	return grep { $self->is_up($_) } $self->names;
}

=pod

=head2 $oc->conninfo($name)

The conninfo the other workers use to reach this node (TCP on 127.0.0.1),
naming the role this node logs in as (role_of).

=cut

sub conninfo
{
	my ($self, $n) = @_;
	my $node = $self->node($n);
	my $conninfo = sprintf('host=127.0.0.1 port=%d dbname=postgres user=%s',
		$node->port, $self->role_of($n));
	$conninfo .= " $self->{conninfo_extra}" if $self->{conninfo_extra} ne '';
	return $conninfo;
}

=pod

=head2 $oc->consenters_json(@names)

The consenters document of create_channel: {"n1": "host=... port=...", ...}.

=cut

sub consenters_json
{
	my ($self, @names) = @_;
	my %doc = map { ($self->name_of($_) => $self->conninfo($_)) } @names;
	return $json->encode(\%doc);
}

# SQL literal quoting.
sub lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub bytea_literal
{
	my ($bytes) = @_;
	return "'\\x" . unpack('H*', $bytes) . "'::bytea";
}

=pod

=head2 Running SQL

query($node, $sql, %opts) returns a hashref {ok, stdout, stderr, sqlstate,
message} and never dies (a node that is down gives ok => 0).  psql runs with
VERBOSITY=verbose so that the SQLSTATE of an error is in its message.
opts: timeout (seconds, default the module's), set => {guc => value},
user => a role to log in as instead of the superuser (over the Unix socket,
trust: e.g. role_of('n3') to act as node n3's peer role).

safe_query($node, $sql) returns stdout or dies.

=cut

sub query
{
	my ($self, $n, $sql, %opts) = @_;
	my $node = $self->node($n);
	my $set = '';
	if ($opts{set})
	{
		for my $k (sort keys %{ $opts{set} })
		{
			$set .= "SET $k = " . lit($opts{set}{$k}) . ";\n";
		}
	}
	my ($out, $err, $timed_out) = ('', '', 0);
	my %as;
	$as{connstr} = $node->connstr('postgres') . " user=$opts{user}"
	  if defined $opts{user};
	my $ret = eval {
		$node->psql(
			'postgres', $set . $sql,
			stdout => \$out,
			stderr => \$err,
			timeout => $opts{timeout} // $DEFAULT_TIMEOUT,
			timed_out => \$timed_out,
			extra_params => [ '-v', 'VERBOSITY=verbose' ],
			%as);
	};
	if ($@)
	{
		return { ok => 0, stdout => '', stderr => "$@", sqlstate => '',
			message => "psql failed: $@" };
	}
	my $r = { ok => (!$timed_out && defined $ret && $ret == 0) ? 1 : 0,
		stdout => $out, stderr => $err, timed_out => $timed_out };
	if (!$r->{ok})
	{
		if ($err =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*([^\n]*)/)
		{
			$r->{sqlstate} = $1;
			$r->{message} = $2;
		}
		else
		{
			$r->{sqlstate} = '';
			$r->{message} = $timed_out ? 'psql timed out' : $err;
		}
		($r->{hint}) = $err =~ /HINT:\s+([^\n]*)/;
	}
	return $r;
}

sub safe_query
{
	my ($self, $n, $sql, %opts) = @_;
	my $r = $self->query($n, $sql, %opts);
	croak sprintf("query on %s failed: %s\n%s", $self->name_of($n),
		$r->{stderr}, $sql)
	  unless $r->{ok};
	return $r->{stdout};
}

=pod

=head2 $oc->wait_until($description, $timeout, sub { ... })

Calls the sub every 100 ms until it returns true or the deadline passes;
returns the sub's last value (false on timeout, after a diag).

=cut

sub wait_until
{
	my ($self, $desc, $timeout, $cond) = @_;
	$timeout //= $DEFAULT_TIMEOUT;
	my $deadline = time + $timeout;
	while (1)
	{
		my $v = $cond->();
		return $v if $v;
		if (time > $deadline)
		{
			diag("timed out after ${timeout}s waiting for: $desc");
			return $v;
		}
		usleep(100_000);
	}
}

=pod

logged($n, $re, $offset, $timeout): waits until node $n's log after byte
$offset matches $re; true, or false after a diag on timeout (the
cluster's wait_for_log dies instead, so a build that never logs it would
not reach the test's other checks).

=cut

sub logged
{
	my ($self, $n, $re, $offset, $timeout) = @_;
	my $log = $self->node($n)->logfile;
	return $self->wait_until(
		$self->name_of($n) . " logs $re",
		$timeout,
		sub { PostgreSQL::Test::Utils::slurp_file($log, $offset) =~ $re });
}

=pod

=head2 Channels

create_channel($channel, \@names, \%config) calls ordering.create_channel on
the first node of the list, then waits until every other consenter has the
channel (the worker of each joins when it hears from the others).  Returns
the stdout of create_channel (the channel name).  Dies on failure.  With
on_all => 1 (or $ENV{ORDERING_TAP_CREATE_ON_ALL}) it calls create_channel on
every consenter instead (each writes the same genesis block).

=cut

sub create_channel
{
	my ($self, $channel, $names, $config, %opts) = @_;
	$config //= {};
	my @names = map { $self->name_of($_) } @$names;
	$self->ensure_roles($_) for grep { $self->is_up($_) } @names;
	my $sql = sprintf('SELECT ordering.create_channel(%s, %s::jsonb, %s::jsonb)',
		lit($channel), lit($self->consenters_json(@names)),
		lit($json->encode($config)));
	my $out = $self->safe_query($names[0], $sql);
	# Until the other consenters join by themselves, ORDERING_TAP_CREATE_ON_ALL=1
	# creates the channel (the same genesis block) on each of them.
	if ($opts{on_all} // $ENV{ORDERING_TAP_CREATE_ON_ALL})
	{
		$self->safe_query($_, $sql) for @names[ 1 .. $#names ];
	}
	my $ok = $self->wait_for_channel($channel, \@names, $opts{timeout});
	croak "channel $channel did not appear on every consenter" unless $ok;
	return $out;
}

=pod

wait_for_channel($channel, \@names, $timeout): every node has the channel in
ordering.channels and a row in ordering.status.

=cut

sub wait_for_channel
{
	my ($self, $channel, $names, $timeout) = @_;
	my %seen;
	return $self->wait_until(
		"channel $channel on " . join(',', map { $self->name_of($_) } @$names),
		$timeout,
		sub {
			for my $n (@$names)
			{
				next if $seen{ $self->name_of($n) };
				my $r = $self->query($n,
					"SELECT count(*) FROM ordering.channels WHERE channel = "
					  . lit($channel)
					  . " AND EXISTS (SELECT 1 FROM ordering.status WHERE channel = "
					  . lit($channel) . ")");
				return 0 unless $r->{ok} && $r->{stdout} eq '1';
				$seen{ $self->name_of($n) } = 1;
			}
			return 1;
		});
}

=pod

=head2 Quiet channels

all_quiet(\@channels, \@names) is true when every listed node answers and
reports every listed channel quiesced.

=cut

sub all_quiet
{
	my ($self, $channels, $names) = @_;
	my $list = join(', ', map { lit($_) } @$channels);
	for my $n (@$names)
	{
		my $r = $self->query($n,
			"SELECT count(*) FROM ordering.status WHERE quiesced AND channel IN ($list)");
		return 0 unless $r->{ok} && $r->{stdout} eq scalar(@$channels);
	}
	return 1;
}

=pod

=head2 Cutting a node off

cut_off($name, \@others) keeps the others' peer roles from logging in to
$name (they are NOLOGIN there, their sessions ended) and returns whether
none is left within 60 s; let_in($name, \@others) lets them in again.
Needs per-node roles.  $name still reaches the others.

=cut

sub _peer_roles_of
{
	my ($self, $others) = @_;
	return map { $self->role_of($_) } @$others;
}

sub cut_off
{
	my ($self, $name, $others) = @_;
	my @roles = $self->_peer_roles_of($others);
	my $list = join(', ', map { lit($_) } @roles);
	$self->safe_query($name, "ALTER ROLE $_ NOLOGIN") for @roles;
	return $self->wait_until(
		"no session of @roles left on $name",
		60,
		sub {
			$self->safe_query($name,
				"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename IN ($list)"
			);
			return $self->safe_query($name,
				"SELECT count(*) FROM pg_stat_activity WHERE usename IN ($list)") eq
			  '0';
		});
}

=pod

leave_behind($leader, $lagger, \@others, $channel, \@acked) cuts $lagger
off, orders 200 more blocks of $channel on $leader (into @acked) and waits
until the leader holds a snapshot more than 64 blocks past the lagger's
chain, so that letting it in again starts a catch-up in a background
worker; each step a test.  Returns the lagger's last block.

=cut

sub leave_behind
{
	my ($self, $leader, $lagger, $others, $channel, $acked) = @_;
	Test::More::ok($self->cut_off($lagger, $others),
		"$lagger is cut off from its peers");
	my $lag_block = $self->last_block($lagger, $channel);
	Test::More::ok(
		$self->fill_to($leader, $channel, $lag_block + 200,
			leader => $leader, acked => $acked),
		"$channel ordered 200 more blocks without the follower");
	Test::More::ok(
		$self->wait_until(
			"the leader's snapshot of $channel is past block " . ($lag_block + 64),
			60,
			sub {
				$self->safe_query($leader,
					"SELECT (convert_from(snapshot_data, 'UTF8')::jsonb->>'last_block')::bigint > "
					  . ($lag_block + 64)
					  . " FROM ordering.raft_state WHERE channel = "
					  . lit($channel)) eq 't';
			}),
		'the leader has a snapshot more than 64 blocks ahead of the follower');
	return $lag_block;
}

sub let_in
{
	my ($self, $name, $others) = @_;
	$self->safe_query($name, "ALTER ROLE $_ LOGIN")
	  for $self->_peer_roles_of($others);
}

=pod

quiet_neighbours(\@channels, \@names) creates the channels on the listed
nodes, orders a first transaction on each and waits until every node
reports them all quiesced (each step a passing test); returns the node that
leads the most of them (ties by name).

leadership($like, \@names) is each listed node's view of the channels
whose name is LIKE $like, one line per node: term, leader and leader
changes of each.  Two equal views mean no channel changed leader or term.

=cut

sub quiet_neighbours
{
	my ($self, $channels, $names) = @_;
	my %led;
	$self->create_channel($_, $names, {}) for @$channels;
	for my $ch (@$channels)
	{
		my $l = $self->wait_for_leader($ch, $names);
		Test::More::ok(defined $l, "$ch has a leader") or croak "$ch: no leader";
		$led{$l}++;
		my $r = $self->submit($l, $ch, "first $ch");
		Test::More::ok($r->{ok}, "a first transaction is ordered on $ch")
		  or Test::More::diag($r->{message});
	}
	Test::More::ok(
		$self->wait_until(
			'every node reports the channels quiesced',
			$DEFAULT_TIMEOUT,
			sub { $self->all_quiet($channels, $names) }),
		'the channels are quiet on every node');
	my ($most) = sort { $led{$b} <=> $led{$a} || $a cmp $b } keys %led;
	return $most;
}

sub leadership
{
	my ($self, $like, $names) = @_;
	return join(
		"\n",
		map {
			"$_: "
			  . $self->safe_query($_,
				"SELECT string_agg(channel || ' term ' || term || ' leader ' || leader"
				  . " || ' changes ' || leader_changes, ', ' ORDER BY channel)"
				  . " FROM ordering.status WHERE channel LIKE "
				  . lit($like))
		} @$names);
}

=pod

=head2 Status and leaders

status($node, $channel) returns the node's ordering.status row as a hashref
(undef when the node does not answer or has no row).

wait_for_leader($channel, \@names, $timeout) waits until every listed node
answers, all name the same leader, that leader is one of them and reports
is_leader itself; returns the leader's name (and in list context also the
term), undef on timeout.  Pass only the nodes that are up.

=cut

sub status
{
	my ($self, $n, $channel) = @_;
	my $r = $self->query($n,
		"SELECT row_to_json(s) FROM ordering.status s WHERE channel = "
		  . lit($channel),
		timeout => 20);
	return undef unless $r->{ok} && $r->{stdout} ne '';
	my $row = eval { $json->decode((split /\n/, $r->{stdout})[0]) };
	return undef unless $row;
	# leader may be a node name or a raft id: normalize to the name.
	if (defined $row->{leader} && $row->{leader} =~ /^\d+$/)
	{
		my $name = $self->query($n,
			"SELECT node FROM ordering.consenters WHERE channel = "
			  . lit($channel)
			  . " AND raft_id = $row->{leader}");
		$row->{leader} = $name->{stdout}
		  if $name->{ok} && $name->{stdout} ne '';
		$row->{leader} = undef if $row->{leader} eq '0';
	}
	$row->{is_leader} = ($row->{is_leader} && $row->{is_leader} ne 'f') ? 1 : 0
	  if exists $row->{is_leader};
	return $row;
}

=pod

wait_for_membership($node, $channel, $test, $timeout): waits until the
node's status row of the channel passes $test (a sub given the row, undef
while there is none), e.g. sub { $_[0] && $_[0]{membership} eq 'consenter' }.

=cut

sub wait_for_membership
{
	my ($self, $n, $channel, $test, $timeout) = @_;
	return $self->wait_until(
		$self->name_of($n) . "'s membership of $channel",
		$timeout, sub { $test->($self->status($n, $channel)) });
}

sub _status_line
{
	my ($st) = @_;
	return 'no answer' unless $st;
	return join(' ',
		map { "$_=" . ($st->{$_} // 'NULL') }
		  grep { exists $st->{$_} }
		  qw(membership role term leader is_leader commit_index applied_index
		  last_block quiesced recovery_target recovery last_error));
}

sub wait_for_leader
{
	my ($self, $channel, $names, $timeout) = @_;
	my @names = map { $self->name_of($_) } @$names;
	my ($leader, $term, %last);
	my $ok = $self->wait_until(
		"a leader of $channel agreed by " . join(',', @names),
		$timeout,
		sub {
			%last = ();
			for my $n (@names)
			{
				$last{$n} = $self->status($n, $channel);
			}
			for my $n (@names)
			{
				return 0 unless $last{$n} && defined $last{$n}{leader}
				  && $last{$n}{leader} ne '';
			}
			my %leaders = map { ($last{$_}{leader} => 1) } @names;
			return 0 unless keys %leaders == 1;
			my ($l) = keys %leaders;
			return 0 unless $last{$l} && $last{$l}{is_leader};
			$leader = $l;
			$term = $last{$l}{term};
			return 1;
		});
	if (!$ok)
	{
		diag("  $_: " . _status_line($last{$_})) for @names;
		return;
	}
	return wantarray ? ($leader, $term) : $leader;
}

=pod

leader_node($channel, \@names) - the PostgreSQL::Test::Cluster of the
agreed leader (waits like wait_for_leader), or undef.

=cut

sub leader_node
{
	my ($self, $channel, $names, $timeout) = @_;
	$names //= [ $self->up_names ];
	my $l = $self->wait_for_leader($channel, $names, $timeout);
	return defined $l ? $self->node($l) : undef;
}

=pod

followers($channel, $leader, \@names) - the listed names other than the
leader.

=cut

sub followers
{
	my ($self, $leader, $names) = @_;
	return grep { $_ ne $leader } map { $self->name_of($_) } @$names;
}

=pod

=head2 Submitting

submit($node, $channel, $payload, $id, %opts) calls ordering.submit_tx with
the payload's bytes and the id (undef: the default id); returns a hashref:
{ok => 1, tx_id, block_number, position} or {ok => 0, sqlstate, message,
hint}.  opts: submit_timeout (ms: SET ordering.submit_timeout first),
timeout (seconds for psql).

submit_many($node, $channel, \@payloads, %opts) calls ordering.submit_txs;
returns {ok => 1, rows => [{tx_id, block_number, position}, ...]} or an
error as above.

=cut

sub _parse_rows
{
	my ($stdout) = @_;
	my @rows;
	for my $line (split /\n/, $stdout)
	{
		next if $line eq '';
		my ($tx_id, $block, $pos) = split /\|/, $line;
		push @rows, { tx_id => $tx_id, block_number => $block, position => $pos };
	}
	return @rows;
}

sub submit
{
	my ($self, $n, $channel, $payload, $id, %opts) = @_;
	my $sql = sprintf(
		'SELECT tx_id, block_number, position FROM ordering.submit_tx(%s, %s%s)',
		lit($channel), bytea_literal($payload),
		defined $id ? ', ' . lit($id) : '');
	my %set;
	$set{'ordering.submit_timeout'} = $opts{submit_timeout}
	  if defined $opts{submit_timeout};
	my $r = $self->query($n, $sql, set => \%set, timeout => $opts{timeout});
	return $r unless $r->{ok};
	my @rows = _parse_rows($r->{stdout});
	return { ok => 0, sqlstate => '', message => "submit_tx returned "
		  . scalar(@rows) . " rows: $r->{stdout}" }
	  unless @rows == 1;
	return { ok => 1, %{ $rows[0] } };
}

=pod

submit_ok($name, $channel, $payload, $id, \@acked, $what): submit(), as a
passing test named "submit on $name $what"; an acknowledged result is
pushed on @acked (for assert_acknowledged_present).  Returns the result.

=cut

sub submit_ok
{
	my ($self, $n, $channel, $payload, $id, $acked, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $r = $self->submit($n, $channel, $payload, $id);
	Test::More::ok($r->{ok}, "submit on $n $what")
	  or Test::More::diag("$r->{sqlstate}: $r->{message}");
	push @$acked, $r if $r->{ok};
	return $r;
}

sub submit_many
{
	my ($self, $n, $channel, $payloads, %opts) = @_;
	my $sql = sprintf(
		'SELECT tx_id, block_number, position FROM ordering.submit_txs(%s, ARRAY[%s]::bytea[])',
		lit($channel), join(', ', map { bytea_literal($_) } @$payloads));
	my %set;
	$set{'ordering.submit_timeout'} = $opts{submit_timeout}
	  if defined $opts{submit_timeout};
	my $r = $self->query($n, $sql, set => \%set, timeout => $opts{timeout});
	return $r unless $r->{ok};
	my @rows = _parse_rows($r->{stdout});
	return { ok => 0, sqlstate => '', message => "submit_txs returned "
		  . scalar(@rows) . " rows for " . scalar(@$payloads) . " payloads" }
	  unless @rows == @$payloads;
	return { ok => 1, rows => \@rows };
}

=pod

fill_to($node, $channel, $target, %opts): submits batches of at most 10
payloads on $node (submit_txs) until the last block of opts{leader} (default
$node) is at least $target; payloads are "$opts{prefix} NNNNNN " and 180
'x' bytes.  The acknowledged rows (as submit_many's) are pushed onto
opts{acked} (an arrayref) when given.  Returns true, or false after a diag
when a submission fails or the leader does not answer.

=cut

my $fill_seq = 0;

sub fill_to
{
	my ($self, $n, $channel, $target, %opts) = @_;
	my $leader = $opts{leader} // $n;
	my $prefix = $opts{prefix} // $channel;
	my $acked = $opts{acked} // [];
	while (1)
	{
		my $last = $self->last_block($leader, $channel);
		if (!defined $last)
		{
			diag('node ' . $self->name_of($leader) . ' does not answer');
			return 0;
		}
		return 1 if $last >= $target;
		my $count = $target - $last < 10 ? $target - $last : 10;
		my @payloads =
		  map { sprintf('%s %06d ', $prefix, ++$fill_seq) . ('x' x 180) } 1 .. $count;
		my $r = $self->submit_many($n, $channel, \@payloads);
		if (!$r->{ok})
		{
			diag('submit_txs of ' . scalar(@payloads) . ' payloads on '
				  . $self->name_of($n) . ": $r->{sqlstate}: $r->{message}");
			return 0;
		}
		push @$acked, @{ $r->{rows} };
	}
}

=pod

=head2 Admin calls

admin($channel, \@names, $sql, %opts) runs $sql (e.g. "SELECT
ordering.add_consenter('ch1', 'n4', '...')") on the current leader among
@names, retrying on another node while the answer is "not the leader"
(SQLSTATE 55000 with "leader" in the message) until the deadline; returns the
query hashref of the last attempt, with {node} = where it ran.

=cut

sub admin
{
	my ($self, $channel, $names, $sql, %opts) = @_;
	my $deadline = time + ($opts{timeout} // $DEFAULT_TIMEOUT);
	my $r;
	while (1)
	{
		my $leader = $self->wait_for_leader($channel, $names,
			$opts{timeout} // $DEFAULT_TIMEOUT);
		return { ok => 0, sqlstate => '', message => 'no leader' }
		  unless defined $leader;
		my %set;
		$set{'ordering.submit_timeout'} = $opts{submit_timeout}
		  if defined $opts{submit_timeout};
		$r = $self->query($leader, $sql, set => \%set);
		$r->{node} = $leader;
		return $r if $r->{ok};
		return $r
		  unless ($r->{sqlstate} // '') eq '55000'
		  && ($r->{message} // '') =~ /not the leader/i
		  && time < $deadline;
		usleep(200_000);
	}
}

=pod

=head2 Processes

stop_node($name, $mode) (default 'immediate'), start_node($name),
kill9_node($name): SIGKILL to the postmaster and every process it started
(the worker and backends too, as when a machine dies), then waits until they
are gone; returns the time of the kill.

=cut

sub stop_node
{
	my ($self, $n, $mode) = @_;
	$self->node($n)->stop($mode // 'immediate');
	return;
}

sub start_node
{
	my ($self, $n) = @_;
	$self->node($n)->start;
	$self->ensure_roles($n);
	return;
}

=pod

=head2 Storage faults

recreate_node($name) - what an operator does after losing a disk: stops
the node if it runs, deletes its data directory, initdb again with the same
settings (same node name), starts it and creates the extension (unless
create_extension is off).

copy_datadir($name) - a copy of the node's data directory (the node must
be stopped); returns its path.  restore_datadir($name, $path) - replaces
the (stopped) node's data directory with that copy.

crashes($name, $offset) - the lines of the node's log from byte $offset on
that say a server process crashed (empty when none).

=cut

sub recreate_node
{
	my ($self, $n) = @_;
	my $name = $self->name_of($n);
	my $node = $self->node($name);
	$node->stop('immediate') if defined $node->{_pid};
	File::Path::rmtree($node->data_dir);
	$node->init;
	$self->_configure($name);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION ordering')
	  if $self->{create_extension};
	$self->ensure_roles($_) for $self->up_names;
	return $node;
}

sub copy_datadir
{
	my ($self, $n) = @_;
	my $node = $self->node($n);
	croak 'copy_datadir: ' . $self->name_of($n) . ' runs' if defined $node->{_pid};
	my $copy = File::Temp::tempdir('datadir_XXXX', DIR => $self->{tmp}->dirname);
	PostgreSQL::Test::RecursiveCopy::copypath($node->data_dir, "$copy/data");
	return "$copy/data";
}

sub restore_datadir
{
	my ($self, $n, $copy) = @_;
	my $node = $self->node($n);
	croak 'restore_datadir: ' . $self->name_of($n) . ' runs' if defined $node->{_pid};
	File::Path::rmtree($node->data_dir);
	PostgreSQL::Test::RecursiveCopy::copypath($copy, $node->data_dir);
	chmod(0700, $node->data_dir);
	return;
}

sub crashes
{
	my ($self, $n, $offset) = @_;
	my $log = PostgreSQL::Test::Utils::slurp_file($self->node($n)->logfile, $offset // 0);
	return join("\n", grep { /terminated by signal|was terminated by|PANIC|TRAP:/ } split /\n/, $log);
}

sub _children_of
{
	my ($pid) = @_;
	my @kids;
	opendir(my $dh, '/proc') or return ();
	for my $p (grep { /^\d+$/ } readdir $dh)
	{
		open(my $fh, '<', "/proc/$p/stat") or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat;
		# pid (comm) state ppid ...: comm may hold spaces and parentheses
		if ($stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $pid)
		{
			push @kids, $p;
		}
	}
	closedir $dh;
	return @kids;
}

# A process exists (zombies included: PostgreSQL's postmaster.pid check,
# kill(pid, 0), sees a killed postmaster that PID 1 has not reaped yet as
# running, and a restart would fail).
sub _alive
{
	my ($pid) = @_;
	return kill(0, $pid);
}

sub kill9_node
{
	my ($self, $n) = @_;
	my $node = $self->node($n);
	my $pid = $node->{_pid};
	croak "node " . $self->name_of($n) . " is not running" unless defined $pid;
	my @kids = _children_of($pid);
	$node->kill9;
	kill 'KILL', @kids if @kids;
	my $killed_at = time;
	my @all = ($pid, @kids);
	$self->wait_until('processes of ' . $self->name_of($n) . ' gone', 60,
		sub { return !grep { _alive($_) } @all; });
	return $killed_at;
}

=pod

=head2 Chains

chain_of($node, $channel) - arrayref of [number, hex hash], in order.
last_block($node, $channel) - the highest block number (undef if the node
does not answer, -1 if it has none).
wait_for_block($channel, \@names, $number, $timeout) - every node has a block
>= $number.

=cut

sub chain_of
{
	my ($self, $n, $channel) = @_;
	my $out = $self->safe_query($n,
		"SELECT number, encode(hash, 'hex') FROM ordering.blocks WHERE channel = "
		  . lit($channel)
		  . " ORDER BY number");
	return [ map { [ split /\|/ ] } grep { $_ ne '' } split /\n/, $out ];
}

sub last_block
{
	my ($self, $n, $channel) = @_;
	my $r = $self->query($n,
		"SELECT coalesce(max(number), -1) FROM ordering.blocks WHERE channel = "
		  . lit($channel),
		timeout => 20);
	return $r->{ok} ? $r->{stdout} : undef;
}

sub wait_for_block
{
	my ($self, $channel, $names, $number, $timeout) = @_;
	my %last;
	my $ok = $self->wait_until(
		"block $number of $channel on "
		  . join(',', map { $self->name_of($_) } @$names),
		$timeout,
		sub {
			for my $n (@$names)
			{
				my $b = $self->last_block($n, $channel);
				$last{ $self->name_of($n) } = $b;
				return 0 unless defined $b && $b >= $number;
			}
			return 1;
		});
	diag("  last blocks: "
		  . join(', ', map { "$_=" . ($last{$_} // 'no answer') } sort keys %last))
	  unless $ok;
	return $ok;
}

=pod

wait_for_same_head($channel, \@names, $timeout): every node has the same
highest block number and hash; returns that number, or undef.

=cut

sub _head
{
	my ($self, $n, $channel) = @_;
	my $r = $self->query($n,
		"SELECT number || ':' || encode(hash, 'hex') FROM ordering.blocks WHERE channel = "
		  . lit($channel)
		  . " ORDER BY number DESC LIMIT 1",
		timeout => 20);
	return $r->{ok} ? $r->{stdout} : undef;
}

sub wait_for_same_head
{
	my ($self, $channel, $names, $timeout) = @_;
	my %head;
	my $ok = $self->wait_until(
		"the same last block of $channel on "
		  . join(',', map { $self->name_of($_) } @$names),
		$timeout,
		sub {
			%head = ();
			for my $n (@$names)
			{
				$head{ $self->name_of($n) } = $self->_head($n, $channel);
				return 0 unless defined $head{ $self->name_of($n) }
				  && $head{ $self->name_of($n) } ne '';
			}
			my %distinct = map { ($_ => 1) } values %head;
			return keys %distinct == 1;
		});
	if (!$ok)
	{
		diag("  heads: "
			  . join(', ', map { "$_=" . ($head{$_} // 'no answer') } sort keys %head));
		return undef;
	}
	my ($v) = values %head;
	return (split /:/, $v)[0];
}

=pod

=head2 Assertions

verify_chain_sql($channel) - one SQL query, returning one text value: ''
when the channel's chain on the node verifies (test/verify_chain.sql), else one line per
bad block.  Checks: numbers 0..N without gaps; block 0 is a configuration
block whose previous_hash is 32 zero bytes; previous_hash(N) = hash(N-1);
data_hash = sha256(sha256(config)) of a configuration block (no
transactions), = sha256(string_agg(sha256(convert_to(tx_id, 'UTF8') ||
'\x00' || payload) ORDER BY position)) of a normal block, whose positions
are 0..tx_count-1 and which is not empty;
hash = sha256(int8send(number) || previous_hash || data_hash).

=cut

sub verify_chain_sql
{
	my ($channel) = @_;
	my $file = File::Spec->catfile(File::Basename::dirname(__FILE__),
		'..', 'verify_chain.sql');
	my $sql = PostgreSQL::Test::Utils::slurp_file($file);
	$sql =~ s/^--.*\n//mg;    # its comments
	$sql =~ s/;\s*\z//;       # one statement, for psql -c
	my $ch = lit($channel);
	$sql =~ s/:'ch'/$ch/g;
	return $sql;
}

=pod

assert_chains_identical_and_verified(\@names, $channel, %opts): waits until
every node has the same last block (opts timeout), then asserts (several
Test::More tests) that each node's chain verifies in plain SQL, that
ordering.verify_chain agrees where it exists, and that all nodes hold the
same blocks (number, hash) and the same transactions (block, position, tx_id,
payload).  Returns true when every assertion passed.

=cut

sub assert_chains_identical_and_verified
{
	my ($self, $names, $channel, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @names = map { $self->name_of($_) } @$names;
	my $all = 1;
	my $cut = sub { my $t = shift // ''; return length $t > 3000 ? substr($t, 0, 3000) . "\n..." : $t; };
	my $head = $self->wait_for_same_head($channel, \@names, $opts{timeout});
	ok(defined $head,
		"$channel: " . join(',', @names) . " reach the same last block"
		  . (defined $head ? " ($head)" : '')) or $all = 0;

	my ($ref_blocks, $ref_txs, $ref_name);
	for my $n (@names)
	{
		my $bad = $self->query($n, verify_chain_sql($channel));
		ok($bad->{ok} && $bad->{stdout} eq '',
			"$channel: chain on $n verifies")
		  or do { $all = 0; diag($cut->($bad->{ok} ? $bad->{stdout} : $bad->{stderr})) };

		my $vc = $self->query($n,
			"SELECT to_regproc('ordering.verify_chain') IS NOT NULL");
		if ($vc->{ok} && $vc->{stdout} eq 't')
		{
			my $r = $self->query($n,
				"SELECT ok::text || '|' || coalesce(first_bad_block::text, '') || '|' || coalesce(detail, '') FROM ordering.verify_chain("
				  . lit($channel) . ")");
			ok($r->{ok} && $r->{stdout} =~ /^true\|/,
				"$channel: ordering.verify_chain on $n says ok")
			  or do { $all = 0; diag($r->{ok} ? $r->{stdout} : $r->{stderr}) };
		}

		my $blocks = $self->query($n,
			"SELECT count(*) || ' blocks, ' || md5(coalesce(string_agg(number || ':' || encode(hash, 'hex'), ',' ORDER BY number), '')) FROM ordering.blocks WHERE channel = "
			  . lit($channel));
		my $txs = $self->query($n,
			"SELECT count(*) || ' txs, ' || md5(coalesce(string_agg(block_number || ':' || position || ':' || encode(convert_to(tx_id, 'UTF8'), 'hex') || ':' || encode(sha256(payload), 'hex'), ',' ORDER BY block_number, position), '')) FROM ordering.transactions WHERE channel = "
			  . lit($channel));
		if (!defined $ref_name)
		{
			$ref_name = $n;
			$ref_blocks = $blocks->{stdout};
			$ref_txs = $txs->{stdout};
			ok($blocks->{ok} && $txs->{ok},
				"$channel: read chain of $n ($ref_blocks, $ref_txs)") or $all = 0;
			next;
		}
		my $same_blocks = is($blocks->{stdout}, $ref_blocks,
			"$channel: blocks on $n identical to $ref_name");
		my $same_txs = is($txs->{stdout}, $ref_txs,
			"$channel: transactions on $n identical to $ref_name");
		next if $same_blocks && $same_txs;
		$all = 0;
		diag($self->first_difference($channel, $ref_name, $n));
	}
	return $all;
}

=pod

first_difference($channel, $a, $b): a line naming the first block whose
number, hash or transactions differ between nodes $a and $b (or that only
one of them has), for a test's diagnostics.

=cut

sub _block_digests
{
	my ($self, $n, $channel) = @_;
	my $out = $self->safe_query($n,
		"SELECT b.number, encode(b.hash, 'hex'), md5(coalesce(string_agg("
		  . "t.position || ':' || encode(convert_to(t.tx_id, 'UTF8'), 'hex') || ':' || encode(sha256(t.payload), 'hex'),"
		  . " ',' ORDER BY t.position), '')) FROM ordering.blocks b"
		  . " LEFT JOIN ordering.transactions t ON t.channel = b.channel"
		  . " AND t.block_number = b.number WHERE b.channel = "
		  . lit($channel)
		  . " GROUP BY b.number, b.hash ORDER BY b.number");
	return [ map { [ split /\|/ ] } grep { $_ ne '' } split /\n/, $out ];
}

sub first_difference
{
	my ($self, $channel, $a, $b) = @_;
	my $da = $self->_block_digests($a, $channel);
	my $db = $self->_block_digests($b, $channel);
	my $n = @$da > @$db ? scalar @$da : scalar @$db;
	for my $i (0 .. $n - 1)
	{
		my ($x, $y) = ($da->[$i], $db->[$i]);
		return "$channel: block $x->[0] is on $a only" if !defined $y;
		return "$channel: block $y->[0] is on $b only" if !defined $x;
		return "$channel: block numbers differ at position $i: $x->[0] on $a, $y->[0] on $b"
		  if $x->[0] != $y->[0];
		return "$channel: first differing block is $x->[0]: hash $x->[1] on $a, $y->[1] on $b"
		  if $x->[1] ne $y->[1];
		return "$channel: first differing block is $x->[0]: its transactions differ between $a and $b"
		  if $x->[2] ne $y->[2];
	}
	return "$channel: every block agrees between $a and $b now (the chains moved while compared)";
}

=pod

assert_acknowledged_present(\@names, $channel, \@acked, %opts): @acked holds
tx ids, or hashrefs {tx_id, block_number, position} as submit() returns.
Waits (bounded) until every node has each of them, then asserts per node
that each appears exactly once, at the acknowledged block and position when
known.

=cut

sub _array_literal
{
	my (@v) = @_;
	return 'ARRAY[' . join(',', map { lit($_) } @v) . ']';
}

sub assert_acknowledged_present
{
	my ($self, $names, $channel, $acked, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @acked = map { ref $_ ? $_ : { tx_id => $_ } } @$acked;
	my @ids = map { $_->{tx_id} } @acked;
	my @blocks = map { $_->{block_number} // '' } @acked;
	my @positions = map { $_->{position} // '' } @acked;
	my $sql =
	    "SELECT coalesce(string_agg(a.id || ' x' || count_of || coalesce(' at ' || places, ''), ', '), '')\n"
	  . "FROM (SELECT a.id, a.b, a.p, count(t.tx_id) AS count_of,\n"
	  . "             string_agg(t.block_number || '/' || t.position, ' ') AS places,\n"
	  . "             bool_and(a.b = '' OR (t.block_number::text = a.b AND t.position::text = a.p)) AS same_place\n"
	  . "      FROM unnest("
	  . _array_literal(@ids) . "::text[], "
	  . _array_literal(@blocks) . "::text[], "
	  . _array_literal(@positions)
	  . "::text[]) AS a(id, b, p)\n"
	  . "      LEFT JOIN ordering.transactions t ON t.channel = "
	  . lit($channel)
	  . " AND t.tx_id = a.id\n"
	  . "      GROUP BY a.id, a.b, a.p) a\n"
	  . "WHERE count_of <> 1 OR NOT coalesce(same_place, false)";
	my $all = 1;
	for my $n (map { $self->name_of($_) } @$names)
	{
		my $last;
		$self->wait_until("acknowledged transactions on $n", $opts{timeout},
			sub {
				$last = $self->query($n, $sql);
				return $last->{ok} && $last->{stdout} eq '';
			});
		my $bad = $last->{ok} ? $last->{stdout} : $last->{stderr};
		$bad = substr($bad, 0, 2000) . '...' if length $bad > 2000;
		ok($last->{ok} && $last->{stdout} eq '',
			"$channel: " . scalar(@ids) . " acknowledged transactions on $n, each exactly once where acknowledged")
		  or do { $all = 0; diag("missing, duplicated or moved: $bad") };
	}
	return $all;
}

=pod

config_changes($node, $channel) - the "change" of every configuration block,
in block order, as [number, change].

=cut

sub config_changes
{
	my ($self, $n, $channel) = @_;
	my $out = $self->safe_query($n,
		"SELECT number, convert_from(config, 'UTF8')::jsonb ->> 'change' FROM ordering.blocks WHERE channel = "
		  . lit($channel)
		  . " AND is_config ORDER BY number");
	return [ map { [ split /\|/, $_, 2 ] } grep { $_ ne '' } split /\n/, $out ];
}

=pod

=head2 Load

start_load($node, $channel, %opts) starts a shell loop submitting
transactions one at a time with psql (ids "$prefix-1", "$prefix-2", ...,
payload "payload $id"), each with SET ordering.submit_timeout =
opts{submit_timeout} (default 5000 ms).  Every acknowledged transaction is
appended to a file as it is acknowledged.  Returns a handle for
load_acked($h) (the acknowledged so far, as hashrefs like submit's) and
stop_load($h) (stops after the call in flight; returns the acknowledged).

=cut

my $load_script = <<'SH';
connstr="$1"; channel="$2"; prefix="$3"; dir="$4"; timeout_ms="$5"
i=0
while [ ! -e "$dir/stop" ]; do
	i=$((i + 1))
	id="$prefix-$i"
	echo "$id" >> "$dir/attempted"
	if out=$(psql -XAtq -v ON_ERROR_STOP=1 -d "$connstr" \
		-c "SET ordering.submit_timeout = $timeout_ms" \
		-c "SELECT tx_id || '|' || block_number || '|' || position FROM ordering.submit_tx('$channel', convert_to('payload $id', 'UTF8'), '$id')" \
		2>> "$dir/errors"); then
		[ -n "$out" ] && echo "$out" >> "$dir/acked"
	fi
done
SH

sub start_load
{
	my ($self, $n, $channel, %opts) = @_;
	my $node = $self->node($n);
	my $prefix = $opts{prefix} // ('load-' . $self->name_of($n));
	my $dir = File::Temp->newdir("load_${prefix}_XXXX", DIR => $self->{tmp}->dirname);
	my $timer = IPC::Run::timeout(24 * 3600);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'bash', '-c', $load_script, 'load', $node->connstr('postgres'),
		  $channel, $prefix, $dir->dirname, $opts{submit_timeout} // 5000 ],
		'<', \undef, '>', \$out, '2>', \$err, $timer);
	my $load = { h => $h, dir => $dir, timer => $timer, node => $self->name_of($n),
		prefix => $prefix, out => \$out, err => \$err };
	push @{ $self->{loads} }, $load;
	return $load;
}

sub _read_lines
{
	my ($file) = @_;
	open(my $fh, '<', $file) or return ();
	my @l = grep { $_ ne '' } map { chomp; $_ } <$fh>;
	close $fh;
	return @l;
}

sub load_acked
{
	my ($self, $load) = @_;
	# The last line may be half written: keep complete records only.
	return map {
		my ($tx_id, $b, $p) = split /\|/;
		+{ tx_id => $tx_id, block_number => $b, position => $p }
	} grep { /^[^|]+\|\d+\|\d+$/ } _read_lines($load->{dir}->dirname . '/acked');
}

sub load_errors
{
	my ($self, $load) = @_;
	return _read_lines($load->{dir}->dirname . '/errors');
}

sub load_attempted
{
	my ($self, $load) = @_;
	return _read_lines($load->{dir}->dirname . '/attempted');
}

sub stop_load
{
	my ($self, $load, $timeout) = @_;
	return $self->load_acked($load) if $load->{stopped};
	open(my $fh, '>', $load->{dir}->dirname . '/stop') or die $!;
	close $fh;
	$load->{timer}->start($timeout // 60);
	eval { $load->{h}->finish; 1 } or do
	{
		diag("load on $load->{node} did not stop in time: killing it");
		$load->{h}->kill_kill;
	};
	$load->{stopped} = 1;
	@{ $self->{loads} } = grep { $_ != $load } @{ $self->{loads} };
	return $self->load_acked($load);
}

=pod

wait_for_acked($load_or_loads, $count, $timeout): waits until the loads
together have acknowledged at least $count transactions.

=cut

sub wait_for_acked
{
	my ($self, $loads, $count, $timeout) = @_;
	$loads = [$loads] unless ref $loads eq 'ARRAY';
	my $n = 0;
	my $ok = $self->wait_until("$count acknowledged transactions", $timeout,
		sub {
			$n = 0;
			$n += scalar($self->load_acked($_)) for @$loads;
			return $n >= $count;
		});
	if (!$ok)
	{
		for my $l (@$loads)
		{
			my @e = $self->load_errors($l);
			diag("load on $l->{node}: " . scalar($self->load_acked($l))
				  . " acknowledged; last errors: " . join(' | ', @e[ -3 .. -1 ]))
			  if @e >= 3;
		}
	}
	return $ok;
}

sub DESTROY
{
	my ($self) = @_;
	for my $l (@{ $self->{loads} // [] })
	{
		eval { $l->{h}->kill_kill };
	}
}

=pod

=head2 Trust-boundary helpers (the adversarial tests, 08x_trust_*.pl)

query_as($node, $role, $sql, %opts): query() in a session whose session user
is $role (query's user option).

deliver_as($node, $role, $from_node, $envelope): ordering.deliver($from_node,
$envelope) in a session as $role; returns query()'s hashref.

raft_ids($node, $channel): {node name => raft id} of the channel's consenters
as that node knows them.

raft_state($node, $channel): the node's ordering.raft_state row as a hashref,
with last_index and last_term (its last log entry, else its snapshot), and
head (last block number) and head_hash; undef when the node does not answer.

=cut

sub query_as
{
	my ($self, $n, $role, $sql, %opts) = @_;
	return $self->query($n, $sql, %opts, user => $role);
}

sub deliver_as
{
	my ($self, $n, $role, $from_node, $envelope, %opts) = @_;
	return $self->query_as($n, $role,
		'SELECT ordering.deliver(' . lit($from_node) . ', '
		  . bytea_literal($envelope) . ')', %opts);
}

sub raft_ids
{
	my ($self, $n, $channel) = @_;
	my $out = $self->safe_query($n,
		'SELECT node, raft_id FROM ordering.consenters WHERE channel = '
		  . lit($channel));
	return { map { split /\|/ } grep { $_ ne '' } split /\n/, $out };
}

sub raft_state
{
	my ($self, $n, $channel) = @_;
	my $c = lit($channel);
	my $r = $self->query($n, <<"SQL", timeout => 20);
SELECT row_to_json(x) FROM (
  SELECT r.term, r.vote, r.commit_index, r.applied_index, r.snapshot_index,
         r.snapshot_term, r.removed,
         coalesce((SELECT max(index) FROM ordering.log l WHERE l.channel = r.channel), r.snapshot_index) AS last_index,
         coalesce((SELECT term FROM ordering.log l WHERE l.channel = r.channel ORDER BY index DESC LIMIT 1), r.snapshot_term) AS last_term,
         (SELECT max(number) FROM ordering.blocks b WHERE b.channel = r.channel) AS head,
         (SELECT encode(hash, 'hex') FROM ordering.blocks b WHERE b.channel = r.channel ORDER BY number DESC LIMIT 1) AS head_hash
  FROM ordering.raft_state r WHERE r.channel = $c) x
SQL
	return $r->{ok} && $r->{stdout} ne '' ? $json->decode($r->{stdout}) : undef;
}

=pod

health($names): what must not change while a test attacks the servers:
{name => {postmaster => pid, worker => pid, log_offset => bytes}} for each
listed node (default: every node that is up).

assert_unharmed($health, %opts): for each node of $health, asserts that it
is up with the same postmaster, that its ordering worker is the same process,
and that its log since the snapshot shows no crash (a process terminated by
a signal, a failed assertion, a PANIC, a worker that exited, other than an
ordering background worker done with exit code 0); opts: restarted
=> [names] whose PIDs may differ (their logs are checked from their last
start on).  Returns true when all held.

=cut

sub _worker_pid
{
	my ($self, $n) = @_;
	my $r = $self->query($n,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'ordering worker'",
		timeout => 20);
	return $r->{ok} ? $r->{stdout} : undef;
}

sub health
{
	my ($self, $names) = @_;
	my %h;
	for my $n (map { $self->name_of($_) } @{ $names // [ $self->up_names ] })
	{
		my $node = $self->node($n);
		$h{$n} = {
			postmaster => $node->{_pid},
			worker => $self->_worker_pid($n),
			log_offset => -s $node->logfile,
		};
	}
	return \%h;
}

my $crash_pattern = qr/terminated by signal|was terminated|TRAP:|Assertion .* failed|PANIC:|background worker "ordering[^"]*" \(PID \d+\) exited(?! with exit code 0$)|all server processes terminated|server process \(PID \d+\) exited with exit code/;

sub assert_unharmed
{
	my ($self, $health, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my %restarted = map { ($self->name_of($_) => 1) } @{ $opts{restarted} // [] };
	my $all = 1;
	for my $n (sort keys %$health)
	{
		my $h = $health->{$n};
		my $node = $self->node($n);
		my @wrong;
		my $answers = $self->query($n, 'SELECT 1', timeout => 20);
		push @wrong, 'does not answer' unless $answers->{ok};
		push @wrong, 'its postmaster is gone'
		  unless defined $node->{_pid} && _alive($node->{_pid});
		if (!$restarted{$n})
		{
			my $pidfile = $node->data_dir . '/postmaster.pid';
			my ($pid) = -e $pidfile
			  ? split /\n/, PostgreSQL::Test::Utils::slurp_file($pidfile)
			  : ('none');
			push @wrong, "postmaster $pid, was $h->{postmaster}"
			  if $pid ne $h->{postmaster};
			my $worker = $self->_worker_pid($n) // 'none';
			push @wrong, "ordering worker $worker, was " . ($h->{worker} // 'none')
			  if $worker ne ($h->{worker} // 'none');
		}
		my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
		$log = substr($log, $h->{log_offset}) if length $log >= $h->{log_offset};
		# A node the test restarted: what its shutdown logged does not count.
		$log =~ s/\A.*database system is ready to accept connections[^\n]*\n//s
		  if $restarted{$n};
		my @crashes = grep { /$crash_pattern/ } split /\n/, $log;
		push @wrong, 'its log shows a crash:', @crashes[ 0 .. ($#crashes < 4 ? $#crashes : 4) ]
		  if @crashes;
		ok(!@wrong, "$n unharmed: up, "
			  . ($restarted{$n} ? 'restarted by the test' : 'same postmaster and ordering worker')
			  . ', no crash in its log')
		  or do { $all = 0; diag("  $n: $_") for @wrong };
	}
	return $all;
}

=pod

fence($channel, \@names, $tag, %opts): submits one transaction (on the first
of @names that answers, or opts{on}) and waits until every listed node has
it.  A node's inbox is one queue: what was delivered to a node before the
fence's Raft messages has been handled once it has the fence's block.
Returns the submit result, or undef when the fence did not pass (after a
failed assertion).

assert_cluster_sound($channel, \@names, $health, %opts): what every
adversarial test ends with: the servers unharmed (assert_unharmed, opts
restarted), a new transaction ordered on every node, and the chains
identical and verified.

=cut

my $fence_seq = 0;

sub fence
{
	my ($self, $channel, $names, $tag, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @names = map { $self->name_of($_) } @$names;
	my $id = sprintf('fence-%s-%d-%d', $tag, $$, ++$fence_seq);
	my $r;
	for my $on ($opts{on} // (), @names)
	{
		$r = $self->submit($on, $channel, "fence $id", $id,
			submit_timeout => ($opts{timeout} // $DEFAULT_TIMEOUT) * 1000);
		last if $r->{ok};
	}
	my $ok = $r->{ok}
	  && $self->wait_for_block($channel, \@names, $r->{block_number}, $opts{timeout});
	if (!ok($ok, "$channel: a transaction is ordered on " . join(',', @names) . " ($tag)"))
	{
		diag('submit: ' . ($r->{ok} ? 'ok' : "$r->{sqlstate} $r->{message}"));
		diag("  $_: " . _status_line($self->status($_, $channel))) for @names;
	}
	return $ok ? $r : undef;
}

sub assert_cluster_sound
{
	my ($self, $channel, $names, $health, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $all = $self->assert_unharmed($health, %opts);
	my $r = $self->fence($channel, $names, $opts{tag} // 'sound');
	$all = 0 unless $r;
	$self->assert_chains_identical_and_verified($names, $channel) or $all = 0;
	return $all;
}

1;
