"""What the tree shows the outside: `dora status`, restart counts, the failure report.

Pure reads of a `Tree`'s state (never a change): the control plane serves `snapshot`
as the `tree` of `dora status --json` (SPEC section 5), and `dora run` prints
`failure_report` when a dataflow fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dora_supervisor.policy import is_abnormal
from dora_supervisor.samples import NodeMetrics
from dora_supervisor.tree_model import Worker, WorkerState

if TYPE_CHECKING:
    from dora_supervisor.tree import Tree

__all__ = ["snapshot", "restarts_in_window", "failure_report", "shown_state"]

_NOT_MEASURED = NodeMetrics()


def snapshot(tree: Tree, sup_id: str, now: float,
             metrics: Mapping[str, NodeMetrics] | None = None) -> dict[str, Any]:
    """The SUP object of SPEC section 5 for `sup_id`, children in start order.

    Only JSON types (str, int, float, bool, None, dict, list). `uptime_s` is the time
    since the current incarnation was spawned while it is starting, running or stopping,
    and null otherwise (backoff, exited, failed): there is no process to be up.
    `metrics` holds the latest measurement per node; a node without one shows nulls."""
    sup = tree.sups[sup_id]
    return {
        "id": sup.id,
        "kind": "supervisor",
        "strategy": sup.flags.strategy.value,
        "max_restarts": sup.flags.max_restarts,
        "max_seconds": sup.flags.max_seconds,
        "state": sup.state.value,
        "children": [snapshot(tree, child, now, metrics) if child in tree.sups
                     else _worker(tree.workers[child], now, (metrics or {}).get(child))
                     for child in sup.children],
    }


def _worker(worker: Worker, now: float, metrics: NodeMetrics | None) -> dict[str, Any]:
    measured = metrics or _NOT_MEASURED
    last = worker.last_exit
    up = worker.state.up and worker.started_at is not None
    return {
        "id": worker.id,
        "kind": "worker",
        "state": shown_state(worker).value,
        "pid": worker.pid,
        "restart_policy": worker.policy.value,
        "restarts": worker.restarts,
        "alive": worker.alive,
        "uptime_s": round(now - worker.started_at, 3) if up else None,
        "rss_bytes": measured.rss_bytes,
        "cpu_percent": measured.cpu_percent,
        "machine": worker.machine,
        "last_exit": None if last is None else {
            "code": last.code, "signal": last.signal, "reason": last.reason.value},
    }


def shown_state(worker: Worker) -> WorkerState:
    """The state `dora status` shows: never the internal `stopped`.

    A worker is `stopped` only before the tree's `start`, which spawns it at once: it is
    shown as `starting` (or `exited` if it was finished without ever running)."""
    if worker.state is WorkerState.STOPPED:
        return WorkerState.EXITED if worker.finished else WorkerState.STARTING
    return worker.state


def restarts_in_window(tree: Tree, sup_id: str, now: float) -> int:
    """Restarts `sup_id` counted within its `max_seconds` before `now` (OTP's intensity
    window), for `dora status`'s "2/3 in 5s"."""
    sup = tree.sups[sup_id]
    return sum(1 for t in sup.history if now - sup.flags.max_seconds <= t <= now)


def failure_report(tree: Tree, last_stderr: Mapping[str, str]) -> list[str]:
    """One line per node whose last exit was abnormal, in descriptor order:
    `node 'x' (exit code 1): <the last line it wrote on stderr>`.

    A node killed by a signal or a limit shows its exit reason instead of a code; the
    `: ...` part is left out when it wrote nothing on stderr."""
    lines = []
    for worker in tree.workers.values():
        last = worker.last_exit
        if last is None or not is_abnormal(last.reason):
            continue
        how = f"exit code {last.code}" if last.code is not None else last.reason.value
        said = last_stderr.get(worker.id)
        lines.append(f"node '{worker.id}' ({how})" + (f": {said}" if said else ""))
    return lines
