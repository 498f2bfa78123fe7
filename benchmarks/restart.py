"""Restart latency and idle cost of the supervisor, next to a plain respawn loop.

1. Crash-to-restart latency: a child prints `LAST <t>` and exits 1; the next child's first
   line is `FIRST <t>` (CLOCK_MONOTONIC, shared by all processes). Measured under
   `dora run` (permanent node, backoff 0, generous intensity) and under a plain
   `subprocess.Popen` + `wait()` loop respawning the same script, in the same run.
2. Idle cost: the coordinator's CPU while 50 idle dora_api nodes run, sampled with
   psutil over a fixed window after start-up.

Prints a table and writes JSON (default benchmarks/results/restart.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
FLAPPER = HERE / "nodes" / "flapper.py"
IDLE = HERE / "nodes" / "idle.py"
DORA = [sys.executable, "-m", "dora_supervisor"]


def gaps_from_lines(lines: list[str]) -> list[float]:
    """Seconds from each LAST to the following FIRST."""
    gaps, last = [], None
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "LAST":
            last = int(value)
        elif kind == "FIRST" and last is not None:
            gaps.append((int(value) - last) / 1e9)
            last = None
    return gaps


def plain_loop(restarts: int) -> list[float]:
    lines = []
    for _ in range(restarts + 1):
        proc = subprocess.Popen([sys.executable, "-u", str(FLAPPER)], stdout=subprocess.PIPE,
                                text=True)
        out, _ = proc.communicate()
        lines += out.split("\n")
    return gaps_from_lines(lines)


def dora_loop(restarts: int, workdir: Path) -> list[float]:
    descriptor = workdir / "flap.yml"
    descriptor.write_text(f"""
supervision: {{max_restarts: {restarts * 10}, max_seconds: 1000}}
nodes:
  - id: flapper
    path: {FLAPPER}
    restart: {{policy: permanent, backoff: {{initial: 0s, jitter: 0}}}}
""")
    proc = subprocess.Popen([*DORA, "run", str(descriptor), "--log-format", "json",
                             "--out-dir", str(workdir / "out")], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    lines = []
    try:
        for raw in proc.stdout:
            record = json.loads(raw) if raw.startswith("{") else {}
            if record.get("event") == "node_output":
                lines.append(record["line"])
                if sum(line.startswith("FIRST") for line in lines) > restarts:
                    break
    finally:
        stop(proc, 20)
    return gaps_from_lines(lines)


def idle_cpu(nodes: int, window: float, workdir: Path) -> dict:
    descriptor = workdir / "idle.yml"
    descriptor.write_text("supervision: {auto_shutdown: never}\nnodes:\n" + "".join(
        f"  - {{id: idle{i}, path: {IDLE}, restart: {{policy: permanent}}}}\n"
        for i in range(nodes)))
    log = open(workdir / "idle.log", "w")
    proc = subprocess.Popen([*DORA, "run", str(descriptor), "--log-format", "json",
                             "--out-dir", str(workdir / "out")], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        coordinator = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        while len(_alive_children(coordinator)) < nodes:  # wait for every node
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the idle nodes did not all start")
            time.sleep(0.2)
        time.sleep(2.0)  # let start-up work settle before measuring
        children = _alive_children(coordinator)
        before = coordinator.cpu_times()
        child_before = sum(sum(c.cpu_times()[:2]) for c in children)
        start = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - start
        after = coordinator.cpu_times()
        child_after = sum(sum(c.cpu_times()[:2]) for c in children)
        rss = coordinator.memory_info().rss
    finally:
        stop(proc, 60)
        log.close()
    used = (after.user + after.system) - (before.user + before.system)
    return {"nodes": nodes, "window_s": round(elapsed, 2),
            "coordinator_cpu_percent": round(100 * used / elapsed, 3),
            "nodes_cpu_percent_total": round(100 * (child_after - child_before) / elapsed, 3),
            "coordinator_rss_mib": round(rss / 2**20, 1)}


def _alive_children(coordinator: psutil.Process) -> list[psutil.Process]:
    return [c for c in coordinator.children() if c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE]


def stop(proc: subprocess.Popen, grace: float) -> None:
    """Ctrl-C for `dora run`, then SIGKILL of its group if it takes longer than `grace`."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def summary(gaps: list[float]) -> dict:
    ordered = sorted(gaps)
    return {"n": len(gaps), "median_ms": round(statistics.median(gaps) * 1e3, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1e3, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=60)
    parser.add_argument("--idle-nodes", type=int, default=50)
    parser.add_argument("--idle-window", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", default=str(HERE / "results" / "restart.json"))
    args = parser.parse_args()
    if args.quick:
        args.restarts, args.idle_nodes, args.idle_window = 10, 5, 2.0
    with tempfile.TemporaryDirectory(prefix="dora-bench-") as tmp:
        workdir = Path(tmp)
        plain = summary(plain_loop(args.restarts))
        dora = summary(dora_loop(args.restarts, workdir))
        idle = idle_cpu(args.idle_nodes, args.idle_window, workdir)
    ratio = round(dora["median_ms"] / plain["median_ms"], 2)
    print(f"crash -> restart latency over {args.restarts} restarts (last line of the old "
          "child -> first line of the new one)")
    print(f"{'':24}{'median ms':>12}{'p95 ms':>10}")
    print(f"{'plain Popen loop':24}{plain['median_ms']:>12}{plain['p95_ms']:>10}")
    print(f"{'dora-supervisor':24}{dora['median_ms']:>12}{dora['p95_ms']:>10}")
    print(f"ratio of medians (dora / plain): {ratio}  (target <= 1.3)")
    print(f"idle: coordinator {idle['coordinator_cpu_percent']}% of a core with "
          f"{idle['nodes']} idle nodes over {idle['window_s']}s (target < 1%); the nodes "
          f"together {idle['nodes_cpu_percent_total']}%; coordinator RSS "
          f"{idle['coordinator_rss_mib']} MiB")
    result = {"plain": plain, "dora": dora, "ratio_median": ratio, "idle": idle,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
