"""dora node for benchmarks/profile_path.py: `send` publishes PROF_COUNT pa.UInt8Array values
of PROF_SIZE bytes back to back on `data`; `recv` reads each one as an Arrow array (its data
buffer, the way a user would) until it has PROF_COUNT of them. Nothing else, so a profile
of the two processes is the per-message path and little more."""

import gc
import os
import sys
import time

import pyarrow as pa

from dora_api import Node

size, count = int(os.environ["PROF_SIZE"]), int(os.environ["PROF_COUNT"])
node = Node()
gc_time = [0.0, None]  # seconds spent in the collector, the start of the running one


def _gc_clock(phase, info):
    if phase == "start":
        gc_time[1] = time.perf_counter()
    elif gc_time[1] is not None:
        gc_time[0] += time.perf_counter() - gc_time[1]


gc.callbacks.append(_gc_clock)
collections = [entry["collections"] for entry in gc.get_stats()]
started = time.perf_counter()
if sys.argv[1] == "send":
    array = pa.Array.from_buffers(pa.uint8(), size, [None, pa.py_buffer(bytearray(size))])
    for _ in range(count):
        node.send_output("data", array)
else:
    received = 0
    for event in node:
        if event["type"] == "INPUT":
            data = event["value"].buffers()[1]
            received += 1
            if received == count:
                break
elapsed = time.perf_counter() - started
collected = [entry["collections"] - before
             for entry, before in zip(gc.get_stats(), collections, strict=True)]
print(f"{sys.argv[1]}: {count} x {size} B in {elapsed:.2f} s; garbage collections per "
      f"generation {collected}, {gc_time[0] * 1e3:.0f} ms ({len(gc.get_objects())} objects "
      "tracked)", flush=True)
