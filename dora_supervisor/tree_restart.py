"""A supervisor's side of a failure: intensity, strategy, ordered termination, restart.

Plain functions over a `Tree` (they use only its operations without an underscore):
OTP's `restart_child` -> intensity check -> strategy -> terminate the affected siblings
one at a time in reverse start order -> carry out the supervisor's plan (`then`) once the
last of them has stopped: restart after a backoff, halt, fail upwards, or finish.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dora_supervisor import policy
from dora_supervisor.descriptor import RestartPolicy
from dora_supervisor.policy import ExitReason
from dora_supervisor.tree_model import (
    CloseOutputs,
    NotifyFailed,
    Plan,
    Schedule,
    Supervisor,
    SupervisorState,
    ThenExit,
    ThenFail,
    ThenFinish,
    ThenHalt,
    ThenRestart,
    TimerFired,
    TimerKind,
    Worker,
    WorkerState,
)

if TYPE_CHECKING:
    from dora_supervisor.tree import Tree

__all__ = ["child_failed", "terminate", "advance", "in_termination", "do_restart", "halt"]


def child_failed(tree: Tree, sup_id: str, child: str, reason: ExitReason,
                 uptime: float) -> None:
    """A child of `sup_id` must be restarted: count it, maybe give up, apply strategy."""
    sup = tree.sups[sup_id]
    worker = tree.workers.get(child)
    if tree.stopping:  # no restarts during a stop: the child is done
        if worker is not None:
            tree.finish_worker(worker, reason, None, by_itself=False)
        else:
            _close_all(tree, child)
            tree.sup_finished(tree.sups[child])
        return
    if worker is not None and worker.max_restarts is not None:
        worker.history = policy.add_restart(worker.history, tree.now,
                                            worker.window or float("inf"))
        if policy.intensity_exceeded(worker.history, worker.max_restarts):
            tree.log("supervisor_gave_up", "error", node=child, supervisor=child,
                     restarts_in_window=len(worker.history) - 1)
            tree.finish_worker(worker, reason, None, by_itself=False)
            return
    sup.history = policy.add_restart(sup.history, tree.now, sup.flags.max_seconds)
    if policy.intensity_exceeded(sup.history, sup.flags.max_restarts):
        tree.log("supervisor_gave_up", "error", supervisor=sup_id, child=child,
                 restarts_in_window=len(sup.history) - 1,
                 max_restarts=sup.flags.max_restarts, max_seconds=sup.flags.max_seconds)
        terminate(tree, sup_id, list(sup.children), ExitReason.ESCALATED, ThenFail())
        return
    sup.restarts += 1
    delay = 0.0
    if worker is not None:
        worker.attempt = policy.next_attempt(worker.attempt, uptime, sup.flags.max_seconds)
        delay = policy.backoff_delay(worker.attempt, worker.backoff, tree.rand)
        worker.state = WorkerState.BACKOFF
        tree.log("restart_scheduled", node=child, supervisor=sup_id,
                 delay_s=round(delay, 4), attempt=worker.attempt)
    else:
        tree.log("restart_scheduled", supervisor=sup_id, child=child, delay_s=0.0,
                 attempt=sup.restarts)
    affected = policy.affected_children(sup.flags.strategy, sup.children, child)
    others = [c for c in affected if c != child]
    terminate(tree, sup_id, others, ExitReason.SIBLING, ThenRestart(tuple(affected), delay))


def terminate(tree: Tree, sup_id: str, children: list[str], cause: ExitReason,
              then: Plan) -> None:
    """Stop `children` one at a time in reverse start order, then carry out `then`.

    A restart planned while another is still terminating siblings joins it (the
    union of both, the longer delay); a plan to stop for good replaces a restart."""
    sup = tree.sups[sup_id]
    current = sup.then
    if current is not None and not isinstance(current, ThenRestart):
        return  # already stopping for good: nothing will be restarted
    if isinstance(current, ThenRestart) and isinstance(then, ThenRestart):
        ids = set(then.children) | set(current.children)
        then = ThenRestart(tuple(c for c in sup.children if c in ids),
                           max(then.delay, current.delay))
        children = list(set(children) | set(sup.terminating))
        cause = sup.cause or cause
    if not isinstance(then, ThenRestart):
        sup.pending.clear()  # restarts waiting for their backoff will not happen
    sup.state = SupervisorState.RESTARTING if isinstance(then, ThenRestart) \
        else SupervisorState.STOPPING
    sup.terminating = [c for c in reversed(sup.children) if c in children]
    sup.cause, sup.then = cause, then
    advance(tree, sup_id)


def in_termination(tree: Tree, worker: Worker) -> bool:
    """Is the worker's supervisor stopping it (so any exit of it is just that)?"""
    return worker.id in tree.sups[worker.parent].terminating


