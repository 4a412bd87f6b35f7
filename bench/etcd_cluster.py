"""etcd_cluster.py: three etcd members on 127.0.0.1, each with its own data
directory under the bench's directory, every setting at etcd's default
(fsync of the WAL on every commit, 100 ms heartbeat, 1 s election).

Client ports are client_base+1.., peer ports peer_base+1.. (23791.. and
23801..: never etcd's default 2379/2380, where a system etcd may listen).
"""
import os
import signal
import subprocess
import time

import grpc

import etcd_proto
from waiting import wait_until

STOP_TIMEOUT_S = 10


class EtcdCluster:
    def __init__(self, work_dir, client_base, peer_base, member_count=3):
        self.work_dir = work_dir
        self.names = ["m%d" % i for i in range(1, member_count + 1)]
        self.client_ports = {m: client_base + i for i, m in enumerate(self.names, 1)}
        self.peer_ports = {m: peer_base + i for i, m in enumerate(self.names, 1)}
        self.processes = {}

    def endpoint(self, member):
        return "127.0.0.1:%d" % self.client_ports[member]

    def start(self):
        initial = ",".join("%s=http://127.0.0.1:%d" % (m, self.peer_ports[m]) for m in self.names)
        for m in self.names:
            log = open(os.path.join(self.work_dir, "etcd-%s.log" % m), "w")
            client_url = "http://127.0.0.1:%d" % self.client_ports[m]
            peer_url = "http://127.0.0.1:%d" % self.peer_ports[m]
            self.processes[m] = subprocess.Popen(
                ["etcd", "--name", m, "--data-dir", os.path.join(self.work_dir, "etcd-" + m),
                 "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", initial, "--initial-cluster-token", "ordering-bench",
                 "--initial-cluster-state", "new", "--logger", "zap", "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
        wait_until("an etcd leader", 60, self.leader_member, 0.2)

    def pids(self):
        return [p.pid for p in self.processes.values() if p.poll() is None]

    def status(self, member):
        """(member_id, leader_id, revision) as the member sees them."""
        with grpc.insecure_channel(self.endpoint(member)) as channel:
            call = channel.unary_unary(etcd_proto.STATUS, request_serializer=bytes,
                                       response_deserializer=bytes)
            return etcd_proto.status_response(call(b"", timeout=2))

    def leader_member(self):
        """The member every member names as leader, or None."""
        statuses = {m: self.status(m) for m in self.names}
        leaders = {leader for _, leader, _ in statuses.values()}
        if len(leaders) != 1 or 0 in leaders:
            return None
        for m, (member_id, _, _) in statuses.items():
            if member_id in leaders:
                return m
        return None

    def revision(self):
        return self.status(self.names[0])[2]

    def stop(self):
        for p in self.processes.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for p in self.processes.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.processes = {}

    @staticmethod
    def version():
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].split(":", 1)[1].strip() if out else "unknown"
