"""Per-node cgroups on this machine (skipped where it lets us create none): limits set,
the OOM killer seen, everything killed and removed, stale directories swept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dora_supervisor import cgroups
from dora_supervisor.cgroup_node import read_int
from dora_supervisor.samples import Enforcer
from tests.conftest import wait_until

MiB = 2**20
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
HOG = [sys.executable, "-c", "import time; x = b'x' * (200 << 20); time.sleep(60)"]


@pytest.fixture
def offer(monkeypatch) -> cgroups.Offer:
    monkeypatch.delenv(cgroups.CGROUPS_ENV, raising=False)
    found = cgroups.probe()
    if found is None:
        pytest.skip("this machine lets us create no cgroups")
    return found


def started(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, start_new_session=True)


def test_a_node_cgroup_has_its_limits_holds_the_node_and_goes_away(offer):
    tree = cgroups.Cgroups(offer)
    cgroup = tree.create("n", 1, 100 * MiB, 30.0 if offer.cpu else None)
    proc = started(SLEEPER)
    try:
        cgroup.join(proc.pid)
        assert cgroup.pids() == [proc.pid]
        if offer.version is Enforcer.CGROUP_V1:
            assert read_int(f"{cgroup.memory}/memory.limit_in_bytes") == 100 * MiB
            if offer.cpu:
                assert read_int(f"{cgroup.cpu}/cpu.cfs_quota_us") == 30_000
        with open(cgroup.cpu_file, "rb") as handle:
            assert cgroup.cpu_time_s(handle.read()) is not None
        assert read_int(cgroup.memory_file) is not None
        assert not cgroup.remove()  # the kernel keeps a cgroup that holds a process
        cgroup.kill()
        assert proc.wait(10) == -9
        wait_until(cgroup.remove, 5, "the empty cgroup to be removed")
        assert not any(os.path.exists(d) for d in cgroup.dirs)
    finally:
        proc.kill()
        proc.wait()
    assert tree.close() == []


def test_the_oom_killer_in_a_node_cgroup_is_seen(offer):
    tree = cgroups.Cgroups(offer)
    cgroup = tree.create("hog", 1, 100 * MiB, None)
    proc = started(HOG)
    try:
        cgroup.join(proc.pid)
        assert proc.wait(20) == -9  # the kernel's OOM killer
        if cgroup.oom_fd is not None:  # v1: an eventfd says so at once
            assert cgroup.drain_oom_fd()
        assert cgroup.oom_kills() >= 1
        assert cgroup.peak_bytes() >= 100 * MiB - 4096
    finally:
        proc.kill()
        proc.wait()
        wait_until(cgroup.remove, 5, "the cgroup to be removed")
        tree.close()


def test_stale_directories_go_when_empty_and_never_take_a_process(offer):
    parent = offer.memory or offer.cpuacct
    dead = f"{parent}/dora-999999999-1-1"  # no such pid: its coordinator is gone
    busy = f"{parent}/dora-999999998-1-1"
    ours = f"{parent}/dora-{os.getpid()}-{cgroups._start_ticks(os.getpid())}-77"
    for path in (f"{dead}/node.1", f"{busy}/node.1", ours):
        os.makedirs(path)
    proc = started(SLEEPER)
    try:
        with open(f"{busy}/node.1/cgroup.procs", "w") as handle:
            handle.write(str(proc.pid))
        removed = cgroups.sweep_stale(offer)
        assert dead in removed and not os.path.exists(dead)
        assert os.path.exists(f"{busy}/node.1") and os.path.exists(ours)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()

        def swept() -> bool:
            cgroups.sweep_stale(offer)
            return not os.path.exists(busy)

        wait_until(swept, 5, "the busy one to go once empty")
        os.rmdir(ours)


def test_the_join_prefix_puts_the_node_in_before_it_runs(offer):
    """A node that forks at once: its child is inside too (a join after the start would
    race the fork), and it keeps its pid through the prefix."""
    tree = cgroups.Cgroups(offer)
    cgroup = tree.create("forker", 1, 100 * MiB, None)
    proc = subprocess.Popen([*cgroup.join_argv(), sys.executable, "-c",
                             "import os, time\nos.fork()\ntime.sleep(60)"],
                            start_new_session=True)
    try:
        wait_until(lambda: len(cgroup.pids()) == 2, 10, "the node and its child inside")
        assert proc.pid in cgroup.pids()
    finally:
        cgroup.kill()
        proc.wait()
        wait_until(cgroup.remove, 5, "the cgroup to be removed")
        tree.close()


def test_a_prefix_that_cannot_join_exits_126_and_says_why(offer):
    tree = cgroups.Cgroups(offer)
    cgroup = tree.create("lost", 1, None, None)
    prefix = cgroup.join_argv()
    wait_until(cgroup.remove, 5, "the cgroup to be removed")  # gone before the start
    result = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 126
    assert "dora: cannot join the cgroup" in result.stderr
    tree.close()
