"""The supervision tree as a state machine: `step(event, now, rand) -> actions`.

Root supervisor (the descriptor's `supervision:`) -> group supervisors -> workers (one
per node, owning its process). Follows OTP's supervisor.erl: restart types, the three
strategies, sliding-window intensity with escalation, ordered start and reverse-order
termination, significant children and auto_shutdown. Additions for dataflows: backoff
between restarts, incarnations, and the cascade (outputs close only when a node is
finished for good). Pure: no clock, no processes, no I/O.

This module holds the workers' side; a supervisor's handling of failures is in
`tree_restart`, the graceful stop of the whole dataflow in `tree_stop`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from dora_supervisor import policy, tree_machines, tree_restart, tree_stop, tree_view
from dora_supervisor.descriptor import Dataflow
from dora_supervisor.policy import ExitReason
from dora_supervisor.samples import NodeMetrics
from dora_supervisor.tree_model import (
    Action,
    CloseOutputs,
    Closing,
    Event,
    Exited,
    Finished,
    Kill,
    LastExit,
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
    Started,
    StopDataflow,
    Supervisor,
    SupervisorState,
    ThenFinish,
    TimerFired,
    TimerKind,
    Worker,
    WorkerState,
    build,
    fill_wait_for,
)

__all__ = ["Tree", "ROOT"]

ROOT = "dataflow"
_LIVELINESS_CONFIRM_S = 0.25  # a vanished token is acted on only if the node did not exit
# The record a health verdict is logged as (any other limit: `limit_exceeded`).
_LIMIT_RECORDS = {ExitReason.WATCHDOG: "watchdog", ExitReason.LIVELINESS_LOST: "liveliness_lost"}


@attrs.frozen
class _Answer:
    """What a request's `Respond` will say."""

    ok: bool
    message: str


