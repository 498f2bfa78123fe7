"""Checks the stamps it receives (stamp.py): per producer incarnation, every message
intact, none twice, none out of order. Reports what it saw as lines:

  RUN <pid> <restart> <first> <last> <count>   a contiguous stretch from one incarnation
  RESTARTED <node>                             a NODE_RESTARTED event, where it came
  BAD <what>                                   a corrupted, duplicated or reordered message
  SEEN <pid> <seq> <total> <bad>               (--every S) progress, every S seconds
  STOP <id>, RECEIVED <total> BAD <bad>        at the end, and
  MAXGAP <seconds>                             the longest wait between two messages

--delay S         sleep S seconds per message (a slow consumer: backpressure)
--crash-after N   exit with code 1 right after taking N messages ...
--crash-times K   ... but only in its first K incarnations
"""

import argparse
import os
import time

import stamp

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--delay", type=float, default=0.0)
parser.add_argument("--every", type=float)
parser.add_argument("--crash-after", type=int)
parser.add_argument("--crash-times", type=int, default=10**9)
args = parser.parse_args()

node = Node()
crash_after = args.crash_after if node.restart_count() < args.crash_times else None
print("READY", flush=True)
last_seq: dict[tuple[int, int], int] = {}  # (pid, restart) -> last sequence number
run: list | None = None  # [pid, restart, first, last, count] of the current stretch
total = bad = 0
latest = (0, -1)
last_at, max_gap = None, 0.0
next_report = time.monotonic() + (args.every or 0)


def end_run() -> None:
    global run
    if run is not None:
        print("RUN " + " ".join(map(str, run)), flush=True)
    run = None


for event in node:
    if event["type"] == "INPUT":
        found = stamp.unpack(event["value"])
        if found is None:
            bad += 1
            print(f"BAD corrupt {bytes(event['value'][:24]).hex()}", flush=True)
            continue
        pid, restart, seq = found
        now = time.monotonic()
        max_gap = max(max_gap, now - (last_at or now))
        last_at = now
        before = last_seq.get((pid, restart))
        if before is not None and seq <= before:
            bad += 1
            print(f"BAD {'duplicate' if seq == before else 'reordered'} {pid} {seq} "
                  f"after {before}", flush=True)
            continue
        last_seq[(pid, restart)] = seq
        total += 1
        latest = (pid, seq)
        if run is not None and run[:2] == [pid, restart] and run[3] == seq - 1:
            run[3], run[4] = seq, run[4] + 1
        else:
            end_run()
            run = [pid, restart, seq, seq, 1]
        if args.delay:
            time.sleep(args.delay)
        if crash_after is not None and total >= crash_after:
            end_run()
            print("CRASH", flush=True)
            os._exit(1)
    elif event["type"] == "NODE_RESTARTED":
        end_run()
        print(f"RESTARTED {event['id']}", flush=True)
    elif event["type"] == "STOP":
        end_run()
        print(f"STOP {event['id']}", flush=True)
        break
    if args.every and time.monotonic() >= next_report:
        print(f"SEEN {latest[0]} {latest[1]} {total} {bad}", flush=True)
        next_report = time.monotonic() + args.every
end_run()
print(f"RECEIVED {total} BAD {bad}", flush=True)
print(f"MAXGAP {max_gap:.3f}", flush=True)
