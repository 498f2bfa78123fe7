"""Averages the readings; logs info per reading and one error at the 3rd reading, prints a
line that `send_logs_as` must not send (python-logging's processor)."""

import logging

import pyarrow as pa

from dora_api import Node

node = Node()
seen = []
for event in node:
    if event["type"] == "INPUT":
        seen.append(event["value"][0].as_py())
        average = sum(seen) / len(seen)
        logging.info("average %.1f", average)
        if len(seen) == 3:
            logging.error("injected error at reading 3")
        print(f"printed average {average:.1f}")
        node.send_output("average", pa.array([average]))
    elif event["type"] == "STOP":
        break
