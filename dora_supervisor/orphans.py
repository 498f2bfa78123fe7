"""Shared-memory segments zenoh leaves behind when a process of the dataflow is SIGKILLed.

Every zenoh process creates a small segment (`/dev/shm/<id>.zenoh`) that its peers map
too, each holding a shared `flock` on it while it lives (see `/proc/locks`). A SIGKILLed
process cannot remove its own; and a process whose peer was SIGKILLed shortly before it
exits sometimes leaves its own behind as well (zenoh 1.x). Zenoh collects such orphans
when the next zenoh process on the machine starts; `dora run` sweeps the ones its
dataflow made as it exits: created since it started, held by no other process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from dora_api.shm import SHM_DIR

__all__ = ["sweep_zenoh_segments", "swept", "SHM_DIR", "MIN_AGE_S", "COARSE_S"]

MIN_AGE_S = 0.1  # younger than this, its creator may not have locked it yet
COARSE_S = 1.0  # file times come from the kernel's coarse clock


def sweep_zenoh_segments(since: float, directory: str = SHM_DIR,
                         locks_file: str = "/proc/locks") -> list[str]:
    """Remove the zenoh segments created after `since` (a `time.time()`; file times are
    coarse, so a second earlier counts too) that no process but this one holds; the paths
    removed. Call it when this process is done with zenoh. Never raises."""
    try:
        names = [name for name in os.listdir(directory) if name.endswith(".zenoh")]
        holders = _lock_holders(locks_file)
    except OSError:
        return []
    me, newest, removed = os.getpid(), time.time() - MIN_AGE_S, []
    since -= COARSE_S
    for name in names:
        path = os.path.join(directory, name)
        try:
            info = os.stat(path)
            key = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
            if since <= info.st_ctime <= newest and holders.get(key, set()) <= {me}:
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def _lock_holders(locks_file: str) -> dict[tuple[int, int, int], set[int]]:
    """(device major, minor, inode) -> pids holding a lock on it, from /proc/locks lines
    like `16: FLOCK  ADVISORY  READ 8748 00:1b:21005 0 EOF`."""
    holders: dict[tuple[int, int, int], set[int]] = {}
    with open(locks_file) as locks:
        for line in locks:
            fields = line.split()
            if len(fields) < 6 or fields[1] == "->":
                continue
            try:
                major, minor, inode = fields[5].split(":")
                key = (int(major, 16), int(minor, 16), int(inode))
                holders.setdefault(key, set()).add(int(fields[4]))
            except ValueError:
                continue
    return holders


@contextlib.contextmanager
def swept() -> Iterator[None]:
    """Around the life of `dora run`, `dora up` and `dora daemon`: first remove what earlier
    coordinators, daemons and nodes could not because they were SIGKILLed (private
    temporary directories, dataflow segments in /dev/shm), at the end the zenoh segments
    this process's dataflows left (`sweep_zenoh_segments`). Neither sweep raises."""
    from dora_supervisor import rundirs, shm_cleanup  # psutil: not for every CLI command

    started = time.time()
    rundirs.sweep()
    shm_cleanup.remove_orphaned_segments()
    try:
        yield
    finally:
        sweep_zenoh_segments(started)
