"""Node start: spawn -> `Node()` returned, for a node that does not import pyarrow.

A permanent node that exits as soon as `Node()` returned, restarted without backoff by the
real `dora run`: each start is the supervisor's `node_started` record (logged as soon as
the process is spawned) to the node's own `READY` line (both wall clock). Python may cache
bytecode, as it does by default (PYTHONDONTWRITEBYTECODE, if set, would have every start
compile dora_api from source again); the first start, which writes the cache, is left out."""

from __future__ import annotations

import datetime
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from bench_procs import start, stop

HERE = Path(__file__).resolve().parent
PROBE = HERE / "nodes" / "start_probe.py"

__all__ = ["node_start"]


def node_start(count: int, workdir: Path, timeout: float = 120.0,
               bytecode_cache: bool = True) -> dict:
    """Median, p10, p90 and min of `count` starts, in milliseconds."""
    descriptor = workdir / "start.yml"
    descriptor.write_text(f"""\
supervision: {{max_restarts: {count * 10}, max_seconds: 1000}}
nodes:
  - id: probe
    path: {PROBE}
    restart: {{policy: permanent, backoff: {{initial: 0s, jitter: 0}}}}
""")
    log = workdir / "start.log"
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = start([sys.executable, "-m", "dora_supervisor", "run", str(descriptor),
                  "--log-format", "json", "--out-dir", str(workdir / "out")], workdir, log,
                 death_signal=signal.SIGTERM, env=env)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(_starts(log)[0]) < count + 1:
            time.sleep(0.1)
    finally:
        stop(proc, signal.SIGINT, grace=10.0)
    samples, pyarrow = _starts(log)
    samples = sorted(samples[1:count + 1])  # the first start also warms the disk cache
    if not samples:
        raise RuntimeError("no node start measured")
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 1),
            "p10_ms": round(samples[len(samples) // 10], 1),
            "p90_ms": round(samples[len(samples) * 9 // 10], 1),
            "min_ms": round(samples[0], 1), "imported_pyarrow": pyarrow,
            "bytecode_cache": bytecode_cache}


def _starts(log: Path) -> tuple[list[float], bool]:
    spawned: float | None = None
    samples, pyarrow = [], False
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line) if line.startswith("{") else {}
        except ValueError:
            continue
        if record.get("event") == "node_started":
            spawned = datetime.datetime.fromisoformat(record["timestamp"]).timestamp()
        elif record.get("event") == "node_output" and spawned is not None and \
                str(record.get("line", "")).startswith("READY "):
            _, ready, flag = record["line"].split()
            samples.append((int(ready) / 1e9 - spawned) * 1000)
            pyarrow |= flag == "pyarrow=True"
            spawned = None
    return samples, pyarrow
