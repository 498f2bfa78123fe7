"""The pure-Python examples of dora-rs (its `examples/` folder), each as a small dataflow of
our own that uses the same descriptor features and the same node API calls, checked by
what it prints and logs. Which examples run here and which do not: README.md beside this
file. The nodes are in `nodes/`; none is a copy of dora-rs code."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import dora

pytestmark = pytest.mark.timeout(90)

NODES = Path(__file__).resolve().parent / "nodes"


@pytest.fixture
def flow(tmp_path):
    """Write a descriptor (and other files) into the test's folder; `{compat}` is `nodes/`."""

    def write(text: str, files: dict[str, str] | None = None) -> Path:
        for relative, content in (files or {}).items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content).replace("{compat}", str(NODES)))
        path = tmp_path / "dataflow.yml"
        path.write_text(textwrap.dedent(text).replace("{compat}", str(NODES)))
        return path

    return write


def logged(run, node: str) -> list[str]:
    return [r["msg"] for r in run.events("node_log", node)]


# -- module-dataflow: `module:` nodes --------------------------------------------------------

def test_module_dataflow(dora_run, flow, tmp_path):
    """A module node wires its input; inner nodes read `_mod/<input>` and each other; the
    outer receiver reads `<module>/<output>`; the inner ids are `<module>.<id>`."""
    (tmp_path / "modules").mkdir()
    for script in ("scale.py", "keep_odd.py"):
        shutil.copy(NODES / script, tmp_path / "modules" / script)
    run = dora_run(flow("""
        nodes:
          - id: sender
            path: {compat}/count_out.py
            args: --count 6
            outputs: [value]
          - id: stage
            module: modules/odd_triples.yml
            inputs:
              numbers: sender/value
          - id: receiver
            path: {compat}/list_logger.py
            inputs:
              odd: stage/odd
    """, {"modules/odd_triples.yml": """
        module:
          name: odd_triples
          inputs: [numbers]
          outputs: [odd]
        nodes:
          - id: scale
            path: scale.py
            args: --by 3
            inputs:
              data: _mod/numbers
            outputs: [scaled]
          - id: filter
            path: keep_odd.py
            inputs:
              data: scale/scaled
            outputs: [odd]
    """}))
    assert run.wait(40) == 0, run.text()
    assert logged(run, "receiver") == ["odd [3]", "odd [9]", "odd [15]",
                                       "stopped ALL_INPUTS_CLOSED"]
    assert logged(run, "stage.scale")[:2] == ["scaled to [0]", "scaled to [3]"]
    assert "dropped [0]" in logged(run, "stage.filter")
    graph = dora("graph", str(tmp_path / "dataflow.yml")).stdout
    assert 'subgraph n_stage["stage"]' in graph


# -- python-logging: min_log_level, max_log_size, send_logs_as -------------------------------

def test_python_logging(dora_run, flow, tmp_path):
    run = dora_run(flow("""
        nodes:
          - id: sensor
            path: {compat}/noisy_sensor.py
            min_log_level: info
            max_log_size: "1KB"
            inputs:
              tick: dora/timer/millis/50
            outputs: [reading]
          - id: processor
            path: {compat}/averager.py
            send_logs_as: log_entries
            inputs:
              reading: sensor/reading
            outputs: [average, log_entries]
          - id: monitor
            path: {compat}/log_counter.py
            inputs:
              records: processor/log_entries
              reading: sensor/reading
    """), "--stop-after", "2s")
    assert run.wait(40) == 0, run.text()
    monitor = run.lines("monitor")  # its warnings: none (the averager logs none)
    assert monitor[0] == "caught processor: injected error at reading 3"
    counts = json.loads(monitor[-1].removeprefix("levels "))
    assert counts["error"] == 1 and counts["info"] >= 3
    assert set(counts) == {"info", "error", "readings"}
    assert counts["readings"] > 0
    assert run.lines("sensor") == []  # printed lines are below `info`
    assert not [m for m in logged(run, "sensor") if m.startswith("debug")]
    assert any(m.startswith("warning tick") for m in logged(run, "sensor"))
    assert list((tmp_path / "out").glob("*/sensor.jsonl.1")), "1KB rotates the sensor's file"


# -- log-aggregator: dora/logs, node.log_* ---------------------------------------------------

