"""Read a descriptor file and return the validated model, or raise one error listing all."""

from __future__ import annotations

import os
import shutil

from dora_supervisor.descriptor import Dataflow
from dora_supervisor.errors import DescriptorError, Problem
from dora_supervisor.parse import parse
from dora_supervisor.validate import check_files, check_references, expand_operator_shorthand
from dora_supervisor.yamlsrc import YamlSyntaxError, format_path, line_at, load_yaml

__all__ = ["load_descriptor"]


def _read(path: str) -> str:
    """A module file's text (`modules.ModuleReader`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise OSError("not UTF-8 text") from None


def load_descriptor(file: str) -> tuple[Dataflow, list[Problem]]:
    """The dataflow and its warnings; `DescriptorError` when anything is wrong."""
    try:
        with open(file, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DescriptorError([Problem(file, 0, "", f"cannot read: {exc.strerror}")]) from None
    text = _decode(file, raw)
    try:
        data, lines, found = load_yaml(text)
    except YamlSyntaxError as exc:
        raise DescriptorError([Problem(file, exc.line, "", str(exc))]) from None
    base_dir = os.path.dirname(os.path.abspath(file))
    problems = [Problem(file, line, format_path(path), msg) for path, line, msg in found]
    dataflow, parsed = parse(data, lines, file, base_dir, _read)
    problems += parsed  # after what reading found: on one line, its cause comes first
    if dataflow is not None:
        dataflow = expand_operator_shorthand(dataflow)
        problems += check_references(dataflow, lines)
        problems += check_files(dataflow, lines, os.path.exists, shutil.which)
    problems.sort(key=lambda p: p.sort_key)
    errors = [p for p in problems if not p.warning]
    if errors or dataflow is None:
        raise DescriptorError(errors)
    return dataflow, [p for p in problems if p.warning]


def _decode(file: str, raw: bytes) -> str:
    """UTF-8 text with newlines as text mode reads them; bytes that are not UTF-8 are a
    problem located at their line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start].decode("utf-8")
        line = line_at(before, len(before))
        raise DescriptorError([Problem(file, line, "", f"not UTF-8 text (byte "
                                                       f"0x{raw[exc.start]:02x})")]) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
