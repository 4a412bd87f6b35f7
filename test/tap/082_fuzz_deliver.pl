# 082_fuzz_deliver.pl: mutated real envelopes against a live cluster
# (README.md, "Securing the cluster"; issue: no input can crash a server).
#
# Three servers with per-node roles.  The envelopes the workers deliver to
# each other while they order, elect, create a channel and bring a follower
# back through a snapshot are captured from the servers' logs (the peer
# roles' sessions log every statement with its parameters).  Then thousands
# of mutations of them (bit flips, byte edits, truncations, edited length
# and count fields, Raft terms and indexes set to extremes, records
# duplicated, spliced, re-kinded or sent to another channel) are delivered
# by the node that sent the original, as its own role, to the node that
# received it: they pass the identity check and reach the decoders.
# Afterwards every server and worker is the same process, the cluster still
# orders, and the chains are identical and verified.
#
# Settings (environment):
#   ORDERING_FUZZ_SEED       the PRNG seed (default: from the clock; printed)
#   ORDERING_FUZZ_MUTATIONS  how many mutations (default 20000)
#   ORDERING_FUZZ_SECONDS    stop delivering after this long (default 60)
#   ORDERING_FUZZ_CORPUS     a corpus file written by an earlier run, to
#                            mutate instead of capturing a new one
# A run writes its corpus, and the batch that broke a server if one did, to
# the test's log directory (paths printed), so that a failure replays with
# the same seed and corpus.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use OrderingCluster;
use OrderingWire qw(:all);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $seed = $ENV{ORDERING_FUZZ_SEED} // ((time() * 1000 ^ $$) & 0x7fffffff);
my $n_mutations = $ENV{ORDERING_FUZZ_MUTATIONS} // 20000;
my $budget_seconds = $ENV{ORDERING_FUZZ_SECONDS} // 60;
my $corpus_file = "$PostgreSQL::Test::Utils::log_path/082_fuzz_corpus.txt";
diag("fuzz seed $seed, $n_mutations mutations, at most ${budget_seconds}s;"
	  . " replay: ORDERING_FUZZ_SEED=$seed ORDERING_FUZZ_MUTATIONS=$n_mutations"
	  . " ORDERING_FUZZ_CORPUS=<this run's $corpus_file>");

my $oc = OrderingCluster->new(nodes => 3, roles => 'per-node');
my @names = $oc->names;
my $lit = \&OrderingCluster::lit;

# --- Capture -----------------------------------------------------------------

# The peer roles' sessions log each deliver() call with its envelope.
for my $n (@names)
{
	for my $role (map { "orderer_$_" } @names)
	{
		$oc->safe_query($n, "ALTER ROLE $role SET log_statement = 'all'");
		$oc->safe_query($n, "ALTER ROLE $role SET log_parameter_max_length = -1");
	}
}
my %log_start = map { ($_ => -s $oc->node($_)->logfile) } @names;

my $ch = 'fz';
$oc->create_channel($ch, \@names,
	{ batch_timeout => 20, max_message_count => 5, snapshot_interval_bytes => 4096 });
my $leader = $oc->wait_for_leader($ch, \@names);
ok(defined $leader, "$ch has a leader") or BAIL_OUT('no leader');
my $seq = 0;

sub submit_some
{
	my ($on, $count) = @_;
	my $r = $oc->submit_many($on, $ch,
		[ map { sprintf('fuzz workload %06d ', ++$seq) . ('y' x 150) } 1 .. $count ]);
	return $r->{ok};
}

