"""Sends 0, 1, 2, ... as fast as it can (or `--count` of them), until STOP."""

import argparse

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=0)
parser.add_argument("--size", type=int, default=8)
args = parser.parse_args()

node = Node()
sent = 0
padding = b"x" * max(0, args.size - 8)
while not args.count or sent < args.count:
    event = node.try_recv()
    if event is not None and event["type"] == "STOP":
        break
    node.send_output("out", sent.to_bytes(8, "little") + padding)
    sent += 1
print(f"SENT {sent}", flush=True)
