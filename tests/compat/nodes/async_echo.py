"""Loops on `await node.recv_async(timeout=2.0)` until it returns None, echoing each
value from the async context with send_output (python-recv-async's receiver)."""

import asyncio
import sys

import pyarrow as pa

from dora_api import Node


async def main() -> None:
    node = Node()
    echoed = []
    while True:
        event = await node.recv_async(timeout=2.0)
        if event is None:
            break
        if event["type"] == "INPUT":
            values = event["value"].to_pylist()
            node.send_output("echo", pa.array(values, type=pa.int64()))
            echoed += values
        elif event["type"] == "STOP":
            break
    if not echoed:
        sys.exit(1)
    print(f"echoed {echoed}", flush=True)


asyncio.run(main())
