"""part_catchup.py: does a node that catches up a long chain keep serving
its other channels?

Channel "catchup" cuts one block per transaction (max_message_count 1) and
snapshots every BENCH_CATCHUP_SNAPSHOT_BYTES of log; channels "live-1" and
"live-2" have the bench's channel settings.  One follower F of "catchup"
is stopped, "catchup" grows by BENCH_CATCHUP_BLOCKS blocks on the other
two (submit_txs of 500 payloads, several clients), and F is started again:
it must install a snapshot and pull the blocks from a peer.  From the
moment F accepts connections until its "catchup" chain reaches the
leader's last block, clients connected to F submit on "live-1" and
"live-2"; the latency of every call in flight during that time is compared
with the same load on F before it was stopped.
"""
import json
import math
import os
import threading
import time

import pg_load
from waiting import Timeout, wait_until

CHANNEL = "catchup"
LIVE = ["live-1", "live-2"]
BASELINE_SECONDS = 10
BASELINE_WARMUP_S = 2
CHUNK_SECONDS = 3
TAIL_S = 2
BUILD_CLIENTS = 4
BUILD_PER_CALL = 500
BUILD_ROUNDS_MAX = 5


class LiveLoad(threading.Thread):
    """Submits on the live channels on one node in pgbench runs of
    CHUNK_SECONDS each, back to back, until stopped; keeps every call."""

    def __init__(self, cluster, node, run_dir, clients, payload_bytes):
        super().__init__(daemon=True)
        self.cluster, self.node, self.run_dir = cluster, node, run_dir
        self.clients, self.payload_bytes = clients, payload_bytes
        self.calls, self.aborted = [], []
        self.stopping = threading.Event()

    def run(self):
        chunk = 0
        scripts = {c: pg_load.submit_tx_script(c, self.payload_bytes) for c in LIVE}
        while not self.stopping.is_set():
            chunk += 1
            load = pg_load.Pgbench(self.cluster, self.node,
                                   os.path.join(self.run_dir, "chunk-%d" % chunk), scripts,
                                   self.clients, seconds=CHUNK_SECONDS)
            self.aborted += load.wait(timeout_s=CHUNK_SECONDS + 120)
            self.calls += load.calls()

    def stop(self):
        self.stopping.set()
        self.join(timeout=CHUNK_SECONDS + 150)


def in_flight_during(calls, t_from, t_until):
    """(latencies of successful calls in flight at some time in the window,
    failed calls in it)."""
    latencies, failed = [], 0
    for end, latency, ok in calls:
        if not ok:
            failed += t_from <= end < t_until + TAIL_S
            continue
        if end >= t_from and end - latency < t_until:
            latencies.append(latency)
    return latencies, failed


