"""The supervisor's side of a node's watchdog: the page of shared memory the node writes
its heartbeat into (layout: `dora_api.contract`), handed over as an inherited fd.

A memfd where there is one (Linux), an unlinked temporary file elsewhere. The mapping
lives as long as something refers to it (a sampling pass in flight may): it is unmapped
with its last reference, never while a reader holds it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile

__all__ = ["WatchdogPage"]


class WatchdogPage:
    def __init__(self) -> None:
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("dora-watchdog", os.MFD_CLOEXEC)
        else:
            fd, path = tempfile.mkstemp(prefix="dora-watchdog-")
            os.unlink(path)
        try:
            os.ftruncate(fd, mmap.PAGESIZE)
            self.map = mmap.mmap(fd, mmap.PAGESIZE)
        except OSError:
            os.close(fd)
            raise
        self._fd: int | None = fd

    @property
    def fd(self) -> int:
        """The descriptor to hand to the node (`process.spawn(keep_fds=...)`)."""
        assert self._fd is not None, "the page's fd was already released"
        return self._fd

    def release_fd(self) -> None:
        """The node has its copy (or never will): ours is no longer needed."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
