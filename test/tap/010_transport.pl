# 010_transport.pl: the transport between ordering workers (README.md, "How the transport works").
#
# ordering.deliver() is the receiving end: it refuses callers without the
# privileges of ordering_peer (42501) and NULL arguments (22004), rejects
# malformed envelopes with a clear error (22P03, 22023, 54000) without
# harming the server or its worker, and accepts well-formed ones.  Then two
# nodes whose workers log in to each other as a non-superuser role with
# ordering_peer, authenticated by SCRAM through a passfile, order a
# transaction; a peer that refuses the calls (role revoked) is reported
# once in the sender's log, not once per message, and delivery resumes when
# the role is granted again.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Temp ();
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

# An envelope (src/common/envelope.h): version, from, count, then per record
# channel, kind, block 0's hash (zeros: not stated), length, data; integers
# in network byte order.
my $V = 2;
my $Z = "\0" x 32;

sub envelope
{
	my ($from, @records) = @_;
	my $e = pack('C C/a* N', $V, $from, scalar @records);
	$e .= pack('C/a* C a32 N/a*', $_->[0], $_->[1], $Z, $_->[2]) for @records;
	return $e;
}

sub hex_of { return "'\\x" . unpack('H*', $_[0]) . "'::bytea"; }

# A small inbox, so that an envelope too large for it is cheap to build.
my $oc = OrderingCluster->new(nodes => 2, conf => 'ordering.inbox_size = 1MB');
my ($n1, $n2) = map { $oc->node($_) } qw(n1 n2);

# A login role for the transport, with a SCRAM password, allowed over TCP
# only with that password; the workers find it in the passfile their
# settings name (ordering.peer_passfile), never in a conninfo.
my $tmp = File::Temp->newdir('ordering_010_XXXX', TMPDIR => 1);
my $passfile = "$tmp/pgpass";
open(my $pf, '>', $passfile) or die "could not write $passfile: $!";
print $pf "127.0.0.1:*:postgres:orderer:orderer-secret\n";
close($pf);
chmod(0600, $passfile);

for my $node ($n1, $n2)
{
	$node->safe_psql('postgres', q{
		SET password_encryption = 'scram-sha-256';
		CREATE ROLE orderer LOGIN PASSWORD 'orderer-secret' IN ROLE ordering_peer;
		CREATE ROLE plain LOGIN;
		CREATE ROLE granted_plain LOGIN;
		GRANT USAGE ON SCHEMA ordering TO granted_plain;
		GRANT EXECUTE ON FUNCTION ordering.deliver(text, bytea) TO granted_plain;
	});
	my $hba = slurp_file($node->data_dir . '/pg_hba.conf');
	open(my $fh, '>', $node->data_dir . '/pg_hba.conf') or die;
	print $fh "host all orderer 127.0.0.1/32 scram-sha-256\n$hba";
	close($fh);
	$node->append_conf('postgresql.conf', "ordering.peer_passfile = '$passfile'\n");
	$node->reload;
}

my $good = envelope('n2', [ 'nosuch', 1, 'opaque bytes' ]);

# --- Who may call deliver() ---------------------------------------------

my $r = $oc->query('n1', "SET ROLE plain; SELECT ordering.deliver('n2', " . hex_of($good) . ")");
is($r->{sqlstate}, '42501', 'deliver() without EXECUTE: 42501');

$r = $oc->query('n1', "SET ROLE granted_plain; SELECT ordering.deliver('n2', " . hex_of($good) . ")");
is($r->{sqlstate}, '42501', 'deliver() with EXECUTE but without ordering_peer: 42501');
like($r->{message}, qr/permission denied to deliver ordering messages/,
	'... with a message that names the problem');

$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('n2', " . hex_of($good) . ")");
ok($r->{ok}, 'deliver() as a member of ordering_peer: accepted') or diag($r->{stderr});

$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver(NULL, " . hex_of($good) . ")");
is($r->{sqlstate}, '22004', 'NULL from_node: 22004');
$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('n2', NULL)");
is($r->{sqlstate}, '22004', 'NULL messages: 22004');

# --- Malformed envelopes ------------------------------------------------

