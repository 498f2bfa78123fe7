"""Multiplies every integer it gets by `--by` (module-dataflow's inner stage)."""

import argparse
import logging

import pyarrow as pa

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--by", type=int, default=2)
args = parser.parse_args()

node = Node()
for event in node:
    if event["type"] == "INPUT":
        numbers = [n * args.by for n in event["value"].to_pylist()]
        node.send_output("scaled", pa.array(numbers))
        logging.info("scaled to %s", numbers)
    elif event["type"] == "STOP":
        break
