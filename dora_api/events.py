"""The node's event queue: one FIFO shared by inputs, closures and STOP.

Default inputs apply backpressure: a full input blocks the thread delivering it, which
stalls the sender (congestion control BLOCK) instead of dropping. `drop_oldest` inputs
keep only their newest N events.

Built for the per-message path: one `queue.SimpleQueue` (C, no Python lock on the way),
per-input counters each written by one side only, and a lock used as a semaphore only
while a producer waits for room. A dropped event stays queued as an emptied box that the
consumer skips.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dora_api.watchdog import Heartbeat

__all__ = ["EventQueue", "DEFAULT_BACKPRESSURE_DEPTH"]

DEFAULT_BACKPRESSURE_DEPTH = 64  # bounded memory even for 4 MiB payloads
_WAIT_SLICE_S = 0.5  # a waiting producer re-checks at least this often (closing, races)
_END = object()  # queued by close(): everything before it is still delivered


class _Gate:
    """One input's bookkeeping. `produced`/`dropped` are written by its producer thread
    only, `consumed` by consumers under the queue's lock: no counter is shared."""

    __slots__ = ("limit", "drop_oldest", "produced", "consumed", "dropped", "boxes",
                 "waiting", "room")

    def __init__(self, depth: int | None, drop_oldest: bool):
        self.drop_oldest = drop_oldest
        self.limit = (depth or 1) if drop_oldest else (depth or DEFAULT_BACKPRESSURE_DEPTH)
        self.produced = self.consumed = self.dropped = 0
        self.boxes: collections.deque[list] = collections.deque()  # drop_oldest, oldest first
        self.waiting = False
        self.room = threading.Lock()
        self.room.acquire()  # released by a consumer when a waiting producer has room

    def queued(self) -> int:
        return self.produced - self.consumed - self.dropped


def _ignore(input_id: str) -> None:
    pass


class EventQueue:
    """`on_taken(input_id)`: the node's code took an input event (consumer's thread);
    `on_dropped(input_id)`: `drop_oldest` dropped one (that input's producer thread). Both
    must be quick and thread-safe (the ledger's counters are)."""

    def __init__(self, on_taken: Callable[[str], None] = _ignore,
                 on_dropped: Callable[[str], None] = _ignore) -> None:
        self._on_taken = on_taken
        self._on_dropped = on_dropped
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()  # consumers' side and gate creation
        self._closed = False  # no more events accepted
        self.ended = False  # get() returns None from now on (STOP was taken, or close())
        self.nothing_queued = self._queue.empty  # ignores `ended` (see empty())
        self.stop_queued = False  # a STOP is queued (or was taken)
        self._heartbeat: Heartbeat | None = None  # the watchdog's, once the node is up

    def beat_into(self, heartbeat: Heartbeat) -> None:
        """From now on, taking and queueing events write `heartbeat` (the watchdog's)."""
        self._heartbeat = heartbeat
        heartbeat.arm(lambda: not self._queue.empty())

    def put_input(self, event: dict, depth: int | None, drop_oldest: bool) -> None:
        """An INPUT event; blocks while a backpressure input is full (or drops the oldest
        event of a drop_oldest input). Each input must have one producer thread."""
        gate = self._gates.get(event["id"])
        if gate is None:
            with self._lock:
                gate = self._gates.setdefault(event["id"], _Gate(depth, drop_oldest))
        if gate.drop_oldest:
            self._put_dropping(gate, event)
            return
        while gate.queued() >= gate.limit:
            if self._closed:
                return
            gate.waiting = True
            if gate.queued() < gate.limit:  # a consumer took one since we looked
                gate.waiting = False
                break
            gate.room.acquire(timeout=_WAIT_SLICE_S)
        gate.waiting = False
        if self._closed:
            return
        gate.produced += 1
        self._enqueue(event)

    def _put_dropping(self, gate: _Gate, event: dict) -> None:
        if self._closed:
            return
        boxes = gate.boxes
        while boxes and not boxes[0]:
            boxes.popleft()  # taken by the consumer already
        while gate.queued() >= gate.limit and boxes:
            try:
                boxes.popleft().pop()  # atomic against the consumer's own pop()
                gate.dropped += 1
                self._on_dropped(event["id"])
            except IndexError:
                pass  # the consumer got it first
        box = [event]
        boxes.append(box)
        gate.produced += 1
        self._enqueue(box)

    def put(self, event: dict) -> None:
        """A control event (INPUT_CLOSED, STOP, NODE_RESTARTED, ERROR); never dropped."""
        if not self._closed:
            if event["type"] == "STOP":
                self.stop_queued = True
            self._enqueue(event)

    def _enqueue(self, item) -> None:
        self._queue.put(item)
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.queued(self._queue.empty)

    def get(self, timeout: float | None) -> dict | None:
        """The next event; None on timeout or once the stream has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ended:
            try:
                if deadline is None:
                    item = self._queue.get()
                else:
                    remaining = deadline - time.monotonic()
                    item = self._queue.get(remaining > 0, max(remaining, 0))
            except queue.Empty:
                return None
            event = self._take(item)
            if event is not None:
                return event
        return None

    def _take(self, item) -> dict | None:
        """The event `item` holds (None: a dropped one, or the end), with bookkeeping."""
        if item is _END:
            self.ended = True
            self._queue.put(_END)  # for any other waiting consumer
            return None
        if type(item) is list:
            try:
                item = item.pop()
            except IndexError:
                return None  # dropped by its producer
        kind = item["type"]
        if kind == "INPUT":
            gate = self._gates.get(item["id"])
            if gate is not None:
                with self._lock:
                    gate.consumed += 1
                    if gate.waiting and gate.queued() <= gate.limit // 2:
                        gate.waiting = False
                        _release(gate.room)
            self._on_taken(item["id"])
        elif kind == "STOP":
            self._stop()
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.took(self._queue.empty)
        return item

    def _stop(self) -> None:
        """STOP was taken: nothing after it is delivered; wake every waiting producer."""
        self._closed = self.ended = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for gate in list(self._gates.values()):
            _release(gate.room)

    def drain(self) -> list[dict]:
        """Every event queued right now."""
        result = []
        while (event := self.get(0)) is not None:
            result.append(event)
        return result

    def join(self, deadline: float) -> None:
        """Nothing of ours runs after close() (DirectEvents' drainer does)."""

    def close(self) -> None:
        """End the stream now; wakes every waiter, blocked producers drop their event."""
        self._closed = True
        for gate in list(self._gates.values()):
            _release(gate.room)
        self._queue.put(_END)
        if self._heartbeat is not None:
            self._heartbeat.took(lambda: True)  # nothing waits for a closed queue

    def empty(self) -> bool:
        return self.ended or self._queue.empty()


def _release(lock: threading.Lock) -> None:
    try:
        lock.release()
    except RuntimeError:
        pass  # already released: the producer has not waited on it since
