"""Restart benchmark child: prints FIRST <ns> as soon as it runs, LAST <ns>, then crashes.

It does not use dora_api, so the same script runs under `dora run` and under a plain
Popen loop: what differs is only the supervisor around it."""

import sys
import time

print(f"FIRST {time.monotonic_ns()}", flush=True)
print(f"LAST {time.monotonic_ns()}", flush=True)
sys.exit(1)
