"""With `--tag T`: sends T on every input (a timer tick). Without: prints `GOT <value>`
for every input. Two dataflows with the same node ids tell their data apart by the tag."""

import sys

from dora_api import Node

tag = sys.argv[sys.argv.index("--tag") + 1].encode() if "--tag" in sys.argv else None
node = Node()
for event in node:
    if event["type"] == "INPUT" and tag is not None:
        node.send_output("out", tag)
    elif event["type"] == "INPUT":
        print(f"GOT {bytes(event['value']).decode()}", flush=True)
    elif event["type"] == "STOP":
        break
