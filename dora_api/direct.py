"""The events of a node with exactly one data input, taken from that input's zenoh channel
by the thread that asks for them: no thread stands between zenoh's receive thread and the
node's loop (on a busy machine every such hop costs a wait for a CPU).

Everything else (timer ticks, STOP, INPUT_CLOSED, NODE_RESTARTED, ERROR) goes into a side
EventQueue, looked at before the channel. A thread that adds to it while the node's thread
is blocked on the channel puts a wake-up message on the input's key, delivered to this
session only; `next(timeout)` is woken the same way by a small waker thread. The channel is
the input's queue: a FIFO of queue_size (backpressure) or a ring (drop_oldest).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dora_api.events import EventQueue
from dora_api.waker import Waker

__all__ = ["DirectEvents"]


def _ignore(input_id: str) -> None:
    pass


class DirectEvents:
    """EventQueue's interface over one input's channel (`subscriber`), `decode(sample)`
    giving its events (see inputs.sample_decoder) and `wake()` putting the wake-up.
    `on_taken(input_id)` counts every input event the node takes (as EventQueue's)."""

    def __init__(self, subscriber, decode: Callable, wake: Callable[[], None],
                 on_taken: Callable[[str], None] = _ignore,
                 on_dropped: Callable[[str], None] = _ignore):
        self._recv, self._try_recv = subscriber.recv, subscriber.try_recv
        self._decode = decode
        self._queued = getattr(decode, "queued", None)  # delivery's ordering, after decode
        self._prepare = getattr(decode, "prepare", None)  # work to do before blocking
        self._wake = wake
        self._on_taken = on_taken
        self._side = EventQueue(on_taken, on_dropped)
        self._waiting = False  # the node's thread is (about to be) blocked on the channel
        self._pending: dict | None = None  # an event empty() had to take to look
        self._closed = False
        self._waker: Waker | None = None

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
            if side.ended or not nothing_queued():
                return side.get(0)
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

    def _decoded(self, sample) -> dict | None:
        """The event of `sample` to hand out now; None when there is none, or when a
        control event was queued meanwhile (a NODE_RESTARTED its decoding caused goes
        first): then the event waits its turn behind it in the side queue."""
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
        if self._prepare is not None:
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
            self._waker = Waker(self._nudge, "dora-waker")
        self._waker.arm(deadline)

    def drain(self) -> list[dict]:
        """Every event that can be had right now."""
        result = []
        while (event := self.get(0)) is not None:
            result.append(event)
        return result

    def empty(self) -> bool:
        if not self._side.empty() or self._pending is not None:
            return False
        while not self._closed:
            sample = self._try_recv()
            if sample is None:
                return True
            self._pending = self._decoded(sample)
            if self._pending is not None or not self._side.empty():
                return False
        return True

    def close(self) -> None:
        """End the stream now: queued side events are still delivered, then None. What
        waits in the channel is counted as received and never taken, as an event queue's
        leftovers are (delivery accounting: `consumer_stopped`)."""
        self._closed = True
        self._side.close()
        self._nudge()
        discard = getattr(self._decode, "discard", None)
        if discard is not None:
            try:
                while (sample := self._try_recv()) is not None:
                    discard(sample)
            except Exception:  # the session is closing: nothing more to count
                pass
