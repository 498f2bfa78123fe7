"""A dora-rs style zero-copy sender (send_output_raw), driven by a `tick` input: per tick a
64 KiB `frame` filled in a `with` block and a 100x100 RGB `image` filled by hand, with
width/height metadata. Stops after 10 ticks."""

import numpy as np

from dora_api import Node

FRAME_BYTES, WIDTH, HEIGHT = 64 * 1024, 100, 100
node = Node()
ticks = 0
for event in node:
    if event["type"] == "STOP":
        break
    if event["type"] != "INPUT":
        continue
    ticks += 1
    if ticks > 10:
        break
    with node.send_output_raw("frame", FRAME_BYTES) as buffer:
        np.asarray(buffer, dtype=np.uint8)[:] = np.arange(FRAME_BYTES, dtype=np.uint64) % ticks
    sample = node.send_output_raw("image", WIDTH * HEIGHT * 3,
                                  metadata={"width": WIDTH, "height": HEIGHT})
    view = sample.as_memoryview()
    pixels = np.asarray(view, dtype=np.uint8).reshape(WIDTH * HEIGHT, 3)
    pixels[:] = (ticks, 64, 128)
    del pixels
    view.release()
    sample.send()
    print(f"tick {ticks}: sent frame and image", flush=True)
