"""How fast the supervisor notices a failure, and what watching 200 nodes costs it.

    .venv/bin/python benchmarks/health.py            # full run (about 2 min on 2 cores)
    .venv/bin/python benchmarks/health.py --quick    # smoke run (< 1 min)

Every figure comes from a real `dora run --log-format json`, timed against the records'
own timestamps (wall clock, as the nodes' `time.time()`):

1. SIGKILL of a node -> the `restart_scheduled` record (the tree's decision), and -> the
   next `node_started`; a `sleep` node, permanent, backoff 0.
2. SIGSTOP of a node -> the `liveliness_lost` record, lease 1s: the figure beyond the lease.
3. A node jumping from 0 to 300 MiB under `memory: 150MiB` -> the `limit_exceeded` record,
   from the node's own timestamp just before it allocates; once per mechanism this
   machine offers (cgroups, and sampling forced with DORA_CGROUPS=off).
4. The coordinator's CPU (share of one core, every thread) and RSS with 200 idle nodes
   (`sleep`), over a window after start-up. Measured from inside a process that runs the
   real `Coordinator`, so that the baseline, in the same run, can be the very same
   coordinator and nodes with the executor's sampler off. Then: the default lease (each
   node read every 0.5s), and a memory limit on every node (whole-group figures: cgroup
   counters, or a /proc group scan every 0.1s when sampling is forced). Last, the real
   `dora run` process with the default lease, for its absolute CPU and RSS.

Prints a table and writes JSON (default benchmarks/results/health.json).
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
from datetime import datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
HOG = HERE.parent / "tests" / "nodes" / "hog.py"
DORA = [sys.executable, "-m", "dora_supervisor"]


class Run:
    """A `dora run` in the background, its JSON records read from its log as they come."""

    def __init__(self, descriptor: str, workdir: Path, name: str, env: dict | None = None):
        path = workdir / f"{name}.yml"
        path.write_text(descriptor)
        self.log = workdir / f"{name}.log"
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen([*DORA, "run", str(path), "--log-format", "json",
                                      "--out-dir", str(workdir / "out")],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ, **(env or {})})

    def records(self, event: str) -> list[dict]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                record = json.loads(line)
                if record.get("event") == event:
                    found.append(record)
        return found

    def wait_for(self, event: str, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(found := self.records(event)) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"no {count} '{event}' records (see {self.log})")
            time.sleep(0.01)
        return found

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._out.close()


def stamp(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


def kill_to_restart(rounds: int, workdir: Path) -> dict:
    run = Run(f"""
supervision: {{max_restarts: {rounds * 10}, max_seconds: 1000, auto_shutdown: never}}
nodes:
  - id: victim
    custom: {{run: sleep 3600}}
    restart: {{policy: permanent, backoff: {{initial: 0s, jitter: 0}}}}
""", workdir, "kill")
    decisions, restarts = [], []
    try:
        for i in range(rounds):
            pid = run.wait_for("node_started", i + 1)[i]["pid"]
            killed = time.time()
            os.kill(pid, signal.SIGKILL)
            decisions.append(stamp(run.wait_for("restart_scheduled", i + 1)[i]) - killed)
            restarts.append(stamp(run.wait_for("node_started", i + 2)[i + 1]) - killed)
    finally:
        run.stop()
    return {"decision": summary(decisions), "restarted": summary(restarts)}


def stop_to_liveliness_lost(rounds: int, workdir: Path) -> dict:
    run = Run("""
supervision: {max_restarts: 100, max_seconds: 1000, auto_shutdown: never}
nodes:
  - id: victim
    custom: {run: sleep 3600}
    health: {lease: 1s}
    restart: {policy: permanent, backoff: {initial: 0s, jitter: 0}}
""", workdir, "stop")
    beyond = []
    try:
        for i in range(rounds):
            pid = run.wait_for("node_started", i + 1)[i]["pid"]
            time.sleep(0.05 + (0.37 * i) % 0.2)  # spread the stops over the sampling grid
            stopped = time.time()
            os.kill(pid, signal.SIGSTOP)
            beyond.append(stamp(run.wait_for("liveliness_lost", i + 1)[i]) - stopped - 1.0)
    finally:
        run.stop()
    return {"beyond_lease": summary(beyond)}


def memory_crossing(rounds: int, workdir: Path, mechanism: str) -> dict:
    env = {"DORA_CGROUPS": "off"} if mechanism == "sampling" else {}
    run = Run(f"""
