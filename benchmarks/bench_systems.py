"""The systems the latency benchmark compares, one function each with the same signature
`(plan, workdir, timeout) -> result dict` (see bench_report.make_result):

* dora:        this project, node -> node, `send_output(pa.UInt8Array)` (nodes/arrow_node.py)
* dora-raw:    the same with `send_output_raw` (the sender fills the sample in place)
* dora-bytes:  this project with `bytes` payloads (nodes/dora_sender.py, dora_receiver.py)
* dora-rs, dora-rs-raw: dora-rs 1.1 running the very same arrow_node.py (BENCH_API=dora_rs)
  from its own venv, created once in DORA_RS_CACHE
* raw:         raw zenoh-python bytes between two plain processes (the baseline)
* operator:    two operators of one runtime node, delivered in-process
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bench_proto
from bench_procs import start, stop, tail, wait_all
from bench_report import make_result

from dora_api.contract import parse_timer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODES = HERE / "nodes"
DORA_RS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) \
    / "dora-supervisor-bench" / "dora-rs-1.1"
DORA_RS_PACKAGES = ["dora-rs==1.1.0", "dora-rs-cli==1.1.0", "pyarrow", "numpy"]
DORA_RS_QUEUE = 100_000  # dora-rs drops beyond its input queue_size (default 10)

__all__ = ["SYSTEMS", "SECOND_TABLES", "OPERATOR_NOTES", "ensure_dora_rs"]


def _plan_file(plan: dict, workdir: Path) -> Path:
    path = workdir / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _dora_run(argv: list[str], descriptor: Path, workdir: Path, timeout: float,
              env: dict | None = None) -> tuple[int, float, Path]:
    """Run a dataflow to its end with `argv` (a `dora` command); exit code, wall, log."""
    log = workdir / "dora-run.log"
    started = time.monotonic()
    proc = start([*argv, "run", str(descriptor)] + (
        ["--log-format", "json", "--out-dir", str(workdir / "out")] if env is None else []),
        workdir if env is not None else ROOT, log, death_signal=signal.SIGTERM, env=env)
    try:
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"dora run did not finish within {timeout:.0f}s:\n"
                               + tail(log)) from None
    finally:
        stop(proc, signal.SIGINT, grace=10.0)
    return code, time.monotonic() - started, log


def _problems(log: Path) -> list[str]:
    """Nodes of our `dora run` that did not exit normally."""
    problems = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line) if line.startswith("{") else {}
        except ValueError:
            continue
        if record.get("event") == "node_exited" and record.get("reason") != "normal":
            problems.append(f"{record.get('node')}: {record.get('reason')} "
                            f"(code {record.get('code')})")
    return problems


def _arrow_pair(plan_file: Path, result: Path, raw: bool, queue_size: int | None) -> str:
    data = f"{{source: sender/data, queue_size: {queue_size}}}" if queue_size else "sender/data"
    return f"""\
nodes:
  - id: sender
    path: {NODES / 'arrow_node.py'}
    args: send --plan {plan_file}{' --raw' if raw else ''}
    inputs: {{ack: receiver/ack}}
    outputs: [data]
  - id: receiver
    path: {NODES / 'arrow_node.py'}
    args: recv --plan {plan_file} --result {result}
    inputs: {{data: {data}}}
    outputs: [ack]
