"""The supervision tree as a state machine: `step(event, now, rand) -> actions`.

Root supervisor (the descriptor's `supervision:`) -> group supervisors -> workers (one
per node, owning its process). Follows OTP's supervisor.erl: restart types, the three
strategies, sliding-window intensity with escalation, ordered start and reverse-order
termination, significant children and auto_shutdown. Additions for dataflows: backoff
between restarts, incarnations, and the cascade (outputs close only when a node is
finished for good). Pure: no clock, no processes, no I/O.
"""

from __future__ import annotations

from dora_supervisor import policy
from dora_supervisor.descriptor import Dataflow
from dora_supervisor.policy import ExitReason
from dora_supervisor.tree_model import (
    Action,
    CloseOutputs,
    Closing,
    Event,
    Exited,
    Finished,
    Kill,
    LimitExceeded,
    Liveliness,
    Log,
    NotifyRestarted,
    RestartChild,
    Schedule,
    SendStop,
    Spawn,
    Started,
    StopDataflow,
    Supervisor,
    TimerFired,
    Worker,
    build,
    fill_wait_for,
)
from dora_supervisor.tree_stop import GracefulStop

__all__ = ["Tree", "ROOT"]

ROOT = "dataflow"
_LIVELINESS_CONFIRM_S = 0.25  # a vanished token is acted on only if the node did not exit


