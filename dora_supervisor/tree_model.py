"""Records of the supervision tree: its state, the events it takes, the actions it returns.

All plain attrs data and enums: only `Tree.step` (through `tree`, `tree_restart` and
`tree_stop`) changes them; the runtime executes the actions and reads the state, which
`tree_view` renders for `dora status`.
"""

from __future__ import annotations

import enum

import attrs

from dora_supervisor.descriptor import Backoff, Dataflow, RestartPolicy, SupervisionFlags
from dora_supervisor.graph import is_significant, upstream_nodes
from dora_supervisor.policy import ExitReason

__all__ = [
    "WorkerState", "SupervisorState", "TimerKind", "ThenRestart", "ThenHalt", "ThenFail",
    "ThenExit", "ThenFinish", "Plan", "LastExit", "Worker", "Supervisor", "Started", "Exited",
    "Liveliness", "TimerFired", "StopDataflow", "RestartChild", "LimitExceeded", "Closing",
    "MachineChanged",
    "Reply", "Spawn", "SendStop", "Kill", "CloseOutputs", "NotifyRestarted", "NotifyFailed",
    "Schedule", "Log",
    "Finished", "Respond", "Event", "Action", "build", "fill_wait_for",
]


class WorkerState(enum.StrEnum):
    """A worker's lifecycle; the values are what logs and `dora status` show."""

    STOPPED = "stopped"  # not started yet (only before `Tree.start`): never shown
    STARTING = "starting"  # spawned, not yet reported started
    RUNNING = "running"
    BACKOFF = "backoff"  # exited, its restart is scheduled
    STOPPING = "stopping"  # asked to stop, killed, or draining after its upstream finished
    EXITED = "exited"
    FAILED = "failed"  # finished for good after an abnormal exit

    @property
    def live(self) -> bool:
        """Spawned (or being spawned) and not being stopped."""
        return self in (WorkerState.STARTING, WorkerState.RUNNING)

    @property
    def up(self) -> bool:
        """An incarnation whose exit is still to come."""
        return self in (WorkerState.STARTING, WorkerState.RUNNING, WorkerState.STOPPING)


