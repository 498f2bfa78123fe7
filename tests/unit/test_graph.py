"""Facts about the dataflow graph: who feeds whom, significance, draining, mermaid."""

from __future__ import annotations

import textwrap

import pytest

from dora_supervisor.descriptor import Dataflow
from dora_supervisor.graph import (
    downstream_nodes,
    is_significant,
    mermaid,
    upstream_nodes,
    will_drain,
)
from dora_supervisor.parse import parse
from dora_supervisor.yamlsrc import load_yaml


def model(text: str) -> Dataflow:
    data, lines, _ = load_yaml(textwrap.dedent(text))
    dataflow, problems = parse(data, lines, "t.yml", "/flows")
    assert not [p for p in problems if not p.warning]
    return dataflow


CHAIN = model("""
    nodes:
      - id: timer
        path: timer.py
        inputs: {tick: dora/timer/millis/100}
        outputs: [time]
      - id: limiter
        path: limiter.py
        inputs: {time: timer/time}
        outputs: [limited]
      - id: random
        path: random.py
        inputs: {time: limiter/limited}
        outputs: [number]
      - id: logger
        path: logger.py
        inputs: {random: random/number, time: timer/time, tick: dora/timer/secs/1}
""")

# source -> a <-> b (a cycle), b -> sink
CYCLE = model("""
    nodes:
      - id: source
        path: s.py
        outputs: [out]
      - id: a
        path: a.py
        inputs: {in: source/out, back: b/out}
        outputs: [out]
      - id: b
        path: b.py
        inputs: {in: a/out}
        outputs: [out]
      - id: sink
        path: sink.py
        inputs: {in: b/out}
""")


# -- upstream / downstream ----------------------------------------------------------------------


def test_upstream_nodes_are_the_non_timer_sources():
    assert upstream_nodes(CHAIN.node("timer")) == frozenset()
    assert upstream_nodes(CHAIN.node("limiter")) == {"timer"}
    assert upstream_nodes(CHAIN.node("logger")) == {"random", "timer"}


def test_a_node_can_feed_itself():
    df = model("""
        nodes:
          - {id: loop, path: l.py, inputs: {again: loop/out}, outputs: [out]}
    """)
    assert upstream_nodes(df.node("loop")) == {"loop"}
    assert downstream_nodes(df, "loop") == ["loop"]


def test_downstream_nodes_in_descriptor_order():
    assert downstream_nodes(CHAIN, "timer") == ["limiter", "logger"]
    assert downstream_nodes(CHAIN, "random") == ["logger"]
    assert downstream_nodes(CHAIN, "logger") == []


def test_operator_inputs_count_as_the_runtime_nodes_inputs():
    df = model("""
        nodes:
          - {id: timer, path: t.py, outputs: [time]}
          - id: runtime
            operators:
              - {id: op, python: op.py, inputs: {time: timer/time}, outputs: [status]}
          - {id: logger, path: l.py, inputs: {status: runtime/op/status}}
    """)
    assert upstream_nodes(df.node("runtime")) == {"timer"}
    assert downstream_nodes(df, "runtime") == ["logger"]


# -- significance -------------------------------------------------------------------------------


@pytest.mark.parametrize("extra, significant", [
    ("", True),                                        # transient source (the default)
    ("restart_policy: never", True),                   # temporary source
    ("restart: {policy: permanent}", False),           # permanent: never finishes by itself
    ("significant: false", False),                     # explicit
])
def test_significance_of_a_source(extra: str, significant: bool):
    df = model(f"""
        nodes:
          - id: timer
            path: timer.py
            inputs: {{tick: dora/timer/millis/100}}
            outputs: [time]
            {extra}
    """)
    assert df.nodes[0].is_source
    assert is_significant(df.nodes[0]) is significant


def test_non_sources_are_not_significant_unless_marked():
    assert not is_significant(CHAIN.node("logger"))
    assert not is_significant(CHAIN.node("limiter"))
    df = model("""
        nodes:
          - {id: a, path: a.py, outputs: [out]}
          - {id: b, path: b.py, inputs: {in: a/out}, significant: true}
    """)
    assert is_significant(df.node("b"))


# -- draining --------------------------------------------------------------------------------


def test_a_chain_drains_completely_once_its_source_finished():
    assert will_drain(CHAIN, finished={"timer"}, stopping=()) == {"limiter", "random",
                                                                  "logger"}


def test_a_partly_finished_chain_drains_only_what_hangs_off_finished_nodes():
    # logger also depends on random, which still depends on a live limiter
    assert will_drain(CHAIN, finished=(), stopping={"limiter"}) == {"limiter", "random"}
    assert will_drain(CHAIN, finished=(), stopping=()) == set()


def test_a_cycle_does_not_drain_by_the_cascade_alone():
    assert will_drain(CYCLE, finished={"source"}, stopping=()) == set()


def test_stopping_one_node_of_a_cycle_drains_the_rest():
    assert will_drain(CYCLE, finished={"source"}, stopping={"a"}) == {"a", "b", "sink"}


def test_sources_never_drain():
    assert "timer" not in will_drain(CHAIN, finished={"limiter"}, stopping=())
    assert "source" not in will_drain(CYCLE, finished={"a", "b"}, stopping=())


# -- mermaid ------------------------------------------------------------------------------------


def test_mermaid_lists_nodes_and_edges():
    text = mermaid(CHAIN)
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    assert text.endswith("\n")
    for node_id in ("timer", "limiter", "random", "logger"):
        assert f'  n_{node_id}["{node_id}"]' in lines
    assert '  n_timer -->|"time"| n_limiter' in lines
    assert '  n_limiter -->|"limited as time"| n_random' in lines
    assert '  n_random -->|"number as random"| n_logger' in lines
    assert '  n_timer -->|"time"| n_logger' in lines


def test_mermaid_draws_each_distinct_timer_once():
    lines = mermaid(CHAIN).splitlines()
    assert '  timer0(["dora/timer/millis/100"])' in lines
    assert '  timer1(["dora/timer/secs/1"])' in lines
    assert '  timer0 -->|"tick"| n_timer' in lines
    assert '  timer1 -->|"tick"| n_logger' in lines


def test_mermaid_shows_a_cycle_as_edges_both_ways():
    lines = mermaid(CYCLE).splitlines()
    assert '  n_a -->|"out as in"| n_b' in lines
    assert '  n_b -->|"out as back"| n_a' in lines


def test_mermaid_draws_runtime_nodes_as_subgraphs_of_operators():
    df = model("""
        nodes:
          - {id: timer, path: t.py, outputs: [time]}
          - id: runtime
            operators:
              - {id: op-a, python: a.py, inputs: {time: timer/time}, outputs: [count]}
              - {id: op-b, python: b.py, inputs: {count: runtime/op-a/count}}
    """)
    text = mermaid(df)
    assert ('  subgraph n_runtime["runtime"]\n    n_runtime__op_a["op-a"]\n'
            '    n_runtime__op_b["op-b"]\n  end\n') in text
    assert '  n_timer -->|"time"| n_runtime__op_a' in text.splitlines()
    assert '  n_runtime__op_a -->|"count"| n_runtime__op_b' in text.splitlines()
