#!/usr/bin/env bash
# check-layout.sh: the source tree keeps the shape README.md's "Layout"
# describes.  Fails (exit 1, one line per problem) when:
#
#   - more than two C files sit directly in src/;
#   - a C file or header anywhere in the tree (src/, test/, bench/...) has
#     more than 1,000 lines;
#   - a header under src/ includes postgres.h (only .c files do, first);
#   - a PostgreSQL-side file includes a project header without its folder
#     ("channel.h" instead of "worker/channel.h"), or a header of the Raft
#     core other than raft/raft.h;
#   - the include graph between modules outside src/raft/ has a cycle, or
#     points the wrong way between layers:
#         src/*.c  ->  sql/, worker/  ->  store/  ->  common/  ->  raft/
#     (sql/ and worker/ never include each other);
#   - a header in src/common/ has the name of one of PostgreSQL's
#     common/ headers, which it would hide (checked when pg_config runs).
#
# A module is a header and the .c files that implement it: x.c and x_*.c
# beside x.h (x_internal.h belongs to x too).
#
#   check-layout.sh [top]      default: the tree this script is in
set -euo pipefail
top="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
pg_common=""
if command -v pg_config >/dev/null 2>&1; then
	pg_common="$(pg_config --includedir-server)/common"
fi

cd "$top"
exec perl -e '
use strict;
use warnings;

my $pg_common = shift @ARGV;
my @problems;
my %rank = (raft => 0, common => 1, store => 2, worker => 3, sql => 3,
			top => 4);

my @files = split /\n/, `find src -name "*.[ch]" | sort`;

my @top_c = grep { m{^src/[^/]+\.c$} } @files;
push @problems, "more than two C files directly in src/: @top_c"
  if @top_c > 2;

# Every C file and header of the tree, as git sees it (tracked, or new and
# not ignored), or every one below here outside a git checkout.
my @sized = `git ls-files -co --exclude-standard -- "*.c" "*.h" 2>/dev/null`;
@sized = `find . -path ./.git -prune -o -name "*.[ch]" -type f -print`
  if $? != 0;
chomp @sized;
s{^\./}{} for @sized;
for my $f (sort grep { -f $_ } @sized)
{
	open my $fh, "<", $f or die "$f: $!";
	my $n = 0;
	$n++ while <$fh>;
	close $fh;
	push @problems, "$f has $n lines (at most 1000)" if $n > 1000;
}

my %exists = map { $_ => 1 } @files;
my %headers;
for my $f (@files)
{
	$headers{$1}{$2} = 1 if $f =~ m{^src/(\w+)/(\w+)\.h$};
}

# The module a file belongs to: "folder/name".
sub module_of
{
	my ($f) = @_;
	return "top/$1" if $f =~ m{^src/(\w+)\.[ch]$};
	my ($dir, $base) = $f =~ m{^src/(\w+)/(\w+)\.[ch]$} or return undef;
	return "raft/raft" if $dir eq "raft";
	$base =~ s/_internal$//;
	my $name = $base;
	while (!$headers{$dir}{$name} && $name =~ s/_[a-z0-9]+$//) { }
	return "$dir/" . ($headers{$dir}{$name} ? $name : $base);
}

my %edges;
for my $f (@files)
{
	open my $fh, "<", $f or die "$f: $!";
	my @lines = <$fh>;
	close $fh;

	next if $f =~ m{^src/raft/};

	my $from = module_of($f);
	for my $line (@lines)
	{
		next unless $line =~ /^\s*#\s*include\s+"([^"]+)"/;
		my $inc = $1;
		if ($inc eq "postgres.h")
		{
			push @problems, "$f: a header includes postgres.h" if $f =~ /\.h$/;
			next;
		}
		if ($inc !~ m{/})
		{
			my @mine = grep { m{/\Q$inc\E$} } @files;
			push @problems, "$f: include \"$inc\" with its folder (@mine)"
			  if @mine;
			next;
		}
		my ($dir) = $inc =~ m{^(\w+)/};
		next unless $dir && exists $rank{$dir} && $exists{"src/$inc"};
		if ($dir eq "raft" && $inc ne "raft/raft.h")
		{
			push @problems, "$f: includes $inc; outside the core only raft/raft.h";
			next;
		}
		my $to = module_of("src/$inc");
		next if $to eq $from;
		my ($fl) = split m{/}, $from;
		my ($tl) = split m{/}, $to;
		push @problems, "$f: $from includes $to, against the layers"
		  unless $fl eq $tl || $rank{$fl} > $rank{$tl};
		$edges{$from}{$to} = 1;
	}
}

# Cycles: depth-first search, reporting each cycle found once.
my (%state, @stack, %seen_cycle);
sub visit
{
	my ($m) = @_;
	$state{$m} = 1;
	push @stack, $m;
	for my $n (sort keys %{ $edges{$m} || {} })
	{
		if (($state{$n} // 0) == 1)
		{
			my @cycle;
			for (my $i = $#stack; $i >= 0; $i--)
			{
				unshift @cycle, $stack[$i];
				last if $stack[$i] eq $n;
			}
			my $key = join " ", sort @cycle;
			push @problems, "include cycle: " . join(" -> ", @cycle, $n)
			  unless $seen_cycle{$key}++;
		}
		elsif (!$state{$n})
		{
			visit($n);
		}
	}
	pop @stack;
	$state{$m} = 2;
}
visit($_) for sort keys %edges;

if ($pg_common ne "" && -d $pg_common)
{
	for my $h (sort keys %{ $headers{common} || {} })
	{
		push @problems,
		  "src/common/$h.h hides PostgreSQL'"'"'s common/$h.h: rename it"
		  if -e "$pg_common/$h.h";
	}
}

if (@problems)
{
	print STDERR "check-layout: $_\n" for @problems;
	exit 1;
}
printf "check-layout: %d files, %d modules, layers and includes in order;"
  . " %d C files and headers of at most 1000 lines\n",
  scalar(@files), scalar(keys %edges), scalar(@sized);
' "$pg_common"
