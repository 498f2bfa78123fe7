"""Turns each integer into a struct {double, label, even} (python-dataflow's transformer)."""

import pyarrow as pa

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        number = event["value"].to_pylist()[0]
        node.send_output("struct", pa.StructArray.from_arrays(
            [pa.array([number * 2]), pa.array([f"number {number}"]),
             pa.array([number % 2 == 0])], names=["double", "label", "even"]))
    elif event["type"] == "STOP":
        break
