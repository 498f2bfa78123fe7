"""The node API over real zenoh between real processes."""

from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def test_node_api_values_metadata_queues_timers_and_stop(dora_run, dataflow, tmp_path):
    run = dora_run(dataflow("""
        nodes:
          - id: producer
            path: {nodes}/api_producer.py
            outputs: [raw, arrow, burst]
          - id: consumer
            path: {nodes}/api_consumer.py
            inputs:
              raw: producer/raw
              arrow: producer/arrow
              burst: {source: producer/burst, queue_size: 2}
    """))
    assert run.wait(30) == 0, run.text()
    out = run.lines("consumer")
    assert "BURST [48, 49]" in out  # drop_oldest kept the newest two
    assert "RAW b'hello' [('seq', 1), ('tags', ['a', 'b'])]" in out
    assert "RAW b'bytearray' []" in out and "RAW b'memoryview' []" in out
    assert "ARROW Int64Array [1, 2, 3]" in out
    assert "CLOSED ['arrow', 'burst', 'raw'] STOP ['ALL_INPUTS_CLOSED']" in out
    assert "ENDED None None []" in out
    undeclared = next(line for line in run.lines("producer") if line.startswith("UNDECLARED"))
    assert "no output 'nope'" in undeclared and "raw, arrow, burst" in undeclared
    logs = {(r["level"], r["msg"]) for r in run.events("node_log", "consumer")}
    assert ("info", "consumer ready") in logs
    assert ("warning", "a warning from the consumer") in logs
    files = list((tmp_path / "out").glob("*/consumer.jsonl"))
    assert len(files) == 1
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert {"node_started", "node_output", "node_log", "node_exited"} <= {r["event"] for r in records}
    assert all({"timestamp", "level", "event", "dataflow", "node"} <= set(r) for r in records)


def test_timers_recv_async_and_next_timeout(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: probe
            path: {nodes}/timer_probe.py
            inputs: {slow: dora/timer/hz/3}
    """))
    run.wait_for(lambda r: any(line.startswith("TIMEOUT") for line in r.lines("probe")), 20,
                 "three ticks and a timeout")
    run.interrupt()
    assert run.wait(20) == 0
    assert run.lines("probe") == ["TICKS 3 VALUE b''", "TIMEOUT None", "STOP MANUAL"]


def test_an_undecodable_message_is_an_error_event_and_the_input_lives_on(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: bad, path: {nodes}/bad_arrow_producer.py, outputs: [out]}
          - {id: sink, path: {nodes}/event_printer.py, inputs: {x: bad/out}}
    """))
    assert run.wait(30) == 0, run.text()
    assert run.lines("sink")[:2] == ["ERROR x", "INPUT x"]


def test_an_undecodable_last_message_does_not_hold_up_node_restarted(dora_run, dataflow):
    """It did, for good: the message was accepted and never queued, and NODE_RESTARTED
    waited for it to be, blocking the next incarnation's first message behind it."""
    run = dora_run(dataflow("""
        nodes:
          - {id: bad, path: {nodes}/bad_arrow_producer.py, args: --bad-last --fail-once,
             outputs: [out], restart: {policy: transient, backoff: {initial: 50ms}}}
          - {id: sink, path: {nodes}/event_printer.py, inputs: {x: bad/out}}
    """))
    assert run.wait(30) == 0, run.text()
    assert run.lines("sink") == ["INPUT x", "ERROR x", "NODE_RESTARTED bad", "INPUT x",
                                 "ERROR x", "INPUT_CLOSED x", "STOP ALL_INPUTS_CLOSED"]
    assert run.events("messages_lost") == []  # the node was told: nothing lost


def test_downstream_nodes_hear_of_an_upstream_restart(dora_run, dataflow):
    run = dora_run(dataflow("""
        supervision: {auto_shutdown: never}
        nodes:
          - id: flaky
            path: {nodes}/worker.py
            args: --crash-after 0.5 --crash-times 1
            outputs: [out]
            restart: {policy: permanent, backoff: {initial: 50ms}}
          - id: watcher
            path: {nodes}/event_printer.py
            args: --quiet-inputs
            inputs: {x: flaky/out}
    """))
    run.wait_for(lambda r: "NODE_RESTARTED flaky" in r.lines("watcher"), 20,
                 "the watcher to get NODE_RESTARTED")
    assert not any(line.startswith("INPUT_CLOSED") for line in run.lines("watcher"))
    run.interrupt()
    assert run.wait(20) == 0


def test_nodes_die_with_a_killed_coordinator(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: a, path: {nodes}/worker.py, outputs: [out]}
          - {id: b, path: {nodes}/worker.py, inputs: {x: a/out}}
    """))
    run.wait_for(lambda r: all(any(line.startswith("START") for line in r.lines(n))
                               for n in "ab"), 20, "both nodes to start")
    nodes = psutil.Process(run.proc.pid).children()
    assert len(nodes) == 2
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(5)
    wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                               for p in nodes), 3, "the nodes to exit after the coordinator")


@pytest.mark.parametrize("inputs", ["{a: src/out}", "{a: src/out, b: src/out}"],
                         ids=["one input", "two inputs"])
def test_a_node_without_pyarrow_receives_bytes(dora_run, dataflow, inputs):
    """pyarrow is optional: bytes never need it, on either way inputs are read."""
    run = dora_run(dataflow(f"""
        nodes:
          - {{id: src, path: {{nodes}}/counter_source.py, args: --count 50, outputs: [out]}}
          - {{id: sink, path: {{nodes}}/no_arrow_sink.py, inputs: {inputs}}}
    """))
    assert run.wait(30) == 0, run.text()
    expected = 50 * inputs.count("src/out")
    assert run.lines("sink") == [f"TAKEN {expected}"], run.text()
