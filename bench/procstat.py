"""procstat.py: CPU time and memory of processes, read from /proc.

A system's CPU time is that of a process tree: every live process under a
root (PostgreSQL's postmaster and its backends and workers, an etcd member,
a load generator) plus what its exited children used, which the kernel adds
to the parent's cutime/cstime when it reaps them.  So a backend that ends
between two samples is still counted once.
"""
import os

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces
    return text.rsplit(")", 1)[1].split()


def process_table():
    """{pid: (ppid, cpu_ticks)} of every process; cpu_ticks counts the
    process's own time and that of its reaped children."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        # fields[0] is the state; ppid is field 4 of stat, utime..cstime 14..17
        ppid = int(fields[1])
        ticks = sum(int(x) for x in fields[11:15])
        table[int(entry)] = (ppid, ticks)
    return table


def descendants(root, table):
    """root and every process below it in table."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu_seconds(roots, table=None):
    """CPU seconds (user + system) used so far by the trees under roots."""
    table = table if table is not None else process_table()
    ticks = 0
    for root in roots:
        for pid in descendants(root, table):
            ticks += table[pid][1]
    return ticks / CLOCK_TICKS_PER_SECOND


def memory_kib(pid):
    """{'VmHWM': kib, 'VmRSS': kib, 'RssAnon': kib} of pid, or {} if gone."""
    wanted = ("VmHWM", "VmRSS", "RssAnon")
    found = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in wanted:
                    found[key] = int(value.split()[0])
    except OSError:
        return {}
    return found


def command_line(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds of some process trees between start() and stop()."""

    def __init__(self, roots_of):
        # roots_of: a function returning the root pids, asked at each sample
        # (a restarted server has a new postmaster)
        self.roots_of = roots_of
        self.begin = None
        self.seconds = None

    def start(self):
        self.begin = tree_cpu_seconds(self.roots_of())

    def stop(self):
        self.seconds = tree_cpu_seconds(self.roots_of()) - self.begin
        return self.seconds
