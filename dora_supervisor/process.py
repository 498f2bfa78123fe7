"""Node processes: spawn in their own process group, capture output, reap, kill the group.
(Reading the kernel's figures about them is `sampler`'s job.)

Nothing here decides anything: the tree says when to spawn and kill; this module does it
and reports back what happened (start, exit status, lines, the node's control notes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Callable

import attrs
import psutil

from dora_api import contract
from dora_supervisor.node_output import LineSplitter, OutputLine, Stream

__all__ = ["NodeProcess", "spawn", "wait_exit", "kill_group", "apply_rlimits"]

_SETPRIV = shutil.which("setpriv")
_OUTPUT_DRAIN_S = 1.0  # after exit, wait this long for the last lines of output
# Output capture: a stream's reader holds at most twice this before it stops reading (the
# node then blocks in write: backpressure, not memory); with the longest line kept
# (`node_output.MAX_LINE_BYTES`) that bounds a node's captured output to about 0.5 MiB.
_READ_BYTES = 2**16
_LINES_PER_TURN = 64  # a flooding node gives the event loop a turn after this many lines


@attrs.define
class NodeProcess:
    node: str
    incarnation: int
    proc: asyncio.subprocess.Process
    transport: asyncio.SubprocessTransport
    protocol: _Protocol
    control: asyncio.BaseTransport
    readers: list[asyncio.Task]

    @property
    def pid(self) -> int:
        return self.proc.pid


async def spawn(node: str, incarnation: int, argv: list[str], env: dict[str, str], cwd: str,
                on_line: Callable[[Stream, OutputLine], None],
                on_note: Callable[[str], None], keep_fds: tuple[int, ...] = ()) -> NodeProcess:
    """Start `argv` as the leader of a new process group, stdout/stderr piped, the file
    descriptors `keep_fds` inherited as they are (a watchdog page).

    The child dies with the supervisor (parent-death signal via `setpriv` when available;
    `dora_api` nodes also set it themselves). Raises OSError when it cannot start."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    env = dict(env)
    env[contract.CONTROL_FD_ENV] = str(write_fd)
    env[contract.PARENT_PID_ENV] = str(os.getpid())
    if _SETPRIV:
        argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _Protocol(loop), *argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            pass_fds=(write_fd, *keep_fds))
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    control = asyncio.StreamReader()
    control_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(control), os.fdopen(read_fd, "rb", buffering=0))
    readers = [asyncio.create_task(_pump(proc.stdout, Stream.STDOUT, on_line)),
               asyncio.create_task(_pump(proc.stderr, Stream.STDERR, on_line)),
               asyncio.create_task(_pump_notes(control, on_note))]
    return NodeProcess(node, incarnation, proc, transport, protocol, control_transport, readers)


async def wait_exit(process: NodeProcess) -> tuple[int | None, int | None]:
    """Wait for the leader's exit, clean up its group, drain its output; (code, signal).

    Waits for the exit itself: `Process.wait()` also waits for the pipes to close, which
    never happens while something the node started still holds its stdout. Cancelled (its
    owner gives up on the process), it still kills the leader and closes the pipes: no
    reader task or transport outlives the wait."""
    try:
        await process.protocol.exited
        returncode = process.proc.returncode
        kill_group(process.pid)  # whatever it left behind dies with it
        await asyncio.wait(process.readers, timeout=_OUTPUT_DRAIN_S)
    finally:
        for task in process.readers:
            task.cancel()
        process.control.close()
        process.transport.close()  # SIGKILLs the leader if it has not exited
    if returncode < 0:
        return None, -returncode
    return returncode, None


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def apply_rlimits(pid: int, cpu_time: float | None, open_files: int | None) -> None:
    """Set RLIMIT_CPU / RLIMIT_NOFILE on a started process (prlimit, no preexec hook)."""
    try:
        process = psutil.Process(pid)
        if cpu_time is not None:
            seconds = max(1, int(cpu_time))
            process.rlimit(psutil.RLIMIT_CPU, (seconds, seconds + 1))
        if open_files is not None:
            process.rlimit(psutil.RLIMIT_NOFILE, (open_files, open_files))
    except (psutil.Error, OSError, ValueError):
        pass


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's own protocol, plus a future resolved the moment the process exits."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__(limit=_READ_BYTES, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


async def _pump(stream: asyncio.StreamReader, name: Stream, on_line) -> None:
    """Every line of one stream to `on_line`, however long the lines or fast the writer:
    a line is cut at the longest kept, and the loop gets a turn every few lines so one
    flooding node cannot starve the rest of the dataflow."""
    lines = LineSplitter()
    while True:
        chunk = await stream.read(_READ_BYTES)
        found = lines.feed(chunk) if chunk else lines.end()
        for count, line in enumerate(found, 1):
            on_line(name, line)
            if count % _LINES_PER_TURN == 0:
                await asyncio.sleep(0)
        if not chunk:
            return
        await asyncio.sleep(0)


async def _pump_notes(stream: asyncio.StreamReader, on_note) -> None:
    while True:
        raw = await stream.readline()
        if not raw:
            return
        on_note(raw.decode().strip())
