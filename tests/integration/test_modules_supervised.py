"""A module is a group supervisor with real processes: its strategy restarts its own nodes
only, and when it gives up, its parent hears of it."""

from __future__ import annotations

import re
import textwrap

import pytest

from tests.conftest import NODES

pytestmark = pytest.mark.timeout(60)

PAIR = """
    module:
      name: pair
      outputs: [out]
      strategy: one_for_all
      max_restarts: 1
      max_seconds: 60
    nodes:
      - id: flaky
        path: {nodes}/worker.py
        args: --crash-after 0.3 --crash-times {crashes}
        restart: {policy: permanent, backoff: {initial: 50ms, jitter: 0}}
      - id: steady
        path: {nodes}/worker.py
        restart: {policy: permanent, backoff: {initial: 50ms, jitter: 0}}
        outputs: [out]
"""


def starts(run, node: str) -> list[int]:
    return [int(re.search(r"pid=(\d+)", line).group(1)) for line in run.lines(node)
            if line.startswith("START")]


def write_module(tmp_path, crashes: int) -> None:
    (tmp_path / "pair.yml").write_text(textwrap.dedent(PAIR).replace(
        "{nodes}", str(NODES)).replace("{crashes}", str(crashes)))


def test_a_modules_strategy_restarts_its_nodes_and_leaves_the_others_alone(
        dora_run, dataflow, tmp_path):
    write_module(tmp_path, crashes=1)
    run = dora_run(dataflow("""
        supervision: {auto_shutdown: never}
        nodes:
          - id: outside
            path: {nodes}/worker.py
          - id: pair
            module: pair.yml
    """))
    # both restarted nodes print their START line, in whichever order they get the CPU
    run.wait_for(lambda r: len(starts(r, "pair.steady")) == 2
                 and len(starts(r, "pair.flaky")) == 2, 30, "the module's restart")
    run.interrupt()
    assert run.wait(30) == 0, run.text()
    assert len(starts(run, "pair.flaky")) == 2 and len(starts(run, "outside")) == 1
    assert [r["node"] for r in run.events("node_exited") if r["reason"] == "sibling"] == \
        ["pair.steady"]
    assert [r["supervisor"] for r in run.events("restart_scheduled")] == ["pair"]


def test_a_module_that_gives_up_escalates_to_the_dataflow(dora_run, dataflow, tmp_path):
    write_module(tmp_path, crashes=10)
    run = dora_run(dataflow("""
        supervision: {max_restarts: 0, max_seconds: 60}
        nodes:
          - id: pair
            module: pair.yml
            max_restarts: 1
    """))
    assert run.wait(40) == 1, run.text()
    gave_up = [r["supervisor"] for r in run.events("supervisor_gave_up")]
    assert gave_up == ["pair", "dataflow"]
