"""Sends a numpy uint64 timestamp per tick, `--count` times, then leaves the loop
(python-async's and python-drain's sender)."""

import argparse
import time

import numpy as np
import pyarrow as pa

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=10)
args = parser.parse_args()

node = Node()
sent = 0
for event in node:
    if event["type"] == "STOP":
        break
    if event["type"] != "INPUT":
        continue
    if sent == args.count:
        break
    sent += 1
    node.send_output("stamp", pa.array([np.uint64(time.perf_counter_ns())]))
