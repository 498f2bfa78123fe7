"""Prints each string value and `stop <id>` at STOP (typed-dataflow's sink)."""

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        print(event["value"].to_pylist()[0], flush=True)
    elif event["type"] == "STOP":
        print(f"stop {event['id']}", flush=True)
        break
