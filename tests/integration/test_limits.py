"""Memory and CPU limits on real processes, under each mechanism this machine offers.

Every test runs twice: with the kernel enforcing (cgroups, when this machine lets us
create them; skipped otherwise) and with sampling forced (`DORA_CGROUPS=off`).
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
from datetime import datetime

import pytest
import structlog

from dora_supervisor import cgroups
from dora_supervisor.coordinator import Coordinator
from dora_supervisor.load import load_descriptor
from tests.conftest import wait_until, wait_until_async

MiB = 2**20
LIMIT = 150 * MiB


def stamp(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


def lines(run, node: str, word: str) -> list[str]:
    return [line for line in run.lines(node) if line.startswith(word)]


def hog(dataflow, args: str, policy: str = "permanent"):
    return dataflow(f"""
        supervision: {{auto_shutdown: never}}
        nodes:
          - id: hog
            path: {{nodes}}/hog.py
            args: {args}
            limits: {{memory: 150MiB}}
            restart: {{policy: {policy}, backoff: {{initial: 50ms}}}}
    """)


def test_a_node_allocating_past_its_limit_is_killed_and_restarted(dora_run, dataflow,
                                                                 enforced_by):
    run = dora_run(hog(dataflow, "--grow 10 --to 400 --first-only"))
    run.wait_for(lambda r: len(lines(r, "hog", "START")) == 2, 30, "a restart")
    exceeded = run.events("limit_exceeded", "hog")
    assert len(exceeded) == 1
    record = exceeded[0]
    assert (record["reason"], record["limit"], record["unit"], record["threshold"],
            record["enforced_by"]) == ("memory_limit", "memory", "bytes", LIMIT, enforced_by)
    assert LIMIT <= record["measured"] < 400 * MiB
    exited = run.events("node_exited", "hog")[0]
    assert exited["reason"] == "memory_limit" and exited["signal"] == 9
    assert not lines(run, "hog", "HOLDING")
    run.interrupt()
    assert run.wait(20) == 0


@pytest.mark.parametrize("fork", [False, True], ids=["itself", "in-a-child"])
def test_a_jump_past_the_limit_is_killed_within_half_a_second(dora_run, dataflow,
                                                             enforced_by, fork):
    """Measured from the node's own clock just before it jumps (so the time it takes to
    touch 300 MiB counts against us) to the `limit_exceeded` record. A child holding the
    memory is caught too: the limit is the whole process group's."""
    run = dora_run(hog(dataflow, "--jump --to 300" + " --fork" * fork, policy="temporary"))
    run.wait_for(lambda r: r.events("node_exited", "hog"), 30, "the kill")
    jumped = float(lines(run, "hog", "JUMP")[0].split()[1])
    record = run.events("limit_exceeded", "hog")[0]
    assert record["enforced_by"] == enforced_by
    assert stamp(record) - jumped < 0.5
    assert run.events("node_exited", "hog")[0]["reason"] == "memory_limit"
    assert run.wait(20) == 1  # temporary: given up, the dataflow failed
    if fork:
        assert lines(run, "hog", "CHILD")


def test_a_busy_loop_above_its_cpu_share_is_stopped(dora_run, dataflow, enforced_by):
    run = dora_run(dataflow("""
        nodes:
          - id: spin
            path: {nodes}/spinner.py
            args: --fork
            limits: {cpu: 30%}
            restart: {policy: temporary}
    """))
    assert run.wait(30) == 1
    record = run.events("limit_exceeded", "spin")[0]
    assert (record["reason"], record["limit"], record["unit"], record["threshold"],
            record["enforced_by"]) == ("cpu_limit", "cpu", "percent", 30.0, enforced_by)
    assert record["measured"] > 30.0
    exited = run.events("node_exited", "spin")[0]
    assert exited["reason"] == "cpu_limit"
    # judged over a whole 2s window after the 2s grace
    assert 4.0 <= exited["uptime_s"] < 8.0