if (!$ENV{ORDERING_FUZZ_CORPUS})
{
	ok(submit_some($_, 10), "a workload submitted on $_ (routed to the leader)") for @names;
	my ($follower) = $oc->followers($leader, \@names);
	my $r = $oc->admin($ch, \@names, "SELECT ordering.transfer_leadership('$ch', '$follower')");
	ok($r->{ok}, "leadership of $ch moves to $follower") or diag($r->{stderr});
	$oc->create_channel('fz2', \@names, { batch_timeout => 20 });
	$leader = $oc->wait_for_leader($ch, \@names);
	# A follower stops, the leader compacts its log, the follower comes back
	# through a snapshot.
	my ($lagger) = $oc->followers($leader, \@names);
	$oc->stop_node($lagger, 'fast');
	my $target = $oc->last_block($leader, $ch) + 40;
	while ($oc->last_block($leader, $ch) < $target)
	{
		last unless submit_some($leader, 10);
	}
	$oc->start_node($lagger);
	ok(defined $oc->wait_for_same_head($ch, \@names, 120), "$lagger catches up through a snapshot");
	ok(submit_some($lagger, 5), "a workload submitted on $lagger");
}
else
{
	$oc->create_channel('fz2', \@names, { batch_timeout => 20 });
}
for my $n (@names)
{
	for my $role (map { "orderer_$_" } @names)
	{
		$oc->safe_query($n, "ALTER ROLE $role RESET log_statement");
		$oc->safe_query($n, "ALTER ROLE $role RESET log_parameter_max_length");
	}
}

# [target node, sending node, envelope bytes]
my @corpus;
if ($ENV{ORDERING_FUZZ_CORPUS})
{
	open(my $fh, '<', $ENV{ORDERING_FUZZ_CORPUS}) or die "$ENV{ORDERING_FUZZ_CORPUS}: $!";
	while (<$fh>)
	{
		chomp;
		my ($to, $from, $hex) = split / /;
		push @corpus, [ $to, $from, pack('H*', $hex) ];
	}
	close $fh;
}
else
{
	my %seen;
	for my $n (@names)
	{
		my $log = substr(slurp_file($oc->node($n)->logfile), $log_start{$n});
		while ($log =~ /parameters: \$1 = '([A-Za-z0-9._-]+)', \$2 = '\\x([0-9a-f]+)'/g)
		{
			my ($from, $hex) = ($1, $2);
			next if $seen{"$n $hex"}++;
			push @corpus, [ $n, $from, pack('H*', $hex) ];
		}
	}
}
open(my $cf, '>', $corpus_file) or die "$corpus_file: $!";
print $cf "$_->[0] $_->[1] " . unpack('H*', $_->[2]) . "\n" for @corpus;
close $cf;

# What the corpus holds: record kinds and Raft message types.
my %have;
for my $c (@corpus)
{
	my $e = eval { parse_envelope($c->[2]) } or next;
	for my $r (@{ $e->{records} })
	{
		$have{"record $r->{kind}"}++;
		next unless $r->{kind} == $RECORD_KIND{RAFT};
		my $m = eval { parse_raft_message($r->{data}) };
		$have{ $m ? 'raft ' . raft_type_name($m->{type}) : 'raft undecodable' }++;
	}
}
note("corpus: " . scalar(@corpus) . " envelopes in $corpus_file; "
	  . join(', ', map { "$_: $have{$_}" } sort keys %have));
cmp_ok(scalar @corpus, '>=', 50, 'captured at least 50 real envelopes');
ok(!$have{'raft undecodable'}, 'OrderingWire decodes every captured Raft message')
  or diag("$have{'raft undecodable'} Raft records do not decode: is the wire version new?");
ok($have{"record $RECORD_KIND{$_}"}, "the corpus holds $_ records")
  for qw(RAFT FORWARD_TX GENESIS);
ok($have{"raft $_"}, "the corpus holds $_ messages") for qw(APP APP_RESP HEARTBEAT SNAP);
ok($have{'raft VOTE'} || $have{'raft PREVOTE'}, 'the corpus holds votes');

