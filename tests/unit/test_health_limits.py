"""Memory, CPU and watchdog verdicts, and what the core asks an executor to measure."""

from __future__ import annotations

import pytest

from dora_supervisor.descriptor import CpuMode
from dora_supervisor.health import HealthWatch, NodeRules, Verdict
from dora_supervisor.health_rules import (
    CPU_GRACE_S,
    CPU_WINDOW_S,
    cpu_share,
    hung_for,
    watch_for,
)
from dora_supervisor.policy import ExitReason
from dora_supervisor.samples import (
    Enforced,
    Enforcement,
    Enforcer,
    Heartbeat,
    LimitKind,
    ProcessState,
    Sampled,
    Watch,
)

MiB = 2**20
RUNNING = ProcessState.RUNNING
SAMPLING = Enforcement()
CGROUPS = Enforcement(Enforcer.CGROUP_V1, Enforcer.CGROUP_V1, throttle=True)


def health(rules: NodeRules, enforcement: Enforcement = SAMPLING) -> HealthWatch:
    return HealthWatch({"a": rules}, enforcement)


def rss(watch: HealthWatch, at: float, rss_bytes: int, incarnation: int = 1):
    return watch.observe(Sampled("a", incarnation, at, RUNNING, rss_bytes=rss_bytes))


def cpu(watch: HealthWatch, at: float, cpu_time_s: float, incarnation: int = 1):
    return watch.observe(Sampled("a", incarnation, at, RUNNING, cpu_time_s=cpu_time_s))


# -- memory -----------------------------------------------------------------------------


def test_memory_at_the_limit_is_nothing_above_it_one_verdict():
    watch = health(NodeRules(memory=150 * MiB))
    assert rss(watch, 0.0, 150 * MiB) is None
    verdict = rss(watch, 0.1, 150 * MiB + 1)
    assert verdict == Verdict("a", 1, LimitKind.MEMORY, 150 * MiB + 1, 150 * MiB,
                              Enforcer.SAMPLING)
    assert verdict.reason is ExitReason.MEMORY_LIMIT
    assert rss(watch, 0.2, 300 * MiB) is None  # once per incarnation
    assert rss(watch, 0.3, 300 * MiB, incarnation=2) is not None


def test_where_the_kernel_enforces_the_limit_its_oom_report_is_the_verdict():
    watch = health(NodeRules(memory=150 * MiB), CGROUPS)
    assert rss(watch, 0.0, 150 * MiB) is None  # a cgroup's usage stops at its limit
    enforced = Enforced("a", 1, 0.1, LimitKind.MEMORY, 150 * MiB, 150 * MiB,
                        Enforcer.CGROUP_V1)
    assert watch.observe(enforced) == Verdict("a", 1, LimitKind.MEMORY, 150 * MiB,
                                              150 * MiB, Enforcer.CGROUP_V1)
    assert watch.observe(enforced) is None
    assert watch.observe(Enforced("a", 0, 0.2, LimitKind.MEMORY, 1, 1,
                                  Enforcer.CGROUP_V1)) is None  # an older incarnation


def test_a_node_left_outside_its_cgroup_is_still_judged_by_its_samples():
    watch = health(NodeRules(memory=150 * MiB), CGROUPS)
    assert rss(watch, 0.0, 300 * MiB) == Verdict("a", 1, LimitKind.MEMORY, 300 * MiB,
                                                 150 * MiB, Enforcer.SAMPLING)


def test_verdict_detail_is_what_the_record_shows():
    memory = Verdict("a", 3, LimitKind.MEMORY, 157286401.4, 157286400, Enforcer.CGROUP_V2)
    assert memory.detail == {"incarnation": 3, "limit": "memory", "measured": 157286401,
                             "threshold": 157286400, "unit": "bytes",
                             "enforced_by": "cgroup_v2"}
    hung = Verdict("a", 1, LimitKind.WATCHDOG, 1.00049, 1.0, Enforcer.HEARTBEAT)
    assert hung.detail["measured"] == 1.0 and hung.detail["unit"] == "s"
    assert hung.reason is ExitReason.WATCHDOG
    busy = Verdict("a", 1, LimitKind.CPU, 99.26, 30.0, Enforcer.SAMPLING)
    assert (busy.detail["measured"], busy.detail["unit"]) == (99.3, "percent")


