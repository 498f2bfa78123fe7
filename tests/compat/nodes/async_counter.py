"""Awaits exactly `--count` events with `await node.recv_async()` and prints their types,
then `finished` (python-async's receiver)."""

import argparse
import asyncio

from dora_api import Node

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=10)
args = parser.parse_args()


async def main() -> None:
    node = Node()
    kinds = []
    for _ in range(args.count):
        event = await node.recv_async()
        kinds.append(f"{event['type']}:{event['value'].type}")
    print(" ".join(sorted(set(kinds))), len(kinds), flush=True)
    print("finished", flush=True)


asyncio.get_event_loop().run_until_complete(main())
