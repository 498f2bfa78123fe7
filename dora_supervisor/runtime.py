"""The asyncio shell around the tree: one queue of events, actions executed in order.

Everything that happens (child exits, liveliness, timers, signals, limit samples) becomes
an event on one queue; `Tree.step` decides, this module only carries the decisions out.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time

import structlog

from dora_api import contract
from dora_supervisor import launch, process, shm_cleanup
from dora_supervisor.descriptor import Dataflow
from dora_supervisor.graph import upstream_nodes
from dora_supervisor.policy import ExitReason, is_abnormal
from dora_supervisor.tree import Tree
from dora_supervisor.tree_model import (
    CloseOutputs,
    Closing,
    Event,
    Exited,
    Finished,
    Kill,
    Liveliness,
    Log,
    NotifyRestarted,
    Schedule,
    SendStop,
    Spawn,
    Started,
    StopDataflow,
)
from dora_supervisor.zenoh_link import ZenohLink

__all__ = ["Runtime"]


class Runtime:
    """Runs one dataflow to its end; `run()` returns the exit code of `dora run`."""

    def __init__(self, df: Dataflow, dataflow_id: str, descriptor: str):
        self.df = df
        self.dataflow_id = dataflow_id
        self.descriptor = descriptor
        self.tree = Tree(df)
        self.log = structlog.get_logger().bind(dataflow=dataflow_id)
        self.processes: dict[str, process.NodeProcess] = {}
        self.result: Finished | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task] = set()
        self._interrupts = 0
        self._slots = {n.id: f"n{i}" for i, n in enumerate(df.nodes)}
        self._frozen_since: dict[tuple[str, int], float] = {}
        self._sampler: asyncio.Task | None = None
        self._last_stderr: dict[str, str] = {}

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._loop = loop
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.link = ZenohLink(contract.Namespace(self.df.prefix, self.dataflow_id),
                              self._liveliness_changed)
        try:
            self.log.info("dataflow_started", name=self.df.name, nodes=len(self.df.nodes),
                          descriptor=self.descriptor)
            await self._execute(self.tree.start(time.monotonic()))
            self._sampler = asyncio.create_task(self._sample_health())
            while self.result is None:
                event = await self._queue.get()
                await self._execute(self.tree.step(event, time.monotonic(), random.random()))
        finally:
            await self._shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0 if self.result is not None and self.result.ok else 1

    def post(self, event: Event) -> None:
        """Queue an event; safe from any thread."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    # -- executing actions ----------------------------------------------------------

    async def _execute(self, actions) -> None:
        for action in actions:
            if isinstance(action, Spawn):
                await self._spawn(action)
            elif isinstance(action, SendStop):
                self.link.send_stop(action.node)
            elif isinstance(action, Kill):
                running = self.processes.get(action.node)
                if running is not None and running.incarnation == action.incarnation:
                    process.kill_group(running.pid)
            elif isinstance(action, CloseOutputs):
                self.link.mark_finished(action.node, action.flushed_incarnation)
            elif isinstance(action, NotifyRestarted):
                self.link.notify_restarted(action.node)
            elif isinstance(action, Schedule):
                self._schedule(action)
            elif isinstance(action, Log):
                getattr(self.log, action.level)(action.event, **action.fields)
            elif isinstance(action, Finished):
                self.result = action

    def _schedule(self, action: Schedule) -> None:
        """A timer whose handle is forgotten once it fires (long runs schedule many)."""
        def fire() -> None:
            self._timers.discard(handle)
            self._queue.put_nowait(action.event)

        handle = self._loop.call_later(action.delay, fire)
        self._timers.add(handle)

    async def _spawn(self, action: Spawn) -> None:
        node = self.df.node(action.node)
        argv = launch.node_argv(self.df, node)
        env = launch.node_env(
            self.df, node, dataflow_id=self.dataflow_id, descriptor=self.descriptor,
            incarnation=action.incarnation, restart_count=action.restart_count,
            wait_for=action.wait_for,
            endpoints=self.link.node_endpoints(
                self._slots[node.id],
                [self._slots[u] for u in sorted(upstream_nodes(node)) if u in self._slots]))
        log = self.log.bind(node=node.id)
        try:
            started = await process.spawn(
                node.id, action.incarnation, argv, env, launch.node_cwd(self.df, node),
                lambda stream, line: self._on_line(log, node.id, stream, line),
                lambda note: self._on_note(node.id, action.incarnation, note))
        except OSError as exc:
            log.error("node_spawn_failed", error=str(exc), argv=argv,
                      incarnation=action.incarnation)
            self._queue.put_nowait(Exited(node.id, action.incarnation, 127, None))
            return
        process.apply_rlimits(started.pid, node.limits.cpu_time, node.limits.open_files)
        self.processes[node.id] = started
        log.info("node_started", pid=started.pid, incarnation=action.incarnation,
                 restart_count=action.restart_count)
        self._queue.put_nowait(Started(node.id, action.incarnation, started.pid))
        task = asyncio.create_task(self._watch(started))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, running: process.NodeProcess) -> None:
        code, sig = await process.wait_exit(running)
        if self.processes.get(running.node) is running:
            del self.processes[running.node]
        self._frozen_since.pop((running.node, running.incarnation), None)
        self._queue.put_nowait(Exited(running.node, running.incarnation, code, sig,
                                      running.flushed))

    # -- inputs from the outside world ------------------------------------------------

    def failure_details(self) -> list[str]:
        """For each node whose last exit was abnormal: what it last wrote on stderr."""
        details = []
        for worker in self.tree.workers.values():
            last = worker.last_exit or {}
            if last and is_abnormal(ExitReason(last["reason"])):
                said = self._last_stderr.get(worker.id)
                how = (f"exit code {last['code']}" if last.get("code") is not None
                       else last.get("reason"))
                details.append(f"node '{worker.id}' ({how})" + (f": {said}" if said else ""))
        return details

    def _on_line(self, log, node: str, stream: str, line: str) -> None:
        record = process.parse_log_line(line) if stream == "stderr" else None
        if stream == "stderr" and line.strip():
            self._last_stderr[node] = (record.msg if record else "") or line.strip()
        if record is not None:
            method = record.level if record.level in (
                "debug", "info", "warning", "error", "critical") else "info"
            getattr(log, method)("node_log", msg=record.msg, logger=record.logger)
        else:
            log.info("node_output", stream=stream, line=line)

    def _on_note(self, node: str, incarnation: int, line: str) -> None:
        try:
            note = contract.decode_note(line)
        except contract.ContractError as exc:
            self.log.warning("invalid_control_note", node=node, error=str(exc))
            return
        running = self.processes.get(node)
        if isinstance(note, contract.ClosingNote):
            self._queue.put_nowait(Closing(node, incarnation))
        elif (isinstance(note, contract.FlushedNote) and running is not None
              and running.incarnation == incarnation):
            running.flushed = True

    async def _sample_health(self) -> None:
        """Local liveness from the kernel: a process stopped for `health.lease` has lost
        its liveliness, exactly as if its zenoh token had expired."""
        interval = max(0.2, min(n.health.lease for n in self.df.nodes) / 2)
        while self.result is None:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for running in list(self.processes.values()):
                key = (running.node, running.incarnation)
                if not process.is_frozen(running.pid):
                    self._frozen_since.pop(key, None)
                    continue
                since = self._frozen_since.setdefault(key, now)
                if now - since >= self.df.node(running.node).health.lease:
                    self._frozen_since[key] = float("inf")  # report once
                    self._queue.put_nowait(Liveliness(running.node, running.incarnation, False))

    def _liveliness_changed(self, node: str, incarnation: int, alive: bool) -> None:
        self.post(Liveliness(node, incarnation, alive))

    def _on_signal(self, sig: int) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            self.log.info("stop_requested", signal=signal.Signals(sig).name)
            self._queue.put_nowait(StopDataflow(signal.Signals(sig).name))
        else:  # a second Ctrl-C: no more patience
            self.log.warning("kill_requested", signal=signal.Signals(sig).name)
            for running in list(self.processes.values()):
                process.kill_group(running.pid)

    async def _shutdown(self) -> None:
        """Whatever happened, leave nothing running behind."""
        for handle in self._timers:
            handle.cancel()
        if self._sampler is not None:
            self._sampler.cancel()
        for running in list(self.processes.values()):
            process.kill_group(running.pid)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        self.link.close()
        shm_cleanup.remove_dataflow_segments(self.dataflow_id)
