"""part_compare.py: ordering and etcd side by side, in one run.

For each case, etcd first and ordering right after, so that whatever else
the machine is doing weighs on both alike.  Parts:

  latency     1 client, 100 B: submit_tx vs Put, latency percentiles
  throughput  16 and 64 clients, 100 B: tx/s vs Put/s; and the ceilings
              (64 clients): the drivers' (calls that do no consensus) and
              one node's (submit_tx, submit_txs on a one-member channel)
  batch       64 clients calling submit_txs with BENCH_BATCH payloads
  kib         1 and 64 clients, 1 KiB
"""
import os
import time

import measure
import stats
from pg_cluster import quote
from waiting import wait_until

CHANNEL = "bench"
CEILING_CHANNEL = "ceiling"   # its only consenter is the first node
CEILING_SECONDS = 5
CEILING_WARMUP_S = 1

# part, payload bytes, clients, payloads per call (0: BENCH_BATCH), etcd too
CASES = [
    ("latency", 100, 1, 1, True),
    ("throughput", 100, 16, 1, True),
    ("throughput", 100, 64, 1, True),
    ("batch", 100, 64, 0, False),
    ("kib", 1024, 1, 1, True),
    ("kib", 1024, 64, 1, True),
]


def log_result(log, r):
    ms = stats.summary_ms(r.latencies)
    log("%s %s %d B x%d: %s tx/s, p50 %s ms, p99 %s ms, %d errors%s" % (
        r.system, r.call, r.payload_bytes, r.clients, stats.fmt_rate(r.tx_per_s),
        stats.fmt_ms(ms["p50"]), stats.fmt_ms(ms["p99"]), r.errors,
        (" (" + r.first_error + ")") if r.first_error else ""))


class Compare:
    def __init__(self, settings, cluster, etcd, log, on_case=None):
        self.on_case = on_case or (lambda tag: None)
        self.s = settings
        self.cluster = cluster
        self.etcd = etcd
        self.log = log
        self.results = []
        self.ceilings = []
        self.chains = None
        self.target = None

    def target_node(self):
        leader = self.cluster.leader(CHANNEL)
        if self.s.target == "leader":
            return leader
        return [n for n in self.cluster.names if n != leader][0]

    def run_dir(self, name):
        return os.path.join(self.s.work_dir, "runs", name)

    def run(self, parts):
        self.cluster.create_channels([CHANNEL], self.s.channel_config)
        for part, payload, clients, per_call, with_etcd in CASES:
            if part not in parts:
                continue
            per_call = per_call or self.s.batch
            tag = "%s-%d-%d" % (part, payload, clients)
            self.on_case(tag)
            if with_etcd:
                r = measure.etcd_run(self.etcd, self.run_dir("etcd-" + tag), clients, payload,
                                     self.s.warmup_s, self.s.seconds,
                                     processes=self.s.driver_processes)
                log_result(self.log, r)
                self.results.append(r)
            self.target = self.target_node()
            r = measure.ordering_run(self.cluster, self.target, CHANNEL,
                                     self.run_dir("ordering-" + tag), clients, payload,
                                     self.s.warmup_s, self.s.seconds, per_call=per_call)
            log_result(self.log, r)
            self.results.append(r)
        # Last: the one-member channel's load moves n1's autovacuum and
        # memory, which would otherwise fall into the compared cases.
        if "throughput" in parts:
            self.run_ceilings()
        try:
            wait_until("identical chains", 60, lambda: self.cluster.same_head(CHANNEL), 0.5)
            self.chains = "identical on %s" % ", ".join(self.cluster.names)
        except Exception as e:  # noqa: BLE001 (reported, not fatal)
            self.chains = "NOT identical: %s" % e

    def run_ceilings(self):
        """What each driver does with 64 clients when the server does no
        consensus: a serializable Range on one etcd member, SELECT 1 on one
        PostgreSQL server.  Then what one PostgreSQL server does alone
        through the same submit calls, on a channel with the compared
        channel's settings whose only consenter is that server: no
        replication, so an upper bound of the three-node rates."""
        self.on_case("ceilings")
        r = measure.etcd_run(self.etcd, self.run_dir("ceiling-etcd"), 64, 100,
                             CEILING_WARMUP_S, CEILING_SECONDS, request="range",
                             processes=self.s.driver_processes)
        log_result(self.log, r)
        self.ceilings.append(r)
        r = measure.ordering_run(self.cluster, self.cluster.names[0], None,
                                 self.run_dir("ceiling-pgbench"), 64, 0, CEILING_WARMUP_S,
                                 CEILING_SECONDS, sql="SELECT 1;\n", call="SELECT 1")
        log_result(self.log, r)
        self.ceilings.append(r)
        node = self.cluster.names[0]
        self.cluster.create_channels([CEILING_CHANNEL], self.s.channel_config, members=[node])
        try:
            batch = self.s.batch
            for per_call, call in ((1, "submit_tx"), (batch, "submit_txs x%d" % batch)):
                r = measure.ordering_run(self.cluster, node, CEILING_CHANNEL,
                                         self.run_dir("ceiling-" + call.replace(" ", "-")),
                                         64, 100, CEILING_WARMUP_S, CEILING_SECONDS,
                                         per_call=per_call, call=call + ", one-member channel")
                log_result(self.log, r)
                self.ceilings.append(r)
        finally:
            self.drop_ceiling_channel(node)

    def drop_ceiling_channel(self, node):
        """The later runs and parts find node as they would have without the
        one-member channel: the channels they saw before (the idle part counts
        them), compact tables (the other channels' rows only, rewritten), no
        dead rows left to autovacuum and no dirty buffers left to write
        during a measured window."""
        t0 = time.monotonic()
        self.cluster.psql(node, "SELECT ordering.drop_channel(%s)" % quote(CEILING_CHANNEL))
        self.cluster.psql(node, "VACUUM (FULL, ANALYZE) " + self.cluster.ordering_tables(node))
        self.cluster.psql(node, "CHECKPOINT")
        self.log("channel %s dropped, %s vacuumed and checkpointed in %.1f s"
                 % (CEILING_CHANNEL, node, time.monotonic() - t0))

    def find(self, system, payload, clients, per_call=1):
        for r in self.results:
            if (r.system, r.payload_bytes, r.clients, r.tx_per_call) == (system, payload, clients,
                                                                          per_call):
                return r
        return None
