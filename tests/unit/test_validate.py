"""Whole-dataflow rewrites and checks of `validate` that need no files."""

from __future__ import annotations

import textwrap

from dora_supervisor.parse import parse
from dora_supervisor.validate import check_references, expand_operator_shorthand
from dora_supervisor.yamlsrc import load_yaml


def load(text: str):
    data, lines, _ = load_yaml(textwrap.dedent(text))
    df, _ = parse(data, lines, "t.yml")
    return expand_operator_shorthand(df), lines


def test_a_single_operator_output_can_be_addressed_without_the_operator_id():
    df, lines = load("""
        nodes:
          - id: detect
            operator: {python: op.py, inputs: {tick: dora/timer/millis/10}, outputs: [boxes]}
          - id: sink
            path: sink.py
            inputs: {boxes: detect/boxes, long: detect/detect/boxes}
    """)
    sources = {i.id: i.source for i in df.node("sink").inputs}
    assert sources == {"boxes": "detect/detect/boxes", "long": "detect/detect/boxes"}
    assert check_references(df, lines) == []


def test_the_shorthand_does_not_apply_to_unknown_outputs():
    df, lines = load("""
        nodes:
          - id: detect
            operator: {python: op.py, outputs: [boxes]}
          - {id: sink, path: sink.py, inputs: {x: detect/nope}}
    """)
    [problem] = check_references(df, lines)
    assert "node 'detect' has no output 'nope'" in problem.message
