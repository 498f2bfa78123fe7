"""Modules (dora-rs 1.x `module:` nodes), expanded into plain nodes and a group supervisor.

A node `{id: pipeline, module: modules/transform.yml, inputs: {raw_data: sender/value}}`
includes a module file: its header `module: {name, inputs, inputs_optional, outputs}`
declares the interface, its `nodes:` implement it. Expanding the node:
- the module's nodes become `pipeline.<id>`, in the node's place in the start order; a
  nested module expands the same way (`pipeline.inner.<id>`), at most MAX_DEPTH deep and
  never in a cycle;
- an inner input `_mod/<input>` reads what the module node wires to `<input>` (an optional
  input left unwired drops it); `<sibling>/<output>` reads `pipeline.<sibling>/<output>`;
- `pipeline/<output>` anywhere else reads the inner node that produces that declared
  output: only declared outputs are visible from outside;
- the inner nodes' relative paths are taken from the module file's folder (and rewritten
  against the dataflow's folder, where every node runs, as in dora-rs); `params` become
  `PARAM_<KEY>` variables and replace `${_param.<key>}` and `$PARAM_<KEY>` in args; the
  module node's `deploy.machine` and the module file's `build` apply to every inner node;
- the module is a group supervisor `pipeline` over its nodes (and its nested modules'
  groups): the flags of its header, overridden by those on the module node, defaults as
  for any group.

A problem inside a module file is located in that file and followed by where it was
included: `modules/t.yml:7: nodes[0].inputs.data: ... (included from dataflow.yml:9)`.
Pure: module files are read through the `read` function passed in.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

import attrs

from dora_supervisor.descriptor import GroupSpec, InputSpec, ModuleRef, NodeSpec, SupervisionFlags
from dora_supervisor.errors import Origin, Problem
from dora_supervisor.module_keys import MODULE_FILE_KEYS, MODULE_HEADER_KEYS
from dora_supervisor.parse_node import NodeParser
from dora_supervisor.parse_values import did_you_mean, kind_of
from dora_supervisor.yamlsrc import YamlSyntaxError, load_yaml

__all__ = ["ModuleReader", "expand_modules", "MAX_DEPTH", "MODULE_INPUT"]

MAX_DEPTH = 8  # as dora-rs: modules nest at most this deep
MODULE_INPUT = "_mod"  # `_mod/<input>`: a module's input, inside its file
ModuleReader = Callable[[str], str]  # a module file's text; OSError when it cannot be read
Exposed = dict[str, str] | None  # a module's declared output -> its source (None: broken)


def expand_modules(items: list[NodeSpec | ModuleRef], file: str, read: ModuleReader | None,
                   global_env: dict[str, str]) -> tuple[list[NodeSpec], list[GroupSpec],
                                                        list[Problem]]:
    """The dataflow `file`'s nodes with every module node expanded: flat nodes, one group
    per module, and the problems found (located in the file they are in)."""
    expander = _Expander(file, read, global_env)
    for item in items:
        if isinstance(item, NodeSpec):
            for spec in item.inputs:
                if spec.source_node == MODULE_INPUT and not spec.is_timer:
                    expander.say(item.origin, spec.where, f"'{spec.source}' is a module "
                                 "input: only the nodes of a module file read `_mod/...`")
    nodes, _ = expander.level(items, "", (file,))
    return nodes, expander.groups, expander.problems


def _relocated(path: str | None, folder: str) -> str | None:
    """A file path written in a module file, relative to the dataflow's folder instead."""
    if path is None or not folder or posixpath.isabs(path):
        return path
    if "/" not in path and not path.endswith(".py"):
        return path  # a bare executable name: looked up on PATH
    return posixpath.normpath(posixpath.join(folder, path))


def _substituted(text: str, params: dict[str, str]) -> str:
    for key, value in params.items():
        name = f"PARAM_{key.upper()}"
        for pattern in ("${_param." + key + "}", "${" + name + "}", "$" + name):
            text = text.replace(pattern, value)
    return text


def _map_inputs(item, fix: Callable[[InputSpec], InputSpec | None]):
    """`item` (a node or a module node) with `fix` applied to every input; None drops one."""
    def fixed(specs):
        return tuple(spec for spec in map(fix, specs) if spec is not None)

    if isinstance(item, ModuleRef):
        return attrs.evolve(item, inputs=fixed(item.inputs))
    return attrs.evolve(item, inputs=fixed(item.inputs), operators=tuple(
        attrs.evolve(op, inputs=fixed(op.inputs)) for op in item.operators))


@attrs.frozen
class _Header:
    """A module file's interface, and where it is declared (for messages)."""

    name: str
    inputs: tuple[str, ...]
    optional: tuple[str, ...]
    outputs: tuple[str, ...]
    at: str  # `file:line` of the header


