"""Which nodes of the dataflow are alive or finished for good, from liveliness tokens.

A starting node waits until every peer it must reach is visible (the readiness barrier);
an upstream that finished for good closes the inputs it feeds; at exit a producer waits
only for consumers that are still alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from dora_api.contract import ContractError, Namespace, TokenKind

__all__ = ["Peers"]


class Peers:
    """`on_finished(node, flushed, failed)`: `node` finished for good (`failed`: after an
    abnormal exit); `flushed` is the incarnation whose end-of-stream markers to wait for,
    None when none will come: it crashed, or that incarnation was gone before this node
    was listening (a consumer restarted after its producer finished), so its markers went
    out before we subscribed. `on_error(text)`: a token key that breaks the contract."""

    def __init__(self, ns: Namespace, on_finished: Callable[[str, int | None, bool], None],
                 on_error: Callable[[str], None]):
        self._ns = ns
        self._on_finished = on_finished
        self._on_error = on_error
        self._alive: set[str] = set()
        self._finished: set[str] = set()
        self._heard: dict[str, set[int]] = {}  # node -> incarnations seen alive
        self._changed = threading.Condition()

    def update(self, key: str, present: bool) -> None:
        """A token appeared or vanished; called on zenoh threads, never raises."""
        try:
            token = self._ns.parse_token(key)
        except ContractError as exc:
            self._on_error(str(exc))
            return
        finished = token.kind is not TokenKind.ALIVE  # finished or failed for good
        with self._changed:
            target = self._finished if finished else self._alive
            (target.add if present else target.discard)(token.node)
            if present and not finished:
                self._heard.setdefault(token.node, set()).add(token.number)
            heard = token.number in self._heard.get(token.node, ())
            self._changed.notify_all()
        if finished and present:  # upstream finished for good: its outputs are closed
            self._on_finished(token.node, token.number if token.number >= 0 and heard
                              else None, token.kind is TokenKind.FAILED)

    def alive(self) -> set[str]:
        with self._changed:
            return set(self._alive)

    def wait_for(self, peers: Iterable[str], timeout: float) -> None:
        """The readiness barrier: return once every peer is alive (or finished), or warn
        and go on after `timeout` seconds."""
        wanted = set(peers)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not wanted <= (self._alive | self._finished):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(wanted - self._alive - self._finished)
                    logging.getLogger("dora").warning(
                        "starting without waiting for %s (not ready after %.0fs)",
                        ", ".join(missing), timeout)
                    return
                self._changed.wait(remaining)
