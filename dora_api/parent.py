"""A node process's ties to its supervisor: the control pipe, the parent-death signal and
structured log lines on stderr. The supervisor sets the variables (`dora_api.contract`)."""

from __future__ import annotations

import logging
import os
import signal
import sys

from dora_api import contract

__all__ = ["tell_supervisor", "keep_control_fd_private", "die_with_parent",
           "install_log_handler"]


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


def install_log_handler() -> None:
    """Route Python `logging` to the supervisor as structured lines, unless configured."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogLineFormatter())
    root.addHandler(handler)
    if root.level == logging.WARNING:
        root.setLevel(logging.INFO)


class _LogLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return contract.encode_log_line(
            contract.LogRecord(record.levelname.lower(), message, record.name))