class Catchup:
    def __init__(self, settings, cluster, log):
        self.s = settings
        self.cluster = cluster
        self.log = log
        self.r = {}

    def run_dir(self, name):
        return os.path.join(self.s.work_dir, "runs", "catchup-" + name)

    def run(self):
        s, cluster, r = self.s, self.cluster, self.r
        config = json.dumps({"max_message_count": 1,
                             "snapshot_interval_bytes": s.catchup_snapshot_bytes})
        cluster.create_channels([CHANNEL], config)
        cluster.create_channels(LIVE, s.channel_config)
        leader = cluster.leader(CHANNEL)
        follower = [n for n in cluster.names if n != leader][-1]
        r.update(blocks=s.catchup_blocks, node=follower, clients=s.catchup_clients)
        self.measure_before(follower)
        cluster.stop(follower)
        try:
            self.wait_for_leaders()
            target = self.build()
        finally:
            cluster.start(follower)
        self.measure_during(follower, target)
        return r

    def measure_before(self, follower):
        """The live load on the follower while nothing else happens."""
        r = self.r
        before = LiveLoad(self.cluster, follower, self.run_dir("before"), self.s.catchup_clients,
                          100)
        t0 = time.time()
        before.start()
        time.sleep(BASELINE_WARMUP_S + BASELINE_SECONDS)
        before.stop()
        r["before"], r["before_failed"] = pg_load.in_window(
            before.calls, t0 + BASELINE_WARMUP_S, t0 + BASELINE_WARMUP_S + BASELINE_SECONDS)
        r["aborted"] = len(before.aborted)
        self.log("catch-up: %d calls on %s before" % (len(r["before"]), r["node"]))

    def wait_for_leaders(self):
        """After the follower stops, the channels it led elect new leaders."""
        channels = [CHANNEL] + LIVE
        t0 = time.monotonic()
        wait_until("leaders of %s without %s" % (", ".join(channels), self.r["node"]), 120,
                   lambda: len(self.cluster.leaders(channels)) == len(channels), 0.2)
        self.r["settle_s"] = time.monotonic() - t0

    def build(self):
        """Grow the channel by BENCH_CATCHUP_BLOCKS blocks; a call that times
        out (the payloads may still be ordered) only costs another round.
        Returns the leader's last block."""
        s, cluster, r = self.s, self.cluster, self.r
        leader = cluster.leader(CHANNEL)
        first = cluster.last_block(leader, CHANNEL)
        goal = first + s.catchup_blocks
        self.log("catch-up: %s stopped; adding %d blocks to %s on %s"
                 % (r["node"], s.catchup_blocks, CHANNEL, leader))
        t0 = time.monotonic()
        r["build_timeouts"] = 0
        last = first
        for attempt in range(1, BUILD_ROUNDS_MAX + 1):
            missing = goal - last
            if missing <= 0:
                break
            per_client = math.ceil(missing / (BUILD_CLIENTS * BUILD_PER_CALL))
            build = pg_load.Pgbench(cluster, leader, self.run_dir("build-%d" % attempt),
                                    {"build": pg_load.submit_txs_script(CHANNEL, 100,
                                                                        BUILD_PER_CALL)},
                                    BUILD_CLIENTS, transactions=per_client)
            aborted = build.wait(timeout_s=3600)
            r["build_timeouts"] += len(aborted)
            if aborted:
                self.log("catch-up: %d building calls failed, e.g. %s"
                         % (len(aborted), aborted[0]))
            leader = cluster.leader(CHANNEL)
            last = cluster.last_block(leader, CHANNEL)
        if last < goal:
            raise RuntimeError("%s reached block %d of %d after %d rounds"
                               % (CHANNEL, last, goal, BUILD_ROUNDS_MAX))
        r["build_s"] = time.monotonic() - t0
        r["added"] = last - first
        r["leader_snapshot_index"] = cluster.psql(
            leader, "SELECT snapshot_index FROM ordering.status WHERE channel = 'catchup'")
        self.log("catch-up: %d blocks in %.1f s; %s's last block %d, snapshot index %s"
                 % (r["added"], r["build_s"], leader, last, r["leader_snapshot_index"]))
        return last

    def measure_during(self, follower, target):
        """From the follower's restart until its chain reaches target, the
        live load on it."""
        s, cluster, r = self.s, self.cluster, self.r
        t_up = time.time()
        during = LiveLoad(cluster, follower, self.run_dir("during"), s.catchup_clients, 100)
        during.start()
        try:
            wait_until("%s to catch up %s to block %d" % (follower, CHANNEL, target),
                       s.catchup_timeout_s,
                       lambda: cluster.last_block(follower, CHANNEL) >= target, 0.2)
            r["caught_up"] = True
        except Timeout as e:
            r["caught_up"] = False
            r["error"] = str(e)
        t_done = time.time()
        time.sleep(TAIL_S)
        during.stop()
        r["catchup_s"] = t_done - t_up
        r["during"], r["during_failed"] = in_flight_during(during.calls, t_up, t_done)
        r["aborted"] += len(during.aborted)
        r["follower_snapshot_index"] = cluster.psql(
            follower, "SELECT snapshot_index FROM ordering.status WHERE channel = 'catchup'")
        self.log("catch-up: %s caught up=%s in %.1f s; %d live calls meanwhile"
                 % (follower, r["caught_up"], r["catchup_s"], len(r["during"])))
        if r["caught_up"]:
            # the same last block hash on every node means the same chain (each
            # block's hash covers its predecessor's); verify_chain would
            # recompute 100,000 blocks, minutes on a busy machine
            try:
                r["same_head"] = wait_until("identical %s chains" % CHANNEL, 60,
                                            lambda: cluster.same_head(CHANNEL), 0.5)
            except Timeout:
                r["same_head"] = False
