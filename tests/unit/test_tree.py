"""The supervision tree, step by step, without processes: OTP's supervisor_SUITE cases
translated to dataflow nodes, played by the simulator of `tree_sim`."""

from __future__ import annotations

import pytest

from dora_supervisor.tree_model import (
    Exited,
    Liveliness,
    Reply,
    Respond,
    RestartChild,
    SendStop,
    StopDataflow,
)
from tests.unit.tree_sim import Sim

THREE = """
    supervision: {strategy: %s, max_restarts: 3, max_seconds: 5, auto_shutdown: never}
    nodes:
      - {id: a, path: a.py, outputs: [o], restart: {policy: permanent}}
      - {id: b, path: b.py, outputs: [o], restart: {policy: permanent}}
      - {id: c, path: c.py, outputs: [o], restart: {policy: permanent}}
"""


def test_children_start_in_descriptor_order():
    sim = Sim(THREE % "one_for_one")
    assert [s.node for s in sim.spawns] == ["a", "b", "c"]
    assert all(sim.tree.workers[n].state == "running" for n in "abc")


def test_every_spawn_waits_for_its_live_neighbours_only():
    sim = Sim("""
        nodes:
          - {id: a, path: a.py, outputs: [o]}
          - {id: b, path: b.py, inputs: {x: a/o}, outputs: [o]}
          - {id: c, path: c.py, inputs: {x: b/o}}
          - {id: lone, path: l.py}
    """)
    assert {s.node: s.wait_for for s in sim.spawns} == {
        "a": ("b",), "b": ("a", "c"), "c": ("b",), "lone": ()}


@pytest.mark.parametrize("policy,code,restarted", [
    ("permanent", 0, True), ("permanent", 1, True),
    ("transient", 0, False), ("transient", 1, True),
    ("temporary", 0, False), ("temporary", 1, False),
])
def test_restart_type_times_exit_reason(policy, code, restarted):
    sim = Sim(f"""
        supervision: {{auto_shutdown: never}}
        nodes:
          - {{id: a, path: a.py, outputs: [o], restart: {{policy: {policy}}}}}
          - {{id: b, path: b.py, inputs: {{x: a/o}}}}
    """)
    sim.exit("a", code)
    sim.advance(1.0)
    assert sim.starts["a"] == (2 if restarted else 1)
    assert ("a" in sim.closed) is (not restarted)


def test_one_for_one_restarts_only_the_failed_child():
    sim = Sim(THREE % "one_for_one")
    sim.exit("b", 1)
    sim.advance(1)
    assert sim.starts == {"a": 1, "b": 2, "c": 1}
    assert sim.stops == []


def test_one_for_all_terminates_the_others_in_reverse_order_and_restarts_all_in_order():
    sim = Sim(THREE % "one_for_all")
    sim.spawns.clear()
    sim.exit("b", 1)
    assert sim.stops == ["c", "a"]
    sim.advance(1)
    assert [s.node for s in sim.spawns] == ["a", "b", "c"]
    assert [r["reason"] for r in sim.logged("node_exited")] == ["exit_code", "sibling", "sibling"]


def test_rest_for_one_restarts_the_failed_child_and_those_after_it():
    sim = Sim(THREE % "rest_for_one")
    sim.spawns.clear()
    sim.exit("b", 1)
    assert sim.stops == ["c"]
    sim.advance(1)
    assert [s.node for s in sim.spawns] == ["b", "c"]
    assert sim.starts["a"] == 1


def test_termination_is_sequential_each_child_waits_for_the_previous():
    sim = Sim(THREE % "one_for_all")
    sim.deaf.add("c")
    sim.exit("a", 1)
    assert sim.stops == ["c"]  # b waits until c is gone
    sim.advance(5.0)  # c's shutdown grace: then SIGKILL
    assert sim.kills == ["c"]
    assert sim.stops == ["c", "b"]


def test_crash_loop_under_max_restarts_3_starts_exactly_4_times_then_gives_up():
    sim = Sim("""
        supervision: {max_restarts: 3, max_seconds: 5}
        nodes:
          - {id: crasher, path: c.py, restart: {policy: permanent}}
    """)
    for _ in range(10):
        if sim.result:
            break
        sim.exit("crasher", 1)
        sim.advance(0.5)
    assert sim.starts["crasher"] == 4
    assert sim.result is not None and not sim.result.ok
    gave_up = sim.logged("supervisor_gave_up")
    assert gave_up[0]["supervisor"] == "dataflow" and gave_up[0]["restarts_in_window"] == 3


