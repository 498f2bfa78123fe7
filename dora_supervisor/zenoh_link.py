"""The coordinator's zenoh session: liveliness -> events, control messages to nodes.

Listens on a Unix socket inside a private (0700) runtime directory; every node dials it
and the producers it consumes from (`node_endpoints`). Scouting is off: nothing leaves the
machine unless a descriptor deploys to another one; then the session and this machine's
nodes also dial the coordinator's router (`router`), which links them to the daemons'.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import structlog
import zenoh

from dora_api import contract
from dora_supervisor import rundirs
from dora_supervisor.launch import LINK_LEASE_S

__all__ = ["ZenohLink"]


class ZenohLink:
    """`on_liveliness(node, incarnation, alive)` runs on a zenoh thread."""

    def __init__(self, ns: contract.Namespace,
                 on_liveliness: Callable[[str, int, bool], None], router: str | None = None):
        self.ns = ns
        self.rundir = rundirs.make("link")
        self.endpoint = contract.unix_endpoint(f"{self.rundir}/coordinator.sock")
        self._router = [router] if router else []
        self.session = zenoh.open(contract.zenoh_config([self.endpoint], self._router,
                                                        LINK_LEASE_S))
        self._on_liveliness = on_liveliness
        try:  # warnings from zenoh threads are logged on the loop (structlog is not locked)
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        liveliness = self.session.liveliness()
        self._watch = liveliness.declare_subscriber(
            ns.alive(), zenoh.handlers.Callback(self._alive_changed, indirect=False),
            history=True)
        self._token = liveliness.declare_token(ns.coordinator)
        self._finished_tokens: dict[str, object] = {}

    def socket_of(self, slot: str) -> str:
        return f"{self.rundir}/{slot}.sock"

    def node_endpoints(self, slot: str, upstream_slots: list[str]) -> contract.Endpoints:
        """Where a node listens (stable across restarts, so consumers can redial it) and
        whom it dials: the coordinator and the producers it consumes from."""
        path = self.socket_of(slot)
        try:
            os.unlink(path)  # left behind by the previous incarnation
        except FileNotFoundError:
            pass
        return contract.Endpoints(
            listen=[contract.unix_endpoint(path)],
            connect=[self.endpoint, *self._router] + [
                contract.unix_endpoint(self.socket_of(s)) for s in upstream_slots])

    def _alive_changed(self, sample) -> None:
        try:
            token = self.ns.parse_token(str(sample.key_expr))
        except contract.ContractError as exc:  # never raise on a zenoh thread
            self._warn("invalid_liveliness_key", error=str(exc))
            return
        self._on_liveliness(token.node, token.number, sample.kind == zenoh.SampleKind.PUT)

    def _warn(self, event: str, **fields) -> None:
        log = structlog.get_logger()
        if self._loop is None or self._loop.is_closed():
            log.warning(event, **fields)
        else:
            self._loop.call_soon_threadsafe(lambda: log.warning(event, **fields))

    def send_stop(self, node: str) -> None:
        """Ask one node to stop (it gets STOP with id MANUAL)."""
        self._send(self.ns.to(node), contract.StopMessage())

    def notify_restarted(self, node: str, ended: int | None = None,
                         sent: dict[str, int] | None = None) -> None:
        """Tell every node that `node` restarts (its incarnation `ended` having sent
        `sent`); its consumers get NODE_RESTARTED after that incarnation's messages."""
        self._send(self.ns.to_all, contract.RestartedMessage(node, ended, sent or {}))

    def publish_log(self, message: contract.LogMessage) -> None:
        """A node's log record, for the dataflow's `dora/logs` inputs (zenoh drops it rather
        than block the coordinator when a consumer cannot keep up)."""
        self.session.put(self.ns.log(message.level, message.node_id),
                         contract.encode_log_message(message))

    def _send(self, key: str, message: contract.ControlMessage) -> None:
        self.session.put(key, contract.encode_control(message))

    def notify_failed(self, node: str, error: str) -> None:
        """Tell every node that `node` failed for good; its consumers get NODE_FAILED."""
        self._send(self.ns.to_all, contract.FailedMessage(node, error))

    def mark_finished(self, node: str, flushed: int | None, failed: bool = False) -> None:
        """Announce that `node` is finished for good: its outputs are closed. A failed
        node's token says so: its consumers wait for its FailedMessage before closing."""
        if node not in self._finished_tokens:  # history: late subscribers learn it too
            token = self.ns.failed if failed else self.ns.finished
            self._finished_tokens[node] = self.session.liveliness().declare_token(
                token(node, -1 if flushed is None else flushed))

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            for name in os.listdir(self.rundir):
                try:
                    os.unlink(os.path.join(self.rundir, name))
                except OSError:
                    pass
            try:
                os.rmdir(self.rundir)
            except OSError:
                pass
