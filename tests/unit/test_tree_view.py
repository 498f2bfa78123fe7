"""What the tree shows: the `dora status --json` tree (SPEC section 5), restart counts in
the intensity window, and the failure report of `dora run`."""

from __future__ import annotations

import json

from dora_supervisor.descriptor import STRATEGIES, AutoShutdown, RestartPolicy, Strategy
from dora_supervisor.policy import ExitReason
from dora_supervisor.samples import NodeMetrics
from dora_supervisor.tree import ROOT, Tree
from dora_supervisor.tree_model import LastExit, StopDataflow
from dora_supervisor.tree_view import failure_report
from tests.unit.tree_sim import Sim

GROUPED = """
    supervision: {max_restarts: 5, max_seconds: 10, auto_shutdown: never}
    groups:
      - {id: g, strategy: rest_for_one, max_restarts: 2, max_seconds: 30s, members: [y, z]}
    nodes:
      - {id: x, path: x.py, outputs: [o],
         restart: {policy: permanent, backoff: {initial: 1s, jitter: 0}}}
      - {id: y, path: y.py, inputs: {i: x/o}, outputs: [o], restart_policy: always,
         deploy: {machine: gpu}}
      - {id: z, path: z.py, inputs: {i: y/o}, restart: {policy: temporary}}
      - {id: w, path: w.py}
"""
SUP_KEYS = ["id", "kind", "strategy", "max_restarts", "max_seconds", "state", "children"]
WORKER_KEYS = ["id", "kind", "state", "pid", "restart_policy", "restarts", "alive", "uptime_s",
               "rss_bytes", "cpu_percent", "machine", "last_exit"]
SHOWN_WORKER_STATES = {"starting", "running", "backoff", "stopping", "exited", "failed"}


def worker(id, state, pid=None, policy="transient", restarts=0, alive=False, uptime=None,
           rss=None, cpu=None, machine="local", last_exit=None):
    return {"id": id, "kind": "worker", "state": state, "pid": pid, "restart_policy": policy,
            "restarts": restarts, "alive": alive, "uptime_s": uptime, "rss_bytes": rss,
            "cpu_percent": cpu, "machine": machine, "last_exit": last_exit}


def exit_(code, signal, reason):
    return {"code": code, "signal": signal, "reason": reason}


def check_shape(node: dict) -> None:
    """Every key of SPEC section 5, in order, each with its JSON type."""
    assert type(node["id"]) is str
    if node["kind"] == "supervisor":
        assert list(node) == SUP_KEYS
        assert node["strategy"] in STRATEGIES and type(node["strategy"]) is str
        assert type(node["max_restarts"]) is int
        assert type(node["max_seconds"]) is float
        assert node["state"] in {"running", "restarting", "stopping", "exited", "failed"}
        assert type(node["state"]) is str and type(node["children"]) is list
        for child in node["children"]:
            check_shape(child)
        return
    assert node["kind"] == "worker" and list(node) == WORKER_KEYS
    assert node["state"] in SHOWN_WORKER_STATES and type(node["state"]) is str
    assert node["pid"] is None or type(node["pid"]) is int
    assert node["restart_policy"] in {"permanent", "transient", "temporary"}
    assert type(node["restart_policy"]) is str
    assert type(node["restarts"]) is int and type(node["alive"]) is bool
    assert node["uptime_s"] is None or type(node["uptime_s"]) is float
    assert node["rss_bytes"] is None or type(node["rss_bytes"]) is int
    assert node["cpu_percent"] is None or type(node["cpu_percent"]) is float
    assert type(node["machine"]) is str
    last = node["last_exit"]
    if last is not None:
        assert list(last) == ["code", "signal", "reason"]
        assert last["code"] is None or type(last["code"]) is int
        assert last["signal"] is None or type(last["signal"]) is int
        assert last["reason"] in set(ExitReason) and type(last["reason"]) is str


