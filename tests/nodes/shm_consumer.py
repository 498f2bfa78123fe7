"""Checks every value on `data` against shm_values.value(i): content, order, no loss.

--frames SIZE   the producer sends only frames of SIZE bytes
--hold K        keep the first K values to the end, then check they did not change
--die-after K   SIGKILL itself after receiving (and holding) K values
Prints `OK n`, `SHARED n` (values with every buffer in a shared-memory segment), `HELD
INTACT` / `HELD CHANGED`, and `BAD ...` for any mismatch."""

import argparse
import os
import signal

import shm_values

from dora_api import Node
from dora_api.outputs import SHM_THRESHOLD

parser = argparse.ArgumentParser()
parser.add_argument("--frames", type=int)
parser.add_argument("--hold", type=int, default=0)
parser.add_argument("--die-after", type=int)
args = parser.parse_args()

node = Node()
received = shared = big = 0
held = []
for event in node:
    if event["type"] == "STOP":
        break
    if event["type"] != "INPUT":
        print(f"{event['type']} {event['id']}", flush=True)
        continue
    value = event["value"]
    expected = shm_values.value(received, args.frames)
    if not value.equals(expected):
        print(f"BAD value {received}: {value.type} {len(value)}", flush=True)
    if sum(b.size for b in expected.buffers() if b is not None) >= SHM_THRESHOLD:
        big += 1
        shared += shm_values.in_shared_memory(value)
    if len(held) < args.hold:
        held.append((received, value))
    received += 1
    if args.die_after is not None and received == args.die_after:
        print(f"DYING holding {len(held)}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    del value, event
print(f"OK {received}", flush=True)
print(f"SHARED {shared} of {big}", flush=True)
if held:
    intact = all(v.equals(shm_values.value(i, args.frames)) for i, v in held)
    print("HELD INTACT" if intact else "HELD CHANGED", flush=True)
