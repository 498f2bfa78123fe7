"""The rules of a node's health and limits: what to measure, how often, and what a
measurement means.

Pure: from a node's spec and what its executor's machine offers (`Enforcement`), the
`Watch` an executor carries out; from measurements, the numbers a verdict is made of.
`health.HealthWatch` applies them sample by sample.

The figures users can rely on (the README quotes them):
- memory: where the kernel cannot enforce the limit, the group is sampled every 0.1s,
  so a node is killed well within 0.5s of crossing it;
- CPU: the share of one core over the last `CPU_WINDOW_S` (2s), sampled every 0.25s;
  the first `CPU_GRACE_S` (2s) of an incarnation are not judged (interpreter start-up);
- frozen: declared dead one lease after the first sample that saw it frozen; samples
  are a quarter lease apart (at least 0.1s, at most 0.5s), so a frozen node is declared
  dead within its lease + 0.5s (by default every node is read twice a second);
- watchdog: the heartbeat page is read ten times per watchdog period (at most every
  50ms), so a hung node is caught within 1.1 watchdog periods.
"""

from __future__ import annotations

import attrs

from dora_supervisor.descriptor import CpuMode, NodeSpec
from dora_supervisor.policy import ExitReason
from dora_supervisor.samples import Enforcement, Enforcer, Heartbeat, LimitKind, Watch

__all__ = ["NodeRules", "Verdict", "watch_for", "lease_interval", "throttles", "cpu_kills",
           "cpu_share", "hung_for", "REASONS", "MIN_INTERVAL_S", "MAX_LEASE_INTERVAL_S",
           "SAMPLING_JITTER_S", "MEMORY_INTERVAL_S",
           "CPU_INTERVAL_S", "CPU_WINDOW_S", "CPU_GRACE_S", "WATCHDOG_READS",
           "MIN_WATCHDOG_INTERVAL_S", "IDLE_INTERVAL_S"]

MIN_INTERVAL_S = 0.1  # sampling a node more often costs more than the answer is worth
LEASE_SAMPLES = 4  # samples per lease: a frozen node is seen within a quarter lease ...
MAX_LEASE_INTERVAL_S = 0.5  # ... or within 0.5s, whichever is sooner
# A node without limits or watchdog, while it runs: its figures are only shown (`dora
# status`), and its executor hears of a stop from the kernel (then reads it at once, and
# every lease interval until it runs again). 200 idle nodes read every 0.5 s cost the
# coordinator about half of 1 % of a core.
IDLE_INTERVAL_S = 2.0
SAMPLING_JITTER_S = 0.01  # how late a sampling pass may start: a lease minus this counts
MEMORY_INTERVAL_S = 0.1  # a sampled memory limit: caught well within half a second
CPU_INTERVAL_S = 0.25
CPU_WINDOW_S = 2.0
CPU_GRACE_S = 2.0
WATCHDOG_READS = 10  # heartbeat reads per watchdog period
MIN_WATCHDOG_INTERVAL_S = 0.05

# The exit reason of a verdict about each limit.
REASONS = {LimitKind.MEMORY: ExitReason.MEMORY_LIMIT, LimitKind.CPU: ExitReason.CPU_LIMIT,
           LimitKind.WATCHDOG: ExitReason.WATCHDOG, LimitKind.LEASE: ExitReason.LIVELINESS_LOST}


@attrs.frozen
class NodeRules:
    """The part of a node's spec its health depends on."""

    lease: float = 2.0
    memory: int | None = None  # bytes, the whole process group
    cpu: float | None = None  # percent of one core
    cpu_mode: CpuMode = CpuMode.KILL
    watchdog: float | None = None  # seconds

    @classmethod
    def of(cls, node: NodeSpec) -> NodeRules:
        return cls(node.health.lease, node.limits.memory, node.limits.cpu,
                   node.limits.cpu_mode, node.health.watchdog)


@attrs.frozen
class Verdict:
    """`node`'s incarnation broke `limit`: it is to be killed with `reason`."""

    node: str
    incarnation: int
    limit: LimitKind
    measured: float
    threshold: float
    enforced_by: Enforcer

    @property
    def reason(self) -> ExitReason:
        return REASONS[self.limit]

    @property
    def detail(self) -> dict:
        """The fields of its record (`limit_exceeded`, `watchdog`, `liveliness_lost`)."""
        unit = self.limit.unit
        digits = {"bytes": 0, "percent": 1}.get(unit, 3)
        measured, threshold = round(self.measured, digits), round(self.threshold, digits)
        if unit == "bytes":
            measured, threshold = int(measured), int(threshold)
        return {"incarnation": self.incarnation, "limit": self.limit.value,
                "measured": measured, "threshold": threshold, "unit": unit,
                "enforced_by": self.enforced_by.value}


def lease_interval(lease: float) -> float:
    return max(MIN_INTERVAL_S, min(MAX_LEASE_INTERVAL_S, lease / LEASE_SAMPLES))


def throttles(rules: NodeRules, enforcement: Enforcement) -> bool:
    """The kernel holds the node to its CPU share: nothing to judge."""
    return rules.cpu is not None and rules.cpu_mode is CpuMode.THROTTLE and enforcement.throttle


def cpu_kills(rules: NodeRules, enforcement: Enforcement) -> bool:
    """The node is killed above its CPU share: `cpu_mode: kill`, or a throttle the
    machine cannot offer (no cgroups)."""
    return rules.cpu is not None and not throttles(rules, enforcement)


def watch_for(rules: NodeRules, enforcement: Enforcement) -> Watch:
    """What the executor must measure for a node with `rules`, on a machine that
    offers `enforcement`: only what the node's limits need, as rarely as they allow.

    A node without memory or CPU limit is sampled as its leader process alone; a limit
    makes it the whole group. A memory limit the kernel enforces needs no fast sampling;
    a node without limits or watchdog needs it only while it is stopped."""
    interval = lease_interval(rules.lease)
    kernel_memory = rules.memory is not None and enforcement.memory is not Enforcer.SAMPLING
    if rules.memory is not None and not kernel_memory:
        interval = min(interval, MEMORY_INTERVAL_S)
    if cpu_kills(rules, enforcement):
        interval = min(interval, CPU_INTERVAL_S)
    if rules.watchdog is not None:
        interval = min(interval, max(MIN_WATCHDOG_INTERVAL_S, rules.watchdog / WATCHDOG_READS))
    plain = rules.memory is None and rules.cpu is None and rules.watchdog is None
    return Watch(interval, group=rules.memory is not None or rules.cpu is not None,
                 memory_max=rules.memory if kernel_memory else None,
                 cpu_quota=rules.cpu if throttles(rules, enforcement) else None,
                 heartbeat=rules.watchdog is not None,
                 idle_interval=max(interval, IDLE_INTERVAL_S) if plain else None)


def cpu_share(start: tuple[float, float], end: tuple[float, float]) -> float | None:
    """Percent of one core used between two (at, cumulative CPU seconds) samples."""
    (at0, cpu0), (at1, cpu1) = start, end
    if at1 <= at0:
        return None
    return max(0.0, 100 * (cpu1 - cpu0) / (at1 - at0))


def hung_for(beat: Heartbeat) -> float:
    """How long events have waited while the node took none (0: it keeps up, or nothing
    waits). An excuse (`keepalive(seconds)`) counts as taking an event when it ends."""
    if beat.waiting_since <= 0:
        return 0.0
    return max(0.0, beat.at - max(beat.waiting_since, beat.taken_at, beat.excused_until))
