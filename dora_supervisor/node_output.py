"""A node's output lines as log records, and the last thing each node said on stderr.

A stderr line starting with the dora_api log mark is a structured record from the node's
logging handler (`node_log`); every other line is plain output (`node_output`). The last
non-empty stderr line of each node is what a failed run quotes.

`LineSplitter` cuts the bytes a node writes into those lines with bounded memory: a line
longer than `MAX_LINE_BYTES` keeps its first `MAX_LINE_BYTES` (at a character boundary)
and the rest is counted, not kept; invalid UTF-8 becomes U+FFFD.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from dora_api import contract

__all__ = ["Stream", "OutputRecord", "parse_log_line", "output_record", "LastWords",
           "MAX_LINE_BYTES", "OutputLine", "LineSplitter", "truncation_mark"]

_LEVELS = ("debug", "info", "warning", "error", "critical")
_FROM_DORA = {"stdout": "info", "trace": "debug", "debug": "debug", "info": "info",
              "warn": "warning", "error": "error"}

# The longest line kept, in bytes (journald keeps 48 KiB, docker splits at 16 KiB): what
# one line of a node can cost in memory and in one log record.
MAX_LINE_BYTES = 64 * 2**10


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


def truncation_mark(size: int, kept: int) -> str:
    """What a cut line ends with, in place of the bytes it lost."""
    return f" [dora: line truncated: {size} bytes, first {kept} kept]"


@attrs.frozen
class OutputLine:
    """One line as a node wrote it: `text` (without the newline) holds its first `kept`
    bytes of `size`."""

    text: str
    size: int
    kept: int

    @property
    def truncated(self) -> bool:
        return self.kept < self.size

    @property
    def shown(self) -> str:
        """The text to log: a cut line says so at its end."""
        return self.text + truncation_mark(self.size, self.kept) if self.truncated else self.text


class LineSplitter:
    """Bytes in, `OutputLine`s out; holds at most `max_bytes` of an unfinished line."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES):
        self._max = max_bytes
        self._kept = bytearray()
        self._size = 0  # bytes of the current line so far, kept or not

    def feed(self, chunk: bytes) -> list[OutputLine]:
        lines = []
        view, start = memoryview(chunk), 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self._take(view[start:end])
            lines.append(self._line())
            start = end + 1
        self._take(view[start:])
        return lines

    def end(self) -> list[OutputLine]:
        """The stream ended: its last line, if it had no newline."""
        return [self._line()] if self._size else []

    def _take(self, piece: memoryview) -> None:
        room = self._max - len(self._kept)
        if room > 0:
            self._kept += piece[:room]
        self._size += len(piece)

    def _line(self) -> OutputLine:
        raw, size = bytes(self._kept), self._size
        self._kept.clear()
        self._size = 0
        if size > len(raw):  # cut: drop a character the cut split in two
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            text = decoder.decode(raw, final=False)
            return OutputLine(text, size, len(raw) - len(decoder.getstate()[0]))
        raw = raw.rstrip(b"\r")
        return OutputLine(raw.decode("utf-8", "replace"), len(raw), len(raw))