# -- CPU --------------------------------------------------------------------------------


def busy_loop(watch: HealthWatch, share: float, until: float, step: float = 0.25):
    """Samples of a node using `share` of a core from t=0; the first verdict."""
    at = 0.0
    while at <= until:
        verdict = cpu(watch, at, share * at)
        if verdict is not None:
            return at, verdict
        at = round(at + step, 6)
    return None


def test_a_busy_loop_is_judged_once_grace_and_a_whole_window_have_passed():
    at, verdict = busy_loop(health(NodeRules(cpu=30.0)), 1.0, 10)
    assert at == CPU_GRACE_S + CPU_WINDOW_S
    assert verdict == Verdict("a", 1, LimitKind.CPU, 100.0, 30.0, Enforcer.SAMPLING)
    assert verdict.reason is ExitReason.CPU_LIMIT


def test_a_share_at_the_limit_is_never_judged():
    assert busy_loop(health(NodeRules(cpu=25.0)), 0.25, 20) is None


def test_a_short_burst_inside_a_window_average_is_nothing():
    watch = health(NodeRules(cpu=50.0))
    used = 0.0
    for step in range(40):  # 0.25s steps; one second of 100% among idle seconds
        at = step * 0.25
        used += 0.25 if 16 <= step < 20 else 0.0
        assert cpu(watch, at, used) is None


def test_the_window_is_the_last_two_seconds():
    watch = health(NodeRules(cpu=30.0))
    used, judged_at = 0.0, None
    for step in range(60):
        at = step * 0.25
        if at > 8.0:
            used += 0.25  # idle for 8s, then spinning
        if cpu(watch, at, used) is not None:
            judged_at = at
            break
    assert judged_at == 8.75  # 30% of 2s is 0.6s of CPU: crossed 0.75s into the spin


def test_throttle_on_a_machine_that_can_is_never_judged_and_can_falls_back_to_kill():
    rules = NodeRules(cpu=30.0, cpu_mode=CpuMode.THROTTLE)
    assert busy_loop(health(rules, CGROUPS), 1.0, 10) is None
    at, verdict = busy_loop(health(rules, SAMPLING), 1.0, 10)
    assert verdict.limit is LimitKind.CPU


def test_a_node_on_another_machine_is_measured_and_judged_by_what_that_one_offers():
    rules = NodeRules(cpu=30.0, cpu_mode=CpuMode.THROTTLE)
    watch = health(rules, CGROUPS)
    watch.place("a", SAMPLING)  # a daemon's machine without cgroups
    assert (watch.offer("a"), watch.watch("a")) == (SAMPLING, Watch(0.25, group=True))
    at, verdict = busy_loop(watch, 1.0, 10)
    assert verdict == Verdict("a", 1, LimitKind.CPU, 100.0, 30.0, Enforcer.SAMPLING)
    watch.place("a", None)  # back on the executor's own machine
    assert watch.watch("a") == Watch(0.5, group=True, cpu_quota=30.0)


@pytest.mark.parametrize("fields", [
    {"memory": "cgroup_v3", "cpu": "sampling", "cpu_throttle": False},
    {"memory": "sampling", "cpu": "sampling"},
    {"memory": "sampling", "cpu": "sampling", "cpu_throttle": "yes"}])
def test_an_enforcement_another_machine_names_must_be_one_this_version_knows(fields):
    assert Enforcement.from_fields(CGROUPS.as_fields()) == CGROUPS
    assert CGROUPS.as_fields() == {"memory": "cgroup_v1", "cpu": "cgroup_v1",
                                   "cpu_throttle": True}
    with pytest.raises(ValueError):
        Enforcement.from_fields(fields)


