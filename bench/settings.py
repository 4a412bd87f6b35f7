"""settings.py: the bench's settings, from the environment and flags.

    bench/run.sh [--latency] [--throughput] [--batch] [--kib] [--catchup] [--idle]

Each flag runs that part (several may be given); without flags, all of
them.  BENCH_PARTS="latency idle" does the same as flags.
"""
import argparse
import json
import os

PARTS = ["latency", "throughput", "batch", "kib", "catchup", "idle"]
COMPARE_PARTS = {"latency", "throughput", "batch", "kib"}


def _int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value else default


def _str(name, default):
    return os.environ.get(name) or default


class Settings:
    def __init__(self, argv):
        ap = argparse.ArgumentParser(
            prog="bench/run.sh",
            description="ordering side by side with etcd; see bench/README.md")
        for part in PARTS:
            ap.add_argument("--" + part, action="store_true", help="run the %s part" % part)
        args = ap.parse_args(argv)
        chosen = [p for p in PARTS if getattr(args, p)]
        if not chosen and os.environ.get("BENCH_PARTS"):
            chosen = os.environ["BENCH_PARTS"].split()
            unknown = set(chosen) - set(PARTS)
            if unknown:
                ap.error("unknown part(s) in BENCH_PARTS: %s" % " ".join(sorted(unknown)))
        self.parts = [p for p in PARTS if p in chosen] if chosen else list(PARTS)

        self.seconds = _int("BENCH_SECONDS", 15)
        self.warmup_s = _int("BENCH_WARMUP", 3)
        self.target = _str("BENCH_TARGET", "leader")
        if self.target not in ("leader", "follower"):
            ap.error("BENCH_TARGET is leader or follower")
        self.channel_config = _str("BENCH_CONFIG", "{}")
        try:
            json.loads(self.channel_config)
        except ValueError as e:
            ap.error("BENCH_CONFIG is not JSON: %s" % e)
        self.node_conf = os.environ.get("BENCH_CONF", "")
        self.batch = _int("BENCH_BATCH", 10)
        self.port_base = _int("BENCH_PORT_BASE", 55600)
        self.etcd_client_base = _int("BENCH_ETCD_PORT_BASE", 23790)
        self.etcd_peer_base = self.etcd_client_base + 10
        self.driver_processes = _int("BENCH_DRIVER_PROCESSES", 0)
        self.idle_channels = _int("BENCH_IDLE_CHANNELS", 200)
        self.idle_seconds = _int("BENCH_IDLE_SECONDS", 30)
        self.catchup_blocks = _int("BENCH_CATCHUP_BLOCKS", 100000)
        self.catchup_snapshot_bytes = _int("BENCH_CATCHUP_SNAPSHOT_BYTES", 65536)
        self.catchup_clients = _int("BENCH_CATCHUP_CLIENTS", 4)
        self.catchup_timeout_s = _int("BENCH_CATCHUP_TIMEOUT", 600)
        self.out = os.environ.get("BENCH_OUT", "")
        self.keep = os.environ.get("BENCH_KEEP", "0") == "1"
        self.parent_dir = _str("BENCH_DIR", "/tmp")
        self.work_dir = None
        # room for the idle channels and the other parts' channels
        self.max_channels = self.idle_channels + 16

    def wants_etcd(self):
        return bool(COMPARE_PARTS & set(self.parts))
