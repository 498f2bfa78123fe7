"""NODE_FAILED: an upstream node failed for good, and why, before the inputs it feeds close.

Three events tell a node about its upstream nodes:
- NODE_RESTARTED: the upstream is being restarted; the inputs it feeds stay open and the
  new incarnation's messages follow. Nothing to do, unless the node keeps per-peer state.
- NODE_FAILED: the upstream failed for good (an abnormal exit that is not restarted: its
  policy is `never`/temporary, its `max_restarts` are used up, or its supervisor gave
  up). `id` is the upstream node; `value` is `{"source_node_id", "error",
  "affected_input_ids"}` (dora-rs's fields), `error` is also on the event. It comes
  exactly once, before the INPUT_CLOSED of every affected input.
- INPUT_CLOSED: one input gets no more data, whether its upstream failed or finished
  normally; once every data input is closed, STOP with id ALL_INPUTS_CLOSED follows.

The supervisor sends a `FailedMessage` (the error), then declares the upstream's `failed`
token (its outputs are closed). The two travel apart, so a node that sees the token first
holds the closing back until the message is there (at most REPORT_WAIT_S; after that the
NODE_FAILED says the report is missing): the order above never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["FailedUpstreams", "REPORT_WAIT_S", "NO_REPORT"]

REPORT_WAIT_S = 2.0
NO_REPORT = "failed for good (the supervisor's report of why did not arrive)"
_NOT_WAITING = object()


class FailedUpstreams:
    """Which upstream nodes failed for good and why. `close_inputs_from(node, flushed)`
    closes the inputs fed by `node` (after its end-of-stream markers, if any)."""

    def __init__(self, sources: dict[str, tuple[str, str]], put_event: Callable[[dict], None],
                 close_inputs_from: Callable[[str, int | None], None]):
        self._sources = sources  # input id -> (upstream node, its output)
        self._put_event = put_event
        self._close = close_inputs_from
        self._lock = threading.Lock()
        self._errors: dict[str, str] = {}  # node -> error, once reported
        self._waiting: dict[str, int | None] = {}  # failed token seen, report not yet

    def upstream_finished(self, node: str, flushed: int | None, failed: bool) -> None:
        """`node`'s `finished` or `failed` token appeared (a zenoh thread)."""
        if not failed:
            self._close(node, flushed)
            return
        with self._lock:
            known = node in self._errors
            if not known:
                self._waiting[node] = flushed
        if known:
            self._close(node, flushed)
            return
        timer = threading.Timer(REPORT_WAIT_S, self._no_report, (node,))
        timer.daemon = True
        timer.start()

    def reported(self, node: str, error: str) -> None:
        """The supervisor's FailedMessage about `node` arrived (a zenoh thread)."""
        with self._lock:
            if node in self._errors:
                return
            self._errors[node] = error
            flushed = self._waiting.pop(node, _NOT_WAITING)
        self._announce(node, error)
        if flushed is not _NOT_WAITING:
            self._close(node, flushed)

    def _no_report(self, node: str) -> None:
        with self._lock:
            flushed = self._waiting.pop(node, _NOT_WAITING)
            if flushed is _NOT_WAITING:
                return
            self._errors[node] = NO_REPORT
        self._announce(node, NO_REPORT)
        self._close(node, flushed)

    def _announce(self, node: str, error: str) -> None:
        affected = sorted(i for i, (upstream, _) in self._sources.items() if upstream == node)
        if affected:
            self._put_event({"type": "NODE_FAILED", "id": node, "kind": "dora",
                              "error": error, "metadata": {},
                              "value": {"source_node_id": node, "error": error,
                                        "affected_input_ids": affected}})
