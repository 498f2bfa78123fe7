"""What an executor's reports about a node mean: verdicts, and its latest figures.

Pure: the executor reports `Sampled`, `Heartbeat` and `Enforced` records (wherever the
process runs) and this module decides, with the rules of `health_rules`:
- frozen: stopped by a signal or a tracer for at least its `health.lease` (given once
  per frozen spell, exactly as if its zenoh token had expired);
- memory: the group's resident memory above `limits.memory` (sampling), or the kernel's
  OOM killer in the node's cgroup (`Enforced`);
- CPU: the group's share of one core above `limits.cpu` over the last 2s (kill mode);
- watchdog: events waiting for `health.watchdog` while the node took none.
Each limit gives at most one verdict per incarnation: the tree kills it.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping

import attrs

from dora_supervisor.health_rules import (
    CPU_GRACE_S,
    CPU_WINDOW_S,
    SAMPLING_JITTER_S,
    NodeRules,
    Verdict,
    cpu_kills,
    cpu_share,
    hung_for,
    watch_for,
)
from dora_supervisor.samples import (
    Enforced,
    Enforcement,
    Enforcer,
    Heartbeat,
    LimitKind,
    NodeMetrics,
    Sampled,
    Watch,
)

__all__ = ["HealthWatch", "Verdict", "NodeRules", "sample_interval", "MIN_SAMPLE_INTERVAL_S"]

MIN_SAMPLE_INTERVAL_S = 0.2  # the default interval: below this, sampling costs too much
_UNTIL_KNOWN = Enforcement()  # sampling, until the executor says what its machine offers


def sample_interval(leases: Iterable[float]) -> float:
    """An executor's default interval (for a `Launch` without a `Watch`): half the
    shortest lease, not below `MIN_SAMPLE_INTERVAL_S`."""
    return max(MIN_SAMPLE_INTERVAL_S, min(leases, default=2 * MIN_SAMPLE_INTERVAL_S) / 2)


@attrs.define
class _Track:
    """What is remembered about the current incarnation of one node."""

    incarnation: int
    last: Sampled | None = None
    previous: Sampled | None = None  # the sample before `last`: the CPU share between them
    frozen_since: float | None = None
    frozen_reported: bool = False
    first_at: float | None = None
    cpu_window: collections.deque = attrs.Factory(collections.deque)  # (at, cpu seconds)
    judged: set[LimitKind] = attrs.Factory(set)  # limits that already gave their verdict


class HealthWatch:
    """Fed every report of a dataflow's executor; `observe` returns a verdict or None,
    `metrics` the figures `dora status` shows, `watch` what to measure for a node.

    `enforcement` is what the executor's machine offers; the runtime sets it once the
    executor has started (sampling until then). A node on another machine is judged by
    what that machine offers (`place`)."""

    def __init__(self, rules: Mapping[str, NodeRules],
                 enforcement: Enforcement = _UNTIL_KNOWN):
        self._rules = dict(rules)
        self.enforcement = enforcement
        self._placed: dict[str, Enforcement] = {}  # node -> its machine's, if not ours
        self._tracks: dict[str, _Track] = {}

    def place(self, node: str, enforcement: Enforcement | None) -> None:
        """`node` runs (from its next start on) on a machine offering `enforcement`;
        None: the executor's own machine."""
        if enforcement is None:
            self._placed.pop(node, None)
        else:
            self._placed[node] = enforcement

    def offer(self, node: str) -> Enforcement:
        """What the machine of `node` offers."""
        return self._placed.get(node, self.enforcement)

    def watch(self, node: str) -> Watch:
        return watch_for(self._rules[node], self.offer(node))

    def observe(self, report: Sampled | Heartbeat | Enforced) -> Verdict | None:
        track = self._track(report.node, report.incarnation)
        if track is None:
            return None  # a late report about a replaced process
        match report:
            case Sampled():
                return self._sampled(track, report)
            case Heartbeat():
                watchdog = self._rules[report.node].watchdog
                if watchdog is None or hung_for(report) < watchdog:
                    return None
                return self._once(track, Verdict(report.node, report.incarnation,
                                                 LimitKind.WATCHDOG, hung_for(report),
                                                 watchdog, Enforcer.HEARTBEAT))
            case Enforced():
                return self._once(track, Verdict(report.node, report.incarnation,
                                                 report.limit, report.measured,
                                                 report.threshold, report.enforced_by))
        raise TypeError(f"not a health report: {report!r}")

    def forget(self, node: str, incarnation: int) -> None:
        """The incarnation exited: nothing more is known about `node` until it runs again."""
        track = self._tracks.get(node)
        if track is not None and track.incarnation <= incarnation:
            del self._tracks[node]

    def metrics(self, node: str) -> NodeMetrics:
        """Computed when asked (`dora status`), not for every sample."""
        track = self._tracks.get(node)
        if track is None or track.last is None:
            return NodeMetrics()
        return _metrics(track.previous, track.last)

    def _track(self, node: str, incarnation: int) -> _Track | None:
        track = self._tracks.get(node)
        if track is not None and incarnation < track.incarnation:
            return None
        if track is None or incarnation > track.incarnation:
            track = self._tracks[node] = _Track(incarnation)
        return track

    def _once(self, track: _Track, verdict: Verdict) -> Verdict | None:
        if verdict.limit in track.judged:
            return None
        track.judged.add(verdict.limit)
        return verdict

    def _sampled(self, track: _Track, sample: Sampled) -> Verdict | None:
        """Every sample of every node comes here: the common case returns early."""
        track.previous, track.last = track.last, sample
        rules = self._rules[sample.node]
        if (sample.state.frozen or track.frozen_since is not None) \
                and (verdict := self._frozen(track, sample, rules.lease)):
            return verdict
        if rules.memory is not None and (verdict := self._memory(track, sample, rules)):
            return verdict
        if rules.cpu is not None:
            return self._cpu(track, sample, rules)
        return None

    def _frozen(self, track: _Track, sample: Sampled, lease: float) -> Verdict | None:
        """Frozen for a lease, from the first sample that saw it frozen; a pass may start
        a few milliseconds late, so `SAMPLING_JITTER_S` short of the lease counts."""
        if not sample.state.frozen:
            track.frozen_since, track.frozen_reported = None, False
            return None
        if track.frozen_since is None:
            track.frozen_since = sample.at
        frozen_s = sample.at - track.frozen_since
        if track.frozen_reported or frozen_s < lease - SAMPLING_JITTER_S:
            return None
        track.frozen_reported = True
        return Verdict(sample.node, sample.incarnation, LimitKind.LEASE, frozen_s, lease,
                       Enforcer.SAMPLING)

    def _memory(self, track: _Track, sample: Sampled, rules: NodeRules) -> Verdict | None:
        """Where the kernel enforces the limit a sample never exceeds it (its OOM report
        is the verdict); one that does is a node the executor could not put in its cgroup."""
        if rules.memory is None or sample.rss_bytes is None \
                or sample.rss_bytes <= rules.memory:
            return None
        return self._once(track, Verdict(sample.node, sample.incarnation, LimitKind.MEMORY,
                                         sample.rss_bytes, rules.memory, Enforcer.SAMPLING))

    def _cpu(self, track: _Track, sample: Sampled, rules: NodeRules) -> Verdict | None:
        """The share over the last window: from the newest sample at least a window
        old; samples in the first `CPU_GRACE_S` of the incarnation are not kept."""
        if not cpu_kills(rules, self.offer(sample.node)) or sample.cpu_time_s is None:
            return None
        if track.first_at is None:
            track.first_at = sample.at
        if sample.at < track.first_at + CPU_GRACE_S:
            return None
        window = track.cpu_window
        window.append((sample.at, sample.cpu_time_s))
        while len(window) > 1 and window[1][0] <= sample.at - CPU_WINDOW_S:
            window.popleft()
        if window[0][0] > sample.at - CPU_WINDOW_S:
            return None  # not a whole window yet
        share = cpu_share(window[0], window[-1])
        if share is None or share <= rules.cpu:
            return None
        return self._once(track, Verdict(sample.node, sample.incarnation, LimitKind.CPU,
                                         share, rules.cpu, self.offer(sample.node).cpu))


def _metrics(previous: Sampled | None, sample: Sampled) -> NodeMetrics:
    """RSS as sampled; CPU share over the time between two samples of the same process."""
    cpu_percent = None
    if previous is not None and previous.cpu_time_s is not None \
            and sample.cpu_time_s is not None:
        cpu_percent = cpu_share((previous.at, previous.cpu_time_s),
                                (sample.at, sample.cpu_time_s))
    return NodeMetrics(rss_bytes=sample.rss_bytes, cpu_percent=cpu_percent)
