"""A node that spins a core: a busy loop, optionally in a forked child.

--report      print `SHARE <percent>` every second: the CPU share of one core this
              process used over that second (user + system time / wall time)
--fork        the busy loop runs in a forked child; the leader just waits
--first-only  only the first incarnation spins; later ones idle
"""

import argparse
import os
import time

from dora_api.contract import config_from_environ

parser = argparse.ArgumentParser()
parser.add_argument("--report", action="store_true")
parser.add_argument("--fork", action="store_true")
parser.add_argument("--first-only", action="store_true")
args = parser.parse_args()

config = config_from_environ(os.environ)
restart = config.restart_count if config is not None else 0
print(f"START pid={os.getpid()} restart={restart}", flush=True)

if (args.first_only and restart > 0) or (args.fork and os.fork() != 0):
    while True:
        time.sleep(1)
wall, cpu = time.monotonic(), time.process_time()
while True:
    now = time.monotonic()
    if args.report and now - wall >= 1.0:
        used = time.process_time()
        print(f"SHARE {100 * (used - cpu) / (now - wall):.1f}", flush=True)
        wall, cpu = now, used
