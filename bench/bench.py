#!/usr/bin/python3
"""bench.py: ordering side by side with etcd (see bench/README.md).

Started by bench/run.sh as a user that may run PostgreSQL.  Creates a
temporary directory, starts three ordering nodes (kept for the whole bench,
so that the workers' peak memory covers every part) and, for the comparing
parts, three etcd members; runs the parts asked for; prints the report.
"""
import datetime
import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402
from memory import WorkerMemory  # noqa: E402
from part_catchup import Catchup  # noqa: E402
from part_compare import Compare  # noqa: E402
from part_idle import Idle  # noqa: E402
from pg_cluster import PgCluster  # noqa: E402
from report import Report  # noqa: E402
from settings import COMPARE_PARTS, Settings  # noqa: E402


def log(message):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    print("%s %s" % (now, message), file=sys.stderr, flush=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _terminate(signum, frame):
    raise SystemExit("bench: stopped by signal %d" % signum)


def run_part(report, name, run):
    """Run one part; a part that fails is reported, and the others still run."""
    try:
        run()
        return True
    except Exception as e:  # noqa: BLE001 (reported, the bench goes on)
        log("part %s failed: %s" % (name, e))
        report.failures.append("%s: %s" % (name, e))
        return False


def main():
    s = Settings(sys.argv[1:])
    signal.signal(signal.SIGTERM, _terminate)
    s.work_dir = tempfile.mkdtemp(prefix="ordering-bench.", dir=s.parent_dir)
    report = Report(s, machine.describe())
    report.started, report.load_before = utc_now(), machine.load_average()
    report.filesystem = machine.filesystem(s.work_dir)
    cluster = PgCluster(s.work_dir, s.port_base, 3, s.max_channels, s.node_conf)
    etcd = None
    memory = None
    try:
        log("bench in %s; parts: %s" % (s.work_dir, " ".join(s.parts)))
        cluster.create()
        memory = WorkerMemory(cluster)
        memory.start()
        compare_parts = [p for p in s.parts if p in COMPARE_PARTS]
        if compare_parts:
            etcd = EtcdCluster(s.work_dir, s.etcd_client_base, s.etcd_peer_base)
            etcd.start()
            log("etcd members up; ordering nodes up")
            report.compare = Compare(s, cluster, etcd, log, on_case=memory.set_phase)
            run_part(report, "comparison", lambda: report.compare.run(compare_parts))
            etcd.stop()
            etcd = None
        if "catchup" in s.parts:
            memory.set_phase("catchup")
            catchup = Catchup(s, cluster, log)
            if run_part(report, "catchup", catchup.run):
                report.catchup = catchup.r
        if "idle" in s.parts:
            memory.set_phase("idle")
            idle = Idle(s, cluster, log)
            if run_part(report, "idle", idle.run):
                report.idle = idle.r
        memory.stop()
        report.memory = memory.snapshot()
        report.memory_phases = memory.phases()
        report.node_starts = dict(cluster.starts)
        report.finished, report.load_after = utc_now(), machine.load_average()
        text = report.markdown()
        print()
        print(text, end="")
        if s.out:
            with open(s.out, "w") as f:
                f.write(text)
    finally:
        if etcd:
            etcd.stop()
        cluster.stop_all()
        if s.keep:
            log("kept %s" % s.work_dir)
        else:
            shutil.rmtree(s.work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