# Every captured message is of an older term than its channel's once the
# channel has gone through enough elections: a mutation has to reach past
# the term check to matter.  (A member may say anything as itself: a
# mutation that stays a well-formed message of the current term, from the
# sender's own id, is what a Byzantine member could send, which Raft does
# not tolerate and the threat model leaves out.  The mutations below keep
# away from that: terms are older, or set to the current term only with an
# index field at an extreme; Raft records go to another channel only if
# nobody serves it.)
my %max_term;
for my $c (@corpus)
{
	my $e = eval { parse_envelope($c->[2]) } or next;
	for my $r (grep { $_->{kind} == $RECORD_KIND{RAFT} } @{ $e->{records} })
	{
		my $m = eval { parse_raft_message($r->{data}) } or next;
		for my $t ($m->{term}, $m->{log_term}, map({ $_->{term} } @{ $m->{entries} }),
			$m->{snapshot} ? $m->{snapshot}{term} : ())
		{
			$max_term{ $r->{channel} } = $t if $t > ($max_term{ $r->{channel} } // 0);
		}
	}
}
for my $channel ($ch, 'fz2')
{
	my $lowest = sub {
		my @t = map { ($oc->raft_state($_, $channel) // {})->{term} // 0 } @names;
		return (sort { $a <=> $b } @t)[0];
	};
	# Leader transfers to a follower that has every block, for a minute at
	# most.
	my $deadline = time + 60;
	while ($lowest->() <= ($max_term{$channel} // 0) && time < $deadline)
	{
		$leader = $oc->wait_for_leader($channel, \@names, 10) // last;
		my $head = $oc->last_block($leader, $channel) // last;
		my ($to) = grep { ($oc->last_block($_, $channel) // -1) >= $head }
		  $oc->followers($leader, \@names);
		last unless defined $to;
		$oc->admin($channel, \@names, "SELECT ordering.transfer_leadership('$channel', '$to')",
			timeout => 10);
		$oc->wait_until("$to leads $channel", 10,
			sub { ($oc->wait_for_leader($channel, \@names, 5) // '') eq $to });
	}
	cmp_ok($lowest->(), '>', $max_term{$channel} // 0,
		"every node's term of $channel is above any term the corpus names");
}
my %term = map {
	my $n = $_;
	($n => { map { ($_ => ($oc->raft_state($n, $_) // {})->{term} // 1) } ($ch, 'fz2') })
} @names;

# --- Mutations ----------------------------------------------------------------

srand($seed);
my @extremes = (0, 1, 2, 0x7fffffff, 0xffffffff, 1 << 32, (1 << 32) + 1000, 1 << 53,
	(1 << 62) - 1, 1 << 62, 1 << 63, U64_MAX - 1, U64_MAX);
my @raft_fields = qw(from to term log_term index commit reject_hint context);
my @unserved = ('nosuch', 'a' x 63);
my @channels = ($ch, 'fz2', @unserved);

sub pick { return $_[ int(rand(@_)) ]; }

# Re-encodes an envelope from its parse, with records as [channel, kind, data].
sub rebuild
{
	my ($e, @records) = @_;
	return envelope($e->{from}, @records);
}

sub records_of
{
	my ($e) = @_;
	return map { [ $_->{channel}, $_->{kind}, $_->{data} ] } @{ $e->{records} };
}

# One Raft record's message with one field changed; undef if the record is
# not a decodable Raft message.
sub mutate_raft
{
	my ($data, $to, $channel) = @_;
	my $m = eval { parse_raft_message($data) } or return undef;
	my $choice = rand();
	if ($choice < 0.15)
	{
		$m->{type} = int(rand(raft_type_count($m->{version}) + 1));
	}
	elsif ($choice < 0.30 && grep { $m->{type} == $MSG_TYPE{$_} } qw(APP HEARTBEAT VOTE PREVOTE))
	{
		# At the target's current term, so that it gets past the term check.
		$m->{term} = $term{$to}{$channel} // $m->{term};
		my $field = pick(qw(log_term index commit));
		$m->{$field} = pick(@extremes);
	}
	elsif ($choice < 0.55 && @{ $m->{entries} })
	{
		my $e = pick(@{ $m->{entries} });
		my $field = pick(qw(term index type data));
		if ($field eq 'data') { $e->{data} = substr($e->{data}, 0, int(rand(length($e->{data}) + 1))); }
		elsif ($field eq 'type') { $e->{type} = int(rand(256)); }
		else { $e->{$field} = pick(@extremes); }
	}
	elsif ($choice < 0.65 && $m->{snapshot})
	{
		my $field = pick(qw(index term voters learners data));
		if ($field eq 'voters' || $field eq 'learners') { $m->{snapshot}{$field} = [ map { pick(@extremes) } 0 .. int(rand(4)) ]; }
		elsif ($field eq 'data') { $m->{snapshot}{data} = substr($m->{snapshot}{data}, 0, int(rand(length($m->{snapshot}{data}) + 1))); }
		else { $m->{snapshot}{$field} = pick(@extremes); }
	}
	else
	{
		$m->{ pick(@raft_fields) } = pick(@extremes);
	}
	return raft_message(%$m);
}

# One mutation of a captured envelope: [what, bytes].
sub mutate
{
	my ($c) = @_;
	my ($to, $from, $bytes) = @$c;
	my $e = eval { parse_envelope($bytes) };
	my $op = int(rand(10));
	if ($op <= 1 || !$e)
	{
		my $b = $bytes;
		for (0 .. int(rand(2)))
		{
			my $bit = int(rand(8 * length $b));
			vec($b, $bit, 1) ^= 1;
		}
		return [ 'bit flips', $b ];
	}
	if ($op == 2)
	{
		my $b = $bytes;
		substr($b, int(rand(length $b)), 1) = chr(pick(0, 1, 0x7f, 0x80, 0xff, int(rand(256))));
		return [ 'byte edit', $b ];
	}
	if ($op == 3)
	{
		return [ 'truncation', substr($bytes, 0, 1 + int(rand(length($bytes) - 1))) ];
	}
	my @records = records_of($e);
	my $i = int(rand(@records));
	my $r = $e->{records}[$i];
	if ($op == 4)
	{
		my $b = $bytes;
		my $dlen = length $r->{data};
		if (rand() < 0.7)
		{
			substr($b, $r->{length_offset}, 4) =
			  pack('N', pick(0, 1, $dlen - 1, $dlen + 1, 2 * $dlen + 7, 0x7fffffff, 0xffffffff));
			return [ 'record length', $b ];
		}
		substr($b, $e->{count_offset}, 4) =
		  pack('N', pick(0, scalar(@records) + 1, scalar(@records) - 1, 0xffffffff, 1_000_001));
		return [ 'record count', $b ];
	}
	if ($op <= 6 && $r->{kind} == $RECORD_KIND{RAFT})
	{
		my $data = mutate_raft($r->{data}, $to, $r->{channel});
		if (defined $data)
		{
			$records[$i][2] = $data;
			return [ 'raft field', rebuild($e, @records) ];
		}
	}
	if ($op == 7)
	{
		my @copies = map { [@$r{qw(channel kind data)}] } 1 .. 1 + int(rand(20));
		splice(@records, $i, 0, @copies);
		return [ 'records duplicated', rebuild($e, @records) ];
	}
	if ($op == 8)
	{
		# A donor of the same channel (another channel's Raft message would
		# be a well-formed one from the sender, possibly of a newer term).
		my $other = eval { parse_envelope(pick(@corpus)->[2]) };
		my @same_channel = $other ? grep { $_->{channel} eq $r->{channel} } @{ $other->{records} } : ();
		my $donor = @same_channel ? pick(@same_channel) : $r;
		$records[$i][2] = $donor->{data};
		$records[$i][1] = pick($r->{kind}, $donor->{kind}, 0, 5, 255, 1 .. 4);
		return [ 'record spliced or re-kinded', rebuild($e, @records) ];
	}
	$records[$i][0] = $r->{kind} == $RECORD_KIND{RAFT} ? pick(@unserved) : pick(@channels);
	return [ 'record to another channel', rebuild($e, @records) ];
}

# --- Delivery -----------------------------------------------------------------

for my $n (@names)
{
	$oc->safe_query($n, <<'SQL');
CREATE FUNCTION public.fuzz_deliver(from_node text, messages bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ordering.deliver(from_node, messages);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
SQL
}

# What the Raft messages of an envelope say of their senders: incarnation,
# life and recovery flags.
sub identities
{
	my ($bytes) = @_;
	my $e = eval { parse_envelope($bytes) } or return ();
	my %ids;
	for my $r (grep { $_->{kind} == $RECORD_KIND{RAFT} } @{ $e->{records} })
	{
		my $m = eval { parse_raft_message($r->{data}) } or next;
		$ids{ join(':', map { $m->{$_} // 0 } qw(from_incarnation from_boot recovery)) } = 1;
	}
	return %ids;
}

# A mutant in which a sender describes itself otherwise than it did: a
# member lying about its own identity is Byzantine (README, "Threat
# model").  Its peers believe it and tell it to recover; with every member
# lying, every member recovers and none may vote, so the channel waits for
# a leader forever: the safe outcome, outside what this test checks.
sub lies_about_sender
{
	my ($original, $mutant) = @_;
	my %known = identities($original);
	my %said = identities($mutant);
	return scalar grep { !$known{$_} } keys %said;
}

my $health = $oc->health;
my %outcomes;
my %ops;
my $delivered = 0;
my $broken;
my $started = time;
my $batch_size = 50;
MUTATION:
while ($delivered < $n_mutations && time - $started < $budget_seconds)
{
	# A batch goes to one node, from one sender.
	my $base = pick(@corpus);
	my ($to, $from) = @$base[ 0, 1 ];
	my @same = grep { $_->[0] eq $to && $_->[1] eq $from } @corpus;
	my @batch;
	while (@batch < $batch_size && $delivered + @batch < $n_mutations)
	{
		my $original = pick(@same);
		my $m = mutate($original);
		if (lies_about_sender($original->[2], $m->[1]))
		{
			$ops{'identity lie (skipped)'}++;
			next;
		}
		$ops{ $m->[0] }++;
		push @batch, $m;
	}
	my $sql = join('', map {
		'SELECT public.fuzz_deliver(' . $lit->($from) . ', ' . bytea_literal($_->[1]) . ");\n"
	} @batch);
	my $r = $oc->query_as($to, "orderer_$from", $sql, timeout => 60);
	$delivered += @batch;
	if (!$r->{ok})
	{
		$broken = "a batch from $from to $to: $r->{stderr}";
		my $file = "$PostgreSQL::Test::Utils::log_path/082_fuzz_failed_batch.txt";
		open(my $fh, '>', $file) or die "$file: $!";
		print $fh "$to $from $_->[0] " . unpack('H*', $_->[1]) . "\n" for @batch;
		close $fh;
		diag("a delivery failed; its batch is in $file");
		last MUTATION;
	}
	$outcomes{$_}++ for grep { $_ ne '' } split /\n/, $r->{stdout};
	# Every few batches: is everybody still there?
	if (int($delivered / $batch_size) % 10 == 0)
	{
		for my $n (@names)
		{
			next if $oc->query($n, 'SELECT 1', timeout => 20)->{ok};
			$broken = "$n stopped answering after $delivered mutations";
			last MUTATION;
		}
	}
}
my $elapsed = time - $started;
note(sprintf('delivered %d mutations in %.1fs; mutations: %s; outcomes: %s',
	$delivered, $elapsed, join(', ', map { "$_ $ops{$_}" } sort keys %ops),
	join(', ', map { "$_ $outcomes{$_}" } sort keys %outcomes)));
ok(!defined $broken, 'every delivery call returned') or diag($broken);
cmp_ok($delivered, '>=', $n_mutations < 500 ? $n_mutations : 500, "at least 500 mutations delivered ($delivered)");
my @unexpected = grep { !/^(ok|22P03|22023|42501|54000)$/ } keys %outcomes;
ok(!@unexpected, 'deliver() accepted each mutation or refused it with 22P03, 22023, 42501 or 54000')
  or diag('unexpected: ' . join(', ', map { "$_ x$outcomes{$_}" } @unexpected));
ok($outcomes{ok}, 'some mutations passed deliver() and reached the worker');

$oc->assert_cluster_sound($ch, \@names, $health, tag => 'after-fuzz');
$oc->assert_cluster_sound('fz2', \@names, $oc->health, tag => 'fz2-after-fuzz');

done_testing();
