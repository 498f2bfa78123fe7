"""Checks that need the whole dataflow: references between nodes, groups and files.

Pure: the file-system look-ups are passed in (`exists`, `which`), so tests can run every
case without touching disk.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable

import attrs

from dora_api.contract import parse_log_source
from dora_supervisor.descriptor import Dataflow, NodeSpec, RestartPolicy
from dora_supervisor.errors import Origin, Problem
from dora_supervisor.parse import did_you_mean
from dora_supervisor.yamlsrc import Lines

__all__ = ["check_references", "check_files", "resolve_command", "expand_operator_shorthand"]


def expand_operator_shorthand(df: Dataflow) -> Dataflow:
    """`node/output` for a node running a single operator means `node/op/output`.

    dora-rs lets other nodes address a single `operator:`'s outputs without the operator
    id; rewriting those sources here keeps one addressing scheme everywhere else."""
    single = {n.id: n.operators[0].id for n in df.nodes if len(n.operators) == 1}
    producers = {n.id: n for n in df.nodes}

    def expanded(spec):
        op = single.get(spec.source_node)
        if op is None or spec.is_timer or spec.source_output in producers[spec.source_node].outputs:
            return spec
        if f"{op}/{spec.source_output}" not in producers[spec.source_node].outputs:
            return spec
        return attrs.evolve(spec, source=f"{spec.source_node}/{op}/{spec.source_output}")

    nodes = tuple(attrs.evolve(n, inputs=tuple(expanded(i) for i in n.inputs)) for n in df.nodes)
    return attrs.evolve(df, nodes=nodes)


def check_references(df: Dataflow, lines: Lines) -> list[Problem]:
    """Duplicate ids, inputs naming unknown nodes or outputs, groups, significance."""
    problems: list[Problem] = []
    top = Origin(df.file, lines)

    def add(path: tuple, message: str, origin: Origin | None = None) -> None:
        problems.append((origin or top).problem(path, message))

    nodes: dict[str, NodeSpec] = {}
    for node in df.nodes:
        if node.id in nodes:
            first = nodes[node.id]
            add(node.where + ("id",), f"duplicate node id '{node.id}' (first at "
                                      f"{_position(first.origin or top, first.where, top)})",
                node.origin)
        else:
            nodes[node.id] = node
    for node in df.nodes:
        for spec in node.inputs:
            origin = spec.origin or node.origin
            watched = _log_filter_node(spec.source)
            if watched is not None and watched not in nodes:
                add(spec.where, f"node '{watched}' does not exist{did_you_mean(watched, nodes)}",
                    origin)
            if spec.is_timer or "/" not in spec.source:
                continue
            source = nodes.get(spec.source_node)
            if source is None:
                add(spec.where, f"node '{spec.source_node}' does not exist"
                                f"{did_you_mean(spec.source_node, nodes)}", origin)
            elif spec.source_output not in source.outputs:
                add(spec.where, f"node '{source.id}' has no output '{spec.source_output}'"
                                f"{did_you_mean(spec.source_output, source.outputs)}", origin)
        if node.significant and node.restart.policy is RestartPolicy.PERMANENT:
            add(node.where + ("significant",), "a permanent node cannot be significant "
                                               "(it never finishes by itself)", node.origin)
    _check_groups(df, nodes, add)
    return problems


def _position(origin: Origin, path: tuple, top: Origin) -> str:
    """`line N` in the same file as the dataflow, `file:line` in a module file."""
    if origin.file == top.file and not origin.included:
        return f"line {origin.lines.of(path)}"
    return origin.position(path)


def _log_filter_node(source: str) -> str | None:
    """The node a `dora/logs/<level>/<node>` input watches (None: every node, or not one)."""
    try:
        log_filter = parse_log_source(source)
    except ValueError:  # malformed: the parser has said so
        return None
    return log_filter.node if log_filter is not None else None


def _check_groups(df: Dataflow, nodes: dict[str, NodeSpec], add) -> None:
    groups = {}
    for group in df.groups:
        if group.id in groups or group.id in nodes:
            kind = "module" if group.module else "group"
            add(group.where + ("id",), f"{kind} id '{group.id}' is already used by a "
                                       f"{'group or module' if group.id in groups else 'node'}",
                group.origin)
        groups.setdefault(group.id, group)
    owner: dict[str, str] = {}
    for group in df.groups:
        for i, member in enumerate(group.members):
            where = group.where if group.module else group.where + ("members", i)
            if member not in nodes and member not in groups:
                add(where, f"member '{member}' is neither a node nor a group"
                           f"{did_you_mean(member, list(nodes) + list(groups))}", group.origin)
            elif member == group.id:
                add(where, f"group '{group.id}' cannot contain itself", group.origin)
            elif member in owner and owner[member] != group.id:
                add(where, f"'{member}' already belongs to "
                           f"{'module' if groups[owner[member]].module else 'group'} "
                           f"'{owner[member]}'", group.origin)
            else:
                owner[member] = group.id
    for group in df.groups:  # a cycle through nested groups never reaches the root
        seen, current = {group.id}, owner.get(group.id)
        while current is not None and current not in seen:
            seen.add(current)
            current = owner.get(current)
        if current == group.id:
            add(group.where + ("members",), f"group '{group.id}' is nested inside itself",
                group.origin)


def resolve_command(node: NodeSpec, base_dir: str, python: str) -> list[str]:
    """The argv that starts `node` (before operators are considered).

    A `.py` path runs with `python`; a leading `python`/`python3` in `custom.run` does too,
    so a venv's interpreter is used rather than whatever is first on PATH."""
    if node.path is not None:
        path = node.path
        if "/" in path or path.endswith(".py"):
            path = posixpath.normpath(posixpath.join(base_dir, path))
        if path.endswith(".py"):
            return [python, "-u", path, *node.args]
        return [path, *node.args]
    argv = shlex.split(node.run or "")
    if argv and argv[0] in ("python", "python3"):
        argv[0] = python
        if len(argv) > 1 and argv[1] != "-u":
            argv.insert(1, "-u")
    return argv + list(node.args)


