"""One sampling pass of the local executor: the kernel's figures of the nodes that are due,
read with as few system calls as their limits allow. Runs in a worker thread.

- a node without memory or CPU limit: one `pread` of its leader's `/proc/PID/stat`,
  whose file stays open between passes (half the cost of opening it each time, and an
  open file cannot be confused with a later process that reuses the pid);
- a node with one, on a machine with cgroups: the leader's stat (its state) and two
  cgroup counters (memory, CPU time of the whole cgroup);
- with one but without cgroups: every member of its process group, found by listing
  `/proc` and reading the stat of new processes only;
- a node with a watchdog: its heartbeat page too (a memory read, no system call).
Where there is no `/proc` (not Linux), psutil reads the same figures, at a higher cost.
"""

from __future__ import annotations

import contextlib
import os
import time

import attrs
import psutil

from dora_api import contract
from dora_supervisor.cgroup_node import NodeCgroup
from dora_supervisor.samples import Heartbeat, ProcessState, Sampled

__all__ = ["Due", "Stat", "ProcReader", "parse_stat", "stat_from_psutil", "take"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_NOT_A_PROCESS = -1
_STATES = {ord(state.value): state for state in ProcessState}
_PSUTIL_STATES = {psutil.STATUS_RUNNING: ProcessState.RUNNING,
                  psutil.STATUS_SLEEPING: ProcessState.SLEEPING,
                  psutil.STATUS_DISK_SLEEP: ProcessState.DISK_SLEEP,
                  psutil.STATUS_STOPPED: ProcessState.STOPPED,
                  psutil.STATUS_TRACING_STOP: ProcessState.TRACED,
                  psutil.STATUS_ZOMBIE: ProcessState.ZOMBIE, psutil.STATUS_DEAD: ProcessState.DEAD,
                  psutil.STATUS_IDLE: ProcessState.IDLE}


@attrs.frozen
class Stat:
    """The fields of `/proc/PID/stat` a sample needs."""

    pid: int
    state: ProcessState
    pgrp: int
    rss_bytes: int
    cpu_time_s: float  # user + system
    children_cpu_time_s: float  # of its children it has waited for


def parse_stat(pid: int, data: bytes) -> Stat | None:
    fields = data[data.rfind(b")") + 2:].split(None, 22)  # fields[0] is field 3 of proc(5)
    try:
        return Stat(pid, _STATES.get(fields[0][0], ProcessState.UNKNOWN), int(fields[2]),
                    int(fields[21]) * _PAGE_BYTES,
                    (int(fields[11]) + int(fields[12])) / _TICKS_PER_S,
                    (int(fields[13]) + int(fields[14])) / _TICKS_PER_S)
    except (IndexError, ValueError):
        return None


def stat_from_psutil(pid: int) -> Stat | None:
    """The same figures where there is no /proc (about three times the cost)."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            times = process.cpu_times()
            return Stat(pid, _PSUTIL_STATES.get(process.status(), ProcessState.UNKNOWN),
                        os.getpgid(pid), process.memory_info().rss, times.user + times.system,
                        times.children_user + times.children_system)
    except (psutil.Error, OSError):
        return None


class ProcReader:
    """The open `/proc/PID/stat` files of one executor, and what it knows of `/proc`.

    Confined to the sampling thread (one pass at a time): every file is opened, read
    and closed there, so none is ever closed under a reader."""

    def __init__(self, proc: str = "/proc"):
        self._proc = proc
        self._has_proc = os.path.isdir(f"{proc}/self")
        self._files: dict[int, int] = {}  # pid -> open stat file, leaders and members
        self._counters: dict[int, dict[str, int]] = {}  # leader -> its cgroup counter files
        self._groups: dict[str, int] = {}  # /proc entry -> its process group, as first read
        self._by_group: dict[int, set[int]] = {}  # process group -> its members' pids

    def stat(self, pid: int) -> Stat | None:
        """The process's stat; None once it is gone."""
        if not self._has_proc:
            return stat_from_psutil(pid)
        data = self._read(pid)
        return None if data is None else parse_stat(pid, data)

    def leader(self, due: Due, at: float) -> Sampled | None:
        """The sample of a node read as its leader alone: the common case, kept short."""
        if not self._has_proc:
            stat = stat_from_psutil(due.pid)
            return None if stat is None else Sampled(due.node, due.incarnation, at,
                                                     stat.state, stat.rss_bytes,
                                                     stat.cpu_time_s)
        data = self._read(due.pid)
        if data is None:
            return None
        fields = data[data.rfind(b")") + 2:].split(None, 22)
        try:
            return Sampled(due.node, due.incarnation, at,
                           _STATES.get(fields[0][0], ProcessState.UNKNOWN),
                           int(fields[21]) * _PAGE_BYTES,
                           (int(fields[11]) + int(fields[12])) / _TICKS_PER_S)
        except (IndexError, ValueError):
            return None

    def _read(self, pid: int) -> bytes | None:
        fd = self._files.get(pid)
        if fd is None:
            try:
                fd = self._files[pid] = os.open(f"{self._proc}/{pid}/stat", os.O_RDONLY)
            except OSError:
                return None
        try:
            return os.pread(fd, 1024, 0)
        except OSError:
            self._close(pid)
            return None

    def counter(self, leader: int, path: str) -> bytes | None:
        """The content of a cgroup counter of `leader`'s node, kept open like a stat."""
        files = self._counters.setdefault(leader, {})
        try:
            if path not in files:
                files[path] = os.open(path, os.O_RDONLY)
            return os.pread(files[path], 256, 0)
        except OSError:
            fd = files.pop(path, None)
            if fd is not None:
                os.close(fd)
            return None

    def keep_only(self, pids: set[int]) -> None:
        """Close the files of every process but `pids` (the running leaders) and the
        members of their groups, and the counters of nodes that are gone."""
        for pid in list(self._files):
            if pid not in pids and self._groups.get(str(pid)) not in pids:
                self._close(pid)
        for leader in self._counters.keys() - pids:
            for fd in self._counters.pop(leader).values():
                with contextlib.suppress(OSError):
                    os.close(fd)

    def members(self, leaders: set[int]) -> dict[int, list[Stat]]:
        """Each leader's process group: the stat of every member, the leader first.

        Lists `/proc` and reads the processes it has not seen before: a process keeps
        the group it was born into (one that `setpgid`s into a node's group later is
        missed: nodes fork, they do not adopt)."""
        if not self._has_proc:
            return {leader: _descendants(leader) for leader in leaders}
        names = set(os.listdir(self._proc))
        for gone in self._groups.keys() - names:
            group = self._groups.pop(gone)
            if group != _NOT_A_PROCESS:
                self._by_group[group].discard(int(gone))
                if not self._by_group[group]:
                    del self._by_group[group]
                self._close(int(gone))
        for new in names - self._groups.keys():
            stat = self.stat(int(new)) if new.isdigit() else None
            self._groups[new] = _NOT_A_PROCESS if stat is None else stat.pgrp
            if stat is not None:
                self._by_group.setdefault(stat.pgrp, set()).add(stat.pid)
                if stat.pgrp not in leaders:
                    self._close(stat.pid)
        result: dict[int, list[Stat]] = {}
        for leader in leaders:
            stats = [stat for pid in self._by_group.get(leader, ())
                     if (stat := self.stat(pid)) is not None]
            result[leader] = sorted(stats, key=lambda stat: stat.pid != leader)
        return result

    def close(self) -> None:
        self.keep_only(set())  # closes every file

    def _close(self, pid: int) -> None:
        fd = self._files.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _descendants(leader: int) -> list[Stat]:
    """Without /proc: the leader and everything it started, through psutil."""
    try:
        pids = [leader] + [child.pid for child in psutil.Process(leader).children(True)]
    except psutil.Error:
        return []
    return [stat for pid in pids if (stat := stat_from_psutil(pid)) is not None]


@attrs.frozen
class Due:
    """One running node, as a sampling pass reads it."""

    node: str
    incarnation: int
    pid: int
    group: bool = False
    cgroup: NodeCgroup | None = None
    page: object = None  # the heartbeat page (a mapping), when it has a watchdog

    @property
    def plain(self) -> bool:
        """Its leader's stat is all there is to read."""
        return not self.group and self.page is None


def take(due: list[Due], running: set[int], reader: ProcReader
         ) -> list[tuple[Sampled | None, Heartbeat | None]]:
    """Read every due node: its `Sampled` (None when its leader is gone) and, when it has
    a heartbeat page the node has armed, its `Heartbeat`. `running`: the leaders of every
    running node (the files of any other process are closed)."""
    reader.keep_only(running)
    scanned = {}
    leaders = {d.pid for d in due if d.group and d.cgroup is None}
    if leaders:
        scanned = reader.members(leaders)
    results = []
    for each in due:
        at = time.monotonic()
        if each.plain:
            results.append((reader.leader(each, at), None))
        else:
            results.append((_sampled(each, at, scanned, reader), _heartbeat(each, at)))
    return results


def _sampled(due: Due, at: float, scanned: dict[int, list[Stat]],
             reader: ProcReader) -> Sampled | None:
    if not due.group:
        return reader.leader(due, at)
    if due.cgroup is None:  # the group's members, as the scan found them
        members = scanned.get(due.pid) or []
        if not members or members[0].pid != due.pid:
            return None  # the leader is gone: its exit is being reported
        return Sampled(due.node, due.incarnation, at, members[0].state,
                       sum(m.rss_bytes for m in members),
                       sum(m.cpu_time_s + m.children_cpu_time_s for m in members))
    leader = reader.stat(due.pid)  # its state; the cgroup's counters for the rest
    if leader is None:
        return None
    cgroup, memory, cpu = due.cgroup, None, None
    if cgroup.memory_file and (data := reader.counter(due.pid, cgroup.memory_file)):
        memory = int(data)
    if cgroup.cpu_file and (data := reader.counter(due.pid, cgroup.cpu_file)):
        cpu = cgroup.cpu_time_s(data)
    return Sampled(due.node, due.incarnation, at, leader.state,
                   leader.rss_bytes if memory is None else memory,
                   leader.cpu_time_s if cpu is None else cpu)


def _heartbeat(due: Due, at: float) -> Heartbeat | None:
    if due.page is None:
        return None
    times = contract.read_heartbeat(due.page)
    if times is None:
        return None
    return Heartbeat(due.node, due.incarnation, at, times.taken_at, times.waiting_since,
                     times.excused_until)
