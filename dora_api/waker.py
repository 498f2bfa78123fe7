"""A thread blocked in a zenoh channel's recv() cannot time out by itself; this small daemon
thread calls `nudge()` (which puts a message that wakes it) at the earliest deadline it was
armed with. One per user, started on first use; idle costs nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Waker"]


class Waker:
    def __init__(self, nudge: Callable[[], None], name: str):
        self._nudge = nudge
        self._deadline: float | None = None
        self._changed = threading.Condition()
        threading.Thread(target=self._run, daemon=True, name=name).start()

    def arm(self, deadline: float) -> None:
        """Nudge at `deadline` (or earlier, if armed earlier already)."""
        with self._changed:
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._deadline is None or self._deadline > time.monotonic():
                    remaining = None if self._deadline is None else \
                        self._deadline - time.monotonic()
                    self._changed.wait(remaining)
                self._deadline = None
            self._nudge()
