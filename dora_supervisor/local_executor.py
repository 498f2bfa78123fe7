"""The executor for this machine: node processes in their own process groups.

Spawns through `process`, applies rlimits, reaps each process in a watcher task, and every
sampling interval reads the kernel's figures of all running nodes in one batch off the
event loop. Each process gets a ledger file (in a private directory) for its message
counts, read once it has exited. It reports what it sees and decides nothing (see
`health` for that).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time

import structlog

from dora_api import contract
from dora_supervisor import process
from dora_supervisor.executor import Executor, Launch, Reports, Tallied
from dora_supervisor.samples import Sampled
from dora_supervisor.tree_model import Exited, Started

__all__ = ["LocalExecutor", "SHUTDOWN_DEADLINE_S"]

# Leaving the executor: how long killed processes get to be reaped and to flush their
# last output before whatever remains is named in an error.
SHUTDOWN_DEADLINE_S = 5.0


class LocalExecutor(Executor):
    def __init__(self, log: structlog.typing.BindableLogger, reports: Reports,
                 sample_interval: float,
                 shutdown_deadline: float = SHUTDOWN_DEADLINE_S):
        self._log = log
        self._reports = reports
        self._sample_interval = sample_interval
        self._shutdown_deadline = shutdown_deadline
        self._running: dict[str, process.NodeProcess] = {}
        self._watchers: set[asyncio.Task] = set()
        self._tasks: asyncio.TaskGroup | None = None
        self._sampler: asyncio.Task | None = None
        self._ledgers: str | None = None

    async def __aenter__(self) -> LocalExecutor:
        self._ledgers = tempfile.mkdtemp(prefix="dora-ledgers-")
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._sampler = self._tasks.create_task(self._sample())
        return self

    async def __aexit__(self, *exc_info) -> None:
        """Kill what still runs, wait for each exit until the deadline, name what remains.

        The task group is closed as if its body ended normally: our own exception, if any,
        propagates unwrapped; a watcher's would come out as an ExceptionGroup."""
        try:
            self._sampler.cancel()
            await self._stop_all()
        finally:
            try:
                await self._tasks.__aexit__(None, None, None)
            finally:
                shutil.rmtree(self._ledgers, ignore_errors=True)

    async def spawn(self, launch: Launch) -> None:
        log = self._log.bind(node=launch.node)
        try:
            env = {**launch.env, contract.LEDGER_ENV: self._ledger_of(launch.node,
                                                                       launch.incarnation)}
            started = await process.spawn(
                launch.node, launch.incarnation, launch.argv, env, launch.cwd,
                lambda stream, line: self._reports.on_line(launch.node, stream, line),
                lambda note: self._reports.on_note(launch.node, launch.incarnation, note))
        except OSError as exc:
            log.error("node_spawn_failed", error=str(exc), argv=launch.argv,
                      incarnation=launch.incarnation)
            self._reports.on_report(Exited(launch.node, launch.incarnation, 127, None))
            return
        process.apply_rlimits(started.pid, launch.limits.cpu_time, launch.limits.open_files)
        self._running[launch.node] = started
        log.info("node_started", pid=started.pid, incarnation=launch.incarnation,
                 restart_count=launch.restart_count)
        self._reports.on_report(Started(launch.node, launch.incarnation, started.pid))
        watcher = self._tasks.create_task(self._watch(started))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    def kill(self, node: str, incarnation: int) -> None:
        running = self._running.get(node)
        if running is not None and running.incarnation == incarnation:
            process.kill_group(running.pid)

    def kill_all(self) -> None:
        for running in list(self._running.values()):
            process.kill_group(running.pid)

    async def _watch(self, running: process.NodeProcess) -> None:
        code, sig = await process.wait_exit(running)
        if self._running.get(running.node) is running:
            del self._running[running.node]
        ledger = self._take_ledger(running.node, running.incarnation)
        if ledger is not None:
            self._reports.on_report(Tallied(running.node, running.incarnation, ledger))
        self._reports.on_report(Exited(running.node, running.incarnation, code, sig))

    def _ledger_of(self, node: str, incarnation: int) -> str:
        return os.path.join(self._ledgers, f"{node}.{incarnation}")

    def _take_ledger(self, node: str, incarnation: int) -> contract.Ledger | None:
        """The counts an exited process left, if it wrote any; the file is removed."""
        path = self._ledger_of(node, incarnation)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            os.unlink(path)
            ledger = contract.read_ledger(data)
        except (OSError, contract.ContractError):
            return None
        return ledger if ledger.incarnation == incarnation else None

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self._sample_interval)
            running = list(self._running.values())
            if not running:
                continue
            taken = await asyncio.to_thread(_read_all, [r.pid for r in running])
            for each, (at, figures) in zip(running, taken, strict=True):
                if figures is not None and self._running.get(each.node) is each:
                    self._reports.on_report(Sampled(each.node, each.incarnation, at,
                                                    figures.state, figures.rss_bytes,
                                                    figures.cpu_time_s))

    async def _stop_all(self) -> None:
        self.kill_all()
        if self._watchers:
            await asyncio.wait(list(self._watchers), timeout=self._shutdown_deadline)
        if self._running:
            self._log.error("nodes_left_running", nodes=sorted(self._running),
                            pids=[r.pid for r in self._running.values()],
                            waited_s=self._shutdown_deadline)
        for watcher in list(self._watchers):
            watcher.cancel()


def _read_all(pids: list[int]) -> list[tuple[float, process.ProcFigures | None]]:
    """One batch of /proc reads, in a worker thread; each with the moment it was taken."""
    return [(time.monotonic(), process.read_figures(pid)) for pid in pids]
