"""The control plane's costs, on a background coordinator of its own (private runtime and
state directories, so a developer's coordinator is never touched).

1. `dora status --json` round trip, p50/p95, with 1 and with 200 idle nodes: the request
   alone (one connection, request, reply, decode) and the whole CLI call (a new process).
2. The coordinator's idle CPU (share of one core) and RSS with 200 idle nodes.
3. The time until all 200 nodes have started: `dora start` -> every worker `running`
   (spawned) and -> every worker `alive` (its `Node()` connected: liveliness token seen).
4. The status round trip while 50 other requests per second arrive.

Prints a table and writes JSON (default benchmarks/results/control.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from dora_supervisor import control_paths
from dora_supervisor import control_protocol as proto
from dora_supervisor.control_client import call

HERE = Path(__file__).resolve().parent
IDLE = HERE / "nodes" / "idle.py"
DORA = [sys.executable, "-m", "dora_supervisor"]


def dora(*args: str, timeout: float = 120) -> str:
    result = subprocess.run([*DORA, *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"dora {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def descriptor(workdir: Path, nodes: int) -> Path:
    path = workdir / f"idle-{nodes}.yml"
    path.write_text(f"name: idle-{nodes}\nsupervision: {{auto_shutdown: never}}\nnodes:\n"
                    + "".join(f"  - {{id: idle{i}, path: {IDLE}, restart: {{policy: permanent}}}}\n"
                              for i in range(nodes)))
    return path


def socket_path() -> str:
    return control_paths.coordinator_socket(control_paths.runtime_dir())


def workers(uuid: str) -> list[dict]:
    [entry] = call(socket_path(), proto.Status(uuid), timeout=30)
    found, pending = [], [entry["tree"]]
    while pending:
        node = pending.pop()
        if node["kind"] == "worker":
            found.append(node)
        pending += node.get("children", [])
    return found


def start_and_wait(path: Path, nodes: int) -> tuple[str, dict]:
    begin = time.monotonic()
    uuid = dora("start", str(path)).strip()
    running_at = alive_at = None
    while alive_at is None:
        if time.monotonic() - begin > 300:
            raise RuntimeError(f"not all {nodes} nodes started within 300 s")
        states = workers(uuid)
        if running_at is None and all(w["state"] == "running" for w in states):
            running_at = time.monotonic() - begin
        if all(w["alive"] for w in states):
            alive_at = time.monotonic() - begin
        time.sleep(0.25)  # a 200-node status costs CPU the starting nodes need
    cpu = [_cpu_s(w["pid"]) for w in states]
    return uuid, {"all_running_s": round(running_at or alive_at, 2),
                  "all_alive_s": round(alive_at, 2),
                  "node_cpu_ms_each": round(1000 * statistics.mean(cpu), 1)}


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"n": len(samples), "p50_ms": round(statistics.median(ordered) * 1e3, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1e3, 2)}


def status_round_trips(uuid: str, rounds: int, cli_rounds: int) -> dict:
    request, cli = [], []
    for _ in range(rounds):
        begin = time.perf_counter()
        call(socket_path(), proto.Status(uuid), timeout=30)
        request.append(time.perf_counter() - begin)
    for _ in range(cli_rounds):
        begin = time.perf_counter()
        dora("status", uuid, "--json")
        cli.append(time.perf_counter() - begin)
    return {"request": percentiles(request), "cli": percentiles(cli)}


def idle_cost(pid: int, window: float) -> dict:
    coordinator = psutil.Process(pid)
    before = coordinator.cpu_times()
    begin = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - begin
    after = coordinator.cpu_times()
    used = (after.user + after.system) - (before.user + before.system)
    return {"window_s": round(elapsed, 1), "cpu_percent": round(100 * used / elapsed, 2),
            "rss_mib": round(coordinator.memory_info().rss / 2**20, 1)}


def under_load(uuid: str, rate: float, rounds: int) -> dict:
    """Status round trips while another thread sends `rate` requests per second."""
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        period, next_at = 1 / rate, time.monotonic()
        requests = [proto.ListDataflows(), proto.Status(uuid), proto.Ping()]
        while not stop.is_set():
            call(socket_path(), requests[sent[0] % 3], timeout=30)
            sent[0] += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=flood, daemon=True)
    begin = time.monotonic()
    thread.start()
    samples = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            call(socket_path(), proto.Status(uuid), timeout=30)
            samples.append(time.perf_counter() - started)
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    return {**percentiles(samples),
            "background_rate_per_s": round(sent[0] / (time.monotonic() - begin), 1)}


def coordinator_pid() -> int:
    return proto.from_json(proto.Pong, call(socket_path(), proto.Ping())).pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--cli-rounds", type=int, default=20)
    parser.add_argument("--idle-window", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", default=str(HERE / "results" / "control.json"))
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.rounds, args.cli_rounds, args.idle_window = 10, 20, 3, 2.0
    with tempfile.TemporaryDirectory(prefix="dora-bc-") as tmp:
        workdir = Path(tmp)
        os.environ["XDG_RUNTIME_DIR"] = str(workdir / "run")
        os.environ["XDG_STATE_HOME"] = str(workdir / "state")
        dora("up")
        try:
            result = measure(args, workdir)
        finally:
            dora("destroy", timeout=600)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
    report(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


def measure(args, workdir: Path) -> dict:
    one, _ = start_and_wait(descriptor(workdir, 1), 1)
    small = status_round_trips(one, args.rounds, args.cli_rounds)
    dora("stop", one)
    many, startup = start_and_wait(descriptor(workdir, args.nodes), args.nodes)
    time.sleep(3.0)  # start-up work settles (the last samples, zenoh's link set-up)
    idle = idle_cost(coordinator_pid(), args.idle_window)
    large = status_round_trips(many, args.rounds, args.cli_rounds)
    loaded = under_load(many, 50, args.rounds)
    return {"nodes": args.nodes, "status_1": small, f"status_{args.nodes}": large,
            "startup": startup, "idle": idle, "status_under_50_rps": loaded}


def report(r: dict) -> None:
    n = r["nodes"]
    rows = [("status --json, 1 node: request", r["status_1"]["request"]),
            ("status --json, 1 node: CLI call", r["status_1"]["cli"]),
            (f"status --json, {n} nodes: request", r[f"status_{n}"]["request"]),
            (f"status --json, {n} nodes: CLI call", r[f"status_{n}"]["cli"]),
            (f"status, {n} nodes, 50 req/s arriving", r["status_under_50_rps"])]
    print(f"{'':40}{'p50 ms':>10}{'p95 ms':>10}")
    for label, figures in rows:
        print(f"{label:40}{figures['p50_ms']:>10}{figures['p95_ms']:>10}")
    idle, startup = r["idle"], r["startup"]
    print(f"{n} nodes started: all running (spawned) after {startup['all_running_s']} s, all "
          f"alive (Node() connected) after {startup['all_alive_s']} s (goal < 10 s); each "
          f"node used {startup['node_cpu_ms_each']} ms of CPU by then")
    print(f"idle coordinator with {n} idle nodes: {idle['cpu_percent']}% of a core over "
          f"{idle['window_s']} s (goal < 1%), RSS {idle['rss_mib']} MiB (goal < 100 MB)")
    print(f"machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load "
          f"average {r['machine']['load_avg_1m_at_end']} at the end")


if __name__ == "__main__":
    raise SystemExit(main())
