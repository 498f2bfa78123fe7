"""What an executor measures about a node process, and what the core derives from it.

The executor (local process groups today, a remote daemon later) only *reports*: a
`Sampled` event per running node, taken off the event loop. Every decision about a sample
(frozen for longer than a lease, over a memory or CPU limit, hung) is a pure function in
the core, so the same rules apply wherever the process runs.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["ProcessState", "Sampled", "NodeMetrics", "Enforcer", "LimitKind", "Enforcement",
           "Watch", "Heartbeat", "Enforced"]


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
        """Alive but doing nothing until someone sends SIGCONT. (Identity, not `in`: it
        runs for every sample, and an enum's equality is slow.)"""
        return self is ProcessState.STOPPED or self is ProcessState.TRACED


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


class Enforcer(enum.StrEnum):
    """Who enforces or measures a limit: the `enforced_by` of the records."""

    CGROUP_V2 = "cgroup_v2"  # the kernel, in a cgroup v2 per node
    CGROUP_V1 = "cgroup_v1"  # the kernel, in a cgroup of each v1 hierarchy per node
    SAMPLING = "sampling"  # the executor reads /proc, the core compares
    HEARTBEAT = "heartbeat"  # the node's own event loop, through its watchdog page


class LimitKind(enum.StrEnum):
    """Which limit a record is about (its `limit` field)."""

    MEMORY = "memory"
    CPU = "cpu"
    WATCHDOG = "watchdog"
    LEASE = "lease"

    @property
    def unit(self) -> str:
        """The unit of a record's `measured` and `threshold`."""
        return {"memory": "bytes", "cpu": "percent"}.get(self.value, "s")


@attrs.frozen
class Enforcement:
    """What an executor's machine offers, found once when the executor starts.

    `memory`: the kernel enforces a memory limit (a cgroup per node) or the group's RSS
    is sampled; `cpu`: how a group's CPU time is read; `throttle`: whether a CPU quota
    (`limits.cpu_mode: throttle`) can be set at all."""

    memory: Enforcer = Enforcer.SAMPLING
    cpu: Enforcer = Enforcer.SAMPLING
    throttle: bool = False

    def as_fields(self) -> dict:
        """Plain values: the `enforced_by` of `dataflow_started` and `daemon_started`, and
        what a daemon tells its coordinator."""
        return {"memory": self.memory.value, "cpu": self.cpu.value,
                "cpu_throttle": self.throttle}

    @classmethod
    def from_fields(cls, fields: dict) -> Enforcement:
        """What another machine's daemon said (its `as_fields`); ValueError when it is not
        that (a mechanism this version does not know)."""
        known = tuple(enforcer.value for enforcer in Enforcer)  # any value compares
        if set(fields) != {"memory", "cpu", "cpu_throttle"} or fields["memory"] not in known \
                or fields["cpu"] not in known or not isinstance(fields["cpu_throttle"], bool):
            raise ValueError(f"the daemon's enforcement {fields} is not one this version "
                             "knows: run one version on every machine")
        return cls(Enforcer(fields["memory"]), Enforcer(fields["cpu"]), fields["cpu_throttle"])


@attrs.frozen
class Watch:
    """What the core asks an executor to measure and enforce for one node incarnation.

    A `Sampled` every `interval` seconds: of the leader process alone, or of the whole
    process group when `group` (a memory or CPU limit judges the group). `memory_max`
    is enforced by the kernel where the executor's `Enforcement` says it can; `cpu_quota`
    (percent of one core) is set only where it can throttle. `heartbeat`: the node gets a
    watchdog page and each sample comes with a `Heartbeat`. `idle_interval`: an executor
    the kernel tells when the node's leader stops may read it only this often while it
    runs; once it is stopped, every `interval` again (so a frozen node is judged as soon)."""

    interval: float
    group: bool = False
    memory_max: int | None = None
    cpu_quota: float | None = None
    heartbeat: bool = False
    idle_interval: float | None = None


@attrs.frozen
class Heartbeat:
    """A node's watchdog page as read at `at`.

    All four times are the machine's monotonic clock, shared by the node and its
    executor: when the node last took an event (or called `keepalive`), since when events
    have been waiting for it (0: none), and until when it said it may block (0: never)."""

    node: str
    incarnation: int
    at: float
    taken_at: float
    waiting_since: float
    excused_until: float


@attrs.frozen
class Enforced:
    """The machine enforced a limit by itself: the kernel's OOM killer struck in the
    node's cgroup at `measured` bytes (its peak) against `threshold` (the limit)."""

    node: str
    incarnation: int
    at: float
    limit: LimitKind
    measured: float
    threshold: float
    enforced_by: Enforcer
