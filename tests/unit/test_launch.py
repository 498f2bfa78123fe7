"""What a node is started with (argv, env): environment expansion as in dora-rs."""

from __future__ import annotations

import textwrap

from dora_api import contract
from dora_supervisor.launch import (
    consumers_of,
    link_slots,
    node_argv,
    node_env,
    node_launch,
    site_endpoints,
)
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


SITE = contract.DaemonInfo("m1", "d-1", 42, "robot", "0", contract.PROTOCOL_VERSION,
                           "/opt/robot", "/opt/venv/bin/python", "/run/d", 1.5,
                           {"memory": "sampling", "cpu": "sampling", "cpu_throttle": False})


def test_a_node_on_another_machine_is_resolved_there(monkeypatch):
    monkeypatch.setenv("HOST_ONLY", "coordinator")
    df = dataflow("""
        nodes:
          - {id: cam, path: nodes/cam.py, args: --fast, env: {WHERE: $HOST_ONLY},
             deploy: {machine: m1, working_dir: data}}
          - id: rt
            operators: [{id: op, python: ops/op.py, outputs: [o]}]
            deploy: {machine: m1}
    """)
    endpoints = contract.Endpoints(["unixsock-stream/l"], [])
    cam = node_launch(df, df.node("cam"), dataflow_id="u", descriptor="/base/t.yml",
                      incarnation=1, restart_count=0, wait_for=(), endpoints=endpoints,
                      site=SITE)
    assert cam.argv == ["/opt/venv/bin/python", "-u", "/opt/robot/nodes/cam.py", "--fast"]
    assert cam.cwd == "/opt/robot/data"
    assert cam.target_env == {"WHERE": "$HOST_ONLY"}  # expanded by the daemon, there
    assert "HOST_ONLY" not in cam.env and "PATH" not in cam.env  # the daemon adds its own
    config = contract.decode_config(cam.env[contract.CONFIG_ENV])
    assert (config.descriptor, config.base_dir, config.lease_s) == (
        "/opt/robot/t.yml", "/opt/robot", 1.5)
    assert config.endpoints == endpoints
    rt = node_launch(df, df.node("rt"), dataflow_id="u", descriptor="/base/t.yml",
                     incarnation=1, restart_count=0, wait_for=(), endpoints=endpoints,
                     site=SITE)
    assert rt.argv[0] == "/opt/venv/bin/python"
    assert contract.decode_config(rt.env[contract.CONFIG_ENV]).operators[0].path == \
        "/opt/robot/ops/op.py"


def test_nodes_dial_only_the_producers_on_their_own_machine():
    df = dataflow("""
        nodes:
          - {id: a, path: a.py, outputs: [o], deploy: {machine: m1}}
          - {id: b, path: b.py, outputs: [o]}
          - {id: c, path: c.py, inputs: {x: a/o, y: b/o}, deploy: {machine: m1}}
          - {id: d, path: d.py, inputs: {x: a/o, y: b/o}}
    """)
    assert link_slots(df, df.node("c")) == ("n2", ["n0"])
    assert link_slots(df, df.node("d")) == ("n3", ["n1"])
    endpoints = site_endpoints(SITE, "u", "n2", ["n0"])
    assert endpoints == contract.Endpoints(
        ["unixsock-stream//run/d/u/n2.sock"],
        ["unixsock-stream//run/d/router.sock", "unixsock-stream//run/d/u/n0.sock"])


def test_deploy_machine_local_is_the_coordinators_own_machine():
    df = dataflow("""
        nodes:
          - {id: a, path: a.py, deploy: {machine: local}}
    """)
    assert df.nodes[0].machine is None
