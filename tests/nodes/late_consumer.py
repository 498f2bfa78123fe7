"""Prints INPUT_CLOSED/STOP with the seconds since `Node()` returned. Its first incarnation
fails (exit 1) on its first input, so the next one may start after its producer is gone."""

import sys
import time

from dora_api import Node

node = Node()
ready = time.monotonic()
taken = 0
for event in node:
    if event["type"] == "INPUT":
        taken += 1
        if node.restart_count() == 0:
            sys.exit(1)
    elif event["type"] in ("INPUT_CLOSED", "STOP"):
        print(f"{node.restart_count()} {event['type']} {event['id']} taken={taken} "
              f"after={time.monotonic() - ready:.2f}", flush=True)
    if event["type"] == "STOP":
        break
