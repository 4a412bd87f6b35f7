"""pg_load.py: closed-loop load on ordering with pgbench.

pgbench (C, one connection per client, several threads) runs a one-line
script per call, with a per-call log (-l): for each call its latency and
the time it ended.  Only calls that end inside the measured window count,
as with the etcd driver.
"""
import glob
import os
import subprocess

import pg_cluster


def submit_tx_script(channel, payload_bytes):
    return ("SELECT tx_id FROM ordering.submit_tx(%s, gen_random_bytes(%d));\n"
            % (pg_cluster.quote(channel), payload_bytes))


def submit_txs_script(channel, payload_bytes, per_call):
    return ("SELECT count(*) FROM ordering.submit_txs(%s, ARRAY(SELECT gen_random_bytes(%d) "
            "FROM generate_series(1, %d)));\n" % (pg_cluster.quote(channel), payload_bytes, per_call))


class Pgbench:
    """One pgbench run in the background; scripts is {name: sql}."""

    def __init__(self, cluster, node, run_dir, scripts, clients, seconds=None, transactions=None):
        os.makedirs(run_dir, exist_ok=True)
        self.run_dir = run_dir
        args = ["pgbench", "-n", "-M", "prepared", "-h", "127.0.0.1",
                "-p", str(cluster.ports[node]), "-U", "postgres",
                "-c", str(clients), "-j", str(min(clients, 2 * (os.cpu_count() or 1)))]
        for name, sql in scripts.items():
            path = os.path.join(run_dir, name + ".sql")
            with open(path, "w") as f:
                f.write(sql)
            args += ["-f", path]
        if seconds is not None:
            args += ["-T", str(seconds)]
        else:
            args += ["-t", str(transactions)]
        args += ["-l", "--log-prefix", os.path.join(run_dir, "calls"), "postgres"]
        self.output = open(os.path.join(run_dir, "pgbench.out"), "w")
        self.process = subprocess.Popen(args, stdout=self.output, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    def wait(self, timeout_s):
        self.process.wait(timeout=timeout_s)
        self.output.close()
        with open(os.path.join(self.run_dir, "pgbench.out")) as f:
            text = f.read()
        aborted = [line for line in text.splitlines() if "aborted" in line or "ERROR" in line]
        return aborted

    def calls(self):
        """[(end epoch s, latency s, ok)] of every logged call."""
        found = []
        for path in glob.glob(os.path.join(self.run_dir, "calls*")):
            with open(path) as f:
                for line in f:
                    # client_id transaction_no time script_no time_epoch time_us ...
                    fields = line.split()
                    if len(fields) < 6:
                        continue
                    end = int(fields[4]) + int(fields[5]) / 1e6
                    if fields[2].isdigit():
                        found.append((end, int(fields[2]) / 1e6, True))
                    else:
                        found.append((end, None, False))
        return found


def in_window(calls, t_from, t_until):
    """(latencies of the successful calls, failed count) ending in the window."""
    latencies, failed = [], 0
    for end, latency, ok in calls:
        if t_from <= end < t_until:
            if ok:
                latencies.append(latency)
            else:
                failed += 1
    return latencies, failed
