"""report.py: the markdown the bench prints (and writes to BENCH_OUT)."""
from pg_cluster import WAL_WARMUP_MB
from stats import fmt_ms, fmt_rate, fmt_ratio, summary_ms


def _mib(kib):
    return "%.0f" % (kib / 1024.0)


def _payload(size):
    return "%d KiB" % (size // 1024) if size >= 1024 else "%d B" % size


class Report:
    def __init__(self, settings, machine):
        self.s = settings
        self.machine = machine
        self.compare = None
        self.memory = None
        self.memory_phases = []
        self.node_starts = {}
        self.failures = []
        self.filesystem = "unknown"
        self.idle = None
        self.catchup = None
        self.started = self.finished = ""
        self.load_before = self.load_after = ""

    # --- the headline: one row per figure, with the ratio
    def headline(self):
        rows = []
        c = self.compare
        if c:
            def pair(payload, clients, per_call=1):
                return c.find("etcd", payload, clients), c.find("ordering", payload, clients,
                                                                  per_call)

            for payload in (100, 1024):
                e, o = pair(payload, 1)
                if e and o:
                    es, os_ = summary_ms(e.latencies), summary_ms(o.latencies)
                    for p in ("p50", "p99"):
                        rows.append(("%s, 1 client: %s latency, ms" % (_payload(payload), p),
                                     fmt_ms(es[p]), fmt_ms(os_[p]), fmt_ratio(os_[p], es[p])))
                for clients in (16, 64):
                    e, o = pair(payload, clients)
                    if e and o:
                        rows.append(("%s, %d clients: tx/s" % (_payload(payload), clients),
                                     fmt_rate(e.tx_per_s), fmt_rate(o.tx_per_s),
                                     fmt_ratio(o.tx_per_s, e.tx_per_s)))
            e, o = c.find("etcd", 100, 64), c.find("ordering", 100, 64, self.s.batch)
            if o:
                rows.append(("100 B, 64 clients × submit_txs of %d: tx/s" % self.s.batch,
                             "–", fmt_rate(o.tx_per_s),
                             (fmt_ratio(o.tx_per_s, e.tx_per_s) + " of etcd's 64-client Put/s")
                             if e else "–"))
            for clients in (1, 64):
                e, o = pair(100, clients)
                if e and o and e.server_cpu_us_per_tx and o.server_cpu_us_per_tx:
                    rows.append(("100 B, %d client%s: CPU per transaction, µs (all server processes)"
                                 % (clients, "s" if clients > 1 else ""),
                                 "%.0f" % e.server_cpu_us_per_tx,
                                 "%.0f" % o.server_cpu_us_per_tx,
                                 fmt_ratio(o.server_cpu_us_per_tx, e.server_cpu_us_per_tx)))
        if self.memory:
            rows.append(("ordering worker peak RSS (VmHWM), MiB: %s" % " / ".join(self.memory),
                         "–", " / ".join(_mib(m["hwm_kib"]) for m in self.memory.values()), ""))
        if self.idle:
            after = self.idle["after"]
            rows.append(("%d channels idle: CPU, %% of one core: %s"
                         % (self.idle["channels"], " / ".join(sorted(after))), "–",
                         " / ".join("%.1f" % after[n] for n in sorted(after)), ""))
        if self.catchup:
            k = self.catchup
            rows.append(("catch-up of %s blocks on %s: other channels' submit p99, ms (before)"
                         % (fmt_rate(k["added"]), k["node"]), "–",
                         "%s (%s)" % (fmt_ms(summary_ms(k["during"])["p99"]),
                                      fmt_ms(summary_ms(k["before"])["p99"])), ""))
        out = ["| | etcd | ordering | ordering ÷ etcd |", "|---|---:|---:|---:|"]
        out += ["| %s | %s | %s | %s |" % row for row in rows]
        return out

    # --- every run in full
    def runs(self):
        out = ["| system | call | payload | clients | tx/s | calls/s | p50 ms | p90 ms | p99 ms "
               "| max ms | errors | server CPU µs/tx | servers' CPU, % of a core "
               "| driver CPU, % of a core |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.compare.results:
            ms = summary_ms(r.latencies)
            out.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %d | %s | %.0f | %.0f |" % (
                r.system, r.call, _payload(r.payload_bytes) if r.payload_bytes else "–",
                r.clients, fmt_rate(r.tx_per_s), fmt_rate(r.calls_per_s),
                fmt_ms(ms["p50"]), fmt_ms(ms["p90"]), fmt_ms(ms["p99"]), fmt_ms(ms["max"]),
                r.errors,
                "%.0f" % r.server_cpu_us_per_tx if r.server_cpu_us_per_tx else "–",
                r.percent_of_core(r.server_cpu_s), r.percent_of_core(r.driver_cpu_s)))
        return out

    def ceilings(self):
        """What the load generators do when the server does no consensus,
        and what one node does alone through the submit calls."""
        out = ["| driver | call | clients | tx/s | calls/s | server's CPU, % of a core "
               "| driver CPU, % of a core | driver CPU µs/call |",
               "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.compare.ceilings:
            calls = len(r.latencies)
            out.append("| %s | %s | %d | %s | %s | %.0f | %.0f | %s |" % (
                "bench/etcd_put.py" if r.system == "etcd" else "pgbench", r.call, r.clients,
                fmt_rate(r.tx_per_s) if r.payload_bytes else "–",
                fmt_rate(r.calls_per_s), r.percent_of_core(r.server_cpu_s),
                r.percent_of_core(r.driver_cpu_s),
                "%.0f" % (r.driver_cpu_s / calls * 1e6) if calls else "–"))
        return out

    def notes(self):
        out = ["- **FAILED:** part %s" % f for f in self.failures]
        c = self.compare
        if c:
            for r in c.results + c.ceilings:
                if r.committed is not None and r.committed < len(r.latencies) * r.tx_per_call:
                    out.append("- %s %s, %d clients: the servers committed %d, fewer than the "
                               "%d acknowledged (a bug in the driver or the system)"
                               % (r.system, r.call, r.clients, r.committed,
                                  len(r.latencies) * r.tx_per_call))
                if r.errors:
                    out.append("- %s %s, %d clients: %d errors, e.g. %s"
                               % (r.system, r.call, r.clients, r.errors, r.first_error))
            if c.chains:
                out.append("- ordering chain of channel `bench` after the runs: %s" % c.chains)
        if self.memory:
            parts = ["%s: VmHWM %s MiB, private (RssAnon) peak %s MiB%s"
                     % (n, _mib(m["hwm_kib"]), _mib(m["anon_kib"]),
                        _restarts(m["workers"], self.node_starts.get(n, 1)))
                     for n, m in self.memory.items()]
            out.append("- ordering workers, sampled every second through the whole bench: "
                       + "; ".join(parts))
        if self.memory_phases:
            out.append("- largest resident set (VmRSS) and private memory (RssAnon) of any "
                       "node's worker while each part of the bench ran: "
                       + "; ".join("%s: %s / %s MiB" % (p, _mib(h), _mib(a))
                                   for p, h, a in self.memory_phases))
        if self.idle:
            i = self.idle
            out.append("- idle: with the %d channels of the other parts: %s; created %d more in "
                       "%.0f s; with %d: %s (over %d s)"
                       % (i["before_channels"], _percent(i["before"]), self.s.idle_channels,
                          i["create_s"], i["channels"], _percent(i["after"]), i["seconds"]))
        if self.catchup:
            k = self.catchup
            before, during = summary_ms(k["before"]), summary_ms(k["during"])
            out.append("- catch-up: %s stopped; every channel had a leader again after "
                       "%.1f s; %s blocks added in %.1f s (%d calls timed out and were "
                       "retried; leader's snapshot index %s); %s restarted and %s in %.1f s "
                       "(its snapshot index then %s)"
                       % (k["node"], k["settle_s"], fmt_rate(k["added"]), k["build_s"],
                          k["build_timeouts"], k["leader_snapshot_index"], k["node"],
                          "caught up" if k["caught_up"] else "did NOT catch up",
                          k["catchup_s"], k["follower_snapshot_index"]))
            out.append("- catch-up: %d clients on %s submitting on live-1 and live-2: before, "
                       "%d calls p50 %s / p99 %s / max %s ms; during the catch-up, %d calls "
                       "in flight, p50 %s / p99 %s / max %s ms; %d failed or aborted"
                       % (k["clients"], k["node"], len(k["before"]), fmt_ms(before["p50"]),
                          fmt_ms(before["p99"]), fmt_ms(before["max"]), len(k["during"]),
                          fmt_ms(during["p50"]), fmt_ms(during["p99"]), fmt_ms(during["max"]),
                          k["before_failed"] + k["during_failed"] + k["aborted"]))
            if "same_head" in k:
                out.append("- catch-up: afterwards the three `catchup` chains end with %s"
                           % ("the same block (number and hash)" if k["same_head"]
                              else "DIFFERENT blocks"))
            if "error" in k:
                out.append("- catch-up: %s" % k["error"])
        return out

    def context(self):
        m, s = self.machine, self.s
        lines = [
            "- **Machine:** %s, %s RAM, %s, Debian %s; data directories on %s; load "
            "average %s before, %s after"
            % (m["cpu"], m["memory"], m["kernel"], m["debian"], self.filesystem,
               self.load_before, self.load_after),
            "- **Versions:** PostgreSQL %s; etcd %s; python3-grpcio %s; pgbench %s"
            % (m["postgresql"], m["etcd"], m["python_grpcio"], m["pgbench"]),
            "- **When:** %s to %s UTC; parts: %s" % (self.started, self.finished,
                                                    " ".join(s.parts)),
            "- **ordering:** 3 PostgreSQL servers on 127.0.0.1, PostgreSQL's default settings "
            "(fsync and synchronous_commit on) plus shared_preload_libraries, "
            "max_connections = 200, ordering.max_channels = %d%s; each node's WAL warmed first "
            "(%d MB written, then a checkpoint recycles the segments, as on a server that "
            "has run a while); channel config `%s`; "
            "clients on the channel's %s; one random payload per transaction "
            "(gen_random_bytes); pgbench -M prepared, one connection per client"
            % (s.max_channels, ("; plus `%s`" % s.node_conf) if s.node_conf else "",
               WAL_WARMUP_MB, s.channel_config, s.target),
        ]
        if not self.compare:
            return lines
        return lines + [
            "- **etcd:** 3 members on 127.0.0.1, default settings (WAL fsync on), one data "
            "directory each; clients on the leader; Put of a random 8-digit key and a "
            "random value; driver bench/etcd_put.py (grpc.aio, %s)"
            % ("%d processes" % s.driver_processes if s.driver_processes
               else "min(clients, CPUs) processes, one HTTP/2 connection each"),
            "- **Runs:** closed loop; %d s measured after %d s warm-up per run; etcd then "
            "ordering for each case; a call counts when it ends inside the measured window; "
            "percentiles by nearest rank over every such call; CPU from /proc over the same "
            "window" % (s.seconds, s.warmup_s),
        ]

    def markdown(self):
        out = ["## ordering and etcd, 3 nodes each on one machine", ""]
        out += self.headline()
        if self.compare:
            out += ["", "Every run:", ""] + self.runs()
            if self.compare.ceilings:
                out += ["", "The ceilings (no consensus: a serializable Range is answered by "
                        "the member alone; the one-member channel has no other consenter):",
                        ""] + self.ceilings()
                if any("one-member" in r.call for r in self.compare.ceilings):
                    out += ["", "One-member channel: `ceiling`, whose only consenter is n1, "
                            "with the config of `bench` and the same calls of 100 B: what one "
                            "server does alone through that path, so the three-node rates "
                            "cannot exceed it (their leader does the same work plus the "
                            "replication, and two more servers share the machine)."]
        notes = self.notes()
        if notes:
            out += [""] + notes
        out += [""] + self.context()
        return "\n".join(out) + "\n"


def _restarts(workers, starts):
    """How many worker processes a node had, when that is not one per start."""
    if workers == starts:
        return "" if starts == 1 else " (%d workers: the node was started %d times)" % (
            workers, starts)
    return ", %d worker processes for %d server start(s): the worker was restarted" % (
        workers, starts)


def _percent(by_node):
    return ", ".join("%s %.1f%%" % (n, v) for n, v in sorted(by_node.items()))
