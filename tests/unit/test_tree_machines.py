"""Nodes on other machines in the tree: a lost daemon, a start held for its machine, and
the machine's return, played by the simulator of `tree_sim`."""

from __future__ import annotations

from dora_supervisor.tree_model import MachineChanged, Reply, RestartChild, StopDataflow
from tests.unit.tree_sim import Sim

ACROSS = """
    supervision: {max_restarts: 3, max_seconds: 5, auto_shutdown: never}
    nodes:
      - {id: src, path: a.py, outputs: [o], deploy: {machine: m1}}
      - {id: sink, path: b.py, inputs: {i: src/o}, deploy: {machine: m2},
         restart: {policy: permanent, backoff: {initial: 100ms}}}
      - {id: here, path: c.py, inputs: {i: src/o}}
"""


def test_a_lost_machine_marks_its_nodes_liveliness_lost_and_holds_their_restart():
    sim = Sim(ACROSS)
    sim.post(MachineChanged("m2", False))
    assert sim.kills == ["sink"]  # at once: no confirmation delay for a whole machine
    assert sim.logged("liveliness_lost") == [{"node": "sink", "incarnation": 1,
                                              "machine": "m2"}]
    assert sim.logged("node_exited")[-1]["reason"] == "liveliness_lost"
    sim.advance(10)
    sink = sim.tree.workers["sink"]
    assert (sink.state, sink.held, sim.starts["sink"]) == ("backoff", True, 1)
    assert sim.logged("start_waits_for_machine") == [{"node": "sink", "machine": "m2"}]
    assert len(sim.logged("restart_scheduled")) == 1  # the wait is not a restart
    assert sim.tree.snapshot(sim.now)["children"][1]["state"] == "backoff"


def test_the_held_node_starts_when_its_machine_returns_and_the_others_never_stopped():
    sim = Sim(ACROSS)
    sim.post(MachineChanged("m2", False))
    sim.advance(10)
    sim.post(MachineChanged("m2", True))
    assert sim.starts == {"src": 1, "sink": 2, "here": 1}
    assert sim.tree.workers["sink"].state == "running" and not sim.tree.workers["sink"].held
    assert sim.tree.workers["sink"].restarts == 1
    assert sim.logged("machine_returned") == [{"node": "sink", "machine": "m2"}]


def test_a_machine_back_before_the_backoff_is_over_restarts_on_the_backoff_timer():
    sim = Sim(ACROSS)
    sim.post(MachineChanged("m2", False))
    sim.post(MachineChanged("m2", True))
    assert sim.starts["sink"] == 1
    sim.advance(1)
    assert sim.starts["sink"] == 2 and not sim.logged("start_waits_for_machine")


def test_nodes_of_a_machine_gone_at_start_wait_for_it():
    sim = Sim(ACROSS, before_start=[MachineChanged("m1", False)])
    assert sim.starts["src"] == 0 and sim.tree.workers["src"].state == "backoff"
    assert sim.starts["here"] == 1
    sim.post(MachineChanged("m1", True))
    assert sim.starts["src"] == 1 and sim.tree.workers["src"].restarts == 0


def test_dora_restart_of_a_node_waiting_for_its_machine_says_so():
    sim = Sim(ACROSS)
    sim.post(MachineChanged("m2", False))
    sim.advance(10)
    sim.post(RestartChild("sink", Reply(1)))
    assert sim.responses[-1].ok is False
    assert sim.responses[-1].message.startswith("node 'sink' waits for machine 'm2'")


def test_a_stop_finishes_a_node_held_for_its_machine():
    sim = Sim(ACROSS)
    sim.post(MachineChanged("m2", False))
    sim.advance(10)
    sim.post(StopDataflow())
    sim.advance(30)
    assert sim.result is not None and sim.result.ok
    assert sim.starts["sink"] == 1


def test_a_node_already_stopping_keeps_its_cause_when_its_machine_is_lost():
    sim = Sim(ACROSS)
    sim.deaf.add("sink")
    sim.post(RestartChild("sink", Reply(1)))  # stopping with cause shutdown, then restarted
    sim.post(MachineChanged("m2", False))
    assert not sim.logged("liveliness_lost") and sim.kills == ["sink"]
    assert sim.tree.workers["sink"].state == "backoff" and sim.tree.workers["sink"].held


def test_a_limit_record_of_a_remote_node_names_its_machine_and_a_local_ones_does_not():
    from dora_supervisor.policy import ExitReason
    from dora_supervisor.tree_model import LimitExceeded

    sim = Sim(ACROSS)
    detail = {"incarnation": 1, "limit": "memory", "enforced_by": "cgroup_v2"}
    sim.post(LimitExceeded("sink", sim.incarnation("sink"), ExitReason.MEMORY_LIMIT, detail))
    sim.post(LimitExceeded("here", sim.incarnation("here"), ExitReason.MEMORY_LIMIT, detail))
    assert sim.logged("limit_exceeded") == [
        {"node": "sink", "reason": "memory_limit", **detail, "machine": "m2"},
        {"node": "here", "reason": "memory_limit", **detail}]