def check_files(df: Dataflow, lines: Lines, exists: Callable[[str], bool],
                which: Callable[[str], str | None]) -> list[Problem]:
    """Executables, scripts and operator files that are missing.

    For a node with `build:` steps a missing file is only a warning: building is what
    `dora run` does first, and it may well create it."""
    problems: list[Problem] = []
    built = False
    origin = top = Origin(df.file, lines)

    def add(path: tuple, message: str) -> None:
        if built:
            message = message.replace("does not exist", "does not exist yet", 1) + \
                "; the node's 'build' steps run first and may create it"
        problems.append(origin.problem(path, message, built))

    for node in df.nodes:
        if node.machine:  # deployed elsewhere: its files live on that machine
            continue
        built = bool(node.build)
        origin = node.origin or top
        workdir = posixpath.join(df.base_dir, node.working_dir or "")
        if node.path is not None or node.run:
            try:
                argv = resolve_command(node, df.base_dir, "python")
            except ValueError as exc:
                add(node.where + ("custom", "run"), f"cannot split the command: {exc}")
                continue
            if not argv:
                continue
            key = ("path",) if node.path is not None else ("custom", "run")
            target = argv[2] if argv[0] == "python" and len(argv) > 2 and argv[1] == "-u" \
                and (node.path or "").endswith(".py") else argv[0]
            shown, relative_to = node.path, "the descriptor's folder"
            if argv[0] == "python" and not (node.path or "").endswith(".py"):
                script = next((a for a in argv[1:] if not a.startswith("-")), None)
                if script and script.endswith(".py"):
                    target = posixpath.join(workdir, script)
                    shown = script
                    if node.working_dir:
                        relative_to = f"the working directory '{node.working_dir}'"
                else:
                    continue
            if "/" in target:
                if not exists(target):
                    add(node.where + key, _missing(shown or target, relative_to))
            elif which(target) is None and not exists(posixpath.join(workdir, target)):
                add(node.where + key, f"executable '{target}' not found on PATH")
        for i, op in enumerate(node.operators):
            target = posixpath.join(df.base_dir, op.path)
            if not exists(target):
                # a single `operator:` takes the node's id; `operators:` is a list
                single = len(node.operators) == 1 and op.id == node.id
                key = ("operator", op.kind) if single else ("operators", i, op.kind)
                add(node.where + key, _missing(op.path, "the descriptor's folder"))
    return problems


def _missing(path: str, relative_to: str) -> str:
    """`file 'x.py' does not exist`, saying what a relative path was resolved against."""
    if posixpath.isabs(path):
        return f"file '{path}' does not exist"
    return f"file '{path}' does not exist (relative to {relative_to})"
