"""What a node is started with (argv, env): environment expansion as in dora-rs."""

from __future__ import annotations

import textwrap

from dora_api import contract
from dora_supervisor.launch import consumers_of, link_slots, node_argv, node_env, node_launch
from dora_supervisor.parse import parse
from dora_supervisor.yamlsrc import load_yaml


def dataflow(text: str):
    data, lines, _ = load_yaml(textwrap.dedent(text))
    return parse(data, lines, "t.yml", "/base")[0]


def test_env_values_expand_host_variables(monkeypatch):
    monkeypatch.setenv("HOST_TOKEN", "s3cret")
    monkeypatch.setenv("USER", "ada")
    df = dataflow("""
        nodes:
          - {id: a, path: a.py, env: {TOKEN: {__dora_env: HOST_TOKEN}, GREETING: hi $USER}}
    """)
    env = node_env(df, df.nodes[0], dataflow_id="u", descriptor="/base/t.yml", incarnation=1,
                   restart_count=0, wait_for=(), endpoints=contract.Endpoints([], []))
    assert env["TOKEN"] == "s3cret" and env["GREETING"] == "hi ada"
    assert contract.decode_config(env[contract.CONFIG_ENV]).node_id == "a"


def test_consumers_per_output_exclude_the_producer_itself():
    df = dataflow("""
        nodes:
          - {id: p, path: p.py, outputs: [x, y]}
          - {id: c1, path: c.py, inputs: {a: p/x, b: p/x}}
          - {id: c2, path: c.py, inputs: {a: p/y}}
    """)
    assert consumers_of(df, "p") == {"x": ["c1"], "y": ["c2"]}


def test_the_node_config_is_written_whole_and_reads_back_typed():
    df = dataflow("""
        nodes:
          - {id: p, path: p.py, outputs: [x]}
          - id: rt
            operators:
              - {id: op, python: op.py, inputs: {a: p/x, t: dora/timer/millis/5}, outputs: [o]}
    """)
    endpoints = contract.Endpoints(["unixsock-stream/l"], ["unixsock-stream/c"])
    env = node_env(df, df.node("rt"), dataflow_id="u", descriptor="/base/t.yml",
                   incarnation=2, restart_count=1, wait_for=("p",), endpoints=endpoints)
    config = contract.decode_config(env[contract.CONFIG_ENV])
    assert config.ready_timeout == contract.READY_TIMEOUT_S
    assert config.version == contract.CONFIG_VERSION
    assert (config.incarnation, config.restart_count, config.wait_for) == (2, 1, ("p",))
    assert config.endpoints == endpoints and config.consumers == {}
    assert config.inputs["op/a"] == contract.InputConfig("p/x", None, "backpressure")
    assert config.inputs["op/t"].timer_interval == 0.005
    assert config.operators == (contract.OperatorConfig("op", "python", "/base/op.py",
                                                        ("a", "t"), ("o",)),)
    assert env[contract.NODE_ID_ENV] == "rt" and env[contract.DATAFLOW_ID_ENV] == "u"


def test_slots_are_stable_and_name_the_producers_consumed_from():
    df = dataflow("""
        nodes:
          - {id: p, path: p.py, outputs: [x]}
          - {id: q, path: q.py, outputs: [y]}
          - {id: c, path: c.py, inputs: {b: q/y, a: p/x, t: dora/timer/millis/10}}
    """)
    assert link_slots(df, df.node("c")) == ("n2", ["n0", "n1"])
    assert link_slots(df, df.node("p")) == ("n0", [])


def test_a_launch_is_the_argv_env_cwd_and_limits_of_one_incarnation():
    df = dataflow("""
        nodes:
          - {id: a, path: a.py, deploy: {working_dir: sub}, limits: {open_files: 64}}
    """)
    launch = node_launch(df, df.nodes[0], dataflow_id="u", descriptor="/base/t.yml",
                         incarnation=3, restart_count=2, wait_for=("b",),
                         endpoints=contract.Endpoints([], []))
    assert (launch.node, launch.incarnation, launch.restart_count) == ("a", 3, 2)
    assert launch.argv == node_argv(df, df.nodes[0]) and launch.cwd == "/base/sub"
    assert launch.limits.open_files == 64
    config = contract.decode_config(launch.env[contract.CONFIG_ENV])
    assert (config.incarnation, config.restart_count, config.wait_for) == (3, 2, ("b",))