def test_restarts_spaced_wider_than_max_seconds_never_give_up():
    sim = Sim("""
        supervision: {max_restarts: 1, max_seconds: 1}
        nodes:
          - {id: a, path: a.py, restart: {policy: permanent}}
    """)
    for _ in range(5):
        sim.exit("a", 1)
        sim.advance(2.0)
    assert sim.starts["a"] == 6 and sim.result is None


def test_backoff_gaps_follow_the_configured_sequence_and_reset_after_a_stable_run():
    sim = Sim("""
        supervision: {max_restarts: 100, max_seconds: 5}
        nodes:
          - id: a
            path: a.py
            restart: {policy: permanent, backoff: {initial: 0.1s, max: 0.5s, jitter: 0}}
    """)
    for _ in range(5):
        sim.exit("a", 1)
        sim.advance(0.6)
    assert [r["delay_s"] for r in sim.logged("restart_scheduled")] == [0.1, 0.2, 0.4, 0.5, 0.5]
    sim.advance(6.0)  # up longer than max_seconds: the next restart starts over
    sim.exit("a", 1)
    assert sim.logged("restart_scheduled")[-1]["delay_s"] == 0.1


def test_group_exceeding_its_intensity_is_restarted_whole_by_its_parent_until_it_gives_up():
    sim = Sim("""
        supervision: {max_restarts: 1, max_seconds: 60, auto_shutdown: never}
        groups:
          - {id: g, strategy: one_for_all, max_restarts: 1, max_seconds: 60, members: [x, y]}
        nodes:
          - {id: x, path: x.py, outputs: [o], restart: {policy: permanent, backoff: {initial: 0}}}
          - {id: y, path: y.py, outputs: [o], restart: {policy: permanent, backoff: {initial: 0}}}
          - {id: other, path: o.py, restart: {policy: permanent}}
    """)
    sim.exit("x", 1)  # g restart 1: x, y restarted
    assert sim.starts == {"x": 2, "y": 2, "other": 1}
    sim.exit("x", 1)  # g gives up -> parent restarts g (parent restart 1)
    assert sim.starts == {"x": 3, "y": 3, "other": 1}
    assert sim.logged("supervisor_gave_up")[0]["supervisor"] == "g"
    sim.exit("y", 1)  # fresh g: restart 1
    sim.exit("y", 1)  # g gives up again -> parent's 2nd restart > 1: parent gives up
    assert sim.starts == {"x": 4, "y": 4, "other": 1}
    assert [g["supervisor"] for g in sim.logged("supervisor_gave_up")] == ["g", "g", "dataflow"]
    assert sim.result is not None and not sim.result.ok
    assert "other" in sim.stops


def test_a_late_exit_of_a_replaced_incarnation_is_ignored():
    sim = Sim(THREE % "one_for_one")
    old = sim.incarnation("a")
    sim.exit("a", 1)
    sim.advance(1)
    assert sim.incarnation("a") == old + 1
    sim.post(Exited("a", old, 1, None))  # e.g. reaped late: must not touch incarnation 2
    sim.advance(1)
    assert sim.starts["a"] == 2 and sim.tree.workers["a"].state == "running"


def test_outputs_stay_open_while_a_restart_is_pending_and_close_when_finished_for_good():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, outputs: [o], restart: {policy: transient}}
          - {id: sink, path: k.py, inputs: {x: src/o}}
    """)
    sim.exit("src", 1)
    assert sim.closed == []
    sim.advance(1)
    assert sim.restarted == ["src"]
    sim.exit("src", 0)
    assert sim.closed[0] == "src"


def test_all_significant_sources_finishing_stops_the_dataflow_gracefully():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, outputs: [o]}
          - {id: mid, path: m.py, inputs: {x: src/o}, outputs: [o]}
          - {id: sink, path: k.py, inputs: {x: mid/o}}
    """)
    sim.exit("src", 0)
    assert sim.closed == ["src"] and sim.stops == []  # the cascade, not STOP, ends mid
    sim.exit("mid", 0)
    sim.exit("sink", 0)
    assert sim.result is not None and sim.result.ok
    assert [r["reason"] for r in sim.logged("node_exited")] == ["normal"] * 3


def test_auto_shutdown_never_keeps_running_after_the_sources_finish():
    sim = Sim("""
        supervision: {auto_shutdown: never}
        nodes:
          - {id: src, path: s.py, outputs: [o]}
          - {id: ticker, path: t.py, inputs: {tick: dora/timer/millis/10}, restart: {policy: permanent}}
    """)
    sim.exit("src", 0)
    sim.advance(60)
    assert sim.result is None and sim.tree.workers["ticker"].state == "running"


