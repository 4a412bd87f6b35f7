"""pg_cluster.py: three (or more) PostgreSQL 15 servers running ordering on
127.0.0.1, each in its own data directory under the bench's directory.

Node settings are PostgreSQL's defaults except what the bench needs:
loading the extension, naming the node, the port, room for the idle
channels (ordering.max_channels) and the clients (max_connections).
"""
import json
import os
import subprocess

import procstat
from waiting import wait_until

PSQL_TIMEOUT_S = 120
# warm_wal: WAL written on each node before the bench, in rows of this size
WAL_WARMUP_MB = 600
WAL_WARMUP_ROW_BYTES = 1024


class PgCluster:
    def __init__(self, work_dir, port_base, node_count, max_channels, extra_conf=""):
        self.work_dir = work_dir
        self.names = ["n%d" % i for i in range(1, node_count + 1)]
        self.ports = {n: port_base + i for i, n in enumerate(self.names, 1)}
        self.max_channels = max_channels
        self.extra_conf = extra_conf
        self.running = set()
        self.starts = {n: 0 for n in self.names}

    # --- servers
    def data_dir(self, node):
        return os.path.join(self.work_dir, node)

    def log_file(self, node):
        return os.path.join(self.work_dir, node + ".log")

    def conninfo(self, node):
        return "host=127.0.0.1 port=%d dbname=postgres user=postgres" % self.ports[node]

    def create(self):
        for node in self.names:
            port = self.ports[node]
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
                raise RuntimeError("port %d is in use" % port)
            subprocess.run(["initdb", "-D", self.data_dir(node), "-A", "trust", "-U", "postgres",
                            "--no-sync"], check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(self.data_dir(node), "postgresql.conf"), "a") as f:
                f.write("\n# bench/pg_cluster.py\n"
                        "port = %d\n"
                        "listen_addresses = '127.0.0.1'\n"
                        "unix_socket_directories = '%s'\n"
                        "max_connections = 200\n"
                        "shared_preload_libraries = 'ordering'\n"
                        "ordering.node_name = '%s'\n"
                        "ordering.database = 'postgres'\n"
                        "ordering.max_channels = %d\n"
                        "%s\n" % (port, self.work_dir, node, self.max_channels, self.extra_conf))
        for node in self.names:
            self.start(node)
            self.psql(node, "CREATE EXTENSION ordering; CREATE EXTENSION pgcrypto;")
        self.warm_wal()

    def warm_wal(self):
        """Bring each node's WAL to the state of a server that has run a
        while: segments recycled by a checkpoint, ready for the next writes.
        A fresh initdb has none, so every 16 MB segment is created, zero
        filled and fsynced inside whichever commit crosses into it; the
        three nodes apply the same rows, cross together, and every client
        stalled for 130 to 200 ms about every 1.4 s under load (the ordering
        workers waiting on WALInitWrite) until the first checkpoint.  Here
        WAL_WARMUP_MB of WAL is written and the table dropped, then a
        checkpoint recycles the segments (up to max_wal_size, after the
        distance it has seen).  Settings stay PostgreSQL's defaults."""
        rows = WAL_WARMUP_MB * 1024 * 1024 // WAL_WARMUP_ROW_BYTES
        procs = []
        for node in self.names:
            procs.append(subprocess.Popen(
                ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                 str(self.ports[node]), "-U", "postgres", "-d", "postgres",
                 "-c", "CREATE TABLE bench_wal_warmup AS SELECT repeat('x', %d) AS filler"
                       " FROM generate_series(1, %d)" % (WAL_WARMUP_ROW_BYTES - 64, rows),
                 "-c", "DROP TABLE bench_wal_warmup", "-c", "CHECKPOINT"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for node, proc in zip(self.names, procs):
            _, err = proc.communicate(timeout=PSQL_TIMEOUT_S)
            if proc.returncode != 0:
                raise RuntimeError("WAL warm-up on %s: %s" % (node, err.strip()))

    def start(self, node):
        subprocess.run(["pg_ctl", "-D", self.data_dir(node), "-l", self.log_file(node), "-w",
                        "-t", "120", "start"], check=True, stdout=subprocess.DEVNULL)
        self.running.add(node)
        self.starts[node] += 1

    def stop(self, node, mode="fast"):
        subprocess.run(["pg_ctl", "-D", self.data_dir(node), "-m", mode, "-w", "-t", "120",
                        "stop"], check=True, stdout=subprocess.DEVNULL)
        self.running.discard(node)

    def stop_all(self):
        for node in list(self.running):
            subprocess.run(["pg_ctl", "-D", self.data_dir(node), "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.running.discard(node)

    # --- processes
    def postmaster_pid(self, node):
        try:
            with open(os.path.join(self.data_dir(node), "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def postmaster_pids(self):
        pids = (self.postmaster_pid(n) for n in sorted(self.running))
        return [p for p in pids if p]

    def worker_pid(self, node, table=None):
        """The pid of the node's ordering worker (by its process title), or None."""
        root = self.postmaster_pid(node)
        if root is None:
            return None
        table = table if table is not None else procstat.process_table()
        for pid in procstat.descendants(root, table):
            if pid != root and "ordering worker" in procstat.command_line(pid):
                return pid
        return None

    # --- SQL
    def psql(self, node, sql, timeout_s=PSQL_TIMEOUT_S):
        result = subprocess.run(
            ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
             str(self.ports[node]), "-U", "postgres", "-d", "postgres", "-c", sql],
            capture_output=True, text=True, timeout=timeout_s)
        if result.returncode != 0:
            raise RuntimeError("psql on %s: %s" % (node, result.stderr.strip()))
        return result.stdout.strip()

    def ordering_tables(self, node):
        """The extension's tables on node, as a list for VACUUM."""
        return self.psql(node, "SELECT string_agg(format('%I.%I', schemaname, tablename),"
                               " ', ') FROM pg_tables WHERE schemaname = 'ordering'")

    def consenters_json(self, members):
        return json.dumps({n: self.conninfo(n) for n in members})

    def create_channels(self, channels, config, timeout_s=120, members=None):
        """Create channels whose consenters are members (default: every
        node) on the first of them; the others join by themselves.  Waits
        until every member has them and agrees on each one's leader (a
        one-member channel elects itself within an election timeout)."""
        members = members or self.names
        values = ", ".join("(%s)" % quote(c) for c in channels)
        self.psql(members[0], "SELECT ordering.create_channel(c, %s::jsonb, %s::jsonb) "
                              "FROM (VALUES %s) AS v(c)"
                  % (quote(self.consenters_json(members)), quote(config), values))
        wait_until("%d channel(s) with an agreed leader on %s" % (len(channels),
                                                                   ", ".join(members)),
                   timeout_s, lambda: len(self.leaders(channels, members)) == len(channels),
                   0.5)

    def leaders(self, channels, members=None):
        """{channel: leader node} for the channels whose leader every running
        member (of members, default every node) agrees on, and is running (the
        others may still follow a node that was just stopped)."""
        seen = {}
        in_list = ", ".join(quote(c) for c in channels)
        running = self.running.intersection(members or self.names)
        for node in sorted(running):
            rows = self.psql(node, "SELECT channel, leader FROM ordering.status "
                                   "WHERE channel IN (%s) AND leader IS NOT NULL" % in_list)
            for line in rows.splitlines():
                channel, leader = line.split("|", 1)
                seen.setdefault(channel, []).append(leader)
        return agreed_leaders(seen, running)

    def leader(self, channel, timeout_s=60):
        return wait_until("a leader of %s" % channel, timeout_s,
                          lambda: self.leaders([channel]).get(channel), 0.2)

    def last_block(self, node, channel):
        value = self.psql(node, "SELECT max(number) FROM ordering.blocks WHERE channel = %s"
                          % quote(channel))
        return int(value) if value else -1

    def same_head(self, channel):
        """True when every running node's last block of channel is the same."""
        heads = set()
        for node in sorted(self.running):
            heads.add(self.psql(node, "SELECT number || ':' || encode(hash, 'hex') "
                                      "FROM ordering.blocks WHERE channel = %s "
                                      "ORDER BY number DESC LIMIT 1" % quote(channel)))
        return len(heads) == 1

    def ordered_count(self, node, channel):
        return int(self.psql(node, "SELECT coalesce(sum(tx_count), 0) FROM ordering.blocks "
                                   "WHERE channel = %s" % quote(channel)))


def agreed_leaders(seen, nodes):
    """{channel: leader} of seen ({channel: [leader each node reported]}) for
    the channels that every one of nodes reported with the same leader, one
    of nodes."""
    agreed = {}
    for channel, leaders in seen.items():
        if len(leaders) == len(nodes) and len(set(leaders)) == 1 and leaders[0] in nodes:
            agreed[channel] = leaders[0]
    return agreed


def quote(text):
    return "'" + text.replace("'", "''") + "'"


