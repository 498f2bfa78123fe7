"""NODE_FAILED: the tree decides when an upstream failed for good, and a node always shows
NODE_FAILED before the INPUT_CLOSED of the inputs that upstream feeds."""

from __future__ import annotations

import pytest

from dora_api import failures
from dora_api.events import EventQueue
from dora_api.failures import NO_REPORT, FailedUpstreams
from dora_supervisor.policy import ExitReason, describe_failure
from dora_supervisor.tree_model import CloseOutputs, NotifyFailed, StopDataflow
from tests.conftest import wait_until
from tests.unit.tree_sim import Sim

PIPE = """
    supervision: {auto_shutdown: never}
    nodes:
      - {id: src, path: s.py, outputs: [o], %s}
      - {id: sink, path: k.py, inputs: {x: src/o}}
"""


def told(sim: Sim) -> list:
    return [a for a in sim.actions if isinstance(a, NotifyFailed | CloseOutputs)]


# -- the tree's decision ------------------------------------------------------------------

def test_a_crash_that_is_not_restarted_is_reported_before_the_outputs_close():
    sim = Sim(PIPE % "restart_policy: never")
    sim.exit("src", 3)
    assert told(sim)[:2] == [NotifyFailed("src", "exited with code 3"),
                             CloseOutputs("src", 1, failed=True)]


def test_a_normal_finish_closes_the_outputs_without_a_failure():
    sim = Sim(PIPE % "restart_policy: never")
    sim.exit("src", 0)
    assert told(sim)[0] == CloseOutputs("src", 1, failed=False)
    assert not [a for a in sim.actions if isinstance(a, NotifyFailed)]


def test_a_restarted_crash_is_no_failure_until_the_restarts_are_used_up():
    sim = Sim(PIPE % "restart_policy: on-failure, max_restarts: 1, restart_window: 60")
    sim.exit("src", None, 9)
    sim.advance(1)
    assert told(sim) == [] and sim.restarted == ["src"]
    sim.exit("src", None, 9)
    assert told(sim)[:2] == [NotifyFailed("src", "killed by signal 9"),
                             CloseOutputs("src", None, failed=True)]


def test_a_stop_is_no_failure():
    sim = Sim(PIPE % "restart_policy: never")
    sim.post(StopDataflow())
    sim.advance(10)
    assert sim.result is not None and sim.result.ok
    assert not [a for a in sim.actions if isinstance(a, NotifyFailed)]


@pytest.mark.parametrize("reason, code, signal, text", [
    (ExitReason.EXIT_CODE, 3, None, "exited with code 3"),
    (ExitReason.SIGNAL, None, 11, "killed by signal 11"),
    (ExitReason.MEMORY_LIMIT, None, 9, "killed: over its memory limit"),
    (ExitReason.LIVELINESS_LOST, None, 9, "lost its liveliness (frozen, cut off or gone)"),
    (ExitReason.WATCHDOG, None, 9, "hung: no event handled within its watchdog"),
])
def test_a_failure_in_words(reason, code, signal, text):
    assert describe_failure(reason, code, signal) == text


# -- the node's order of events ---------------------------------------------------------------

class Upstreams:
    """FailedUpstreams with its closings recorded as INPUT_CLOSED events."""

    def __init__(self):
        self.events = EventQueue()
        sources = {"x": ("src", "o"), "y": ("src", "p"), "z": ("other", "o")}

        def close(node: str, flushed) -> None:
            for input_id, (upstream, _) in sources.items():
                if upstream == node:
                    self.events.put({"type": "INPUT_CLOSED", "id": input_id})

        self.failed = FailedUpstreams(sources, self.events.put, close)

    def seen(self) -> list[tuple]:
        return [(e["type"], e["id"], e.get("value")) for e in self.events.drain()]


AFFECTED = {"source_node_id": "src", "error": "exited with code 3",
            "affected_input_ids": ["x", "y"]}


def test_report_first_then_token():
    up = Upstreams()
    up.failed.reported("src", "exited with code 3")
    up.failed.upstream_finished("src", None, True)
    assert up.seen() == [("NODE_FAILED", "src", AFFECTED), ("INPUT_CLOSED", "x", None),
                         ("INPUT_CLOSED", "y", None)]


def test_token_first_waits_for_the_report():
    up = Upstreams()
    up.failed.upstream_finished("src", None, True)
    assert up.seen() == []
    up.failed.reported("src", "exited with code 3")
    assert up.seen() == [("NODE_FAILED", "src", AFFECTED), ("INPUT_CLOSED", "x", None),
                         ("INPUT_CLOSED", "y", None)]


def test_a_report_that_never_comes_still_announces_then_closes(monkeypatch):
    monkeypatch.setattr(failures, "REPORT_WAIT_S", 0.05)
    up = Upstreams()
    up.failed.upstream_finished("src", None, True)
    events = wait_until(up.seen, 5, "the closing after the report wait")
    assert events[0][:2] == ("NODE_FAILED", "src") and events[0][2]["error"] == NO_REPORT
    assert events[1:] == [("INPUT_CLOSED", "x", None), ("INPUT_CLOSED", "y", None)]
    up.failed.reported("src", "late")  # once only
    assert up.seen() == []


def test_a_normal_finish_closes_at_once_and_reports_of_other_nodes_are_not_shown():
    up = Upstreams()
    up.failed.upstream_finished("other", None, False)
    up.failed.reported("stranger", "exited with code 1")
    assert up.seen() == [("INPUT_CLOSED", "z", None)]
