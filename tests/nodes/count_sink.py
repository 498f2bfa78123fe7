"""Counts inputs, checks they arrive in order without gaps, reports at the end."""

from dora_api import Node

node = Node()
received = 0
gaps = 0
expected = 0
for event in node:
    if event["type"] == "INPUT":
        number = int.from_bytes(event["value"][:8], "little")
        if number != expected:
            gaps += 1
            print(f"GAP expected {expected} got {number}", flush=True)
        expected = number + 1
        received += 1
        if received == 1000:
            print("PROGRESS 1000", flush=True)
    elif event["type"] == "INPUT_CLOSED":
        print(f"CLOSED {event['id']}", flush=True)
    elif event["type"] == "STOP":
        print(f"STOP {event['id']}", flush=True)
        break
print(f"RECEIVED {received} GAPS {gaps}", flush=True)
