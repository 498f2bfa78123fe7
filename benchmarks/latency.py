"""Latency and throughput between two processes (dora node-to-node vs raw zenoh), and
between two dora operators of one runtime process.

    .venv/bin/python benchmarks/latency.py                 # full run (< 2 min on 2 cores)
    .venv/bin/python benchmarks/latency.py --quick         # smoke run (< 30 s)
    .venv/bin/python benchmarks/latency.py --sizes 8,64KiB --out /tmp/latency.json

For every payload size, in one run and for every system:

* one-way latency, p50 and p95: the sender writes `time.monotonic_ns()` (CLOCK_MONOTONIC,
  one clock for every process on Linux) into the first 8 bytes; the receiver subtracts it
  from its own clock when its main loop gets the message. Messages are paced (a few ms
  apart, more for big payloads) so no queue holds anything when the next one is sent;
  a warm-up batch before it is discarded;
* throughput: a fixed count sent back to back, measured at the receiver from the first to
  the last message (msg/s and MiB/s of payload).

Every system runs the same sender and receiver code (benchmarks/nodes/bench_proto.py); a
phase ends with a control message the receiver acks, so phases never overlap. The run is
repeated (`--rounds`, default 3, reversing the order of the systems every round) and every figure
reported is the median of the rounds' figures, so one disturbed round on a busy machine
does not skew the table; the pooled percentiles and each round's figures are in the JSON.

Systems (a function each, all returning the same result dict; see SYSTEMS):

* dora: a sender node and a receiver node started by the real `dora run`; the receiver
  prints its results as one JSON line, read back from `dora run --log-format json`;
* raw:  the baseline, zenoh-python between two plain processes with the settings dora_api
  uses (`dora_api.contract.zenoh_config`: peer mode, multicast scouting off, Unix socket
  endpoints in a temporary directory, RELIABLE, congestion control BLOCK) and a receiver
  that does comparable work (plain callback on zenoh's thread -> bounded queue);
* operator: operator -> operator in one process: a runtime node (`operators:`) hosting
  benchmarks/nodes/op_sender.py and op_receiver.py under the real `dora run`, the
  receiver's input being `bench/sender/data` (delivered in-process by dora_api.runtime).
  The receiver feeds `bench_proto.Receiver` from `on_event`; the sender is
  `bench_proto.Sender`, the push-style twin of `run_sender`: paced by a 1 ms
  `dora/timer` input, and since an operator cannot send back to back (what it sends is
  delivered only once its `on_event` returns), throughput goes in bounded bursts, the
  next one on the receiver's ack. Printed in a table of its own, against dora
  node-to-node, with that as a footnote (OPERATOR_NOTES, also in the JSON as "notes").

Results go to benchmarks/results/latency.json (git-ignored) unless `--out` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODES = HERE / "nodes"
sys.path.insert(0, str(NODES))

import bench_proto  # noqa: E402  (benchmarks/nodes, shared with the node processes)

from dora_api.contract import parse_timer  # noqa: E402

DEFAULT_SIZES = [8, 4 * 2**10, 64 * 2**10, 2**20, 4 * 2**20]
DEFAULT_OUT = HERE / "results" / "latency.json"
BASELINE = "raw"


# -- the plan -------------------------------------------------------------------------


def size_plan(size: int, quick: bool) -> dict:
    """Message counts (per round) and pacing for one payload size."""
    if size <= 4 * 2**10:
        warmup, latency, interval, throughput = 50, 300, 0.002, 20000
    elif size <= 64 * 2**10:
        warmup, latency, interval, throughput = 50, 300, 0.003, 5000
    elif size <= 2**20:
        warmup, latency, interval, throughput = 10, 150, 0.010, 500
    else:
        warmup, latency, interval, throughput = 5, 60, 0.030, 150
    if quick:
        warmup = min(warmup, 10)
        latency = max(10, latency // 6)
        throughput = max(10, throughput // 10)
    return {"size": size, "warmup": warmup, "latency": latency, "interval_s": interval,
            "throughput": throughput}


def make_plan(sizes: list[int], quick: bool) -> dict:
    return {"sizes": [size_plan(size, quick) for size in sizes]}


def plan_timeout(plan: dict) -> float:
    """A generous deadline for one system to run the whole plan (start-up included)."""
    seconds = 20.0
    for spec in plan["sizes"]:
        per_message = 0.0005 + spec["size"] / (20 * 2**20)  # pessimistic: 20 MiB/s
        seconds += (spec["warmup"] + spec["latency"]) * (spec["interval_s"] + per_message)
        seconds += spec["throughput"] * per_message
    return seconds


# -- running processes ----------------------------------------------------------------


def _start(argv: list[str], cwd: Path, log: Path,
           death_signal: int = signal.SIGKILL) -> subprocess.Popen:
    """Start a child in its own process group (so we can stop all of it), output to `log`.

    The child also gets `death_signal` should this script die without running its finally
    blocks (SIGKILL from outside): nothing is left behind on any path."""
    handle = open(log, "wb")
    try:
        return subprocess.Popen(argv, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_parent_death_signal(death_signal))
    finally:
        handle.close()  # the child has its own copy


def _parent_death_signal(sig: int):
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_it() -> None:
        prctl(1, sig)  # PR_SET_PDEATHSIG: runs in the child, between fork and exec

    return set_it


def _stop(proc: subprocess.Popen, first_signal: int = signal.SIGTERM, grace: float = 5.0):
    """Stop a process we started and everything in its process group; never leaves one."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, first_signal)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(5)


