"""Prints every log record it receives as `input level node message` (records arrive as
JSON: bytes on a `dora/logs` input, a one-element Arrow string array on a `send_logs_as`
output), and `STOP <id>` at the end."""

import json
import logging

from dora_api import Node

node = Node()
logging.warning("collector's own record")  # a node never receives its own records
for event in node:
    if event["type"] == "INPUT" and event["id"] != "data":
        value = event["value"]
        text = bytes(value).decode() if isinstance(value, bytes) else value[0].as_py()
        record = json.loads(text)
        extra = f" {record['target']} {record['fields']}" if record["fields"] else ""
        print(f"{event['id']} {record['level']} {record['node_id']} {record['message']}{extra}",
              flush=True)
    elif event["type"] == "STOP":
        print(f"STOP {event['id']}", flush=True)
        break
