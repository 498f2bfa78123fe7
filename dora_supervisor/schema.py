"""The descriptor's JSON Schema (for editors), built from the table in `keys`.

`dora schema` prints it; `descriptors/schema.json` is that output, and a test keeps the two
equal. What is only in the schema lives here: the value types (durations, sizes, sources,
...) as patterns, and the rules a node must follow (one thing to run, no synonym twice).
"""

from __future__ import annotations

import itertools
import json

from dora_api.contract import LEVELS
from dora_supervisor import keys
from dora_supervisor.keys import Key, Section, ref
from dora_supervisor.parse_values import ID_PATTERN

__all__ = ["build_schema", "render_schema"]

_DURATION = r"^\s*(\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)?\s*$"
# a dora/timer source with a positive interval, a dora/logs source, or node/output
# (node/operator/output)
_SOURCE = (r"^\s*(dora/timer/(secs|millis|micros|nanos)/0*[1-9][0-9]*|dora/timer/hz/"
           r"(?=[0-9.]*[1-9])(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
           rf"|dora/logs(/({'|'.join(LEVELS)})(/{ID_PATTERN.pattern[1:-1]})?)?"
           r"|(?!dora/)[^/\s][^/]*(/[^/]+)+)\s*$")
_NON_EMPTY = {"type": "string", "minLength": 1}
# keywords that may join `"type": [..., "null"]`; anything else is wrapped in anyOf
_TYPE_KEYWORDS = {"type", "minLength", "minimum", "maximum", "pattern", "items", "minItems",
                  "uniqueItems"}

