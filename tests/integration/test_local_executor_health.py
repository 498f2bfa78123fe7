"""What the local executor measures for a node's `Watch`, on real processes: the group's
figures, the kernel's OOM kill before the exit, heartbeats, each node at its own pace
(an idle one rarely, until the kernel says it stopped)."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import structlog
from structlog.testing import capture_logs

from dora_supervisor import cgroups, sampler
from dora_supervisor.descriptor import Limits
from dora_supervisor.executor import Launch
from dora_supervisor.local_executor import LocalExecutor
from dora_supervisor.samples import Enforced, Enforcer, Heartbeat, LimitKind, Sampled, Watch
from dora_supervisor.tree_model import Exited, Started
from tests.conftest import wait_until, wait_until_async
from tests.integration.test_local_executor import Collected

MiB = 2**20
# A leader whose forked child holds 80 MiB.
FORKER = [sys.executable, "-c", "import os, time\nif os.fork() == 0:\n"
          "    x = b'x' * (80 << 20); print('held', flush=True)\ntime.sleep(60)"]
HOG = [sys.executable, "-c", "import time; time.sleep(0.3); x = b'x' * (300 << 20); "
       "time.sleep(60)"]
# Arms its heartbeat page with events waiting, then never takes one.
STUCK = [sys.executable, "-c", "import time\nfrom dora_api.watchdog import Heartbeat\n"
         "Heartbeat.from_environ().arm(True); print('armed', flush=True); time.sleep(60)"]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture(params=["cgroup", "sampling"])
def mechanism(request, monkeypatch) -> str:
    if request.param == "sampling":
        monkeypatch.setenv(cgroups.CGROUPS_ENV, "off")
    elif cgroups.probe() is None:
        pytest.skip("this machine lets us create no cgroups")
    return request.param


def launch(node: str, argv: list[str], watch: Watch) -> Launch:
    return Launch(node, 1, 0, argv, dict(os.environ), os.getcwd(), Limits(), watch)


def run(scenario) -> None:
    asyncio.run(scenario())


def test_a_group_watch_measures_the_child_too(mechanism):
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("forker", FORKER, Watch(0.1, group=True)))
            await wait_until_async(
                lambda: [s for s in seen.of(Sampled) if (s.rss_bytes or 0) > 80 * MiB], 20,
                "a sample with the child's memory")

    run(scenario)
    assert all(s.node == "forker" for s in seen.of(Sampled))


def test_a_leader_watch_reads_the_leader_alone():
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("forker", FORKER, Watch(0.1)))
            await wait_until_async(lambda: ("forker", 1, "held") in [
                (n, 1, line) for n, _, line in seen.lines], 20, "the child to hold memory")
            await wait_until_async(lambda: len(seen.of(Sampled)) >= 3, 20, "samples after")

    run(scenario)
    assert seen.of(Sampled)[-1].rss_bytes < 80 * MiB


def test_the_kernels_oom_kill_is_reported_before_the_exit(monkeypatch):
    monkeypatch.delenv(cgroups.CGROUPS_ENV, raising=False)
    offer = cgroups.probe()
    if offer is None:
        pytest.skip("this machine lets us create no cgroups: the core judges samples")
    seen = Collected()
    ours = f"{offer.memory}/dora-{os.getpid()}-*"

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            assert executor.enforcement.memory is not Enforcer.SAMPLING
            await executor.spawn(launch("hog", HOG, Watch(0.4, group=True,
                                                          memory_max=100 * MiB)))
            assert glob.glob(f"{ours}/hog.1")
            await wait_until_async(lambda: seen.of(Enforced), 20, "the OOM report")
            executor.kill("hog", 1)  # what the core does on the verdict
            await wait_until_async(lambda: seen.of(Exited), 20, "the exit")

    run(scenario)
    enforced = seen.of(Enforced)
    assert len(enforced) == 1
    assert (enforced[0].limit, enforced[0].threshold) == (LimitKind.MEMORY, 100 * MiB)
    order = [type(r) for r in seen.reports if isinstance(r, Enforced | Exited)]
    assert order == [Enforced, Exited]
    assert glob.glob(ours) == []  # the node's cgroup, then the executor's, are gone


def test_a_heartbeat_page_is_reported_once_the_node_armed_it():
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("stuck", STUCK, Watch(0.05, heartbeat=True)))
            await wait_until_async(lambda: len(seen.of(Heartbeat)) >= 3, 20, "heartbeats")

    run(scenario)
    beats = seen.of(Heartbeat)
    assert all(b.waiting_since > 0 and b.taken_at == beats[0].taken_at for b in beats)
    assert beats[-1].at - beats[-1].waiting_since > 0


def test_each_node_is_sampled_at_its_own_pace():
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("fast", SLEEPER, Watch(0.1)))
            await executor.spawn(launch("slow", SLEEPER, Watch(0.5)))
            await wait_until_async(
                lambda: len([s for s in seen.of(Sampled) if s.node == "slow"]) >= 4, 20,
                "four samples of the slow node")

    run(scenario)
    fast = [s.at for s in seen.of(Sampled) if s.node == "fast"]
    slow = [s.at for s in seen.of(Sampled) if s.node == "slow"]
    assert len(fast) >= 4 * len(slow) - 5
    gaps = [b - a for a, b in zip(slow, slow[1:], strict=False)]
    assert all(0.4 < gap < 0.7 for gap in gaps), gaps


def test_an_idle_node_is_read_rarely_while_it_runs_and_at_once_when_it_stops():
    seen = Collected()
    marks: dict[str, float] = {}

    def samples(frozen: bool | None = None) -> list[Sampled]:
        return [s for s in seen.of(Sampled) if frozen is None or s.state.frozen == frozen]

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("idle", SLEEPER, Watch(0.1, idle_interval=3.0)))
            pid = seen.of(Started)[0].pid
            await wait_until_async(lambda: len(samples()) >= 2, 20, "two samples")
            count = len(samples())
            await wait_until_async(lambda: len(samples()) > count, 20, "a third sample")
            marks["stopped"] = time.monotonic()  # the next idle read is 3 s away
            os.kill(pid, signal.SIGSTOP)
            await wait_until_async(lambda: len(samples(frozen=True)) >= 5, 20,
                                   "five samples of the stopped node")
            marks["continued"] = time.monotonic()
            os.kill(pid, signal.SIGCONT)
            await wait_until_async(lambda: samples()[-1].at > marks["continued"]
                                   and not samples()[-1].state.frozen, 20, "it runs again")

    run(scenario)
    running = [s.at for s in samples() if s.at < marks["stopped"]]
    assert all(b - a > 2.5 for a, b in zip(running, running[1:], strict=False)), running
    stopped = [s.at for s in samples(frozen=True)]
    assert stopped[0] - marks["stopped"] < 1.0  # told by the kernel, not the next idle read
    assert all(b - a < 0.5 for a, b in zip(stopped, stopped[1:], strict=False)), stopped
    assert samples()[-1].at - marks["continued"] < 1.0


def test_the_group_scan_finds_new_members_and_forgets_gone_ones():
    scanner = sampler.ProcReader()
    leader = subprocess.Popen(FORKER, start_new_session=True, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert leader.stdout.readline().strip() == "held"
        members = scanner.members({leader.pid})[leader.pid]
        assert members[0].pid == leader.pid and len(members) == 2
        assert sum(m.rss_bytes for m in members) > 80 * MiB
        os.kill(members[1].pid, signal.SIGKILL)
        wait_until(lambda: sum(m.rss_bytes for m in scanner.members({leader.pid})[leader.pid])
                   < 80 * MiB, 10, "the killed child's memory to go")
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
    wait_until(lambda: scanner.members({leader.pid}) == {leader.pid: []}, 10,
               "the group to be gone")
    scanner.close()


def test_without_proc_psutil_reads_the_same_figures(tmp_path):
    fallback, native = sampler.ProcReader(str(tmp_path / "no-proc")), sampler.ProcReader()
    leader = subprocess.Popen(FORKER, start_new_session=True, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert leader.stdout.readline().strip() == "held"
        by_psutil, by_proc = fallback.stat(leader.pid), native.stat(leader.pid)
        assert (by_psutil.state, by_psutil.pgrp) == (by_proc.state, by_proc.pgrp)
        assert by_psutil.rss_bytes == pytest.approx(by_proc.rss_bytes, rel=0.2)
        group = fallback.members({leader.pid})[leader.pid]
        assert [m.pid for m in group][0] == leader.pid and len(group) == 2
        assert sum(m.rss_bytes for m in group) > 80 * MiB
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
        native.close()


def test_a_node_whose_cgroup_fails_runs_sampled_as_a_group_and_says_so(monkeypatch):
    monkeypatch.delenv(cgroups.CGROUPS_ENV, raising=False)
    if cgroups.probe() is None:
        pytest.skip("this machine lets us create no cgroups")

    def refuse(*args):
        raise PermissionError("no cgroup for you")

    monkeypatch.setattr(cgroups.Cgroups, "create", refuse)
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("forker", FORKER, Watch(0.1, group=True,
                                                                memory_max=50 * MiB)))
            await wait_until_async(
                lambda: [s for s in seen.of(Sampled) if (s.rss_bytes or 0) > 80 * MiB], 20,
                "a group sample above the limit, for the core to judge")

    with capture_logs() as logs:
        run(scenario)
    failed = [r for r in logs if r["event"] == "cgroup_failed"]
    assert len(failed) == 1 and "no cgroup for you" in failed[0]["error"]
