"""The node's side of the watchdog: a heartbeat written by its own event loop.

A node with `health.watchdog` gets a small page of shared memory from its supervisor
(`contract.WATCHDOG_FD_ENV`). Three things are written into it, each a plain memory
store (no system call, no thread):
- the node's main loop takes an event (`next`, iteration, `try_recv`, `drain`,
  `recv_async`) or calls `Node.keepalive()`: "I took an event at T";
- an event is queued while the queue was empty: "events wait since T";
- `Node.keepalive(seconds)`: "I may block until T".
No background thread ever writes "I took an event": a main loop stuck in a blocking call
stops the heartbeat, however busy the node's other threads are. The supervisor reads the
page and judges (events waiting for a whole watchdog period, none taken: hung).
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from collections.abc import Callable

from dora_api import contract
from dora_api.contract import HeartbeatField

__all__ = ["Heartbeat", "attach", "wanted"]


class Heartbeat:
    """Writes the node's heartbeat page. `queued` runs on the thread that queued an event,
    `took` on the one that took it, `keepalive` on any: a small lock keeps "events wait"
    true whenever one does (the queue itself takes no lock)."""

    def __init__(self, page) -> None:
        self._page = page
        self._waiting = False
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls) -> Heartbeat | None:
        """The page the supervisor handed over, if any; its fd is closed once mapped and
        the variable removed, so the node's own children never inherit either."""
        fd = os.environ.pop(contract.WATCHDOG_FD_ENV, None)
        if not fd:
            return None
        try:
            page = mmap.mmap(int(fd), mmap.PAGESIZE)
        except (OSError, ValueError):
            return None
        finally:
            try:
                os.close(int(fd))
            except (OSError, ValueError):
                pass
        return cls(page)

    def arm(self, waiting: bool | Callable[[], bool]) -> None:
        """Start beating: until now the supervisor ignored the page (start-up). `waiting`
        may be asked under the lock (a queue's `not empty()`)."""
        with self._lock:
            self._waiting = waiting() if callable(waiting) else waiting
            contract.arm_heartbeat(self._page, time.monotonic(), self._waiting)

    def queued(self, is_empty: Callable[[], bool]) -> None:
        """An event was queued (already in the queue): if none was waiting, events wait
        from now on, unless the node took it already (asked under the lock)."""
        with self._lock:
            if not self._waiting and not is_empty():
                self._waiting = True
                contract.write_heartbeat(self._page, HeartbeatField.WAITING_SINCE,
                                         time.monotonic())

    def took(self, is_empty: Callable[[], bool]) -> None:
        """The main loop took an event; `is_empty()` says whether more are queued (asked
        under the lock, so an event queued meanwhile is never hidden)."""
        with self._lock:
            contract.write_heartbeat(self._page, HeartbeatField.TAKEN_AT, time.monotonic())
            if self._waiting and is_empty():
                self._waiting = False
                contract.write_heartbeat(self._page, HeartbeatField.WAITING_SINCE, 0.0)

    def keepalive(self, seconds: float | None = None) -> None:
        """Alive now, as if an event had been taken; with `seconds`, excused for that long."""
        now = time.monotonic()
        contract.write_heartbeat(self._page, HeartbeatField.TAKEN_AT, now)
        if seconds is not None:
            contract.write_heartbeat(self._page, HeartbeatField.EXCUSED_UNTIL,
                                     now + max(0.0, seconds))


def wanted() -> bool:
    """The supervisor handed this node a heartbeat page (its events must then go through
    the event queue, which writes the page)."""
    return bool(os.environ.get(contract.WATCHDOG_FD_ENV))


def attach(events) -> Heartbeat | None:
    """The node's heartbeat page, fed by its event queue from now on (start-up is not a
    hang: the supervisor ignores the page until it is armed); None without a watchdog."""
    heartbeat = Heartbeat.from_environ()
    if heartbeat is not None:
        events.beat_into(heartbeat)
    return heartbeat
