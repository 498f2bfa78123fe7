"""A node process's ties to its supervisor: the control pipe and the parent-death signal.
The supervisor sets the variables (`dora_api.contract`); log lines are `node_logging`'s."""

from __future__ import annotations

import os
import signal
import sys

from dora_api import contract

__all__ = ["tell_supervisor", "keep_control_fd_private", "die_with_parent"]


def tell_supervisor(note: contract.PipeNote) -> None:
    """One note on the control pipe; silently nothing outside a dataflow."""
    fd = os.environ.get(contract.CONTROL_FD_ENV)
    if not fd:
        return
    try:
        os.write(int(fd), contract.encode_note(note))
    except OSError:
        pass


def keep_control_fd_private() -> None:
    """Our children must not hold the control pipe open after we exit."""
    fd = os.environ.get(contract.CONTROL_FD_ENV)
    if fd:
        try:
            os.set_inheritable(int(fd), False)
        except OSError:
            pass


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its supervisor dies (no orphans)."""
    parent = os.environ.get(contract.PARENT_PID_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent) and os.getppid() == 1:
        os._exit(1)  # the supervisor died before we could ask
