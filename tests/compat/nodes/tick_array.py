"""On every tick: sends [1, 2, 3] with the tick's metadata plus a key of its own
(python-echo's sender)."""

import pyarrow as pa

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        node.send_output("data", pa.array([1, 2, 3]), {**event["metadata"], "origin": "ticker"})
    elif event["type"] == "STOP":
        break
