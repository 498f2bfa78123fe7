"""Limits, the watchdog and delivery accounting for nodes on another machine: a daemon's
executor measures and enforces what the coordinator asked, and everything it reports
(samples, heartbeats, the kernel's limit events, ledgers) reaches the coordinator, which
decides exactly as for a local node. Real daemons (`m1`, `m2`) on loopback."""

from __future__ import annotations

import json

import pytest

from dora_supervisor import cgroups
from tests.conftest import dora, wait_until
from tests.integration.cluster import Daemon, records, stop_all
from tests.integration.test_data_across_restarts import RESTART_LOSSES, balanced

pytestmark = pytest.mark.timeout(150)
MiB = 2**20


def start(file, name: str) -> None:
    started = dora("start", str(file), "--name", name, "--wait-for-machines", "30s")
    assert started.returncode == 0, started.stderr


def events(name: str, node: str, event: str) -> list[dict]:
    return [r for r in records(name, node) if r.get("event") == event]


def lines(name: str, node: str, word: str = "") -> list[str]:
    return [r["line"] for r in events(name, node, "node_output")
            if r["line"].startswith(word)]


def ended(name: str) -> dict | None:
    """The dataflow's `dora list` entry once it has ended by itself (finished or failed)."""
    listed = json.loads(dora("list", "--json").stdout)
    return next((d for d in listed if d["name"] == name
                 and d["state"] in ("finished", "failed")), None)


class Logged:
    """A finished dataflow's records as `dora logs` gives them, read like a `dora run`
    (for the books of test_data_across_restarts)."""

    def __init__(self, name: str, nodes: list[str]):
        self._records = {node: records(name, node) for node in nodes}

    def lines(self, node: str) -> list[str]:
        return [r["line"] for r in self._records[node] if r.get("event") == "node_output"]

    def events(self, event: str, node: str | None = None) -> list[dict]:
        return [r for n, found in self._records.items() if node in (None, n)
                for r in found if r.get("event") == event]


def start_remote_hog(dataflow) -> list[dict]:
    """A node on m1 whose forked child goes to 300 MiB past its 150 MiB limit; its exits."""
    start(dataflow("""
        nodes:
          - id: hog
            path: {nodes}/hog.py
            args: --jump --to 300 --fork
            limits: {memory: 150MiB}
            restart: {policy: temporary}
            deploy: {machine: m1}
    """), "hogs")
    return wait_until(lambda: events("hogs", "hog", "node_exited"), 60, "the hog killed")


def test_a_remote_node_over_its_memory_limit_is_killed_by_its_machine(
        dataflow, enforced_by, cluster):
    """The memory is held by a forked child: only the group the coordinator asked the
    daemon to watch (or the cgroup it asked for) sees it."""
    m1 = cluster.daemon("m1")
    exited = start_remote_hog(dataflow)
    assert (exited[0]["reason"], exited[0]["signal"]) == ("memory_limit", 9)
    record = events("hogs", "hog", "limit_exceeded")[0]
    assert (record["reason"], record["limit"], record["threshold"], record["enforced_by"],
            record["machine"]) == ("memory_limit", "memory", 150 * MiB, enforced_by, "m1")
    assert 150 * MiB <= record["measured"] < 400 * MiB  # sampled: the group, both pythons
    assert lines("hogs", "hog", "CHILD")
    gave_up = wait_until(lambda: ended("hogs"), 20, "given up: the dataflow failed")
    assert (gave_up["state"], gave_up["exit_code"]) == ("failed", 1)
    stop_all([m1])


def kernel_offer():
    """What this machine's kernel offers, or skip: the tests that mix machines with and
    without cgroups need it."""
    offer = cgroups.probe({})
    if offer is None or offer.cpu is None:
        pytest.skip("this machine lets us create no cgroups with a CPU quota")
    return offer


def test_a_node_on_a_machine_without_cgroups_is_judged_by_samples_there(
        dataflow, request, monkeypatch, tmp_path):
    """The coordinator's machine could throttle; m1 cannot: the node is killed above its
    share instead, and its log says why."""
    kernel_offer()
    monkeypatch.delenv(cgroups.CGROUPS_ENV, raising=False)
    cluster = request.getfixturevalue("cluster")
    m1 = Daemon("m1", [cluster.endpoint], tmp_path, env={cgroups.CGROUPS_ENV: "off"})
    cluster.daemons.append(m1)
    start(dataflow("""
        nodes:
          - id: spin
            path: {nodes}/spinner.py
            args: --fork
            limits: {cpu: 30%, cpu_mode: throttle}
            restart: {policy: temporary}
            deploy: {machine: m1}
    """), "spins")
    exited = wait_until(lambda: events("spins", "spin", "node_exited"), 60, "the spin killed")
    assert exited[0]["reason"] == "cpu_limit"
    record = events("spins", "spin", "limit_exceeded")[0]
    assert (record["limit"], record["threshold"], record["enforced_by"], record["machine"]) \
        == ("cpu", 30.0, "sampling", "m1")
    warning = events("spins", "spin", "cpu_throttle_unavailable")
    assert [w["enforced_by"] for w in warning] == ["sampling"]
    assert m1.events("daemon_started")[0]["enforced_by"] == {
        "memory": "sampling", "cpu": "sampling", "cpu_throttle": False}
    wait_until(lambda: ended("spins"), 20, "given up: the dataflow failed")
    stop_all([m1])


