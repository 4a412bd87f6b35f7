
=pod

=head1 NAME

OrderingWire - encode and decode what ordering workers send each other, so
that the TAP tests can craft, inspect and mutate it

=head1 SYNOPSIS

  use OrderingWire qw(:all);

  my $msg = raft_message(type => 'HEARTBEAT', from => 3, to => 1,
                         term => 7, commit => 12);
  my $env = envelope('n3', [ 'ch1', 'RAFT', $msg ]);
  # ... SELECT ordering.deliver('n3', <$env as bytea>) as role orderer_n3

  my $e = parse_envelope($env);          # {from, records => [...]}
  my $m = parse_raft_message($e->{records}[0]{data});

=head1 DESCRIPTION

Every encoding detail of the wire lives here, in one place, so that a new
wire version means one change for every test:

=over

=item * the envelope of one deliver() call (src/common/envelope.h): version,
sender name, record count, then per record channel, kind, length, data;
integers big-endian;

=item * a Raft message (src/raft/README.md, "Wire format"; src/raft/codec.c):
version, type, then unsigned LEB128 varints (minimal), bools as 0/1 bytes,
entries and an optional snapshot.  Versions 1 and 2 (2 adds the sender's
identity: from_incarnation, from_boot, recovery); messages are written in
the version of the tree under test (RAFT_WIRE_VERSION in src/raft/raft.h,
found from this file's place), read in either;

=item * a configuration change (the data of a CONF_CHANGE entry; its own
version, 1, which does not move with the messages');

=item * the worker's batch of transactions (src/common/entry.h), which is both
the data of a NORMAL log entry and of a FORWARD_TX record;

=item * the GENESIS record (src/worker/channel_joining.c): JSON text
{"genesis": "<block 0's document>", "consenters": {node: {"id", "conninfo",
"learner"}}}.

=back

Encoders take any value (they are for forgeries too: lengths that lie, terms
of 2^64-1); decoders die on malformed input, with the reason.

Numbers up to 2^64-1 need Perl's 64-bit integers: pass values built from
integers (C<~0>, C<1 << 63>, C<U64_MAX> below), never from C<**>, which gives
a float.

=cut

package OrderingWire;

use strict;
use warnings;

use Carp;
use Config;
use Exporter 'import';
use File::Basename ();
use File::Spec;
use JSON::PP;

croak 'OrderingWire needs a perl with 64-bit integers' unless $Config{ivsize} >= 8;

our @EXPORT_OK = qw(
  ENVELOPE_VERSION CONF_CHANGE_VERSION U64_MAX CAMPAIGN_TRANSFER_CONTEXT
  $RAFT_WIRE_VERSION raft_type_count
  %RECORD_KIND %MSG_TYPE %ENTRY_TYPE %CONF_CHANGE_TYPE
  envelope parse_envelope
  varint raft_message parse_raft_message raft_type_name
  conf_change batch parse_batch genesis_record
  bytea_literal);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

use constant ENVELOPE_VERSION => 2;
use constant CONF_CHANGE_VERSION => 1;
use constant U64_MAX => ~0;

# The Raft wire versions this module reads and writes.
my %KNOWN_WIRE_VERSION = (1 => 1, 2 => 1);

# The Raft wire version of the tree these tests belong to.
sub _tree_wire_version
{
	my $header = File::Spec->catfile(File::Basename::dirname(__FILE__),
		'..', '..', 'src', 'raft', 'raft.h');
	open(my $fh, '<', $header) or return undef;
	while (<$fh>)
	{
		return $1 if /^#define\s+RAFT_WIRE_VERSION\s+(\d+)/;
	}
	return undef;
}

our $RAFT_WIRE_VERSION = _tree_wire_version() // 2;
croak "OrderingWire does not know Raft wire version $RAFT_WIRE_VERSION (src/raft/raft.h): teach it"
  unless $KNOWN_WIRE_VERSION{$RAFT_WIRE_VERSION};
# raft_internal.h: a VOTE with this context is a leader transfer (no lease).
use constant CAMPAIGN_TRANSFER_CONTEXT => 1;

# src/common/envelope.h, OrderingRecordKind
our %RECORD_KIND = (RAFT => 1, FORWARD_TX => 2, JOIN_REQUEST => 3, GENESIS => 4);

# src/raft/raft.h, raft_message_type
our %MSG_TYPE = (
	HUP => 0, BEAT => 1, PROP => 2, APP => 3, APP_RESP => 4,
	VOTE => 5, VOTE_RESP => 6, PREVOTE => 7, PREVOTE_RESP => 8,
	HEARTBEAT => 9, HEARTBEAT_RESP => 10, SNAP => 11, TIMEOUT_NOW => 12,
	TRANSFER_LEADER => 13, UNREACHABLE => 14, SNAP_STATUS => 15,
	RECOVER => 16, HELLO => 17);
my %MSG_TYPE_NAME = reverse %MSG_TYPE;
my %MSG_TYPE_COUNT = (1 => 16, 2 => 18);

our %ENTRY_TYPE = (NORMAL => 0, CONF_CHANGE => 1);
our %CONF_CHANGE_TYPE = (ADD_VOTER => 0, ADD_LEARNER => 1, REMOVE => 2);

my $json = JSON::PP->new->canonical(1);

sub _kind
{
	my ($kind) = @_;
	return $kind if $kind =~ /^\d+$/;
	croak "unknown record kind $kind" unless exists $RECORD_KIND{$kind};
	return $RECORD_KIND{$kind};
}

sub raft_type_name
{
	my ($type) = @_;
	return $MSG_TYPE_NAME{$type} // "type$type";
}

# How many message types a wire version has (types are 0 .. count - 1).
sub raft_type_count
{
	my ($version) = @_;
	return $MSG_TYPE_COUNT{ $version // $RAFT_WIRE_VERSION };
}

=pod

=head2 Envelopes

envelope($from, @records): each record [channel, kind, data, block0], kind a
number or a name of %RECORD_KIND, block0 the 32-byte hash of the channel's
block 0 the record names (default: 32 zero bytes, "not stated", which the
receiver lets through as it does from a node that lacks the channel).
Options in a leading hashref: {version => n, count => n} to lie in the
header.

parse_envelope($bytes) returns {version, from, count, records => [{channel,
kind, block0, data, offset, length_offset, data_offset, end}], header_end}
where the offsets are byte positions in $bytes (for targeted mutations);
dies on malformed input (the checks of EnvelopeValidate).

=cut

sub envelope
{
	my @args = @_;
	my $opts = ref $args[0] eq 'HASH' ? shift @args : {};
	my ($from, @records) = @args;
	my $out = pack('C C/a* N', $opts->{version} // ENVELOPE_VERSION, $from,
		$opts->{count} // scalar @records);
	for my $r (@records)
	{
		my ($channel, $kind, $data, $block0) = @$r;
		$block0 //= "\0" x 32;
		die "block0 must be 32 bytes\n" unless length $block0 == 32;
		$out .= pack('C/a* C a32 N/a*', $channel, _kind($kind), $block0,
			$data // '');
	}
	return $out;
}

sub parse_envelope
{
	my ($bytes) = @_;
	my $len = length $bytes;
	my $pos = 0;
	my $take = sub {
		my ($n, $what) = @_;
		die "truncated $what\n" if $pos + $n > $len;
		my $s = substr($bytes, $pos, $n);
		$pos += $n;
		return $s;
	};
	my $e = {};
	$e->{version} = ord $take->(1, 'version');
	die "unsupported envelope version $e->{version}\n"
	  unless $e->{version} == ENVELOPE_VERSION;
	my $from_len = ord $take->(1, 'name length');
	die "name length out of range\n" if $from_len == 0 || $from_len > 63;
	$e->{from} = $take->($from_len, 'name');
	$e->{count_offset} = $pos;
	$e->{count} = unpack('N', $take->(4, 'record count'));
	die "record count out of range\n" if $e->{count} == 0;
	$e->{header_end} = $pos;
	$e->{records} = [];
	for my $i (1 .. $e->{count})
	{
		my $r = { offset => $pos };
		my $clen = ord $take->(1, 'channel length');
		die "name length out of range\n" if $clen == 0 || $clen > 63;
		$r->{channel} = $take->($clen, 'channel');
		$r->{kind} = ord $take->(1, 'kind');
		$r->{block0} = $take->(32, 'record header');
		$r->{length_offset} = $pos;
		my $dlen = unpack('N', $take->(4, 'record length'));
		$r->{data_offset} = $pos;
		$r->{data} = $take->($dlen, 'record data');
		$r->{end} = $pos;
		push @{ $e->{records} }, $r;
	}
	die "trailing bytes after the last record\n" if $pos != $len;
	return $e;
}

=pod

=head2 Raft messages

varint($n): the minimal unsigned LEB128 encoding of $n (up to 2^64-1).

raft_message(%fields) encodes one message.  Fields (all default 0/empty):
type (a number or a name of %MSG_TYPE), from, to, term, log_term, index,
commit, reject, reject_hint, context, from_incarnation, from_boot, recovery
(version 2), entries => [{term, index, type, data}], snapshot => {index,
term, voters => [...], learners => [...], data}.  A snapshot is written
when given (has_snapshot = 1), whatever the type: forgeries may pair them
wrongly on purpose.  version => n: the layout of wire version n (default
$RAFT_WIRE_VERSION); an unknown n is written in the default layout with n
as its version byte (a lie).

parse_raft_message($bytes) returns the same fields (type as a number,
version as read), or dies with the reason (the codec's checks: a known
version, minimal varints, bools 0/1, snapshot exactly on SNAP, no trailing
bytes).

=cut

sub varint
{
	my ($n) = @_;
	croak 'varint of a negative number' if $n < 0;
	my $out = '';
	while ($n >= 0x80)
	{
		$out .= chr(($n & 0x7f) | 0x80);
		$n >>= 7;
	}
	return $out . chr($n);
}

sub raft_message
{
	my (%m) = @_;
	my $type = $m{type} // 0;
	$type = $MSG_TYPE{$type} // croak("unknown message type $type")
	  unless $type =~ /^\d+$/;
	my $version = $m{version} // $RAFT_WIRE_VERSION;
	my $layout = $KNOWN_WIRE_VERSION{$version} ? $version : $RAFT_WIRE_VERSION;
	my $out = chr($version) . chr($type);
	$out .= varint($m{$_} // 0) for qw(from to term log_term index commit);
	$out .= chr($m{reject} ? 1 : 0);
	$out .= varint($m{$_} // 0) for qw(reject_hint context);
	$out .= varint($m{from_incarnation} // 0) . varint($m{from_boot} // 0)
	  . chr($m{recovery} // 0)
	  if $layout >= 2;
	my @entries = @{ $m{entries} // [] };
	$out .= varint(scalar @entries);
	for my $e (@entries)
	{
		my $data = $e->{data} // '';
		$out .= varint($e->{term} // 0) . varint($e->{index} // 0)
		  . chr($e->{type} // 0) . varint(length $data) . $data;
	}
	if (my $s = $m{snapshot})
	{
		$out .= chr(1) . varint($s->{index} // 0) . varint($s->{term} // 0);
		for my $list (qw(voters learners))
		{
			my @ids = @{ $s->{$list} // [] };
			$out .= varint(scalar @ids);
			$out .= varint($_) for @ids;
		}
		my $data = $s->{data} // '';
		$out .= varint(length $data) . $data;
	}
	else
	{
		$out .= chr(0);
	}
	return $out;
}

# A reader over a byte string: varints, bytes, bools; dies on malformed.
sub _reader
{
	my ($bytes) = @_;
	my $pos = 0;
	my $len = length $bytes;
	my %r;
	$r{u8} = sub {
		die "truncated\n" if $pos >= $len;
		return ord substr($bytes, $pos++, 1);
	};
	$r{bytes} = sub {
		my ($n) = @_;
		die "truncated\n" if $n > $len - $pos;
		my $s = substr($bytes, $pos, $n);
		$pos += $n;
		return $s;
	};
	$r{bool} = sub {
		my $b = $r{u8}->();
		die "bool other than 0 or 1\n" if $b > 1;
		return $b;
	};
	$r{varint} = sub {
		my $v = 0;
		for my $i (0 .. 9)
		{
			my $b = $r{u8}->();
			die "varint over 64 bits\n" if $i == 9 && $b > 1;
			$v |= ($b & 0x7f) << (7 * $i);
			if (!($b & 0x80))
			{
				die "overlong varint\n" if $i > 0 && $b == 0;
				return $v;
			}
		}
		die "varint over 64 bits\n";
	};
	$r{left} = sub { return $len - $pos; };
	$r{pos} = sub { return $pos; };
	return \%r;
}

sub parse_raft_message
{
	my ($bytes) = @_;
	my $r = _reader($bytes);
	my %m;
	$m{version} = $r->{u8}->();
	die "unknown wire version $m{version}\n" unless $KNOWN_WIRE_VERSION{ $m{version} };
	$m{type} = $r->{u8}->();
	die "unknown message type $m{type}\n" if $m{type} >= raft_type_count($m{version});
	$m{$_} = $r->{varint}->() for qw(from to term log_term index commit);
	$m{reject} = $r->{bool}->();
	$m{$_} = $r->{varint}->() for qw(reject_hint context);
	if ($m{version} >= 2)
	{
		$m{$_} = $r->{varint}->() for qw(from_incarnation from_boot);
		$m{recovery} = $r->{u8}->();
		die "recovery byte $m{recovery}\n" if $m{recovery} > 2;
	}
	my $n = $r->{varint}->();
	die "too many entries\n" if $n > 65536 || $n * 4 > $r->{left}->();
	$m{entries} = [];
	for (1 .. $n)
	{
		my %e;
		$e{term} = $r->{varint}->();
		$e{index} = $r->{varint}->();
		$e{type} = $r->{u8}->();
		die "unknown entry type\n" if $e{type} > 1;
		$e{data} = $r->{bytes}->($r->{varint}->());
		push @{ $m{entries} }, \%e;
	}
	my $has_snapshot = $r->{bool}->();
	die "snapshot on a message other than SNAP, or none on SNAP\n"
	  if $has_snapshot != ($m{type} == $MSG_TYPE{SNAP} ? 1 : 0);
	if ($has_snapshot)
	{
		my %s;
		$s{index} = $r->{varint}->();
		$s{term} = $r->{varint}->();
		for my $list (qw(voters learners))
		{
			my $count = $r->{varint}->();
			die "too many members\n" if $count > 32;
			$s{$list} = [ map { $r->{varint}->() } 1 .. $count ];
		}
		$s{data} = $r->{bytes}->($r->{varint}->());
		$m{snapshot} = \%s;
	}
	die "trailing bytes\n" if $r->{left}->() != 0;
	return \%m;
}

=pod

conf_change($type, $node, $context): the data of a CONF_CHANGE entry; $type
a number or a name of %CONF_CHANGE_TYPE.

=cut

sub conf_change
{
	my ($type, $node, $context) = @_;
	$type = $CONF_CHANGE_TYPE{$type} // croak("unknown change $type")
	  unless $type =~ /^\d+$/;
	$context //= '';
	return chr(CONF_CHANGE_VERSION) . chr($type) . varint($node)
	  . varint(length $context) . $context;
}

=pod

=head2 Batches of transactions

batch(@txs): each tx [id, payload]; 'B', uint32 count, then per transaction
uint16 id length, id bytes, uint32 payload length, payload (big-endian).
The id and payload are taken as bytes, as they are (forgeries may carry a
NUL byte, bad UTF-8 or 300 bytes of id).  Options in a leading hashref:
{count => n} to lie about the count.

parse_batch($bytes) returns [[id, payload], ...] or dies.

=cut

sub batch
{
	my @txs = @_;
	my $opts = ref $txs[0] eq 'HASH' ? shift @txs : {};
	my $out = 'B' . pack('N', $opts->{count} // scalar @txs);
	for my $tx (@txs)
	{
		my ($id, $payload) = @$tx;
		$out .= pack('n/a* N/a*', $id, $payload);
	}
	return $out;
}

sub parse_batch
{
	my ($bytes) = @_;
	my $r = _reader($bytes);
	die "not a batch\n" unless $r->{u8}->() == ord 'B';
	my $n = unpack('N', $r->{bytes}->(4));
	my @txs;
	for (1 .. $n)
	{
		my $id = $r->{bytes}->(unpack('n', $r->{bytes}->(2)));
		my $payload = $r->{bytes}->(unpack('N', $r->{bytes}->(4)));
		push @txs, [ $id, $payload ];
	}
	die "trailing bytes\n" if $r->{left}->() != 0;
	return \@txs;
}

=pod

=head2 Genesis

genesis_record($document_text, \%book): the data of a GENESIS record; %book
maps node name to {id, conninfo, learner} (learner defaults to false).

=cut

sub genesis_record
{
	my ($document, $book) = @_;
	my %consenters = map {
		my $b = $book->{$_};
		($_ => { id => 0 + $b->{id}, conninfo => $b->{conninfo},
			learner => $b->{learner} ? JSON::PP::true : JSON::PP::false })
	} keys %$book;
	return $json->encode({ genesis => $document, consenters => \%consenters });
}

=pod

bytea_literal($bytes): a SQL literal of type bytea.

=cut

sub bytea_literal
{
	my ($bytes) = @_;
	return "'\\x" . unpack('H*', $bytes) . "'::bytea";
}

1;
