"""Forwards only the odd integers (module-dataflow's second inner stage)."""

import logging

import pyarrow as pa

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        odd = [n for n in event["value"].to_pylist() if n % 2]
        if odd:
            node.send_output("odd", pa.array(odd))
        else:
            logging.info("dropped %s", event["value"].to_pylist())
    elif event["type"] == "STOP":
        break
