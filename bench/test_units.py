#!/usr/bin/python3
"""test_units.py: the bench's pure pieces (wire encoding, percentiles,
windows, leader agreement, process trees).  Run: python3 bench/test_units.py"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etcd_proto  # noqa: E402
import pg_cluster  # noqa: E402
import pg_load  # noqa: E402
import procstat  # noqa: E402
import stats  # noqa: E402
from part_catchup import in_flight_during  # noqa: E402


class EtcdProto(unittest.TestCase):
    def test_put_request_is_two_length_delimited_fields(self):
        self.assertEqual(etcd_proto.put_request(b"foo", b"bar"),
                         bytes.fromhex("0a03666f6f1203626172"))

    def test_lengths_above_127_take_two_varint_bytes(self):
        message = etcd_proto.put_request(b"k", b"v" * 300)
        self.assertEqual(message[:5], bytes.fromhex("0a016b12ac"))
        self.assertEqual(etcd_proto.fields(message), {1: b"k", 2: b"v" * 300})

    def test_serializable_range(self):
        self.assertEqual(etcd_proto.range_request(b"foo"), bytes.fromhex("0a03666f6f3801"))

    def test_status_response(self):
        header = bytes.fromhex("0807" "1005" "18ac02")   # cluster 7, member 5, revision 300
        message = b"\x0a" + bytes([len(header)]) + header + bytes.fromhex("2005")  # leader 5
        self.assertEqual(etcd_proto.status_response(message), (5, 5, 300))

    def test_truncated_input_is_refused(self):
        with self.assertRaises(ValueError):
            etcd_proto.fields(bytes.fromhex("0a05666f"))
        with self.assertRaises(ValueError):
            etcd_proto.fields(b"\x80")
        with self.assertRaises(ValueError):
            etcd_proto.fields(bytes.fromhex("0d00000000"))   # fixed32: not expected


class Percentiles(unittest.TestCase):
    def test_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(stats.percentile(values, 50), 50)
        self.assertEqual(stats.percentile(values, 99), 99)
        self.assertEqual(stats.percentile(values, 100), 100)
        self.assertEqual(stats.percentile([7], 99), 7)
        self.assertIsNone(stats.percentile([], 50))

    def test_summary_in_ms(self):
        summary = stats.summary_ms([0.001, 0.002, 0.003, 0.004])
        self.assertAlmostEqual(summary["p50"], 2.0)
        self.assertAlmostEqual(summary["max"], 4.0)


class Windows(unittest.TestCase):
    calls = [(9.9, 0.5, True), (10.0, 0.5, True), (12.0, None, False), (19.99, 3.0, True),
             (20.0, 0.1, True)]

    def test_calls_that_end_inside_count(self):
        latencies, failed = pg_load.in_window(self.calls, 10.0, 20.0)
        self.assertEqual(sorted(latencies), [0.5, 3.0])
        self.assertEqual(failed, 1)

    def test_in_flight_counts_calls_that_span_the_window(self):
        # started at 5 and ended at 25: in flight during [10, 20)
        calls = [(25.0, 20.0, True), (9.0, 1.0, True), (21.0, 0.5, True), (15.0, 1.0, True)]
        latencies, _ = in_flight_during(calls, 10.0, 20.0)
        self.assertEqual(sorted(latencies), [1.0, 20.0])


class Leaders(unittest.TestCase):
    def test_every_node_agrees_on_a_running_leader(self):
        nodes = {"n1", "n2", "n3"}
        seen = {"a": ["n2", "n2", "n2"], "b": ["n1", "n1"], "c": ["n1", "n2", "n2"],
                "d": ["n4", "n4", "n4"]}
        self.assertEqual(pg_cluster.agreed_leaders(seen, nodes), {"a": "n2"})

    def test_a_one_member_channel_needs_only_its_member(self):
        self.assertEqual(pg_cluster.agreed_leaders({"ceiling": ["n1"]}, {"n1"}),
                         {"ceiling": "n1"})
        self.assertEqual(pg_cluster.agreed_leaders({"ceiling": ["n1"]}, {"n1", "n2", "n3"}),
                         {})


class ProcessTrees(unittest.TestCase):
    def test_descendants(self):
        table = {1: (0, 5), 2: (1, 1), 3: (2, 1), 4: (1, 1), 9: (8, 100)}
        self.assertEqual(sorted(procstat.descendants(1, table)), [1, 2, 3, 4])
        self.assertEqual(procstat.tree_cpu_seconds([2], table),
                         2 / procstat.CLOCK_TICKS_PER_SECOND)

    def test_this_process_is_in_the_table(self):
        table = procstat.process_table()
        self.assertEqual(table[os.getpid()][0], os.getppid())
        self.assertGreater(procstat.memory_kib(os.getpid())["VmHWM"], 0)


if __name__ == "__main__":
    unittest.main()
