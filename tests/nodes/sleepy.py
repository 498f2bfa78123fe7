"""A dora_api node with a timer input that handles its events, then hangs or slows down.

--block-after S   after S seconds, print `BLOCK <unix time>` and block in time.sleep(3600)
--excuse          ... after calling node.keepalive(3600): blocking on purpose
--slow S          take S seconds over each event (a slow but alive main loop)
--every N         print `EVENT <n>` for every Nth event (default 10)
Prints `START pid=<pid> restart=<n>` first.
"""

import argparse
import os
import time

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--block-after", type=float)
parser.add_argument("--excuse", action="store_true")
parser.add_argument("--slow", type=float, default=0.0)
parser.add_argument("--every", type=int, default=10)
args = parser.parse_args()

node = Node()
print(f"START pid={os.getpid()} restart={node.restart_count()}", flush=True)
start, handled = time.monotonic(), 0
for event in node:
    if event["type"] == "STOP":
        break
    handled += 1
    if handled % args.every == 0:
        print(f"EVENT {handled}", flush=True)
    if args.block_after is not None and time.monotonic() - start >= args.block_after \
            and node.restart_count() == 0:
        if args.excuse:
            node.keepalive(3600)
        print(f"BLOCK {time.time()}", flush=True)
        time.sleep(3600)
    time.sleep(args.slow)
print("END", flush=True)
