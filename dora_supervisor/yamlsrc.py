"""YAML loading that remembers where every key and item stood.

A descriptor is plain data plus a `Lines` map from key paths to 1-based line numbers,
so validation can say `mini.yml:14: nodes[1].inputs.time: ...` without carrying
YAML nodes around.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["Lines", "Path", "YamlSyntaxError", "load_yaml", "format_path"]

Path = tuple[str | int, ...]


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
    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(message)


def load_yaml(text: str) -> tuple[Any, Lines, list[tuple[Path, int, str]]]:
    """Parse `text`; return data, line map and duplicate keys (path, line, message).

    Raises `YamlSyntaxError` (with a line) when the text is not YAML.
    """
    lines = Lines()
    duplicates: list[tuple[Path, int, str]] = []
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, lines, duplicates
        return _build(loader, root, (), lines, duplicates), lines, duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        if "<block end>" in (exc.problem or ""):
            message += "; check the indentation"
        return _raise(line, message)
    except yaml.YAMLError as exc:
        return _raise(0, f"invalid YAML: {exc}")
    finally:
        loader.dispose()


def _raise(line: int, message: str):
    raise YamlSyntaxError(line, message)


def _build(loader, node, path: Path, lines: Lines, duplicates) -> Any:
    lines.set(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = path + (key,)
            if key in result:
                duplicates.append((child, key_node.start_mark.line + 1,
                                   f"key '{key}' appears twice (first at line "
                                   f"{lines.of(child)})"))
            lines.set(child, key_node.start_mark.line + 1)
            result[key] = _build(loader, value_node, child, lines, duplicates)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), lines, duplicates)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