class Tree:
    """One dataflow's supervision tree.

    The runtime calls `start` once, then `step` per event, and executes the actions they
    return; otherwise it only reads (`workers`, `sups`, `failures`, `done`, `snapshot`).
    The methods without an underscore after `restarts_in_window` are the operations
    `tree_restart` and `tree_stop` use; `now` and `rand` are those of the current event.
    """

    def __init__(self, df: Dataflow):
        self.df = df
        self.order = [n.id for n in df.nodes]
        self.stopping = False
        self.failures: list[str] = []
        self.done = False
        self.now = 0.0
        self.rand = 0.5
        self._actions: list[Action] = []
        self.sups, self.workers = build(df, ROOT)
        self.machines_down: set[str] = set()  # machines whose daemon is gone

    # -- entry points -----------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        return self._run(now, 0.5, lambda: self._start_sup(ROOT))

    def step(self, event: Event, now: float, rand: float) -> list[Action]:
        """Apply one event; `rand` in [0, 1) is the jitter draw for any backoff.

        A request carrying a `reply` is answered with a `Respond` after its effects."""
        reply = event.reply if isinstance(event, StopDataflow | RestartChild) else None
        return self._run(now, rand, lambda: self._handle(event), reply)

    def snapshot(self, now: float,
                 metrics: Mapping[str, NodeMetrics] | None = None) -> dict[str, Any]:
        """The root SUP object of `dora status --json` (see `tree_view.snapshot`)."""
        return tree_view.snapshot(self, ROOT, now, metrics)

    def restarts_in_window(self, sup_id: str, now: float) -> int:
        """Restarts of supervisor `sup_id` within its intensity window ending at `now`."""
        return tree_view.restarts_in_window(self, sup_id, now)

    def _run(self, now: float, rand: float, body: Callable[[], _Answer | None],
             reply: Reply | None = None) -> list[Action]:
        self.now, self.rand, self._actions = now, rand, []
        answer = _Answer(False, "the dataflow has already finished")
        if not self.done:
            answer = body()
            if self.stopping:
                tree_stop.drain_check(self)
        if reply is not None and answer is not None:
            self.emit(Respond(reply, answer.ok, answer.message))
        actions, self._actions = self._actions, []
        return fill_wait_for(actions, self.workers)

    def _handle(self, event: Event) -> _Answer | None:
        """Apply `event`; a request returns its answer."""
        match event:
            case Started():
                self._on_started(event)
            case Exited():
                self._on_exited(event)
            case Closing():
                self._on_closing(event)
            case Liveliness():
                self._on_liveliness(event)
            case LimitExceeded():
                self._on_limit(event)
            case TimerFired():
                self._on_timer(event)
            case StopDataflow():
                return self._on_stop_request(event)
            case RestartChild():
                return self._on_restart_request(event)
            case MachineChanged():
                tree_machines.on_machine(self, event)
        return None

    # -- operations shared with tree_restart and tree_stop ------------------------------

    def emit(self, action: Action) -> None:
        self._actions.append(action)

    def log(self, event: str, level: str = "info", **fields) -> None:
        self.emit(Log(event, level, fields))

    def in_start_order(self) -> list[Worker]:
        return [self.workers[n] for n in self.order]

    def start_child(self, child: str) -> None:
        if child in self.sups:
            self._start_sup(child)
            return
        worker = self.workers[child]
        if worker.finished or tree_machines.hold(self, worker):
            return
        if worker.incarnation > 0:
            worker.restarts += 1
        worker.incarnation += 1
        worker.state, worker.pid, worker.alive = WorkerState.STARTING, None, False
        worker.closing, worker.stop_cause, worker.started_at = False, None, self.now
        self.emit(Spawn(worker.id, worker.incarnation, worker.restarts))
        if worker.restarts:
            self.emit(NotifyRestarted(worker.id))

    def stop_worker(self, worker: Worker, cause: ExitReason) -> None:
        worker.state, worker.stop_cause = WorkerState.STOPPING, cause
        if worker.shutdown <= 0 or not worker.alive:
            # brutal_kill, or not connected yet: it could not receive STOP anyway
            self.emit(Kill(worker.id, worker.incarnation))
            return
        self.emit(SendStop(worker.id))
        self.emit(Schedule(worker.shutdown,
                           TimerFired(TimerKind.GRACE, worker.id, worker.incarnation)))

    def finish_worker(self, worker: Worker, reason: ExitReason, flushed: int | None,
                      by_itself: bool) -> None:
        """The node is finished for good: close its outputs, maybe finish its supervisors."""
        abnormal = policy.is_abnormal(reason)
        worker.state = WorkerState.FAILED if abnormal else WorkerState.EXITED
        if worker.finished:
            return
        worker.finished = True
        if abnormal:
            self.failures.append(f"node '{worker.id}' exited: {reason}")
            last = worker.last_exit or LastExit(None, None, reason)
            self.emit(NotifyFailed(worker.id, policy.describe_failure(reason, last.code,
                                                                      last.signal)))
        self.emit(CloseOutputs(worker.id, flushed, failed=abnormal))
        if by_itself:
            self._check_auto_shutdown(worker.id)
        self.check_complete(worker.parent)

    def check_complete(self, sup_id: str) -> None:
        """A supervisor whose children have all finished for good finishes too."""
        sup = self.sups[sup_id]
        if sup.finished or sup.terminating:
            return
        if all(self.sups[c].finished if c in self.sups else self.workers[c].finished
               for c in sup.children):
            self.sup_finished(sup)

    def sup_finished(self, sup: Supervisor) -> None:
        sup.finished, sup.state = True, SupervisorState.EXITED
        if sup.parent is None:
            self.end()
        elif sup.id in self.sups[sup.parent].terminating:
            tree_restart.advance(self, sup.parent)
        else:
            self.check_complete(sup.parent)

    def end(self) -> None:
        if self.done:
            return
        self.done = True
        ok = not self.failures
        reason = "all nodes finished" if ok else self.failures[0]
        self.log("dataflow_finished", "info" if ok else "error", ok=ok, reason=reason)
        self.emit(Finished(ok, reason))

    # -- starting ---------------------------------------------------------------------

    def _start_sup(self, sup_id: str) -> None:
        sup = self.sups[sup_id]
        if sup.finished:
            return
        sup.state, sup.then, sup.cause = SupervisorState.RUNNING, None, None
        sup.terminating = []
        for child in sup.children:
            self.start_child(child)

    # -- events about workers ---------------------------------------------------------

    def _on_started(self, event: Started) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None:
            return
        worker.pid = event.pid
        if worker.state is WorkerState.STARTING:
            worker.state = WorkerState.RUNNING

    def _on_closing(self, event: Closing) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is not None:
            worker.closing = True

    def _on_liveliness(self, event: Liveliness) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None or not worker.state.up:
            return
        was_alive, worker.alive = worker.alive, event.alive
        if was_alive and not event.alive and not worker.closing:
            self.emit(Schedule(_LIVELINESS_CONFIRM_S,
                               TimerFired(TimerKind.LIVELINESS, worker.id, worker.incarnation)))

    def _on_limit(self, event: LimitExceeded) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None or not worker.state.up:
            return
        self.log(_LIMIT_RECORDS.get(event.reason, "limit_exceeded"), "warning", node=worker.id,
                 reason=str(event.reason), **event.detail, **tree_machines.where(worker))
        worker.stop_cause = event.reason
        worker.state = WorkerState.STOPPING
        self.emit(Kill(worker.id, worker.incarnation))

    def _on_exited(self, event: Exited) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None:
            return  # a late exit of a replaced process never touches its successor
        reason = policy.classify_exit(event.code, event.signal, worker.stop_cause)
        uptime = self.now - (worker.started_at or self.now)
        worker.last_exit = LastExit(event.code, event.signal, reason)
        worker.pid, worker.alive, worker.state = None, False, WorkerState.EXITED
        self.log("node_exited", "warning" if policy.is_abnormal(reason) else "info",
                 node=worker.id, code=event.code, signal=event.signal, reason=str(reason),
                 incarnation=worker.incarnation, uptime_s=round(uptime, 3))
        flushed = worker.incarnation if event.flushed else None
        cause = worker.stop_cause
        if tree_restart.in_termination(self, worker):  # its supervisor is stopping it
            worker.restart_requested = False
            if self.sups[worker.parent].cause == ExitReason.SHUTDOWN or self.stopping:
                self.finish_worker(worker, reason, flushed, by_itself=False)
            tree_restart.advance(self, worker.parent)
            return
        if worker.restart_requested and not self.stopping:
            worker.state, worker.restart_requested = WorkerState.EXITED, False
            self.start_child(worker.id)  # `dora restart NODE`: at once, not counted
            return
        if cause in (ExitReason.SIBLING, ExitReason.ESCALATED):
            if self.stopping:
                self.finish_worker(worker, reason, flushed, by_itself=False)
            return
        draining = bool(worker.upstream) and all(self.workers[u].finished for u in worker.upstream)
        if cause == ExitReason.SHUTDOWN or self.stopping or draining or \
                not policy.should_restart(worker.policy, reason):
            self.finish_worker(worker, reason, flushed, by_itself=cause is None)
            return
        tree_restart.child_failed(self, worker.parent, worker.id, reason, uptime)

    # -- auto shutdown ------------------------------------------------------------------

    def _descendants(self, sup_id: str) -> list[Worker]:
        result = []
        for child in self.sups[sup_id].children:
            result += self._descendants(child) if child in self.sups else [self.workers[child]]
        return result

    def _check_auto_shutdown(self, node: str) -> None:
        sup_id: str | None = self.workers[node].parent
        trigger = self.workers[node].significant
        while sup_id is not None:
            sup = self.sups[sup_id]
            flags = [w.finished for w in self._descendants(sup_id) if w.significant]
            if sup.state is not SupervisorState.STOPPING and not sup.finished and \
                    policy.auto_shutdown_due(sup.flags.auto_shutdown, flags, trigger):
                self.log("auto_shutdown", supervisor=sup_id, mode=str(sup.flags.auto_shutdown))
                if sup_id == ROOT:
                    tree_stop.begin_stop(self, "auto_shutdown")
                    return
                # OTP's significant_escalation: a group that shuts itself down has, for its
                # parent, finished by itself: the parent's own auto_shutdown may follow.
                tree_restart.terminate(self, sup_id, list(sup.children), ExitReason.SHUTDOWN,
                                       ThenFinish())
            sup_id = sup.parent

    # -- timers and requests ----------------------------------------------------------

    def _on_timer(self, event: TimerFired) -> None:
        if event.kind is TimerKind.RESTART:
            sup = self.sups[event.target]
            if event.token in sup.pending:
                if self.stopping:
                    tree_restart.halt(self, sup, sup.pending.pop(event.token))
                else:
                    tree_restart.do_restart(self, sup, event.token)
            return
        worker = self._current(event.target, event.token)
        if worker is None or not worker.state.up:
            return
        if event.kind is TimerKind.GRACE and worker.state is WorkerState.STOPPING:
            self.log("shutdown_timeout", "warning", node=worker.id, grace_s=worker.shutdown)
            worker.stop_cause = worker.stop_cause or ExitReason.SHUTDOWN
            self.emit(Kill(worker.id, worker.incarnation))
        elif event.kind is TimerKind.LIVELINESS and not worker.alive and not worker.closing:
            self.log("liveliness_lost", "warning", node=worker.id,
                     incarnation=worker.incarnation)
            worker.stop_cause, worker.state = ExitReason.LIVELINESS_LOST, WorkerState.STOPPING
            self.emit(Kill(worker.id, worker.incarnation))

    def _on_stop_request(self, event: StopDataflow) -> _Answer:
        if self.stopping:
            return _Answer(True, "the dataflow is already stopping")
        tree_stop.begin_stop(self, event.reason)
        return _Answer(True, "stopping the dataflow")

    def _on_restart_request(self, event: RestartChild) -> _Answer:
        worker = self.workers.get(event.node)
        if worker is None:
            return _Answer(False, f"no node '{event.node}' in this dataflow (its nodes: "
                                  f"{', '.join(self.order)})")
        if worker.finished:
            return _Answer(False, f"node '{worker.id}' has finished for good "
                                  f"({worker.state}); it is not restarted")
        if self.stopping:
            return _Answer(False, "the dataflow is stopping; nothing is restarted")
        if tree_machines.restart_refusal(worker):
            return _Answer(False, tree_machines.restart_refusal(worker))
        if worker.state is WorkerState.BACKOFF:
            self.start_child(worker.id)
        elif worker.state.live:
            worker.restart_requested = True
            self.stop_worker(worker, ExitReason.SHUTDOWN)
        else:
            return _Answer(False, f"node '{worker.id}' is {worker.state}: its supervisor is "
                                  "already stopping or restarting it")
        return _Answer(True, f"restarting node '{worker.id}'")

    def _current(self, node: str, incarnation: int) -> Worker | None:
        """The worker if `incarnation` is its current one; events about older ones drop."""
        worker = self.workers.get(node)
        return worker if worker is not None and worker.incarnation == incarnation else None
