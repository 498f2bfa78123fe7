"""Fault injection for the chaos soak: the node processes of one `dora run`, the signals
sent to them, and what the supervisor's records say about them.

The monkey only sends signals to processes it has checked are node processes of the
coordinator under test (its children carrying `DORA_NODE_ID`), so a reused pid is never
hit. Every signal it sends is counted: the soak quotes the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import attrs
import psutil

from dora_api import contract

__all__ = ["Monkey", "RunLog", "node_processes", "zombies", "pids_in_status",
           "mapped_shm", "rundir_of", "ledger_dir_of", "segment_owners"]


def node_processes(coordinator: psutil.Process) -> dict[str, psutil.Process]:
    """The coordinator's living node processes: node id -> process (the real pids)."""
    found = {}
    for child in _children(coordinator):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            node = child.environ().get(contract.NODE_ID_ENV)
        except (psutil.Error, OSError):
            continue
        if node:
            found[node] = child
    return found


def zombies(coordinator: psutil.Process) -> list[int]:
    """Children (at any depth) that exited and were not reaped."""
    result = []
    for child in _children(coordinator, recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                result.append(child.pid)
        except psutil.Error:
            pass
    return result


def _children(process: psutil.Process, recursive: bool = False) -> list[psutil.Process]:
    try:
        return process.children(recursive=recursive)
    except psutil.Error:
        return []


def pids_in_status(status: dict) -> dict[str, int]:
    """node -> pid of every running worker in a `dora status --json` object (SPEC 5)."""
    found: dict[str, int] = {}

    def walk(tree: dict) -> None:
        if tree.get("kind") == "worker":
            if tree.get("state") == "running" and tree.get("pid") is not None:
                found[tree["id"]] = tree["pid"]
            return
        for child in tree.get("children", []):
            walk(child)

    for dataflow in status.get("dataflows", []):
        walk(dataflow["tree"])
    return found


def mapped_shm(processes) -> set[str]:
    """The /dev/shm files any of `processes` maps right now."""
    found = set()
    for process in processes:
        try:
            with open(f"/proc/{process.pid}/maps") as maps:
                found.update(line.split(None, 5)[5].strip() for line in maps
                             if "/dev/shm/" in line)
        except (OSError, IndexError):
            pass
    return found


def segment_owners(path: str) -> str:
    """Who holds a lock on a shared-memory segment and how old it is (for a failure)."""
    try:
        info = os.stat(path)
    except OSError:
        return f"{path}: gone"
    inode = f":{info.st_ino} "
    with open("/proc/locks") as locks:
        holders = [line.split()[4] for line in locks if inode in line]
    return f"{path}: {time.time() - info.st_ctime:.2f}s old, locked by {holders or 'nobody'}"


def ledger_dir_of(process: psutil.Process) -> str | None:
    """The executor's private directory of ledger files, from a node's environment."""
    try:
        path = process.environ().get(contract.LEDGER_ENV)
    except (psutil.Error, OSError):
        return None
    return os.path.dirname(path) if path else None


def rundir_of(process: psutil.Process) -> str | None:
    """The coordinator's private runtime directory (its sockets), from a node's config."""
    try:
        config = contract.config_from_environ(process.environ())
    except (psutil.Error, OSError, contract.ContractError):
        return None
    if config is None or not config.endpoints.listen:
        return None
    return os.path.dirname(config.endpoints.listen[0].partition("/")[2])


class RunLog:
    """The JSON records of one `dora run`, read incrementally (a soak writes a lot of them).

    Keeps what the soak asks about: each node's latest start and exit, counts per event,
    each sink's latest `SEEN` line and every `BAD` line."""

    def __init__(self, path: Path):
        self._path = path
        self._offset = 0
        self._partial = b""
        self.dataflow: str | None = None
        self.started: dict[str, tuple[int, int]] = {}  # node -> (incarnation, pid)
        self.exited: dict[str, int] = {}  # node -> incarnation of its latest exit
        self.counts: dict[str, int] = {}  # event -> how many
        self.seen: dict[str, tuple[int, int, int, int]] = {}  # sink -> (pid, seq, total, bad)
        self.bad: list[str] = []
        self.lost: list[dict] = []  # messages_lost records
        self.stop_exits: list[dict] = []  # node_exited records once the stop has begun

    def poll(self) -> RunLog:
        with open(self._path, "rb") as handle:
            handle.seek(self._offset)
            data = self._partial + handle.read()
            self._offset = handle.tell()
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            if line.startswith(b"{"):
                try:
                    self._take(json.loads(line))
                except ValueError:
                    pass
        return self

    def _take(self, record: dict) -> None:
        event, node = record.get("event"), record.get("node")
        self.counts[event] = self.counts.get(event, 0) + 1
        self.dataflow = self.dataflow or record.get("dataflow")
        if event == "node_started":
            self.started[node] = (record["incarnation"], record["pid"])
        elif event == "node_exited":
            self.exited[node] = record["incarnation"]
            if "dataflow_stopping" in self.counts:
                self.stop_exits.append(record)
        elif event == "messages_lost":
            record["during_stop"] = "dataflow_stopping" in self.counts
            self.lost.append(record)
        elif event == "node_output":
            line = record.get("line", "")
            if line.startswith("SEEN "):
                pid, seq, total, bad = map(int, line.split()[1:])
                self.seen[node] = (pid, seq, total, bad)
            elif line.startswith("BAD "):
                self.bad.append(f"{node}: {line}")

    def restarts(self) -> int:
        return self.counts.get("node_started", 0) - len(self.started)

    def lost_by_reason(self) -> dict[str, int]:
        """Messages counted lost, per reason (the sum of the records' counts)."""
        totals: dict[str, int] = {}
        for record in self.lost:
            totals[record["reason"]] = totals.get(record["reason"], 0) + record["count"]
        return totals


@attrs.define
class Monkey:
    """Sends the faults: SIGKILL, SIGSTOP/SIGCONT bursts, kills of newborn nodes."""

    coordinator: psutil.Process
    rng: random.Random
    kills: int = 0
    startup_kills: int = 0
    shutdown_kills: int = 0
    freezes: int = 0
    _known: set[int] = attrs.field(factory=set)
    _frozen: dict[int, tuple[float, psutil.Process]] = attrs.field(factory=dict)

    def nodes(self) -> dict[str, psutil.Process]:
        return node_processes(self.coordinator)

    def newborns(self) -> list[psutil.Process]:
        """Node processes not seen by an earlier call: at most one poll interval old."""
        fresh = [p for p in self.nodes().values() if p.pid not in self._known]
        self._known.update(p.pid for p in fresh)
        return fresh

    def kill(self, process: psutil.Process) -> bool:
        try:
            process.send_signal(signal.SIGKILL)  # psutil checks the pid was not reused
        except psutil.Error:
            return False
        self._frozen.pop(process.pid, None)
        self.kills += 1
        return True

    def kill_random(self) -> str | None:
        nodes = self.nodes()
        if not nodes:
            return None
        node = self.rng.choice(sorted(nodes))
        return node if self.kill(nodes[node]) else None

    def freeze_some(self, now: float, most: int, longest_s: float) -> None:
        """SIGSTOP up to `most` random nodes; each gets SIGCONT after a random time (some
        past their health lease: the supervisor must notice and restart those)."""
        nodes = self.nodes()
        for node in self.rng.sample(sorted(nodes), min(most, len(nodes))):
            try:
                nodes[node].send_signal(signal.SIGSTOP)
            except psutil.Error:
                continue
            self.freezes += 1
            self._frozen[nodes[node].pid] = (now + self.rng.uniform(0.05, longest_s),
                                             nodes[node])

    def thaw_due(self, now: float | None = None) -> None:
        """SIGCONT every frozen node whose time has come (all of them when `now` is None)."""
        for pid, (due, process) in list(self._frozen.items()):
            if now is None or due <= now:
                del self._frozen[pid]
                try:
                    process.send_signal(signal.SIGCONT)
                except psutil.Error:
                    pass

