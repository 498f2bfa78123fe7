"""YAML loading that remembers where every key and item stood, and builds plain data only.

A descriptor is plain data plus a `Lines` map from key paths to 1-based line numbers,
so validation can say `mini.yml:14: nodes[1].inputs.time: ...` without carrying
YAML nodes around.

Whatever else a YAML file can say becomes a located problem, never an exception: a tag
that does not fit its value or would build something other than strings, numbers,
booleans, null, lists and mappings; an integer beyond 64 bits; a merge key. Aliases are
checked while the text is composed, before anything is built: one that refers to a
collection containing it is refused, and so is a document whose aliases would expand to
more than `MAX_ALIASED_VALUES` values (a "billion laughs" file is refused in
milliseconds) or that nests deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["Lines", "Path", "YamlSyntaxError", "load_yaml", "format_path", "line_at",
           "MAX_ALIASED_VALUES", "MAX_DEPTH"]

Path = tuple[str | int, ...]
Found = tuple[Path, int, str]  # a problem found while reading: key path, line, message

MAX_ALIASED_VALUES = 10_000  # values that aliases may add to a document, all aliases together
MAX_DEPTH = 100  # nested collections; a descriptor needs fewer than ten
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null",
                                                "timestamp")}
_FITTING = {yaml.ScalarNode: _SCALAR_TAGS, yaml.SequenceNode: {f"{_CORE}seq"},
            yaml.MappingNode: {f"{_CORE}map"}}
_KINDS = {yaml.ScalarNode: "a scalar", yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}
_INT_RANGE = range(-(2**63), 2**64)  # what dora-rs's integers hold
_LONGEST_INT = 100  # characters; longer integer text is out of range without converting it


class Lines:
    """Line numbers of key paths; unknown paths fall back to their nearest parent."""

    def __init__(self) -> None:
        self._lines: dict[Path, int] = {}

    def set(self, path: Path, line: int) -> None:
        self._lines.setdefault(path, line)

    def of(self, path: Path) -> int:
        while path not in self._lines and path:
            path = path[:-1]
        return self._lines.get(path, 0)


def format_path(path: Path) -> str:
    """`('nodes', 1, 'inputs', 'time')` -> `nodes[1].inputs.time`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class YamlSyntaxError(ValueError):
    """The text cannot be read as a descriptor at all; `line` is where (1-based)."""

    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(message)


def load_yaml(text: str) -> tuple[Any, Lines, list[Found]]:
    """Parse `text`; return data, line map and problems found while reading it.

    The problems (duplicate keys, tags that do not fit, numbers out of range) leave the
    rest of the document usable. Raises `YamlSyntaxError` (with a line) when the text is
    not YAML, or not one a descriptor can be read from (recursive or exploding aliases).
    """
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        return _raise(line_at(text, exc.position), f"invalid YAML: {_reader_problem(exc)}")
    try:
        lines = Lines()
        root = loader.get_single_node()
        builder = _Builder(loader, lines)
        data = None if root is None else builder.build(root, ())
        lines.set((), 1)  # problems of the document as a whole point at its first line
        return data, lines, builder.found
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        if "<block end>" in (exc.problem or ""):
            message += "; check the indentation"
        return _raise(line, message)
    finally:
        loader.dispose()


def _raise(line: int, message: str):
    raise YamlSyntaxError(line, message)


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    character = exc.character if isinstance(exc.character, int) else ord(exc.character[:1])
    return f"the special character U+{character:04X} is not allowed"


def line_at(text: str, position: int) -> int:
    """The 1-based line of `text[position]`, counting line breaks as YAML does."""
    before = text[:position].replace("\r\n", "\n").replace("\r", "\n")
    return before.count("\n") + sum(before.count(c) for c in "\x85\u2028\u2029") + 1


