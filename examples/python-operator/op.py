"""A Python operator in the dora-rs form: `on_event(event, send_output) -> DoraStatus`.

For every `time` input it sends a status line on `status`; a `counter` input (e.g. the C
operator's `runtime-node/op-c/counter`) is remembered and shows up in the next status.
Written for dora-rs, it runs here unchanged apart from the import line.
"""

from dora_api import DoraStatus


class Operator:
    def __init__(self):
        self.time_messages = 0
        self.last_counter = None

    def on_event(self, dora_event, send_output) -> DoraStatus:
        if dora_event["type"] == "INPUT":
            if dora_event["id"] == "time":
                self.time_messages += 1
                status = f"{self.time_messages} time messages"
                if self.last_counter is not None:
                    status += f", C counter at {self.last_counter}"
                send_output("status", status.encode(), dora_event["metadata"])
            elif dora_event["id"] == "counter":
                self.last_counter = bytes(dora_event["value"]).decode()
        elif dora_event["type"] == "STOP":
            print(f"python operator: stopping after {self.time_messages} time messages")
        return DoraStatus.CONTINUE