def advance(tree: Tree, sup_id: str) -> None:
    """Stop the next child still to stop; once none is left, carry out the plan."""
    sup = tree.sups[sup_id]
    while sup.terminating:
        head = sup.terminating[0]
        if head in tree.sups:
            child = tree.sups[head]
            if child.state in (SupervisorState.RUNNING, SupervisorState.RESTARTING) \
                    and not child.finished:
                terminate(tree, head, list(child.children), sup.cause, ThenExit())
                return
            if child.state is SupervisorState.STOPPING and child.terminating:
                return
        else:
            worker = tree.workers[head]
            if worker.state.live:
                tree.stop_worker(worker, sup.cause)
                return
            if worker.state is WorkerState.STOPPING:
                return
            if worker.state is WorkerState.BACKOFF:
                worker.state = WorkerState.EXITED
            if sup.cause == ExitReason.SHUTDOWN and not worker.finished:
                tree.finish_worker(worker, ExitReason.SHUTDOWN, None, by_itself=False)
        sup.terminating.pop(0)
    then, sup.then = sup.then, None
    if then is None:
        return
    match then:
        case ThenRestart(children) if tree.stopping:
            halt(tree, sup, children)
        case ThenRestart(children, delay):
            _schedule_restart(tree, sup, children, delay)
        case ThenHalt(children):
            halt(tree, sup, children)
        case ThenFail():
            sup.state = SupervisorState.FAILED
            _sup_failed(tree, sup)
        case ThenExit():
            sup.state = SupervisorState.EXITED
            if sup.parent is not None:
                advance(tree, sup.parent)
        case ThenFinish():
            tree.sup_finished(sup)
    if not sup.finished and not sup.terminating:
        tree.check_complete(sup_id)  # children may all have finished meanwhile


def _schedule_restart(tree: Tree, sup: Supervisor, ids: tuple[str, ...], delay: float) -> None:
    sup.tokens += 1
    sup.pending[sup.tokens] = ids
    sup.state = SupervisorState.RESTARTING
    if delay <= 0:
        do_restart(tree, sup, sup.tokens)
    else:
        tree.emit(Schedule(delay, TimerFired(TimerKind.RESTART, sup.id, sup.tokens)))


def do_restart(tree: Tree, sup: Supervisor, token: int) -> None:
    """Restart the children planned under `token`, in start order."""
    ids = sup.pending.pop(token)
    if not sup.pending and not sup.terminating:
        sup.state = SupervisorState.RUNNING
    for child in sup.children:
        if child not in ids:
            continue
        if child in tree.sups:
            if tree.sups[child].state in (SupervisorState.EXITED, SupervisorState.FAILED):
                tree.sups[child].history = ()
                tree.sups[child].restarts += 1
                tree.start_child(child)
            continue
        worker = tree.workers[child]
        if worker.policy is RestartPolicy.TEMPORARY and worker.state is WorkerState.EXITED:
            # OTP: a temporary child terminated as a bystander is removed, not restarted
            tree.finish_worker(worker, ExitReason.SIBLING, None, by_itself=False)
        elif worker.state in (WorkerState.BACKOFF, WorkerState.EXITED, WorkerState.STOPPED):
            tree.start_child(child)  # an overlapping plan may have restarted it


def halt(tree: Tree, sup: Supervisor, ids: tuple[str, ...]) -> None:
    """A planned restart that a stop overtook: the children are done for good."""
    if not sup.pending and not sup.terminating:
        sup.state = SupervisorState.RUNNING
    for child in ids:
        if child in tree.sups:
            _close_all(tree, child)
            if not tree.sups[child].finished:
                tree.sup_finished(tree.sups[child])
        elif not tree.workers[child].finished:
            tree.finish_worker(tree.workers[child], ExitReason.SHUTDOWN, None, by_itself=False)


def _sup_failed(tree: Tree, sup: Supervisor) -> None:
    if sup.parent is not None and sup.id in tree.sups[sup.parent].terminating:
        advance(tree, sup.parent)  # its parent was stopping it anyway
        return
    if sup.parent is None:
        tree.failures.insert(0, f"supervisor '{sup.id}' gave up: more than "
                                f"{sup.flags.max_restarts} restarts in "
                                f"{sup.flags.max_seconds:g}s")
        tree.end()
        return
    child_failed(tree, sup.parent, sup.id, ExitReason.ESCALATED, 0.0)


def _close_all(tree: Tree, sup_id: str) -> None:
    """Everything under `sup_id` is finished for good: close every output still open."""
    for child in tree.sups[sup_id].children:
        if child in tree.sups:
            _close_all(tree, child)
        elif not tree.workers[child].finished:
            worker = tree.workers[child]
            worker.finished = True
            last = worker.last_exit  # the one that made its supervisor give up failed
            failed = last is not None and policy.is_abnormal(last.reason)
            if failed:
                tree.emit(NotifyFailed(child, policy.describe_failure(last.reason, last.code,
                                                                      last.signal)))
            tree.emit(CloseOutputs(child, None, failed=failed))
