"""Latency between nodes on one machine and across daemons, on loopback: the measurement
behind the data topology of docs/running-across-machines.md.

    .venv/bin/python benchmarks/machines.py            # full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/machines.py --quick    # smoke run
    .venv/bin/python benchmarks/machines.py --sizes 8,64KiB --rounds 5 --out /tmp/m.json

A background coordinator of its own (private runtime and state directories, `dora up
--listen`) and four daemons as separate processes: m1 and m2 linked to each other
directly (m2 `--listen`s, m1 `--connect`s to it as well as to the coordinator), m3 and m4
linked to the coordinator only. The same sender and receiver nodes as benchmarks/latency.py
(benchmarks/nodes/bench_proto.py: one-way latency from CLOCK_MONOTONIC, paced; then
throughput back to back) run under `dora start` in four placements:

* local:        both on the coordinator's machine (peer to peer over Unix sockets);
* same daemon:  both on m1 (peer to peer over Unix sockets on the daemon's machine);
* linked:       sender on m1, receiver on m2: node -> m1's router -> m2's router -> node;
* via coordinator: sender on m3, receiver on m4: through the coordinator's router too.

Each figure is the median over the rounds (the placements' order reversed every round).
Also the coordinator process's CPU time during each run (user + system, all its threads:
zenoh's routing included), which shows where the data went through.
Prints a table; writes JSON (default benchmarks/results/machines.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "nodes"))

import bench_proto  # noqa: E402
import latency  # noqa: E402  (its plan, process helpers and size parsing)

NODES = HERE / "nodes"
DORA = [sys.executable, "-m", "dora_supervisor"]
DEFAULT_OUT = HERE / "results" / "machines.json"
DEFAULT_SIZES = [8, 64 * 2**10, 2**20]
PLACEMENTS = {  # name -> (sender's machine, receiver's machine); None: the coordinator's
    "local": (None, None),
    "same daemon": ("m1", "m1"),
    "linked daemons": ("m1", "m2"),
    "via coordinator": ("m3", "m4"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dora(*args: str, timeout: float = 60) -> str:
    result = subprocess.run([*DORA, *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"dora {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def descriptor(workdir: Path, plan_file: Path, name: str, sender: str | None,
               receiver: str | None) -> Path:
    def deploy(machine: str | None) -> str:
        return f"\n    deploy: {{machine: {machine}}}" if machine else ""

    path = workdir / f"{name.replace(' ', '-')}.yml"
    path.write_text(f"""\
nodes:
  - id: sender
    path: {NODES / 'dora_sender.py'}
    args: --plan {plan_file}
    inputs: {{ack: receiver/ack}}
    outputs: [data]
    significant: true
    restart: {{policy: temporary}}{deploy(sender)}
  - id: receiver
    path: {NODES / 'dora_receiver.py'}
    args: --plan {plan_file}
    inputs: {{data: sender/data}}
    outputs: [ack]
    restart: {{policy: temporary}}{deploy(receiver)}
