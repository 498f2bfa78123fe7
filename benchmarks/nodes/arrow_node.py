"""dora node of the latency benchmark with Arrow payloads, the way users write nodes: the
sender publishes every message as a `pa.UInt8Array` over its buffer (`send_output`) or
fills an output sample in place (`--raw`: `send_output_raw`), the receiver reads each value
through its Arrow data buffer. Runs under this project (`dora_api.Node`) and under dora-rs
(BENCH_API=dora_rs: `dora.Node`) unchanged; benchmarks/nodes/bench_proto.py is the protocol.

    arrow_node.py send --plan P [--raw]      (output `data`, input `ack`)
    arrow_node.py recv --plan P --result F   (input `data`, output `ack`; results to F)

A plan with "shm_threshold": N (this project only, for measuring where shared memory
pays: latency.py --shm-threshold) sends values of N bytes or more through shared memory.
"""

import argparse
import json
import os
import sys

import bench_proto
import pyarrow as pa

if os.environ.get("BENCH_API") == "dora_rs":
    from dora import Node
else:
    from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("role", choices=["send", "recv"])
parser.add_argument("--plan", required=True)
parser.add_argument("--raw", action="store_true")
parser.add_argument("--result")
args = parser.parse_args()
plan = bench_proto.load_plan(args.plan)
if plan.get("shm_threshold") is not None:
    import dora_api.outputs

    dora_api.outputs.SHM_THRESHOLD = plan["shm_threshold"]
node = Node()


def control(message: bytes) -> pa.Array:
    return pa.array(message, pa.uint8())


def as_bytes(value: pa.Array):
    """The payload of a uint8 array as a buffer, without a copy."""
    data = value.buffers()[1]
    if data is None:
        return b""
    view = memoryview(data)
    return view if value.offset == 0 and len(view) == len(value) else \
        view[value.offset:value.offset + len(value)]


if args.role == "send":
    arrays = {}  # bench_proto reuses one buffer per phase: wrap it once, no copy

    def send(buffer) -> None:
        if len(buffer) < 8:
            node.send_output("data", control(bytes(buffer)))
        elif args.raw:
            sample = node.send_output_raw("data", len(buffer))
            view = sample.as_memoryview()
            view[:] = buffer
            view.release()
            sample.send()
        else:
            array = arrays.get(id(buffer))
            if array is None or len(array) != len(buffer):
                array = arrays[id(buffer)] = pa.Array.from_buffers(
                    pa.uint8(), len(buffer), [None, pa.py_buffer(buffer)])
            node.send_output("data", array)

    def wait_ack(timeout: float):
        event = node.next(timeout)
        if event is None:
            return None
        if event["type"] == "INPUT" and event["id"] == "ack":
            return bytes(as_bytes(event["value"]))
        if event["type"] == "STOP":
            sys.exit(f"sender: stopped early ({event['id']})")
        return None

    bench_proto.run_sender(plan, send, wait_ack)
    print("sender: done", flush=True)
else:
    def recv():
        while True:
            event = node.next()
            if event is None or event["type"] == "STOP":
                return None
            if event["type"] == "INPUT":
                return as_bytes(event["value"])

    def ack(message) -> None:
        node.send_output("ack", control(bytes(message)))

    def report(result: dict) -> None:
        with open(args.result, "w", encoding="utf-8") as handle:
            json.dump(result, handle)

    bench_proto.run_receiver(plan, recv, ack, report)
