"""Breaks the contract on purpose: an unknown note on the control pipe and a log line
that carries the mark but is not a record. Then exits normally."""

import os
import sys

from dora_api import contract

os.write(int(os.environ[contract.CONTROL_FD_ENV]), b"X 1\n")
print(contract.LOG_MARK + " broken", file=sys.stderr, flush=True)
print("WROTE", flush=True)
