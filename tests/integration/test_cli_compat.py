"""dora-rs's CLI habits: `dora run --stop-after`, `dora validate`, `--uv`."""

from __future__ import annotations

import time

import pytest

from tests.conftest import dora

pytestmark = pytest.mark.timeout(60)

TICKING = """
    nodes:
      - id: ticker
        path: {nodes}/worker.py
        args: --print-ticks
        inputs: {tick: dora/timer/millis/100}
"""


def test_stop_after_stops_a_dataflow_that_never_ends_gracefully_and_exits_0(
        dora_run, dataflow):
    started = time.monotonic()
    run = dora_run(dataflow(TICKING), "--stop-after", "1.5s")
    assert run.wait(30) == 0, run.text()
    assert time.monotonic() - started >= 1.5
    assert [r["reason"] for r in run.events("dataflow_stopping")] == ["stop_after"]
    assert run.events("node_exited", "ticker")[0]["reason"] == "shutdown"
    assert run.lines("ticker")[-1] == "END"  # it got STOP and left by itself


def test_stop_after_a_dataflow_that_already_ended_changes_nothing(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: quick, path: {nodes}/worker.py, args: --exit-after 0.2}
    """), "--stop-after", "30s")
    assert run.wait(20) == 0, run.text()  # the pending stop does not keep it running
    assert [r["reason"] for r in run.events("dataflow_stopping")] == ["auto_shutdown"]


def test_a_stop_after_that_is_no_duration_is_a_usage_error(dataflow):
    result = dora("run", str(dataflow(TICKING)), "--stop-after", "soon")
    assert result.returncode == 2
    assert "argument --stop-after: invalid duration value: 'soon'" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_is_check_by_its_dora_rs_name(dataflow):
    good, bad = dataflow(TICKING), dataflow("nodes: [{id: x}]", "bad.yml")
    assert dora("validate", str(good)).stdout == dora("check", str(good)).stdout
    assert dora("validate", str(good)).returncode == 0
    result = dora("validate", str(bad))
    assert result.returncode == 1 and "has nothing to run" in result.stderr


def test_uv_is_accepted_by_run_and_build_and_says_what_it_does(dataflow, tmp_path):
    descriptor = dataflow("""
        nodes:
          - {id: quick, path: {nodes}/worker.py, args: --exit-after 0.1, build: echo built}
    """)
    assert dora("build", str(descriptor), "--uv").returncode == 0
    result = dora("run", str(descriptor), "--uv", "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    for command in ("run", "build"):
        assert "ignored: uv is not used" in " ".join(dora(command, "--help").stdout.split())
