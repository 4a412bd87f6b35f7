
# Copyright: the ordering extension's authors.
#
# 016_encodings.pl: nodes whose databases differ in encoding order the same
# transaction ids, or say why they cannot.
#
# A channel on four nodes: n1 and n2 in UTF8 databases, n3 in LATIN1, n4 in
# SQL_ASCII.  Ids travel between nodes in UTF-8, the form the block hashes
# take them in, and each node keeps them in its own encoding.  Before, the
# raw bytes went: n3 stored "café" from a UTF-8 leader as "cafÃ©", and its
# chain's hashes parted from the others' with no error anywhere.
#  - "café" submitted on n1, "naïve" on n3 (forwarded from LATIN1 to the
#    leader) and "señal" on n4: every node holds the same characters
#    (compared in UTF-8) and the same verified chain.
#  - On n4 an id that is not valid UTF-8 is refused (22021): it could not
#    travel.  A conninfo that is not ASCII is refused (22023) on n1 and n3:
#    conninfos are kept on every node as they come.
#  - "€uro" (LATIN1 has no euro sign) is ordered on n1, n2 and n4; n3 stops
#    applying at its block with an error naming the character, and holds
#    nothing else in its place.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $oc = OrderingCluster->new(nodes => 2);
$oc->add_node('n3', initdb => [ '--encoding=LATIN1', '--locale=C' ]);
$oc->add_node('n4', initdb => [ '--encoding=SQL_ASCII', '--locale=C' ]);
my @names = qw(n1 n2 n3 n4);
my %encoding = (n1 => 'UTF8', n2 => 'UTF8', n3 => 'LATIN1', n4 => 'SQL_ASCII');
for my $n (@names)
{
	is($oc->safe_query($n, 'SELECT getdatabaseencoding()'),
		$encoding{$n}, "${n}'s database is $encoding{$n}");
}

my $ch = 'enc';
$oc->create_channel($ch, \@names);
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'a leader on n1..n4') or die 'no leader';

# The euro sign must reach n3 from a UTF-8 leader: lead from n1.
if ($leader ne 'n1')
{
	my $r = $oc->admin($ch, \@names,
		"SELECT ordering.transfer_leadership('$ch', 'n1')");
	ok($r->{ok}, 'leadership transferred to n1') or diag($r->{message});
	ok( $oc->wait_until(
			'n1 leads enc', undef,
			sub { ($oc->wait_for_leader($ch, \@names) // '') eq 'n1' }),
		'n1 leads');
}

# Ids are written and read as UTF-8 hex, so that the SQL means the same
# characters on every node, whatever its encoding.
sub submit_utf8
{
	my ($n, $id_hex, $payload) = @_;
	return $oc->query($n,
		"SELECT block_number FROM ordering.submit_tx('$ch', convert_to('$payload', 'UTF8'),"
		  . " convert_from('\\x$id_hex'::bytea, 'UTF8'))");
}

sub ids_utf8
{
	my ($n) = @_;
	return $oc->safe_query($n,
		"SELECT string_agg(encode(convert_to(tx_id, 'UTF8'), 'hex'), ',' ORDER BY block_number, position)"
		  . " FROM ordering.transactions WHERE channel = '$ch'");
}

my %id = (
	cafe => '636166c3a9',      # café
	naive => '6e61c3af7665',   # naïve
	senal => '7365c3b1616c',   # señal
	euro => 'e282ac75726f');   # €uro

for my $case ([ 'n1', 'cafe' ], [ 'n3', 'naive' ], [ 'n4', 'senal' ])
{
	my ($n, $name) = @$case;
	my $r = submit_utf8($n, $id{$name}, "payload $name");
	ok($r->{ok} && $r->{stdout} =~ /^\d+$/,
		"id $name submitted on $n ($encoding{$n}) is ordered")
	  or diag("$r->{sqlstate}: $r->{message}");
}

my $r = $oc->query('n4',
	"SELECT * FROM ordering.submit_tx('$ch', 'x', chr(233))");
is($r->{sqlstate}, '22021',
	'on n4 (SQL_ASCII) an id that is not valid UTF-8 is refused: 22021')
  or diag($r->{stderr});

$oc->assert_chains_identical_and_verified(\@names, $ch);
my $expect = join(',', map { $id{$_} } qw(cafe naive senal));
is(ids_utf8($_), $expect, "$_ holds café, naïve and señal as they were given")
  for @names;

# A conninfo with a byte that is not ASCII is refused on every node
# (22023): a LATIN1 leader's "ç" was invalid text in the UTF8 nodes'
# ordering.consenters, kept there as it came.
for my $n (qw(n1 n3))
{
	my $r = $oc->query($n,
		"SELECT ordering.update_consenter('$ch', 'n3', "
		  . OrderingCluster::lit($oc->conninfo('n3'))
		  . " || ' sslcrl=/nonexistent/' || convert_from('\\xc3a7'::bytea, 'UTF8') || '.crl')"
	);
	is($r->{sqlstate}, '22023',
		"on $n ($encoding{$n}) a conninfo that is not ASCII is refused: 22023")
	  or diag($r->{stderr});
}

# A character n3's encoding lacks: ordered by the others, an error on n3.
my $offset = -s $oc->node('n3')->logfile;
$r = submit_utf8('n1', $id{euro}, 'payload euro');
ok($r->{ok} && $r->{stdout} =~ /^\d+$/, 'id €uro submitted on n1 is ordered')
  or diag("$r->{sqlstate}: $r->{message}");
my $euro_block = $r->{stdout};
$oc->assert_chains_identical_and_verified([qw(n1 n2 n4)], $ch);
is(ids_utf8($_), "$expect,$id{euro}", "$_ holds €uro too") for qw(n1 n2 n4);
ok( $oc->logged('n3',
		qr/character with byte sequence 0xe2 0x82 0xac in encoding "UTF8" has no equivalent in encoding "LATIN1"/,
		$offset),
	'n3 says which character it cannot hold');
cmp_ok($oc->last_block('n3', $ch), '<', $euro_block,
	"n3 stops before the €uro block ($euro_block)");
is(ids_utf8('n3'), $expect, 'n3 holds nothing in its place');
is( $oc->safe_query('n3', "SELECT ok FROM ordering.verify_chain('$ch')"),
	't', "n3's chain, up to there, verifies");
is($oc->crashes('n3'), '', 'no process of n3 crashed');

done_testing();
