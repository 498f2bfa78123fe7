"""Private temporary directories (zenoh's unix sockets, ledgers) that a killed process
cannot remove itself: each is named after the pid that made it, so the next coordinator,
`dora run` or daemon removes those whose maker is gone.

`/tmp/dora-<kind>-<pid>-<random>`, mode 0700, owned by the user who runs dora.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import psutil

__all__ = ["make", "sweep", "running"]

_PREFIX = "dora-"
_NAME = re.compile(r"^dora-[a-z]+-([0-9]+)-[A-Za-z0-9_]+$")


def make(kind: str) -> str:
    """A new private directory for `kind` (`link`, `ledgers`, `hub`, `daemon`)."""
    path = tempfile.mkdtemp(prefix=f"{_PREFIX}{kind}-{os.getpid()}-")
    os.chmod(path, 0o700)
    return path


def sweep(directory: str | None = None) -> list[str]:
    """Remove our user's directories whose maker no longer runs; the paths removed.
    Never raises (a directory another sweep removed first is simply gone)."""
    directory = directory or tempfile.gettempdir()
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        match = _NAME.match(name)
        if match is None or running(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_uid != os.getuid() or not os.path.isdir(path) or os.path.islink(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def running(pid: int) -> bool:
    """Still running (a zombie is not: a killed coordinator whose parent never reaps it
    stays one, as under a container's init)."""
    if pid == os.getpid():
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # not ours to judge
