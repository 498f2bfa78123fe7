"""Unpacks the struct with .field(), [0].values.to_numpy(zero_copy_only=False) and
reshape, printing shapes and sums (python-multiple-arrays' receiver)."""

import numpy as np

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "INPUT":
        packed = event["value"]
        dark = packed.field("dark")[0].values.to_numpy(zero_copy_only=False)
        bright = packed.field("bright")[0].values.to_numpy(zero_copy_only=False)
        state = packed.field("state")[0].values.to_numpy(zero_copy_only=False)
        dark = dark.view(np.uint8).reshape((48, 64, 3))
        bright = bright.view(np.uint8).reshape((48, 64, 3))
        state = state.view(np.float32).reshape((1, 3))
        print(f"{dark.shape} {int(dark.sum())} {bright.shape} {int(bright.sum())} "
              f"{state.tolist()}", flush=True)
    elif event["type"] == "STOP":
        break
