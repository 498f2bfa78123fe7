"""Which cgroups this machine lets the coordinator create (found once per process), one
directory per executor with one per node incarnation inside, and the clean-up of what a
coordinator killed by SIGKILL left behind.

The cheapest reliable mechanism wins (`probe`), and becomes the records' `enforced_by`:
- `cgroup_v2`: our cgroup may get children with the memory controller: it is the root
  (a container), or it holds only us (a systemd unit or scope with `Delegate=yes`), in
  which case we move into a leaf child of it and enable the controllers;
- `cgroup_v1`: for each of the memory, cpuacct and cpu hierarchies, a child of our own
  cgroup can be created there (root, or a delegated subtree);
- otherwise `sampling` (`/proc`), also whenever `DORA_CGROUPS=off`.
Layout: `<our cgroup>/dora-<pid>-<start>-<n>/<node>.<incarnation>`, where `<pid>-<start>`
names the coordinator process (its pid and start time) and `<n>` the executor. Such
directories whose coordinator is gone are removed at start-up; the kernel refuses to
remove one that still holds a process, so nothing alive is ever touched.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re

import attrs

from dora_supervisor.cgroup_node import NodeCgroup, write
from dora_supervisor.samples import Enforcement, Enforcer

__all__ = ["CGROUPS_ENV", "Offer", "Cgroups", "probe", "sweep_stale", "parse_mountinfo",
           "parse_membership"]

CGROUPS_ENV = "DORA_CGROUPS"  # "off": sampling only (to compare, or on a shared machine)
_OFF = {"off", "0", "no", "false"}
_V1_ROLES = ("memory", "cpuacct", "cpu")
_V1_FILES = {"memory": "memory.limit_in_bytes", "cpuacct": "cpuacct.usage",
             "cpu": "cpu.cfs_quota_us"}
_OURS = re.compile(r"^dora-(\d+)-(\d+)-[a-z0-9]+$")
_executors = itertools.count(1)
_UNKNOWN = object()
_probed: object = _UNKNOWN


@attrs.frozen
class Offer:
    """Our own cgroup directory for each role this machine lets us use (None: not)."""

    version: Enforcer
    memory: str | None = None
    cpuacct: str | None = None
    cpu: str | None = None

    @property
    def enforcement(self) -> Enforcement:
        return Enforcement(memory=self.version if self.memory else Enforcer.SAMPLING,
                           cpu=self.version if self.cpuacct else Enforcer.SAMPLING,
                           throttle=self.cpu is not None)


def probe(environ=os.environ) -> Offer | None:
    """What this machine offers (probed once per process, stale directories swept then)."""
    global _probed
    if environ.get(CGROUPS_ENV, "").strip().lower() in _OFF:
        return None
    if _probed is _UNKNOWN:
        _probed = _probe_v2() or _probe_v1()
        if _probed is not None:
            sweep_stale(_probed)
    return _probed


class Cgroups:
    """One executor's cgroups: `<our cgroup>/dora-<pid>-<start>-<n>` in each hierarchy."""

    def __init__(self, offer: Offer):
        self.offer = offer
        name = f"dora-{os.getpid()}-{_start_ticks(os.getpid())}-{next(_executors)}"
        self._bases = {role: f"{path}/{name}" for role in _V1_ROLES
                       if (path := getattr(offer, role)) is not None}

    @property
    def enforcement(self) -> Enforcement:
        return self.offer.enforcement

    def create(self, node: str, incarnation: int, memory_max: int | None,
               cpu_quota: float | None) -> NodeCgroup:
        """A node incarnation's cgroup(s) with its limits set; raises OSError."""
        roles = ["memory", "cpuacct"] + (["cpu"] if cpu_quota is not None else [])
        dirs = {}
        for role in roles:
            base = self._bases.get(role)
            if base is None:
                continue
            self._make_base(base)
            dirs[role] = f"{base}/{node}.{incarnation}"
            os.makedirs(dirs[role], exist_ok=True)
        cgroup = NodeCgroup(self.offer.version, dirs.get("memory"), dirs.get("cpuacct"),
                            dirs.get("cpu"), memory_max if "memory" in dirs else None)
        try:
            cgroup.configure(cpu_quota if "cpu" in dirs else None)
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def _make_base(self, base: str) -> None:
        """Create it (again, if a sweep by another coordinator removed it while empty)."""
        if os.path.isdir(base):
            return
        os.makedirs(base, exist_ok=True)
        if self.offer.version is Enforcer.CGROUP_V2:
            _enable_controllers(base)

    def close(self) -> list[str]:
        """Remove the executor's directories (its nodes' are gone); what could not be."""
        left = []
        for base in set(self._bases.values()):
            with contextlib.suppress(FileNotFoundError):
                for child in os.listdir(base):
                    with contextlib.suppress(OSError):
                        if os.path.isdir(f"{base}/{child}"):
                            os.rmdir(f"{base}/{child}")
                try:
                    os.rmdir(base)
                except OSError:
                    left.append(base)
        return left


