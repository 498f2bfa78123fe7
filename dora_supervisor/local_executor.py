"""The executor for this machine: node processes in their own process groups.

Spawns through `process`, applies rlimits, reaps each process in a watcher task, puts a
node with memory or CPU limits in cgroups of its own where the machine allows it
(`cgroups`), hands a node with a watchdog its heartbeat page, and samples each running
node as often as its `Watch` asks: all nodes due at once in one batch off the event loop
(`sampler`), on a grid so that nodes with the same interval share their passes; a node
with an idle interval is read that rarely while it runs, and at once when the kernel says
it stopped or continued (`stop_watch`). It
reports what it sees (samples, heartbeats, the kernel's OOM kills) and decides nothing
(see `health` for that). Each process gets a ledger file (in a private directory) for its
message counts, read once it has exited.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import shutil
import time

import attrs
import structlog

from dora_api import contract
from dora_supervisor import cgroups, process, rundirs, sampler, shm_cleanup
from dora_supervisor.cgroup_node import NodeCgroup
from dora_supervisor.executor import Executor, Launch, Reports, Tallied
from dora_supervisor.samples import Enforced, Enforcement, LimitKind, Watch
from dora_supervisor.stop_watch import stop_watch
from dora_supervisor.tree_model import Exited, Started
from dora_supervisor.watchdog_page import WatchdogPage

__all__ = ["LocalExecutor", "SHUTDOWN_DEADLINE_S", "CGROUP_REMOVAL_S"]

# Leaving the executor: how long killed processes get to be reaped and to flush their
# last output before whatever remains is named in an error.
SHUTDOWN_DEADLINE_S = 5.0
CGROUP_REMOVAL_S = 2.0  # a node's cgroup is removed once the kernel has let go of it
_BATCH_SLACK_S = 0.01  # nodes due this soon are read in the same pass


@attrs.define(eq=False)
class _Node:
    """A running incarnation and what the executor keeps for it."""

    process: process.NodeProcess
    watch: Watch
    cgroup: NodeCgroup | None
    page: WatchdogPage | None
    next_due: float = 0.0
    stopped: bool = False  # as its last sample saw it
    name: str = attrs.field(init=False)
    due: sampler.Due = attrs.field(init=False)  # how a sampling pass reads it

    def __attrs_post_init__(self) -> None:
        self.name = self.process.node
        self.due = sampler.Due(self.process.node, self.process.incarnation, self.process.pid,
                               self.watch.group, self.cgroup,
                               None if self.page is None else self.page.map)

    @property
    def interval(self) -> float:
        """How often to read it now: its idle interval while it runs (when it has one and
        the kernel reports its stops), else its Watch's interval."""
        idle = self.watch.idle_interval
        if idle is None or self.stopped or not stop_watch().available:
            return self.watch.interval
        return idle


