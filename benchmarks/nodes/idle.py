"""An idle dataflow node: connects, then waits for STOP."""

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "STOP":
        break
