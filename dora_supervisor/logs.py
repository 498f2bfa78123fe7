"""structlog set-up: events are dicts; rendering and file sinks are separate last steps.

Every record goes to `out/<uuid>/<node>.jsonl` (or `_dataflow.jsonl` when it concerns no
single node), rotated by size, and to stdout as JSON lines or readable text.
"""

from __future__ import annotations

import json
import os
import sys

import structlog

__all__ = ["configure", "RotatingJsonFiles", "render_console"]

MAX_FILE_BYTES = 16 * 2**20
BACKUPS = 5
DATAFLOW_FILE = "_dataflow"


class RotatingJsonFiles:
    """One size-rotated JSON-lines file per node (`node.jsonl`, `node.jsonl.1`, ...)."""

    def __init__(self, directory: str, max_bytes: int = MAX_FILE_BYTES, backups: int = BACKUPS):
        self.directory = directory
        self.max_bytes = max_bytes
        self.backups = backups
        self._files: dict[str, tuple] = {}
        os.makedirs(directory, exist_ok=True)

    def write(self, name: str, line: str) -> None:
        handle, size = self._files.get(name, (None, 0))
        if handle is None:
            path = os.path.join(self.directory, f"{name}.jsonl")
            handle = open(path, "a", encoding="utf-8", buffering=1)
            size = handle.tell()
        data = line + "\n"
        if size + len(data) > self.max_bytes and size > 0:
            handle = self._rotate(name, handle)
            size = 0
        handle.write(data)
        self._files[name] = (handle, size + len(data))

    def _rotate(self, name: str, handle):
        handle.close()
        base = os.path.join(self.directory, f"{name}.jsonl")
        for index in range(self.backups - 1, 0, -1):
            if os.path.exists(f"{base}.{index}"):
                os.replace(f"{base}.{index}", f"{base}.{index + 1}")
        os.replace(base, f"{base}.1")
        return open(base, "a", encoding="utf-8", buffering=1)

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()
        self._files.clear()


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


def configure(log_format: str, files: RotatingJsonFiles | None, stream=None) -> None:
    """Route every record to the per-node files and render it to `stream` (stdout)."""

    def to_files(_, __, event: dict) -> dict:
        if files is not None:
            files.write(event.get("node") or DATAFLOW_FILE, json.dumps(event, default=str))
        return event

    renderer = (structlog.processors.JSONRenderer(default=str) if log_format == "json"
                else render_console)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            to_files,
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
