"""Reading the records a coordinator wrote: a node's rotated files, oldest first, and new
lines as they are written (`--follow`, `start --attach`), across a rotation.

The files are the interface (JSON lines under `out/<uuid>/`, see `logs`), so reading them
needs nothing from the coordinator but where they are; following notices a rotation by
the path pointing at a new file, finishes the old one, then reads the new from its start.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from dora_supervisor import logs

__all__ = ["Follower", "DirectoryFollower", "node_history", "follow", "render_record",
           "POLL_S"]

POLL_S = 0.1  # how often a follower looks for new lines


class Follower:
    """New complete lines of one file path, whatever rotations happen in between."""

    def __init__(self, path: str):
        self.path = path
        self._handle: BinaryIO | None = None
        self._inode: int | None = None
        self._partial = b""

    def read_new(self) -> list[str]:
        if self._handle is None and not self._open():
            return []
        lines = self._drain()
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return lines
        if inode != self._inode:  # rotated: the rest of the old file, the backups made
            lines += self._drain()  # since (several rotations between two reads), the new one
            self._handle.close()
            self._handle, self._partial = None, b""
            for path in self._rotated_since(self._inode):
                with open(path, "rb") as handle:
                    lines += [raw.decode("utf-8", "replace")
                              for raw in handle.read().split(b"\n") if raw]
            if self._open():
                lines += self._drain()
        return lines

    def _rotated_since(self, inode: int | None) -> list[str]:
        """The backups newer than the file with `inode`, oldest first (all of them if it
        has been rotated out of the kept ones)."""
        backups = []
        for path in logs.backups_of(self.path):  # however many the node keeps
            try:
                backups.append((path, os.stat(path).st_ino))
            except FileNotFoundError:  # rotated away meanwhile
                continue
        known = [position for position, (_, ino) in enumerate(backups) if ino == inode]
        return [path for path, _ in backups[known[0] + 1 if known else 0:]]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _open(self) -> bool:
        try:
            self._handle = open(self.path, "rb")  # noqa: SIM115 -- kept open while following
        except FileNotFoundError:
            return False
        self._inode = os.fstat(self._handle.fileno()).st_ino
        return True

    def _drain(self) -> list[str]:
        data = self._partial + self._handle.read()
        *complete, self._partial = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in complete if line]


class DirectoryFollower:
    """New lines of every `*.jsonl` file of a dataflow's directory (nodes appear as they
    first write), each batch in timestamp order."""

    def __init__(self, directory: str):
        self.directory = directory
        self._followers: dict[str, Follower] = {}

    def read_new(self) -> list[str]:
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(logs.SUFFIX))
        except FileNotFoundError:
            names = []
        for name in names:
            if name not in self._followers:
                self._followers[name] = Follower(os.path.join(self.directory, name))
        lines = [line for f in self._followers.values() for line in f.read_new()]
        return sorted(lines, key=_timestamp)

    def close(self) -> None:
        for follower in self._followers.values():
            follower.close()


def node_history(directory: str, node: str) -> tuple[list[str], Follower]:
    """Every kept line of `node`, oldest first, and a follower positioned right after them."""
    current = os.path.join(directory, f"{node}{logs.SUFFIX}")
    older = [path for path in logs.log_files(directory, node) if path != current]
    lines: list[str] = []
    for path in older:
        with open(path, "rb") as handle:
            lines += [raw.decode("utf-8", "replace") for raw in handle.read().split(b"\n")
                      if raw]
    follower = Follower(current)
    return lines + follower.read_new(), follower


def follow(reader: Follower | DirectoryFollower, ended: Callable[[], bool],
           check_every_s: float = 1.0) -> Iterator[str]:
    """New lines until `ended()` says no more will come (then the last ones)."""
    next_check = time.monotonic() + check_every_s
    while True:
        yield from reader.read_new()
        if time.monotonic() >= next_check:
            if ended():
                yield from reader.read_new()
                return
            next_check = time.monotonic() + check_every_s
        time.sleep(POLL_S)


def render_record(line: str, as_json: bool) -> str:
    """A stored record as `dora run` prints it: JSON as it is, or readable text."""
    if as_json:
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    return logs.render_console(None, None, record) if isinstance(record, dict) else line


def _timestamp(line: str) -> str:
    start = line.find('"timestamp": "')
    return line[start + 14:start + 41] if start >= 0 else ""
