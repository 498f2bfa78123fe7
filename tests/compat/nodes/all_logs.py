"""Prints every record of the `dora/logs` inputs as `<input> [LEVEL][node] message`; the
value is the record's JSON in bytes (log-aggregator's viewer)."""

import json

from dora_api import Node

node = Node()
node.log_info("viewer started")  # its own record: never delivered back to it
for event in node:
    if event["type"] == "INPUT":
        record = json.loads(bytes(event["value"]).decode("utf-8"))
        print(f"{event['id']} [{record['level'].upper()}][{record['node_id']}] "
              f"{record['message']}", flush=True)
    elif event["type"] == "STOP":
        break
