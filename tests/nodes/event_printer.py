"""Prints every event as `TYPE id` (`--quiet-inputs`: all but INPUT); a NODE_FAILED also
shows the inputs it affects and the error."""

import sys

from dora_api import Node

node = Node()
quiet = "--quiet-inputs" in sys.argv
for event in node:
    if event["type"] == "NODE_FAILED":
        details = event["value"]
        assert details["source_node_id"] == event["id"] and details["error"] == event["error"]
        print(f"NODE_FAILED {event['id']} {details['affected_input_ids']} {event['error']}",
              flush=True)
    elif event["type"] != "INPUT" or not quiet:
        print(f"{event['type']} {event['id']}", flush=True)
    if event["type"] == "STOP":
        break
