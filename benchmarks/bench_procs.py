"""Process helpers of the benchmarks: start a child in its own process group (dying with us),
stop it and its group, wait with a deadline, tail its log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["start", "stop", "wait_all", "tail"]


def start(argv: list[str], cwd: Path, log: Path, death_signal: int = signal.SIGKILL,
          env: dict | None = None) -> subprocess.Popen:
    """Start a child in its own process group (so we can stop all of it), output to `log`.

    The child also gets `death_signal` should this script die without running its finally
    blocks (SIGKILL from outside): nothing is left behind on any path."""
    handle = open(log, "wb")
    try:
        return subprocess.Popen(argv, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                preexec_fn=_parent_death_signal(death_signal))
    finally:
        handle.close()  # the child has its own copy


def _parent_death_signal(sig: int):
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_it() -> None:
        prctl(1, sig)  # PR_SET_PDEATHSIG: runs in the child, between fork and exec

    return set_it


def stop(proc: subprocess.Popen, first_signal: int = signal.SIGTERM, grace: float = 5.0):
    """Stop a process we started and everything in its process group; never leaves one."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, first_signal)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(5)


def wait_all(procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        remaining = deadline - time.monotonic()
        try:
            proc.wait(max(remaining, 0.01))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"still running after {timeout:.0f}s: {proc.args}") from None


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` of a log, after the lines that say what failed (a Rust panic's
    backtrace would otherwise push its message out of view)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    said = [line for line in text[:-lines] if re.search(r"panicked|Error|error:", line)]
    return "\n".join(said[-5:] + text[-lines:])
