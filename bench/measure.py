"""measure.py: one closed-loop run against etcd or ordering, measured the
same way for both.

A run starts its load generator, lets it warm up, then measures a window of
wall-clock time: the calls that end inside the window (their count and
latencies), and the CPU time the servers and the load generator use inside
it (process trees, from /proc).  The load keeps running a little past the
window so that its end is steady state too.
"""
import array
import json
import os
import subprocess
import sys
import time

import pg_load
import procstat
from waiting import sleep_until

TAIL_S = 1.0
HERE = os.path.dirname(os.path.abspath(__file__))


class Result:
    def __init__(self, system, call, payload_bytes, clients, tx_per_call, window_s):
        self.system = system            # "etcd" or "ordering"
        self.call = call                # "Put", "submit_tx", "submit_txs x10", ...
        self.payload_bytes = payload_bytes
        self.clients = clients
        self.tx_per_call = tx_per_call
        self.window_s = window_s
        self.latencies = []             # seconds, sorted, successful calls
        self.errors = 0
        self.first_error = ""
        self.server_cpu_s = None
        self.driver_cpu_s = None
        self.committed = None           # cross-check: growth seen by the servers

    @property
    def calls_per_s(self):
        return len(self.latencies) / self.window_s

    @property
    def tx_per_s(self):
        return self.calls_per_s * self.tx_per_call

    @property
    def server_cpu_us_per_tx(self):
        tx = len(self.latencies) * self.tx_per_call
        return self.server_cpu_s / tx * 1e6 if tx else None

    def percent_of_core(self, cpu_s):
        return cpu_s / self.window_s * 100.0


def _measure_window(result, server_roots, driver_pid, t_from, t_until):
    servers = procstat.CpuMeter(server_roots)
    driver = procstat.CpuMeter(lambda: [driver_pid])
    sleep_until(t_from)
    servers.start()
    driver.start()
    sleep_until(t_until)
    result.server_cpu_s = servers.stop()
    result.driver_cpu_s = driver.stop()


def etcd_run(etcd, run_dir, clients, payload_bytes, warmup_s, seconds, request="put",
             processes=0):
    """Closed-loop Puts (or serializable Ranges) on the etcd leader."""
    os.makedirs(run_dir, exist_ok=True)
    call = "Put" if request == "put" else "Range (serializable)"
    result = Result("etcd", call, payload_bytes if request == "put" else 0, clients, 1, seconds)
    leader = etcd.leader_member()
    revision_before = etcd.revision()
    t_from = time.time() + warmup_s
    t_until = t_from + seconds
    out_path = os.path.join(run_dir, "latencies.bin")
    with open(os.path.join(run_dir, "driver.err"), "w") as err:
        driver = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "etcd_put.py"), "--endpoint",
             etcd.endpoint(leader), "--clients", str(clients), "--processes", str(processes),
             "--request", request, "--value-size", str(payload_bytes),
             "--measure-from", repr(t_from), "--measure-until", repr(t_until),
             "--out", out_path], stdout=subprocess.PIPE, stderr=err, text=True)
        _measure_window(result, etcd.pids, driver.pid, t_from, t_until)
        stdout, _ = driver.communicate(timeout=60)
    if driver.returncode != 0:
        raise RuntimeError("etcd_put.py failed; see %s/driver.err" % run_dir)
    summary = json.loads(stdout.strip().splitlines()[-1])
    latencies = array.array("d")
    with open(out_path, "rb") as f:
        latencies.frombytes(f.read())
    result.latencies = sorted(latencies)
    result.errors = summary["errors"]
    result.first_error = summary["first_error"]
    if request == "put":
        result.committed = etcd.revision() - revision_before
    return result


def ordering_run(cluster, node, channel, run_dir, clients, payload_bytes, warmup_s, seconds,
                 per_call=1, sql=None, call=None):
    """Closed-loop submit_tx (per_call 1) or submit_txs (per_call > 1) calls on
    node; sql replaces the call (the driver's own ceiling: SELECT 1); call
    names it in the report (by default the function and per_call)."""
    if sql is None:
        if per_call == 1:
            sql, name = pg_load.submit_tx_script(channel, payload_bytes), "submit_tx"
        else:
            sql = pg_load.submit_txs_script(channel, payload_bytes, per_call)
            name = "submit_txs x%d" % per_call
        call = call or name
    result = Result("ordering", call, payload_bytes, clients, per_call, seconds)
    committed_before = cluster.ordered_count(node, channel) if channel else 0
    load = pg_load.Pgbench(cluster, node, run_dir, {"call": sql}, clients,
                           seconds=int(warmup_s + seconds + TAIL_S + 0.999))
    t_from = time.time() + warmup_s
    t_until = t_from + seconds
    _measure_window(result, cluster.postmaster_pids, load.pid, t_from, t_until)
    aborted = load.wait(timeout_s=warmup_s + seconds + 120)
    latencies, failed = pg_load.in_window(load.calls(), t_from, t_until)
    result.latencies = sorted(latencies)
    result.errors = failed + len(aborted)
    result.first_error = aborted[0] if aborted else ""
    if channel:
        result.committed = cluster.ordered_count(node, channel) - committed_before
    return result