def test_a_non_significant_node_does_not_keep_the_dataflow_alive():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, outputs: [o]}
          - {id: ticker, path: t.py, inputs: {tick: dora/timer/millis/10}, significant: false}
    """)
    sim.exit("src", 0)
    assert "ticker" in sim.stops
    assert sim.result is not None and sim.result.ok


def test_graceful_stop_sends_stop_to_sources_first_then_cycles_in_reverse_order():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, outputs: [o]}
          - {id: p, path: p.py, inputs: {a: src/o, b: q/o}, outputs: [o]}
          - {id: q, path: q.py, inputs: {a: p/o}, outputs: [o]}
    """)
    sim.deaf.update({"src"})
    sim.post(StopDataflow())
    assert sim.stops == ["src"]
    sim.exit("src", 0)
    assert sim.stops == ["src", "q", "p"]
    assert sim.result is not None and sim.result.ok


def test_a_node_that_ignores_stop_is_killed_after_its_shutdown_grace():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, outputs: [o], shutdown: 2s}
    """)
    sim.deaf.add("src")
    sim.post(StopDataflow())
    sim.advance(1.9)
    assert sim.kills == []
    sim.advance(0.2)
    assert sim.kills == ["src"]
    assert sim.logged("node_exited")[-1]["reason"] == "shutdown"
    assert sim.result is not None and sim.result.ok


def test_brutal_kill_skips_the_stop_request():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, shutdown: brutal_kill}
    """)
    sim.post(StopDataflow())
    assert sim.stops == [] and sim.kills == ["src"]


def test_a_lost_liveliness_token_kills_and_restarts_the_node():
    sim = Sim(THREE % "one_for_one")
    sim.post(Liveliness("b", sim.incarnation("b"), False))
    sim.advance(0.3)
    assert sim.kills == ["b"]
    assert sim.logged("node_exited")[-1]["reason"] == "liveliness_lost"
    sim.advance(1)
    assert sim.starts["b"] == 2


def test_stop_during_a_backoff_never_respawns():
    sim = Sim("""
        nodes:
          - {id: a, path: a.py, restart: {policy: permanent, backoff: {initial: 1s}}}
    """)
    sim.exit("a", 1)
    sim.post(StopDataflow())
    sim.advance(5)
    assert sim.starts["a"] == 1 and sim.result is not None


def test_dora_rs_max_restarts_caps_the_node_alone():
    sim = Sim("""
        supervision: {max_restarts: 100}
        nodes:
          - {id: a, path: a.py, restart_policy: always, max_restarts: 2, restart_window: 60}
    """)
    while "a" in sim.running:
        sim.exit("a", 1)
        sim.advance(1)
    assert sim.starts["a"] == 3
    assert sim.tree.workers["a"].state == "failed"
    assert sim.result is not None and not sim.result.ok


def test_manual_restart_restarts_without_counting_against_intensity():
    sim = Sim(THREE % "one_for_one")
    for _ in range(5):
        sim.post(RestartChild("a"))
    assert sim.starts["a"] == 6 and sim.result is None
    assert sim.tree.sups["dataflow"].history == ()


def test_a_late_token_loss_of_a_dead_incarnation_never_kills_its_successor():
    sim = Sim(THREE % "one_for_one")
    old = sim.incarnation("a")
    sim.exit("a", 1)
    sim.advance(1)
    sim.post(Liveliness("a", old, False))
    sim.advance(1)
    assert sim.kills == [] and sim.tree.workers["a"].state == "running"


# -- regressions found in review: plans that overlap, stops that overtake them ----------


def test_two_overlapping_one_for_one_restarts_both_happen():
    sim = Sim(THREE % "one_for_one")
    sim.exit("a", 1)  # restart due in 0.1 s
    sim.advance(0.05)
    sim.exit("b", 1)  # a second restart while the first waits for its backoff
    sim.advance(30)
    assert sim.starts == {"a": 2, "b": 2, "c": 1}
    assert all(sim.tree.workers[n].state == "running" for n in "abc")


def test_auto_shutdown_still_happens_while_a_restart_is_pending():
    sim = Sim("""
        nodes:
          - {id: src, path: s.py, outputs: [o]}
          - {id: ticker, path: t.py, inputs: {tick: dora/timer/millis/10},
             restart: {policy: permanent}, significant: false}
    """)
    sim.exit("ticker", 1)  # backoff: the root is restarting
    sim.exit("src", 0)  # the last significant node finishes
    sim.advance(60)
    assert sim.result is not None and sim.result.ok


