"""A running dataflow end to end: real processes, real zenoh, real signals."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT, build_c_operator

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("descriptor", ["mini-dataflow.yml", "mini-dataflow-1x.yml"])
def test_mini_dataflow_finishes_by_itself(dora_run, descriptor):
    with_operators = descriptor == "mini-dataflow.yml"  # its runtime-node runs a C operator
    if with_operators:
        build_c_operator()
    run = dora_run(ROOT / "examples" / descriptor)
    assert run.wait(30) == 0, run.text()
    lines = run.lines("logger")
    assert sum(line.startswith("logger: time = ") for line in lines) == 100
    assert any(line.startswith("logger: random = ") for line in lines)
    assert "logger: stop (ALL_INPUTS_CLOSED)" in lines
    exits = {r["node"]: r for r in run.events("node_exited")}
    nodes = {"timer", "rate-limited-timer", "random", "logger"}
    if with_operators:
        nodes.add("runtime-node")
        assert sum(line.startswith("logger: counter = ") for line in lines) == 100
        assert sum(line.startswith("logger: status = ") for line in lines) == 100
    assert set(exits) == nodes
    assert all(r["reason"] == "normal" and r["code"] == 0 for r in exits.values()), exits
    assert run.events("dataflow_finished")[0]["ok"] is True


def test_ctrl_c_mid_stream_loses_no_message(dora_run, dataflow):
    descriptor = dataflow("""
        nodes:
          - id: source
            path: {nodes}/counter_source.py
            outputs: [out]
          - id: relay
            path: {nodes}/relay.py
            inputs: {in: source/out}
            outputs: [out]
          - id: sink
            path: {nodes}/count_sink.py
            inputs: {in: relay/out}
    """)
    run = dora_run(descriptor)
    run.wait_for(lambda r: "PROGRESS 1000" in r.lines("sink"), 20, "the sink to receive data")
    run.interrupt()
    assert run.wait(20) == 0, run.text()
    sent = next(int(line.split()[1]) for line in run.lines("source") if line.startswith("SENT"))
    received = next(line for line in run.lines("sink") if line.startswith("RECEIVED"))
    assert sent > 1000
    assert received == f"RECEIVED {sent} GAPS 0"
    assert run.lines("sink")[-3:-1] == ["CLOSED in", "STOP ALL_INPUTS_CLOSED"]


def test_run_builds_the_c_operator_of_a_fresh_checkout(dora_run, tmp_path):
    """`dora run` runs `build:` first, so the example works before anything was built."""
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and cc are needed to build examples/c-operator")
    copy = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", copy, ignore=shutil.ignore_patterns(
        "*.so", "target", "out", "__pycache__"))
    shutil.copytree(ROOT / "dora_api" / "include", tmp_path / "dora_api" / "include")
    assert not (copy / "c-operator" / "operator.so").exists()
    run = dora_run(copy / "mini-dataflow.yml")
    assert run.wait(60) == 0, run.text()
    assert "dora: building node 'runtime-node': make -s -C c-operator" in run.text()
    assert sum(line.startswith("logger: counter = ") for line in run.lines("logger")) == 100
