"""Prints every event as `TYPE id` (`--quiet-inputs`: all but INPUT)."""

import sys

from dora_api import Node

node = Node()
quiet = "--quiet-inputs" in sys.argv
for event in node:
    if event["type"] != "INPUT" or not quiet:
        print(f"{event['type']} {event['id']}", flush=True)
    if event["type"] == "STOP":
        break
