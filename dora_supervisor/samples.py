"""What an executor measures about a node process, and what the core derives from it.

The executor (local process groups today, a remote daemon later) only *reports*: a
`Sampled` event per running node, taken off the event loop. Every decision about a sample
(frozen for longer than a lease, over a memory or CPU limit, hung) is a pure function in
the core, so the same rules apply wherever the process runs.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["ProcessState", "Sampled", "NodeMetrics"]


class ProcessState(enum.StrEnum):
    """The kernel's process state letter (`/proc/PID/stat`, field 3)."""

    RUNNING = "R"
    SLEEPING = "S"
    DISK_SLEEP = "D"
    STOPPED = "T"  # SIGSTOP, SIGTSTP
    TRACED = "t"  # stopped by a tracer (a debugger)
    ZOMBIE = "Z"
    DEAD = "X"
    IDLE = "I"
    UNKNOWN = "?"

    @classmethod
    def from_letter(cls, letter: str) -> ProcessState:
        try:
            return cls(letter)
        except ValueError:
            return cls.UNKNOWN

    @property
    def frozen(self) -> bool:
        """Alive but doing nothing until someone sends SIGCONT."""
        return self in (ProcessState.STOPPED, ProcessState.TRACED)


@attrs.frozen
class Sampled:
    """One measurement of one node incarnation's process group.

    `at` is the executor's monotonic clock when the sample was taken; `cpu_time_s` is
    cumulative user + system time (the core turns two samples into a CPU share)."""

    node: str
    incarnation: int
    at: float
    state: ProcessState
    rss_bytes: int | None = None
    cpu_time_s: float | None = None


@attrs.frozen
class NodeMetrics:
    """The latest figures `dora status` shows for a worker (None: not measured yet)."""

    rss_bytes: int | None = None
    cpu_percent: float | None = None