""")
    return path


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_placement(workdir: Path, plan: dict, name: str, timeout: float,
                  coordinator: int) -> dict:
    cpu_before = cpu_s(coordinator)
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    sender, receiver = PLACEMENTS[name]
    started = time.monotonic()
    uuid = dora("start", str(descriptor(workdir, plan_file, name, sender, receiver)),
                "--wait-for-machines", "30s").strip()
    deadline = started + timeout
    while True:
        listed = {d["uuid"]: d for d in json.loads(dora("list", "--json"))}
        if listed[uuid]["state"] in ("finished", "failed"):
            break
        if time.monotonic() > deadline:
            dora("stop", uuid, "--grace", "1s")
            raise TimeoutError(f"{name}: not finished within {timeout:.0f}s")
        time.sleep(0.2)
    wall = time.monotonic() - started
    result = None
    for line in dora("logs", uuid, "receiver", "--json").splitlines():
        record = json.loads(line)
        if record.get("event") == "node_output" and \
                str(record.get("line", "")).startswith(bench_proto.RESULT_MARK):
            result = json.loads(record["line"][len(bench_proto.RESULT_MARK):])
    if result is None:
        raise RuntimeError(f"{name}: the receiver printed no result (state "
                           f"{listed[uuid]['state']})")
    found = latency._make_result(name, f"sender on {sender or 'local'}, receiver on "
                                 f"{receiver or 'local'}", result, wall, [])
    found["coordinator_cpu_s"] = round(cpu_s(coordinator) - cpu_before, 3)
    return found


def start_cluster(workdir: Path) -> tuple[int, list[subprocess.Popen]]:
    """The coordinator's pid and the daemons."""
    coordinator = f"tcp/127.0.0.1:{free_port()}"
    m2_listen = f"tcp/127.0.0.1:{free_port()}"
    pid = int(re.search(r"pid ([0-9]+)", dora("up", "--listen", coordinator)).group(1))
    links = {"m1": ["--connect", coordinator, "--connect", m2_listen],
             "m2": ["--connect", coordinator, "--listen", m2_listen],
             "m3": ["--connect", coordinator], "m4": ["--connect", coordinator]}
    return pid, [latency._start([*DORA, "daemon", "--machine", machine, *args], workdir,
                                workdir / f"daemon-{machine}.log")
                 for machine, args in links.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=lambda s: [latency.parse_size(x) for x in s.split(",")
                                                   if x],
                        help="comma-separated sizes (8, 64KiB, 1MiB)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    sizes = args.sizes or DEFAULT_SIZES
    plan = latency.make_plan(sizes, args.quick)
    timeout = latency.plan_timeout(plan) + 30
    rounds: dict[str, list[dict]] = {name: [] for name in PLACEMENTS}
    with tempfile.TemporaryDirectory(prefix="dora-bench-") as base:
        os.environ["XDG_RUNTIME_DIR"] = os.path.join(base, "run")
        os.environ["XDG_STATE_HOME"] = os.path.join(base, "state")
        workdir = Path(base)
        coordinator, daemons = start_cluster(workdir)
        try:
            order = list(PLACEMENTS)
            for index in range(args.rounds):
                for name in order if index % 2 == 0 else reversed(order):
                    print(f"round {index + 1}: {name} ...", file=sys.stderr, flush=True)
                    rounds[name].append(run_placement(workdir, plan, name, timeout,
                                                      coordinator))
        finally:
            try:
                dora("destroy")
            finally:
                for daemon in daemons:
                    latency._stop(daemon)
    results = {name: latency.merge_rounds(found) for name, found in rounds.items()}
    for name, found in rounds.items():
        results[name]["coordinator_cpu_s"] = statistics.median(
            r["coordinator_cpu_s"] for r in found)
    print_table(results, sizes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "rounds": args.rounds, "quick": args.quick, "results": results}, indent=2))
    print(f"\nJSON: {args.out}")
    return 0


def print_table(results: dict, sizes: list[int]) -> None:
    print(f"{'placement':17} {'size':>8} {'p50 us':>9} {'p95 us':>9} {'msg/s':>9} {'MiB/s':>8}"
          f" {'coord. CPU s':>12}")
    for name, result in results.items():
        for index, size in enumerate(sizes):
            entry = result["sizes"][str(size)]
            lat, thr = entry["latency"], entry["throughput"]
            cpu = f"{result['coordinator_cpu_s']:12.2f}" if index == 0 else ""
            print(f"{name:17} {latency.format_size(size):>8} {lat['p50_us']:9.0f} "
                  f"{lat['p95_us']:9.0f} {thr.get('msg_per_s', 0):9.0f} "
                  f"{thr.get('mib_per_s', 0):8.1f} {cpu}".rstrip())


if __name__ == "__main__":
    sys.exit(main())