def _wait_all(procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        remaining = deadline - time.monotonic()
        try:
            proc.wait(max(remaining, 0.01))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"still running after {timeout:.0f}s: {proc.args}") from None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _parse_result(line: str) -> dict:
    return json.loads(line[len(bench_proto.RESULT_MARK):])


# -- systems --------------------------------------------------------------------------


def _dora_run(descriptor: Path, workdir: Path, timeout: float,
              result_node: str) -> tuple[dict, float, list[str]]:
    """Run `descriptor` with the real `dora run`; the RESULT_MARK line `result_node` printed,
    the wall time and the problems seen (a node that did not exit normally, ...)."""
    log = workdir / "dora-run.log"
    argv = [sys.executable, "-m", "dora_supervisor", "run", str(descriptor),
            "--log-format", "json", "--out-dir", str(workdir / "out")]
    started = time.monotonic()
    proc = _start(argv, ROOT, log, death_signal=signal.SIGTERM)  # dora run: a clean stop
    try:
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"dora run did not finish within {timeout:.0f}s:\n"
                               + _tail(log)) from None
    finally:
        # dora run stops its own nodes on SIGINT (and they die with it in any case).
        _stop(proc, signal.SIGINT, grace=10.0)
    wall = time.monotonic() - started
    result = None
    problems = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = record.get("event")
        if (event == "node_output" and record.get("node") == result_node
                and str(record.get("line", "")).startswith(bench_proto.RESULT_MARK)):
            result = _parse_result(record["line"])
        elif event == "node_exited" and record.get("reason") != "normal":
            problems.append(f"{record.get('node')}: {record.get('reason')} "
                            f"(code {record.get('code')})")
    if result is None:
        raise RuntimeError(f"dora run exited {code} without a result "
                           f"({'; '.join(problems) or 'no node failure logged'}):\n"
                           + _tail(log))
    return result, wall, problems + ([f"dora run exit code {code}"] if code else [])


def run_dora(plan: dict, workdir: Path, timeout: float) -> dict:
    """dora-supervisor node-to-node: two nodes under the real `dora run`."""
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    descriptor = workdir / "latency.yml"
    descriptor.write_text(f"""\
name: latency-bench
nodes:
  - id: sender
    path: {NODES / 'dora_sender.py'}
    args: --plan {plan_file}
    inputs:
      ack: receiver/ack
    outputs: [data]
    significant: true          # its end ends the dataflow (the graph is a cycle)
    restart: {{policy: temporary}}
  - id: receiver
    path: {NODES / 'dora_receiver.py'}
    args: --plan {plan_file}
    inputs:
      data: sender/data        # default queue: backpressure, never drops
    outputs: [ack]
    restart: {{policy: temporary}}
""")
    result, wall, problems = _dora_run(descriptor, workdir, timeout, "receiver")
    return _make_result("dora", "dora-supervisor node -> node (dora run, 2 processes)",
                        result, wall, problems)


OPERATOR_TICK = "dora/timer/millis/1"  # paces the operator sender's latency phases
OPERATOR_NOTES = (
    "two Python operators in one runtime node (dora run, 1 process), data and acks "
    "delivered in-process (outputs no other node consumes are not published on zenoh). "
    "Latency phases paced by "
    f"a {OPERATOR_TICK} input. Throughput is not back to back: an operator cannot loop "
    "(its outputs reach the other operator only once on_event returns), so it is sent in "
    "bursts of <= 1000 msgs / 16 MiB, the next one on the receiver's ack; sender and "
    "receiver share one thread.")