class Tree(GracefulStop):
    def __init__(self, df: Dataflow):
        self.order = [n.id for n in df.nodes]
        self.stopping = False
        self.failures: list[str] = []
        self.done = False
        self._df = df
        self._actions: list[Action] = []
        self._now = 0.0
        self._rand = 0.5
        self.sups, self.workers = build(df, ROOT)

    # -- entry points -----------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        return self._run(now, 0.5, lambda: self._start_sup(ROOT))

    def step(self, event: Event, now: float, rand: float) -> list[Action]:
        """Apply one event; `rand` in [0, 1) is the jitter draw for any backoff."""
        handler = {
            Started: self._on_started, Exited: self._on_exited, Closing: self._on_closing,
            Liveliness: self._on_liveliness, LimitExceeded: self._on_limit,
            TimerFired: self._on_timer, StopDataflow: self._on_stop,
            RestartChild: self._on_restart_request,
        }[type(event)]
        return self._run(now, rand, lambda: handler(event))

    def _run(self, now: float, rand: float, body) -> list[Action]:
        self._now, self._rand, self._actions = now, rand, []
        if not self.done:
            body()
            if self.stopping:
                self._drain_check()
        actions, self._actions = self._actions, []
        return fill_wait_for(actions, self.workers)

    # -- starting ---------------------------------------------------------------------

    def _start_sup(self, sup_id: str) -> None:
        sup = self.sups[sup_id]
        if sup.finished:
            return
        sup.state, sup.then, sup.cause = "running", None, None
        sup.terminating = []
        for child in sup.children:
            self._start_child(child)

    def _start_child(self, child: str) -> None:
        if child in self.sups:
            self._start_sup(child)
            return
        worker = self.workers[child]
        if worker.finished:
            return
        if worker.incarnation > 0:
            worker.restarts += 1
        worker.incarnation += 1
        worker.state, worker.pid, worker.alive, worker.closing = "starting", None, False, False
        worker.stop_cause, worker.started_at = None, self._now
        self._emit(Spawn(worker.id, worker.incarnation, worker.restarts))
        if worker.restarts:
            self._emit(NotifyRestarted(worker.id))

    # -- events about workers ---------------------------------------------------------

    def _on_started(self, event: Started) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None:
            return
        worker.pid = event.pid
        if worker.state == "starting":
            worker.state = "running"

    def _on_closing(self, event: Closing) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is not None:
            worker.closing = True

    def _on_liveliness(self, event: Liveliness) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None or worker.state not in ("starting", "running", "stopping"):
            return
        was_alive, worker.alive = worker.alive, event.alive
        if was_alive and not event.alive and not worker.closing:
            self._emit(Schedule(_LIVELINESS_CONFIRM_S,
                                TimerFired("liveliness", worker.id, worker.incarnation)))

    def _on_limit(self, event: LimitExceeded) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None or worker.state not in ("starting", "running", "stopping"):
            return
        self._log("limit_exceeded", "warning", node=worker.id, reason=str(event.reason),
                  **event.detail)
        worker.stop_cause = event.reason
        worker.state = "stopping"
        self._emit(Kill(worker.id, worker.incarnation))

    def _on_exited(self, event: Exited) -> None:
        worker = self._current(event.node, event.incarnation)
        if worker is None:
            return  # a late exit of a replaced process never touches its successor
        reason = policy.classify_exit(event.code, event.signal, worker.stop_cause)
        uptime = self._now - (worker.started_at or self._now)
        worker.last_exit = {"code": event.code, "signal": event.signal, "reason": str(reason)}
        worker.pid, worker.alive, worker.state = None, False, "exited"
        self._log("node_exited", "warning" if policy.is_abnormal(reason) else "info",
                  node=worker.id, code=event.code, signal=event.signal, reason=str(reason),
                  incarnation=worker.incarnation, uptime_s=round(uptime, 3))
        flushed = worker.incarnation if event.flushed else None
        cause = worker.stop_cause
        if self._in_termination(worker):  # its supervisor is stopping it: any exit is that
            worker.restart_requested = False
            if self.sups[worker.parent].cause == ExitReason.SHUTDOWN or self.stopping:
                self._finish_worker(worker, reason, flushed, by_itself=False)
            self._advance(worker.parent)
            return
        if worker.restart_requested and not self.stopping:
            worker.state, worker.restart_requested = "exited", False
            self._start_child(worker.id)  # `dora restart NODE`: at once, not counted
            return
        if cause in (ExitReason.SIBLING, ExitReason.ESCALATED):
            if self.stopping:
                self._finish_worker(worker, reason, flushed, by_itself=False)
            return
        draining = bool(worker.upstream) and all(self.workers[u].finished for u in worker.upstream)
        if cause == ExitReason.SHUTDOWN or self.stopping or draining or \
                not policy.should_restart(worker.policy, reason):
            self._finish_worker(worker, reason, flushed, by_itself=cause is None)
            return
        self._child_failed(worker.parent, worker.id, reason, uptime)

    def _finish_worker(self, worker: Worker, reason: ExitReason, flushed: int | None,
                       by_itself: bool) -> None:
        """The node is finished for good: close its outputs, maybe finish its supervisors."""
        abnormal = policy.is_abnormal(reason)
        worker.state = "failed" if abnormal else "exited"
        if worker.finished:
            return
        worker.finished = True
        if abnormal:
            self.failures.append(f"node '{worker.id}' exited: {reason}")
        self._emit(CloseOutputs(worker.id, flushed))
        if by_itself:
            self._check_auto_shutdown(worker.id)
        self._check_complete(worker.parent)

    # -- failures, intensity, strategies ----------------------------------------------

    def _child_failed(self, sup_id: str, child: str, reason: ExitReason, uptime: float) -> None:
        """A child of `sup_id` must be restarted: count it, maybe give up, apply strategy."""
        sup = self.sups[sup_id]
        worker = self.workers.get(child)
        if self.stopping:  # no restarts during a stop: the child is done
            if worker is not None:
                self._finish_worker(worker, reason, None, by_itself=False)
            else:
                self._close_all(child)
                self._sup_finished(self.sups[child])
            return
        if worker is not None and worker.max_restarts is not None:
            worker.history = policy.add_restart(worker.history, self._now,
                                                worker.window or float("inf"))
            if policy.intensity_exceeded(worker.history, worker.max_restarts):
                self._log("supervisor_gave_up", "error", node=child, supervisor=child,
                          restarts_in_window=len(worker.history) - 1)
                self._finish_worker(worker, reason, None, by_itself=False)
                return
        sup.history = policy.add_restart(sup.history, self._now, sup.flags.max_seconds)
        if policy.intensity_exceeded(sup.history, sup.flags.max_restarts):
            self._log("supervisor_gave_up", "error", supervisor=sup_id, child=child,
                      restarts_in_window=len(sup.history) - 1,
                      max_restarts=sup.flags.max_restarts, max_seconds=sup.flags.max_seconds)
            self._terminate(sup_id, list(sup.children), ExitReason.ESCALATED, ("fail",))
            return
        sup.restarts += 1
        delay = 0.0
        if worker is not None:
            worker.attempt = policy.next_attempt(worker.attempt, uptime, sup.flags.max_seconds)
            delay = policy.backoff_delay(worker.attempt, worker.backoff, self._rand)
            worker.state = "backoff"
            self._log("restart_scheduled", node=child, supervisor=sup_id,
                      delay_s=round(delay, 4), attempt=worker.attempt)
        else:
            self._log("restart_scheduled", supervisor=sup_id, child=child, delay_s=0.0,
                      attempt=sup.restarts)
        affected = policy.affected_children(sup.flags.strategy, sup.children, child)
        others = [c for c in affected if c != child]
        self._terminate(sup_id, others, ExitReason.SIBLING, ("restart", affected, delay))

    def _terminate(self, sup_id: str, children: list[str], cause: ExitReason, then: tuple) -> None:
        """Stop `children` one at a time in reverse start order, then carry out `then`.

        A restart planned while another is still terminating siblings joins it (the
        union of both, the longer delay); a plan to stop for good replaces a restart."""
        sup = self.sups[sup_id]
        current = sup.then
        if current is not None and current[0] != "restart":
            return  # already stopping for good: nothing will be restarted
        if current is not None and then[0] == "restart":
            ids = set(then[1]) | set(current[1])
            then = ("restart", [c for c in sup.children if c in ids], max(then[2], current[2]))
            children = list(set(children) | set(sup.terminating))
            cause = sup.cause or cause
        if then[0] != "restart":
            sup.pending.clear()  # restarts waiting for their backoff will not happen
        order = [c for c in reversed(sup.children) if c in children]
        sup.state = "stopping" if then[0] in ("fail", "finish", "bystander") else "restarting"
        sup.terminating, sup.cause, sup.then = order, cause, then
        self._advance(sup_id)

    def _in_termination(self, worker: Worker) -> bool:
        return worker.id in self.sups[worker.parent].terminating

    def _advance(self, sup_id: str) -> None:
        sup = self.sups[sup_id]
        while sup.terminating:
            head = sup.terminating[0]
            if head in self.sups:
                child = self.sups[head]
                if child.state in ("running", "restarting") and not child.finished:
                    self._terminate(head, list(child.children), sup.cause, ("bystander",))
                    return
                if child.state == "stopping" and child.terminating:
                    return
            else:
                worker = self.workers[head]
                if worker.state in ("starting", "running"):
                    self._stop_worker(worker, sup.cause)
                    return
                if worker.state == "stopping":
                    return
                if worker.state == "backoff":
                    worker.state = "exited"
                if sup.cause == ExitReason.SHUTDOWN and not worker.finished:
                    self._finish_worker(worker, ExitReason.SHUTDOWN, None, by_itself=False)
            sup.terminating.pop(0)
        then, sup.then = sup.then, None
        if then is None:
            return
        if then[0] == "restart" and self.stopping:
            self._halt(sup, then[1])
        elif then[0] == "restart":
            _, ids, delay = then
            self._schedule_restart(sup, ids, delay)
        elif then[0] == "halt":
            self._halt(sup, then[1])
        elif then[0] == "fail":
            sup.state = "failed"
            self._sup_failed(sup)
        elif then[0] == "bystander":
            sup.state = "exited"
            if sup.parent is not None:
                self._advance(sup.parent)
        elif then[0] == "finish":
            self._sup_finished(sup)
        if not sup.finished and not sup.terminating:
            self._check_complete(sup_id)  # children may all have finished meanwhile

    def _stop_worker(self, worker: Worker, cause: ExitReason) -> None:
        worker.state, worker.stop_cause = "stopping", cause
        if worker.shutdown <= 0 or not worker.alive:
            # brutal_kill, or not connected yet: it could not receive STOP anyway
            self._emit(Kill(worker.id, worker.incarnation))
            return
        self._emit(SendStop(worker.id))
        self._emit(Schedule(worker.shutdown, TimerFired("grace", worker.id, worker.incarnation)))

    def _schedule_restart(self, sup: Supervisor, ids: list[str], delay: float) -> None:
        sup.tokens += 1
        sup.pending[sup.tokens] = ids
        sup.state = "restarting"
        if delay <= 0:
            self._do_restart(sup, sup.tokens)
        else:
            self._emit(Schedule(delay, TimerFired("restart", sup.id, sup.tokens)))

    def _do_restart(self, sup: Supervisor, token: int) -> None:
        ids = sup.pending.pop(token)
        if not sup.pending and not sup.terminating:
            sup.state = "running"
        for child in sup.children:
            if child not in ids:
                continue
            if child in self.sups:
                if self.sups[child].state in ("exited", "failed"):
                    self.sups[child].history = ()
                    self.sups[child].restarts += 1
                    self._start_child(child)
            elif self.workers[child].policy == "temporary" and \
                    self.workers[child].state == "exited":
                # OTP: a temporary child terminated as a bystander is removed, not restarted
                self._finish_worker(self.workers[child], ExitReason.SIBLING, None, False)
            elif self.workers[child].state in ("backoff", "exited", "stopped"):
                self._start_child(child)  # an overlapping plan may have restarted it

    def _halt(self, sup: Supervisor, ids: list[str]) -> None:
        """A planned restart that a stop overtook: the children are done for good."""
        if not sup.pending and not sup.terminating:
            sup.state = "running"
        for child in ids:
            if child in self.sups:
                self._close_all(child)
                if not self.sups[child].finished:
                    self._sup_finished(self.sups[child])
            elif not self.workers[child].finished:
                self._finish_worker(self.workers[child], ExitReason.SHUTDOWN, None, False)

    def _sup_failed(self, sup: Supervisor) -> None:
        if sup.parent is not None and sup.id in self.sups[sup.parent].terminating:
            self._advance(sup.parent)  # its parent was stopping it anyway
            return
        if sup.parent is None:
            self.failures.insert(0, f"supervisor '{sup.id}' gave up: more than "
                                    f"{sup.flags.max_restarts} restarts in "
                                    f"{sup.flags.max_seconds:g}s")
            self._end()
            return
        self._child_failed(sup.parent, sup.id, ExitReason.ESCALATED, 0.0)

    def _close_all(self, sup_id: str) -> None:
        for child in self.sups[sup_id].children:
            if child in self.sups:
                self._close_all(child)
            elif not self.workers[child].finished:
                self.workers[child].finished = True
                self._emit(CloseOutputs(child, None))

    # -- completion and auto shutdown -------------------------------------------------

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
            if sup.state != "stopping" and not sup.finished and policy.auto_shutdown_due(
                    sup.flags.auto_shutdown, flags, trigger):
                self._log("auto_shutdown", supervisor=sup_id, mode=sup.flags.auto_shutdown)
                if sup_id == ROOT:
                    self._on_stop(StopDataflow("auto_shutdown"))
                    return
                # OTP's significant_escalation: a group that shuts itself down has, for its
                # parent, finished by itself: the parent's own auto_shutdown may follow.
                self._terminate(sup_id, list(sup.children), ExitReason.SHUTDOWN, ("finish",))
            sup_id = sup.parent

    def _check_complete(self, sup_id: str) -> None:
        sup = self.sups[sup_id]
        if sup.finished or sup.terminating:
            return
        if all(self.sups[c].finished if c in self.sups else self.workers[c].finished
               for c in sup.children):
            self._sup_finished(sup)

    def _sup_finished(self, sup: Supervisor) -> None:
        sup.finished, sup.state = True, "exited"
        if sup.parent is None:
            self._end()
        elif sup.id in self.sups[sup.parent].terminating:
            self._advance(sup.parent)
        else:
            self._check_complete(sup.parent)

    def _end(self) -> None:
        if self.done:
            return
        self.done = True
        ok = not self.failures
        reason = "all nodes finished" if ok else self.failures[0]
        self._log("dataflow_finished", "info" if ok else "error", ok=ok, reason=reason)
        self._emit(Finished(ok, reason))

    # -- timers and requests ----------------------------------------------------------

    def _on_timer(self, event: TimerFired) -> None:
        if event.kind == "restart":
            sup = self.sups[event.target]
            if event.token in sup.pending:
                if self.stopping:
                    self._halt(sup, sup.pending.pop(event.token))
                else:
                    self._do_restart(sup, event.token)
            return
        worker = self._current(event.target, event.token)
        if worker is None or worker.state not in ("starting", "running", "stopping"):
            return
        if event.kind == "grace" and worker.state == "stopping":
            self._log("shutdown_timeout", "warning", node=worker.id, grace_s=worker.shutdown)
            worker.stop_cause = worker.stop_cause or ExitReason.SHUTDOWN
            self._emit(Kill(worker.id, worker.incarnation))
        elif event.kind == "liveliness" and not worker.alive and not worker.closing:
            self._log("liveliness_lost", "warning", node=worker.id,
                      incarnation=worker.incarnation)
            worker.stop_cause, worker.state = ExitReason.LIVELINESS_LOST, "stopping"
            self._emit(Kill(worker.id, worker.incarnation))

    def _on_restart_request(self, event: RestartChild) -> None:
        worker = self.workers.get(event.node)
        if worker is None or worker.finished or self.stopping:
            return
        if worker.state == "backoff":
            self._start_child(worker.id)
        elif worker.state in ("starting", "running"):
            worker.restart_requested = True
            self._stop_worker(worker, ExitReason.SHUTDOWN)

    # -- helpers ----------------------------------------------------------------------

    def _current(self, node: str, incarnation: int) -> Worker | None:
        """The worker if `incarnation` is its current one; events about older ones drop."""
        worker = self.workers.get(node)
        return worker if worker is not None and worker.incarnation == incarnation else None

    def _in_start_order(self) -> list[Worker]:
        return [self.workers[n] for n in self.order]

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _log(self, event: str, level: str = "info", **fields) -> None:
        self._emit(Log(event, level, fields))
