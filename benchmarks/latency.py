"""Latency and throughput between two nodes: this project, dora-rs 1.1 and raw zenoh-python,
measured side by side in one run.

    .venv/bin/python benchmarks/latency.py --dora-rs      # full run with dora-rs beside us
    .venv/bin/python benchmarks/latency.py --quick        # smoke run, this project and raw
    .venv/bin/python benchmarks/latency.py --sizes 8,64KiB --systems dora,raw --out F.json

The method of the data-path issue's harness (../shared/bench): the sender stamps
`time.monotonic_ns()` into the first 8 bytes of each payload (CLOCK_MONOTONIC, one clock for
every process on Linux); the receiver subtracts it from its own clock once the value is
usable in Python (for Arrow values: once it holds the array's data buffer). Per size: 20
warm-up messages, then 200 one every 5 ms (one-way latency p50/p95), then a fixed count
back to back (throughput at the receiver, first to last message). The default queue of
this project (backpressure) never drops; dora-rs gets a queue big enough not to drop.

Every system runs the same sender and receiver (benchmarks/nodes/bench_proto.py; with
Arrow payloads benchmarks/nodes/arrow_node.py, which runs under dora-rs unchanged); see
bench_systems.py for the list. `--dora-rs` adds dora-rs 1.1, from a venv created once in
~/.cache/dora-supervisor-bench/dora-rs-1.1. The run is repeated (`--rounds`, default 3,
alternating the order of the systems) and each figure is the median of the rounds; the
JSON (default benchmarks/results/latency.json) has every round, and the node start time
(spawn -> `Node()` returned, median of --starts starts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "nodes")]

from bench_report import machine_info, merge_rounds, now_iso, table, wrap  # noqa: E402
from bench_start import node_start  # noqa: E402
from bench_systems import SECOND_TABLES, SYSTEMS  # noqa: E402

DEFAULT_SIZES = [8, 4 * 2**10, 64 * 2**10, 2**20, 4 * 2**20]
DEFAULT_OUT = HERE / "results" / "latency.json"
DEFAULT_SYSTEMS = ["dora", "dora-raw", "raw", "dora-bytes", "operator"]
DORA_RS_SYSTEMS = ["dora-rs", "dora-rs-raw"]
MAIN_TABLE = (["dora", "dora-rs", "raw"], [("dora", "dora-rs"), ("dora", "raw")])
THROUGHPUT_COUNTS = {8: 20000, 4 * 2**10: 10000, 64 * 2**10: 3000, 2**20: 300,
                     4 * 2**20: 100}  # the issue harness's counts; other sizes by bytes
MAX_ATTEMPT_ERRORS = 2  # per system; a failed attempt is retried until then


def size_plan(size: int, quick: bool) -> dict:
    """Message counts (per round) and pacing for one payload size."""
    throughput = THROUGHPUT_COUNTS.get(size) or max(50, min(20000, (400 << 20) // size))
    plan = {"size": size, "warmup": 20, "latency": 200, "interval_s": 0.005,
            "throughput": throughput}
    if quick:
        plan.update(warmup=10, latency=40, throughput=max(10, throughput // 10))
    return plan


def make_plan(sizes: list[int], quick: bool) -> dict:
    return {"sizes": [size_plan(size, quick) for size in sizes]}


def plan_timeout(plan: dict) -> float:
    """A generous deadline for one system to run the whole plan (start-up included)."""
    seconds = 30.0
    for spec in plan["sizes"]:
        per_message = 0.0005 + spec["size"] / (20 * 2**20)  # pessimistic: 20 MiB/s
        seconds += (spec["warmup"] + spec["latency"]) * (spec["interval_s"] + per_message)
        seconds += spec["throughput"] * per_message
    return seconds


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(i?B?)\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 8, 4KiB, 1MiB)")
    number, prefix = int(match.group(1)), match.group(2).upper()
    size = number * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[prefix]
    if size < 8:
        raise argparse.ArgumentTypeError("a payload holds an 8-byte timestamp: 8 B at least")
    return size


def _attempt(name: str, plan: dict, timeout: float) -> dict | str:
    """One round of one system: its result, or what went wrong (the round is retried)."""
    with tempfile.TemporaryDirectory(prefix=f"dora-bench-{name}-") as tmp:
        try:
            result = SYSTEMS[name](plan, Path(tmp), timeout)
            result["loadavg_1m"] = os.getloadavg()[0]  # 1-min average, as the round ends
            return result
        except (RuntimeError, TimeoutError, OSError) as error:
            return str(error)


def tables(results: dict[str, dict], sizes: list[int]) -> str:
    names, ratios = MAIN_TABLE
    parts = [table(results, sizes, names, ratios)]
    for names, baseline, note in SECOND_TABLES:
        if any(name in results for name in names):
            shown = names + [baseline] if baseline not in names else names
            parts.append(table(results, sizes, shown, [(name, baseline) for name in names
                                                      if name != baseline]) + "\n" + wrap(note))
    return "\n\n".join(parts)


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few messages: a smoke run")
    parser.add_argument("--sizes", type=lambda s: [parse_size(x) for x in s.split(",") if x],
                        default=DEFAULT_SIZES, help="comma-separated payload sizes "
                        "(default 8,4KiB,64KiB,1MiB,4MiB)")
    parser.add_argument("--systems", type=lambda s: [x.strip() for x in s.split(",") if x],
                        help=f"which of {','.join(SYSTEMS)} to run "
                             f"(default {','.join(DEFAULT_SYSTEMS)})")
    parser.add_argument("--dora-rs", action="store_true",
                        help=f"also run {', '.join(DORA_RS_SYSTEMS)} (creates its venv once)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON file to write")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per system, alternating the order (default 3, quick 1)")
    parser.add_argument("--starts", type=int, default=15,
                        help="node starts to measure (0: skip)")
    parser.add_argument("--shm-threshold", type=int, metavar="BYTES",
                        help="experiments only: this project's shared-memory threshold")
    parser.add_argument("--raw-zenoh", action="append", default=[], metavar="KEY=JSON5",
                        help="experiments only: override a zenoh config key in the raw "
                             "baseline (it then no longer matches dora's settings)")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # run the finally blocks: stop the children
        signal.signal(sig, _exit_on_signal)
    systems = args.systems or DEFAULT_SYSTEMS + (DORA_RS_SYSTEMS if args.dora_rs else [])
    if args.systems and args.dora_rs:
        systems += [name for name in DORA_RS_SYSTEMS if name not in systems]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {unknown}; known: {', '.join(SYSTEMS)}")

    sizes = sorted(set(args.sizes))
    plan = make_plan(sizes, args.quick)
    if args.raw_zenoh:
        plan["raw_zenoh_overrides"] = args.raw_zenoh
    if args.shm_threshold is not None:
        plan["shm_threshold"] = args.shm_threshold
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    timeout = plan_timeout(plan)
    info = machine_info()
    started = time.monotonic()
    per_system: dict[str, list[dict]] = {name: [] for name in systems}
    errors: dict[str, list[str]] = {name: [] for name in systems}
    failures: dict[str, str] = {}
    for round_index in range(rounds):
        order = systems if round_index % 2 == 0 else systems[::-1]
        for name in order:
            while name not in failures:
                print(f"round {round_index + 1}/{rounds}: {name} ...", file=sys.stderr,
                      flush=True)
                result = _attempt(name, plan, timeout)
                if isinstance(result, dict):
                    per_system[name].append(result)
                    for problem in result["problems"]:
                        print(f"{name}: warning: {problem}", file=sys.stderr)
                    break
                errors[name].append(result)
                print(f"{name}: attempt failed: {result}", file=sys.stderr, flush=True)
                if len(errors[name]) >= MAX_ATTEMPT_ERRORS:
                    failures[name] = result
    results = {name: merge_rounds(runs) for name, runs in per_system.items() if runs}
    start_up = None
    if args.starts:
        with tempfile.TemporaryDirectory(prefix="dora-bench-start-") as tmp:
            try:
                start_up = node_start(args.starts, Path(tmp))
            except (RuntimeError, OSError) as error:
                failures["node-start"] = str(error)

    report = {"benchmark": "latency", "created": now_iso(), "quick": args.quick,
              "machine": info, "plan": plan, "rounds": rounds, "systems": results,
              "node_start": start_up, "errors": {n: e for n, e in errors.items() if e},
              "failures": failures, "total_s": round(time.monotonic() - started, 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")

    print(f"one-way latency p50/p95 and throughput; {'quick' if args.quick else 'full'} run, "
          f"{rounds} round(s), medians; {info['nproc']} CPUs, Python {info['python']}, "
          f"zenoh {info['zenoh']}, load {info['loadavg_at_start'][0]:.1f}")
    if results:
        print(tables(results, sizes))
    if start_up:
        print(f"\nnode start (spawn -> Node() returned, no pyarrow): median "
              f"{start_up['median_ms']} ms, p10 {start_up['p10_ms']}, p90 {start_up['p90_ms']}"
              f" (n={start_up['n']})")
    for name, error in failures.items():
        print(f"FAILED: {name}: {error.splitlines()[0] if error else ''}")
    print(f"written: {args.out} ({report['total_s']:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks have stopped every child by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
