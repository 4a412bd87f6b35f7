#!/usr/bin/perl
# reaper.pl COMMAND [ARGS...]: run COMMAND as a child subreaper, so that
# orphaned descendants are reparented to us and reaped at once.
#
# Tests kill postmasters with SIGKILL.  A killed postmaster is an orphan
# (pg_ctl started it and exited); if nothing reaps it, it stays a zombie,
# kill(pid, 0) still succeeds, and "pg_ctl start" then refuses to start a
# new server over the old postmaster.pid.  Some containers' PID 1 does not
# reap orphans, so we do it ourselves.  Exits with COMMAND's status.
use strict;
use warnings;
use POSIX ":sys_wait_h";

my $PR_SET_CHILD_SUBREAPER = 36;
my $SYS_prctl = 157;			# x86_64
syscall($SYS_prctl, $PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
  or warn "reaper.pl: prctl(PR_SET_CHILD_SUBREAPER) failed: $!\n";

my $pid = fork() // die "reaper.pl: fork: $!\n";
if ($pid == 0)
{
	exec(@ARGV) or die "reaper.pl: exec $ARGV[0]: $!\n";
}

# Reap everything until the command itself has exited.
my $status;
while (1)
{
	my $done = waitpid(-1, 0);
	last if $done < 0;
	if ($done == $pid)
	{
		$status = $?;
		last;
	}
}
# Reap what is left without waiting for daemons the command left running.
1 while waitpid(-1, WNOHANG) > 0;
exit($status >> 8) if ($status & 127) == 0;
exit(128 + ($status & 127));
