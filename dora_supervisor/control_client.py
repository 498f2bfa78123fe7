"""The CLI's side of the control socket: one request per connection, always with a timeout.

Finds every coordinator of this user: the background one (`coordinator.sock`) and each
foreground `dora run` (`run-<pid>.sock`), so one `dora list` or `status` shows them all.
A socket nobody listens on is stale: a foreground run's is removed once its pid is gone;
the background coordinator's is left to the next `dora up`, which holds the lock.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

import attrs

from dora_supervisor import control_paths
from dora_supervisor import control_protocol as proto
from dora_supervisor.errors import DoraError

__all__ = ["Endpoint", "Unreachable", "call", "endpoints", "ask_all", "ask_background",
           "NO_COORDINATOR", "DEFAULT_TIMEOUT_S"]


def _timeout_from_environ() -> float:
    try:
        return max(0.1, float(os.environ.get("DORA_CONTROL_TIMEOUT", "5")))
    except ValueError:
        return 5.0


DEFAULT_TIMEOUT_S = _timeout_from_environ()  # per request: a silent coordinator is an error
NO_COORDINATOR = "no coordinator is running (start one with `dora up`)"


class Unreachable(DoraError):
    """Nothing listens there (no socket, or a stale one)."""


@attrs.frozen
class Endpoint:
    path: str
    kind: proto.ServerKind
    pid: int | None = None  # a foreground run's, from its socket's name

    def describe(self) -> str:
        if self.kind is proto.ServerKind.FOREGROUND:
            return f"the `dora run` with pid {self.pid}"
        return "the background coordinator"


def call(path: str, request: proto.Request, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """Send `request`, return the reply's result; every failure is a one-line DoraError."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise Unreachable(f"nothing listens on {path}") from None
        except PermissionError:
            raise DoraError(f"permission denied on {path}: the control plane answers only "
                            "the user who started it") from None
        except TimeoutError:
            raise DoraError(f"the coordinator at {path} did not accept a connection within "
                            f"{timeout:g} s") from None
        try:
            sock.sendall(proto.encode_request(request))
            sock.shutdown(socket.SHUT_WR)
            data = _read_all(sock, deadline)
        except TimeoutError:
            raise DoraError(f"the coordinator at {path} did not answer '{request.op}' within "
                            f"{timeout:g} s") from None
        except OSError as exc:
            raise DoraError(f"the coordinator at {path} dropped the connection ({exc})") from None
    if not data:
        raise DoraError(f"the coordinator at {path} closed the connection without a reply")
    try:
        return proto.decode_reply(data)
    except proto.ProtocolError as exc:
        raise DoraError(str(exc)) from None


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    chunks, size = [], 0
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > proto.MAX_REPLY_BYTES:
            raise OSError(f"reply larger than {proto.MAX_REPLY_BYTES} bytes")


def endpoints() -> list[Endpoint]:
    """Every socket in this user's runtime directory, the background coordinator first."""
    directory = control_paths.private_dir(control_paths.runtime_dir(), create=False)
    if directory is None:
        return []
    found = []
    background = control_paths.coordinator_socket(directory)
    if os.path.exists(background):
        found.append(Endpoint(background, proto.ServerKind.BACKGROUND))
    found += [Endpoint(path, proto.ServerKind.FOREGROUND, pid)
              for pid, path in control_paths.run_sockets(directory)]
    return found


def ask_all(request: proto.Request,
            timeout: float = DEFAULT_TIMEOUT_S) -> list[tuple[Endpoint, Any]]:
    """`request` to every live coordinator: (endpoint, result) for each that answered."""
    answers = []
    for endpoint in endpoints():
        try:
            answers.append((endpoint, call(endpoint.path, request, timeout)))
        except Unreachable:
            _forget_if_stale(endpoint)
    return answers


def ask_background(request: proto.Request, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    directory = control_paths.private_dir(control_paths.runtime_dir(), create=False)
    if directory is None:
        raise Unreachable(NO_COORDINATOR)
    try:
        return call(control_paths.coordinator_socket(directory), request, timeout)
    except Unreachable:
        raise Unreachable(NO_COORDINATOR) from None


def _forget_if_stale(endpoint: Endpoint) -> None:
    """A foreground run killed without its clean-up left its socket behind."""
    from dora_supervisor.rundirs import running  # psutil: only when a socket is found

    if endpoint.kind is not proto.ServerKind.FOREGROUND or (
            endpoint.pid is not None and running(endpoint.pid)):
        return
    with contextlib.suppress(OSError):
        os.unlink(endpoint.path)

