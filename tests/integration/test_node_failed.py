"""NODE_FAILED between real processes: an upstream that fails for good is reported, with
the inputs it feeds and why, before those inputs close."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)


def test_an_upstream_that_fails_for_good_is_reported_before_its_inputs_close(
        dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: src
            path: {nodes}/worker.py
            args: --crash-after 0.3 --code 3
            restart_policy: never
            outputs: [out]
          - id: sink
            path: {nodes}/event_printer.py
            args: --quiet-inputs
            inputs: {x: src/out, y: src/out}
    """))
    assert run.wait(30) == 1, run.text()
    assert run.lines("sink") == ["NODE_FAILED src ['x', 'y'] exited with code 3",
                                 "INPUT_CLOSED x", "INPUT_CLOSED y", "STOP ALL_INPUTS_CLOSED"]


def test_a_restart_is_node_restarted_and_running_out_of_restarts_is_node_failed(
        dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: src
            path: {nodes}/worker.py
            args: --crash-after 0.3 --code 3
            restart_policy: on-failure
            max_restarts: 1
            restart_window: 60
            outputs: [out]
          - id: sink
            path: {nodes}/event_printer.py
            args: --quiet-inputs
            inputs: {x: src/out}
    """))
    assert run.wait(30) == 1, run.text()
    assert run.lines("sink") == ["NODE_RESTARTED src",
                                 "NODE_FAILED src ['x'] exited with code 3",
                                 "INPUT_CLOSED x", "STOP ALL_INPUTS_CLOSED"]
