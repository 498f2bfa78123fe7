"""A node that takes memory: gradually or in one jump, itself or in a forked child.

--grow MIB        take MIB more every 50 ms, up to --to
--to MIB          the total to reach (default 300)
--jump            take --to MiB at once, after --after seconds; prints `JUMP <unix time>`
                  just before, the moment the test measures from
--fork            the memory is taken by a forked child; the leader just waits
--first-only      only the first incarnation takes memory; later ones idle
It prints `START pid=<pid> restart=<n>` and never exits on its own.
"""

import argparse
import os
import time

from dora_api.contract import config_from_environ

parser = argparse.ArgumentParser()
parser.add_argument("--grow", type=int, default=0)
parser.add_argument("--to", type=int, default=300)
parser.add_argument("--jump", action="store_true")
parser.add_argument("--after", type=float, default=0.5)
parser.add_argument("--fork", action="store_true")
parser.add_argument("--first-only", action="store_true")
args = parser.parse_args()

config = config_from_environ(os.environ)
restart = config.restart_count if config is not None else 0
print(f"START pid={os.getpid()} restart={restart}", flush=True)
MiB = 2**20


def take_memory() -> None:
    held = []
    if args.jump:
        time.sleep(args.after)
        print(f"JUMP {time.time()}", flush=True)
        held.append(b"\xa5" * (args.to * MiB))  # every page touched: resident at once
    else:
        while len(held) * args.grow < args.to:
            held.append(b"\xa5" * (args.grow * MiB))
            time.sleep(0.05)
    print(f"HOLDING {args.to} MiB", flush=True)
    while True:
        time.sleep(1)


if args.first_only and restart > 0:
    while True:
        time.sleep(1)
if args.fork:
    child = os.fork()
    if child == 0:
        print(f"CHILD pid={os.getpid()}", flush=True)
        take_memory()
    while True:
        time.sleep(1)
take_memory()
