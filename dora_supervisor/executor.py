"""The executor seam: what a dataflow runtime asks of whatever runs its node processes.

Above the seam (coordinator, dataflow runtime, tree, health) nothing touches a process or
`/proc`; below it an executor spawns and kills, and only *reports*: `Started`, `Exited`,
`Sampled`, `Heartbeat` and `Enforced` events, the counts in a node's ledger (`Tallied`),
output lines and the node's pipe notes. The core says what to measure and enforce for each
node (`Launch.watch`); the executor says how its machine can (`Executor.enforcement`) and
never judges a figure itself. `LocalExecutor` runs process groups on this machine;
`MachineExecutor` adds the nodes deployed to other machines, run by their daemons (each a
`LocalExecutor` there) over zenoh, and also reports when such a machine is lost or back.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Protocol

import attrs
import structlog

from dora_api.contract import Ledger
from dora_supervisor.descriptor import Limits
from dora_supervisor.node_output import OutputLine, Stream
from dora_supervisor.samples import Enforced, Enforcement, Heartbeat, Sampled, Watch
from dora_supervisor.tree_model import Exited, Started

__all__ = ["Launch", "Tallied", "Report", "Reports", "Executor", "ExecutorFactory"]


@attrs.frozen
class Tallied:
    """The message counts an ended process left in its ledger; reported just before its
    `Exited` (none when it never wrote one: not a dora_api node, or killed before)."""

    node: str
    incarnation: int
    ledger: Ledger


Report = Started | Exited | Sampled | Heartbeat | Enforced | Tallied


@attrs.frozen
class Launch:
    """Everything needed to start one incarnation of a node, wherever it runs."""

    node: str
    incarnation: int
    restart_count: int
    argv: list[str]
    env: dict[str, str] = attrs.field(repr=False)
    cwd: str
    limits: Limits = Limits()
    watch: Watch | None = None  # None: the leader alone, at the executor's default interval
    # A node started on another machine: the descriptor's `env:`, whose `$VAR`s that
    # machine expands from its own environment (`env` then holds only dora's variables).
    target_env: dict[str, str] = attrs.field(factory=dict, repr=False)


class Reports(Protocol):
    """Where an executor reports to (the dataflow runtime). Called on the event loop."""

    def on_report(self, event: Report) -> None: ...

    def on_line(self, node: str, stream: Stream, line: OutputLine) -> None: ...

    def on_note(self, node: str, incarnation: int, note: str) -> None: ...

    def on_machine(self, machine: str, up: bool) -> None:
        """The daemon of `machine` was lost (`up` False) or is back."""


class Executor(abc.ABC):
    """Runs one dataflow's node processes. Use as `async with executor:`: leaving it stops
    sampling and kills whatever still runs, waiting for each exit (never silently)."""

    @abc.abstractmethod
    async def __aenter__(self) -> Executor: ...

    @abc.abstractmethod
    async def __aexit__(self, *exc_info) -> None: ...

    @property
    def enforcement(self) -> Enforcement:
        """How this executor's machine enforces limits; known once it has been entered."""
        return Enforcement()

    @abc.abstractmethod
    async def spawn(self, launch: Launch) -> None:
        """Start `launch`; report `Started`, or `Exited` (code 127) when it cannot start."""

    @abc.abstractmethod
    def kill(self, node: str, incarnation: int) -> None:
        """Kill that incarnation's processes, if it is the one running; `Exited` follows."""

    @abc.abstractmethod
    def kill_all(self) -> None:
        """Kill every node process now (a second Ctrl-C)."""


# How a dataflow runtime gets its executor: (its bound logger, where to report, how often
# to report a `Sampled` of a node launched without a `Watch`, in seconds).
ExecutorFactory = Callable[[structlog.typing.BindableLogger, Reports, float], Executor]
