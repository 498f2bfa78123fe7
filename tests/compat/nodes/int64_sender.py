"""Sends 0..5 as int64 arrays with the sync API, then exits (python-recv-async's sender)."""

import time

import pyarrow as pa

from dora_api import Node

node = Node()
for number in range(6):
    node.send_output("numbers", pa.array([number], type=pa.int64()))
    time.sleep(0.02)
