"""Sink: prints every message it receives (`logger: <input> = <value>`), from custom nodes
and operators alike, and a summary when its inputs are closed."""

import collections

from dora_api import Node

node = Node()
counts = collections.Counter()
for event in node:
    if event["type"] == "INPUT":
        counts[event["id"]] += 1
        value = event["value"]
        text = value.decode(errors="backslashreplace") if isinstance(value, bytes) else value
        print(f"logger: {event['id']} = {text}")
    elif event["type"] == "INPUT_CLOSED":
        print(f"logger: input '{event['id']}' closed")
    elif event["type"] == "STOP":
        print(f"logger: stop ({event['id']})")
        break
summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
print(f"logger: received {summary or 'nothing'}")
