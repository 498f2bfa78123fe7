"""Per tick: packs two numpy images and a float32 state vector into one StructArray of
list columns (python-multiple-arrays' sender)."""

import numpy as np
import pyarrow as pa

from dora_api import Node

node = Node()
dark = np.zeros((48, 64, 3), dtype=np.uint8)
bright = np.full((48, 64, 3), 200, dtype=np.uint8)
state = np.array([[0.5, 1.5, 2.5]], dtype=np.float32)
for event in node:
    if event["type"] == "INPUT":
        node.send_output("packed", pa.StructArray.from_arrays(
            [pa.array([dark.ravel()]), pa.array([bright.ravel()]), pa.array([state.ravel()])],
            names=["dark", "bright", "state"]))
    elif event["type"] == "STOP":
        break
