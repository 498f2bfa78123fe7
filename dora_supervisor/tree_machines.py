"""Workers on other machines: what the tree does when a daemon goes and comes back.

Plain functions over a `Tree`, like `tree_restart`. A daemon lost (its liveliness token
gone: killed, frozen or cut off) takes every incarnation on its machine with it: each is
marked `liveliness_lost`, exactly like a node whose own token vanished, and its
supervisor applies its policy. While the machine is gone, a start of a worker there is
held: the worker waits in `backoff` (`held`), and starts when the daemon returns. Restart
counting is unaffected: the loss counts once, the wait does not count at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dora_supervisor.policy import ExitReason
from dora_supervisor.tree_model import Kill, MachineChanged, Worker, WorkerState

if TYPE_CHECKING:
    from dora_supervisor.tree import Tree

__all__ = ["on_machine", "hold", "restart_refusal", "where"]


def on_machine(tree: Tree, event: MachineChanged) -> None:
    if not event.up:
        tree.machines_down.add(event.machine)
        for worker in tree.in_start_order():
            if worker.machine != event.machine or not worker.state.up:
                continue
            if worker.state.live:  # one being stopped keeps its cause; its grace is moot
                tree.log("liveliness_lost", "warning", node=worker.id,
                         incarnation=worker.incarnation, machine=event.machine)
                worker.stop_cause, worker.state = ExitReason.LIVELINESS_LOST, \
                    WorkerState.STOPPING
            tree.emit(Kill(worker.id, worker.incarnation))
        return
    tree.machines_down.discard(event.machine)
    for worker in tree.in_start_order():
        if worker.machine == event.machine and worker.held:
            worker.held = False
            if worker.state is WorkerState.BACKOFF and not worker.finished:
                tree.log("machine_returned", node=worker.id, machine=event.machine)
                tree.start_child(worker.id)


def hold(tree: Tree, worker: Worker) -> bool:
    """Called before a start: True (and the worker waits in backoff) while its machine is
    gone."""
    if worker.machine not in tree.machines_down:
        return False
    if not worker.held:
        tree.log("start_waits_for_machine", "warning", node=worker.id, machine=worker.machine)
    worker.held, worker.state, worker.pid, worker.alive = True, WorkerState.BACKOFF, None, False
    return True


def where(worker: Worker) -> dict[str, str]:
    """The fields that place a record about a worker on another machine (none for the
    coordinator's own): its limit events name the machine that enforced them."""
    return {} if worker.machine == "local" else {"machine": worker.machine}


def restart_refusal(worker: Worker) -> str | None:
    """`dora restart` of a worker held for its machine: why nothing can happen now."""
    if worker.held:
        return (f"node '{worker.id}' waits for machine '{worker.machine}' (no daemon): it "
                "starts when `dora daemon --machine " + worker.machine + "` is back")
    return None
