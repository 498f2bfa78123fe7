"""The control socket: a Unix stream server on the coordinator's own event loop.

Every connection is checked first (the peer's uid, from the kernel: SO_PEERCRED), then
carries one request line of at most `MAX_REQUEST_BYTES` and gets one reply line. A
connection that sends garbage, too much, too little or nothing in time gets an error reply
and is closed; the coordinator and its dataflows go on. Handlers never block: a status is
a read of in-memory trees, a restart or stop is an event queued on a dataflow's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct

import structlog

from dora_supervisor import control_paths
from dora_supervisor import control_protocol as proto
from dora_supervisor.control_service import ControlService
from dora_supervisor.errors import DoraError

__all__ = ["ControlServer", "serving", "foreground_control", "peer_uid", "READ_TIMEOUT_S"]

READ_TIMEOUT_S = 5.0  # a connection that sends no complete request by then is dropped
_DISCARD_LIMIT = 64 << 20  # after refusing an oversized request, read this much at most
_DISCARD_TIMEOUT_S = 2.0


def peer_uid(sock: socket.socket) -> int | None:
    """The connected peer's uid, as the kernel saw it at connect(); None where the OS
    does not say (the 0700 directory still keeps others out there)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option,
                                                          struct.calcsize("3i")))
    return uid


class ControlServer:
    def __init__(self, path: str, service: ControlService):
        self.path = control_paths.check_socket_path(path)
        self._service = service
        self._server: asyncio.base_events.Server | None = None
        self._inode: int | None = None
        self._log = structlog.get_logger()
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path,
                                                       limit=proto.MAX_REQUEST_BYTES)
        os.chmod(self.path, 0o600)
        self._inode = os.stat(self.path).st_ino

    async def close(self) -> None:
        """Stop listening, let the requests in progress finish (briefly), remove the socket
        if it is still ours."""
        if self._server is None:
            return
        self._server.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=READ_TIMEOUT_S)
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            reply = await self._answer(reader, writer)
            if reply is not None:
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the client went away: nothing to answer
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(self, reader, writer) -> bytes | None:
        uid = peer_uid(writer.get_extra_info("socket"))
        if uid is not None and uid != os.getuid():
            self._log.warning("control_refused", peer_uid=uid)
            return proto.encode_error(f"permission denied: this coordinator answers only "
                                      f"uid {os.getuid()}")
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), READ_TIMEOUT_S)
        except asyncio.LimitOverrunError:
            await self._refuse_rest(reader, writer)
            return None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None  # connected and left without a word (a probe)
            return proto.encode_error(f"truncated request: {len(exc.partial)} bytes without "
                                      "the closing newline")
        except TimeoutError:
            return proto.encode_error(f"no complete request within {READ_TIMEOUT_S:g} s")
        try:
            request = proto.decode_request(line)
        except proto.ProtocolError as exc:
            return proto.encode_error(str(exc))
        try:
            return proto.encode_reply(await self._service.handle(request))
        except DoraError as exc:
            return proto.encode_error(str(exc))
        except Exception as exc:  # a bug must not take the coordinator down
            self._log.exception("control_request_failed", op=request.op)
            return proto.encode_error(f"internal error in the coordinator: "
                                      f"{type(exc).__name__}: {exc}")

    async def _refuse_rest(self, reader, writer) -> None:
        """Reply at once, then read what the client still sends (bounded) so that it can
        finish writing and read the reply, instead of hitting a reset connection."""
        writer.write(proto.encode_error(f"request too large: more than "
                                        f"{proto.MAX_REQUEST_BYTES} bytes without a newline"))
        await writer.drain()
        writer.write_eof()
        discarded = 0
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            async with asyncio.timeout(_DISCARD_TIMEOUT_S):
                while discarded < _DISCARD_LIMIT:
                    chunk = await reader.read(1 << 16)
                    if not chunk:
                        break
                    discarded += len(chunk)


@contextlib.asynccontextmanager
async def serving(path: str, service: ControlService, required: bool = True):
    """Serve `service` at `path` for the block. Not `required` (a foreground `dora run`):
    a socket that cannot be opened is a warning and the run goes on without one."""
    server: ControlServer | None = None
    try:
        server = ControlServer(path, service)
        await server.start()
    except (DoraError, OSError) as exc:
        if required:
            raise
        structlog.get_logger().warning("control_unavailable", path=path, error=str(exc))
        server = None
    try:
        yield server
    finally:
        if server is not None:
            await server.close()


@contextlib.asynccontextmanager
async def foreground_control(coordinator):
    """`dora run` answers the control plane too, on `run-<pid>.sock` beside the background
    coordinator's socket, so `dora list/status/logs/restart/stop` see it."""
    try:
        directory = control_paths.private_dir(control_paths.runtime_dir())
        path = control_paths.run_socket(directory, os.getpid())
    except (DoraError, OSError) as exc:
        structlog.get_logger().warning("control_unavailable", error=str(exc))
        yield None
        return
    service = ControlService(coordinator, proto.ServerKind.FOREGROUND)
    async with serving(path, service, required=False) as server:
        yield server