my @malformed = (
	[ 'empty', '', qr/empty envelope/ ],
	[ 'unknown version', "\x03" . substr($good, 1), qr/unsupported envelope version/ ],
	[ 'version 1 (records without block 0)', "\x01" . substr($good, 1), qr/unsupported envelope version/ ],
	[ 'empty sender name', pack('C C N', $V, 0, 1), qr/name length out of range/ ],
	[ 'sender name truncated', pack('C C a2', $V, 10, 'n2'), qr/truncated name/ ],
	[ 'no record count', pack('C C/a*', $V, 'n2'), qr/truncated record count/ ],
	[ 'zero records', pack('C C/a* N', $V, 'n2', 0), qr/record count out of range/ ],
	[ 'huge record count', pack('C C/a* N', $V, 'n2', 0xFFFFFFFF), qr/record count out of range/ ],
	[ 'more records announced than present',
		pack('C C/a* N', $V, 'n2', 2) . pack('C/a* C a32 N/a*', 'ch', 1, $Z, 'x'),
		qr/record count exceeds envelope size|truncated/ ],
	[ 'record data truncated', substr($good, 0, length($good) - 1), qr/truncated record data/ ],
	[ 'record length beyond the end',
		pack('C C/a* N', $V, 'n2', 1) . pack('C/a* C a32 N', 'ch', 1, $Z, 0xFFFFFFFF) . 'abc',
		qr/truncated record data/ ],
	[ 'block 0 truncated', pack('C C/a* N', $V, 'n2', 1) . pack('C/a* C a16', 'ch', 1, $Z),
		qr/truncated record header|record count exceeds envelope size/ ],
	[ 'trailing bytes', $good . 'x', qr/trailing bytes after the last record/ ],
	[ 'unknown record kind', envelope('n2', [ 'ch', 99, 'x' ]), qr/unknown record kind/ ],
	[ 'record kind 0', envelope('n2', [ 'ch', 0, 'x' ]), qr/unknown record kind/ ],
	[ 'NUL byte in a channel name', envelope('n2', [ "c\0h", 1, 'x' ]), qr/name contains a NUL byte/ ],
	[ 'empty channel name', envelope('n2', [ '', 1, 'x' ]), qr/name length out of range/ ],
	[ 'channel name too long', envelope('n2', [ 'c' x 64, 1, 'x' ]), qr/name length out of range/ ],
);
for my $case (@malformed)
{
	my ($what, $bytes, $message) = @$case;
	$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('n2', " . hex_of($bytes) . ")");
	is($r->{sqlstate}, '22P03', "malformed envelope ($what): 22P03");
	like($r->{message}, qr/malformed ordering envelope from node "n2": $message/,
		"... says what is wrong ($what)");
}

$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('n3', " . hex_of($good) . ")");
is($r->{sqlstate}, '22023', 'envelope from another node than from_node: 22023');
like($r->{message}, qr/envelope is from node "n2", not "n3"/, '... and says so');

$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('', " . hex_of($good) . ")");
is($r->{sqlstate}, '22023', 'empty node name: 22023');

# An envelope larger than the inbox (ordering.inbox_size) could never fit.
my $inbox_kb = $oc->safe_query('n1',
	"SELECT setting FROM pg_settings WHERE name = 'ordering.inbox_size'");
$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('n2', "
	  . "'\\x" . unpack('H*', pack('C C/a* N C/a* C a32 N', $V, 'n2', 1, 'ch', 1, $Z, $inbox_kb * 1024)) . "'::bytea"
	  . " || decode(repeat('00', $inbox_kb * 1024), 'hex'))");
is($r->{sqlstate}, '54000', 'envelope larger than the inbox: 54000');

# Random damage to a well-formed envelope: an error or acceptance, never a
# crash.  Records that survive go to channel "nosuch", which nobody serves.
srand(10);
my $fuzz_base = envelope('n2', [ 'nosuch', 1, 'first' ], [ 'nosuch', 2, 'second record' ]);
my $fuzz_bad = 0;
for my $i (1 .. 200)
{
	my $bytes = $fuzz_base;
	if ($i % 3 == 0)
	{
		$bytes = substr($bytes, 0, int(rand(length($bytes))));
	}
	else
	{
		for (1 .. 1 + int(rand(3)))
		{
			substr($bytes, int(rand(length($bytes))), 1) = chr(int(rand(256)));
		}
	}
	$r = $oc->query('n1', "SET ROLE orderer; SELECT ordering.deliver('n2', " . hex_of($bytes) . ")");
	$fuzz_bad++ unless $r->{ok} || $r->{sqlstate} =~ /^(22P03|22023)$/;
}
is($fuzz_bad, 0, 'damaged envelopes: each accepted or refused with 22P03/22023');

