"""Sends shm_values.value(i) for i in range(--count) on `data`.

--frames SIZE     send only uint8 frames of SIZE bytes
--die-after K     SIGKILL itself right after the K-th value
--report-pool     at the end, wait for the values to be released (all but --held N that a
                  consumer keeps) and print IN_USE n
--pace S          sleep S seconds between values"""

import argparse
import os
import signal
import time

import shm_values

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, required=True)
parser.add_argument("--frames", type=int)
parser.add_argument("--die-after", type=int)
parser.add_argument("--report-pool", action="store_true")
parser.add_argument("--pace", type=float, default=0.0)
parser.add_argument("--held", type=int, default=0)
args = parser.parse_args()

node = Node()
for i in range(args.count):
    node.send_output("data", shm_values.value(i, args.frames))
    if args.die_after is not None and i + 1 == args.die_after:
        time.sleep(0.2)  # let the consumer get (and hold) what was sent
        print(f"DYING pid={os.getpid()}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if args.pace:
        time.sleep(args.pace)
print(f"SENT {args.count}", flush=True)
if args.report_pool:
    deadline = time.monotonic() + 10
    while node._out.in_use("data") > args.held and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"IN_USE {node._out.in_use('data')}", flush=True)
