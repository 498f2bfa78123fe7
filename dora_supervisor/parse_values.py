"""Raw YAML values -> typed values, each problem recorded (located) instead of raised.

The descriptor parser (`parse`, `parse_node`) is built on `ValueParser`, so every value
is checked the same way and `dora check` reports all problems at once.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from dora_supervisor.errors import Origin, Problem
from dora_supervisor.units import parse_duration
from dora_supervisor.yamlsrc import Lines, Path

__all__ = ["ValueParser", "did_you_mean", "positive_duration", "kind_of", "ID_PATTERN"]

# Node, operator and group ids. Use `fullmatch`: `match` would let "id\n" through `$`. The
# pattern itself stays ECMA-262 compatible, because the JSON schema carries it too.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def did_you_mean(word: str, choices) -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or nothing if none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ValueParser:
    """Reads raw YAML values into typed ones, collecting every problem on the way."""

    def __init__(self, file: str, lines: Lines, included: tuple[tuple[str, int], ...] = ()):
        self.file = file
        self.lines = lines
        self.origin = Origin(file, lines, included)  # where what is parsed was written
        self.problems: list[Problem] = []

    def problem(self, path: Path, message: str, warning: bool = False) -> None:
        self.problems.append(self.origin.problem(path, message, warning))

    def mapping(self, value: Any, path: Path, known: set[str],
                no_effect: set[str] = frozenset()) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping, got {kind_of(value)}")
            return {}
        for key in value:
            if key not in known:
                self.problem(path + (key,), f"unknown key '{key}'{did_you_mean(key, known)}")
            elif key in no_effect:
                self.problem(path + (key,), f"'{key}' is accepted but has no effect here",
                             warning=True)
        return {k: v for k, v in value.items() if k in known}

    def convert(self, value: Any, path: Path, convert, default=None):
        if value is None:
            return default
        try:
            return convert(value)
        except (ValueError, TypeError) as exc:
            self.problem(path, str(exc))
            return default

    def integer(self, value: Any, path: Path, default=None, minimum: int = 0):
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(path, f"expected a whole number >= {minimum}, got {value!r}")
            return default
        return value

    def number(self, value: Any, path: Path, default=None):
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0 <= value < float("inf"):  # also refuses nan
            self.problem(path, f"expected a non-negative number, got {value!r}")
            return default
        return float(value)

    def choice(self, value: Any, path: Path, choices, default):
        if value is None:
            return default
        if value not in choices:
            self.problem(path, f"unknown value {value!r}; expected one of "
                               f"{', '.join(choices)}{did_you_mean(str(value), choices)}")
            return default
        return value

    def string_list(self, value: Any, path: Path) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problem(path, f"expected a list of names, got {kind_of(value)}")
            return ()
        result = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.problem(path + (i,), f"expected a name, got {item!r}")
            elif item in result:
                self.problem(path + (i,), f"'{item}' is listed twice")
            else:
                result.append(item)
        return tuple(result)

    def text(self, value: Any, path: Path) -> str | None:  # a path or a command
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"expected a non-empty string, got {kind_of(value)}")
            return None
        return value

    def env(self, value: Any, path: Path) -> dict[str, str]:
        env = {}
        for key, item in self.mapping(value, path, set(value or {}) if isinstance(value, dict)
                                      else set()).items():
            if isinstance(item, dict) and list(item) == ["__dora_env"] and \
                    isinstance(item["__dora_env"], str):
                env[str(key)] = "${" + item["__dora_env"] + "}"  # dora-rs: a host variable
            elif isinstance(item, dict | list) or item is None:
                self.problem(path + (key,), "expected a string, number, boolean or "
                                            "{__dora_env: HOST_VARIABLE}")
            else:
                env[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
        return env


def positive_duration(value: Any) -> float:
    """A duration that must be above zero (a lease, an intensity period)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


def kind_of(value: Any) -> str:
    """What a YAML value is, in the words of an error message ("a mapping", "nothing")."""
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing",
            bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)
