"""Sends a fixed script of values: bytes with metadata, a pyarrow array, then a burst."""

import pyarrow as pa

from dora_api import Node

node = Node()
node.send_output("raw", b"hello", {"seq": 1, "tags": ["a", "b"]})
node.send_output("raw", bytearray(b"bytearray"))
node.send_output("raw", memoryview(b"memoryview"))
node.send_output("arrow", pa.array([1, 2, 3], type=pa.int64()))
for i in range(50):
    node.send_output("burst", i.to_bytes(4, "little"))
try:
    node.send_output("nope", b"x")
except ValueError as exc:
    print(f"UNDECLARED {exc}", flush=True)
print("PRODUCER DONE", flush=True)
