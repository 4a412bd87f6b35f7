"""part_idle.py: what idle channels cost.

Measures each server's CPU (its postmaster and every process under it) over
BENCH_IDLE_SECONDS with the channels that exist already, then creates
BENCH_IDLE_CHANNELS more channels on the three servers, waits until every
node agrees on a leader for each, lets them settle, and measures again.
Nothing is submitted meanwhile: what is left is heartbeats, ticks and
whatever else the worker does for a channel with nothing to order.

First each node's ordering tables are vacuumed and analyzed, and each
node checkpoints: autovacuum would otherwise do it for what the parts
before wrote (100,000 blocks on the node that caught up) inside the
measured window, and the background writer and checkpointer would still
be writing out their pages (the faster the parts before, the more), and
the figure is about the channels.  What the 200 new channels' rows make
autovacuum or a checkpoint do still counts.
"""
import time

import procstat

SETTLE_S = 10
BASELINE_SECONDS = 10
CREATE_PER_STATEMENT = 20


class Idle:
    def __init__(self, settings, cluster, log):
        self.s = settings
        self.cluster = cluster
        self.log = log
        self.r = {}

    def channel_count(self):
        return int(self.cluster.psql(self.cluster.names[0],
                                     "SELECT count(*) FROM ordering.channels"))

    def cpu_percent(self, seconds):
        """{node: % of one core} over seconds, each node's process tree."""
        meters = {n: procstat.CpuMeter(lambda n=n: [self.cluster.postmaster_pid(n)])
                  for n in self.cluster.names}
        for m in meters.values():
            m.start()
        time.sleep(seconds)
        return {n: m.stop() / seconds * 100.0 for n, m in meters.items()}

    def run(self):
        r, s = self.r, self.s
        if self.cluster.running != set(self.cluster.names):
            raise RuntimeError("a node is down: %s" % ", ".join(
                sorted(set(self.cluster.names) - self.cluster.running)))
        t0 = time.monotonic()
        for n in self.cluster.names:
            self.cluster.psql(n, "VACUUM (ANALYZE) " + self.cluster.ordering_tables(n))
            self.cluster.psql(n, "CHECKPOINT")
        self.log("idle: the ordering tables vacuumed and analyzed, and a checkpoint, "
                 "on every node in %.1f s"
                 % (time.monotonic() - t0))
        r["before_channels"] = self.channel_count()
        r["before"] = self.cpu_percent(BASELINE_SECONDS)
        self.log("idle: %d channels: %s" % (r["before_channels"], fmt(r["before"])))
        names = ["idle-%03d" % i for i in range(1, s.idle_channels + 1)]
        t0 = time.monotonic()
        for i in range(0, len(names), CREATE_PER_STATEMENT):
            self.cluster.create_channels(names[i:i + CREATE_PER_STATEMENT], s.channel_config,
                                         timeout_s=300)
        r["create_s"] = time.monotonic() - t0
        r["channels"] = self.channel_count()
        self.log("idle: created %d channels in %.0f s; settling %d s"
                 % (len(names), r["create_s"], SETTLE_S))
        time.sleep(SETTLE_S)
        r["seconds"] = s.idle_seconds
        r["after"] = self.cpu_percent(s.idle_seconds)
        self.log("idle: %d channels: %s" % (r["channels"], fmt(r["after"])))
        return r


def fmt(percent_by_node):
    return ", ".join("%s %.1f%%" % (n, p) for n, p in sorted(percent_by_node.items()))
