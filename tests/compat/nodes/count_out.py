"""Sends the integers 0..N-1 (`--count N`) as one-element Arrow arrays, logging each, then
exits: a finite source like dora-rs's module-dataflow and python-dataflow senders."""

import argparse
import logging
import time

import pyarrow as pa

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=5)
parser.add_argument("--output", default="value")
args = parser.parse_args()

node = Node()
for number in range(args.count):
    node.send_output(args.output, pa.array([number]))
    logging.info("sent %d", number)
    time.sleep(0.02)
logging.info("sender done")
