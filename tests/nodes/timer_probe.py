"""Timer ticks through recv_async, a next() that times out, then STOP from a stop."""

import asyncio
import time

from dora_api import Node

node = Node()


async def main() -> None:
    ticks, start = [], time.monotonic()
    while len(ticks) < 3:
        event = await node.recv_async(timeout=5.0)
        if event is not None and event["type"] == "INPUT" and event["id"] == "slow":
            ticks.append(round(time.monotonic() - start, 1))
    print(f"TICKS {len(ticks)} VALUE {event['value']!r}", flush=True)


asyncio.run(main())
print(f"TIMEOUT {node.next(timeout=0.05)!r}", flush=True)  # the next tick is ~0.3 s away
for event in node:
    if event["type"] == "STOP":
        print(f"STOP {event['id']}", flush=True)
        break