class _Loader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses recursive aliases, alias bombs and deep nesting,
    and notes which nodes carry an explicit tag. It constructs nothing itself."""

    def __init__(self, text: str):
        super().__init__(text)
        self.open_anchors: list[str | None] = []  # anchors of the nodes being composed
        self.sizes: dict[int, int] = {}  # id(node) -> the values it expands to
        self.aliased = 0  # values added by aliases so far

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, parent, index)
        if len(self.open_anchors) >= MAX_DEPTH:
            _raise(event.start_mark.line + 1, f"collections nested deeper than {MAX_DEPTH} "
                                              "levels")
        if event.anchor is not None and event.anchor in self.anchors:
            first = self.anchors[event.anchor].start_mark.line + 1
            _raise(event.start_mark.line + 1, f"anchor &{event.anchor} is defined twice "
                                              f"(first at line {first})")
        self.open_anchors.append(event.anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.open_anchors.pop()
        if event.tag not in (None, "!"):
            node.explicit_tag = True
        self.sizes[id(node)] = 1 + sum(self.sizes[id(child)] for child in _children(node))
        return node

    def _alias(self, event: yaml.AliasEvent, parent, index):
        line = event.start_mark.line + 1
        if event.anchor in self.open_anchors:
            _raise(line, f"alias *{event.anchor} refers to a collection that contains it; "
                         "a descriptor cannot be recursive")
        if event.anchor not in self.anchors:
            _raise(line, f"alias *{event.anchor} names no anchor defined before it")
        node = super().compose_node(parent, index)
        self.aliased += self.sizes[id(node)]
        if self.aliased > MAX_ALIASED_VALUES:
            _raise(line, f"aliases expand to more than {MAX_ALIASED_VALUES} values; refusing "
                         "to expand them (a 'billion laughs' document?)")
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


class _Builder:
    """Composed nodes -> plain data, recording lines and problems on the way."""

    def __init__(self, loader: _Loader, lines: Lines):
        self.loader = loader  # resolves and constructs scalars, as YAML 1.1 says
        self.lines = lines
        self.found: list[Found] = []

    def problem(self, path: Path, node: yaml.Node, message: str) -> None:
        self.found.append((path, node.start_mark.line + 1, message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.lines.set(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self.check_tag(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_CORE}merge":
                self.problem(path, key_node, "merge keys ('<<') are not supported; write "
                                             "the keys out")
                continue
            key = self.key(key_node, path)
            child = path + (key,)
            if key in result:
                self.problem(child, key_node, f"key '{key}' appears twice (first at line "
                                              f"{self.lines.of(child)})")
            self.lines.set(child, key_node.start_mark.line + 1)
            result[key] = self.build(value_node, child)
        return result

    def key(self, node: yaml.Node, path: Path) -> str:
        if isinstance(node, yaml.ScalarNode):
            key = self.scalar(node, path, as_key=True)
        else:  # a list or mapping as a key: built on the side, then named by its text
            side = _Builder(self.loader, Lines())
            key = side.build(node, path)
            self.found += [(path, line, message) for _, line, message in side.found]
        return key if isinstance(key, str) else str(key)

    def check_tag(self, node: yaml.Node, path: Path) -> bool:
        """Whether `node`'s tag fits it; if not, the problem is recorded."""
        if node.tag in _FITTING[type(node)]:
            return True
        shown = _shorthand(node.tag)
        what = repr(_shortened(node.value)) if isinstance(node, yaml.ScalarNode) \
            else _KINDS[type(node)]
        if any(node.tag in tags for tags in _FITTING.values()):
            self.problem(path, node, f"tag {shown} does not fit {what}")
        else:
            self.problem(path, node, f"unsupported tag {shown} on {what} (a descriptor holds "
                                     "strings, numbers, booleans, null, lists and mappings)")
        return False

    def scalar(self, node: yaml.ScalarNode, path: Path, as_key: bool = False) -> Any:
        explicit = getattr(node, "explicit_tag", False)
        if not explicit and node.tag not in _SCALAR_TAGS:
            return node.value  # `=` and `<<` as values: YAML 1.1 oddities, read as text
        if explicit and not self.check_tag(node, path):  # read it as if it had no tag
            plain = node.style is None
            tag = self.loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))
            return self.scalar(yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark,
                                               node.style), path, as_key)
        if node.tag == f"{_CORE}int" and len(node.value) > _LONGEST_INT:
            return self.out_of_range(node, path, as_key)
        try:
            value = self.loader.yaml_constructors[node.tag](self.loader, node)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, yaml.YAMLError):
            if explicit:
                self.problem(path, node, f"tag {_shorthand(node.tag)} does not fit "
                                         f"{_shortened(node.value)!r}")
            return node.value  # e.g. 2001-13-45: not a date after all, so text
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT_RANGE:
            return self.out_of_range(node, path, as_key)
        return value

    def out_of_range(self, node: yaml.ScalarNode, path: Path, as_key: bool) -> str | None:
        """Reported here; as a value it then counts as not given (a key keeps its text)."""
        self.problem(path, node, f"the number {_shortened(node.value)} is out of range "
                                 "(more than 64 bits)")
        return node.value if as_key else None


def _shorthand(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