def test_a_sibling_restart_waits_for_a_group_that_is_shutting_down_by_itself():
    sim = Sim("""
        supervision: {strategy: one_for_all, auto_shutdown: never}
        groups:
          - {id: g, auto_shutdown: any_significant, members: [s, k]}
        nodes:
          - {id: s, path: s.py, outputs: [o]}
          - {id: k, path: k.py, restart: {policy: permanent}}
          - {id: x, path: x.py, restart: {policy: permanent}}
    """)
    sim.deaf.add("k")
    sim.exit("s", 0)  # g's auto shutdown: STOP to k, which ignores it
    sim.exit("x", 1)  # the root's one_for_all must wait for g, then restart x
    sim.advance(60)
    assert sim.starts["x"] == 2 and sim.tree.sups["g"].finished
    sim.post(StopDataflow())
    sim.advance(60)
    assert sim.result is not None and sim.result.ok


def test_a_group_terminating_its_draining_children_completes():
    sim = Sim("""
        groups:
          - {id: g, auto_shutdown: any_significant, members: [s, k, m]}
        nodes:
          - {id: s, path: s.py, outputs: [o], significant: false}
          - {id: k, path: k.py, inputs: {x: s/o}, significant: true}
          - {id: m, path: m.py, inputs: {x: s/o}}
    """)
    sim.deaf.add("s")
    sim.post(StopDataflow())
    sim.exit("s", 0)  # k and m drain
    sim.exit("k", 0)  # significant: g shuts down, terminating what is left
    sim.exit("m", 0)
    sim.advance(60)
    assert sim.result is not None and sim.result.ok
    assert sim.tree.sups["g"].state == "exited" and not sim.tree.sups["g"].terminating


def test_a_stop_during_a_sibling_termination_never_respawns():
    sim = Sim("""
        supervision: {strategy: one_for_all, auto_shutdown: never}
        nodes:
          - {id: a, path: a.py, restart: {policy: permanent, backoff: {initial: 1s, jitter: 0}}}
          - {id: b, path: b.py, restart: {policy: permanent}}
    """)
    sim.deaf.add("b")
    sim.exit("a", 1)  # one_for_all: STOP to b, which ignores it (5 s grace)
    spawned = len(sim.spawns)
    sim.post(StopDataflow())
    sim.advance(30)
    assert sim.spawns[spawned:] == []
    assert sim.result is not None and sim.result.ok


def test_temporary_bystander_is_not_restarted_by_one_for_all():
    sim = Sim("""
        supervision: {strategy: one_for_all, auto_shutdown: never}
        nodes:
          - {id: a, path: a.py, restart: {policy: permanent}}
          - {id: t, path: t.py, restart: {policy: temporary}}
    """)
    sim.exit("a", 1)
    sim.advance(1)
    assert sim.starts == {"a": 2, "t": 1}
    assert sim.tree.workers["t"].finished and "t" in sim.closed


def test_significant_bystander_does_not_trigger_auto_shutdown():
    sim = Sim("""
        supervision: {strategy: one_for_all, auto_shutdown: any_significant}
        nodes:
          - {id: a, path: a.py, restart: {policy: permanent}}
          - {id: s, path: s.py, restart: {policy: transient}, significant: true}
    """)
    sim.exit("a", 1)  # s is terminated as a bystander: that is not finishing by itself
    sim.advance(1)
    assert sim.result is None and sim.starts == {"a": 2, "s": 2}


def test_significant_escalation_a_group_shutting_down_lets_its_parent_shut_down():
    sim = Sim("""
        groups:
          - {id: g, auto_shutdown: any_significant, members: [s, k]}
        nodes:
          - {id: s, path: s.py, outputs: [o]}
          - {id: k, path: k.py, restart: {policy: permanent}}
          - {id: ticker, path: t.py, restart: {policy: permanent}}
    """)
    sim.exit("s", 0)  # g shuts down (stops k); the root's only significant node is done
    sim.advance(30)
    assert "ticker" in sim.stops
    assert sim.result is not None and sim.result.ok


def test_a_limit_kill_counts_as_a_crash_with_its_own_reason():
    from dora_supervisor.policy import ExitReason
    from dora_supervisor.tree_model import LimitExceeded

    sim = Sim(THREE % "one_for_one")
    sim.post(LimitExceeded("b", sim.incarnation("b"), ExitReason.MEMORY_LIMIT,
                           {"rss_bytes": 300, "limit_bytes": 256}))
    assert sim.kills == ["b"]
    assert sim.logged("limit_exceeded") == [
        {"node": "b", "reason": "memory_limit", "rss_bytes": 300, "limit_bytes": 256}]
    assert sim.logged("node_exited")[-1]["reason"] == "memory_limit"
    sim.advance(1)
    assert sim.starts["b"] == 2  # permanent: restarted, counted against intensity
    assert len(sim.tree.sups["dataflow"].history) == 1


