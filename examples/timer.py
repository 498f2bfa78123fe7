"""Source: sends the current time `--count` times, then exits.

With a `tick` input (a built-in timer, dora-rs form) it sends once per tick; without one
(the original form) it paces itself with `--interval`."""

import argparse
import time

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=100)
parser.add_argument("--interval", type=float, default=0.01)
args = parser.parse_args()

node = Node()
sent = 0
if "tick" in node.node_config()["inputs"]:
    for event in node:
        if event["type"] == "STOP":
            break
        if event["type"] == "INPUT" and event["id"] == "tick":
            node.send_output("time", f"{time.time():.6f}".encode())
            sent += 1
            if sent >= args.count:
                break
else:
    while sent < args.count:
        node.send_output("time", f"{time.time():.6f}".encode())
        sent += 1
        event = node.next(timeout=args.interval)
        if event is not None and event["type"] == "STOP":
            break
print(f"timer: sent {sent} time messages")
