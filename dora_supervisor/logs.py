"""structlog set-up: events are dicts, rendering is the last processor, and the wrapped
logger (`RecordSink`) is the one place that writes.

Every record goes to `out/<uuid>/<node>.jsonl` (or `_dataflow.jsonl` when it concerns no
single node), rotated by size in bytes, and to stdout as JSON lines or readable text.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from typing import BinaryIO, TextIO

import structlog

__all__ = ["configure", "RotatingJsonFiles", "RecordSink", "render_console"]

MAX_FILE_BYTES = 16 * 2**20
BACKUPS = 5
DATAFLOW_FILE = "_dataflow"


class RotatingJsonFiles:
    """One JSON-lines file per node: `node.jsonl`, then `node.jsonl.1` (newest) up to
    `node.jsonl.<backups>` (oldest kept).

    A node's own `max_log_size`/`max_rotated_files` come in `rotation`. Sizes are counted in
    bytes of UTF-8, so no file grows past `max_bytes`, except one that
    holds a single record longer than that. (The standard library's RotatingFileHandler
    compares the file's bytes with the record's characters, and stats the file per record.)"""

    def __init__(self, directory: str, max_bytes: int = MAX_FILE_BYTES, backups: int = BACKUPS,
                 rotation: Mapping[str, tuple[int | None, int | None]] | None = None):
        self.directory = directory
        self.max_bytes = max_bytes
        self.backups = backups
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

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, f"{name}.jsonl")

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


class RecordSink:
    """The logger structlog wraps: the end of the chain, where a record is written.

    It receives the line rendered for the console (or JSON) stream, and the record as JSON
    with the name of the file it belongs to."""

    def __init__(self, files: RotatingJsonFiles | None, stream: TextIO):
        self._files = files
        self._stream = stream
        self._lock = threading.Lock()

    def msg(self, rendered: str, *, file: str, record: str) -> None:
        with self._lock:
            if self._files is not None:
                self._files.write(file, record)
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


def _for_sink(log_format: str):
    """The last processor: render the event once as JSON (the file's record) and once for
    the stream, and name the file; `RecordSink.msg` takes these as its arguments."""

    def render(logger, method: str, event: dict) -> tuple[tuple, dict]:
        record = json.dumps(event, default=str)
        rendered = record if log_format == "json" else render_console(logger, method, event)
        return (rendered,), {"file": event.get("node") or DATAFLOW_FILE, "record": record}

    return render


def configure(log_format: str, files: RotatingJsonFiles | None, stream=None) -> None:
    """Route every record to the per-node files and render it to `stream` (stdout)."""
    sink = RecordSink(files, stream or sys.stdout)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _for_sink(log_format),
        ],
        logger_factory=lambda *_: sink,
        cache_logger_on_first_use=False,
    )
