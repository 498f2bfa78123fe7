"""What a consumer sees across its producers' restarts, and the counts behind it.

Every data message carries its `Position` (producer incarnation, sequence number). Per
input, messages come in position order; a message of an incarnation that has already
ended for this node (NODE_RESTARTED given) is stale and dropped, so NODE_RESTARTED always
stands between two incarnations' messages. It is given when the first message of a newer
incarnation arrives, or when the supervisor says an incarnation ended (`RestartedMessage`,
with what it sent) and the last of its messages is in the queue, or `HOLD_S` after that.

Where a stream does not go on where it was expected to (the first message of this
incarnation, or a jump), the supervisor is told (`MovedNote`): it counts what lies
between as lost. The counts themselves live in the ledger (`Tally`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from dora_api import contract, parent
from dora_api.contract import Position
from dora_api.ledger import Tally

__all__ = ["Delivery", "StreamOrder", "HOLD_S"]

HOLD_S = 1.0  # how long NODE_RESTARTED waits for the ended incarnation's last messages


class StreamOrder:
    """The decisions, per input of one node; thread-safe (zenoh threads call it).

    `restarted(node)` is called (under the lock, so nothing overtakes it) to queue the
    NODE_RESTARTED event; it must not block."""

    def __init__(self, sources: dict[str, tuple[str, str]],
                 restarted: Callable[[str], None], hold_s: float = HOLD_S):
        self._sources = sources
        self._inputs_of: dict[str, list[str]] = {}
        for input_id, (node, _) in sources.items():
            self._inputs_of.setdefault(node, []).append(input_id)
        self._restarted = restarted
        self._hold_s = hold_s
        self._expected: dict[str, Position | None] = dict.fromkeys(sources)
        self._queued: dict[str, Position | None] = dict.fromkeys(sources)
        # accepted, not yet in the queue (its put may wait for room): nothing overtakes it
        self._in_flight: dict[str, Position | None] = dict.fromkeys(sources)
        # node -> NODE_RESTARTED given up to this incarnation (from the first one we knew of)
        self._ended: dict[str, int] = {}
        self._seen: dict[str, int] = {}  # node -> newest incarnation a message came from
        self._owed: dict[str, int] = {}  # node -> NODE_RESTARTED waiting for a message in flight
        self._pending: dict[str, tuple[int, dict[str, int]]] = {}  # node -> (ended, sent)
        self._lock = threading.Condition()

    def accept(self, input_id: str, position: Position) -> tuple[bool, Position | None, bool]:
        """Before the message is queued: (deliver it?, the position expected, moved?).
        A message that opens a new incarnation waits here until NODE_RESTARTED is queued."""
        node, _ = self._sources[input_id]
        with self._lock:
            self._ended.setdefault(node, position.incarnation - 1)  # before our time
            if position.incarnation <= self._ended[node]:
                return False, None, False
            expected = self._expected[input_id]
            seen, pending = self._seen.get(node), self._pending.get(node)
            if (seen is not None and position.incarnation > seen) or \
                    (pending is not None and position.incarnation > pending[0]):
                self._end(node, position.incarnation - 1)  # NODE_RESTARTED goes first
                self._lock.wait_for(lambda: not self._owed.get(node))
            self._seen[node] = max(position.incarnation, seen or 0)
            self._expected[input_id] = Position(position.incarnation, position.seq + 1)
            self._in_flight[input_id] = position
            return True, expected, expected != position

    def queued(self, input_id: str, position: Position) -> None:
        """The accepted message is in the queue (or was dropped by a closed one): a held
        NODE_RESTARTED may follow it."""
        node, _ = self._sources[input_id]
        with self._lock:
            self._in_flight[input_id] = None
            self._queued[input_id] = Position(position.incarnation, position.seq + 1)
            pending = self._pending.get(node)
            if pending is not None and self._complete(node, *pending):
                self._end(node, pending[0])
            elif node in self._owed:
                self._pay(node)

    def ended(self, node: str, incarnation: int, sent: dict[str, int]) -> None:
        """The supervisor says `node`'s `incarnation` ended, having sent `sent`."""
        with self._lock:
            self._ended.setdefault(node, incarnation - 1)
            if incarnation <= self._ended[node]:
                return
            if self._complete(node, incarnation, sent):
                self._end(node, incarnation)
                return
            self._pending[node] = (incarnation, sent)
        timer = threading.Timer(self._hold_s, self._give_up, (node, incarnation))
        timer.daemon = True
        timer.start()

    def _give_up(self, node: str, incarnation: int) -> None:
        with self._lock:
            pending = self._pending.get(node)
            if pending is not None and pending[0] == incarnation:
                self._end(node, incarnation)

    def _complete(self, node: str, incarnation: int, sent: dict[str, int]) -> bool:
        """Every message `incarnation` sent to us is queued (or we are past it)."""
        for input_id in self._inputs_of.get(node, []):
            total = sent.get(self._sources[input_id][1], 0)
            queued = self._queued[input_id]
            if total and (queued is None or queued < Position(incarnation, total)):
                return False
        return True

    def _end(self, node: str, incarnation: int) -> None:
        """`node`'s incarnations up to `incarnation` are over: one NODE_RESTARTED for each
        (a restart whose incarnation sent us nothing is announced too), once no message of
        theirs that was accepted is still on its way into the queue."""
        done = self._ended.get(node, incarnation - 1)
        if incarnation > done:
            self._ended[node] = incarnation
            self._owed[node] = self._owed.get(node, 0) + incarnation - done
            pending = self._pending.get(node)
            if pending is not None and pending[0] <= incarnation:
                del self._pending[node]
        self._pay(node)

    def _pay(self, node: str) -> None:
        ended = self._ended.get(node, 0)
        if self._owed.get(node) and not any(
                self._in_flight[i] is not None and self._in_flight[i].incarnation <= ended
                for i in self._inputs_of[node]):
            for _ in range(self._owed.pop(node)):
                self._restarted(node)
            self._lock.notify_all()


