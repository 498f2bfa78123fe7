"""The key table (`keys`) and the parser agree: the schema built from the table says what
`dora check` says about synonyms and about what a node runs."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from dora_supervisor import keys
from dora_supervisor.parse import parse
from dora_supervisor.yamlsrc import format_path

# a valid value for each key a synonym pair names
_SAMPLE = {"shutdown": "1s", "finish_grace_secs": "1s", "policy": "always",
           "restart_policy": "always", "max_restarts": 2, "window": "5s",
           "restart_window": "5s", "initial": "1s", "restart_delay": "1s", "max": "2s",
           "max_restart_delay": "2s", "lease": "1s", "health_check_timeout": "1s",
           "args": "-v", "inputs": {"x": "other/out"}, "outputs": ["o"]}
_RUNNABLE_SAMPLE = {("path",): "n.py", ("custom", "source"): "n.py",
                    ("custom", "run"): "python3 n.py",
                    ("operators",): [{"id": "op", "python": "op.py"}],
                    ("operator",): {"python": "op.py"}, ("module",): "m.yml"}
_MODULE = "module: {name: m}\nnodes: [{id: inner, path: inner.py}]\n"


class _NoLines:
    def of(self, path) -> int:
        return 0


def _problems(node: dict) -> list[str]:
    _, problems = parse({"nodes": [{"id": "n", **node}]}, _NoLines(), "t.yml",
                        read_module=lambda path: _MODULE)
    return [p.message for p in problems if not p.warning]


def _nest(path: tuple[str, ...], value) -> dict:
    return {path[0]: _nest(path[1:], value) if path[1:] else value}


def _merge(a: dict, b: dict) -> dict:
    both = dict(a)
    for key, value in b.items():
        both[key] = _merge(both[key], value) if isinstance(both.get(key), dict) else value
    return both


@pytest.mark.parametrize("flat, nested", list(keys.SYNONYMS.items()), ids=list(keys.SYNONYMS))
def test_a_synonym_and_its_nested_key_given_together_is_an_error(flat, nested):
    runnable = {"custom": {"source": "n.py"}} if nested[0] == "custom" else {"path": "n.py"}
    one = _merge(runnable, _nest(nested, _SAMPLE[nested[-1]]))
    other = _merge(runnable, {flat: _SAMPLE[flat]})
    message = f"'{flat}' and '{format_path(nested)}' mean the same; give only one"
    assert message not in _problems(one) and message not in _problems(other)
    assert message in _problems(_merge(one, other))


def test_the_table_names_every_synonym_the_parser_knows():
    """Every `either(..., "flat")` of the node parser is a pair of `keys.SYNONYMS`."""
    source = Path(__file__).resolve().parents[2] / "dora_supervisor" / "parse_node.py"
    flats = {call.args[-1].value for call in ast.walk(ast.parse(source.read_text()))
             if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "either"}
    assert flats == set(keys.SYNONYMS)


@pytest.mark.parametrize("first, second", list(itertools.combinations(keys.RUNNABLE, 2)))
def test_two_things_to_run_is_an_error(first, second):
    node = _merge(_nest(first, _RUNNABLE_SAMPLE[first]), _nest(second, _RUNNABLE_SAMPLE[second]))
    assert any("has both" in message for message in _problems(node)), node
    for alone in (first, second):
        assert _problems(_nest(alone, _RUNNABLE_SAMPLE[alone])) == []


def test_nothing_to_run_is_an_error():
    assert any("nothing to run" in message for message in _problems({"outputs": ["o"]}))


def test_the_no_effect_keys_are_the_ones_marked_in_the_table():
    assert keys.NO_EFFECT_NODE_KEYS < keys.NODE_KEYS
    assert "build" in keys.NODE_KEYS - keys.NO_EFFECT_NODE_KEYS  # dora build runs it
    assert keys.NO_EFFECT_OPERATOR_KEYS == keys.OPERATOR_KEYS - {
        "id", "name", "description", "python", "shared-library", "inputs", "outputs"}