def test_a_node_on_a_machine_with_cgroups_is_held_by_its_kernel(
        dataflow, request, monkeypatch, tmp_path):
    """The coordinator's machine samples; m1's kernel enforces the memory limit."""
    offer = kernel_offer()
    monkeypatch.setenv(cgroups.CGROUPS_ENV, "off")
    cluster = request.getfixturevalue("cluster")
    m1 = Daemon("m1", [cluster.endpoint], tmp_path, env={cgroups.CGROUPS_ENV: ""})
    cluster.daemons.append(m1)
    exited = start_remote_hog(dataflow)
    assert (exited[0]["reason"], exited[0]["signal"]) == ("memory_limit", 9)
    record = events("hogs", "hog", "limit_exceeded")[0]
    assert (record["enforced_by"], record["machine"]) == (offer.version.value, "m1")
    wait_until(lambda: ended("hogs"), 20, "given up: the dataflow failed")
    stop_all([m1])


def test_a_remote_node_whose_main_loop_hangs_is_replaced_by_its_watchdog(dataflow, cluster):
    m1 = cluster.daemon("m1")
    start(dataflow("""
        supervision: {auto_shutdown: never}
        nodes:
          - id: sleepy
            path: {nodes}/sleepy.py
            args: --block-after 0.5
            inputs: {tick: dora/timer/millis/50}
            health: {watchdog: 1s}
            restart: {policy: permanent, backoff: {initial: 10ms, jitter: 0}}
            deploy: {machine: m1}
    """), "hangs")
    wait_until(lambda: len(events("hangs", "sleepy", "node_started")) == 2, 60,
               "the hung node replaced")
    record = events("hangs", "sleepy", "watchdog")[0]
    assert (record["reason"], record["limit"], record["unit"], record["threshold"],
            record["enforced_by"], record["machine"]) == (
        "watchdog", "watchdog", "s", 1.0, "heartbeat", "m1")
    assert 1.0 <= record["measured"] < 1.5  # read on m1, against m1's clock
    assert events("hangs", "sleepy", "node_exited")[0]["reason"] == "watchdog"
    wait_until(lambda: "restart=1" in lines("hangs", "sleepy", "START")[-1]
               and lines("hangs", "sleepy", "EVENT"), 30, "the new incarnation taking events")
    stopped = dora("stop", "hangs")
    assert stopped.returncode == 0, stopped.stderr
    stop_all([m1])


def test_a_remote_consumer_crashing_with_messages_queued_loses_nothing_uncounted(
        dataflow, cluster):
    """A producer on m1 feeds a slow consumer on m2 that crashes once. Its watchdog makes
    it read its input through a queue, so it dies with messages received and not taken:
    only its ledger, read on m2, counts them, and says where its stream stopped (what
    came after is counted as lost when its next incarnation starts, or at the end)."""
    m1, m2 = cluster.daemon("m1"), cluster.daemon("m2")
    start(dataflow("""
        nodes:
          - id: producer
            path: {nodes}/seq_source.py
            args: --count 1500 --size 4096
            inputs: {tick: dora/timer/millis/1}
            outputs: [out]
            deploy: {machine: m1}
          - id: consumer
            path: {nodes}/seq_sink.py
            args: --delay 0.005 --crash-after 200 --crash-times 1
            inputs: {in: producer/out}
            health: {watchdog: 30s}
            restart: {policy: transient, backoff: {initial: 50ms, jitter: 0}}
            shutdown: 20s  # time to drain to the end, so it reports all it took
            deploy: {machine: m2}
    """), "books")
    done = wait_until(lambda: ended("books"), 90, "the dataflow to finish")
    assert (done["state"], done["exit_code"]) == ("finished", 0)
    run = Logged("books", ["producer", "consumer"])
    assert sum(line == "CRASH" for line in run.lines("consumer")) == 1
    total, accounted, losses = balanced(run)
    assert total == 1500 and accounted == total, losses
    assert {reason for reason, _ in losses} <= RESTART_LOSSES
    assert any(reason == "consumer_stopped" for reason, _ in losses), losses
    stop_all([m1, m2])
