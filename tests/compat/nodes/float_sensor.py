"""Sends `--count` float64 readings, then exits (typed-dataflow's sensor)."""

import argparse

import pyarrow as pa

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=4)
args = parser.parse_args()

node = Node()
for number in range(args.count):
    node.send_output("reading", pa.array([17.0 + 2.5 * number], type=pa.float64()))