class LocalExecutor(Executor):
    def __init__(self, log: structlog.typing.BindableLogger, reports: Reports,
                 sample_interval: float,
                 shutdown_deadline: float = SHUTDOWN_DEADLINE_S):
        self._log = log
        self._reports = reports
        self._sample_interval = sample_interval
        self._shutdown_deadline = shutdown_deadline
        self._running: dict[str, _Node] = {}
        self._leaders: dict[int, _Node] = {}  # `_running` by pid, for the sampling passes
        self._watchers: set[asyncio.Task] = set()
        self._tasks: asyncio.TaskGroup | None = None
        self._sampler: asyncio.Task | None = None
        self._wake = asyncio.Event()  # a node started: the sampler plans again
        # Every /proc read happens in this one thread, one pass at a time.
        self._reader = sampler.ProcReader()
        self._sampling = concurrent.futures.ThreadPoolExecutor(1, "dora-sampler")
        self._cgroups: cgroups.Cgroups | None = None
        self._ledgers: str | None = None
        self._dataflows: set[str] = set()  # whose shared memory to remove at the end

    @property
    def enforcement(self) -> Enforcement:
        return Enforcement() if self._cgroups is None else self._cgroups.enforcement

    async def __aenter__(self) -> LocalExecutor:
        self._ledgers = rundirs.make("ledgers")
        offer = await asyncio.to_thread(cgroups.probe)
        self._cgroups = None if offer is None else cgroups.Cgroups(offer)
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
            if self._cgroups is not None and (left := self._cgroups.close()):
                self._log.warning("cgroups_left", paths=left)
        finally:
            try:
                await self._tasks.__aexit__(None, None, None)
                # after any pass still in flight: the reader's files close in its own thread
                await asyncio.get_running_loop().run_in_executor(self._sampling,
                                                                 self._reader.close)
                self._sampling.shutdown(wait=False)
            finally:
                shutil.rmtree(self._ledgers, ignore_errors=True)
                for dataflow in self._dataflows:  # whatever a SIGKILLed node left
                    shm_cleanup.remove_dataflow_segments(dataflow)

    async def spawn(self, launch: Launch) -> None:
        log = self._log.bind(node=launch.node)
        watch = launch.watch or Watch(self._sample_interval)
        cgroup = self._new_cgroup(launch, watch, log)
        page = WatchdogPage() if watch.heartbeat else None
        env = {**launch.env,
               contract.LEDGER_ENV: self._ledger_of(launch.node, launch.incarnation)}
        if dataflow := env.get(contract.DATAFLOW_ID_ENV):
            self._dataflows.add(dataflow)
        if page is not None:
            env[contract.WATCHDOG_FD_ENV] = str(page.fd)
        argv = launch.argv if cgroup is None else [*cgroup.join_argv(), *launch.argv]
        try:
            started = await process.spawn(
                launch.node, launch.incarnation, argv, env, launch.cwd,
                lambda stream, line: self._reports.on_line(launch.node, stream, line),
                lambda note: self._reports.on_note(launch.node, launch.incarnation, note),
                keep_fds=() if page is None else (page.fd,))
        except OSError as exc:
            if cgroup is not None:
                cgroup.remove()
            log.error("node_spawn_failed", error=str(exc), argv=launch.argv,
                      incarnation=launch.incarnation)
            self._reports.on_report(Exited(launch.node, launch.incarnation, 127, None))
            return
        finally:
            if page is not None:
                page.release_fd()
        process.apply_rlimits(started.pid, launch.limits.cpu_time, launch.limits.open_files)
        running = _Node(started, watch, cgroup, page)
        running.next_due = _next_slot(running.interval, time.monotonic())
        self._running[launch.node] = running
        self._leaders[started.pid] = running
        loop = asyncio.get_running_loop()
        stop_watch().watch(started.pid, lambda: loop.call_soon_threadsafe(
            self._stopped_or_continued, running))
        log.info("node_started", pid=started.pid, incarnation=launch.incarnation,
                 restart_count=launch.restart_count)
        self._reports.on_report(Started(launch.node, launch.incarnation, started.pid))
        if cgroup is not None and cgroup.oom_fd is not None:
            asyncio.get_running_loop().add_reader(cgroup.oom_fd, self._on_oom, running)
        watcher = self._tasks.create_task(self._watch(running))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        self._wake.set()

    def kill(self, node: str, incarnation: int) -> None:
        running = self._running.get(node)
        if running is not None and running.process.incarnation == incarnation:
            self._kill(running)

    def kill_all(self) -> None:
        for running in list(self._running.values()):
            self._kill(running)

    def _kill(self, running: _Node) -> None:
        process.kill_group(running.process.pid)
        if running.cgroup is not None:
            running.cgroup.kill()  # also what left the process group

    # -- cgroups ------------------------------------------------------------------------

    def _new_cgroup(self, launch: Launch, watch: Watch, log) -> NodeCgroup | None:
        """The node's cgroup(s), when its limits need one and the machine offers them."""
        if self._cgroups is None or not (watch.group or watch.memory_max or watch.cpu_quota):
            return None
        try:
            return self._cgroups.create(launch.node, launch.incarnation, watch.memory_max,
                                        watch.cpu_quota)
        except OSError as exc:
            log.error("cgroup_failed", incarnation=launch.incarnation, error=str(exc),
                      detail="the node runs without its cgroup: its memory limit is judged "
                             "from samples of its process group, no CPU quota is set")
            return None

    def _on_oom(self, running: _Node) -> None:
        """v1: the kernel's OOM killer struck in the node's cgroup."""
        if running.cgroup.drain_oom_fd():
            self._report_oom(running)

    def _report_oom(self, running: _Node) -> None:
        cgroup = running.cgroup
        if cgroup.oom_seen:
            return
        cgroup.oom_seen = True
        self._reports.on_report(Enforced(
            running.name, running.process.incarnation, time.monotonic(), LimitKind.MEMORY,
            cgroup.peak_bytes() or cgroup.memory_max, cgroup.memory_max, cgroup.version))

    async def _release(self, running: _Node) -> None:
        """Remove the node's cgroup once the kernel lets go of it (a killed process takes
        a moment to leave); one that will not go is left to `Cgroups.close`."""
        cgroup = running.cgroup
        if cgroup is None:
            return
        if cgroup.oom_fd is not None:
            asyncio.get_running_loop().remove_reader(cgroup.oom_fd)
        deadline = time.monotonic() + CGROUP_REMOVAL_S
        while True:
            cgroup.kill()
            if cgroup.remove() or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.02)

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

    # -- watching and sampling ------------------------------------------------------------

    async def _watch(self, running: _Node) -> None:
        code, sig = await process.wait_exit(running.process)
        if running.cgroup is not None and running.cgroup.oom_kills():
            self._report_oom(running)  # before its exit: the exit's reason is the limit
        if self._running.get(running.name) is running:
            del self._running[running.name]
        if self._leaders.get(running.due.pid) is running:
            del self._leaders[running.due.pid]
            stop_watch().forget(running.due.pid)
        ledger = self._take_ledger(running.name, running.process.incarnation)
        if ledger is not None:
            self._reports.on_report(Tallied(running.name, running.process.incarnation, ledger))
        self._reports.on_report(Exited(running.name, running.process.incarnation, code, sig))
        await self._release(running)

    async def _sample(self) -> None:
        """Each pass reads the nodes that are due, then sleeps until the next one is."""
        while True:
            now = time.monotonic()
            wake_at = min((r.next_due for r in self._running.values()), default=math.inf)
            if wake_at > now + _BATCH_SLACK_S:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if wake_at == math.inf else wake_at - now):
                        await self._wake.wait()
                continue
            due = [r for r in self._running.values() if r.next_due <= now + _BATCH_SLACK_S]
            slots: dict[tuple[float, float], float] = {}  # most nodes share a slot
            for running in due:
                key = (running.interval, running.next_due)
                if key not in slots:
                    slots[key] = _next_slot(running.interval, now, running.next_due)
                running.next_due = slots[key]
            taken = await asyncio.get_running_loop().run_in_executor(
                self._sampling, sampler.take, [r.due for r in due], set(self._leaders),
                self._reader)
            for running, (sample, heartbeat) in zip(due, taken, strict=True):
                if self._running.get(running.name) is not running:
                    continue  # exited during the pass
                if sample is not None:
                    if sample.state.frozen != running.stopped:  # its pace changes
                        running.stopped = sample.state.frozen
                        running.next_due = _next_slot(running.interval, time.monotonic())
                    self._reports.on_report(sample)
                if heartbeat is not None:
                    self._reports.on_report(heartbeat)

    def _stopped_or_continued(self, running: _Node) -> None:
        """The kernel says the node's leader stopped or continued: read it now."""
        if self._running.get(running.name) is running:
            running.next_due = time.monotonic()
            self._wake.set()

    async def _stop_all(self) -> None:
        self.kill_all()
        if self._watchers:
            await asyncio.wait(list(self._watchers), timeout=self._shutdown_deadline)
        if self._running:
            self._log.error("nodes_left_running", nodes=sorted(self._running),
                            pids=[r.process.pid for r in self._running.values()],
                            waited_s=self._shutdown_deadline)
        for watcher in list(self._watchers):
            watcher.cancel()


def _next_slot(interval: float, now: float, slot: float | None = None) -> float:
    """The first point of the grid of `interval`s (shared by all nodes) after `now`, and
    after `slot` (the one being served, which may be a hair ahead of `now`)."""
    index = math.floor(now / interval) if slot is None else round(slot / interval)
    after = max(now, slot or now) + _BATCH_SLACK_S
    while (index + 1) * interval <= after:
        index += 1
    return (index + 1) * interval
