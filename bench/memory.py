"""memory.py: the peak memory of every node's ordering worker, through the
whole bench.

A thread looks at each running node's ordering worker (found by its
process title under the node's postmaster) once a second and keeps, per
node, the largest VmHWM (the kernel's peak resident set of the process,
which counts the shared buffers the worker touched) and the largest RssAnon
seen (its private memory: palloc'd contexts, caches).  A worker that is
restarted has a new pid; the count of pids seen shows it.  The peaks are
also kept per phase (the bench names each case as it starts it), so the
report shows which part of the bench made them.
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
        self.phase = None
        self.phase_peaks = {}  # phase -> (largest VmRSS, largest RssAnon), any node
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
                if self.phase is not None:
                    rss, anon = self.phase_peaks.get(self.phase, (0, 0))
                    self.phase_peaks[self.phase] = (max(rss, memory.get("VmRSS", 0)),
                                                    max(anon, memory.get("RssAnon", 0)))

    def set_phase(self, phase):
        """Later samples count for phase too (until the next one)."""
        self.sample()
        with self.lock:
            self.phase = phase

    def run(self):
        while not self.stopping.wait(INTERVAL_S):
            self.sample()

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)
        self.sample()

    def phases(self):
        """[(phase, VmRSS kib, RssAnon kib)], in the order the phases ran."""
        with self.lock:
            return [(p, h, a) for p, (h, a) in self.phase_peaks.items()]

    def snapshot(self):
        with self.lock:
            return {node: {"hwm_kib": self.peak_hwm_kib[node],
                           "anon_kib": self.peak_anon_kib.get(node, 0),
                           "workers": len(self.pids.get(node, ()))}
                    for node in sorted(self.peak_hwm_kib)}
