"""The watchdog's heartbeat page: its layout, and what the node's event queue writes."""

from __future__ import annotations

import mmap
import os
import threading
import time

from dora_api import contract
from dora_api.events import EventQueue
from dora_api.watchdog import Heartbeat


def page() -> bytearray:
    return bytearray(contract.HEARTBEAT_BYTES)


def tick(n: int = 0) -> dict:
    return {"type": "INPUT", "id": "tick", "value": n, "metadata": {}}


def test_an_unarmed_page_says_nothing():
    assert contract.read_heartbeat(page()) is None


def test_arming_and_writing_fields():
    buffer = page()
    contract.arm_heartbeat(buffer, 5.0, waiting=True)
    assert contract.read_heartbeat(buffer) == contract.HeartbeatTimes(5.0, 5.0, 0.0)
    contract.write_heartbeat(buffer, contract.HeartbeatField.EXCUSED_UNTIL, 9.5)
    contract.write_heartbeat(buffer, contract.HeartbeatField.TAKEN_AT, 6.0)
    assert contract.read_heartbeat(buffer) == contract.HeartbeatTimes(6.0, 5.0, 9.5)


def test_the_queue_beats_only_once_the_node_is_up():
    buffer, queue = page(), EventQueue()
    queue.put_input(tick(), None, False)  # during start-up: no page written
    assert contract.read_heartbeat(buffer) is None
    before = time.monotonic()
    queue.beat_into(Heartbeat(buffer))
    armed = contract.read_heartbeat(buffer)
    assert armed.waiting_since >= before and armed.taken_at == armed.waiting_since


def test_queueing_into_an_empty_queue_starts_the_wait_taking_the_last_ends_it():
    buffer, queue = page(), EventQueue()
    queue.beat_into(Heartbeat(buffer))
    assert contract.read_heartbeat(buffer).waiting_since == 0.0
    queue.put_input(tick(1), None, False)
    first = contract.read_heartbeat(buffer).waiting_since
    assert first > 0
    queue.put_input(tick(2), None, False)
    assert contract.read_heartbeat(buffer).waiting_since == first  # still the same wait
    assert queue.get(0)["value"] == 1
    after_one = contract.read_heartbeat(buffer)
    assert after_one.waiting_since == first and after_one.taken_at >= first
    assert queue.drain()[0]["value"] == 2
    assert contract.read_heartbeat(buffer).waiting_since == 0.0


def test_a_timed_out_get_is_not_a_beat():
    buffer, queue = page(), EventQueue()
    queue.beat_into(Heartbeat(buffer))
    armed = contract.read_heartbeat(buffer).taken_at
    assert queue.get(0.01) is None
    assert contract.read_heartbeat(buffer).taken_at == armed


def test_stop_and_close_leave_nothing_waiting():
    buffer, queue = page(), EventQueue()
    queue.beat_into(Heartbeat(buffer))
    queue.put({"type": "STOP", "id": "MANUAL"})
    queue.put_input(tick(), None, False)
    assert queue.get(0)["type"] == "STOP"
    assert contract.read_heartbeat(buffer).waiting_since == 0.0
    other = EventQueue()
    other.beat_into(Heartbeat(buffer))
    other.put_input(tick(), None, False)
    other.close()
    assert contract.read_heartbeat(buffer).waiting_since == 0.0


def test_only_the_taking_thread_beats():
    """A busy background thread that queues events never makes the node look alive."""
    buffer, queue = page(), EventQueue()
    queue.beat_into(Heartbeat(buffer))
    armed = contract.read_heartbeat(buffer).taken_at
    producer = threading.Thread(target=lambda: [queue.put_input(tick(i), 3, True)
                                                for i in range(100)])
    producer.start()
    producer.join()
    times = contract.read_heartbeat(buffer)
    assert times.taken_at == armed and times.waiting_since > armed


def test_keepalive_beats_and_excuses():
    buffer = page()
    heartbeat = Heartbeat(buffer)
    heartbeat.arm(False)
    before = time.monotonic()
    heartbeat.keepalive(30.0)
    times = contract.read_heartbeat(buffer)
    assert times.taken_at >= before and times.excused_until >= before + 30.0


def test_the_page_comes_from_the_environment_and_leaves_no_trace(monkeypatch):
    fd = os.memfd_create("test-heartbeat")
    os.ftruncate(fd, mmap.PAGESIZE)
    supervisor_view = mmap.mmap(fd, mmap.PAGESIZE)
    node_fd = os.dup(fd)
    monkeypatch.setenv(contract.WATCHDOG_FD_ENV, str(node_fd))
    heartbeat = Heartbeat.from_environ()
    assert contract.WATCHDOG_FD_ENV not in os.environ
    try:
        os.fstat(node_fd)
        still_open = True
    except OSError:
        still_open = False
    assert not still_open
    heartbeat.arm(True)
    assert contract.read_heartbeat(supervisor_view).waiting_since > 0
    os.close(fd)


def test_no_page_without_the_variable(monkeypatch):
    monkeypatch.delenv(contract.WATCHDOG_FD_ENV, raising=False)
    assert Heartbeat.from_environ() is None
    monkeypatch.setenv(contract.WATCHDOG_FD_ENV, "not a number")
    assert Heartbeat.from_environ() is None