def test_log_aggregator(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: sensor
            path: {compat}/api_logger.py
            min_log_level: info
            inputs:
              tick: dora/timer/millis/100
            outputs: [reading]
          - id: processor
            path: {compat}/bytes_converter.py
            inputs:
              reading: sensor/reading
          - id: log-viewer
            path: {compat}/all_logs.py
            inputs:
              logs: dora/logs
              warnings: dora/logs/warn/sensor
    """))
    wanted = {"logs [INFO][sensor] odd tick 1", "logs [WARN][sensor] even tick 2",
              "logs [DEBUG][processor] converted 1", "warnings [WARN][sensor] even tick 2"}
    run.wait_for(lambda r: wanted <= set(r.lines("log-viewer")), 30, "the first records")
    run.interrupt()
    assert run.wait(30) == 0, run.text()
    lines = run.lines("log-viewer")
    assert not [line for line in lines if "[log-viewer]" in line]  # never its own
    assert not [line for line in lines if line.startswith("warnings") and "odd" in line]


# -- python-dataflow: a finite pipeline of structs -----------------------------------------

def test_python_dataflow(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: sender
            path: {compat}/count_out.py
            args: --count 3 --output message
            outputs: [message]
          - id: transformer
            path: {compat}/struct_maker.py
            inputs:
              message: sender/message
            outputs: [struct]
          - id: receiver
            path: {compat}/list_logger.py
            inputs:
              message: sender/message
              transformed: transformer/struct
    """))
    assert run.wait(40) == 0, run.text()
    got = logged(run, "receiver")
    assert [m for m in got if m.startswith("message")] == ["message [0]", "message [1]",
                                                           "message [2]"]
    assert [m for m in got if m.startswith("transformed")] == [
        "transformed [{'double': 0, 'label': 'number 0', 'even': True}]",
        "transformed [{'double': 2, 'label': 'number 1', 'even': False}]",
        "transformed [{'double': 4, 'label': 'number 2', 'even': True}]"]
    assert got[-1] == "stopped ALL_INPUTS_CLOSED"


# -- python-echo: a timer, metadata passed through -------------------------------------------

def test_python_echo(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: sender
            path: {compat}/tick_array.py
            inputs:
              tick: dora/timer/millis/200
            outputs: [data]
          - id: echo
            path: {compat}/echo_back.py
            inputs:
              data: sender/data
            outputs: [data]
          - id: checker
            path: {compat}/match_checker.py
            inputs:
              data: echo/data
    """), "--stop-after", "1.5s")
    assert run.wait(40) == 0, run.text()
    lines = run.lines("checker")
    assert lines[-1] == f"total OK {len(lines) - 1}" and len(lines) >= 4
    assert set(lines[:-1]) == {"OK"}


# -- python-async: await node.recv_async() ------------------------------------------------

def test_python_async(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: send_data
            path: {compat}/stamp_sender.py
            args: --count 10
            inputs:
              tick: dora/timer/millis/10
            outputs: [stamp]
          - id: receive_data_with_sleep
            path: {compat}/async_counter.py
            args: --count 10
            inputs:
              tick: send_data/stamp
    """))
    assert run.wait(40) == 0, run.text()
    assert run.lines("receive_data_with_sleep") == ["INPUT:uint64 10", "finished"]


# -- python-drain: drain() then next() to the end -----------------------------------------

def test_python_drain(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: send_data
            path: {compat}/stamp_sender.py
            args: --count 20
            inputs:
              tick: {source: dora/timer/millis/10, queue_size: 100}
            outputs: [stamp]
          - id: receive_data_with_sleep
            path: {compat}/drainer.py
            inputs:
              tick: {source: send_data/stamp, queue_size: 100}
    """))
    assert run.wait(40) == 0, run.text()
    assert run.lines("receive_data_with_sleep") == ["drained 20 inputs", "then None None None"]


# -- python-log: Python logging levels, print, the end of the stream ----------------------

def test_python_log(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: send_data
            path: {compat}/stamp_sender.py
            args: --count 3
            inputs:
              tick: dora/timer/millis/10
            outputs: [stamp]
          - id: receive_data_with_sleep
            path: {compat}/level_logger.py
            inputs:
              tick: send_data/stamp
    """))
    assert run.wait(40) == 0, run.text()
    records = [(r["level"], r["msg"]) for r in run.events("node_log", "receive_data_with_sleep")]
    assert records == [("info", "value uint64")] * 3 + [("info", "done")]  # no debug
    assert run.lines("receive_data_with_sleep") == ["printed"] * 3