@pytest.mark.parametrize(("reason", "record"), [
    ("watchdog", "watchdog"), ("liveliness_lost", "liveliness_lost"),
    ("cpu_limit", "limit_exceeded")])
def test_a_health_verdict_is_logged_under_its_own_record(reason, record):
    from dora_supervisor.policy import ExitReason
    from dora_supervisor.tree_model import LimitExceeded

    sim = Sim(THREE % "one_for_one")
    sim.post(LimitExceeded("b", sim.incarnation("b"), ExitReason(reason), {"limit": "x"}))
    assert sim.kills == ["b"]
    assert sim.logged(record) == [{"node": "b", "reason": reason, "limit": "x"}]
    assert sim.logged("node_exited")[-1]["reason"] == reason


# -- requests answer their caller -------------------------------------------------------


def test_a_restart_request_is_answered_after_its_effects():
    sim = Sim(THREE % "one_for_one")
    sim.post(RestartChild("b", Reply(7)))
    assert sim.responses == [Respond(Reply(7), True, "restarting node 'b'")]
    assert sim.actions.index(SendStop("b")) < sim.actions.index(sim.responses[0])
    assert sim.starts["b"] == 2


def test_a_restart_request_during_a_backoff_restarts_at_once():
    sim = Sim(THREE % "one_for_one")
    sim.exit("a", 1)  # backoff: 0.1 s
    sim.post(RestartChild("a", Reply(1)))
    assert sim.responses == [Respond(Reply(1), True, "restarting node 'a'")]
    assert sim.starts["a"] == 2 and sim.tree.workers["a"].state == "running"


def test_a_restart_request_for_an_unknown_node_names_the_known_ones():
    sim = Sim(THREE % "one_for_one")
    sim.post(RestartChild("d", Reply(1)))
    assert sim.responses == [
        Respond(Reply(1), False, "no node 'd' in this dataflow (its nodes: a, b, c)")]
    assert sim.starts == {"a": 1, "b": 1, "c": 1}


def test_a_restart_request_for_a_finished_node_is_refused():
    sim = Sim("""
        supervision: {auto_shutdown: never}
        nodes:
          - {id: a, path: a.py, restart: {policy: temporary}}
          - {id: b, path: b.py, restart: {policy: permanent}}
    """)
    sim.exit("a", 1)
    sim.post(RestartChild("a", Reply(2)))
    assert sim.responses == [Respond(
        Reply(2), False, "node 'a' has finished for good (failed); it is not restarted")]
    assert sim.starts["a"] == 1


def test_a_restart_request_for_a_node_its_supervisor_is_stopping_is_refused():
    sim = Sim(THREE % "one_for_all")
    sim.deaf.add("c")
    sim.exit("a", 1)  # one_for_all: c is being stopped first
    sim.post(RestartChild("c", Reply(3)))
    assert sim.responses == [Respond(
        Reply(3), False,
        "node 'c' is stopping: its supervisor is already stopping or restarting it")]


def test_stop_requests_are_answered_and_a_finished_dataflow_says_so():
    sim = Sim(THREE % "one_for_one")
    sim.deaf.add("a")
    sim.post(StopDataflow("requested", Reply(1)))
    sim.post(StopDataflow("requested", Reply(2)))
    sim.post(RestartChild("a", Reply(3)))  # deaf to STOP: still running
    assert sim.responses == [
        Respond(Reply(1), True, "stopping the dataflow"),
        Respond(Reply(2), True, "the dataflow is already stopping"),
        Respond(Reply(3), False, "the dataflow is stopping; nothing is restarted")]
    sim.advance(10)
    assert sim.result is not None and sim.result.ok
    sim.post(StopDataflow("requested", Reply(4)))
    sim.post(RestartChild("b", Reply(5)))
    assert sim.responses[3:] == [
        Respond(Reply(4), False, "the dataflow has already finished"),
        Respond(Reply(5), False, "the dataflow has already finished")]


def test_requests_without_a_reply_are_not_answered():
    sim = Sim(THREE % "one_for_one")
    sim.post(RestartChild("a"))
    sim.post(RestartChild("nope"))
    sim.post(StopDataflow())
    assert sim.responses == [] and sim.starts["a"] == 2
