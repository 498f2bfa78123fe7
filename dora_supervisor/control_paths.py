"""Where the control plane lives on disk.

The runtime directory (`$XDG_RUNTIME_DIR/dora`, else `<tempdir>/dora-<uid>`) holds the
sockets and the background coordinator's lock; it is ours and 0700, or it is refused,
which is the first of the two checks that keep other users out (the server checks the
peer's uid on every connection as well). The state directory (`$XDG_STATE_HOME/dora`,
else `~/.local/state/dora`) holds the background coordinator's own log and its dataflows'
records under `out/<uuid>/`.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile

from dora_supervisor.errors import DoraError

__all__ = ["runtime_dir", "state_dir", "private_dir", "coordinator_socket", "coordinator_lock",
           "run_socket", "run_sockets", "check_socket_path", "COORDINATOR_LOG",
           "ALREADY_RUNNING"]

COORDINATOR_SOCKET = "coordinator.sock"
COORDINATOR_LOCK = "coordinator.lock"
COORDINATOR_LOG = "coordinator"
ALREADY_RUNNING = 3  # the background coordinator's exit status when another holds the lock  # `coordinator.log` (+ `.1` ...) in the state directory
_RUN_SOCKET = re.compile(r"^run-([0-9]+)\.sock$")
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes with its terminating NUL


def runtime_dir() -> str:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return os.path.join(base, "dora")
    return os.path.join(tempfile.gettempdir(), f"dora-{os.getuid()}")


def state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return os.path.join(base, "dora")


def private_dir(path: str, create: bool = True) -> str | None:
    """`path` as a directory only we can enter: created 0700 if missing (None if missing
    and not `create`), tightened if ours and too open; refused if someone else's."""
    try:
        info = os.lstat(path)
    except PermissionError:
        raise DoraError(f"cannot use {path}: permission denied (the control plane answers "
                        "only the user who started it)") from None
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DoraError(f"cannot create {path}: {exc.strerror}") from None
        info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise DoraError(f"{path} is not a directory: the control plane needs it as one")
    if info.st_uid != os.getuid():
        raise DoraError(f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}): "
                        "refusing to use another user's control directory")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def coordinator_socket(directory: str) -> str:
    return os.path.join(directory, COORDINATOR_SOCKET)


def coordinator_lock(directory: str) -> str:
    return os.path.join(directory, COORDINATOR_LOCK)


def run_socket(directory: str, pid: int) -> str:
    """The socket of the foreground `dora run` with this pid."""
    return os.path.join(directory, f"run-{pid}.sock")


def run_sockets(directory: str) -> list[tuple[int, str]]:
    """(pid, path) of every foreground run's socket, by pid."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = [(int(m.group(1)), os.path.join(directory, name))
             for name in names if (m := _RUN_SOCKET.match(name))]
    return sorted(found)


def check_socket_path(path: str) -> str:
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise DoraError(f"control socket path {path} is longer than {_SUN_PATH_MAX} bytes: "
                        "set XDG_RUNTIME_DIR to a shorter directory")
    return path