def run_operator(plan: dict, workdir: Path, timeout: float) -> dict:
    """dora-supervisor operator-to-operator: one runtime node, two operators, `dora run`."""
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    descriptor = workdir / "latency-operators.yml"
    descriptor.write_text(f"""\
name: latency-bench-operators
nodes:
  - id: bench
    env:
      BENCH_PLAN: {plan_file}
      BENCH_TICK_S: "{parse_timer(OPERATOR_TICK)}"
    operators:
      - id: sender
        python: {NODES / 'op_sender.py'}
        inputs:
          tick: {OPERATOR_TICK}
          ack: bench/receiver/ack      # in-process
        outputs: [data]
      - id: receiver
        python: {NODES / 'op_receiver.py'}
        inputs:
          data: bench/sender/data      # in-process
        outputs: [ack]
    restart: {{policy: temporary}}
""")
    result, wall, problems = _dora_run(descriptor, workdir, timeout, "bench")
    out = _make_result("operator", "dora-supervisor operator -> operator (dora run, "
                       "1 runtime process)", result, wall, problems)
    out["notes"] = OPERATOR_NOTES
    return out


def run_raw(plan: dict, workdir: Path, timeout: float) -> dict:
    """Baseline: raw zenoh-python between two plain processes, dora_api's zenoh settings."""
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    os.chmod(workdir, 0o700)
    recv_ep = f"unixsock-stream/{workdir}/receiver.sock"
    send_ep = f"unixsock-stream/{workdir}/sender.sock"
    script = str(NODES / "raw_zenoh.py")
    extra = ["--lease", "2.0"]  # dora's default health.lease, passed to zenoh the same way
    extra += [f"--zenoh={override}" for override in plan.get("raw_zenoh_overrides", [])]
    recv_log, send_log = workdir / "receiver.log", workdir / "sender.log"
    started = time.monotonic()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_start([sys.executable, "-u", script, "receiver", "--plan", str(plan_file),
                             "--listen", recv_ep, *extra], ROOT, recv_log))
        procs.append(_start([sys.executable, "-u", script, "sender", "--plan", str(plan_file),
                             "--listen", send_ep, "--connect", recv_ep, *extra],
                            ROOT, send_log))
        try:
            _wait_all(procs, timeout)
        except TimeoutError as error:
            raise TimeoutError(f"{error}\nreceiver:\n{_tail(recv_log)}\n"
                               f"sender:\n{_tail(send_log)}") from None
    finally:
        for proc in reversed(procs):
            _stop(proc)
    wall = time.monotonic() - started
    lines = [line for line in recv_log.read_text(errors="replace").splitlines()
             if line.startswith(bench_proto.RESULT_MARK)]
    codes = [proc.returncode for proc in procs]
    if not lines:
        raise RuntimeError(f"raw zenoh receiver gave no result (exit codes {codes}):\n"
                           f"receiver:\n{_tail(recv_log)}\nsender:\n{_tail(send_log)}")
    problems = [f"exit codes {codes}"] if any(codes) else []
    return _make_result("raw", "raw zenoh-python, 2 plain processes (baseline)",
                        _parse_result(lines[-1]), wall, problems)


# name -> (function, what it measures): same signature, same result dict.
SYSTEMS: dict[str, Callable[[dict, Path, float], dict]] = {
    "dora": run_dora,
    "raw": run_raw,
    "operator": run_operator,
}
# Printed in a table of their own, against this system (not the raw baseline).
SECOND_TABLE = {"operator": ("op", "dora")}


def _make_result(name: str, description: str, receiver: dict, wall: float,
                 problems: list[str]) -> dict:
    """The common result dict: {"system", "description", "wall_s", "problems",
    "sizes": {"<bytes>": {"latency": {p50_us, p95_us, ...}, "latency_samples_us": [...],
    "throughput": {msg_per_s, mib_per_s, messages, seconds, ...}}}}."""
    sizes = {}
    for entry in receiver["sizes"]:
        samples = entry.get("latency_ns", [])
        if entry.get("latency_received") != entry.get("latency_expected"):
            problems.append(f"{entry['size']} B: {entry.get('latency_received')} of "
                            f"{entry.get('latency_expected')} latency messages arrived")
        throughput = entry.get("throughput", {})
        if throughput.get("messages") != throughput.get("expected"):
            problems.append(f"{entry['size']} B: {throughput.get('messages')} of "
                            f"{throughput.get('expected')} throughput messages arrived")
        sizes[str(entry["size"])] = {
            "latency": bench_proto.summarize(samples),
            "latency_samples_us": [round(v / 1000, 1) for v in samples],
            "throughput": throughput,
        }
    return {"system": name, "description": description, "wall_s": round(wall, 2),
            "problems": problems, "sizes": sizes}


