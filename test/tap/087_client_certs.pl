# 087_client_certs.pl: nodes authenticated by TLS client certificates.
#
# The certificate variant of "Securing the cluster": a test CA issues a
# server certificate (for 127.0.0.1) and one client certificate per node,
# whose common name is the node's (n1.orderers.test, ...).  Every server
# requires TLS and a verified client certificate from ordering_peer's
# members (pg_hba.conf: hostssl ... cert clientcert=verify-full
# map=orderers), and pg_ident.conf maps each certificate to its node's
# role, orderer_nI, which holds ordering_peer only.  Nodes present their
# certificate from their settings (ordering.peer_sslcert, peer_sslkey; no
# password file), and verify the server's (sslmode=verify-full in the
# conninfo).  The cluster orders, relays an admin call, and a node's
# certificate does not open another node's role.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Temp ();
use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $certs = File::Temp->newdir('ordering_087_XXXX', TMPDIR => 1);
my $dir = $certs->dirname;

sub openssl
{
	my @args = @_;
	system('openssl', @args) == 0
	  or BAIL_OUT("openssl @args failed: $?");
}

# A CA; a server certificate for 127.0.0.1; a client certificate per node.
openssl('req', '-new', '-x509', '-days', '2', '-nodes', '-newkey', 'rsa:2048',
	'-keyout', "$dir/ca.key", '-out', "$dir/ca.crt", '-subj', '/CN=ordering test CA');
open(my $ext, '>', "$dir/server.ext") or die;
print $ext "subjectAltName = IP:127.0.0.1\n";
close $ext;

sub issue
{
	my ($name, $cn, @extra) = @_;
	openssl('req', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout', "$dir/$name.key",
		'-out', "$dir/$name.csr", '-subj', "/CN=$cn");
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.crt",
		'-CAkey', "$dir/ca.key", '-set_serial', int(rand(1_000_000)) + 1,
		'-days', '2', '-out', "$dir/$name.crt", @extra);
	chmod(0600, "$dir/$name.key") or die "chmod $name.key: $!";
}
issue('server', '127.0.0.1', '-extfile', "$dir/server.ext");
issue($_, "$_.orderers.test") for qw(n1 n2 n3);
ok(-s "$dir/n1.crt" && -s "$dir/server.crt", 'the test CA issued the certificates');

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node', start => 0,
	conninfo_extra => "sslmode=verify-full sslrootcert=$dir/ca.crt");
my @names = $oc->names;

for my $n (@names)
{
	my $node = $oc->node($n);
	$node->append_conf('postgresql.conf', <<"CONF");
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
ssl_ca_file = '$dir/ca.crt'
ordering.peer_sslcert = '$dir/$n.crt'
ordering.peer_sslkey = '$dir/$n.key'
ordering.peer_passfile = ''
CONF
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $old = slurp_file($hba);
	open(my $fh, '>', $hba) or die;
	print $fh "hostnossl all +ordering_peer 127.0.0.1/32 reject\n"
	  . "hostssl all +ordering_peer 127.0.0.1/32 cert clientcert=verify-full map=orderers\n"
	  . $old;
	close $fh;
	open($fh, '>>', $node->data_dir . '/pg_ident.conf') or die;
	print $fh "orderers $_.orderers.test " . $oc->role_of($_) . "\n" for @names;
	close $fh;
}
for my $n (@names)
{
	$oc->node($n)->start;
	$oc->safe_query($n, 'CREATE EXTENSION ordering');
}
$oc->ensure_roles($_) for @names;

my $ch = 'certs';
$oc->create_channel($ch, \@names, { batch_timeout => 50 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'a leader is elected over certificate-authenticated connections')
  or die 'no leader';
my ($f1, $f2) = $oc->followers($leader, \@names);

# Each worker logs in to its peers over TLS with its own certificate.
for my $n (@names)
{
	for my $peer (grep { $_ ne $n } @names)
	{
		ok($oc->wait_until("$peer connected to $n with its certificate", 30, sub {
					$oc->safe_query($n,
						"SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
						  . " WHERE a.application_name = 'ordering $peer' AND a.usename = '"
						  . $oc->role_of($peer) . "' AND s.ssl AND s.client_dn = '/CN=$peer.orderers.test'")
					  eq '1';
				}),
			"$peer is connected to $n as " . $oc->role_of($peer) . " with certificate CN $peer.orderers.test");
	}
}

my @acked;
for my $i (1 .. 5)
{
	my $r = $oc->submit($f1, $ch, "certified $i", "cert-$i");
	ok($r->{ok}, "transaction cert-$i submitted on follower $f1 is ordered") or diag($r->{message});
	push @acked, $r;
}
my $r = $oc->query($f2, "SELECT ordering.update_channel_config('$ch', '{\"batch_timeout\": 60}')");
ok($r->{ok}, "an admin call on follower $f2 is relayed to the leader")
  or diag("$r->{sqlstate}: $r->{message}");

# A certificate opens only its own node's role.
my $n1 = $oc->node('n1');
my ($out, $err) = ('', '');
$n1->psql('postgres', 'SELECT 1', stdout => \$out, stderr => \$err,
	connstr => 'host=127.0.0.1 port=' . $n1->port . ' dbname=postgres user=' . $oc->role_of('n2')
	  . " sslmode=verify-full sslrootcert=$dir/ca.crt sslcert=$dir/n3.crt sslkey=$dir/n3.key");
like($err, qr/certificate authentication failed for user "orderer_n2"/,
	"n3's certificate does not log in as n2's role");
($out, $err) = ('', '');
$n1->psql('postgres', 'SELECT 1', stdout => \$out, stderr => \$err,
	connstr => 'host=127.0.0.1 port=' . $n1->port . ' dbname=postgres user=' . $oc->role_of('n2')
	  . ' sslmode=disable');
like($err, qr/pg_hba\.conf rejects connection/, 'nor does a connection without TLS');

$oc->assert_chains_identical_and_verified(\@names, $ch);
$oc->assert_acknowledged_present(\@names, $ch, \@acked);

done_testing();
