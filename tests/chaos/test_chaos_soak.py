"""Chaos soak, Jepsen-style: three source -> relay -> sink chains of permanent nodes under
SIGKILL every 0.3 s, SIGSTOP/SIGCONT bursts, kills of nodes still starting up and kills
during the graceful stop. Afterwards the dataflow must have healed completely.

The chaos phase lasts `DORA_CHAOS_SECONDS` (default 30; the README's figures come from
`DORA_CHAOS_SECONDS=600 .venv/bin/python -m pytest tests/chaos -s`). The fault schedule
is random; `DORA_CHAOS_SEED` replays one (every run prints its seed). With
`DORA_CHAOS_REPORT=FILE` the figures are also written to FILE as JSON.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time

import psutil
import pytest

from tests.chaos.monkey import (
    Monkey,
    RunLog,
    ledger_dir_of,
    mapped_shm,
    pids_in_status,
    rundir_of,
    segment_owners,
    zombies,
)
from tests.conftest import DORA, wait_until

CHAOS_S = float(os.environ.get("DORA_CHAOS_SECONDS", "30"))
SEED = int(os.environ.get("DORA_CHAOS_SEED", str(time.time_ns() % 2**32)))
KILL_EVERY_S = 0.3
FREEZE_EVERY_S = 2.0  # a burst: up to 3 nodes SIGSTOPped for up to 1.5 s (lease: 1 s)
NEWBORN_KILL_P = 0.1  # during the chaos, the chance a node is killed as soon as it appears
STARTUP_KILLS = 6  # nodes killed while the dataflow starts up, before it first runs whole
POLL_S = 0.02  # the chaos loop's pace (it paces faults; it waits for no condition)
FD_GROWTH_MAX = 4
RSS_GROWTH_MAX = 24 * 2**20
CHAINS = (1, 2, 3)
NODES = {f"{kind}{i}" for i in CHAINS for kind in ("source", "relay", "sink")}

pytestmark = pytest.mark.timeout(CHAOS_S + 240)

_CHAIN = """
          - id: source#
            path: {nodes}/seq_source.py
            inputs: {tick: dora/timer/millis/20}
            outputs: [out]
            RESTART
          - id: relay#
            path: {nodes}/relay.py
            inputs: {in: source#/out}
            outputs: [out]
            RESTART
          - id: sink#
            path: {nodes}/seq_sink.py
            args: --every 0.2
            inputs: {in: relay#/out}
            RESTART"""
_RESTART = ("restart: {policy: permanent, backoff: {initial: 50ms, max: 1s, multiplier: 2, "
            "jitter: 0.5}}\n            health: {lease: 1s}")


def descriptor() -> str:
    return """
        supervision: {max_restarts: 100000, max_seconds: 1, auto_shutdown: never}
        nodes:""" + "".join(_CHAIN.replace("#", str(i)).replace("RESTART", _RESTART)
                            for i in CHAINS)


def healed(log: RunLog, monkey: Monkey):
    """Every node runs, no zombie, and the supervisor's view agrees with the process table:
    the pids (truthy) or False."""
    real = {node: process.pid for node, process in monkey.nodes().items()}
    log.poll()
    believed = status_pids()
    return real if set(real) == NODES and real == believed and \
        not zombies(monkey.coordinator) else False


def status_pids() -> dict[str, int]:
    """What the supervision tree believes, asked the way a user asks: `dora status --json`
    (the foreground `dora run` serves it)."""
    status = subprocess.run([*DORA, "status", "--json"], capture_output=True, text=True,
                            timeout=15)
    return pids_in_status(json.loads(status.stdout)) if status.returncode == 0 else {}


def flowing(log: RunLog, monkey: Monkey, timeout: float) -> None:
    """Every sink receives new data (25 ticks' worth) from its source's current process."""
    first: dict[tuple[str, int], int] = {}

    def advanced() -> bool:
        log.poll()
        nodes = monkey.nodes()
        for i in CHAINS:
            pid, seq, _, _ = log.seen.get(f"sink{i}", (0, 0, 0, 0))
            source = nodes.get(f"source{i}")
            if source is None or pid != source.pid:
                return False
            if seq - first.setdefault((f"sink{i}", pid), seq) < 25:
                return False
        return True

    wait_until(advanced, timeout, "new data at every sink from its current source")


def figures(coordinator: psutil.Process) -> tuple[int, int]:
    return coordinator.memory_info().rss, coordinator.num_fds()


def test_status_pids_are_read_from_the_spec_tree():
    """The view the soak switches to once `dora status --json` exists (SPEC section 5)."""
    worker = {"kind": "worker", "state": "running", "pid": 7, "id": "a"}
    status = {"dataflows": [{"tree": {"kind": "supervisor", "children": [
        worker, {**worker, "id": "b", "state": "backoff", "pid": None},
        {"kind": "supervisor", "children": [{**worker, "id": "c", "pid": 9}]}]}}]}
    assert pids_in_status(status) == {"a": 7, "c": 9}


def test_nine_nodes_heal_from_kills_freezes_and_kills_at_start_and_stop(dora_run, dataflow):
    print(f"\nchaos: seed {SEED}, {CHAOS_S:.0f} s")
    run = dora_run(dataflow(descriptor()))
    log = RunLog(run.out)
    coordinator = psutil.Process(run.proc.pid)
    monkey = Monkey(coordinator, random.Random(SEED))

    # Kills during start-up: nodes killed the moment they appear, first as the dataflow
    # starts, then as they restart (a kill every 0.3 s makes them restart).
    now = start = time.monotonic()
    next_kill = now + KILL_EVERY_S
    while monkey.startup_kills < STARTUP_KILLS and now - start < 60:
        for process in monkey.newborns():
            if monkey.startup_kills < STARTUP_KILLS and monkey.rng.random() < 0.5 \
                    and monkey.kill(process):
                monkey.startup_kills += 1
        if now >= next_kill:
            monkey.kill_random()
            next_kill += KILL_EVERY_S
        time.sleep(POLL_S)
        now = time.monotonic()
    assert monkey.startup_kills == STARTUP_KILLS
    wait_until(lambda: healed(log, monkey), 60, "every node to run after the start-up kills")
    flowing(log, monkey, 30)
    rss_before, fds_before = figures(coordinator)

    # The chaos: a kill every 0.3 s, freeze bursts, newborns killed now and then.
    now = start = time.monotonic()
    next_kill, next_freeze = now, now + FREEZE_EVERY_S / 2
    while now - start < CHAOS_S:
        assert run.proc.poll() is None, run.text()[-3000:]
        if now >= next_kill:
            monkey.kill_random()
            next_kill += KILL_EVERY_S
        if now >= next_freeze:
            monkey.freeze_some(now, most=3, longest_s=1.5)
            next_freeze += FREEZE_EVERY_S
        for process in monkey.newborns():
            if monkey.rng.random() < NEWBORN_KILL_P and monkey.kill(process):
                monkey.startup_kills += 1
        monkey.thaw_due(now)
        time.sleep(POLL_S)
        now = time.monotonic()
    monkey.thaw_due()

    # Healed: every node runs, the records agree with the process table, data flows.
    wait_until(lambda: healed(log, monkey), 60, "every node to run again after the chaos")
    flowing(log, monkey, 30)
    # Responsive: one more kill is seen, restarted and agreed on within seconds.
    before = log.poll().started["relay2"][0]
    assert monkey.kill(monkey.nodes()["relay2"])
    wait_until(lambda: log.poll().started["relay2"][0] > before, 5, "relay2's restart")
    wait_until(lambda: healed(log, monkey), 30, "every node to run after the last kill")
    flowing(log, monkey, 30)
    assert log.bad == [], log.bad[:20]  # nothing corrupted, duplicated or reordered
    rss_after, fds_after = figures(coordinator)

    # A graceful stop, with kills during it, leaves no process, socket or shm segment.
    nodes = monkey.nodes()
    rundir = rundir_of(next(iter(nodes.values())))
    ledgers = ledger_dir_of(next(iter(nodes.values())))
    segments = mapped_shm([coordinator, *nodes.values()]) | {
        f"/dev/shm/{name}" for name in os.listdir("/dev/shm") if log.dataflow in name}
    assert rundir is not None and os.path.isdir(rundir)
    assert ledgers is not None and os.path.isdir(ledgers)
    run.interrupt()
    wait_until(lambda: log.poll().counts.get("dataflow_stopping"), 10, "the stop to begin")
    killed = {node for node in monkey.rng.sample(sorted(nodes), 2) if monkey.kill(nodes[node])}
    monkey.shutdown_kills = len(killed)
    code = run.wait(30)
    # A node killed while it drains did not stop cleanly: the run says so and fails; every
    # other node stops cleanly (a killed node that had its STOP already counts as stopped).
    log.poll()
    unclean = {r["node"] for r in log.stop_exits if r["reason"] not in ("normal", "shutdown")}
    assert unclean <= killed, log.stop_exits
    assert code == (1 if unclean else 0), run.text()[-3000:]
    assert {r["node"] for r in log.stop_exits} == NODES
    # The graceful stop delivers everything on every edge the shutdown kills spared.
    spared = [r for r in log.lost if r["during_stop"] and r["node"] not in killed
              and r["source"].partition("/")[0] not in killed]
    assert spared == [], spared
    assert not [p.pid for p in psutil.process_iter() if _in_dataflow(p, log.dataflow)]
    assert not os.path.exists(rundir) and not os.path.exists(ledgers)
    left = [segment_owners(s) for s in segments if os.path.exists(s)]
    assert not left, (left, {p.pid: mapped_shm([p]) for p in [coordinator, *nodes.values()]})

    report = {
        "seed": SEED, "chaos_s": CHAOS_S, "kills": monkey.kills,
        "startup_kills": monkey.startup_kills, "shutdown_kills": monkey.shutdown_kills,
        "freezes": monkey.freezes, "restarts": log.restarts(),
        "liveliness_lost": log.counts.get("liveliness_lost", 0),
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "fds_before": fds_before, "fds_after": fds_after,
        "messages_lost": log.lost_by_reason(), "lost_on_graceful_stop": len(spared)}
    print("chaos: " + " ".join(f"{key}={value}" for key, value in report.items()))
    if os.environ.get("DORA_CHAOS_REPORT"):
        with open(os.environ["DORA_CHAOS_REPORT"], "w") as handle:
            json.dump(report, handle, indent=1)
    assert fds_after - fds_before <= FD_GROWTH_MAX, report
    assert rss_after - rss_before <= RSS_GROWTH_MAX, report


def _in_dataflow(process: psutil.Process, dataflow: str) -> bool:
    try:
        return process.environ().get("DORA_DATAFLOW_ID") == dataflow
    except (psutil.Error, OSError):
        return False
