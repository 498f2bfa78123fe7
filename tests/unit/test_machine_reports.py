"""A remote node's reports cross to the coordinator unchanged: what the daemon's executor
reports (`daemon._Forward`) goes over the wire (`contract.daemon`) and comes out of the
coordinator's `MachineExecutor` as the very same records, in order; and the launch's
`Watch` reaches the daemon in its `SpawnNode`."""

from __future__ import annotations

import asyncio

import structlog

from dora_api import contract
from dora_supervisor.daemon import _Forward
from dora_supervisor.descriptor import Limits
from dora_supervisor.executor import Launch, Tallied
from dora_supervisor.machine_executor import MachineExecutor
from dora_supervisor.samples import (
    Enforced,
    Enforcer,
    Heartbeat,
    LimitKind,
    ProcessState,
    Sampled,
    Watch,
)
from dora_supervisor.tree_model import Exited, Started

WATCH = Watch(0.05, group=True, memory_max=150 << 20, heartbeat=True)
LEDGER = contract.Ledger(2, {"out": 9}, {
    "in": contract.InputTally(contract.Position(1, 41), 30, 25, 2),
    "idle": contract.InputTally(None, 0, 0, 0)})
REPORTS = [
    Started("cam", 2, 4321),
    Sampled("cam", 2, 10.25, ProcessState.SLEEPING, 1 << 20, 0.5),
    Heartbeat("cam", 2, 10.5, 9.0, 9.25, 0.0),
    Enforced("cam", 2, 10.75, LimitKind.MEMORY, 160 << 20, 150 << 20, Enforcer.CGROUP_V2),
    Tallied("cam", 2, LEDGER),
    Exited("cam", 2, None, 9),
]


class _Hub:
    """The daemons as the executor sees them: m1 is joined; commands are kept."""

    def __init__(self):
        self.sent: list[tuple[str, contract.Command]] = []

    def site(self, machine):
        return object() if machine == "m1" else None

    def send(self, machine, command):
        self.sent.append((machine, command))

    def attach(self, dataflow_id, listener):
        pass

    def detach(self, dataflow_id):
        pass


class _Reports:
    def __init__(self):
        self.reports: list = []

    def on_report(self, event):
        self.reports.append(event)

    def on_line(self, node, stream, line):
        pass

    def on_note(self, node, incarnation, note):
        pass

    def on_machine(self, machine, up):
        pass


def _remote(reports: _Reports, hub: _Hub) -> MachineExecutor:
    return MachineExecutor(structlog.get_logger(), reports, 0.5, local=None, daemons=hub,
                           dataflow_id="u", machine_of={"cam": "m1"})


def test_every_report_of_a_remote_node_comes_back_as_it_was_made_in_order():
    reports, hub = _Reports(), _Hub()
    executor = _remote(reports, hub)
    asyncio.run(executor.spawn(Launch("cam", 2, 1, ["cam"], {}, "/", Limits(), WATCH)))
    forward = _Forward("u", lambda record: executor.on_daemon_report(
        "m1", contract.decode_report(contract.encode_record(record))))
    for report in REPORTS:
        forward.on_report(report)
    assert reports.reports == REPORTS


def test_the_launch_watch_reaches_the_daemon_and_none_stays_none():
    hub = _Hub()
    executor = _remote(_Reports(), hub)
    for watch in (WATCH, None):
        asyncio.run(executor.spawn(Launch("cam", 2, 1, ["cam"], {}, "/", Limits(), watch)))
    spawned = [contract.decode_command(contract.encode_record(command))
               for _, command in hub.sent]
    assert [Watch(**s.watch) if s.watch is not None else None for s in spawned] == [WATCH, None]


def test_a_limit_event_naming_an_unknown_limit_is_dropped():
    reports, hub = _Reports(), _Hub()
    executor = _remote(reports, hub)
    asyncio.run(executor.spawn(Launch("cam", 2, 1, ["cam"], {}, "/", Limits(), WATCH)))
    executor.on_daemon_report("m1", contract.NodeEnforced("u", "cam", 2, 1.0, "disk", 2, 1,
                                                          "cgroup_v2"))
    assert reports.reports == []