supervision: {{max_restarts: {rounds * 10}, max_seconds: 1000, auto_shutdown: never}}
nodes:
  - id: hog
    path: {HOG}
    args: --jump --to 300 --after 0.3
    limits: {{memory: 150MiB}}
    restart: {{policy: permanent, backoff: {{initial: 0s, jitter: 0}}}}
""", workdir, f"memory-{mechanism}", env)
    to_record, to_exit = [], []
    try:
        for i in range(rounds):
            record = run.wait_for("limit_exceeded", i + 1)[i]
            exited = run.wait_for("node_exited", i + 1)[i]
            jumps = [r for r in run.records("node_output") if r["line"].startswith("JUMP")]
            jumped = float(jumps[i]["line"].split()[1])
            to_record.append(stamp(record) - jumped)
            to_exit.append(stamp(exited) - jumped)
        enforced_by = record["enforced_by"]
    finally:
        run.stop()
    return {"enforced_by": enforced_by, "record": summary(to_record), "exit": summary(to_exit)}


def idle_descriptor(nodes: int, lease: str = "2s", limits: str = "") -> str:
    return "supervision: {auto_shutdown: never}\nnodes:\n" + "".join(
        f"  - {{id: n{i}, custom: {{run: sleep 3600}}, restart: {{policy: permanent}}, "
        f"health: {{lease: {lease}}}{limits}}}\n" for i in range(nodes))


def idle_cost(nodes: int, window: float, workdir: Path, variant: str) -> dict:
    """One variant of the in-process measurement, in a fresh process of its own."""
    result = workdir / f"idle-{variant}.json"
    env = {**os.environ, **({"DORA_CGROUPS": "off"} if variant.endswith("sampling") else {})}
    with open(workdir / f"idle-{variant}.log", "w") as log:
        subprocess.run([sys.executable, __file__, "--idle-variant", variant, "--nodes",
                        str(nodes), "--window", str(window), "--out", str(result),
                        "--workdir", str(workdir)], stdout=log, stderr=subprocess.STDOUT,
                       env=env, check=True, timeout=300)
    return json.loads(result.read_text())


IDLE_VARIANTS = {  # name -> (sampled at all, the nodes' extra keys)
    "baseline": (False, ""),
    "sampled": (True, ""),
    "memory-limit-cgroup": (True, ", limits: {memory: 1GiB}"),
    "memory-limit-sampling": (True, ", limits: {memory: 1GiB}"),
}


def idle_variant(variant: str, nodes: int, window: float, workdir: Path, out: Path) -> None:
    """This process is the coordinator: the real `Coordinator` running the 200 nodes,
    measured from inside (every thread's CPU time, the RSS). The baseline is the same
    coordinator whose executor never samples."""
    import asyncio

    from dora_supervisor.coordinator import Coordinator
    from dora_supervisor.load import load_descriptor
    from dora_supervisor.local_executor import LocalExecutor
    from dora_supervisor.tree_model import WorkerState

    class Unsampled(LocalExecutor):
        async def _sample(self) -> None:
            await asyncio.Event().wait()

    sampled, limits = IDLE_VARIANTS[variant]
    path = workdir / f"idle-{variant}.yml"
    path.write_text(idle_descriptor(nodes, "2s", limits))
    df, _ = load_descriptor(str(path))

    async def scenario() -> dict:
        executor = LocalExecutor if sampled else Unsampled
        async with Coordinator("json", str(workdir / "out"), executor) as coordinator:
            runtime = coordinator.start(df, str(path), f"idle-{variant}")
            deadline = time.monotonic() + 120
            while not all(w.state is WorkerState.RUNNING for w in runtime.tree.workers.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the idle nodes did not all start")
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # let start-up work settle before measuring
            before, start = cpu_ns(os.getpid()), time.monotonic()
            await asyncio.sleep(window)
            used, elapsed = (cpu_ns(os.getpid()) - before) / 1e9, time.monotonic() - start
            rss = psutil.Process().memory_info().rss
            enforced_by = runtime.health.enforcement.memory.value
            coordinator.stop(f"idle-{variant}")
        return {"cpu_percent": round(100 * used / elapsed, 3),
                "rss_mib": round(rss / 2**20, 1), "window_s": round(elapsed, 2),
                "enforced_by": enforced_by if sampled else "-"}

    out.write_text(json.dumps(asyncio.run(scenario())))


def dora_run_cost(nodes: int, window: float, workdir: Path) -> dict:
    """The real `dora run` process with the nodes at the default lease: CPU and RSS."""
    run = Run(idle_descriptor(nodes), workdir, "dora-run-idle")
    try:
        run.wait_for("node_started", nodes, timeout=120)
        coordinator = psutil.Process(run.proc.pid)
        time.sleep(2.0)
        before, start = cpu_ns(run.proc.pid), time.monotonic()
        time.sleep(window)
        used, elapsed = (cpu_ns(run.proc.pid) - before) / 1e9, time.monotonic() - start
        rss = coordinator.memory_info().rss
    finally:
        run.stop()
    return {"cpu_percent": round(100 * used / elapsed, 3), "rss_mib": round(rss / 2**20, 1),
            "window_s": round(elapsed, 2)}


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` in nanoseconds (schedstat: psutil's clock ticks
    are too coarse for a tenth of a percent over ten seconds)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1e3, 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1e3, 1),
            "max_ms": round(ordered[-1] * 1e3, 1)}


def cgroups_offered() -> bool:
    from dora_supervisor import cgroups

    return cgroups.probe() is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", default=str(HERE / "results" / "health.json"))
    parser.add_argument("--idle-variant", choices=sorted(IDLE_VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.idle_variant:
        idle_variant(args.idle_variant, args.nodes, args.window, Path(args.workdir),
                     Path(args.out))
        return 0
    if args.quick:
        args.rounds, args.nodes, args.window = 3, 20, 3.0
    mechanisms = (["cgroup"] if cgroups_offered() else []) + ["sampling"]
    with tempfile.TemporaryDirectory(prefix="dora-bench-") as tmp:
        workdir = Path(tmp)
        kill = kill_to_restart(args.rounds, workdir)
        stop = stop_to_liveliness_lost(max(3, args.rounds // 2), workdir)
        memory = {m: memory_crossing(args.rounds, workdir, m) for m in mechanisms}
        idle = {variant: idle_cost(args.nodes, args.window, workdir, variant)
                for variant in IDLE_VARIANTS
                if not variant.endswith("cgroup") or "cgroup" in mechanisms}
        dora_run = dora_run_cost(args.nodes, args.window, workdir)
    print(f"{'from -> to':52}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    rows = [("SIGKILL -> restart decision (restart_scheduled)", kill["decision"]),
            ("SIGKILL -> next node_started", kill["restarted"]),
            ("SIGSTOP -> liveliness_lost, beyond the 1s lease", stop["beyond_lease"])]
    rows += [(f"300 MiB jump -> limit_exceeded ({v['enforced_by']})", v["record"])
             for v in memory.values()]
    rows += [(f"300 MiB jump -> node_exited ({v['enforced_by']})", v["exit"])
             for v in memory.values()]
    for label, figures in rows:
        print(f"{label:52}{figures['median_ms']:>11}{figures['p95_ms']:>9}"
              f"{figures['max_ms']:>9}")
    print(f"\nthe coordinator with {args.nodes} idle nodes, over {args.window}s "
          "(goal: < 1% of a core, < 100 MB)")
    print(f"{'in-process coordinator':32}{'CPU % of a core':>16}{'RSS MiB':>10}"
          f"{'enforced_by':>14}")
    base = idle["baseline"]["cpu_percent"]
    for label, figures in idle.items():
        extra = "  (sampler off)" if label == "baseline" else \
            f"  (+{figures['cpu_percent'] - base:.2f} over the baseline)"
        print(f"{label:32}{figures['cpu_percent']:>16}{figures['rss_mib']:>10}"
              f"{figures['enforced_by']:>14}{extra}")
    print(f"{'dora run (default lease 2s)':32}{dora_run['cpu_percent']:>16}"
          f"{dora_run['rss_mib']:>10}")
    result = {"kill": kill, "stop": stop, "memory": memory, "idle": idle, "dora_run": dora_run,
              "nodes": args.nodes, "window_s": args.window,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "kernel": platform.release()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
