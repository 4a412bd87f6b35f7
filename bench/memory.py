"""memory.py: the peak memory of every node's ordering worker, through the
whole bench.

A thread looks at each running node's ordering worker (found by its
process title under the node's postmaster) once a second and keeps, per
node, the largest VmHWM (the kernel's peak resident set of the process,
which counts the shared buffers the worker touched) and the largest RssAnon
seen (its private memory: palloc'd contexts, caches).  A worker that is
restarted has a new pid; the count of pids seen shows it.
"""
import threading

import procstat

INTERVAL_S = 1.0


class WorkerMemory(threading.Thread):
    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.peak_hwm_kib = {}
        self.peak_anon_kib = {}
        self.pids = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def sample(self):
        table = procstat.process_table()
        for node in sorted(self.cluster.running):
            pid = self.cluster.worker_pid(node, table)
            if pid is None:
                continue
            memory = procstat.memory_kib(pid)
            if not memory:
                continue
            with self.lock:
                self.pids.setdefault(node, set()).add(pid)
                self.peak_hwm_kib[node] = max(self.peak_hwm_kib.get(node, 0), memory["VmHWM"])
                self.peak_anon_kib[node] = max(self.peak_anon_kib.get(node, 0),
                                               memory.get("RssAnon", 0))

    def run(self):
        while not self.stopping.wait(INTERVAL_S):
            self.sample()

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)
        self.sample()

    def snapshot(self):
        with self.lock:
            return {node: {"hwm_kib": self.peak_hwm_kib[node],
                           "anon_kib": self.peak_anon_kib.get(node, 0),
                           "workers": len(self.pids.get(node, ()))}
                    for node in sorted(self.peak_hwm_kib)}
