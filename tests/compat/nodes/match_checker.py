"""Checks every value against [1, 2, 3] and its metadata; prints OK/BAD per message and the
total at STOP (python-echo's checker)."""

from dora_api import Node

node = Node()
good = 0
for event in node:
    if event["type"] == "INPUT":
        fine = event["value"].to_pylist() == [1, 2, 3] and \
            event["metadata"].get("origin") == "ticker"
        good += fine
        print("OK" if fine else f"BAD {event['value']} {event['metadata']}", flush=True)
    elif event["type"] == "STOP":
        break
print(f"total OK {good}", flush=True)
