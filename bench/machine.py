"""machine.py: what the numbers were measured on."""
import os
import platform
import subprocess


def _first_line(args):
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


def _cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def _memory_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def load_average():
    return " ".join(_read("/proc/loadavg").split()[:3])


def filesystem(path):
    """The type and device of the file system holding path (the data
    directories: on tmpfs an fsync would cost nothing)."""
    try:
        out = subprocess.run(["df", "--output=fstype,source", path], capture_output=True,
                             text=True, timeout=10).stdout.splitlines()
        return " on ".join(out[1].split()) if len(out) > 1 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def describe():
    import grpc
    etcd = _first_line(["etcd", "--version"]).split(":", 1)[-1].strip()
    return {
        "cpu": "%d × %s" % (os.cpu_count() or 0, _cpu_model()),
        "memory": "%.0f GiB" % _memory_gib(),
        "kernel": "%s %s" % (platform.system(), platform.release()),
        "debian": _read("/etc/debian_version"),
        "postgresql": _first_line(["postgres", "--version"]).replace("postgres (PostgreSQL) ", ""),
        "etcd": etcd,
        "python_grpcio": "%s (Python %s)" % (grpc.__version__, platform.python_version()),
        "pgbench": _first_line(["pgbench", "--version"]).replace("pgbench (PostgreSQL) ", ""),
    }
