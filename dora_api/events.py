"""The node's event queue: one FIFO shared by inputs, closures and STOP.

Default inputs apply backpressure: a full input blocks the zenoh thread delivering it,
which stalls the sender (congestion control BLOCK) instead of dropping. `drop_oldest`
inputs keep only their newest N events.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dora_api.watchdog import Heartbeat

__all__ = ["EventQueue"]

DEFAULT_BACKPRESSURE_DEPTH = 64  # bounded memory even for 4 MiB payloads


def _ignore(input_id: str) -> None:
    pass


class EventQueue:
    """`on_taken(input_id)`: the node's code took an input event; `on_dropped(input_id)`:
    `drop_oldest` dropped one (both called under the queue's lock: they must be quick)."""

    def __init__(self, on_taken: Callable[[str], None] = _ignore,
                 on_dropped: Callable[[str], None] = _ignore) -> None:
        self._on_taken = on_taken
        self._on_dropped = on_dropped
        self._events: collections.deque[dict] = collections.deque()
        self._per_input: collections.Counter[str] = collections.Counter()
        self._cond = threading.Condition()
        self._closed = False  # no more events will be delivered (after STOP)
        self._heartbeat: Heartbeat | None = None  # the watchdog's, once the node is up

    def beat_into(self, heartbeat: Heartbeat) -> None:
        """From now on, taking and queueing events write `heartbeat` (the watchdog's)."""
        with self._cond:
            self._heartbeat = heartbeat
            heartbeat.arm(bool(self._events))

    def put_input(self, event: dict, depth: int | None, drop_oldest: bool) -> None:
        input_id = event["id"]
        with self._cond:
            if drop_oldest:
                while self._per_input[input_id] >= (depth or 1):
                    self._remove_oldest(input_id)
            else:
                limit = depth or DEFAULT_BACKPRESSURE_DEPTH
                while self._per_input[input_id] >= limit and not self._closed:
                    self._cond.wait()
            if self._closed:
                return
            self._per_input[input_id] += 1
            self._events.append(event)
            if self._heartbeat is not None:
                self._heartbeat.queued()
            self._cond.notify_all()

    def put(self, event: dict) -> None:
        """A control event (INPUT_CLOSED, STOP, NODE_RESTARTED); never dropped."""
        with self._cond:
            if not self._closed:
                self._events.append(event)
                if self._heartbeat is not None:
                    self._heartbeat.queued()
                self._cond.notify_all()

    def _remove_oldest(self, input_id: str) -> None:
        for index, event in enumerate(self._events):
            if event["type"] == "INPUT" and event["id"] == input_id:
                del self._events[index]
                self._per_input[input_id] -= 1
                self._on_dropped(input_id)
                return

    def get(self, timeout: float | None) -> dict | None:
        """The next event; None on timeout or once the stream has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._events:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._take()

    def _take(self) -> dict:
        event = self._events.popleft()
        if event["type"] == "INPUT":
            self._per_input[event["id"]] -= 1
            self._on_taken(event["id"])
        if event["type"] == "STOP":
            self._closed = True
            self._events.clear()
            self._per_input.clear()
        if self._heartbeat is not None:
            self._heartbeat.took(bool(self._events))
        self._cond.notify_all()
        return event

    def drain(self) -> list[dict]:
        with self._cond:
            result = []
            while self._events:
                result.append(self._take())
            return result

    def close(self) -> None:
        """End the stream now; wakes every waiter, blocked producers drop their event."""
        with self._cond:
            self._closed = True
            if self._heartbeat is not None:
                self._heartbeat.took(False)  # nothing waits for a closed queue
            self._cond.notify_all()

    def empty(self) -> bool:
        with self._cond:
            return not self._events
