"""Files a node's `build:` steps will create are warnings in `dora check`, not errors."""

from __future__ import annotations

import textwrap

from dora_supervisor.parse import parse
from dora_supervisor.validate import check_files
from dora_supervisor.yamlsrc import load_yaml


def problems(text: str):
    data, lines, _ = load_yaml(textwrap.dedent(text))
    df, _ = parse(data, lines, "t.yml", "/base")
    return check_files(df, lines, exists=lambda path: False, which=lambda name: None)


def test_a_missing_operator_library_with_a_build_step_is_a_warning():
    [problem] = problems("""
        nodes:
          - id: rt
            build: make -C c-operator
            operators:
              - {id: op, shared-library: c-operator/operator.so}
    """)
    assert problem.warning
    assert str(problem) == (
        "t.yml:6: warning: nodes[0].operators[0].shared-library: file "
        "'c-operator/operator.so' does not exist yet (relative to the descriptor's folder); "
        "the node's 'build' steps run first and may create it")


def test_without_a_build_step_it_stays_an_error():
    [problem] = problems("""
        nodes:
          - id: rt
            operators:
              - {id: op, shared-library: c-operator/operator.so}
    """)
    assert not problem.warning
