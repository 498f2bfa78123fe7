"""The background coordinator: the process `dora up` starts detached.

`python -m dora_supervisor.background`. It holds an exclusive lock on `coordinator.lock`
for its whole life: the kernel releases it however the process ends, so whoever gets the
lock knows no coordinator runs and may remove a stale socket. It serves the control
socket until `dora destroy` or SIGTERM/SIGINT, then stops every dataflow gracefully
(a second signal kills their processes) and removes its socket and lock. Its own records
go to `coordinator.log` in the state directory (rotated); its dataflows' to `out/<uuid>/`.

If it is killed outright, its nodes die with it (parent-death signal, and the
coordinator's liveliness token vanishing) and the next `dora up` starts clean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import sys

import structlog

from dora_supervisor import control_paths, logs, orphans
from dora_supervisor import control_protocol as proto
from dora_supervisor.control_server import serving
from dora_supervisor.control_service import ControlService
from dora_supervisor.coordinator import Coordinator
from dora_supervisor.daemon_cli import add_network_options, settings_from
from dora_supervisor.errors import DoraError
from dora_supervisor.network import NetworkSettings

__all__ = ["main", "hold_lock", "STATE_SUBDIR_OUT"]

STATE_SUBDIR_OUT = "out"


def hold_lock(path: str) -> int | None:
    """An fd holding the exclusive lock on `path`, or None if another process holds it.

    A coordinator on its way out unlinks the file while holding the lock: a lock taken on
    a file no longer at `path` is worthless, so that case is retried."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return fd
        os.close(fd)


async def _serve(directory: str, state: str, log_format: str, stream, stale: bool,
                 network: NetworkSettings | None) -> None:
    destroy = asyncio.Event()
    out = os.path.join(state, STATE_SUBDIR_OUT)
    async with Coordinator(log_format, out, log_stream=stream, node_lines=False,
                           network=network) as coordinator:
        service = ControlService(coordinator, proto.ServerKind.BACKGROUND, destroy.set)
        socket_path = control_paths.coordinator_socket(directory)
        async with serving(socket_path, service):
            log = structlog.get_logger()
            if stale:
                log.warning("stale_socket_removed", socket=socket_path,
                            why="the previous coordinator did not exit cleanly; its dataflows "
                                "ended with it")
            log.info("coordinator_started", pid=os.getpid(), socket=socket_path,
                     state_dir=state)
            destroy_wait = asyncio.ensure_future(destroy.wait())
            signal_wait = asyncio.ensure_future(coordinator.interrupted.wait())
            await asyncio.wait([destroy_wait, signal_wait], return_when=asyncio.FIRST_COMPLETED)
            destroy_wait.cancel()
            signal_wait.cancel()
            running = coordinator.dataflows()
            log.info("coordinator_stopping", dataflows=[r.dataflow_id for r in running],
                     why="signal" if coordinator.interrupted.is_set() else "dora destroy")
            if not coordinator.interrupted.is_set():
                for runtime in running:
                    runtime.stop("destroy")
            await coordinator.wait_all()
        log.info("coordinator_stopped", pid=os.getpid())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dora_supervisor.background")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    add_network_options(parser, "see `dora up --help`")
    args = parser.parse_args(argv)
    try:
        network = settings_from(args) if args.listen else None
    except DoraError as exc:
        print(f"dora: {exc}", file=sys.stderr)
        return 1
    directory = control_paths.private_dir(control_paths.runtime_dir())
    lock_path = control_paths.coordinator_lock(directory)
    lock = hold_lock(lock_path)
    if lock is None:
        print("dora: another coordinator holds the lock", file=sys.stderr)
        return control_paths.ALREADY_RUNNING
    try:
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())
        stale = True
        try:  # left by a coordinator that was killed
            os.unlink(control_paths.coordinator_socket(directory))
        except FileNotFoundError:
            stale = False
        state = control_paths.private_dir(control_paths.state_dir())
        stream = logs.RotatingStream(logs.RotatingJsonFiles(state, suffix=".log"),
                                     control_paths.COORDINATOR_LOG)
        try:
            with orphans.swept():  # what SIGKILLed processes leave behind (see `orphans`)
                asyncio.run(_serve(directory, state, args.log_format, stream, stale,
                                   network))
        except DoraError as exc:  # e.g. the network endpoint cannot be opened
            structlog.get_logger().error("coordinator_failed", error=str(exc))
            print(f"dora: {exc}", file=sys.stderr)
            return 1
        except BaseException:
            structlog.get_logger().exception("coordinator_crashed")
            raise
        finally:
            stream.close()
        return 0
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(lock)


if __name__ == "__main__":
    sys.exit(main())
