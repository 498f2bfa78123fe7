"""The node's event queue: order, backpressure, drop-oldest, STOP and close, with real threads."""

from __future__ import annotations

import threading
import time

import pytest

from dora_api.events import DEFAULT_BACKPRESSURE_DEPTH, EventQueue
from tests.conftest import wait_until


def event(input_id: str, n: int) -> dict:
    return {"type": "INPUT", "id": input_id, "value": n, "metadata": {}, "kind": "dora"}


def test_events_come_out_in_order_across_inputs_and_control():
    events = EventQueue()
    events.put_input(event("a", 1), None, False)
    events.put({"type": "NODE_RESTARTED", "id": "up"})
    events.put_input(event("b", 2), 2, True)
    assert [e.get("value") for e in events.drain()] == [1, None, 2]
    assert events.get(0) is None and events.empty()


def test_a_full_backpressure_input_blocks_its_producer_until_the_consumer_takes():
    events = EventQueue()
    produced = []

    def producer():
        for n in range(10):
            events.put_input(event("a", n), 3, False)
            produced.append(n)

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    wait_until(lambda: "a" in events._gates and events._gates["a"].waiting, 5,
               "the producer blocked on the full input")
    assert len(produced) == 3  # blocked, nothing dropped
    assert [events.get(1).get("value") for _ in range(10)] == list(range(10))
    thread.join(5)
    assert not thread.is_alive()


def test_the_default_backpressure_depth_is_bounded():
    events = EventQueue()
    done = threading.Event()

    def producer():
        for n in range(DEFAULT_BACKPRESSURE_DEPTH + 1):
            events.put_input(event("a", n), None, False)
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.2)
    assert events.get(1)["value"] == 0
    assert [e["value"] for e in events.drain()] == list(range(1, DEFAULT_BACKPRESSURE_DEPTH))
    assert done.wait(5) and events.get(1)["value"] == DEFAULT_BACKPRESSURE_DEPTH


def test_drop_oldest_keeps_the_newest_and_never_blocks():
    events = EventQueue()
    for n in range(100):
        events.put_input(event("cam", n), 2, True)
    events.put_input(event("other", 7), None, False)
    assert [e["value"] for e in events.drain()] == [98, 99, 7]
    events.put_input(event("cam", 100), 2, True)
    assert events.get(0)["value"] == 100


def test_stop_ends_the_stream_and_releases_blocked_producers():
    events = EventQueue()
    events.put_input(event("a", 0), 1, False)
    blocked = threading.Thread(target=events.put_input, args=(event("a", 1), 1, False),
                               daemon=True)
    blocked.start()
    events.put({"type": "STOP", "id": "MANUAL"})
    assert events.get(1)["value"] == 0
    assert events.get(1)["type"] == "STOP"
    blocked.join(5)
    assert not blocked.is_alive()
    assert events.get(0.01) is None and events.get(None) is None
    events.put({"type": "ERROR", "id": None})
    assert events.drain() == [] and events.empty()


def test_close_delivers_what_is_queued_then_ends_and_wakes_a_waiting_consumer():
    events = EventQueue()
    events.put_input(event("a", 1), None, False)
    events.close()
    events.put_input(event("a", 2), None, False)  # dropped: closed
    assert events.get(1)["value"] == 1
    assert events.get(None) is None
    waiter = EventQueue()
    got = []
    thread = threading.Thread(target=lambda: got.append(waiter.get(None)), daemon=True)
    thread.start()
    waiter.close()  # whether it already waits or not: it ends with None
    thread.join(5)
    assert got == [None]


@pytest.mark.parametrize("timeout", [0, 0.05])
def test_get_times_out(timeout):
    events = EventQueue()
    started = time.monotonic()
    assert events.get(timeout) is None
    assert time.monotonic() - started < timeout + 1.0
