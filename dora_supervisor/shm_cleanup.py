"""Remove shared-memory segments nobody will use again.

- `remove_dataflow_segments`: every segment of a dataflow, when it ends, so none outlives
  it whatever crashed (a node removes its own segments when it closes, and an incarnation
  those of the one before it; a SIGKILLed last incarnation leaves them here).
- `remove_orphaned_segments`: segments whose maker is gone and that are older than a
  minute, when `dora run`, `dora up` or `dora daemon` starts: what a dataflow left when
  its coordinator or daemon was SIGKILLed too (their makers' pids are in their names).
"""

from __future__ import annotations

import glob
import os
import time

from dora_api.contract import shm_segment_glob, shm_segment_maker
from dora_api.shm import SHM_DIR, unlink_quietly
from dora_supervisor.rundirs import running

__all__ = ["remove_dataflow_segments", "remove_orphaned_segments", "ORPHAN_AGE_S"]

ORPHAN_AGE_S = 60.0  # younger: a consumer of a dataflow still running may map it yet


def remove_dataflow_segments(dataflow_id: str) -> list[str]:
    """Unlink the segments of `dataflow_id` under /dev/shm; the names removed. Processes
    that still map one keep their mapping (the memory goes when they unmap)."""
    names = [os.path.basename(path)
             for path in glob.glob(os.path.join(SHM_DIR, shm_segment_glob(dataflow_id)))]
    for name in names:
        unlink_quietly(name)
    return names


def remove_orphaned_segments(directory: str = SHM_DIR,
                             min_age_s: float = ORPHAN_AGE_S) -> list[str]:
    """Unlink our user's dora segments whose maker no longer runs and that were last
    written `min_age_s` ago or more; the names removed. Never raises."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed, oldest = [], time.time() - min_age_s
    for name in names:
        pid = shm_segment_maker(name)
        if pid is None or running(pid):
            continue
        try:
            info = os.stat(os.path.join(directory, name))
        except OSError:
            continue
        if info.st_uid == os.getuid() and info.st_mtime <= oldest:
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed
