"""A Python operator in the original dora form: `on_input(input_id, value, send_output)`.

For every `time` input (a timestamp sent by examples/timer.py) it sends the delivery
latency, in milliseconds, on `latency`. Returning None means CONTINUE.
"""

import time

from dora_api import DoraStatus


class Operator:
    def on_input(self, input_id, value, send_output):
        if input_id == "time":
            sent = float(bytes(value).decode())
            send_output("latency", f"{(time.time() - sent) * 1000:.3f}ms".encode())
        return DoraStatus.CONTINUE
