"""The coordinator's zenoh session: liveliness -> events, control messages to nodes.

Listens on a Unix socket inside a private (0700) runtime directory; nodes connect to it
and, through gossip, to each other. Multicast scouting is off: nothing leaves the machine
unless a descriptor deploys to another one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable

import zenoh

from dora_api import wire

__all__ = ["ZenohLink"]


class ZenohLink:
    def __init__(self, ns: wire.Namespace, on_liveliness: Callable[[str, int, bool], None]):
        self.ns = ns
        self.rundir = tempfile.mkdtemp(prefix="dora-")
        os.chmod(self.rundir, 0o700)
        self.endpoint = f"unixsock-stream/{self.rundir}/coordinator.sock"
        self.session = zenoh.open(wire.zenoh_config([self.endpoint], []))
        self._on_liveliness = on_liveliness
        liveliness = self.session.liveliness()
        self._watch = liveliness.declare_subscriber(
            ns.alive(), zenoh.handlers.Callback(self._alive_changed, indirect=False),
            history=True)
        self._token = liveliness.declare_token(ns.coordinator)
        self._finished_tokens: dict[str, object] = {}

    def socket_of(self, slot: str) -> str:
        return f"{self.rundir}/{slot}.sock"

    def node_endpoints(self, slot: str, upstream_slots: list[str]) -> dict[str, list[str]]:
        """Where a node listens (stable across restarts, so consumers can redial it) and
        whom it dials: the coordinator and the producers it consumes from."""
        path = self.socket_of(slot)
        try:
            os.unlink(path)  # left behind by the previous incarnation
        except FileNotFoundError:
            pass
        return {"listen": [f"unixsock-stream/{path}"],
                "connect": [self.endpoint] + [f"unixsock-stream/{self.socket_of(s)}"
                                              for s in upstream_slots]}

    def _alive_changed(self, sample) -> None:
        _, node, incarnation = str(sample.key_expr).rsplit("/", 2)
        self._on_liveliness(node, int(incarnation), sample.kind == zenoh.SampleKind.PUT)

    def tell(self, node: str, message: dict) -> None:
        """A control message to one node, or to every node with `node='all'`."""
        self.session.put(self.ns.to(node), json.dumps(message).encode())

    def send_stop(self, node: str) -> None:
        """Ask `node` to stop on its own (the first rung of the stop ladder)."""
        self.tell(node, {"t": "stop"})

    def notify_restarted(self, node: str) -> None:
        """Tell every node that `node` was restarted (its consumers redial it)."""
        self.tell("all", {"t": "restarted", "node": node})

    def mark_finished(self, node: str, flushed: int | None) -> None:
        """Announce that `node` is finished for good: its outputs are closed."""
        if node not in self._finished_tokens:  # history: late subscribers learn it too
            self._finished_tokens[node] = self.session.liveliness().declare_token(
                self.ns.finished(node, -1 if flushed is None else flushed))

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