def merge_rounds(rounds: list[dict]) -> dict:
    """One system's rounds as one result. Each statistic is the median of the rounds' values
    (robust to one disturbed round on a shared machine: a burst of load elsewhere can
    starve a 2-core box for seconds); the pooled percentiles are kept as well."""
    first = rounds[0]
    sizes = {}
    for key in first["sizes"]:
        mine = [r["sizes"][key] for r in rounds if key in r["sizes"]]
        per_round = [entry["latency"] for entry in mine]
        samples_us = [v for entry in mine for v in entry.get("latency_samples_us", [])]
        latency = {stat: _median([x[stat] for x in per_round if stat in x])
                   for stat in ("p50_us", "p95_us", "p99_us", "mean_us")}
        latency.update(n=sum(x.get("n", 0) for x in per_round),
                       min_us=min((x["min_us"] for x in per_round if "min_us" in x),
                                  default=None),
                       max_us=max((x["max_us"] for x in per_round if "max_us" in x),
                                  default=None),
                       statistic=f"median of {len(per_round)} round(s)")
        throughputs = [entry["throughput"] for entry in mine]
        sizes[key] = {
            "latency": latency,
            "latency_pooled": bench_proto.summarize([round(v * 1000) for v in samples_us]),
            "latency_per_round": per_round,
            "throughput": {
                "msg_per_s": _median([t.get("msg_per_s") for t in throughputs]),
                "mib_per_s": _median([t.get("mib_per_s") for t in throughputs]),
                "statistic": f"median of {len(throughputs)} round(s)",
                "rounds": throughputs},
            "latency_samples_us": samples_us,
        }
    return {"system": first["system"], "description": first["description"],
            **({"notes": first["notes"]} if "notes" in first else {}),
            "rounds": len(rounds), "wall_s": [r["wall_s"] for r in rounds],
            "loadavg_1m": [r.get("loadavg_1m") for r in rounds],
            "problems": [p for r in rounds for p in r["problems"]], "sizes": sizes}


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


# -- output ---------------------------------------------------------------------------


def machine_info() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "nproc_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "zenoh": _version("eclipse-zenoh"),
        "pyarrow": _version("pyarrow"),
        "dora_supervisor": _version("dora-supervisor"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": None,
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "clock": "time.monotonic_ns (CLOCK_MONOTONIC)",
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def format_size(size: int) -> str:
    for unit, factor in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _us(value) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if value >= 10000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.0f} us"


def _num(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict[str, dict], sizes: list[int], names: list[str] | None = None,
          baseline: str = BASELINE, labels: dict[str, str] | None = None) -> str:
    """One row per size: p50/p95 of `names` (default: all), each one's p50 over the
    `baseline`'s (which need not be among `names`), msg/s and MiB/s."""
    names = [n for n in (names or list(results)) if n in results]
    labels = labels or {}
    label = lambda name: labels.get(name, name)  # noqa: E731
    others = [n for n in names if n != baseline] if baseline in results else []
    header = []
    for name in names:
        header += [f"{label(name)} p50", f"{label(name)} p95"]
    header += ["ratio p50" if len(others) == 1 and baseline in names
               else f"{label(n)}/{label(baseline)} p50" for n in others]
    header += [f"{label(name)} msg/s" for name in names]
    header += [f"{label(name)} MiB/s" for name in names]
    rows = []
    for size in sizes:
        cells = {name: results[name]["sizes"].get(str(size), {})
                 for name in {*names, baseline} if name in results}
        row = [format_size(size)]
        for name in names:
            latency = cells[name].get("latency", {})
            row += [_us(latency.get("p50_us")), _us(latency.get("p95_us"))]
        base = cells.get(baseline, {}).get("latency", {}).get("p50_us")
        for name in others:
            mine = cells[name].get("latency", {}).get("p50_us")
            row.append(f"{mine / base:.2f}x" if mine and base else "-")
        row += [_num(cells[n].get("throughput", {}).get("msg_per_s")) for n in names]
        row += [_num(cells[n].get("throughput", {}).get("mib_per_s"), 1) for n in names]
        rows.append(row)
    header = ["size"] + header
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = [" | ".join(h.ljust(w) if i == 0 else h.rjust(w)
                        for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in rows:
        lines.append(" | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def tables(results: dict[str, dict], sizes: list[int]) -> str:
    """The main table (every system between two processes, against the raw baseline), then
    one small table per SECOND_TABLE system, with its footnote."""
    main = [n for n in results if n not in SECOND_TABLE]
    parts = [table(results, sizes, main)] if main else []
    for name, (short, against) in SECOND_TABLE.items():
        if name in results:
            parts.append(table(results, sizes, [name], against, {name: short}))
            if name == "operator":
                parts.append(_wrap(f"op: {OPERATOR_NOTES}"))
    return "\n\n".join(parts)


def _wrap(text: str, width: int = 92) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, subsequent_indent="    "))


# -- command line ---------------------------------------------------------------------


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(i?B?)\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 8, 4KiB, 1MiB)")
    number, prefix = int(match.group(1)), match.group(2).upper()
    size = number * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[prefix]
    if size < 8:
        raise argparse.ArgumentTypeError("a payload holds an 8-byte timestamp: 8 B at least")
    return size