def test_snapshot_of_a_tree_with_a_group_after_a_crash_and_a_normal_exit():
    sim = Sim(GROUPED)
    sim.advance(2.0)
    sim.exit("w", 0)  # transient, normal: finished for good
    sim.exit("x", 1)  # permanent: restart in 1 s
    snap = sim.tree.snapshot(2.5, {"y": NodeMetrics(rss_bytes=2048, cpu_percent=12.5)})
    check_shape(snap)
    assert json.loads(json.dumps(snap)) == snap
    assert snap == {
        "id": "dataflow", "kind": "supervisor", "strategy": "one_for_one", "max_restarts": 5,
        "max_seconds": 10.0, "state": "restarting", "children": [
            worker("x", "backoff", policy="permanent", last_exit=exit_(1, None, "exit_code")),
            {"id": "g", "kind": "supervisor", "strategy": "rest_for_one", "max_restarts": 2,
             "max_seconds": 30.0, "state": "running", "children": [
                 worker("y", "running", 102, "permanent", alive=True, uptime=2.5, rss=2048,
                        cpu=12.5, machine="gpu"),
                 worker("z", "running", 103, "temporary", alive=True, uptime=2.5)]},
            worker("w", "exited", last_exit=exit_(0, None, "normal"))]}


def test_snapshot_after_a_restart_and_a_temporary_node_killed_by_a_signal():
    sim = Sim(GROUPED)
    sim.advance(2.0)
    sim.exit("x", 1)
    sim.advance(1.5)  # x is restarted at 3.0
    sim.exit("z", None, 9)  # temporary: finished for good, failed
    snap = sim.tree.snapshot(4.0)
    check_shape(snap)
    x, group, w = snap["children"]
    assert x == worker("x", "running", 105, "permanent", restarts=1, alive=True, uptime=1.0,
                       last_exit=exit_(1, None, "exit_code"))
    assert group["children"][1] == worker("z", "failed", policy="temporary",
                                          last_exit=exit_(None, 9, "signal"))
    assert snap["state"] == "running" and w["state"] == "running"
    assert sim.tree.workers["z"].last_exit == LastExit(None, 9, ExitReason.SIGNAL)


def workers_of(node: dict) -> list[dict]:
    if node["kind"] == "worker":
        return [node]
    return [w for child in node["children"] for w in workers_of(child)]


def test_snapshot_never_shows_an_internal_state_and_changes_nothing():
    sim = Sim(GROUPED)
    fresh = Tree(sim.tree.df).snapshot(0.0)  # not started yet: its workers are about to be
    check_shape(fresh)
    assert [(w["state"], w["uptime_s"]) for w in workers_of(fresh)] == [("starting", None)] * 4
    before = sim.tree.snapshot(1.0)
    assert sim.tree.snapshot(1.0) == before
    sim.deaf.add("x")
    sim.post(StopDataflow())
    during = sim.tree.snapshot(1.0)
    check_shape(during)
    assert [(w["id"], w["state"]) for w in workers_of(during)] == [
        ("x", "stopping"), ("y", "running"), ("z", "running"), ("w", "exited")]


def test_restarts_in_window_counts_only_the_restarts_within_max_seconds():
    sim = Sim(GROUPED)
    sim.advance(2.0)
    sim.exit("x", 1)  # a root restart at 2.0
    sim.advance(1.5)
    sim.exit("y", 1)  # a restart of g at 3.5 (rest_for_one: y and z)
    assert sim.tree.restarts_in_window(ROOT, 3.5) == 1
    assert sim.tree.restarts_in_window("g", 3.5) == 1
    assert sim.tree.restarts_in_window(ROOT, 12.0) == 1  # 2.0 is exactly 10 s back
    assert sim.tree.restarts_in_window(ROOT, 12.5) == 0
    assert sim.tree.restarts_in_window("g", 33.0) == 1
    assert sim.tree.restarts_in_window("g", 34.0) == 0


def test_failure_report_names_each_abnormal_last_exit_in_descriptor_order():
    sim = Sim(GROUPED)
    sim.exit("w", 0)  # normal: not in the report
    sim.exit("x", 1)
    sim.exit("z", None, 9)
    assert failure_report(sim.tree, {"x": "boom", "z": "killed", "w": "bye"}) == [
        "node 'x' (exit code 1): boom", "node 'z' (signal): killed"]
    assert failure_report(sim.tree, {}) == ["node 'x' (exit code 1)", "node 'z' (signal)"]


def test_the_model_holds_enums_and_the_dora_rs_aliases_are_mapped():
    sim = Sim(GROUPED)
    assert sim.tree.workers["y"].policy is RestartPolicy.PERMANENT  # `always`
    assert sim.tree.sups["g"].flags.strategy is Strategy.REST_FOR_ONE
    assert sim.tree.sups[ROOT].flags.auto_shutdown is AutoShutdown.NEVER
