"""The executor of a dataflow that spans machines: local nodes here, the others through
their machine's daemon.

Nodes without `deploy.machine` go to the local executor; the others become commands to
the hub's daemons, whose reports come back as the same `Started`, `Exited`, `Sampled`,
`Heartbeat`, `Enforced` and `Tallied` events, in the order the daemon's executor made them
(so `health`, delivery accounting and the tree treat them exactly like local ones), plus
the nodes' output lines and pipe notes. The daemon enforces what the launch's `Watch`
asks. A report about an incarnation this executor no longer runs is dropped: once a
machine is lost, its incarnations are gone for the tree (their `Exited` is reported when
the tree kills them), whatever the daemon says later. When that daemon comes back, it is
told to kill those incarnations, in case it never noticed it was cut off.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Protocol

import attrs
import structlog

from dora_api import contract
from dora_supervisor.executor import Executor, Launch, Reports, Tallied
from dora_supervisor.node_output import OutputLine, Stream
from dora_supervisor.samples import (
    Enforced,
    Enforcer,
    Heartbeat,
    LimitKind,
    ProcessState,
    Sampled,
)
from dora_supervisor.tree_model import Exited, Started

__all__ = ["MachineExecutor", "Daemons", "CLOSE_DEADLINE_S"]

CLOSE_DEADLINE_S = 5.0  # leaving: how long daemons get to report their processes gone


class Daemons(Protocol):
    """What this executor needs of the hub (`daemon_hub.DaemonHub`)."""

    def site(self, machine: str) -> contract.DaemonInfo | None: ...

    def send(self, machine: str, command: contract.Command) -> None: ...

    def attach(self, dataflow_id: str, listener) -> None: ...

    def detach(self, dataflow_id: str) -> None: ...


@attrs.define
class _Remote:
    machine: str
    incarnation: int


class MachineExecutor(Executor):
    def __init__(self, log: structlog.typing.BindableLogger, reports: Reports,
                 sample_interval: float, *, local: Executor, daemons: Daemons,
                 dataflow_id: str, machine_of: dict[str, str | None]):
        self._log = log
        self._reports = reports
        self._sample_interval = sample_interval
        self._local = local
        self._daemons = daemons
        self._dataflow = dataflow_id
        self._machine_of = machine_of
        self._running: dict[str, _Remote] = {}  # node -> its incarnation on a machine
        self._lost: dict[str, list[tuple[str, int]]] = {}  # machine -> (node, inc) to kill
        self._used: set[str] = set()  # machines this dataflow has spawned on
        self._closed: set[str] = set()  # machines that reported the dataflow closed
        self._changed = asyncio.Event()

    @property
    def enforcement(self):
        """How limits are enforced on this machine; a remote node's machine says how at
        its daemon's join (`DaemonInfo.enforcement`)."""
        return self._local.enforcement

    async def __aenter__(self) -> MachineExecutor:
        await self._local.__aenter__()
        self._daemons.attach(self._dataflow, self)
        for machine in sorted({m for m in self._machine_of.values() if m}):
            if self._daemons.site(machine) is None:
                self._reports.on_machine(machine, False)
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            await self._close_remote()
        finally:
            self._daemons.detach(self._dataflow)
            await self._local.__aexit__(*exc_info)

    async def spawn(self, launch: Launch) -> None:
        machine = self._machine_of.get(launch.node)
        if not machine:
            await self._local.spawn(launch)
            return
        self._running[launch.node] = _Remote(machine, launch.incarnation)
        self._used.add(machine)
        self._closed.discard(machine)
        self._daemons.send(machine, contract.SpawnNode(
            self._dataflow, launch.node, launch.incarnation, launch.restart_count,
            list(launch.argv), launch.cwd, dict(launch.env), dict(launch.target_env),
            attrs.asdict(launch.limits), self._sample_interval,
            None if launch.watch is None else attrs.asdict(launch.watch)))

    def kill(self, node: str, incarnation: int) -> None:
        if not self._machine_of.get(node):
            self._local.kill(node, incarnation)
            return
        remote = self._running.get(node)
        if remote is None or remote.incarnation != incarnation:
            return
        if self._daemons.site(remote.machine) is not None:
            self._daemons.send(remote.machine, contract.KillNode(self._dataflow, node,
                                                                 incarnation))
            return
        # its machine is gone: so is the process, for the tree (the daemon kills it too)
        del self._running[node]
        self._lost.setdefault(remote.machine, []).append((node, incarnation))
        self._reports.on_report(Exited(node, incarnation, None, signal.SIGKILL))

    def kill_all(self) -> None:
        self._local.kill_all()
        for machine in self._used:
            if self._daemons.site(machine) is not None:
                self._daemons.send(machine, contract.KillAll(self._dataflow))

    # -- what the hub passes on (on the event loop) --------------------------------------

    def on_machine(self, machine: str, up: bool) -> None:
        if machine not in self._machine_of.values():
            return
        if up:
            for node, incarnation in self._lost.pop(machine, []):
                self._daemons.send(machine, contract.KillNode(self._dataflow, node,
                                                              incarnation))
        self._changed.set()
        self._reports.on_machine(machine, up)

    def on_daemon_report(self, machine: str, report: contract.Report) -> None:
        if isinstance(report, contract.NodeLine):
            if self._machine_of.get(report.node) == machine:
                size = len(report.line.encode("utf-8"))  # already cut by the daemon
                self._reports.on_line(report.node, Stream(report.stream),
                                      OutputLine(report.line, size, size))
            return
        if isinstance(report, contract.DataflowClosed):
            self._closed.add(machine)
            self._changed.set()
            return
        remote = self._running.get(report.node)
        if remote is None or remote.machine != machine or \
                remote.incarnation != report.incarnation:
            return  # an incarnation the tree has already written off
        match report:
            case contract.NodeStarted():
                self._log.info("node_started", node=report.node, pid=report.pid,
                               incarnation=report.incarnation, machine=machine)
                self._reports.on_report(Started(report.node, report.incarnation, report.pid))
            case contract.NodeExited():
                del self._running[report.node]
                self._changed.set()
                self._reports.on_report(Exited(report.node, report.incarnation, report.code,
                                               report.signal))
            case contract.NodeSampled():
                self._reports.on_report(Sampled(
                    report.node, report.incarnation, report.at,
                    ProcessState.from_letter(report.state), report.rss_bytes,
                    report.cpu_time_s))
            case contract.NodeHeartbeat():
                self._reports.on_report(Heartbeat(
                    report.node, report.incarnation, report.at, report.taken_at,
                    report.waiting_since, report.excused_until))
            case contract.NodeEnforced():
                try:
                    limit, by = LimitKind(report.limit), Enforcer(report.enforced_by)
                except ValueError as exc:
                    self._log.warning("invalid_daemon_report", machine=machine, error=str(exc))
                    return
                self._reports.on_report(Enforced(report.node, report.incarnation, report.at,
                                                 limit, report.measured, report.threshold, by))
            case contract.NodeTallied():
                self._reports.on_report(Tallied(report.node, report.incarnation,
                                                report.ledger))
            case contract.NodeNote():
                self._reports.on_note(report.node, report.incarnation, report.note)

    # -- leaving -------------------------------------------------------------------------

    async def _close_remote(self) -> None:
        """Tell each daemon the dataflow is over; wait until each has closed it, or is
        gone, or the deadline passes; name whatever was not seen to exit."""
        for machine in self._used:
            if self._daemons.site(machine) is not None:
                self._daemons.send(machine, contract.CloseDataflow(self._dataflow))
        deadline = asyncio.get_running_loop().time() + CLOSE_DEADLINE_S

        def open_machines() -> set[str]:
            return {m for m in self._used - self._closed if self._daemons.site(m) is not None}

        while open_machines():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        left = {node: r.machine for node, r in self._running.items()
                if self._daemons.site(r.machine) is not None}
        if left or open_machines():
            self._log.error("nodes_left_running", nodes=sorted(left), machines=sorted(
                open_machines()), waited_s=CLOSE_DEADLINE_S)
