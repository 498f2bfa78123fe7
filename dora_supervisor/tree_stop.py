"""The graceful stop of a dataflow: sources first, the cascade drains, then the rest.

A mixin of `Tree` (it uses the tree's state and helpers): `dora stop`, Ctrl-C and the
root's auto shutdown all come here. STOP goes to the sources; nodes whose upstream has all
finished drain by themselves within their `shutdown` grace; once nothing drains any more,
what still runs (cycles and what hangs off them) gets STOP in reverse start order.
"""

from __future__ import annotations

from dora_supervisor.graph import will_drain
from dora_supervisor.policy import ExitReason
from dora_supervisor.tree_model import Schedule, StopDataflow, TimerFired

__all__ = ["GracefulStop"]


class GracefulStop:
    def _on_stop(self, event: StopDataflow) -> None:
        if self.stopping:
            return
        self.stopping = True
        self._log("dataflow_stopping", reason=event.reason)
        for sup in list(self.sups.values()):  # planned restarts will not happen
            for ids in list(sup.pending.values()):
                sup.pending.clear()
                self._halt(sup, ids)
            if sup.then and sup.then[0] == "restart":
                sup.then = ("halt", sup.then[1])
        for worker in self.workers.values():
            if worker.state in ("backoff", "stopped", "exited", "failed") and not worker.finished:
                self._finish_worker(worker, ExitReason.SHUTDOWN, None, by_itself=False)
        for worker in self._in_start_order():
            if worker.is_source and worker.state in ("starting", "running"):
                self._stop_worker(worker, ExitReason.SHUTDOWN)

    def _drain_check(self) -> None:
        running = [w for w in self._in_start_order()
                   if w.state in ("starting", "running", "stopping") and not w.finished]
        finished = {w.id for w in self.workers.values() if w.finished}
        stopping = {w.id for w in running if w.stop_cause is not None}
        drains = will_drain(self._df, finished, stopping)
        for worker in running:  # upstream all gone: it is draining; bound its wait
            if worker.state != "stopping" and worker.upstream and worker.upstream <= finished:
                worker.state = "stopping"
                self._emit(Schedule(worker.shutdown,
                                    TimerFired("grace", worker.id, worker.incarnation)))
        if any(w.id in drains or w.stop_cause is not None for w in running):
            return  # sources are still stopping or the cascade is still draining
        for worker in reversed(running):  # cycles: STOP in reverse start order
            if worker.stop_cause is None and worker.state != "stopping":
                self._stop_worker(worker, ExitReason.SHUTDOWN)
