"""Prints `GOT case size shared metadata` for every value (a uint8 array whose bytes all
equal its case number; `shared`: its buffer is in a shared-memory segment)."""

import shm_values

from dora_api import Node

node = Node()
for event in node:
    if event["type"] == "STOP":
        break
    if event["type"] != "INPUT":
        continue
    value = event["value"]
    data = value.to_numpy(zero_copy_only=True)
    uniform = bool(len(data)) and int(data.min()) == int(data.max())
    print(f"GOT {int(data[0]) if uniform else 'mixed'} {len(data)} {str(value.type)} "
          f"shared={shm_values.in_shared_memory(value)} {sorted(event['metadata'].items())}",
          flush=True)
