#!/usr/bin/python3
"""etcd_put.py: closed-loop etcd v3 load over native gRPC.

Each client issues one request, waits for the answer, and issues the next
(closed loop).  Clients are spread over --processes worker processes (the
GIL allows one Python thread to run at a time); inside a process they are
asyncio tasks sharing one gRPC channel (one HTTP/2 connection, one stream
per call), which costs the driver about a third of the CPU per call of a
thread per client.

The load starts at once and stops at --measure-until; only calls that end
inside [--measure-from, --measure-until) are counted, so connection set-up
and warm-up fall outside.  The latency of each counted call (seconds, as
native doubles) goes to --out; a JSON summary is printed on stdout.

--request put: PutRequest(key, value) with random keys from --key-space and
a random value of --value-size bytes; --request range: a serializable
RangeRequest (served by the member alone, no Raft), which measures what the
driver itself can do.
"""
import argparse
import array
import asyncio
import json
import multiprocessing
import os
import random
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcd_proto  # noqa: E402

CALL_TIMEOUT_S = 10.0


def _raw(data):
    return data


async def _client(stub, request_of, measure_from, measure_until, latencies, errors):
    while True:
        request = request_of()
        started = time.monotonic()
        started_wall = time.time()
        if started_wall >= measure_until:
            return
        try:
            await stub(request, timeout=CALL_TIMEOUT_S)
            ok = True
        except grpc.RpcError as e:
            ok = False
            if not errors["first"]:
                errors["first"] = "%s: %s" % (e.code(), e.details())
        elapsed = time.monotonic() - started
        ended = started_wall + elapsed
        if measure_from <= ended < measure_until:
            if ok:
                latencies.append(elapsed)
            else:
                errors["count"] += 1


async def _process_main(args, first_client, clients):
    channel = grpc.aio.insecure_channel(args.endpoint)
    method = etcd_proto.PUT if args.request == "put" else etcd_proto.RANGE
    stub = channel.unary_unary(method, request_serializer=_raw, response_deserializer=_raw)
    latencies = array.array("d")
    errors = {"count": 0, "first": ""}
    tasks = []
    for i in range(first_client, first_client + clients):
        rng = random.Random(i)
        value = rng.randbytes(args.value_size)
        fmt = b"%08d"
        if args.request == "put":
            def request_of(rng=rng, value=value):
                return etcd_proto.put_request(fmt % rng.randrange(args.key_space), value)
        else:
            def request_of(rng=rng):
                return etcd_proto.range_request(fmt % rng.randrange(args.key_space))
        tasks.append(_client(stub, request_of, args.measure_from, args.measure_until,
                             latencies, errors))
    await asyncio.gather(*tasks)
    await channel.close()
    return latencies, errors


def _process(args, first_client, clients, pipe):
    latencies, errors = asyncio.run(_process_main(args, first_client, clients))
    pipe.send((latencies.tobytes(), errors["count"], errors["first"]))
    pipe.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", required=True, help="host:port of the member to call")
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--processes", type=int, default=0,
                    help="worker processes (default: min(clients, CPUs))")
    ap.add_argument("--request", choices=("put", "range"), default="put")
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--key-space", type=int, default=100000)
    ap.add_argument("--measure-from", type=float, required=True, help="epoch seconds")
    ap.add_argument("--measure-until", type=float, required=True, help="epoch seconds")
    ap.add_argument("--out", required=True, help="file for the latencies")
    args = ap.parse_args()
    if args.clients < 1 or args.measure_until <= args.measure_from:
        ap.error("need at least one client and a non-empty window")
    processes = args.processes or min(args.clients, os.cpu_count() or 1)
    processes = max(1, min(processes, args.clients))

    context = multiprocessing.get_context("fork")
    workers, first = [], 0
    for p in range(processes):
        clients = args.clients // processes + (1 if p < args.clients % processes else 0)
        receiver, sender = context.Pipe(duplex=False)
        proc = context.Process(target=_process, args=(args, first, clients, sender))
        proc.start()
        sender.close()
        workers.append((proc, receiver))
        first += clients

    latencies, error_count, first_error = array.array("d"), 0, ""
    for proc, receiver in workers:
        try:
            data, count, message = receiver.recv()
        except EOFError:
            sys.exit("etcd_put: a worker process died")
        part = array.array("d")
        part.frombytes(data)
        latencies.extend(part)
        error_count += count
        first_error = first_error or message
        proc.join()
    with open(args.out, "wb") as f:
        latencies.tofile(f)
    print(json.dumps({"ok": len(latencies), "errors": error_count, "first_error": first_error,
                      "processes": processes}))


if __name__ == "__main__":
    main()
