"""structlog set-up: events are dicts, rendering is the last processor, and the wrapped
logger (`RecordSink`) is the one place that writes.

Every record of a dataflow goes to `<out>/<uuid>/<node>.jsonl` (or `_dataflow.jsonl` when
it concerns no single node), routed by the record's `dataflow` field so one coordinator runs
many dataflows, rotated by size in bytes; and to a stream (stdout, or the background
coordinator's own rotated log) as JSON lines or readable text.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from typing import BinaryIO, TextIO

import structlog

__all__ = ["configure", "RotatingJsonFiles", "DataflowFiles", "RotatingStream", "RecordSink",
           "render_console", "NODE_LINES", "DATAFLOW_FILE", "SUFFIX", "BACKUPS", "log_files",
           "backups_of"]

MAX_FILE_BYTES = 16 * 2**20
BACKUPS = 5
DATAFLOW_FILE = "_dataflow"
SUFFIX = ".jsonl"
NODE_LINES = ("node_output", "node_log")  # what a node wrote, as opposed to what happened


class RotatingJsonFiles:
    """One JSON-lines file per node: `node.jsonl`, then `node.jsonl.1` (newest) up to
    `node.jsonl.<backups>` (oldest kept).

    A node's own `max_log_size`/`max_rotated_files` come in `rotation`. Sizes are counted in
    bytes of UTF-8, so no file grows past `max_bytes`, except one that
    holds a single record longer than that. (The standard library's RotatingFileHandler
    compares the file's bytes with the record's characters, and stats the file per record.)"""

    def __init__(self, directory: str, max_bytes: int = MAX_FILE_BYTES, backups: int = BACKUPS,
                 rotation: Mapping[str, tuple[int | None, int | None]] | None = None,
                 suffix: str = SUFFIX):
        self.directory = directory
        self.max_bytes = max_bytes
        self.backups = backups
        self.suffix = suffix
        # per file (node): its own (max_bytes, backups), None meaning the default above
        self._rotation = dict(rotation or {})
        self._files: dict[str, tuple[BinaryIO, int]] = {}  # name -> (open file, its size)
        os.makedirs(directory, exist_ok=True)

    def write(self, name: str, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        handle, size = self._files.get(name) or self._open(name)
        max_bytes, backups = self._rotation.get(name, (None, None))
        if size + len(data) > (max_bytes or self.max_bytes) and size > 0:
            handle.close()
            self._shift(name, backups or self.backups)
            handle, size = self._open(name)
        handle.write(data)
        handle.flush()
        self._files[name] = (handle, size + len(data))

    def write_record(self, dataflow: str | None, name: str, line: str) -> None:
        """One directory for every record, whatever its dataflow."""
        self.write(name, line)

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, f"{name}{self.suffix}")

    def _open(self, name: str) -> tuple[BinaryIO, int]:
        handle = open(self._path(name), "ab")  # noqa: SIM115 -- kept open until close()
        return handle, handle.tell()

    def _shift(self, name: str, backups: int) -> None:
        """`.1` -> `.2` ... up to `.<backups>` (the oldest is overwritten), current -> `.1`."""
        base = self._path(name)
        for index in range(backups - 1, 0, -1):
            if os.path.exists(f"{base}.{index}"):
                os.replace(f"{base}.{index}", f"{base}.{index + 1}")
        os.replace(base, f"{base}.1")

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()
        self._files.clear()


class DataflowFiles:
    """`RotatingJsonFiles` per dataflow under one root: `<root>/<uuid>/`, open from the
    dataflow's start to its end. A record of no open dataflow goes to no file."""

    def __init__(self, root: str, max_bytes: int = MAX_FILE_BYTES, backups: int = BACKUPS):
        self.root = root
        self._max_bytes = max_bytes
        self._backups = backups
        self._open: dict[str, RotatingJsonFiles] = {}

    def directory(self, dataflow: str) -> str:
        return os.path.abspath(os.path.join(self.root, dataflow))

    def open(self, dataflow: str,
             rotation: Mapping[str, tuple[int | None, int | None]] | None = None) -> str:
        """Start writing `dataflow`'s records; `rotation` holds nodes' own file limits."""
        self._open[dataflow] = RotatingJsonFiles(self.directory(dataflow), self._max_bytes,
                                                 self._backups, rotation)
        return self.directory(dataflow)

    def close(self, dataflow: str) -> None:
        files = self._open.pop(dataflow, None)
        if files is not None:
            files.close()

    def write_record(self, dataflow: str | None, name: str, line: str) -> None:
        files = self._open.get(dataflow) if dataflow is not None else None
        if files is not None:
            files.write(name, line)


