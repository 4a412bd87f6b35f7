
# Copyright: the ordering extension's authors.
#
# 071_id_claims.pl: one id, one transaction, across a cluster.  Three
# submitters, one on each node of a three-node channel, claim the same ids
# with different payloads at the same time.  The two on the followers first
# enqueue all of their claims asynchronously, one in ascending order of the
# ids, the other descending, so that the claims of an id are in flight
# together (two followers' forwards, then the leader's cutter); the one on
# the leader claims synchronously.  Then each asks submit_tx, with its own
# payload, where its claim ended up.
#
# For every id exactly one submitter gets a place, the one whose payload is
# in the chain under that id; the two others get 23505 naming the id, never
# the winner's place.  The chains are identical and verify.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Temp ();
use IPC::Run;
use OrderingCluster;
use PostgreSQL::Test::Utils ();
use Test::More;

my $oc = OrderingCluster->new(nodes => 3);
my @names = qw(n1 n2 n3);
my $ch = 'claims';
my $n_ids = 40;
$oc->create_channel($ch, \@names, { batch_timeout => 20 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, 'the channel has a leader') or die 'no leader';

# Each submitter: claim-1..claim-N with payload "<node> claims <i>", in
# ascending or descending order, all enqueued first (async) or not; then
# each one's outcome: "claim-i|ok <block> <position>" or
# "claim-i|taken <message>".
my $claim_sql = <<"SQL";
CREATE FUNCTION pg_temp.claim(ch text, who text, n int, descending boolean, async boolean)
RETURNS TABLE (id text, outcome text)
LANGUAGE plpgsql AS \$\$
DECLARE
	place record;
	i int;
BEGIN
	FOR k IN 1..n LOOP
		EXIT WHEN NOT async;
		i := CASE WHEN descending THEN n + 1 - k ELSE k END;
		BEGIN
			PERFORM ordering.submit_tx_async(ch, convert_to(who || ' claims ' || i, 'UTF8'), 'claim-' || i);
		EXCEPTION WHEN unique_violation THEN
			NULL; -- already ordered with another payload: the second loop says so
		END;
	END LOOP;
	FOR k IN 1..n LOOP
		i := CASE WHEN descending THEN n + 1 - k ELSE k END;
		id := 'claim-' || i;
		BEGIN
			SELECT s.block_number, s.position INTO place
			FROM ordering.submit_tx(ch, convert_to(who || ' claims ' || i, 'UTF8'), id) s;
			outcome := 'ok ' || place.block_number || ' ' || place.position;
		EXCEPTION WHEN unique_violation THEN
			outcome := 'taken ' || SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
END
\$\$;
SELECT id || '|' || outcome FROM pg_temp.claim('$ch', :'who', $n_ids, :descending, :async);
SQL

my ($f1, $f2) = $oc->followers($leader, \@names);
my %how = ($f1 => [ 'false', 'true' ], $f2 => [ 'true', 'true' ],
	$leader => [ 'false', 'false' ]);
# The script and the outputs are files: IPC::Run feeds a child's stdin and
# drains its stdout only while the harness is pumped, and the three must run
# together.
my $dir = File::Temp->newdir('claims_XXXX', TMPDIR => 1);
my $script = "$dir/claim.sql";
open(my $fh, '>', $script) or die "$script: $!";
print $fh $claim_sql;
close $fh;
my %run;
for my $n (@names)
{
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', "who=$n",
		  '-v', "descending=$how{$n}[0]", '-v', "async=$how{$n}[1]",
		  '-d', $oc->node($n)->connstr('postgres'),
		  '-c', 'SET ordering.submit_timeout = 60000', '-f', $script ],
		'<', \undef, '>', "$dir/$n.out", '2>', "$dir/$n.err",
		IPC::Run::timeout($OrderingCluster::DEFAULT_TIMEOUT * 2));
	$run{$n} = $h;
}
my %outcome;    # id -> node -> outcome
for my $n (@names)
{
	my $finished = eval { $run{$n}->finish; 1 };
	ok($finished && $run{$n}->result == 0, "the submitter on $n finished")
	  or diag(PostgreSQL::Test::Utils::slurp_file("$dir/$n.err"));
	for my $line (split /\n/, PostgreSQL::Test::Utils::slurp_file("$dir/$n.out"))
	{
		my ($id, $result) = split /\|/, $line, 2;
		$outcome{$id}{$n} = $result;
	}
}
is(scalar(keys %outcome), $n_ids, "every submitter reported on all $n_ids ids");

# Where each id is in the chain, and whose payload it holds.
my %chain;
for my $line (split /\n/, $oc->safe_query($leader,
		"SELECT tx_id, block_number, position, convert_from(payload, 'UTF8')"
		  . " FROM ordering.transactions WHERE channel = '$ch' AND tx_id LIKE 'claim-%'"))
{
	my ($id, $block, $pos, $payload) = split /\|/, $line;
	$chain{$id} = { place => "$block $pos", owner => (split / /, $payload)[0] };
}
is(scalar(keys %chain), $n_ids, 'every id is ordered once');

my @bad;
for my $i (1 .. $n_ids)
{
	my $id = "claim-$i";
	my $c = $chain{$id};
	my @won = grep { ($outcome{$id}{$_} // '') =~ /^ok / } @names;
	if (!$c || @won != 1)
	{
		push @bad, "$id: winners " . join(',', @won) . ', chain owner ' . ($c ? $c->{owner} : 'none');
		next;
	}
	push @bad, "$id: $won[0] was told '$outcome{$id}{$won[0]}', the chain has $c->{owner} at $c->{place}"
	  unless $won[0] eq $c->{owner} && $outcome{$id}{ $won[0] } eq "ok $c->{place}";
	for my $lost (grep { $_ ne $won[0] } @names)
	{
		push @bad, "$id: $lost was told '" . ($outcome{$id}{$lost} // 'nothing') . "'"
		  unless ($outcome{$id}{$lost} // '')
		  =~ /^taken transaction id "\Q$id\E" is already ordered on channel "\Q$ch\E" with another payload$/;
	}
}
is_deeply(\@bad, [],
	'each id: its owner got its place, the others 23505 naming the id');
my %wins;
$wins{ $chain{$_}{owner} }++ for keys %chain;
note('claims won: ' . join(', ', map { "$_ " . ($wins{$_} // 0) } @names));

$oc->assert_chains_identical_and_verified(\@names, $ch);

done_testing();
