"""Exception types; the CLI turns them into one-line messages, never tracebacks."""

from __future__ import annotations

import attrs

__all__ = ["Problem", "DescriptorError", "DoraError"]


class DoraError(Exception):
    """Base of every error the CLI reports as a single line."""


@attrs.frozen
class Problem:
    """One thing wrong with a descriptor, located as `file:line: key.path`."""

    file: str
    line: int
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        kind = " warning:" if self.warning else ""
        return _one_line(f"{where}:{kind}{key} {self.message}")


def _one_line(text: str) -> str:
    """`text` with line breaks and other invisible characters escaped (`\\n`, `\\x00`):
    a problem quoting what a user wrote must still be one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class DescriptorError(DoraError, ValueError):
    """A descriptor with at least one problem; `str()` is one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
