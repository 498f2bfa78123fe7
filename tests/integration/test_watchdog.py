"""The watchdog on real nodes: a main loop that stops taking events is replaced; one that
is slow but alive, or that said it blocks on purpose, is left alone."""

from __future__ import annotations

import os
import signal
from datetime import datetime

from tests.conftest import NODES


def stamp(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


def lines(run, node: str, word: str) -> list[str]:
    return [line for line in run.lines(node) if line.startswith(word)]


def sleepy(dataflow, args: str, watchdog: str = "1s"):
    return dataflow(f"""
        supervision: {{auto_shutdown: never}}
        nodes:
          - id: sleepy
            path: {{nodes}}/sleepy.py
            args: {args}
            inputs: {{tick: dora/timer/millis/50}}
            health: {{watchdog: {watchdog}}}
            restart: {{policy: permanent, backoff: {{initial: 10ms, jitter: 0}}}}
    """)


def test_a_node_blocked_with_events_waiting_is_replaced_within_one_and_a_half_watchdogs(
        dora_run, dataflow):
    run = dora_run(sleepy(dataflow, "--block-after 0.5"))
    run.wait_for(lambda r: len(r.events("node_started", "sleepy")) == 2, 30, "a replacement")
    blocked = float(lines(run, "sleepy", "BLOCK")[0].split()[1])
    replaced = stamp(run.events("node_started", "sleepy")[1])
    assert 1.0 <= replaced - blocked < 1.5
    record = run.events("watchdog", "sleepy")[0]
    assert (record["reason"], record["limit"], record["unit"], record["threshold"],
            record["enforced_by"]) == ("watchdog", "watchdog", "s", 1.0, "heartbeat")
    assert 1.0 <= record["measured"] < 1.5
    assert run.events("node_exited", "sleepy")[0]["reason"] == "watchdog"
    run.wait_for(lambda r: lines(r, "sleepy", "EVENT")
                 and "restart=1" in lines(r, "sleepy", "START")[-1], 30,
                 "the new incarnation to handle events")
    run.interrupt()
    assert run.wait(20) == 0


def test_a_slow_but_alive_main_loop_is_left_alone(dora_run, dataflow):
    run = dora_run(sleepy(dataflow, "--slow 0.5 --every 1"))
    run.wait_for(lambda r: len(lines(r, "sleepy", "EVENT")) >= 8, 30,
                 "four seconds of slow events (four watchdog periods)")
    assert len(run.events("node_started", "sleepy")) == 1
    assert not run.events("watchdog")
    run.interrupt()
    assert run.wait(20) == 0


def test_a_node_that_said_it_blocks_on_purpose_is_left_alone(dora_run, dataflow):
    descriptor = sleepy(dataflow, "--block-after 0.3 --excuse", watchdog="300ms")
    descriptor.write_text(descriptor.read_text() + f"""
  - id: clock
    path: {NODES}/worker.py
    args: --print-ticks
    inputs: {{tick: dora/timer/millis/100}}
""")
    run = dora_run(descriptor)
    run.wait_for(lambda r: lines(r, "sleepy", "BLOCK"), 30, "the block")
    blocked = float(lines(run, "sleepy", "BLOCK")[0].split()[1])
    run.wait_for(lambda r: any(stamp(rec) > blocked + 1.5
                               for rec in r.events("node_output", "clock")), 30,
                 "the clock node to tick five watchdog periods after the block")
    assert len(run.events("node_started", "sleepy")) == 1 and not run.events("watchdog")
    run.interrupt()
    assert run.wait(20) == 0


def test_a_stopped_node_is_replaced_within_its_lease_and_half_a_second(dora_run, dataflow):
    run = dora_run(dataflow("""
        supervision: {auto_shutdown: never}
        nodes:
          - {id: frozen, path: {nodes}/worker.py, health: {lease: 1s},
             restart: {policy: permanent, backoff: {initial: 10ms, jitter: 0}}}
    """))
    run.wait_for(lambda r: lines(r, "frozen", "START"), 30, "the node to start")
    pid = run.events("node_started", "frozen")[0]["pid"]
    os.kill(pid, signal.SIGSTOP)
    stopped = datetime.now().timestamp()
    run.wait_for(lambda r: len(r.events("node_started", "frozen")) == 2, 30, "a restart")
    assert stamp(run.events("node_started", "frozen")[1]) - stopped < 1.5
    record = run.events("liveliness_lost", "frozen")[0]
    assert (record["limit"], record["threshold"], record["enforced_by"]) \
        == ("lease", 1.0, "sampling")
    assert run.events("node_exited", "frozen")[0]["reason"] == "liveliness_lost"
    run.interrupt()
    assert run.wait(20) == 0
