"""A configurable test node: announces each start, then runs, exits or crashes on cue.

--exit-after S    exit normally S seconds after start
--crash-after S   exit with --code (default 1) S seconds after start ...
--crash-times N   ... but only in its first N incarnations (default: always)
--ignore-stop     keep running after STOP (to be killed after its shutdown grace)
"""

import argparse
import os
import sys
import time

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--exit-after", type=float)
parser.add_argument("--crash-after", type=float)
parser.add_argument("--crash-times", type=int, default=10**9)
parser.add_argument("--code", type=int, default=1)
parser.add_argument("--ignore-stop", action="store_true")
parser.add_argument("--print-ticks", action="store_true")
args = parser.parse_args()

node = Node()
print(f"START pid={os.getpid()} restart={node.restart_count()}", flush=True)
start = time.monotonic()
crash = args.crash_after is not None and node.restart_count() < args.crash_times
deadline = args.crash_after if crash else args.exit_after
while True:
    remaining = None if deadline is None else deadline - (time.monotonic() - start)
    if remaining is not None and remaining <= 0:
        if crash:
            print("CRASH", flush=True)
            os._exit(args.code)
        break
    event = node.next(timeout=remaining if remaining is not None else 1.0)
    if event is not None and event["type"] == "STOP":
        if args.ignore_stop:
            print("IGNORING STOP", flush=True)
            while True:
                time.sleep(1)
        break
    if event is not None and event["type"] == "INPUT" and args.print_ticks:
        print(f"TICK {event['id']}", flush=True)
    if event is not None and event["type"] == "INPUT" and "out" in node.node_config()["outputs"]:
        node.send_output("out", event["value"])
print("END", flush=True)
sys.exit(0)