def test_cpu_share_of_two_samples():
    assert cpu_share((1.0, 2.0), (3.0, 3.0)) == 50.0
    assert cpu_share((1.0, 2.0), (1.0, 3.0)) is None
    assert cpu_share((1.0, 3.0), (2.0, 2.0)) == 0.0  # a member left the group


# -- watchdog ---------------------------------------------------------------------------


def beat(at: float, taken: float, waiting: float, excused: float = 0.0,
         incarnation: int = 1) -> Heartbeat:
    return Heartbeat("a", incarnation, at, taken, waiting, excused)


@pytest.mark.parametrize(("heartbeat", "hung"), [
    (beat(10.0, 1.0, 0.0), 0.0),  # nothing waits: not hung however long
    (beat(10.0, 1.0, 9.5), 0.5),  # waiting since 9.5
    (beat(10.0, 9.8, 5.0), 0.2),  # still taking events: the last one counts
    (beat(10.0, 1.0, 5.0, excused=20.0), 0.0),  # said it blocks on purpose
    (beat(10.0, 1.0, 5.0, excused=9.0), 1.0),  # the excuse ended at 9.0
])
def test_hung_for(heartbeat, hung):
    assert hung_for(heartbeat) == pytest.approx(hung)


def test_a_watchdog_verdict_once_events_waited_for_the_whole_period():
    watch = health(NodeRules(watchdog=1.0))
    assert watch.observe(beat(10.0, 5.0, 9.0 + 1e-6)) is None
    verdict = watch.observe(beat(10.0, 5.0, 9.0))
    assert verdict == Verdict("a", 1, LimitKind.WATCHDOG, 1.0, 1.0, Enforcer.HEARTBEAT)
    assert watch.observe(beat(11.0, 5.0, 9.0)) is None


def test_a_slow_but_alive_loop_is_left_alone():
    watch = health(NodeRules(watchdog=1.0))
    for step in range(100):  # an event taken every 0.5s, the next one always waiting
        at = step * 0.1
        taken = (step // 5) * 0.5
        assert watch.observe(beat(at, taken, 0.05)) is None


# -- what to measure --------------------------------------------------------------------


def test_a_node_without_limits_is_sampled_alone_four_times_per_lease_once_stopped():
    # while it runs, every IDLE_INTERVAL_S (2 s): the kernel reports a stop at once
    assert watch_for(NodeRules(lease=1.0), SAMPLING) == Watch(0.25, idle_interval=2.0)
    assert watch_for(NodeRules(lease=0.2), CGROUPS) == Watch(0.1, idle_interval=2.0)
    # lease + 0.5s at most
    assert watch_for(NodeRules(lease=60.0), SAMPLING) == Watch(0.5, idle_interval=2.0)


def test_limits_and_watchdogs_keep_their_pace_while_the_node_runs():
    for rules in (NodeRules(memory=150 * MiB), NodeRules(cpu=50.0), NodeRules(watchdog=1.0)):
        for enforcement in (SAMPLING, CGROUPS):
            assert watch_for(rules, enforcement).idle_interval is None, rules


def test_a_memory_limit_samples_the_group_fast_or_asks_the_kernel():
    rules = NodeRules(memory=150 * MiB)
    assert watch_for(rules, SAMPLING) == Watch(0.1, group=True)
    assert watch_for(rules, CGROUPS) == Watch(0.5, group=True, memory_max=150 * MiB)


def test_a_cpu_limit_samples_the_group_or_asks_for_a_quota():
    assert watch_for(NodeRules(cpu=30.0), CGROUPS) == Watch(0.25, group=True)
    throttled = NodeRules(cpu=30.0, cpu_mode=CpuMode.THROTTLE)
    assert watch_for(throttled, CGROUPS) == Watch(0.5, group=True, cpu_quota=30.0)
    assert watch_for(throttled, SAMPLING) == Watch(0.25, group=True)


def test_a_watchdog_reads_the_heartbeat_ten_times_per_period():
    assert watch_for(NodeRules(watchdog=1.0), SAMPLING) == Watch(0.1, heartbeat=True)
    assert watch_for(NodeRules(watchdog=0.1), SAMPLING).interval == 0.05
