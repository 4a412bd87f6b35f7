
# Copyright: the ordering extension's authors.
#
# 011_unnamed_server.pl: a server whose ordering.node_name was forgotten
# takes part in no channel.
#
# ordering.node_name had a default, "n1", so every server whose setting
# was forgotten was node n1.  Such a server, meant to be n2, created a
# channel as n1, and took a genesis push naming n1 as its own: a second
# server acting as the member n1, with its raft id.  Now the setting has
# no default: unset, the worker says so and serves nothing, deliver()
# refuses peers (55000) and create_channel refuses (55000).  The other
# two consenters order without it; set and restarted, it joins.  Last, a
# fourth server given n1's name by mistake took the real n1's genesis push
# (it names n1) as its own; deliver() now refuses a call in the server's
# own name.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = $oc->names;
my $n2 = $oc->node('n2');

# n2 forgets its name.
$oc->stop_node('n2', 'fast');
my $conf_file = $n2->data_dir . '/postgresql.conf';
my $conf = slurp_file($conf_file);
$conf =~ s/^ordering\.node_name\s*=.*$//mg;
open(my $fh, '>', $conf_file) or die "cannot write $conf_file: $!";
print $fh $conf;
close($fh);
my $offset = -s $n2->logfile;
$oc->start_node('n2');
ok($oc->logged('n2',
		qr/WARNING:  ordering\.node_name is not set: this server takes part in no channel/,
		$offset, 60),
	'the worker of n2 says that it has no name');

my $doc = OrderingCluster::lit($oc->consenters_json(@names));
my $r = $oc->query('n2', "SELECT ordering.create_channel('mine', $doc)");
is($r->{sqlstate}, '55000', 'create_channel on n2: 55000');
like($r->{message}, qr/ordering\.node_name is not set on this server/,
	'... saying that the name is not set');
is($oc->safe_query('n2', 'SELECT count(*) FROM ordering.channels'), '0',
	'n2 created nothing');

# n1 founds a channel naming n2; the genesis pushes to n2 are refused.
$offset = -s $n2->logfile;
$oc->safe_query('n1', "SELECT ordering.create_channel('named', $doc)");
ok($oc->wait_for_channel('named', [ 'n1', 'n3' ]), 'n3 joins the channel');
my $leader = $oc->wait_for_leader('named', [ 'n1', 'n3' ]);
ok(defined $leader, 'n1 and n3 elect a leader') or die 'no leader';
my @acked;
$r = $oc->submit($leader, 'named', 'without n2');
ok($r->{ok}, 'a submit is ordered by n1 and n3') or diag($r->{message});
push @acked, $r if $r->{ok};
ok($oc->logged('n2', qr/ERROR:  ordering\.node_name is not set on this server/,
		$offset, 60),
	'deliver() on n2 refuses its peers');
is($oc->safe_query('n2', 'SELECT count(*) FROM ordering.channels'), '0',
	'n2 took no channel from the pushes');

# Named, n2 joins.
$oc->stop_node('n2', 'fast');
$n2->append_conf('postgresql.conf', "ordering.node_name = 'n2'\n");
$oc->start_node('n2');
ok($oc->wait_for_channel('named', ['n2']), 'named n2, it joins the channel');
$r = $oc->submit('n2', 'named', 'with n2');
ok($r->{ok}, 'a submit on n2 is ordered') or diag($r->{message});
push @acked, $r if $r->{ok};
$oc->assert_chains_identical_and_verified(\@names, 'named');
$oc->assert_acknowledged_present(\@names, 'named', \@acked);

# A fourth server given n1's name by mistake, and a channel of n1 and n4:
# n1's genesis push names n1, which that server took as its own name.
# deliver() there now refuses a call in its own name.  (Another member's
# push would still bring it in: README, Known limitations.)
my $n4 = $oc->add_node('n4');
$oc->stop_node('n4', 'fast');
$n4->append_conf('postgresql.conf', "ordering.node_name = 'n1'\n");
$offset = -s $n4->logfile;
$oc->start_node('n4');
my $twin_doc = OrderingCluster::lit($oc->consenters_json(qw(n1 n4)));
$oc->safe_query('n1', "SELECT ordering.create_channel('twin', $twin_doc)");
ok( $oc->logged(
		'n4',
		qr/ERROR:  ordering messages from node "n1" were delivered to that node's own name/,
		$offset, 60),
	'deliver() on the server named n1 by mistake refuses the real n1');
is($oc->safe_query('n4', "SELECT count(*) FROM ordering.channels WHERE channel = 'twin'"),
	'0', 'it does not take twin as member n1');
is($oc->crashes($_), '', "no server process of $_ crashed") for @names, 'n4';

done_testing();
