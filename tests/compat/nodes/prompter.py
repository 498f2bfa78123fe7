"""Per tick: sends the next prompt as a one-string array (streaming-example's source)."""

import pyarrow as pa

from dora_api import Node

PROMPTS = ["alpha beta gamma", "one two"]
node = Node()
sent = 0
for event in node:
    if event["type"] == "INPUT":
        node.send_output("prompt", pa.array([PROMPTS[sent % len(PROMPTS)]]))
        sent += 1
    elif event["type"] == "STOP":
        break
