"""Exercises the node API against api_producer and reports what it saw, one line each."""

import logging
import time

from dora_api import Node

node = Node()
logging.info("consumer ready")
logging.warning("a warning from %s", "the consumer")
# Consume nothing until the producer has sent everything and finished (its closure,
# then STOP, are queued last), so the burst input can show what drop_oldest keeps.
deadline = time.monotonic() + 20
while not node._events.stop_queued:
    if time.monotonic() > deadline:
        raise SystemExit("the producer never finished")
    time.sleep(0.01)
events = node.drain()
burst = [int.from_bytes(e["value"], "little") for e in events
         if e["type"] == "INPUT" and e["id"] == "burst"]
print(f"BURST {burst}", flush=True)
for event in events:
    if event["type"] == "INPUT" and event["id"] == "raw":
        print(f"RAW {event['value']!r} {sorted(event['metadata'].items())}", flush=True)
    elif event["type"] == "INPUT" and event["id"] == "arrow":
        print(f"ARROW {type(event['value']).__name__} {event['value'].to_pylist()}", flush=True)
closed = sorted(e["id"] for e in events if e["type"] == "INPUT_CLOSED")
stop = [e["id"] for e in events if e["type"] == "STOP"]
print(f"CLOSED {closed} STOP {stop}", flush=True)
print(f"ENDED {node.try_recv()!r} {node.next(timeout=0.1)!r} {list(node)!r}", flush=True)