def test_throttle_holds_a_busy_loop_to_its_share(dora_run, dataflow, enforced_by):
    run = dora_run(dataflow("""
        nodes:
          - id: spin
            path: {nodes}/spinner.py
            args: --report
            limits: {cpu: 30%, cpu_mode: throttle}
            restart: {policy: temporary}
    """))
    if enforced_by == "sampling":  # no quota without cgroups: killed instead, and said so
        assert run.wait(30) == 1
        warning = run.events("cpu_throttle_unavailable", "spin")[0]
        assert warning["enforced_by"] == "sampling"
        assert run.events("node_exited", "spin")[0]["reason"] == "cpu_limit"
        return
    run.wait_for(lambda r: len(lines(r, "spin", "SHARE")) >= 6, 30, "six seconds of spin")
    shares = [float(line.split()[1]) for line in lines(run, "spin", "SHARE")]
    assert all(share < 40 for share in shares[1:]), shares
    assert not run.events("limit_exceeded") and not run.events("node_exited")
    run.interrupt()
    assert run.wait(20) == 0


def test_the_records_say_which_mechanism_the_dataflow_uses(dora_run, dataflow, enforced_by):
    run = dora_run(dataflow("""
        nodes:
          - {id: hog, path: {nodes}/hog.py, args: --grow 1 --to 1}
    """))
    run.wait_for(lambda r: r.events("dataflow_started"), 30, "the start")
    started = run.events("dataflow_started")[0]
    assert started["enforced_by"]["memory"] == enforced_by
    assert re.fullmatch(r"cgroup_v[12]|sampling", started["enforced_by"]["cpu"])
    run.interrupt()
    assert run.wait(20) == 0


def test_status_shows_the_whole_groups_memory_and_cpu(dataflow, tmp_path, enforced_by):
    """`dora status` reads `metrics`: a node with a limit is measured with its children."""
    path = dataflow("""
        nodes:
          - {id: hog, path: {nodes}/hog.py, args: --fork --jump --to 80 --after 0,
             limits: {memory: 150MiB, cpu: 90%}}
    """)
    df, _ = load_descriptor(str(path))

    async def scenario() -> None:
        async with Coordinator("json", str(tmp_path / "out")) as coordinator:
            runtime = coordinator.start(df, str(path), "df-1")
            await wait_until_async(lambda: (runtime.metrics("hog").rss_bytes or 0) > 80 * MiB
                                   and runtime.metrics("hog").cpu_percent is not None, 20,
                                   "the child's memory in the node's figures")
            coordinator.stop("df-1")

    try:
        asyncio.run(scenario())
    finally:
        structlog.reset_defaults()


def test_the_cgroups_of_a_killed_coordinator_go_at_the_next_start(dora_run, dataflow,
                                                                  monkeypatch):
    monkeypatch.delenv(cgroups.CGROUPS_ENV, raising=False)
    offer = cgroups.probe()
    if offer is None:
        pytest.skip("this machine lets us create no cgroups")
    path = hog(dataflow, "--grow 1 --to 1")
    first = dora_run(path)
    first.wait_for(lambda r: lines(r, "hog", "HOLDING"), 30, "the node in its cgroup")
    left = glob.glob(f"{offer.memory or offer.cpuacct}/dora-{first.proc.pid}-*")
    assert left
    node = int(re.search(r"pid=(\d+)", lines(first, "hog", "START")[0])[1])
    first.kill()  # SIGKILL: no clean-up; the node dies with it (parent-death signal)
    wait_until(lambda: not os.path.exists(f"/proc/{node}"), 10, "the orphaned node to die")
    assert all(os.path.isdir(directory) for directory in left)
    second = dora_run(path)
    second.wait_for(lambda r: r.events("dataflow_started"), 30, "the next start")
    assert not any(os.path.exists(directory) for directory in left)
    second.interrupt()
    assert second.wait(20) == 0
