"""One sampling pass of the local executor: the kernel's figures of the nodes that are due,
read with as few system calls as their limits allow. Runs in a worker thread.

- a node without memory or CPU limit: one read of its leader's `/proc/PID/stat`;
- a node with one, on a machine with cgroups: the leader's stat (its state) and two
  cgroup counters (memory, CPU time of the whole cgroup);
- with one but without cgroups: every member of its process group, found by a
  `GroupScanner` that lists `/proc` and reads the stat of new processes only;
- a node with a watchdog: its heartbeat page too (a memory read, no system call).
"""

from __future__ import annotations

import os
import time

import attrs

from dora_api import contract
from dora_supervisor.cgroup_node import NodeCgroup
from dora_supervisor.samples import Heartbeat, ProcessState, Sampled

__all__ = ["Due", "Stat", "GroupScanner", "read_stat", "take"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@attrs.frozen
class Stat:
    """The fields of `/proc/PID/stat` a sample needs."""

    pid: int
    state: ProcessState
    pgrp: int
    rss_bytes: int
    cpu_time_s: float  # user + system
    children_cpu_time_s: float  # of its children it has waited for


def read_stat(pid: int) -> Stat | None:
    """One read of /proc/PID/stat (os-level: a third of what `open()` costs); None when
    the process is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 1024)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = data[data.rfind(b")") + 2:].split(None, 22)  # fields[0] is field 3 of proc(5)
    try:
        return Stat(pid, ProcessState.from_letter(chr(fields[0][0])), int(fields[2]),
                    int(fields[21]) * _PAGE_BYTES,
                    (int(fields[11]) + int(fields[12])) / _TICKS_PER_S,
                    (int(fields[13]) + int(fields[14])) / _TICKS_PER_S)
    except (IndexError, ValueError):
        return None


class GroupScanner:
    """The members of watched process groups, without reading every process each time.

    Each pass lists `/proc` (one call) and reads the stat of the processes it has not
    seen before (new ones) and of the known members of the groups asked about. A process
    that joins a group it was not born into (`setpgid`) is missed: nodes fork, they do
    not adopt. Not thread-safe: one pass at a time."""

    def __init__(self, proc: str = "/proc"):
        self._proc = proc
        self._groups: dict[int, int] = {}  # pid -> process group, as last read

    def members(self, leaders: set[int]) -> dict[int, list[Stat]]:
        """Each leader's group: the stat of every member (the leader first, if alive)."""
        listed = {int(name) for name in os.listdir(self._proc) if name.isdigit()}
        for gone in self._groups.keys() - listed:
            del self._groups[gone]
        result: dict[int, list[Stat]] = {leader: [] for leader in leaders}
        for pid in listed:
            known = self._groups.get(pid)
            if known is not None and known not in leaders:
                continue
            stat = read_stat(pid)
            if stat is None:
                self._groups.pop(pid, None)
                continue
            self._groups[pid] = stat.pgrp
            if stat.pgrp in result:
                result[stat.pgrp].append(stat)
        for leader, members in result.items():  # the leader first
            members.sort(key=lambda stat: stat.pid != leader)
        return result


@attrs.frozen
class Due:
    """One node to read in this pass."""

    node: str
    incarnation: int
    pid: int
    group: bool = False
    cgroup: NodeCgroup | None = None
    page: object = None  # the heartbeat page (a mapping), when it has a watchdog


def take(due: list[Due], scanner: GroupScanner) -> list[tuple[Sampled | None, Heartbeat | None]]:
    """Read every due node: its `Sampled` (None when its leader is gone) and, when it has a
    heartbeat page the node has armed, its `Heartbeat`."""
    scanned = {}
    leaders = {d.pid for d in due if d.group and d.cgroup is None}
    if leaders:
        scanned = scanner.members(leaders)
    results = []
    for each in due:
        at = time.monotonic()
        results.append((_sampled(each, at, scanned), _heartbeat(each, at)))
    return results


def _sampled(due: Due, at: float, scanned: dict[int, list[Stat]]) -> Sampled | None:
    if due.group and due.cgroup is None:
        members = scanned.get(due.pid) or []
        if not members or members[0].pid != due.pid:
            return None  # the leader is gone: its exit is being reported
        return Sampled(due.node, due.incarnation, at, members[0].state,
                       sum(m.rss_bytes for m in members),
                       sum(m.cpu_time_s + m.children_cpu_time_s for m in members))
    leader = read_stat(due.pid)
    if leader is None:
        return None
    if due.cgroup is not None:
        memory = due.cgroup.memory_bytes()
        cpu = due.cgroup.cpu_time_s()
        return Sampled(due.node, due.incarnation, at, leader.state,
                       leader.rss_bytes if memory is None else memory,
                       leader.cpu_time_s if cpu is None else cpu)
    return Sampled(due.node, due.incarnation, at, leader.state, leader.rss_bytes,
                   leader.cpu_time_s)


def _heartbeat(due: Due, at: float) -> Heartbeat | None:
    if due.page is None:
        return None
    times = contract.read_heartbeat(due.page)
    if times is None:
        return None
    return Heartbeat(due.node, due.incarnation, at, times.taken_at, times.waiting_since,
                     times.excused_until)
