"""Prints every non-INPUT event as `TYPE id`."""

from dora_api import Node

node = Node()
for event in node:
    if event["type"] != "INPUT":
        print(f"{event['type']} {event['id']}", flush=True)
    if event["type"] == "STOP":
        break
