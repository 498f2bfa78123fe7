"""Forwards at most one `time` message per `--seconds`; drops the rest."""

import argparse
import time

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=0.1)
args = parser.parse_args()

node = Node()
last = float("-inf")
forwarded = 0
for event in node:
    if event["type"] == "INPUT":
        now = time.monotonic()
        if now - last >= args.seconds:
            node.send_output("rate-limited", event["value"], event["metadata"])
            last = now
            forwarded += 1
    elif event["type"] == "STOP":
        break
print(f"rate-limited-timer: forwarded {forwarded} messages")
