"""The frozen-for-a-lease rule and the metrics, fed with samples as an executor reports them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dora_supervisor.health import HealthWatch, NodeRules, Verdict, sample_interval
from dora_supervisor.health_rules import SAMPLING_JITTER_S
from dora_supervisor.samples import Enforcer, LimitKind, NodeMetrics, ProcessState, Sampled

LEASE = 1.0
EPSILON = 1e-6
DUE = LEASE - SAMPLING_JITTER_S  # a pass may start late: this much frozen counts
FROZEN, RUNNING = ProcessState.STOPPED, ProcessState.SLEEPING


def watch() -> HealthWatch:
    return HealthWatch({"a": NodeRules(lease=LEASE), "b": NodeRules(lease=3.0)})


def LivelinessLost(node: str, incarnation: int, frozen_s: float, lease: float = LEASE):  # noqa: N802
    """The verdict about a node frozen for `frozen_s` against its `lease`."""
    return Verdict(node, incarnation, LimitKind.LEASE, frozen_s, lease, Enforcer.SAMPLING)


def feed(health: HealthWatch, *samples: tuple) -> list[Verdict]:
    """Each sample as (at, state) or (at, state, incarnation); the verdicts it produced."""
    verdicts = []
    for sample in samples:
        at, state, incarnation = (*sample, 1) if len(sample) == 2 else sample
        verdict = health.observe(Sampled("a", incarnation, at, state))
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def test_frozen_for_a_lease_minus_the_sampling_jitter_minus_epsilon_is_nothing():
    assert feed(watch(), (10.0, FROZEN), (10.5, FROZEN), (10.0 + DUE - EPSILON, FROZEN)) == []


def test_a_pass_that_started_a_little_late_does_not_cost_a_whole_interval():
    health = watch()
    assert feed(health, (10.0, FROZEN), (10.5, FROZEN)) == []
    assert feed(health, (10.0 + DUE, FROZEN)) == [LivelinessLost("a", 1, 10.0 + DUE - 10.0)]


def test_frozen_for_a_lease_is_one_verdict_reported_once():
    health = watch()
    assert feed(health, (10.0, FROZEN), (10.5, FROZEN)) == []
    assert feed(health, (11.0, FROZEN)) == [LivelinessLost("a", 1, 1.0)]
    assert feed(health, (11.5, FROZEN), (20.0, FROZEN)) == []


def test_the_lease_is_the_nodes_own():
    health = watch()
    assert health.observe(Sampled("b", 1, 0.0, FROZEN)) is None
    assert health.observe(Sampled("b", 1, 2.9, FROZEN)) is None
    assert health.observe(Sampled("b", 1, 3.0, FROZEN)) == LivelinessLost("b", 1, 3.0, 3.0)


def test_a_running_process_is_never_a_verdict():
    assert feed(watch(), *[(t / 2, RUNNING) for t in range(20)]) == []


def test_a_new_incarnation_starts_from_zero():
    health = watch()
    assert feed(health, (0.0, FROZEN, 1), (0.9, FROZEN, 1)) == []
    assert feed(health, (1.0, FROZEN, 2), (1.9, FROZEN, 2)) == []
    assert feed(health, (2.0, FROZEN, 2)) == [LivelinessLost("a", 2, 1.0)]


def test_a_new_incarnation_after_a_verdict_gets_its_own():
    health = watch()
    assert feed(health, (0.0, FROZEN, 1), (1.0, FROZEN, 1)) == [LivelinessLost("a", 1, 1.0)]
    assert feed(health, (2.0, FROZEN, 2), (3.0, FROZEN, 2)) == [LivelinessLost("a", 2, 1.0)]


def test_a_late_sample_of_a_replaced_incarnation_changes_nothing():
    health = watch()
    assert feed(health, (0.0, FROZEN, 2), (0.5, FROZEN, 1), (0.9, RUNNING, 1)) == []
    assert feed(health, (1.0, FROZEN, 2)) == [LivelinessLost("a", 2, 1.0)]


def test_a_thaw_starts_the_lease_again():
    health = watch()
    assert feed(health, (0.0, FROZEN), (0.9, FROZEN), (0.95, RUNNING)) == []
    assert feed(health, (1.0, FROZEN), (1.9, FROZEN)) == []
    assert feed(health, (2.0, FROZEN)) == [LivelinessLost("a", 1, 1.0)]


def test_a_thaw_after_a_verdict_allows_the_next_one():
    health = watch()
    assert len(feed(health, (0.0, FROZEN), (1.0, FROZEN))) == 1
    assert feed(health, (1.5, RUNNING), (2.0, FROZEN), (2.9, FROZEN)) == []
    assert feed(health, (3.0, FROZEN)) == [LivelinessLost("a", 1, 1.0)]


def test_traced_counts_as_frozen():
    assert feed(watch(), (0.0, ProcessState.TRACED), (1.0, ProcessState.TRACED)) \
        == [LivelinessLost("a", 1, 1.0)]


def test_forget_drops_what_was_known_about_the_exited_incarnation():
    health = watch()
    feed(health, (0.0, FROZEN, 1), (0.9, FROZEN, 1))
    health.forget("a", 1)
    assert health.metrics("a") == NodeMetrics()
    assert feed(health, (1.0, FROZEN, 1), (1.9, FROZEN, 1)) == []


def test_metrics_rss_as_sampled_and_cpu_share_between_two_samples():
    health = watch()
    assert health.metrics("a") == NodeMetrics()
    health.observe(Sampled("a", 1, 10.0, RUNNING, rss_bytes=1000, cpu_time_s=2.0))
    assert health.metrics("a") == NodeMetrics(rss_bytes=1000, cpu_percent=None)
    health.observe(Sampled("a", 1, 10.5, RUNNING, rss_bytes=2000, cpu_time_s=2.25))
    assert health.metrics("a") == NodeMetrics(rss_bytes=2000, cpu_percent=50.0)
    health.observe(Sampled("a", 2, 11.0, RUNNING, rss_bytes=3000, cpu_time_s=0.1))
    assert health.metrics("a") == NodeMetrics(rss_bytes=3000, cpu_percent=None)
    health.observe(Sampled("a", 2, 12.0, RUNNING, rss_bytes=3000, cpu_time_s=None))
    assert health.metrics("a") == NodeMetrics(rss_bytes=3000, cpu_percent=None)


@pytest.mark.parametrize(("leases", "interval"), [([1.0, 3.0], 0.5), ([0.1], 0.2), ([4.0], 2.0)])
def test_sampling_interval_is_half_the_shortest_lease_but_not_too_often(leases, interval):
    assert sample_interval(leases) == interval


def brute_force(samples: list[tuple[float, bool, int]], lease: float) -> list[int]:
    """Indices where a verdict is due, straight from the definition: the sample closes a
    frozen spell (same incarnation, no thaw in between) of at least `lease`, and no earlier
    sample of that spell did."""
    due = []
    for i, (at, frozen, incarnation) in enumerate(samples):
        newest = max(s[2] for s in samples[:i + 1])
        if not frozen or incarnation < newest:
            continue
        current = [j for j in range(i + 1) if samples[j][2] == incarnation]
        start = i
        while current.index(start) > 0 and samples[current[current.index(start) - 1]][1]:
            start = current[current.index(start) - 1]
        spell = [j for j in current if start <= j < i]
        if at - samples[start][0] >= lease and \
                not any(samples[j][0] - samples[start][0] >= lease for j in spell):
            due.append(i)
    return due


@given(st.lists(st.tuples(st.floats(0.01, 0.7), st.booleans(), st.integers(-1, 1)),
                max_size=40))
def test_verdicts_are_exactly_those_of_the_definition(steps):
    samples, at, incarnation = [], 0.0, 1
    for delta, frozen, change in steps:
        at += delta
        incarnation = max(1, incarnation + change)
        samples.append((at, frozen, incarnation))
    health = watch()
    given_at = [i for i, (t, frozen, inc) in enumerate(samples)
                if health.observe(Sampled("a", inc, t, FROZEN if frozen else RUNNING))]
    assert given_at == brute_force(samples, DUE)
