"""Forwards every input to its `out` output, unchanged."""

from dora_api import Node

node = Node()
forwarded = 0
for event in node:
    if event["type"] == "INPUT":
        node.send_output("out", event["value"], event["metadata"])
        forwarded += 1
    elif event["type"] == "STOP":
        break
print(f"FORWARDED {forwarded}", flush=True)
