"""The events of a node with exactly one data input, taken from that input's zenoh channel
by the thread that asks for them: no thread stands between zenoh's receive thread and the
node's loop (on a busy machine every such hop costs a wait for a CPU).

Everything else (timer ticks, STOP, INPUT_CLOSED, NODE_RESTARTED, ERROR) goes into a side
EventQueue, looked at before the channel. A thread that adds to it while the node's thread
is blocked on the channel has a small waker thread put a wake-up message on the input's
key, delivered to this session only (never the adding thread itself: a put into a full
channel blocks, and the adder may hold a lock the node's thread needs); `next(timeout)` is
woken the same way. The channel is the input's queue: a FIFO of queue_size (backpressure).

The side queue is looked at first, so what closes the input or the stream (INPUT_CLOSED,
STOP) waits until what the channel held when it came has been handed out, as in an event
queue: nothing of the input comes after its INPUT_CLOSED.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from dora_api.events import EventQueue
from dora_api.waker import Waker

__all__ = ["DirectEvents"]


def _ignore(input_id: str) -> None:
    pass


class DirectEvents:
    """EventQueue's interface over one input's channel (`subscriber`) of `depth` samples,
    `decode(sample)` giving its events (see inputs.SampleDecoder: `queued()` after each
    event, `discard(sample)` for what the node will never take) and `wake()` putting the
    wake-up. `on_taken(input_id)` counts every input event the node takes."""

    def __init__(self, subscriber, decode: Callable, wake: Callable[[], None],
                 on_taken: Callable[[str], None] = _ignore,
                 on_dropped: Callable[[str], None] = _ignore, *,
                 input_id: str | None = None, depth: int = 64):
        self._recv, self._try_recv = subscriber.recv, subscriber.try_recv
        self._decode = decode
        self._queued = getattr(decode, "queued", None)  # delivery's ordering, after decode
        self._prepare = getattr(decode, "prepare", None)  # work to do before blocking
        self._discard = getattr(decode, "discard", None)
        self._wake = wake
        self._on_taken = on_taken
        self._input_id, self._depth = input_id, depth
        self._side = EventQueue(on_taken, on_dropped)
        self._waiting = False  # the node's thread is (about to be) blocked on the channel
        self._pending: dict | None = None  # an event empty() had to take to look
        self._backlog: collections.deque[dict] = collections.deque()  # before a closing event
        self._input_closed = False  # INPUT_CLOSED handed out: the channel only wakes us
        self._closed = False
        self._waker: Waker | None = None
        self._drainer: threading.Thread | None = None  # after close(), until the session ends

    @property
    def stop_queued(self) -> bool:
        return self._side.stop_queued

    def put(self, event: dict) -> None:
        self._side.put(event)
        self._nudge()

    def put_input(self, event: dict, depth: int | None, drop_oldest: bool) -> None:
        self._side.put_input(event, depth, drop_oldest)
        self._nudge()

    def _nudge(self) -> None:
        """Wake the node's thread if it waits on the channel; never blocks the caller."""
        if self._waiting:
            self._arm(time.monotonic())

    def _wake_now(self) -> None:
        if self._waiting:
            try:
                self._wake()
            except Exception:  # the session is closing: recv() returns by itself
                pass

    def get(self, timeout: float | None) -> dict | None:
        """The next event; None on timeout or once the stream has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        side, nothing_queued = self._side, self._side.nothing_queued
        while True:
            if self._pending is not None and not side.ended:  # decoded before what follows
                event, self._pending = self._pending, None
                return self._taken(event)
            if self._backlog:
                return self._taken(self._backlog.popleft())
            if side.ended or not nothing_queued():
                event = side.get(0)
                if event is None:
                    if side.ended:
                        return None
                    continue  # only a dropped event was there (a drop_oldest timer's)
                if self._closes(event):
                    self._hold(event)
                    continue
                return event
            if self._closed:
                return None
            sample = self._try_recv()
            if sample is None:
                if deadline is not None and deadline - time.monotonic() <= 0:
                    return None
                sample = self._wait(deadline)  # nothing there: we wait
                if sample is None:
                    if self._closed:
                        return None
                    continue
            if self._input_closed:  # only wake-ups and what comes too late
                if self._discard is not None:
                    self._discard(sample)
                continue
            # _decoded, inline: this is the per-message path
            event = self._decode(sample)
            if event is None:
                continue
            if not nothing_queued():  # a control event its decoding caused goes first
                side.put(event)
                event = None
            if self._queued is not None:
                self._queued()
            if event is not None:
                if event["type"] == "INPUT":
                    self._on_taken(event["id"])
                return event

    def _closes(self, event: dict) -> bool:
        """`event` ends our input or the stream while the channel may hold data before it."""
        if self._input_closed:
            return False
        return event["type"] == "STOP" or (event["type"] == "INPUT_CLOSED"
                                           and event["id"] == self._input_id)

    def _hold(self, event: dict) -> None:
        """Hand out what the channel holds now (at most its depth: a busy producer cannot
        hold `event` back for ever), then `event`."""
        for _ in range(self._depth):
            try:
                sample = self._try_recv()
            except Exception:  # the session is closing
                break
            if sample is None:
                break
            decoded = self._decode(sample)
            if decoded is not None:
                self._backlog.append(decoded)
                if self._queued is not None:
                    self._queued()
        self._backlog.append(event)
        self._input_closed = True

    def _decoded(self, sample) -> dict | None:
        """The event of `sample` to hand out now; None when there is none, or when a
        control event was queued meanwhile (a NODE_RESTARTED its decoding caused goes
        first): then the event waits its turn behind it in the side queue. After our
        INPUT_CLOSED the channel carries only wake-ups and what comes too late."""
        if self._input_closed:
            if self._discard is not None:
                self._discard(sample)
            return None
        event = self._decode(sample)
        if event is None:
            return None
        if not self._side.empty():
            self._side.put(event)
            event = None
        if self._queued is not None:
            self._queued()
        return event

    def _taken(self, event: dict) -> dict:
        if event["type"] == "INPUT":
            self._on_taken(event["id"])
        return event

    def _wait(self, deadline: float | None):
        """Block on the channel (after the work kept for idle time); None: look again."""
        self._waiting = True
        if not self._side.empty():  # added before we said we wait
            self._waiting = False
            return None
        if deadline is not None:
            self._arm(deadline)
        if self._prepare is not None and not self._input_closed:
            self._prepare()
        try:
            return self._recv()
        except Exception:  # our session closed: the stream has ended
            self._closed = True
            return None
        finally:
            self._waiting = False

    def _arm(self, deadline: float) -> None:
        if self._waker is None:
            self._waker = Waker(self._wake_now, "dora-waker")
        self._waker.arm(deadline)

    def drain(self) -> list[dict]:
        """Every event that can be had right now."""
        result = []
        while (event := self.get(0)) is not None:
            result.append(event)
        return result

    def empty(self) -> bool:
        if self._pending is not None or self._backlog:
            return False
        if not self._side.empty():
            return False
        while not (self._closed or self._side.ended):
            sample = self._try_recv()
            if sample is None:
                return True
            self._pending = self._decoded(sample)
            if self._pending is not None or not self._side.empty():
                return False
        return True

    def close(self) -> None:
        """End the stream now: queued side events are still delivered, then None. What
        reaches the channel from now until the session closes is counted as received and
        never taken, as an event queue's leftovers are (delivery accounting:
        `consumer_stopped`), and an end-of-stream marker among it is still acknowledged
        (its producer waits for that), by a thread that ends with the session."""
        self._closed = True
        self._side.close()
        self._nudge()
        if self._discard is not None and self._drainer is None:
            self._drainer = threading.Thread(target=self._drain_channel, daemon=True,
                                            name="dora-input-drain")
            self._drainer.start()

    def join(self, deadline: float) -> None:
        """Wait (until the monotonic `deadline`) for the drainer, once the session closed."""
        if self._drainer is not None:
            self._drainer.join(max(0.0, deadline - time.monotonic()))

    def _drain_channel(self) -> None:
        while True:
            try:
                sample = self._recv()
            except Exception:  # the session closed
                return
            try:
                self._discard(sample)
            except Exception:  # counting is best effort here; the thread must go on
                pass
