"""What a coordinator answers on its control socket: each request, executed on its loop.

Reads come straight from the dataflows' trees (`Tree.snapshot`, `restarts_in_window`) and
the executor's latest samples (`DataflowRuntime.metrics`): nothing blocks, nothing is
measured at request time. Changes go through the trees' own requests (`restart`,
`request_stop`), so the supervisors decide as they do for any other event. A refusal is a
`DoraError` whose message becomes the one-line error reply.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from collections.abc import Callable

from dora_supervisor import __version__
from dora_supervisor import control_protocol as proto
from dora_supervisor.coordinator import Coordinator
from dora_supervisor.dataflow_runtime import DataflowRuntime
from dora_supervisor.errors import DescriptorError, DoraError
from dora_supervisor.tree_model import WorkerState

__all__ = ["ControlService", "RESTART_MARGIN_S", "STOP_MARGIN_S"]

RESTART_MARGIN_S = 15.0  # beyond the node's shutdown grace: spawn and connect
STOP_MARGIN_S = 5.0  # beyond the graces: the last exits to be reaped


class ControlService:
    """`handle(request)` -> a result record of `control_protocol`, or raises DoraError."""

    def __init__(self, coordinator: Coordinator, kind: proto.ServerKind,
                 on_destroy: Callable[[], None] | None = None):
        self.coordinator = coordinator
        self.kind = kind
        self.started_at = time.time()
        self.closing = False  # destroy requested: no new dataflows
        self._on_destroy = on_destroy

    async def handle(self, request: proto.Request):
        match request:
            case proto.Ping():
                network = self.coordinator.network
                return proto.Pong(os.getpid(), self.kind, __version__, self.started_at,
                                  list(network.listen) if network else [])
            case proto.ListDataflows():
                return [self.summary(r) for r in self._all()]
            case proto.Status(dataflow=None):
                return [self.status(r) for r in self.coordinator.dataflows()]
            case proto.Status(dataflow=wanted):
                return [self.status(self._known(wanted))]
            case proto.Start():
                return await self._start(request)
            case proto.Stop():
                return await self._stop(request)
            case proto.Restart():
                return await self._restart(request)
            case proto.Logs():
                return self._logs(request)
            case proto.Destroy():
                return self._destroy()
        raise DoraError(f"unhandled request {request!r}")

    # -- reads ------------------------------------------------------------------------

    def summary(self, runtime: DataflowRuntime) -> proto.DataflowSummary:
        state = _state(runtime, ended=runtime.dataflow_id not in self._running_ids())
        end = runtime.ended_at if state.ended and runtime.ended_at else time.time()
        result = runtime.result
        return proto.DataflowSummary(
            uuid=runtime.dataflow_id, name=runtime.df.name, state=state,
            nodes_running=sum(w.state is WorkerState.RUNNING
                              for w in runtime.tree.workers.values()),
            nodes_total=len(runtime.tree.workers), started_at=runtime.started_at,
            uptime_s=round(end - runtime.started_at, 3), descriptor=runtime.descriptor,
            server_kind=self.kind, server_pid=os.getpid(),
            exit_code=runtime.exit_code if state.ended else None,
            reason=(result.reason if result else "stopped before it finished")
            if state.ended else None,
            failures=runtime.failure_details() if state is proto.DataflowState.FAILED else [])

    def status(self, runtime: DataflowRuntime) -> proto.DataflowStatus:
        now = time.monotonic()
        tree = runtime.tree
        metrics = {node: runtime.metrics(node) for node in tree.workers}
        return proto.DataflowStatus(
            uuid=runtime.dataflow_id, name=runtime.df.name,
            state=_state(runtime, ended=runtime.dataflow_id not in self._running_ids()),
            started_at=_iso(runtime.started_at), tree=tree.snapshot(now, metrics),
            windows={sup: tree.restarts_in_window(sup, now) for sup in tree.sups})

    # -- changes ----------------------------------------------------------------------

    async def _start(self, request: proto.Start) -> proto.Started:
        self._background_only("dora start")
        self._open_for_starts()
        from dora_supervisor.load import load_descriptor

        try:
            df, _ = load_descriptor(request.descriptor)
        except DescriptorError as exc:
            raise DoraError(exc.problems[0] if len(exc.problems) == 1 else
                            f"{exc.problems[0]} (and {len(exc.problems) - 1} more: run "
                            "`dora check`)") from None
        if request.name:
            import attrs

            df = attrs.evolve(df, name=request.name)
        await self.coordinator.check_machines(df, request.wait_for_machines_s or 0.0)
        self._open_for_starts()  # still: a destroy may have come while it waited
        runtime = self.coordinator.start(df, request.descriptor)
        return proto.Started(runtime.dataflow_id, df.name,
                             self.coordinator.log_dir(runtime.dataflow_id))

    def _open_for_starts(self) -> None:
        if self.closing:
            raise DoraError("the coordinator is shutting down (`dora destroy`): start it "
                            "again with `dora up`")

    async def _stop(self, request: proto.Stop) -> proto.Stopping:
        runtime = self._running(request.dataflow)
        answer = await runtime.request_stop("dora stop")
        if not answer.ok:
            raise DoraError(answer.message)
        graces = sum(node.shutdown for node in runtime.df.nodes)
        if request.grace_s is not None:
            asyncio.get_running_loop().call_later(request.grace_s, _kill_if_running, runtime)
            graces = min(graces, request.grace_s)
        return proto.Stopping(answer.message, graces + STOP_MARGIN_S)

    async def _restart(self, request: proto.Restart) -> proto.Restarting:
        runtime = self._running(request.dataflow)
        worker = runtime.tree.workers.get(request.node)
        restarts = worker.restarts if worker is not None else 0
        answer = await runtime.restart(request.node)
        if not answer.ok:
            raise DoraError(answer.message)
        return proto.Restarting(answer.message, restarts, worker.shutdown + RESTART_MARGIN_S)

    def _logs(self, request: proto.Logs) -> proto.LogLocation:
        runtime = self._known(request.dataflow)
        if request.node not in runtime.tree.workers:
            raise DoraError(f"no node '{request.node}' in dataflow {_label(runtime)} (its "
                            f"nodes: {', '.join(runtime.tree.order)})")
        return proto.LogLocation(self.coordinator.log_dir(runtime.dataflow_id), request.node)

    def _destroy(self) -> proto.Destroying:
        self._background_only("dora destroy")
        running = self.coordinator.dataflows()
        bound = max((sum(n.shutdown for n in r.df.nodes) for r in running), default=0.0)
        self.closing = True
        self._on_destroy()
        return proto.Destroying(len(running), bound + STOP_MARGIN_S)

    # -- lookups ----------------------------------------------------------------------

    def _all(self) -> list[DataflowRuntime]:
        return self.coordinator.dataflows() + self.coordinator.finished()

    def _running_ids(self) -> set[str]:
        return {r.dataflow_id for r in self.coordinator.dataflows()}

    def _known(self, uuid: str) -> DataflowRuntime:
        """A running dataflow, else the latest finished one with that exact uuid."""
        runtime = self.coordinator.get(uuid)
        if runtime is None:
            runtime = next((r for r in reversed(self.coordinator.finished())
                            if r.dataflow_id == uuid), None)
        if runtime is None:
            raise DoraError(f"no dataflow '{uuid}' on this coordinator")
        return runtime

    def _running(self, uuid: str) -> DataflowRuntime:
        runtime = self._known(uuid)
        if runtime.dataflow_id not in self._running_ids():
            raise DoraError(f"dataflow {_label(runtime)} has already finished")
        return runtime

    def _background_only(self, command: str) -> None:
        if self.kind is not proto.ServerKind.BACKGROUND or self._on_destroy is None:
            raise DoraError(f"this is a foreground `dora run` (pid {os.getpid()}): `{command}` "
                            "talks to the background coordinator (`dora up`)")


def _state(runtime: DataflowRuntime, ended: bool) -> proto.DataflowState:
    if ended:
        ok = runtime.result is not None and runtime.result.ok
        return proto.DataflowState.FINISHED if ok else proto.DataflowState.FAILED
    return proto.DataflowState.STOPPING if runtime.tree.stopping else \
        proto.DataflowState.RUNNING


def _kill_if_running(runtime: DataflowRuntime) -> None:
    if runtime.result is None:
        runtime.kill(reason="stop grace over")


def _label(runtime: DataflowRuntime) -> str:
    uuid = runtime.dataflow_id
    return f"{runtime.df.name} ({uuid[:8]})" if runtime.df.name else uuid


def _iso(wall: float) -> str:
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).isoformat().replace("+00:00", "Z")
