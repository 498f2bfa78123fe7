"""Descriptor data -> the model of `descriptor`, collecting every problem on the way.

Both spellings are accepted (the original `custom:`/`communication:` form and the dora-rs
1.x form) and normalised into one model. Cross-references (inputs naming nodes, groups,
files) are checked afterwards by `validate`.
"""

from __future__ import annotations

from typing import Any

from dora_supervisor.descriptor import (
    Dataflow,
    GroupSpec,
    SupervisionFlags,
)
from dora_supervisor.errors import Problem
from dora_supervisor.keys import (
    COMMUNICATION_KEYS,
    FLAG_KEYS,
    GROUP_KEYS,
    NO_EFFECT_TOP_KEYS,
    TOP_KEYS,
    ZENOH_KEYS,
)
from dora_supervisor.modules import ModuleReader, expand_modules
from dora_supervisor.parse_node import NodeParser
from dora_supervisor.parse_values import ID_PATTERN, did_you_mean, kind_of
from dora_supervisor.yamlsrc import Lines, Path

__all__ = ["parse", "did_you_mean"]


class _Parser(NodeParser):
    """Turns raw YAML data into the model, collecting every problem on the way."""

    def groups(self, value: Any) -> tuple[GroupSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(("groups",), f"expected a list of groups, got {kind_of(value)}")
            return ()
        result = []
        for i, item in enumerate(value):
            path: Path = ("groups", i)
            raw = self.mapping(item, path, GROUP_KEYS)
            group_id = raw.get("id")
            if not isinstance(group_id, str) or not ID_PATTERN.fullmatch(group_id):
                self.problem(path + ("id",), f"missing or invalid group id {group_id!r}")
                continue
            members = self.string_list(raw.get("members"), path + ("members",))
            if not members:
                self.problem(path + ("members",), f"group '{group_id}' has no members")
            result.append(GroupSpec(group_id, members, self.flags(
                raw, path, SupervisionFlags(auto_shutdown="never")), self.lines.of(path), path))
        return tuple(result)


def parse(data: Any, lines: Lines, file: str, base_dir: str = ".",
          read_module: ModuleReader | None = None) -> tuple[Dataflow | None, list[Problem]]:
    """Normalise raw descriptor data; return the model (None if unusable) and problems.

    `read_module(path)` gives the text of a module file a `module:` node includes."""
    parser = _Parser(file, lines)
    if not isinstance(data, dict):
        parser.problem((), "the descriptor must be a mapping with a 'nodes' list")
        return None, parser.problems
    raw = parser.mapping(data, (), TOP_KEYS, NO_EFFECT_TOP_KEYS)
    comm = parser.mapping(raw.get("communication"), ("communication",), COMMUNICATION_KEYS)
    zenoh = parser.mapping(comm.get("zenoh"), ("communication", "zenoh"), ZENOH_KEYS)
    prefix = "" if zenoh.get("prefix") is None else zenoh["prefix"]
    if not isinstance(prefix, str) or any(c in prefix for c in "*$?#"):
        parser.problem(("communication", "zenoh", "prefix"), "expected a key-expression prefix "
                       "without wildcards")
        prefix = ""
    sup_raw = parser.mapping(raw.get("supervision"), ("supervision",), FLAG_KEYS)
    supervision = parser.flags(sup_raw, ("supervision",), SupervisionFlags())
    global_env = parser.env(raw.get("env"), ("env",))
    nodes_value = raw.get("nodes")
    items = []
    if not isinstance(nodes_value, list) or not nodes_value:
        parser.problem(("nodes",), "the dataflow needs a non-empty 'nodes' list")
    else:
        for i, item in enumerate(nodes_value):
            node = parser.node(item, ("nodes", i), global_env)
            if node is not None:
                items.append(node)
    nodes, module_groups, problems = expand_modules(items, file, read_module, global_env)
    parser.problems += problems
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        parser.problem(("name",), "expected a string")
        name = None
    dataflow = Dataflow(nodes=tuple(nodes), name=name, prefix=prefix.strip("/"),
                        supervision=supervision,
                        groups=parser.groups(raw.get("groups")) + tuple(module_groups),
                        file=file, base_dir=base_dir)
    return dataflow, parser.problems
