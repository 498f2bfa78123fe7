"""Node-start benchmark child: prints `READY <time.time_ns()> pyarrow=<bool>` as soon as
`Node()` returned, then exits 1 to be restarted. It does not import pyarrow."""

import sys
import time

from dora_api import Node

Node()
print(f"READY {time.time_ns()} pyarrow={'pyarrow' in sys.modules}", flush=True)
sys.exit(1)
