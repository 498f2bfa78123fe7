"""Labels float readings LOW / OK / HIGH as strings (typed-dataflow's processor)."""

import pyarrow as pa

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        value = event["value"].to_pylist()[0]
        label = "HIGH" if value > 22.0 else "LOW" if value < 18.0 else "OK"
        node.send_output("label", pa.array([f"{label}: {value:.1f}"]))
    elif event["type"] == "STOP":
        break
