"""Exception types; the CLI turns them into one-line messages, never tracebacks."""

from __future__ import annotations

import attrs

from dora_supervisor.yamlsrc import Lines, Path, format_path

__all__ = ["Problem", "Origin", "DescriptorError", "DoraError"]


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
    # a module file's problem: where that file was included, innermost first
    included: tuple[tuple[str, int], ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        kind = " warning:" if self.warning else ""
        chain = ", ".join(f"{file}:{line}" for file, line in self.included)
        return _one_line(f"{where}:{kind}{key} {self.message}"
                         + (f" (included from {chain})" if chain else ""))

    @property
    def sort_key(self) -> tuple:
        """Problems of a module file sort where the dataflow includes it."""
        return tuple(line for _, line in reversed(self.included)) + (self.line,), self.path


@attrs.frozen
class Origin:
    """Where part of a descriptor was written: a file, its line map, and (for a module file)
    the chain of `module:` nodes that included it, innermost first."""

    file: str
    lines: Lines = attrs.field(eq=False, repr=False)
    included: tuple[tuple[str, int], ...] = ()

    def problem(self, path: Path, message: str, warning: bool = False) -> Problem:
        return Problem(self.file, self.lines.of(path), format_path(path), message, warning,
                       self.included)

    def position(self, path: Path) -> str:
        """`file:line` of `path`, for a message that points at a second place."""
        return f"{self.file}:{self.lines.of(path)}"


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