def log_files(directory: str, name: str) -> list[str]:
    """The files of `name` in `directory` that exist, oldest first (`.N` ... `.1`, current).

    Rotation keeps the backups contiguous, and a node's `max_rotated_files` may keep more
    than the default, so count them rather than assume how many there are."""
    base = os.path.join(directory, f"{name}{SUFFIX}")
    return backups_of(base) + ([base] if os.path.exists(base) else [])


def backups_of(path: str) -> list[str]:
    """The rotated backups of `path` that exist, oldest first (`.N` ... `.1`)."""
    older = []
    while os.path.exists(f"{path}.{len(older) + 1}"):
        older.append(f"{path}.{len(older) + 1}")
    return older[::-1]


class RotatingStream:
    """A text stream whose lines go to one rotated file: the background coordinator's own
    log (`print` writes a line and its newline separately, so lines are assembled here)."""

    def __init__(self, files: RotatingJsonFiles, name: str):
        self._files = files
        self._name = name
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._files.write(self._name, line)
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._files.close()


class RecordSink:
    """The logger structlog wraps: the end of the chain, where a record is written.

    It receives the line rendered for the stream (None: not for the stream), and the record
    as JSON with its dataflow and the name of the file it belongs to."""

    def __init__(self, files: RotatingJsonFiles | DataflowFiles | None, stream: TextIO):
        self._files = files
        self._stream = stream
        self._lock = threading.Lock()

    def msg(self, rendered: str | None, *, dataflow: str | None, file: str, record: str) -> None:
        with self._lock:
            if self._files is not None:
                self._files.write_record(dataflow, file, record)
            if rendered is not None:
                print(rendered, file=self._stream, flush=True)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def render_console(_, __, event: dict) -> str:
    """Readable one-line text: `12:00:01.250 logger | line` for node output."""
    stamp = event.get("timestamp", "")[11:23]
    node = event.get("node") or event.get("supervisor") or "dora"
    name = event.get("event")
    if name == "node_output":
        return f"{stamp} {node:>12} | {event.get('line', '')}"
    if name == "node_log":
        return f"{stamp} {node:>12} | {event.get('level', '').upper()}: {event.get('msg', '')}"
    skip = {"timestamp", "event", "level", "node", "dataflow", "supervisor"}
    details = " ".join(f"{k}={v}" for k, v in event.items() if k not in skip and v is not None)
    level = event.get("level", "info")
    marker = "" if level == "info" else f"{level.upper()} "
    return f"{stamp} {node:>12} * {marker}{name} {details}".rstrip()


def _for_sink(log_format: str, node_lines: bool):
    """The last processor: render the event once as JSON (the file's record) and once for
    the stream, and name the file; `RecordSink.msg` takes these as its arguments.

    Without `node_lines` (the background coordinator's own log, shared by many dataflows)
    a node's lines stay out of the stream and readable text says which dataflow."""

    def render(logger, method: str, event: dict) -> tuple[tuple, dict]:
        record = json.dumps(event, default=str)
        rendered = record if log_format == "json" else render_console(logger, method, event)
        if not node_lines and event.get("event") in NODE_LINES:
            rendered = None
        elif not node_lines and log_format != "json" and event.get("dataflow"):
            rendered = f"[{str(event['dataflow'])[:8]}] {rendered}"
        return (rendered,), {"dataflow": event.get("dataflow"), "record": record,
                             "file": event.get("node") or DATAFLOW_FILE}

    return render


def configure(log_format: str, files: RotatingJsonFiles | DataflowFiles | None, stream=None,
              node_lines: bool = True) -> None:
    """Route every record to the per-node files and render it to `stream` (stdout);
    `node_lines=False` keeps the nodes' own lines out of the stream (they stay in files)."""
    sink = RecordSink(files, stream or sys.stdout)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _for_sink(log_format, node_lines),
        ],
        logger_factory=lambda *_: sink,
        cache_logger_on_first_use=False,
    )