def sweep_stale(offer: Offer) -> list[str]:
    """Remove the empty directories of coordinators that are gone; the removed paths."""
    removed = []
    for parent in {p for p in (offer.memory, offer.cpuacct, offer.cpu) if p}:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            match = _OURS.match(name)
            if match is None or _start_ticks(int(match[1])) == int(match[2]):
                continue
            path = f"{parent}/{name}"
            with contextlib.suppress(OSError):
                for child in os.listdir(path):
                    with contextlib.suppress(OSError):
                        os.rmdir(f"{path}/{child}")
                os.rmdir(path)
                removed.append(path)
    return removed


# -- probing ----------------------------------------------------------------------------


def parse_mountinfo(text: str) -> list[tuple[str, str, str, frozenset[str]]]:
    """(root, mount point, type, super options) of each cgroup mount in mountinfo text."""
    mounts = []
    for line in text.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            mounts.append((fields[3], fields[4], tail[0], frozenset(tail[2].split(","))))
    return mounts


def parse_membership(text: str) -> dict[str, str]:
    """Controller -> our cgroup path, from /proc/self/cgroup ("" is the v2 hierarchy)."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _own_dir(mount_root: str, mount_point: str, path: str) -> str | None:
    """Where our cgroup `path` is, under a mount of the hierarchy's `mount_root`."""
    if mount_root == "/":
        return os.path.normpath(mount_point + path)
    if path == mount_root or path.startswith(mount_root + "/"):
        return os.path.normpath(mount_point + path[len(mount_root):])
    return None


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _usable(parent: str, needed: str) -> bool:
    """Can we create a child cgroup here, and does it get the control file we need?"""
    trial = f"{parent}/dora-{os.getpid()}-{_start_ticks(os.getpid())}-probe"
    try:
        os.mkdir(trial)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        return os.path.exists(f"{trial}/{needed}")
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(trial)


def _probe_v1() -> Offer | None:
    try:
        mounts = parse_mountinfo(_read("/proc/self/mountinfo"))
        member = parse_membership(_read("/proc/self/cgroup"))
    except OSError:
        return None
    found = {}
    for role in _V1_ROLES:
        for root, point, kind, options in mounts:
            if kind == "cgroup" and role in options and role in member:
                own = _own_dir(root, point, member[role])
                if own is not None and _usable(own, _V1_FILES[role]):
                    found[role] = own
                break
    if "memory" not in found and "cpuacct" not in found:
        return None
    return Offer(Enforcer.CGROUP_V1, **found)


def _probe_v2() -> Offer | None:
    try:
        mounts = parse_mountinfo(_read("/proc/self/mountinfo"))
        member = parse_membership(_read("/proc/self/cgroup"))
        mount = next(m for m in mounts if m[2] == "cgroup2")
        own = _own_dir(mount[0], mount[1], member[""])
        controllers = _read(f"{own}/cgroup.controllers").split() if own else []
    except (OSError, StopIteration, KeyError):
        return None
    if own is None or "memory" not in controllers:
        return None
    leaf = None
    if member[""] != "/":
        leaf = _leave_for_a_leaf(own)
        if leaf is None:
            return None
    try:
        _enable_controllers(own)
        if not _usable(own, "memory.max"):
            raise OSError("no memory.max in a child cgroup")
    except OSError:
        if leaf is not None:  # back where we were
            with contextlib.suppress(OSError):
                write(f"{own}/cgroup.procs", str(os.getpid()))
                os.rmdir(leaf)
        return None
    return Offer(Enforcer.CGROUP_V2, memory=own, cpuacct=own,
                 cpu=own if "cpu" in controllers else None)


def _leave_for_a_leaf(own: str) -> str | None:
    """cgroup v2 lets only a cgroup without processes give its children controllers: if
    we are alone in ours, move into a leaf child (`dora-<pid>-<start>-supervisor`)."""
    pid = os.getpid()
    try:
        if _read(f"{own}/cgroup.procs").split() != [str(pid)]:
            return None
        leaf = f"{own}/dora-{pid}-{_start_ticks(pid)}-supervisor"
        os.makedirs(leaf, exist_ok=True)
        write(f"{leaf}/cgroup.procs", str(pid))
        return leaf
    except OSError:
        return None


def _enable_controllers(path: str) -> None:
    wanted = set(_read(f"{path}/cgroup.controllers").split()) & {"memory", "cpu"}
    enabled = set(_read(f"{path}/cgroup.subtree_control").split())
    if wanted - enabled:
        write(f"{path}/cgroup.subtree_control", " ".join(f"+{c}" for c in wanted - enabled))


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks after boot): with the pid, names a process
    unambiguously. None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        return int(data[data.rfind(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None
