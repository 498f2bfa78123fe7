"""The kernel's word when a child process stops or continues (SIGSTOP, SIGTSTP, SIGCONT).

The parent of a process learns of its stops from `waitid(WSTOPPED | WCONTINUED)` without
reaping it (exits are asyncio's). One daemon thread per process blocks there and tells
whoever watches that pid, so a running node needs no frequent sampling to be seen frozen:
its executor reads it at once when it stops (see `Watch.idle_interval`). A stop the parent
is not told of (a debugger's, a cgroup freezer's) is still seen by the next sample.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["StopWatch", "stop_watch"]

_EVENTS = getattr(os, "WSTOPPED", 0) | getattr(os, "WCONTINUED", 0)


class StopWatch:
    """`watch(pid, on_change)`: `on_change()` runs on the watch's thread each time the
    child `pid` stops or continues, until `forget(pid)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, Callable[[], None]] = {}
        self._children = threading.Event()  # set when a child may exist again
        self._thread: threading.Thread | None = None

    available = hasattr(os, "waitid") and bool(_EVENTS)  # a class constant, read per pass

    def watch(self, pid: int, on_change: Callable[[], None]) -> None:
        with self._lock:
            self._watched[pid] = on_change
            if self._thread is None and self.available:
                self._thread = threading.Thread(target=self._run, name="dora-stop-watch",
                                                daemon=True)
                self._thread.start()
        self._children.set()

    def forget(self, pid: int) -> None:
        with self._lock:
            self._watched.pop(pid, None)

    def _run(self) -> None:
        while True:
            try:
                event = os.waitid(os.P_ALL, 0, _EVENTS)
            except ChildProcessError:  # no child right now: wait for the next one
                self._children.clear()
                try:  # a child started between the error and clear() set it before
                    os.waitid(os.P_ALL, 0, _EVENTS | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:
                    self._children.wait()
                continue
            except InterruptedError:
                continue
            if event is None:
                continue
            with self._lock:
                on_change = self._watched.get(event.si_pid)
            if on_change is not None:
                try:
                    on_change()
                except RuntimeError:  # its event loop has closed meanwhile
                    pass


_WATCH = StopWatch()


def stop_watch() -> StopWatch:
    """The process's one watch: two would take each other's events."""
    return _WATCH
