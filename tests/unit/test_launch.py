"""What a node is started with (argv, env): environment expansion as in dora-rs."""

from __future__ import annotations

import textwrap

from dora_api import contract
from dora_supervisor.launch import consumers_of, node_env
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
