"""A node's log records on the supervisor's side: which captured lines are kept
(`min_log_level`), the records the dataflow's `dora/logs` inputs receive, and each node's
log file rotation (`max_log_size`, `max_rotated_files`).

The supervisor captures every line of every node. A structured record was already
filtered by the node (dora_api drops records below `min_log_level` at the source); a
printed line bypasses dora_api, so it is filtered here: it counts as level `stdout`, the
lowest. Lines on stderr are always kept (a traceback must never vanish).

Every kept line is also a record for the `dora/logs` inputs. Publishing starts once every
node with such an input has subscribed (the supervisor has seen its first liveliness
token, declared after its subscriptions): the records of the start-up are held until
then, not lost. Pure: the clock reading and the publishing are passed in.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from dora_api import contract
from dora_supervisor.descriptor import Dataflow
from dora_supervisor.node_output import OutputRecord, Stream

__all__ = ["keeps_line", "log_rotation", "log_consumers", "LogRouter", "HELD_RECORDS"]

HELD_RECORDS = 10_000  # at most this many records wait for the consumers (oldest dropped)


def keeps_line(record: OutputRecord, stream: Stream, min_level: str) -> bool:
    """Is a captured line kept (logged, written, routed) under the node's `min_log_level`?"""
    if record.event == "node_log" or stream == Stream.STDERR:
        return True
    return contract.passes("stdout", min_level)


def log_rotation(df: Dataflow) -> dict[str, tuple[int | None, int | None]]:
    """Per node with its own settings: (max bytes, rotated files to keep); None: default."""
    return {node.id: (node.logs.max_size, node.logs.max_files) for node in df.nodes
            if node.logs.max_size is not None or node.logs.max_files is not None}


def log_consumers(df: Dataflow) -> set[str]:
    """The nodes with a `dora/logs` input."""
    return {node.id for node in df.nodes
            if any(_is_log_input(spec.source) for spec in node.inputs)}


def _is_log_input(source: str) -> bool:
    try:
        return contract.parse_log_source(source) is not None
    except ValueError:
        return False


class LogRouter:
    """Turns kept lines into `LogMessage`s for the `dora/logs` inputs, and publishes them
    (through `publish`) once every consumer is ready."""

    def __init__(self, df: Dataflow, dataflow_id: str,
                 publish: Callable[[contract.LogMessage], None], limit: int = HELD_RECORDS):
        self._dataflow_id = dataflow_id
        self._publish = publish
        self._waiting = log_consumers(df)
        self._active = bool(self._waiting)
        self._held: collections.deque[contract.LogMessage] = collections.deque(maxlen=limit)

    def consumer_seen(self, node: str) -> None:
        """`node` subscribed (its token appeared) or will never do so (it exited)."""
        if node not in self._waiting:
            return
        self._waiting.discard(node)
        if not self._waiting:
            while self._held:
                self._publish(self._held.popleft())

    @property
    def active(self) -> bool:
        """Some node consumes `dora/logs`: `route` has work to do."""
        return self._active

    def route(self, node: str, record: OutputRecord, timestamp: str) -> None:
        """One kept line of `node`, captured at `timestamp` (ISO 8601, UTC)."""
        if not self._active:
            return
        if record.event == "node_log":
            message = contract.LogMessage(record.dora_level, record.fields["msg"], node,
                                          timestamp, record.fields.get("logger"),
                                          record.fields.get("fields"), self._dataflow_id)
        else:
            message = contract.LogMessage("stdout", record.fields["line"], node, timestamp,
                                          None, None, self._dataflow_id)
        if self._waiting:
            self._held.append(message)
        else:
            self._publish(message)
