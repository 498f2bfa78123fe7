"""Forwards each value with its metadata untouched (python-echo's echo)."""

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        node.send_output("data", event["value"], event["metadata"])
    elif event["type"] == "STOP":
        break
