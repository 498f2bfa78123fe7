"""What the samples of a node's process mean: frozen for a lease, and its latest figures.

Pure: the executor reports `Sampled` records (wherever the process runs) and this module
decides. A process stopped by a signal or a tracer for at least its `health.lease` has lost
its liveliness, exactly as if its zenoh token had expired; the verdict is given once per
incarnation and frozen spell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from dora_supervisor.samples import NodeMetrics, Sampled

__all__ = ["HealthWatch", "LivelinessLost", "sample_interval", "MIN_SAMPLE_INTERVAL_S"]

MIN_SAMPLE_INTERVAL_S = 0.2  # below this, sampling costs more than the answer is worth


def sample_interval(leases: Iterable[float]) -> float:
    """How often to sample so that the shortest lease is noticed within 1.5 leases."""
    return max(MIN_SAMPLE_INTERVAL_S, min(leases, default=2 * MIN_SAMPLE_INTERVAL_S) / 2)


@attrs.frozen
class LivelinessLost:
    """The verdict: `node`'s incarnation has been frozen for `frozen_s` (>= its lease)."""

    node: str
    incarnation: int
    frozen_s: float


@attrs.define
class _Track:
    """What is remembered about the current incarnation of one node."""

    incarnation: int
    last: Sampled
    metrics: NodeMetrics
    frozen_since: float | None = None
    reported: bool = False


class HealthWatch:
    """Fed every `Sampled` of a dataflow; `observe` returns a verdict at most once per
    frozen spell, `metrics` the figures `dora status` shows."""

    def __init__(self, leases: Mapping[str, float]):
        self._leases = dict(leases)
        self._tracks: dict[str, _Track] = {}

    def observe(self, sample: Sampled) -> LivelinessLost | None:
        track = self._tracks.get(sample.node)
        if track is not None and sample.incarnation < track.incarnation:
            return None  # a late sample of a replaced process
        if track is None or sample.incarnation > track.incarnation:
            track = _Track(sample.incarnation, sample, _metrics(None, sample))
            self._tracks[sample.node] = track
        else:
            track.metrics, track.last = _metrics(track.last, sample), sample
        if not sample.state.frozen:
            track.frozen_since, track.reported = None, False
            return None
        if track.frozen_since is None:
            track.frozen_since = sample.at
        frozen_s = sample.at - track.frozen_since
        if track.reported or frozen_s < self._leases[sample.node]:
            return None
        track.reported = True
        return LivelinessLost(sample.node, sample.incarnation, frozen_s)

    def forget(self, node: str, incarnation: int) -> None:
        """The incarnation exited: nothing more is known about `node` until it runs again."""
        track = self._tracks.get(node)
        if track is not None and track.incarnation <= incarnation:
            del self._tracks[node]

    def metrics(self, node: str) -> NodeMetrics:
        track = self._tracks.get(node)
        return NodeMetrics() if track is None else track.metrics


def _metrics(previous: Sampled | None, sample: Sampled) -> NodeMetrics:
    """RSS as sampled; CPU share over the time between two samples of the same process."""
    cpu_percent = None
    if previous is not None and previous.cpu_time_s is not None \
            and sample.cpu_time_s is not None and sample.at > previous.at:
        cpu_percent = max(0.0, 100 * (sample.cpu_time_s - previous.cpu_time_s)
                          / (sample.at - previous.at))
    return NodeMetrics(rss_bytes=sample.rss_bytes, cpu_percent=cpu_percent)
