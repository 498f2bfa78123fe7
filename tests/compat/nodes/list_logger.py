"""Logs every INPUT as `<id> <value as a list>` and `stopped <STOP id>` at the end."""

import logging

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        logging.info("%s %s", event["id"], event["value"].to_pylist())
    elif event["type"] == "STOP":
        logging.info("stopped %s", event["id"])
        break
