"""Input that breaks the contract is reported (ERROR event, warning record), never raised.

Real zenoh sessions and real processes; a second session plays the misbehaving peer.
"""

from __future__ import annotations

import time

import pytest
import structlog
import zenoh

from dora_api import Node, contract
from dora_api.contract import Endpoints, InputConfig, Namespace, NodeConfig
from dora_supervisor.zenoh_link import ZenohLink
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def peer_session(connect: str) -> zenoh.Session:
    return zenoh.open(contract.zenoh_config([], [connect]))


def until_event(node: Node, send, wanted, timeout: float = 10.0) -> dict:
    """Send (again, until routes exist) and return the first event `wanted` accepts."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        send()
        event = node.next(timeout=0.2)
        while event is not None:
            if wanted(event):
                return event
            seen.append(event)
            event = node.next(timeout=0)
    raise AssertionError(f"timed out after {timeout}s; events seen: {seen}")


def test_a_node_turns_bad_control_input_into_error_events(tmp_path):
    listen = f"unixsock-stream/{tmp_path}/node.sock"
    ns = Namespace("", "u")
    config = NodeConfig(
        dataflow_id="u", node_id="n", prefix="", outputs=[], consumers={},
        inputs={"x": InputConfig("up/out", None, "backpressure")},
        endpoints=Endpoints([listen], []), wait_for=[], incarnation=0, restart_count=0,
        lease_s=10.0, descriptor=str(tmp_path / "d.yml"), base_dir=str(tmp_path),
        operators=[])
    node = Node.from_config(config)
    session = peer_session(listen)
    try:
        error = until_event(node, lambda: session.put(ns.to("n"), b'{"t": "explode"}'),
                            lambda e: e["type"] == "ERROR")
        assert "unknown control message" in error["error"] and error["kind"] == "dora"
        # each step waits for its own event: repeated sends may leave duplicates behind

        marker = until_event(node, lambda: session.put(ns.output("up", "out"), b"",
                                                       attachment=b"Fx"),
                             lambda e: e["type"] == "ERROR" and e["id"] == "x")
        assert "end-of-stream marker" in marker["error"]

        token = session.liveliness().declare_token(ns.alive("ghost", "x"))
        bad_key = until_event(node, lambda: None, lambda e: e["type"] == "ERROR"
                              and "liveliness" in e["error"])
        assert "not a liveliness key" in bad_key["error"] and "alive/ghost/x" in bad_key["error"]
        token.undeclare()

        restarted = until_event(
            node, lambda: session.put(ns.to_all, contract.encode_control(
                contract.RestartedMessage("up"))), lambda e: e["type"] == "NODE_RESTARTED")
        assert restarted["id"] == "up"

        stop = until_event(node, lambda: session.put(
            ns.to("n"), contract.encode_control(contract.StopMessage())),
            lambda e: e["type"] == "STOP")
        assert stop["id"] == "MANUAL"
    finally:
        session.close()
        node.close()


def test_the_supervisor_link_warns_about_bad_liveliness_keys_and_sends_typed_messages():
    ns = Namespace("lab", "u")
    changes = []
    with structlog.testing.capture_logs() as records:
        link = ZenohLink(ns, lambda node, incarnation, alive: changes.append(
            (node, incarnation, alive)))
        session = peer_session(link.endpoint)
        try:
            received = []
            subscribers = [session.declare_subscriber(key, lambda s: received.append(
                (str(s.key_expr), contract.decode_control(s.payload.to_bytes()))))
                for key in (ns.to("a"), ns.to_all)]
            liveliness = session.liveliness()
            tokens = [liveliness.declare_token(ns.alive("bad", "x")),
                      liveliness.declare_token(ns.alive("good", 3))]
            wait_until(lambda: ("good", 3, True) in changes, 10, "the good token")
            wait_until(lambda: any(r["event"] == "invalid_liveliness_key" for r in records),
                       10, "a warning about the bad token")
            assert [c for c in changes if c[0] == "bad"] == []
            warning = next(r for r in records if r["event"] == "invalid_liveliness_key")
            assert warning["log_level"] == "warning" and "alive/bad/x" in warning["error"]

            def sent() -> bool:
                link.send_stop("a")
                link.notify_restarted("b")
                return {(ns.to("a"), contract.StopMessage()),
                        (ns.to_all, contract.RestartedMessage("b"))} <= set(received)

            wait_until(sent, 10, "both control messages to arrive")
            for token in tokens:
                token.undeclare()
            del subscribers
        finally:
            session.close()
            link.close()


def test_an_unknown_pipe_note_is_a_warning_record_and_a_broken_log_line_plain_output(
        dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: rogue
            path: {nodes}/bad_note.py
    """))
    assert run.wait(30) == 0, run.text()
    warning = next(r for r in run.records() if r.get("event") == "invalid_control_note")
    assert warning["level"] == "warning" and warning["node"] == "rogue"
    assert "unknown control note: 'X 1'" in warning["error"]
    assert "WROTE" in run.lines("rogue")
    assert contract.LOG_MARK + " broken" in run.lines("rogue")