is($oc->safe_query('n1', 'SELECT 1'), '1', 'n1 still answers');
is($oc->safe_query('n1',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ordering worker'"),
	'1', "n1's worker still runs");
unlike(slurp_file($n1->logfile), qr/terminated by signal|was terminated/,
	'no process of n1 crashed');

# --- Messages flow between workers --------------------------------------

my %conninfo = map {
	$_ => sprintf('host=127.0.0.1 port=%d dbname=postgres user=orderer',
		$oc->node($_)->port)
} qw(n1 n2);
my $consenters = '{' . join(', ', map { qq{"$_": "$conninfo{$_}"} } sort keys %conninfo) . '}';
for my $name (qw(n1 n2))
{
	# The second call finds the channel already there if n2 joined on its own.
	$r = $oc->query($name, "SELECT ordering.create_channel('tr1', "
		  . OrderingCluster::lit($consenters) . "::jsonb, '{\"batch_timeout\": 50}'::jsonb)");
	ok($r->{ok} || $r->{sqlstate} eq '42710', "channel tr1 created on $name")
	  or diag($r->{stderr});
}
ok($oc->wait_for_channel('tr1', [qw(n1 n2)]), 'both nodes have channel tr1');
my $leader = $oc->wait_for_leader('tr1', [qw(n1 n2)]);
ok(defined $leader, 'the workers elect a leader over the transport');

my $tx = $oc->submit('n1', 'tr1', 'over the transport', 'tr1-a');
ok($tx->{ok}, 'a transaction submitted on n1 is ordered') or diag($tx->{message});
ok($oc->wait_for_block('tr1', ['n2'], $tx->{block_number}), '... and its block reaches n2')
  if $tx->{ok};

is($oc->safe_query('n1',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ordering n2' AND usename = 'orderer'"),
	'1', "n2's worker is connected to n1 as orderer, application_name 'ordering n2'");

# --- A peer that refuses the calls --------------------------------------

# n2 stops accepting n1's calls.  Every call fails there (n2 logs an
# ERROR each time), but n1 reports the refusal once.
my $n1_log_offset = -s $n1->logfile;
my $n2_log_offset = -s $n2->logfile;
$oc->safe_query('n2', 'REVOKE ordering_peer FROM orderer');
ok($n1->wait_for_log(qr/WARNING: .*ordering\.deliver\(\) failed on ordering node "n2"/,
		$n1_log_offset),
	'n1 reports that n2 refuses its calls');
ok($oc->wait_until('n2 refused at least 3 calls', undef, sub {
			my $log = substr(slurp_file($n2->logfile), $n2_log_offset);
			my $refusals = () = $log =~ /ordering n1 ERROR:  permission denied/g;
			return $refusals >= 3;
		}),
	'n1 keeps calling n2 (with backoff)');
my $n1_log = substr(slurp_file($n1->logfile), $n1_log_offset);
my $reports = () = $n1_log =~ /ordering\.deliver\(\) failed on ordering node "n2"/g;
is($reports, 1, 'the refusal is logged once, not once per call');
like($n1_log, qr/HINT: .*Grant role ordering_peer/, '... with a hint');

$oc->safe_query('n2', 'GRANT ordering_peer TO orderer');
ok($n1->wait_for_log(qr/delivering messages to ordering node "n2" again/, $n1_log_offset),
	'n1 reports that delivery to n2 resumed');
$tx = $oc->submit('n2', 'tr1', 'after the role came back', 'tr1-b');
ok($tx->{ok}, 'transactions are ordered again') or diag($tx->{message});

unlike(slurp_file($_->logfile), qr/terminated by signal|was terminated/,
	'no process crashed on ' . $_->name)
  for ($n1, $n2);

done_testing();