_VALUE_TYPES = {
    "duration": {
        "description": "A duration: `250ms`, `1.5s`, `5m`, `2h` (also ns, us) or a bare number "
                       "of seconds.",
        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION}]},
    "positiveDuration": {
        "description": "A positive duration: `250ms`, `1.5s`, `5m`, `2h` or a bare number of "
                       "seconds.",
        "anyOf": [{"type": "number", "exclusiveMinimum": 0},
                  {"type": "string", "pattern": _DURATION,
                   "not": {"pattern": r"^\s*[0.]*\s*[a-zµ]*\s*$"}}]},
    "size": {
        "description": "A size: `512KiB`, `256MiB`, `1GiB` (powers of 2), `1KB`, `1MB`, `1GB` "
                       "(powers of 10), or a bare number of bytes.",
        "anyOf": [{"type": "integer", "minimum": 0},
                  {"type": "string",
                   "pattern": r"^\s*\d+(\.\d*)?\s*([KMGTkmgt][iI]?[bB]|[bB])?\s*$"}]},
    "percent": {
        "description": "A share of one CPU core: `80%` (a bare number is taken as percent).",
        "anyOf": [{"type": "number", "minimum": 0},
                  {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*%?\s*$"}]},
    "shutdown": {
        "description": keys.NODE.keys["shutdown"].doc,
        "anyOf": [{"const": "brutal_kill"}, ref("duration")]},
    "id": {"type": "string", "pattern": ID_PATTERN.pattern},
    "names": {
        "description": "A name or a list of names.",
        "anyOf": [_NON_EMPTY, {"type": "array", "items": _NON_EMPTY, "uniqueItems": True}]},
    "env": {
        "description": "Environment variables: values are strings, numbers or booleans "
                       "(booleans become `true`/`false`); `$VAR` in a value and `{__dora_env: "
                       "VAR}` take the variable from the environment `dora` runs in.",
        "type": ["object", "null"], "properties": {},
        "additionalProperties": {"anyOf": [
            {"type": ["string", "number", "boolean"]},
            {"type": "object", "properties": {"__dora_env": {
                "type": "string",
                "description": "the name of a variable in the environment `dora` runs in"}},
             "required": ["__dora_env"], "additionalProperties": False}]}},
    "args": {
        "description": keys.NODE.keys["args"].doc,
        "anyOf": [{"type": "string"},
                  {"type": "array", "items": {"type": ["string", "number", "boolean"]}}]},
    "source": {
        "description": "Where an input comes from: `node/output` (an operator's output is "
                       "`node/operator/output`), a built-in timer `dora/timer/{secs,millis,"
                       "micros,nanos}/N` (whole N) or `dora/timer/hz/F`, or the log records "
                       "of the dataflow's other nodes `dora/logs`, `dora/logs/<level>` "
                       "(that level and above), `dora/logs/<level>/<node>`.",
        "type": "string", "pattern": _SOURCE,
        "examples": ["timer/time", "dora/timer/millis/100", "dora/timer/secs/1",
                     "dora/timer/hz/30", "dora/logs", "dora/logs/warn/camera"]},
    "inputs": {
        "description": keys.NODE.keys["inputs"].doc,
        "type": ["object", "null"], "properties": {}, "additionalProperties": ref("input")},
    "outputs": {**ref("names"), "description": keys.NODE.keys["outputs"].doc},
}
_SECTIONS = {"flags": keys.FLAGS, "group": keys.GROUP, "operator": keys.OPERATOR,
             "custom": keys.CUSTOM, "restart": keys.RESTART, "limits": keys.LIMITS,
             "health": keys.HEALTH, "deploy": keys.DEPLOY}


def build_schema() -> dict:
    """The whole JSON Schema (draft 2020-12) of a dataflow descriptor."""
    definitions = dict(_VALUE_TYPES)
    definitions["input"] = {"anyOf": [ref("source"), _object(keys.INPUT)]}
    definitions.update((name, _object(section)) for name, section in _SECTIONS.items())
    definitions["node"] = _node()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/dora-supervisor/dora-supervisor/descriptors/schema.json",
        "title": "dora-supervisor dataflow descriptor",
        **_object(keys.TOP),
        "$defs": definitions,
    }


def render_schema() -> str:
    """`build_schema()` as the text of `descriptors/schema.json`."""
    return json.dumps(build_schema(), indent=2) + "\n"


def _object(section: Section) -> dict:
    result = {
        "description": section.doc,
        "type": ["object", "null"] if section.nullable else "object",
        "properties": {name: _property(key) for name, key in section.keys.items()},
    }
    if section.required:
        result["required"] = list(section.required)
    result["additionalProperties"] = False
    if section.exactly_one:
        result["oneOf"] = [{"required": [name]} for name in section.exactly_one]
    return result


def _property(key: Key) -> dict:
    doc = f"{key.doc} {keys.NO_EFFECT}" if key.no_effect else key.doc
    if isinstance(key.value, Section):
        return {**_object(key.value), "description": doc}
    value = dict(key.value or {})
    if key.nullable and value:
        value = _or_null(value)
    result = {"description": doc, **value}
    if key.default is not None:
        result["default"] = key.default
    return result


def _or_null(value: dict) -> dict:
    """`value`, or nothing (`key:` left empty means its default)."""
    if "type" in value and set(value) <= _TYPE_KEYWORDS:
        types = value["type"] if isinstance(value["type"], list) else [value["type"]]
        return {**value, "type": [*types, "null"]}
    return {"anyOf": [value, {"type": "null"}]}


def _given(path: tuple[str, ...], leaf: dict | None = None) -> dict:
    """A node where the key at `path` is given (and its value matches `leaf`)."""
    head, rest = path[0], path[1:]
    inner = {"type": "object", **_given(rest, leaf)} if rest else leaf
    return {"required": [head], **({"properties": {head: inner}} if inner else {})}


def _node() -> dict:
    """A node: exactly one thing to run, and a nested key and its synonym never both."""
    runnable = [_given(path, _NON_EMPTY if is_string else None)
                for path, is_string in keys.RUNNABLE.items()]
    one_at_most = [{"not": {"allOf": [a, b]}} for a, b in itertools.combinations(runnable, 2)]
    no_synonym_twice = []
    for flat, nested in keys.SYNONYMS.items():
        both = _given(nested)
        no_synonym_twice.append({"not": {**both, "required": [flat, *both["required"]]}})
    return {**_object(keys.NODE), "anyOf": runnable, "allOf": one_at_most + no_synonym_twice}
