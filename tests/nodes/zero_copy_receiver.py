"""Checks what zero_copy_sender sends, the way a dora-rs receiver reads it (to_numpy())."""

import numpy as np

from dora_api import Node

node = Node()
frames = images = 0
for event in node:
    if event["type"] == "INPUT" and event["id"] == "frame":
        frames += 1
        data = event["value"].to_numpy()
        good = len(data) == 64 * 1024 and np.array_equal(
            data, (np.arange(len(data), dtype=np.uint64) % frames).astype(np.uint8))
        print(f"frame {frames}: {'ok' if good else 'BAD'}", flush=True)
    elif event["type"] == "INPUT" and event["id"] == "image":
        images += 1
        meta = event["metadata"]
        pixels = event["value"].to_numpy().reshape(-1, 3)
        good = (meta == {"width": 100, "height": 100} and len(pixels) == 100 * 100
                and (pixels == [images, 64, 128]).all())
        print(f"image {images}: {'ok' if good else 'BAD'}", flush=True)
    elif event["type"] == "STOP":
        break
print(f"received {frames} frames and {images} images", flush=True)
