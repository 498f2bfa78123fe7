"""Sleeps, then takes everything queued with node.drain(), then calls node.next() until the
stream ends (python-drain's receiver)."""

import time

from dora_api import Node

node = Node()
time.sleep(1.0)
drained = node.drain()
print(f"drained {sum(e['type'] == 'INPUT' for e in drained)} inputs", flush=True)
after = []
for _ in range(50):
    event = node.next()
    after.append(event["type"] if event is not None else "None")
print("then", " ".join(after[:3]), flush=True)