# -- python-concurrent-rw: a cycle, a reader thread and a publisher thread -------------------

def test_python_concurrent_rw(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: node1
            path: {compat}/threaded_peer.py
            inputs:
              data: node2/data
            outputs: [data]
          - id: node2
            path: {compat}/threaded_peer.py
            inputs:
              data: node1/data
            outputs: [data]
    """), "--stop-after", "1.5s")
    assert run.wait(40) == 0, run.text()
    for node in ("node1", "node2"):
        assert run.lines(node)[:2] == ["got uint64", "got uint64"]
        assert logged(run, node)[-2:] == ["reader done", "main done"]


# -- python-multiple-arrays: a struct of numpy images --------------------------------------

def test_python_multiple_arrays(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: sender
            path: {compat}/image_packer.py
            inputs:
              tick: dora/timer/millis/300
            outputs: [packed]
          - id: receiver
            path: {compat}/image_unpacker.py
            inputs:
              packed: sender/packed
    """), "--stop-after", "1s")
    assert run.wait(40) == 0, run.text()
    lines = run.lines("receiver")
    assert lines and set(lines) == {f"(48, 64, 3) 0 (48, 64, 3) {48 * 64 * 3 * 200} "
                                    "[[0.5, 1.5, 2.5]]"}


# -- python-recv-async: recv_async(timeout), send from async, typed keys -------------------

def test_python_recv_async(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: sender
            path: {compat}/int64_sender.py
            outputs: [numbers]
            output_types: {numbers: std/core/v1/Int64}
          - id: async-receiver
            path: {compat}/async_echo.py
            inputs:
              numbers: sender/numbers
            input_types: {numbers: std/core/v1/Int64}
            outputs: [echo]
            output_types: {echo: std/core/v1/Int64}
    """))
    assert run.wait(40) == 0, run.text()
    assert run.lines("async-receiver") == ["echoed [0, 1, 2, 3, 4, 5]"]
    assert "'output_types' is accepted but has no effect here" in run.text()


# -- streaming-example: a hz timer, per-token metadata -------------------------------------

def test_streaming_example(dora_run, flow):
    run = dora_run(flow("""
        nodes:
          - id: prompt-source
            path: {compat}/prompter.py
            inputs:
              tick: dora/timer/hz/5
            outputs: [prompt]
          - id: generator
            path: {compat}/token_stream.py
            inputs:
              prompt: prompt-source/prompt
            outputs: [tokens]
          - id: sink
            path: {compat}/reassembler.py
            inputs:
              tokens: generator/tokens
    """))
    run.wait_for(lambda r: len(r.lines("sink")) >= 3, 30, "three complete answers")
    run.interrupt()
    assert run.wait(30) == 0, run.text()
    assert run.lines("sink")[:3] == ["complete: alpha beta gamma", "complete: one two",
                                     "complete: alpha beta gamma"]


# -- typed-dataflow: type annotations, dora validate -----------------------------------------

def test_typed_dataflow(dora_run, flow):
    descriptor = flow("""
        nodes:
          - id: sensor
            path: {compat}/float_sensor.py
            outputs: [reading]
            output_types: {reading: std/core/v1/Float64}
          - id: processor
            path: {compat}/labeler.py
            inputs: {reading: sensor/reading}
            input_types: {reading: std/core/v1/Float64}
            outputs: [label]
            output_types: {label: std/core/v1/String}
          - id: sink
            path: {compat}/printer.py
            inputs: {result: processor/label}
            input_types: {result: std/core/v1/String}
    """)
    checked = dora("validate", str(descriptor))
    assert checked.returncode == 0 and checked.stdout.endswith("ok (3 nodes)\n")
    run = dora_run(descriptor)
    assert run.wait(40) == 0, run.text()
    assert run.lines("sink") == ["LOW: 17.0", "OK: 19.5", "OK: 22.0", "HIGH: 24.5",
                                 "stop ALL_INPUTS_CLOSED"]