MAX_ATTEMPT_ERRORS = 2  # per system; a failed attempt is retried until then


def _attempt(name: str, plan: dict, timeout: float) -> dict | str:
    """One round of one system: its result, or what went wrong (the round is retried).

    Failures do happen on a shared machine: e.g. a concurrent test run's leak check kills
    every new process that has DORA_NODE_CONFIG in its environment, ours included."""
    with tempfile.TemporaryDirectory(prefix=f"dora-bench-{name}-") as tmp:
        try:
            result = SYSTEMS[name](plan, Path(tmp), timeout)
            result["loadavg_1m"] = os.getloadavg()[0]  # 1-min average, as the round ends
            return result
        except (RuntimeError, TimeoutError, OSError) as error:
            return str(error)


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="few messages: a smoke run (< 30 s), numbers are rough")
    parser.add_argument("--sizes", type=lambda s: [parse_size(x) for x in s.split(",") if x],
                        default=DEFAULT_SIZES, help="comma-separated payload sizes "
                        "(default 8,4KiB,64KiB,1MiB,4MiB)")
    parser.add_argument("--systems", type=lambda s: [x.strip() for x in s.split(",") if x],
                        default=list(SYSTEMS), help=f"which of {','.join(SYSTEMS)} to run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON file to write")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per system, alternating the order (default 3, quick 1);"
                             " every figure is the median of the rounds")
    parser.add_argument("--raw-zenoh", action="append", default=[], metavar="KEY=JSON5",
                        help="experiments only: override a zenoh config key in the raw "
                             "baseline (it then no longer matches dora's settings)")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # run the finally blocks: stop the children
        signal.signal(sig, _exit_on_signal)
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {unknown}; known: {', '.join(SYSTEMS)}")

    sizes = sorted(set(args.sizes))
    plan = make_plan(sizes, args.quick)
    if args.raw_zenoh:
        plan["raw_zenoh_overrides"] = args.raw_zenoh
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    timeout = plan_timeout(plan)
    info = machine_info()
    started = time.monotonic()
    per_system: dict[str, list[dict]] = {name: [] for name in args.systems}
    errors: dict[str, list[str]] = {name: [] for name in args.systems}
    failures: dict[str, str] = {}  # systems given up on (MAX_ATTEMPT_ERRORS errors)
    for round_index in range(rounds):
        # Alternate the order from round to round: neither system always goes first.
        order = args.systems if round_index % 2 == 0 else args.systems[::-1]
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

    report = {
        "benchmark": "latency",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": info,
        "plan": plan,
        "rounds": rounds,
        "baseline": BASELINE,
        "systems": results,
        "errors": {name: errs for name, errs in errors.items() if errs},
        "failures": failures,
        "total_s": round(time.monotonic() - started, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")

    print(f"one-way latency p50/p95 and throughput; {'quick' if args.quick else 'full'} run, "
          f"{rounds} round(s); {info['nproc']} CPUs, Python {info['python']}, "
          f"zenoh {info['zenoh']}")
    if results:
        print(tables(results, sizes))
    for name, error in failures.items():
        print(f"FAILED: {name} (gave up after {MAX_ATTEMPT_ERRORS} failed attempts): "
              f"{error.splitlines()[0] if error else ''}")
    retried = {name: len(errs) for name, errs in errors.items() if errs and name not in failures}
    if retried:
        print(f"retried after failed attempts: {retried} (see \"errors\" in the JSON)")
    print(f"written: {args.out} ({report['total_s']:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks have stopped every child by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
