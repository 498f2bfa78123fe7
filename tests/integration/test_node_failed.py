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


def test_a_consumer_restarted_after_its_producer_finished_closes_its_inputs_at_once(
        dora_run, dataflow):
    """Its producer's end-of-stream markers went out before it subscribed: waiting for them
    (up to 5 s) would only delay INPUT_CLOSED and its STOP."""
    run = dora_run(dataflow("""
        nodes:
          - id: src
            path: {nodes}/seq_source.py
            args: --count 4
            inputs: {tick: dora/timer/millis/100}
            outputs: [out]
            significant: false  # the dataflow ends with the sink's last incarnation
          - id: sink
            path: {nodes}/late_consumer.py
            inputs: {x: src/out}
            restart: {policy: transient, backoff: {initial: 1500ms, jitter: 0}}
    """))
    assert run.wait(30) == 0, run.text()
    exits = [r["reason"] for r in run.events("node_exited", "sink")]
    started = run.events("node_started", "sink")[-1]["timestamp"]
    src_exit = run.events("node_exited", "src")[0]["timestamp"]
    assert exits == ["exit_code", "normal"] and src_exit < started, run.text()
    lines = [line.split() for line in run.lines("sink")]
    assert [words[:4] for words in lines] == [
        ["1", "INPUT_CLOSED", "x", "taken=0"], ["1", "STOP", "ALL_INPUTS_CLOSED", "taken=0"]]
    waited = float(lines[0][4].removeprefix("after="))
    assert waited < 2.5, f"INPUT_CLOSED came from the 5 s safety timer: {lines}"