class SupervisorState(enum.StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"  # terminating children for a restart, or waiting for one
    STOPPING = "stopping"  # terminating its children for good
    EXITED = "exited"
    FAILED = "failed"  # gave up: more restarts than its intensity allows


class TimerKind(enum.StrEnum):
    RESTART = "restart"  # a planned restart's backoff is over (target: the supervisor)
    GRACE = "grace"  # a stopping node's shutdown grace is over: kill it
    LIVELINESS = "liveliness"  # confirm a vanished liveliness token


# -- what a supervisor does once the children it is terminating have stopped ----------


@attrs.frozen
class ThenRestart:
    """Restart `children` (in start order) after `delay`: the strategy's plan."""

    children: tuple[str, ...]
    delay: float


@attrs.frozen
class ThenHalt:
    """A restart that a dataflow stop overtook: the children are done for good."""

    children: tuple[str, ...]


@attrs.frozen
class ThenFail:
    """The supervisor gave up: it has failed, and its parent hears of it."""


@attrs.frozen
class ThenExit:
    """Its parent is terminating it (a bystander): exit and let the parent go on."""


@attrs.frozen
class ThenFinish:
    """It shut itself down (auto_shutdown): finished for good, like a child that ended."""


Plan = ThenRestart | ThenHalt | ThenFail | ThenExit | ThenFinish


@attrs.frozen
class LastExit:
    """How a worker's latest incarnation ended (`dora status`'s `last_exit`)."""

    code: int | None
    signal: int | None
    reason: ExitReason


@attrs.define
class Worker:
    """One node: the per-node supervisor that owns its OS process."""

    id: str
    parent: str
    policy: RestartPolicy
    backoff: Backoff
    shutdown: float
    significant: bool
    upstream: frozenset[str]
    is_source: bool
    max_restarts: int | None = None  # dora-rs per-node cap (`max_restarts`/`restart_window`)
    window: float | None = None
    machine: str = "local"  # the node's `deploy.machine`
    state: WorkerState = WorkerState.STOPPED
    incarnation: int = 0
    pid: int | None = None
    alive: bool = False
    closing: bool = False  # told us it is leaving on its own: a lost token is expected
    restart_requested: bool = False  # `dora restart`: start again when it has stopped
    held: bool = False  # its start waits (in backoff) for its machine's daemon to return
    restarts: int = 0
    attempt: int = 0
    started_at: float | None = None
    last_exit: LastExit | None = None
    stop_cause: ExitReason | None = None
    finished: bool = False  # finished for good: outputs closed, never restarted again
    history: tuple[float, ...] = ()


@attrs.define
class Supervisor:
    id: str
    parent: str | None
    flags: SupervisionFlags
    children: list[str]
    state: SupervisorState = SupervisorState.RUNNING
    history: tuple[float, ...] = ()
    restarts: int = 0
    terminating: list[str] = attrs.Factory(list)  # children still to stop, in stop order
    cause: ExitReason | None = None  # what the stops are for
    then: Plan | None = None  # what to do once `terminating` is empty
    pending: dict[int, tuple[str, ...]] = attrs.Factory(dict)  # restart token -> children
    tokens: int = 0  # the last restart token handed out
    finished: bool = False


# -- events -------------------------------------------------------------------------


@attrs.frozen
class Started:
    node: str
    incarnation: int
    pid: int


@attrs.frozen
class Exited:
    node: str
    incarnation: int
    code: int | None
    signal: int | None
    flushed: bool = False  # the node put its end-of-stream markers out before leaving


@attrs.frozen
class Closing:
    """The node announced an orderly exit (its token will vanish; that is fine)."""

    node: str
    incarnation: int


@attrs.frozen
class Liveliness:
    node: str
    incarnation: int
    alive: bool


@attrs.frozen
class MachineChanged:
    """The daemon of `machine` joined (`up`) or was lost (killed, frozen, cut off)."""

    machine: str
    up: bool


@attrs.frozen
class LimitExceeded:
    node: str
    incarnation: int
    reason: ExitReason
    detail: dict = attrs.Factory(dict)


@attrs.frozen
class TimerFired:
    kind: TimerKind
    target: str
    token: int


@attrs.frozen
class Reply:
    """Whom to answer: an opaque token a request carries (the shell maps it to a caller)."""

    id: int


@attrs.frozen
class StopDataflow:
    reason: str = "requested"
    reply: Reply | None = None  # answered with a `Respond` once handled


@attrs.frozen
class RestartChild:
    """`dora restart NODE`: restart the node at once, not counted against intensity."""

    node: str
    reply: Reply | None = None  # answered with a `Respond` once handled


Event = Started | Exited | Closing | Liveliness | LimitExceeded | TimerFired | StopDataflow \
    | RestartChild | MachineChanged

# -- actions ------------------------------------------------------------------------


@attrs.frozen
class Spawn:
    node: str
    incarnation: int
    restart_count: int
    wait_for: tuple[str, ...] = ()


@attrs.frozen
class SendStop:
    node: str


@attrs.frozen
class Kill:
    node: str
    incarnation: int


@attrs.frozen
class CloseOutputs:
    node: str
    flushed_incarnation: int | None
    failed: bool = False  # it failed for good: consumers hold INPUT_CLOSED for NODE_FAILED


@attrs.frozen
class NotifyFailed:
    """`node` failed for good (`error` says how): its consumers get NODE_FAILED, naming
    the inputs it feeds, before those inputs close. Always followed by its CloseOutputs."""

    node: str
    error: str


@attrs.frozen
class NotifyRestarted:
    node: str


@attrs.frozen
class Schedule:
    delay: float
    event: TimerFired


@attrs.frozen
class Log:
    event: str
    level: str = "info"
    fields: dict = attrs.Factory(dict)


@attrs.frozen
class Finished:
    ok: bool
    reason: str


@attrs.frozen
class Respond:
    """The answer to a request that carried `reply`: accepted or not, and why."""

    reply: Reply
    ok: bool
    message: str


Action = Spawn | SendStop | Kill | CloseOutputs | NotifyRestarted | NotifyFailed | Schedule \
    | Log | Finished | Respond


def build(df: Dataflow, root: str) -> tuple[dict[str, Supervisor], dict[str, Worker]]:
    """The tree's initial state, like OTP's side-effect-free `init/1`.

    Children start in descriptor order; a group stands where its first member does."""
    owner = {m: g.id for g in df.groups for m in g.members}
    position = {n.id: i for i, n in enumerate(df.nodes)}
    groups = {g.id: g for g in df.groups}

    def first(member: str) -> int:
        if member in position:
            return position[member]
        return min((first(m) for m in groups[member].members), default=len(position))

    sups = {root: Supervisor(root, None, df.supervision, [])}
    for group in df.groups:
        sups[group.id] = Supervisor(group.id, owner.get(group.id, root), group.flags,
                                    sorted(group.members, key=first))
    workers = {
        node.id: Worker(node.id, owner.get(node.id, root), node.restart.policy,
                        node.restart.backoff, node.shutdown, is_significant(node),
                        upstream_nodes(node), node.is_source, node.restart.max_restarts,
                        node.restart.window, node.machine or "local")
        for node in df.nodes}
    sups[root].children = sorted(
        [m for m in list(workers) + list(groups) if owner.get(m) is None], key=first)
    return sups, workers


def fill_wait_for(actions: list[Action], workers: dict[str, Worker]) -> list[Action]:
    """Every spawned node waits for its neighbours (producers and consumers) that are
    starting or running right now: those are the peers it links to directly."""
    live = {w.id for w in workers.values() if w.state.live}

    def neighbours(node: str) -> tuple[str, ...]:
        near = set(workers[node].upstream) | {w.id for w in workers.values()
                                              if node in w.upstream}
        return tuple(sorted((near & live) - {node}))

    return [Spawn(a.node, a.incarnation, a.restart_count, neighbours(a.node))
            if isinstance(a, Spawn) else a for a in actions]