class _Expander:
    def __init__(self, file: str, read: ModuleReader | None, global_env: dict[str, str]):
        self.top_dir = posixpath.dirname(file)
        self.read = read
        self.global_env = global_env
        self.groups: list[GroupSpec] = []
        self.problems: list[Problem] = []

    def say(self, origin: Origin, path, message: str) -> None:
        self.problems.append(origin.problem(path, message))

    # -- one file's nodes ---------------------------------------------------------------

    def level(self, items: list[NodeSpec | ModuleRef], folder: str,
              chain: tuple[str, ...]) -> tuple[list[NodeSpec], dict[str, Exposed]]:
        """Expand the module nodes among one file's `items` (`folder`: that file's, relative
        to the dataflow's); the flat nodes, and what each module exposes."""
        nodes: list[NodeSpec] = []
        exposed: dict[str, Exposed] = {}
        for item in items:
            if isinstance(item, ModuleRef):
                inner, exposed[item.id] = self.module(item, folder, chain)
                nodes += inner
            else:
                nodes.append(item)
        if exposed:
            nodes = [_map_inputs(node, lambda spec, n=node: self.rewire(n, spec, exposed))
                     for node in nodes]
        return nodes, exposed

    def rewire(self, node: NodeSpec, spec: InputSpec, exposed: dict[str, Exposed]):
        """`module/output` -> the inner output it stands for."""
        if spec.is_timer or spec.source_node not in exposed:
            return spec
        outputs = exposed[spec.source_node]
        if outputs is None:
            return None  # the module is broken: that was said already
        source = outputs.get(spec.source_output)
        if source is None:
            self.say(spec.origin or node.origin, spec.where,
                     f"module '{spec.source_node}' has no output '{spec.source_output}' (its "
                     f"outputs: {', '.join(outputs) or 'none'})"
                     f"{did_you_mean(spec.source_output, outputs)}")
            return None
        return attrs.evolve(spec, source=source)

    # -- one module node --------------------------------------------------------------

    def module(self, ref: ModuleRef, folder: str,
               chain: tuple[str, ...]) -> tuple[list[NodeSpec], Exposed]:
        loaded = self.load(ref, folder, chain)
        if loaded is None:
            return [], None
        parser, raw, header, shown = loaded
        outer = NodeParser(ref.origin.file, ref.origin.lines, ref.origin.included)
        flags = outer.flags(ref.flags, ref.where, parser.flags(
            raw.get("module") or {}, ("module",), SupervisionFlags(auto_shutdown="never")))
        self.check_wiring(ref, header, outer)
        nodes_value = raw.get("nodes")
        if not isinstance(nodes_value, list) or not nodes_value:
            parser.problem(("nodes",), f"module '{header.name}' needs a non-empty 'nodes' "
                                       f"list, got {kind_of(nodes_value)}")
            nodes_value = []
        items = [parser.node(item, ("nodes", i), self.global_env)
                 for i, item in enumerate(nodes_value)]
        items = [item for item in items if item is not None]
        for item in items:
            if item.id == MODULE_INPUT:
                parser.problem(item.where + ("id",), f"'{MODULE_INPUT}' names the module's "
                                                     "inputs; it cannot be a node id")
        folder = posixpath.dirname(posixpath.normpath(posixpath.join(folder, ref.file)))
        build = ref.build + parser.build(raw.get("build"), ("build",))
        siblings = {item.id for item in items}
        local = [self.localize(item, ref, header, parser, siblings, folder, build)
                 for item in items]
        nodes, exposed = self.level(local, folder, chain + (shown,))
        built = {node.id for node in nodes} | {m for m, e in exposed.items() if e is not None}
        members = tuple(item.id for item in local if item.id in built)
        outputs: dict[str, str] = {}
        for k, output in enumerate(header.outputs):
            source = self.producer(output, members, nodes, exposed)
            if source is None:
                parser.problem(("module", "outputs", k), f"module '{header.name}' declares "
                               f"output '{output}' but none of its nodes has it")
            else:
                outputs[output] = source
        self.problems += parser.problems + outer.problems
        for k, output in enumerate(ref.outputs):
            if output not in header.outputs:
                self.say(ref.origin, ref.where + ("outputs", k), f"module '{header.name}' "
                         f"declares no output '{output}' (its outputs: "
                         f"{', '.join(header.outputs) or 'none'}; {header.at})")
        if members:
            self.groups.append(GroupSpec(ref.id, members, flags, ref.line, ref.where,
                                         ref.origin, shown))
        return nodes, outputs

    def load(self, ref: ModuleRef, folder: str, chain: tuple[str, ...]):
        """(parser, raw top-level mapping, header, file as shown) of `ref`'s module file;
        None when it cannot be used at all (the problem is recorded)."""
        if not ref.file:
            return None
        shown = posixpath.normpath(posixpath.join(self.top_dir, folder, ref.file))
        where = ref.where + ("module",)
        if shown in chain:
            self.say(ref.origin, where, f"module '{ref.file}' includes itself: "
                                        f"{' -> '.join(chain + (shown,))}")
            return None
        if len(chain) > MAX_DEPTH:
            self.say(ref.origin, where, f"modules nest deeper than {MAX_DEPTH} levels")
            return None
        try:
            if self.read is None:
                raise OSError("module files are not read here")
            text = self.read(shown)
        except OSError as exc:
            self.say(ref.origin, where, f"cannot read module file '{shown}': "
                                        f"{exc.strerror or exc}")
            return None
        included = ((ref.origin.file, ref.line),) + ref.origin.included
        try:
            data, lines, found = load_yaml(text)
        except YamlSyntaxError as exc:
            self.problems.append(Problem(shown, exc.line, "", str(exc), included=included))
            return None
        parser = NodeParser(shown, lines, included)
        for path, _, message in found:  # what reading the YAML found
            parser.problem(path, message)
        if not isinstance(data, dict) or not isinstance(data.get("module"), dict):
            parser.problem(("module",) if isinstance(data, dict) else (),
                           "a module file starts with a 'module:' header (name, inputs, "
                           "outputs) and lists its 'nodes:'")
            self.problems += parser.problems
            return None
        raw = parser.mapping(data, (), MODULE_FILE_KEYS)
        head = parser.mapping(raw["module"], ("module",), MODULE_HEADER_KEYS)
        name = head.get("name")
        if not isinstance(name, str) or not name:
            parser.problem(("module", "name"), "the module needs a 'name'")
            name = ref.file
        header = _Header(name, parser.string_list(head.get("inputs"), ("module", "inputs")),
                         parser.string_list(head.get("inputs_optional"),
                                            ("module", "inputs_optional")),
                         parser.string_list(head.get("outputs"), ("module", "outputs")),
                         parser.origin.position(("module",)))
        return parser, raw, header, shown

    def check_wiring(self, ref: ModuleRef, header: _Header, outer: NodeParser) -> None:
        """The module node wires every required input, and only declared ones."""
        wired = {spec.id for spec in ref.inputs}
        for name in header.inputs:
            if name not in wired:
                outer.problem(ref.where + ("inputs",), f"module '{header.name}' needs input "
                              f"'{name}' (declared at {header.at})")
        known = header.inputs + header.optional
        for spec in ref.inputs:
            if spec.id not in known:
                outer.problem(spec.where, f"module '{header.name}' has no input '{spec.id}' "
                              f"(its inputs: {', '.join(known) or 'none'}; declared at "
                              f"{header.at}){did_you_mean(spec.id, known)}")

    @staticmethod
    def localize(item: NodeSpec | ModuleRef, ref: ModuleRef, header: _Header,
                 parser: NodeParser, siblings: set[str], folder: str, build: tuple[str, ...]):
        """An inner node (or nested module node) as part of the including dataflow."""
        prefix = f"{ref.id}."
        bound = {spec.id: spec for spec in ref.inputs}

        def fix(spec: InputSpec) -> InputSpec | None:
            if spec.is_timer:
                return spec
            node, output = spec.source_node, spec.source_output
            if node == MODULE_INPUT:
                if output in bound:
                    binding = bound[output]
                    inner = spec.queue_size is not None
                    return attrs.evolve(
                        spec, source=binding.source, where=binding.where, origin=ref.origin,
                        queue_size=spec.queue_size if inner else binding.queue_size,
                        queue_policy=spec.queue_policy if inner else binding.queue_policy,
                        input_timeout=spec.input_timeout or binding.input_timeout)
                if output not in header.inputs + header.optional:
                    parser.problem(spec.where, f"module '{header.name}' has no input "
                                   f"'{output}' (its inputs: "
                                   f"{', '.join(header.inputs + header.optional) or 'none'})"
                                   f"{did_you_mean(output, header.inputs + header.optional)}")
                return None  # optional and not wired (a missing required one was said)
            if node in siblings:
                return attrs.evolve(spec, source=f"{prefix}{node}/{output}")
            return spec  # another node of the dataflow, or a timer

        moved = _map_inputs(item, fix)
        if isinstance(moved, ModuleRef):
            return attrs.evolve(moved, id=prefix + moved.id, machine=moved.machine or ref.machine,
                                build=build + moved.build)
        env = dict(moved.env)
        env.update({f"PARAM_{key.upper()}": value for key, value in ref.params.items()})
        working_dir = moved.working_dir
        if working_dir is not None:
            working_dir = posixpath.normpath(posixpath.join(folder, working_dir))
        elif moved.run and folder:
            working_dir = folder  # a command line names files relative to the module
        return attrs.evolve(
            moved, id=prefix + moved.id, path=_relocated(moved.path, folder),
            args=tuple(_substituted(arg, ref.params) for arg in moved.args), env=env,
            working_dir=working_dir, machine=moved.machine or ref.machine,
            build=build + moved.build, operators=tuple(
                attrs.evolve(op, path=posixpath.normpath(posixpath.join(folder, op.path)))
                for op in moved.operators))

    @staticmethod
    def producer(output: str, members: tuple[str, ...], nodes: list[NodeSpec],
                 exposed: dict[str, Exposed]) -> str | None:
        """The source a module's declared `output` stands for: a direct child's output (an
        operator's `op/<output>` too) or a nested module's declared output."""
        by_id = {node.id: node for node in nodes}
        for child in members:
            if child in exposed:
                if exposed[child] and output in exposed[child]:
                    return exposed[child][output]
                continue
            node = by_id[child]
            for name in node.outputs:
                if name == output or name.endswith(f"/{output}"):
                    return f"{child}/{name}"
        return None
