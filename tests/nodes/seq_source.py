"""Sends a stamp (pid, restart count, 0, 1, 2, ...; see stamp.py) on `out`: on every tick
of its `tick` input, or as fast as backpressure lets it without one. Until STOP.

--crash-after N   exit with code 1 right after sending N stamps ...
--crash-times K   ... but only in its first K incarnations
--count N         exit normally after sending N stamps
--size BYTES      stamp size (padded)
Prints `SENT <pid> <restart> <count>` as it stops.
"""

import argparse
import os

import stamp

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--crash-after", type=int)
parser.add_argument("--crash-times", type=int, default=10**9)
parser.add_argument("--count", type=int)
parser.add_argument("--size", type=int, default=stamp.SIZE)
args = parser.parse_args()

node = Node()
pid, restart = os.getpid(), node.restart_count()
crash_after = args.crash_after if restart < args.crash_times else None
timed = bool(node.node_config()["inputs"])
print(f"START {pid} {restart}", flush=True)
sent = 0
while True:
    event = node.next() if timed else node.try_recv()
    if event is None and timed:
        break
    if event is not None and event["type"] == "STOP":
        break
    if event is not None and event["type"] != "INPUT":
        continue
    node.send_output("out", stamp.pack(pid, restart, sent, args.size))
    sent += 1
    if crash_after is not None and sent >= crash_after:
        print(f"SENT {pid} {restart} {sent}", flush=True)
        os._exit(1)
    if args.count is not None and sent >= args.count:
        break
print(f"SENT {pid} {restart} {sent}", flush=True)
