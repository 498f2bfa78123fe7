"""dora node for benchmarks/profile_path.py: `send` publishes PROF_COUNT pa.UInt8Array values
of PROF_SIZE bytes back to back on `data`; `recv` reads each one as an Arrow array (its data
buffer, the way a user would) until it has PROF_COUNT of them. Nothing else, so a profile
of the two processes is the per-message path and little more."""

import os
import sys
import time

import pyarrow as pa

from dora_api import Node

size, count = int(os.environ["PROF_SIZE"]), int(os.environ["PROF_COUNT"])
node = Node()
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
print(f"{sys.argv[1]}: {count} x {size} B in {time.perf_counter() - started:.2f} s", flush=True)
