"""Operators in a runtime node, end to end: C (cc), Rust (cargo) and Python operators in one
process under the real `dora run`, their lifecycle, and how a broken operator is reported."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, compile_c

pytestmark = pytest.mark.timeout(90)

EXAMPLES = ROOT / "examples"
INCLUDE = ROOT / "dora_api" / "include"


@pytest.fixture(scope="session")
def c_operator(tmp_path_factory) -> Path:
    """examples/c-operator/operator.c, built with the system compiler."""
    out = tmp_path_factory.mktemp("c-operator")
    return compile_c((EXAMPLES / "c-operator" / "operator.c").read_text(), out)


@pytest.fixture(scope="session")
def rust_operator(tmp_path_factory) -> Path:
    """examples/rust-operator built offline with cargo (skipped when cargo is missing)."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: the Rust operator example "
                    "(examples/rust-operator) cannot be built")
    target_dir = tmp_path_factory.mktemp("rust-target")
    result = subprocess.run(
        ["cargo", "build", "--release", "--offline", "--target-dir", str(target_dir)],
        cwd=EXAMPLES / "rust-operator", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    library = target_dir / "release" / "librust_operator.so"
    assert library.exists(), sorted(p.name for p in (target_dir / "release").iterdir())
    return library


def write(dataflow, text: str, **paths) -> Path:
    """The `dataflow` fixture, with `<name>` placeholders replaced by paths."""
    text = textwrap.dedent(text)
    paths.setdefault("examples", EXAMPLES)
    for key, value in paths.items():
        text = text.replace(f"<{key}>", str(value))
    return dataflow(text)


def count(lines: list[str], prefix: str) -> int:
    return sum(line.startswith(prefix) for line in lines)


def node_logs(run, node: str) -> list[str]:
    return [r.get("msg", "") for r in run.events("node_log", node)]


def test_c_rust_and_python_operators_in_one_runtime_node(dora_run, dataflow, c_operator,
                                                         rust_operator):
    descriptor = write(dataflow, """
        nodes:
          - id: timer
            path: <examples>/timer.py
            args: --count 40 --interval 0.005
            outputs: [time]
          - id: runtime-node
            operators:
              - id: op-c
                shared-library: <c>
                inputs: {time: timer/time}
                outputs: [counter]
              - id: op-rust
                shared-library: <rust>
                inputs: {time: timer/time}
                outputs: [counter]
              - id: op-orig
                python: <examples>/python-operator/original_op.py
                inputs: {time: timer/time}
                outputs: [latency]
              - id: op-py
                python: <examples>/python-operator/op.py
                inputs: {time: timer/time}
                outputs: [status]
          - id: sink
            path: <examples>/logger.py
            inputs:
              c: runtime-node/op-c/counter
              rust: runtime-node/op-rust/counter
              orig: runtime-node/op-orig/latency
              py: runtime-node/op-py/status
    """, c=c_operator, rust=rust_operator)
    run = dora_run(descriptor)
    assert run.wait(40) == 0, run.text()
    lines = run.lines("sink")
    for name in ("c", "rust", "orig", "py"):
        assert count(lines, f"logger: {name} = ") == 40, (name, lines)
    assert [line for line in lines if line.startswith("logger: c = ")] == \
        [f"logger: c = {n}" for n in range(1, 41)]
    assert [line for line in lines if line.startswith("logger: rust = ")] == \
        [f"logger: rust = {n}" for n in range(1, 41)]
    assert "logger: stop (ALL_INPUTS_CLOSED)" in lines
    runtime_lines = run.lines("runtime-node")
    # dora_drop_operator ran exactly once for each shared library
    assert runtime_lines.count("c operator: dropped after 40 inputs") == 1, runtime_lines
    assert runtime_lines.count("rust operator: dropped after 40 inputs") == 1, runtime_lines
    exits = {r["node"]: r for r in run.events("node_exited")}
    assert exits["runtime-node"]["reason"] == "normal" and exits["runtime-node"]["code"] == 0
    assert run.events("dataflow_finished")[0]["ok"] is True


def test_operator_consumes_another_operator_of_the_same_node(dora_run, dataflow, c_operator,
                                                           tmp_path):
    relay = tmp_path / "relay.py"
    relay.write_text(textwrap.dedent("""
        from dora_api import DoraStatus

        class Operator:
            relayed = 0

            def on_event(self, event, send_output):
                if event["type"] == "INPUT":
                    self.relayed += 1
                    send_output("out", b"relayed " + event["value"], event["metadata"])
                    if self.relayed == 25:
                        return DoraStatus.STOP
                return DoraStatus.CONTINUE
    """))
    descriptor = write(dataflow, """
        nodes:
          - id: timer
            path: <examples>/timer.py
            args: --count 100000 --interval 0.005
            outputs: [time]
          - id: runtime-node
            operators:
              - id: op-c
                shared-library: <c>
                inputs: {time: timer/time}
                outputs: [counter]
              - id: relay
                python: <relay>
                inputs: {counter: runtime-node/op-c/counter}   # in-process, not over zenoh
                outputs: [out]
          - id: sink
            path: <examples>/logger.py
            inputs: {relayed: runtime-node/relay/out}
    """, c=c_operator, relay=relay)
    run = dora_run(descriptor)
    run.wait_for(lambda r: "operator 'relay' finished: returned STOP"
                 in node_logs(r, "runtime-node"), 30, "the relay operator to finish")
    run.wait_for(lambda r: count(r.lines("sink"), "logger: relayed = ") >= 25, 30,
                 "the sink to receive what the relay sent")
    run.interrupt()
    assert run.wait(30) == 0, run.text()
    # every counter op-c sent reached the relay, in order, exactly once
    assert [line for line in run.lines("sink") if line.startswith("logger: relayed = ")] == \
        [f"logger: relayed = relayed {n}" for n in range(1, 26)]


def test_dora_rs_operator_returning_stop_finishes(dora_run, dataflow, c_operator, tmp_path):
    stopper = tmp_path / "stopper.py"
    stopper.write_text(textwrap.dedent("""
        from dora_api import DoraStatus

        class Operator:
            def __init__(self):
                self.seen = 0

            def on_event(self, event, send_output):
                if event["type"] == "INPUT":
                    self.seen += 1
                    send_output("out", str(self.seen).encode())
                    if self.seen == 5:
                        return DoraStatus.STOP
                return DoraStatus.CONTINUE
    """))
    descriptor = write(dataflow, """
        nodes:
          - id: timer
            path: <examples>/timer.py
            args: --count 20 --interval 0.05     # 1 s: op-tick's 5 ticks fit in even
            outputs: [time]                       # when the runtime node starts slowly
          - id: runtime-node
            operators:
              - id: op-stop
                python: <stopper>
                inputs: {time: timer/time}
                outputs: [out]
              - id: op-tick                      # timer inputs reach operators too
                python: <stopper>
                inputs: {tick: dora/timer/millis/10}
                outputs: [out]
              - id: op-c
                shared-library: <c>
                inputs: {time: timer/time}
                outputs: [counter]
          - id: sink
            path: <examples>/logger.py
            inputs:
              stop: runtime-node/op-stop/out
              tick: runtime-node/op-tick/out
              c: runtime-node/op-c/counter
    """, c=c_operator, stopper=stopper)
    run = dora_run(descriptor)
    assert run.wait(30) == 0, run.text()
    lines = run.lines("sink")
    assert count(lines, "logger: stop = ") == 5, lines
    assert count(lines, "logger: tick = ") == 5, lines
    assert count(lines, "logger: c = ") == 20, lines
    logs = node_logs(run, "runtime-node")
    assert "operator 'op-stop' finished: returned STOP" in logs
    assert "operator 'op-tick' finished: returned STOP" in logs
    assert "operator 'op-c' finished: all inputs closed" in logs
    assert run.events("dataflow_finished")[0]["ok"] is True


def test_runtime_node_finishes_when_all_its_operators_have(dora_run, dataflow, tmp_path):
    stopper = tmp_path / "stopper.py"
    stopper.write_text(textwrap.dedent("""
        from dora_api import DoraStatus

        class Operator:
            seen = 0

            def on_input(self, input_id, value, send_output):   # the original form
                self.seen += 1
                send_output("out", value)
                return DoraStatus.STOP if self.seen == 3 else DoraStatus.CONTINUE
    """))
    descriptor = write(dataflow, """
        nodes:
          - id: timer
            path: <examples>/timer.py
            args: --count 100000 --interval 0.01
            outputs: [time]
          - id: runtime-node
            operators:
              - id: op
                python: <stopper>
                inputs: {time: timer/time}
                outputs: [out]
          - id: sink
            path: <examples>/logger.py
            inputs: {out: runtime-node/op/out}
    """, stopper=stopper)
    run = dora_run(descriptor)
    # the operator's outputs close: the sink gets INPUT_CLOSED while the timer still runs
    run.wait_for(lambda r: "logger: input 'out' closed" in r.lines("sink"), 30,
                 "the sink to see the operator's output closed")
    exits = {r["node"]: r for r in run.events("node_exited")}
    assert exits["runtime-node"]["reason"] == "normal" and exits["runtime-node"]["code"] == 0
    assert "timer" not in exits
    run.interrupt()
    assert run.wait(30) == 0, run.text()
    assert count(run.lines("sink"), "logger: out = ") == 3
    assert "operator 'op' finished: returned STOP" in node_logs(run, "runtime-node")


MISSING_SYMBOL = """
    #include "operator_api.h"
    int dora_init_operator(void **ctx) { *ctx = 0; return 0; }
    void dora_drop_operator(void *ctx) { (void)ctx; }
"""

INIT_FAILS = """
    #include "operator_api.h"
    int dora_init_operator(void **ctx) { (void)ctx; return 7; }
    void dora_drop_operator(void *ctx) { (void)ctx; }
    int dora_on_input(const char *id, unsigned int id_len, const char *data,
                      unsigned int data_len, dora_output_fn output_fn, void *output_context,
                      const void *ctx)
    { (void)id; (void)id_len; (void)data; (void)data_len; (void)output_fn;
      (void)output_context; (void)ctx; return 0; }
"""

INPUT_FAILS = INIT_FAILS.replace("return 7;", "*ctx = 0; return 0;").replace(
    "(void)ctx; return 0; }\n", "(void)ctx; return 3; }\n")

RAISES = """
    from dora_api import DoraStatus

    class Operator:
        def on_event(self, event, send_output):
            if event["type"] == "INPUT":
                raise ValueError("boom")
            return DoraStatus.CONTINUE
"""


@pytest.mark.parametrize("case, source, expected", [
    ("missing-symbol", MISSING_SYMBOL, "missing symbol dora_on_input"),
    ("init-failure", INIT_FAILS, "dora_init_operator failed (returned 7)"),
    ("on-input-failure", INPUT_FAILS, "dora_on_input returned 3 for input 'time'"),
    ("raises", RAISES, "on_event raised ValueError: boom (line 7)"),
])
def test_broken_operator_is_one_line_naming_operator_and_file(dora_run, dataflow, tmp_path,
                                                              case, source, expected):
    if source is RAISES:
        kind, path = "python", tmp_path / "bad.py"
        path.write_text(textwrap.dedent(source))
    else:
        kind, path = "shared-library", compile_c(source, tmp_path, "bad")
    descriptor = write(dataflow, f"""
        supervision: {{max_restarts: 1, max_seconds: 60}}
        nodes:
          - id: timer
            path: <examples>/timer.py
            args: --count 100000 --interval 0.01
            outputs: [time]
          - id: runtime-node
            restart: {{backoff: {{initial: 0.05s}}}}
            operators:
              - id: op-bad
                {kind}: {path.name}
                inputs: {{time: timer/time}}
                outputs: [out]
    """)
    run = dora_run(descriptor)
    assert run.wait(60) != 0, run.text()
    line = f"dora runtime: operator 'op-bad' ({path.name}): {expected}"
    errors = [r["line"] for r in run.events("node_output", "runtime-node")
              if r.get("stream") == "stderr"]
    assert line in errors, run.text()
    assert not any("Traceback" in e for e in errors), errors
    assert all(e == line for e in errors if e.startswith("dora runtime:")), errors
    failures = [r for r in run.events("node_exited", "runtime-node") if r["code"] == 1]
    assert len(failures) >= 2, run.text()  # it crashed, was restarted, crashed again
    assert run.text().splitlines()[-1] == f"dora:   node 'runtime-node' (exit code 1): {line}"


def test_verbose_adds_the_traceback(dora_run, dataflow, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(textwrap.dedent(RAISES))
    descriptor = write(dataflow, """
        supervision: {max_restarts: 0, max_seconds: 60}
        nodes:
          - id: timer
            path: <examples>/timer.py
            args: --count 100000 --interval 0.01
            outputs: [time]
          - id: runtime-node
            env: {DORA_VERBOSE: "1"}
            operators:
              - id: op-bad
                python: bad.py
                inputs: {time: timer/time}
                outputs: [out]
    """)
    run = dora_run(descriptor)
    assert run.wait(60) != 0, run.text()
    errors = [r["line"] for r in run.events("node_output", "runtime-node")
              if r.get("stream") == "stderr"]
    assert any(e.startswith("Traceback") for e in errors), errors
    assert "dora runtime: operator 'op-bad' (bad.py): on_event raised ValueError: boom " \
           "(line 7)" in errors