"""


def _arrow_system(name: str, description: str, raw: bool, dora_rs: bool):
    def run(plan: dict, workdir: Path, timeout: float) -> dict:
        result = workdir / "result.json"
        descriptor = workdir / "latency.yml"
        text = _arrow_pair(_plan_file(plan, workdir), result, raw,
                           DORA_RS_QUEUE if dora_rs else None)
        if dora_rs:
            python = ensure_dora_rs()
            env = dict(os.environ, BENCH_API="dora_rs",
                       PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}")
            env.pop("VIRTUAL_ENV", None)
            descriptor.write_text(text)
            code, wall, log = _dora_run([str(python.parent / "dora")], descriptor, workdir,
                                        timeout, env)
            problems = []
        else:
            descriptor.write_text(text.replace("    outputs: [data]\n", "    outputs: [data]\n"
                                               "    significant: true\n"))
            code, wall, log = _dora_run([sys.executable, "-m", "dora_supervisor"], descriptor,
                                        workdir, timeout)
            problems = _problems(log)
        if not result.exists():
            raise RuntimeError(f"{name}: no result (exit code {code}):\n{tail(log)}")
        problems += [f"dora run exit code {code}"] if code else []
        return make_result(name, description, json.loads(result.read_text()), wall, problems)

    return run


def ensure_dora_rs() -> Path:
    """The python of a venv with dora-rs 1.1 (created once, in DORA_RS_CACHE)."""
    python = DORA_RS_CACHE / "bin" / "python"
    marker = DORA_RS_CACHE / ".installed"
    if python.exists() and marker.exists():
        return python
    print(f"creating {DORA_RS_CACHE} ({' '.join(DORA_RS_PACKAGES)}), once ...",
          file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(DORA_RS_CACHE)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *DORA_RS_PACKAGES],
                   check=True)
    marker.write_text(" ".join(DORA_RS_PACKAGES) + "\n")
    return python


def run_dora_bytes(plan: dict, workdir: Path, timeout: float) -> dict:
    """This project with bytes payloads (the node API's cheapest path)."""
    plan_file = _plan_file(plan, workdir)
    descriptor = workdir / "latency.yml"
    descriptor.write_text(f"""\
nodes:
  - {{id: sender, path: {NODES / 'dora_sender.py'}, args: --plan {plan_file},
     inputs: {{ack: receiver/ack}}, outputs: [data], significant: true}}
  - {{id: receiver, path: {NODES / 'dora_receiver.py'}, args: --plan {plan_file},
     inputs: {{data: sender/data}}, outputs: [ack]}}
""")
    return _logged_result("dora-bytes", "this project, bytes payloads", descriptor, workdir,
                          timeout, "receiver")


OPERATOR_TICK = "dora/timer/millis/1"  # paces the operator sender's latency phases
OPERATOR_NOTES = (
    "two Python operators in one runtime node (dora run, 1 process), bytes payloads "
    "delivered in-process (outputs no other node consumes are not published on zenoh). "
    f"Latency phases paced by a {OPERATOR_TICK} input. Throughput is not back to back: an "
    "operator cannot loop (its outputs reach the other operator only once on_event "
    "returns), so it is sent in bursts of <= 1000 msgs / 16 MiB, the next one on the "
    "receiver's ack; sender and receiver share one thread.")


def run_operator(plan: dict, workdir: Path, timeout: float) -> dict:
    """Operator to operator: one runtime node, two operators, `dora run`."""
    plan_file = _plan_file(plan, workdir)
    descriptor = workdir / "latency-operators.yml"
    descriptor.write_text(f"""\
nodes:
  - id: bench
    env: {{BENCH_PLAN: {plan_file}, BENCH_TICK_S: "{parse_timer(OPERATOR_TICK)}"}}
    operators:
      - {{id: sender, python: {NODES / 'op_sender.py'}, outputs: [data],
         inputs: {{tick: {OPERATOR_TICK}, ack: bench/receiver/ack}}}}
      - {{id: receiver, python: {NODES / 'op_receiver.py'}, outputs: [ack],
         inputs: {{data: bench/sender/data}}}}
    restart: {{policy: temporary}}
""")
    out = _logged_result("operator", "operator -> operator (1 runtime process)", descriptor,
                         workdir, timeout, "bench")
    out["notes"] = OPERATOR_NOTES
    return out


def _logged_result(name: str, description: str, descriptor: Path, workdir: Path,
                   timeout: float, result_node: str) -> dict:
    """Run our `dora run`; the result is the RESULT_MARK line `result_node` printed."""
    code, wall, log = _dora_run([sys.executable, "-m", "dora_supervisor"], descriptor,
                                workdir, timeout)
    result = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and bench_proto.RESULT_MARK in line:
            record = json.loads(line)
            if record.get("node") == result_node:
                result = json.loads(record["line"][len(bench_proto.RESULT_MARK):])
    problems = _problems(log) + ([f"dora run exit code {code}"] if code else [])
    if result is None:
        raise RuntimeError(f"{name}: no result ({'; '.join(problems)}):\n{tail(log)}")
    return make_result(name, description, result, wall, problems)


def run_raw(plan: dict, workdir: Path, timeout: float) -> dict:
    """Baseline: raw zenoh-python bytes between two plain processes, dora_api's settings."""
    plan_file = _plan_file(plan, workdir)
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
        procs.append(start([sys.executable, "-u", script, "receiver", "--plan", str(plan_file),
                            "--listen", recv_ep, *extra], ROOT, recv_log))
        procs.append(start([sys.executable, "-u", script, "sender", "--plan", str(plan_file),
                            "--listen", send_ep, "--connect", recv_ep, *extra],
                           ROOT, send_log))
        try:
            wait_all(procs, timeout)
        except TimeoutError as error:
            raise TimeoutError(f"{error}\nreceiver:\n{tail(recv_log)}\n"
                               f"sender:\n{tail(send_log)}") from None
    finally:
        for proc in reversed(procs):
            stop(proc)
    wall = time.monotonic() - started
    lines = [line for line in recv_log.read_text(errors="replace").splitlines()
             if line.startswith(bench_proto.RESULT_MARK)]
    codes = [proc.returncode for proc in procs]
    if not lines:
        raise RuntimeError(f"raw zenoh receiver gave no result (exit codes {codes}):\n"
                           f"receiver:\n{tail(recv_log)}\nsender:\n{tail(send_log)}")
    problems = [f"exit codes {codes}"] if any(codes) else []
    return make_result("raw", "raw zenoh-python bytes, 2 plain processes (baseline)",
                       json.loads(lines[-1][len(bench_proto.RESULT_MARK):]), wall, problems)


# name -> function: same signature, same result dict.
SYSTEMS: dict[str, Callable[[dict, Path, float], dict]] = {
    "dora": _arrow_system("dora", "this project, send_output(pa.UInt8Array)", False, False),
    "dora-raw": _arrow_system("dora-raw", "this project, send_output_raw", True, False),
    "dora-rs": _arrow_system("dora-rs", "dora-rs 1.1, send_output(pa.UInt8Array)", False,
                             True),
    "dora-rs-raw": _arrow_system("dora-rs-raw", "dora-rs 1.1, send_output_raw", True, True),
    "raw": run_raw,
    "dora-bytes": run_dora_bytes,
    "operator": run_operator,
}
# Printed in tables of their own: (systems, the baseline of that table, a footnote).
SECOND_TABLES = [
    (["dora-raw", "dora-rs-raw"], "dora-rs-raw", "send_output_raw"),
    (["dora-bytes"], "raw", "bytes payloads"),
    (["operator"], "dora-bytes", OPERATOR_NOTES),
]
