"""On every tick: a printed line, a debug, an info and (every 3rd tick) a warning record,
and a float reading (python-logging's sensor)."""

import logging

import pyarrow as pa

from dora_api import Node

node = Node()
tick = 0
for event in node:
    if event["type"] == "INPUT":
        tick += 1
        print(f"printed tick {tick}")
        logging.debug("debug tick %d", tick)
        logging.info("reading tick %d", tick)
        if tick % 3 == 0:
            logging.warning("warning tick %d", tick)
        node.send_output("reading", pa.array([20.0 + tick]))
    elif event["type"] == "STOP":
        break