class Delivery:
    """A node's side of delivery: stamps what it sends, orders and counts what it gets.
    `put_event` queues a control event (NODE_RESTARTED) and never blocks."""

    def __init__(self, config: contract.NodeConfig, sources: dict[str, tuple[str, str]],
                 put_event: Callable[[dict], None]):
        self._incarnation = config.incarnation
        self._tally = Tally(contract.LedgerLayout(config.outputs, list(sources)),
                            config.incarnation, os.environ.get(contract.LEDGER_ENV))
        self._put_event = put_event
        self._order = StreamOrder(sources, self._restarted)
        self.taken, self.dropped = self._tally.taken, self._tally.dropped

    def _restarted(self, node: str) -> None:
        self._put_event({"type": "NODE_RESTARTED", "id": node, "kind": "dora",
                         "value": None, "metadata": {}})

    def stamp(self, output: str, attachment: bytes | None) -> bytes:
        position = Position(self._incarnation, self._tally.next_seq(output))
        return contract.stamp_attachment(attachment, position)

    def accept(self, input_id: str, position: Position | None) -> bool:
        """False: a stale message, to drop. Tells the supervisor where the stream moved.
        A message without a position (a sender outside this contract) is simply taken."""
        if position is None:
            return True
        deliver, expected, moved = self._order.accept(input_id, position)
        if moved:
            parent.tell_supervisor(contract.MovedNote(self._incarnation, input_id, expected,
                                                      position))
        if deliver:
            self._tally.received(input_id, position)
        return deliver

    def queued(self, input_id: str, position: Position | None) -> None:
        if position is not None:
            self._order.queued(input_id, position)

    def undecodable(self, input_id: str, position: Position | None) -> None:
        """An accepted message became an ERROR event: the node was told, it is not lost
        (counted with what its queue policy dropped); nothing waits for it any more."""
        if position is not None:
            self._tally.dropped(input_id)
            self._order.queued(input_id, position)

    def upstream_restarted(self, message: contract.RestartedMessage) -> None:
        if message.ended is None:  # a supervisor that does not say what ended
            self._restarted(message.node)
        else:
            self._order.ended(message.node, message.ended, message.sent)
