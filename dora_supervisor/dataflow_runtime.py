"""One dataflow's asyncio shell: one queue of events, the tree's actions executed in order.

Everything that happens to the dataflow (child exits, liveliness, timers, stop requests,
health verdicts) becomes an event on its queue; `Tree.step` decides, this module only
carries the decisions out, through its executor (processes) and its zenoh link (nodes).
Process-wide concerns (signals, logging set-up, other dataflows, daemons) belong to the
coordinator; a dataflow with nodes on other machines gets the coordinator's `Sites`.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from datetime import UTC, datetime
from typing import Protocol

import attrs
import structlog

from dora_api import contract
from dora_supervisor import launch
from dora_supervisor.delivery import Accounts, Loss, edges_of
from dora_supervisor.descriptor import CpuMode, Dataflow
from dora_supervisor.executor import Executor, ExecutorFactory, Report, Tallied
from dora_supervisor.health import HealthWatch, NodeRules, sample_interval
from dora_supervisor.health_rules import cpu_kills
from dora_supervisor.log_routing import LogRouter, keeps_line
from dora_supervisor.node_output import LastWords, OutputLine, Stream
from dora_supervisor.samples import Enforced, Enforcement, Heartbeat, NodeMetrics, Sampled
from dora_supervisor.tree import Tree
from dora_supervisor.tree_model import (
    CloseOutputs,
    Closing,
    Event,
    Exited,
    Finished,
    Kill,
    LimitExceeded,
    Liveliness,
    Log,
    MachineChanged,
    NotifyFailed,
    NotifyRestarted,
    Reply,
    Respond,
    RestartChild,
    Schedule,
    SendStop,
    Spawn,
    StopDataflow,
)
from dora_supervisor.tree_view import failure_report
from dora_supervisor.zenoh_link import ZenohLink

__all__ = ["DataflowRuntime", "Sites"]


class Sites(Protocol):
    """The daemons, as a dataflow with remote nodes needs them (`daemon_hub.DaemonHub`)."""

    router_endpoint: str  # the coordinator's router, for this machine's sessions

    def site(self, machine: str) -> contract.DaemonInfo | None: ...

_HEALTH_REPORTS = frozenset({Sampled, Heartbeat, Enforced})


class DataflowRuntime:
    """Runs one dataflow to its end; `run()` returns how it finished (None: it did not)."""

    def __init__(self, df: Dataflow, dataflow_id: str, descriptor: str,
                 new_executor: ExecutorFactory, sites: Sites | None = None):
        self.df = df
        self.dataflow_id = dataflow_id
        self.descriptor = descriptor
        self.tree = Tree(df)
        self.log = structlog.get_logger().bind(dataflow=dataflow_id)
        self.result: Finished | None = None
        self.started_at = time.time()  # wall clock, for `dora list` / `status`
        self.ended_at: float | None = None
        self.health = HealthWatch({n.id: NodeRules.of(n) for n in df.nodes})
        self._new_executor = new_executor
        self._sites = sites if any(n.machine for n in df.nodes) else None
        self._executor: Executor | None = None
        self._link: ZenohLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._node_logs = {n.id: self.log.bind(node=n.id) for n in df.nodes}
        self._last_words = LastWords()
        self._min_levels = {n.id: n.logs.min_level for n in df.nodes}
        self._log_router = LogRouter(df, dataflow_id, lambda m: self._link.publish_log(m))
        self._flushed: set[tuple[str, int]] = set()  # (node, incarnation) that sent "F"
        self._answers: dict[Reply, asyncio.Future[Respond]] = {}
        self._last_reply = 0
        self._accounts = Accounts(edges_of(df))  # delivery: what was sent and never taken
        self._incarnations: dict[str, int] = {}  # node -> its latest incarnation spawned
        self._throttle_warned: set[str] = set()  # nodes told their machine cannot throttle

    @property
    def exit_code(self) -> int:
        return 0 if self.result is not None and self.result.ok else 1

    async def run(self) -> Finished | None:
        self._loop = asyncio.get_running_loop()
        self._link = ZenohLink(contract.Namespace(self.df.prefix, self.dataflow_id),
                               self._liveliness_changed,
                               self._sites.router_endpoint if self._sites else None)
        interval = sample_interval(n.health.lease for n in self.df.nodes)
        try:
            async with self._new_executor(self.log, self, interval) as executor:
                self._executor = executor
                self.health.enforcement = enforcement = executor.enforcement
                self.log.info("dataflow_started", name=self.df.name, nodes=len(self.df.nodes),
                              descriptor=self.descriptor, enforced_by=enforcement.as_fields())
                self._warn_unavailable_throttle([n.id for n in self.df.nodes if not n.machine])
                await self._machines_before_start()
                await self._execute(self.tree.start(time.monotonic()))
                while self.result is None:
                    event = await self._queue.get()
                    if isinstance(event, Liveliness | Exited):
                        self._log_router.consumer_seen(event.node)
                    await self._execute(self.tree.step(event, time.monotonic(), random.random()))
        finally:
            for handle in self._timers:
                handle.cancel()
            for reply, answer in self._answers.items():
                if not answer.done():
                    answer.set_result(Respond(reply, False, "the dataflow has already finished"))
            self._answers.clear()
            self._link.close()
            self.ended_at = time.time()
        return self.result

    # -- requests from the coordinator -------------------------------------------------

    def post(self, event: Event) -> None:
        """Queue an event; safe from any thread."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def stop(self, reason: str, **why) -> None:
        """Stop gracefully: the tree stops its children in reverse start order."""
        self.log.info("stop_requested", **why)
        self._queue.put_nowait(StopDataflow(reason))

    async def restart(self, node: str) -> Respond:
        """`dora restart NODE`: through the node's supervisor; answers when decided."""
        return await self._ask(lambda reply: RestartChild(node, reply))

    async def request_stop(self, reason: str) -> Respond:
        """A graceful stop that answers its caller once the tree has taken it."""
        return await self._ask(lambda reply: StopDataflow(reason, reply))

    async def _ask(self, request) -> Respond:
        if self.result is not None:
            return Respond(Reply(0), False, "the dataflow has already finished")
        self._last_reply += 1
        reply = Reply(self._last_reply)
        answer = self._answers[reply] = self._loop.create_future()
        self._queue.put_nowait(request(reply))
        return await answer

    def kill(self, **why) -> None:
        """No more patience: kill every node process now."""
        self.log.warning("kill_requested", **why)
        if self._executor is not None:
            self._executor.kill_all()

    def metrics(self, node: str) -> NodeMetrics:
        return self.health.metrics(node)

    def _warn_unavailable_throttle(self, nodes: list[str]) -> None:
        """`cpu_mode: throttle` on a machine without a CPU quota: such nodes are killed
        above their share instead, and the log says so once (a node on another machine:
        at its first start there)."""
        for node in nodes:
            rules, offer = NodeRules.of(self.df.node(node)), self.health.offer(node)
            if node not in self._throttle_warned and rules.cpu_mode is CpuMode.THROTTLE \
                    and cpu_kills(rules, offer):
                self._throttle_warned.add(node)
                self._node_logs[node].warning(
                    "cpu_throttle_unavailable", cpu_mode=str(rules.cpu_mode),
                    enforced_by=offer.cpu.value,
                    detail="this machine offers no cgroup CPU quota: the node is killed "
                           "above its share instead (reason cpu_limit)")

    def failure_details(self) -> list[str]:
        """For each node whose last exit was abnormal: what it last wrote on stderr."""
        return failure_report(self.tree, self._last_words.by_node)

    # -- executing actions ----------------------------------------------------------

    async def _execute(self, actions) -> None:
        if any(isinstance(action, Finished) for action in actions):
            self._log_losses(self._accounts.undelivered())  # every ledger is in by now
        for action in actions:
            if isinstance(action, Spawn):
                await self._spawn(action)
            elif isinstance(action, SendStop):
                self._link.send_stop(action.node)
            elif isinstance(action, Kill):
                self._executor.kill(action.node, action.incarnation)
            elif isinstance(action, CloseOutputs):
                self._link.mark_finished(action.node, action.flushed_incarnation,
                                         action.failed)
            elif isinstance(action, NotifyRestarted):
                ended = self._incarnations.get(action.node, 1) - 1
                self._link.notify_restarted(action.node, ended,
                                            self._accounts.sent(action.node, ended))
            elif isinstance(action, NotifyFailed):
                self._link.notify_failed(action.node, action.error)
            elif isinstance(action, Schedule):
                self._schedule(action)
            elif isinstance(action, Log):
                getattr(self.log, action.level)(action.event, **action.fields)
            elif isinstance(action, Respond):
                answer = self._answers.pop(action.reply, None)
                if answer is not None and not answer.done():
                    answer.set_result(action)
            elif isinstance(action, Finished):
                self.result = action

    async def _machines_before_start(self) -> None:
        """Machines the executor reported gone on entry: the tree holds their nodes."""
        queued = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for event in queued:
            if isinstance(event, MachineChanged):
                await self._execute(self.tree.step(event, time.monotonic(), random.random()))
            else:
                self._queue.put_nowait(event)

    def _schedule(self, action: Schedule) -> None:
        """A timer whose handle is forgotten once it fires (long runs schedule many)."""
        def fire() -> None:
            self._timers.discard(handle)
            self._queue.put_nowait(action.event)

        handle = self._loop.call_later(action.delay, fire)
        self._timers.add(handle)

    def _log_losses(self, losses: list[Loss]) -> None:
        for loss in losses:
            self._node_logs[loss.consumer].warning(
                "messages_lost", input=loss.input, source=loss.source, count=loss.count,
                reason=str(loss.reason))

    async def _spawn(self, action: Spawn) -> None:
        self._incarnations[action.node] = action.incarnation
        node = self.df.node(action.node)
        slot, upstream_slots = launch.link_slots(self.df, node)
        site = self._sites.site(node.machine) if node.machine and self._sites else None
        if node.machine and site is None:  # gone since the tree decided: lost at once
            self.on_report(Exited(node.id, action.incarnation, None, signal.SIGKILL))
            return
        endpoints = launch.site_endpoints(site, self.dataflow_id, slot, upstream_slots) \
            if site else self._link.node_endpoints(slot, upstream_slots)
        if site:  # measured and judged by what its machine offers (checked at its join)
            self.health.place(node.id, Enforcement.from_fields(site.enforcement))
            self._warn_unavailable_throttle([node.id])
        await self._executor.spawn(launch.node_launch(
            self.df, node, dataflow_id=self.dataflow_id, descriptor=self.descriptor,
            incarnation=action.incarnation, restart_count=action.restart_count,
            wait_for=action.wait_for, endpoints=endpoints, site=site,
            watch=self.health.watch(node.id)))

    # -- what the executor and the zenoh link report ---------------------------------

    def on_report(self, event: Report) -> None:
        if isinstance(event, Tallied):
            self._log_losses(self._accounts.ended(event.node, event.ledger))
            return
        if type(event) in _HEALTH_REPORTS:  # every few tenths of a second per node
            verdict = self.health.observe(event)
            if verdict is not None:
                self._queue.put_nowait(LimitExceeded(verdict.node, verdict.incarnation,
                                                     verdict.reason, verdict.detail))
            return
        if isinstance(event, Exited):
            key = (event.node, event.incarnation)
            self.health.forget(*key)
            if key in self._flushed:
                self._flushed.discard(key)
                event = attrs.evolve(event, flushed=True)
        self._queue.put_nowait(event)

    def on_line(self, node: str, stream: Stream, line: OutputLine) -> None:
        log = self._node_logs[node]
        record = self._last_words.record(node, stream, line.shown)
        if line.truncated:
            log.warning("line_truncated", stream=stream, bytes=line.size, kept=line.kept)
        if not keeps_line(record, stream, self._min_levels[node]):
            return
        getattr(log, record.level)(record.event, **record.fields)
        if self._log_router.active:  # most dataflows route no logs: no clock read then
            self._log_router.route(node, record,
                                   datetime.now(UTC).isoformat(timespec="microseconds"))

    def on_note(self, node: str, incarnation: int, line: str) -> None:
        try:
            note = contract.decode_note(line)
        except contract.ContractError as exc:
            self._node_logs[node].warning("invalid_control_note", error=str(exc))
            return
        if isinstance(note, contract.ClosingNote):
            self._queue.put_nowait(Closing(node, incarnation))
        elif isinstance(note, contract.FlushedNote):
            self._flushed.add((node, incarnation))
        elif isinstance(note, contract.MovedNote):
            self._log_losses(self._accounts.moved(node, note))

    def on_machine(self, machine: str, up: bool) -> None:
        self._queue.put_nowait(MachineChanged(machine, up))

    def _liveliness_changed(self, node: str, incarnation: int, alive: bool) -> None:
        self.post(Liveliness(node, incarnation, alive))
