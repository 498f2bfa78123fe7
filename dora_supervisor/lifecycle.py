"""`dora up` and `dora destroy`: the background coordinator's life, both idempotent.

`up` starts `python -m dora_supervisor.background` in a new session (no terminal: closing
the one that started it does not reach it), stdin from /dev/null and its stdout/stderr to
`coordinator.stderr` in the state directory (its records go to `coordinator.log`), then
waits until its socket answers. Two `up`s at once are safe: the lock decides which
process becomes the coordinator, and both wait for its socket. `--listen` (and the other
network options) pass through to it; a coordinator already running with other endpoints
is an error, not silently kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import tenacity

from dora_supervisor import control_paths
from dora_supervisor import control_protocol as proto
from dora_supervisor.control_client import Unreachable, call
from dora_supervisor.daemon_cli import settings_argv
from dora_supervisor.errors import DoraError
from dora_supervisor.network import NetworkSettings

__all__ = ["up", "destroy", "UP_TIMEOUT_S", "STDERR_FILE"]

UP_TIMEOUT_S = 20.0  # a loaded machine can take seconds to import zenoh and bind
STDERR_FILE = "coordinator.stderr"
_PING_TIMEOUT_S = 1.5


def _ping(path: str) -> proto.Pong:
    return proto.from_json(proto.Pong, call(path, proto.Ping(), _PING_TIMEOUT_S))


def up(log_format: str, network: NetworkSettings | None = None) -> int:
    network = network or NetworkSettings()
    directory = control_paths.private_dir(control_paths.runtime_dir())
    socket_path = control_paths.check_socket_path(control_paths.coordinator_socket(directory))
    try:
        pong = _ping(socket_path)
        _same_network(pong, network)
        print(f"dora: the coordinator is already running (pid {pong.pid})")
        return 0
    except Unreachable:
        pass
    network_argv = settings_argv(network) if network.listen else []
    state = control_paths.private_dir(control_paths.state_dir())
    stderr_path = os.path.join(state, STDERR_FILE)
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "dora_supervisor.background", "--log-format", log_format,
             *network_argv],
            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True,
            cwd="/", close_fds=True)
    pong = _wait_for(socket_path, process, stderr_path)
    process.returncode = 0  # not ours to reap: it outlives us on purpose
    log = os.path.join(state, f"{control_paths.COORDINATOR_LOG}.log")
    if pong.pid != process.pid:
        _same_network(pong, network)
        print(f"dora: the coordinator is already running (pid {pong.pid})")
    else:
        where = f", listening on {', '.join(pong.listen)}" if pong.listen else ""
        print(f"dora: coordinator started (pid {pong.pid}{where}); its log: {log}")
    return 0


def _same_network(pong: proto.Pong, network: NetworkSettings) -> None:
    if network.listen and sorted(pong.listen) != sorted(network.listen):
        now = ", ".join(pong.listen) or "no network endpoint"
        raise DoraError(f"the coordinator is already running (pid {pong.pid}) with {now}: "
                        "`dora destroy` it first to listen on "
                        f"{', '.join(network.listen)}")


def _wait_for(socket_path: str, process: subprocess.Popen, stderr_path: str) -> proto.Pong:
    """Ping until the new coordinator (or one started alongside) answers."""

    def attempt() -> proto.Pong:
        code = process.poll()
        if code is not None and code != control_paths.ALREADY_RUNNING:
            raise DoraError(f"the coordinator exited at start (status {code}): "
                            f"{_last_line(stderr_path)}")
        return _ping(socket_path)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(Unreachable),
        stop=tenacity.stop_after_delay(UP_TIMEOUT_S), wait=tenacity.wait_fixed(0.05),
        reraise=True)
    try:
        return retrying(attempt)
    except Unreachable:
        raise DoraError(f"the coordinator did not answer within {UP_TIMEOUT_S:g} s "
                        f"(see {stderr_path})") from None


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else "it wrote nothing"


def destroy() -> int:
    directory = control_paths.private_dir(control_paths.runtime_dir(), create=False)
    if directory is None:
        print("dora: no coordinator is running")
        return 0
    socket_path = control_paths.coordinator_socket(directory)
    try:
        pong = _ping(socket_path)
        going = proto.from_json(proto.Destroying, call(socket_path, proto.Destroy()))
    except Unreachable:
        print("dora: no coordinator is running")
        return 0
    deadline = time.monotonic() + going.bound_s + 10
    lock_path = control_paths.coordinator_lock(directory)
    while not _released(lock_path):
        if time.monotonic() > deadline:
            raise DoraError(f"the coordinator (pid {pong.pid}) is still stopping after "
                            f"{going.bound_s + 10:g} s; `dora status` shows what is left")
        time.sleep(0.05)
    print(f"dora: coordinator stopped (pid {pong.pid}, {going.dataflows} dataflow(s) stopped)")
    return 0


def _released(lock_path: str) -> bool:
    """The coordinator has exited: its lock is gone or free (the kernel frees it)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
