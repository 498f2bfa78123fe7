"""One node incarnation's cgroup(s): the kernel enforces its memory limit and CPU quota
and counts its whole group's memory and CPU time.

Two shapes, one interface: a cgroup v2 directory (`memory.max` with `memory.oom.group`,
so the OOM killer takes the whole node; `cpu.max`; `cpu.stat`), or one directory per
cgroup v1 hierarchy (`memory.limit_in_bytes` with an eventfd on `memory.oom_control`,
because v1 kills one process and the rest of the node must follow; `cpuacct.usage`;
`cpu.cfs_quota_us`). Blocking file I/O, but each call is one small read or write of a
kernel file; `cgroups` decides where they live.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal

import attrs

from dora_supervisor.samples import Enforcer

__all__ = ["NodeCgroup", "CPU_PERIOD_US", "read_int", "write"]

CPU_PERIOD_US = 100_000  # the quota period (systemd's CPUQuota= uses the same)
_SH = shutil.which("sh") or "/bin/sh"
# Joins each cgroup named before `--`, then becomes the command after it (same pid).
_JOIN = ('while [ "$1" != -- ]; do echo $$ > "$1" || '
         '{ echo "dora: cannot join the cgroup $1" >&2; exit 126; }; shift; done; '
         'shift; exec "$@"')


def write(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def read_int(path: str) -> int | None:
    """A counter file holding one number; None when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            return int(os.read(fd, 64))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return None


def _read_keyed(path: str, key: str) -> int | None:
    """`key N` from a flat keyed file (`memory.events`, `cpu.stat`, `memory.oom_control`)."""
    try:
        with open(path, "rb") as handle:
            for line in handle:
                name, _, value = line.partition(b" ")
                if name == key.encode():
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


@attrs.define
class NodeCgroup:
    """The cgroup directories of one node incarnation (created by `cgroups.Cgroups`).

    `memory`, `cpuacct`, `cpu` are the directories holding each role (all the same one
    under v2; None where the node has none). `oom_fd` is readable when the kernel's OOM
    killer has struck (v1 only: under v2 the whole cgroup dies with the leader)."""

    version: Enforcer
    memory: str | None
    cpuacct: str | None
    cpu: str | None
    memory_max: int | None = None
    oom_fd: int | None = None
    oom_seen: bool = False  # the OOM has been reported

    @property
    def dirs(self) -> list[str]:
        return list(dict.fromkeys(d for d in (self.memory, self.cpuacct, self.cpu) if d))

    def configure(self, cpu_quota: float | None) -> None:
        """Set the limits; the directories exist. Raises OSError when the kernel refuses."""
        v2 = self.version is Enforcer.CGROUP_V2
        if self.memory_max is not None:
            if v2:
                write(f"{self.memory}/memory.max", str(self.memory_max))
                _optional(f"{self.memory}/memory.swap.max", "0")
                _optional(f"{self.memory}/memory.oom.group", "1")
            else:
                write(f"{self.memory}/memory.limit_in_bytes", str(self.memory_max))
                _optional(f"{self.memory}/memory.memsw.limit_in_bytes", str(self.memory_max))
                self._watch_oom()
        if cpu_quota is not None:
            quota = max(1000, round(cpu_quota / 100 * CPU_PERIOD_US))
            if v2:
                write(f"{self.cpu}/cpu.max", f"{quota} {CPU_PERIOD_US}")
            else:
                write(f"{self.cpu}/cpu.cfs_period_us", str(CPU_PERIOD_US))
                write(f"{self.cpu}/cpu.cfs_quota_us", str(quota))

    def _watch_oom(self) -> None:
        """v1: an eventfd the kernel signals when the OOM killer strikes in the cgroup."""
        self.oom_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        control = os.open(f"{self.memory}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        try:
            write(f"{self.memory}/cgroup.event_control", f"{self.oom_fd} {control}")
        finally:
            os.close(control)

    def join(self, pid: int) -> None:
        """Move a running process in (what it started before stays outside)."""
        for directory in self.dirs:
            write(f"{directory}/cgroup.procs", str(pid))

    def join_argv(self) -> list[str]:
        """A prefix for the node's command line: a shell that moves itself into the
        cgroup(s), then `exec`s the node, so that nothing the node ever starts is outside
        (moving it in after the start would race its first fork). Exit 126 if it cannot."""
        return [_SH, "-c", _JOIN, "dora-cgroup-join",
                *(f"{directory}/cgroup.procs" for directory in self.dirs), "--"]

    @property
    def memory_file(self) -> str | None:
        """The counter of the group's memory, as the limit counts it."""
        if self.memory is None:
            return None
        name = "memory.current" if self.version is Enforcer.CGROUP_V2 else "memory.usage_in_bytes"
        return f"{self.memory}/{name}"

    @property
    def cpu_file(self) -> str | None:
        """The counter of the group's CPU time (`cpu_time_s` reads it)."""
        if self.cpuacct is None:
            return None
        name = "cpu.stat" if self.version is Enforcer.CGROUP_V2 else "cpuacct.usage"
        return f"{self.cpuacct}/{name}"

    def cpu_time_s(self, data: bytes) -> float | None:
        """Seconds of CPU in the content of `cpu_file`."""
        try:
            if self.version is not Enforcer.CGROUP_V2:
                return int(data) / 1e9
            for line in data.splitlines():
                name, _, value = line.partition(b" ")
                if name == b"usage_usec":
                    return int(value) / 1e6
        except ValueError:
            pass
        return None

    def oom_kills(self) -> int:
        """How often the OOM killer struck in the cgroup (0 when unknown)."""
        if self.memory is None or self.memory_max is None:
            return 0
        if self.version is Enforcer.CGROUP_V2:
            path, key = f"{self.memory}/memory.events", "oom_kill"
        else:
            path, key = f"{self.memory}/memory.oom_control", "oom_kill"
        return _read_keyed(path, key) or 0

    def peak_bytes(self) -> int | None:
        """The most the group held: what crossed the limit."""
        if self.memory is None:
            return None
        if self.version is Enforcer.CGROUP_V2:
            return read_int(f"{self.memory}/memory.peak") or self.memory_max
        return read_int(f"{self.memory}/memory.max_usage_in_bytes")

    def drain_oom_fd(self) -> bool:
        """Consume the eventfd's count; True when the OOM killer struck since last time."""
        try:
            return os.eventfd_read(self.oom_fd) > 0
        except OSError:  # BlockingIOError included: nothing since last time
            return False

    def pids(self) -> list[int]:
        for directory in self.dirs:
            try:
                with open(f"{directory}/cgroup.procs", "rb") as handle:
                    return [int(line) for line in handle.read().split()]
            except (OSError, ValueError):
                continue
        return []

    def kill(self) -> None:
        """SIGKILL everything in the cgroup, also what left the node's process group."""
        if self.version is Enforcer.CGROUP_V2 and self.dirs:
            with contextlib.suppress(OSError):
                write(f"{self.dirs[0]}/cgroup.kill", "1")  # Linux 5.14+
                return
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the directories; False while a process is still inside (retry later)."""
        if self.oom_fd is not None:
            os.close(self.oom_fd)
            self.oom_fd = None
        removed = True
        for directory in self.dirs:
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


def _optional(path: str, value: str) -> None:
    """A setting not every kernel has (no swap accounting, an older kernel)."""
    with contextlib.suppress(OSError):
        write(path, value)
