"""The graceful stop of a dataflow: sources first, the cascade drains, then the rest.

Plain functions over a `Tree` (they use only its operations without an underscore):
`dora stop`, Ctrl-C and the root's auto shutdown all call `begin_stop`; the tree calls
`drain_check` after every event while stopping. STOP goes to the sources; nodes whose
upstream has all finished drain by themselves within their `shutdown` grace; once nothing
drains any more, what still runs (cycles and what hangs off them) gets STOP in reverse
start order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dora_supervisor import tree_restart
from dora_supervisor.graph import will_drain
from dora_supervisor.policy import ExitReason
from dora_supervisor.tree_model import (
    Schedule,
    ThenHalt,
    ThenRestart,
    TimerFired,
    TimerKind,
    WorkerState,
)

if TYPE_CHECKING:
    from dora_supervisor.tree import Tree

__all__ = ["begin_stop", "drain_check"]


def begin_stop(tree: Tree, reason: str) -> None:
    """Stop the whole dataflow: no more restarts, STOP to every running source."""
    if tree.stopping:
        return
    tree.stopping = True
    tree.log("dataflow_stopping", reason=reason)
    for sup in list(tree.sups.values()):  # planned restarts will not happen
        for ids in list(sup.pending.values()):
            sup.pending.clear()
            tree_restart.halt(tree, sup, ids)
        if isinstance(sup.then, ThenRestart):
            sup.then = ThenHalt(sup.then.children)
    for worker in tree.workers.values():
        if not worker.state.up and not worker.finished:
            tree.finish_worker(worker, ExitReason.SHUTDOWN, None, by_itself=False)
    for worker in tree.in_start_order():
        if worker.is_source and worker.state.live:
            tree.stop_worker(worker, ExitReason.SHUTDOWN)


def drain_check(tree: Tree) -> None:
    """Bound the wait of draining nodes; STOP what no longer drains (cycles)."""
    running = [w for w in tree.in_start_order() if w.state.up and not w.finished]
    finished = {w.id for w in tree.workers.values() if w.finished}
    stopping = {w.id for w in running if w.stop_cause is not None}
    drains = will_drain(tree.df, finished, stopping)
    for worker in running:  # upstream all gone: it is draining; bound its wait
        if worker.state is not WorkerState.STOPPING and worker.upstream and \
                worker.upstream <= finished:
            worker.state = WorkerState.STOPPING
            tree.emit(Schedule(worker.shutdown,
                               TimerFired(TimerKind.GRACE, worker.id, worker.incarnation)))
    if any(w.id in drains or w.stop_cause is not None for w in running):
        return  # sources are still stopping or the cascade is still draining
    for worker in reversed(running):  # cycles: STOP in reverse start order
        if worker.stop_cause is None and worker.state is not WorkerState.STOPPING:
            tree.stop_worker(worker, ExitReason.SHUTDOWN)
