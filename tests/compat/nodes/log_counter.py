"""Counts the log records arriving on `records` (Arrow string arrays of JSON, as sent by
`send_logs_as`) by level, and readings on `reading`; prints the counts as JSON at STOP."""

import collections
import json

from dora_api import Node

node = Node()
levels = collections.Counter()
readings = 0
for event in node:
    if event["type"] == "INPUT" and event["id"] == "records":
        record = json.loads(event["value"][0].as_py())
        levels[record["level"]] += 1
        if record["level"] == "error":
            print(f"caught {record['node_id']}: {record['message']}", flush=True)
    elif event["type"] == "INPUT":
        readings += 1
    elif event["type"] == "STOP":
        print("levels", json.dumps({**levels, "readings": readings}), flush=True)
        break
