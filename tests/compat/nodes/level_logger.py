"""Per input: logging.info with the numpy view of the value, a debug record through a
named logger (dropped by default), a printed line; `done` at the end (python-log)."""

import logging

from dora_api import Node

node = Node()
log = logging.getLogger("compat.receiver")
for event in node:
    if event["type"] == "INPUT":
        logging.info(f"value {event['value'].to_numpy().dtype}")
        log.log(logging.DEBUG, "debug record")
        print("printed", flush=True)
    if event["type"] == "ERROR":
        log.log(logging.ERROR, f"error event {event}")
log.log(logging.INFO, "done")
