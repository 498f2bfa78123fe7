"""A node's output lines as log records, and the last thing each node said on stderr.

A stderr line starting with the dora_api log mark is a structured record from the node's
logging handler (`node_log`); every other line is plain output (`node_output`). The last
non-empty stderr line of each node is what a failed run quotes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from dora_api import contract

__all__ = ["Stream", "OutputRecord", "parse_log_line", "output_record", "LastWords"]

_LEVELS = ("debug", "info", "warning", "error", "critical")
_FROM_DORA = {"stdout": "info", "trace": "debug", "debug": "debug", "info": "info",
              "warn": "warning", "error": "error"}


class Stream(enum.StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


@attrs.frozen
class OutputRecord:
    """One line, ready to log: `log.<level>(event, **fields)`; `dora_level` is its level as
    data (`dora/logs`): `stdout` for a plain line."""

    event: str
    level: str
    fields: dict
    dora_level: str = "stdout"


def parse_log_line(line: str) -> contract.LogRecord | None:
    """A structured record written by dora_api's logging handler, or None: a malformed
    one is shown as the plain line it is."""
    try:
        return contract.decode_log_line(line)
    except contract.ContractError:
        return None


def output_record(stream: Stream, line: str) -> OutputRecord:
    record = parse_log_line(line) if stream == Stream.STDERR else None
    if record is None:
        return OutputRecord("node_output", "info", {"stream": stream, "line": line})
    fields = {"msg": record.msg, "logger": record.logger}
    if record.fields is not None:
        fields["fields"] = record.fields
    try:
        level = contract.dora_level(record.level)
    except contract.ContractError:
        level = "info"
    shown = record.level if record.level in _LEVELS else _FROM_DORA[level]
    return OutputRecord("node_log", shown, fields, level)


class LastWords:
    """Turns each line into its record and remembers each node's last non-empty stderr line
    (a structured record's message, if it was one): what a failed run quotes."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def record(self, node: str, stream: Stream, line: str) -> OutputRecord:
        record = output_record(stream, line)
        if stream == Stream.STDERR and line.strip():
            said = record.fields.get("msg") if record.event == "node_log" else None
            self._last[node] = said or line.strip()
        return record

    def of(self, node: str) -> str | None:
        return self._last.get(node)

    @property
    def by_node(self) -> Mapping[str, str]:
        """Every node's last words, read-only (for a failure report built elsewhere)."""
        return MappingProxyType(self._last)
