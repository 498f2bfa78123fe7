"""Regressions found by fuzzing the descriptor path (tests/fuzz): one test per bug.

Each ended in `dora: internal error: ...`, a problem over several lines, or a model that
broke its own promises. Every descriptor goes through `load_descriptor`, the function
`dora check` uses, from a real file; the exact problem lines are asserted.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from dora_supervisor import cli
from dora_supervisor.errors import DescriptorError
from dora_supervisor.load import load_descriptor
from dora_supervisor.yamlsrc import MAX_ALIASED_VALUES, MAX_DEPTH

NODE = "nodes:\n  - id: a\n    path: a.py\n"  # a valid descriptor with a.py beside it


def problems(tmp_path: Path, text: str | bytes) -> list[str]:
    """The lines `dora check t.yml` prints for `text` (a.py exists beside it)."""
    (tmp_path / "a.py").write_text("")
    file = tmp_path / "t.yml"
    if isinstance(text, str):
        file.write_text(text)
    else:
        file.write_bytes(text)
    with pytest.raises(DescriptorError) as caught:
        load_descriptor(str(file))
    return [str(p).replace(str(file), "t.yml", 1) for p in caught.value.problems]


def loads(tmp_path: Path, text: str):
    (tmp_path / "a.py").write_text("")
    (tmp_path / "t.yml").write_text(text)
    return load_descriptor(str(tmp_path / "t.yml"))[0]


# -- tags --------------------------------------------------------------------------------------


def test_explicit_int_tag_on_path_is_a_descriptor_error(tmp_path):
    assert problems(tmp_path, "nodes:\n  - id: a\n    path: !!int a.py\n") == [
        "t.yml:3: nodes[0].path: tag !!int does not fit 'a.py'"]


@pytest.mark.parametrize("tagged, message", [
    ("!!float x", "tag !!float does not fit 'x'"),
    ("!!bool x", "tag !!bool does not fit 'x'"),
    ("!!timestamp x", "tag !!timestamp does not fit 'x'"),
    ("!!int 0x_", "tag !!int does not fit '0x_'"),
    ("!!map x", "tag !!map does not fit 'x'"),
])
def test_explicit_tag_that_does_not_fit_its_value_is_a_descriptor_error(
        tmp_path, tagged, message):
    assert problems(tmp_path, f"name: {tagged}\n{NODE}") == [f"t.yml:1: name: {message}"]


@pytest.mark.parametrize("tag", ["!!str", "!!seq", "!!int"])
def test_explicit_scalar_or_list_tag_on_a_mapping_is_a_descriptor_error(tmp_path, tag):
    assert problems(tmp_path, f"name: {tag} {{b: 1}}\n{NODE}") == [
        f"t.yml:1: name: tag {tag} does not fit a mapping",
        "t.yml:1: name: expected a string"]  # the mapping it is stays a mapping


UNSUPPORTED = "(a descriptor holds strings, numbers, booleans, null, lists and mappings)"


@pytest.mark.parametrize("tagged, shown, what", [
    ("!!binary aGk=", "!!binary", "'aGk='"),
    ("!!python/name:os.system x", "!!python/name:os.system", "'x'"),
    ("!foo x", "!foo", "'x'"),
    ("!<tag:example.com,2000:x> x", "tag:example.com,2000:x", "'x'"),
])
def test_unsupported_tag_is_a_descriptor_error_and_builds_nothing(tmp_path, tagged, shown, what):
    assert problems(tmp_path, f"env: {{A: {tagged}}}\n{NODE}") == [
        f"t.yml:1: env.A: unsupported tag {shown} on {what} {UNSUPPORTED}"]


@pytest.mark.parametrize("tagged, shown, what", [
    ("!!set {x, y}", "!!set", "a mapping"),
    ("!!omap [{x: 1}]", "!!omap", "a list"),
    ("!!python/object/apply:os.system [echo]", "!!python/object/apply:os.system", "a list"),
])
def test_unsupported_tag_on_a_collection_is_a_descriptor_error(tmp_path, tagged, shown, what):
    assert problems(tmp_path, f"env: {{A: {tagged}}}\n{NODE}") == [
        f"t.yml:1: env.A: unsupported tag {shown} on {what} {UNSUPPORTED}",
        "t.yml:1: env.A: expected a string, number, boolean or {__dora_env: HOST_VARIABLE}"]


def test_a_fitting_explicit_tag_is_honoured(tmp_path):
    dataflow = loads(tmp_path, "env: {A: !!str 3, B: !!int '4'}\nnodes:\n  - id: !!str a\n"
                               "    path: a.py\n    restart: {max_restarts: !!int '7'}\n")
    node = dataflow.nodes[0]
    assert (node.id, node.env, node.restart.max_restarts) == ("a", {"A": "3", "B": "4"}, 7)


# -- aliases and nesting -----------------------------------------------------------------------


@pytest.mark.parametrize("text, line", [
    ("a: &a [*a]\n", 1), ("a: &a {b: *a}\n", 1), ("a: &a\n  - [x, *a]\n", 2),
    ("a: &a {? *a : v}\n", 1),
])
def test_self_referencing_alias_is_rejected(tmp_path, text, line):
    assert problems(tmp_path, text + NODE) == [
        f"t.yml:{line}: alias *a refers to a collection that contains it; a descriptor "
        "cannot be recursive"]


def billion_laughs(levels: int = 9) -> str:
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n" + NODE


def test_billion_laughs_is_rejected_quickly(tmp_path):
    started = time.process_time()  # CPU time: a loaded machine does not make it flaky
    found = problems(tmp_path, billion_laughs())  # 10**9 values if expanded
    assert time.process_time() - started < 0.25
    assert found == [f"t.yml:4: aliases expand to more than {MAX_ALIASED_VALUES} values; "
                     "refusing to expand them (a 'billion laughs' document?)"]


def test_aliases_within_the_bound_still_work(tmp_path):
    text = ("env: &shared {A: '1'}\nnodes:\n  - {id: a, path: a.py, env: *shared}\n"
            "  - {id: b, path: a.py, env: *shared}\n")
    assert [n.env for n in loads(tmp_path, text).nodes] == [{"A": "1"}] * 2


def test_deep_nesting_is_rejected_not_a_recursion_error(tmp_path):
    assert problems(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n" + NODE) == [
        f"t.yml:1: collections nested deeper than {MAX_DEPTH} levels"]


def test_undefined_and_duplicate_anchors_are_named(tmp_path):
    assert problems(tmp_path, "a: *nope\n" + NODE) == [
        "t.yml:1: alias *nope names no anchor defined before it"]
    assert problems(tmp_path, "a: &x 1\nb: &x 2\n" + NODE) == [
        "t.yml:2: anchor &x is defined twice (first at line 1)"]


def test_merge_key_is_a_descriptor_error(tmp_path):
    assert "t.yml:3: nodes[0]: merge keys ('<<') are not supported; write the keys out" in \
        problems(tmp_path, "x: &d {path: a.py}\nnodes:\n  - <<: *d\n    id: a\n")


# -- characters and encodings ------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\ufffe"])
def test_control_character_is_a_located_descriptor_error(tmp_path, char):
    assert problems(tmp_path, f"{NODE}    args: a{char}b\n") == [
        f"t.yml:4: invalid YAML: the special character U+{ord(char):04X} is not allowed"]


def test_invalid_utf8_is_a_located_descriptor_error(tmp_path):
    assert problems(tmp_path, NODE.encode() + b"    args: \xff\n") == [
        "t.yml:4: not UTF-8 text (byte 0xff)"]


def test_key_with_a_line_break_is_reported_on_one_line(tmp_path):
    assert problems(tmp_path, f'"na\\nme\\u2028": x\n{NODE}') == [
        "t.yml:1: na\\nme\\u2028: unknown key 'na\\nme\\u2028' (did you mean 'name'?)"]


def test_node_id_with_a_trailing_line_break_is_invalid(tmp_path):
    assert problems(tmp_path, 'nodes:\n  - id: "a\\n"\n    path: a.py\n') == [
        "t.yml:2: nodes[0].id: missing or invalid node id 'a\\n' (letters, digits, '_', "
        "'.', '-'; not 'dora')"]


def test_empty_descriptor_problem_is_located_at_line_1(tmp_path):
    for text in ("", "# only a comment\n", "\ufeff"):
        assert problems(tmp_path, text) == [
            "t.yml:1: the descriptor must be a mapping with a 'nodes' list"]


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "18446744073709551616",
                                    "-9223372036854775809", "1" + ":59" * 3000])
def test_integer_beyond_64_bits_is_a_descriptor_error(tmp_path, number):
    shown = number if len(number) <= 40 else number[:37] + "..."
    assert problems(tmp_path, f"{NODE}    limits: {{open_files: {number}}}\n") == [
        f"t.yml:4: nodes[0].limits.open_files: the number {shown} is out of range (more "
        "than 64 bits)"]


def test_huge_size_is_a_descriptor_error_not_an_overflow(tmp_path):
    huge = "9" * 400
    assert problems(tmp_path, f"{NODE}    limits: {{memory: {huge}MiB}}\n") == [
        f"t.yml:4: nodes[0].limits.memory: invalid size '{huge}MiB'"]


def test_non_finite_backoff_multiplier_is_rejected(tmp_path):
    for value in (".nan", ".inf"):
        assert problems(tmp_path, f"{NODE}    restart: {{backoff: {{multiplier: {value}}}}}\n"
                        ) == [f"t.yml:4: nodes[0].restart.backoff.multiplier: expected a "
                              f"non-negative number, got {float(value[1:])!r}"]


@pytest.mark.parametrize("text", ["0b_", "._", "0x_", "2001-13-45", "2001-02-30", "=", "<<"])
def test_malformed_implicit_numbers_and_dates_are_read_as_text(tmp_path, text):
    assert loads(tmp_path, f"name: {text}\n{NODE}").name == text


def test_max_64_bit_numbers_still_load(tmp_path):
    node = loads(tmp_path, f"{NODE}    limits: {{open_files: 18446744073709551615}}\n").nodes[0]
    assert node.limits.open_files == 2**64 - 1
    assert math.isfinite(node.restart.backoff.multiplier)


def test_dora_check_prints_the_one_line_problem_not_an_internal_error(tmp_path, capsys):
    (tmp_path / "t.yml").write_text("a: &a [*a]\n" + NODE)
    assert cli.main(["check", str(tmp_path / "t.yml")]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert err == (f"{tmp_path / 't.yml'}:1: alias *a refers to a collection that contains "
                   "it; a descriptor cannot be recursive\n")


@pytest.mark.parametrize("unit", ["secs", "millis", "hz"])
def test_huge_timer_interval_is_a_descriptor_error_not_an_overflow(tmp_path, unit):
    huge = "9" * 400
    what = "frequency" if unit == "hz" else "interval"
    assert problems(tmp_path, f"{NODE}    inputs: {{tick: dora/timer/{unit}/{huge}}}\n") == [
        f"t.yml:4: nodes[0].inputs.tick: malformed timer 'dora/timer/{unit}/{huge}': the "
        f"{what} must be a positive, finite number"]
